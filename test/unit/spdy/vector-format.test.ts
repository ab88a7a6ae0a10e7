/** The vector loader (test/support/vectors.ts) is strict, so a typo in a vector file cannot pass silently. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { assertSameFrames, comparableFrame } from '../../support/codec-helpers.js';
import { frameArb } from '../../support/frame-arbitraries.js';
import { frameFromJson, frameToJson, parseVector } from '../../support/vectors.js';

const VALID = {
  name: 'sample',
  description: 'one PING',
  source: 'this test',
  direction: 'client-to-server',
  transport: 'spdy',
  hex: '800300060000000400000001',
  encodeExact: true,
  frames: [{ type: 'PING', id: 1, flags: 0 }],
};

function parse(overrides: Record<string, unknown>, file = 'sample.json') {
  return parseVector(JSON.stringify({ ...VALID, ...overrides }), `/somewhere/${file}`);
}

describe('parseVector', () => {
  test('accepts a well-formed vector', () => {
    const vector = parse({});
    assert.equal(vector.bytes.toString('hex'), VALID.hex);
    assert.deepEqual(vector.frames, [{ type: 'PING', id: 1, flags: 0 }]);
    assert.equal(vector.error, undefined);
  });

  const rejected: ReadonlyArray<readonly [string, Record<string, unknown>, string?]> = [
    ['a name that is not the file name', {}, 'other.json'],
    ['an unknown top-level field', { encodeExcat: true }],
    ['upper-case hex', { hex: '8003000600000004000000AB' }],
    ['an odd number of hex digits', { hex: '800' }],
    ['an unknown error code', { error: 'ERR_NOPE' }],
    ['wsMessages on a spdy transport', { wsMessages: ['80'] }],
    ['an unknown frame type', { frames: [{ type: 'NOOP' }] }],
    ['a misspelt frame field', { frames: [{ type: 'PING', Id: 1, flags: 0 }] }],
    ['a missing frame field', { frames: [{ type: 'PING', id: 1 }] }],
    ['a negative number', { frames: [{ type: 'PING', id: -1, flags: 0 }] }],
    ['a header value that is not a list', { frames: [{ type: 'SYN_REPLY', streamId: 1, flags: 0, headers: { port: '80' } }] }],
    ['a SETTINGS entry with an extra field', { frames: [{ type: 'SETTINGS', flags: 0, entries: [{ id: 7, flags: 0, value: 1, persist: true }] }] }],
  ];
  for (const [what, overrides, file] of rejected) {
    test(`rejects ${what}`, () => {
      assert.throws(() => parse(overrides, file), { name: 'VectorFormatError' });
    });
  }
});

describe('frame JSON form', () => {
  test('frameFromJson(frameToJson(frame)) is the frame, through JSON text', () => {
    fc.assert(
      fc.property(frameArb, (frame) => {
        assert.deepStrictEqual(frameFromJson(JSON.parse(JSON.stringify(frameToJson(frame)))), frame);
      }),
      { numRuns: 200 },
    );
  });

  test('header names compare as a set, values in order', () => {
    const a = frameFromJson({ type: 'HEADERS', streamId: 1, flags: 0, headers: { x: ['1', '2'], y: ['3'] } });
    const b = frameFromJson({ type: 'HEADERS', streamId: 1, flags: 0, headers: { y: ['3'], x: ['1', '2'] } });
    const c = frameFromJson({ type: 'HEADERS', streamId: 1, flags: 0, headers: { x: ['2', '1'], y: ['3'] } });
    assertSameFrames([a], [b]);
    assert.notDeepStrictEqual(comparableFrame(a), comparableFrame(c));
  });
});
