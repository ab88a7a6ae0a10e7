import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ErrorCode } from '../../../src/errors.js';
import { HeaderCompressor, HeaderDecompressor } from '../../../src/spdy/compression.js';
import { FrameDecoder } from '../../../src/spdy/decoder.js';
import { FrameEncoder } from '../../../src/spdy/encode.js';
import type { Frame, HeaderBlock } from '../../../src/spdy/frames.js';
import { decodeHeaderBlock, encodeHeaderBlock, headerBlockFrom, headerValue } from '../../../src/spdy/header-block.js';
import { decodeChunks, expectKubemuxError } from '../../support/codec-helpers.js';
import { ReferenceCompressor, rawControlFrame, referenceHeaderBlock } from '../../support/reference-encoder.js';

/** A raw name/value block: the given pair count, then the pairs, then optional trailing bytes. */
function rawBlock(count: number, pairs: ReadonlyArray<readonly [string, string]>, trailing: number[] = []): Buffer {
  const parts: Buffer[] = [];
  const u32 = (n: number): Buffer => {
    const b = Buffer.alloc(4);
    b.writeUInt32BE(n);
    return b;
  };
  parts.push(u32(count));
  for (const [name, value] of pairs) {
    const n = Buffer.from(name, 'utf8');
    const v = Buffer.from(value, 'utf8');
    parts.push(u32(n.length), n, u32(v.length), v);
  }
  parts.push(Buffer.from(trailing));
  return Buffer.concat(parts);
}

const SAMPLE: HeaderBlock = new Map([
  ['streamtype', ['data']],
  ['port', ['8080']],
  ['requestid', ['0']],
  ['x-multi', ['a', '', 'c']],
  ['x-unicode', ['grüße ✓ 🐱']],
]);

describe('header block encoding', () => {
  test('matches the reference layout byte for byte (32-bit counts, values joined by NUL)', () => {
    assert.deepEqual(new Uint8Array(encodeHeaderBlock(SAMPLE)), referenceHeaderBlock(SAMPLE));
    assert.equal(encodeHeaderBlock(new Map()).toString('hex'), '00000000');
    assert.equal(
      encodeHeaderBlock(new Map([['a', ['x', 'y']]])).toString('hex'),
      '00000001' + '00000001' + '61' + '00000003' + '780079',
    );
  });

  test('round trips, keeping wire order, empty values and multiple values', () => {
    const decoded = decodeHeaderBlock(encodeHeaderBlock(SAMPLE));
    assert.deepEqual(decoded, SAMPLE);
    assert.deepEqual([...decoded.keys()], [...SAMPLE.keys()]);
  });

  const usageCases: ReadonlyArray<readonly [string, HeaderBlock]> = [
    ['an upper-case name', new Map([['StreamType', ['data']]])],
    ['an empty name', new Map([['', ['x']]])],
    ['a name with NUL', new Map([['a\0b', ['x']]])],
    ['a value with NUL', new Map([['a', ['x\0y']]])],
    ['a name without values', new Map([['a', []]])],
  ];
  for (const [what, headers] of usageCases) {
    test(`refuses ${what} with a usage error`, () => {
      expectKubemuxError(() => encodeHeaderBlock(headers), ErrorCode.INVALID_ARGUMENT, 'usage');
    });
  }
});

describe('header block decoding', () => {
  const malformed: ReadonlyArray<readonly [string, Buffer]> = [
    ['a duplicate name', rawBlock(2, [['port', '1'], ['port', '2']])],
    ['an upper-case name', rawBlock(1, [['Port', '1']])],
    ['an empty name', rawBlock(1, [['', '1']])],
    ['a pair count larger than the block', rawBlock(3, [['a', '1'], ['b', '2']])],
    ['a huge pair count', rawBlock(0xffff_ffff, [])],
    ['a name length past the end', Buffer.from('00000001' + '00000010' + '6162', 'hex')],
    ['a value length past the end', Buffer.from('00000001' + '00000001' + '61' + 'ffffffff' + '78', 'hex')],
    ['trailing bytes after the last pair', rawBlock(1, [['a', '1']], [0])],
    ['trailing bytes after an empty block', rawBlock(0, [], [0, 0, 0, 0])],
    ['fewer than 4 bytes', Buffer.from('000000', 'hex')],
  ];
  for (const [what, block] of malformed) {
    test(`rejects ${what} with ERR_HEADER_BLOCK`, () => {
      expectKubemuxError(() => decodeHeaderBlock(block), ErrorCode.HEADER_BLOCK, 'session');
    });
  }

  test('accepts a non-ASCII name (only ASCII case is constrained) and splits values on NUL', () => {
    assert.deepEqual(decodeHeaderBlock(rawBlock(1, [['ü', 'a\0b']])), new Map([['ü', ['a', 'b']]]));
  });

  test('each malformed block, compressed inside a SYN_STREAM, fails the decoder with ERR_HEADER_BLOCK naming the stream', () => {
    for (const [what, raw] of malformed) {
      const block = new ReferenceCompressor().compressRaw(raw);
      const fixed = Buffer.from('00000005' + '00000000' + '0000', 'hex');
      const { frames, error } = decodeChunks([rawControlFrame(3, 1, 0, Buffer.concat([fixed, block]))]);
      assert.deepEqual(frames, [], what);
      assert.equal(error?.code, ErrorCode.HEADER_BLOCK, what);
      assert.equal(error?.streamId, 5, what);
    }
  });
});

describe('a refused header block does not advance the compression context', () => {
  const syn = (streamId: number, headers: HeaderBlock): Frame => ({
    type: 'SYN_STREAM',
    streamId,
    associatedStreamId: 0,
    priority: 0,
    slot: 0,
    flags: 0,
    headers,
  });

  test('FrameEncoder: after an upper-case name or a NUL value is refused, the peer still decodes the next blocks', () => {
    const encoder = new FrameEncoder();
    const wire: Buffer[] = [];
    wire.push(...encoder.encode(syn(1, new Map([['streamtype', ['error']]]))));
    expectKubemuxError(() => encoder.encode(syn(3, new Map([['streamtype', ['data']], ['Port', ['80']]]))), ErrorCode.INVALID_ARGUMENT, 'usage');
    expectKubemuxError(() => encoder.encode(syn(3, new Map([['streamtype', ['data']], ['port', ['8\u00000']]]))), ErrorCode.INVALID_ARGUMENT, 'usage');
    // A bad fixed field is refused before compression too.
    expectKubemuxError(() => encoder.encode({ ...syn(3, new Map([['port', ['80']]])), priority: 8 } as Frame), ErrorCode.INVALID_ARGUMENT, 'usage');
    wire.push(...encoder.encode(syn(3, new Map([['streamtype', ['data']], ['port', ['80']]]))));
    wire.push(...encoder.encode({ type: 'HEADERS', streamId: 3, flags: 0, headers: new Map([['x', ['y']]]) }));

    const { frames, error } = decodeChunks(wire, new FrameDecoder());
    assert.equal(error, undefined);
    assert.deepEqual(
      frames.map((f) => (f.type === 'SYN_STREAM' || f.type === 'HEADERS' ? [f.streamId, f.headers] : f.type)),
      [
        [1, new Map([['streamtype', ['error']]])],
        [3, new Map([['streamtype', ['data']], ['port', ['80']]])],
        [3, new Map([['x', ['y']]])],
      ],
    );
  });

  test('HeaderCompressor: a refused block leaves the stream in step with the peer', () => {
    const compressor = new HeaderCompressor();
    const decompressor = new HeaderDecompressor();
    assert.deepEqual(decompressor.decompress(compressor.compress(new Map([['a', ['1']]]))), new Map([['a', ['1']]]));
    expectKubemuxError(() => compressor.compress(new Map([['B', ['2']]])), ErrorCode.INVALID_ARGUMENT, 'usage');
    assert.deepEqual(decompressor.decompress(compressor.compress(new Map([['c', ['3']]]))), new Map([['c', ['3']]]));
  });
});

describe('helpers', () => {
  test('headerBlockFrom lower-cases names and wraps single values; headerValue reads the first value', () => {
    const headers = headerBlockFrom({ StreamType: 'data', 'x-list': ['a', 'b'] });
    assert.deepEqual(headers, new Map([['streamtype', ['data']], ['x-list', ['a', 'b']]]));
    assert.equal(headerValue(headers, 'x-list'), 'a');
    assert.equal(headerValue(headers, 'missing'), undefined);
  });
});
