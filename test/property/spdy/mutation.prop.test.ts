/**
 * Hostile input: random bytes, random payloads behind valid control headers, and valid encodings
 * with bit flips, truncation, inserted and deleted bytes and oversized length fields. The decoder
 * must deliver frames or fail with a codec KubemuxError (never another exception), keep at most
 * 8 + maxFrameBytes buffered after every push, and stay failed with the same error.
 * fast-check runs: 500 per property.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { ErrorCode, KubemuxError } from '../../../src/errors.js';
import { DEFAULT_MAX_FRAME_BYTES, FrameDecoder } from '../../../src/spdy/decoder.js';
import { FrameEncoder } from '../../../src/spdy/encode.js';
import { chunkBytes, chunkPlanArb, frameSequenceArb, type ChunkPlan } from '../../support/frame-arbitraries.js';
import { rawControlFrame } from '../../support/reference-encoder.js';

/** The codes decoding may produce; anything else (INVALID_ARGUMENT, session codes) is a bug. */
const DECODE_ERRORS: ReadonlySet<string> = new Set([
  ErrorCode.FRAME_TOO_LARGE,
  ErrorCode.PROTOCOL,
  ErrorCode.UNSUPPORTED_VERSION,
  ErrorCode.HEADER_BLOCK,
  ErrorCode.HEADER_BLOCK_TOO_LARGE,
  ErrorCode.COMPRESSION,
]);

// Mostly the default limit, so mutations reach the payload parsers; sometimes a tiny one.
const maxFrameBytesArb = fc.oneof(
  { weight: 3, arbitrary: fc.constant(DEFAULT_MAX_FRAME_BYTES) },
  { weight: 1, arbitrary: fc.integer({ min: 1, max: 4096 }) },
);

/** How often each code was seen, so a test can show its inputs reach every kind of failure. */
const seenCodes = new Map<string, number>();

/**
 * Asserts that the runs so far failed with each of `codes` at least once (each is seen dozens of
 * times per 500 runs), so the generators demonstrably reach those parsers; then starts a new count.
 */
function expectReached(codes: readonly string[]): void {
  for (const code of codes) assert.ok(seenCodes.has(code), `no run reached ${code}; seen: ${JSON.stringify([...seenCodes])}`);
  seenCodes.clear();
}

/** Feeds `bytes` and checks every invariant of the decoder under hostile input. */
function checkHostile(bytes: Uint8Array, plan: ChunkPlan, maxFrameBytes: number): void {
  const decoder = new FrameDecoder({ maxFrameBytes, maxHeaderBlockBytes: 16 * 1024 });
  let failure: KubemuxError | undefined;
  for (const chunk of chunkBytes(bytes, plan)) {
    try {
      decoder.push(chunk, () => {});
    } catch (err) {
      if (!(err instanceof KubemuxError)) throw new Error(`decoder threw a non-KubemuxError: ${String(err)}`, { cause: err });
      assert.ok(DECODE_ERRORS.has(err.code), `unexpected code ${err.code}: ${err.message}`);
      assert.equal(err.scope, 'session');
      failure = err;
      seenCodes.set(err.code, (seenCodes.get(err.code) ?? 0) + 1);
    }
    assert.ok(decoder.bufferedBytes <= 8 + maxFrameBytes, `buffered ${decoder.bufferedBytes} > 8 + ${maxFrameBytes}`);
    if (failure !== undefined) break;
  }
  if (failure !== undefined) {
    assert.throws(() => decoder.push(new Uint8Array([0x80, 0x03, 0x00, 0x06]), () => assert.fail('no frame after failure')), (err: unknown) => err === failure);
  }
}

test('random bytes', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 2048 }), chunkPlanArb, maxFrameBytesArb, (bytes, plan, max) => checkHostile(bytes, plan, max)),
    { numRuns: 500 },
  );
  expectReached([ErrorCode.FRAME_TOO_LARGE]);
});

test('random payloads behind valid version-3 control frame headers', () => {
  const frameArb = fc
    .tuple(fc.integer({ min: 0, max: 11 }), fc.integer({ min: 0, max: 0xff }), fc.uint8Array({ maxLength: 256 }))
    .map(([type, flags, payload]) => rawControlFrame(3, type, flags, payload));
  fc.assert(
    fc.property(fc.array(frameArb, { minLength: 1, maxLength: 8 }), chunkPlanArb, (frames, plan) =>
      checkHostile(Buffer.concat(frames), plan, DEFAULT_MAX_FRAME_BYTES),
    ),
    { numRuns: 500 },
  );
  expectReached([ErrorCode.PROTOCOL, ErrorCode.HEADER_BLOCK, ErrorCode.COMPRESSION]);
});

type Mutation =
  | { readonly kind: 'flip'; readonly at: number; readonly bit: number }
  | { readonly kind: 'truncate'; readonly at: number }
  | { readonly kind: 'insert'; readonly at: number; readonly bytes: Uint8Array }
  | { readonly kind: 'delete'; readonly at: number; readonly count: number }
  | { readonly kind: 'length'; readonly frame: number; readonly length: number };

const mutationArb: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 16 }) }),
  fc.record({ kind: fc.constant('delete' as const), at: fc.nat(), count: fc.integer({ min: 1, max: 16 }) }),
  fc.record({
    kind: fc.constant('length' as const),
    frame: fc.nat(),
    length: fc.oneof(fc.constant(0xff_ffff), fc.integer({ min: 0, max: 0xff_ffff })),
  }),
);

/** Applies one mutation; `starts` are the offsets where frames began before any mutation. */
function mutate(bytes: Buffer, mutation: Mutation, starts: readonly number[]): Buffer {
  if (bytes.length === 0) return bytes;
  switch (mutation.kind) {
    case 'flip': {
      const out = Buffer.from(bytes);
      const at = mutation.at % out.length;
      out[at] = out[at]! ^ (1 << mutation.bit);
      return out;
    }
    case 'truncate':
      return bytes.subarray(0, mutation.at % bytes.length);
    case 'insert': {
      const at = mutation.at % (bytes.length + 1);
      return Buffer.concat([bytes.subarray(0, at), mutation.bytes, bytes.subarray(at)]);
    }
    case 'delete': {
      const at = mutation.at % bytes.length;
      return Buffer.concat([bytes.subarray(0, at), bytes.subarray(at + mutation.count)]);
    }
    case 'length': {
      const start = starts[mutation.frame % starts.length]!;
      if (start + 8 > bytes.length) return bytes;
      const out = Buffer.from(bytes);
      out.writeUIntBE(mutation.length, start + 5, 3);
      return out;
    }
  }
}

test('mutated valid encodings: bit flips, truncation, inserted and deleted bytes, oversized lengths', () => {
  fc.assert(
    fc.property(
      frameSequenceArb(12),
      fc.array(mutationArb, { minLength: 1, maxLength: 4 }),
      chunkPlanArb,
      maxFrameBytesArb,
      (frames, mutations, plan, max) => {
        const encoder = new FrameEncoder();
        const starts: number[] = [];
        const parts: Buffer[] = [];
        let offset = 0;
        for (const frame of frames) {
          starts.push(offset);
          for (const part of encoder.encode(frame)) {
            parts.push(part);
            offset += part.length;
          }
        }
        let bytes: Buffer = Buffer.concat(parts);
        for (const mutation of mutations) bytes = mutate(bytes, mutation, starts);
        checkHostile(bytes, plan, max);
      },
    ),
    { numRuns: 500 },
  );
  expectReached([ErrorCode.FRAME_TOO_LARGE, ErrorCode.HEADER_BLOCK, ErrorCode.COMPRESSION]);
});
