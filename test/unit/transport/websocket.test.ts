/**
 * The WebSocket transport over real loopback sockets: our own handshake (checked byte for byte on
 * the wire), WebSocketConnection (ping, close handshake and its deadline, limits, malformed
 * frames), WebSocketByteStream (the SPDY tunnel: bytes, EOF, errors, backpressure), interop with
 * the independent `ws` implementation in both roles, and a SpdySession pair over the tunnel.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import http from 'node:http';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import { describe, test, type TestContext } from 'node:test';
import fc from 'fast-check';
import { WebSocket, WebSocketServer } from 'ws';
import { ErrorCode, KubemuxError, isKubemuxError } from '../../../src/errors.js';
import { SpdySession, type SpdyStream } from '../../../src/session/index.js';
import {
  WebSocketConnection,
  acceptKeyFor,
  acceptWebSocket,
  checkUpgradeRequest,
  checkUpgradeResponse,
  clientUpgrade,
  completeWebSocketUpgrade,
  generateKey,
  isValidKey,
  type AcceptWebSocketOptions,
  type ClientMasking,
  type FailedUpgrade,
  type UpgradeConnectionOptions,
  type UpgradedWebSocket,
} from '../../../src/transport/websocket/index.js';
import { MAX_TUNNEL_MESSAGE_BYTES, WebSocketByteStream } from '../../../src/transport/tunnel/byte-stream.js';
import { PortPrefixStripper, SPDY_TUNNEL_SUBPROTOCOL, V4_CHANNEL_SUBPROTOCOL, encodeChannelMessage } from '../../../src/channel/index.js';
import { duplexPair } from '../../support/duplex-pair.js';
import { nextEvent, randomBytes, readAll, sha256 } from '../../support/streams.js';

const MiB = 1024 * 1024;
/** Every test here finishes in well under a second or two; a hang becomes a failure, not a stuck run. */
const BOUNDED = { timeout: 20_000 };
/** RFC 6455 section 1.3's example key and its accept value. */
const RFC_KEY = 'dGhlIHNhbXBsZSBub25jZQ==';
const RFC_ACCEPT = 's3pPLMBiTxaQ9kYGzzhZRbK+xOo=';

type CloseArgs = [code: number, reason: string, error?: KubemuxError];

// ---------------------------------------------------------------- loopback helpers

interface Listening {
  readonly port: number;
}

/** Starts `server` on 127.0.0.1:0 and stops it (and every socket it accepted) when the test ends. */
async function listen(t: TestContext, server: net.Server): Promise<Listening> {
  const sockets = new Set<net.Socket>();
  server.on('connection', (socket: net.Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return { port: (server.address() as net.AddressInfo).port };
}

/** A queue of values arriving from events, consumed by awaiting next(). */
class Arrivals<T> {
  readonly #items: T[] = [];
  readonly #waiters: Array<(item: T) => void> = [];
  push(item: T): void {
    const waiter = this.#waiters.shift();
    if (waiter) waiter(item);
    else this.#items.push(item);
  }
  next(): Promise<T> {
    const item = this.#items.shift();
    if (item !== undefined) return Promise.resolve(item);
    return new Promise((resolve) => this.#waiters.push(resolve));
  }
}

interface ServerSide {
  readonly port: number;
  /** Results of acceptWebSocket, one per upgrade request, with the raw socket. */
  readonly accepted: Arrivals<{ result: UpgradedWebSocket | FailedUpgrade; socket: Duplex }>;
}

/** A node:http server whose 'upgrade' handler is our acceptWebSocket. */
async function kubemuxServer(t: TestContext, options: AcceptWebSocketOptions): Promise<ServerSide> {
  const server = http.createServer((_req, res) => res.writeHead(426).end());
  const accepted = new Arrivals<{ result: UpgradedWebSocket | FailedUpgrade; socket: Duplex }>();
  server.on('upgrade', (req: http.IncomingMessage, socket: Duplex, head: Buffer) => {
    accepted.push({ result: acceptWebSocket(req, socket, head, options), socket });
  });
  const { port } = await listen(t, server);
  return { port, accepted };
}

/** Our client: http.request with our upgrade headers, completed by completeWebSocketUpgrade. */
function dial(port: number, protocols: readonly string[], options: UpgradeConnectionOptions = {}): Promise<UpgradedWebSocket | FailedUpgrade> {
  const upgrade = clientUpgrade(protocols);
  return new Promise((resolve, reject) => {
    const request = http.request({ host: '127.0.0.1', port, path: '/api/v1/namespaces/default/pods/web/portforward', headers: upgrade.headers, agent: false });
    request.once('upgrade', (response: http.IncomingMessage, socket: Duplex, head: Buffer) =>
      resolve(completeWebSocketUpgrade(response, socket, head, upgrade, options)),
    );
    request.once('response', (response: http.IncomingMessage) => {
      response.resume();
      resolve(completeWebSocketUpgrade(response, response.socket, Buffer.alloc(0), upgrade, options));
    });
    request.once('error', reject);
    request.end();
  });
}

function upgraded(result: UpgradedWebSocket | FailedUpgrade): UpgradedWebSocket {
  if (!result.ok) assert.fail(`upgrade failed: ${result.error.message}`);
  return result;
}

interface ConnectedPair {
  readonly client: WebSocketConnection;
  readonly server: WebSocketConnection;
  /** The server's raw socket. */
  readonly serverSocket: Duplex;
}

/** Two connected WebSocketConnections (our client, our server) speaking the tunnel subprotocol. */
async function connectedPair(
  t: TestContext,
  clientOptions: UpgradeConnectionOptions = {},
  serverOptions: Omit<AcceptWebSocketOptions, 'protocols'> = {},
): Promise<ConnectedPair> {
  const side = await kubemuxServer(t, { ...serverOptions, protocols: [SPDY_TUNNEL_SUBPROTOCOL] });
  const client = upgraded(await dial(side.port, [SPDY_TUNNEL_SUBPROTOCOL], clientOptions));
  const { result, socket } = await side.accepted.next();
  const server = upgraded(result);
  assert.equal(client.protocol, SPDY_TUNNEL_SUBPROTOCOL);
  assert.equal(server.protocol, SPDY_TUNNEL_SUBPROTOCOL);
  t.after(() => {
    client.connection.destroy();
    server.connection.destroy();
  });
  return { client: client.connection, server: server.connection, serverSocket: socket };
}

/** Reads from a raw socket until `predicate` holds for everything read so far. */
function readUntil(socket: net.Socket, predicate: (bytes: Buffer) => boolean): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    let bytes = Buffer.alloc(0);
    const onData = (chunk: Buffer): void => {
      bytes = Buffer.concat([bytes, chunk]);
      if (predicate(bytes)) {
        socket.off('data', onData);
        socket.off('close', onClose);
        resolve(bytes);
      }
    };
    const onClose = (): void => reject(new Error(`socket closed after ${bytes.length} bytes: ${bytes.toString('latin1')}`));
    socket.on('data', onData);
    socket.once('close', onClose);
  });
}

function headEnd(bytes: Buffer): number {
  return bytes.indexOf('\r\n\r\n');
}

/** Connects a raw TCP socket, closed when the test ends. */
async function rawConnect(t: TestContext, port: number): Promise<net.Socket> {
  const socket = net.connect(port, '127.0.0.1');
  t.after(() => socket.destroy());
  await once(socket, 'connect');
  return socket;
}

/** A raw TCP server that answers each request head with `respond(requestHead)` and keeps the socket. */
async function rawServer(t: TestContext, respond: (requestHead: string) => string | Buffer): Promise<Listening & { sockets: Arrivals<net.Socket>; requests: Arrivals<string> }> {
  const sockets = new Arrivals<net.Socket>();
  const requests = new Arrivals<string>();
  const server = net.createServer((socket) => {
    socket.on('error', () => socket.destroy());
    readUntil(socket, (bytes) => headEnd(bytes) >= 0).then(
      (bytes) => {
        const head = bytes.subarray(0, headEnd(bytes)).toString('latin1');
        requests.push(head);
        socket.write(respond(head));
        sockets.push(socket);
      },
      () => undefined,
    );
  });
  const { port } = await listen(t, server);
  return { port, sockets, requests };
}

/** The Sec-WebSocket-Key of a raw request head. */
function keyOf(requestHead: string): string {
  const match = /^sec-websocket-key: *(.+)$/im.exec(requestHead);
  assert.ok(match, `no key in ${requestHead}`);
  return (match[1] as string).trim();
}

/** A masked client frame, built by hand (RFC 6455 section 5.2), payload < 126 bytes. */
function maskedFrame(opcode: number, payload: Buffer, mask = Buffer.from([0x37, 0xfa, 0x21, 0x3d])): Buffer {
  const masked = Buffer.from(payload.map((byte, i) => byte ^ (mask[i % 4] as number)));
  return Buffer.concat([Buffer.from([0x80 | opcode, 0x80 | payload.length]), mask, masked]);
}

/** Reads exactly `length` bytes from a readable, then stops. Rejects on error or early end. */
function collect(stream: Duplex, length: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let received = 0;
    const cleanup = (): void => {
      stream.off('data', onData);
      stream.off('error', onError);
      stream.off('end', onEnd);
    };
    const onData = (chunk: Buffer): void => {
      chunks.push(chunk);
      received += chunk.length;
      if (received >= length) {
        cleanup();
        stream.pause();
        resolve(Buffer.concat(chunks));
      }
    };
    const onError = (error: Error): void => {
      cleanup();
      reject(error);
    };
    const onEnd = (): void => {
      cleanup();
      reject(new Error(`ended after ${received} of ${length} bytes`));
    };
    stream.on('data', onData);
    stream.once('error', onError);
    stream.once('end', onEnd);
  });
}

/** Chunk sizes mixing 1-byte writes with large ones: the tunnel must not care about boundaries. */
function* mixedSizes(total: number): Generator<number> {
  const pattern = [1, 1, 1, 3, 200_000, 1, 65_536, 2, 1 * MiB, 1, 7, 131_072];
  let offset = 0;
  let i = 0;
  // The first 16 KiB go out one byte per message.
  for (; offset < Math.min(16 * 1024, total); offset++) yield 1;
  while (offset < total) {
    const size = Math.min(pattern[i++ % pattern.length] as number, total - offset);
    offset += size;
    yield size;
  }
}

/** Writes `data` in mixed chunk sizes honouring backpressure (does not end the stream). */
async function writeMixed(stream: Duplex, data: Buffer): Promise<number> {
  let writes = 0;
  let offset = 0;
  for (const size of mixedSizes(data.length)) {
    writes++;
    const ok = stream.write(data.subarray(offset, offset + size));
    offset += size;
    if (!ok) await once(stream, 'drain');
  }
  return writes;
}

/** A byte stream over `connection`, destroyed (its late errors ignored) when the test ends. */
function byteStream(t: TestContext, connection: WebSocketConnection): WebSocketByteStream {
  const stream = new WebSocketByteStream(connection);
  t.after(() => {
    stream.on('error', () => undefined);
    stream.destroy();
  });
  return stream;
}

function expectKubemuxError(error: unknown, code: string): KubemuxError {
  assert.ok(isKubemuxError(error), `expected a KubemuxError, got ${String(error)}`);
  assert.equal(error.code, code, error.message);
  return error;
}

// ---------------------------------------------------------------- handshake

describe('handshake', () => {
  test('accept key of RFC 6455 section 1.3; generated keys are 16 bytes of base64', BOUNDED, () => {
    assert.equal(acceptKeyFor(RFC_KEY), RFC_ACCEPT);
    const key = generateKey();
    assert.ok(isValidKey(key));
    assert.equal(Buffer.from(key, 'base64').length, 16);
    assert.notEqual(generateKey(), key);
    assert.equal(isValidKey('c2hvcnQ='), false);
  });

  test('server side: bad requests are typed refusals, never exceptions', BOUNDED, () => {
    const good = {
      method: 'GET',
      httpVersion: '1.1',
      headers: { upgrade: 'websocket', connection: 'keep-alive, Upgrade', 'sec-websocket-version': '13', 'sec-websocket-key': RFC_KEY },
    };
    const ok = checkUpgradeRequest({ ...good, headers: { ...good.headers, 'sec-websocket-protocol': `${SPDY_TUNNEL_SUBPROTOCOL}, ${V4_CHANNEL_SUBPROTOCOL}` } });
    assert.deepEqual(ok, { ok: true, key: RFC_KEY, protocols: [SPDY_TUNNEL_SUBPROTOCOL, V4_CHANNEL_SUBPROTOCOL] });
    const cases: Array<[string, object, number]> = [
      ['POST', { method: 'POST' }, 405],
      ['HTTP/1.0', { httpVersion: '1.0' }, 400],
      ['no Upgrade', { headers: { ...good.headers, upgrade: 'SPDY/3.1' } }, 400],
      ['no Connection upgrade', { headers: { ...good.headers, connection: 'keep-alive' } }, 400],
      ['version 8', { headers: { ...good.headers, 'sec-websocket-version': '8' } }, 426],
      ['short key', { headers: { ...good.headers, 'sec-websocket-key': 'c2hvcnQ=' } }, 400],
      ['bad protocol list', { headers: { ...good.headers, 'sec-websocket-protocol': 'a b' } }, 400],
    ];
    for (const [name, change, status] of cases) {
      const result = checkUpgradeRequest({ ...good, ...change });
      assert.equal(result.ok, false, name);
      if (!result.ok) assert.equal(result.status, status, name);
    }
    const v8 = checkUpgradeRequest({ ...good, headers: { ...good.headers, 'sec-websocket-version': '8' } });
    assert.ok(!v8.ok && v8.headers['Sec-WebSocket-Version'] === '13');
  });

  test('client side: every broken 101 is ERR_UPGRADE_INVALID, a non-101 ERR_UPGRADE_REFUSED with its status', BOUNDED, () => {
    const upgrade = { key: RFC_KEY, protocols: [SPDY_TUNNEL_SUBPROTOCOL] };
    const good = { upgrade: 'websocket', connection: 'Upgrade', 'sec-websocket-accept': RFC_ACCEPT, 'sec-websocket-protocol': SPDY_TUNNEL_SUBPROTOCOL };
    assert.deepEqual(checkUpgradeResponse({ statusCode: 101, headers: good }, upgrade), { ok: true, protocol: SPDY_TUNNEL_SUBPROTOCOL });
    const broken: Array<[string, object]> = [
      ['Upgrade', { upgrade: 'h2c' }],
      ['Connection', { connection: 'keep-alive' }],
      ['accept', { 'sec-websocket-accept': acceptKeyFor(generateKey()) }],
      ['no protocol', { 'sec-websocket-protocol': undefined }],
      ['other protocol', { 'sec-websocket-protocol': V4_CHANNEL_SUBPROTOCOL }],
      ['two protocols', { 'sec-websocket-protocol': `${SPDY_TUNNEL_SUBPROTOCOL}, ${SPDY_TUNNEL_SUBPROTOCOL}` }],
      ['extension', { 'sec-websocket-extensions': 'permessage-deflate' }],
    ];
    for (const [name, change] of broken) {
      const result = checkUpgradeResponse({ statusCode: 101, headers: { ...good, ...change } }, upgrade);
      assert.equal(result.ok, false, name);
      if (!result.ok) expectKubemuxError(result.error, ErrorCode.UPGRADE_INVALID);
    }
    const refused = checkUpgradeResponse({ statusCode: 403, statusMessage: 'Forbidden', headers: {} }, upgrade);
    assert.ok(!refused.ok);
    assert.equal(expectKubemuxError(refused.error, ErrorCode.UPGRADE_REFUSED).httpStatus, 403);
  });

  test('the 101 for the tunnel subprotocol, byte for byte, then frames both ways', BOUNDED, async (t) => {
    const side = await kubemuxServer(t, { protocols: [SPDY_TUNNEL_SUBPROTOCOL] });
    const socket = await rawConnect(t, side.port);
    socket.write(
      'GET /api/v1/namespaces/default/pods/web/portforward HTTP/1.1\r\n' +
        `Host: 127.0.0.1:${side.port}\r\n` +
        'Connection: Upgrade\r\n' +
        'Upgrade: websocket\r\n' +
        'Sec-WebSocket-Version: 13\r\n' +
        `Sec-WebSocket-Key: ${RFC_KEY}\r\n` +
        `Sec-WebSocket-Protocol: ${SPDY_TUNNEL_SUBPROTOCOL}\r\n` +
        '\r\n',
    );
    const response = await readUntil(socket, (bytes) => headEnd(bytes) >= 0);
    assert.equal(
      response.toString('latin1'),
      'HTTP/1.1 101 Switching Protocols\r\n' +
        'Upgrade: websocket\r\n' +
        'Connection: Upgrade\r\n' +
        `Sec-WebSocket-Accept: ${RFC_ACCEPT}\r\n` +
        'Sec-WebSocket-Protocol: SPDY/3.1+portforward.k8s.io\r\n' +
        '\r\n',
    );
    const server = upgraded((await side.accepted.next()).result).connection;
    t.after(() => server.destroy());

    const message = nextEvent<[Buffer, boolean]>(server, 'message');
    socket.write(maskedFrame(0x2, Buffer.from('abc')));
    const [data, isBinary] = await message;
    assert.equal(data.toString(), 'abc');
    assert.equal(isBinary, true);

    // Server frames are unmasked: FIN|binary, length 3, payload.
    const reply = readUntil(socket, (bytes) => bytes.length >= 5);
    server.send(Buffer.from('xyz'));
    assert.equal((await reply).toString('hex'), '8203' + Buffer.from('xyz').toString('hex'));
  });

  test('our client request on the wire, and its frames are masked', BOUNDED, async (t) => {
    const raw = await rawServer(t, (head) =>
      [
        'HTTP/1.1 101 Switching Protocols',
        'Upgrade: websocket',
        'Connection: Upgrade',
        `Sec-WebSocket-Accept: ${acceptKeyFor(keyOf(head))}`,
        `Sec-WebSocket-Protocol: ${SPDY_TUNNEL_SUBPROTOCOL}`,
        '',
        '',
      ].join('\r\n'),
    );
    const client = upgraded(await dial(raw.port, [SPDY_TUNNEL_SUBPROTOCOL]));
    t.after(() => client.connection.destroy());
    const head = await raw.requests.next();
    assert.match(head, /^GET \/api\/v1\/namespaces\/default\/pods\/web\/portforward HTTP\/1\.1\r\n/);
    assert.match(head, /\r\nConnection: Upgrade\r\n/);
    assert.match(head, /\r\nUpgrade: websocket\r\n/);
    assert.match(head, /\r\nSec-WebSocket-Version: 13\r\n/);
    assert.match(head, /\r\nSec-WebSocket-Protocol: SPDY\/3\.1\+portforward\.k8s\.io\r\n/);
    assert.ok(isValidKey(keyOf(head)));
    assert.doesNotMatch(head, /Sec-WebSocket-Extensions/i);

    const socket = await raw.sockets.next();
    const frame = readUntil(socket, (bytes) => bytes.length >= 2 + 4 + 5);
    client.connection.send(Buffer.from('hello'));
    const bytes = await frame;
    assert.equal(bytes[0], 0x82, 'FIN + binary');
    assert.equal(bytes[1], 0x80 | 5, 'MASK bit + length 5');
    const mask = bytes.subarray(2, 6);
    const payload = Buffer.from(bytes.subarray(6, 11).map((b, i) => b ^ (mask[i % 4] as number)));
    assert.equal(payload.toString(), 'hello');
  });

  test('bytes after the 101 in the same packet are parsed (the head of the upgrade event)', BOUNDED, async (t) => {
    const raw = await rawServer(t, (head) =>
      Buffer.concat([
        Buffer.from(
          `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${acceptKeyFor(keyOf(head))}\r\nSec-WebSocket-Protocol: ${SPDY_TUNNEL_SUBPROTOCOL}\r\n\r\n`,
        ),
        Buffer.from([0x82, 0x02, 0x68, 0x69]),
      ]),
    );
    const upgrade = clientUpgrade([SPDY_TUNNEL_SUBPROTOCOL]);
    const { connection, message } = await new Promise<{ connection: WebSocketConnection; message: Promise<[Buffer, boolean]> }>((resolve, reject) => {
      const request = http.request({ host: '127.0.0.1', port: raw.port, headers: upgrade.headers, agent: false });
      request.once('upgrade', (response: http.IncomingMessage, socket: Duplex, head: Buffer) => {
        assert.equal(head.toString('hex'), '82026869', 'the frame came with the head');
        const result = upgraded(completeWebSocketUpgrade(response, socket, head, upgrade));
        // Attached in the same tick as the constructor: the head must not be parsed before this.
        resolve({ connection: result.connection, message: nextEvent<[Buffer, boolean]>(result.connection, 'message') });
      });
      request.once('error', reject);
      request.end();
    });
    t.after(() => connection.destroy());
    const [data] = await message;
    assert.equal(data.toString(), 'hi');
  });

  test('a wrong accept key fails with ERR_UPGRADE_INVALID and the socket is closed', BOUNDED, async (t) => {
    const raw = await rawServer(t, () =>
      `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${RFC_ACCEPT}\r\nSec-WebSocket-Protocol: ${SPDY_TUNNEL_SUBPROTOCOL}\r\n\r\n`,
    );
    const result = await dial(raw.port, [SPDY_TUNNEL_SUBPROTOCOL]);
    assert.ok(!result.ok);
    expectKubemuxError(result.error, ErrorCode.UPGRADE_INVALID);
    assert.match(result.error.message, /Sec-WebSocket-Accept/);
    const socket = await raw.sockets.next();
    if (!socket.destroyed) await once(socket, 'close');
  });

  test('a subprotocol we did not offer fails with ERR_UPGRADE_INVALID', BOUNDED, async (t) => {
    const raw = await rawServer(t, (head) =>
      `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${acceptKeyFor(keyOf(head))}\r\nSec-WebSocket-Protocol: v5.channel.k8s.io\r\n\r\n`,
    );
    const result = await dial(raw.port, [SPDY_TUNNEL_SUBPROTOCOL]);
    assert.ok(!result.ok);
    expectKubemuxError(result.error, ErrorCode.UPGRADE_INVALID);
    assert.match(result.error.message, /v5\.channel\.k8s\.io.*not offered/);
  });

  test('a non-101 answer is ERR_UPGRADE_REFUSED with the status (the fallback signal)', BOUNDED, async (t) => {
    const raw = await rawServer(t, () => 'HTTP/1.1 403 Forbidden\r\nContent-Length: 9\r\nConnection: close\r\n\r\nforbidden');
    const result = await dial(raw.port, [SPDY_TUNNEL_SUBPROTOCOL]);
    assert.ok(!result.ok);
    assert.equal(expectKubemuxError(result.error, ErrorCode.UPGRADE_REFUSED).httpStatus, 403);
  });

  test('our server refuses a client that offers no protocol it speaks (400), both sides typed', BOUNDED, async (t) => {
    const side = await kubemuxServer(t, { protocols: [SPDY_TUNNEL_SUBPROTOCOL] });
    const result = await dial(side.port, ['v5.channel.k8s.io']);
    assert.ok(!result.ok);
    assert.equal(expectKubemuxError(result.error, ErrorCode.UPGRADE_REFUSED).httpStatus, 400);
    const { result: serverResult } = await side.accepted.next();
    assert.ok(!serverResult.ok);
    assert.equal(expectKubemuxError(serverResult.error, ErrorCode.UPGRADE_REFUSED).httpStatus, 400);
  });
});

// ---------------------------------------------------------------- connection

describe('WebSocketConnection', () => {
  test('messages both ways, text and binary, and a list sent as one message', BOUNDED, async (t) => {
    const { client, server } = await connectedPair(t);
    const atServer = nextEvent<[Buffer, boolean]>(server, 'message');
    assert.equal(client.send('text'), true);
    const [text, textIsBinary] = await atServer;
    assert.equal(text.toString(), 'text');
    assert.equal(textIsBinary, false);

    const parts = [Buffer.from([7]), Buffer.from('payload')];
    const before = Buffer.concat(parts).toString('hex');
    const atClient = nextEvent<[Buffer, boolean]>(client, 'message');
    server.send(parts);
    const [joined, isBinary] = await atClient;
    assert.equal(joined.toString('hex'), before);
    assert.equal(isBinary, true);

    // The client masks a copy: the caller's buffers stay as they were.
    const mine = Buffer.from('unchanged');
    const atServerAgain = new Arrivals<Buffer>();
    server.on('message', (data) => atServerAgain.push(data));
    client.send(mine);
    client.send([mine, mine]);
    assert.equal((await atServerAgain.next()).toString(), 'unchanged');
    assert.equal((await atServerAgain.next()).toString(), 'unchangedunchanged');
    assert.equal(mine.toString(), 'unchanged');
  });

  test('ping is answered by an automatic pong carrying the same data, in both roles', BOUNDED, async (t) => {
    const { client, server } = await connectedPair(t);
    const serverSawPing = nextEvent<[Buffer]>(server, 'ping');
    const pong = nextEvent<[Buffer]>(client, 'pong');
    client.ping(Buffer.from('are you there'));
    assert.equal((await serverSawPing)[0].toString(), 'are you there');
    assert.equal((await pong)[0].toString(), 'are you there');
    const serverPong = nextEvent<[Buffer]>(server, 'pong');
    server.ping(Buffer.from([1, 2, 3]));
    assert.equal((await serverPong)[0].toString('hex'), '010203');
    assert.throws(() => client.ping(Buffer.alloc(126)), (err: unknown) => isKubemuxError(err, ErrorCode.INVALID_ARGUMENT));
  });

  test('close handshake: code and reason reach the peer, both sides close without error', BOUNDED, async (t) => {
    const { client, server } = await connectedPair(t);
    const serverClosed = nextEvent<CloseArgs>(server, 'close');
    const clientClosed = nextEvent<CloseArgs>(client, 'close');
    client.close(4000, 'bye');
    assert.equal(client.state, 'closing');
    const [serverCode, serverReason, serverError] = await serverClosed;
    assert.deepEqual([serverCode, serverReason, serverError], [4000, 'bye', undefined]);
    const [clientCode, , clientError] = await clientClosed;
    assert.equal(clientCode, 4000, 'the server echoes the status');
    assert.equal(clientError, undefined);
    assert.equal(client.state, 'closed');
    // Sending after close fails through the callback.
    const error = await new Promise<KubemuxError | undefined>((resolve) => assert.equal(client.send(Buffer.from('late'), {}, resolve), false));
    expectKubemuxError(error, ErrorCode.TRANSPORT_CLOSED);
    assert.throws(() => client.close(1005), (err: unknown) => isKubemuxError(err, ErrorCode.INVALID_ARGUMENT));
  });

  test('a peer that never answers close: the deadline destroys the socket, typed error', BOUNDED, async (t) => {
    const raw = await rawServer(t, (head) =>
      `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${acceptKeyFor(keyOf(head))}\r\nSec-WebSocket-Protocol: ${SPDY_TUNNEL_SUBPROTOCOL}\r\n\r\n`,
    );
    const client = upgraded(await dial(raw.port, [SPDY_TUNNEL_SUBPROTOCOL], { closeTimeoutMs: 100 })).connection;
    const socket = await raw.sockets.next();
    const closeFrame = readUntil(socket, (bytes) => bytes.length >= 2 + 4 + 2);
    const closed = nextEvent<CloseArgs>(client, 'close');
    client.close(1000);
    const frame = await closeFrame;
    assert.equal(frame[0], 0x88, 'a close frame went out');
    const [code, , error] = await closed;
    assert.equal(code, 1006);
    assert.equal(expectKubemuxError(error, ErrorCode.TRANSPORT_CLOSED).closeCode, 1006);
    assert.match(error?.message ?? '', /within 100 ms/);
  });

  test('a message over maxPayloadBytes closes with 1009 (ERR_FRAME_TOO_LARGE at the receiver)', BOUNDED, async (t) => {
    const { client, server } = await connectedPair(t, {}, { maxPayloadBytes: 1024 });
    const serverClosed = nextEvent<CloseArgs>(server, 'close');
    const clientClosed = nextEvent<CloseArgs>(client, 'close');
    client.send(Buffer.alloc(1024));
    client.send(Buffer.alloc(1025));
    const [, , serverError] = await serverClosed;
    assert.equal(expectKubemuxError(serverError, ErrorCode.FRAME_TOO_LARGE).closeCode, 1009);
    const [clientCode, , clientError] = await clientClosed;
    assert.equal(clientCode, 1009, 'the client was told why');
    assert.equal(clientError, undefined);
  });

  test('an unmasked client frame is a protocol error: close 1002 on the wire, ERR_PROTOCOL locally', BOUNDED, async (t) => {
    const side = await kubemuxServer(t, { protocols: [SPDY_TUNNEL_SUBPROTOCOL] });
    const socket = await rawConnect(t, side.port);
    socket.write(
      `GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: ${RFC_KEY}\r\nSec-WebSocket-Protocol: ${SPDY_TUNNEL_SUBPROTOCOL}\r\n\r\n`,
    );
    const head = await readUntil(socket, (bytes) => headEnd(bytes) >= 0);
    const server = upgraded((await side.accepted.next()).result).connection;
    const closed = nextEvent<CloseArgs>(server, 'close');
    const after = readUntil(socket, (bytes) => bytes.length >= 4);
    socket.write(Buffer.from([0x82, 0x01, 0x41]));
    const reply = (await after).subarray(0, 4);
    assert.equal(head.length, headEnd(head) + 4, 'nothing followed the 101 before our frame');
    assert.equal(reply.toString('hex'), '880203ea', 'close frame, status 1002');
    socket.end();
    const [, , error] = await closed;
    assert.equal(expectKubemuxError(error, ErrorCode.PROTOCOL).closeCode, 1002);
  });

  test('property: arbitrary bytes from a peer end in a typed close, never an exception', BOUNDED, async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.uint8Array({ minLength: 1, maxLength: 40 }), { minLength: 1, maxLength: 6 }), fc.boolean(), async (chunks, asServer) => {
        const [local, remote] = duplexPair();
        remote.on('data', () => undefined);
        remote.on('error', () => undefined);
        const connection = new WebSocketConnection(local, { role: asServer ? 'server' : 'client', closeTimeoutMs: 1000 });
        const closed = nextEvent<CloseArgs>(connection, 'close');
        for (const chunk of chunks) remote.write(chunk);
        remote.end();
        const [code, , error] = await closed;
        assert.ok(Number.isInteger(code) && code >= 1000 && code <= 4999);
        if (error !== undefined) assert.ok(error instanceof KubemuxError && error.scope === 'transport', String(error));
        remote.destroy();
      }),
      { numRuns: 150 },
    );
  });

  test('option validation', BOUNDED, () => {
    const [local] = duplexPair();
    assertUsageError(() => new WebSocketConnection(local, { role: 'peer' as 'client' }));
    assertUsageError(() => new WebSocketConnection(local, { role: 'client', maxPayloadBytes: 0 }));
    assertUsageError(() => new WebSocketConnection(local, { role: 'client', closeTimeoutMs: -1 }));
    assertUsageError(() => new WebSocketConnection(local, { role: 'client', clientMasking: 'none' as ClientMasking }));
    local.destroy();
  });
});

function assertUsageError(fn: () => unknown): void {
  assert.throws(fn, (err: unknown) => isKubemuxError(err, ErrorCode.INVALID_ARGUMENT));
}

// ---------------------------------------------------------------- byte stream

describe('WebSocketByteStream', () => {
  test('8 MiB each way, 1-byte and large messages mixed, hash-checked; close 1000 is a clean end on both sides', BOUNDED, async (t) => {
    const pair = await connectedPair(t);
    const client = byteStream(t, pair.client);
    const server = byteStream(t, pair.server);
    const up = randomBytes(8 * MiB);
    const down = randomBytes(8 * MiB);
    const messagesAtServer = { count: 0 };
    pair.server.on('message', () => messagesAtServer.count++);
    const [atServer, atClient, writesUp] = await Promise.all([collect(server, up.length), collect(client, down.length), writeMixed(client, up), writeMixed(server, down)]);
    assert.equal(sha256(atServer), sha256(up));
    assert.equal(sha256(atClient), sha256(down));
    assert.equal(messagesAtServer.count, writesUp, 'one message per write');
    assert.ok(writesUp > 16 * 1024);

    const clientEnded = once(client, 'end');
    const serverEnded = once(server, 'end');
    client.resume();
    server.resume();
    client.end();
    await Promise.all([clientEnded, serverEnded]);
    assert.equal(client.errored, null);
    assert.equal(server.errored, null);
    assert.equal(pair.client.state, 'closed');
  });

  test('a peer closing with 1000 after sending is EOF after the last byte', BOUNDED, async (t) => {
    const pair = await connectedPair(t);
    const client = byteStream(t, pair.client);
    const data = randomBytes(MiB + 3);
    const received = readAll(client);
    pair.server.send(data.subarray(0, 1));
    pair.server.send(data.subarray(1));
    pair.server.close(1000);
    assert.equal(sha256(await received), sha256(data));
  });

  test('a text message is ERR_PROTOCOL, and the peer is told with 1003', BOUNDED, async (t) => {
    const pair = await connectedPair(t);
    const client = byteStream(t, pair.client);
    const failed = once(client, 'error');
    const peerClosed = nextEvent<CloseArgs>(pair.server, 'close');
    pair.server.send('not SPDY');
    const [error] = (await failed) as [unknown];
    expectKubemuxError(error, ErrorCode.PROTOCOL);
    const [code, reason] = await peerClosed;
    assert.equal(code, 1003);
    assert.match(reason, /text message/);
  });

  test('a close code other than 1000 is ERR_TRANSPORT_CLOSED carrying the code', BOUNDED, async (t) => {
    const pair = await connectedPair(t);
    const client = byteStream(t, pair.client);
    const failed = once(client, 'error');
    pair.server.close(1011, 'kubelet went away');
    const [error] = (await failed) as [unknown];
    const typed = expectKubemuxError(error, ErrorCode.TRANSPORT_CLOSED);
    assert.equal(typed.closeCode, 1011);
    assert.match(typed.message, /1011 \(kubelet went away\)/);
  });

  test('an abrupt socket destroy is ERR_TRANSPORT_CLOSED with 1006', BOUNDED, async (t) => {
    const pair = await connectedPair(t);
    const client = byteStream(t, pair.client);
    client.resume();
    const failed = once(client, 'error');
    pair.serverSocket.destroy();
    const [error] = (await failed) as [unknown];
    assert.equal(expectKubemuxError(error, ErrorCode.TRANSPORT_CLOSED).closeCode, 1006);
    // Writes after that fail, they do not hang.
    const writeError = await new Promise<Error | null | undefined>((resolve) => client.write(Buffer.from('x'), resolve));
    assert.ok(writeError instanceof Error);
  });

  test('backpressure: an unread stream pauses the socket, the sender blocks, nothing is lost', BOUNDED, async (t) => {
    const pair = await connectedPair(t);
    const client = byteStream(t, pair.client);
    const server = byteStream(t, pair.server);
    const data = randomBytes(32 * MiB);
    // The client stops reading its socket once its byte stream holds more than its mark; the
    // server's socket then stops taking data. Wait for the moment both hold at once.
    let bothStopped!: () => void;
    const blocked = new Promise<void>((resolve) => (bothStopped = resolve));
    let serverWaiting = false;
    const check = (): void => {
      if (serverWaiting && pair.client.isPaused) bothStopped();
    };
    const send = pair.server.send.bind(pair.server);
    pair.server.send = (...args: Parameters<WebSocketConnection['send']>): boolean => {
      const writable = send(...args);
      if (!writable) serverWaiting = true;
      check();
      return writable;
    };
    pair.server.on('drain', () => (serverWaiting = false));
    pair.client.on('message', check); // after the byte stream's own listener, which pauses
    let written = 0;
    const writing = (async () => {
      for (; written < data.length; written += 64 * 1024) {
        if (!server.write(data.subarray(written, written + 64 * 1024))) await once(server, 'drain');
      }
    })();
    await blocked;
    assert.ok(written < data.length, 'the writer is held back');
    // Bounded: the stream's 64 KiB mark, plus at most one socket chunk parsed after the pause.
    assert.ok(client.readableLength < 512 * 1024, `client buffered ${client.readableLength} bytes`);
    const received = await collect(client, data.length);
    await writing;
    assert.equal(sha256(received), sha256(data));
  });

  test('writes gathered into one writev become messages of at most 1 MiB: a 20 MiB burst is not refused with 1009', BOUNDED, async (t) => {
    // The server's default limit is 16 MiB a message: one message per writev would break it.
    const pair = await connectedPair(t);
    const client = byteStream(t, pair.client);
    const server = byteStream(t, pair.server);
    const sizes: number[] = [];
    pair.server.on('message', (data: Buffer) => sizes.push(data.length));
    const data = randomBytes(20 * MiB);
    const arrived = collect(server, data.length);
    client.cork();
    for (let offset = 0; offset < data.length; offset += 64 * 1024) client.write(data.subarray(offset, offset + 64 * 1024));
    client.uncork();
    assert.equal(sha256(await arrived), sha256(data));
    assert.ok(sizes.length >= 20, `${sizes.length} messages`);
    assert.ok(Math.max(...sizes) <= MAX_TUNNEL_MESSAGE_BYTES, `largest message ${Math.max(...sizes)} bytes`);
    assert.equal(pair.server.state, 'open');
  });

  test('a SpdySession pair runs over the tunnel: 4 MiB each way on one stream, hash-checked', BOUNDED, async (t) => {
    const pair = await connectedPair(t);
    const client = new SpdySession(byteStream(t, pair.client), { role: 'client' });
    const server = new SpdySession(byteStream(t, pair.server), { role: 'server' });
    t.after(() => {
      client.destroy();
      server.destroy();
    });
    const accepted = new Promise<SpdyStream>((resolve) =>
      server.on('stream', (stream) => {
        stream.accept();
        resolve(stream);
      }),
    );
    const [local, remote] = await Promise.all([client.openStream({ streamtype: 'data', port: '8080', requestid: '0' }), accepted]);
    assert.equal(remote.header('port'), '8080');
    const up = randomBytes(4 * MiB);
    const down = randomBytes(4 * MiB);
    const [atServer, atClient] = await Promise.all([readAll(remote), readAll(local), writeMixedAndEnd(local, up), writeMixedAndEnd(remote, down)]);
    assert.equal(sha256(atServer), sha256(up));
    assert.equal(sha256(atClient), sha256(down));
    assert.ok((await client.ping()) >= 0, 'SPDY PING through the tunnel');
    const serverClosed = nextEvent<[KubemuxError | undefined]>(server, 'close');
    await client.close();
    const [serverError] = await serverClosed;
    assert.equal(client.closeError, undefined);
    assert.equal(serverError, undefined, serverError?.message);
  });
});

async function writeMixedAndEnd(stream: Duplex, data: Buffer): Promise<void> {
  await writeMixed(stream, data);
  await new Promise<void>((resolve) => stream.end(resolve));
}

// ---------------------------------------------------------------- interop with ws

describe('interop with the ws library', () => {
  test('ws (8.x) itself refuses the tunnelling subprotocol, which is why we do the handshake', BOUNDED, () => {
    assert.throws(() => new WebSocket('ws://127.0.0.1:1/', SPDY_TUNNEL_SUBPROTOCOL), SyntaxError);
  });

  test('a ws server refuses it too (400), which our client reports as ERR_UPGRADE_REFUSED', BOUNDED, async (t) => {
    const httpServer = http.createServer();
    const wss = new WebSocketServer({ server: httpServer });
    t.after(() => wss.close());
    const { port } = await listen(t, httpServer);
    const result = await dial(port, [SPDY_TUNNEL_SUBPROTOCOL]);
    assert.ok(!result.ok);
    assert.equal(expectKubemuxError(result.error, ErrorCode.UPGRADE_REFUSED).httpStatus, 400);
  });

  for (const masking of ['random', 'zero'] as const) {
    test(`our client (${masking} masks) against a ws server speaking v4.channel.k8s.io`, BOUNDED, async (t) => {
      const httpServer = http.createServer();
      const wss = new WebSocketServer({
        server: httpServer,
        handleProtocols: (protocols) => (protocols.has(V4_CHANNEL_SUBPROTOCOL) ? V4_CHANNEL_SUBPROTOCOL : false),
      });
      t.after(() => wss.close());
      const serverClosed = new Arrivals<[number, string]>();
      const serverPongs = new Arrivals<Buffer>();
      wss.on('connection', (socket) => {
        // As the kubelet: the port prefix first on both channels (here split 1 + 1 on the data channel).
        socket.send(Buffer.from([0, 0x90]));
        socket.send(Buffer.from([0, 0x1f]));
        socket.send(Buffer.from([1, 0x90, 0x1f]));
        socket.on('message', (data: Buffer) => socket.send(data)); // echo, channel byte included
        socket.on('pong', (data: Buffer) => serverPongs.push(data));
        socket.on('close', (code: number, reason: Buffer) => serverClosed.push([code, reason.toString()]));
        socket.ping(Buffer.from('from ws'));
      });
      const { port } = await listen(t, httpServer);
      const result = upgraded(await dial(port, [V4_CHANNEL_SUBPROTOCOL, 'v3.channel.k8s.io'], { clientMasking: masking }));
      assert.equal(result.protocol, V4_CHANNEL_SUBPROTOCOL);
      const client = result.connection;
      t.after(() => client.destroy());

      const stripper = new PortPrefixStripper([8080]);
      const data = randomBytes(4 * MiB);
      const chunks: Buffer[] = [];
      let received = 0;
      const echoed = new Promise<void>((resolve, reject) => {
        client.on('message', (message) => {
          try {
            const { channel, payload } = stripper.decode(message);
            if (channel !== 0) return;
            chunks.push(Buffer.from(payload));
            received += payload.length;
            if (received === data.length) resolve();
          } catch (error) {
            reject(error as Error);
          }
        });
      });
      const pinged = nextEvent<[Buffer]>(client, 'ping');
      let offset = 0;
      for (const size of [1, 2, 125, 126, 65_535, 65_536, 300_000]) {
        client.send(encodeChannelMessage(0, data.subarray(offset, offset + size)));
        offset += size;
      }
      while (offset < data.length) {
        const size = Math.min(256 * 1024, data.length - offset);
        if (!client.send(encodeChannelMessage(0, data.subarray(offset, offset + size)))) await nextEvent(client, 'drain');
        offset += size;
      }
      await echoed;
      assert.equal(sha256(Buffer.concat(chunks)), sha256(data));
      assert.equal(stripper.prefixReceived(1), true, 'error channel prefix seen');
      assert.equal((await pinged)[0].toString(), 'from ws');
      assert.equal((await serverPongs.next()).toString(), 'from ws', 'our automatic pong reached ws');

      const closed = nextEvent<CloseArgs>(client, 'close');
      client.close(1000, 'done');
      assert.deepEqual(await serverClosed.next(), [1000, 'done']);
      const [code, , error] = await closed;
      assert.equal(code, 1000);
      assert.equal(error, undefined);
    });
  }

  test('a ws client against our server: 4 MiB echoed, ping/pong, close 1000', BOUNDED, async (t) => {
    const side = await kubemuxServer(t, { protocols: [V4_CHANNEL_SUBPROTOCOL] });
    const wsClient = new WebSocket(`ws://127.0.0.1:${side.port}/portforward?ports=8080`, [V4_CHANNEL_SUBPROTOCOL]);
    t.after(() => wsClient.terminate());
    const opened = once(wsClient, 'open');
    const server = upgraded((await side.accepted.next()).result);
    assert.equal(server.protocol, V4_CHANNEL_SUBPROTOCOL);
    server.connection.on('message', (data, isBinary) => server.connection.send(data, { binary: isBinary }));
    await opened;
    assert.equal(wsClient.protocol, V4_CHANNEL_SUBPROTOCOL);

    const data = randomBytes(4 * MiB);
    const chunks: Buffer[] = [];
    let received = 0;
    const echoed = new Promise<void>((resolve) =>
      wsClient.on('message', (message: Buffer) => {
        chunks.push(message);
        received += message.length;
        if (received === data.length) resolve();
      }),
    );
    for (let offset = 0, i = 0; offset < data.length; i++) {
      const size = Math.min([1, 70_000, 125, 200_000][i % 4] as number, data.length - offset);
      wsClient.send(data.subarray(offset, offset + size));
      offset += size;
    }
    await echoed;
    assert.equal(sha256(Buffer.concat(chunks)), sha256(data));

    const pong = once(wsClient, 'pong');
    wsClient.ping(Buffer.from('ws ping'));
    assert.equal(((await pong) as [Buffer])[0].toString(), 'ws ping');

    const closed = nextEvent<CloseArgs>(server.connection, 'close');
    const wsClosed = once(wsClient, 'close');
    wsClient.close(1000);
    const [code, , error] = await closed;
    assert.equal(code, 1000);
    assert.equal(error, undefined);
    assert.equal(((await wsClosed) as [number])[0], 1000);
  });
});
