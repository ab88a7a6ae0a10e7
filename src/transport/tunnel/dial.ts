/**
 * SPDY tunnelled in WebSocket (KEP-4006, kubectl's default since 1.31; spec/websocket-channels.md
 * §2): `GET` the portforward path with a WebSocket upgrade offering `SPDY/3.1+portforward.k8s.io`,
 * then a client SpdySession over the binary messages (WebSocketByteStream). The SPDY inside is
 * byte for byte what `dialSpdy` speaks, so the session, its pings and the port-forward
 * choreography are unchanged; SPDY pings travel inside the tunnel and test the whole path, as
 * kubectl's do.
 */
import { SpdySession, resolveSessionOptions, type SpdySessionOptions } from '../../session/index.js';
import { SPDY_TUNNEL_SUBPROTOCOL } from '../../channel/index.js';
import type { UpgradeTarget } from '../api/request-target.js';
import type { UpgradeConnectionOptions } from '../websocket/index.js';
import { WebSocketByteStream, type WebSocketByteStreamOptions } from './byte-stream.js';
import { dialWebSocket } from '../websocket/dial.js';

/** WebSocket options of {@link dialWebSocketTunnel}. */
export interface WebSocketTunnelOptions {
  /** The WebSocketConnection's options (payload limit, close deadline, masking). */
  readonly connection?: UpgradeConnectionOptions;
  /** The byte stream's buffer sizes. */
  readonly byteStream?: WebSocketByteStreamOptions;
}

/** Options of {@link dialWebSocketTunnel}. */
export interface WebSocketTunnelDialOptions {
  /** Options of the SPDY session; the role is always 'client'. */
  readonly session?: Omit<SpdySessionOptions, 'role'>;
  /** WebSocket options of the tunnel. */
  readonly tunnel?: WebSocketTunnelOptions;
  /**
   * Aborts the dial: it rejects with ERR_ABORTED (`name` `'AbortError'`, the signal's reason as
   * `cause`; a KubemuxError reason as it is) and leaves no socket open. An aborted signal sends
   * nothing. No effect once the session is returned.
   */
  readonly signal?: AbortSignal;
}

/**
 * Dials the tunnel and returns the live SPDY session (client role), owned by the caller. Fails as
 * `dialWebSocket` does: ERR_UPGRADE_REFUSED for a non-101 answer and ERR_UPGRADE_INVALID for a
 * wrong 101 are the errors after which kubectl falls back to plain SPDY (see `dialPortForward`).
 */
export async function dialWebSocketTunnel(target: UpgradeTarget, options: WebSocketTunnelDialOptions = {}): Promise<SpdySession> {
  const sessionOptions = options.session ?? {};
  const webSocketOptions = options.tunnel ?? {};
  // Bad options fail before anything is sent.
  resolveSessionOptions({ ...sessionOptions, role: 'client' });
  const { connection } = await dialWebSocket(target, [SPDY_TUNNEL_SUBPROTOCOL], {
    what: 'the WebSocket tunnel upgrade',
    ...(webSocketOptions.connection === undefined ? {} : { connection: webSocketOptions.connection }),
    ...(options.signal === undefined ? {} : { signal: options.signal }),
  });
  return new SpdySession(new WebSocketByteStream(connection, webSocketOptions.byteStream), { ...sessionOptions, role: 'client' });
}
