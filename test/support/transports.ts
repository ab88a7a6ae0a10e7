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

export const tcpTransport: TransportKind = {
  name: 'loopback TCP',
  async connect() {
    const listener = net.createServer();
    listener.listen(0, '127.0.0.1');
    await once(listener, 'listening');
    const { port } = listener.address() as net.AddressInfo;
    const accepted = once(listener, 'connection') as Promise<[net.Socket]>;
    const client = net.connect(port, '127.0.0.1');
    await once(client, 'connect');
    const [server] = await accepted;
    client.setNoDelay(true);
    server.setNoDelay(true);
    return {
      client,
      server,
      async close() {
        client.destroy();
        server.destroy();
        await new Promise<void>((resolve) => listener.close(() => resolve()));
      },
    };
  },
};

export const allTransports: readonly TransportKind[] = [memoryTransport, tcpTransport];
