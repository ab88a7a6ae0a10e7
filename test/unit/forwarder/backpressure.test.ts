/**
 * Backpressure end to end: a local client that stops reading while the pod offers 1 GiB keeps
 * the forwarder's memory bounded. The forwarder runs in a child process (its RSS is its own);
 * the pod, the fake cluster and the client are here.
 *
 * The bound, {@link BOUND_BYTES} = 64 MiB, is asserted two ways at each of many stalls:
 * - the forwarder process's RSS growth over its ready state stays under it;
 * - the pod never gets more than it ahead of the client: bytes the pod's socket accepted minus
 *   bytes the client read (everything buffered anywhere on the path: kernels, cluster, forwarder).
 *
 * A stall: the client reads nothing until (1) the forwarder's splice has paused the pair's data
 * stream (its local socket is full) and (2) the pod's own writes are blocked. Without
 * backpressure neither happens, or the pod runs 1 GiB ahead (16 times the bound). Between
 * stalls the client reads 64 MiB, so the forwarder fills up and stops again about 16 times.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import type net from 'node:net';
import { test } from 'node:test';
import { within } from '../../support/deadlines.js';
import { connectLocal } from '../../support/forwarder.js';
import { startForwardProcess } from '../../support/forward-process.js';
import { startDemoCluster, startPod } from '../../support/servers.js';

const MiB = 1024 * 1024;
/** What the pod offers. */
const TOTAL_BYTES = 1024 * MiB;
/** The memory bound of the forwarder under backpressure (spec/forwarder.md). */
const BOUND_BYTES = 64 * MiB;
/** What the client reads between stalls. */
const BURST_BYTES = 64 * MiB;

/** A pod that sends TOTAL_BYTES (a 1 MiB random block, repeated) with backpressure, hashing what it sends. */
interface SenderState {
  written: number;
  /** Waiting for 'drain'. */
  waiting: boolean;
  onBlocked: (() => void) | undefined;
  onDone: (() => void) | undefined;
  readonly hash: ReturnType<typeof createHash>;
}

function sender(socket: net.Socket, state: SenderState): void {
  const block = randomBytes(MiB);
  const slice = 64 * 1024;
  const pump = (): void => {
    state.waiting = false;
    while (state.written < TOTAL_BYTES) {
      const offset = state.written % MiB;
      const chunk = block.subarray(offset, offset + slice);
      state.hash.update(chunk);
      state.written += chunk.length;
      if (!socket.write(chunk)) {
        state.waiting = true;
        state.onBlocked?.();
        socket.once('drain', pump);
        return;
      }
    }
    socket.end();
    state.onDone?.();
  };
  socket.resume();
  pump();
}

test('a client that stops reading while the pod offers 1 GiB: the forwarder pauses, its RSS growth stays under 64 MiB', { timeout: 300_000 }, async (t) => {
  const pod: SenderState = { written: 0, waiting: false, onBlocked: undefined, onDone: undefined, hash: createHash('sha256') };
  const target = await startPod(t, (socket) => sender(socket, pod));
  const demo = await startDemoCluster({ portMap: { 8080: `127.0.0.1:${target.port}` } });
  t.after(() => demo.close());
  const child = await startForwardProcess({ clusterUrl: demo.cluster.url, protocol: 'spdy', ports: ['0:8080'], addresses: ['127.0.0.1'] });
  t.after(() => {
    child.child.kill();
  });

  const client = await connectLocal(t, child.listeners[0]!.port);
  client.pause();
  const received = createHash('sha256');
  let receivedBytes = 0;
  client.on('data', (chunk: Buffer) => {
    received.update(chunk);
    receivedBytes += chunk.length;
  });
  const ended = new Promise<void>((resolve) => client.once('end', resolve));
  /** Reads (resumed) until `total` bytes have arrived, then pauses. */
  const readUntil = (total: number): Promise<void> =>
    new Promise((resolve) => {
      const check = (): void => {
        if (receivedBytes < total) return;
        client.pause();
        client.off('data', check);
        resolve();
      };
      client.on('data', check);
      client.resume();
    });
  const podBlocked = (): Promise<void> =>
    pod.waiting
      ? Promise.resolve()
      : new Promise<void>((resolve) => {
          pod.onBlocked = () => {
            pod.onBlocked = undefined;
            resolve();
          };
        });

  // The pod can only finish during a stall if nothing held it back.
  let podFinished!: () => void;
  const podDone = new Promise<never>((_, reject) => {
    podFinished = () => reject(new assert.AssertionError({ message: `the pod sent all ${TOTAL_BYTES} bytes while the client had read ${receivedBytes}: no backpressure` }));
  });
  podDone.catch(() => {});
  pod.onDone = () => podFinished();
  let stalls = 0;
  let worstGrowth = 0;
  let worstAhead = 0;
  // Stall while the pod still has more to send than the whole path could hold.
  while (TOTAL_BYTES - receivedBytes > 2 * BOUND_BYTES) {
    child.send({ type: 'arm' });
    const paused = await Promise.race([child.next('paused', 60_000), podDone]);
    await within(podBlocked(), "the pod's writes blocking", 60_000);
    child.send({ type: 'rss' });
    const { rss } = await child.next('rss');
    worstGrowth = Math.max(worstGrowth, paused.rss - child.baselineRss, rss - child.baselineRss);
    worstAhead = Math.max(worstAhead, pod.written - receivedBytes);
    stalls++;
    await within(readUntil(receivedBytes + BURST_BYTES), 'a burst of reading', 60_000);
  }
  client.resume();
  await within(ended, 'the end of the body', 120_000);

  t.diagnostic(`stalls ${stalls}; worst RSS growth ${(worstGrowth / MiB).toFixed(1)} MiB; pod ahead of the client by at most ${(worstAhead / MiB).toFixed(1)} MiB`);
  assert.equal(receivedBytes, TOTAL_BYTES);
  assert.equal(received.digest('hex'), pod.hash.digest('hex'));
  assert.ok(stalls >= 12, `only ${stalls} stalls`);
  assert.ok(worstGrowth < BOUND_BYTES, `the forwarder's RSS grew by ${worstGrowth} bytes, over the ${BOUND_BYTES} bound`);
  assert.ok(worstAhead < BOUND_BYTES, `the pod got ${worstAhead} bytes ahead of the client, over the ${BOUND_BYTES} bound`);
  assert.equal(await child.close(), 0);
});
