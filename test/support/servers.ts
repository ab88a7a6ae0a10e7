/**
 * Loopback servers for tests: a TCP echo "pod", an HTTP server fronting a PortForwardEndpoint, the
 * demo fake cluster, and an endpoint that lets a test see whether the client let go of its sockets.
 */
import { once } from 'node:events';
import http from 'node:http';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import type { TestContext } from 'node:test';
import { PortForwardEndpoint, type PodTarget, type PortForwardEndpointOptions } from '../../src/server/portforward/endpoint.js';
import { within } from './deadlines.js';

export interface RunningServer {
  readonly port: number;
  close(): Promise<void>;
}

function listen(server: net.Server, port = 0): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve((server.address() as net.AddressInfo).port));
  });
}

function closeServer(server: net.Server, sockets: Set<net.Socket>): Promise<void> {
  for (const socket of sockets) socket.destroy();
  return new Promise((resolve) => server.close(() => resolve()));
}

/** A TCP echo server on 127.0.0.1 (half-close aware: it ends after echoing everything); on `port` when given (a port reopened). */
export async function startEchoServer(port = 0): Promise<RunningServer & { connections: number }> {
  const sockets = new Set<net.Socket>();
  const state = { connections: 0 };
  const server = net.createServer({ allowHalfOpen: true }, (socket) => {
    state.connections++;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    socket.pipe(socket);
  });
  const bound = await listen(server, port);
  return {
    port: bound,
    get connections() {
      return state.connections;
    },
    close: () => closeServer(server, sockets),
  };
}

/**
 * A pod port on 127.0.0.1 served by `onSocket` (half-open allowed), for cases the echo pod cannot
 * show; tracks its sockets and stops with the test.
 */
export async function startPod(t: TestContext, onSocket: (socket: net.Socket) => void): Promise<{ port: number; sockets: Set<net.Socket> }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer({ allowHalfOpen: true }, (socket) => {
    sockets.add(socket);
    socket.on('error', () => socket.destroy());
    socket.once('close', () => sockets.delete(socket));
    onSocket(socket);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return { port: (server.address() as net.AddressInfo).port, sockets };
}

/** A port on 127.0.0.1 where nothing listens (bound, then released). */
export async function closedPort(): Promise<number> {
  const server = net.createServer();
  const port = await listen(server);
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** A pod whose ports all go to 127.0.0.1, or to `portMap[port]`. */
export function testPod(portMap: Record<number, number> = {}): PodTarget {
  return {
    namespace: 'default',
    name: 'demo',
    uid: '6f1c2d3e-0000-4000-8000-000000000001',
    resolvePort: (port) => ({ host: '127.0.0.1', port: portMap[port] ?? port }),
  };
}

/** An HTTP server on 127.0.0.1 that hands every upgrade to a PortForwardEndpoint for `pod`. */
export async function startEndpointServer(
  pod: PodTarget,
  options: PortForwardEndpointOptions = {},
): Promise<RunningServer & { endpoint: PortForwardEndpoint; url: string }> {
  const endpoint = new PortForwardEndpoint(options);
  const sockets = new Set<net.Socket>();
  const server = http.createServer((req, res) => endpoint.handleRequest(req, res));
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  server.on('upgrade', (req, socket, head) => endpoint.handleUpgrade(req, socket, head, pod));
  const port = await listen(server);
  return {
    port,
    endpoint,
    url: `http://127.0.0.1:${port}`,
    async close() {
      await endpoint.close();
      await closeServer(server, sockets);
    },
  };
}

/**
 * The default fake cluster (pod, deployment and service `demo`) whose pod ports 8080 and 5432
 * lead to an echo server (or to `podTarget`, "host:port"), so forwarded bytes come back; `portMap`
 * maps more pod ports (or those two) to other "host:port" targets; its port-forward endpoint is
 * `endpoint` when given. `close()` stops the cluster and the echo server.
 */
export async function startDemoCluster(
  options: { tls?: boolean; podTarget?: string; portMap?: Readonly<Record<number, string>>; endpoint?: PortForwardEndpoint; headersTimeoutMs?: number } = {},
): Promise<{
  cluster: import('../../src/server/fake-cluster.js').FakeCluster;
  echo: RunningServer & { connections: number };
  close(): Promise<void>;
}> {
  const { FakeCluster } = await import('../../src/server/fake-cluster.js');
  const { defaultClusterConfig } = await import('../../src/server/cluster-config.js');
  const echo = await startEchoServer();
  const config = defaultClusterConfig();
  const target = options.podTarget ?? `127.0.0.1:${echo.port}`;
  const namespaces = Object.fromEntries(
    Object.entries(config.namespaces).map(([name, ns]) => [
      name,
      { ...ns, pods: (ns.pods ?? []).map((pod) => ({ ...pod, portMap: { '8080': target, '5432': target, ...options.portMap } })) },
    ]),
  );
  const cluster = await FakeCluster.start({
    config: { ...config, namespaces },
    tls: options.tls === true,
    ...(options.endpoint === undefined ? {} : { endpoint: options.endpoint }),
    ...(options.headersTimeoutMs === undefined ? {} : { headersTimeoutMs: options.headersTimeoutMs }),
  });
  return {
    cluster,
    echo,
    async close() {
      await cluster.close();
      await echo.close();
    },
  };
}

/**
 * Server-side sockets, each with a promise that settles when the client lets go of it: its 'end'
 * (the client's FIN) or its 'close' (a reset). Meant for servers that never close first (a
 * keep-alive refusal, a stalled runtime), where either event means the client closed it.
 */
export class SocketWatch {
  readonly closedByClient: Array<Promise<void>> = [];

  watch(socket: Duplex): void {
    this.closedByClient.push(
      new Promise<void>((resolve) => {
        socket.once('end', resolve);
        socket.once('close', resolve);
      }),
    );
  }

  /** Waits for the client to have closed every socket seen, within the usual test deadline. */
  async allClosed(what: string): Promise<void> {
    await within(Promise.all(this.closedByClient), `the client closing ${what}`);
  }
}

/** A PortForwardEndpoint (pass it to FakeCluster.start) that watches every upgrade socket it is handed. */
export class WatchingEndpoint extends PortForwardEndpoint {
  readonly sockets = new SocketWatch();
  #upgraded: Array<() => void> = [];

  override handleUpgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer, pod: PodTarget): void {
    this.sockets.watch(socket);
    super.handleUpgrade(req, socket, head, pod);
    for (const resolve of this.#upgraded.splice(0)) resolve();
  }

  /** Resolves once the next upgrade request has been handled (answered, refused or stalled). */
  nextUpgrade(): Promise<void> {
    return within(new Promise<void>((resolve) => this.#upgraded.push(resolve)), 'the next upgrade request');
  }
}
