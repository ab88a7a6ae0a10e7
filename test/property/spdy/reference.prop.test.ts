/**
 * The library encoder against the naive reference encoder (test/support/reference-encoder.ts):
 * same bytes for every frame type, and the decoder reads what the reference writes.
 * fast-check runs: 300 per frame type, 300 for header blocks and for reference-encoded sequences.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { HeaderCompressor } from '../../../src/spdy/compression.js';
import { FrameEncoder, encodeHeaderBearingFrame } from '../../../src/spdy/encode.js';
import type { Frame } from '../../../src/spdy/frames.js';
import { encodeHeaderBlock } from '../../../src/spdy/header-block.js';
import { decodeChunks } from '../../support/codec-helpers.js';
import { chunkBytes, chunkPlanArb, frameArbitraries, frameSequenceArb, headerBlockArb } from '../../support/frame-arbitraries.js';
import { ReferenceCompressor, referenceEncode, referenceHeaderBlock } from '../../support/reference-encoder.js';

const hex = (bytes: Uint8Array): string => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');

describe('library bytes equal reference bytes', () => {
  for (const [type, arbitrary] of Object.entries(frameArbitraries)) {
    test(type, () => {
      fc.assert(
        fc.property(arbitrary as fc.Arbitrary<Frame>, (frame) => {
          if (frame.type === 'SYN_STREAM' || frame.type === 'SYN_REPLY' || frame.type === 'HEADERS') {
            // Compression is not under test here: both encoders wrap the same compressed block.
            const block = new HeaderCompressor().compress(frame.headers);
            assert.equal(hex(encodeHeaderBearingFrame(frame, block)), hex(referenceEncode(frame, block)));
          } else {
            assert.equal(hex(Buffer.concat(new FrameEncoder().encode(frame))), hex(referenceEncode(frame)));
          }
        }),
        { numRuns: 300 },
      );
    });
  }

  test('uncompressed header blocks', () => {
    fc.assert(
      fc.property(headerBlockArb(12), (headers) => {
        assert.equal(hex(encodeHeaderBlock(headers)), hex(referenceHeaderBlock(headers)));
      }),
      { numRuns: 300 },
    );
  });
});

test('the decoder reads sequences written by the reference encoder and an independent compressor', () => {
  fc.assert(
    fc.property(frameSequenceArb(20), chunkPlanArb, fc.constantFrom(0, 1, 6, 9), (frames, plan, level) => {
      const compressor = new ReferenceCompressor(level as 0 | 1 | 6 | 9);
      const bytes = Buffer.concat(frames.map((f) => referenceEncode(f, 'headers' in f ? compressor.compress(f.headers) : undefined)));
      const { frames: decoded, error } = decodeChunks(chunkBytes(bytes, plan));
      assert.equal(error, undefined);
      assert.deepStrictEqual(decoded, frames);
    }),
    { numRuns: 300 },
  );
});
