/**
 * One behaviour suite for PortForwardConnection, run over all three transports (plain SPDY, the
 * SPDY tunnel in WebSocket, v4 channels) against the real FakeCluster and its endpoint: the same
 * expectations, and where a transport cannot meet one (v4 has no half-close), the documented
 * alternative is what is checked.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import type { Duplex } from 'node:stream';
import { describe, test, type TestContext } from 'node:test';
import { ErrorCode, KubemuxError, isKubemuxError } from '../../../src/errors.js';
import { dialPortForward } from '../../../src/transport/dial.js';
import type { PortForwardConnection, PortForwardProtocol, PortStreams } from '../../../src/transport/port-forward-connection.js';
import { portForwardPath } from '../../../src/transport/api/request-target.js';
import { closedPort, startDemoCluster, startPod } from '../../support/servers.js';
import { nextEvent, randomBytes, readAll, readBytes, readRest, sha256 } from '../../support/streams.js';

const MiB = 1024 * 1024;
const BOUNDED = { timeout: 60_000 };
const PROTOCOLS: readonly PortForwardProtocol[] = ['spdy', 'websocket-tunnel', 'websocket-v4'];
/** Transports where a local end() reaches the pod as EOF. */
const HAS_HALF_CLOSE: ReadonlySet<PortForwardProtocol> = new Set(['spdy', 'websocket-tunnel']);

type Demo = Awaited<ReturnType<typeof startDemoCluster>>;

async function demoCluster(t: TestContext, options: Parameters<typeof startDemoCluster>[0] = {}): Promise<Demo> {
  const demo = await startDemoCluster(options);
  t.after(() => demo.close());
  return demo;
}

async function connect(t: TestContext, demo: Demo, protocol: PortForwardProtocol, pod = 'demo'): Promise<PortForwardConnection> {
  const connection = await dialPortForward({ server: demo.cluster.url, path: portForwardPath('default', pod) }, { protocol });
  t.after(() => connection.destroy());
  assert.equal(connection.protocol, protocol);
  return connection;
}

/** Writes `data` in 64 KiB pieces with backpressure; does not end the stream. */
async function writeAll(stream: Duplex, data: Buffer): Promise<void> {
  for (let offset = 0; offset < data.length; offset += 64 * 1024) {
    if (!stream.write(data.subarray(offset, offset + 64 * 1024))) await once(stream, 'drain');
  }
}

/** Ends a pair the way a forwarder would: half-close where the transport has it, else destroy. */
async function finishPair(protocol: PortForwardProtocol, pair: PortStreams): Promise<void> {
  if (HAS_HALF_CLOSE.has(protocol)) {
    pair.data.end();
    assert.equal((await readRest(pair.data)).length, 0);
  }
  pair.data.destroy();
  assert.equal(await pair.errors, '');
}

for (const protocol of PROTOCOLS) {
  describe(`PortForwardConnection over ${protocol}`, () => {
    test('a pair moves 4 MiB each way through the cluster to the pod, hash-checked', BOUNDED, async (t) => {
      const demo = await demoCluster(t);
      const connection = await connect(t, demo, protocol);
      const pair = await connection.openPortStreams(8080);
      assert.equal(pair.port, 8080);
      assert.equal(pair.requestId, '0');
      const payload = randomBytes(4 * MiB);
      const [echoed] = await Promise.all([readBytes(pair.data, payload.length), writeAll(pair.data, payload)]);
      assert.equal(sha256(echoed), sha256(payload));
      await finishPair(protocol, pair);
      const stats = connection.stats;
      assert.equal(stats.protocol, protocol);
      assert.equal(stats.pairsOpened, 1);
      assert.equal(stats.pairErrors, 0);
      assert.ok(stats.dataBytesSent >= payload.length, `sent ${stats.dataBytesSent}`);
      assert.ok(stats.dataBytesReceived >= payload.length, `received ${stats.dataBytesReceived}`);
      await connection.close();
      assert.equal(connection.closed, true);
      assert.equal(connection.stats.pairsActive, 0);
    });

    test(
      HAS_HALF_CLOSE.has(protocol)
        ? 'half-close: after a local end() the pod sees EOF and its whole reply still arrives'
        : 'no half-close: a local end() sends nothing, the WebSocket stays open and the reply still arrives',
      BOUNDED,
      async (t) => {
        // The pod reads to EOF, then answers with the hash of what it read: only a real
        // half-close gets an answer.
        const payload = randomBytes(MiB);
        let allReceived!: () => void;
        const received = new Promise<void>((resolve) => {
          allReceived = resolve;
        });
        const pod = await startPod(t, (socket) => {
          const chunks: Buffer[] = [];
          let total = 0;
          socket.on('data', (chunk: Buffer) => {
            chunks.push(chunk);
            total += chunk.length;
            if (total === payload.length) allReceived();
          });
          socket.once('end', () => socket.end(sha256(Buffer.concat(chunks))));
        });
        const demo = await demoCluster(t, { podTarget: `127.0.0.1:${pod.port}` });
        const connection = await connect(t, demo, protocol);
        const pair = await connection.openPortStreams(8080);
        await writeAll(pair.data, payload);
        pair.data.end();
        if (HAS_HALF_CLOSE.has(protocol)) {
          assert.equal((await readAll(pair.data)).toString(), sha256(payload));
          pair.data.destroy();
          assert.equal(await pair.errors, '');
          return;
        }
        // v4: the pod never sees EOF, so it never answers; the pair stays open until the local
        // side gives up, which closes the WebSocket and so the pod connection.
        await new Promise<void>((resolve) => pair.data.once('finish', resolve));
        await received;
        assert.equal(pair.data.readableEnded, false);
        assert.equal(pod.sockets.size, 1);
        assert.equal(connection.stats.pairsActive, 1);
        const podClosed = once([...pod.sockets][0]!, 'close');
        pair.data.destroy();
        await podClosed;
        assert.equal(await pair.errors, '');
      },
    );

    test('the pod closes first: its bytes arrive, then a clean end of the data stream', BOUNDED, async (t) => {
      const greeting = randomBytes(MiB);
      const pod = await startPod(t, (socket) => {
        socket.resume();
        socket.end(greeting);
      });
      const demo = await demoCluster(t, { podTarget: `127.0.0.1:${pod.port}` });
      const connection = await connect(t, demo, protocol);
      const pair = await connection.openPortStreams(8080);
      const received = await readAll(pair.data);
      assert.equal(sha256(received), sha256(greeting));
      pair.data.destroy();
      assert.equal(await pair.errors, '');
      assert.equal(connection.acceptingStreams, true);
    });

    test('reset: destroying the data stream ends the pod connection; the connection carries on', BOUNDED, async (t) => {
      const pod = await startPod(t, (socket) => socket.pipe(socket));
      const demo = await demoCluster(t, { podTarget: `127.0.0.1:${pod.port}` });
      const connection = await connect(t, demo, protocol);
      const pair = await connection.openPortStreams(8080);
      const payload = randomBytes(64 * 1024);
      const [echoed] = await Promise.all([readBytes(pair.data, payload.length), writeAll(pair.data, payload)]);
      assert.equal(sha256(echoed), sha256(payload));
      assert.equal(pod.sockets.size, 1);
      const podClosed = once([...pod.sockets][0]!, 'close');
      pair.data.destroy();
      await podClosed;
      assert.equal(await pair.errors, '');
      assert.equal(connection.acceptingStreams, true);

      const next = await connection.openPortStreams(8080);
      assert.equal(next.requestId, '1');
      const again = randomBytes(64 * 1024);
      const [echoedAgain] = await Promise.all([readBytes(next.data, again.length), writeAll(next.data, again)]);
      assert.equal(sha256(echoedAgain), sha256(again));
      next.data.destroy();
      assert.equal(await next.errors, '');
    });

    test('a closed pod port: the runtime error text on that pair only; the connection goes on', BOUNDED, async (t) => {
      const port = await closedPort();
      const demo = await demoCluster(t, { podTarget: `127.0.0.1:${port}` });
      const connection = await connect(t, demo, protocol);
      for (let i = 0; i < 2; i++) {
        const pair = await connection.openPortStreams(8080);
        const failed = new Promise<Error>((resolve) => pair.data.once('error', resolve));
        pair.data.resume();
        const text = await pair.errors;
        assert.match(text, /^error forwarding port 8080 to pod default\/demo, uid [0-9a-f-]+: failed to connect to localhost:8080 inside namespace "demo", IPv4: dial tcp4 127\.0\.0\.1:\d+: connect: connection refused/);
        const error = await failed;
        assert.ok(isKubemuxError(error, ErrorCode.STREAM_RESET), String(error));
        assert.equal((error as KubemuxError).scope, 'stream');
      }
      // Unlike kubectl, the error does not end the connection (spec/portforward.md §10).
      assert.equal(connection.acceptingStreams, true);
      assert.equal(connection.closed, false);
      assert.equal(connection.stats.pairErrors, 2);
      if (protocol !== 'websocket-v4') assert.ok((await connection.ping({ timeoutMs: 5_000 })) >= 0);
    });

    test('32 concurrent pairs, 256 KiB each way on each, hash-checked, distinct request ids', BOUNDED, async (t) => {
      const demo = await demoCluster(t);
      const connection = await connect(t, demo, protocol);
      const pairs = await Promise.all(Array.from({ length: 32 }, () => connection.openPortStreams(8080)));
      assert.deepEqual(
        pairs.map((pair) => Number(pair.requestId)).sort((a, b) => a - b),
        Array.from({ length: 32 }, (_, i) => i),
      );
      assert.equal(connection.stats.pairsActive, 32);
      await Promise.all(
        pairs.map(async (pair) => {
          const payload = randomBytes(256 * 1024);
          const [echoed] = await Promise.all([readBytes(pair.data, payload.length), writeAll(pair.data, payload)]);
          assert.equal(sha256(echoed), sha256(payload));
          await finishPair(protocol, pair);
        }),
      );
      assert.equal(connection.stats.pairsOpened, 32);
      assert.equal(connection.stats.pairsActive, 0);
      assert.equal(demo.echo.connections, 32);
    });

    test('ping measures the path; destroy() fails open pairs and later opens', BOUNDED, async (t) => {
      const demo = await demoCluster(t);
      const connection = await connect(t, demo, protocol);
      if (protocol === 'websocket-v4') {
        // No WebSocket open: nothing long-lived to test.
        assert.equal(connection.canPing, false);
        await assert.rejects(connection.ping(), (error: KubemuxError) => error.code === ErrorCode.INVALID_ARGUMENT);
      }
      const pair = await connection.openPortStreams(5432);
      assert.equal(connection.canPing, true);
      const rtt = await connection.ping({ timeoutMs: 5_000 });
      assert.ok(rtt >= 0 && rtt < 5_000, `rtt ${rtt}`);

      const failed = new Promise<Error>((resolve) => pair.data.once('error', resolve));
      const closed = nextEvent<[KubemuxError | undefined]>(connection, 'close');
      connection.destroy();
      assert.equal((await closed)[0], undefined);
      assert.ok(isKubemuxError(await failed), 'the open pair fails with a KubemuxError');
      assert.equal(await pair.errors, '');
      assert.equal(connection.closed, true);
      assert.equal(connection.canPing, false);
      await assert.rejects(connection.openPortStreams(8080), (error: KubemuxError) => error.code === ErrorCode.SESSION_CLOSED);
    });

    test('close() drains: no new pairs, the open pair finishes, then close', BOUNDED, async (t) => {
      const demo = await demoCluster(t);
      const connection = await connect(t, demo, protocol);
      const pair = await connection.openPortStreams(8080);
      const draining = nextEvent(connection, 'draining');
      const closing = connection.close();
      await draining;
      assert.equal(connection.acceptingStreams, false);
      await assert.rejects(connection.openPortStreams(8080), (error: KubemuxError) => error.code === ErrorCode.SESSION_DRAINING);
      const payload = randomBytes(256 * 1024);
      const [echoed] = await Promise.all([readBytes(pair.data, payload.length), writeAll(pair.data, payload)]);
      assert.equal(sha256(echoed), sha256(payload));
      assert.equal(connection.closed, false);
      await finishPair(protocol, pair);
      await closing;
      assert.equal(connection.closed, true);
    });

    test('a pair the server does not accept in time: ERR_STREAM_OPEN_TIMEOUT for it alone', BOUNDED, async (t) => {
      const demo = await demoCluster(t);
      const connection = await connect(t, demo, protocol);
      // SPDY: the runtime stops replying to new streams; v4: the new WebSocket's 101 is held.
      demo.cluster.applyFault(protocol === 'websocket-v4' ? 'blackhole' : 'stall');
      await assert.rejects(connection.openPortStreams(8080, { timeoutMs: 200 }), (error: KubemuxError) => {
        assert.equal(error.code, ErrorCode.STREAM_OPEN_TIMEOUT);
        assert.equal(error.scope, 'stream');
        return true;
      });
      demo.cluster.applyFault('clear');
      assert.equal(connection.acceptingStreams, true);
      const pair = await connection.openPortStreams(8080);
      const payload = randomBytes(64 * 1024);
      const [echoed] = await Promise.all([readBytes(pair.data, payload.length), writeAll(pair.data, payload)]);
      assert.equal(sha256(echoed), sha256(payload));
      await finishPair(protocol, pair);
      assert.equal(connection.stats.pairsFailed, 1);
      assert.equal(connection.stats.pairsOpened, 1);
    });

    test('a silent path: ping fails with ERR_PING_TIMEOUT', BOUNDED, async (t) => {
      const demo = await demoCluster(t);
      const connection = await connect(t, demo, protocol);
      const pair = await connection.openPortStreams(8080);
      assert.ok((await connection.ping({ timeoutMs: 5_000 })) >= 0);
      demo.cluster.applyFault('blackhole');
      const pairFailed = new Promise<unknown>((resolve) => pair.data.once('error', resolve));
      await assert.rejects(connection.ping({ timeoutMs: 200 }), (error: KubemuxError) => error.code === ErrorCode.PING_TIMEOUT);
      demo.cluster.applyFault('clear');
      if (protocol === 'websocket-v4') {
        // v4 liveness is per pair: the pair that did not answer is dead and failed alone.
        const error = (await pairFailed) as KubemuxError;
        assert.equal(error.code, ErrorCode.PING_TIMEOUT);
        assert.equal(connection.canPing, false, 'nothing left to ping');
        const next = await connection.openPortStreams(8080);
        assert.ok((await connection.ping({ timeoutMs: 5_000 })) >= 0);
        next.data.destroy();
        return;
      }
      assert.ok((await connection.ping({ timeoutMs: 5_000 })) >= 0);
      pair.data.destroy();
      assert.equal(await pair.errors, '');
    });

    test('a bad port or deadline is a usage error and sends nothing', BOUNDED, async (t) => {
      const demo = await demoCluster(t);
      const connection = await connect(t, demo, protocol);
      for (const port of [0, 65536, 1.5, Number.NaN]) {
        await assert.rejects(connection.openPortStreams(port), (error: KubemuxError) => error.code === ErrorCode.INVALID_ARGUMENT && error.scope === 'usage');
      }
      for (const timeoutMs of [0, -1, 1.5, Number.POSITIVE_INFINITY]) {
        await assert.rejects(connection.openPortStreams(8080, { timeoutMs }), (error: KubemuxError) => error.code === ErrorCode.INVALID_ARGUMENT && error.scope === 'usage');
      }
      // A value of the wrong type is named by its type, not reported as out of range.
      await assert.rejects(connection.openPortStreams('8080' as never), { code: ErrorCode.INVALID_ARGUMENT, message: 'port must be an integer, got string' });
      await assert.rejects(connection.openPortStreams(8080, { timeoutMs: '100' as never }), { code: ErrorCode.INVALID_ARGUMENT, message: 'timeoutMs must be an integer, got string' });
      assert.equal(connection.stats.pairsOpened, 0);
      assert.equal(demo.cluster.stats().streams, 0);
    });
  });
}
