import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SPDY3_DICTIONARY } from '../../../src/spdy/dictionary.js';

/** Adler-32 (RFC 1950, section 8), computed here rather than taken from a library. */
function adler32(bytes: Uint8Array): number {
  const MOD = 65521;
  let a = 1;
  let b = 0;
  for (const byte of bytes) {
    a = (a + byte) % MOD;
    b = (b + a) % MOD;
  }
  return ((b << 16) | a) >>> 0;
}

test('the SPDY/3 dictionary is 1423 bytes with Adler-32 0xe3c6a7c2 (the DICTID Go announces)', () => {
  assert.equal(SPDY3_DICTIONARY.length, 1423);
  assert.equal(adler32(SPDY3_DICTIONARY).toString(16), 'e3c6a7c2');
});

test('the dictionary starts with length-prefixed words and ends with the raw tail', () => {
  const text = Buffer.from(SPDY3_DICTIONARY).toString('latin1');
  assert.equal(Buffer.from(SPDY3_DICTIONARY.subarray(0, 4)).readUInt32BE(0), 7);
  assert.equal(text.slice(4, 11), 'options');
  assert.ok(text.endsWith(',utf-,*,enq=0.'));
});

test('adler32 matches the RFC 1950 value of a known string', () => {
  // "Wikipedia" is the textbook example: 0x11e60398.
  assert.equal(adler32(Buffer.from('Wikipedia')), 0x11e60398);
});
