/**
 * What kubemux's client puts on the wire, decoded by code that shares nothing with src/spdy or
 * src/transport/websocket: a recording TCP relay between the client and the FakeCluster keeps
 * the client's bytes; a naive SPDY/3 parser written from the draft's diagrams, node:zlib (C zlib,
 * where the library uses pako) with the SPDY/3 dictionary, and a hand-written RFC 6455 frame
 * parser take them apart; the result is held against the structure of the captured kubectl
 * vectors (spec/vectors/kubectl-1.27-spdy-client.json, kubectl-1.33-ws-tunnel-client.json).
 *
 * The cluster's endpoint runs its sessions with flowControl 'auto', as Go's spdystream (which never
 * announces windows) would: against a peer that announces none, kubemux sends no flow-control
 * frames either, so the client's bytes must have exactly kubectl's shape.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { describe, test, type TestContext } from 'node:test';
import zlib from 'node:zlib';
import { defaultClusterConfig } from '../../../src/server/cluster-config.js';
import { FakeCluster } from '../../../src/server/fake-cluster.js';
import { PortForwardEndpoint } from '../../../src/server/portforward/endpoint.js';
import { SPDY3_DICTIONARY } from '../../../src/spdy/dictionary.js';
import { dialPortForward } from '../../../src/transport/dial.js';
import type { PortForwardProtocol } from '../../../src/transport/port-forward-connection.js';
import { portForwardPath } from '../../../src/transport/api/request-target.js';
import { VECTORS_DIR } from '../../support/paths.js';
import { startEchoServer } from '../../support/servers.js';
import { readAll } from '../../support/streams.js';

const BOUNDED = { timeout: 30_000 };
const PATH = portForwardPath('default', 'demo');

// ---------------------------------------------------------------- the independent decoders

/** One SPDY/3 frame as the draft lays it out (section 2.2), fields named as in the vector files. */
interface WireFrame {
  readonly type: string;
  readonly flags: number;
  readonly streamId?: number;
  readonly associatedStreamId?: number;
  readonly priority?: number;
  readonly slot?: number;
  readonly status?: number;
  readonly lastGoodStreamId?: number;
  readonly id?: number;
  /** The compressed name/value block of SYN_STREAM, SYN_REPLY, HEADERS. */
  readonly block?: Buffer;
  readonly data?: Buffer;
  headers?: Map<string, string[]>;
}

const CONTROL_TYPES: Record<number, string> = { 1: 'SYN_STREAM', 2: 'SYN_REPLY', 3: 'RST_STREAM', 4: 'SETTINGS', 6: 'PING', 7: 'GOAWAY', 8: 'HEADERS', 9: 'WINDOW_UPDATE' };

/** Splits a byte stream into frames, field by field; header blocks are inflated afterwards, in order. */
function parseSpdy(bytes: Buffer): WireFrame[] {
  const frames: WireFrame[] = [];
  let offset = 0;
  while (offset < bytes.length) {
    assert.ok(bytes.length - offset >= 8, `a truncated frame header at byte ${offset}`);
    const word = bytes.readUInt32BE(offset);
    const flags = bytes[offset + 4]!;
    const length = (bytes[offset + 5]! << 16) | (bytes[offset + 6]! << 8) | bytes[offset + 7]!;
    const payload = bytes.subarray(offset + 8, offset + 8 + length);
    assert.equal(payload.length, length, `a frame at byte ${offset} claims ${length} payload bytes`);
    offset += 8 + length;
    if ((word & 0x8000_0000) === 0) {
      frames.push({ type: 'DATA', streamId: word & 0x7fff_ffff, flags, data: payload });
      continue;
    }
    const version = (word >>> 16) & 0x7fff;
    assert.equal(version, 3, 'every control frame is SPDY version 3');
    const type = CONTROL_TYPES[word & 0xffff] ?? `UNKNOWN(${word & 0xffff})`;
    const u32 = (at: number): number => payload.readUInt32BE(at);
    switch (type) {
      case 'SYN_STREAM':
        frames.push({ type, flags, streamId: u32(0) & 0x7fff_ffff, associatedStreamId: u32(4) & 0x7fff_ffff, priority: payload[8]! >> 5, slot: payload[9]!, block: payload.subarray(10) });
        break;
      case 'SYN_REPLY':
      case 'HEADERS':
        frames.push({ type, flags, streamId: u32(0) & 0x7fff_ffff, block: payload.subarray(4) });
        break;
      case 'RST_STREAM':
        frames.push({ type, flags, streamId: u32(0) & 0x7fff_ffff, status: u32(4) });
        break;
      case 'GOAWAY':
        frames.push({ type, flags, lastGoodStreamId: u32(0) & 0x7fff_ffff, status: u32(4) });
        break;
      case 'PING':
        frames.push({ type, flags, id: u32(0) });
        break;
      default:
        frames.push({ type, flags });
    }
  }
  // One zlib stream per direction, sync-flushed after each block: inflating the blocks joined in
  // wire order gives the raw blocks one after the other, each self-delimiting.
  const blocks = frames.filter((frame) => frame.block !== undefined);
  if (blocks.length > 0) {
    const raw = zlib.inflateSync(Buffer.concat(blocks.map((frame) => frame.block!)), {
      dictionary: Buffer.from(SPDY3_DICTIONARY),
      finishFlush: zlib.constants.Z_SYNC_FLUSH,
    });
    let at = 0;
    for (const frame of blocks) {
      const headers = new Map<string, string[]>();
      const pairs = raw.readUInt32BE(at);
      at += 4;
      for (let i = 0; i < pairs; i++) {
        const nameLength = raw.readUInt32BE(at);
        const name = raw.subarray(at + 4, at + 4 + nameLength).toString('utf8');
        at += 4 + nameLength;
        const valueLength = raw.readUInt32BE(at);
        const value = raw.subarray(at + 4, at + 4 + valueLength).toString('utf8');
        at += 4 + valueLength;
        headers.set(name, value.split('\0'));
      }
      frame.headers = headers;
    }
    assert.equal(at, raw.length, 'the inflated header blocks hold nothing else');
  }
  return frames;
}

/** One client WebSocket frame (RFC 6455 section 5.2), unmasked. */
interface WsFrame {
  readonly fin: boolean;
  readonly rsv: number;
  readonly opcode: number;
  readonly masked: boolean;
  readonly mask: Buffer;
  readonly payload: Buffer;
}

function parseWebSocketFrames(bytes: Buffer): WsFrame[] {
  const frames: WsFrame[] = [];
  let offset = 0;
  while (offset < bytes.length) {
    const first = bytes[offset]!;
    const second = bytes[offset + 1]!;
    let length = second & 0x7f;
    let at = offset + 2;
    if (length === 126) {
      length = bytes.readUInt16BE(at);
      at += 2;
    } else if (length === 127) {
      length = Number(bytes.readBigUInt64BE(at));
      at += 8;
    }
    const masked = (second & 0x80) !== 0;
    const mask = masked ? bytes.subarray(at, at + 4) : Buffer.alloc(4);
    if (masked) at += 4;
    const payload = Buffer.from(bytes.subarray(at, at + length));
    assert.equal(payload.length, length, `a truncated WebSocket frame at byte ${offset}`);
    for (let i = 0; i < payload.length; i++) payload[i]! ^= mask[i & 3]!;
    frames.push({ fin: (first & 0x80) !== 0, rsv: (first >> 4) & 0x07, opcode: first & 0x0f, masked, mask: Buffer.from(mask), payload });
    offset = at + length;
  }
  return frames;
}

/** The request head (up to the blank line) and the bytes after it. */
function splitHttpHead(bytes: Buffer): { requestLine: string; headers: Map<string, string>; rest: Buffer } {
  const end = bytes.indexOf('\r\n\r\n');
  assert.ok(end > 0, 'an HTTP request head');
  const [requestLine, ...lines] = bytes.subarray(0, end).toString('latin1').split('\r\n');
  const headers = new Map<string, string>();
  for (const line of lines) {
    const colon = line.indexOf(':');
    headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
  }
  return { requestLine: requestLine!, headers, rest: bytes.subarray(end + 4) };
}

// ---------------------------------------------------------------- vectors

interface VectorFrame {
  readonly type: string;
  readonly streamId: number;
  readonly flags: number;
  readonly associatedStreamId?: number;
  readonly priority?: number;
  readonly slot?: number;
  readonly headers?: Record<string, string[]>;
  readonly dataHex?: string;
}

interface KubectlVector {
  readonly hex: string;
  readonly wsMessages?: readonly string[];
  readonly frames: readonly VectorFrame[];
}

function loadKubectlVector(name: string): KubectlVector {
  return JSON.parse(readFileSync(join(VECTORS_DIR, `${name}.json`), 'utf8')) as KubectlVector;
}

/** Checks decoded frames against a vector's frames: types and order, ids, flags, priority and slot, header sets, payloads. */
function assertShape(actual: readonly WireFrame[], expected: readonly VectorFrame[], what: string): void {
  assert.deepEqual(
    actual.map((frame) => frame.type),
    expected.map((frame) => frame.type),
    `${what}: frame types in order`,
  );
  expected.forEach((want, i) => {
    const got = actual[i]!;
    const where = `${what}: frame ${i} (${want.type})`;
    assert.equal(got.streamId, want.streamId, `${where}: stream id`);
    assert.equal(got.flags, want.flags, `${where}: flags`);
    if (want.type === 'SYN_STREAM') {
      assert.equal(got.associatedStreamId, want.associatedStreamId, `${where}: associated stream`);
      assert.equal(got.priority, want.priority, `${where}: priority`);
      assert.equal(got.slot, want.slot, `${where}: slot`);
      const sorted = (entries: Iterable<[string, string[]]>): Array<[string, string[]]> => [...entries].sort(([a], [b]) => a.localeCompare(b));
      assert.deepEqual(sorted(got.headers!), sorted(Object.entries(want.headers!)), `${where}: headers`);
    }
    if (want.type === 'DATA') assert.equal(got.data!.toString('hex'), want.dataHex, `${where}: payload`);
  });
}

// ---------------------------------------------------------------- the capture

interface Recording {
  readonly url: string;
  /** Client-to-server bytes of each relayed connection, in order of arrival. */
  readonly captured: Buffer[][];
  /** Resolves once the client has ended (or closed) the `index`-th connection. */
  clientDone(index: number): Promise<void>;
}

/** A TCP relay to `upstreamPort` that records what clients send; stopped when the test ends. */
async function startRecordingRelay(t: TestContext, upstreamPort: number): Promise<Recording> {
  const captured: Buffer[][] = [];
  const done: Array<Promise<void>> = [];
  const sockets = new Set<net.Socket>();
  const track = (socket: net.Socket): void => {
    sockets.add(socket);
    socket.on('error', () => socket.destroy());
    socket.once('close', () => sockets.delete(socket));
  };
  const server = net.createServer((client) => {
    track(client);
    const chunks: Buffer[] = [];
    captured.push(chunks);
    done.push(new Promise((resolve) => client.once('close', () => resolve())));
    const upstream = net.connect(upstreamPort, '127.0.0.1');
    track(upstream);
    client.on('data', (chunk: Buffer) => chunks.push(Buffer.from(chunk)));
    client.pipe(upstream).pipe(client);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return { url: `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`, captured, clientDone: (index) => done[index]! };
}

/**
 * The fake cluster with spdystream's flow-control behaviour, its pod ports leading to an echo
 * server, behind a recording relay. Forwards one local connection the way the kubectl captures
 * did ("hello", then a half-close, the echo read to its end), closes, and returns the client's
 * bytes.
 */
async function captureClient(t: TestContext, protocol: PortForwardProtocol): Promise<Buffer> {
  const echo = await startEchoServer();
  t.after(() => echo.close());
  const config = defaultClusterConfig();
  const namespaces = Object.fromEntries(
    Object.entries(config.namespaces).map(([name, ns]) => [
      name,
      { ...ns, pods: (ns.pods ?? []).map((pod) => ({ ...pod, portMap: { '8080': `127.0.0.1:${echo.port}` } })) },
    ]),
  );
  const cluster = await FakeCluster.start({
    config: { ...config, namespaces },
    endpoint: new PortForwardEndpoint({ session: { flowControl: 'auto' } }),
  });
  t.after(() => cluster.close());
  const relay = await startRecordingRelay(t, Number(new URL(cluster.url).port));

  const connection = await dialPortForward({ server: relay.url, path: PATH }, { protocol });
  t.after(() => connection.destroy());
  const pair = await connection.openPortStreams(8080);
  pair.data.end('hello');
  assert.equal((await readAll(pair.data)).toString(), 'hello');
  assert.equal(await pair.errors, '');
  await connection.close();
  await relay.clientDone(0);
  assert.equal(relay.captured.length, 1, 'one connection to the server');
  return Buffer.concat(relay.captured[0]!);
}

// ---------------------------------------------------------------- tests

describe('the independent decoders read kubectl itself', () => {
  test('SPDY: the kubectl 1.27 capture decodes to its recorded frames', BOUNDED, () => {
    const vector = loadKubectlVector('kubectl-1.27-spdy-client');
    assertShape(parseSpdy(Buffer.from(vector.hex, 'hex')), vector.frames, 'kubectl 1.27');
  });

  test('tunnel: the kubectl 1.33 messages join into its byte stream, which decodes to its frames', BOUNDED, () => {
    const vector = loadKubectlVector('kubectl-1.33-ws-tunnel-client');
    assert.equal(vector.wsMessages!.join(''), vector.hex);
    assertShape(parseSpdy(Buffer.from(vector.hex, 'hex')), vector.frames, 'kubectl 1.33');
  });
});

describe("kubemux's client bytes have kubectl's shape", () => {
  test('plain SPDY: POST upgrade, then exactly the frames of kubectl 1.27, then GOAWAY on close', BOUNDED, async (t) => {
    const bytes = await captureClient(t, 'spdy');
    const { requestLine, headers, rest } = splitHttpHead(bytes);
    assert.equal(requestLine, `POST ${PATH} HTTP/1.1`);
    assert.equal(headers.get('upgrade'), 'SPDY/3.1');
    assert.match(headers.get('connection') ?? '', /upgrade/i);
    assert.equal(headers.get('x-stream-protocol-version'), 'portforward.k8s.io');

    const frames = parseSpdy(rest);
    const vector = loadKubectlVector('kubectl-1.27-spdy-client');
    assertShape(frames.slice(0, vector.frames.length), vector.frames, 'kubemux over SPDY');
    // What kubemux adds for its own close: GOAWAY OK naming no server stream; no reset of the
    // finished data stream (kubectl sends none after its FIN either), no ping, no flow control.
    assert.deepEqual(
      frames.slice(vector.frames.length).map(({ type, status, lastGoodStreamId }) => ({ type, status, lastGoodStreamId })),
      [{ type: 'GOAWAY', status: 0, lastGoodStreamId: 0 }],
    );
  });

  test('tunnel: GET upgrade with the tunnel subprotocol, masked binary frames carrying the frames of kubectl 1.33, close 1000', BOUNDED, async (t) => {
    const bytes = await captureClient(t, 'websocket-tunnel');
    const { requestLine, headers, rest } = splitHttpHead(bytes);
    assert.equal(requestLine, `GET ${PATH} HTTP/1.1`, 'GET, the same path as SPDY, no query');
    assert.equal(headers.get('upgrade'), 'websocket');
    assert.match(headers.get('connection') ?? '', /upgrade/i);
    assert.equal(headers.get('sec-websocket-version'), '13');
    assert.equal(headers.get('sec-websocket-protocol'), 'SPDY/3.1+portforward.k8s.io');
    assert.equal(Buffer.from(headers.get('sec-websocket-key') ?? '', 'base64').length, 16);
    assert.equal(headers.has('sec-websocket-extensions'), false, 'no extension offered');

    const wsFrames = parseWebSocketFrames(rest);
    for (const frame of wsFrames) {
      assert.equal(frame.masked, true, 'every client frame is masked (RFC 6455 section 5.3)');
      assert.equal(frame.fin, true, 'no fragmentation');
      assert.equal(frame.rsv, 0, 'no extension bits');
    }
    const close = wsFrames.at(-1)!;
    assert.equal(close.opcode, 0x8, 'the last frame is a close');
    assert.equal(close.payload.readUInt16BE(0), 1000);
    const messages = wsFrames.slice(0, -1);
    assert.ok(messages.every((frame) => frame.opcode === 0x2), 'only binary messages before the close (no text, no pings)');
    // Random keys: masking really happened (an all-zero key would leave the bytes as they are).
    assert.ok(messages.some((frame) => !frame.mask.equals(Buffer.alloc(4))), 'non-zero masking keys');
    assert.equal(new Set(messages.map((frame) => frame.mask.toString('hex'))).size > 1, true, 'a fresh key per frame');

    const frames = parseSpdy(Buffer.concat(messages.map((frame) => frame.payload)));
    const vector = loadKubectlVector('kubectl-1.33-ws-tunnel-client');
    assertShape(frames.slice(0, vector.frames.length), vector.frames, 'kubemux in the tunnel');
    assert.deepEqual(
      frames.slice(vector.frames.length).map(({ type, status }) => ({ type, status })),
      [{ type: 'GOAWAY', status: 0 }],
    );
  });
});
