/** Loopback servers for tests: a TCP echo "pod" and an HTTP server fronting a PortForwardEndpoint. */
import http from 'node:http';
import net from 'node:net';
import { PortForwardEndpoint, type PodTarget, type PortForwardEndpointOptions } from '../../src/server/portforward/endpoint.js';

export interface RunningServer {
  readonly port: number;
  close(): Promise<void>;
}

function listen(server: net.Server): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve((server.address() as net.AddressInfo).port));
  });
}

function closeServer(server: net.Server, sockets: Set<net.Socket>): Promise<void> {
  for (const socket of sockets) socket.destroy();
  return new Promise((resolve) => server.close(() => resolve()));
}

/** A TCP echo server on 127.0.0.1 (half-close aware: it ends after echoing everything). */
export async function startEchoServer(): Promise<RunningServer & { connections: number }> {
  const sockets = new Set<net.Socket>();
  const state = { connections: 0 };
  const server = net.createServer({ allowHalfOpen: true }, (socket) => {
    state.connections++;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    socket.pipe(socket);
  });
  const port = await listen(server);
  return {
    port,
    get connections() {
      return state.connections;
    },
    close: () => closeServer(server, sockets),
  };
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
 * lead to an echo server (or to `podTarget`, "host:port"), so forwarded bytes come back.
 * `close()` stops both.
 */
export async function startDemoCluster(options: { tls?: boolean; podTarget?: string; headersTimeoutMs?: number } = {}): Promise<{
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
      { ...ns, pods: (ns.pods ?? []).map((pod) => ({ ...pod, portMap: { '8080': target, '5432': target } })) },
    ]),
  );
  const cluster = await FakeCluster.start({
    config: { ...config, namespaces },
    tls: options.tls === true,
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
