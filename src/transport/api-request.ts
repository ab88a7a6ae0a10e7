/**
 * Plain requests to the Kubernetes API (resolving `deploy/NAME` or `svc/NAME` to a pod), on the
 * same {@link ServerTarget} the dialers use: same connection factory, so the same TLS material,
 * credentials, proxy and connect deadline. One fresh connection per request, closed after it; the
 * few lookups a forward makes do not justify a pool.
 *
 * Answers of any status come back as data (the caller knows what a 404 means for it); only
 * transport failures are errors.
 */
import http from 'node:http';
import https from 'node:https';
import { ErrorCode, KubemuxError } from '../errors.js';
import { connectionFactory } from './connect.js';
import { requestUrl, type ServerTarget } from './request-target.js';
import { kubernetesStatusMessage, requestError } from './upgrade-errors.js';

/** Options of {@link apiGet}. */
export interface ApiGetOptions {
  /** Deadline for the whole request, connect included, ms. Default 30,000. */
  readonly timeoutMs?: number;
  /** A body larger than this fails the request, bytes. Default 16 MiB. */
  readonly maxBodyBytes?: number;
  /** Aborts the request (rejects with the signal's reason). */
  readonly signal?: AbortSignal;
}

/** An API answer. */
export interface ApiResponse {
  /** The HTTP status. */
  readonly status: number;
  /** The body parsed as JSON, or undefined when it is not JSON. */
  readonly json: unknown;
  /** The body as text. */
  readonly text: string;
  /** The `message` of a metav1.Status body (`pods "x" not found`), if the body is one. */
  readonly statusMessage: string | undefined;
}

const DEFAULT_TIMEOUT_MS = 30_000;
const DEFAULT_MAX_BODY_BYTES = 16 * 1024 * 1024;

/**
 * `GET path` (with its query) on the target's API server, `Accept: application/json`. Rejects
 * with ERR_CONNECT_FAILED, ERR_TLS or ERR_TIMEOUT (transport), ERR_TRANSPORT_CLOSED when the
 * body is cut short or exceeds `maxBodyBytes`.
 */
export function apiGet(target: ServerTarget, path: string, options: ApiGetOptions = {}): Promise<ApiResponse> {
  const url = requestUrl(target.server, path);
  const secure = url.protocol === 'https:';
  if (!secure && url.protocol !== 'http:') {
    return Promise.reject(new KubemuxError(ErrorCode.INVALID_ARGUMENT, 'usage', `server URL must be http: or https:, got ${url.protocol}`));
  }
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const maxBodyBytes = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  const where = url.host;
  return new Promise<ApiResponse>((resolve, reject) => {
    let settled = false;
    const settle = (error: Error | undefined, response?: ApiResponse): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', aborted);
      if (error === undefined) resolve(response!);
      else {
        request.destroy();
        reject(error);
      }
    };
    const aborted = (): void => settle(options.signal!.reason instanceof Error ? options.signal!.reason : new Error('aborted'));
    const request = (secure ? https : http).request(url, {
      method: 'GET',
      createConnection: connectionFactory(target) as unknown as http.RequestOptions['createConnection'],
      headers: { ...target.headers, Accept: 'application/json' },
    });
    let connected = false;
    request.once('socket', () => {
      connected = true;
    });
    request.on('error', (error) => settle(requestError(error, where, connected, ErrorCode.TRANSPORT_CLOSED)));
    request.on('response', (response) => {
      const chunks: Buffer[] = [];
      let size = 0;
      response.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > maxBodyBytes) {
          settle(new KubemuxError(ErrorCode.TRANSPORT_CLOSED, 'transport', `GET ${url.pathname} on ${where}: the answer exceeds ${maxBodyBytes} bytes`));
          return;
        }
        chunks.push(chunk);
      });
      response.on('error', (error) => settle(new KubemuxError(ErrorCode.TRANSPORT_CLOSED, 'transport', `GET ${url.pathname} on ${where}: the answer was cut short`, { cause: error })));
      response.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let json: unknown;
        try {
          json = JSON.parse(text);
        } catch {
          json = undefined;
        }
        settle(undefined, { status: response.statusCode ?? 0, json, text, statusMessage: kubernetesStatusMessage(text.trim()) });
      });
    });
    const timer = setTimeout(() => settle(new KubemuxError(ErrorCode.TIMEOUT, 'transport', `GET ${url.pathname} on ${where}: no complete answer within ${timeoutMs} ms`)), timeoutMs);
    timer.unref();
    if (options.signal?.aborted === true) return aborted();
    options.signal?.addEventListener('abort', aborted, { once: true });
    request.end();
  });
}
