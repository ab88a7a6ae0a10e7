/**
 * The client side of a WebSocket upgrade to the portforward subresource, shared by the SPDY
 * tunnel and the v4 channel transport: `GET` with our own handshake headers (clientUpgrade; `ws`
 * refuses the tunnel's subprotocol, spec/websocket-channels.md §3), over a connection from the one
 * connection factory (sendUpgradeRequest), checked by completeWebSocketUpgrade.
 */
import { KubemuxError } from '../../errors.js';
import type { UpgradeTarget } from '../api/request-target.js';
import { sendUpgradeRequest } from '../api/upgrade-request.js';
import { clientUpgrade, completeWebSocketUpgrade, type UpgradeConnectionOptions, type UpgradedWebSocket } from './index.js';

/** Options of {@link dialWebSocket}. */
export interface WebSocketDialOptions {
  /** Options of the WebSocketConnection (payload limit, close deadline, masking). */
  readonly connection?: UpgradeConnectionOptions;
  /** Names the upgrade in messages, e.g. 'the WebSocket tunnel upgrade'. */
  readonly what?: string;
  /** An extra overall deadline (connect and upgrade), with the error to fail with when it passes. */
  readonly deadline?: { readonly ms: number; readonly error: () => KubemuxError };
  /** Aborts the attempt: it fails with ERR_ABORTED (see sendUpgradeRequest) and leaves no socket open. */
  readonly signal?: AbortSignal;
}

/**
 * Performs the WebSocket upgrade for `target` offering `protocols`, and resolves with the open
 * connection and the subprotocol the server chose (one of `protocols`).
 *
 * Fails with ERR_UPGRADE_REFUSED (non-101, with `httpStatus` and the Kubernetes Status message),
 * ERR_UPGRADE_INVALID (a 101 that breaks RFC 6455 or picks no offered subprotocol), ERR_PROTOCOL
 * (an answer that is not HTTP/1.1), ERR_CONNECT_FAILED / ERR_TLS / ERR_TIMEOUT (connecting),
 * ERR_TIMEOUT (no answer within `upgradeTimeoutMs`), ERR_TRANSPORT_CLOSED (closed before
 * answering), ERR_ABORTED (the signal), ERR_INVALID_ARGUMENT (usage) for a bad server URL or option.
 */
export function dialWebSocket(target: UpgradeTarget, protocols: readonly string[], options: WebSocketDialOptions = {}): Promise<UpgradedWebSocket> {
  const upgrade = clientUpgrade(protocols);
  const what = options.what ?? 'the WebSocket upgrade';
  return sendUpgradeRequest<UpgradedWebSocket>(target, {
    method: 'GET',
    // The handshake headers last: credentials from the target cannot replace them.
    headers: upgrade.headers,
    what,
    ...(options.deadline === undefined ? {} : { deadline: options.deadline }),
    ...(options.signal === undefined ? {} : { signal: options.signal }),
    onUpgrade: (response, socket, head, where) => {
      const result = completeWebSocketUpgrade(response, socket, head, upgrade, options.connection);
      if (result.ok) return result;
      return new KubemuxError(result.error.code, 'transport', `${where} answered ${what} wrongly: ${result.error.message}`, { httpStatus: result.error.httpStatus });
    },
  });
}
