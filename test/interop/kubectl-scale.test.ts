/**
 * Load that kubectl carries against a real cluster must be carried by the fake cluster too: kubectl
 * sends every local connection of a forward as a stream pair over ONE upgraded connection, and the
 * kubelet (Go's spdystream) has no stream limit. Here 1,500 local connections are held open at once
 * through one `kubectl port-forward` (SPDY, and the WebSocket tunnel), each echoing its own random
 * bytes, hash-checked at both ends; the endpoint must see one upgraded connection and 1,500 pairs
 * open together. (The endpoint once refused every stream past 1,000, so kubectl failed from the
 * 501st connection on.)
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { describe, test } from 'node:test';
import { findKubectl, kubectlMissing, startPortForward, type WebsocketsSetting } from '../support/kubectl.js';
import { startDemoCluster, startPod } from '../support/servers.js';
import { echoExactly, randomBytes, sha256 } from '../support/streams.js';
import { once } from '../support/deadlines.js';

const CONNECTIONS = 1_500;
const BYTES_PER_CONNECTION = 1024;
/** TCP handshakes started at once against kubectl's listener (its accept queue is the kernel's). */
const CONNECT_BATCH = 250;

const CASES: ReadonlyArray<{ readonly label: string; readonly websockets: WebsocketsSetting; readonly carriage: 'spdy' | 'tunnel' }> = [
  { label: 'SPDY', websockets: 'false', carriage: 'spdy' },
  { label: 'the WebSocket tunnel', websockets: 'unset', carriage: 'tunnel' },
];

describe(`kubectl 1.33: ${CONNECTIONS.toLocaleString('en-US')} concurrent connections through one forward`, () => {
  const kubectl = findKubectl('1.33');
  for (const testCase of CASES) {
    test(`over ${testCase.label}: all served over one upgraded connection, sha256 equal at both ends`, async (t) => {
      if (kubectl === undefined) {
        t.skip(kubectlMissing('1.33'));
        return;
      }
      // The pod hashes what each connection sent before echoing it back.
      const receivedHashes = new Set<string>();
      const pod = await startPod(t, (socket) => {
        const chunks: Buffer[] = [];
        let length = 0;
        socket.on('data', (chunk: Buffer) => {
          chunks.push(chunk);
          length += chunk.length;
          if (length === BYTES_PER_CONNECTION) {
            const whole = Buffer.concat(chunks);
            receivedHashes.add(sha256(whole));
            socket.write(whole);
          }
        });
        socket.on('error', () => socket.destroy());
      });
      const demo = await startDemoCluster({ podTarget: `127.0.0.1:${pod.port}` });
      t.after(() => demo.close());
      const forward = await startPortForward({ kubectl, serverUrl: demo.cluster.url, target: 'pod/demo', remotePort: 8080, websockets: testCase.websockets });
      t.after(() => forward.stop());

      const sockets: net.Socket[] = [];
      t.after(() => {
        for (const socket of sockets) socket.destroy();
      });
      for (let start = 0; start < CONNECTIONS; start += CONNECT_BATCH) {
        const batch = Array.from({ length: Math.min(CONNECT_BATCH, CONNECTIONS - start) }, () => net.connect(forward.localPort, '127.0.0.1'));
        sockets.push(...batch);
        await Promise.all(batch.map((socket) => once(socket, 'connect', 60_000)));
      }
      const payloads = sockets.map(() => randomBytes(BYTES_PER_CONNECTION));
      const echoes = await Promise.all(
        sockets.map((socket, i) =>
          echoExactly(socket, payloads[i]!).catch((error: Error) => {
            throw new Error(`connection ${i}: ${error.message}; kubectl said: ${forward.output()}; endpoint: ${JSON.stringify(demo.cluster.endpoint.stats())}`);
          }),
        ),
      );

      // Every connection is still open here: 1,500 pairs at once on the endpoint.
      assert.equal(pod.sockets.size, CONNECTIONS, `pod connections open at once; kubectl said: ${forward.output()}`);
      echoes.forEach((echo, i) => assert.equal(sha256(echo), sha256(payloads[i]!), `connection ${i}`));
      assert.deepEqual(
        [...receivedHashes].sort(),
        payloads.map((p) => sha256(p)).sort(),
        'what the pod received, hashed there',
      );
      const stats = demo.cluster.endpoint.stats();
      assert.equal(stats.streams, CONNECTIONS);
      assert.equal(testCase.carriage === 'tunnel' ? stats.tunnelSessions : stats.spdySessions, 1, JSON.stringify(stats));
      assert.equal(stats.rejectedStreams, 0);
      assert.doesNotMatch(forward.output(), /error/i);
    });
  }
});
