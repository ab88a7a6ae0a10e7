/**
 * The byte splice: two Duplexes joined so that what one reads the other writes, both ways, until
 * both directions have ended or something breaks. The port-forward endpoint (a stream pair and a
 * pod socket) and the forwarder (a local socket and a stream pair) both run on it.
 *
 *   a 'data'  ─▶ b.write()   a is paused while b's write buffer is over its high-water mark,
 *   b 'data'  ─▶ a.write()   and resumed on b's 'drain' (and the other way round): at most one
 *                            chunk past the mark is ever held, whatever the peers do
 *   a 'end'   ─▶ b.end()     half-close: the other direction goes on
 *   b 'end'   ─▶ a.end()
 *
 * How it ends (one state, settled once):
 *
 *   copying ──both directions ended and flushed ('end' seen, 'finish' seen, each way)──▶ done
 *      └──── 'error' on either side, or a side closes before both its directions ended ──▶ reset
 *
 * On `reset` both sides are torn down at once: a reset on one side resets the other. A TCP socket
 * is reset (RST, `socket.resetAndDestroy()`), not closed with a FIN, so that its peer cannot take
 * a cut transfer for a complete one; `resetTcp: false` closes it instead (what a container runtime
 * does to the pod connection). On `done` nothing is destroyed: both sides ended both ways; a
 * net.Socket then closes itself, and a stream that its owner must release (a port-forward pair's
 * `data`) is the caller's to destroy.
 */
import type { Duplex } from 'node:stream';

/** A direction of a splice: from `a` to `b`, or from `b` to `a`. */
export type SpliceDirection = 'aToB' | 'bToA';

/** Options of {@link splice}. */
export interface SpliceOptions {
  /**
   * Called with each chunk's direction and length as it is handed to the other side, for live
   * counters. Runs on the copy path: keep it cheap, and never throw.
   */
  readonly onChunk?: (direction: SpliceDirection, bytes: number) => void;
  /**
   * Whether a TCP socket is reset (RST) when the splice ends with a failure. Default true. False
   * destroys it like any stream, which sends a FIN when its receive buffer is empty.
   */
  readonly resetTcp?: boolean;
}

/** How a splice ended. */
export interface SpliceResult {
  /**
   * `'done'`: each side's end reached the other and was flushed. `'reset'`: a side failed or
   * closed first, and both were torn down.
   */
  readonly outcome: 'done' | 'reset';
  /** The side whose failure or early close ended the splice; absent for `'done'`. */
  readonly endedBy?: 'a' | 'b';
  /** The error that side emitted; absent for `'done'` and for a side that closed without one. */
  readonly error?: Error;
  /** Bytes copied from `a` to `b`. */
  readonly bytesAToB: number;
  /** Bytes copied from `b` to `a`. */
  readonly bytesBToA: number;
}

/**
 * Joins `a` and `b` (see the file comment) and resolves once with how it ended; never rejects.
 * Both should allow half-open operation (`allowHalfOpen: true`), or an end in one direction ends
 * the other too. Throws a TypeError (a programming error) when a stream is already in a splice
 * that has not settled, or when `a` is `b`.
 */
export function splice(a: Duplex, b: Duplex, options: SpliceOptions = {}): Promise<SpliceResult> {
  if (a === b) throw new TypeError('cannot splice a stream to itself');
  if ((a as Spliced)[SPLICE] !== undefined || (b as Spliced)[SPLICE] !== undefined) throw new TypeError('a stream can be in one splice at a time');
  return new Promise((resolve) => new Splice(a as Spliced, b as Spliced, options, resolve).start());
}

/**
 * Tears `stream` down at once: a TCP socket with a reset (RST), anything else with `destroy()`.
 * Does nothing to a stream already destroyed.
 */
export function resetStream(stream: Duplex): void {
  if (stream.destroyed) return;
  const socket = stream as Duplex & { resetAndDestroy?: () => unknown };
  if (typeof socket.resetAndDestroy === 'function') {
    try {
      socket.resetAndDestroy();
      return;
    } catch {
      // Not a TCP handle (a pipe, a TLS socket): there is no RST to send.
    }
  }
  stream.destroy();
}

const SPLICE = Symbol('kubemux.splice');

/** A stream while it is in a splice: the splice is reachable from the stream. */
type Spliced = Duplex & { [SPLICE]?: Splice | undefined };

type SpliceState = 'copying' | 'done' | 'reset';

/** One splice's state; see the file comment. */
class Splice {
  readonly a: Spliced;
  readonly b: Spliced;
  readonly #onChunk: ((direction: SpliceDirection, bytes: number) => void) | undefined;
  readonly #resetTcp: boolean;
  readonly #resolve: (result: SpliceResult) => void;
  #state: SpliceState = 'copying';
  #bytesAToB = 0;
  #bytesBToA = 0;

  constructor(a: Spliced, b: Spliced, options: SpliceOptions, resolve: (result: SpliceResult) => void) {
    this.a = a;
    this.b = b;
    this.#onChunk = options.onChunk;
    this.#resetTcp = options.resetTcp ?? true;
    this.#resolve = resolve;
  }

  start(): void {
    const { a, b } = this;
    // Listeners first, so that an error still to be emitted by a stream destroyed before the
    // splice finds one.
    for (const side of [a, b]) {
      side[SPLICE] = this;
      side.on('error', onError);
      side.on('close', onClose);
      side.on('end', onEnd);
      side.on('finish', onFinish);
      side.on('drain', onDrain);
    }
    const destroyed = a.destroyed ? a : b.destroyed ? b : undefined;
    if (destroyed !== undefined) {
      this.#fail(destroyed, destroyed.errored ?? undefined);
      return;
    }
    // An end that happened before the splice (nothing more to read) is passed on as well.
    if (a.readableEnded) this.ended(a);
    if (b.readableEnded) this.ended(b);
    if (this.#state !== 'copying') return;
    // Last, the flow starts. resume() too: a stream paused before (a socket accepted with
    // pauseOnConnect) does not start flowing when a 'data' listener is added.
    a.on('data', onData);
    b.on('data', onData);
    a.resume();
    b.resume();
  }

  other(side: Spliced): Spliced {
    return side === this.a ? this.b : this.a;
  }

  copy(from: Spliced, chunk: Buffer): void {
    if (this.#state !== 'copying') return;
    const direction: SpliceDirection = from === this.a ? 'aToB' : 'bToA';
    if (direction === 'aToB') this.#bytesAToB += chunk.length;
    else this.#bytesBToA += chunk.length;
    this.#onChunk?.(direction, chunk.length);
    if (!this.other(from).write(chunk)) from.pause();
  }

  drained(side: Spliced): void {
    if (this.#state === 'copying') this.other(side).resume();
  }

  ended(side: Spliced): void {
    if (this.#state !== 'copying') return;
    const other = this.other(side);
    if (!other.writableEnded) other.end();
    this.#doneIfFlushed();
  }

  finished(): void {
    if (this.#state === 'copying') this.#doneIfFlushed();
  }

  failed(side: Spliced, error: Error): void {
    this.#fail(side, error);
  }

  closed(side: Spliced): void {
    if (this.#state !== 'copying') return;
    // A stream destroys itself once it has ended both ways (autoDestroy): not a failure, as long
    // as what it still had to deliver to the other side is delivered.
    if (side.readableEnded && side.writableFinished) {
      this.#doneIfFlushed();
      return;
    }
    this.#fail(side, side.errored ?? undefined);
  }

  #doneIfFlushed(): void {
    const { a, b } = this;
    if (!(a.readableEnded && b.readableEnded && a.writableFinished && b.writableFinished)) return;
    this.#settle('done');
    this.#resolve({ outcome: 'done', bytesAToB: this.#bytesAToB, bytesBToA: this.#bytesBToA });
  }

  #fail(side: Spliced, error: Error | undefined): void {
    if (this.#state !== 'copying') return;
    this.#settle('reset');
    const other = this.other(side);
    // The other side first: it is the one still running.
    this.#tearDown(other);
    this.#tearDown(side);
    this.#resolve({
      outcome: 'reset',
      endedBy: side === this.a ? 'a' : 'b',
      ...(error === undefined ? {} : { error }),
      bytesAToB: this.#bytesAToB,
      bytesBToA: this.#bytesBToA,
    });
  }

  #tearDown(side: Spliced): void {
    if (this.#resetTcp) resetStream(side);
    else side.destroy();
  }

  #settle(state: 'done' | 'reset'): void {
    this.#state = state;
    // The listeners stay (a late 'error' must still find one) but no longer reach this splice,
    // so the streams hold nothing of it once it has settled.
    this.a[SPLICE] = undefined;
    this.b[SPLICE] = undefined;
  }
}

// The listeners are shared by every splice and find theirs through the stream that emitted
// (`this`), so that a splice costs one small object rather than a dozen closures: the forwarder
// keeps thousands of idle spliced connections.
function onData(this: Spliced, chunk: Buffer): void {
  this[SPLICE]?.copy(this, chunk);
}
function onDrain(this: Spliced): void {
  this[SPLICE]?.drained(this);
}
function onEnd(this: Spliced): void {
  this[SPLICE]?.ended(this);
}
function onFinish(this: Spliced): void {
  this[SPLICE]?.finished();
}
function onError(this: Spliced, error: Error): void {
  this[SPLICE]?.failed(this, error);
}
function onClose(this: Spliced): void {
  this[SPLICE]?.closed(this);
}
