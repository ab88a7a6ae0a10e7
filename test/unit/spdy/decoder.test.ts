import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ErrorCode, KubemuxError } from '../../../src/errors.js';
import { DEFAULT_MAX_FRAME_BYTES, FrameDecoder } from '../../../src/spdy/decoder.js';
import type { Frame } from '../../../src/spdy/frames.js';
import { FrameEncoder } from '../../../src/spdy/encode.js';
import { decodeChunks, encodeAll, expectKubemuxError } from '../../support/codec-helpers.js';
import { ReferenceCompressor, rawControlFrame, rawDataFrame, referenceEncode } from '../../support/reference-encoder.js';

function u32s(...values: number[]): Buffer {
  const out = Buffer.alloc(4 * values.length);
  values.forEach((v, i) => out.writeUInt32BE(v >>> 0, 4 * i));
  return out;
}

/** Decodes `bytes` in one chunk and returns the error, asserting that one was thrown. */
function failure(bytes: Uint8Array, decoder = new FrameDecoder()): KubemuxError {
  const { error } = decodeChunks([bytes], decoder);
  assert.ok(error, 'expected the decoder to fail');
  return error;
}

const emptyBlock = (): Uint8Array => new ReferenceCompressor().compress(new Map());

describe('frame size limit', () => {
  test('a header declaring more than maxFrameBytes fails as soon as its 8 bytes arrive, before any payload', () => {
    const decoder = new FrameDecoder({ maxFrameBytes: 1024 });
    const header = rawDataFrame(1, 0, new Uint8Array(0), 1025);
    decoder.push(header.subarray(0, 7), () => assert.fail('no frame expected'));
    assert.equal(decoder.bufferedBytes, 7);
    const err = expectKubemuxError(() => decoder.push(header.subarray(7), () => assert.fail('no frame expected')), ErrorCode.FRAME_TOO_LARGE, 'session');
    assert.match(err.message, /1025/);
  });

  test('a control frame header declaring 16 MiB - 1 fails against the default 1 MiB limit', () => {
    const header = rawControlFrame(3, 1, 0, new Uint8Array(0), 0xff_ffff);
    expectKubemuxError(() => new FrameDecoder().push(header, () => {}), ErrorCode.FRAME_TOO_LARGE);
    assert.equal(DEFAULT_MAX_FRAME_BYTES, 1024 * 1024);
  });

  test('a frame of exactly maxFrameBytes is accepted', () => {
    const payload = Buffer.alloc(1024, 7);
    const { frames, error } = decodeChunks([rawDataFrame(1, 0, payload)], new FrameDecoder({ maxFrameBytes: 1024 }));
    assert.equal(error, undefined);
    assert.deepEqual(frames, [{ type: 'DATA', streamId: 1, flags: 0, data: payload }]);
  });

  test('options out of range are usage errors', () => {
    for (const maxFrameBytes of [0, 1.5, 0x100_0000, Number.NaN]) {
      expectKubemuxError(() => new FrameDecoder({ maxFrameBytes }), ErrorCode.INVALID_ARGUMENT, 'usage');
    }
    expectKubemuxError(() => new FrameDecoder({ maxHeaderBlockBytes: 3 }), ErrorCode.INVALID_ARGUMENT, 'usage');
  });
});

describe('control frame shapes', () => {
  const wrongLengths: ReadonlyArray<readonly [string, number, number[]]> = [
    ['PING', 6, [0, 3, 5, 8]],
    ['RST_STREAM', 3, [4, 7, 9, 12]],
    ['GOAWAY', 7, [4, 7, 9, 12]],
    ['WINDOW_UPDATE', 9, [4, 7, 9, 12]],
  ];
  for (const [name, type, lengths] of wrongLengths) {
    test(`${name} with a payload of ${lengths.join(', ')} bytes fails with ERR_PROTOCOL`, () => {
      for (const length of lengths) {
        // Filled with 1s so no other check (zero id, zero status) fires first.
        expectKubemuxError(() => new FrameDecoder().push(rawControlFrame(3, type, 0, Buffer.alloc(length, 1)), () => {}), ErrorCode.PROTOCOL);
      }
    });
  }

  test('SETTINGS whose entry count disagrees with its length fails with ERR_PROTOCOL', () => {
    const cases = [
      u32s(2, 7, 65536), // two declared, one carried
      u32s(0, 7, 65536), // none declared, one carried
      Buffer.concat([u32s(1, 7, 65536), Buffer.from([0])]), // not a whole number of entries
      Buffer.from([0, 0, 0]), // no room for the count
    ];
    for (const payload of cases) {
      expectKubemuxError(() => new FrameDecoder().push(rawControlFrame(3, 4, 0, payload), () => {}), ErrorCode.PROTOCOL);
    }
  });

  test('header-bearing frames too short for their fixed fields fail with ERR_PROTOCOL', () => {
    for (const [type, length] of [[1, 9], [2, 3], [8, 3]] as const) {
      expectKubemuxError(() => new FrameDecoder().push(rawControlFrame(3, type, 0, Buffer.alloc(length, 1)), () => {}), ErrorCode.PROTOCOL);
    }
  });

  test('zero ids and statuses the wire forbids fail with ERR_PROTOCOL', () => {
    const block = emptyBlock();
    const cases: ReadonlyArray<readonly [string, Uint8Array]> = [
      ['DATA on stream 0', rawDataFrame(0, 0, Buffer.from('x'))],
      ['SYN_STREAM on stream 0', rawControlFrame(3, 1, 0, Buffer.concat([u32s(0, 0), Buffer.from([0, 0]), block]))],
      ['SYN_REPLY on stream 0', rawControlFrame(3, 2, 0, Buffer.concat([u32s(0), block]))],
      ['HEADERS on stream 0', rawControlFrame(3, 8, 0, Buffer.concat([u32s(0), block]))],
      ['RST_STREAM on stream 0', rawControlFrame(3, 3, 0, u32s(0, 5))],
      ['RST_STREAM with status 0', rawControlFrame(3, 3, 0, u32s(1, 0))],
      ['PING with id 0', rawControlFrame(3, 6, 0, u32s(0))],
      ['WINDOW_UPDATE with delta 0', rawControlFrame(3, 9, 0, u32s(1, 0))],
    ];
    for (const [what, bytes] of cases) {
      assert.equal(failure(bytes).code, ErrorCode.PROTOCOL, what);
    }
  });

  test('a DATA header on stream 0 fails before its payload arrives', () => {
    const decoder = new FrameDecoder();
    expectKubemuxError(() => decoder.push(rawDataFrame(0, 0, new Uint8Array(0), 100), () => {}), ErrorCode.PROTOCOL);
  });

  test('control frame versions other than 3 fail with ERR_UNSUPPORTED_VERSION, whatever the type', () => {
    for (const version of [0, 1, 2, 4, 0x7fff]) {
      for (const type of [1, 5, 6]) {
        expectKubemuxError(() => new FrameDecoder().push(rawControlFrame(version, type, 0, u32s(1)), () => {}), ErrorCode.UNSUPPORTED_VERSION);
      }
    }
  });

  test('the reserved top bit of stream ids in control frames is ignored', () => {
    const { frames } = decodeChunks([rawControlFrame(3, 3, 0, u32s(0x8000_0003, 5)), rawControlFrame(3, 9, 0, u32s(0x8000_0000, 0x8000_0010))]);
    assert.deepEqual(frames, [
      { type: 'RST_STREAM', streamId: 3, status: 5, flags: 0 },
      { type: 'WINDOW_UPDATE', streamId: 0, deltaWindowSize: 16, flags: 0 },
    ]);
  });

  test('control types SPDY/3.1 does not define come out as UNKNOWN with their payload', () => {
    const { frames, error } = decodeChunks([rawControlFrame(3, 5, 0, new Uint8Array(0)), rawControlFrame(3, 10, 0x81, Buffer.from('cred'))]);
    assert.equal(error, undefined);
    assert.deepEqual(frames, [
      { type: 'UNKNOWN', controlType: 5, version: 3, flags: 0, payload: Buffer.alloc(0) },
      { type: 'UNKNOWN', controlType: 10, version: 3, flags: 0x81, payload: Buffer.from('cred') },
    ]);
  });
});

describe('failure is final', () => {
  test('frames before the fault are delivered; afterwards every push rethrows the same error', () => {
    const good = rawControlFrame(3, 6, 0, u32s(1));
    const bad = rawControlFrame(3, 6, 0, u32s(2, 2));
    const decoder = new FrameDecoder();
    const frames: Frame[] = [];
    let first: unknown;
    try {
      decoder.push(Buffer.concat([good, bad, good]), (f) => frames.push(f));
    } catch (err) {
      first = err;
    }
    assert.ok(first instanceof KubemuxError && first.code === ErrorCode.PROTOCOL);
    assert.deepEqual(frames, [{ type: 'PING', id: 1, flags: 0 }]);
    for (const next of [good, new Uint8Array(0)]) {
      assert.throws(
        () => decoder.push(next, () => assert.fail('a failed decoder delivers nothing')),
        (err: unknown) => err === first,
      );
    }
  });

  test('an exception from the frame handler propagates and leaves the decoder unusable', () => {
    const decoder = new FrameDecoder();
    const boom = new Error('handler failed');
    const ping = rawControlFrame(3, 6, 0, u32s(1));
    assert.throws(() => decoder.push(ping, () => {
      throw boom;
    }), (err: unknown) => err === boom);
    expectKubemuxError(() => decoder.push(ping, () => {}), ErrorCode.PROTOCOL);
  });
});

describe('buffering and zero copy', () => {
  test('a DATA frame inside one chunk is delivered as a view of that chunk', () => {
    const chunk = Buffer.concat([rawDataFrame(1, 0, Buffer.from('first')), rawDataFrame(3, 1, Buffer.from('second'))]);
    const { frames } = decodeChunks([chunk]);
    assert.equal(frames.length, 2);
    for (const frame of frames) {
      assert.ok(frame.type === 'DATA');
      assert.ok(frame.data.buffer === chunk.buffer, 'the payload shares the input ArrayBuffer');
    }
    const [first, second] = frames as [Extract<Frame, { type: 'DATA' }>, Extract<Frame, { type: 'DATA' }>];
    assert.equal(first.data.byteOffset, chunk.byteOffset + 8);
    assert.equal(second.data.byteOffset, chunk.byteOffset + 8 + 5 + 8);
    assert.equal(second.data.toString(), 'second');
  });

  test('a plain Uint8Array chunk is viewed too, not copied', () => {
    const chunk = new Uint8Array(rawDataFrame(7, 0, Buffer.from('abc')));
    const { frames } = decodeChunks([chunk]);
    assert.ok(frames[0]?.type === 'DATA');
    assert.ok(frames[0].data.buffer === chunk.buffer, 'the payload is a view of the input chunk');
    assert.equal(frames[0].data.toString(), 'abc');
  });

  test('a payload that arrives whole after its header (Go writes header and payload separately) is a view of its chunk', () => {
    const frame = rawDataFrame(1, 0, Buffer.from('payload'));
    const head = frame.slice(0, 8);
    const payload = frame.slice(8);
    const decoder = new FrameDecoder();
    const { frames } = decodeChunks([head.subarray(0, 4), head.subarray(4), payload], decoder);
    assert.ok(frames[0]?.type === 'DATA');
    assert.ok(frames[0].data.buffer === payload.buffer, 'the payload is a view of the chunk that carried it');
    assert.equal(frames[0].data.toString(), 'payload');
  });

  test('a payload split across chunks is gathered into its own buffer, and bufferedBytes counts it', () => {
    const payload = Buffer.alloc(100, 0x5a);
    const frame = rawDataFrame(1, 0, payload);
    const decoder = new FrameDecoder();
    const seen: number[] = [];
    const { frames } = decodeChunks([frame.subarray(0, 50), frame.subarray(50, 90), frame.subarray(90)], decoder, (d) => seen.push(d.bufferedBytes));
    assert.deepEqual(seen, [50, 90, 0]);
    assert.ok(decoder.idle);
    assert.ok(frames[0]?.type === 'DATA');
    assert.deepEqual(frames[0].data, payload);
    assert.ok(frames[0].data.buffer !== frame.buffer, 'a split payload is gathered, not viewed');
  });

  test('idle is false exactly while a partial frame is held', () => {
    const decoder = new FrameDecoder();
    const ping = rawControlFrame(3, 6, 0, u32s(1));
    assert.ok(decoder.idle);
    decoder.push(ping.subarray(0, 3), () => {});
    assert.ok(!decoder.idle);
    decoder.push(ping.subarray(3), () => {});
    assert.ok(decoder.idle);
    assert.equal(decoder.bufferedBytes, 0);
  });
});

test('decodes frames built by the reference encoder with an independent compressor', () => {
  const compressor = new ReferenceCompressor(1);
  const frames: Frame[] = [
    { type: 'SYN_STREAM', streamId: 0x7fff_ffff, associatedStreamId: 0x7fff_ffff, priority: 7, slot: 255, flags: 3, headers: new Map([['a', ['1', '2']]]) },
    { type: 'SYN_REPLY', streamId: 1, flags: 0xff, headers: new Map() },
    { type: 'HEADERS', streamId: 2, flags: 1, headers: new Map([['b', ['']]]) },
    { type: 'SETTINGS', flags: 1, entries: [{ id: 0xff_ffff, flags: 0xff, value: 0xffff_ffff }] },
    { type: 'GOAWAY', lastGoodStreamId: 0x7fff_ffff, status: 0xffff_ffff, flags: 0 },
    { type: 'PING', id: 0xffff_ffff, flags: 0 },
  ];
  const bytes = Buffer.concat(
    frames.map((f) => referenceEncode(f, 'headers' in f ? compressor.compress(f.headers) : undefined)),
  );
  const { frames: decoded, error } = decodeChunks([bytes]);
  assert.equal(error, undefined);
  assert.deepEqual(decoded, frames);
  // And the library's own encoding of the same frames decodes the same.
  assert.deepEqual(decodeChunks([encodeAll(frames)]).frames, frames);
});

describe('stopping early', () => {
  test('onFrame returning false stops after that frame; push returns the bytes used, and the rest, pushed later, yields the remaining frames', () => {
    const frames: Frame[] = [
      { type: 'PING', id: 1, flags: 0 },
      { type: 'DATA', streamId: 1, flags: 0, data: Buffer.from('hello') },
      { type: 'PING', id: 3, flags: 0 },
      { type: 'DATA', streamId: 1, flags: 1, data: Buffer.from('world') },
    ];
    const wire = encodeAll(frames);
    for (const splitDataPayloads of [false, true]) {
      const decoder = new FrameDecoder({ splitDataPayloads });
      const seen: Frame[] = [];
      let rest: Buffer = Buffer.from(wire);
      while (rest.length > 0) {
        // Stop after every frame: the worst case for the caller's bookkeeping.
        const used = decoder.push(rest, (frame) => {
          seen.push({ ...frame, ...(frame.type === 'DATA' ? { data: Buffer.from(frame.data) } : {}) } as Frame);
          return false;
        });
        assert.ok(used > 0 && used <= rest.length);
        rest = rest.subarray(used);
      }
      assert.deepEqual(seen, frames);
      assert.equal(decoder.idle, true);
    }
  });

  test('without a false return every byte is used, whatever onFrame returns otherwise', () => {
    const wire = encodeAll([{ type: 'PING', id: 1, flags: 0 }, { type: 'PING', id: 3, flags: 0 }]);
    assert.equal(new FrameDecoder().push(wire, () => 0), wire.length);
    assert.equal(new FrameDecoder().push(wire.subarray(0, 5), () => false), 5, 'a partial header is taken whole');
  });
});

describe('header values', () => {
  test('a block with more values than maxHeaderValues (NUL-separated parts count) fails with ERR_HEADER_BLOCK_TOO_LARGE before it is split', () => {
    const encoder = new FrameEncoder();
    const syn = (streamId: number, values: string[]): Frame => ({
      type: 'SYN_STREAM',
      streamId,
      associatedStreamId: 0,
      priority: 0,
      slot: 0,
      flags: 0,
      headers: new Map([['x', values]]),
    });
    const decoder = new FrameDecoder({ maxHeaderValues: 4 });
    const frames: Frame[] = [];
    decoder.push(Buffer.concat(encoder.encode(syn(1, ['a', 'b', 'c', 'd']))), (frame) => frames.push(frame));
    assert.deepEqual(frames[0]?.type === 'SYN_STREAM' ? frames[0].headers.get('x') : undefined, ['a', 'b', 'c', 'd']);
    const err = expectKubemuxError(
      () => decoder.push(Buffer.concat(encoder.encode(syn(3, ['', '', '', '', '']))), () => {}),
      ErrorCode.HEADER_BLOCK_TOO_LARGE,
      'session',
    );
    assert.match(err.message, /more than 4 values/);
    expectKubemuxError(() => new FrameDecoder({ maxHeaderValues: 0 }), ErrorCode.INVALID_ARGUMENT, 'usage');
  });
});
