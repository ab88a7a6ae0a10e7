/**
 * A transport wrapper that can "blackhole" a connection: while closed, nothing it receives is
 * delivered and nothing written to it is sent, so the peer sees a half-open connection that
 * neither answers pings nor moves data: the failure kubemux's liveness checks exist for.
 *
 * It sits between the raw socket and the session because the session pauses and resumes its
 * transport for its own backpressure, which would otherwise undo a blackhole.
 */
import { Duplex } from 'node:stream';
import { ReadableFeeder } from '../../util/readable-feeder.js';

/** Wraps a socket so that a fault can stop all traffic both ways and later let it flow again. */
export class FaultGate extends Duplex {
  readonly #inner: Duplex;
  #blackholed = false;
  #wantsData = true;
  #heldWrites: Array<{ chunk: Buffer; callback: (error?: Error | null) => void }> = [];
  // A client trickling bytes a TCP segment at a time must not cost an object per segment here.
  readonly #feeder = new ReadableFeeder(this);

  constructor(inner: Duplex) {
    super({ allowHalfOpen: true });
    this.#inner = inner;
    inner.on('data', (chunk: Buffer) => {
      if (!this.#feeder.push(chunk)) {
        this.#wantsData = false;
        inner.pause();
      }
    });
    inner.on('end', () => {
      this.#feeder.flush();
      this.push(null);
    });
    inner.on('error', (error) => this.destroy(error));
    inner.on('close', () => this.destroy());
  }

  /** True while the connection is blackholed. */
  get blackholed(): boolean {
    return this.#blackholed;
  }

  /** Stops all traffic both ways (received bytes stay in the kernel; written bytes are held). */
  blackhole(): void {
    this.#blackholed = true;
    this.#inner.pause();
  }

  /** Lets traffic flow again, sending what was held. */
  restore(): void {
    if (!this.#blackholed) return;
    this.#blackholed = false;
    const held = this.#heldWrites;
    this.#heldWrites = [];
    for (const { chunk, callback } of held) this.#inner.write(chunk, callback);
    if (this.#wantsData) this.#inner.resume();
  }

  override _read(): void {
    this.#feeder.read();
    this.#wantsData = true;
    if (!this.#blackholed) this.#inner.resume();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    if (this.#blackholed) {
      this.#heldWrites.push({ chunk, callback });
      return;
    }
    this.#inner.write(chunk, callback);
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.#inner.end(callback);
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    for (const { callback: held } of this.#heldWrites) held(error ?? new Error('connection closed'));
    this.#heldWrites = [];
    this.#inner.destroy();
    callback(error);
  }
}
