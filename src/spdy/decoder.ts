/**
 * The incremental frame decoder: bytes in, in chunks of any size (one byte at a time works),
 * whole frames out, in wire order.
 *
 * Limits are checked before anything is buffered: a frame's declared length against
 * `maxFrameBytes` as soon as its 8-byte header is complete, every count and length inside a
 * frame against the bytes that remain, and decompressed header blocks against
 * `maxHeaderBlockBytes`. The decoder therefore never holds more than one frame header plus one
 * frame payload. A DATA payload that lies within one input chunk is handed out as a view of that
 * chunk; only a payload split across chunks is gathered (copied once) into its own buffer.
 *
 * Any malformed input throws a {@link KubemuxError}; the decoder is then unusable and rethrows
 * the same error on every later call (a SPDY byte stream cannot be resynchronised).
 */
import { ErrorCode, KubemuxError } from '../errors.js';
import { DEFAULT_MAX_HEADER_BLOCK_BYTES, HeaderDecompressor } from './compression.js';
import { DEFAULT_MAX_HEADER_VALUES } from './header-block.js';
import { ControlType, FLAG_FIN, FRAME_HEADER_BYTES, MAX_FRAME_PAYLOAD_BYTES, SPDY_VERSION } from './constants.js';
import type { ControlFrame, Frame, SettingsEntry } from './frames.js';

/**
 * Default cap on one frame's payload. Kubernetes peers write at most 32 KiB per frame (Go's
 * io.Copy buffer); 1 MiB leaves room for any sane peer while bounding what a hostile one can make
 * us buffer. The wire allows up to 16 MiB - 1.
 */
export const DEFAULT_MAX_FRAME_BYTES = 1024 * 1024;

/** Options of {@link FrameDecoder}. */
export interface FrameDecoderOptions {
  /** Largest frame payload accepted, in bytes (1..16,777,215). Default 1 MiB. */
  readonly maxFrameBytes?: number;
  /** Largest decompressed header block accepted, in bytes. Default 64 KiB. */
  readonly maxHeaderBlockBytes?: number;
  /** Most values one header block may carry (each NUL-separated part counts). Default 256. */
  readonly maxHeaderValues?: number;
  /**
   * For consumers that treat DATA as a byte stream (the session does): a DATA payload split
   * across input chunks is delivered as several DATA frames, one per chunk it lies in, each a
   * view of its chunk; only the last piece carries the frame's flags (FIN). No payload byte is
   * then ever copied or held. Default false: every frame is delivered whole (a payload split
   * across chunks is gathered into one buffer, one copy).
   */
  readonly splitDataPayloads?: boolean;
}

const STREAM_ID_MASK = 0x7fff_ffff;

function protocolError(message: string, streamId?: number): KubemuxError {
  return new KubemuxError(ErrorCode.PROTOCOL, 'session', message, streamId === undefined ? {} : { streamId });
}

// Checks on a control frame's payload. Module functions rather than closures, and the type's name
// looked up only when a check fails: control frames (WINDOW_UPDATE, PING) are on the hot path.

function requireLength(type: number, payload: Buffer, exact: number): void {
  if (payload.length !== exact) throw protocolError(`${controlTypeName(type)} payload is ${payload.length} bytes, expected ${exact}`);
}

function requireAtLeast(type: number, payload: Buffer, min: number): void {
  if (payload.length < min) throw protocolError(`${controlTypeName(type)} payload is ${payload.length} bytes, expected at least ${min}`);
}

function streamIdAt(type: number, payload: Buffer, offset: number): number {
  // The top bit is reserved: receivers ignore it.
  const streamId = payload.readUInt32BE(offset) & STREAM_ID_MASK;
  if (streamId === 0) throw protocolError(`${controlTypeName(type)} on stream 0`);
  return streamId;
}

/** The incremental decoder of one direction of one session (see the file comment). */
export class FrameDecoder {
  readonly maxFrameBytes: number;
  readonly #headers: HeaderDecompressor;
  readonly #splitDataPayloads: boolean;

  /** Bytes of a frame header received so far. */
  readonly #head = Buffer.alloc(FRAME_HEADER_BYTES);
  #headBytes = 0;
  /** Payload length of the frame in progress, or -1 while its header is incomplete. */
  #payloadLength = -1;
  /** Gathers a payload split across input chunks. */
  #payload: Buffer | undefined;
  #payloadBytes = 0;
  #failure: KubemuxError | undefined;

  constructor(options: FrameDecoderOptions = {}, headers?: HeaderDecompressor) {
    const maxFrameBytes = options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES;
    if (!Number.isInteger(maxFrameBytes) || maxFrameBytes < 1 || maxFrameBytes > MAX_FRAME_PAYLOAD_BYTES) {
      throw new KubemuxError(ErrorCode.INVALID_ARGUMENT, 'usage', `maxFrameBytes ${maxFrameBytes} is outside 1..${MAX_FRAME_PAYLOAD_BYTES}`);
    }
    const maxHeaderBlockBytes = options.maxHeaderBlockBytes ?? DEFAULT_MAX_HEADER_BLOCK_BYTES;
    if (!Number.isInteger(maxHeaderBlockBytes) || maxHeaderBlockBytes < 4) {
      throw new KubemuxError(ErrorCode.INVALID_ARGUMENT, 'usage', `maxHeaderBlockBytes ${maxHeaderBlockBytes} must be an integer >= 4`);
    }
    const maxHeaderValues = options.maxHeaderValues ?? DEFAULT_MAX_HEADER_VALUES;
    if (!Number.isInteger(maxHeaderValues) || maxHeaderValues < 1) {
      throw new KubemuxError(ErrorCode.INVALID_ARGUMENT, 'usage', `maxHeaderValues ${maxHeaderValues} must be an integer >= 1`);
    }
    this.maxFrameBytes = maxFrameBytes;
    this.#splitDataPayloads = options.splitDataPayloads === true;
    this.#headers = headers ?? new HeaderDecompressor(maxHeaderBlockBytes, maxHeaderValues);
  }

  /** Bytes held for a frame not yet complete (never more than 8 + maxFrameBytes). */
  get bufferedBytes(): number {
    return this.#headBytes + (this.#payload === undefined ? 0 : this.#payloadBytes);
  }

  /** True when no partial frame is held: the input so far ended on a frame boundary. */
  get idle(): boolean {
    return this.#headBytes === 0;
  }

  /**
   * Consumes `chunk` and calls `onFrame` for every frame it completes, in order, and returns the
   * number of bytes consumed: all of them, unless `onFrame` returned `false` (any other value, or none, goes on), which stops the
   * decoding right after that frame (or DATA piece); the caller keeps the rest of the chunk and
   * pushes it again later (the session does so to stop reading while its replies cannot be
   * written). Throws a KubemuxError on malformed input (frames completed before the fault have
   * been delivered). An exception thrown by `onFrame` propagates and leaves the decoder unusable
   * too.
   */
  push(chunk: Uint8Array, onFrame: (frame: Frame) => unknown): number {
    if (this.#failure !== undefined) throw this.#failure;
    try {
      return this.#consume(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength), onFrame);
    } catch (err) {
      this.#failure =
        err instanceof KubemuxError ? err : new KubemuxError(ErrorCode.PROTOCOL, 'session', 'frame handler failed', { cause: err });
      throw err;
    }
  }

  #consume(chunk: Buffer, onFrame: (frame: Frame) => unknown): number {
    let offset = 0;
    while (offset < chunk.length) {
      if (this.#payloadLength < 0) {
        // A byte loop, not chunk.copy: for at most 8 bytes the native call costs several times more.
        const head = this.#head;
        let headBytes = this.#headBytes;
        while (headBytes < FRAME_HEADER_BYTES && offset < chunk.length) head[headBytes++] = chunk[offset++]!;
        this.#headBytes = headBytes;
        if (headBytes < FRAME_HEADER_BYTES) return offset;
        this.#payloadLength = this.#checkHeader();
      }
      const missing = this.#payloadLength - this.#payloadBytes;
      if (this.#payload === undefined && chunk.length - offset >= missing) {
        // Fast path: the whole payload is in this chunk; hand out a view.
        const payload = chunk.subarray(offset, offset + missing);
        offset += missing;
        if (this.#finishFrame(payload, onFrame) === false) return offset;
        continue;
      }
      // Nothing of the payload in this chunk yet (the header ended it, as Go's field-by-field writes
      // often do): wait, so that a payload arriving whole in the next chunk still takes the fast path.
      if (offset === chunk.length) return offset;
      if (this.#splitDataPayloads && (this.#head[0]! & 0x80) === 0) {
        const take = Math.min(missing, chunk.length - offset);
        const more = this.#deliverDataPiece(chunk, offset, take, take === missing, onFrame);
        offset += take;
        if (more === false) return offset;
        continue;
      }
      this.#payload ??= Buffer.allocUnsafe(this.#payloadLength);
      const take = Math.min(missing, chunk.length - offset);
      chunk.copy(this.#payload, this.#payloadBytes, offset, offset + take);
      this.#payloadBytes += take;
      offset += take;
      if (this.#payloadBytes === this.#payloadLength && this.#finishFrame(this.#payload, onFrame) === false) return offset;
    }
    return offset;
  }

  /** Hands out `take` bytes of a split DATA payload that lie in `chunk` at `offset`, as a view. */
  #deliverDataPiece(chunk: Buffer, offset: number, take: number, last: boolean, onFrame: (frame: Frame) => unknown): unknown {
    const head = this.#head;
    const streamId = head.readUInt32BE(0);
    const flags = last ? head[4]! : head[4]! & ~FLAG_FIN;
    if (last) {
      this.#headBytes = 0;
      this.#payloadLength = -1;
      this.#payloadBytes = 0;
    } else {
      this.#payloadBytes += take;
    }
    return onFrame({ type: 'DATA', streamId, flags, data: chunk.subarray(offset, offset + take) });
  }

  /** Validates a complete frame header and returns its payload length. */
  #checkHeader(): number {
    const head = this.#head;
    const length = head.readUIntBE(5, 3);
    if (length > this.maxFrameBytes) {
      throw new KubemuxError(
        ErrorCode.FRAME_TOO_LARGE,
        'session',
        `frame payload of ${length} bytes exceeds maxFrameBytes (${this.maxFrameBytes})`,
      );
    }
    if ((head[0]! & 0x80) === 0) {
      if (head.readUInt32BE(0) === 0) throw protocolError('DATA frame on stream 0');
    } else {
      const version = head.readUInt16BE(0) & 0x7fff;
      if (version !== SPDY_VERSION) {
        throw new KubemuxError(ErrorCode.UNSUPPORTED_VERSION, 'session', `control frame version ${version}, expected ${SPDY_VERSION}`);
      }
    }
    return length;
  }

  #finishFrame(payload: Buffer, onFrame: (frame: Frame) => unknown): unknown {
    const head = this.#head;
    this.#headBytes = 0;
    this.#payloadLength = -1;
    this.#payload = undefined;
    this.#payloadBytes = 0;
    const flags = head[4]!;
    if ((head[0]! & 0x80) === 0) return onFrame({ type: 'DATA', streamId: head.readUInt32BE(0), flags, data: payload });
    return onFrame(this.#controlFrame(head.readUInt16BE(2), flags, payload));
  }

  #controlFrame(type: number, flags: number, payload: Buffer): ControlFrame {
    switch (type) {
      case ControlType.SYN_STREAM: {
        requireAtLeast(type, payload, 10);
        const streamId = streamIdAt(type, payload, 0);
        return {
          type: 'SYN_STREAM',
          streamId,
          associatedStreamId: payload.readUInt32BE(4) & STREAM_ID_MASK,
          priority: payload[8]! >> 5,
          slot: payload[9]!,
          flags,
          headers: this.#headerBlock(payload.subarray(10), streamId),
        };
      }
      case ControlType.SYN_REPLY:
      case ControlType.HEADERS: {
        requireAtLeast(type, payload, 4);
        const streamId = streamIdAt(type, payload, 0);
        const headers = this.#headerBlock(payload.subarray(4), streamId);
        return type === ControlType.SYN_REPLY
          ? { type: 'SYN_REPLY', streamId, flags, headers }
          : { type: 'HEADERS', streamId, flags, headers };
      }
      case ControlType.RST_STREAM: {
        requireLength(type, payload, 8);
        const streamId = streamIdAt(type, payload, 0);
        const status = payload.readUInt32BE(4);
        if (status === 0) throw protocolError('RST_STREAM with status 0', streamId);
        return { type: 'RST_STREAM', streamId, status, flags };
      }
      case ControlType.SETTINGS: {
        requireAtLeast(type, payload, 4);
        const count = payload.readUInt32BE(0);
        if (count !== (payload.length - 4) / 8) {
          throw protocolError(`SETTINGS declares ${count} entries but carries ${payload.length - 4} bytes of entries`);
        }
        const entries: SettingsEntry[] = [];
        for (let offset = 4; offset < payload.length; offset += 8) {
          entries.push({ flags: payload[offset]!, id: payload.readUIntBE(offset + 1, 3), value: payload.readUInt32BE(offset + 4) });
        }
        return { type: 'SETTINGS', flags, entries };
      }
      case ControlType.PING: {
        requireLength(type, payload, 4);
        const id = payload.readUInt32BE(0);
        if (id === 0) throw protocolError('PING with id 0');
        return { type: 'PING', id, flags };
      }
      case ControlType.GOAWAY: {
        requireLength(type, payload, 8);
        return { type: 'GOAWAY', lastGoodStreamId: payload.readUInt32BE(0) & STREAM_ID_MASK, status: payload.readUInt32BE(4), flags };
      }
      case ControlType.WINDOW_UPDATE: {
        requireLength(type, payload, 8);
        const deltaWindowSize = payload.readUInt32BE(4) & STREAM_ID_MASK;
        if (deltaWindowSize === 0) throw protocolError('WINDOW_UPDATE with delta 0');
        return { type: 'WINDOW_UPDATE', streamId: payload.readUInt32BE(0) & STREAM_ID_MASK, deltaWindowSize, flags };
      }
      default:
        return { type: 'UNKNOWN', controlType: type, version: SPDY_VERSION, flags, payload };
    }
  }

  #headerBlock(compressed: Buffer, streamId: number): Map<string, string[]> {
    try {
      return this.#headers.decompress(compressed);
    } catch (err) {
      if (err instanceof KubemuxError) {
        throw new KubemuxError(err.code, err.scope, `${err.message} (stream ${streamId})`, { streamId, cause: err.cause });
      }
      throw err;
    }
  }
}

/** The name of a control frame type, for messages. */
export function controlTypeName(type: number): string {
  for (const [name, value] of Object.entries(ControlType)) if (value === type) return name;
  return `control frame type ${type}`;
}

