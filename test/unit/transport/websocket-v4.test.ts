/**
 * The v4 channel transport against scripted servers, for what the FakeCluster never does: port
 * prefixes split or glued to data, wrong prefixes, text messages, unknown channels, odd close
 * codes, backpressure both ways, and what exactly the client sends on end() and destroy().
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import http from 'node:http';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import { describe, test, type TestContext } from 'node:test';
import { ErrorCode, KubemuxError } from '../../../src/errors.js';
import type { PortStreams } from '../../../src/transport/port-forward-connection.js';
import { acceptWebSocket, type WebSocketConnection } from '../../../src/transport/websocket/index.js';
import { WebSocketV4Connection } from '../../../src/transport/v4/connection.js';
import { V4_CHANNEL_SUBPROTOCOL, decodeChannelMessage, encodePortPrefix } from '../../../src/channel/index.js';
import { nextEvent, randomBytes, readAll, sha256 } from '../../support/streams.js';

const BOUNDED = { timeout: 20_000 };
const MiB = 1024 * 1024;
const PATH = '/api/v1/namespaces/default/pods/demo/portforward';

type CloseArgs = [code: number, reason: string, error?: KubemuxError];

interface ServerSide {
  readonly request: http.IncomingMessage;
  readonly connection: WebSocketConnection;
  /** Resolves with the close the server saw. */
  readonly closed: Promise<CloseArgs>;
}

interface ScriptedServer {
  readonly url: string;
  /** The next upgrade the server accepted. */
  next(): Promise<ServerSide>;
}

/** An HTTP server that accepts v4 upgrades with our own acceptWebSocket and hands each to the test; `hold` leaves upgrades unanswered. */
async function scriptedServer(t: TestContext, options: { hold?: boolean } = {}): Promise<ScriptedServer> {
  const sockets = new Set<Duplex>();
  const waiting: Array<(side: ServerSide) => void> = [];
  const ready: ServerSide[] = [];
  const server = http.createServer((_req, res) => res.writeHead(400).end());
  server.on('connection', (socket: net.Socket) => {
    sockets.add(socket);
    socket.on('error', () => socket.destroy());
    socket.once('close', () => sockets.delete(socket));
  });
  server.on('upgrade', (request: http.IncomingMessage, socket: Duplex, head: Buffer) => {
    if (options.hold === true) return;
    const result = acceptWebSocket(request, socket, head, { protocols: [V4_CHANNEL_SUBPROTOCOL] });
    if (!result.ok) return;
    const side: ServerSide = { request, connection: result.connection, closed: nextEvent<CloseArgs>(result.connection, 'close') };
    const waiter = waiting.shift();
    if (waiter !== undefined) waiter(side);
    else ready.push(side);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return {
    url: `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`,
    next: () => {
      const side = ready.shift();
      return side !== undefined ? Promise.resolve(side) : new Promise((resolve) => waiting.push(resolve));
    },
  };
}

function message(channel: number, ...parts: Array<Buffer | string | number[]>): Buffer {
  return Buffer.concat([Buffer.from([channel]), ...parts.map((part) => (typeof part === 'string' ? Buffer.from(part) : Buffer.from(part)))]);
}

/** The server's usual start: both channels' port prefixes. */
function sendPrefixes(connection: WebSocketConnection, port: number): void {
  connection.send(message(0, encodePortPrefix(port)));
  connection.send(message(1, encodePortPrefix(port)));
}

/**
 * Opens a pair. The open resolves only once the server's port prefixes have arrived on both
 * channels, so the server side starts with `start` (default: both prefixes for `port`) as soon as
 * it has accepted the upgrade.
 */
async function openPair(
  t: TestContext,
  server: ScriptedServer,
  options: { port?: number; path?: string; start?: (side: ServerSide) => void } = {},
): Promise<{ client: WebSocketV4Connection; pair: PortStreams; side: ServerSide }> {
  const port = options.port ?? 8080;
  const client = new WebSocketV4Connection({ server: server.url, path: options.path ?? PATH });
  t.after(() => client.destroy());
  const opening = client.openPortStreams(port);
  const side = await server.next();
  (options.start ?? ((accepted: ServerSide) => sendPrefixes(accepted.connection, port)))(side);
  return { client, pair: await opening, side };
}

function failure(stream: Duplex): Promise<KubemuxError> {
  return new Promise((resolve) => stream.once('error', (error) => resolve(error as KubemuxError)));
}

describe('v4 requests and port prefixes', () => {
  test('GET ?ports=P offering only v4.channel.k8s.io; a prefix split over messages or glued to data is stripped', BOUNDED, async (t) => {
    const server = await scriptedServer(t);
    const { pair, side } = await openPair(t, server, {
      path: `${PATH}?container=web`,
      start: (accepted) => {
        // 8080 = 0x1f90: low byte alone, then the high byte glued to the first data bytes.
        accepted.connection.send(message(0, [0x90]));
        accepted.connection.send(message(0, [0x1f], 'hel'));
        accepted.connection.send(message(1, [0x90, 0x1f]));
      },
    });
    assert.equal(side.request.method, 'GET');
    assert.equal(side.request.url, `${PATH}?container=web&ports=8080`);
    assert.equal(side.request.headers['sec-websocket-protocol'], V4_CHANNEL_SUBPROTOCOL);
    side.connection.send(message(0, 'lo'));
    side.connection.send(Buffer.alloc(0)); // empty messages are ignored
    side.connection.close(1000);
    assert.equal((await readAll(pair.data)).toString(), 'hello');
    assert.equal(await pair.errors, '');
  });

  test('a prefix naming another port fails the open with ERR_PROTOCOL; the server is told with 1002', BOUNDED, async (t) => {
    const server = await scriptedServer(t);
    const client = new WebSocketV4Connection({ server: server.url, path: PATH });
    t.after(() => client.destroy());
    const opening = client.openPortStreams(8080);
    const side = await server.next();
    sendPrefixes(side.connection, 8081);
    await assert.rejects(opening, (error: KubemuxError) => {
      assert.equal(error.code, ErrorCode.PROTOCOL);
      assert.match(error.message, /starts with port 8081, expected 8080/);
      return true;
    });
    assert.equal((await side.closed)[0], 1002);
    assert.equal(client.stats.pairsFailed, 1);
    assert.equal(client.stats.pairsOpened, 0);
  });

  test('a text message is ERR_PROTOCOL (close 1003); a message for channel 2 is ERR_PROTOCOL (close 1002)', BOUNDED, async (t) => {
    const server = await scriptedServer(t);
    const text = await openPair(t, server);
    const textFailed = failure(text.pair.data);
    text.side.connection.send('0hello', { binary: false });
    assert.equal((await textFailed).code, ErrorCode.PROTOCOL);
    assert.equal((await text.side.closed)[0], 1003);

    const unknown = await openPair(t, server);
    const unknownFailed = failure(unknown.pair.data);
    unknown.side.connection.send(message(2, 'x'));
    assert.equal((await unknownFailed).code, ErrorCode.PROTOCOL);
    assert.equal((await unknown.side.closed)[0], 1002);
  });
});

describe('v4 ends', () => {
  test('error text then close 1000: the data stream fails with ERR_STREAM_RESET carrying the text', BOUNDED, async (t) => {
    const server = await scriptedServer(t);
    const { client, pair, side } = await openPair(t, server);
    const failed = failure(pair.data);
    side.connection.send(message(1, 'error forwarding port 8080 to pod demo: connection refused'));
    side.connection.close(1000);
    assert.equal(await pair.errors, 'error forwarding port 8080 to pod demo: connection refused');
    const error = await failed;
    assert.equal(error.code, ErrorCode.STREAM_RESET);
    assert.equal(error.scope, 'stream');
    assert.match(error.message, /connection refused/);
    assert.equal(client.stats.pairErrors, 1);
    assert.equal(client.acceptingStreams, true);
  });

  test('a close other than 1000 is ERR_TRANSPORT_CLOSED with its code', BOUNDED, async (t) => {
    const server = await scriptedServer(t);
    const { pair, side } = await openPair(t, server);
    const failed = failure(pair.data);
    side.connection.close(1011, 'runtime gone');
    const error = await failed;
    assert.equal(error.code, ErrorCode.TRANSPORT_CLOSED);
    assert.equal(error.closeCode, 1011);
    assert.equal(await pair.errors, '');
  });

  test('end() sends nothing and keeps the WebSocket open for the reply; destroy() then closes with 1000', BOUNDED, async (t) => {
    const server = await scriptedServer(t);
    const { pair, side } = await openPair(t, server);
    const received: Buffer[] = [];
    side.connection.on('message', (data: Buffer) => {
      received.push(Buffer.from(data));
      // The reply comes after the request, as a server that answers complete requests would.
      if (data.subarray(1).toString() === 'ping?') side.connection.send(message(0, 'pong!'));
    });
    pair.data.end('ping?');
    const reply = await new Promise<Buffer>((resolve) => pair.data.once('data', resolve));
    assert.equal(reply.toString(), 'pong!');
    assert.equal(side.connection.state, 'open');
    pair.data.destroy();
    assert.equal((await side.closed)[0], 1000);
    assert.deepEqual(
      received.map((data) => decodeChannelMessage(data).payload.toString()),
      ['ping?'],
      'one message, on channel 0, and no prefix from the client',
    );
    assert.equal(received[0]![0], 0);
    assert.equal(await pair.errors, '');
  });

  test('destroy(error) closes with 1011 and the reason', BOUNDED, async (t) => {
    const server = await scriptedServer(t);
    const { pair, side } = await openPair(t, server);
    pair.data.on('error', () => {});
    pair.data.destroy(new Error('local client reset'));
    const [code, reason] = await side.closed;
    assert.equal(code, 1011);
    assert.equal(reason, 'local client reset');
  });
});

describe('v4 backpressure', () => {
  test('an unread data stream pauses the WebSocket, so the server blocks; nothing is lost', BOUNDED, async (t) => {
    const server = await scriptedServer(t);
    const { pair, side } = await openPair(t, server);
    const payload = randomBytes(16 * MiB);
    let blocked!: () => void;
    const serverBlocked = new Promise<void>((resolve) => {
      blocked = resolve;
    });
    void (async () => {
      for (let offset = 0; offset < payload.length; offset += 64 * 1024) {
        if (!side.connection.send(message(0, payload.subarray(offset, offset + 64 * 1024)))) {
          blocked();
          await nextEvent(side.connection, 'drain');
        }
      }
      side.connection.close(1000);
    })();
    await serverBlocked;
    // The client stopped reading long before the whole payload was buffered.
    assert.ok(pair.data.readableLength < 4 * MiB, `buffered ${pair.data.readableLength}`);
    assert.equal(sha256(await readAll(pair.data)), sha256(payload));
  });

  test('a server that does not read holds back the writer; everything arrives once it reads', BOUNDED, async (t) => {
    const server = await scriptedServer(t);
    const { pair, side } = await openPair(t, server);
    side.connection.pause();
    const chunks: Buffer[] = [];
    let total = 0;
    const payload = randomBytes(16 * MiB);
    const all = new Promise<void>((resolve) => {
      side.connection.on('message', (data: Buffer) => {
        const { channel, payload: bytes } = decodeChannelMessage(data);
        assert.equal(channel, 0);
        chunks.push(Buffer.from(bytes));
        total += bytes.length;
        if (total === payload.length) resolve();
      });
    });
    let offset = 0;
    while (offset < payload.length && pair.data.write(payload.subarray(offset, offset + 64 * 1024))) offset += 64 * 1024;
    assert.ok(offset < payload.length, 'write() returned false before 16 MiB were taken');
    side.connection.resume();
    for (offset += 64 * 1024; offset < payload.length; offset += 64 * 1024) {
      if (!pair.data.write(payload.subarray(offset, offset + 64 * 1024))) await once(pair.data, 'drain');
    }
    await all;
    assert.equal(sha256(Buffer.concat(chunks)), sha256(payload));
    pair.data.destroy();
  });
});

describe('v4 connection lifecycle', () => {
  test('destroy() while an upgrade is pending fails that open with ERR_SESSION_CLOSED', BOUNDED, async (t) => {
    const server = await scriptedServer(t, { hold: true });
    const client = new WebSocketV4Connection({ server: server.url, path: PATH });
    const opening = client.openPortStreams(8080);
    const rejected = assert.rejects(opening, (error: KubemuxError) => error.code === ErrorCode.SESSION_CLOSED);
    client.destroy();
    await rejected;
    assert.equal(client.stats.pairsFailed, 1);
  });

  test('close() waits for open pairs; ping uses the open WebSockets', BOUNDED, async (t) => {
    const server = await scriptedServer(t);
    const { client, pair } = await openPair(t, server);
    assert.equal(client.canPing, true);
    assert.ok((await client.ping({ timeoutMs: 5_000 })) >= 0);
    const closing = client.close();
    assert.equal(client.acceptingStreams, false);
    await assert.rejects(client.openPortStreams(8080), (error: KubemuxError) => error.code === ErrorCode.SESSION_DRAINING);
    assert.equal(client.closed, false);
    pair.data.destroy();
    await closing;
    assert.equal(client.closed, true);
    await assert.rejects(client.ping(), (error: KubemuxError) => error.code === ErrorCode.SESSION_CLOSED);
  });

  test('close() also waits for a pending open, and finishes when it fails', BOUNDED, async (t) => {
    const server = await scriptedServer(t, { hold: true });
    const client = new WebSocketV4Connection({ server: server.url, path: PATH });
    t.after(() => client.destroy());
    const opening = client.openPortStreams(8080, { timeoutMs: 200 });
    const closing = client.close();
    await assert.rejects(opening, (error: KubemuxError) => error.code === ErrorCode.STREAM_OPEN_TIMEOUT);
    await closing;
    assert.equal(client.closed, true);
  });

  test('bad options and server URLs are usage errors', () => {
    assert.throws(() => new WebSocketV4Connection({ server: 'ftp://127.0.0.1', path: PATH }), (error: KubemuxError) => error.code === ErrorCode.INVALID_ARGUMENT);
    assert.throws(() => new WebSocketV4Connection({ server: 'http://127.0.0.1', path: PATH }, { maxMessageBytes: 0 }), (error: KubemuxError) => error.code === ErrorCode.INVALID_ARGUMENT);
  });
});
