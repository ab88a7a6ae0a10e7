/**
 * Header block compression: zlib with the SPDY/3 dictionary, one context per direction kept for
 * the whole session, and a sync flush after every block, so each frame carries a complete block
 * and the next one continues the same zlib stream.
 *
 * Why pako and not node:zlib: Node's zlib contexts are asynchronous streams (its synchronous
 * functions are one-shot and close the context after one call). A session must compress and
 * decompress blocks strictly in wire order, interleaved with DATA frames that need no
 * compression; a synchronous context keeps "compression order = wire order" true by
 * construction instead of by an async queue in front of every header-bearing frame. pako is a
 * pure-JavaScript port of zlib with persistent, synchronous contexts and preset dictionaries.
 */
import { Deflate, Inflate, Z_SYNC_FLUSH } from 'pako';
import { ErrorCode, KubemuxError } from '../errors.js';
import { SPDY3_DICTIONARY } from './dictionary.js';
import type { HeaderBlock } from './frames.js';
import { DEFAULT_MAX_HEADER_VALUES, decodeHeaderBlock, encodeHeaderBlock } from './header-block.js';

/** Default cap on one decompressed header block. Kubernetes blocks are well under 1 KiB. */
export const DEFAULT_MAX_HEADER_BLOCK_BYTES = 64 * 1024;

/** Largest serialised header block we compress: its frame must fit the 24-bit length field. */
const MAX_SENDABLE_BLOCK_BYTES = 15 * 1024 * 1024;

/** Output granularity of the inflater: the size cap is enforced at least this often. */
const INFLATE_CHUNK_BYTES = 16 * 1024;

/** Compresses header blocks for one direction of one session. */
export class HeaderCompressor {
  readonly #deflate: Deflate;
  #output: Uint8Array[] = [];

  /** @param level zlib level; Go's spdystream uses 9. Any level interoperates. */
  constructor(level: 0 | 1 | 2 | 3 | 4 | 5 | 6 | 7 | 8 | 9 = 9) {
    this.#deflate = new Deflate({ level, dictionary: SPDY3_DICTIONARY });
    this.#deflate.onData = (chunk) => {
      this.#output.push(chunk);
    };
  }

  /** Serialises and compresses one block, ending it with a sync flush. */
  compress(headers: HeaderBlock): Buffer {
    return this.compressRaw(encodeHeaderBlock(headers));
  }

  /** Compresses an already serialised block (tests use this to send malformed blocks). */
  compressRaw(block: Uint8Array): Buffer {
    // Refused before compressing: a frame refused afterwards would leave this context ahead of
    // the peer's. Deflate can grow incompressible input slightly; 15 MiB leaves room for that.
    if (block.length > MAX_SENDABLE_BLOCK_BYTES) {
      throw new KubemuxError(ErrorCode.INVALID_ARGUMENT, 'usage', `header block of ${block.length} bytes exceeds ${MAX_SENDABLE_BLOCK_BYTES} bytes`);
    }
    this.#output = [];
    if (!this.#deflate.push(block, Z_SYNC_FLUSH)) {
      throw new KubemuxError(ErrorCode.COMPRESSION, 'session', `header compression failed: ${this.#deflate.msg}`);
    }
    const out = this.#output;
    this.#output = [];
    return out.length === 1 ? Buffer.from(out[0]!.buffer, out[0]!.byteOffset, out[0]!.byteLength) : Buffer.concat(out);
  }
}

/** Decompresses header blocks for one direction of one session. */
export class HeaderDecompressor {
  readonly #inflate: Inflate;
  readonly #maxBlockBytes: number;
  readonly #maxValues: number;
  #output: Uint8Array[] = [];
  #outputBytes = 0;
  #failure: KubemuxError | undefined;

  /** @param maxHeaderValues values one block may carry (see decodeHeaderBlock). */
  constructor(maxHeaderBlockBytes: number = DEFAULT_MAX_HEADER_BLOCK_BYTES, maxHeaderValues: number = DEFAULT_MAX_HEADER_VALUES) {
    this.#maxBlockBytes = maxHeaderBlockBytes;
    this.#maxValues = maxHeaderValues;
    this.#inflate = new Inflate({ dictionary: SPDY3_DICTIONARY, chunkSize: INFLATE_CHUNK_BYTES });
    this.#inflate.onData = (chunk) => {
      this.#outputBytes += chunk.byteLength;
      // Throwing out of pako's push stops the inflation at once: a zlib bomb costs at most one
      // output chunk beyond the cap, in memory and in time.
      if (this.#outputBytes > this.#maxBlockBytes) {
        throw new KubemuxError(
          ErrorCode.HEADER_BLOCK_TOO_LARGE,
          'session',
          `header block inflates to more than maxHeaderBlockBytes (${this.#maxBlockBytes} bytes)`,
        );
      }
      this.#output.push(chunk);
    };
  }

  /** Decompresses one frame's block (which must end a sync flush) and parses it. */
  decompress(compressed: Uint8Array): HeaderBlock {
    return decodeHeaderBlock(this.decompressRaw(compressed), this.#maxValues);
  }

  /** Decompresses one frame's block without parsing it. */
  decompressRaw(compressed: Uint8Array): Buffer {
    // A zlib stream that failed once cannot be trusted for any later block.
    if (this.#failure !== undefined) throw this.#failure;
    if (this.#inflate.ended) {
      // The peer finished its zlib stream (Z_FINISH), which SPDY never does. pako then ignores all
      // input and reports success with no output, so this must be checked before pushing.
      this.#failure = new KubemuxError(ErrorCode.COMPRESSION, 'session', 'header block decompression failed: the peer ended its zlib stream');
      throw this.#failure;
    }
    this.#output = [];
    this.#outputBytes = 0;
    let ok: boolean;
    try {
      ok = this.#inflate.push(compressed, Z_SYNC_FLUSH);
    } catch (err) {
      this.#failure =
        err instanceof KubemuxError
          ? err
          : new KubemuxError(ErrorCode.COMPRESSION, 'session', 'header block decompression failed', { cause: err });
      throw this.#failure;
    }
    if (!ok) {
      const reason = this.#inflate.msg || `zlib error ${this.#inflate.err}`;
      this.#failure = new KubemuxError(ErrorCode.COMPRESSION, 'session', `header block decompression failed: ${reason}`);
      throw this.#failure;
    }
    const out = this.#output;
    this.#output = [];
    return Buffer.concat(out);
  }
}
