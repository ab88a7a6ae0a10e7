/**
 * Plain requests to the Kubernetes API (resolving `deploy/NAME` or `svc/NAME` to a pod, waiting
 * for a pod to appear), on the same {@link ServerTarget} the dialers use: same connection
 * factory, so the same TLS material, credentials, proxy and connect deadline. One fresh
 * connection per request, closed after it; the few lookups a forward makes do not justify a pool.
 *
 * Answers of any status come back as data (the caller knows what a 404 means for it); only
 * transport failures are errors.
 */
import http, { type IncomingMessage } from 'node:http';
import https from 'node:https';
import type { Duplex } from 'node:stream';
import { ErrorCode, KubemuxError, abortError } from '../../errors.js';
import { firstError, integerError, signalError, timeoutError } from '../../util/validate.js';
import { connectionFactory, type ConnectionFactory } from './connect.js';
import { requestUrl, targetError, type ServerTarget } from './request-target.js';
import { kubernetesStatusMessage, requestError } from './upgrade-errors.js';

/** Options of {@link apiGet}. */
export interface ApiGetOptions {
  /** Deadline for the whole request, connect included, ms. Default 30,000. */
  readonly timeoutMs?: number;
  /** A body larger than this fails the request, bytes. Default 16 MiB. */
  readonly maxBodyBytes?: number;
  /**
   * Aborts the request: it rejects with ERR_ABORTED (`name` `'AbortError'`, the signal's reason as
   * `cause`; a KubemuxError reason as it is) and its connection is destroyed.
   */
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
const MAX_MAX_BODY_BYTES = 2 ** 30;

/**
 * `GET path` (with its query) on the target's API server, `Accept: application/json`. Rejects
 * (never throws) with ERR_CONNECT_FAILED, ERR_TLS or ERR_TIMEOUT (transport), ERR_PROTOCOL when
 * the answer is not HTTP, ERR_TRANSPORT_CLOSED when the body is cut short or exceeds
 * `maxBodyBytes`, ERR_ABORTED (the signal), ERR_INVALID_ARGUMENT (usage) for a bad server URL,
 * proxy URL or option.
 */
export function apiGet(target: ServerTarget, path: string, options: ApiGetOptions = {}): Promise<ApiResponse> {
  const bad = options.maxBodyBytes === undefined ? undefined : integerError('maxBodyBytes', options.maxBodyBytes, 0, MAX_MAX_BODY_BYTES);
  if (bad !== undefined) return Promise.reject(bad);
  const maxBodyBytes = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  return sendGet<ApiResponse>(target, path, options, 'no complete answer', (response, exchange) => {
    readBody(response, maxBodyBytes, exchange, (text) => exchange.settle(undefined, answer(response.statusCode ?? 0, text)));
  });
}

/** One event of a watch: `ADDED`, `MODIFIED`, `DELETED`, `BOOKMARK` or `ERROR` (whose object is a metav1.Status). */
export interface WatchEvent {
  readonly type: string;
  readonly object: unknown;
}

/** Options of {@link apiWatch}. */
export interface ApiWatchOptions {
  /** Deadline for the answer's status line and headers, connect included, ms; the events then come for as long as the server sends them. Default 30,000. */
  readonly timeoutMs?: number;
  /** An event (one line) larger than this, or an error body larger than this, fails the watch, bytes. Default 16 MiB. */
  readonly maxEventBytes?: number;
  /** Ends the watch: it rejects with ERR_ABORTED (as apiGet's signal). */
  readonly signal?: AbortSignal;
  /** Called once the server has answered 2xx, before any event: the watch is in place. */
  readonly onOpen?: () => void;
}

/** How a watch ended. */
export interface ApiWatchResult {
  /** The HTTP status. Anything but 2xx means no event was delivered. */
  readonly status: number;
  /** The answer's body for a status other than 2xx (`''` otherwise). */
  readonly text: string;
  /** The `message` of a metav1.Status body, for a status other than 2xx. */
  readonly statusMessage: string | undefined;
  /** True when `onEvent` asked to stop; false when the server ended the stream (its `timeoutSeconds`, or a restart). */
  readonly stopped: boolean;
}

/**
 * Watches: `GET path` where `path` asks for a watch (`?watch=true&resourceVersion=...`), calling
 * `onEvent` for each newline-delimited JSON event as it arrives, until `onEvent` returns true,
 * the server ends the stream, or `signal` aborts. The connection is closed when it resolves.
 * Rejects as {@link apiGet} does, and with ERR_PROTOCOL (transport) for a line that is not a
 * JSON event, ERR_TRANSPORT_CLOSED for an event over `maxEventBytes` or a stream cut short.
 * An exception thrown by `onEvent` or `onOpen` rejects with that exception.
 */
export function apiWatch(target: ServerTarget, path: string, onEvent: (event: WatchEvent) => boolean | void, options: ApiWatchOptions = {}): Promise<ApiWatchResult> {
  const bad = options.maxEventBytes === undefined ? undefined : integerError('maxEventBytes', options.maxEventBytes, 0, MAX_MAX_BODY_BYTES);
  if (bad !== undefined) return Promise.reject(bad);
  const maxEventBytes = options.maxEventBytes ?? DEFAULT_MAX_BODY_BYTES;
  return sendGet<ApiWatchResult>(target, path, options, 'no answer', (response, exchange) => {
    const status = response.statusCode ?? 0;
    if (status < 200 || status > 299) {
      readBody(response, maxEventBytes, exchange, (text) => exchange.settle(undefined, { ...answer(status, text), text, stopped: false }));
      return;
    }
    // The deadline covered the wait for an answer; the events may take as long as the caller likes.
    exchange.clearDeadline();
    try {
      options.onOpen?.();
    } catch (error) {
      // Thrown inside a socket event, it would be uncaught; it fails the watch instead.
      exchange.settle(error instanceof Error ? error : new Error(String(error)));
      return;
    }
    let pending: Buffer[] = [];
    let pendingBytes = 0;
    const deliver = (line: Buffer): boolean => {
      const text = line.toString('utf8').trim();
      if (text === '') return false;
      let event: unknown;
      try {
        event = JSON.parse(text);
      } catch {
        event = undefined;
      }
      if (typeof event !== 'object' || event === null || typeof (event as WatchEvent).type !== 'string') {
        exchange.settle(new KubemuxError(ErrorCode.PROTOCOL, 'transport', `watch ${exchange.pathname} on ${exchange.where}: a line that is not a watch event: ${JSON.stringify(text.slice(0, 200))}`));
        return true;
      }
      if (onEvent({ type: (event as WatchEvent).type, object: (event as WatchEvent).object }) === true) {
        exchange.settle(undefined, { status, text: '', statusMessage: undefined, stopped: true });
        return true;
      }
      return false;
    };
    response.on('data', (chunk: Buffer) => {
      if (exchange.settled) return;
      let start = 0;
      try {
        for (let newline = chunk.indexOf(0x0a); newline !== -1; newline = chunk.indexOf(0x0a, start)) {
          pending.push(chunk.subarray(start, newline));
          const line = Buffer.concat(pending);
          pending = [];
          pendingBytes = 0;
          start = newline + 1;
          if (deliver(line)) return;
        }
      } catch (error) {
        exchange.settle(error instanceof Error ? error : new Error(String(error)));
        return;
      }
      pendingBytes += chunk.length - start;
      if (pendingBytes > maxEventBytes) {
        exchange.settle(new KubemuxError(ErrorCode.TRANSPORT_CLOSED, 'transport', `watch ${exchange.pathname} on ${exchange.where}: an event exceeds ${maxEventBytes} bytes`));
        return;
      }
      if (start < chunk.length) pending.push(chunk.subarray(start));
    });
    response.on('error', (error) => exchange.settle(cutShort(exchange, error)));
    response.on('end', () => {
      try {
        if (pending.length > 0 && deliver(Buffer.concat(pending))) return;
      } catch (error) {
        exchange.settle(error instanceof Error ? error : new Error(String(error)));
        return;
      }
      exchange.settle(undefined, { status, text: '', statusMessage: undefined, stopped: false });
    });
  });
}

/** One request under way: how it ends, and what error messages call it. */
interface Exchange<T> {
  /** Ends the request once: resolves with `value`, or destroys the connection and rejects with `error`. */
  settle(error: Error | undefined, value?: T): void;
  /** Whether it has ended. */
  readonly settled: boolean;
  /** Stops the deadline (the answer has come; what follows is the caller's to bound). */
  clearDeadline(): void;
  readonly pathname: string;
  readonly where: string;
}

/**
 * Sends `GET path` with the target's credentials and hands the response to `onResponse`, which
 * settles the exchange. Owns the connection, the deadline and the abort signal, so that every
 * request ends exactly once and closes its connection: on success the connection is released,
 * on failure (or when a watch stops early) it is destroyed.
 */
function sendGet<T>(
  target: ServerTarget,
  path: string,
  options: { readonly timeoutMs?: number; readonly signal?: AbortSignal },
  deadlineText: string,
  onResponse: (response: IncomingMessage, exchange: Exchange<T>) => void,
): Promise<T> {
  let url: URL;
  let connect: ConnectionFactory;
  // Stops a connect under way when the request fails first (see sendUpgradeRequest).
  const abandonConnect = new AbortController();
  try {
    const bad = firstError(targetError(target), timeoutError('timeoutMs', options.timeoutMs), signalError(options.signal));
    if (bad !== undefined) throw bad;
    url = requestUrl(target.server, path);
    if (url.protocol !== 'https:' && url.protocol !== 'http:') {
      throw new KubemuxError(ErrorCode.INVALID_ARGUMENT, 'usage', `server URL must be http: or https:, got ${url.protocol}`);
    }
    connect = connectionFactory(target, { signal: abandonConnect.signal });
  } catch (error) {
    return Promise.reject(error);
  }
  const what = `GET ${url.pathname}`;
  const signal = options.signal;
  if (signal?.aborted === true) return Promise.reject(abortError(signal, 'transport', what));
  const secure = url.protocol === 'https:';
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const where = url.host;
  return new Promise<T>((resolve, reject) => {
    let settled = false;
    let timer: NodeJS.Timeout | undefined;
    let socket: Duplex | undefined;
    const exchange: Exchange<T> = {
      settle(error, value) {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        signal?.removeEventListener('abort', aborted);
        // One connection per request: whatever became of it (a finished answer, a watch stopped
        // early, a failure), it is closed now, even when Node detached it from the request.
        abandonConnect.abort();
        request.destroy();
        socket?.destroy();
        if (error === undefined) resolve(value as T);
        else reject(error);
      },
      get settled() {
        return settled;
      },
      clearDeadline() {
        clearTimeout(timer);
      },
      pathname: url.pathname,
      where,
    };
    const aborted = (): void => exchange.settle(abortError(signal!, 'transport', what));
    const request = (secure ? https : http).request(url, {
      method: 'GET',
      createConnection: connect as unknown as http.RequestOptions['createConnection'],
      headers: { ...target.headers, Accept: 'application/json' },
    });
    request.once('socket', (connected: Duplex) => {
      socket = connected;
    });
    request.on('error', (error) => exchange.settle(requestError(error, where, socket !== undefined, what)));
    request.on('response', (response) => onResponse(response, exchange));
    timer = setTimeout(() => exchange.settle(new KubemuxError(ErrorCode.TIMEOUT, 'transport', `${what} on ${where}: ${deadlineText} within ${timeoutMs} ms`)), timeoutMs);
    timer.unref();
    signal?.addEventListener('abort', aborted, { once: true });
    request.end();
  });
}

/** Reads a whole body, bounded by `maxBytes`, then calls `done` with it as text. */
function readBody<T>(response: IncomingMessage, maxBytes: number, exchange: Exchange<T>, done: (text: string) => void): void {
  const chunks: Buffer[] = [];
  let size = 0;
  response.on('data', (chunk: Buffer) => {
    size += chunk.length;
    if (size > maxBytes) {
      exchange.settle(new KubemuxError(ErrorCode.TRANSPORT_CLOSED, 'transport', `GET ${exchange.pathname} on ${exchange.where}: the answer exceeds ${maxBytes} bytes`));
      return;
    }
    chunks.push(chunk);
  });
  response.on('error', (error) => exchange.settle(cutShort(exchange, error)));
  response.on('end', () => done(Buffer.concat(chunks).toString('utf8')));
}

function cutShort<T>(exchange: Exchange<T>, error: Error): KubemuxError {
  return new KubemuxError(ErrorCode.TRANSPORT_CLOSED, 'transport', `GET ${exchange.pathname} on ${exchange.where}: the answer was cut short`, { cause: error });
}

/** An answer's parts: status, JSON (if it is JSON), text, Status message. */
function answer(status: number, text: string): ApiResponse {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status, json, text, statusMessage: kubernetesStatusMessage(text.trim()) };
}
