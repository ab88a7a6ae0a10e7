/**
 * A transport wrapper through which faults reach an upgraded connection:
 *
 * - blackhole: while closed, nothing it receives is delivered and nothing written to it is sent,
 *   so the peer sees a half-open connection that neither answers pings nor moves data: the
 *   failure kubemux's liveness checks exist for;
 * - delay: every byte is held for a while each way, in order, so the peer sees a slow but healthy
 *   link (pings are answered late, data flows).
 *
 * It sits between the raw socket and the session because the session pauses and resumes its
 * transport for its own backpressure, which would otherwise undo a blackhole.
 */
import { Duplex } from 'node:stream';
import { ReadableFeeder } from '../../util/readable-feeder.js';

/**
 * Bytes a delay holds per direction before it pushes back (the socket is paused, or writes wait):
 * the most a delayed link carries per delay, so 1 MiB at 100 ms is about 10 MiB/s.
 */
export const DELAY_LINE_BYTES = 1024 * 1024;

type WriteCallback = (error?: Error | null) => void;

/** One delayed chunk, or the end of the stream (`'end'`), or the closing of the connection (`'close'`). */
interface Delayed {
  readonly chunk: Buffer | 'end' | 'close';
  due: number;
  readonly callback?: WriteCallback;
}

function sizeOf(item: Delayed): number {
  return typeof item.chunk === 'string' ? 0 : item.chunk.length;
}

/**
 * Chunks held until their due time, then handed to `deliver` in order. `deliver` returns false
 * when its sink is full; nothing more is delivered until {@link unblock}. `canDeliver` gates
 * delivery as a whole (a blackhole). `relieved` is called whenever the bytes held drop to
 * {@link DELAY_LINE_BYTES} or below, so the source can be let go again.
 */
class DelayLine {
  readonly #queue: Delayed[] = [];
  readonly #deliver: (item: Delayed) => boolean;
  readonly #canDeliver: () => boolean;
  readonly #relieved: () => void;
  #bytes = 0;
  #blocked = false;
  #timer: NodeJS.Timeout | undefined;

  constructor(deliver: (item: Delayed) => boolean, canDeliver: () => boolean, relieved: () => void) {
    this.#deliver = deliver;
    this.#canDeliver = canDeliver;
    this.#relieved = relieved;
  }

  /** Nothing is held. */
  get empty(): boolean {
    return this.#queue.length === 0;
  }

  /** True while more than {@link DELAY_LINE_BYTES} are held. */
  get full(): boolean {
    return this.#bytes > DELAY_LINE_BYTES;
  }

  /** Holds `chunk` for `delayMs`, but never past a chunk added before it: order is kept. */
  add(chunk: Delayed['chunk'], delayMs: number, callback?: WriteCallback): void {
    const last = this.#queue[this.#queue.length - 1];
    const due = Math.max(performance.now() + delayMs, last?.due ?? 0);
    const item: Delayed = callback === undefined ? { chunk, due } : { chunk, due, callback };
    this.#queue.push(item);
    this.#bytes += sizeOf(item);
    this.pump();
  }

  /**
   * A new delay: nothing held waits longer than `delayMs` from now (so 0 lets everything go at
   * once). Due times stay in order, since they were and the same bound applies to all.
   */
  retime(delayMs: number): void {
    const latest = performance.now() + delayMs;
    for (const item of this.#queue) item.due = Math.min(item.due, latest);
    this.pump();
  }

  /** The sink has room again. */
  unblock(): void {
    this.#blocked = false;
    this.pump();
  }

  /** Delivers every chunk that is due, while the sink takes them; waits for the next one. */
  pump(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    while (this.#queue.length > 0 && !this.#blocked && this.#canDeliver()) {
      const head = this.#queue[0]!;
      const wait = head.due - performance.now();
      if (wait > 0) {
        this.#timer = setTimeout(() => this.pump(), Math.max(1, Math.ceil(wait)));
        this.#timer.unref();
        break;
      }
      this.#queue.shift();
      this.#bytes -= sizeOf(head);
      if (!this.#deliver(head)) this.#blocked = true;
    }
    if (!this.full) this.#relieved();
  }

  /** Drops everything held (the connection is gone) and returns it, for its callbacks. */
  drop(): Delayed[] {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#bytes = 0;
    return this.#queue.splice(0);
  }
}

/** Wraps a socket so that faults can stop or slow its traffic both ways, and later let it flow again. */
export class FaultGate extends Duplex {
  readonly #inner: Duplex;
  #blackholed = false;
  #wantsData = true;
  #delayMs = 0;
  #endPushed = false;
  #heldWrites: Array<{ chunk: Buffer; callback: WriteCallback }> = [];
  /** Writes accepted into a full outbound delay line: their callbacks wait for room. */
  #writesWaiting: WriteCallback[] = [];

  /** Received bytes on their way to this stream's readers. */
  readonly #inbound = new DelayLine(
    (item) => {
      if (item.chunk === 'end') {
        this.#endPushed = true;
        this.#feeder.flush();
        this.push(null);
        return true;
      }
      if (item.chunk === 'close') {
        // After the end we pushed has reached the reader: destroying first would swallow it.
        if (this.readableEnded || !this.#endPushed) this.destroy();
        else this.once('end', () => this.destroy());
        return false;
      }
      // Through the feeder, as undelayed chunks: one order, one memory bound.
      if (this.#feeder.push(item.chunk)) return true;
      this.#wantsData = false;
      return false;
    },
    () => !this.#blackholed,
    () => this.#resumeInner(),
  );

  /** Written bytes on their way to the socket. */
  readonly #outbound = new DelayLine(
    (item) => {
      if (item.chunk === 'end') {
        this.#inner.end(item.callback);
        return true;
      }
      // Only the inbound line carries 'close'.
      return item.chunk === 'close' || this.#inner.write(item.chunk);
    },
    () => !this.#blackholed,
    () => {
      const waiting = this.#writesWaiting;
      this.#writesWaiting = [];
      for (const callback of waiting) callback();
    },
  );
  // A client trickling bytes a TCP segment at a time must not cost an object per segment here.
  readonly #feeder = new ReadableFeeder(this);

  constructor(inner: Duplex) {
    super({ allowHalfOpen: true });
    this.#inner = inner;
    inner.on('data', (chunk: Buffer) => {
      if (this.#delayMs > 0 || !this.#inbound.empty) {
        this.#inbound.add(chunk, this.#delayMs);
        if (this.#inbound.full) inner.pause();
        return;
      }
      if (!this.#feeder.push(chunk)) {
        this.#wantsData = false;
        inner.pause();
      }
    });
    inner.on('end', () => {
      if (this.#delayMs > 0 || !this.#inbound.empty) this.#inbound.add('end', this.#delayMs);
      else {
        this.#feeder.flush();
        this.push(null);
      }
    });
    inner.on('drain', () => this.#outbound.unblock());
    inner.on('error', (error) => this.destroy(error));
    // Bytes still held arrive before the connection is seen to close, as on a slow link.
    inner.on('close', () => {
      if (this.#inbound.empty) this.destroy();
      else this.#inbound.add('close', this.#delayMs);
    });
  }

  /** True while the connection is blackholed. */
  get blackholed(): boolean {
    return this.#blackholed;
  }

  /** The delay in force each way, ms (0: none). */
  get delayMs(): number {
    return this.#delayMs;
  }

  /** Stops all traffic both ways (received bytes stay in the kernel; written bytes are held). */
  blackhole(): void {
    this.#blackholed = true;
    this.#inner.pause();
  }

  /**
   * Holds every byte received or written for `ms` from now on (0: no delay; what is held goes on
   * at once, or after `ms` at the latest). Order is kept both ways, and so is backpressure: past
   * {@link DELAY_LINE_BYTES} held, the socket is paused or writes wait.
   */
  delay(ms: number): void {
    this.#delayMs = ms;
    this.#inbound.retime(ms);
    this.#outbound.retime(ms);
  }

  /** Lets traffic flow again, sending what was held. */
  restore(): void {
    if (!this.#blackholed) return;
    this.#blackholed = false;
    const held = this.#heldWrites;
    this.#heldWrites = [];
    this.#outbound.pump();
    for (const { chunk, callback } of held) this.#send(chunk, callback);
    this.#inbound.pump();
    this.#resumeInner();
  }

  override _read(): void {
    this.#feeder.read();
    this.#wantsData = true;
    this.#inbound.unblock();
    this.#resumeInner();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: WriteCallback): void {
    if (this.#blackholed) {
      this.#heldWrites.push({ chunk, callback });
      return;
    }
    this.#send(chunk, callback);
  }

  override _final(callback: WriteCallback): void {
    if (this.#delayMs > 0 || !this.#outbound.empty) this.#outbound.add('end', this.#delayMs, callback);
    else this.#inner.end(callback);
  }

  override _destroy(error: Error | null, callback: WriteCallback): void {
    const gone = (): Error => error ?? new Error('connection closed');
    for (const { callback: held } of this.#heldWrites) held(gone());
    this.#heldWrites = [];
    for (const waiting of this.#writesWaiting) waiting(gone());
    this.#writesWaiting = [];
    this.#inbound.drop();
    for (const item of this.#outbound.drop()) item.callback?.(gone());
    this.#inner.destroy();
    callback(error);
  }

  /** Writes `chunk` now, or through the delay line when a delay is in force (or still draining). */
  #send(chunk: Buffer, callback: WriteCallback): void {
    if (this.#delayMs === 0 && this.#outbound.empty) {
      this.#inner.write(chunk, callback);
      return;
    }
    this.#outbound.add(chunk, this.#delayMs);
    // The chunk is ours now: the writer may go on until the line is full.
    if (this.#outbound.full) this.#writesWaiting.push(callback);
    else callback();
  }

  /** Reads the socket again, unless a blackhole, a full reader or a full delay line says no. */
  #resumeInner(): void {
    if (!this.#blackholed && this.#wantsData && !this.#inbound.full) this.#inner.resume();
  }
}
