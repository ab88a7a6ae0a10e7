/**
 * The v4 channel codec (src/channel/messages.ts) and the Sec-WebSocket-Protocol parser: examples taken
 * from the protocol notes (port 8080 ⇒ `00 90 1F`), then fast-check properties — round trips,
 * every way of splitting the port prefix across messages, and random bytes that must yield a
 * message or a KubemuxError, never another exception (300 runs each).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { ErrorCode, KubemuxError, isKubemuxError } from '../../../src/errors.js';
import {
  MAX_PORTS,
  PortPrefixStripper,
  dataChannel,
  decodeChannelMessage,
  encodeChannelMessage,
  encodePortPrefix,
  errorChannel,
  isErrorChannel,
  portIndexOf,
  readPortPrefix,
} from '../../../src/channel/messages.js';
import {
  SPDY_TUNNEL_SUBPROTOCOL,
  V4_BASE64,
  V4_CHANNEL_SUBPROTOCOL,
  formatSubprotocols,
  isValidSubprotocol,
  parseSubprotocols,
} from '../../../src/channel/subprotocols.js';

const RUNS = 300;

function join(parts: readonly Buffer[]): Buffer {
  return Buffer.concat(parts);
}

function assertCode(fn: () => unknown, code: string): void {
  assert.throws(fn, (err: unknown) => isKubemuxError(err) && err.code === code);
}

describe('channel numbering', () => {
  test('data = 2i, error = 2i+1, and back', () => {
    assert.equal(dataChannel(0), 0);
    assert.equal(errorChannel(0), 1);
    assert.equal(dataChannel(3), 6);
    assert.equal(errorChannel(3), 7);
    assert.equal(errorChannel(MAX_PORTS - 1), 255);
    assert.equal(portIndexOf(7), 3);
    assert.equal(isErrorChannel(7), true);
    assert.equal(isErrorChannel(6), false);
  });

  test('port indexes and channels outside one byte are usage errors', () => {
    assertCode(() => dataChannel(MAX_PORTS), ErrorCode.INVALID_ARGUMENT);
    assertCode(() => errorChannel(-1), ErrorCode.INVALID_ARGUMENT);
    assertCode(() => dataChannel(1.5), ErrorCode.INVALID_ARGUMENT);
    assertCode(() => portIndexOf(256), ErrorCode.INVALID_ARGUMENT);
    assertCode(() => encodeChannelMessage(256, Buffer.alloc(1)), ErrorCode.INVALID_ARGUMENT);
  });
});

describe('messages', () => {
  test('port 8080 on channels 0 and 1 is 00 90 1F and 01 90 1F on the wire', () => {
    const prefix = encodePortPrefix(8080);
    assert.equal(join(encodeChannelMessage(0, prefix)).toString('hex'), '00901f');
    assert.equal(join(encodeChannelMessage(1, prefix)).toString('hex'), '01901f');
    assert.equal(readPortPrefix(Buffer.from('901f', 'hex')), 8080);
  });

  test('the payload is passed through, not copied, both ways', () => {
    const payload = Buffer.from('hello');
    const [head, body] = encodeChannelMessage(2, payload);
    assert.equal(head.toString('hex'), '02');
    assert.equal(body, payload);
    const message = Buffer.from('\x04abc', 'latin1');
    const decoded = decodeChannelMessage(message);
    assert.equal(decoded.channel, 4);
    assert.equal(decoded.payload.buffer, message.buffer);
    assert.equal(decoded.payload.toString(), 'abc');
  });

  test('an empty message and a channel beyond the connection are ERR_PROTOCOL', () => {
    assertCode(() => decodeChannelMessage(Buffer.alloc(0)), ErrorCode.PROTOCOL);
    assertCode(() => decodeChannelMessage(Buffer.from([2, 1]), 2), ErrorCode.PROTOCOL);
    assert.equal(decodeChannelMessage(Buffer.from([1]), 2).payload.length, 0);
  });

  test('ports outside 1..65535 cannot be encoded; a short prefix cannot be read', () => {
    assertCode(() => encodePortPrefix(0), ErrorCode.INVALID_ARGUMENT);
    assertCode(() => encodePortPrefix(65536), ErrorCode.INVALID_ARGUMENT);
    assertCode(() => readPortPrefix(Buffer.from([0x90])), ErrorCode.PROTOCOL);
    assertCode(() => readPortPrefix(Buffer.from([1, 2, 3]), 2), ErrorCode.PROTOCOL);
  });
});

describe('PortPrefixStripper', () => {
  test('strips the prefix from the first message of each channel, only once', () => {
    const stripper = new PortPrefixStripper([8080, 5432]);
    assert.equal(stripper.channelCount, 4);
    assert.equal(stripper.decode(Buffer.from('00901f', 'hex')).payload.length, 0);
    assert.equal(stripper.prefixReceived(0), true);
    assert.equal(stripper.prefixReceived(1), false);
    // Prefix glued to data on the second port's data channel (5432 = 0x1538).
    assert.equal(stripper.decode(Buffer.from('023815ab', 'hex')).payload.toString('hex'), 'ab');
    // Later messages on a finished channel keep every byte, even ones that look like a prefix.
    assert.equal(stripper.decode(Buffer.from('00901f', 'hex')).payload.toString('hex'), '901f');
  });

  test('a prefix split into 1 + 1 bytes across messages', () => {
    const stripper = new PortPrefixStripper([8080]);
    assert.equal(stripper.decode(Buffer.from('0190', 'hex')).payload.length, 0);
    assert.equal(stripper.prefixReceived(1), false);
    assert.equal(stripper.decode(Buffer.from('011f', 'hex')).payload.length, 0);
    assert.equal(stripper.prefixReceived(1), true);
    assert.equal(stripper.decode(Buffer.from('01', 'hex')).payload.length, 0, 'an empty message changes nothing');
  });

  test('a prefix naming another port, or an unknown channel, is ERR_PROTOCOL', () => {
    const stripper = new PortPrefixStripper([8080]);
    assertCode(() => stripper.decode(Buffer.from('00911f', 'hex')), ErrorCode.PROTOCOL);
    assertCode(() => stripper.decode(Buffer.from('02901f', 'hex')), ErrorCode.PROTOCOL);
    const split = new PortPrefixStripper([8080]);
    split.strip(0, Buffer.from([0x90]));
    assertCode(() => split.strip(0, Buffer.from([0x20])), ErrorCode.PROTOCOL);
  });

  test('bad construction is a usage error', () => {
    assertCode(() => new PortPrefixStripper([]), ErrorCode.INVALID_ARGUMENT);
    assertCode(() => new PortPrefixStripper([0]), ErrorCode.INVALID_ARGUMENT);
    assertCode(() => new PortPrefixStripper(new Array<number>(MAX_PORTS + 1).fill(80)), ErrorCode.INVALID_ARGUMENT);
  });
});

describe('properties', () => {
  test('decode(encode(channel, payload)) gives back channel and payload', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 255 }), fc.uint8Array({ maxLength: 2048 }), (channel, payload) => {
        const decoded = decodeChannelMessage(join(encodeChannelMessage(channel, payload)));
        assert.equal(decoded.channel, channel);
        assert.deepEqual(new Uint8Array(decoded.payload), payload);
      }),
      { numRuns: RUNS },
    );
  });

  test('any cutting of a channel byte stream into messages: prefix stripped and checked, data intact', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 65535 }),
        fc.uint8Array({ maxLength: 64 }),
        fc.array(fc.integer({ min: 0, max: 8 }), { minLength: 1, maxLength: 40 }),
        (port, data, cuts) => {
          const stream = Buffer.concat([encodePortPrefix(port), data]);
          const stripper = new PortPrefixStripper([port]);
          const received: Buffer[] = [];
          let offset = 0;
          for (const size of cuts) {
            if (offset >= stream.length) break;
            const part = stream.subarray(offset, offset + size);
            offset += part.length;
            received.push(stripper.decode(join(encodeChannelMessage(0, part))).payload);
          }
          if (offset < stream.length) received.push(stripper.decode(join(encodeChannelMessage(0, stream.subarray(offset)))).payload);
          assert.equal(stripper.prefixReceived(0), true);
          assert.deepEqual(new Uint8Array(Buffer.concat(received)), data);
        },
      ),
      { numRuns: RUNS },
    );
  });

  test('a wrong port is caught however the prefix is split', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 65535 }), fc.integer({ min: 1, max: 65535 }), fc.boolean(), (sent, expected, split) => {
        fc.pre(sent !== expected);
        const stripper = new PortPrefixStripper([expected]);
        const prefix = encodePortPrefix(sent);
        const feed = (): void => {
          if (split) {
            stripper.strip(1, prefix.subarray(0, 1));
            stripper.strip(1, prefix.subarray(1));
          } else {
            stripper.strip(1, prefix);
          }
        };
        assertCode(feed, ErrorCode.PROTOCOL);
      }),
      { numRuns: RUNS },
    );
  });

  test('random messages: a decoded message or a KubemuxError, never another exception', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 1, max: 65535 }), { minLength: 1, maxLength: 3 }),
        fc.array(fc.uint8Array({ maxLength: 6 }), { maxLength: 20 }),
        (ports, messages) => {
          const stripper = new PortPrefixStripper(ports);
          for (const message of messages) {
            try {
              const { channel, payload } = stripper.decode(message);
              assert.ok(channel < stripper.channelCount);
              assert.ok(payload.length < message.length);
            } catch (err) {
              assert.ok(err instanceof KubemuxError, `unexpected ${String(err)}`);
              assert.equal(err.code, ErrorCode.PROTOCOL);
            }
          }
        },
      ),
      { numRuns: RUNS },
    );
  });
});

describe('Sec-WebSocket-Protocol', () => {
  test('the tunnelling name is accepted although "/" is not a token character', () => {
    assert.deepEqual(parseSubprotocols(`${SPDY_TUNNEL_SUBPROTOCOL}`), [SPDY_TUNNEL_SUBPROTOCOL]);
    assert.deepEqual(parseSubprotocols(` ${V4_CHANNEL_SUBPROTOCOL} ,\t${V4_BASE64},, ${SPDY_TUNNEL_SUBPROTOCOL}`), [
      V4_CHANNEL_SUBPROTOCOL,
      V4_BASE64,
      SPDY_TUNNEL_SUBPROTOCOL,
    ]);
    assert.deepEqual(parseSubprotocols(['a, b', 'c']), ['a', 'b', 'c']);
    assert.deepEqual(parseSubprotocols(undefined), []);
    assert.equal(formatSubprotocols([SPDY_TUNNEL_SUBPROTOCOL, V4_CHANNEL_SUBPROTOCOL]), `${SPDY_TUNNEL_SUBPROTOCOL}, ${V4_CHANNEL_SUBPROTOCOL}`);
  });

  test('blanks inside a name, controls and non-ASCII are rejected', () => {
    assertCode(() => parseSubprotocols('v4 channel'), ErrorCode.PROTOCOL);
    assertCode(() => parseSubprotocols('a\r\nX-Injected: 1'), ErrorCode.PROTOCOL);
    assertCode(() => parseSubprotocols('caf\u00e9'), ErrorCode.PROTOCOL);
    assertCode(() => formatSubprotocols(['a,b']), ErrorCode.INVALID_ARGUMENT);
    assert.equal(isValidSubprotocol(''), false);
  });

  test('property: format then parse gives back the names', () => {
    const name = fc.string({ unit: fc.integer({ min: 0x21, max: 0x7e }).filter((c) => c !== 0x2c).map((c) => String.fromCharCode(c)), minLength: 1, maxLength: 30 });
    fc.assert(
      fc.property(fc.array(name, { maxLength: 5 }), (names) => {
        assert.deepEqual(parseSubprotocols(formatSubprotocols(names)), names);
      }),
      { numRuns: RUNS },
    );
  });
});
