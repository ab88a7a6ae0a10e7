/**
 * Scale through one forward: more concurrent forwarded connections than one upgraded connection
 * may carry. The endpoint here allows 100 streams per connection (50 pairs); the resilience layer
 * must spread 2,000 concurrent hash-checked connections over at least 20 upgraded connections,
 * lose none, and close the extra connections once the load has ended.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { test } from 'node:test';
import { ResilientConnection } from '../../../src/resilience/resilient-connection.js';
import { PortForwardEndpoint } from '../../../src/server/portforward/endpoint.js';
import { portForwardPath } from '../../../src/transport/api/request-target.js';
import { within } from '../../support/deadlines.js';
import { startForwarder } from '../../support/forwarder.js';
import { aliveResources, expectNothingLeftSince } from '../../support/leaks.js';
import { startDemoCluster } from '../../support/servers.js';
import { randomBytes, sha256 } from '../../support/streams.js';

const CONNECTIONS = 2_000;
const PAYLOAD_BYTES = 4 * 1024;

/**
 * One local connection that stays open: writes its payload, reads the whole echo back, and
 * resolves with both hashes and the socket (still open, so that all of them are open at once).
 */
function echoAndHold(port: number): Promise<{ sent: string; received: string; socket: net.Socket }> {
  return new Promise((resolve, reject) => {
    const payload = randomBytes(PAYLOAD_BYTES);
    const chunks: Buffer[] = [];
    let received = 0;
    const socket = net.connect({ host: '127.0.0.1', port, allowHalfOpen: true }, () => socket.write(payload));
    socket.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      received += chunk.length;
      if (received >= PAYLOAD_BYTES) resolve({ sent: sha256(payload), received: sha256(Buffer.concat(chunks)), socket });
    });
    socket.once('error', reject);
    socket.once('end', () => reject(new Error(`the connection ended after ${received} bytes`)));
  });
}

test(`${CONNECTIONS} concurrent connections over an endpoint that allows 50 pairs per connection: all succeed, spread over >= 20 connections, the extra ones close afterwards`, async (t) => {
  const before = aliveResources();
  const demo = await startDemoCluster({ endpoint: new PortForwardEndpoint({ session: { maxConcurrentStreams: 100 } }) });
  const connection = new ResilientConnection({
    target: { server: demo.cluster.url, path: portForwardPath('default', 'demo') },
    protocol: 'spdy',
    extraConnectionIdleMs: 200,
  });
  let most = 0;
  connection.on('state', () => {});
  const { ready, forwarder } = await startForwarder(t, { opener: connection, ports: ['0:8080'], addresses: ['127.0.0.1'], openTimeoutMs: 60_000 });
  const port = ready.listeners[0]!.port;
  const sampler = setInterval(() => (most = Math.max(most, connection.stats.connections)), 5);
  try {
    const results = await within(Promise.all(Array.from({ length: CONNECTIONS }, () => echoAndHold(port))), `${CONNECTIONS} concurrent echoes`, 120_000);
    clearInterval(sampler);
    most = Math.max(most, connection.stats.connections);
    const bad = results.filter((r) => r.sent !== r.received).length;
    assert.equal(bad, 0, `${bad} connections came back different`);
    assert.equal(forwarder.stats().failed, 0);
    assert.equal(forwarder.stats().openConnections, CONNECTIONS, 'all open at once');
    assert.ok(most >= 20, `spread over ${most} upgraded connections`);
    for (const { socket } of results) socket.destroy();
    assert.equal(connection.stats.replacements, 0, 'growing is not replacing');
    await within(
      (async () => {
        while (connection.stats.connections > 1) await new Promise<void>((resolve) => setTimeout(resolve, 20));
      })(),
      'the extra connections to close',
      30_000,
    );
    assert.equal(connection.stats.connections, 1);
  } finally {
    clearInterval(sampler);
    await forwarder.close({ mode: 'abort' });
    await connection.destroy();
    await demo.close();
  }
  await expectNothingLeftSince(before, 'after the load');
});
