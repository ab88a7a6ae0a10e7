/**
 * The forwarder end to end, over each transport: local clients on real loopback sockets, the
 * fake cluster, and target servers standing in the pod (pod ports mapped to ephemeral local
 * ports through the cluster's portMap). v4 has no half-close (src/transport/v4/):
 * where that changes what a client sees, the documented alternative is checked.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, test, type TestContext } from 'node:test';
import { ErrorCode, type KubemuxError } from '../../../src/errors.js';
import type { ConnectionClosedInfo, ConnectionFailedInfo, ConnectionOpenedInfo, PortForwarder } from '../../../src/forwarder/index.js';
import type { OpenPortStreamsOptions, PortForwardProtocol, PortStreamOpener, PortStreams } from '../../../src/transport/port-forward-connection.js';
import { once, within } from '../../support/deadlines.js';
import { canListenOnIpv6Loopback, connectLocal, dialDemo, startForwarder } from '../../support/forwarder.js';
import { closedPort, startDemoCluster, startPod } from '../../support/servers.js';
import { nextError, randomBytes, readAll, readBytes, readRest, sha256, writeAllAndEnd } from '../../support/streams.js';

/** What the pod sends of a response that never ends, in the truncation test. */
const PARTIAL_RESPONSE_BYTES = 2 * 1024 * 1024;
const MiB = 1024 * 1024;
const BOUNDED = { timeout: 120_000 };
const PROTOCOLS: readonly PortForwardProtocol[] = ['spdy', 'websocket-tunnel', 'websocket-v4'];
const HAS_HALF_CLOSE: ReadonlySet<PortForwardProtocol> = new Set(['spdy', 'websocket-tunnel']);

type Demo = Awaited<ReturnType<typeof startDemoCluster>>;

async function cluster(t: TestContext, portMap: Record<number, string>): Promise<Demo> {
  const demo = await startDemoCluster({ portMap });
  t.after(() => demo.close());
  return demo;
}

/** Collects a forwarder's connection events. */
function record(forwarder: PortForwarder): { opened: ConnectionOpenedInfo[]; closed: ConnectionClosedInfo[]; failed: ConnectionFailedInfo[] } {
  const events = { opened: [] as ConnectionOpenedInfo[], closed: [] as ConnectionClosedInfo[], failed: [] as ConnectionFailedInfo[] };
  forwarder.on('connectionOpened', (info) => events.opened.push(info));
  forwarder.on('connectionClosed', (info) => events.closed.push(info));
  forwarder.on('connectionFailed', (info) => events.failed.push(info));
  return events;
}

/** The next `connectionClosed` or `connectionFailed` of the connection numbered `id`. */
function ending(forwarder: PortForwarder, id?: number): Promise<{ closed?: ConnectionClosedInfo; failed?: ConnectionFailedInfo }> {
  return new Promise((resolve) => {
    const onClosed = (info: ConnectionClosedInfo): void => {
      if (id !== undefined && info.id !== id) return;
      forwarder.off('connectionClosed', onClosed).off('connectionFailed', onFailed);
      resolve({ closed: info });
    };
    const onFailed = (info: ConnectionFailedInfo): void => {
      if (id !== undefined && info.id !== id) return;
      forwarder.off('connectionClosed', onClosed).off('connectionFailed', onFailed);
      resolve({ failed: info });
    };
    forwarder.on('connectionClosed', onClosed).on('connectionFailed', onFailed);
  });
}

/** A pod that echoes and ends its side once it has echoed `size` bytes; keeps the sha256 of what each connection received. */
async function sizedEchoPod(t: TestContext, size: number): Promise<{ port: number; hashes: string[] }> {
  const hashes: string[] = [];
  const pod = await startPod(t, (socket) => {
    const hash = createHash('sha256');
    let seen = 0;
    socket.on('data', (chunk: Buffer) => {
      hash.update(chunk);
      seen += chunk.length;
      if (!socket.write(chunk)) socket.pause();
      if (seen === size) {
        hashes.push(hash.digest('hex'));
        socket.end();
      }
    });
    socket.on('drain', () => socket.resume());
  });
  return { port: pod.port, hashes };
}

for (const protocol of PROTOCOLS) {
  describe(`forwarding over ${protocol}`, () => {
    test('many ports, each to its own pod server, on 127.0.0.1 and ::1 with the port picked for one reused for the other', BOUNDED, async (t) => {
      const ipv6 = await canListenOnIpv6Loopback();
      const podPorts = [7001, 7002, 7003, 7004];
      const portMap: Record<number, string> = {};
      for (const podPort of podPorts) {
        // Each pod port names itself first, then echoes.
        const pod = await startPod(t, (socket) => {
          socket.write(`port ${podPort}\n`);
          socket.pipe(socket);
        });
        portMap[podPort] = `127.0.0.1:${pod.port}`;
      }
      const demo = await cluster(t, portMap);
      const connection = await dialDemo(t, demo.cluster, protocol);
      const { ready } = await startForwarder(t, { opener: connection, ports: podPorts.map((p) => `:${p}`) });
      // localhost: two listeners per port where IPv6 works, in kubectl's order (127.0.0.1 first).
      assert.equal(ready.listeners.length, podPorts.length * (ipv6 ? 2 : 1));
      if (!ipv6) t.diagnostic('::1 cannot be bound on this machine: IPv6 listeners skipped');
      for (const [index, podPort] of podPorts.entries()) {
        const listeners = ready.listeners.filter((l) => l.remotePort === podPort);
        assert.deepEqual(
          listeners.map((l) => l.address),
          ipv6 ? ['127.0.0.1', '::1'] : ['127.0.0.1'],
          `listeners of spec ${index}`,
        );
        assert.ok(listeners[0]!.port > 0);
        assert.ok(listeners.every((l) => l.port === listeners[0]!.port), 'the same local port on both addresses');
        for (const listener of listeners) {
          const client = await connectLocal(t, listener.port, listener.address);
          const greeting = `port ${podPort}\n`;
          assert.equal((await within(readBytes(client, greeting.length), 'the greeting')).toString(), greeting);
          const payload = randomBytes(256 * 1024);
          client.write(payload);
          assert.equal(sha256(await within(readBytes(client, payload.length), 'the echo')), sha256(payload));
          client.destroy();
        }
      }
    });

    test('server speaks first: the pair opens on accept, so the pod greeting arrives before the client writes anything', BOUNDED, async (t) => {
      const greeting = randomBytes(100 * 1024);
      const pod = await startPod(t, (socket) => {
        socket.write(greeting);
        socket.pipe(socket);
      });
      const demo = await cluster(t, { 5432: `127.0.0.1:${pod.port}` });
      const connection = await dialDemo(t, demo.cluster, protocol);
      const { forwarder, ready } = await startForwarder(t, { opener: connection, ports: ['0:5432'], addresses: ['127.0.0.1'] });
      const opened = once<[ConnectionOpenedInfo]>(forwarder, 'connectionOpened');
      const client = await connectLocal(t, ready.listeners[0]!.port);
      const [info] = await opened;
      assert.equal(info.remotePort, 5432);
      assert.equal(info.localAddress, '127.0.0.1');
      assert.equal(info.localPort, ready.listeners[0]!.port);
      assert.equal(info.clientPort, client.localPort);
      assert.match(info.requestId, /^\d+$/);
      assert.equal(client.bytesWritten, 0);
      assert.equal(sha256(await within(readBytes(client, greeting.length), 'the greeting')), sha256(greeting));
    });

    test(
      HAS_HALF_CLOSE.has(protocol)
        ? 'half-close: the client ends, the pod sees EOF, and its whole reply still arrives; then a clean close'
        : 'no half-close on v4: after the client ends, the pod does not see EOF, but its replies keep arriving',
      BOUNDED,
      async (t) => {
        const request = randomBytes(2 * MiB);
        const pod = await startPod(t, (socket) => {
          if (HAS_HALF_CLOSE.has(protocol)) {
            // Reads to EOF, then answers with the hash of what it read and a 1 MiB body.
            const chunks: Buffer[] = [];
            socket.on('data', (chunk: Buffer) => chunks.push(chunk));
            socket.once('end', () => socket.end(Buffer.concat([Buffer.from(sha256(Buffer.concat(chunks))), Buffer.alloc(MiB, 7)])));
          } else {
            socket.pipe(socket);
          }
        });
        const demo = await cluster(t, { 8080: `127.0.0.1:${pod.port}` });
        const connection = await dialDemo(t, demo.cluster, protocol);
        const { forwarder, ready } = await startForwarder(t, { opener: connection, ports: ['0:8080'], addresses: ['127.0.0.1'] });
        const events = record(forwarder);
        const client = await connectLocal(t, ready.listeners[0]!.port);
        const ended = ending(forwarder);
        if (HAS_HALF_CLOSE.has(protocol)) {
          const [reply] = await within(Promise.all([readAll(client), writeAllAndEnd(client, request)]), 'the reply to EOF');
          assert.equal(reply.subarray(0, 64).toString(), sha256(request));
          assert.equal(reply.length, 64 + MiB);
          const { closed } = await within(ended, 'the connection ending');
          assert.equal(closed?.reason, 'done');
          assert.equal(closed?.bytesToPod, request.length);
          assert.equal(closed?.bytesFromPod, 64 + MiB);
          assert.equal(events.failed.length, 0);
          return;
        }
        const [echo] = await within(Promise.all([readBytes(client, request.length), writeAllAndEnd(client, request)]), 'the echo after end()');
        assert.equal(sha256(echo), sha256(request));
        assert.equal(pod.sockets.size, 1, 'the pod connection is still open');
        assert.equal(forwarder.stats().openConnections, 1);
      },
    );

    test('200 concurrent connections, each 64 KiB hash-checked at both ends, all closed cleanly', BOUNDED, async (t) => {
      const size = 64 * 1024;
      const pod = await sizedEchoPod(t, size);
      const demo = await cluster(t, { 8080: `127.0.0.1:${pod.port}` });
      const connection = await dialDemo(t, demo.cluster, protocol);
      const { forwarder, ready } = await startForwarder(t, { opener: connection, ports: ['0:8080'], addresses: ['127.0.0.1'] });
      const events = record(forwarder);
      const count = 200;
      const allEnded = new Promise<void>((resolve) => {
        const check = (): void => {
          if (events.closed.length + events.failed.length === count) resolve();
        };
        forwarder.on('connectionClosed', check).on('connectionFailed', check);
      });
      const sent: string[] = [];
      const clients = Array.from({ length: count }, async () => {
        const client = await connectLocal(t, ready.listeners[0]!.port);
        const payload = randomBytes(size);
        sent.push(sha256(payload));
        client.write(payload);
        // The pod ends after echoing everything; the client ends in turn.
        const echoed = await readAll(client);
        client.end();
        assert.equal(sha256(echoed), sha256(payload));
      });
      await within(Promise.all(clients), `${count} echoes`, 60_000);
      await within(allEnded, 'every connection ending', 60_000);
      assert.deepEqual([...pod.hashes].sort(), [...sent].sort(), 'what each pod connection received');
      assert.equal(events.failed.length, 0, events.failed.map((f) => f.error.message).join('\n'));
      assert.equal(events.opened.length, count);
      assert.ok(events.closed.every((c) => c.reason === 'done' && c.bytesToPod === size && c.bytesFromPod === size));
      const stats = forwarder.stats();
      assert.equal(stats.accepted, count);
      assert.equal(stats.opened, count);
      assert.equal(stats.closed, count);
      assert.equal(stats.failed, 0);
      assert.equal(stats.openConnections, 0);
      assert.equal(stats.bytesToPod, count * size);
      assert.equal(stats.bytesFromPod, count * size);
      assert.equal(new Set(events.opened.map((o) => o.requestId)).size, count, 'a pair of its own for each');
    });

    test('error isolation: a connection to a closed pod port is reset with the runtime error text, the others stream on', BOUNDED, async (t) => {
      const size = 4 * MiB;
      const pod = await sizedEchoPod(t, size);
      const demo = await cluster(t, { 8080: `127.0.0.1:${pod.port}`, 7009: `127.0.0.1:${await closedPort()}` });
      const connection = await dialDemo(t, demo.cluster, protocol);
      const { forwarder, ready } = await startForwarder(t, { opener: connection, ports: ['0:8080', '0:7009'], addresses: ['127.0.0.1'] });
      const events = record(forwarder);
      const good = ready.listeners.find((l) => l.remotePort === 8080)!;
      const bad = ready.listeners.find((l) => l.remotePort === 7009)!;

      // Three connections in mid-transfer: half of each payload sent and echoed.
      const streams = await Promise.all(
        [1, 2, 3].map(async () => {
          const client = await connectLocal(t, good.port);
          const payload = randomBytes(size);
          client.write(payload.subarray(0, size / 2));
          const firstHalf = await within(readBytes(client, size / 2), 'the first half');
          return { client, payload, firstHalf };
        }),
      );

      const failedEvent = new Promise<ConnectionFailedInfo>((resolve) => forwarder.once('connectionFailed', resolve));
      const victim = await connectLocal(t, bad.port);
      const reset = (await within(nextError(victim), 'the reset of the failing connection')) as NodeJS.ErrnoException;
      assert.equal(reset.code, 'ECONNRESET');
      const failed = await within(failedEvent, 'connectionFailed');
      assert.equal(failed.remotePort, 7009);
      assert.equal(failed.error.code, ErrorCode.STREAM_RESET);
      assert.equal(failed.error.scope, 'stream');
      assert.match(failed.error.message, /error forwarding port 7009 to pod default\/demo.*connection refused/);

      // The others finish their transfer on the same connection.
      for (const { client, payload, firstHalf } of streams) {
        client.write(payload.subarray(size / 2));
        const secondHalf = await within(readRest(client), 'the rest');
        assert.equal(sha256(Buffer.concat([firstHalf, secondHalf])), sha256(payload));
        client.end();
      }
      assert.equal(events.failed.length, 1);
      assert.equal(forwarder.stats().failed, 1);
      // And new connections still work.
      const after = await connectLocal(t, good.port);
      const payload = randomBytes(size);
      after.write(payload);
      assert.equal(sha256(await within(readAll(after), 'a later echo')), sha256(payload));
    });

    test('truncation safety: when the tunnel dies mid-transfer the client sees a reset (ECONNRESET), never a clean EOF', BOUNDED, async (t) => {
      // The pod sends part of a response and keeps its connection open (no EOF): the transfer is
      // unfinished when the tunnel dies. The client reads everything that got through before the
      // drop, so that the reset reaches an empty receive queue: libuv reports a reset that arrives
      // behind unread bytes as EOF after its last partial read (POLLHUP), which would hide from
      // this client the RST the forwarder sent (spec/forwarder.md, "Truncation").
      const pod = await startPod(t, (socket) => {
        socket.write(Buffer.alloc(PARTIAL_RESPONSE_BYTES, 1));
      });
      const demo = await cluster(t, { 8080: `127.0.0.1:${pod.port}` });
      const connection = await dialDemo(t, demo.cluster, protocol);
      const { forwarder, ready } = await startForwarder(t, { opener: connection, ports: ['0:8080'], addresses: ['127.0.0.1'] });
      const failedEvent = new Promise<ConnectionFailedInfo>((resolve) => forwarder.once('connectionFailed', resolve));
      const client = await connectLocal(t, ready.listeners[0]!.port);
      let received = 0;
      let ended = false;
      client.on('end', () => (ended = true));
      const failure = nextError(client);
      await within(
        new Promise<void>((resolve) => {
          client.on('data', (chunk: Buffer) => {
            received += chunk.length;
            if (received === PARTIAL_RESPONSE_BYTES) resolve();
          });
        }),
        'the partial response',
      );
      demo.cluster.applyFault('drop');
      const error = (await within(failure, 'the client seeing the reset')) as NodeJS.ErrnoException;
      assert.equal(error.code, 'ECONNRESET');
      assert.equal(ended, false, 'no clean EOF');
      assert.equal(received, PARTIAL_RESPONSE_BYTES);
      const failed = await within(failedEvent, 'connectionFailed');
      assert.ok(
        [ErrorCode.SESSION_CLOSED, ErrorCode.TRANSPORT_CLOSED].includes(failed.error.code as 'ERR_SESSION_CLOSED'),
        `error ${failed.error.code}: ${failed.error.message}`,
      );
      assert.equal(failed.bytesFromPod, PARTIAL_RESPONSE_BYTES);
    });
  });
}

/**
 * An opener over `connection` that holds each pair back until the test calls `release()`, and
 * ignores the abort signal (as an opener may), so that what happens while a pair opens can be seen.
 */
function heldOpener(connection: PortStreamOpener): {
  opener: PortStreamOpener;
  called: Promise<OpenPortStreamsOptions>;
  delivered: Promise<PortStreams>;
  release: () => void;
} {
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  let onCalled!: (options: OpenPortStreamsOptions) => void;
  const called = new Promise<OpenPortStreamsOptions>((resolve) => (onCalled = resolve));
  let onDelivered!: (pair: PortStreams) => void;
  const delivered = new Promise<PortStreams>((resolve) => (onDelivered = resolve));
  const opener: PortStreamOpener = {
    async openPortStreams(port, options = {}) {
      onCalled(options);
      await gate;
      const pair = await connection.openPortStreams(port);
      onDelivered(pair);
      return pair;
    },
  };
  return { opener, called, delivered, release };
}

test('a client that resets while its pair opens aborts the open, ends as local-closed, and the late pair is destroyed', BOUNDED, async (t) => {
  const demo = await cluster(t, {});
  const held = heldOpener(await dialDemo(t, demo.cluster, 'spdy'));
  const { forwarder, ready } = await startForwarder(t, { opener: held.opener, ports: ['0:8080'], addresses: ['127.0.0.1'], openTimeoutMs: 1234 });
  const ended = ending(forwarder);
  const client = await connectLocal(t, ready.listeners[0]!.port);
  const options = await within(held.called, 'the open starting');
  assert.equal(options.timeoutMs, 1234);
  client.resetAndDestroy();
  const { closed } = await within(ended, 'the connection ending');
  assert.equal(closed?.reason, 'local-closed');
  assert.equal(closed?.requestId, undefined);
  assert.equal(options.signal?.aborted, true);
  assert.equal((options.signal?.reason as KubemuxError).code, ErrorCode.ABORTED);
  held.release();
  const pair = await within(held.delivered, 'the late pair');
  if (!pair.data.destroyed) await once(pair.data, 'close');
  assert.equal(forwarder.stats().openConnections, 0);
});

test('a request and its EOF sent while the pair opens wait for it, then reach the pod, whose reply arrives', BOUNDED, async (t) => {
  const pod = await startPod(t, (socket) => {
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.once('end', () => socket.end(sha256(Buffer.concat(chunks))));
  });
  const demo = await cluster(t, { 8080: `127.0.0.1:${pod.port}` });
  const held = heldOpener(await dialDemo(t, demo.cluster, 'spdy'));
  const { forwarder, ready } = await startForwarder(t, { opener: held.opener, ports: ['0:8080'], addresses: ['127.0.0.1'] });
  const ended = ending(forwarder);
  const client = await connectLocal(t, ready.listeners[0]!.port);
  await within(held.called, 'the open starting');
  const request = randomBytes(MiB);
  const reply = readAll(client);
  // More than the socket buffers hold: the rest waits in the kernel (the client's write stalls).
  const sent = writeAllAndEnd(client, request);
  held.release();
  await within(sent, 'the request leaving the client');
  assert.equal((await within(reply, 'the reply')).toString(), sha256(request));
  const { closed } = await within(ended, 'the connection ending');
  assert.equal(closed?.reason, 'done');
  assert.equal(closed?.bytesToPod, request.length);
});
