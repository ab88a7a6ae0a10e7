/**
 * ReadableFeeder: hands received bytes to a Readable so that what waits in its buffer costs about
 * what it weighs.
 *
 * A Readable keeps every pushed chunk as its own object (about 130 bytes of heap beyond the
 * bytes), and a chunk that is a view of a larger buffer (a socket read, a WebSocket message)
 * keeps all of that buffer alive. Bounds on buffered data are counted in bytes, so a peer that
 * sends 1-byte frames, or a small frame inside a large message of bytes that are dropped, to a
 * reader that is behind would make a buffer bounded at 1 MiB hold a million objects, or
 * gigabytes of pinned messages. So:
 *
 * - while the reader keeps up (nothing buffered), or has asked for more (`_read`, which must call
 *   {@link ReadableFeeder.read}), a chunk goes in as it is, without a copy;
 * - while it is behind, a chunk of at least {@link SMALL_CHUNK_BYTES} that is at least a quarter
 *   of the buffer it views goes in as it is too; any other chunk is copied into a shared block of
 *   {@link BLOCK_BYTES}, which is pushed when full, or when the reader asks for more.
 *
 * (A pushed chunk is also what tells Node that `_read` was answered: Node calls `_read` again
 * only after a push. So a read that finds nothing held is remembered, and the next chunk is
 * pushed at once.)
 *
 * Every buffered chunk is then at least ~4 KiB or a full block, and pins at most four times its
 * size, so the heap a buffer holds stays within a small factor of its byte bound.
 */
import type { Readable } from 'node:stream';

/** Chunks below this size are copied (coalesced) while the reader is behind. */
export const SMALL_CHUNK_BYTES = 4096;
/** Size of the blocks small chunks are copied into. */
export const BLOCK_BYTES = 16 * 1024;

/** Feeds one Readable (see the file comment). Every push of data must go through it, in order. */
export class ReadableFeeder {
  readonly #readable: Readable;
  #block: Buffer | undefined;
  /** Start of the bytes of #block not yet pushed. */
  #start = 0;
  /** End of the bytes copied into #block. */
  #end = 0;
  /** The reader asked for data (`_read`) and nothing has been pushed since. */
  #wanted = false;

  constructor(readable: Readable) {
    this.#readable = readable;
  }

  /** Bytes copied and not yet handed to the readable. */
  get heldBytes(): number {
    return this.#end - this.#start;
  }

  /** Hands `chunk` to the readable (see the file comment); false when its buffer is at or over its mark, as `push` says. */
  push(chunk: Buffer): boolean {
    const readable = this.#readable;
    if (this.#end === this.#start && readable.readableLength === 0) return this.#pushNow(chunk);
    if (this.#wanted || (chunk.length >= SMALL_CHUNK_BYTES && chunk.length * 4 >= chunk.buffer.byteLength)) {
      this.flush();
      return this.#pushNow(chunk);
    }
    this.#copy(chunk);
    return readable.readableLength + this.heldBytes < readable.readableHighWaterMark;
  }

  /** The readable's `_read` was called: pushes what is held back, or lets the next chunk through at once. */
  read(): void {
    if (this.#end === this.#start) this.#wanted = true;
    else this.flush();
  }

  /** Pushes the bytes held back (also before pushing the end). */
  flush(): void {
    if (this.#end === this.#start) return;
    const held = this.#block!.subarray(this.#start, this.#end);
    this.#start = this.#end;
    if (this.#end === BLOCK_BYTES) this.#block = undefined;
    this.#pushNow(held);
  }

  #pushNow(chunk: Buffer): boolean {
    this.#wanted = false;
    return this.#readable.push(chunk);
  }

  #copy(chunk: Buffer): void {
    let offset = 0;
    while (offset < chunk.length) {
      if (this.#block === undefined) {
        this.#block = Buffer.allocUnsafe(BLOCK_BYTES);
        this.#start = 0;
        this.#end = 0;
      }
      const take = Math.min(chunk.length - offset, BLOCK_BYTES - this.#end);
      chunk.copy(this.#block, this.#end, offset, offset + take);
      this.#end += take;
      offset += take;
      // A full block is worth its object: hand it over now.
      if (this.#end === BLOCK_BYTES) this.flush();
    }
  }
}
