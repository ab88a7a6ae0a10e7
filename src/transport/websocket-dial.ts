/**
 * The client side of a WebSocket upgrade to the portforward subresource, shared by the SPDY
 * tunnel and the v4 channel transport: `GET` with our own handshake headers (clientUpgrade; `ws`
 * refuses the tunnel's subprotocol, spec/websocket-channels.md §3), over a connection from the one
 * connection factory (TCP/TLS, proxy, connect deadline), checked by completeWebSocketUpgrade.
 */
import http from 'node:http';
import https from 'node:https';
import type { Duplex } from 'node:stream';
import { ErrorCode, KubemuxError } from '../errors.js';
import { connectionFactory } from './connect.js';
import { requestUrl, type UpgradeTarget } from './request-target.js';
import { refusedUpgradeError, requestError } from './upgrade-errors.js';
import { clientUpgrade, completeWebSocketUpgrade, type UpgradeConnectionOptions, type UpgradedWebSocket } from './websocket/index.js';

const DEFAULT_TIMEOUT_MS = 30_000;

/** Options of {@link dialWebSocket}. */
export interface WebSocketDialOptions {
  /** Options of the WebSocketConnection (payload limit, close deadline, masking). */
  readonly connection?: UpgradeConnectionOptions;
  /** Names the upgrade in messages, e.g. 'the WebSocket tunnel upgrade'. */
  readonly what?: string;
  /** An extra overall deadline (connect and upgrade), with the error to fail with when it passes. */
  readonly deadline?: { readonly ms: number; readonly error: () => KubemuxError };
  /** Aborts the attempt; the promise then fails with the signal's reason (a KubemuxError). */
  readonly signal?: AbortSignal;
}

/**
 * Performs the WebSocket upgrade for `target` offering `protocols`, and resolves with the open
 * connection and the subprotocol the server chose (one of `protocols`).
 *
 * Fails with ERR_UPGRADE_REFUSED (non-101, with `httpStatus` and the Kubernetes Status message),
 * ERR_UPGRADE_INVALID (a 101 that breaks RFC 6455 or picks no offered subprotocol, or an answer
 * that is not HTTP/1.1), ERR_CONNECT_FAILED / ERR_TLS / ERR_TIMEOUT (connecting), ERR_TIMEOUT (no
 * answer within `upgradeTimeoutMs`), ERR_TRANSPORT_CLOSED (closed before answering),
 * ERR_INVALID_ARGUMENT (usage) for a server URL that is not http: or https:.
 */
export function dialWebSocket(target: UpgradeTarget, protocols: readonly string[], options: WebSocketDialOptions = {}): Promise<UpgradedWebSocket> {
  let url: URL;
  try {
    url = requestUrl(target.server, target.path);
  } catch {
    return Promise.reject(new KubemuxError(ErrorCode.INVALID_ARGUMENT, 'usage', 'the server URL is not a valid URL'));
  }
  const secure = url.protocol === 'https:';
  if (!secure && url.protocol !== 'http:') {
    return Promise.reject(new KubemuxError(ErrorCode.INVALID_ARGUMENT, 'usage', `server URL must be http: or https:, got ${url.protocol}`));
  }
  if (options.signal?.aborted === true) return Promise.reject(abortReason(options.signal));
  const where = url.host;
  const what = options.what ?? 'the WebSocket upgrade';
  const upgrade = clientUpgrade(protocols);
  const upgradeTimeoutMs = target.upgradeTimeoutMs ?? DEFAULT_TIMEOUT_MS;

  return new Promise<UpgradedWebSocket>((resolve, reject) => {
    let settled = false;
    const timers: NodeJS.Timeout[] = [];
    const onAbort = (): void => fail(abortReason(options.signal!));
    const cleanUp = (): void => {
      settled = true;
      for (const timer of timers) clearTimeout(timer);
      options.signal?.removeEventListener('abort', onAbort);
    };
    const fail = (error: KubemuxError): void => {
      if (settled) return;
      cleanUp();
      request.destroy();
      reject(error);
    };
    const request = (secure ? https : http).request(url, {
      method: 'GET',
      // A fresh connection of our own: an upgraded socket must never come from (or go back to) a pool.
      createConnection: connectionFactory(target) as unknown as http.RequestOptions['createConnection'],
      timeout: target.connectTimeoutMs ?? DEFAULT_TIMEOUT_MS,
      // The handshake headers last: credentials from the target cannot replace them.
      headers: { ...target.headers, ...upgrade.headers },
    });
    const later = (ms: number, error: () => KubemuxError): void => {
      const timer = setTimeout(() => fail(error()), ms);
      timer.unref();
      timers.push(timer);
    };
    later(upgradeTimeoutMs, () => new KubemuxError(ErrorCode.TIMEOUT, 'transport', `no answer to ${what} from ${where} within ${upgradeTimeoutMs} ms`));
    if (options.deadline !== undefined) later(options.deadline.ms, options.deadline.error);
    options.signal?.addEventListener('abort', onAbort, { once: true });

    request.on('timeout', () => fail(new KubemuxError(ErrorCode.TIMEOUT, 'transport', `connecting to ${where} timed out`)));
    // The connection factory hands the socket over only once TCP (and TLS) is up.
    let connected = false;
    request.once('socket', () => {
      connected = true;
    });
    request.on('error', (error) => fail(requestError(error, where, connected)));
    request.on('response', (response: http.IncomingMessage) => {
      void refusedUpgradeError(response, what).then(fail);
    });
    request.on('upgrade', (response: http.IncomingMessage, socket: Duplex, head: Buffer) => {
      if (settled) {
        socket.destroy();
        return;
      }
      const result = completeWebSocketUpgrade(response, socket, head, upgrade, options.connection);
      if (!result.ok) {
        fail(new KubemuxError(result.error.code, 'transport', `${where} answered ${what} wrongly: ${result.error.message}`, { httpStatus: result.error.httpStatus }));
        return;
      }
      cleanUp();
      resolve(result);
    });
    request.end();
  });
}

function abortReason(signal: AbortSignal): KubemuxError {
  const reason: unknown = signal.reason;
  return reason instanceof KubemuxError ? reason : new KubemuxError(ErrorCode.SESSION_CLOSED, 'session', 'the upgrade was abandoned');
}
