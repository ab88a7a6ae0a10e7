/**
 * One HTTP/1.1 upgrade request to the portforward subresource, shared by every dialer (SPDY,
 * WebSocket tunnel, v4): a fresh connection from the connection factory (TCP/TLS, proxy, connect
 * deadline), the upgrade deadline, an optional abort signal, and typed errors for everything that
 * can go wrong before the 101. What a 101 must look like is the caller's: `onUpgrade` checks it
 * and builds the result synchronously, inside Node's 'upgrade' event, so no byte that arrives
 * right after the 101 can be missed.
 */
import http from 'node:http';
import https from 'node:https';
import type { Duplex } from 'node:stream';
import { ErrorCode, KubemuxError } from '../errors.js';
import { connectionFactory } from './connect.js';
import { requestUrl, type UpgradeTarget } from './request-target.js';
import { refusedUpgradeError, requestError } from './upgrade-errors.js';

const DEFAULT_TIMEOUT_MS = 30_000;

/** Options of {@link sendUpgradeRequest}. */
export interface UpgradeRequestOptions<T> {
  readonly method: 'GET' | 'POST';
  /** The protocol's own headers; they are applied after the target's, which cannot replace them. */
  readonly headers: Readonly<Record<string, string>>;
  /** Names the upgrade in messages, e.g. 'the SPDY upgrade'. */
  readonly what: string;
  /** Checks the 101 and builds the result, or returns the error to fail with (the socket is then destroyed). */
  readonly onUpgrade: (response: http.IncomingMessage, socket: Duplex, head: Buffer, where: string) => T | KubemuxError;
  /** An extra overall deadline (connect and upgrade), with the error to fail with when it passes. */
  readonly deadline?: { readonly ms: number; readonly error: () => KubemuxError };
  /** Aborts the attempt; the promise then fails with the signal's reason (a KubemuxError). */
  readonly signal?: AbortSignal;
}

/**
 * Sends the upgrade request and resolves with what `onUpgrade` built from the 101. Fails with
 * ERR_UPGRADE_REFUSED (a non-101 answer, with `httpStatus` and the Kubernetes Status message),
 * ERR_UPGRADE_INVALID (what `onUpgrade` rejects, or an answer that is not HTTP/1.1),
 * ERR_CONNECT_FAILED / ERR_TLS / ERR_TIMEOUT (connecting), ERR_TIMEOUT (no answer within
 * `upgradeTimeoutMs`), ERR_TRANSPORT_CLOSED (closed before answering), ERR_INVALID_ARGUMENT
 * (usage) for a server URL that is not http: or https:.
 */
export function sendUpgradeRequest<T>(target: UpgradeTarget, options: UpgradeRequestOptions<T>): Promise<T> {
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
  const { what } = options;
  const upgradeTimeoutMs = target.upgradeTimeoutMs ?? DEFAULT_TIMEOUT_MS;

  return new Promise<T>((resolve, reject) => {
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
      method: options.method,
      // A fresh connection of our own: an upgraded socket must never come from (or go back to) a pool.
      createConnection: connectionFactory(target) as unknown as http.RequestOptions['createConnection'],
      timeout: target.connectTimeoutMs ?? DEFAULT_TIMEOUT_MS,
      headers: { ...target.headers, ...options.headers },
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
      let result: T | KubemuxError;
      try {
        result = options.onUpgrade(response, socket, head, where);
      } catch (error) {
        // A throw here would escape as an uncaught exception from Node's 'upgrade' event.
        result = error instanceof KubemuxError ? error : new KubemuxError(ErrorCode.UPGRADE_INVALID, 'transport', `${what}: ${String(error)}`, { cause: error });
      }
      if (result instanceof KubemuxError) {
        socket.destroy();
        fail(result);
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
  return reason instanceof KubemuxError ? reason : new KubemuxError(ErrorCode.TRANSPORT_CLOSED, 'transport', 'the upgrade was abandoned');
}
