/** Client frames built by kubemux: the fast mask equals RFC 6455's byte-wise XOR, and ws reads them. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { clientFrame, maskedCopy } from '../../../src/transport/websocket/client-frame.js';
import { Receiver } from '../../../src/transport/websocket/ws-codec.js';

test('maskedCopy equals the byte-wise XOR of RFC 6455 section 5.3, and leaves the input alone', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 300 }), fc.uint8Array({ minLength: 4, maxLength: 4 }), fc.nat(7), (bytes, mask, shift) => {
      // An unaligned view as input, as socket buffers often are.
      const backing = new Uint8Array(bytes.length + shift);
      backing.set(bytes, shift);
      const input = backing.subarray(shift);
      const before = Buffer.from(input);
      const expected = Buffer.from(input.map((byte, i) => byte ^ mask[i % 4]!));
      assert.deepEqual(maskedCopy(input, mask), expected);
      assert.deepEqual(Buffer.from(input), before);
    }),
    { numRuns: 500 },
  );
});

test('frames of every length class decode with ws as a server would read them', () => {
  for (const length of [0, 1, 125, 126, 65_535, 65_536, 200_000]) {
    const payload = Buffer.alloc(length, 0x5a);
    const [header, body] = clientFrame(payload, 2) as [Buffer, Buffer];
    assert.equal(header[1]! & 0x80, 0x80, 'mask bit set');
    // ws's own Receiver, as a server: it unmasks independently of kubemux's code.
    const receiver = new Receiver({ isServer: true, maxPayload: 0, binaryType: 'nodebuffer', extensions: {}, allowSynchronousEvents: true, skipUTF8Validation: false });
    let received: Buffer | undefined;
    receiver.on('message', (data: Buffer) => (received = data));
    receiver.write(Buffer.concat([header, body]));
    assert.ok(received !== undefined && received.equals(payload), `length ${length}`);
  }
});
