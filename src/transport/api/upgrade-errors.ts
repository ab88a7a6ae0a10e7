/**
 * Turning what goes wrong during an HTTP upgrade into KubemuxErrors that tell the user what
 * happened: the HTTP status and the Kubernetes Status message, the TLS problem, the refused
 * connection. Credentials never appear: only the status line and the server's own message.
 */
import type { IncomingMessage } from 'node:http';
import { ErrorCode, KubemuxError } from '../../errors.js';

const MAX_ERROR_BODY_BYTES = 64 * 1024;

const TLS_ERROR_CODES = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_SIGNATURE_FAILURE',
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'ERR_SSL_WRONG_VERSION_NUMBER',
  'EPROTO',
]);

/**
 * Maps a socket/TLS error from connecting to `where` to a typed error. A KubemuxError (a
 * proxy's refusal, which names the proxy itself) is returned as it is.
 */
export function connectError(error: unknown, where: string): KubemuxError {
  if (error instanceof KubemuxError) return error;
  const code = (error as NodeJS.ErrnoException | undefined)?.code ?? '';
  const text = error instanceof Error ? error.message : String(error);
  if (code === 'ETIMEDOUT') return new KubemuxError(ErrorCode.TIMEOUT, 'transport', `cannot connect to ${where}: ${text}`, { cause: error });
  if (TLS_ERROR_CODES.has(code) || code.startsWith('ERR_SSL_') || code.startsWith('ERR_TLS_')) {
    return new KubemuxError(ErrorCode.TLS, 'transport', `TLS with ${where} failed: ${text}`, { cause: error });
  }
  return new KubemuxError(ErrorCode.CONNECT_FAILED, 'transport', `cannot connect to ${where}: ${text}`, { cause: error });
}

/**
 * Maps an error of an HTTP request (an upgrade, an API GET) to a typed error. Before a connection
 * exists it is a {@link connectError}. Once connected, either the server answered with something
 * that is not HTTP/1.1: ERR_PROTOCOL, since whatever listens there (an SSH server, a database,
 * TLS on a plain port) is no API server and no other protocol of the same server can do better,
 * so negotiation must not fall back on it (kubectl does not either: only a well-formed refusal
 * or a bad handshake falls back); or it closed the connection before answering
 * (ERR_TRANSPORT_CLOSED): not a failure to connect, and worth telling apart because it points at
 * the server or a middlebox rather than the network. `what` names the request in messages
 * ('the SPDY upgrade', 'GET /api').
 */
export function requestError(error: unknown, where: string, connected: boolean, what: string): KubemuxError {
  if (error instanceof KubemuxError) return error;
  const code = (error as NodeJS.ErrnoException | undefined)?.code ?? '';
  const text = error instanceof Error ? error.message : String(error);
  if (code.startsWith('HPE_')) {
    // No cause: Node's parse error carries the raw bytes received (`rawPacket`), whatever they were.
    return new KubemuxError(ErrorCode.PROTOCOL, 'transport', `the server at ${where} did not answer ${what} with HTTP (${text})`);
  }
  if (!connected) return connectError(error, where);
  return new KubemuxError(ErrorCode.TRANSPORT_CLOSED, 'transport', `${where} closed the connection before answering ${what}: ${text}`, { cause: error });
}

/** Reads a refused upgrade's body (bounded) and builds ERR_UPGRADE_REFUSED with the server's message. */
export async function refusedUpgradeError(response: IncomingMessage, what: string): Promise<KubemuxError> {
  const status = response.statusCode ?? 0;
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of response as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > MAX_ERROR_BODY_BYTES) break;
      chunks.push(chunk);
    }
  } catch {
    // A body cut short still leaves the status to report.
  }
  response.destroy();
  const body = Buffer.concat(chunks).toString('utf8').trim();
  const message = kubernetesStatusMessage(body) ?? (body.length > 0 ? body.slice(0, 500) : response.statusMessage ?? '');
  return new KubemuxError(ErrorCode.UPGRADE_REFUSED, 'transport', `${what} was refused with HTTP ${status}${message ? `: ${message}` : ''}`, {
    httpStatus: status,
  });
}

/** The `message` of a metav1.Status JSON body, if the body is one. */
export function kubernetesStatusMessage(body: string): string | undefined {
  if (!body.startsWith('{')) return undefined;
  try {
    const parsed = JSON.parse(body) as { kind?: unknown; message?: unknown };
    return parsed.kind === 'Status' && typeof parsed.message === 'string' ? parsed.message : undefined;
  } catch {
    return undefined;
  }
}
