/**
 * Frame encoders: pure functions from frame data to bytes. They refuse (with a usage error) any
 * value the wire cannot carry or that Go's spdystream would reject on read, because a single
 * frame spdystream cannot parse silently ends its whole connection.
 *
 * Header-bearing frames take their header block already compressed (compression is stateful,
 * see compression.ts); {@link FrameEncoder} pairs the two for a session.
 */
import { usageError } from '../util/validate.js';
import { HeaderCompressor } from './compression.js';
import {
  ControlType,
  FRAME_HEADER_BYTES,
  MAX_FRAME_PAYLOAD_BYTES,
  MAX_STREAM_ID,
  SPDY_VERSION,
} from './constants.js';
import type {
  ControlFrame,
  DataFrame,
  Frame,
  GoAwayFrame,
  HeaderBearingFrame,
  PingFrame,
  RstStreamFrame,
  SettingsFrame,
  UnknownControlFrame,
  WindowUpdateFrame,
} from './frames.js';

// Each check builds its message only when it fails: an eager template string cost more than the
// rest of encoding a DATA frame header.

function checkUint(value: number, max: number, what: string): void {
  if (!(Number.isInteger(value) && value >= 0 && value <= max)) throw usageError(`${what} ${value} is outside 0..${max}`);
}

/** PING, GOAWAY and WINDOW_UPDATE define no flags, and spdystream fails its connection on any. */
function checkNoFlags(flags: number, frameName: string): void {
  if (flags !== 0) throw usageError(`${frameName} flags must be 0 (spdystream rejects any), got ${flags}`);
}

function checkStreamId(streamId: number, what = 'stream id'): void {
  if (!(Number.isInteger(streamId) && streamId >= 1 && streamId <= MAX_STREAM_ID)) {
    throw usageError(`${what} ${streamId} is outside 1..${MAX_STREAM_ID}`);
  }
}

function controlFrame(type: number, flags: number, payloadLength: number, version = SPDY_VERSION): Buffer {
  checkUint(flags, 0xff, 'flags');
  if (payloadLength > MAX_FRAME_PAYLOAD_BYTES) throw usageError(`payload of ${payloadLength} bytes exceeds the 24-bit length field`);
  const frame = Buffer.allocUnsafe(FRAME_HEADER_BYTES + payloadLength);
  frame.writeUInt16BE(0x8000 | version, 0);
  frame.writeUInt16BE(type, 2);
  frame.writeUInt32BE(((flags << 24) | payloadLength) >>> 0, 4);
  return frame;
}

/** The 8-byte header of a DATA frame; the payload follows it on the wire unchanged. */
export function encodeDataFrameHeader(streamId: number, flags: number, payloadLength: number): Buffer {
  checkStreamId(streamId);
  checkUint(flags, 0xff, 'flags');
  checkUint(payloadLength, MAX_FRAME_PAYLOAD_BYTES, 'DATA payload length');
  const header = Buffer.allocUnsafe(FRAME_HEADER_BYTES);
  header.writeUInt32BE(streamId, 0);
  header.writeUInt32BE(((flags << 24) | payloadLength) >>> 0, 4);
  return header;
}

/** A DATA frame as [header, payload], so the payload is never copied. */
export function encodeDataFrame(frame: DataFrame): [Buffer, Buffer] {
  return [encodeDataFrameHeader(frame.streamId, frame.flags, frame.data.length), frame.data];
}

/**
 * Checks the fixed fields of a header-bearing frame. Called before its block is compressed: a
 * frame refused after compression would leave the zlib context ahead of the peer's.
 */
export function checkHeaderBearingFrame(frame: HeaderBearingFrame): void {
  checkStreamId(frame.streamId);
  checkUint(frame.flags, 0xff, 'flags');
  if (frame.type === 'SYN_STREAM') {
    checkUint(frame.associatedStreamId, MAX_STREAM_ID, 'associated stream id');
    checkUint(frame.priority, 7, 'priority');
    checkUint(frame.slot, 0xff, 'slot');
  }
}

/** SYN_STREAM, SYN_REPLY or HEADERS around an already compressed header block. */
export function encodeHeaderBearingFrame(frame: HeaderBearingFrame, compressedBlock: Uint8Array): Buffer {
  checkHeaderBearingFrame(frame);
  let out: Buffer;
  let offset: number;
  if (frame.type === 'SYN_STREAM') {
    out = controlFrame(ControlType.SYN_STREAM, frame.flags, 10 + compressedBlock.length);
    out.writeUInt32BE(frame.streamId, 8);
    out.writeUInt32BE(frame.associatedStreamId, 12);
    out[16] = frame.priority << 5;
    out[17] = frame.slot;
    offset = 18;
  } else {
    out = controlFrame(frame.type === 'SYN_REPLY' ? ControlType.SYN_REPLY : ControlType.HEADERS, frame.flags, 4 + compressedBlock.length);
    out.writeUInt32BE(frame.streamId, 8);
    offset = 12;
  }
  out.set(compressedBlock, offset);
  return out;
}

/** RST_STREAM: stream id and a non-zero status. */
export function encodeRstStream(frame: RstStreamFrame): Buffer {
  checkStreamId(frame.streamId);
  // Go rejects status 0 on read.
  if (!(Number.isInteger(frame.status) && frame.status >= 1 && frame.status <= 0xffff_ffff)) {
    throw usageError(`RST_STREAM status ${frame.status} is outside 1..2^32-1`);
  }
  const out = controlFrame(ControlType.RST_STREAM, frame.flags, 8);
  out.writeUInt32BE(frame.streamId, 8);
  out.writeUInt32BE(frame.status, 12);
  return out;
}

/** SETTINGS: the entries, each with its flags, id and value. */
export function encodeSettings(frame: SettingsFrame): Buffer {
  const out = controlFrame(ControlType.SETTINGS, frame.flags, 4 + 8 * frame.entries.length);
  out.writeUInt32BE(frame.entries.length, 8);
  let offset = 12;
  for (const entry of frame.entries) {
    checkUint(entry.flags, 0xff, 'SETTINGS entry flags');
    checkUint(entry.id, 0xff_ffff, 'SETTINGS id');
    checkUint(entry.value, 0xffff_ffff, 'SETTINGS value');
    out.writeUInt32BE(((entry.flags << 24) | entry.id) >>> 0, offset);
    out.writeUInt32BE(entry.value, offset + 4);
    offset += 8;
  }
  return out;
}

/** PING: a non-zero id, no flags. */
export function encodePing(frame: PingFrame): Buffer {
  // Go rejects ping id 0 on read.
  if (!(Number.isInteger(frame.id) && frame.id >= 1 && frame.id <= 0xffff_ffff)) throw usageError(`PING id ${frame.id} is outside 1..2^32-1`);
  checkNoFlags(frame.flags, 'PING');
  const out = controlFrame(ControlType.PING, frame.flags, 4);
  out.writeUInt32BE(frame.id, 8);
  return out;
}

/** GOAWAY: last good stream id and status, no flags. */
export function encodeGoAway(frame: GoAwayFrame): Buffer {
  checkUint(frame.lastGoodStreamId, MAX_STREAM_ID, 'last good stream id');
  checkUint(frame.status, 0xffff_ffff, 'GOAWAY status');
  checkNoFlags(frame.flags, 'GOAWAY');
  const out = controlFrame(ControlType.GOAWAY, frame.flags, 8);
  out.writeUInt32BE(frame.lastGoodStreamId, 8);
  out.writeUInt32BE(frame.status, 12);
  return out;
}

/** WINDOW_UPDATE: stream id (0 = the session) and a delta of 1..2^31-1, no flags. */
export function encodeWindowUpdate(frame: WindowUpdateFrame): Buffer {
  checkUint(frame.streamId, MAX_STREAM_ID, 'stream id');
  if (!(Number.isInteger(frame.deltaWindowSize) && frame.deltaWindowSize >= 1 && frame.deltaWindowSize <= MAX_STREAM_ID)) {
    throw usageError(`window delta ${frame.deltaWindowSize} is outside 1..${MAX_STREAM_ID}`);
  }
  checkNoFlags(frame.flags, 'WINDOW_UPDATE');
  const out = controlFrame(ControlType.WINDOW_UPDATE, frame.flags, 8);
  out.writeUInt32BE(frame.streamId, 8);
  out.writeUInt32BE(frame.deltaWindowSize, 12);
  return out;
}

/** An unknown control frame, byte for byte as decoded (tests use it to probe peers). */
export function encodeUnknownControl(frame: UnknownControlFrame): Buffer {
  checkUint(frame.controlType, 0xffff, 'control type');
  checkUint(frame.version, 0x7fff, 'version');
  const out = controlFrame(frame.controlType, frame.flags, frame.payload.length, frame.version);
  out.set(frame.payload, FRAME_HEADER_BYTES);
  return out;
}

/** Any control frame without a header block. */
export function encodeSimpleControlFrame(frame: Exclude<ControlFrame, HeaderBearingFrame>): Buffer {
  switch (frame.type) {
    case 'RST_STREAM':
      return encodeRstStream(frame);
    case 'SETTINGS':
      return encodeSettings(frame);
    case 'PING':
      return encodePing(frame);
    case 'GOAWAY':
      return encodeGoAway(frame);
    case 'WINDOW_UPDATE':
      return encodeWindowUpdate(frame);
    case 'UNKNOWN':
      return encodeUnknownControl(frame);
  }
}

/**
 * Encodes frames for one direction of one session: the pure encoders above plus the session's
 * single header compression context. Frames must be encoded in the order they go on the wire.
 */
export class FrameEncoder {
  readonly #compressor: HeaderCompressor;

  constructor(compressor: HeaderCompressor = new HeaderCompressor()) {
    this.#compressor = compressor;
  }

  /** The bytes of one frame, as one or two buffers (DATA payloads are not copied). */
  encode(frame: Frame): Buffer[] {
    switch (frame.type) {
      case 'DATA':
        return encodeDataFrame(frame);
      case 'SYN_STREAM':
      case 'SYN_REPLY':
      case 'HEADERS': {
        checkHeaderBearingFrame(frame);
        return [encodeHeaderBearingFrame(frame, this.#compressor.compress(frame.headers))];
      }
      default:
        return [encodeSimpleControlFrame(frame)];
    }
  }
}
