/**
 * The "pod" every contender forwards to, run as a child process of the forward bench (forked with
 * an IPC channel): a TCP server on 127.0.0.1 whose connections say what they want in their first
 * bytes. Its own process, so that it has its own event loop and its own file-descriptor budget
 * (10,000 forwarded connections are 10,000 sockets here).
 *
 *   'E'                          echo everything (the reply ends when the request has ended)
 *   'D' u64be n                  send n bytes, then end
 *   'U' u64be n                  read n bytes, then send the count read (u64be) and end
 *   'H' sha256[32] u32be n       echo n bytes, then end; hash them on the way and count a failure
 *                                when their SHA-256 is not the one announced: the pod's half of a
 *                                check at both ends (the client checks the echo)
 *
 * Every exchange but 'E' is delimited by its length, not by the client's half-close: WebSocket v4
 * (client-node's protocol, and kubemux's v4) has no half-close, so a request that ends with a FIN
 * would never be answered through it.
 *
 * IPC: sends {@link TargetReply} `listening` once; answers `stats` and `close` requests.
 */
import { createHash, randomFillSync, type Hash } from 'node:crypto';
import net from 'node:net';

/** Requests from the bench. */
export type TargetRequest = { readonly type: 'stats' } | { readonly type: 'close' };

/** What the target counted (since it started). */
export interface TargetStats {
  readonly connections: number;
  readonly open: number;
  /** 'H' connections whose bytes hashed as announced. */
  readonly hashesMatched: number;
  /** 'H' connections whose bytes all arrived and did not hash as announced: corruption. */
  readonly hashFailures: number;
  /** 'H' connections that ended before all their bytes arrived (cut by a failure upstream). */
  readonly truncated: number;
}

/** Messages to the bench. */
export type TargetReply =
  | { readonly type: 'listening'; readonly port: number }
  | { readonly type: 'stats'; readonly stats: TargetStats }
  | { readonly type: 'closed' };

/** Bytes a download writes per write(): large writes keep the target's CPU per byte low. */
const DOWNLOAD_SLICE = 1024 * 1024;
const SOURCE = randomFillSync(Buffer.alloc(DOWNLOAD_SLICE));

const counters = { connections: 0, open: 0, hashesMatched: 0, hashFailures: 0, truncated: 0 };

/** Bytes of each command's header, the command byte included. */
const HEADER_BYTES: Readonly<Record<string, number>> = { E: 1, D: 9, U: 9, H: 37 };

function echo(socket: net.Socket, first: Buffer | undefined, hash?: { readonly hash: Hash; readonly expected: Buffer; remaining: number }): void {
  const forward = (chunk: Buffer): void => {
    if (hash !== undefined && hash.remaining > 0) {
      const part = chunk.length <= hash.remaining ? chunk : chunk.subarray(0, hash.remaining);
      hash.hash.update(part);
      hash.remaining -= part.length;
      if (hash.remaining === 0) {
        if (hash.hash.digest().equals(hash.expected)) counters.hashesMatched++;
        else counters.hashFailures++;
        socket.end(chunk);
        return;
      }
    }
    if (!socket.write(chunk)) socket.pause();
  };
  socket.on('drain', () => socket.resume());
  socket.on('data', forward);
  socket.on('end', () => {
    if (hash !== undefined && hash.remaining > 0) {
      counters.truncated++;
      hash.remaining = 0;
    }
    socket.end();
  });
  if (first !== undefined && first.length > 0) forward(first);
}

function download(socket: net.Socket, total: number): void {
  let sent = 0;
  const write = (): void => {
    while (sent < total) {
      const size = Math.min(DOWNLOAD_SLICE, total - sent);
      sent += size;
      if (!socket.write(size === DOWNLOAD_SLICE ? SOURCE : SOURCE.subarray(0, size))) {
        socket.once('drain', write);
        return;
      }
    }
    socket.end();
  };
  // Whatever else the client sends is read and dropped, so that its FIN is seen.
  socket.resume();
  socket.on('end', () => undefined);
  write();
}

function upload(socket: net.Socket, expected: number, already: number): void {
  let received = 0;
  let answered = false;
  const answer = (): void => {
    if (answered) return;
    answered = true;
    const reply = Buffer.alloc(8);
    reply.writeBigUInt64BE(BigInt(received));
    socket.end(reply);
  };
  const count = (bytes: number): void => {
    received += bytes;
    if (received >= expected) answer();
  };
  socket.on('data', (chunk: Buffer) => count(chunk.length));
  socket.on('end', answer);
  count(already);
}

function serve(socket: net.Socket): void {
  counters.connections++;
  counters.open++;
  socket.setNoDelay(true);
  socket.on('error', () => socket.destroy());
  socket.once('close', () => counters.open--);
  let head: Buffer = Buffer.alloc(0);
  const onHead = (chunk: Buffer): void => {
    head = head.length === 0 ? chunk : Buffer.concat([head, chunk]);
    const command = String.fromCharCode(head[0]!);
    const size = HEADER_BYTES[command];
    if (size === undefined) {
      socket.destroy();
      return;
    }
    if (head.length < size) return;
    socket.off('data', onHead);
    socket.off('end', onEarlyEnd);
    const rest = head.subarray(size);
    switch (command) {
      case 'E':
        echo(socket, rest);
        return;
      case 'D':
        download(socket, Number(head.readBigUInt64BE(1)));
        return;
      case 'U':
        upload(socket, Number(head.readBigUInt64BE(1)), rest.length);
        return;
      case 'H':
        echo(socket, rest, { hash: createHash('sha256'), expected: Buffer.from(head.subarray(1, 33)), remaining: head.readUInt32BE(33) });
        return;
    }
  };
  const onEarlyEnd = (): void => {
    socket.end();
  };
  socket.on('data', onHead);
  socket.on('end', onEarlyEnd);
}

function main(): void {
  const send = process.send?.bind(process);
  if (send === undefined) throw new Error('target-server: run me with fork() (an IPC channel is needed)');
  const server = net.createServer({ allowHalfOpen: true, noDelay: true }, serve);
  server.maxConnections = 1 << 30;
  server.listen({ host: '127.0.0.1', port: 0, backlog: 4096 }, () => {
    send({ type: 'listening', port: (server.address() as net.AddressInfo).port } satisfies TargetReply);
  });
  process.on('message', (request: TargetRequest) => {
    if (request.type === 'stats') send({ type: 'stats', stats: { ...counters } } satisfies TargetReply);
    else if (request.type === 'close') {
      server.close();
      send({ type: 'closed' } satisfies TargetReply, () => process.exit(0));
    }
  });
  // The bench gone: go too.
  process.on('disconnect', () => process.exit(0));
}

main();
