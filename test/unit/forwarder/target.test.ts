/**
 * `forward({ cluster, target, ports })`: the forwarder builds its own ResilientConnection for a
 * Kubernetes target. Checked against the fake cluster: service ports resolve to target ports as
 * kubectl resolves them, the connection's 'state' and 'replaced' events come through the
 * forwarder, its stats are in the forwarder's, a dropped connection is replaced under an open
 * forward, close() closes the connection it built, and a target that does not exist rejects
 * `ready` and leaves nothing running.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ErrorCode, isKubemuxError } from '../../../src/errors.js';
import { forward } from '../../../src/forwarder/port-forwarder.js';
import { ResilientConnection } from '../../../src/resilience/resilient-connection.js';
import type { Replacement, StateChange } from '../../../src/resilience/events.js';
import { once, onceMatching, within } from '../../support/deadlines.js';
import { connectLocal } from '../../support/forwarder.js';
import { startDemoCluster } from '../../support/servers.js';
import { echoExactly, randomBytes, sha256 } from '../../support/streams.js';

async function echoThrough(t: Parameters<typeof connectLocal>[0], port: number): Promise<void> {
  const socket = await connectLocal(t, port);
  const payload = randomBytes(64 * 1024);
  assert.equal(sha256(await within(echoExactly(socket, payload), 'the echo')), sha256(payload));
  // A clean end both ways before the test goes on (the pod ends after its echo).
  const ended = once(socket, 'end');
  socket.end();
  await ended;
  await once(socket, 'close');
}

test('forward to svc/demo port 80: resolved to the pod port, events and stats of the connection it built, healed after a drop, closed with it', async (t) => {
  const demo = await startDemoCluster();
  t.after(() => demo.close());
  const forwarder = forward({
    cluster: { target: { server: demo.cluster.url }, namespace: 'default' },
    target: 'svc/demo',
    ports: ['0:80'],
    addresses: ['127.0.0.1'],
    connection: { pingIntervalMs: 200, pingTimeoutMs: 1_000 },
  });
  t.after(() => forwarder.close({ mode: 'abort' }));
  const states: StateChange[] = [];
  forwarder.on('state', (change) => states.push(change));
  const ready = await forwarder.ready;
  // The service's port 80 has targetPort "http", the pod's 8080.
  assert.equal(ready.listeners[0]!.remotePort, 8080);
  assert.ok(forwarder.opener instanceof ResilientConnection);

  await echoThrough(t, ready.listeners[0]!.port);
  assert.equal(forwarder.stats().connection?.state, 'ready');
  assert.ok(states.some((change) => change.state === 'ready'), JSON.stringify(states));

  const replaced = new Promise<Replacement>((resolve) => forwarder.once('replaced', resolve));
  demo.cluster.applyFault('drop');
  const replacement = await within(replaced, 'the replacement', 10_000);
  assert.equal(replacement.cause, 'connection-lost');
  await echoThrough(t, ready.listeners[0]!.port);
  const stats = forwarder.stats();
  assert.equal(stats.connection?.replacements, 1);
  assert.equal(stats.opened, 2);
  assert.equal(stats.failed, 0);

  const connection = forwarder.opener as ResilientConnection;
  await forwarder.close();
  assert.equal(connection.state, 'closed', 'the connection the forwarder built is closed with it');
  assert.equal(demo.cluster.endpoint.stats().sessions >= 2, true);
});

test('forward to a pod that does not exist: ready rejects with ERR_TARGET_NOT_FOUND, and the connection it built is closed', async (t) => {
  const demo = await startDemoCluster();
  t.after(() => demo.close());
  const forwarder = forward({
    cluster: { target: { server: demo.cluster.url }, namespace: 'default' },
    target: 'pod/missing',
    ports: ['0:8080'],
    addresses: ['127.0.0.1'],
  });
  const closed = onceMatching(forwarder.opener as ResilientConnection, 'close', () => true, 'the connection closing');
  await assert.rejects(forwarder.ready, (error: unknown) => isKubemuxError(error, ErrorCode.TARGET_NOT_FOUND));
  await closed;
  assert.equal((forwarder.opener as ResilientConnection).state, 'closed');
  assert.equal(forwarder.stats().listeners, 0);
  assert.equal(demo.cluster.endpoint.stats().sessions, 0, 'nothing was dialed');
});

test('forward with neither an opener nor a target: a usage error naming both', () => {
  assert.throws(
    () => forward({ ports: ['8080'] } as unknown as Parameters<typeof forward>[0]),
    (error: unknown) => isKubemuxError(error, ErrorCode.INVALID_ARGUMENT) && /opener/.test(error.message) && /target/.test(error.message),
  );
});
