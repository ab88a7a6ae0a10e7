/**
 * Protocol negotiation against the FakeCluster behind a small HTTP front that refuses chosen
 * upgrade kinds (the way an old API server, a gateway or a proxy would) and relays every other
 * request byte for byte: 'auto' picks the tunnel, falls back to SPDY and then to v4 on refusals
 * only, a PortForwardDialer reuses what worked, forced protocols are used as they are, and
 * connect, TLS or post-upgrade failures never fall back.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import http from 'node:http';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import { describe, test, type TestContext } from 'node:test';
import { ErrorCode, KubemuxError } from '../../../src/errors.js';
import { PortForwardDialer, dialPortForward, negotiatePortForward } from '../../../src/transport/dial.js';
import type { PortForwardConnection, PortForwardProtocol } from '../../../src/transport/port-forward-connection.js';
import { portForwardPath, type UpgradeTarget } from '../../../src/transport/api/request-target.js';
import { acceptKeyFor } from '../../../src/transport/websocket/index.js';
import { SPDY_TUNNEL_SUBPROTOCOL, V4_CHANNEL_SUBPROTOCOL } from '../../../src/channel/index.js';
import { closedPort, startDemoCluster } from '../../support/servers.js';
import { nextEvent, randomBytes, sha256 } from '../../support/streams.js';

const BOUNDED = { timeout: 30_000 };
const PATH = portForwardPath('default', 'demo');

/** What the front does with one kind of upgrade: relay it, refuse it with a status, or answer a broken or short-lived 101. */
type Treatment = 'relay' | number | 'invalid-101' | 'end-after-101';

interface Front {
  readonly url: string;
  /** Upgrade requests seen, by kind. */
  readonly attempts: Record<PortForwardProtocol, number>;
  /** Set how each kind is treated (default: relay). */
  readonly treat: Partial<Record<PortForwardProtocol, Treatment>>;
}

function kindOf(req: http.IncomingMessage): PortForwardProtocol | undefined {
  const upgrade = String(req.headers.upgrade ?? '').toLowerCase();
  const protocols = String(req.headers['sec-websocket-protocol'] ?? '');
  if (upgrade === 'websocket' && protocols.includes(SPDY_TUNNEL_SUBPROTOCOL)) return 'websocket-tunnel';
  if (upgrade === 'websocket' && protocols.includes(V4_CHANNEL_SUBPROTOCOL)) return 'websocket-v4';
  if (upgrade.includes('spdy/3.1')) return 'spdy';
  return undefined;
}

/** Starts the front before `upstreamUrl` (the FakeCluster) and stops it, with every socket, when the test ends. */
async function startFront(t: TestContext, upstreamUrl: string): Promise<Front> {
  const upstream = new URL(upstreamUrl);
  const sockets = new Set<Duplex>();
  const track = (socket: Duplex): void => {
    sockets.add(socket);
    socket.on('error', () => socket.destroy());
    socket.once('close', () => sockets.delete(socket));
  };
  const attempts: Record<PortForwardProtocol, number> = { spdy: 0, 'websocket-tunnel': 0, 'websocket-v4': 0 };
  const treat: Partial<Record<PortForwardProtocol, Treatment>> = {};
  const server = http.createServer((_req, res) => res.writeHead(404).end());
  server.on('connection', track);
  server.on('upgrade', (req: http.IncomingMessage, socket: Duplex, head: Buffer) => {
    const kind = kindOf(req);
    if (kind !== undefined) attempts[kind]++;
    const treatment = kind === undefined ? 'relay' : (treat[kind] ?? 'relay');
    if (typeof treatment === 'number') {
      const body = JSON.stringify({ kind: 'Status', apiVersion: 'v1', status: 'Failure', message: `the front refuses ${kind} upgrades`, code: treatment });
      socket.end(`HTTP/1.1 ${treatment} ${http.STATUS_CODES[treatment]}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`);
      return;
    }
    if (treatment === 'invalid-101' || treatment === 'end-after-101') {
      // A 101 for the tunnel that is right in every respect but the accept key, or right and then
      // followed by the end of the connection.
      const key = String(req.headers['sec-websocket-key']);
      const accept = treatment === 'invalid-101' ? acceptKeyFor(`${key}x`) : acceptKeyFor(key);
      socket.end(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\nSec-WebSocket-Protocol: ${SPDY_TUNNEL_SUBPROTOCOL}\r\n\r\n`);
      return;
    }
    const relay = net.connect(Number(upstream.port), upstream.hostname);
    track(relay);
    const lines = [`${req.method} ${req.url} HTTP/1.1`];
    for (let i = 0; i < req.rawHeaders.length; i += 2) lines.push(`${req.rawHeaders[i]}: ${req.rawHeaders[i + 1]}`);
    relay.write(`${lines.join('\r\n')}\r\n\r\n`);
    if (head.length > 0) relay.write(head);
    socket.pipe(relay).pipe(socket);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return { url: `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`, attempts, treat };
}

async function demoWithFront(t: TestContext): Promise<{ front: Front; target: UpgradeTarget; cluster: Awaited<ReturnType<typeof startDemoCluster>>['cluster'] }> {
  const demo = await startDemoCluster();
  t.after(() => demo.close());
  const front = await startFront(t, demo.cluster.url);
  return { front, cluster: demo.cluster, target: { server: front.url, path: PATH } };
}

/** Proves a connection forwards: 64 KiB through one pair to the echo pod, hash-checked. */
async function assertForwards(connection: PortForwardConnection): Promise<void> {
  const pair = await connection.openPortStreams(8080);
  const payload = randomBytes(64 * 1024);
  const chunks: Buffer[] = [];
  let total = 0;
  const echoed = new Promise<Buffer>((resolve, reject) => {
    pair.data.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      total += chunk.length;
      if (total === payload.length) resolve(Buffer.concat(chunks));
    });
    pair.data.once('error', reject);
  });
  pair.data.write(payload);
  assert.equal(sha256(await echoed), sha256(payload));
  pair.data.destroy();
  assert.equal(await pair.errors, '');
}

function use(t: TestContext, connection: PortForwardConnection): PortForwardConnection {
  t.after(() => connection.destroy());
  return connection;
}

describe("'auto' negotiation", () => {
  test('picks the SPDY tunnel in WebSocket when the server takes it, as kubectl >= 1.31 does', BOUNDED, async (t) => {
    const { front, target, cluster } = await demoWithFront(t);
    const { connection, attempted, refusals } = await negotiatePortForward(target);
    use(t, connection);
    assert.equal(connection.protocol, 'websocket-tunnel');
    assert.deepEqual(attempted, ['websocket-tunnel']);
    assert.deepEqual(refusals, []);
    await assertForwards(connection);
    assert.deepEqual(front.attempts, { 'websocket-tunnel': 1, spdy: 0, 'websocket-v4': 0 });
    assert.equal(cluster.stats().tunnelSessions, 1);
    // SPDY pings travel inside the tunnel to the runtime.
    assert.ok((await connection.ping({ timeoutMs: 5_000 })) >= 0);
    assert.equal(cluster.stats().tunnelSessions, 1);
  });

  test('falls back to plain SPDY when the WebSocket upgrade is refused (any non-101)', BOUNDED, async (t) => {
    const { front, target } = await demoWithFront(t);
    front.treat['websocket-tunnel'] = 400;
    const { connection, attempted, refusals } = await negotiatePortForward(target);
    use(t, connection);
    assert.equal(connection.protocol, 'spdy');
    assert.deepEqual(attempted, ['websocket-tunnel', 'spdy']);
    assert.equal(refusals[0]?.code, ErrorCode.UPGRADE_REFUSED);
    assert.equal(refusals[0]?.httpStatus, 400);
    assert.match(refusals[0]!.message, /the front refuses websocket-tunnel upgrades/);
    await assertForwards(connection);
    assert.deepEqual(front.attempts, { 'websocket-tunnel': 1, spdy: 1, 'websocket-v4': 0 });
  });

  test('falls back to plain SPDY when the WebSocket 101 is invalid (wrong accept key)', BOUNDED, async (t) => {
    const { front, target } = await demoWithFront(t);
    front.treat['websocket-tunnel'] = 'invalid-101';
    const { connection, refusals } = await negotiatePortForward(target);
    use(t, connection);
    assert.equal(connection.protocol, 'spdy');
    assert.equal(refusals[0]?.code, ErrorCode.UPGRADE_INVALID);
    await assertForwards(connection);
  });

  test('falls back to v4 when SPDY is refused too; v4 upgrades only when a pair opens', BOUNDED, async (t) => {
    const { front, target, cluster } = await demoWithFront(t);
    front.treat['websocket-tunnel'] = 403;
    front.treat.spdy = 400;
    const connection = use(t, await dialPortForward(target));
    assert.equal(connection.protocol, 'websocket-v4');
    assert.deepEqual(front.attempts, { 'websocket-tunnel': 1, spdy: 1, 'websocket-v4': 0 });
    await assertForwards(connection);
    assert.deepEqual(front.attempts, { 'websocket-tunnel': 1, spdy: 1, 'websocket-v4': 1 });
    assert.equal(cluster.stats().v4Sessions, 1);
  });

  test('a 401 or 404 from SPDY is final: the same would come back over v4', BOUNDED, async (t) => {
    const { front, target } = await demoWithFront(t);
    front.treat['websocket-tunnel'] = 401;
    front.treat.spdy = 401;
    await assert.rejects(dialPortForward(target), (error: KubemuxError) => error.code === ErrorCode.UPGRADE_REFUSED && error.httpStatus === 401);
    assert.deepEqual(front.attempts, { 'websocket-tunnel': 1, spdy: 1, 'websocket-v4': 0 });

    // A pod that does not exist: the API server's own 404, for the tunnel and for SPDY.
    front.treat['websocket-tunnel'] = 'relay';
    front.treat.spdy = 'relay';
    await assert.rejects(dialPortForward({ ...target, path: portForwardPath('default', 'no-such-pod') }), (error: KubemuxError) => {
      assert.equal(error.code, ErrorCode.UPGRADE_REFUSED);
      assert.equal(error.httpStatus, 404);
      assert.match(error.message, /pods "no-such-pod" not found/);
      return true;
    });
    assert.deepEqual(front.attempts, { 'websocket-tunnel': 2, spdy: 2, 'websocket-v4': 0 });
  });
});

describe('PortForwardDialer', () => {
  test('reuses the protocol that worked, and negotiates again when it is refused later', BOUNDED, async (t) => {
    const { front, target } = await demoWithFront(t);
    front.treat['websocket-tunnel'] = 400;
    const dialer = new PortForwardDialer(target);
    assert.equal(dialer.protocol, undefined);
    const first = use(t, await dialer.dial());
    assert.equal(first.protocol, 'spdy');
    assert.equal(dialer.protocol, 'spdy');
    assert.deepEqual(front.attempts, { 'websocket-tunnel': 1, spdy: 1, 'websocket-v4': 0 });

    for (let i = 0; i < 3; i++) use(t, await dialer.dial());
    // No more tunnel attempts: the choice was remembered.
    assert.deepEqual(front.attempts, { 'websocket-tunnel': 1, spdy: 4, 'websocket-v4': 0 });

    // The server changes: SPDY is now refused and the tunnel accepted.
    front.treat['websocket-tunnel'] = 'relay';
    front.treat.spdy = 400;
    const renegotiated = use(t, await dialer.dial());
    assert.equal(renegotiated.protocol, 'websocket-tunnel');
    assert.equal(dialer.protocol, 'websocket-tunnel');
    assert.deepEqual(front.attempts, { 'websocket-tunnel': 2, spdy: 5, 'websocket-v4': 0 });
    await assertForwards(renegotiated);

    dialer.forget();
    assert.equal(dialer.protocol, undefined);
  });

  test('a dial to another target (fresh credentials, a new pod) keeps the protocol found', BOUNDED, async (t) => {
    const { front, target } = await demoWithFront(t);
    front.treat['websocket-tunnel'] = 400;
    const dialer = new PortForwardDialer(target);
    use(t, await dialer.dial());
    assert.deepEqual(front.attempts, { 'websocket-tunnel': 1, spdy: 1, 'websocket-v4': 0 });
    const refreshed = { ...target, headers: { Authorization: 'Bearer fresh' } };
    const again = use(t, await dialer.dial({ target: refreshed }));
    assert.equal(again.protocol, 'spdy');
    assert.deepEqual(front.attempts, { 'websocket-tunnel': 1, spdy: 2, 'websocket-v4': 0 }, 'straight to the protocol found');
    await assert.rejects(dialer.dial({ target: { ...target, path: portForwardPath('default', 'gone') } }), (error: KubemuxError) => error.httpStatus === 404, 'the other path is used');
  });

  test('a forced protocol is used as it is, never another', BOUNDED, async (t) => {
    const { front, target } = await demoWithFront(t);
    front.treat['websocket-tunnel'] = 400;
    const tunnel = new PortForwardDialer(target, { protocol: 'websocket-tunnel' });
    assert.equal(tunnel.protocol, 'websocket-tunnel');
    await assert.rejects(tunnel.dial(), (error: KubemuxError) => error.code === ErrorCode.UPGRADE_REFUSED && error.httpStatus === 400);
    assert.deepEqual(front.attempts, { 'websocket-tunnel': 1, spdy: 0, 'websocket-v4': 0 });
    tunnel.forget();
    assert.equal(tunnel.protocol, 'websocket-tunnel');
    assert.throws(() => new PortForwardDialer(target, { protocol: 'http2' as 'spdy' }), (error: KubemuxError) => error.code === ErrorCode.INVALID_ARGUMENT);
  });
});

describe('forced protocols', () => {
  for (const protocol of ['spdy', 'websocket-tunnel', 'websocket-v4'] as const) {
    test(`${protocol}: only that upgrade is made, and it forwards`, BOUNDED, async (t) => {
      const { front, target } = await demoWithFront(t);
      const connection = use(t, await dialPortForward(target, { protocol }));
      assert.equal(connection.protocol, protocol);
      await assertForwards(connection);
      assert.deepEqual(front.attempts, { spdy: 0, 'websocket-tunnel': 0, 'websocket-v4': 0, [protocol]: 1 });
    });
  }
});

describe('errors that never fall back', () => {
  test('nothing listening: ERR_CONNECT_FAILED from the first attempt', BOUNDED, async () => {
    const port = await closedPort();
    await assert.rejects(dialPortForward({ server: `http://127.0.0.1:${port}`, path: PATH }), (error: KubemuxError) => {
      assert.equal(error.code, ErrorCode.CONNECT_FAILED);
      assert.equal(error.scope, 'transport');
      return true;
    });
  });

  test('a server that closes before answering: one connection, ERR_TRANSPORT_CLOSED', BOUNDED, async (t) => {
    let connections = 0;
    const server = net.createServer((socket) => {
      connections++;
      socket.once('data', () => socket.destroy());
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
    const port = (server.address() as net.AddressInfo).port;
    await assert.rejects(dialPortForward({ server: `http://127.0.0.1:${port}`, path: PATH }), (error: KubemuxError) => error.code === ErrorCode.TRANSPORT_CLOSED);
    assert.equal(connections, 1);
  });

  test('an untrusted certificate: ERR_TLS, and no upgrade reaches the server', BOUNDED, async (t) => {
    const demo = await startDemoCluster({ tls: true });
    t.after(() => demo.close());
    await assert.rejects(dialPortForward({ server: demo.cluster.url, path: PATH }), (error: KubemuxError) => error.code === ErrorCode.TLS);
    assert.equal(demo.cluster.stats().upgrades, 0);
    // With the CA it works, over TLS, with the tunnel.
    const connection = use(t, await dialPortForward({ server: demo.cluster.url, path: PATH, tls: { ca: demo.cluster.caPem! } }));
    assert.equal(connection.protocol, 'websocket-tunnel');
    await assertForwards(connection);
  });

  test('a failure after a successful upgrade: the tunnel connection closes, SPDY is not tried', BOUNDED, async (t) => {
    const { front, target } = await demoWithFront(t);
    front.treat['websocket-tunnel'] = 'end-after-101';
    const connection = await dialPortForward(target);
    // The end arrives after the 101 was taken: it is the connection's failure, not the dial's.
    const [error] = await nextEvent<[KubemuxError | undefined]>(connection, 'close');
    assert.equal(connection.protocol, 'websocket-tunnel');
    assert.equal(error?.code, ErrorCode.TRANSPORT_CLOSED);
    assert.deepEqual(front.attempts, { 'websocket-tunnel': 1, spdy: 0, 'websocket-v4': 0 });
  });
});
