/**
 * Unmasking of received client frames, four bytes at a time, for the server side of a
 * WebSocketConnection. ws's Receiver unmasks byte by byte in JavaScript unless the native
 * `bufferutil` addon is installed (kubemux takes no native addons, and Node 20 has no built-in
 * unmask): ~180 MiB/s here, which capped a kubectl upload through the fake cluster's tunnel
 * endpoint and made the server the bottleneck of that benchmark. This is the mirror of
 * client-frame.ts (the client's masking).
 *
 * How: {@link FrameUnmasker} follows the frame boundaries of the incoming byte stream (RFC 6455
 * section 5.2: 2 header bytes, 0/2/8 bytes of extended length, 4 bytes of masking key), unmasks
 * each payload in place, and zeroes the key in the header. ws's Receiver then reads frames that
 * are still marked masked, with an all-zero key, which it skips unmasking (receiver.js getData:
 * "if masked and the mask is not all zeros, unmask"): same frames, same checks, same errors at the
 * same moments, the XOR done here instead. Header bytes pass through as they come (a header cut
 * between two chunks included); the key's bytes are recorded here and zeroed before ws reads
 * them, and ws waits for all four before it uses the key. Nothing is copied or held back.
 *
 * The chunks are modified in place, as ws's own unmasking modifies them; they are the socket's
 * fresh read buffers, owned by nobody else.
 */
import type { Buffer } from 'node:buffer';
import { Receiver, type FrameReceiver, type ReceiverOptions } from './ws-codec.js';

const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;
/** Below this many bytes a payload is unmasked byte by byte (building a word view costs more). */
const WORDWISE_FROM_BYTES = 16;

/**
 * XORs `length` bytes of `buffer` from `start` with the 4-byte `mask`, where `buffer[start]` is
 * payload byte number `phase` (mod 4) of its frame. Unaligned ends byte by byte, the rest as words.
 */
export function unmaskInPlace(buffer: Uint8Array, start: number, length: number, mask: Uint8Array, phase: number): void {
  let i = start;
  const end = start + length;
  let p = phase & 3;
  if (length >= WORDWISE_FROM_BYTES) {
    while (((buffer.byteOffset + i) & 3) !== 0) {
      buffer[i]! ^= mask[p]!;
      p = (p + 1) & 3;
      i++;
    }
    const words = (end - i) >>> 2;
    // The key as it lies in memory from an aligned address whose byte is payload byte `p`.
    const b0 = mask[p]!;
    const b1 = mask[(p + 1) & 3]!;
    const b2 = mask[(p + 2) & 3]!;
    const b3 = mask[(p + 3) & 3]!;
    const key = LITTLE_ENDIAN ? (b0 | (b1 << 8) | (b2 << 16) | (b3 << 24)) >>> 0 : (b3 | (b2 << 8) | (b1 << 16) | (b0 << 24)) >>> 0;
    const view = new Uint32Array(buffer.buffer, buffer.byteOffset + i, words);
    for (let w = 0; w < words; w++) view[w]! ^= key;
    // Whole words keep the phase.
    i += words << 2;
  }
  for (; i < end; i++) {
    buffer[i]! ^= mask[p]!;
    p = (p + 1) & 3;
  }
}

/** Follows client frames through a byte stream and unmasks them in place (see the file comment). */
export class FrameUnmasker {
  /** The header of the current frame as far as it has arrived (at most 2 + 8 + 4 bytes). */
  readonly #header = new Uint8Array(14);
  #headerHave = 0;
  /** Header bytes of the current frame: 2 until the second byte tells the rest. */
  #headerNeed = 2;
  /** Payload bytes of the current frame still to come (0 while in a header). */
  #remaining = 0;
  /** Whether the current frame is masked with a non-zero key (else its payload passes as it is). */
  #unmasking = false;
  readonly #mask = new Uint8Array(4);
  /** Payload bytes of the current frame already seen, mod 4. */
  #phase = 0;

  /** Unmasks the payload bytes `chunk` carries and zeroes the key bytes it carries, in place. */
  push(chunk: Uint8Array): void {
    let i = 0;
    while (i < chunk.length) {
      if (this.#remaining > 0) {
        const n = Math.min(this.#remaining, chunk.length - i);
        if (this.#unmasking) unmaskInPlace(chunk, i, n, this.#mask, this.#phase);
        this.#phase = (this.#phase + n) & 3;
        this.#remaining -= n;
        i += n;
        continue;
      }
      // A header byte: kept here, and zeroed on the wire when it belongs to the key, so that the
      // parser (which waits for all four) never sees the key however the header is cut.
      const at = this.#headerHave++;
      this.#header[at] = chunk[i]!;
      if (at === 1) this.#headerNeed = headerLength(this.#header[1]!);
      const keyByte = at - (this.#headerNeed - 4);
      if ((this.#header[1]! & 0x80) !== 0 && at >= 2 && keyByte >= 0) {
        this.#mask[keyByte] = chunk[i]!;
        chunk[i] = 0;
      }
      i++;
      if (this.#headerHave === this.#headerNeed) this.#startPayload();
    }
  }

  /** The header is complete: the payload follows. */
  #startPayload(): void {
    const header = this.#header;
    const short = header[1]! & 0x7f;
    let length: number;
    if (short === 126) length = (header[2]! << 8) | header[3]!;
    // Beyond 2^53 ws fails the connection before reading further; the count only has to be large.
    else if (short === 127) length = Math.min(readUint32(header, 2) * 2 ** 32 + readUint32(header, 6), Number.MAX_SAFE_INTEGER);
    else length = short;
    const mask = this.#mask;
    this.#unmasking = (header[1]! & 0x80) !== 0 && (mask[0]! | mask[1]! | mask[2]! | mask[3]!) !== 0;
    this.#remaining = length;
    this.#phase = 0;
    this.#headerHave = 0;
    this.#headerNeed = 2;
  }
}

/** A frame header's length from its second byte: 2, the extended length, and the key when masked. */
function headerLength(second: number): number {
  const short = second & 0x7f;
  return 2 + (short === 126 ? 2 : short === 127 ? 8 : 0) + ((second & 0x80) !== 0 ? 4 : 0);
}

function readUint32(bytes: Uint8Array, at: number): number {
  return ((bytes[at]! << 24) | (bytes[at + 1]! << 16) | (bytes[at + 2]! << 8) | bytes[at + 3]!) >>> 0;
}

/**
 * ws's Receiver for a server: the same parser, fed through a {@link FrameUnmasker} so that client
 * payloads are unmasked a word at a time. Every write reaches `_write`, in order, so the
 * unmasker sees the stream as the parser does.
 */
export class UnmaskingReceiver extends (Receiver as unknown as new (options?: ReceiverOptions) => FrameReceiver & {
  _write(chunk: Buffer, encoding: BufferEncoding, callback: (error?: Error | null) => void): void;
}) {
  readonly #unmasker = new FrameUnmasker();

  override _write(chunk: Buffer, encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.#unmasker.push(chunk);
    super._write(chunk, encoding, callback);
  }
}
