/**
 * A runtime that takes a pair but never starts it (the fake cluster's `stall`): over SPDY and the
 * tunnel no SYN_REPLY comes; over v4 the WebSocket upgrade succeeds and then no port prefix comes
 * (the kubelet sends it on both channels as soon as it has the WebSocket, spec/websocket-channels.md
 * §1.4). Either way the pair fails with ERR_STREAM_OPEN_TIMEOUT at its deadline, leaves nothing
 * open, and the connection goes on.
 */
import assert from 'node:assert/strict';
import { describe, test, type TestContext } from 'node:test';
import { ErrorCode, KubemuxError } from '../../../src/errors.js';
import { dialPortForward } from '../../../src/transport/dial.js';
import type { PortForwardConnection, PortForwardProtocol, PortStreams } from '../../../src/transport/port-forward-connection.js';
import { portForwardPath, type UpgradeTarget } from '../../../src/transport/api/request-target.js';
import { SpdyPortForwardConnection } from '../../../src/transport/spdy/port-forward.js';
import { WatchingEndpoint, startDemoCluster } from '../../support/servers.js';
import { randomBytes, sha256 } from '../../support/streams.js';

const PROTOCOLS: readonly PortForwardProtocol[] = ['spdy', 'websocket-tunnel', 'websocket-v4'];
const PATH = portForwardPath('default', 'demo');

async function stallingCluster(t: TestContext): Promise<{ endpoint: WatchingEndpoint; target: UpgradeTarget; stall(): void; clear(): void; drop(): void }> {
  const endpoint = new WatchingEndpoint();
  const demo = await startDemoCluster({ endpoint });
  t.after(() => demo.close());
  return {
    endpoint,
    target: { server: demo.cluster.url, path: PATH },
    stall: () => demo.cluster.applyFault('stall'),
    clear: () => demo.cluster.applyFault('clear'),
    drop: () => demo.cluster.applyFault('drop'),
  };
}

async function connect(t: TestContext, target: UpgradeTarget, protocol: PortForwardProtocol): Promise<PortForwardConnection> {
  const connection = await dialPortForward(target, { protocol });
  t.after(() => connection.destroy());
  return connection;
}

/** 64 KiB through the pair to the echo pod and back, hash-checked; then the pair is let go. */
async function assertEchoes(pair: PortStreams): Promise<void> {
  const payload = randomBytes(64 * 1024);
  const chunks: Buffer[] = [];
  let total = 0;
  const echoed = new Promise<Buffer>((resolve, reject) => {
    pair.data.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      total += chunk.length;
      if (total >= payload.length) resolve(Buffer.concat(chunks));
    });
    pair.data.once('error', reject);
  });
  pair.data.write(payload);
  assert.equal(sha256(await echoed), sha256(payload));
  pair.data.destroy();
  assert.equal(await pair.errors, '');
}

describe('a stalled runtime', () => {
  for (const protocol of PROTOCOLS) {
    test(`${protocol}: ERR_STREAM_OPEN_TIMEOUT at the pair's deadline, nothing left open, the next pair works after clear`, async (t) => {
      const { endpoint, target, stall, clear } = await stallingCluster(t);
      const connection = await connect(t, target, protocol);
      stall();
      await assert.rejects(connection.openPortStreams(8080, { timeoutMs: 300 }), (error: KubemuxError) => {
        assert.equal(error.code, ErrorCode.STREAM_OPEN_TIMEOUT);
        assert.equal(error.scope, 'stream');
        if (protocol === 'websocket-v4') {
          assert.match(error.message, /^the v4 pair for port 8080 was not ready within 300 ms: the runtime sent no port prefix on the data and error channels$/);
        }
        return true;
      });
      if (connection instanceof SpdyPortForwardConnection) {
        // Both streams of the pair were reset; the session carries on.
        assert.equal(connection.session.activeStreams, 0);
      } else {
        // The stalled pair's WebSocket was upgraded (the server never closes it): the client did.
        assert.equal(endpoint.sockets.closedByClient.length, 1);
        await endpoint.sockets.allClosed('the stalled v4 WebSocket');
      }
      assert.equal(connection.acceptingStreams, true);
      clear();
      await assertEchoes(await connection.openPortStreams(8080));
      assert.equal(connection.stats.pairsFailed, 1);
      assert.equal(connection.stats.pairsOpened, 1);
    });
  }

  test('v4: a pair waiting for its port prefix opens as soon as the runtime sends it', async (t) => {
    const { endpoint, target, stall, clear } = await stallingCluster(t);
    const connection = await connect(t, target, 'websocket-v4');
    stall();
    const upgraded = endpoint.nextUpgrade();
    let opened = false;
    const opening = connection.openPortStreams(8080).then((pair) => {
      opened = true;
      return pair;
    });
    await upgraded;
    // The 101 went out, the prefix did not: the open is still waiting.
    assert.equal(opened, false);
    clear();
    await assertEchoes(await opening);
  });

  test('v4: without timeoutMs, the port prefix must follow the 101 within upgradeTimeoutMs', async (t) => {
    const { endpoint, target, stall } = await stallingCluster(t);
    const connection = await connect(t, { ...target, upgradeTimeoutMs: 300 }, 'websocket-v4');
    stall();
    await assert.rejects(connection.openPortStreams(8080), (error: KubemuxError) => {
      assert.equal(error.code, ErrorCode.STREAM_OPEN_TIMEOUT);
      assert.match(error.message, /within 300 ms: the runtime sent no port prefix/);
      return true;
    });
    await endpoint.sockets.allClosed('the stalled v4 WebSocket');
  });

  test('v4: the server closing before the prefix fails the open with ERR_TRANSPORT_CLOSED', async (t) => {
    const { endpoint, target, stall, drop } = await stallingCluster(t);
    const connection = await connect(t, target, 'websocket-v4');
    stall();
    const upgraded = endpoint.nextUpgrade();
    const opening = connection.openPortStreams(8080);
    await upgraded;
    // 'drop' closes every upgraded connection, the stalled one included.
    drop();
    await assert.rejects(opening, (error: KubemuxError) => {
      assert.equal(error.code, ErrorCode.TRANSPORT_CLOSED);
      return true;
    });
    assert.equal(connection.stats.pairsFailed, 1);
  });
});
