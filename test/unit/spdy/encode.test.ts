import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ErrorCode } from '../../../src/errors.js';
import { HeaderCompressor } from '../../../src/spdy/compression.js';
import {
  FrameEncoder,
  encodeDataFrameHeader,
  encodeHeaderBearingFrame,
  encodeSimpleControlFrame,
} from '../../../src/spdy/encode.js';
import type { Frame } from '../../../src/spdy/frames.js';
import { expectKubemuxError } from '../../support/codec-helpers.js';
import { referenceEncode } from '../../support/reference-encoder.js';

const MAX31 = 0x7fff_ffff;
const MAX32 = 0xffff_ffff;

/** One frame of each type, at the edges of each field's range. */
const EXAMPLES: readonly Frame[] = [
  { type: 'DATA', streamId: 1, flags: 0, data: Buffer.alloc(0) },
  { type: 'DATA', streamId: MAX31, flags: 0xff, data: Buffer.from('hello') },
  { type: 'SYN_STREAM', streamId: 1, associatedStreamId: 0, priority: 0, slot: 0, flags: 0, headers: new Map([['streamtype', ['error']]]) },
  { type: 'SYN_STREAM', streamId: MAX31, associatedStreamId: MAX31, priority: 7, slot: 0xff, flags: 0x03, headers: new Map() },
  { type: 'SYN_REPLY', streamId: 1, flags: 0, headers: new Map() },
  { type: 'HEADERS', streamId: MAX31, flags: 0xff, headers: new Map([['a', ['1', '2']]]) },
  { type: 'RST_STREAM', streamId: MAX31, status: MAX32, flags: 0xff },
  { type: 'SETTINGS', flags: 1, entries: [] },
  { type: 'SETTINGS', flags: 0, entries: [{ id: 0xff_ffff, flags: 0xff, value: MAX32 }, { id: 7, flags: 0, value: 65536 }] },
  { type: 'PING', id: MAX32, flags: 0 },
  { type: 'GOAWAY', lastGoodStreamId: MAX31, status: MAX32, flags: 0 },
  { type: 'WINDOW_UPDATE', streamId: 0, deltaWindowSize: MAX31, flags: 0 },
  { type: 'UNKNOWN', controlType: 0xffff, version: 3, flags: 0x80, payload: Buffer.from([1, 2, 3]) },
  { type: 'UNKNOWN', controlType: 5, version: 3, flags: 0, payload: Buffer.alloc(0) },
];

describe('library encoder vs reference encoder', () => {
  for (const frame of EXAMPLES) {
    test(`${frame.type} ${JSON.stringify(frame, (_k, v: unknown) => (v instanceof Map ? [...v] : v))}`, () => {
      let actual: Buffer;
      let expected: Uint8Array;
      if (frame.type === 'SYN_STREAM' || frame.type === 'SYN_REPLY' || frame.type === 'HEADERS') {
        const block = new HeaderCompressor().compress(frame.headers);
        actual = encodeHeaderBearingFrame(frame, block);
        expected = referenceEncode(frame, block);
      } else if (frame.type === 'DATA') {
        actual = Buffer.concat(new FrameEncoder().encode(frame));
        expected = referenceEncode(frame);
      } else {
        actual = encodeSimpleControlFrame(frame);
        expected = referenceEncode(frame);
      }
      assert.equal(actual.toString('hex'), Buffer.from(expected).toString('hex'));
    });
  }
});

test('FrameEncoder hands a DATA payload through without copying it', () => {
  const data = Buffer.from('payload');
  const [header, payload] = new FrameEncoder().encode({ type: 'DATA', streamId: 3, flags: 1, data });
  assert.equal(payload, data);
  assert.equal(header?.toString('hex'), '0000000301000007');
});

describe('values the wire cannot carry are usage errors', () => {
  const invalid: ReadonlyArray<readonly [string, Frame]> = [
    ['DATA on stream 0', { type: 'DATA', streamId: 0, flags: 0, data: Buffer.alloc(0) }],
    ['DATA on stream 2^31', { type: 'DATA', streamId: 2 ** 31, flags: 0, data: Buffer.alloc(0) }],
    ['DATA with flags 256', { type: 'DATA', streamId: 1, flags: 256, data: Buffer.alloc(0) }],
    ['SYN_STREAM with priority 8', { type: 'SYN_STREAM', streamId: 1, associatedStreamId: 0, priority: 8, slot: 0, flags: 0, headers: new Map() }],
    ['SYN_STREAM with slot 256', { type: 'SYN_STREAM', streamId: 1, associatedStreamId: 0, priority: 0, slot: 256, flags: 0, headers: new Map() }],
    ['SYN_STREAM associated with 2^31', { type: 'SYN_STREAM', streamId: 1, associatedStreamId: 2 ** 31, priority: 0, slot: 0, flags: 0, headers: new Map() }],
    ['SYN_REPLY on stream 0', { type: 'SYN_REPLY', streamId: 0, flags: 0, headers: new Map() }],
    ['HEADERS with a fractional stream id', { type: 'HEADERS', streamId: 1.5, flags: 0, headers: new Map() }],
    ['RST_STREAM with status 0', { type: 'RST_STREAM', streamId: 1, status: 0, flags: 0 }],
    ['RST_STREAM on stream 0', { type: 'RST_STREAM', streamId: 0, status: 5, flags: 0 }],
    ['SETTINGS with id 2^24', { type: 'SETTINGS', flags: 0, entries: [{ id: 0x100_0000, flags: 0, value: 0 }] }],
    ['SETTINGS with value 2^32', { type: 'SETTINGS', flags: 0, entries: [{ id: 1, flags: 0, value: 2 ** 32 }] }],
    ['SETTINGS with entry flags 256', { type: 'SETTINGS', flags: 0, entries: [{ id: 1, flags: 256, value: 0 }] }],
    ['PING with id 0', { type: 'PING', id: 0, flags: 0 }],
    ['PING with flags -1', { type: 'PING', id: 1, flags: -1 }],
    ['GOAWAY with last stream 2^31', { type: 'GOAWAY', lastGoodStreamId: 2 ** 31, status: 0, flags: 0 }],
    ['WINDOW_UPDATE with delta 0', { type: 'WINDOW_UPDATE', streamId: 1, deltaWindowSize: 0, flags: 0 }],
    ['WINDOW_UPDATE with delta 2^31', { type: 'WINDOW_UPDATE', streamId: 1, deltaWindowSize: 2 ** 31, flags: 0 }],
    ['UNKNOWN with type 2^16', { type: 'UNKNOWN', controlType: 0x1_0000, version: 3, flags: 0, payload: Buffer.alloc(0) }],
  ];
  for (const [what, frame] of invalid) {
    test(what, () => {
      expectKubemuxError(() => new FrameEncoder().encode(frame), ErrorCode.INVALID_ARGUMENT, 'usage');
    });
  }

  test('a DATA payload length beyond 24 bits', () => {
    expectKubemuxError(() => encodeDataFrameHeader(1, 0, 0x100_0000), ErrorCode.INVALID_ARGUMENT, 'usage');
    assert.equal(encodeDataFrameHeader(1, 0, 0xff_ffff).toString('hex'), '0000000100ffffff');
  });
});
