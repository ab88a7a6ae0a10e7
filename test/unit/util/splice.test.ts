/**
 * The byte splice over real loopback TCP: two connected pairs, the splice joining the inner ends
 * (`left.server` and `right.client`), the test driving the outer ends (`left.client`,
 * `right.server`) as the two peers.
 *
 *   left.client ──TCP── left.server ═══splice═══ right.client ──TCP── right.server
 *     (peer A)              (a)                       (b)               (peer B)
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import type net from 'node:net';
import type { Duplex } from 'node:stream';
import { test, type TestContext } from 'node:test';
import { splice, resetStream, type SpliceDirection } from '../../../src/util/splice.js';
import { within } from '../../support/deadlines.js';
import { nextError, randomBytes, readAll, sha256, writeAllAndEnd } from '../../support/streams.js';
import { connectTcp, type TransportPair } from '../../support/transports.js';

const MiB = 1024 * 1024;

interface Rig {
  /** The peer on a's side. */
  readonly peerA: net.Socket;
  /** The spliced ends. */
  readonly a: net.Socket;
  readonly b: net.Socket;
  /** The peer on b's side. */
  readonly peerB: net.Socket;
}

/** Two loopback pairs whose inner ends allow half-open operation, as the forwarder's sockets do. */
async function rig(t: TestContext): Promise<Rig> {
  const pairs: TransportPair[] = [await connectTcp(), await connectTcp()];
  t.after(() => Promise.all(pairs.map((pair) => pair.close())));
  const [left, right] = pairs as [TransportPair, TransportPair];
  const sockets = [left.client, left.server, right.client, right.server] as net.Socket[];
  for (const socket of sockets) {
    // connectTcp's sockets come from net.connect and a default server: allow half-open by hand.
    (socket as net.Socket & { allowHalfOpen: boolean }).allowHalfOpen = true;
    socket.on('error', () => {});
  }
  const [peerA, a, b, peerB] = sockets as [net.Socket, net.Socket, net.Socket, net.Socket];
  return { peerA, a, b, peerB };
}

test('copies 8 MiB each way at once, hash-checked, and settles done with the byte counts', async (t) => {
  const { peerA, a, b, peerB } = await rig(t);
  const counted: Record<SpliceDirection, number> = { aToB: 0, bToA: 0 };
  const result = splice(a, b, { onChunk: (direction, bytes) => (counted[direction] += bytes) });
  const fromA = randomBytes(8 * MiB);
  const fromB = randomBytes(8 * MiB);
  const [atB, atA] = await within(
    Promise.all([readAll(peerB), readAll(peerA), writeAllAndEnd(peerA, fromA), writeAllAndEnd(peerB, fromB)]),
    'both directions',
  );
  assert.equal(sha256(atB), sha256(fromA));
  assert.equal(sha256(atA), sha256(fromB));
  const settled = await within(result, 'the splice settling');
  assert.deepEqual(settled, { outcome: 'done', bytesAToB: fromA.length, bytesBToA: fromB.length });
  assert.deepEqual(counted, { aToB: fromA.length, bToA: fromB.length });
});

test('half-close: A ends first, B still reads it all and answers afterwards; done only when both have ended', async (t) => {
  const { peerA, a, b, peerB } = await rig(t);
  let settled = false;
  const result = splice(a, b).then((r) => {
    settled = true;
    return r;
  });
  const request = randomBytes(MiB);
  await writeAllAndEnd(peerA, request);
  // B reads to EOF: only a propagated half-close ends this read.
  const received = await within(readAll(peerB), 'B reading to EOF');
  assert.equal(sha256(received), sha256(request));
  assert.equal(settled, false, 'one direction is still open');
  const reply = Buffer.from(sha256(received));
  const [answer] = await Promise.all([readAll(peerA), writeAllAndEnd(peerB, reply)]);
  assert.equal(answer.toString(), reply.toString());
  assert.equal((await within(result, 'the splice settling')).outcome, 'done');
});

test('backpressure: with B not reading, A is paused and no more than one chunk past the high-water mark is held', async (t) => {
  const { peerA, a, b, peerB } = await rig(t);
  peerB.pause();
  const result = splice(a, b);
  const payload = randomBytes(32 * MiB);
  const sent = writeAllAndEnd(peerA, payload);
  // The splice pausing a is the backpressure engaging; it does so each time b's buffer fills.
  let pauses = 0;
  let worstHeld = 0;
  a.on('pause', () => {
    pauses++;
    worstHeld = Math.max(worstHeld, b.writableLength);
  });
  await within(once(a, 'pause'), 'the splice pausing a');
  // Nothing more is read from a while it is paused: what b holds stays bounded.
  assert.ok(b.writableLength <= b.writableHighWaterMark + 64 * 1024, `b holds ${b.writableLength} bytes`);
  const received = readAll(peerB);
  peerB.resume();
  assert.equal(sha256(await within(received, 'B reading everything')), sha256(payload));
  await sent;
  peerB.end();
  assert.equal((await within(result, 'the splice settling')).outcome, 'done');
  assert.ok(pauses >= 1);
  assert.ok(worstHeld <= b.writableHighWaterMark + 64 * 1024, `b held up to ${worstHeld} bytes`);
});

test('a reset on one side resets the other: B sees ECONNRESET, not an EOF, and the outcome names A', async (t) => {
  const { peerA, a, b, peerB } = await rig(t);
  const result = splice(a, b);
  peerA.write(randomBytes(64 * 1024));
  // B reads what got through, then the reset must surface as an error.
  peerB.resume();
  const failure = nextError(peerB);
  await within(once(a, 'data'), 'bytes reaching a');
  peerA.resetAndDestroy();
  const error = (await within(failure, 'B seeing the reset')) as NodeJS.ErrnoException;
  assert.equal(error.code, 'ECONNRESET');
  const settled = await within(result, 'the splice settling');
  assert.equal(settled.outcome, 'reset');
  assert.equal(settled.endedBy, 'a');
  assert.equal((settled.error as NodeJS.ErrnoException | undefined)?.code, 'ECONNRESET');
  assert.equal(b.destroyed, true);
});

test('resetTcp false: the other side is closed (FIN) instead of reset, as a runtime closes the pod connection', async (t) => {
  const { peerA, a, b, peerB } = await rig(t);
  const result = splice(a, b, { resetTcp: false });
  peerB.resume();
  const ended = once(peerB, 'end');
  peerA.resetAndDestroy();
  await within(ended, 'B seeing a clean end');
  const settled = await within(result, 'the splice settling');
  assert.equal(settled.outcome, 'reset');
  assert.equal(settled.endedBy, 'a');
});

test('a side that fails while writing (its peer reset) ends the splice by that side, and the other is reset', async (t) => {
  const { peerA, a, b, peerB } = await rig(t);
  const result = splice(a, b);
  peerA.on('data', () => {});
  const failure = nextError(peerA);
  peerB.resetAndDestroy();
  const settled = await within(result, 'the splice settling');
  assert.equal(settled.outcome, 'reset');
  assert.equal(settled.endedBy, 'b');
  assert.equal(((await within(failure, 'A seeing the reset')) as NodeJS.ErrnoException).code, 'ECONNRESET');
});

test('a side destroyed before the splice: it settles reset at once and tears the other down', async (t) => {
  const { a, b, peerB } = await rig(t);
  peerB.resume();
  const failure = nextError(peerB);
  a.destroy();
  const settled = await within(splice(a, b), 'the splice settling');
  assert.deepEqual(settled, { outcome: 'reset', endedBy: 'a', bytesAToB: 0, bytesBToA: 0 });
  assert.equal(((await within(failure, 'B seeing the reset')) as NodeJS.ErrnoException).code, 'ECONNRESET');
});

test('a stream can be in one splice at a time', async (t) => {
  const { a, b } = await rig(t);
  void splice(a, b);
  assert.throws(() => void splice(b, a), /one splice at a time/);
  assert.throws(() => void splice(a as Duplex, a as Duplex), /to itself/);
});

test('resetStream sends an RST on a TCP socket and destroys any other stream', async (t) => {
  const { peerA, a } = await rig(t);
  peerA.resume();
  const failure = nextError(peerA);
  resetStream(a);
  assert.equal(((await within(failure, 'the peer seeing the reset')) as NodeJS.ErrnoException).code, 'ECONNRESET');
  resetStream(a); // already destroyed: nothing happens
  const { PassThrough } = await import('node:stream');
  const plain = new PassThrough();
  resetStream(plain);
  assert.equal(plain.destroyed, true);
});
