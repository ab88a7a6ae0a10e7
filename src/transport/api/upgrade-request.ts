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
import { ErrorCode, KubemuxError, abortError } from '../../errors.js';
import { firstError, signalError } from '../../util/validate.js';
import { connectionFactory, type ConnectionFactory } from './connect.js';
import { requestUrl, targetError, type UpgradeTarget } from './request-target.js';
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
  /**
   * Aborts the attempt: the promise fails with ERR_ABORTED (`abortError`, scope 'transport'; a
   * KubemuxError reason is passed through as it is) and everything it opened is destroyed.
   */
  readonly signal?: AbortSignal;
}

/**
 * Sends the upgrade request and resolves with what `onUpgrade` built from the 101. Fails with
 * ERR_UPGRADE_REFUSED (a non-101 answer, with `httpStatus` and the Kubernetes Status message),
 * ERR_UPGRADE_INVALID (what `onUpgrade` rejects), ERR_PROTOCOL (an answer that is not HTTP/1.1),
 * ERR_CONNECT_FAILED / ERR_TLS / ERR_TIMEOUT (connecting), ERR_TIMEOUT (no answer within
 * `upgradeTimeoutMs`), ERR_TRANSPORT_CLOSED (closed before answering), ERR_ABORTED (the signal),
 * ERR_INVALID_ARGUMENT (usage) for a server URL that is not http: or https:, a bad proxy URL, a
 * deadline that is not an integer in 1..2^31-1, or a signal that is not an AbortSignal.
 *
 * Whatever happens, no socket is left behind: the one that carried a refusal is destroyed once the
 * error is built (see the comment at 'response').
 */
export function sendUpgradeRequest<T>(target: UpgradeTarget, options: UpgradeRequestOptions<T>): Promise<T> {
  const { what, signal } = options;
  let url: URL;
  let connect: ConnectionFactory;
  // Stops a connect under way when the attempt fails first (deadline, abort): http.request
  // cannot cancel a connection factory that has not called back yet.
  const abandonConnect = new AbortController();
  try {
    const bad = firstError(targetError(target), signalError(signal));
    if (bad !== undefined) throw bad;
    url = requestUrl(target.server, target.path);
    if (url.protocol !== 'https:' && url.protocol !== 'http:') {
      throw new KubemuxError(ErrorCode.INVALID_ARGUMENT, 'usage', `server URL must be http: or https:, got ${url.protocol}`);
    }
    connect = connectionFactory(target, { signal: abandonConnect.signal });
  } catch (error) {
    return Promise.reject(error);
  }
  if (signal?.aborted === true) return Promise.reject(abortError(signal, 'transport', what));
  const secure = url.protocol === 'https:';
  const where = url.host;
  const upgradeTimeoutMs = target.upgradeTimeoutMs ?? DEFAULT_TIMEOUT_MS;

  return new Promise<T>((resolve, reject) => {
    let settled = false;
    /** The connection, once there is one: ours to destroy on any failure (see 'response'). */
    let socket: Duplex | undefined;
    const timers: NodeJS.Timeout[] = [];
    const onAbort = (): void => fail(abortError(signal!, 'transport', what));
    const cleanUp = (): void => {
      settled = true;
      for (const timer of timers) clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
    };
    const fail = (error: KubemuxError): void => {
      if (settled) return;
      cleanUp();
      abandonConnect.abort();
      request.destroy();
      socket?.destroy();
      reject(error);
    };
    const request = (secure ? https : http).request(url, {
      method: options.method,
      // A fresh connection of our own: an upgraded socket must never come from (or go back to) a pool.
      createConnection: connect as unknown as http.RequestOptions['createConnection'],
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
    signal?.addEventListener('abort', onAbort, { once: true });

    request.on('timeout', () => fail(new KubemuxError(ErrorCode.TIMEOUT, 'transport', `connecting to ${where} timed out`)));
    // The connection factory hands the socket over only once TCP (and TLS) is up.
    request.once('socket', (connected: Duplex) => {
      socket = connected;
    });
    request.on('error', (error) => fail(requestError(error, where, socket !== undefined, what)));
    request.on('response', (response: http.IncomingMessage) => {
      // A refusal. Go's net/http (every real API server) keeps the connection open after a 4xx,
      // and once the body has been read Node detaches the socket from this request (there is no
      // agent to return it to): request.destroy() and response.destroy() no longer reach it, and
      // the socket would stay open until the server's idle timeout, keeping the process alive.
      // So the socket captured at 'socket' is destroyed by fail(), whatever the answer said.
      void refusedUpgradeError(response, what).then(fail);
    });
    request.on('upgrade', (response: http.IncomingMessage, upgraded: Duplex, head: Buffer) => {
      if (settled) {
        upgraded.destroy();
        return;
      }
      let result: T | KubemuxError;
      try {
        result = options.onUpgrade(response, upgraded, head, where);
      } catch (error) {
        // A throw here would escape as an uncaught exception from Node's 'upgrade' event.
        result = error instanceof KubemuxError ? error : new KubemuxError(ErrorCode.UPGRADE_INVALID, 'transport', `${what}: ${String(error)}`, { cause: error });
      }
      if (result instanceof KubemuxError) {
        upgraded.destroy();
        fail(result);
        return;
      }
      cleanUp();
      resolve(result);
    });
    request.end();
  });
}
