/**
 * Slowloris at the HTTP phases: a client trickling its request headers (or body) to the fake
 * cluster is answered 408 and disconnected at headersTimeoutMs (requestTimeoutMs), while other
 * clients are served; an upgraded connection is not subject to those deadlines; and a client
 * dialing a server that trickles its 101 gives up at its upgradeTimeoutMs with ERR_TIMEOUT.
 * (The frame phase is in endpoint.test.ts: the idle timeout.)
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import net from 'node:net';
import { describe, test, type TestContext } from 'node:test';
import { ErrorCode, isKubemuxError } from '../../../src/errors.js';
import { FakeCluster } from '../../../src/server/fake-cluster.js';
import { portForwardPath } from '../../../src/transport/api/request-target.js';
import { dialSpdy } from '../../../src/transport/spdy/upgrade.js';
import { within } from '../../support/deadlines.js';
import { legitForward } from '../../support/hostile.js';
import { startEchoServer } from '../../support/servers.js';

const SUITE = { timeout: 30_000 };

/** Connects and writes `text` one byte every `everyMs` (see {@link trickleOn}). */
async function trickle(port: number, text: string, everyMs: number): Promise<{ answer: string; sent: number }> {
  const socket = net.connect(port, '127.0.0.1');
  socket.on('error', () => {});
  await once(socket, 'connect');
  return trickleOn(socket, text, everyMs);
}

async function cluster(t: TestContext, options: { headersTimeoutMs?: number; requestTimeoutMs?: number } = {}): Promise<{ cluster: FakeCluster; port: number }> {
  const echo = await startEchoServer();
  t.after(() => echo.close());
  const started = await FakeCluster.start({
    ...options,
    config: { namespaces: { default: { pods: [{ name: 'demo', containers: [{ name: 'app', ports: [{ containerPort: 8080 }] }], portMap: { '8080': `127.0.0.1:${echo.port}` } }] } } },
  });
  t.after(() => started.close());
  return { cluster: started, port: Number(new URL(started.url).port) };
}

describe('slowloris', SUITE, () => {
  test('request headers trickled a byte every 20 ms: 408 and disconnected at headersTimeoutMs; others are served meanwhile', async (t) => {
    const { cluster: fake, port } = await cluster(t, { headersTimeoutMs: 300, requestTimeoutMs: 5_000 });
    const headers = `GET /version HTTP/1.1\r\nHost: 127.0.0.1\r\n${'X-Slow: x\r\n'.repeat(200)}\r\n`;
    const slow = trickle(port, headers, 20);
    await legitForward(fake.url);
    const { answer, sent } = await within(slow, 'the trickling client to be cut off', 10_000);
    assert.match(answer, /^HTTP\/1\.1 408 /);
    assert.ok(sent < headers.length, `all ${sent} bytes went through`);
  });

  test('a request body trickled a byte every 20 ms: 408 at requestTimeoutMs', async (t) => {
    const { port } = await cluster(t, { headersTimeoutMs: 300, requestTimeoutMs: 400 });
    const body = 'x'.repeat(500);
    const request = `POST /kubemux/faults/clear HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: ${body.length}\r\n\r\n`;
    const socket = net.connect(port, '127.0.0.1');
    socket.on('error', () => {});
    await once(socket, 'connect');
    socket.write(request);
    const { answer, sent } = await within(trickleOn(socket, body, 20), 'the slow body to be cut off', 10_000);
    // The fault route answers without reading the body; the connection is cut at the deadline all the same.
    assert.match(answer, /HTTP\/1\.1 408 Request Timeout\r\nConnection: close\r\n\r\n$/);
    assert.ok(sent < body.length);
  });

  test('an upgraded connection is not subject to the request deadlines: a session outlives them several times over', async (t) => {
    const { cluster: fake } = await cluster(t, { headersTimeoutMs: 100, requestTimeoutMs: 100 });
    const session = await dialSpdy({ server: fake.url, path: portForwardPath('default', 'demo') });
    t.after(() => session.destroy());
    for (let i = 0; i < 6; i++) {
      await new Promise<void>((resolve) => setTimeout(resolve, 100));
      assert.ok((await session.ping({ timeoutMs: 2_000 })) >= 0);
    }
    assert.equal(session.closed, false);
  });

  test('a server that trickles its 101: the client gives up at upgradeTimeoutMs with ERR_TIMEOUT', async (t) => {
    const sockets = new Set<net.Socket>();
    const server = net.createServer((socket) => {
      sockets.add(socket);
      socket.on('error', () => {});
      socket.once('data', () => {
        const answer = 'HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\nX-Stream-Protocol-Version: portforward.k8s.io\r\n\r\n';
        void trickleOn(socket, answer, 50);
      });
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    t.after(async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    });
    const { port } = server.address() as net.AddressInfo;
    await assert.rejects(
      within(dialSpdy({ server: `http://127.0.0.1:${port}`, path: portForwardPath('default', 'demo'), upgradeTimeoutMs: 300 }), 'the dial to fail', 5_000),
      (error: unknown) => isKubemuxError(error, ErrorCode.TIMEOUT) && /300 ms/.test(error.message),
    );
    // (The whole 101 would have taken over 6 s at this pace.)
  });
});

/** Writes `text` one byte every `everyMs` until done or the socket closes; resolves, once it has closed, with what came back and the bytes sent. */
async function trickleOn(socket: net.Socket, text: string, everyMs: number): Promise<{ answer: string; sent: number }> {
  const received: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => received.push(chunk));
  let closed = socket.destroyed;
  socket.once('close', () => (closed = true));
  let sent = 0;
  while (sent < text.length && !closed) {
    socket.write(text[sent]!);
    sent++;
    await new Promise<void>((resolve) => setTimeout(resolve, everyMs));
  }
  if (!closed) await once(socket, 'close');
  return { answer: Buffer.concat(received).toString('latin1'), sent };
}
