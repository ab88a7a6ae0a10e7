/**
 * One SPDY/3.1 flow-control window, as a small value type (after hyperium/h2's `FlowControl`,
 * src/proto/streams/flow_control.rs). A session holds one per direction for itself and one per
 * direction per stream; all four kinds use this type.
 *
 * Send side (what we may still send):
 *   debit(n)   we sent n bytes of DATA
 *   credit(n)  the peer's WINDOW_UPDATE gave n bytes back (past 2^31-1: overflow)
 *   shift(d)   the peer's SETTINGS moved the initial window by d (may go negative; SPDY allows it)
 *
 * Receive side (what the peer may still send):
 *   consume(n)    n bytes of DATA arrived (past the window: underflow, the peer broke the rules)
 *   release(n)    the reader took n bytes; they are owed back to the peer
 *   takeUpdate(t) once at least t bytes are owed: the WINDOW_UPDATE delta, and the window grows
 *
 * A window of Infinity is never enforced (a stream that existed before we announced our windows,
 * the session's receive side, which the stream windows bound).
 *
 * Overflow and underflow throw a {@link KubemuxError} ERR_FLOW_CONTROL with the scope and subject
 * given at construction, and leave the window unchanged; the caller decides what to reset.
 */
import { ErrorCode, KubemuxError, type ErrorScope } from '../errors.js';

/** The largest window SPDY/3.1 allows: 2^31-1 bytes. */
export const MAX_WINDOW_BYTES = 2 ** 31 - 1;

/** What a window belongs to, for its errors: the scope and the words that name it. */
export interface FlowControlSubject {
  readonly scope: ErrorScope;
  /** E.g. `'stream 3'` or `'the session'`. */
  readonly name: string;
  readonly streamId?: number;
}

/** One flow-control window (see the file comment). */
export class FlowControl {
  readonly #subject: FlowControlSubject;
  #window: number;
  /** Released by the reader, not yet given back to the peer. */
  #owed = 0;

  constructor(initialBytes: number, subject: FlowControlSubject) {
    this.#window = initialBytes;
    this.#subject = subject;
  }

  /** Bytes that may still be sent (send side) or received (receive side); may be negative after a shift. */
  get window(): number {
    return this.#window;
  }

  /** Bytes released and not yet returned by {@link takeUpdate}. */
  get owedBytes(): number {
    return this.#owed;
  }

  /** Send side: we sent `bytes`. Underflow (more than the window) is our own bug, and throws. */
  debit(bytes: number): void {
    if (bytes > this.#window) throw this.#error(`sending ${bytes} bytes would exceed the send window of ${this.#subject.name} (${this.#window})`);
    this.#window -= bytes;
  }

  /** Send side: the peer gave `bytes` back. Overflow past 2^31-1 throws. */
  credit(bytes: number): void {
    if (this.#window + bytes > MAX_WINDOW_BYTES) throw this.#error(`the peer grew the send window of ${this.#subject.name} past 2^31-1`);
    this.#window += bytes;
  }

  /** Send side: a new initial window moved this one by `delta` (unchecked, as SPDY/3.1 section 2.6.8 has it). */
  shift(delta: number): void {
    this.#window += delta;
  }

  /** Receive side: `bytes` of DATA arrived. Underflow (past the window) throws. */
  consume(bytes: number): void {
    if (bytes > this.#window) throw this.#error(`peer sent past the receive window of ${this.#subject.name}`);
    this.#window -= bytes;
  }

  /** Receive side: the reader took `bytes`; they are owed back to the peer. */
  release(bytes: number): void {
    if (bytes > 0) this.#owed += bytes;
  }

  /**
   * Receive side: once at least `thresholdBytes` are owed (and at least one), returns them as the
   * delta of a WINDOW_UPDATE to send, and grows the window by as much; otherwise 0.
   */
  takeUpdate(thresholdBytes: number): number {
    const owed = this.#owed;
    if (owed <= 0 || owed < thresholdBytes) return 0;
    this.#owed = 0;
    this.#window += owed;
    return owed;
  }

  #error(message: string): KubemuxError {
    const { scope, streamId } = this.#subject;
    return new KubemuxError(ErrorCode.FLOW_CONTROL, scope, message, streamId === undefined ? {} : { streamId });
  }
}
