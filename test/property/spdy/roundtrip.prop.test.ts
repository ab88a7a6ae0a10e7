/**
 * decode(encode(frames)) = frames, for every frame type, over long sequences that share one header
 * compression context per direction, and for any cutting of the byte stream into chunks.
 * fast-check runs: 200 per frame type, 300 for the sequence and chunking properties.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { FrameDecoder } from '../../../src/spdy/decoder.js';
import { FrameEncoder } from '../../../src/spdy/encode.js';
import type { Frame } from '../../../src/spdy/frames.js';
import { decodeChunks, encodeAll } from '../../support/codec-helpers.js';
import { chunkBytes, chunkPlanArb, frameArbitraries, frameSequenceArb } from '../../support/frame-arbitraries.js';

describe('round trip per frame type', () => {
  for (const [type, arbitrary] of Object.entries(frameArbitraries)) {
    test(type, () => {
      fc.assert(
        fc.property(arbitrary as fc.Arbitrary<Frame>, (frame) => {
          const { frames, error } = decodeChunks([encodeAll([frame])]);
          assert.equal(error, undefined);
          assert.deepStrictEqual(frames, [frame]);
        }),
        { numRuns: 200 },
      );
    });
  }
});

test('both directions of a session round trip, each on its own pair of compression contexts', () => {
  fc.assert(
    fc.property(
      frameSequenceArb(30),
      frameSequenceArb(30),
      fc.array(fc.boolean(), { minLength: 60, maxLength: 60 }),
      (clientFrames, serverFrames, turns) => {
        // Encode in one interleaved order (as a session would) and decode each direction with its
        // own decoder, also interleaved: the two contexts must never touch.
        const toServer = { encoder: new FrameEncoder(), decoder: new FrameDecoder(), frames: clientFrames, next: 0, got: [] as Frame[] };
        const toClient = { encoder: new FrameEncoder(), decoder: new FrameDecoder(), frames: serverFrames, next: 0, got: [] as Frame[] };
        let turn = 0;
        while (toServer.next < toServer.frames.length || toClient.next < toClient.frames.length) {
          const preferServer = turns[turn++ % turns.length]!;
          const side = (preferServer && toServer.next < toServer.frames.length) || toClient.next >= toClient.frames.length ? toServer : toClient;
          for (const bytes of side.encoder.encode(side.frames[side.next++]!)) side.decoder.push(bytes, (f) => side.got.push(f));
        }
        assert.deepStrictEqual(toServer.got, clientFrames);
        assert.deepStrictEqual(toClient.got, serverFrames);
        assert.ok(toServer.decoder.idle && toClient.decoder.idle);
      },
    ),
    { numRuns: 300 },
  );
});

test('any cutting of an encoded sequence into chunks (including 1-byte chunks) decodes to the same frames', () => {
  fc.assert(
    fc.property(frameSequenceArb(20), chunkPlanArb, (frames, plan) => {
      const bytes = encodeAll(frames);
      const decoder = new FrameDecoder();
      const { frames: decoded, error } = decodeChunks(chunkBytes(bytes, plan), decoder);
      assert.equal(error, undefined);
      assert.deepStrictEqual(decoded, frames);
      assert.ok(decoder.idle);
    }),
    { numRuns: 300 },
  );
});
