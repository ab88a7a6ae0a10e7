/**
 * Real kubectl against `kubemux fake-cluster`'s port-forward endpoint: every protocol kubectl
 * speaks (SPDY/3.1, and SPDY tunnelled in WebSocket), versions 1.27, 1.30 and 1.33, targets
 * pod/, deploy/ and svc/, 16 concurrent connections each echoing 4 MiB, hash-checked at both
 * ends; and kubectl's usual error for a closed target port. Versions not installed are skipped
 * with the folder that was searched.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { echoRoundTrip, findKubectl, kubectlMissing, startPortForward, type WebsocketsSetting } from '../support/kubectl.js';
import { closedPort, startDemoCluster } from '../support/servers.js';
import { randomBytes, sha256 } from '../support/streams.js';

interface Case {
  readonly minor: string;
  readonly websockets: WebsocketsSetting;
  readonly carriage: 'spdy' | 'tunnel';
}

const CASES: readonly Case[] = [
  { minor: '1.27', websockets: 'unset', carriage: 'spdy' },
  { minor: '1.30', websockets: 'unset', carriage: 'spdy' },
  { minor: '1.30', websockets: 'true', carriage: 'tunnel' },
  { minor: '1.33', websockets: 'unset', carriage: 'tunnel' },
  { minor: '1.33', websockets: 'false', carriage: 'spdy' },
];

const TARGETS = [
  { target: 'pod/demo', remotePort: 8080 },
  { target: 'deploy/demo', remotePort: 8080 },
  // Service port 80 maps to the pod's named port http (8080).
  { target: 'svc/demo', remotePort: 80 },
];

/**
 * How long kubectl may take to react to a closed port (end the local connection, print the error
 * and "lost connection to pod", exit): a handful of goroutines and frames, well under a second
 * on an idle machine, so this bound only matters on a loaded one (the test once timed out at
 * 15 s on a machine shared by several test suites).
 */
const KUBECTL_REACTION_MS = 60_000;

const CONNECTIONS = 16;
const BYTES_PER_CONNECTION = 4 * 1024 * 1024;

for (const testCase of CASES) {
  const label = `kubectl ${testCase.minor} (${testCase.carriage}, KUBECTL_PORT_FORWARD_WEBSOCKETS ${testCase.websockets})`;
  describe(label, () => {
    const kubectl = findKubectl(testCase.minor);
    for (const { target, remotePort } of TARGETS) {
      test(`${target}: ${CONNECTIONS} connections x 4 MiB echoed, sha256 equal`, async (t) => {
        if (kubectl === undefined) {
          t.skip(kubectlMissing(testCase.minor));
          return;
        }
        const demo = await startDemoCluster();
        t.after(() => demo.close());
        const forward = await startPortForward({ kubectl, serverUrl: demo.cluster.url, target, remotePort, websockets: testCase.websockets });
        t.after(() => forward.stop());
        const payloads = Array.from({ length: CONNECTIONS }, () => randomBytes(BYTES_PER_CONNECTION));
        const results = await Promise.all(payloads.map((payload) => echoRoundTrip(forward.localPort, payload, 60_000)));
        results.forEach((result, i) => {
          assert.equal(result.received.length, BYTES_PER_CONNECTION, `connection ${i}: ${forward.output()}`);
          assert.equal(sha256(result.received), sha256(payloads[i]!), `connection ${i}`);
        });
        const stats = demo.cluster.stats();
        assert.equal(stats.streams, CONNECTIONS);
        assert.equal(stats.bytesToPod, CONNECTIONS * BYTES_PER_CONNECTION);
        assert.equal(stats.bytesFromPod, CONNECTIONS * BYTES_PER_CONNECTION);
        const carriages = demo.cluster.endpoint.stats();
        assert.equal(testCase.carriage === 'tunnel' ? carriages.tunnelSessions : carriages.spdySessions, 1, JSON.stringify(carriages));
      });
    }

    test('a closed target port: kubectl prints the runtime error and exits (its usual behaviour)', async (t) => {
      if (kubectl === undefined) {
        t.skip(kubectlMissing(testCase.minor));
        return;
      }
      const refused = await closedPort();
      // Port 8080 of the pod leads to a port where nothing listens.
      const demo = await startDemoCluster({ podTarget: `127.0.0.1:${refused}` });
      t.after(() => demo.close());
      const forward = await startPortForward({ kubectl, serverUrl: demo.cluster.url, target: 'pod/demo', remotePort: 8080, websockets: testCase.websockets });
      t.after(() => forward.stop());
      // The echo's outcome does not matter (kubectl ends the local connection one way or the
      // other); what follows is kubectl's reaction to the error text.
      await echoRoundTrip(forward.localPort, Buffer.from('hello'), KUBECTL_REACTION_MS).catch(() => undefined);
      // kubectl (>= 1.23) closes everything on error text and exits by itself: wait for that,
      // rather than interrupting it before it has said so. The bound is for a machine that is
      // slow, not for kubectl being quick: the line is the last kubectl prints before it exits.
      const output = await forward.waitForOutput(/lost connection to pod/, KUBECTL_REACTION_MS);
      const exit = await forward.stop(10_000);
      assert.match(output, /error forwarding port 8080 to pod default\/demo, uid [0-9a-f-]+: failed to connect to localhost:8080 inside namespace \\?"demo\\?"/);
      assert.match(output, /connect: connection refused/);
      assert.equal(exit.killed, false);
    });
  });
}
