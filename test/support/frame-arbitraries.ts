/**
 * fast-check arbitraries for every variant of the {@link Frame} union, restricted to values the
 * wire can carry and a conforming peer accepts, so that `decode(encode(frame))` must equal `frame`.
 *
 * DATA and UNKNOWN payloads are Buffers (what the decoder hands out), so decoded frames compare
 * deep-equal to generated ones.
 */
import fc from 'fast-check';
import type {
  DataFrame,
  Frame,
  GoAwayFrame,
  HeaderBlock,
  HeadersFrame,
  PingFrame,
  RstStreamFrame,
  SettingsEntry,
  SettingsFrame,
  SynReplyFrame,
  SynStreamFrame,
  UnknownControlFrame,
  WindowUpdateFrame,
} from '../../src/spdy/frames.js';

const MAX_31 = 0x7fff_ffff;
const MAX_32 = 0xffff_ffff;

/** Control types the codec decodes itself; everything else must come out as UNKNOWN. */
export const KNOWN_CONTROL_TYPES: ReadonlySet<number> = new Set([1, 2, 3, 4, 6, 7, 8, 9]);

/** Stream ids: 1 to 2^31-1. */
export const streamIdArb = fc.integer({ min: 1, max: MAX_31 });
/** Any 8-bit flag set: unknown bits must survive a round trip. */
export const flagsArb = fc.integer({ min: 0, max: 0xff });

/**
 * fc.record without its default null prototype: decoded frames are plain objects, and
 * deepStrictEqual compares prototypes.
 */
function record<T>(model: { [K in keyof T]: fc.Arbitrary<T[K]> }): fc.Arbitrary<T> {
  return fc.record(model, { noNullPrototype: true }) as fc.Arbitrary<T>;
}

function toBuffer(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** Byte payloads as Buffers, up to `maxLength` bytes. */
export function bytesArb(maxLength: number): fc.Arbitrary<Buffer> {
  return fc.uint8Array({ maxLength }).map(toBuffer);
}

const NAME_CHARS = [...'abcdefghijklmnopqrstuvwxyz0123456789-_.:'];

/** Header names the encoder sends: non-empty lower-case tokens (the decoder accepts more). */
export const headerNameArb: fc.Arbitrary<string> = fc
  .string({ unit: fc.constantFrom(...NAME_CHARS), minLength: 1, maxLength: 24 })
  // The encoder refuses connection-specific names (spdystream drops the connection on them).
  .filter((name) => !['connection', 'host', 'keep-alive', 'proxy-connection', 'transfer-encoding'].includes(name));

/** One header value: any Unicode text without NUL (NUL separates values on the wire). */
export const headerValueArb: fc.Arbitrary<string> = fc.oneof(
  fc.string({ unit: 'grapheme-ascii', maxLength: 40 }),
  fc.string({ unit: 'grapheme', maxLength: 8 }),
  fc.string({ unit: 'binary', maxLength: 16 }).filter((s) => !s.includes('\0')),
);

/** Header blocks: 0 to `maxNames` unique lower-case names, each with 1 to 4 values. */
export function headerBlockArb(maxNames = 8): fc.Arbitrary<HeaderBlock> {
  return fc
    .uniqueArray(fc.tuple(headerNameArb, fc.array(headerValueArb, { minLength: 1, maxLength: 4 })), {
      selector: ([name]) => name,
      maxLength: maxNames,
    })
    .map((pairs) => new Map(pairs));
}

/** DATA frames with payloads up to 4 KiB. */
export const dataFrameArb: fc.Arbitrary<DataFrame> = record({
  type: fc.constant('DATA' as const),
  streamId: streamIdArb,
  flags: flagsArb,
  data: bytesArb(4096),
});

/** SYN_STREAM frames: any associated stream, priority 0..7, any slot. */
export const synStreamFrameArb: fc.Arbitrary<SynStreamFrame> = record({
  type: fc.constant('SYN_STREAM' as const),
  streamId: streamIdArb,
  associatedStreamId: fc.integer({ min: 0, max: MAX_31 }),
  priority: fc.integer({ min: 0, max: 7 }),
  slot: fc.integer({ min: 0, max: 0xff }),
  flags: flagsArb,
  headers: headerBlockArb(),
});

/** SYN_REPLY frames. */
export const synReplyFrameArb: fc.Arbitrary<SynReplyFrame> = record({
  type: fc.constant('SYN_REPLY' as const),
  streamId: streamIdArb,
  flags: flagsArb,
  headers: headerBlockArb(),
});

/** HEADERS frames. */
export const headersFrameArb: fc.Arbitrary<HeadersFrame> = record({
  type: fc.constant('HEADERS' as const),
  streamId: streamIdArb,
  flags: flagsArb,
  headers: headerBlockArb(),
});

/** RST_STREAM frames: mostly the defined statuses 1..11, sometimes any non-zero 32-bit status. */
export const rstStreamFrameArb: fc.Arbitrary<RstStreamFrame> = record({
  type: fc.constant('RST_STREAM' as const),
  streamId: streamIdArb,
  status: fc.oneof(fc.integer({ min: 1, max: 11 }), fc.integer({ min: 1, max: MAX_32 })),
  flags: flagsArb,
});

/** SETTINGS entries: mostly the defined ids 1..8, sometimes any 24-bit id. */
export const settingsEntryArb: fc.Arbitrary<SettingsEntry> = record({
  id: fc.oneof(fc.integer({ min: 1, max: 8 }), fc.integer({ min: 0, max: 0xff_ffff })),
  flags: flagsArb,
  value: fc.integer({ min: 0, max: MAX_32 }),
});

/** SETTINGS frames with 0 to 12 entries. */
export const settingsFrameArb: fc.Arbitrary<SettingsFrame> = record({
  type: fc.constant('SETTINGS' as const),
  flags: flagsArb,
  entries: fc.array(settingsEntryArb, { maxLength: 12 }),
});

/** PING frames with ids 1..2^32-1. */
export const pingFrameArb: fc.Arbitrary<PingFrame> = record({
  type: fc.constant('PING' as const),
  id: fc.integer({ min: 1, max: MAX_32 }),
  // The encoder refuses flags on this frame type (spdystream rejects them).
  flags: fc.constant(0),
});

/** GOAWAY frames: mostly the defined statuses 0..2, sometimes any 32-bit status. */
export const goAwayFrameArb: fc.Arbitrary<GoAwayFrame> = record({
  type: fc.constant('GOAWAY' as const),
  lastGoodStreamId: fc.integer({ min: 0, max: MAX_31 }),
  status: fc.oneof(fc.integer({ min: 0, max: 2 }), fc.integer({ min: 0, max: MAX_32 })),
  // The encoder refuses flags on this frame type (spdystream rejects them).
  flags: fc.constant(0),
});

/** WINDOW_UPDATE frames, including the session window (stream 0). */
export const windowUpdateFrameArb: fc.Arbitrary<WindowUpdateFrame> = record({
  type: fc.constant('WINDOW_UPDATE' as const),
  // 0 is the session window.
  streamId: fc.integer({ min: 0, max: MAX_31 }),
  deltaWindowSize: fc.integer({ min: 1, max: MAX_31 }),
  // The encoder refuses flags on this frame type (spdystream rejects them).
  flags: fc.constant(0),
});

/** Control frames of types the codec does not define (NOOP 5 and CREDENTIAL 10 among them), version 3. */
export const unknownControlFrameArb: fc.Arbitrary<UnknownControlFrame> = record({
  type: fc.constant('UNKNOWN' as const),
  controlType: fc
    .oneof(fc.constantFrom(0, 5, 10), fc.integer({ min: 0, max: 0xffff }))
    .filter((controlType) => !KNOWN_CONTROL_TYPES.has(controlType)),
  version: fc.constant(3),
  flags: flagsArb,
  payload: bytesArb(512),
});

/** One arbitrary per frame type, for properties that must hold for each type separately. */
export const frameArbitraries: { readonly [K in Frame['type']]: fc.Arbitrary<Extract<Frame, { type: K }>> } = {
  DATA: dataFrameArb,
  SYN_STREAM: synStreamFrameArb,
  SYN_REPLY: synReplyFrameArb,
  HEADERS: headersFrameArb,
  RST_STREAM: rstStreamFrameArb,
  SETTINGS: settingsFrameArb,
  PING: pingFrameArb,
  GOAWAY: goAwayFrameArb,
  WINDOW_UPDATE: windowUpdateFrameArb,
  UNKNOWN: unknownControlFrameArb,
};

/** Any frame, every type equally likely. */
export const frameArb: fc.Arbitrary<Frame> = fc.oneof(...Object.values(frameArbitraries));

/**
 * A frame sequence for one direction of a session. Header-bearing frames are weighted up so
 * that most sequences carry several blocks on the same compression context.
 */
export function frameSequenceArb(maxLength = 24): fc.Arbitrary<Frame[]> {
  const weighted: fc.Arbitrary<Frame> = fc.oneof(
    { weight: 3, arbitrary: fc.oneof(synStreamFrameArb, synReplyFrameArb, headersFrameArb) },
    { weight: 2, arbitrary: dataFrameArb },
    { weight: 3, arbitrary: frameArb },
  );
  return fc.array(weighted, { minLength: 1, maxLength });
}

/**
 * How to cut a byte stream into input chunks: chunk sizes, used cyclically until the stream is
 * exhausted. `[1]` feeds one byte at a time.
 */
export type ChunkPlan = readonly number[];

/** Chunk plans: byte by byte, small irregular chunks, and large chunks spanning frames. */
export const chunkPlanArb: fc.Arbitrary<ChunkPlan> = fc.oneof(
  fc.constant([1]),
  fc.array(fc.integer({ min: 1, max: 64 }), { minLength: 1, maxLength: 16 }),
  fc.array(fc.integer({ min: 1, max: 8192 }), { minLength: 1, maxLength: 4 }),
);

/** Cuts `bytes` into consecutive views following `plan`. */
export function chunkBytes(bytes: Uint8Array, plan: ChunkPlan): Uint8Array[] {
  const chunks: Uint8Array[] = [];
  let offset = 0;
  for (let i = 0; offset < bytes.length; i++) {
    const size = Math.max(1, plan[i % plan.length]!);
    chunks.push(bytes.subarray(offset, offset + size));
    offset += size;
  }
  return chunks;
}
