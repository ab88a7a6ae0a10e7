/**
 * The {@link PortForwardConnection} over a SPDY session: plain SPDY (`dialSpdy`) and SPDY
 * tunnelled in WebSocket (`dialWebSocketTunnel`) alike, since the tunnel carries the very same
 * bytes.
 *
 * Each pair puts kubectl's frames on the wire, in kubectl's order (spec/portforward.md §4.1,
 * steps 1-4), so that servers see nothing new:
 *
 *   SYN_STREAM {streamtype: error, port: P, requestid: N}
 *   DATA FIN on the error stream                           (the client never writes on it)
 *   SYN_STREAM {streamtype: data, port: P, requestid: N}
 *
 * with `requestid` a decimal counter per connection from 0. Unlike kubectl, which waits for the
 * error stream's SYN_REPLY before it sends the rest, all three frames leave at once and the two
 * SYN_REPLYs are awaited together: one round trip to the server instead of two. Go's spdystream
 * handles a stream's frames in order on one worker and sends the SYN_REPLY from the new-stream
 * handler before it reads the stream's next frame, so the FIN that follows the SYN_STREAM is never
 * taken for data on a stream not yet replied to; the kubelet pairs the streams by requestid
 * whatever their timing. The pair opens only once both replies are in, and fails as before: if
 * either stream is refused or reset, or the deadline passes, both are reset and the open rejects
 * with that stream's error. Step 6 differs on purpose (§10): error text is handed to the pair
 * ({@link PortStreams.errors}) and the session goes on.
 */
import { EventEmitter } from 'eventemitter3';
import type { KubemuxError } from '../../errors.js';
import type { PingOptions, SpdySession, SpdyStream } from '../../session/index.js';
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
    // An id is used once, whatever becomes of its pair: the server pairs streams by it.
    const requestId = String(this.#nextRequestId++);
    const headers = { streamtype: 'error', port: String(port), requestid: requestId };
    // An abort resets whichever stream is still opening (RST_STREAM CANCEL, as at the deadline).
    const open = { timeoutMs, ...(options.signal === undefined ? {} : { signal: options.signal }) };

    // Both opens start in this synchronous step, so that the three frames leave together and in
    // kubectl's order; `sent` hands each stream over as its SYN_STREAM goes out.
    let errorStream: SpdyStream | undefined;
    let data: SpdyStream | undefined;
    const errorOpen = this.session.openStream(headers, {
      ...open,
      sent: (stream) => {
        errorStream = stream;
        // kubectl's step 2, a half-close at once: an empty DATA with FIN.
        stream.end();
      },
    });
    // No SYN_STREAM went out (session closed or draining, stream limit, aborted): no data stream either.
    const dataOpen = errorStream === undefined ? undefined : this.session.openStream({ ...headers, streamtype: 'data' }, { ...open, sent: (stream) => (data = stream) });
    try {
      // Rejects with the first failure; the other stream is reset below, whatever its state.
      await Promise.all([errorOpen, dataOpen]);
    } catch (error) {
      this.#counters.pairsFailed++;
      errorStream?.destroy();
      data?.destroy();
      throw error;
    }
    const opened = { error: errorStream!, data: data! };
    const errorText = new ErrorTextCollector();
    opened.error.on('data', (chunk: Buffer) => errorText.add(chunk));
    const ended = new Promise<void>((resolve) => {
      opened.error.once('end', resolve);
      opened.error.once('close', resolve);
    });
    this.#counters.pairsOpened++;
    this.#counters.pairsActive++;

    let graceTimer: NodeJS.Timeout | undefined;
    opened.data.once('close', () => {
      this.#counters.pairsActive--;
      if (opened.error.destroyed || opened.error.readableEnded) return;
      graceTimer = setTimeout(() => opened.error.destroy(), ERROR_STREAM_GRACE_MS);
      graceTimer.unref();
    });
    const errors = ended.then(() => {
      clearTimeout(graceTimer);
      const text = errorText.text();
      if (text !== '') this.#counters.pairErrors++;
      return text;
    });
    return { port, requestId, data: opened.data, errors };
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
