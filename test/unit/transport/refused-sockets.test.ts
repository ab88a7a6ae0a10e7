/**
 * A refused upgrade leaves no socket behind. Go's net/http (every real API server) keeps the
 * connection open after a 4xx and closes it only when the client does, or at its idle timeout
 * (which would keep a CLI alive for it). The fake cluster's `refuse` fault with keepalive answers
 * that way, and so does a hand-written raw server: after each refused dial, for every protocol and
 * for 'auto', every server-side socket must see the client close it. The servers never close
 * first, so a socket that ends was closed by the client.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { describe, test, type TestContext } from 'node:test';
import { ErrorCode, KubemuxError } from '../../../src/errors.js';
import { FakeCluster } from '../../../src/server/fake-cluster.js';
import { dialPortForward, negotiatePortForward } from '../../../src/transport/dial.js';
import type { PortForwardProtocol } from '../../../src/transport/port-forward-connection.js';
import { portForwardPath, type UpgradeTarget } from '../../../src/transport/api/request-target.js';
import { within } from '../../support/deadlines.js';
import { listenLoopback } from '../../support/kube-fixtures.js';
import { SocketWatch, WatchingEndpoint } from '../../support/servers.js';

const PATH = portForwardPath('default', 'demo');
const PROTOCOLS: readonly PortForwardProtocol[] = ['spdy', 'websocket-tunnel', 'websocket-v4'];
const UPGRADE_NAMES: Record<PortForwardProtocol, RegExp> = {
  spdy: /^the SPDY upgrade was refused with HTTP 403/,
  'websocket-tunnel': /^the WebSocket tunnel upgrade was refused with HTTP 403/,
  'websocket-v4': /^the v4 WebSocket upgrade for port 8080 was refused with HTTP 403/,
};

async function refusingCluster(t: TestContext): Promise<{ target: UpgradeTarget; endpoint: WatchingEndpoint }> {
  const endpoint = new WatchingEndpoint();
  const cluster = await FakeCluster.start({ endpoint });
  t.after(() => cluster.close());
  cluster.applyFault('refuse', { status: '403', keepalive: 'true' });
  return { target: { server: cluster.url, path: PATH }, endpoint };
}

/** Dials `protocol` (for v4, the first pair) and returns the refusal. */
async function refusal(target: UpgradeTarget, protocol: PortForwardProtocol): Promise<KubemuxError> {
  try {
    const connection = await dialPortForward(target, { protocol });
    try {
      await connection.openPortStreams(8080);
    } finally {
      connection.destroy();
    }
  } catch (error) {
    assert.ok(error instanceof KubemuxError, String(error));
    return error;
  }
  assert.fail(`${protocol} was not refused`);
}

function assertRefused(error: KubemuxError, protocol: PortForwardProtocol): void {
  assert.equal(error.code, ErrorCode.UPGRADE_REFUSED);
  assert.equal(error.httpStatus, 403);
  assert.match(error.message, UPGRADE_NAMES[protocol]);
}

describe('a refusal from the fake cluster with keepalive (as Go answers)', () => {
  test('the refusal is what Go writes: Content-Length, no Connection: close, and the connection stays open', async (t) => {
    const { target } = await refusingCluster(t);
    const { port } = new URL(String(target.server));
    const socket = net.connect(Number(port), '127.0.0.1');
    t.after(() => socket.destroy());
    socket.write(`POST ${PATH} HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\nX-Stream-Protocol-Version: portforward.k8s.io\r\nContent-Length: 0\r\n\r\n`);
    const answer = await within(
      new Promise<string>((resolve) => {
        let text = '';
        socket.on('data', (chunk: Buffer) => {
          text += chunk.toString('latin1');
          const head = text.indexOf('\r\n\r\n');
          const length = /content-length: (\d+)/i.exec(text);
          if (head !== -1 && length !== null && text.length >= head + 4 + Number(length[1])) resolve(text);
        });
      }),
      'the whole refusal',
    );
    assert.match(answer, /^HTTP\/1\.1 403 Forbidden\r\n/);
    assert.doesNotMatch(answer, /connection: close/i);
    assert.match(answer, /"message":"port-forward refused by fault injection \(403\)"/);
    // The server answers our end with its own: it kept the connection open until now.
    assert.equal(socket.readableEnded, false);
    const ended = new Promise<void>((resolve) => socket.once('end', resolve));
    socket.end();
    await within(ended, "the server's end after ours");
  });

  for (const protocol of PROTOCOLS) {
    test(`${protocol}: after the refusal the client holds no socket to the server`, async (t) => {
      const { target, endpoint } = await refusingCluster(t);
      assertRefused(await refusal(target, protocol), protocol);
      assert.equal(endpoint.sockets.closedByClient.length, 1);
      await endpoint.sockets.allClosed(`its ${protocol} connection`);
    });
  }

  test("'auto': each refused protocol is named by its own error, and every socket is closed", async (t) => {
    const { target, endpoint } = await refusingCluster(t);
    const { connection, attempted, refusals } = await negotiatePortForward(target);
    t.after(() => connection.destroy());
    // 403 is not final: SPDY's refusal lets v4 be tried, whose first pair is refused in turn.
    assert.deepEqual(attempted, ['websocket-tunnel', 'spdy', 'websocket-v4']);
    assert.equal(refusals.length, 2);
    refusals.forEach((error, i) => assertRefused(error, attempted[i]!));
    const firstPair = await connection.openPortStreams(8080).then(
      () => assert.fail('the v4 pair was not refused'),
      (error: KubemuxError) => error,
    );
    assertRefused(firstPair, 'websocket-v4');
    assert.equal(endpoint.sockets.closedByClient.length, 3);
    await endpoint.sockets.allClosed("'auto' negotiation's three connections");
  });
});

describe('a raw server (not an HTTP library) that answers 403 and keeps the connection', () => {
  for (const protocol of PROTOCOLS) {
    test(`${protocol}: the client closes the connection after the refusal`, async (t) => {
      const sockets = new SocketWatch();
      const body = '{"kind":"Status","apiVersion":"v1","status":"Failure","message":"forbidden by the raw server","reason":"Forbidden","code":403}';
      const server = net.createServer((socket) => {
        sockets.watch(socket);
        socket.on('error', () => socket.destroy());
        let received = '';
        socket.on('data', (chunk: Buffer) => {
          received += chunk.toString('latin1');
          if (!received.includes('\r\n\r\n')) return;
          received = '';
          socket.write(`HTTP/1.1 403 Forbidden\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
        });
      });
      const port = await listenLoopback(t, server);
      const error = await refusal({ server: `http://127.0.0.1:${port}`, path: PATH }, protocol);
      assertRefused(error, protocol);
      assert.match(error.message, /forbidden by the raw server$/);
      assert.equal(sockets.closedByClient.length, 1);
      await sockets.allClosed(`its ${protocol} connection`);
    });
  }
});
