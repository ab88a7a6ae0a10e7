/**
 * The encoder never produces a frame Go's spdystream would reject, because one such frame ends
 * spdystream's whole connection (spec/spdy-3.1.md, "Where real peers depart from the draft").
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ErrorCode, KubemuxError } from '../../../src/errors.js';
import { HeaderCompressor } from '../../../src/spdy/compression.js';
import { FrameDecoder } from '../../../src/spdy/decoder.js';
import { FrameEncoder, encodeGoAway, encodePing, encodeWindowUpdate } from '../../../src/spdy/encode.js';
import { encodeHeaderBlock, headerBlockFrom } from '../../../src/spdy/header-block.js';

function isUsageError(error: unknown): boolean {
  return error instanceof KubemuxError && error.code === ErrorCode.INVALID_ARGUMENT && error.scope === 'usage';
}

test('PING, GOAWAY and WINDOW_UPDATE refuse flags (spdystream requires 0)', () => {
  assert.throws(() => encodePing({ type: 'PING', id: 1, flags: 1 }), isUsageError);
  assert.throws(() => encodeGoAway({ type: 'GOAWAY', lastGoodStreamId: 0, status: 0, flags: 1 }), isUsageError);
  assert.throws(() => encodeWindowUpdate({ type: 'WINDOW_UPDATE', streamId: 1, deltaWindowSize: 1, flags: 0x80 }), isUsageError);
  assert.equal(encodePing({ type: 'PING', id: 1, flags: 0 }).toString('hex'), '800300060000000400000001');
});

test('header names must be lower-case tokens, and never the connection-specific ones', () => {
  for (const name of ['Streamtype', 'straße', 'É', 'a b', 'a\u0000b', '']) {
    assert.throws(() => encodeHeaderBlock(new Map([[name, ['x']]])), isUsageError, `name ${JSON.stringify(name)}`);
  }
  for (const name of ['connection', 'host', 'keep-alive', 'proxy-connection', 'transfer-encoding']) {
    assert.throws(() => encodeHeaderBlock(new Map([[name, ['x']]])), isUsageError, name);
  }
  for (const name of ['streamtype', 'port', 'requestid', ':status', 'x-forwarded-for', "a!#$%&'*+-.^_`|~9"]) {
    assert.doesNotThrow(() => encodeHeaderBlock(new Map([[name, ['x']]])), name);
  }
});

test('a refused frame leaves the compression context untouched (the peer decodes the next block)', () => {
  const encoder = new FrameEncoder();
  const decoder = new FrameDecoder();
  const syn = (headers: Record<string, string>, streamId: number) =>
    ({ type: 'SYN_STREAM', streamId, associatedStreamId: 0, priority: 0, slot: 0, flags: 0, headers: headerBlockFrom(headers) }) as const;
  assert.throws(() => encoder.encode(syn({ connection: 'close' }, 1)), isUsageError);
  assert.throws(() => encoder.encode({ ...syn({ port: '1' }, 1), priority: 9 }), isUsageError);
  const got: unknown[] = [];
  for (const bytes of encoder.encode(syn({ port: '8080' }, 1))) decoder.push(bytes, (f) => got.push(f.type === 'SYN_STREAM' && f.headers.get('port')));
  assert.deepEqual(got, [['8080']]);
});

test('an oversized header block is refused before compression', () => {
  const compressor = new HeaderCompressor(1);
  assert.throws(() => compressor.compressRaw(Buffer.alloc(15 * 1024 * 1024 + 1)), isUsageError);
  // The context is still usable.
  assert.ok(compressor.compress(headerBlockFrom({ port: '1' })).length > 0);
});
