/**
 * Connected byte-transport pairs for running one behaviour suite over several carriers: an
 * in-memory pair and a real loopback TCP connection. Each factory returns a cleanup that closes
 * everything it opened.
 */
import { once } from 'node:events';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import { duplexPair } from './duplex-pair.js';

export interface TransportPair {
  readonly client: Duplex;
  readonly server: Duplex;
  close(): Promise<void>;
}

export interface TransportKind {
  readonly name: string;
  connect(): Promise<TransportPair>;
}

export const memoryTransport: TransportKind = {
  name: 'in-memory pair',
  async connect() {
    const [client, server] = duplexPair();
    return {
      client,
      server,
      async close() {
        client.destroy();
        server.destroy();
      },
    };
  },
};

/**
 * A loopback TCP pair. `noDelay` false keeps Nagle's algorithm (Node's default), under which small
 * frames can wait for a delayed ACK; true (the default here) is what Go (kubectl, the kubelet)
 * sets on every TCP connection. `close()` resolves once the sockets and the listener are gone
 * and libuv has released their handles, so leak checks after it see none of them.
 */
export async function connectTcp(options: { noDelay?: boolean } = {}): Promise<TransportPair> {
  const noDelay = options.noDelay ?? true;
  const listener = net.createServer();
  listener.listen(0, '127.0.0.1');
  await once(listener, 'listening');
  const { port } = listener.address() as net.AddressInfo;
  const accepted = once(listener, 'connection') as Promise<[net.Socket]>;
  const client = net.connect(port, '127.0.0.1');
  await once(client, 'connect');
  const [server] = await accepted;
  client.setNoDelay(noDelay);
  server.setNoDelay(noDelay);
  return {
    client,
    server,
    async close() {
      const closed = [client, server].filter((s) => !s.closed).map((s) => once(s, 'close'));
      client.destroy();
      server.destroy();
      await Promise.all(closed);
      await new Promise<void>((resolve) => listener.close(() => resolve()));
      // 'close' is emitted before libuv releases the handles, which happens in the close phase
      // that follows this loop turn's check phase: two turns are enough.
      await new Promise<void>((resolve) => setImmediate(resolve));
      await new Promise<void>((resolve) => setImmediate(resolve));
    },
  };
}

export const tcpTransport: TransportKind = {
  name: 'loopback TCP',
  connect: () => connectTcp(),
};

export const allTransports: readonly TransportKind[] = [memoryTransport, tcpTransport];
