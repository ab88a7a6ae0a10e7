/**
 * The send side of a session's DATA: each stream's pending write, cut into frames of at most
 * maxDataFrameBytes and, once the peer has shown it uses flow control, held to the peer's windows
 * (the stream's and the session's, each a {@link FlowControl}).
 *
 * Writers waiting for window are kept by whose window they wait for: a WINDOW_UPDATE for one
 * stream, or for the session, then touches only the writers it can move (one frame, bounded work).
 * A write is finished (its callback called) once all of it is handed to the write pump and the
 * transport takes more.
 *
 * Each stream's window and waiting write live on the stream (`sendWindow`, `pendingWrite`,
 * internal fields only this file writes), so a frame touches one stream without a lookup.
 */
import { DEFAULT_INITIAL_WINDOW_BYTES } from '../spdy/index.js';
import { FlowControl } from './flow-control.js';
import type { SpdyStream } from './spdy-stream.js';
import type { WritePump } from './write-pump.js';

/** A write waiting for send window (kept on its stream, `stream.pendingWrite`). */
export interface PendingWrite {
  readonly chunk: Buffer;
  offset: number;
  readonly callback: (error?: Error | null) => void;
  /** A pump loop is running for it (see #send). */
  pumping: boolean;
}

/** The DATA send side of one session (see the file comment). */
export class DataSender {
  readonly #pump: WritePump;
  readonly #maxFrameBytes: number;
  #peerFlowControl = false;
  #peerInitialWindow = DEFAULT_INITIAL_WINDOW_BYTES;
  readonly #sessionWindow = new FlowControl(DEFAULT_INITIAL_WINDOW_BYTES, { scope: 'session', name: 'the session' });
  /** The streams in the session's table (their windows shift with a new initial window). */
  readonly #streams = new Set<SpdyStream>();
  readonly #blockedOnStream = new Set<SpdyStream>();
  readonly #blockedOnSession = new Set<SpdyStream>();

  constructor(pump: WritePump, maxFrameBytes: number) {
    this.#pump = pump;
    this.#maxFrameBytes = maxFrameBytes;
  }

  /** True once the peer has shown it uses SPDY/3.1 flow control. */
  get peerFlowControl(): boolean {
    return this.#peerFlowControl;
  }

  /** The peer uses flow control from now on; false if it already did. */
  enable(): boolean {
    if (this.#peerFlowControl) return false;
    this.#peerFlowControl = true;
    return true;
  }

  /** Starts a new stream's send window at the peer's initial window. */
  track(stream: SpdyStream): void {
    stream.sendWindow = new FlowControl(this.#peerInitialWindow, { scope: 'stream', name: `stream ${stream.id}`, streamId: stream.id });
    this.#streams.add(stream);
  }

  /** Sends `chunk` on `stream` as the windows allow; `callback` once it is all handed on. */
  write(stream: SpdyStream, chunk: Buffer, callback: (error?: Error | null) => void): void {
    stream.pendingWrite = { chunk, offset: 0, callback, pumping: false };
    this.#send(stream);
  }

  /** The peer's SETTINGS set a new initial window: SPDY/3.1 shifts the send window of every open stream. */
  setInitialWindow(bytes: number): void {
    const delta = bytes - this.#peerInitialWindow;
    if (delta === 0) return;
    this.#peerInitialWindow = bytes;
    for (const stream of this.#streams) stream.sendWindow?.shift(delta);
    if (delta > 0) {
      for (const stream of [...this.#blockedOnStream]) {
        this.#blockedOnStream.delete(stream);
        this.#send(stream);
      }
    }
  }

  /** The peer's WINDOW_UPDATE for the session; throws ERR_FLOW_CONTROL (session) past 2^31-1. */
  creditSession(bytes: number): void {
    this.#sessionWindow.credit(bytes);
    // Only as many writers as the new window can move: each one either sends, finishes, or turns
    // out to wait for its own stream window. A 1-byte update moves one writer, not all.
    while (this.#sessionWindow.window > 0 && this.#blockedOnSession.size > 0) {
      const stream = this.#blockedOnSession.values().next().value as SpdyStream;
      this.#blockedOnSession.delete(stream);
      this.#send(stream);
    }
  }

  /** The peer's WINDOW_UPDATE for `stream`; throws ERR_FLOW_CONTROL (stream) past 2^31-1. */
  creditStream(stream: SpdyStream, bytes: number): void {
    const window = stream.sendWindow;
    if (window === undefined) return;
    window.credit(bytes);
    if (stream.pendingWrite !== undefined) {
      this.#blockedOnStream.delete(stream);
      this.#send(stream);
    }
  }

  /** The stream left the table: returns the callback of its unfinished write, if any, for the caller to fail. */
  forget(stream: SpdyStream): ((error: Error) => void) | undefined {
    this.#streams.delete(stream);
    this.#blockedOnStream.delete(stream);
    this.#blockedOnSession.delete(stream);
    const pending = stream.pendingWrite;
    stream.pendingWrite = undefined;
    return pending?.callback;
  }

  /** Sends as much of the stream's pending write as the windows allow; finishes it when done. */
  #send(stream: SpdyStream): void {
    const pending = stream.pendingWrite;
    const window = stream.sendWindow;
    // A transport that delivers synchronously can bring a WINDOW_UPDATE (and so a nested call)
    // while this loop is still writing; the outer loop sees the new window on its next turn.
    if (pending === undefined || window === undefined || pending.pumping) return;
    pending.pumping = true;
    const { chunk } = pending;
    while (pending.offset < chunk.length) {
      let size = Math.min(this.#maxFrameBytes, chunk.length - pending.offset);
      if (this.#peerFlowControl) size = Math.min(size, window.window, this.#sessionWindow.window);
      if (size <= 0) {
        pending.pumping = false;
        if (window.window <= 0) this.#blockedOnStream.add(stream);
        else this.#blockedOnSession.add(stream);
        return;
      }
      const payload = pending.offset === 0 && size === chunk.length ? chunk : chunk.subarray(pending.offset, pending.offset + size);
      pending.offset += size;
      if (this.#peerFlowControl) {
        window.debit(size);
        this.#sessionWindow.debit(size);
      }
      this.#pump.sendData(stream.id, 0, payload);
      // Sending can close the session or the stream (a synchronous transport again).
      if (stream.pendingWrite !== pending) return;
    }
    stream.pendingWrite = undefined;
    this.#blockedOnStream.delete(stream);
    this.#blockedOnSession.delete(stream);
    this.#pump.whenWritable(pending.callback);
  }
}
