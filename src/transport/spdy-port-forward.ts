/**
 * The {@link PortForwardConnection} over a SPDY session: plain SPDY (`dialSpdy`) and SPDY
 * tunnelled in WebSocket (`dialWebSocketTunnel`) alike, since the tunnel carries the very same
 * bytes.
 *
 * Each pair follows kubectl's per-connection choreography (spec/portforward.md §4.1, steps 1-4),
 * so that servers see nothing new:
 *
 *   SYN_STREAM {streamtype: error, port: P, requestid: N}   → wait for its SYN_REPLY
 *   DATA FIN on the error stream                           (the client never writes on it)
 *   SYN_STREAM {streamtype: data, port: P, requestid: N}    → wait for its SYN_REPLY
 *
 * with `requestid` a decimal counter per connection from 0. Step 6 differs on purpose (§10):
 * error text is handed to the pair ({@link PortStreams.errors}) and the session goes on.
 */
import { EventEmitter } from 'eventemitter3';
import type { KubemuxError } from '../errors.js';
import type { PingOptions, SpdySession, SpdyStream } from '../session/index.js';
import {
  ErrorTextCollector,
  openArgumentsError,
  pingArgumentsError,
  type OpenPortStreamsOptions,
  type PortForwardConnection,
  type PortForwardConnectionEvents,
  type PortForwardConnectionStats,
  type PortStreams,
} from './port-forward-connection.js';

/**
 * How long the error stream may stay open after its data stream has closed, ms. Kubernetes ends
 * both together (data FIN then error FIN, or text then resets); one that never ends would sit in
 * the session's stream table for good, so it is reset after this and its text so far reported.
 */
export const ERROR_STREAM_GRACE_MS = 10_000;

/** A {@link PortForwardConnection} whose pairs are SPDY stream pairs on one {@link SpdySession}. */
export class SpdyPortForwardConnection extends EventEmitter<PortForwardConnectionEvents> implements PortForwardConnection {
  /** `'spdy'`, or `'websocket-tunnel'` when the session runs inside a WebSocket. */
  readonly protocol: 'spdy' | 'websocket-tunnel';
  /** The session the pairs live on (client role). Owned by this connection. */
  readonly session: SpdySession;

  #nextRequestId = 0;
  #closeEmitted = false;
  readonly #counters = { pairsOpened: 0, pairsActive: 0, pairsFailed: 0, pairErrors: 0 };

  /** Takes over `session` (client role, freshly dialed). */
  constructor(session: SpdySession, protocol: 'spdy' | 'websocket-tunnel') {
    super();
    this.session = session;
    this.protocol = protocol;
    session.on('draining', (info) => this.emit('draining', info));
    session.on('close', (error) => this.#emitClose(error));
    if (session.closed) process.nextTick(() => this.#emitClose(session.closeError));
  }

  /** See {@link PortForwardConnection.acceptingStreams}. */
  get acceptingStreams(): boolean {
    return this.session.acceptingStreams;
  }

  /** See {@link PortForwardConnection.canPing}. */
  get canPing(): boolean {
    return !this.session.closed;
  }

  /** See {@link PortForwardConnection.closed}. */
  get closed(): boolean {
    return this.#closeEmitted;
  }

  /** See {@link PortForwardConnection.stats}. */
  get stats(): PortForwardConnectionStats {
    const session = this.session.stats;
    return {
      protocol: this.protocol,
      ...this.#counters,
      dataBytesSent: session.dataBytesSent,
      dataBytesReceived: session.dataBytesReceived,
      session,
    };
  }

  /** See {@link PortForwardConnection.openPortStreams}. */
  async openPortStreams(port: number, options: OpenPortStreamsOptions = {}): Promise<PortStreams> {
    const bad = openArgumentsError(port, options);
    if (bad !== undefined) throw bad;
    const timeoutMs = options.timeoutMs ?? this.session.options.streamOpenTimeoutMs;
    const deadline = Date.now() + timeoutMs;
    // An id is used once, whatever becomes of its pair: the server pairs streams by it.
    const requestId = String(this.#nextRequestId++);
    const headers = { streamtype: 'error', port: String(port), requestid: requestId };
    // An abort resets whichever stream is opening (RST_STREAM CANCEL, as at the deadline); the
    // error stream, if it was open already, is destroyed below.
    const signal = options.signal === undefined ? {} : { signal: options.signal };

    let errorStream: SpdyStream;
    try {
      errorStream = await this.session.openStream(headers, { timeoutMs, ...signal });
    } catch (error) {
      this.#counters.pairsFailed++;
      throw error;
    }
    const errorText = new ErrorTextCollector();
    errorStream.on('data', (chunk: Buffer) => errorText.add(chunk));
    // Half-close at once (kubectl's step 2): an empty DATA with FIN, before the data stream's SYN.
    errorStream.end();
    const ended = new Promise<void>((resolve) => {
      errorStream.once('end', resolve);
      errorStream.once('close', resolve);
    });

    let data: SpdyStream;
    try {
      data = await this.session.openStream({ ...headers, streamtype: 'data' }, { timeoutMs: Math.max(1, deadline - Date.now()), ...signal });
    } catch (error) {
      this.#counters.pairsFailed++;
      errorStream.destroy();
      throw error;
    }
    this.#counters.pairsOpened++;
    this.#counters.pairsActive++;

    let graceTimer: NodeJS.Timeout | undefined;
    data.once('close', () => {
      this.#counters.pairsActive--;
      if (errorStream.destroyed || errorStream.readableEnded) return;
      graceTimer = setTimeout(() => errorStream.destroy(), ERROR_STREAM_GRACE_MS);
      graceTimer.unref();
    });
    const errors = ended.then(() => {
      clearTimeout(graceTimer);
      const text = errorText.text();
      if (text !== '') this.#counters.pairErrors++;
      return text;
    });
    return { port, requestId, data, errors };
  }

  /** See {@link PortForwardConnection.ping}. */
  ping(options: PingOptions = {}): Promise<number> {
    const bad = pingArgumentsError(options);
    if (bad !== undefined) return Promise.reject(bad);
    return this.session.ping(options);
  }

  /** See {@link PortForwardConnection.close}. */
  close(): Promise<void> {
    return this.session.close();
  }

  /** See {@link PortForwardConnection.destroy}. */
  destroy(error?: KubemuxError): void {
    this.session.destroy(error);
  }

  #emitClose(error: KubemuxError | undefined): void {
    if (this.#closeEmitted) return;
    this.#closeEmitted = true;
    this.emit('close', error);
  }
}
