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
import type { Duplex } from 'node:stream';
import { ErrorCode, KubemuxError, abortError } from '../errors.js';
import { firstError, integerError, signalError, timeoutError } from './arguments.js';
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
  let url: URL;
  let connect: ConnectionFactory;
  // Stops a connect under way when the request fails first (see sendUpgradeRequest).
  const abandonConnect = new AbortController();
  try {
    const bad = firstError(
      targetError(target),
      timeoutError('timeoutMs', options.timeoutMs),
      options.maxBodyBytes === undefined ? undefined : integerError('maxBodyBytes', options.maxBodyBytes, 0, MAX_MAX_BODY_BYTES),
      signalError(options.signal),
    );
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
  const maxBodyBytes = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  const where = url.host;
  return new Promise<ApiResponse>((resolve, reject) => {
    let settled = false;
    let socket: Duplex | undefined;
    const settle = (error: Error | undefined, response?: ApiResponse): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', aborted);
      // One connection per request: whatever became of it, it is closed now.
      abandonConnect.abort();
      request.destroy();
      socket?.destroy();
      if (error === undefined) resolve(response!);
      else reject(error);
    };
    const aborted = (): void => settle(abortError(signal!, 'transport', what));
    const request = (secure ? https : http).request(url, {
      method: 'GET',
      createConnection: connect as unknown as http.RequestOptions['createConnection'],
      headers: { ...target.headers, Accept: 'application/json' },
    });
    request.once('socket', (connected: Duplex) => {
      socket = connected;
    });
    request.on('error', (error) => settle(requestError(error, where, socket !== undefined, what)));
    request.on('response', (response) => {
      const chunks: Buffer[] = [];
      let size = 0;
      response.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > maxBodyBytes) {
          settle(new KubemuxError(ErrorCode.TRANSPORT_CLOSED, 'transport', `${what} on ${where}: the answer exceeds ${maxBodyBytes} bytes`));
          return;
        }
        chunks.push(chunk);
      });
      response.on('error', (error) => settle(new KubemuxError(ErrorCode.TRANSPORT_CLOSED, 'transport', `${what} on ${where}: the answer was cut short`, { cause: error })));
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
    const timer = setTimeout(() => settle(new KubemuxError(ErrorCode.TIMEOUT, 'transport', `${what} on ${where}: no complete answer within ${timeoutMs} ms`)), timeoutMs);
    timer.unref();
    signal?.addEventListener('abort', aborted, { once: true });
    request.end();
  });
}
