/**
 * Receive accounting of a session: what the peer sent that readers have not taken yet, the
 * receive windows we return to a peer that uses flow control, and the pause of the transport.
 *
 * - Memory is bounded without the peer's help: past a stream's receive buffer
 *   (streamReceiveBufferBytes) or the session's (sessionReceiveBufferBytes) the transport is
 *   paused, and while readers (not the peer) keep it paused for receiveStallTimeoutMs the streams
 *   holding the most are reset (the session's `stalled` hook), so one unread stream cannot stall
 *   the others for ever. The session also pauses while its replies are backlogged (write-pump.ts).
 * - Windows are returned in halves, which keeps WINDOW_UPDATEs rare and cannot deadlock: a peer
 *   that is out of window has sent a full window, so the reader's progress crosses the half mark.
 * - Before we announce our windows the peer sends without counting (it adopts flow control only
 *   when it reads them), so a stream that exists by then can legitimately carry more than any
 *   window we could later hold it to: its receive window is Infinity, never enforced.
 */
import type { Duplex } from 'node:stream';
import { FlowControl } from './flow-control.js';
import type { SpdyStream } from './spdy-stream.js';

/** What the receive side tells its session. */
export interface ReceiveBufferHooks {
  /** Return `deltaBytes` of window to the peer (streamId 0: the session's). */
  readonly sendWindowUpdate: (streamId: number, deltaBytes: number) => void;
  /** True while the session must not read for another reason (replies backlogged). */
  readonly backlogged: () => boolean;
  /** A stream kept the transport paused past receiveStallTimeoutMs: reset it. */
  readonly stalled: (stream: SpdyStream) => void;
}

/** The receive bounds (from the session's options). */
export interface ReceiveBufferLimits {
  readonly streamReceiveBufferBytes: number;
  readonly sessionReceiveBufferBytes: number;
  readonly receiveStallTimeoutMs: number;
}

/** One stream's receive accounting while it is in the session's table. */
interface Ledger {
  /** What the peer may still send on the stream. */
  readonly window: FlowControl;
  /** Unread bytes last counted into the session's total. */
  accountedUnread: number;
  /** Bytes the reader has taken, as last counted (and returned to the session window). */
  consumed: number;
}

/** The receive side of one session (see the file comment). */
export class ReceiveBuffer {
  readonly #transport: Duplex;
  readonly #limits: ReceiveBufferLimits;
  readonly #hooks: ReceiveBufferHooks;
  readonly #streams: ReadonlyMap<number, SpdyStream>;
  readonly #ledgers = new Map<SpdyStream, Ledger>();
  /** The session's own receive window: not enforced (the stream windows bound the peer), only returned. */
  readonly #sessionWindow = new FlowControl(Infinity, { scope: 'session', name: 'the session' });
  readonly #overfull = new Set<SpdyStream>();
  #unreadBytes = 0;
  #paused = false;
  #advertised = false;
  #stopped = false;
  #stallTimer: NodeJS.Timeout | undefined;

  /** `streams` is the session's table (read for stalled streams, never written). */
  constructor(transport: Duplex, streams: ReadonlyMap<number, SpdyStream>, limits: ReceiveBufferLimits, hooks: ReceiveBufferHooks) {
    this.#transport = transport;
    this.#streams = streams;
    this.#limits = limits;
    this.#hooks = hooks;
  }

  /** Bytes received but not yet read, over all streams. */
  get unreadBytes(): number {
    return this.#unreadBytes;
  }

  /** True while the transport is paused. */
  get paused(): boolean {
    return this.#paused;
  }

  /** True once our windows were announced (from then on they are enforced and returned). */
  get advertised(): boolean {
    return this.#advertised;
  }

  /** Marks our windows announced; false if they already were. */
  advertise(): boolean {
    if (this.#advertised) return false;
    this.#advertised = true;
    return true;
  }

  /** Starts accounting for a new stream. */
  track(stream: SpdyStream): void {
    const window = new FlowControl(this.#advertised ? this.#limits.streamReceiveBufferBytes : Infinity, {
      scope: 'stream',
      name: `stream ${stream.id}`,
      streamId: stream.id,
    });
    this.#ledgers.set(stream, { window, accountedUnread: 0, consumed: 0 });
  }

  /** `bytes` of DATA arrived on `stream` from a peer that uses flow control; throws ERR_FLOW_CONTROL past its window. */
  consume(stream: SpdyStream, bytes: number): void {
    this.#ledgers.get(stream)?.window.consume(bytes);
  }

  /** Re-counts a stream's unread bytes after a delivery or a read, and pauses or resumes reading. */
  account(stream: SpdyStream): void {
    const ledger = this.#ledgers.get(stream);
    if (ledger === undefined) {
      // Retired: its bytes are its reader's now, no longer the session's.
      this.#overfull.delete(stream);
      this.updatePause();
      return;
    }
    const unread = stream.destroyed ? 0 : stream.unreadBytes;
    this.#unreadBytes += unread - ledger.accountedUnread;
    ledger.accountedUnread = unread;
    if (unread >= this.#limits.streamReceiveBufferBytes) this.#overfull.add(stream);
    else this.#overfull.delete(stream);

    const consumed = stream.receivedBytes - unread;
    // The session window follows what readers take, whatever the stream thresholds below: if it
    // were returned only with stream credits, many streams each just under their threshold could
    // hold the whole session window and every sender would wait for ever.
    this.credit(consumed - ledger.consumed);
    ledger.window.release(consumed - ledger.consumed);
    ledger.consumed = consumed;
    if (this.#advertised) {
      const delta = ledger.window.takeUpdate(this.#limits.streamReceiveBufferBytes / 2);
      if (delta > 0) this.#hooks.sendWindowUpdate(stream.id, delta);
    }
    this.updatePause();
  }

  /** Returns `bytes` to the session window (bytes read, or DATA dropped for a finished stream). */
  credit(bytes: number): void {
    if (!this.#advertised || bytes <= 0) return;
    this.#sessionWindow.release(bytes);
    const delta = this.#sessionWindow.takeUpdate(this.#limits.sessionReceiveBufferBytes / 2);
    if (delta > 0) this.#hooks.sendWindowUpdate(0, delta);
  }

  /** The stream left the table: what it still holds is no longer the session's (call updatePause after). */
  retire(stream: SpdyStream): void {
    const ledger = this.#ledgers.get(stream);
    if (ledger === undefined) return;
    this.#ledgers.delete(stream);
    this.#overfull.delete(stream);
    this.#unreadBytes -= ledger.accountedUnread;
    this.credit(stream.receivedBytes - ledger.consumed);
  }

  /** Pauses or resumes reading the transport: while readers are behind, or while replies are backlogged. */
  updatePause(): void {
    if (this.#stopped) return;
    const buffersFull = this.#overfull.size > 0 || this.#unreadBytes > this.#limits.sessionReceiveBufferBytes;
    const shouldPause = buffersFull || this.#hooks.backlogged();
    if (shouldPause !== this.#paused) {
      this.#paused = shouldPause;
      if (shouldPause) this.#transport.pause();
      else this.#transport.resume();
    }
    // The stall deadline runs while readers (not the peer) keep the transport paused.
    if (buffersFull && this.#stallTimer === undefined && this.#limits.receiveStallTimeoutMs > 0) {
      this.#stallTimer = setTimeout(() => this.#resetStalledStreams(), this.#limits.receiveStallTimeoutMs);
      this.#stallTimer.unref();
    } else if (!buffersFull && this.#stallTimer !== undefined) {
      clearTimeout(this.#stallTimer);
      this.#stallTimer = undefined;
    }
  }

  /** The session closed: no more pausing, resuming or deadlines. */
  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#stallTimer);
    this.#stallTimer = undefined;
  }

  #resetStalledStreams(): void {
    this.#stallTimer = undefined;
    // The readers holding the most unread bytes are the ones keeping everybody waiting.
    const stalled = this.#overfull.size > 0 ? [...this.#overfull] : [...this.#streams.values()].filter((s) => s.unreadBytes > 0);
    for (const stream of stalled) this.#hooks.stalled(stream);
    this.updatePause();
  }
}
