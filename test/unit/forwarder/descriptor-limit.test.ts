/**
 * Descriptor exhaustion on accept: a forwarder in a child process with `ulimit -n 64` gets more
 * local connections than it has descriptors for. Nothing may crash or hang: the connections it
 * could accept are forwarded and go on working, the others are closed at once (libuv accepts and
 * closes what it cannot keep, see the acceptError event's comment), and once descriptors are free
 * again, new connections are forwarded.
 */
import assert from 'node:assert/strict';
import type net from 'node:net';
import { test, type TestContext } from 'node:test';
import { within } from '../../support/deadlines.js';
import { connectLocal } from '../../support/forwarder.js';
import { startForwardProcess } from '../../support/forward-process.js';
import { startDemoCluster } from '../../support/servers.js';
import { randomBytes, readBytes, sha256 } from '../../support/streams.js';

const DESCRIPTOR_LIMIT = 64;
const CLIENTS = 100;

/** Sends a probe; resolves with whether it came back (forwarded) or the connection was closed (refused by the forwarder). */
function probe(client: net.Socket): Promise<'echoed' | 'closed'> {
  return new Promise((resolve, reject) => {
    const data = randomBytes(16);
    const closed = (): void => resolve('closed');
    client.once('end', closed);
    client.once('error', closed);
    client.write(data);
    readBytes(client, data.length).then((echo) => {
      client.off('end', closed);
      client.off('error', closed);
      if (sha256(echo) === sha256(data)) resolve('echoed');
      else reject(new Error('a wrong echo'));
    }, () => resolve('closed'));
  });
}

test(`with ulimit -n ${DESCRIPTOR_LIMIT}, ${CLIENTS} connections: the forwarder neither crashes nor hangs, and recovers`, { timeout: 120_000 }, async (t: TestContext) => {
  const demo = await startDemoCluster();
  t.after(() => demo.close());
  const child = await startForwardProcess(
    { clusterUrl: demo.cluster.url, protocol: 'spdy', ports: ['0:8080'], addresses: ['127.0.0.1'] },
    { shellPrefix: `ulimit -n ${DESCRIPTOR_LIMIT}` },
  );
  t.after(() => {
    child.child.kill();
  });
  const port = child.listeners[0]!.port;

  const clients = await Promise.all(Array.from({ length: CLIENTS }, () => connectLocal(t, port)));
  const outcomes = await within(Promise.all(clients.map(probe)), 'every probe answered or closed', 60_000);
  const forwarded = clients.filter((_, i) => outcomes[i] === 'echoed');
  const dropped = outcomes.filter((o) => o === 'closed').length;
  t.diagnostic(`${forwarded.length} forwarded, ${dropped} closed at the descriptor limit`);
  assert.ok(forwarded.length > 0, 'some connections were forwarded');
  assert.ok(dropped > 0, `the limit was reached (${CLIENTS} connections, ${DESCRIPTOR_LIMIT} descriptors)`);
  assert.equal(child.child.exitCode, null, 'the forwarder process is still running');

  // The forwarded ones go on working.
  assert.deepEqual(await within(Promise.all(forwarded.map(probe)), 'the forwarded connections'), forwarded.map(() => 'echoed'));
  // Free the descriptors: once the forwarder has seen every forwarded connection end, new
  // connections are forwarded again.
  for (const client of clients) client.destroy();
  await child.events('connectionClosed', forwarded.length, 30_000);
  const later = await connectLocal(t, port);
  assert.equal(await within(probe(later), 'a probe after the storm'), 'echoed');
  later.destroy();
  assert.equal(await child.close('abort'), 0);
});
