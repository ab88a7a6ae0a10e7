/**
 * The two ends of the opening handshake on real sockets: a server answering Node's 'upgrade'
 * event, and a client completing its request from the 'upgrade' (or 'response') event of
 * `http.request`. Both hand back a {@link WebSocketConnection} or a typed error; neither throws on
 * what the peer sent. How the client request is made (TLS, proxies, deadlines) is the dialer's
 * business.
 */
import type { Duplex } from 'node:stream';
import { ErrorCode, KubemuxError } from '../../errors.js';
import { WebSocketConnection, type WebSocketConnectionOptions } from './connection.js';
import {
  acceptResponse,
  checkUpgradeRequest,
  checkUpgradeResponse,
  refusalResponse,
  selectSubprotocol,
  type ClientUpgrade,
  type UpgradeRequestHead,
  type UpgradeResponseHead,
} from './handshake.js';

/** Connection options both ends may set (the role is implied, `head` comes from the event). */
export type UpgradeConnectionOptions = Omit<WebSocketConnectionOptions, 'role' | 'head'>;

/** Options of {@link acceptWebSocket}. */
export interface AcceptWebSocketOptions extends UpgradeConnectionOptions {
  /** Subprotocols this server speaks. The first one the client offers wins. */
  readonly protocols: readonly string[];
  /**
   * Accept a client that offers no subprotocol at all (the Kubernetes streaming server treats
   * that as the oldest channel protocol). A client that offers only unknown ones is always
   * refused. Default false.
   */
  readonly allowNoProtocol?: boolean;
  /** Extra headers for the 101 response. */
  readonly responseHeaders?: Readonly<Record<string, string>>;
}

/** An established WebSocket and the subprotocol it speaks. */
export interface UpgradedWebSocket {
  readonly ok: true;
  readonly connection: WebSocketConnection;
  /** Undefined only when no subprotocol was negotiated. */
  readonly protocol: string | undefined;
}

/** A handshake that failed; the socket has been answered (server) or destroyed. */
export interface FailedUpgrade {
  readonly ok: false;
  readonly error: KubemuxError;
}

function refused(socket: Duplex, status: number, reason: string, headers: Readonly<Record<string, string>> = {}): FailedUpgrade {
  if (!socket.destroyed) {
    socket.on('error', () => socket.destroy());
    socket.end(refusalResponse(status, reason, headers));
  }
  return { ok: false, error: new KubemuxError(ErrorCode.UPGRADE_REFUSED, 'transport', `the WebSocket upgrade was refused with HTTP ${status}: ${reason}`, { httpStatus: status }) };
}

/**
 * Server side: checks the request, answers 101 with the chosen subprotocol and returns the
 * connection; or answers 4xx, ends the socket and returns ERR_UPGRADE_REFUSED (with
 * `httpStatus`). Throws only for bad options (ERR_INVALID_ARGUMENT).
 */
export function acceptWebSocket(request: UpgradeRequestHead, socket: Duplex, head: Buffer, options: AcceptWebSocketOptions): UpgradedWebSocket | FailedUpgrade {
  const check = checkUpgradeRequest(request);
  if (!check.ok) return refused(socket, check.status, check.reason, check.headers);
  const protocol = selectSubprotocol(check.protocols, options.protocols);
  if (protocol === undefined && (check.protocols.length > 0 || options.allowNoProtocol !== true)) {
    const offered = check.protocols.length === 0 ? 'none' : check.protocols.join(', ');
    return refused(socket, 400, `no supported WebSocket subprotocol offered (offered: ${offered}; supported: ${options.protocols.join(', ')})`);
  }
  const response = acceptResponse(check.key, protocol, options.responseHeaders);
  if (socket.destroyed) {
    return { ok: false, error: new KubemuxError(ErrorCode.TRANSPORT_CLOSED, 'transport', 'the client went away during the WebSocket handshake', { closeCode: 1006 }) };
  }
  socket.write(response);
  const { protocols: _protocols, allowNoProtocol: _allow, responseHeaders: _headers, ...connectionOptions } = options;
  const connection = new WebSocketConnection(socket, { ...connectionOptions, role: 'server', head });
  return { ok: true, connection, protocol };
}

/**
 * Client side: checks the server's answer to `upgrade` (see checkUpgradeResponse) and returns
 * the connection over `socket`, parsing `head` first. On failure the socket is destroyed and the
 * error is ERR_UPGRADE_REFUSED (not 101) or ERR_UPGRADE_INVALID.
 */
export function completeWebSocketUpgrade(
  response: UpgradeResponseHead,
  socket: Duplex,
  head: Buffer,
  upgrade: Pick<ClientUpgrade, 'key' | 'protocols'>,
  options: UpgradeConnectionOptions = {},
): UpgradedWebSocket | FailedUpgrade {
  const check = checkUpgradeResponse(response, upgrade);
  if (!check.ok) {
    socket.destroy();
    return check;
  }
  const connection = new WebSocketConnection(socket, { ...options, role: 'client', head });
  return { ok: true, connection, protocol: check.protocol };
}
