/**
 * A Duplex in front of another that counts write calls (a writev counts once) and passes the
 * bytes on: how tests see how many times a session wakes its peer.
 */
import { Duplex } from 'node:stream';

/** Wraps `inner`: what it reads is this stream's readable side, what is written here goes to it. */
export class CountingTransport extends Duplex {
  /** Write calls so far (`_write` and `_writev` alike). */
  writes = 0;
  readonly #inner: Duplex;

  constructor(inner: Duplex) {
    super({ allowHalfOpen: true });
    this.#inner = inner;
    inner.on('data', (chunk: Buffer) => this.push(chunk));
    inner.on('end', () => this.push(null));
  }

  override _read(): void {}

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.writes++;
    this.#inner.write(chunk, callback);
  }

  override _writev(chunks: Array<{ chunk: Buffer }>, callback: (error?: Error | null) => void): void {
    this.writes++;
    this.#inner.write(Buffer.concat(chunks.map((c) => c.chunk)), callback);
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.#inner.end(callback);
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.#inner.destroy();
    callback(error);
  }
}
