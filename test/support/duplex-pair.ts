/**
 * An in-memory pair of connected Duplex streams (Node 20 has no stream.duplexPair). What one
 * side writes, the other reads; a write completes only when the reader has room, so
 * backpressure behaves as on a socket. `end()` on one side ends the other's readable side.
 */
import { Duplex } from 'node:stream';

class PairEnd extends Duplex {
  peer!: PairEnd;
  #waiting: (() => void) | undefined;

  constructor() {
    super({ allowHalfOpen: true });
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    if (this.peer.destroyed) return callback(new Error('peer destroyed'));
    if (this.peer.push(chunk)) callback();
    else this.peer.#waiting = () => callback();
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.peer.push(null);
    callback();
  }

  override _read(): void {
    const waiting = this.#waiting;
    this.#waiting = undefined;
    waiting?.();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    const waiting = this.#waiting;
    this.#waiting = undefined;
    waiting?.();
    // A destroyed end looks like a reset connection to its peer.
    if (!this.peer.destroyed) this.peer.destroy();
    callback(error);
  }
}

/** Two connected in-memory Duplex ends. */
export function duplexPair(): [Duplex, Duplex] {
  const a = new PairEnd();
  const b = new PairEnd();
  a.peer = b;
  b.peer = a;
  return [a, b];
}
