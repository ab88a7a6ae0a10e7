/**
 * The SPDY/3.1 upgrade, client side, as kubectl does it: `POST` to the portforward subresource
 * over HTTP/1.1 (plain or TLS) with `Connection: Upgrade`, `Upgrade: SPDY/3.1` and
 * `X-Stream-Protocol-Version: portforward.k8s.io`; a 101 with the negotiated protocol turns the
 * connection into a SPDY session (client role). Bytes that arrive with the 101 belong to it.
 */
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { ErrorCode, KubemuxError } from '../../errors.js';
import { PORT_FORWARD_PROTOCOL } from '../../channel/index.js';
import { SpdySession, resolveSessionOptions, type SpdySessionOptions } from '../../session/index.js';
import type { UpgradeTarget } from '../api/request-target.js';
import { sendUpgradeRequest } from '../api/upgrade-request.js';


/** Options of {@link dialSpdy}. */
export interface SpdyDialOptions {
  /** Options of the SPDY session; the role is always 'client'. */
  readonly session?: Omit<SpdySessionOptions, 'role'>;
  /**
   * Aborts the dial: it rejects with ERR_ABORTED (`name` `'AbortError'`, the signal's reason as
   * `cause`; a KubemuxError reason as it is) and leaves no socket open. An aborted signal sends
   * nothing. No effect once the session is returned.
   */
  readonly signal?: AbortSignal;
}

/**
 * Performs the SPDY upgrade and returns the live session. Fails as sendUpgradeRequest does, and
 * with ERR_UPGRADE_INVALID for a 101 that is not a SPDY/3.1 `portforward.k8s.io` answer.
 */
export function dialSpdy(target: UpgradeTarget, options: SpdyDialOptions = {}): Promise<SpdySession> {
  const sessionOptions = options.session ?? {};
  // Bad session options are the caller's mistake: refuse them before anything is sent.
  try {
    resolveSessionOptions({ ...sessionOptions, role: 'client' });
  } catch (error) {
    return Promise.reject(error);
  }
  return sendUpgradeRequest<SpdySession>(target, {
    method: 'POST',
    headers: {
      Connection: 'Upgrade',
      Upgrade: 'SPDY/3.1',
      'X-Stream-Protocol-Version': PORT_FORWARD_PROTOCOL,
      'Content-Length': '0',
    },
    what: 'the SPDY upgrade',
    ...(options.signal === undefined ? {} : { signal: options.signal }),
    onUpgrade: (response, socket, head, where) => {
      const problem = checkSpdyUpgradeResponse(response);
      if (problem !== undefined) {
        return new KubemuxError(ErrorCode.UPGRADE_INVALID, 'transport', `${where} answered the SPDY upgrade wrongly: ${problem}`);
      }
      const tcp = socket as Socket;
      tcp.setTimeout(0);
      tcp.setNoDelay(true);
      // Bytes that came with the 101 belong to the session.
      if (head.length > 0) socket.unshift(head);
      return new SpdySession(socket, { ...sessionOptions, role: 'client' });
    },
  });
}

/** What is wrong with a 101 answer to a SPDY upgrade, or undefined when it is right. */
export function checkSpdyUpgradeResponse(response: IncomingMessage): string | undefined {
  const connection = String(response.headers.connection ?? '').toLowerCase();
  const upgrade = String(response.headers.upgrade ?? '').toLowerCase();
  const protocol = response.headers['x-stream-protocol-version'];
  if (response.statusCode !== 101) return `status ${response.statusCode}`;
  if (!connection.includes('upgrade')) return `Connection header is ${JSON.stringify(connection)}`;
  if (!upgrade.includes('spdy/3.1')) return `Upgrade header is ${JSON.stringify(upgrade)}`;
  if (protocol !== PORT_FORWARD_PROTOCOL) {
    return `unable to negotiate protocol: client supports "${PORT_FORWARD_PROTOCOL}", server returned ${JSON.stringify(protocol ?? '')}`;
  }
  return undefined;
}
