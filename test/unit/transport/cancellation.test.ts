/**
 * Cancellation of every async operation of the transport through its `signal`: the dialers (each
 * protocol, negotiation, the PortForwardDialer), openPortStreams, ping and apiGet. Each is aborted
 * before it starts (nothing may reach the server), while connecting (a TLS handshake the server
 * never finishes), while waiting for the server's answer, and while a pair opens. The error must
 * have Node's abort shape (name AbortError, code ERR_ABORTED, the signal's reason as cause; a
 * KubemuxError reason passed through as it is), and nothing may be left: the server sees the
 * client close every socket, the session has no stream left.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { describe, test, type TestContext } from 'node:test';
import { ErrorCode, KubemuxError } from '../../../src/errors.js';
import { apiGet } from '../../../src/transport/api/api-request.js';
import { PortForwardDialer, dialPortForward, dialProtocol, negotiatePortForward } from '../../../src/transport/dial.js';
import type { PortForwardConnection, PortForwardProtocol } from '../../../src/transport/port-forward-connection.js';
import { portForwardPath, type UpgradeTarget } from '../../../src/transport/api/request-target.js';
import { SpdyPortForwardConnection } from '../../../src/transport/spdy/port-forward.js';
import { dialSpdy } from '../../../src/transport/spdy/upgrade.js';
import { dialWebSocketTunnel } from '../../../src/transport/tunnel/dial.js';
import { within } from '../../support/deadlines.js';
import { listenLoopback } from '../../support/kube-fixtures.js';
import { SocketWatch, WatchingEndpoint, startDemoCluster } from '../../support/servers.js';
import { randomBytes, sha256 } from '../../support/streams.js';

const PATH = portForwardPath('default', 'demo');
const PROTOCOLS: readonly PortForwardProtocol[] = ['spdy', 'websocket-tunnel', 'websocket-v4'];

/** Asserts Node's abort shape: the reason as cause, or the KubemuxError reason itself. */
function aborted(reason: unknown, scope: string) {
  return (error: unknown): boolean => {
    if (reason instanceof KubemuxError) {
      assert.equal(error, reason);
      return true;
    }
    assert.ok(error instanceof KubemuxError, String(error));
    assert.equal(error.name, 'AbortError');
    assert.equal(error.code, ErrorCode.ABORTED);
    assert.equal(error.scope, scope);
    assert.equal(error.cause, reason);
    assert.match(error.message, / was aborted$/);
    return true;
  };
}

/**
 * A server that never answers: it accepts connections and reads what comes (so, at an https URL,
 * a TLS handshake never completes). `connected` and `requested` resolve at the first connection
 * and the first complete request head; `sockets` sees the client let go of them.
 */
interface SilentServer {
  readonly url: string;
  readonly tlsUrl: string;
  connections(): number;
  /** Resolves at the first connection (within the test deadline). */
  connected(): Promise<void>;
  /** Resolves at the first complete request head (within the test deadline). */
  requested(): Promise<void>;
  readonly sockets: SocketWatch;
  /**
   * Proves that nobody else is connecting: opens a connection of its own and resolves once the
   * server has accepted it. Connections are accepted in the order they were made, so any
   * connection an earlier call made is counted by then.
   */
  probe(): Promise<void>;
}

async function silentServer(t: TestContext): Promise<SilentServer> {
  const sockets = new SocketWatch();
  /** Remote ports of the connections accepted, and who waits for which. */
  const accepted = new Set<number>();
  const awaited = new Map<number, () => void>();
  const probePorts = new Set<number>();
  let connections = 0;
  let onConnected!: () => void;
  let onRequested!: () => void;
  const connected = new Promise<void>((resolve) => (onConnected = resolve));
  const requested = new Promise<void>((resolve) => (onRequested = resolve));
  const server = net.createServer((socket) => {
    const remotePort = socket.remotePort ?? 0;
    accepted.add(remotePort);
    awaited.get(remotePort)?.();
    connections++;
    sockets.watch(socket);
    socket.on('error', () => socket.destroy());
    let received = '';
    socket.on('data', (chunk: Buffer) => {
      received += chunk.toString('latin1');
      if (received.includes('\r\n\r\n')) onRequested();
    });
    onConnected();
  });
  const port = await listenLoopback(t, server);
  return {
    url: `http://127.0.0.1:${port}`,
    tlsUrl: `https://127.0.0.1:${port}`,
    connections: () => connections - probePorts.size,
    connected: () => within(connected, 'a connection'),
    requested: () => within(requested, 'a request'),
    sockets,
    probe: async () => {
      const socket = net.connect(port, '127.0.0.1');
      t.after(() => socket.destroy());
      socket.on('error', () => {});
      await within(new Promise<void>((resolve) => socket.once('connect', resolve)), 'the probe connecting');
      const local = socket.localPort ?? 0;
      probePorts.add(local);
      if (!accepted.has(local)) await within(new Promise<void>((resolve) => awaited.set(local, resolve)), 'the probe being accepted');
      socket.destroy();
    },
  };
}

/** Each dial with a signal, as one function: the protocol's own dialer. */
const DIALERS: Record<PortForwardProtocol | 'auto' | 'PortForwardDialer', (target: UpgradeTarget, signal: AbortSignal) => Promise<unknown>> = {
  spdy: (target, signal) => dialSpdy(target, { signal }),
  'websocket-tunnel': (target, signal) => dialWebSocketTunnel(target, { signal }),
  // v4 sends nothing at dial time: its first pair is the upgrade.
  'websocket-v4': async (target, signal) => (await dialProtocol(target, 'websocket-v4')).openPortStreams(8080, { signal }),
  auto: (target, signal) => negotiatePortForward(target, { signal }),
  PortForwardDialer: (target, signal) => new PortForwardDialer(target).dial({ signal }),
};

describe('dials', () => {
  for (const [name, dial] of Object.entries(DIALERS)) {
    const scope = name === 'websocket-v4' ? 'stream' : 'transport';

    test(`${name}: an already-aborted signal rejects at once and nothing reaches the server`, async (t) => {
      const server = await silentServer(t);
      const reason = new Error('not wanted any more');
      await assert.rejects(dial({ server: server.url, path: PATH }, AbortSignal.abort(reason)), aborted(reason, scope));
      await server.probe();
      assert.equal(server.connections(), 0);
    });

    test(`${name}: an abort while the TLS handshake is under way closes the connection`, async (t) => {
      const server = await silentServer(t);
      const controller = new AbortController();
      const dialing = dial({ server: server.tlsUrl, path: PATH }, controller.signal);
      await server.connected();
      const reason = new KubemuxError(ErrorCode.UNAVAILABLE, 'transport', 'the caller stopped');
      controller.abort(reason);
      await assert.rejects(dialing, aborted(reason, scope));
      await server.sockets.allClosed('the connection whose handshake was abandoned');
    });

    test(`${name}: an abort while waiting for the answer to the upgrade closes the connection`, async (t) => {
      const server = await silentServer(t);
      const controller = new AbortController();
      const dialing = dial({ server: server.url, path: PATH }, controller.signal);
      await server.requested();
      const reason = new Error('shutting down');
      controller.abort(reason);
      await assert.rejects(dialing, aborted(reason, scope));
      await server.sockets.allClosed('the connection whose upgrade was abandoned');
      assert.equal(server.connections(), 1, 'no other protocol was tried');
    });
  }

  test('an abort after the dial does nothing to the connection', async (t) => {
    const demo = await startDemoCluster();
    t.after(() => demo.close());
    const controller = new AbortController();
    const connection = await dialPortForward({ server: demo.cluster.url, path: PATH }, { signal: controller.signal });
    t.after(() => connection.destroy());
    controller.abort();
    await assertEchoes(connection);
  });

  test('a signal that is not an AbortSignal is a usage error, before anything is sent', async (t) => {
    const server = await silentServer(t);
    for (const [name, dial] of Object.entries(DIALERS)) {
      await assert.rejects(dial({ server: server.url, path: PATH }, { aborted: 'no' } as never), { code: ErrorCode.INVALID_ARGUMENT, scope: 'usage', message: /signal must be an AbortSignal, got object/ }, name);
    }
    assert.equal(server.connections(), 0);
  });
});

/** 64 KiB through a new pair and back, hash-checked. */
async function assertEchoes(connection: PortForwardConnection): Promise<void> {
  const pair = await connection.openPortStreams(8080);
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
}

describe('openPortStreams({ signal })', () => {
  for (const protocol of PROTOCOLS) {
    test(`${protocol}: an abort while the pair opens rejects with AbortError and leaves nothing open`, async (t) => {
      const endpoint = new WatchingEndpoint();
      const demo = await startDemoCluster({ endpoint });
      t.after(() => demo.close());
      const connection = await dialPortForward({ server: demo.cluster.url, path: PATH }, { protocol });
      t.after(() => connection.destroy());
      // The runtime takes the pair and never answers (SPDY: no SYN_REPLY; v4: no port prefix).
      demo.cluster.applyFault('stall');
      const controller = new AbortController();
      const upgraded = protocol === 'websocket-v4' ? endpoint.nextUpgrade() : Promise.resolve();
      const opening = connection.openPortStreams(8080, { signal: controller.signal });
      await upgraded;
      const reason = new Error('the local client went away');
      controller.abort(reason);
      await assert.rejects(opening, aborted(reason, 'stream'));
      if (connection instanceof SpdyPortForwardConnection) assert.equal(connection.session.activeStreams, 0);
      else await endpoint.sockets.allClosed('the aborted pair');
      assert.equal(connection.stats.pairsFailed, 1);
      // The connection goes on, and an abort after a pair is open does nothing to it.
      demo.cluster.applyFault('clear');
      const later = new AbortController();
      const pair = await connection.openPortStreams(8080, { signal: later.signal });
      later.abort();
      const payload = randomBytes(16 * 1024);
      const echoed = new Promise<Buffer>((resolve) => {
        const chunks: Buffer[] = [];
        let total = 0;
        pair.data.on('data', (chunk: Buffer) => {
          chunks.push(chunk);
          total += chunk.length;
          if (total >= payload.length) resolve(Buffer.concat(chunks));
        });
      });
      pair.data.write(payload);
      assert.equal(sha256(await echoed), sha256(payload));
      pair.data.destroy();
    });

    test(`${protocol}: an already-aborted signal opens nothing`, async (t) => {
      const demo = await startDemoCluster();
      t.after(() => demo.close());
      const connection = await dialPortForward({ server: demo.cluster.url, path: PATH }, { protocol });
      t.after(() => connection.destroy());
      const upgradesBefore = demo.cluster.stats().upgrades;
      await assert.rejects(connection.openPortStreams(8080, { signal: AbortSignal.abort() }), { name: 'AbortError', code: ErrorCode.ABORTED, scope: 'stream' });
      if (connection instanceof SpdyPortForwardConnection) assert.equal(connection.session.stats.streamsOpenedLocal, 0);
      assert.equal(demo.cluster.stats().upgrades, upgradesBefore);
      assert.equal(demo.cluster.stats().streams, 0);
    });
  }
});

describe('ping({ signal })', () => {
  for (const protocol of PROTOCOLS) {
    test(`${protocol}: an abort while waiting for the answer rejects with AbortError; the connection goes on`, async (t) => {
      const demo = await startDemoCluster();
      t.after(() => demo.close());
      const connection = await dialPortForward({ server: demo.cluster.url, path: PATH }, { protocol });
      t.after(() => connection.destroy());
      const pair = await connection.openPortStreams(8080); // v4 pings the open pairs' WebSockets
      demo.cluster.applyFault('blackhole');
      const controller = new AbortController();
      const pinging = connection.ping({ timeoutMs: 60_000, signal: controller.signal });
      controller.abort();
      await assert.rejects(pinging, aborted(controller.signal.reason, 'session'));
      await assert.rejects(connection.ping({ signal: AbortSignal.abort() }), { name: 'AbortError' });
      demo.cluster.applyFault('clear');
      assert.ok((await connection.ping({ timeoutMs: 5_000 })) >= 0);
      await assert.rejects(connection.ping(5_000 as never), { code: ErrorCode.INVALID_ARGUMENT, scope: 'usage' });
      pair.data.destroy();
    });
  }
});

describe('apiGet({ signal })', () => {
  test('already aborted: rejects at once and nothing is sent', async (t) => {
    const server = await silentServer(t);
    const reason = new Error('stop');
    await assert.rejects(apiGet({ server: server.url }, '/api', { signal: AbortSignal.abort(reason) }), aborted(reason, 'transport'));
    await server.probe();
    assert.equal(server.connections(), 0);
  });

  test('aborted while the TLS handshake is under way: the connection is closed', async (t) => {
    const server = await silentServer(t);
    const controller = new AbortController();
    const getting = apiGet({ server: server.tlsUrl }, '/api', { signal: controller.signal });
    await server.connected();
    const reason = new KubemuxError(ErrorCode.UNAVAILABLE, 'transport', 'the caller stopped');
    controller.abort(reason);
    await assert.rejects(getting, aborted(reason, 'transport'));
    await server.sockets.allClosed('the abandoned handshake');
  });

  test('aborted while waiting for the answer: the connection is closed', async (t) => {
    const server = await silentServer(t);
    const controller = new AbortController();
    const getting = apiGet({ server: server.url }, '/api', { signal: controller.signal });
    await server.requested();
    const reason = new Error('stop');
    controller.abort(reason);
    await assert.rejects(getting, aborted(reason, 'transport'));
    await server.sockets.allClosed('the abandoned request');
    assert.equal(server.connections(), 1);
  });
});
