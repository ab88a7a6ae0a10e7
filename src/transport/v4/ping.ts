/** ping() of the v4 connection: a WebSocket ping on each open pair under one deadline. */
import { randomBytes } from 'node:crypto';
import { ErrorCode, KubemuxError, abortError } from '../../errors.js';
import type { WebSocketConnection } from '../websocket/index.js';
import type { V4DataStream } from './data-stream.js';

/**
 * Liveness per pair, for v4 has no connection to test as a whole: a WebSocket ping on each open
 * pair under one shared deadline. A pair whose WebSocket does not answer in time is dead; it fails
 * alone (`data` errors with ERR_PING_TIMEOUT, scope 'stream', so the forwarder resets its local
 * socket), and the others go on. Resolves with the slowest answer, ms; rejects with
 * ERR_PING_TIMEOUT when no pair answered, ERR_TRANSPORT_CLOSED when every WebSocket closed first,
 * ERR_ABORTED through `signal`.
 * @internal
 */
export function pingPairs(pairs: readonly V4DataStream[], timeoutMs: number, signal: AbortSignal | undefined): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    const token = randomBytes(8);
    const started = performance.now();
    const waiting = new Map<WebSocketConnection, V4DataStream>();
    let slowest: number | undefined;
    let timedOut = 0;
    const listeners = new Map<WebSocketConnection, { pong: (data: Buffer) => void; close: () => void }>();
    const stopListening = (connection: WebSocketConnection): void => {
      const l = listeners.get(connection);
      if (l === undefined) return;
      connection.off('pong', l.pong);
      connection.off('close', l.close);
      listeners.delete(connection);
    };
    const finish = (): void => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      for (const connection of [...listeners.keys()]) stopListening(connection);
      if (slowest !== undefined) resolve(slowest);
      else if (timedOut > 0) reject(new KubemuxError(ErrorCode.PING_TIMEOUT, 'session', `no v4 WebSocket answered a ping within ${timeoutMs} ms`));
      else reject(new KubemuxError(ErrorCode.TRANSPORT_CLOSED, 'transport', 'every v4 WebSocket closed before answering the ping'));
    };
    const settledOne = (connection: WebSocketConnection): void => {
      stopListening(connection);
      waiting.delete(connection);
      if (waiting.size === 0) finish();
    };
    const onAbort = (): void => {
      clearTimeout(timer);
      for (const connection of [...listeners.keys()]) stopListening(connection);
      reject(abortError(signal!, 'session', 'the ping'));
    };
    const timer = setTimeout(() => {
      for (const [connection, data] of waiting) {
        timedOut++;
        stopListening(connection);
        data.destroy(new KubemuxError(ErrorCode.PING_TIMEOUT, 'stream', `the v4 WebSocket for port ${data.port} did not answer a ping within ${timeoutMs} ms`));
      }
      waiting.clear();
      finish();
    }, timeoutMs);
    timer.unref();
    signal?.addEventListener('abort', onAbort, { once: true });
    for (const data of pairs) {
      const connection = data.connection;
      waiting.set(connection, data);
      const pong = (payload: Buffer): void => {
        if (!payload.equals(token)) return;
        const rtt = performance.now() - started;
        slowest = Math.max(slowest ?? 0, rtt);
        settledOne(connection);
      };
      const close = (): void => settledOne(connection);
      listeners.set(connection, { pong, close });
      connection.on('pong', pong);
      connection.on('close', close);
      connection.ping(token);
    }
  });
}
