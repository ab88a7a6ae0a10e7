import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Deflate, Z_FINISH, Z_NO_FLUSH, Z_SYNC_FLUSH } from 'pako';
import { ErrorCode, KubemuxError } from '../../../src/errors.js';
import { DEFAULT_MAX_HEADER_BLOCK_BYTES, HeaderCompressor, HeaderDecompressor } from '../../../src/spdy/compression.js';
import { FrameDecoder } from '../../../src/spdy/decoder.js';
import { SPDY3_DICTIONARY } from '../../../src/spdy/dictionary.js';
import { encodeHeaderBearingFrame } from '../../../src/spdy/encode.js';
import type { HeaderBlock } from '../../../src/spdy/frames.js';
import { decodeChunks, expectKubemuxError } from '../../support/codec-helpers.js';
import { ReferenceCompressor } from '../../support/reference-encoder.js';

const MiB = 1024 * 1024;

/** A zlib stream as SPDY uses it, driven step by step: push input, optionally flush, collect output. */
function deflater(dictionary: Uint8Array = SPDY3_DICTIONARY, level: 0 | 1 | 6 | 9 = 6) {
  const deflate = new Deflate({ level, dictionary });
  let out: Uint8Array[] = [];
  deflate.onData = (chunk) => {
    out.push(chunk.slice());
  };
  return (input: Uint8Array, flush: typeof Z_NO_FLUSH | typeof Z_SYNC_FLUSH | typeof Z_FINISH): Buffer => {
    assert.ok(deflate.push(input, flush), deflate.msg);
    const result = Buffer.concat(out);
    out = [];
    return result;
  };
}

describe('HeaderCompressor', () => {
  test('the first block carries a zlib header announcing the SPDY/3 dictionary; every block ends in a sync flush', () => {
    const compressor = new HeaderCompressor();
    const first = compressor.compress(new Map([['streamtype', ['error']]]));
    const second = compressor.compress(new Map());
    assert.equal(first[0], 0x78, 'deflate with a 32 KiB window');
    assert.ok((first[1]! & 0x20) !== 0, 'FDICT is set');
    assert.equal(((first[0]! << 8) | first[1]!) % 31, 0, 'FCHECK holds');
    assert.equal(first.subarray(2, 6).toString('hex'), 'e3c6a7c2');
    for (const block of [first, second]) assert.equal(block.subarray(-4).toString('hex'), '0000ffff');
    assert.notEqual(second[0], 0x78, 'later blocks continue the same zlib stream without a header');
  });
});

describe('HeaderDecompressor', () => {
  test('decodes many consecutive blocks of an independent compressor on one context', () => {
    const reference = new ReferenceCompressor(9);
    const decompressor = new HeaderDecompressor();
    for (let i = 0; i < 50; i++) {
      const headers: HeaderBlock = new Map([
        ['streamtype', [i % 2 === 0 ? 'data' : 'error']],
        ['port', [String(8000 + i)]],
        ['requestid', [String(i)]],
      ]);
      assert.deepEqual(decompressor.decompress(reference.compress(headers)), headers);
    }
  });

  test('a corrupt zlib stream fails with ERR_COMPRESSION, and every later block rethrows that error', () => {
    const decompressor = new HeaderDecompressor();
    const first = expectKubemuxError(() => decompressor.decompress(Buffer.from('0000000000ffff', 'hex')), ErrorCode.COMPRESSION, 'session');
    assert.doesNotMatch(first.message, /ended its zlib stream/, 'a corrupt stream is not reported as a finished one');
    const good = new HeaderCompressor().compress(new Map([['a', ['b']]]));
    let again: unknown;
    try {
      decompressor.decompress(good);
    } catch (err) {
      again = err;
    }
    assert.equal(again, first);
  });

  test('a block compressed with another dictionary fails with ERR_COMPRESSION', () => {
    const block = deflater(Buffer.from('not the spdy dictionary'))(Buffer.from('00000000', 'hex'), Z_SYNC_FLUSH);
    expectKubemuxError(() => new HeaderDecompressor().decompress(block), ErrorCode.COMPRESSION);
  });

  test('a peer that ends its zlib stream (Z_FINISH; SPDY never does): that block decodes, the next fails with ERR_COMPRESSION', () => {
    const finished = deflater()(Buffer.from('00000001' + '00000001' + '61' + '00000000', 'hex'), Z_FINISH);
    const decompressor = new HeaderDecompressor();
    assert.deepEqual(decompressor.decompress(finished), new Map([['a', ['']]]));
    const err = expectKubemuxError(() => decompressor.decompress(new HeaderCompressor().compress(new Map())), ErrorCode.COMPRESSION, 'session');
    assert.match(err.message, /ended its zlib stream/);
  });

  test('a block of exactly maxHeaderBlockBytes passes; one byte more fails with ERR_HEADER_BLOCK_TOO_LARGE', () => {
    const max = 1000;
    // 4 (count) + 4 + 1 (name "a") + 4 + value = max
    const exact: HeaderBlock = new Map([['a', ['v'.repeat(max - 13)]]]);
    const over: HeaderBlock = new Map([['a', ['v'.repeat(max - 12)]]]);
    assert.deepEqual(new HeaderDecompressor(max).decompress(new HeaderCompressor().compress(exact)), exact);
    expectKubemuxError(() => new HeaderDecompressor(max).decompress(new HeaderCompressor().compress(over)), ErrorCode.HEADER_BLOCK_TOO_LARGE, 'session');
  });
});

describe('zlib bomb', () => {
  test('a SYN_STREAM whose block inflates to 50 MB fails fast, without inflating it', () => {
    // 50 MiB of zeros through one sync-flushed block, pushed 1 MiB at a time so the test itself
    // never holds the 50 MiB.
    const compress = deflater(SPDY3_DICTIONARY, 1);
    const zeros = new Uint8Array(MiB);
    const parts: Buffer[] = [];
    for (let i = 0; i < 49; i++) parts.push(compress(zeros, Z_NO_FLUSH));
    parts.push(compress(zeros, Z_SYNC_FLUSH));
    const block = Buffer.concat(parts);
    assert.ok(block.length < 256 * 1024, `the bomb is small on the wire (${block.length} bytes)`);
    const frame = encodeHeaderBearingFrame(
      { type: 'SYN_STREAM', streamId: 1, associatedStreamId: 0, priority: 0, slot: 0, flags: 0, headers: new Map() },
      block,
    );

    const before = process.memoryUsage();
    const started = performance.now();
    const { frames, error } = decodeChunks([frame], new FrameDecoder());
    const elapsedMs = performance.now() - started;
    const after = process.memoryUsage();

    assert.deepEqual(frames, []);
    assert.ok(error instanceof KubemuxError);
    assert.equal(error.code, ErrorCode.HEADER_BLOCK_TOO_LARGE);
    assert.equal(error.streamId, 1);
    assert.ok(DEFAULT_MAX_HEADER_BLOCK_BYTES < 50 * MiB);
    // Measured about 10 ms and well under 1 MiB of growth; the bounds leave room for slow machines
    // and GC noise, while full inflation would need 50 MiB.
    assert.ok(elapsedMs < 1000, `took ${elapsedMs.toFixed(1)} ms`);
    const rssGrowth = after.rss - before.rss;
    const arrayBufferGrowth = after.arrayBuffers - before.arrayBuffers;
    assert.ok(rssGrowth < 16 * MiB, `rss grew by ${(rssGrowth / MiB).toFixed(1)} MiB`);
    assert.ok(arrayBufferGrowth < 16 * MiB, `arrayBuffers grew by ${(arrayBufferGrowth / MiB).toFixed(1)} MiB`);
  });
});
