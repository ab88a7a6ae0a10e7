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
import { ErrorCode } from '../../../src/errors.js';
import { DEFAULT_MAX_FRAME_BYTES } from '../../../src/spdy/decoder.js';
import { chunkPlanArb, frameSequenceArb, type ChunkPlan } from '../../support/frame-arbitraries.js';
import { checkHostileDecoding, encodeWithStarts, mutate, mutationArb } from '../../support/mutations.js';
import { rawControlFrame } from '../../support/reference-encoder.js';

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

/** {@link checkHostileDecoding}, counting the codes seen. */
function checkHostile(bytes: Uint8Array, plan: ChunkPlan, maxFrameBytes: number): void {
  const failure = checkHostileDecoding(bytes, plan, maxFrameBytes);
  if (failure !== undefined) seenCodes.set(failure.code, (seenCodes.get(failure.code) ?? 0) + 1);
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

test('mutated valid encodings: bit flips, truncation, inserted and deleted bytes, oversized lengths', () => {
  fc.assert(
    fc.property(
      frameSequenceArb(12),
      fc.array(mutationArb, { minLength: 1, maxLength: 4 }),
      chunkPlanArb,
      maxFrameBytesArb,
      (frames, mutations, plan, max) => {
        const encoded = encodeWithStarts(frames);
        let bytes: Buffer = encoded.bytes;
        const { starts } = encoded;
        for (const mutation of mutations) bytes = mutate(bytes, mutation, starts);
        checkHostile(bytes, plan, max);
      },
    ),
    { numRuns: 500 },
  );
  expectReached([ErrorCode.FRAME_TOO_LARGE, ErrorCode.HEADER_BLOCK, ErrorCode.COMPRESSION]);
});
