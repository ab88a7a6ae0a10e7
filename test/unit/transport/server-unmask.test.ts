/**
 * The server's word-wise unmasking: the XOR equals RFC 6455's byte-wise one at any alignment and
 * phase, and ws's Receiver fed through the unmasker, in chunks cut anywhere, reads exactly what it
 * reads on its own (messages, pings, close frames, and the same errors for broken input).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { FrameUnmasker, UnmaskingReceiver, unmaskInPlace } from '../../../src/transport/websocket/server-unmask.js';
import { Receiver, Sender, type FrameReceiver } from '../../../src/transport/websocket/ws-codec.js';

const RECEIVER_OPTIONS = { isServer: true, maxPayload: 1 << 20, binaryType: 'nodebuffer', extensions: {}, allowSynchronousEvents: true, skipUTF8Validation: false } as const;

/** Everything a receiver reports, in order, as comparable strings. */
function record(receiver: FrameReceiver): string[] {
  const events: string[] = [];
  receiver.on('message', (data: Buffer, isBinary: boolean) => events.push(`message ${isBinary ? 'binary' : 'text'} ${data.toString('hex')}`));
  receiver.on('ping', (data: Buffer) => events.push(`ping ${data.toString('hex')}`));
  receiver.on('pong', (data: Buffer) => events.push(`pong ${data.toString('hex')}`));
  receiver.on('conclude', (code: number, reason: Buffer) => events.push(`close ${code} ${reason.toString('hex')}`));
  receiver.on('error', (error: Error & { code?: string }) => events.push(`error ${error.code ?? error.message}`));
  return events;
}

/**
 * Feeds `chunks` in order (copies: both receivers change their input in place) and waits a turn
 * of the event loop, since a Writable reports a parse error on the next tick.
 */
async function feed(receiver: FrameReceiver, chunks: readonly Buffer[]): Promise<void> {
  for (const chunk of chunks) receiver.write(Buffer.from(chunk));
  await new Promise((resolve) => setImmediate(resolve));
}

/** `bytes` cut at the given offsets (sorted, deduplicated, inside the buffer). */
function cut(bytes: Buffer, offsets: readonly number[]): Buffer[] {
  const points = [...new Set(offsets.map((o) => o % (bytes.length + 1)))].sort((a, b) => a - b);
  const chunks: Buffer[] = [];
  let from = 0;
  for (const point of points) {
    chunks.push(bytes.subarray(from, point));
    from = point;
  }
  chunks.push(bytes.subarray(from));
  return chunks;
}

test('unmaskInPlace equals the byte-wise XOR of RFC 6455 section 5.3 at any alignment and phase', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 200 }), fc.uint8Array({ minLength: 4, maxLength: 4 }), fc.nat(7), fc.nat(3), (bytes, mask, shift, phase) => {
      // An unaligned view, as a payload inside a socket chunk usually is.
      const backing = new Uint8Array(bytes.length + shift);
      backing.set(bytes, shift);
      const view = backing.subarray(shift);
      unmaskInPlace(view, 0, view.length, mask, phase);
      assert.deepEqual(Buffer.from(view), Buffer.from(bytes.map((byte, i) => byte ^ mask[(i + phase) % 4]!)));
    }),
    { numRuns: 500 },
  );
});

/** One client frame as ws's own Sender masks it (an implementation independent of ours). */
const frameArbitrary = fc.oneof(
  fc.record({ opcode: fc.constantFrom(1, 2), payload: fc.uint8Array({ maxLength: 300 }), zeroMask: fc.boolean() }),
  fc.record({ opcode: fc.constant(2), payload: fc.constantFrom(125, 126, 127, 65_535, 65_536, 70_000).map((n) => new Uint8Array(n).map((_, i) => i * 31)), zeroMask: fc.boolean() }),
  fc.record({ opcode: fc.constantFrom(9, 10), payload: fc.uint8Array({ maxLength: 125 }), zeroMask: fc.boolean() }),
);

function clientFrameBytes(frame: { opcode: number; payload: Uint8Array; zeroMask: boolean }): Buffer {
  // Text frames carry valid UTF-8, so that both receivers accept them.
  const payload = frame.opcode === 1 ? Buffer.from(Buffer.from(frame.payload).toString('base64')) : Buffer.from(frame.payload);
  return Buffer.concat(
    Sender.frame(payload, {
      fin: true,
      opcode: frame.opcode,
      mask: true,
      readOnly: true,
      rsv1: false,
      ...(frame.zeroMask ? { generateMask: (mask: Buffer) => mask.fill(0) } : {}),
    }),
  );
}

test('property: masked frames cut at any points read as ws reads them whole (messages, pings, pongs)', async () => {
  await fc.assert(
    fc.asyncProperty(fc.array(frameArbitrary, { maxLength: 8 }), fc.array(fc.nat(200_000), { maxLength: 12 }), async (frames, offsets) => {
      const stream = Buffer.concat(frames.map(clientFrameBytes));
      const plain = new Receiver(RECEIVER_OPTIONS);
      const expected = record(plain);
      await feed(plain, [stream]);
      const fast = new UnmaskingReceiver(RECEIVER_OPTIONS);
      const actual = record(fast);
      await feed(fast, cut(stream, offsets));
      assert.deepEqual(actual, expected);
      assert.equal(actual.length, frames.length);
    }),
    { numRuns: 200 },
  );
});

test('property: arbitrary bytes give the same events and the same error as ws alone', async () => {
  await fc.assert(
    fc.asyncProperty(fc.uint8Array({ maxLength: 600 }), fc.array(fc.nat(600), { maxLength: 8 }), async (bytes, offsets) => {
      const stream = Buffer.from(bytes);
      const plain = new Receiver(RECEIVER_OPTIONS);
      const expected = record(plain);
      await feed(plain, cut(stream, offsets));
      const fast = new UnmaskingReceiver(RECEIVER_OPTIONS);
      const actual = record(fast);
      await feed(fast, cut(stream, offsets));
      assert.deepEqual(actual, expected);
    }),
    { numRuns: 500 },
  );
});

test('a close frame with a reason, then an unmasked frame: the same close, and the same refusal', async () => {
  const close = Buffer.concat(Sender.frame(Buffer.from([0x03, 0xe8, 0x62, 0x79, 0x65]), { fin: true, opcode: 8, mask: true, readOnly: true, rsv1: false }));
  const unmasked = Buffer.concat(Sender.frame(Buffer.from('hi'), { fin: true, opcode: 2, mask: false, readOnly: true, rsv1: false }));
  for (const stream of [close, unmasked]) {
    const plain = new Receiver(RECEIVER_OPTIONS);
    const expected = record(plain);
    await feed(plain, [stream]);
    const fast = new UnmaskingReceiver(RECEIVER_OPTIONS);
    const actual = record(fast);
    await feed(fast, cut(stream, [1, 3, 5]));
    assert.deepEqual(actual, expected);
    assert.equal(actual.length, 1);
  }
});

test('the key is zeroed on the way (ws then skips its byte loop), also when a chunk ends inside it', () => {
  const payload = Buffer.alloc(64, 0xab);
  const frame = Buffer.concat(Sender.frame(payload, { fin: true, opcode: 2, mask: true, readOnly: true, rsv1: false }));
  assert.notDeepEqual(frame.subarray(2, 6), Buffer.alloc(4), 'ws drew a non-zero key');
  const unmasker = new FrameUnmasker();
  // 2 header bytes + 4 key bytes; cut inside the key.
  const first = Buffer.from(frame.subarray(0, 4));
  const rest = Buffer.from(frame.subarray(4));
  unmasker.push(first);
  unmasker.push(rest);
  assert.deepEqual(first.subarray(0, 2), frame.subarray(0, 2), 'the header passes as it is');
  assert.deepEqual(Buffer.concat([first.subarray(2), rest.subarray(0, 2)]), Buffer.alloc(4), 'the key is zeroed');
  assert.deepEqual(rest.subarray(2), payload, 'the payload is unmasked');
});
