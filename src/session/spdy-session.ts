/**
 * SpdySession: many SPDY/3.1 streams over one byte Duplex (a TCP or TLS socket, or the byte
 * stream inside a WebSocket tunnel), in the client role (kubectl's side) or the server role (the
 * kubelet/runtime side).
 *
 * The design follows from the peer we must live with, Go's spdystream (spec/spdy-3.1.md):
 * - Frames are written in one synchronous path: a stream id is allocated, the stream registered,
 *   its header block compressed and its SYN_STREAM written without yielding, so ids and the zlib
 *   context advance in wire order.
 * - Only frame shapes spdystream accepts are ever sent; one bad frame ends its whole connection.
 * - DATA for unknown, finished or reset streams is dropped and counted (spdystream keeps writing
 *   after a reset), never answered.
 * - Flow control is used only with a peer that shows it implements it (options.ts,
 *   FlowControlMode); spdystream never sends WINDOW_UPDATE, and waiting for one would stall.
 *   A stream that exists before we announce our windows is not held to them: the peer may have
 *   sent on it, unchecked, before it read them.
 * - Memory is bounded without the peer's help: past a stream's or the session's receive buffer
 *   the session stops reading the transport, and a stream that keeps it stopped for longer than
 *   receiveStallTimeoutMs is reset, so one unread stream cannot stall the others for ever.
 *   Replies to the peer's frames (PING echoes, SYN_REPLY, RST_STREAM) queued behind a transport
 *   that does not drain stop the reading too (maxQueuedReplyFrames), header blocks of open streams
 *   have a budget (maxSessionHeaderBytes), and no frame costs more than one walk over the streams.
 *   spec/memory-budget.md has the whole table.
 * - The application's listeners ('stream', a stream's 'data', ...) run while a frame is being
 *   handled, but an exception they throw is theirs: it is rethrown on the next tick, outside the
 *   frame loop, and never taken for a malformed frame from the peer.
 */
import { EventEmitter } from 'eventemitter3';
import type { Duplex } from 'node:stream';
import { ErrorCode, KubemuxError, abortError } from '../errors.js';
import {
  DEFAULT_INITIAL_WINDOW_BYTES,
  FLAG_FIN,
  FLAG_UNIDIRECTIONAL,
  FrameDecoder,
  FrameEncoder,
  GoAwayStatus,
  MAX_STREAM_ID,
  RstStatus,
  SettingsId,
  encodeDataFrameHeader,
  goAwayStatusName,
  headerBlockFrom,
  headerBlockMemory,
  rstStatusName,
} from '../spdy/index.js';
import type {
  DataFrame,
  Frame,
  GoAwayFrame,
  HeaderBlock,
  RstStreamFrame,
  SettingsFrame,
  SynReplyFrame,
  SynStreamFrame,
  WindowUpdateFrame,
} from '../spdy/index.js';
import { IdleTimer } from '../util/idle-timer.js';
import { resolveSessionOptions, type ResolvedSessionOptions, type SpdySessionOptions } from './options.js';
import { PingTracker } from './pinger.js';
import { SpdyStream, type StreamInitiator } from './spdy-stream.js';

/** Why a session stopped accepting new streams. */
export type DrainReason = 'goaway-received' | 'goaway-sent' | 'stream-ids-exhausted';

/** Why and how a session started draining ('draining' event). */
export interface DrainInfo {
  readonly reason: DrainReason;
  /** The GOAWAY status, for the GOAWAY reasons. */
  readonly goAwayStatus?: number;
}

/** Events of a {@link SpdySession}. */
export interface SpdySessionEvents {
  /** The peer opened a stream. Call `stream.accept()` or `stream.reject()`; with no listener, streams are refused. */
  stream: (stream: SpdyStream) => void;
  /** A stream entered the session's table (opened by either side). */
  streamOpened: (stream: SpdyStream, initiator: StreamInitiator) => void;
  /** A stream left the table: both directions ended (error undefined), or it was reset or failed. */
  streamClosed: (stream: SpdyStream, error: KubemuxError | undefined) => void;
  /** One of our pings was answered. */
  ping: (rttMs: number) => void;
  /** The session accepts no new streams; open ones may finish. A higher layer should replace it. */
  draining: (info: DrainInfo) => void;
  /** The session is closed; `error` is undefined for a clean, requested close. */
  close: (error: KubemuxError | undefined) => void;
}

/** Counters for observability. A snapshot; cheap to take. */
export interface SessionStats {
  readonly streamsOpenedLocal: number;
  readonly streamsOpenedRemote: number;
  readonly streamsActive: number;
  readonly framesSent: number;
  readonly framesReceived: number;
  readonly dataBytesSent: number;
  readonly dataBytesReceived: number;
  /** DATA frames (and their payload bytes) dropped because their stream was unknown, finished or reset. */
  readonly droppedDataFrames: number;
  readonly droppedDataBytes: number;
  readonly unknownFramesReceived: number;
  readonly pingsSent: number;
  readonly pingsEchoed: number;
  /** Bytes received but not yet read, over all streams. */
  readonly unreadBytes: number;
  /** True while the session has stopped reading its transport because readers are behind. */
  readonly receivePaused: boolean;
  /** True once the peer has shown it uses SPDY/3.1 flow control. */
  readonly peerFlowControl: boolean;
  /** Streams the peer opened that were refused (RST REFUSED_STREAM): draining, stream limit, header budget, no listener. */
  readonly streamsRefused: number;
  /** Replies to the peer queued since the transport last drained (see maxQueuedReplyFrames). */
  readonly queuedReplyFrames: number;
  /** Estimated heap held by the header blocks of the peer's open streams (see maxSessionHeaderBytes). */
  readonly headerBytes: number;
}

/** Options of {@link SpdySession.openStream}. */
export interface OpenStreamOptions {
  /** Deadline for the SYN_REPLY, ms. Default: the session's streamOpenTimeoutMs. */
  readonly timeoutMs?: number;
  /** Send FIN with the SYN_STREAM (we will send nothing on this stream). */
  readonly fin?: boolean;
  /**
   * Aborts the open: the stream is reset (RST_STREAM CANCEL), as at the deadline, and the call
   * rejects with ERR_ABORTED (`name` `'AbortError'`, the signal's reason as `cause`; a
   * KubemuxError reason as it is). An aborted signal sends nothing. No effect once the peer has
   * replied.
   */
  readonly signal?: AbortSignal;
  /**
   * Called synchronously once the SYN_STREAM has been handed to the transport, with the stream,
   * before the peer's reply: a caller that pipelines may end the stream (or write to it) at once,
   * its frames following the SYN_STREAM on the wire. The returned promise still settles on the
   * reply (or the failure, which destroys the stream).
   */
  readonly sent?: (stream: SpdyStream) => void;
}

/** Options of {@link SpdySession.ping}. */
export interface PingOptions {
  /** Deadline for the answer, ms. Default: the session's pingTimeoutMs. */
  readonly timeoutMs?: number;
  /**
   * Aborts the wait: the call rejects with ERR_ABORTED (as {@link OpenStreamOptions.signal}). The
   * PING already sent stays sent; a late answer is ignored.
   */
  readonly signal?: AbortSignal;
}

type SessionState = 'open' | 'draining' | 'closed';

interface PendingOpen {
  readonly resolve: (stream: SpdyStream) => void;
  readonly reject: (error: KubemuxError) => void;
  readonly timer: NodeJS.Timeout;
}

const NO_HEADERS: HeaderBlock = new Map();

// Not `implements StreamHost`: that interface and its members are internal (stripInternal), and
// the clause would name a type the published .d.ts does not contain. The session is checked
// against StreamHost where it hands itself to a new SpdyStream (#createStream).
/** Many SPDY/3.1 streams over one byte Duplex (see the file comment for the design). */
export class SpdySession extends EventEmitter<SpdySessionEvents> {
  readonly options: ResolvedSessionOptions;
  readonly #transport: Duplex;
  readonly #decoder: FrameDecoder;
  readonly #encoder = new FrameEncoder();
  readonly #pings: PingTracker;

  readonly #streams = new Map<number, SpdyStream>();
  readonly #pendingOpens = new Map<number, PendingOpen>();
  #nextStreamId: number;
  #lastPeerStreamId = 0;
  #activeLocal = 0;
  #activeRemote = 0;
  #peerMaxConcurrentStreams = Infinity;

  #state: SessionState = 'open';
  #drainReason: DrainReason | undefined;
  #closeError: KubemuxError | undefined;
  #peerGoAwayError: KubemuxError | undefined;
  #goAwaySent = false;

  // Transport backpressure.
  #needDrain = false;
  /** The transport is corked until the end of this tick (see #writeBytes). */
  #corked = false;
  #drainWaiters: Array<() => void> = [];

  // Replies queued behind a transport that does not drain (maxQueuedReplyFrames).
  /** True while the decoder is handing out the peer's frames: control frames sent now are replies. */
  #receiving = false;
  #queuedReplies = 0;
  #repliesBacklogged = false;
  #backlogTimer: NodeJS.Timeout | undefined;

  /** Estimated heap of the header blocks of the peer's open streams (maxSessionHeaderBytes). */
  #headerBytes = 0;
  /** The last-good stream id of the first GOAWAY received (later ones matter only if lower). */
  #peerLastGoodStreamId: number | undefined;
  readonly #idleTimer: IdleTimer | undefined;

  // Receive buffering (see the file comment).
  #unreadBytes = 0;
  readonly #overfullStreams = new Set<SpdyStream>();
  #receivePaused = false;
  #stallTimer: NodeJS.Timeout | undefined;

  // Flow control.
  #peerFlowControl = false;
  #advertised = false;
  #peerInitialWindow = DEFAULT_INITIAL_WINDOW_BYTES;
  #sessionSendWindow = DEFAULT_INITIAL_WINDOW_BYTES;
  #sessionOwedBytes = 0;
  // Writers waiting for window, by whose window they wait for: a WINDOW_UPDATE for one stream, or
  // for the session, then touches only the writers it can move (one frame, bounded work).
  readonly #blockedOnStream = new Set<SpdyStream>();
  readonly #blockedOnSession = new Set<SpdyStream>();

  readonly #stats = {
    streamsOpenedLocal: 0,
    streamsOpenedRemote: 0,
    framesSent: 0,
    framesReceived: 0,
    dataBytesSent: 0,
    dataBytesReceived: 0,
    droppedDataFrames: 0,
    droppedDataBytes: 0,
    unknownFramesReceived: 0,
    pingsSent: 0,
    pingsEchoed: 0,
    streamsRefused: 0,
  };

  /** Decoder callback: handles one frame; false stops the decoding (closed, or replies backlogged). */
  readonly #onFrame = (frame: Frame): boolean => {
    this.#idleTimer?.touch();
    try {
      this.#dispatch(frame);
    } catch (error) {
      // The application's listeners run inside dispatch (a stream's 'data', the 'stream' event):
      // their exception is theirs, not a malformed frame from the peer. Rethrown outside the
      // frame loop, it surfaces as the application's own uncaught exception, and the session
      // goes on with the next frame.
      process.nextTick(rethrow, error);
    }
    return this.#state !== 'closed' && !this.#repliesBacklogged;
  };

  readonly #onData = (chunk: Buffer): void => this.#receive(chunk);
  readonly #onEnd = (): void => this.#transportEnded();
  readonly #onError = (error: Error): void => this.#transportFailed(error);
  readonly #onClose = (): void => this.#transportEnded();
  readonly #onDrain = (): void => this.#drained();

  /**
   * Starts a session on `transport`, which must already carry SPDY bytes (the HTTP upgrade, if
   * any, is done). The session owns the transport from now on and destroys it when it closes.
   */
  constructor(transport: Duplex, options: SpdySessionOptions) {
    super();
    this.options = resolveSessionOptions(options);
    this.#transport = transport;
    this.#decoder = new FrameDecoder({
      maxFrameBytes: this.options.maxFrameBytes,
      maxHeaderBlockBytes: this.options.maxHeaderBlockBytes,
      maxHeaderValues: this.options.maxHeaderValues,
      // DATA is a byte stream here, so a payload split across transport reads is taken in pieces,
      // each a view of its read, rather than gathered into a copy (bench/session.bench.ts: with
      // 64 KiB frames that copy was about a quarter of the CPU time per byte received).
      splitDataPayloads: true,
    });
    this.#nextStreamId = this.options.firstStreamId;
    this.#pings = new PingTracker(this.options.role, (id) => {
      this.#stats.pingsSent++;
      this.#send({ type: 'PING', id, flags: 0 });
    });
    transport.on('data', this.#onData);
    transport.on('end', this.#onEnd);
    transport.on('error', this.#onError);
    transport.on('close', this.#onClose);
    transport.on('drain', this.#onDrain);
    const idleTimeoutMs = this.options.idleTimeoutMs;
    this.#idleTimer = idleTimeoutMs > 0 ? new IdleTimer(idleTimeoutMs, () => this.#idleExpired()) : undefined;
    if (this.options.flowControl === 'advertise') this.#advertiseWindows();
  }

  /** 'client' or 'server'. */
  get role(): 'client' | 'server' {
    return this.options.role;
  }

  /** False once the session is draining or closed: {@link openStream} would fail. */
  get acceptingStreams(): boolean {
    return this.#state === 'open';
  }

  /** True once the session has closed. */
  get closed(): boolean {
    return this.#state === 'closed';
  }

  /** Why the session closed (undefined while open, or after a clean close). */
  get closeError(): KubemuxError | undefined {
    return this.#closeError;
  }

  /** Streams currently in the session's table. */
  get activeStreams(): number {
    return this.#streams.size;
  }

  get stats(): SessionStats {
    return {
      ...this.#stats,
      streamsActive: this.#streams.size,
      unreadBytes: this.#unreadBytes,
      receivePaused: this.#receivePaused,
      peerFlowControl: this.#peerFlowControl,
      queuedReplyFrames: this.#queuedReplies,
      headerBytes: this.#headerBytes,
    };
  }

  // ---------------------------------------------------------------- public operations

  /**
   * Opens a stream: registers it, sends SYN_STREAM and resolves once the peer's SYN_REPLY
   * arrives. Fails with ERR_STREAM_RESET / ERR_STREAM_REFUSED if the peer resets it,
   * ERR_STREAM_OPEN_TIMEOUT after the deadline (the stream is then reset), ERR_ABORTED when
   * `signal` aborts first (likewise), ERR_SESSION_DRAINING, ERR_STREAM_IDS_EXHAUSTED,
   * ERR_STREAM_LIMIT or ERR_SESSION_CLOSED.
   */
  openStream(
    headers: HeaderBlock | Readonly<Record<string, string | readonly string[]>>,
    options: OpenStreamOptions = {},
  ): Promise<SpdyStream> {
    const block = headers instanceof Map ? headers : headerBlockFrom(headers);
    const timeoutMs = options.timeoutMs ?? this.options.streamOpenTimeoutMs;
    const signal = options.signal;
    if (signal?.aborted === true) return Promise.reject(abortError(signal, 'stream', 'opening a stream'));
    if (this.#state === 'closed') return Promise.reject(this.#closedError());
    if (this.#state === 'draining') {
      const code = this.#nextStreamId > MAX_STREAM_ID ? ErrorCode.STREAM_IDS_EXHAUSTED : ErrorCode.SESSION_DRAINING;
      return Promise.reject(new KubemuxError(code, 'session', 'the session is draining and accepts no new streams'));
    }
    const limit = Math.min(this.options.maxConcurrentStreams, this.#peerMaxConcurrentStreams);
    if (this.#activeLocal >= limit) {
      return Promise.reject(
        new KubemuxError(ErrorCode.STREAM_LIMIT, 'stream', `${this.#activeLocal} streams are open, the limit is ${limit}`),
      );
    }
    const id = this.#nextStreamId;
    this.#nextStreamId += 2;
    const stream = this.#createStream(id, 'local', block);
    return new Promise<SpdyStream>((resolve, reject) => {
      // Whoever settles the open (the reply, a reset, GOAWAY, the close) goes through these, so
      // the abort listener never outlives it.
      const onAbort = (): void => giveUp(abortError(signal!, 'stream', `opening stream ${id}`));
      const settled = (): void => signal?.removeEventListener('abort', onAbort);
      // The deadline and the abort: the stream is reset and the open fails with `error`.
      const giveUp = (error: KubemuxError): void => {
        this.#pendingOpens.delete(id);
        clearTimeout(timer);
        settled();
        this.#resetStream(stream, RstStatus.CANCEL);
        stream.destroy(error);
        reject(error);
      };
      const timer = setTimeout(() => {
        giveUp(new KubemuxError(ErrorCode.STREAM_OPEN_TIMEOUT, 'stream', `no SYN_REPLY for stream ${id} within ${timeoutMs} ms`, { streamId: id }));
      }, timeoutMs);
      timer.unref();
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#pendingOpens.set(id, {
        resolve: (opened) => {
          settled();
          resolve(opened);
        },
        reject: (error) => {
          settled();
          reject(error);
        },
        timer,
      });
      const flags = options.fin === true ? FLAG_FIN : 0;
      if (flags & FLAG_FIN) stream.localFin = true;
      // Registered above, sent here, in the same synchronous step: ids reach the wire in order.
      this.#send({ type: 'SYN_STREAM', streamId: id, associatedStreamId: 0, priority: 0, slot: 0, flags, headers: block });
      if (stream.localFin) stream.end();
      options.sent?.(stream);
      if (this.#nextStreamId > MAX_STREAM_ID) this.#startDraining({ reason: 'stream-ids-exhausted' });
    });
  }

  /**
   * Sends a PING and resolves to the round-trip time in ms; ERR_PING_TIMEOUT after the deadline,
   * ERR_ABORTED when `signal` aborts first, ERR_SESSION_CLOSED.
   */
  ping(options: PingOptions = {}): Promise<number> {
    if (typeof options !== 'object' || options === null) {
      return Promise.reject(new KubemuxError(ErrorCode.INVALID_ARGUMENT, 'usage', `ping takes an options object ({ timeoutMs, signal }), got ${typeof options}`));
    }
    const { timeoutMs = this.options.pingTimeoutMs, signal } = options;
    if (signal?.aborted === true) return Promise.reject(abortError(signal, 'session', 'the ping'));
    if (this.#state === 'closed') return Promise.reject(this.#closedError());
    return this.#pings.ping(timeoutMs, signal).then((rttMs) => {
      this.emit('ping', rttMs);
      return rttMs;
    });
  }

  /**
   * Sends GOAWAY: no new streams either way from now on; open streams may finish. The session
   * closes by itself when the last stream has closed.
   */
  goAway(status: number = GoAwayStatus.OK): void {
    if (this.#state === 'closed' || this.#goAwaySent) return;
    this.#goAwaySent = true;
    this.#send({ type: 'GOAWAY', lastGoodStreamId: this.#lastPeerStreamId, status, flags: 0 });
    // Already draining because the stream ids ran out: the GOAWAY still closes the session once empty.
    if (this.#state === 'draining') this.#drainReason = 'goaway-sent';
    this.#startDraining({ reason: 'goaway-sent', goAwayStatus: status });
  }

  /** Graceful close: GOAWAY, let open streams finish, then close the transport. */
  close(): Promise<void> {
    if (this.#state === 'closed') return Promise.resolve();
    const closed = new Promise<void>((resolve) => this.once('close', () => resolve()));
    this.goAway(GoAwayStatus.OK);
    this.#closeIfDrained();
    return closed;
  }

  /** Immediate close: every open stream fails with ERR_SESSION_CLOSED (or with `error`). */
  destroy(error?: KubemuxError): void {
    this.#finish(error);
  }

  // ---------------------------------------------------------------- StreamHost (called by streams)

  /** @internal */
  writeData(stream: SpdyStream, chunk: Buffer, callback: (error?: Error | null) => void): void {
    const refusal = this.#writeRefusal(stream);
    if (refusal !== undefined) return callback(refusal);
    if (!stream.replied && stream.initiator === 'remote') this.acceptStream(stream);
    stream.pendingWrite = { chunk, offset: 0, callback, pumping: false };
    this.#pumpWrite(stream);
  }

  /** @internal */
  writeFin(stream: SpdyStream, callback: (error?: Error | null) => void): void {
    if (stream.localFin) return callback();
    const refusal = this.#writeRefusal(stream);
    if (refusal !== undefined) return callback(refusal);
    if (!stream.replied && stream.initiator === 'remote') this.acceptStream(stream);
    stream.localFin = true;
    this.#sendData(stream.id, FLAG_FIN, Buffer.alloc(0));
    this.#retireIfDone(stream);
    callback();
  }

  /** @internal */
  acceptStream(stream: SpdyStream): void {
    if (stream.initiator !== 'remote' || stream.replied || stream.reset || this.#state === 'closed') return;
    stream.replied = true;
    // Kubernetes replies with an empty header block, and so do we.
    this.#send({ type: 'SYN_REPLY', streamId: stream.id, flags: 0, headers: NO_HEADERS });
  }

  /** @internal */
  rejectStream(stream: SpdyStream, status: number): void {
    if (stream.reset || stream.retired) return;
    this.#resetStream(stream, status);
    stream.destroy();
  }

  /** @internal */
  streamConsumed(stream: SpdyStream): void {
    this.#accountUnread(stream);
  }

  /** @internal */
  streamDestroyed(stream: SpdyStream, error: Error | null): void {
    if (stream.retired) return;
    // Destroyed before both directions ended cleanly: tell the peer, unless it already knows.
    if (!stream.reset && !(stream.localFin && stream.remoteFin)) this.#resetStream(stream, RstStatus.CANCEL);
    const pending = this.#pendingOpens.get(stream.id);
    if (pending !== undefined) {
      this.#pendingOpens.delete(stream.id);
      clearTimeout(pending.timer);
      pending.reject(toStreamError(error, stream.id, 'the stream was destroyed before the peer replied'));
    }
    this.#retire(stream, error === null ? undefined : toStreamError(error, stream.id, 'stream destroyed'));
  }

  // ---------------------------------------------------------------- receiving

  #receive(chunk: Buffer): void {
    if (this.#state === 'closed') return;
    let consumed: number;
    this.#receiving = true;
    try {
      consumed = this.#decoder.push(chunk, this.#onFrame);
    } catch (error) {
      // Only the decoder can throw here (#onFrame keeps the application's exceptions apart):
      // the peer's bytes are not SPDY/3.1.
      this.#receiving = false;
      this.#protocolFailure(error);
      return;
    }
    this.#receiving = false;
    // The decoder stopped early because our replies are backlogged: the transport is paused, and
    // the rest of this chunk is read again, first, once it drains.
    if (consumed < chunk.length && !this.closed) this.#transport.unshift(chunk.subarray(consumed));
  }

  #dispatch(frame: Frame): void {
    if (this.#state === 'closed') return;
    // A DATA frame that arrives in pieces counts once, at its last piece (the decoder is idle again).
    if (this.#decoder.idle) this.#stats.framesReceived++;
    switch (frame.type) {
      case 'DATA':
        return this.#onDataFrame(frame);
      case 'SYN_STREAM':
        return this.#onSynStream(frame);
      case 'SYN_REPLY':
        return this.#onSynReply(frame);
      case 'RST_STREAM':
        return this.#onRstStream(frame);
      case 'SETTINGS':
        return this.#onSettings(frame);
      case 'PING':
        if (this.#pings.isPeerPing(frame.id)) {
          this.#stats.pingsEchoed++;
          this.#send({ type: 'PING', id: frame.id, flags: 0 });
        } else {
          this.#pings.answered(frame.id);
        }
        return;
      case 'GOAWAY':
        return this.#onGoAway(frame);
      case 'HEADERS': {
        // Port-forward never uses HEADERS; surface them on the stream for completeness.
        const stream = this.#streams.get(frame.streamId);
        if (stream !== undefined) stream.emit('headers', frame.headers);
        if (stream !== undefined && frame.flags & FLAG_FIN) this.#remoteFinished(stream);
        return;
      }
      case 'WINDOW_UPDATE':
        return this.#onWindowUpdate(frame);
      case 'UNKNOWN':
        // SPDY says: ignore control frames of unknown type.
        this.#stats.unknownFramesReceived++;
        return;
    }
  }

  #onDataFrame(frame: DataFrame): void {
    const length = frame.data.length;
    this.#stats.dataBytesReceived += length;
    const stream = this.#streams.get(frame.streamId);
    if (stream === undefined || stream.remoteFin || stream.reset || stream.destroyed) {
      // spdystream keeps writing after a reset; answering would only add noise. The bytes still
      // count against the session window, so return them at once.
      if (this.#decoder.idle) this.#stats.droppedDataFrames++;
      this.#stats.droppedDataBytes += length;
      this.#creditSession(length);
      return;
    }
    if (this.#peerFlowControl) {
      stream.receiveWindow -= length;
      if (stream.receiveWindow < 0) {
        this.#failStream(stream, RstStatus.FLOW_CONTROL_ERROR, ErrorCode.FLOW_CONTROL, `peer sent past the receive window of stream ${stream.id}`);
        return;
      }
    }
    try {
      // deliver() runs the reader's 'data' listeners; whatever they throw, the bookkeeping below happens.
      if (length > 0) stream.deliver(frame.data);
    } finally {
      if (length > 0) this.#accountUnread(stream);
      if (frame.flags & FLAG_FIN) this.#remoteFinished(stream);
    }
  }

  #onSynStream(frame: SynStreamFrame): void {
    const id = frame.streamId;
    const peerParity = this.options.role === 'client' ? 0 : 1;
    if (id % 2 !== peerParity || id <= this.#lastPeerStreamId) {
      // spdystream answers an out-of-order id with RST PROTOCOL_ERROR and carries on. If the id is
      // that of a stream still open here, the peer takes that RST as the end of the stream, so it
      // must end here too: kept open, it would never see FIN or RST again.
      const existing = this.#streams.get(id);
      if (existing === undefined) this.#sendRst(id, RstStatus.PROTOCOL_ERROR);
      else this.#failStream(existing, RstStatus.PROTOCOL_ERROR, ErrorCode.PROTOCOL, `the peer opened stream ${id} while it was open`);
      return;
    }
    this.#lastPeerStreamId = id;
    const headerBytes = headerBlockMemory(frame.headers);
    if (
      this.#state !== 'open' ||
      this.#activeRemote >= this.options.maxConcurrentStreams ||
      this.listenerCount('stream') === 0 ||
      // The budget for what the peer's headers make us hold: past it, new streams wait for old ones.
      this.#headerBytes + headerBytes > this.options.maxSessionHeaderBytes
    ) {
      this.#stats.streamsRefused++;
      this.#sendRst(id, RstStatus.REFUSED_STREAM);
      return;
    }
    const stream = this.#createStream(id, 'remote', frame.headers);
    stream.headerBytes = headerBytes;
    this.#headerBytes += headerBytes;
    if (frame.flags & FLAG_UNIDIRECTIONAL) {
      stream.localFin = true;
      stream.end();
    }
    if (frame.flags & FLAG_FIN) this.#remoteFinished(stream);
    this.emit('stream', stream);
  }

  #onSynReply(frame: SynReplyFrame): void {
    const stream = this.#streams.get(frame.streamId);
    // Replies to unknown streams (e.g. one we gave up on) and repeated replies are ignored.
    if (stream === undefined || stream.initiator !== 'local' || stream.replied) return;
    stream.replied = true;
    const pending = this.#pendingOpens.get(stream.id);
    if (pending !== undefined) {
      this.#pendingOpens.delete(stream.id);
      clearTimeout(pending.timer);
      pending.resolve(stream);
    }
    if (frame.flags & FLAG_FIN) this.#remoteFinished(stream);
  }

  #onRstStream(frame: RstStreamFrame): void {
    const stream = this.#streams.get(frame.streamId);
    if (stream === undefined) return;
    stream.reset = true;
    const refused = frame.status === RstStatus.REFUSED_STREAM;
    const error = new KubemuxError(
      refused ? ErrorCode.STREAM_REFUSED : ErrorCode.STREAM_RESET,
      'stream',
      `stream ${stream.id} was reset by the peer (${rstStatusName(frame.status)})`,
      { streamId: stream.id, rstStatus: frame.status },
    );
    stream.destroy(error);
  }

  #onSettings(frame: SettingsFrame): void {
    // One value per frame (the last entry of a kind wins), and at most one walk over the streams
    // per frame: applying every INITIAL_WINDOW_SIZE entry walked them once per entry, so a few
    // frames of many entries on a session of 1,000 streams could take seconds of CPU.
    let initialWindow: number | undefined;
    for (const entry of frame.entries) {
      if (entry.id === SettingsId.INITIAL_WINDOW_SIZE && entry.value <= MAX_STREAM_ID) initialWindow = entry.value;
      else if (entry.id === SettingsId.MAX_CONCURRENT_STREAMS) this.#peerMaxConcurrentStreams = entry.value;
    }
    if (initialWindow === undefined) return;
    this.#enablePeerFlowControl();
    const delta = initialWindow - this.#peerInitialWindow;
    if (delta === 0) return;
    this.#peerInitialWindow = initialWindow;
    // SPDY/3.1: a new initial window shifts the send window of every open stream.
    for (const stream of this.#streams.values()) stream.sendWindow += delta;
    if (delta > 0) {
      for (const stream of [...this.#blockedOnStream]) {
        this.#blockedOnStream.delete(stream);
        this.#pumpWrite(stream);
      }
    }
  }

  #onGoAway(frame: GoAwayFrame): void {
    // A repeated GOAWAY changes something only if it names a lower last-good id; otherwise it
    // would walk the pending opens again for nothing (a flood of repeats, each a full walk).
    const previous = this.#peerLastGoodStreamId;
    if (previous !== undefined && frame.lastGoodStreamId >= previous) return;
    this.#peerLastGoodStreamId = frame.lastGoodStreamId;
    // Streams we opened above the peer's last good id were never processed: fail them as refused
    // so callers can retry them on another session.
    for (const [id, pending] of this.#pendingOpens) {
      if (id % 2 === this.options.firstStreamId % 2 && id > frame.lastGoodStreamId) {
        const stream = this.#streams.get(id);
        this.#pendingOpens.delete(id);
        clearTimeout(pending.timer);
        const error = new KubemuxError(ErrorCode.STREAM_REFUSED, 'stream', `the peer sent GOAWAY before processing stream ${id}`, {
          streamId: id,
          goAwayStatus: frame.status,
        });
        pending.reject(error);
        if (stream !== undefined) {
          stream.reset = true;
          stream.destroy(error);
        }
      }
    }
    if (frame.status !== GoAwayStatus.OK) {
      this.#peerGoAwayError = new KubemuxError(ErrorCode.SESSION_DRAINING, 'session', `the peer sent GOAWAY ${goAwayStatusName(frame.status)}`, {
        goAwayStatus: frame.status,
      });
    }
    // A GOAWAY arriving while we drain for another reason still lets the session close once empty.
    if (this.#state === 'draining') this.#drainReason = 'goaway-received';
    this.#startDraining({ reason: 'goaway-received', goAwayStatus: frame.status });
    this.#closeIfDrained();
  }

  #onWindowUpdate(frame: WindowUpdateFrame): void {
    this.#enablePeerFlowControl();
    if (frame.streamId === 0) {
      this.#sessionSendWindow += frame.deltaWindowSize;
      if (this.#sessionSendWindow > MAX_STREAM_ID) {
        this.#protocolFailure(new KubemuxError(ErrorCode.FLOW_CONTROL, 'session', 'the peer grew the session send window past 2^31-1'));
        return;
      }
      // Only as many writers as the new window can move: each one either sends, finishes, or
      // turns out to wait for its own stream window. A 1-byte update moves one writer, not all.
      while (this.#sessionSendWindow > 0 && this.#blockedOnSession.size > 0) {
        const stream = this.#blockedOnSession.values().next().value as SpdyStream;
        this.#blockedOnSession.delete(stream);
        this.#pumpWrite(stream);
      }
      return;
    }
    const stream = this.#streams.get(frame.streamId);
    if (stream === undefined) return;
    stream.sendWindow += frame.deltaWindowSize;
    if (stream.sendWindow > MAX_STREAM_ID) {
      this.#failStream(stream, RstStatus.FLOW_CONTROL_ERROR, ErrorCode.FLOW_CONTROL, `the peer grew the send window of stream ${stream.id} past 2^31-1`);
      return;
    }
    if (stream.pendingWrite !== undefined) {
      this.#blockedOnStream.delete(stream);
      this.#pumpWrite(stream);
    }
  }

  #remoteFinished(stream: SpdyStream): void {
    if (stream.remoteFin) return;
    stream.remoteFin = true;
    stream.deliverEnd();
    this.#retireIfDone(stream);
  }

  // ---------------------------------------------------------------- receive buffering and flow control

  /** Re-counts a stream's unread bytes after a delivery or a read, and pauses or resumes reading. */
  #accountUnread(stream: SpdyStream): void {
    const unread = stream.retired || stream.destroyed ? 0 : stream.unreadBytes;
    this.#unreadBytes += unread - stream.accountedUnreadBytes;
    stream.accountedUnreadBytes = unread;
    if (unread >= this.options.streamReceiveBufferBytes) this.#overfullStreams.add(stream);
    else this.#overfullStreams.delete(stream);

    if (!stream.retired) {
      const consumed = stream.receivedBytes - unread;
      // The session window follows what readers take, whatever the stream thresholds below: if
      // it were returned only with stream credits, many streams each just under their threshold
      // could hold the whole session window and every sender would wait for ever.
      this.#creditSession(consumed - stream.consumedBytes);
      stream.consumedBytes = consumed;
      const owed = consumed - stream.creditedBytes;
      // Returning window in halves keeps WINDOW_UPDATEs rare, and cannot deadlock: a peer that is
      // out of window has sent a full window, so the reader's progress crosses the half mark.
      if (this.#advertised && owed >= this.options.streamReceiveBufferBytes / 2) {
        stream.creditedBytes += owed;
        stream.receiveWindow += owed;
        this.#send({ type: 'WINDOW_UPDATE', streamId: stream.id, deltaWindowSize: owed, flags: 0 });
      }
    }
    this.#updateReceivePause();
  }

  #creditSession(bytes: number): void {
    if (!this.#advertised || bytes <= 0) return;
    this.#sessionOwedBytes += bytes;
    if (this.#sessionOwedBytes >= this.options.sessionReceiveBufferBytes / 2) {
      const delta = this.#sessionOwedBytes;
      this.#sessionOwedBytes = 0;
      this.#send({ type: 'WINDOW_UPDATE', streamId: 0, deltaWindowSize: delta, flags: 0 });
    }
  }

  /** Pauses or resumes reading the transport: while readers are behind, or while our replies are backlogged. */
  #updateReceivePause(): void {
    if (this.#state === 'closed') return;
    const buffersFull = this.#overfullStreams.size > 0 || this.#unreadBytes > this.options.sessionReceiveBufferBytes;
    const shouldPause = buffersFull || this.#repliesBacklogged;
    if (shouldPause !== this.#receivePaused) {
      this.#receivePaused = shouldPause;
      if (shouldPause) this.#transport.pause();
      else this.#transport.resume();
    }
    // The stall deadline runs while readers (not the peer) keep the transport paused.
    if (buffersFull && this.#stallTimer === undefined && this.options.receiveStallTimeoutMs > 0) {
      this.#stallTimer = setTimeout(() => this.#resetStalledStreams(), this.options.receiveStallTimeoutMs);
      this.#stallTimer.unref();
    } else if (!buffersFull && this.#stallTimer !== undefined) {
      clearTimeout(this.#stallTimer);
      this.#stallTimer = undefined;
    }
  }

  /** A reply was written while receiving: count it if it waits behind a transport that does not drain. */
  #countReply(): void {
    if (!this.#needDrain) return;
    this.#queuedReplies++;
    if (this.#queuedReplies < this.options.maxQueuedReplyFrames || this.#repliesBacklogged) return;
    // Stop reading (the decoder stops after this frame) until the transport drains: a peer that
    // sends without reading then meets TCP backpressure instead of growing our write queue.
    this.#repliesBacklogged = true;
    this.#updateReceivePause();
    const timeoutMs = this.options.receiveStallTimeoutMs;
    if (timeoutMs > 0) {
      this.#backlogTimer = setTimeout(() => {
        this.#backlogTimer = undefined;
        this.#protocolFailure(
          new KubemuxError(
            ErrorCode.RESOURCE_LIMIT,
            'session',
            `the peer left ${this.#queuedReplies} replies unread for ${timeoutMs} ms (maxQueuedReplyFrames ${this.options.maxQueuedReplyFrames})`,
          ),
        );
      }, timeoutMs);
      this.#backlogTimer.unref();
    }
  }

  #resetStalledStreams(): void {
    this.#stallTimer = undefined;
    // The readers holding the most unread bytes are the ones keeping everybody waiting.
    const stalled = this.#overfullStreams.size > 0 ? [...this.#overfullStreams] : [...this.#streams.values()].filter((s) => s.unreadBytes > 0);
    for (const stream of stalled) {
      this.#failStream(
        stream,
        RstStatus.CANCEL,
        ErrorCode.STREAM_RECEIVE_STALLED,
        `stream ${stream.id} held ${stream.unreadBytes} unread bytes for ${this.options.receiveStallTimeoutMs} ms and blocked the session`,
      );
    }
    this.#updateReceivePause();
  }

  #advertiseWindows(): void {
    if (this.#advertised) return;
    this.#advertised = true;
    const streamWindow = this.options.streamReceiveBufferBytes;
    this.#send({ type: 'SETTINGS', flags: 0, entries: [{ id: SettingsId.INITIAL_WINDOW_SIZE, flags: 0, value: streamWindow }] });
    const sessionGrowth = this.options.sessionReceiveBufferBytes - DEFAULT_INITIAL_WINDOW_BYTES;
    if (sessionGrowth > 0) {
      this.#send({ type: 'WINDOW_UPDATE', streamId: 0, deltaWindowSize: sessionGrowth, flags: 0 });
    }
  }

  #enablePeerFlowControl(): void {
    if (this.#peerFlowControl) return;
    this.#peerFlowControl = true;
    // A peer that keeps windows also counts ours: from now on we announce and return them.
    this.#advertiseWindows();
  }

  // ---------------------------------------------------------------- sending

  #writeRefusal(stream: SpdyStream): KubemuxError | undefined {
    if (this.#state === 'closed') return this.#closedError();
    if (stream.reset) return new KubemuxError(ErrorCode.STREAM_RESET, 'stream', `stream ${stream.id} was reset`, { streamId: stream.id });
    if (stream.localFin) {
      return new KubemuxError(ErrorCode.INVALID_ARGUMENT, 'usage', `stream ${stream.id} was already ended`, { streamId: stream.id });
    }
    return undefined;
  }

  /** Sends as much of the stream's pending write as the windows allow; finishes it when done. */
  #pumpWrite(stream: SpdyStream): void {
    const pending = stream.pendingWrite;
    // A transport that delivers synchronously can bring a WINDOW_UPDATE (and so a nested call)
    // while this loop is still writing; the outer loop sees the new window on its next turn.
    if (pending === undefined || pending.pumping) return;
    pending.pumping = true;
    const { chunk } = pending;
    const maxFrame = this.options.maxDataFrameBytes;
    while (pending.offset < chunk.length) {
      let size = Math.min(maxFrame, chunk.length - pending.offset);
      if (this.#peerFlowControl) size = Math.min(size, stream.sendWindow, this.#sessionSendWindow);
      if (size <= 0) {
        pending.pumping = false;
        if (stream.sendWindow <= 0) this.#blockedOnStream.add(stream);
        else this.#blockedOnSession.add(stream);
        return;
      }
      const payload = pending.offset === 0 && size === chunk.length ? chunk : chunk.subarray(pending.offset, pending.offset + size);
      pending.offset += size;
      if (this.#peerFlowControl) {
        stream.sendWindow -= size;
        this.#sessionSendWindow -= size;
      }
      this.#sendData(stream.id, 0, payload);
      // Sending can close the session or the stream (a synchronous transport again).
      if (stream.pendingWrite !== pending) return;
    }
    stream.pendingWrite = undefined;
    this.#blockedOnStream.delete(stream);
    this.#blockedOnSession.delete(stream);
    this.#whenWritable(pending.callback);
  }

  #sendData(streamId: number, flags: number, payload: Buffer): void {
    if (this.#state === 'closed') return;
    this.#stats.framesSent++;
    this.#idleTimer?.touch();
    this.#stats.dataBytesSent += payload.length;
    const header = encodeDataFrameHeader(streamId, flags, payload.length);
    if (payload.length === 0) {
      this.#writeBytes(header);
      return;
    }
    // One writev for header and payload: no copy, no 8-byte packet on its own.
    this.#transport.cork();
    this.#writeBytes(header);
    this.#writeBytes(payload);
    this.#transport.uncork();
  }

  #send(frame: Exclude<Frame, DataFrame>): void {
    if (this.#state === 'closed') return;
    this.#stats.framesSent++;
    this.#idleTimer?.touch();
    for (const bytes of this.#encoder.encode(frame)) this.#writeBytes(bytes);
    if (this.#receiving) this.#countReply();
  }

  #sendRst(streamId: number, status: number): void {
    this.#send({ type: 'RST_STREAM', streamId, status, flags: 0 });
  }

  #writeBytes(bytes: Buffer): void {
    // Frames written in one turn of the event loop leave in one writev (a pair's three opening
    // frames, the replies to one read's frames): on loopback each write is a wake-up of the peer.
    if (!this.#corked) {
      this.#corked = true;
      this.#transport.cork();
      process.nextTick(this.#uncork);
    }
    if (!this.#transport.write(bytes)) this.#needDrain = true;
  }

  readonly #uncork = (): void => {
    this.#corked = false;
    this.#transport.uncork();
  };

  #whenWritable(callback: () => void): void {
    if (!this.#needDrain) callback();
    else this.#drainWaiters.push(callback);
  }

  #drained(): void {
    this.#needDrain = false;
    this.#queuedReplies = 0;
    if (this.#repliesBacklogged) {
      this.#repliesBacklogged = false;
      clearTimeout(this.#backlogTimer);
      this.#backlogTimer = undefined;
      this.#updateReceivePause();
    }
    const waiters = this.#drainWaiters;
    this.#drainWaiters = [];
    for (const waiter of waiters) waiter();
  }

  // ---------------------------------------------------------------- stream table

  #createStream(id: number, initiator: StreamInitiator, headers: HeaderBlock): SpdyStream {
    const stream = new SpdyStream({
      id,
      initiator,
      headers,
      host: this,
      receiveBufferBytes: this.options.streamReceiveBufferBytes,
      writeBufferBytes: this.options.maxDataFrameBytes,
    });
    stream.sendWindow = this.#peerInitialWindow;
    // Before we announce our windows the peer sends without counting (it adopts flow control only
    // when it reads them), so a stream that exists by then can legitimately carry more than any
    // window we could later hold it to: its window is never enforced.
    stream.receiveWindow = this.#advertised ? this.options.streamReceiveBufferBytes : Infinity;
    this.#streams.set(id, stream);
    if (initiator === 'local') {
      this.#activeLocal++;
      this.#stats.streamsOpenedLocal++;
    } else {
      this.#activeRemote++;
      this.#stats.streamsOpenedRemote++;
    }
    // A stream error is reported through streamClosed and the stream's own consumers; without
    // this listener an unobserved reset would crash the process as an unhandled 'error'.
    stream.on('error', noop);
    this.emit('streamOpened', stream, initiator);
    return stream;
  }

  #resetStream(stream: SpdyStream, status: number): void {
    if (stream.reset) return;
    stream.reset = true;
    this.#sendRst(stream.id, status);
  }

  #failStream(stream: SpdyStream, status: number, code: ErrorCode, message: string): void {
    this.#resetStream(stream, status);
    stream.destroy(new KubemuxError(code, 'stream', message, { streamId: stream.id, rstStatus: status }));
  }

  #retireIfDone(stream: SpdyStream): void {
    if (stream.localFin && stream.remoteFin) this.#retire(stream, undefined);
  }

  #retire(stream: SpdyStream, error: KubemuxError | undefined): void {
    if (stream.retired) return;
    stream.retired = true;
    this.#streams.delete(stream.id);
    this.#blockedOnStream.delete(stream);
    this.#blockedOnSession.delete(stream);
    this.#overfullStreams.delete(stream);
    this.#headerBytes -= stream.headerBytes;
    stream.headerBytes = 0;
    // Bytes a finished stream still holds are its reader's now, no longer the session's.
    this.#unreadBytes -= stream.accountedUnreadBytes;
    this.#creditSession(stream.receivedBytes - stream.consumedBytes);
    stream.consumedBytes = stream.receivedBytes;
    stream.accountedUnreadBytes = 0;
    if (stream.initiator === 'local') this.#activeLocal--;
    else this.#activeRemote--;
    if (stream.pendingWrite !== undefined) {
      const { callback } = stream.pendingWrite;
      stream.pendingWrite = undefined;
      callback(error ?? new KubemuxError(ErrorCode.STREAM_RESET, 'stream', `stream ${stream.id} closed`, { streamId: stream.id }));
    }
    this.emit('streamClosed', stream, error);
    this.#updateReceivePause();
    this.#closeIfDrained();
  }

  // ---------------------------------------------------------------- session lifecycle

  #startDraining(info: DrainInfo): void {
    if (this.#state !== 'open') return;
    this.#state = 'draining';
    this.#drainReason = info.reason;
    this.emit('draining', info);
  }

  #closeIfDrained(): void {
    // A session drained by GOAWAY (either way) closes when its last stream has; one that only ran
    // out of stream ids stays up for its streams until its owner closes it.
    const byGoAway = this.#drainReason === 'goaway-sent' || this.#drainReason === 'goaway-received';
    if (this.#state === 'draining' && byGoAway && this.#streams.size === 0) this.#finish(this.#peerGoAwayError, true);
  }

  #protocolFailure(error: unknown): void {
    if (this.#state === 'closed') return;
    const failure =
      error instanceof KubemuxError ? error : new KubemuxError(ErrorCode.PROTOCOL, 'session', 'failed to process a frame', { cause: error });
    // Tell a peer that can hear it why we leave; spdystream accepts a GOAWAY of this shape.
    this.#send({ type: 'GOAWAY', lastGoodStreamId: this.#lastPeerStreamId, status: GoAwayStatus.PROTOCOL_ERROR, flags: 0 });
    this.#finish(failure);
  }

  #transportEnded(): void {
    if (this.#state === 'closed') return;
    const clean = this.#state === 'draining' && this.#streams.size === 0;
    this.#finish(clean ? this.#peerGoAwayError : new KubemuxError(ErrorCode.TRANSPORT_CLOSED, 'transport', 'the transport closed under the session'));
  }

  #transportFailed(error: Error): void {
    if (this.#state === 'closed') return;
    // A transport that knows why it failed says so with its own typed error (the WebSocket tunnel:
    // ERR_PROTOCOL for a malformed frame, a close status): that is the session's reason too.
    this.#finish(
      error instanceof KubemuxError ? error : new KubemuxError(ErrorCode.TRANSPORT_CLOSED, 'transport', `the transport failed: ${error.message}`, { cause: error }),
    );
  }

  /** No frame read or written for idleTimeoutMs: what spdystream's idle timer does (reset every stream, GOAWAY, close). */
  #idleExpired(): void {
    if (this.#state === 'closed') return;
    const timeoutMs = this.options.idleTimeoutMs;
    for (const stream of [...this.#streams.values()]) {
      this.#failStream(stream, RstStatus.CANCEL, ErrorCode.IDLE_TIMEOUT, `stream ${stream.id} was reset: the session was idle for ${timeoutMs} ms`);
    }
    if (!this.#goAwaySent) {
      this.#goAwaySent = true;
      this.#send({ type: 'GOAWAY', lastGoodStreamId: this.#lastPeerStreamId, status: GoAwayStatus.OK, flags: 0 });
    }
    this.#finish(new KubemuxError(ErrorCode.IDLE_TIMEOUT, 'session', `no frame was read or written for ${timeoutMs} ms (idleTimeoutMs)`));
  }

  #closedError(): KubemuxError {
    return new KubemuxError(ErrorCode.SESSION_CLOSED, 'session', 'the session is closed', { cause: this.#closeError });
  }

  /** Closes the session; `error` undefined means a clean close. `graceful` ends the transport instead of destroying it. */
  #finish(error: KubemuxError | undefined, graceful = false): void {
    if (this.#state === 'closed') return;
    this.#state = 'closed';
    this.#closeError = error;
    clearTimeout(this.#stallTimer);
    clearTimeout(this.#backlogTimer);
    this.#idleTimer?.stop();
    const streamError =
      error === undefined
        ? new KubemuxError(ErrorCode.SESSION_CLOSED, 'session', 'the session closed')
        : new KubemuxError(ErrorCode.SESSION_CLOSED, 'session', `the session closed: ${error.message}`, { cause: error });
    this.#pings.failAll(streamError);
    for (const [id, pending] of this.#pendingOpens) {
      clearTimeout(pending.timer);
      pending.reject(streamError);
      this.#pendingOpens.delete(id);
    }
    for (const stream of [...this.#streams.values()]) {
      stream.reset = true; // nothing more can be sent
      stream.destroy(streamError);
    }
    const waiters = this.#drainWaiters;
    this.#drainWaiters = [];
    for (const waiter of waiters) waiter();
    const transport = this.#transport;
    transport.off('data', this.#onData);
    transport.off('end', this.#onEnd);
    transport.off('close', this.#onClose);
    transport.off('drain', this.#onDrain);
    // Keep swallowing transport errors after we leave: a late ECONNRESET must not crash anyone.
    transport.off('error', this.#onError);
    transport.on('error', noop);
    // What this tick wrote (a GOAWAY saying why) goes out before the transport ends.
    if (this.#corked) this.#uncork();
    if (graceful) transport.end();
    else transport.destroy();
    this.emit('close', this.#closeError);
  }
}

function noop(): void {}

function rethrow(error: unknown): never {
  throw error;
}

function toStreamError(error: Error | null, streamId: number, message: string): KubemuxError {
  if (error instanceof KubemuxError) return error;
  return new KubemuxError(ErrorCode.STREAM_RESET, 'stream', error === null ? message : `${message}: ${error.message}`, {
    streamId,
    cause: error ?? undefined,
  });
}
