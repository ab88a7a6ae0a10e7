/**
 * A socket tap: a loopback TCP relay in front of a server that passes every byte through
 * unchanged and records it, with its arrival time, in each direction. Tests point a real client
 * at the tap to see exactly what it sends and receives, while the server behind it stays the
 * product's own (the fake cluster). Backpressure and half-closes pass through (pipe, allowHalfOpen).
 */
import { EventEmitter } from 'node:events';
import net from 'node:net';
import { performance } from 'node:perf_hooks';

/** One chunk as it arrived, in ms since the connection was accepted. */
export interface TappedChunk {
  readonly atMs: number;
  readonly bytes: Buffer;
}

/** Events of a {@link TappedConnection}; every one is also a 'change' of its {@link SocketTap}. */
export interface TappedConnectionEvents {
  'client-data': [TappedChunk];
  'server-data': [TappedChunk];
  'client-end': [];
  close: [];
  error: [Error];
}

/** One relayed connection: what the client sent, what the server answered, and when. */
export class TappedConnection extends EventEmitter<TappedConnectionEvents> {
  /** Client-to-server chunks, in order. */
  readonly fromClient: TappedChunk[] = [];
  /** Server-to-client chunks, in order. */
  readonly fromServer: TappedChunk[] = [];
  /** When both sockets had closed, in ms since accept; undefined while open. */
  closedAtMs: number | undefined;
  readonly #startedAt = performance.now();

  /** Milliseconds since the connection was accepted. */
  now(): number {
    return performance.now() - this.#startedAt;
  }

  /** @internal */
  relay(client: net.Socket, server: net.Socket): void {
    const record = (list: TappedChunk[], event: 'client-data' | 'server-data') => (bytes: Buffer) => {
      // The pipe writes this same buffer onwards: listeners must not mutate it (copy first).
      const chunk = { atMs: this.now(), bytes };
      list.push(chunk);
      this.emit(event, chunk);
    };
    client.on('data', record(this.fromClient, 'client-data'));
    server.on('data', record(this.fromServer, 'server-data'));
    client.pipe(server);
    server.pipe(client);
    client.once('end', () => this.emit('client-end'));
    const onError = (error: Error): void => {
      this.emit('error', error);
      client.destroy();
      server.destroy();
    };
    client.on('error', onError);
    server.on('error', onError);
    let open = 2;
    const onClose = (other: net.Socket) => (): void => {
      // A reset on one side resets the other; after an orderly end (piped through as end()) the
      // other side is left to flush what it still holds.
      if (!other.writableEnded) other.destroy();
      if (--open > 0) return;
      this.closedAtMs = this.now();
      this.emit('close');
    };
    client.once('close', onClose(server));
    server.once('close', onClose(client));
  }
}

/** A listening tap. Emits 'connection' for each accepted client. */
export class SocketTap extends EventEmitter<{ connection: [TappedConnection] }> {
  /** Every connection, in accept order. */
  readonly connections: TappedConnection[] = [];
  readonly #server: net.Server;
  readonly #sockets = new Set<net.Socket>();

  private constructor(target: { readonly host: string; readonly port: number }) {
    super();
    this.#server = net.createServer({ allowHalfOpen: true }, (client) => {
      const server = net.connect({ host: target.host, port: target.port, allowHalfOpen: true });
      for (const socket of [client, server]) {
        this.#sockets.add(socket);
        socket.once('close', () => this.#sockets.delete(socket));
      }
      const connection = new TappedConnection();
      this.connections.push(connection);
      connection.relay(client, server);
      this.emit('connection', connection);
    });
  }

  /** Listens on 127.0.0.1 (a port the system picks) and relays each connection to `target`. */
  static async start(target: { readonly host: string; readonly port: number }): Promise<SocketTap> {
    const tap = new SocketTap(target);
    await new Promise<void>((resolve, reject) => {
      tap.#server.once('error', reject);
      tap.#server.listen(0, '127.0.0.1', () => {
        tap.#server.off('error', reject);
        resolve();
      });
    });
    return tap;
  }

  /** The port clients connect to. */
  get port(): number {
    return (this.#server.address() as net.AddressInfo).port;
  }

  /** Destroys every relayed connection and stops listening. */
  async close(): Promise<void> {
    for (const socket of this.#sockets) socket.destroy();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}
