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
import { randomBytes } from 'node:crypto';
import { Duplex } from 'node:stream';
import { ErrorCode, KubemuxError, abortError } from '../../errors.js';
import type { PingOptions } from '../../session/index.js';
import { PortPrefixStripper, V4_CHANNEL_SUBPROTOCOL, dataChannel, errorChannel } from '../../channel/index.js';
import { integerError, signalError } from '../../util/validate.js';
import {
  ErrorTextCollector,
  openArgumentsError,
  pingArgumentsError,
  type OpenPortStreamsOptions,
  type PortForwardConnection,
  type PortForwardConnectionEvents,
  type PortForwardConnectionStats,
  type PortStreams,
} from '../port-forward-connection.js';
import { requestUrl, targetError, type UpgradeTarget } from '../api/request-target.js';
import type { UpgradeConnectionOptions, WebSocketConnection } from '../websocket/index.js';
import { dialWebSocket } from '../websocket/dial.js';

/** Options of {@link WebSocketV4Connection}. */
export interface WebSocketV4Options {
  /** Options of each WebSocketConnection (payload limit, close deadline, masking). */
  readonly connection?: UpgradeConnectionOptions;
  /** Largest data payload sent in one message, bytes; longer writes are split. Default 64 KiB. */
  readonly maxMessageBytes?: number;
  /** Received data bytes a pair buffers before its WebSocket is paused. Default 256 KiB. */
  readonly readableHighWaterMark?: number;
  /** Bytes a pair's write() buffers before it returns false. Default 64 KiB. */
  readonly writableHighWaterMark?: number;
  /** Deadline of ping() when the caller gives none, ms. Default 30,000. */
  readonly pingTimeoutMs?: number;
}

/** Defaults of {@link WebSocketV4Options}. */
export const WEBSOCKET_V4_DEFAULTS = Object.freeze({
  maxMessageBytes: 64 * 1024,
  readableHighWaterMark: 256 * 1024,
  writableHighWaterMark: 64 * 1024,
  pingTimeoutMs: 30_000,
});

interface ResolvedV4Options {
  readonly connection: UpgradeConnectionOptions | undefined;
  readonly maxMessageBytes: number;
  readonly readableHighWaterMark: number;
  readonly writableHighWaterMark: number;
  readonly pingTimeoutMs: number;
}

/** The one port of a pair's WebSocket is at index 0: data on channel 0, errors on channel 1. */
const DATA_CHANNEL = dataChannel(0);
const ERROR_CHANNEL = errorChannel(0);
const DATA_CHANNEL_BYTE = Buffer.from([DATA_CHANNEL]);

/** How long the port prefix may take after the 101 when the caller set no `timeoutMs`: the upgrade's default deadline, ms. */
const DEFAULT_UPGRADE_TIMEOUT_MS = 30_000;

/** RFC 6455 section 7.4.1 status codes. */
const CLOSE_NORMAL = 1000;
const CLOSE_PROTOCOL_ERROR = 1002;
const CLOSE_UNSUPPORTED_DATA = 1003;
/** "No status received": a close frame without a code, which is not an error either. */
const CLOSE_NO_STATUS = 1005;
const CLOSE_INTERNAL_ERROR = 1011;

function usage(message: string): never {
  throw new KubemuxError(ErrorCode.INVALID_ARGUMENT, 'usage', message);
}

function positiveInteger(name: string, value: number, max = 2 ** 30): number {
  const bad = integerError(name, value, 1, max);
  if (bad !== undefined) throw bad;
  return value;
}

/** Close reasons must be valid UTF-8 of at most 123 bytes: ASCII and a hard cut guarantee both. */
function closeReasonFor(error: Error): string {
  return error.message.replace(/[^\x20-\x7e]/g, '?').slice(0, 123);
}

type WriteCallback = (error?: Error | null) => void;

function noop(): void {}

interface PairCounters {
  dataBytesSent: number;
  dataBytesReceived: number;
  pairErrors: number;
}

/**
 * The data side of one v4 pair: a byte Duplex over channel 0 of its own WebSocket, with the error
 * text of channel 1 in {@link errors}. See the file comment for its ends.
 * @internal Exposed to callers only as {@link PortStreams.data}.
 */
class V4DataStream extends Duplex {
  readonly connection: WebSocketConnection;
  readonly port: number;
  /** See {@link PortStreams.errors}; settles when the WebSocket closes. */
  readonly errors: Promise<string>;
  readonly #resolveErrors: (text: string) => void;
  readonly #errorText = new ErrorTextCollector();
  readonly #stripper: PortPrefixStripper;
  readonly #maxMessageBytes: number;
  readonly #counters: PairCounters;
  #pendingWrite: WriteCallback | undefined;
  #readableDone = false;
  #failureCloseCode = CLOSE_INTERNAL_ERROR;
  #prefixed = false;

  readonly #onMessage = (message: Buffer, isBinary: boolean): void => {
    if (this.destroyed || this.#readableDone) return;
    if (!isBinary) {
      this.#fail(new KubemuxError(ErrorCode.PROTOCOL, 'transport', 'a text message arrived on a v4.channel.k8s.io WebSocket, whose messages are binary'), CLOSE_UNSUPPORTED_DATA);
      return;
    }
    if (message.length === 0) return;
    let channel: number;
    let payload: Buffer;
    try {
      ({ channel, payload } = this.#stripper.decode(message));
    } catch (error) {
      this.#fail(error as KubemuxError, CLOSE_PROTOCOL_ERROR);
      return;
    }
    if (!this.#prefixed && this.#stripper.prefixReceived(DATA_CHANNEL) && this.#stripper.prefixReceived(ERROR_CHANNEL)) {
      this.#prefixed = true;
      this.emit('prefixed');
    }
    if (payload.length === 0) return;
    if (channel === DATA_CHANNEL) {
      this.#counters.dataBytesReceived += payload.length;
      if (!this.push(payload)) this.connection.pause();
    } else {
      this.#errorText.add(payload);
    }
  };

  readonly #onDrain = (): void => {
    const callback = this.#pendingWrite;
    this.#pendingWrite = undefined;
    callback?.();
  };

  readonly #onClose = (code: number, reason: string, error?: KubemuxError): void => {
    this.connection.off('message', this.#onMessage);
    this.connection.off('drain', this.#onDrain);
    const text = this.#errorText.text();
    if (text !== '') this.#counters.pairErrors++;
    this.#resolveErrors(text);
    const pending = this.#pendingWrite;
    this.#pendingWrite = undefined;
    if (this.destroyed) return;
    if ((code === CLOSE_NORMAL || code === CLOSE_NO_STATUS) && error === undefined) {
      if (text !== '') {
        this.destroy(new KubemuxError(ErrorCode.STREAM_RESET, 'stream', `the server ended the connection to port ${this.port} with an error: ${text}`));
        return;
      }
      // The socket flushed what we had queued before it closed cleanly.
      pending?.();
      this.#readableDone = true;
      this.push(null);
      return;
    }
    this.destroy(
      error ??
        new KubemuxError(ErrorCode.TRANSPORT_CLOSED, 'transport', `the v4 WebSocket for port ${this.port} closed with status ${code}${reason === '' ? '' : ` (${reason})`}`, {
          closeCode: code,
        }),
    );
  };

  constructor(connection: WebSocketConnection, port: number, options: ResolvedV4Options, counters: PairCounters) {
    super({
      // No half-close in v4: once the server has closed, nothing can be written either.
      allowHalfOpen: false,
      readableHighWaterMark: options.readableHighWaterMark,
      writableHighWaterMark: options.writableHighWaterMark,
    });
    this.connection = connection;
    this.port = port;
    this.#stripper = new PortPrefixStripper([port]);
    this.#maxMessageBytes = options.maxMessageBytes;
    this.#counters = counters;
    let resolveErrors!: (text: string) => void;
    this.errors = new Promise<string>((resolve) => {
      resolveErrors = resolve;
    });
    this.#resolveErrors = resolveErrors;
    connection.on('message', this.#onMessage);
    connection.on('drain', this.#onDrain);
    connection.on('close', this.#onClose);
    // Failures reach whoever listens; without a listener, a pair nobody watches (its connection
    // destroyed, say) would crash the process with an unhandled 'error'. SpdySession does the same.
    this.on('error', noop);
  }

  /**
   * True once the runtime's port prefix has arrived on both channels ('prefixed' is emitted then):
   * the runtime sends them as soon as it has taken the WebSocket, so a pair without them is a
   * runtime that is stuck.
   */
  get prefixed(): boolean {
    return this.#prefixed;
  }

  /** Which channels still owe their port prefix, for messages. */
  missingPrefixes(): string {
    const data = !this.#stripper.prefixReceived(DATA_CHANNEL);
    const error = !this.#stripper.prefixReceived(ERROR_CHANNEL);
    return data && error ? 'the data and error channels' : data ? 'the data channel' : 'the error channel';
  }

  override _read(): void {
    this.connection.resume();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: WriteCallback): void {
    const connection = this.connection;
    if (connection.state !== 'open') {
      callback(new KubemuxError(ErrorCode.TRANSPORT_CLOSED, 'transport', `cannot write to port ${this.port}: its WebSocket is ${connection.state}`));
      return;
    }
    let writable = true;
    connection.cork();
    for (let offset = 0; offset < chunk.length; offset += this.#maxMessageBytes) {
      const piece = chunk.subarray(offset, offset + this.#maxMessageBytes);
      // Channel byte and payload leave as one message (the server reads one frame as one message).
      writable = connection.send([DATA_CHANNEL_BYTE, piece], { binary: true });
      this.#counters.dataBytesSent += piece.length;
    }
    connection.uncork();
    // A failed socket write surfaces as the connection's 'close', which destroys this stream.
    if (writable) callback();
    else this.#pendingWrite = callback;
  }

  override _final(callback: WriteCallback): void {
    // v4 cannot say "no more data" without closing the whole WebSocket, which would also cut off
    // the pod's reply: nothing is sent, and the WebSocket stays open for the readable side.
    callback();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.#pendingWrite = undefined;
    if (this.connection.state === 'open') {
      // Closing the WebSocket is how a v4 client ends (or aborts) the pod connection.
      if (error === null) this.connection.close(CLOSE_NORMAL);
      else this.connection.close(this.#failureCloseCode, closeReasonFor(error));
    }
    callback(error);
  }

  #fail(error: KubemuxError, closeCode: number): void {
    this.#failureCloseCode = closeCode;
    this.destroy(error);
  }
}

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
    const d = WEBSOCKET_V4_DEFAULTS;
    this.target = target;
    this.#options = {
      connection: options.connection,
      maxMessageBytes: positiveInteger('maxMessageBytes', options.maxMessageBytes ?? d.maxMessageBytes),
      readableHighWaterMark: positiveInteger('readableHighWaterMark', options.readableHighWaterMark ?? d.readableHighWaterMark),
      writableHighWaterMark: positiveInteger('writableHighWaterMark', options.writableHighWaterMark ?? d.writableHighWaterMark),
      pingTimeoutMs: positiveInteger('pingTimeoutMs', options.pingTimeoutMs ?? d.pingTimeoutMs, 2 ** 31 - 1),
    };
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

/**
 * Waits for the runtime's port prefix on both channels of a fresh pair (see
 * {@link V4DataStream.prefixed}). On failure the pair is destroyed: a close frame goes out, then
 * the socket is destroyed at once, since a runtime that is stuck cannot be counted on to answer
 * the closing handshake. Fails with ERR_STREAM_OPEN_TIMEOUT after `ms` (`shownMs` is the deadline
 * as the caller set it, for the message), with the abort's reason (a KubemuxError), or with the
 * pair's own error when the WebSocket fails or closes first.
 */
function awaitPortPrefixes(data: V4DataStream, ms: number, shownMs: number, signal: AbortSignal): Promise<void> {
  if (data.prefixed) return Promise.resolve();
  return new Promise<void>((resolve, reject) => {
    const finish = (error?: KubemuxError): void => {
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
      data.off('prefixed', onPrefixed);
      data.off('close', onClose);
      if (error === undefined) resolve();
      else reject(error);
    };
    /** Gives up on a pair that is still open: close frame, then the socket at once. */
    const giveUp = (error: KubemuxError): void => {
      finish(error);
      data.destroy(error);
      data.connection.destroy();
    };
    const onPrefixed = (): void => finish();
    const onAbort = (): void => giveUp(abortError(signal, 'stream', `opening the v4 pair for port ${data.port}`));
    // The pair failed by itself (a wrong prefix: its closing handshake, bounded by the
    // connection's closeTimeoutMs, is under way) or the server closed it.
    const onClose = (): void => {
      const failure = data.errored;
      finish(
        failure instanceof KubemuxError
          ? failure
          : new KubemuxError(ErrorCode.TRANSPORT_CLOSED, 'transport', `the v4 WebSocket for port ${data.port} closed before the runtime sent its port prefix`),
      );
    };
    const timer = setTimeout(() => {
      giveUp(
        new KubemuxError(
          ErrorCode.STREAM_OPEN_TIMEOUT,
          'stream',
          `the v4 pair for port ${data.port} was not ready within ${shownMs} ms: the runtime sent no port prefix on ${data.missingPrefixes()}`,
        ),
      );
    }, ms);
    timer.unref();
    if (signal.aborted) return onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    data.on('prefixed', onPrefixed);
    data.on('close', onClose);
  });
}

/**
 * Liveness per pair, for v4 has no connection to test as a whole: a WebSocket ping on each open
 * pair under one shared deadline. A pair whose WebSocket does not answer in time is dead; it fails
 * alone (`data` errors with ERR_PING_TIMEOUT, scope 'stream', so the forwarder resets its local
 * socket), and the others go on. Resolves with the slowest answer, ms; rejects with
 * ERR_PING_TIMEOUT when no pair answered, ERR_TRANSPORT_CLOSED when every WebSocket closed first,
 * ERR_ABORTED through `signal`.
 */
function pingPairs(pairs: readonly V4DataStream[], timeoutMs: number, signal: AbortSignal | undefined): Promise<number> {
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
