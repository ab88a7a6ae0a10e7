/**
 * close(): 'finish' lets open connections end by themselves (optionally up to a deadline),
 * 'abort' resets them; it stops listening at once, resolves when nothing is left running, and
 * leaves the opener open. A forwarder in a child process shows the last part: the process exits
 * by itself once the forwarder is closed.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { test } from 'node:test';
import { ErrorCode, KubemuxError } from '../../../src/errors.js';
import { PortForwarder, type ConnectionClosedInfo, type ConnectionFailedInfo } from '../../../src/forwarder/index.js';
import { once, within } from '../../support/deadlines.js';
import { connectLocal, dialDemo, startForwarder } from '../../support/forwarder.js';
import { startForwardProcess } from '../../support/forward-process.js';
import { startDemoCluster } from '../../support/servers.js';
import { nextError, randomBytes, readBytes, readRest, sha256 } from '../../support/streams.js';

const BOUNDED = { timeout: 60_000 };

type Demo = Awaited<ReturnType<typeof startDemoCluster>>;

/** An echo pod on 8080 (the demo cluster's) and a forwarder to it on 127.0.0.1. */
async function echoForwarder(t: import('node:test').TestContext): Promise<{ demo: Demo; forwarder: PortForwarder; port: number; connection: Awaited<ReturnType<typeof dialDemo>> }> {
  const demo = await startDemoCluster();
  t.after(() => demo.close());
  const connection = await dialDemo(t, demo.cluster, 'spdy');
  const { forwarder, ready } = await startForwarder(t, { opener: connection, ports: ['0:8080'], addresses: ['127.0.0.1'] });
  return { demo, forwarder, port: ready.listeners[0]!.port, connection };
}

/** A local client whose echo round trip has completed (its pair is open and carrying bytes). */
async function echoingClient(t: import('node:test').TestContext, port: number): Promise<net.Socket> {
  const client = await connectLocal(t, port);
  const probe = randomBytes(1024);
  client.write(probe);
  assert.equal(sha256(await within(readBytes(client, probe.length), 'the echo')), sha256(probe));
  return client;
}

/** Whether a TCP connect to 127.0.0.1:port is refused. */
function refused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', (error: NodeJS.ErrnoException) => resolve(error.code === 'ECONNREFUSED'));
  });
}

test("close 'finish': stops listening at once, the open connection carries on and ends by itself, then close resolves", BOUNDED, async (t) => {
  const { forwarder, port, connection } = await echoForwarder(t);
  const client = await echoingClient(t, port);
  const order: string[] = [];
  forwarder.on('connectionClosed', () => order.push('connectionClosed'));
  forwarder.on('close', () => order.push('close'));
  let closeResolved = false;
  const closePromise = forwarder.close();
  assert.equal(forwarder.close(), closePromise, 'the same promise every time');
  const closing = closePromise.then(() => {
    closeResolved = true;
    order.push('resolved');
  });
  assert.equal(await refused(port), true, 'no longer listening');
  // The open connection still moves bytes.
  const payload = randomBytes(256 * 1024);
  client.write(payload);
  assert.equal(sha256(await within(readBytes(client, payload.length), 'an echo after close()')), sha256(payload));
  assert.equal(closeResolved, false);
  assert.equal(forwarder.stats().openConnections, 1);
  client.end();
  assert.equal((await within(readRest(client), 'the clean end')).length, 0);
  await within(closing, 'close()');
  assert.deepEqual(order, ['connectionClosed', 'close', 'resolved']);
  assert.equal(forwarder.stats().listeners, 0);
  assert.equal(forwarder.stats().openConnections, 0);
  // The opener is the caller's: still open, still usable.
  assert.equal(connection.closed, false);
  const pair = await connection.openPortStreams(8080);
  pair.data.destroy();
});

test("close 'finish' with timeoutMs: a connection still open at the deadline is reset (ERR_ABORTED)", BOUNDED, async (t) => {
  const { forwarder, port } = await echoForwarder(t);
  const client = await echoingClient(t, port);
  const failed = once<[ConnectionFailedInfo]>(forwarder, 'connectionFailed');
  const reset = nextError(client);
  client.resume();
  await within(forwarder.close({ mode: 'finish', timeoutMs: 50 }), 'close()');
  assert.equal(((await within(reset, 'the client seeing the reset')) as NodeJS.ErrnoException).code, 'ECONNRESET');
  const [info] = await failed;
  assert.equal(info.error.code, ErrorCode.ABORTED);
  assert.equal(info.error.name, 'AbortError');
  assert.match(info.error.message, /did not finish within 50 ms/);
  assert.equal(info.bytesToPod, 1024);
});

test("close 'abort': every open connection is reset at once; a later 'abort' cuts what a 'finish' waits for", BOUNDED, async (t) => {
  const { forwarder, port } = await echoForwarder(t);
  const clients = [await echoingClient(t, port), await echoingClient(t, port)];
  const resets = clients.map((client) => {
    client.resume();
    return nextError(client);
  });
  const failures: ConnectionFailedInfo[] = [];
  const closes: ConnectionClosedInfo[] = [];
  forwarder.on('connectionFailed', (info) => failures.push(info));
  forwarder.on('connectionClosed', (info) => closes.push(info));
  const finishing = forwarder.close();
  const aborting = forwarder.close({ mode: 'abort' });
  assert.equal(aborting, finishing);
  await within(aborting, 'close()');
  for (const reset of resets) assert.equal(((await within(reset, 'a reset')) as NodeJS.ErrnoException).code, 'ECONNRESET');
  assert.equal(failures.length, 2);
  assert.equal(closes.length, 0);
  assert.ok(failures.every((f) => f.error.code === ErrorCode.ABORTED && /mode abort/.test(f.error.message)));
  assert.deepEqual(
    { ...forwarder.stats(), bytesToPod: 0, bytesFromPod: 0 },
    { listeners: 0, openConnections: 0, accepted: 2, opened: 2, closed: 0, failed: 2, acceptErrors: 0, bytesToPod: 0, bytesFromPod: 0 },
  );
  assert.equal(forwarder.stats().bytesToPod, 2048);
});

test('close() options are checked: a bad one rejects with a usage error and closes nothing', BOUNDED, async (t) => {
  const { forwarder, port } = await echoForwarder(t);
  for (const [options, pattern] of [
    [{ mode: 'later' }, /close mode must be 'finish' or 'abort'/],
    [{ timeoutMs: -1 }, /timeoutMs -1 is outside 0\.\.2147483647/],
    [{ mode: 'abort', timeoutMs: 10 }, /timeoutMs applies to close mode 'finish' only/],
  ] as const) {
    await assert.rejects(forwarder.close(options as never), (error: KubemuxError) => error.code === ErrorCode.INVALID_ARGUMENT && pattern.test(error.message));
  }
  assert.equal(await refused(port), false, 'still listening');
});

test('close() before ready: ready rejects with ERR_ABORTED and nothing stays bound', BOUNDED, async (t) => {
  const demo = await startDemoCluster();
  t.after(() => demo.close());
  const connection = await dialDemo(t, demo.cluster, 'spdy');
  const forwarder = new PortForwarder({ opener: connection, ports: ['0:8080'], addresses: ['127.0.0.1'] });
  await within(forwarder.close(), 'close()');
  await assert.rejects(forwarder.ready, (error: KubemuxError) => error.code === ErrorCode.ABORTED && error.name === 'AbortError');
  assert.equal(forwarder.stats().listeners, 0);
});

test('a forwarder in its own process: once closed (finish, then abort) with connections open, the process exits by itself', BOUNDED, async (t) => {
  const demo = await startDemoCluster();
  t.after(() => demo.close());
  for (const mode of ['finish', 'abort'] as const) {
    const child = await startForwardProcess({ clusterUrl: demo.cluster.url, protocol: 'websocket-tunnel', ports: ['0:8080', '0:5432'], addresses: ['127.0.0.1'] });
    t.after(() => {
      child.child.kill();
    });
    const clients = await Promise.all(child.listeners.map((listener) => echoingClient(t, listener.port)));
    const closed = child.close(mode);
    if (mode === 'finish') {
      // The connections end by themselves: each client half-closes, and the echo pod ends too.
      for (const client of clients) {
        client.end();
        await within(readRest(client), 'the clean end');
      }
    } else {
      // Every client's error listener is in place before any is awaited: both are reset at once.
      const resets = clients.map((client) => {
        const reset = nextError(client);
        client.resume();
        return reset;
      });
      for (const reset of resets) assert.equal(((await within(reset, 'a reset')) as NodeJS.ErrnoException).code, 'ECONNRESET');
    }
    assert.equal(await closed, 0, `exit code after close '${mode}'`);
  }
});
