/**
 * The `delay` fault: a slow but healthy link. Through the fake cluster, every protocol's ping is
 * answered, late (a round trip crosses the delay twice), and data arrives intact. On the FaultGate
 * itself, over a real TCP pair: order is kept both ways, the end of the stream comes after the
 * last delayed byte, and backpressure holds (a reader that stops makes the writer stop, instead
 * of the delay buffering without bound).
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { describe, test, type TestContext } from 'node:test';
import { DELAY_LINE_BYTES, FaultGate } from '../../../src/server/portforward/fault-gate.js';
import { dialPortForward } from '../../../src/transport/dial.js';
import type { PortForwardProtocol } from '../../../src/transport/port-forward-connection.js';
import { portForwardPath } from '../../../src/transport/api/request-target.js';
import { startDemoCluster } from '../../support/servers.js';
import { randomBytes, readAll, sha256, writeAllAndEnd } from '../../support/streams.js';
import { connectTcp } from '../../support/transports.js';

const DELAY_MS = 100;
const BOUNDED = { timeout: 20_000 };
const MiB = 1024 * 1024;

describe('the delay fault through the fake cluster', () => {
  for (const protocol of ['spdy', 'websocket-tunnel', 'websocket-v4'] as const satisfies readonly PortForwardProtocol[]) {
    test(`${protocol}: pings are answered late, 1 MiB each way arrives intact, and clear ends the delay`, BOUNDED, async (t: TestContext) => {
      const demo = await startDemoCluster();
      t.after(() => demo.close());
      const connection = await dialPortForward({ server: demo.cluster.url, path: portForwardPath('default', 'demo') }, { protocol });
      t.after(() => connection.destroy());
      assert.deepEqual(demo.cluster.applyFault('delay', { ms: String(DELAY_MS) }), { ok: true, action: 'delay', ms: DELAY_MS });
      // v4 has nothing to ping before a pair is open; its pair is a new, delayed, WebSocket.
      const pair = await connection.openPortStreams(8080);
      const rttMs = await connection.ping({ timeoutMs: 10_000 });
      // Both ways cross the delay; only a lower bound is asserted (no timing upper bounds in tests).
      assert.ok(rttMs >= DELAY_MS, `a ping took ${rttMs} ms through a ${DELAY_MS} ms delay each way`);
      const payload = randomBytes(MiB);
      const echoed = readExactly(pair.data, payload.length);
      pair.data.write(payload);
      assert.equal(sha256(await echoed), sha256(payload));
      demo.cluster.applyFault('clear');
      assert.ok((await connection.ping({ timeoutMs: 10_000 })) >= 0);
      pair.data.destroy();
      assert.equal(await pair.errors, '');
    });
  }
});

/** The first `count` bytes the stream delivers. */
function readExactly(stream: NodeJS.ReadableStream, count: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let total = 0;
    stream.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      total += chunk.length;
      if (total >= count) resolve(Buffer.concat(chunks).subarray(0, count));
    });
    stream.once('error', reject);
  });
}

describe('FaultGate.delay over a TCP pair', () => {
  // connectTcp's sockets close their side when the other ends (no half-open): each test ends a
  // direction only once everything else it checks has arrived.
  test('both ways: bytes in order, the end after the last byte, each chunk held at least the delay', BOUNDED, async (t) => {
    const pair = await connectTcp();
    t.after(() => pair.close());
    const gate = new FaultGate(pair.server);
    gate.delay(DELAY_MS);
    const toGate = randomBytes(3 * MiB);
    const fromGate = randomBytes(3 * MiB);
    const started = performance.now();
    const firstInbound = once(gate, 'data').then(() => performance.now() - started);
    const [atClient] = await Promise.all([readExactly(pair.client, fromGate.length), writeAll(gate, fromGate)]);
    assert.equal(sha256(atClient), sha256(fromGate));
    const [atGate] = await Promise.all([readAll(gate), writeAllAndEnd(pair.client, toGate, 16 * 1024)]);
    assert.equal(sha256(atGate), sha256(toGate));
    assert.ok((await firstInbound) >= DELAY_MS, 'the first byte waited for the delay');
  });

  test('a reader that stops holds back the writer (inbound): the delay does not buffer without bound', BOUNDED, async (t) => {
    const pair = await connectTcp();
    t.after(() => pair.close());
    const gate = new FaultGate(pair.server);
    gate.delay(5);
    gate.pause();
    // The client writes until its socket pushes back, which must happen well before everything
    // it could write is buffered in the gate.
    const chunk = randomBytes(64 * 1024);
    let written = 0;
    while (written < 64 * MiB) {
      written += chunk.length;
      if (!pair.client.write(chunk)) break;
    }
    assert.ok(written < 64 * MiB, 'the client was never pushed back');
    // Everything arrives, in order, once the gate is read.
    const received = readAll(gate);
    gate.resume();
    pair.client.end();
    assert.equal(sha256(await received), sha256(Buffer.concat(Array.from({ length: written / chunk.length }, () => chunk))));
  });

  test('a peer that reads nothing holds back the writer (outbound), after the delay line is full', BOUNDED, async (t) => {
    const pair = await connectTcp();
    t.after(() => pair.close());
    const gate = new FaultGate(pair.server);
    gate.delay(5);
    pair.client.pause();
    const chunk = randomBytes(64 * 1024);
    let written = 0;
    while (written < 64 * MiB) {
      written += chunk.length;
      if (!gate.write(chunk)) break;
    }
    assert.ok(written < 64 * MiB, 'the gate never pushed back');
    assert.ok(written > DELAY_LINE_BYTES, `the gate pushed back after ${written} bytes, before its delay line was full`);
    // Everything arrives, in order, once the peer reads.
    const received = readExactly(pair.client, written);
    pair.client.resume();
    assert.equal(sha256(await received), sha256(Buffer.concat(Array.from({ length: written / chunk.length }, () => chunk))));
  });

  test('clear (delay 0) lets what is held go at once, and what comes after follows it', BOUNDED, async (t) => {
    const pair = await connectTcp();
    t.after(() => pair.close());
    const gate = new FaultGate(pair.server);
    gate.delay(60_000);
    const received = readAll(gate);
    pair.client.write('held ');
    await once(pair.server, 'data');
    assert.equal(gate.readableLength, 0, 'nothing came through within the delay');
    gate.delay(0);
    pair.client.end('after');
    assert.equal((await received).toString(), 'held after');
  });
});

/** Writes `data` with backpressure, without ending. */
async function writeAll(stream: NodeJS.WritableStream, data: Buffer): Promise<void> {
  for (let offset = 0; offset < data.length; offset += 16 * 1024) {
    if (!stream.write(data.subarray(offset, offset + 16 * 1024))) await once(stream as unknown as NodeJS.EventEmitter, 'drain');
  }
}
