/**
 * Binding: loopback by default, kubectl's failure modes, ERR_LISTEN_FAILED naming the address,
 * the port and the reason, port resolution before binding, and nothing left bound when starting
 * fails. No pair is opened here, so the opener is one that must not be used.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import net from 'node:net';
import { test, type TestContext } from 'node:test';
import { ErrorCode, KubemuxError } from '../../../src/errors.js';
import { PortForwarder, type ListenerInfo } from '../../../src/forwarder/index.js';
import type { PortStreamOpener } from '../../../src/transport/port-forward-connection.js';
import { within } from '../../support/deadlines.js';
import { canListenOnIpv6Loopback, startForwarder } from '../../support/forwarder.js';
import { nextEvent } from '../../support/streams.js';
import { closedPort } from '../../support/servers.js';

const unusedOpener: PortStreamOpener = {
  openPortStreams: () => Promise.reject(new Error('no pair should be opened')),
};

/** Occupies `host:port` (0: a free port) for the rest of the test; resolves with the port. */
async function occupy(t: TestContext, host: string, port = 0): Promise<number> {
  const server = net.createServer();
  server.listen({ host, port, ipv6Only: host.includes(':') });
  await once(server, 'listening');
  t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return (server.address() as net.AddressInfo).port;
}

/** Whether `host:port` can be bound now (and releases it). */
async function isFree(host: string, port: number): Promise<boolean> {
  const server = net.createServer();
  try {
    server.listen({ host, port });
    await once(server, 'listening');
    return true;
  } catch {
    return false;
  } finally {
    if (server.listening) await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

/** Starts a forwarder whose `ready` is expected to reject; returns the error, after checking the forwarder closed itself. */
async function failedStart(forwarder: PortForwarder): Promise<KubemuxError> {
  const closed = nextEvent(forwarder, 'close');
  const error = await within(
    forwarder.ready.then(
      () => assert.fail('ready resolved'),
      (e: unknown) => e as KubemuxError,
    ),
    'ready rejecting',
  );
  await within(closed, "'close'");
  await forwarder.close();
  assert.equal(forwarder.stats().listeners, 0);
  return error;
}

test('the default addresses bind loopback only, with a listening event per listener', async (t) => {
  const ipv6 = await canListenOnIpv6Loopback();
  const forwarder = new PortForwarder({ opener: unusedOpener, ports: ['0:80', '0:81'] });
  t.after(() => forwarder.close());
  const heard: ListenerInfo[] = [];
  forwarder.on('listening', (info) => heard.push(info));
  const ready = await within(forwarder.ready, 'ready');
  assert.deepEqual(heard, ready.listeners);
  assert.deepEqual(
    ready.listeners.map((l) => `${l.address} -> ${l.remotePort}`),
    ipv6 ? ['127.0.0.1 -> 80', '::1 -> 80', '127.0.0.1 -> 81', '::1 -> 81'] : ['127.0.0.1 -> 80', '127.0.0.1 -> 81'],
  );
  assert.deepEqual(ready.skipped, []);
  assert.equal(forwarder.stats().listeners, ready.listeners.length);
});

test('a port in use: ERR_LISTEN_FAILED naming the address, the port and the reason, without stack noise', async (t) => {
  const port = await occupy(t, '127.0.0.1');
  const error = await failedStart(new PortForwarder({ opener: unusedOpener, ports: [`${port}:80`], addresses: ['127.0.0.1'] }));
  assert.equal(error.code, ErrorCode.LISTEN_FAILED);
  assert.equal(error.scope, 'transport');
  assert.equal(error.message, `cannot listen on 127.0.0.1:${port}: address already in use (EADDRINUSE)`);
  assert.equal((error.cause as NodeJS.ErrnoException).code, 'EADDRINUSE');
});

test("localhost (mode 'all'): one of 127.0.0.1 and ::1 in use is skipped; both in use fail, naming both", async (t) => {
  if (!(await canListenOnIpv6Loopback())) {
    t.skip('::1 cannot be bound on this machine: nothing to check about the IPv6 sibling');
    return;
  }
  const port = await occupy(t, '127.0.0.1');
  const { ready } = await startForwarder(t, { opener: unusedOpener, ports: [`${port}:80`] });
  assert.deepEqual(ready.listeners, [{ address: '::1', port, remotePort: 80 }]);
  assert.equal(ready.skipped.length, 1);
  assert.equal(ready.skipped[0]!.address, '127.0.0.1');
  assert.equal(ready.skipped[0]!.port, port);
  assert.equal(ready.skipped[0]!.error.code, ErrorCode.LISTEN_FAILED);

  const both = await occupy(t, '127.0.0.1');
  await occupy(t, '::1', both);
  const error = await failedStart(new PortForwarder({ opener: unusedOpener, ports: [`${both}:80`] }));
  assert.equal(error.code, ErrorCode.LISTEN_FAILED);
  assert.equal(error.message, `cannot listen: 127.0.0.1:${both}: address already in use (EADDRINUSE); [::1]:${both}: address already in use (EADDRINUSE)`);
});

test("IP literals (mode 'any'): every one must bind", async (t) => {
  if (!(await canListenOnIpv6Loopback())) {
    t.skip('::1 cannot be bound on this machine');
    return;
  }
  const port = await occupy(t, '::1');
  const error = await failedStart(new PortForwarder({ opener: unusedOpener, ports: [`${port}:80`], addresses: ['127.0.0.1', '::1'] }));
  assert.equal(error.message, `cannot listen on [::1]:${port}: address already in use (EADDRINUSE)`);
  assert.equal(await isFree('127.0.0.1', port), true, 'the 127.0.0.1 listener of the failed port was closed');
});

test('a later spec that cannot bind closes the listeners of the earlier ones', async (t) => {
  const taken = await occupy(t, '127.0.0.1');
  const forwarder = new PortForwarder({ opener: unusedOpener, ports: ['0:80', `${taken}:81`], addresses: ['127.0.0.1'] });
  const first = nextEvent<[ListenerInfo]>(forwarder, 'listening');
  const error = await failedStart(forwarder);
  assert.equal(error.code, ErrorCode.LISTEN_FAILED);
  const [{ port }] = await first;
  assert.equal(await isFree('127.0.0.1', port), true);
});

test('resolvePort maps names and service ports before anything is bound; local ports follow kubectl', async (t) => {
  const named = await closedPort();
  const servicePort = await closedPort();
  const asked: Array<number | string> = [];
  const { ready } = await startForwarder(t, {
    opener: unusedOpener,
    addresses: ['127.0.0.1'],
    ports: ['0:http', 'web', String(servicePort), { local: 0, remote: 5432 }],
    async resolvePort(remote, signal) {
      assert.ok(signal instanceof AbortSignal);
      asked.push(remote);
      if (remote === 'http') return 8080;
      if (remote === 'web') return named;
      if (remote === servicePort) return 8080; // a service port and its target port
      return remote as number;
    },
  });
  assert.deepEqual(asked, ['http', 'web', servicePort, 5432]);
  const [http, web, service, db] = ready.listeners as [ListenerInfo, ListenerInfo, ListenerInfo, ListenerInfo];
  assert.equal(http.remotePort, 8080);
  assert.ok(http.port > 0);
  // "web" listens on the port the name stands for; a service port listens on itself.
  assert.deepEqual(web, { address: '127.0.0.1', port: named, remotePort: named });
  assert.deepEqual(service, { address: '127.0.0.1', port: servicePort, remotePort: 8080 });
  assert.equal(db.remotePort, 5432);
});

test("resolvePort's failure, or a port out of range, rejects ready with nothing bound", async () => {
  const notFound = new KubemuxError(ErrorCode.TARGET_NOT_FOUND, 'usage', 'pod demo has no port named "nope"');
  const heard: ListenerInfo[] = [];
  const failing = new PortForwarder({ opener: unusedOpener, ports: ['0:80', '0:nope'], resolvePort: async (remote) => (remote === 'nope' ? Promise.reject(notFound) : 80) });
  failing.on('listening', (info) => heard.push(info));
  assert.equal(await failedStart(failing), notFound);
  assert.deepEqual(heard, []);

  const error = await failedStart(new PortForwarder({ opener: unusedOpener, ports: ['0:http'], resolvePort: async () => 0 }));
  assert.equal(error.code, ErrorCode.INVALID_ARGUMENT);
  assert.match(error.message, /resolvePort gave 0 for port spec "0:http", outside 1\.\.65535/);
});

test('a local port given twice is a usage error before anything is bound', async () => {
  const port = await closedPort();
  const error = await failedStart(new PortForwarder({ opener: unusedOpener, ports: [`${port}:80`, { local: port, remote: 81 }], addresses: ['127.0.0.1'] }));
  assert.equal(error.code, ErrorCode.INVALID_ARGUMENT);
  assert.equal(error.message, `invalid port spec { local: ${port}, remote: 81 }: local port ${port} is already used by "${port}:80"`);
  assert.equal(await isFree('127.0.0.1', port), true);
});

test('close() while ports resolve aborts the hook, rejects ready with ERR_ABORTED, and binds nothing', async () => {
  let seen!: AbortSignal;
  let entered!: () => void;
  const inHook = new Promise<void>((resolve) => (entered = resolve));
  const forwarder = new PortForwarder({
    opener: unusedOpener,
    ports: ['0:http'],
    resolvePort: (_remote, signal) =>
      new Promise((_, reject) => {
        seen = signal;
        entered();
        signal.addEventListener('abort', () => reject(signal.reason));
      }),
  });
  await within(inHook, 'the hook being called');
  const closing = forwarder.close();
  assert.equal(seen.aborted, true);
  const error = await failedStart(forwarder);
  assert.equal(error.code, ErrorCode.ABORTED);
  assert.equal(error.name, 'AbortError');
  await within(closing, 'close()');
});
