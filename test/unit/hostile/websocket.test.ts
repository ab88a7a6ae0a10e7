/**
 * A hostile WebSocket peer against WebSocketConnection and the SPDY tunnel over it, in both roles:
 * a ping flood from a peer that never reads, messages in 1-byte fragments, a frame trickled a
 * byte per read, and a malformed frame whose error must reach the session at once. The transport
 * is the in-memory pair (backpressure after 16 KiB); the sender builds raw frames by hand.
 */
import assert from 'node:assert/strict';
import { describe, test, type TestContext } from 'node:test';
import { ErrorCode, isKubemuxError, type KubemuxError } from '../../../src/errors.js';
import { SpdySession } from '../../../src/session/index.js';
import { WebSocketByteStream } from '../../../src/transport/tunnel/byte-stream.js';
import { WebSocketConnection, type WebSocketConnectionOptions } from '../../../src/transport/websocket/index.js';
import { once, within } from '../../support/deadlines.js';
import { duplexPair } from '../../support/duplex-pair.js';
import { KiB, MiB, flood, heapSampler, legitEcho, wsFrame } from '../../support/hostile.js';

const SUITE = { timeout: 60_000 };
const ROLES = ['client', 'server'] as const;
const PING = 0x9;
const PONG = 0xa;
const BINARY = 0x2;
const CONTINUATION = 0x0;

/** A connection under test and the raw other end of its socket (which reads nothing unless told). */
function hostileSocket(t: TestContext, role: 'client' | 'server', options: Omit<WebSocketConnectionOptions, 'role'> = {}) {
  const [mine, peer] = duplexPair();
  peer.on('error', () => {});
  const connection = new WebSocketConnection(mine, { role, closeTimeoutMs: 10_000, ...options });
  connection.resume();
  t.after(() => {
    connection.destroy();
    peer.destroy();
  });
  // The peer of a client is a server (frames unmasked) and the other way round.
  const mask = role === 'server';
  return { connection, peer, mask };
}

/** Parses the frames a peer received (unmasked and masked alike, any length). */
function parseFrames(bytes: Buffer): Array<{ opcode: number; payload: Buffer }> {
  const frames: Array<{ opcode: number; payload: Buffer }> = [];
  let offset = 0;
  while (offset + 2 <= bytes.length) {
    const opcode = bytes[offset]! & 0x0f;
    const masked = (bytes[offset + 1]! & 0x80) !== 0;
    let length = bytes[offset + 1]! & 0x7f;
    let at = offset + 2;
    if (length === 126) {
      length = bytes.readUInt16BE(at);
      at += 2;
    } else if (length === 127) {
      length = Number(bytes.readBigUInt64BE(at));
      at += 8;
    }
    const mask = masked ? bytes.subarray(at, at + 4) : undefined;
    if (masked) at += 4;
    if (at + length > bytes.length) break;
    const payload = Buffer.from(bytes.subarray(at, at + length));
    if (mask !== undefined) for (let i = 0; i < payload.length; i++) payload[i]! ^= mask[i % 4]!;
    frames.push({ opcode, payload });
    offset = at + length;
  }
  return frames;
}

describe('WebSocket floods', SUITE, () => {
  for (const role of ROLES) {
    test(`${role}: pings from a peer that never reads: while the socket does not drain only the latest ping is answered (RFC 6455 5.5.3); the write queue stays bounded, no error`, async (t) => {
      const { connection, peer, mask } = hostileSocket(t, role);
      let failure: KubemuxError | undefined;
      connection.on('closing', (_code, _reason, _byPeer, error) => (failure ??= error));
      let maxBuffered = 0;
      const watch = setInterval(() => (maxBuffered = Math.max(maxBuffered, connection.bufferedBytes)), 2);
      const heap = heapSampler({ collect: true });
      // Each ping carries its sequence number, so the answer to the latest is recognisable.
      let sequence = 0;
      const chunk = (): Buffer => {
        const frames: Buffer[] = [];
        for (let i = 0; i < 4096; i++) {
          const payload = Buffer.alloc(8);
          payload.writeBigUInt64BE(BigInt(++sequence));
          frames.push(wsFrame(PING, payload, { mask }));
        }
        return Buffer.concat(frames);
      };
      // 8 MiB of pings: 600,000 pongs if each were queued.
      const { written } = await within(flood(peer, chunk, 8 * MiB), 'the ping flood', 20_000);
      await legitEcho();
      const growth = heap.stop();
      clearInterval(watch);
      assert.equal(written >= 8 * MiB, true);
      assert.equal(failure, undefined);
      assert.equal(connection.state, 'open');
      assert.ok(maxBuffered < 64 * KiB, `the socket held ${maxBuffered} bytes of pongs`);
      assert.ok(growth < 16 * MiB, `the heap held ${(growth / MiB).toFixed(1)} MiB more`);
      t.diagnostic(`heap held at most ${(growth / MiB).toFixed(2)} MiB more (bound 16 MiB)`);
      // The peer reads at last: what was queued, then one pong for the latest ping.
      const received: Buffer[] = [];
      peer.on('data', (bytes: Buffer) => received.push(bytes));
      await within(
        new Promise<void>((resolve) => {
          const check = (): void => {
            const frames = parseFrames(Buffer.concat(received));
            if (frames.at(-1)?.payload.readBigUInt64BE(0) === BigInt(sequence)) resolve();
            else setImmediate(check);
          };
          check();
        }),
        'the pong for the latest ping',
      );
      const pongs = parseFrames(Buffer.concat(received));
      assert.ok(pongs.every((frame) => frame.opcode === PONG));
      assert.ok(pongs.length < 10_000, `${pongs.length} pongs for ${sequence} pings`);
    });

    test(`${role}: a message in 1-byte fragments: past maxFragments the connection fails at once with ERR_RESOURCE_LIMIT (1008)`, async (t) => {
      const { connection, peer, mask } = hostileSocket(t, role);
      const closing = once<[number, string, boolean, KubemuxError | undefined]>(connection, 'closing', 5_000);
      const heap = heapSampler({ collect: true });
      const fragments = (): Buffer => Buffer.concat(Array.from({ length: 4096 }, () => wsFrame(CONTINUATION, Buffer.from('x'), { fin: false, mask })));
      peer.write(wsFrame(BINARY, Buffer.from('x'), { fin: false, mask }));
      // 200,000 fragments (1.2 MB on the wire) would be 26 MB of heap if all were kept.
      const flooding = flood(peer, fragments, 200_000 * 7);
      const [code, , byPeer, error] = await closing;
      const growth = heap.stop();
      await flooding;
      assert.equal(code, 1008);
      assert.equal(byPeer, true);
      assert.ok(isKubemuxError(error, ErrorCode.RESOURCE_LIMIT), `failed with ${String(error)}`);
      assert.equal(error.closeCode, 1008);
      assert.ok(growth < 16 * MiB, `the heap held ${(growth / MiB).toFixed(1)} MiB more`);
      t.diagnostic(`heap held at most ${(growth / MiB).toFixed(2)} MiB more (bound 16 MiB)`);
      await legitEcho();
    });

    test(`${role}: a frame trickled one byte per read: past maxBufferedChunks the connection fails with ERR_RESOURCE_LIMIT (1008)`, async (t) => {
      const { connection, peer, mask } = hostileSocket(t, role, { maxBufferedChunks: 100 });
      const closing = once<[number, string, boolean, KubemuxError | undefined]>(connection, 'closing', 5_000);
      peer.write(wsFrame(BINARY, Buffer.alloc(0), { mask, declaredLength: 1 << 20 }));
      for (let i = 0; i < 1000 && connection.state === 'open'; i++) {
        peer.write(Buffer.from([i & 0xff]));
        await new Promise<void>((resolve) => setImmediate(resolve));
      }
      const [code, , , error] = await closing;
      assert.equal(code, 1008);
      assert.ok(isKubemuxError(error, ErrorCode.RESOURCE_LIMIT), `failed with ${String(error)}`);
    });
  }
});

describe('the SPDY tunnel learns the real error at once', SUITE, () => {
  for (const role of ROLES) {
    for (const { what, frame, code, closeCode } of [
      { what: 'a frame with a reserved bit set', frame: (mask: boolean) => wsFrame(BINARY, Buffer.from('x'), { mask, rsv: 2 }), code: ErrorCode.PROTOCOL, closeCode: 1002 },
      { what: 'a message over maxPayloadBytes', frame: (mask: boolean) => wsFrame(BINARY, Buffer.alloc(0), { mask, declaredLength: 64 * MiB }), code: ErrorCode.FRAME_TOO_LARGE, closeCode: 1009 },
    ]) {
      test(`${role}: ${what} closes the session with ${code} (closeCode ${closeCode}) at once, not ERR_TRANSPORT_CLOSED after closeTimeoutMs`, async (t) => {
        const { connection, peer, mask } = hostileSocket(t, role, { closeTimeoutMs: 20_000 });
        const session = new SpdySession(new WebSocketByteStream(connection), { role });
        t.after(() => session.destroy());
        const closed = once<[KubemuxError | undefined]>(session, 'close', 3_000);
        // The peer sends the bad frame and then neither closes nor answers our close frame.
        peer.write(frame(mask));
        const [error] = await closed;
        assert.ok(isKubemuxError(error, code), `the session closed with ${String(error)}`);
        assert.equal(error.closeCode, closeCode);
        assert.equal(session.closeError, error);
        // A write the session could still attempt reports the same error, not "the WebSocket is closing".
        const late = new WebSocketByteStream(connection);
        late.on('error', () => {});
        const writeError = await new Promise<Error | null | undefined>((resolve) => late.write(Buffer.from('x'), resolve));
        assert.ok(isKubemuxError(writeError, code), `a write failed with ${String(writeError)}`);
      });
    }
  }
});
