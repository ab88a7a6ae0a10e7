/**
 * Executes every spec/vectors/*.json file (format: spec/vectors/README.md). Files are listed when
 * this module loads, so a vector added by anyone is run without touching this runner.
 */
import assert from 'node:assert/strict';
import { basename } from 'node:path';
import { test } from 'node:test';
import { FrameDecoder } from '../../../src/spdy/decoder.js';
import { FrameEncoder } from '../../../src/spdy/encode.js';
import type { Frame } from '../../../src/spdy/frames.js';
import { assertSameFrames, decodeChunks, encodeAll } from '../../support/codec-helpers.js';
import { chunkBytes } from '../../support/frame-arbitraries.js';
import { VECTORS_DIR } from '../../support/paths.js';
import { loadVector, vectorFiles, type Vector } from '../../support/vectors.js';

const files = vectorFiles();

test(`spec/vectors holds at least one vector (${VECTORS_DIR})`, () => {
  assert.ok(files.length >= 1, 'no *.json vector found: the runner would test nothing');
});

/** A small deterministic PRNG (xorshift32) so chunkings differ per vector but repeat per run. */
function prng(seedText: string): () => number {
  let state = 0x9e37_79b9;
  for (const ch of seedText) state = Math.imul(state ^ ch.charCodeAt(0), 0x0100_0193) >>> 0;
  return () => {
    state ^= state << 13;
    state >>>= 0;
    state ^= state >>> 17;
    state ^= state << 5;
    state >>>= 0;
    return state;
  };
}

/** Chunkings to decode each vector with: whole, byte by byte, every two-way split, and random cuts. */
function chunkings(vector: Vector): Array<{ label: string; chunks: Uint8Array[] }> {
  const bytes = vector.bytes;
  const out: Array<{ label: string; chunks: Uint8Array[] }> = [
    { label: 'one chunk', chunks: [bytes] },
    { label: '1-byte chunks', chunks: chunkBytes(bytes, [1]) },
  ];
  // Every cut point is affordable for small vectors; large captures get a sample of cut points.
  const step = Math.max(1, Math.floor(bytes.length / 512));
  for (let cut = 1; cut < bytes.length; cut += step) {
    out.push({ label: `split at ${cut}`, chunks: [bytes.subarray(0, cut), bytes.subarray(cut)] });
  }
  const next = prng(vector.name);
  for (let i = 0; i < 20; i++) {
    const plan = Array.from({ length: 1 + (next() % 8) }, () => 1 + (next() % Math.max(1, Math.min(bytes.length, 97))));
    out.push({ label: `random plan ${JSON.stringify(plan)}`, chunks: chunkBytes(bytes, plan) });
  }
  return out;
}

/** Checks one decoding run against the vector: its frames, then its error or a clean frame boundary. */
function checkDecoding(vector: Vector, chunks: Iterable<Uint8Array>, label: string): void {
  const decoder = new FrameDecoder();
  const { frames, error } = decodeChunks(chunks, decoder);
  assertSameFrames(frames, vector.frames, `${label}: frames`);
  if (vector.error === undefined) {
    assert.equal(error, undefined, `${label}: unexpected ${error?.code}: ${error?.message}`);
    assert.ok(decoder.idle, `${label}: the bytes end inside a frame`);
  } else {
    assert.equal(error?.code, vector.error, `${label}: expected ${vector.error}, got ${error === undefined ? 'no error' : `${error.code}: ${error.message}`}`);
  }
}

for (const file of files) {
  test(`vector ${basename(file)}`, async (t) => {
    const vector = loadVector(file);

    await t.test('decodes to its frames in any chunking', () => {
      for (const { label, chunks } of chunkings(vector)) checkDecoding(vector, chunks, label);
    });

    if (vector.encodeExact) {
      await t.test('a fresh FrameEncoder reproduces its bytes exactly', () => {
        const encoded = encodeAll(vector.frames as Frame[], new FrameEncoder()).toString('hex');
        if (vector.error === undefined) {
          assert.equal(encoded, vector.hex);
        } else {
          // A failing vector ends in bytes no encoder produces; the frames before them must match.
          assert.ok(vector.hex.startsWith(encoded) && encoded.length < vector.hex.length, `encoded ${encoded} is not a proper prefix of the vector`);
        }
      });
    }

    if (vector.wsMessages !== undefined) {
      const messages = vector.wsMessages;
      await t.test('its WebSocket messages concatenate to its bytes and decode message by message', () => {
        assert.equal(Buffer.concat(messages).toString('hex'), vector.hex);
        checkDecoding(vector, messages, 'message by message');
      });
    }
  });
}
