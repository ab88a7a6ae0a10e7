/**
 * The {@link PortForwardConnection} over the v4 channel protocol (`v4.channel.k8s.io`,
 * spec/websocket-channels.md §1), the WebSocket port-forward the kubelet has always had and
 * `@kubernetes/client-node` uses.
 *
 * v4 has no long-lived connection to multiplex on: one WebSocket carries the pod connections of
 * the ports in its URL, dialed by the runtime at the upgrade. So each pair is its own WebSocket,
 * `GET ...portforward?ports=P`, and this "connection" is a factory for them that remembers the
 * target, counts them and can close them all.
 *
 * Per WebSocket (one port, so channels 0 and 1):
 * - every message is a channel byte and a payload; the server starts each channel with the port
 *   as 2 bytes little-endian, which is stripped and checked against the port asked for
 *   (PortPrefixStripper; a wrong one is ERR_PROTOCOL and closes the WebSocket with 1002);
 * - the pair is open once both prefixes have arrived: the runtime sends them as soon as it has
 *   the WebSocket, so one that takes the upgrade and sends nothing is stuck, and the open fails at
 *   its deadline (ERR_STREAM_OPEN_TIMEOUT) rather than hand out a pair that will never move;
 * - channel 0 is the data, both ways: a Duplex with backpressure (an unread stream pauses the
 *   WebSocket, a slow socket holds back the writer); channel 1 is error text from the server;
 * - empty messages are ignored (the Kubernetes server ignores them too); a text message, an
 *   unknown channel or a bad prefix is ERR_PROTOCOL.
 *
 * What kubemux does where v4 cannot follow SPDY (spec/websocket-channels.md §1.6):
 * - No half-close exists. A local end() sends nothing: the WebSocket stays open so that the pod's
 *   reply still arrives, and closes when the server closes it or when `data` is destroyed. A
 *   protocol that waits for EOF before answering waits until the local side closes completely.
 * - No reset exists. destroy() closes the WebSocket (1000; 1011 with an error), which ends the
 *   pod connection. The server closes the WebSocket with 1000 when the pod connection has ended;
 *   when it wrote error text first, `data` fails with ERR_STREAM_RESET carrying the text, as over
 *   SPDY, where the server resets the data stream after error text.
 * - ping() is a WebSocket ping on each open pair under one deadline: liveness per pair. A pair
 *   that does not answer fails alone with ERR_PING_TIMEOUT (see pingPairs).
 */
import { EventEmitter } from 'eventemitter3';
import { V4_CHANNEL_SUBPROTOCOL } from '../../channel/index.js';
import { ErrorCode, KubemuxError, abortError } from '../../errors.js';
import type { PingOptions } from '../../session/index.js';
import { signalError, usage } from '../../util/validate.js';
import { requestUrl, targetError, type UpgradeTarget } from '../api/request-target.js';
import {
  openArgumentsError,
  pingArgumentsError,
  type OpenPortStreamsOptions,
  type PortForwardConnection,
  type PortForwardConnectionEvents,
  type PortForwardConnectionStats,
  type PortStreams,
} from '../port-forward-connection.js';
import { dialWebSocket } from '../websocket/dial.js';
import type { WebSocketConnection } from '../websocket/index.js';
import { V4DataStream } from './data-stream.js';
import { resolveV4Options, type ResolvedV4Options, type WebSocketV4Options } from './options.js';
import { pingPairs } from './ping.js';
import { awaitPortPrefixes } from './port-prefixes.js';

/** How long the port prefix may take after the 101 when the caller set no `timeoutMs`: the upgrade's default deadline, ms. */
const DEFAULT_UPGRADE_TIMEOUT_MS = 30_000;

/** Adds `ports=P` to a path that may already carry a query. */
function withPort(path: string, port: number): string {
  return `${path}${path.includes('?') ? '&' : '?'}ports=${port}`;
}

type ConnectionState = 'open' | 'draining' | 'closed';

/** A {@link PortForwardConnection} whose pairs are v4 WebSockets, one per pair (see the file comment). */
export class WebSocketV4Connection extends EventEmitter<PortForwardConnectionEvents> implements PortForwardConnection {
  /** Always `'websocket-v4'`. */
  readonly protocol = 'websocket-v4' as const;
  /** Where each pair's WebSocket goes (`?ports=P` is added to its path). */
  readonly target: UpgradeTarget;
  readonly #options: ResolvedV4Options;
  #state: ConnectionState = 'open';
  #nextRequestId = 0;
  /** Pairs whose `data` or WebSocket has not closed yet. */
  readonly #pairs = new Set<V4DataStream>();
  readonly #pendingOpens = new Set<AbortController>();
  readonly #counters = { pairsOpened: 0, pairsActive: 0, pairsFailed: 0, pairErrors: 0, dataBytesSent: 0, dataBytesReceived: 0 };

  /** Nothing is sent until the first {@link openPortStreams}. Throws ERR_INVALID_ARGUMENT (usage) for a bad option or server URL. */
  constructor(target: UpgradeTarget, options: WebSocketV4Options = {}) {
    super();
    const scheme = (() => {
      try {
        return requestUrl(target.server, target.path).protocol;
      } catch {
        return usage('the server URL is not a valid URL');
      }
    })();
    if (scheme !== 'http:' && scheme !== 'https:') usage(`server URL must be http: or https:, got ${scheme}`);
    const badTarget = targetError(target);
    if (badTarget !== undefined) throw badTarget;
    this.target = target;
    this.#options = resolveV4Options(options);
  }

  /** See {@link PortForwardConnection.acceptingStreams}. */
  get acceptingStreams(): boolean {
    return this.#state === 'open';
  }

  /** See {@link PortForwardConnection.canPing}. */
  get canPing(): boolean {
    return this.#state !== 'closed' && this.#openWebSockets().length > 0;
  }

  /** See {@link PortForwardConnection.closed}. */
  get closed(): boolean {
    return this.#state === 'closed';
  }

  /** See {@link PortForwardConnection.stats}. */
  get stats(): PortForwardConnectionStats {
    return { protocol: this.protocol, ...this.#counters };
  }

  /**
   * See {@link PortForwardConnection.openPortStreams}. Resolves once the WebSocket is upgraded and
   * the runtime's port prefix has arrived on both of its channels (spec/websocket-channels.md
   * §1.4); a runtime that takes the upgrade but sends no prefix in time fails the pair with
   * ERR_STREAM_OPEN_TIMEOUT, and its WebSocket is closed.
   */
  async openPortStreams(port: number, options: OpenPortStreamsOptions = {}): Promise<PortStreams> {
    const bad = openArgumentsError(port, options);
    if (bad !== undefined) throw bad;
    const what = `opening the v4 pair for port ${port}`;
    const signal = options.signal;
    if (signal?.aborted === true) throw abortError(signal, 'stream', what);
    if (this.#state !== 'open') {
      throw this.#state === 'closed'
        ? new KubemuxError(ErrorCode.SESSION_CLOSED, 'session', 'the v4 port-forward connection is closed')
        : new KubemuxError(ErrorCode.SESSION_DRAINING, 'session', 'the v4 port-forward connection is closing and opens no new pairs');
    }
    const requestId = String(this.#nextRequestId++);
    // Aborted by destroy() (with its SESSION_CLOSED) or by the caller's signal (with ERR_ABORTED).
    const abort = new AbortController();
    const onCallerAbort = (): void => abort.abort(abortError(signal!, 'stream', what));
    signal?.addEventListener('abort', onCallerAbort, { once: true });
    this.#pendingOpens.add(abort);
    const timeoutMs = options.timeoutMs;
    const startedAt = performance.now();
    let data: V4DataStream;
    try {
      const { connection } = await dialWebSocket({ ...this.target, path: withPort(this.target.path, port) }, [V4_CHANNEL_SUBPROTOCOL], {
        what: `the v4 WebSocket upgrade for port ${port}`,
        signal: abort.signal,
        ...(this.#options.connection === undefined ? {} : { connection: this.#options.connection }),
        ...(timeoutMs === undefined
          ? {}
          : {
              deadline: {
                ms: timeoutMs,
                error: () => new KubemuxError(ErrorCode.STREAM_OPEN_TIMEOUT, 'stream', `the v4 WebSocket for port ${port} was not open within ${timeoutMs} ms`),
              },
            }),
      });
      // From here on the WebSocket is ours: every failure below closes it.
      data = new V4DataStream(connection, port, this.#options, this.#counters);
      const prefixMs =
        timeoutMs === undefined ? (this.target.upgradeTimeoutMs ?? DEFAULT_UPGRADE_TIMEOUT_MS) : Math.max(1, Math.ceil(timeoutMs - (performance.now() - startedAt)));
      await awaitPortPrefixes(data, prefixMs, timeoutMs ?? prefixMs, abort.signal);
    } catch (error) {
      this.#pendingOpens.delete(abort);
      this.#counters.pairsFailed++;
      // A close() waiting for this attempt can finish now.
      this.#closeIfDrained();
      throw error;
    } finally {
      signal?.removeEventListener('abort', onCallerAbort);
    }
    this.#pendingOpens.delete(abort);
    const connection = data.connection;
    if (abort.signal.aborted) {
      // destroy() (or the caller) came between the prefixes and this continuation.
      data.destroy();
      connection.destroy();
      this.#counters.pairsFailed++;
      throw abortError(abort.signal, 'stream', what);
    }
    this.#counters.pairsOpened++;
    this.#counters.pairsActive++;
    this.#pairs.add(data);
    let dataClosed = false;
    let webSocketClosed = connection.state === 'closed';
    const settled = (): void => {
      if (!dataClosed || !webSocketClosed) return;
      this.#pairs.delete(data);
      this.#closeIfDrained();
    };
    const onDataClosed = (): void => {
      dataClosed = true;
      this.#counters.pairsActive--;
      settled();
    };
    // The pair may already have ended (the runtime wrote its error text and closed right after
    // the prefix, in the same read): its 'close' events then came before these listeners.
    if (data.closed) onDataClosed();
    else data.once('close', onDataClosed);
    if (webSocketClosed) settled();
    else
      connection.once('close', () => {
        webSocketClosed = true;
        settled();
      });
    // A pair that opened while the connection was being closed follows the close.
    this.#closeIfDrained();
    return { port, requestId, data, errors: data.errors };
  }

  /** See {@link PortForwardConnection.ping}. */
  ping(options: PingOptions = {}): Promise<number> {
    const bad = pingArgumentsError(options);
    if (bad !== undefined) return Promise.reject(bad);
    const { timeoutMs = this.#options.pingTimeoutMs, signal } = options;
    if (signal?.aborted === true) return Promise.reject(abortError(signal, 'session', 'the ping'));
    if (this.#state === 'closed') return Promise.reject(new KubemuxError(ErrorCode.SESSION_CLOSED, 'session', 'the v4 port-forward connection is closed'));
    const open = [...this.#pairs].filter((data) => data.connection.state === 'open');
    if (open.length === 0) {
      return Promise.reject(
        new KubemuxError(
          ErrorCode.INVALID_ARGUMENT,
          'usage',
          'no v4 WebSocket is open, so there is nothing to ping (v4 has no long-lived connection; check canPing first)',
        ),
      );
    }
    return pingPairs(open, timeoutMs, signal);
  }

  /** See {@link PortForwardConnection.close}. */
  close(): Promise<void> {
    if (this.#state === 'closed') return Promise.resolve();
    const closed = new Promise<void>((resolve) => this.once('close', () => resolve()));
    if (this.#state === 'open') {
      this.#state = 'draining';
      this.emit('draining', { reason: 'closing' });
    }
    this.#closeIfDrained();
    return closed;
  }

  /** See {@link PortForwardConnection.destroy}. */
  destroy(error?: KubemuxError): void {
    if (this.#state === 'closed') return;
    this.#state = 'closed';
    const failure =
      error === undefined
        ? new KubemuxError(ErrorCode.SESSION_CLOSED, 'session', 'the v4 port-forward connection was closed')
        : new KubemuxError(ErrorCode.SESSION_CLOSED, 'session', `the v4 port-forward connection was closed: ${error.message}`, { cause: error });
    for (const abort of this.#pendingOpens) abort.abort(failure);
    this.#pendingOpens.clear();
    for (const data of this.#pairs) {
      data.destroy(failure);
      data.connection.destroy();
    }
    this.#pairs.clear();
    this.emit('close', error);
  }

  #openWebSockets(): WebSocketConnection[] {
    return [...this.#pairs].map((data) => data.connection).filter((connection) => connection.state === 'open');
  }

  #closeIfDrained(): void {
    if (this.#state !== 'draining' || this.#pairs.size > 0 || this.#pendingOpens.size > 0) return;
    this.#state = 'closed';
    this.emit('close', undefined);
  }
}

/** Options of {@link dialWebSocketV4}: the connection's, and the dial's abort signal. */
export interface WebSocketV4DialOptions extends WebSocketV4Options {
  /**
   * An aborted signal makes the dial reject with ERR_ABORTED. (The dial sends nothing: each pair
   * is its own upgrade, aborted through {@link OpenPortStreamsOptions.signal}.)
   */
  readonly signal?: AbortSignal;
}

/**
 * A v4 port-forward connection to `target` (the pod's portforward path, without `?ports=`).
 * Nothing is sent until the first pair: see {@link WebSocketV4Connection}. Async for symmetry with
 * the other dialers; fails only with ERR_INVALID_ARGUMENT (usage) and ERR_ABORTED.
 */
export async function dialWebSocketV4(target: UpgradeTarget, options: WebSocketV4DialOptions = {}): Promise<WebSocketV4Connection> {
  const { signal, ...v4Options } = options;
  const bad = signalError(signal);
  if (bad !== undefined) throw bad;
  if (signal?.aborted === true) throw abortError(signal, 'transport', 'the v4 dial');
  return new WebSocketV4Connection(target, v4Options);
}
