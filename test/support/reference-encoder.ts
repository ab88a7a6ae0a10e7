/**
 * A deliberately naive SPDY/3 frame encoder: an oracle for `src/spdy/encode.ts`.
 *
 * It is written straight from the frame diagrams of the SPDY/3 draft (draft-mbelshe-httpbis-spdy-00,
 * section 2.2 "Framing", 2.6 "Control frame types" and 2.6.10 "Name/Value Header Block") and shares no
 * code with the library: every frame is laid out field by field with a DataView over a fresh
 * ArrayBuffer, every name/value block with a byte loop. It validates nothing, so tests can also use it
 * to build frames the library encoder refuses to produce (wrong lengths, version 2, stream id 0, ...).
 *
 * Header-bearing frames (SYN_STREAM, SYN_REPLY, HEADERS) take their compressed block as an argument,
 * because compression is stateful and belongs to the session's context, not to one frame.
 */
import { Deflate, Z_SYNC_FLUSH } from 'pako';
import { SPDY3_DICTIONARY } from '../../src/spdy/dictionary.js';
import type { Frame, HeaderBlock } from '../../src/spdy/frames.js';

/** Control frame type numbers, copied from the draft (section 2.6) rather than imported. */
const TYPE = {
  SYN_STREAM: 1,
  SYN_REPLY: 2,
  RST_STREAM: 3,
  SETTINGS: 4,
  PING: 6,
  GOAWAY: 7,
  HEADERS: 8,
  WINDOW_UPDATE: 9,
} as const;

/**
 * A control frame (draft section 2.2.1):
 *
 *   |C=1| version (15) | type (16) |   | flags (8) | length (24) |   | data |
 *
 * `length` defaults to the payload's size; pass another value to build a frame whose header lies.
 */
export function rawControlFrame(version: number, type: number, flags: number, payload: Uint8Array, length = payload.length): Uint8Array {
  const frame = new Uint8Array(8 + payload.length);
  const view = new DataView(frame.buffer);
  view.setUint16(0, 0x8000 | version);
  view.setUint16(2, type);
  view.setUint8(4, flags);
  view.setUint8(5, (length >>> 16) & 0xff);
  view.setUint8(6, (length >>> 8) & 0xff);
  view.setUint8(7, length & 0xff);
  for (let i = 0; i < payload.length; i++) frame[8 + i] = payload[i]!;
  return frame;
}

/**
 * A data frame (draft section 2.2.2):
 *
 *   |C=0| stream id (31) |   | flags (8) | length (24) |   | data |
 */
export function rawDataFrame(streamId: number, flags: number, payload: Uint8Array, length = payload.length): Uint8Array {
  const frame = new Uint8Array(8 + payload.length);
  const view = new DataView(frame.buffer);
  view.setUint32(0, streamId & 0x7fff_ffff);
  view.setUint8(4, flags);
  view.setUint8(5, (length >>> 16) & 0xff);
  view.setUint8(6, (length >>> 8) & 0xff);
  view.setUint8(7, length & 0xff);
  for (let i = 0; i < payload.length; i++) frame[8 + i] = payload[i]!;
  return frame;
}

/** Big-endian 32-bit words, the unit of almost every control frame payload. */
function words(...values: number[]): Uint8Array {
  const out = new Uint8Array(4 * values.length);
  const view = new DataView(out.buffer);
  values.forEach((value, i) => view.setUint32(4 * i, value >>> 0));
  return out;
}

function concat(...parts: Uint8Array[]): Uint8Array {
  let total = 0;
  for (const part of parts) total += part.length;
  const out = new Uint8Array(total);
  let offset = 0;
  for (const part of parts) {
    for (let i = 0; i < part.length; i++) out[offset + i] = part[i]!;
    offset += part.length;
  }
  return out;
}

/**
 * The uncompressed name/value block of SPDY/3 (draft section 2.6.10): a 32-bit pair count, then per
 * pair a 32-bit name length, the name, a 32-bit value length and the value, several values of one
 * name joined by a single NUL byte.
 */
export function referenceHeaderBlock(headers: HeaderBlock): Uint8Array {
  const utf8 = new TextEncoder();
  const parts: Uint8Array[] = [words(headers.size)];
  for (const [name, values] of headers) {
    const nameBytes = utf8.encode(name);
    const valueParts: Uint8Array[] = [];
    values.forEach((value, i) => {
      if (i > 0) valueParts.push(new Uint8Array([0]));
      valueParts.push(utf8.encode(value));
    });
    const valueBytes = concat(...valueParts);
    parts.push(words(nameBytes.length), nameBytes, words(valueBytes.length), valueBytes);
  }
  return concat(...parts);
}

/**
 * Encodes one frame. Header-bearing frames need `compressedBlock`, the bytes the sender's zlib
 * context produced for this frame's header block.
 */
export function referenceEncode(frame: Frame, compressedBlock?: Uint8Array): Uint8Array {
  const version = 3;
  const block = (): Uint8Array => {
    if (compressedBlock === undefined) throw new Error(`reference encoder: ${frame.type} needs its compressed header block`);
    return compressedBlock;
  };
  switch (frame.type) {
    case 'DATA':
      return rawDataFrame(frame.streamId, frame.flags, frame.data);
    case 'SYN_STREAM': {
      // Stream-ID, Associated-To-Stream-ID, then 3 bits of priority, 5 unused bits, 8 bits of slot.
      const fixed = new Uint8Array(10);
      const view = new DataView(fixed.buffer);
      view.setUint32(0, frame.streamId & 0x7fff_ffff);
      view.setUint32(4, frame.associatedStreamId & 0x7fff_ffff);
      view.setUint8(8, (frame.priority & 0x07) << 5);
      view.setUint8(9, frame.slot);
      return rawControlFrame(version, TYPE.SYN_STREAM, frame.flags, concat(fixed, block()));
    }
    case 'SYN_REPLY':
      return rawControlFrame(version, TYPE.SYN_REPLY, frame.flags, concat(words(frame.streamId & 0x7fff_ffff), block()));
    case 'HEADERS':
      return rawControlFrame(version, TYPE.HEADERS, frame.flags, concat(words(frame.streamId & 0x7fff_ffff), block()));
    case 'RST_STREAM':
      return rawControlFrame(version, TYPE.RST_STREAM, frame.flags, words(frame.streamId & 0x7fff_ffff, frame.status));
    case 'SETTINGS': {
      // Each entry: 8 bits of flags, 24 bits of id, 32 bits of value.
      const entryWords: number[] = [];
      for (const entry of frame.entries) entryWords.push(entry.flags * 0x100_0000 + entry.id, entry.value);
      return rawControlFrame(version, TYPE.SETTINGS, frame.flags, words(frame.entries.length, ...entryWords));
    }
    case 'PING':
      return rawControlFrame(version, TYPE.PING, frame.flags, words(frame.id));
    case 'GOAWAY':
      return rawControlFrame(version, TYPE.GOAWAY, frame.flags, words(frame.lastGoodStreamId & 0x7fff_ffff, frame.status));
    case 'WINDOW_UPDATE':
      return rawControlFrame(version, TYPE.WINDOW_UPDATE, frame.flags, words(frame.streamId & 0x7fff_ffff, frame.deltaWindowSize & 0x7fff_ffff));
    case 'UNKNOWN':
      return rawControlFrame(frame.version, frame.controlType, frame.flags, frame.payload);
  }
}

/**
 * One direction's header compression done the plain way (draft section 2.6.10.1): a single zlib
 * stream primed with the SPDY/3 dictionary, flushed with Z_SYNC_FLUSH after every block. Built on
 * pako directly, not on src/spdy/compression.ts, so tests can compress any raw bytes (including
 * malformed blocks) for the decoder under test.
 */
export class ReferenceCompressor {
  readonly #deflate: Deflate;
  #out: Uint8Array[] = [];

  constructor(level: 0 | 1 | 2 | 3 | 4 | 5 | 6 | 7 | 8 | 9 = 6) {
    this.#deflate = new Deflate({ level, dictionary: SPDY3_DICTIONARY });
    this.#deflate.onData = (chunk) => {
      this.#out.push(chunk.slice());
    };
  }

  /** Compresses raw block bytes and sync-flushes; the result is one frame's compressed block. */
  compressRaw(raw: Uint8Array): Uint8Array {
    this.#out = [];
    if (!this.#deflate.push(raw, Z_SYNC_FLUSH)) throw new Error(`reference compressor failed: ${this.#deflate.msg}`);
    return concat(...this.#out);
  }

  /** Serialises `headers` with {@link referenceHeaderBlock} and compresses them. */
  compress(headers: HeaderBlock): Uint8Array {
    return this.compressRaw(referenceHeaderBlock(headers));
  }
}
