/**
 * @kubernetes/client-node's PortForward (the WebSocket v4 channel protocol, one WebSocket per
 * local connection) against the fake cluster's endpoint: bytes both ways, hash-checked, used the
 * documented way (a local TCP server hands each socket to portForward()).
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import net from 'node:net';
import { test } from 'node:test';
import { startDemoCluster } from '../support/servers.js';
import { randomBytes, sha256 } from '../support/streams.js';

test('client-node PortForward moves 4 x 2 MiB through the v4 endpoint, hash-checked', async (t) => {
  const { KubeConfig, PortForward } = await import('@kubernetes/client-node');
  // client-node 1.x refuses plain http:// without skip-verify; HTTPS with the cluster's own CA.
  const demo = await startDemoCluster({ tls: true });
  t.after(() => demo.close());
  const kc = new KubeConfig();
  kc.loadFromString(demo.cluster.kubeconfig());
  const forward = new PortForward(kc);

  const sockets = new Set<net.Socket>();
  const local = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    void forward.portForward('default', 'demo', [8080], socket, null, socket).catch(() => socket.destroy());
  });
  local.listen(0, '127.0.0.1');
  await once(local, 'listening');
  t.after(async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise<void>((resolve) => local.close(() => resolve()));
  });
  const { port } = local.address() as net.AddressInfo;

  const echoOnce = async (payload: Buffer): Promise<Buffer> => {
    const socket = net.connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    let received = 0;
    // v4 has no half-close (client-node closes the WebSocket when the local side ends), so the
    // client waits for every byte to come back before it closes.
    const complete = new Promise<void>((resolve, reject) => {
      socket.on('data', (chunk: Buffer) => {
        chunks.push(chunk);
        received += chunk.length;
        if (received >= payload.length) resolve();
      });
      socket.on('error', reject);
      socket.on('close', () => reject(new Error(`closed after ${received} of ${payload.length} bytes`)));
    });
    socket.write(payload);
    await complete;
    socket.destroy();
    return Buffer.concat(chunks);
  };

  const payloads = Array.from({ length: 4 }, () => randomBytes(2 << 20));
  const echoed = await Promise.all(payloads.map(echoOnce));
  echoed.forEach((bytes, i) => assert.equal(sha256(bytes), sha256(payloads[i]!), `connection ${i}`));
  const stats = demo.cluster.stats();
  assert.equal(stats.v4Sessions, 4);
  assert.equal(stats.bytesToPod, 4 * (2 << 20));
  assert.equal(stats.bytesFromPod, 4 * (2 << 20));
});
