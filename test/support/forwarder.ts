/** Helpers for forwarder tests: an opener dialed to a fake cluster, a running forwarder, local clients. */
import { once } from 'node:events';
import net from 'node:net';
import type { TestContext } from 'node:test';
import { PortForwarder } from '../../src/forwarder/index.js';
import type { ForwarderReady, PortForwarderOptions } from '../../src/forwarder/index.js';
import { dialProtocol } from '../../src/transport/dial.js';
import type { PortForwardConnection, PortForwardProtocol } from '../../src/transport/port-forward-connection.js';
import { portForwardPath } from '../../src/transport/api/request-target.js';
import type { FakeCluster } from '../../src/server/fake-cluster.js';
import { within } from './deadlines.js';

/** A connection to pod `demo` of `cluster` over `protocol`, destroyed after the test. */
export async function dialDemo(t: TestContext, cluster: FakeCluster, protocol: PortForwardProtocol): Promise<PortForwardConnection> {
  const connection = await dialProtocol({ server: cluster.url, path: portForwardPath('default', 'demo') }, protocol);
  t.after(() => connection.destroy());
  return connection;
}

/** A forwarder that is ready, closed (abort) after the test. */
export async function startForwarder(t: TestContext, options: PortForwarderOptions): Promise<{ forwarder: PortForwarder; ready: ForwarderReady }> {
  const forwarder = new PortForwarder(options);
  t.after(() => forwarder.close({ mode: 'abort' }));
  const ready = await within(forwarder.ready, 'the forwarder being ready');
  return { forwarder, ready };
}

/** A local client connected to `host:port`, half-open allowed; destroyed after the test. */
export async function connectLocal(t: TestContext, port: number, host = '127.0.0.1'): Promise<net.Socket> {
  const socket = net.connect({ port, host, allowHalfOpen: true, noDelay: true });
  t.after(() => {
    socket.destroy();
  });
  await within(once(socket, 'connect'), `connecting to ${host}:${port}`);
  return socket;
}

/** Whether this machine can listen on ::1 (some containers have no IPv6 loopback). */
export async function canListenOnIpv6Loopback(): Promise<boolean> {
  const server = net.createServer();
  try {
    server.listen(0, '::1');
    await once(server, 'listening');
    return true;
  } catch {
    return false;
  } finally {
    if (server.listening) await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
