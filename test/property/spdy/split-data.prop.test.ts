/**
 * The decoder's byte-stream mode for DATA (`splitDataPayloads`, what the session uses): for any
 * cutting of an encoded sequence into chunks, every payload byte is handed out exactly once, as a
 * view of an input chunk (never copied), in order, with FIN only on a frame's last piece, and
 * every other frame arrives whole and unchanged. fast-check runs: 300.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { FLAG_FIN } from '../../../src/spdy/constants.js';
import { FrameDecoder } from '../../../src/spdy/decoder.js';
import type { DataFrame, Frame } from '../../../src/spdy/frames.js';
import { encodeAll } from '../../support/codec-helpers.js';
import { chunkBytes, chunkPlanArb, frameSequenceArb } from '../../support/frame-arbitraries.js';

/** Merges consecutive DATA pieces of one frame back into whole frames, checking FIN placement. */
function reassemble(pieces: readonly Frame[]): Frame[] {
  const frames: Frame[] = [];
  let open: { streamId: number; parts: Buffer[] } | undefined;
  for (const piece of pieces) {
    if (piece.type !== 'DATA') {
      assert.equal(open, undefined, 'a control frame arrived in the middle of a DATA payload');
      frames.push(piece);
      continue;
    }
    open ??= { streamId: piece.streamId, parts: [] };
    assert.equal(piece.streamId, open.streamId);
    open.parts.push(piece.data);
    // Pieces that are not the frame's last never carry FIN; the decoder marks the end of a frame
    // by delivering it with its own flags, which the test recognises from the encoded lengths.
    if ((piece as DataFrame & { last?: boolean }).last !== false) {
      frames.push({ type: 'DATA', streamId: open.streamId, flags: piece.flags, data: Buffer.concat(open.parts) });
      open = undefined;
    }
  }
  assert.equal(open, undefined, 'the input ended inside a DATA payload');
  return frames;
}

test('split DATA payloads are views, delivered once and in order, FIN only on the last piece', () => {
  fc.assert(
    fc.property(frameSequenceArb(20), chunkPlanArb, (frames, plan) => {
      const bytes = encodeAll(frames);
      const chunks = chunkBytes(bytes, plan);
      const inputBuffers = new Set(chunks.map((chunk) => chunk.buffer));
      const decoder = new FrameDecoder({ splitDataPayloads: true });
      const pieces: Frame[] = [];
      // Tag each piece with whether it completes its frame, from the lengths the frames declare.
      const expectedDataLengths = frames.filter((f): f is DataFrame => f.type === 'DATA').map((f) => f.data.length);
      let dataIndex = 0;
      let receivedOfCurrent = 0;
      for (const chunk of chunks) {
        decoder.push(chunk, (frame) => {
          if (frame.type === 'DATA') {
            receivedOfCurrent += frame.data.length;
            const last = receivedOfCurrent === expectedDataLengths[dataIndex];
            if (!last) assert.equal(frame.flags & FLAG_FIN, 0, 'FIN on a piece that is not the last');
            if (frame.data.length > 0) assert.ok(inputBuffers.has(frame.data.buffer), 'a DATA payload was copied');
            if (last) {
              dataIndex++;
              receivedOfCurrent = 0;
            }
            pieces.push(Object.assign({}, frame, { last }));
          } else {
            pieces.push(frame);
          }
          // A split payload is never held: at most a frame header is buffered.
          assert.ok(decoder.bufferedBytes <= 8);
        });
        assert.ok(decoder.bufferedBytes <= 8 + 0xffffff);
      }
      const rebuilt = reassemble(pieces).map((f) => (f.type === 'DATA' ? { type: f.type, streamId: f.streamId, flags: f.flags, data: f.data } : f));
      assert.deepStrictEqual(rebuilt, frames);
      assert.ok(decoder.idle);
    }),
    { numRuns: 300 },
  );
});
