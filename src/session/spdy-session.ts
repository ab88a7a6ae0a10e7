/**
 * SpdySession: many SPDY/3.1 streams over one byte Duplex (a TCP or TLS socket, or the byte
 * stream inside a WebSocket tunnel), in the client role (kubectl's side) or the server role (the
 * kubelet/runtime side).
 *
 * This file is frame dispatch and lifecycle (of the session and of its streams' table); about 800
 * lines, because the handler of each frame type and the lifecycle steps it triggers read and
 * write the same tables (streams, pending opens, drain state) and are one state machine. The
 * rest lives beside it: stream-state.ts (a stream's lifecycle), flow-control.ts (a window),
 * receive-buffer.ts (unread bytes, the pause of the transport, windows returned), data-sender.ts
 * (DATA under the peer's windows), write-pump.ts (corked writes, drain, the reply bound),
 * pending-opens.ts (opens waiting for SYN_REPLY), session-types.ts (public types).
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
 * - Memory is bounded without the peer's help (receive-buffer.ts, write-pump.ts); header blocks
 *   of open streams have a budget (maxSessionHeaderBytes), and no frame costs more than one walk
 *   over the streams. spec/memory-budget.md has the whole table.
 * - The application's listeners ('stream', a stream's 'data', ...) run while a frame is being
 *   handled, but an exception they throw is theirs: it is rethrown on the next tick, outside the
 *   frame loop, and never taken for a malformed frame from the peer.
 * - Errors say who ended a stream or the session (`origin`): 'peer' for its RST_STREAM, GOAWAY
 *   or closed connection, 'local' for our deadlines, bounds, aborts and protocol answers.
 */
import { EventEmitter } from 'eventemitter3';
import type { Duplex } from 'node:stream';
import { ErrorCode, KubemuxError, abortError, isKubemuxError, markOrigin, type ErrorOrigin } from '../errors.js';
import { noop } from '../util/noop.js';
import {
  DEFAULT_INITIAL_WINDOW_BYTES,
  FLAG_FIN,
  FLAG_UNIDIRECTIONAL,
  FrameDecoder,
  GoAwayStatus,
  MAX_STREAM_ID,
  RstStatus,
  SettingsId,
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
import { DataSender } from './data-sender.js';
import { PendingOpens } from './pending-opens.js';
import { PingTracker } from './pinger.js';
import { ReceiveBuffer } from './receive-buffer.js';
import type { DrainInfo, DrainReason, OpenStreamOptions, PingOptions, SessionStats, SpdySessionEvents } from './session-types.js';
import { SpdyStream, type StreamInitiator } from './spdy-stream.js';
import { WritePump } from './write-pump.js';

/**
 * The session's own state (#startDraining and #finish are its only writers):
 *
 *     open ──GOAWAY sent or received / stream ids used up──▶ draining ──last stream gone (GOAWAY)──▶ closed
 *       └─────────── transport ended or failed, protocol error, idle, destroy() ───────────────────────▲
 *
 * Draining for used-up stream ids alone stays up until the owner closes; 'closed' is final.
 */
type SessionState = 'open' | 'draining' | 'closed';

const NO_HEADERS: HeaderBlock = new Map();

// Not `implements StreamHost`: that interface and its members are internal (stripInternal), and
// the clause would name a type the published .d.ts does not contain. The session is checked
// against StreamHost where it hands itself to a new SpdyStream (#createStream).
/** Many SPDY/3.1 streams over one byte Duplex (see the file comment for the design). */
export class SpdySession extends EventEmitter<SpdySessionEvents> {
  readonly options: ResolvedSessionOptions;
  readonly #transport: Duplex;
  readonly #decoder: FrameDecoder;
  readonly #pings: PingTracker;
  readonly #pump: WritePump;
  readonly #sender: DataSender;
  readonly #receiver: ReceiveBuffer;

  readonly #streams = new Map<number, SpdyStream>();
  readonly #pendingOpens = new PendingOpens();
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

  /** Estimated heap of the header blocks of the peer's open streams (maxSessionHeaderBytes). */
  #headerBytes = 0;
  /** The last-good stream id of the first GOAWAY received (later ones matter only if lower). */
  #peerLastGoodStreamId: number | undefined;
  readonly #idleTimer: IdleTimer | undefined;

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
    return this.#state !== 'closed' && !this.#pump.backlogged;
  };

  readonly #onData = (chunk: Buffer): void => this.#receive(chunk);
  readonly #onEnd = (): void => this.#transportEnded();
  readonly #onError = (error: Error): void => this.#transportFailed(error);
  readonly #onClose = (): void => this.#transportEnded();
  readonly #onDrain = (): void => this.#pump.drained();

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
    const resolved = this.options;
    this.#pump = new WritePump(transport, resolved, {
      frameSent: (dataBytes) => {
        this.#stats.framesSent++;
        this.#stats.dataBytesSent += dataBytes;
        this.#idleTimer?.touch();
      },
      backlogChanged: () => this.#receiver.updatePause(),
      backlogExpired: (error) => this.#protocolFailure(error),
    });
    this.#sender = new DataSender(this.#pump, resolved.maxDataFrameBytes);
    this.#receiver = new ReceiveBuffer(transport, this.#streams, resolved, {
      sendWindowUpdate: (streamId, deltaWindowSize) => this.#send({ type: 'WINDOW_UPDATE', streamId, deltaWindowSize, flags: 0 }),
      backlogged: () => this.#pump.backlogged,
      stalled: (stream) =>
        this.#failStream(
          stream,
          RstStatus.CANCEL,
          ErrorCode.STREAM_RECEIVE_STALLED,
          `stream ${stream.id} held ${stream.unreadBytes} unread bytes for ${resolved.receiveStallTimeoutMs} ms and blocked the session`,
        ),
    });
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
      unreadBytes: this.#receiver.unreadBytes,
      receivePaused: this.#receiver.paused,
      peerFlowControl: this.#sender.peerFlowControl,
      queuedReplyFrames: this.#pump.queuedReplies,
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
      this.#pendingOpens.add(id, {
        timeoutMs,
        signal,
        resolve,
        reject,
        // The deadline and the abort: the stream is reset.
        giveUp: (error) => {
          this.#resetStream(stream, RstStatus.CANCEL);
          stream.destroy(error);
        },
      });
      const fin = options.fin === true;
      if (fin) stream.lifecycle.finishLocal();
      // Registered above, sent here, in the same synchronous step: ids reach the wire in order.
      this.#send({ type: 'SYN_STREAM', streamId: id, associatedStreamId: 0, priority: 0, slot: 0, flags: fin ? FLAG_FIN : 0, headers: block });
      if (fin) stream.end();
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
    this.#finish(error, false, error?.origin ?? 'local');
  }

  // ---------------------------------------------------------------- StreamHost (called by streams)

  /** @internal */
  writeData(stream: SpdyStream, chunk: Buffer, callback: (error?: Error | null) => void): void {
    const refusal = this.#writeRefusal(stream);
    if (refusal !== undefined) return callback(refusal);
    if (!stream.lifecycle.replied && stream.initiator === 'remote') this.acceptStream(stream);
    this.#sender.write(stream, chunk, callback);
  }

  /** @internal */
  writeFin(stream: SpdyStream, callback: (error?: Error | null) => void): void {
    if (stream.lifecycle.localFinished) return callback();
    const refusal = this.#writeRefusal(stream);
    if (refusal !== undefined) return callback(refusal);
    if (!stream.lifecycle.replied && stream.initiator === 'remote') this.acceptStream(stream);
    stream.lifecycle.finishLocal();
    this.#pump.sendData(stream.id, FLAG_FIN, Buffer.alloc(0));
    this.#retireIfDone(stream);
    callback();
  }

  /** @internal */
  acceptStream(stream: SpdyStream): void {
    const lifecycle = stream.lifecycle;
    if (stream.initiator !== 'remote' || lifecycle.replied || lifecycle.isReset || this.#state === 'closed') return;
    lifecycle.markReplied();
    // Kubernetes replies with an empty header block, and so do we.
    this.#send({ type: 'SYN_REPLY', streamId: stream.id, flags: 0, headers: NO_HEADERS });
  }

  /** @internal */
  rejectStream(stream: SpdyStream, status: number): void {
    if (stream.lifecycle.isReset || !this.#holds(stream)) return;
    this.#resetStream(stream, status);
    stream.destroy();
  }

  /** @internal */
  streamConsumed(stream: SpdyStream): void {
    this.#receiver.account(stream);
  }

  /** @internal */
  streamDestroyed(stream: SpdyStream, error: Error | null): void {
    if (!this.#holds(stream)) return;
    // Destroyed before both directions ended cleanly: tell the peer, unless it already knows.
    if (!stream.lifecycle.isFinal) this.#resetStream(stream, RstStatus.CANCEL);
    this.#pendingOpens.take(stream.id)?.reject(toStreamError(error, stream.id, 'the stream was destroyed before the peer replied'));
    this.#retire(stream, error === null ? undefined : toStreamError(error, stream.id, 'stream destroyed'));
  }

  // ---------------------------------------------------------------- receiving

  #receive(chunk: Buffer): void {
    if (this.#state === 'closed') return;
    let consumed: number;
    this.#pump.receiving = true;
    try {
      consumed = this.#decoder.push(chunk, this.#onFrame);
    } catch (error) {
      // Only the decoder can throw here (#onFrame keeps the application's exceptions apart):
      // the peer's bytes are not SPDY/3.1.
      this.#pump.receiving = false;
      this.#protocolFailure(error);
      return;
    }
    this.#pump.receiving = false;
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
    if (stream === undefined || stream.lifecycle.remoteFinished || stream.lifecycle.isReset || stream.destroyed) {
      // spdystream keeps writing after a reset; answering would only add noise. The bytes still
      // count against the session window, so return them at once.
      if (this.#decoder.idle) this.#stats.droppedDataFrames++;
      this.#stats.droppedDataBytes += length;
      this.#receiver.credit(length);
      return;
    }
    if (this.#sender.peerFlowControl) {
      try {
        this.#receiver.consume(stream, length);
      } catch (error) {
        this.#failStream(stream, RstStatus.FLOW_CONTROL_ERROR, ErrorCode.FLOW_CONTROL, (error as Error).message);
        return;
      }
    }
    try {
      // deliver() runs the reader's 'data' listeners; whatever they throw, the bookkeeping below happens.
      if (length > 0) stream.deliver(frame.data);
    } finally {
      if (length > 0) this.#receiver.account(stream);
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
    const stream = this.#createStream(id, 'remote', frame.headers, headerBytes);
    this.#headerBytes += headerBytes;
    if (frame.flags & FLAG_UNIDIRECTIONAL) {
      stream.lifecycle.finishLocal();
      stream.end();
    }
    if (frame.flags & FLAG_FIN) this.#remoteFinished(stream);
    this.emit('stream', stream);
  }

  #onSynReply(frame: SynReplyFrame): void {
    const stream = this.#streams.get(frame.streamId);
    // Replies to unknown streams (e.g. one we gave up on) and repeated replies are ignored.
    if (stream === undefined || stream.initiator !== 'local' || stream.lifecycle.replied) return;
    stream.lifecycle.markReplied();
    this.#pendingOpens.take(stream.id)?.resolve(stream);
    if (frame.flags & FLAG_FIN) this.#remoteFinished(stream);
  }

  #onRstStream(frame: RstStreamFrame): void {
    const stream = this.#streams.get(frame.streamId);
    if (stream === undefined) return;
    this.#markReset(stream);
    const refused = frame.status === RstStatus.REFUSED_STREAM;
    const error = new KubemuxError(
      refused ? ErrorCode.STREAM_REFUSED : ErrorCode.STREAM_RESET,
      'stream',
      `stream ${stream.id} was reset by the peer (${rstStatusName(frame.status)})`,
      { streamId: stream.id, rstStatus: frame.status, origin: 'peer' },
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
    this.#sender.setInitialWindow(initialWindow);
  }

  #onGoAway(frame: GoAwayFrame): void {
    // A repeated GOAWAY changes something only if it names a lower last-good id; otherwise it
    // would walk the pending opens again for nothing (a flood of repeats, each a full walk).
    const previous = this.#peerLastGoodStreamId;
    if (previous !== undefined && frame.lastGoodStreamId >= previous) return;
    this.#peerLastGoodStreamId = frame.lastGoodStreamId;
    // Streams we opened above the peer's last good id were never processed: fail them as refused
    // so callers can retry them on another session.
    for (const id of this.#pendingOpens.ids()) {
      if (id % 2 === this.options.firstStreamId % 2 && id > frame.lastGoodStreamId) {
        const stream = this.#streams.get(id);
        const pending = this.#pendingOpens.take(id);
        if (pending === undefined) continue;
        const error = new KubemuxError(ErrorCode.STREAM_REFUSED, 'stream', `the peer sent GOAWAY before processing stream ${id}`, {
          streamId: id,
          goAwayStatus: frame.status,
          origin: 'peer',
        });
        pending.reject(error);
        if (stream !== undefined) {
          this.#markReset(stream);
          stream.destroy(error);
        }
      }
    }
    if (frame.status !== GoAwayStatus.OK) {
      this.#peerGoAwayError = new KubemuxError(ErrorCode.SESSION_DRAINING, 'session', `the peer sent GOAWAY ${goAwayStatusName(frame.status)}`, {
        goAwayStatus: frame.status,
        origin: 'peer',
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
      try {
        this.#sender.creditSession(frame.deltaWindowSize);
      } catch (error) {
        if (!isKubemuxError(error, ErrorCode.FLOW_CONTROL)) throw error;
        this.#protocolFailure(error);
      }
      return;
    }
    const stream = this.#streams.get(frame.streamId);
    if (stream === undefined) return;
    try {
      this.#sender.creditStream(stream, frame.deltaWindowSize);
    } catch (error) {
      if (!isKubemuxError(error, ErrorCode.FLOW_CONTROL)) throw error;
      this.#failStream(stream, RstStatus.FLOW_CONTROL_ERROR, ErrorCode.FLOW_CONTROL, (error as Error).message);
    }
  }

  #remoteFinished(stream: SpdyStream): void {
    if (stream.lifecycle.remoteFinished) return;
    stream.lifecycle.finishRemote();
    stream.deliverEnd();
    this.#retireIfDone(stream);
  }

  // ---------------------------------------------------------------- flow control negotiation

  #advertiseWindows(): void {
    if (!this.#receiver.advertise()) return;
    const streamWindow = this.options.streamReceiveBufferBytes;
    this.#send({ type: 'SETTINGS', flags: 0, entries: [{ id: SettingsId.INITIAL_WINDOW_SIZE, flags: 0, value: streamWindow }] });
    const sessionGrowth = this.options.sessionReceiveBufferBytes - DEFAULT_INITIAL_WINDOW_BYTES;
    if (sessionGrowth > 0) {
      this.#send({ type: 'WINDOW_UPDATE', streamId: 0, deltaWindowSize: sessionGrowth, flags: 0 });
    }
  }

  #enablePeerFlowControl(): void {
    // A peer that keeps windows also counts ours: from now on we announce and return them.
    if (this.#sender.enable()) this.#advertiseWindows();
  }

  // ---------------------------------------------------------------- sending

  #writeRefusal(stream: SpdyStream): KubemuxError | undefined {
    if (this.#state === 'closed') return this.#closedError();
    if (stream.lifecycle.isReset) return new KubemuxError(ErrorCode.STREAM_RESET, 'stream', `stream ${stream.id} was reset`, { streamId: stream.id });
    if (stream.lifecycle.localFinished) {
      return new KubemuxError(ErrorCode.INVALID_STATE, 'usage', `stream ${stream.id} was already ended`, { streamId: stream.id });
    }
    return undefined;
  }

  #send(frame: Exclude<Frame, DataFrame>): void {
    if (this.#state !== 'closed') this.#pump.send(frame);
  }

  #sendRst(streamId: number, status: number): void {
    this.#send({ type: 'RST_STREAM', streamId, status, flags: 0 });
  }

  // ---------------------------------------------------------------- stream table

  #createStream(id: number, initiator: StreamInitiator, headers: HeaderBlock, headerBytes = 0): SpdyStream {
    const stream = new SpdyStream({
      id,
      initiator,
      headers,
      host: this,
      receiveBufferBytes: this.options.streamReceiveBufferBytes,
      writeBufferBytes: this.options.maxDataFrameBytes,
      headerBytes,
    });
    this.#sender.track(stream);
    this.#receiver.track(stream);
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

  /** True while `stream` is in the table (it leaves once, at #retire). */
  #holds(stream: SpdyStream): boolean {
    return this.#streams.get(stream.id) === stream;
  }

  /** Marks the stream reset (RST sent or received, or the session ended); idempotent, as frames can nest. */
  #markReset(stream: SpdyStream): boolean {
    if (stream.lifecycle.isFinal) return false;
    stream.lifecycle.reset();
    return true;
  }

  #resetStream(stream: SpdyStream, status: number): void {
    if (this.#markReset(stream)) this.#sendRst(stream.id, status);
  }

  /** We end the stream for a reason of ours: RST to the peer, the stream fails with `code` (origin 'local'). */
  #failStream(stream: SpdyStream, status: number, code: ErrorCode, message: string): void {
    this.#resetStream(stream, status);
    stream.destroy(new KubemuxError(code, 'stream', message, { streamId: stream.id, rstStatus: status, origin: 'local' }));
  }

  #retireIfDone(stream: SpdyStream): void {
    if (stream.lifecycle.name === 'closed') this.#retire(stream, undefined);
  }

  #retire(stream: SpdyStream, error: KubemuxError | undefined): void {
    if (!this.#holds(stream)) return;
    this.#streams.delete(stream.id);
    this.#headerBytes -= stream.headerBytes;
    // Bytes a finished stream still holds are its reader's now, no longer the session's.
    this.#receiver.retire(stream);
    if (stream.initiator === 'local') this.#activeLocal--;
    else this.#activeRemote--;
    const pendingWrite = this.#sender.forget(stream);
    pendingWrite?.(error ?? new KubemuxError(ErrorCode.STREAM_RESET, 'stream', `stream ${stream.id} closed`, { streamId: stream.id }));
    this.emit('streamClosed', stream, error);
    this.#receiver.updatePause();
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
    if (this.#state === 'draining' && byGoAway && this.#streams.size === 0) {
      this.#finish(this.#peerGoAwayError, true, this.#drainReason === 'goaway-received' ? 'peer' : 'local');
    }
  }

  #protocolFailure(error: unknown): void {
    if (this.#state === 'closed') return;
    // We end the session (the peer's bytes were wrong, or it broke a bound): origin 'local'.
    const failure = markOrigin(
      error instanceof KubemuxError ? error : new KubemuxError(ErrorCode.PROTOCOL, 'session', 'failed to process a frame', { cause: error }),
      'local',
    );
    // Tell a peer that can hear it why we leave; spdystream accepts a GOAWAY of this shape.
    this.#send({ type: 'GOAWAY', lastGoodStreamId: this.#lastPeerStreamId, status: GoAwayStatus.PROTOCOL_ERROR, flags: 0 });
    this.#finish(failure);
  }

  #transportEnded(): void {
    if (this.#state === 'closed') return;
    const clean = this.#state === 'draining' && this.#streams.size === 0;
    this.#finish(
      clean ? this.#peerGoAwayError : new KubemuxError(ErrorCode.TRANSPORT_CLOSED, 'transport', 'the transport closed under the session', { origin: 'peer' }),
      false,
      'peer',
    );
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
    this.#finish(new KubemuxError(ErrorCode.IDLE_TIMEOUT, 'session', `no frame was read or written for ${timeoutMs} ms (idleTimeoutMs)`, { origin: 'local' }));
  }

  #closedError(): KubemuxError {
    return new KubemuxError(ErrorCode.SESSION_CLOSED, 'session', 'the session is closed', { cause: this.#closeError });
  }

  /**
   * Closes the session; `error` undefined means a clean close. `graceful` ends the transport
   * instead of destroying it. `origin` (default: the error's) is who ended it, for the streams' errors.
   */
  #finish(error: KubemuxError | undefined, graceful = false, origin: ErrorOrigin | undefined = error?.origin): void {
    if (this.#state === 'closed') return;
    this.#state = 'closed';
    this.#closeError = error;
    this.#pump.stop();
    this.#receiver.stop();
    this.#idleTimer?.stop();
    const details = origin === undefined ? {} : { origin };
    const streamError =
      error === undefined
        ? new KubemuxError(ErrorCode.SESSION_CLOSED, 'session', 'the session closed', details)
        : new KubemuxError(ErrorCode.SESSION_CLOSED, 'session', `the session closed: ${error.message}`, { ...details, cause: error });
    this.#pings.failAll(streamError);
    this.#pendingOpens.rejectAll(streamError);
    for (const stream of [...this.#streams.values()]) {
      this.#markReset(stream); // nothing more can be sent
      stream.destroy(streamError);
    }
    const transport = this.#transport;
    transport.off('data', this.#onData);
    transport.off('end', this.#onEnd);
    transport.off('close', this.#onClose);
    transport.off('drain', this.#onDrain);
    // Keep swallowing transport errors after we leave: a late ECONNRESET must not crash anyone.
    transport.off('error', this.#onError);
    transport.on('error', noop);
    // Waiting writers go on (and find the session closed); what this tick wrote leaves now.
    this.#pump.flush();
    if (graceful) transport.end();
    else transport.destroy();
    this.emit('close', this.#closeError);
  }
}


function rethrow(error: unknown): never {
  throw error;
}

function toStreamError(error: Error | null, streamId: number, message: string): KubemuxError {
  if (error instanceof KubemuxError) return error;
  // The application destroyed the stream: we ended it.
  return new KubemuxError(ErrorCode.STREAM_RESET, 'stream', error === null ? message : `${message}: ${error.message}`, {
    streamId,
    origin: 'local',
    cause: error ?? undefined,
  });
}
