/**
 * A minimal fake Kubernetes API server for recording what a real kubectl sends during
 * `kubectl port-forward pod/demo`. It serves just enough discovery and a Running pod for kubectl
 * to start forwarding, accepts the port-forward upgrade in both carriages kubectl knows
 * (SPDY/3.1 over the raw socket; SPDY/3.1 inside WebSocket binary messages, KEP-4006), and plays
 * a tiny echo pod behind it using our codec (src/spdy). Every byte the client sends over SPDY is
 * kept, with the decoded frames and their arrival times.
 *
 * The server listens on 127.0.0.1 only. It speaks plain HTTP (kubectl accepts an http:// server
 * in a kubeconfig), so the SPDY bytes are visible without TLS.
 */
import { createHash } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { FLAG_FIN, FrameDecoder, FrameEncoder, headerValue, type Frame } from '../../src/spdy/index.js';

/** The namespace of the pod the recorder serves. */
export const RECORDER_NAMESPACE = 'default';
/** The name of the pod the recorder serves. */
export const RECORDER_POD = 'demo';
/** The container port the pod declares. */
export const RECORDER_POD_PORT = 8080;

const POD_PATH = `/api/v1/namespaces/${RECORDER_NAMESPACE}/pods/${RECORDER_POD}`;
const PORTFORWARD_PATH = `${POD_PATH}/portforward`;

/** The WebSocket subprotocol of SPDY-over-WebSocket port-forward tunnelling (KEP-4006). */
export const TUNNEL_SUBPROTOCOL = 'SPDY/3.1+portforward.k8s.io';
const PORTFORWARD_PROTOCOL = 'portforward.k8s.io';
/** RFC 6455 section 1.3. */
const WEBSOCKET_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

/** How the SPDY byte stream reached the recorder. */
export type Carriage = 'spdy' | 'websocket-tunnel';

/** One HTTP request as kubectl sent it. */
export interface RecordedRequest {
  readonly method: string;
  readonly url: string;
  /** Header lines in wire order, names as sent. */
  readonly rawHeaders: ReadonlyArray<readonly [string, string]>;
  /** True when Node delivered it as an upgrade. */
  readonly upgrade: boolean;
  /** The status the recorder answered with. */
  readonly status: number;
  /** False when the recorder has no route for it (answered 404 or 400). */
  readonly known: boolean;
}

/** A frame with the time it was completed, in ms since the session was upgraded. */
export interface TimedFrame {
  readonly atMs: number;
  readonly frame: Frame;
}

/** A timestamped remark about a session (client FIN on an error stream, close codes, faults). */
export interface SessionNote {
  readonly atMs: number;
  readonly text: string;
}

interface StreamRecord {
  readonly streamType: string | undefined;
  readonly requestId: string | undefined;
  serverFin: boolean;
}

/** One upgraded port-forward connection: what the client sent and what the recorder did. */
export class RecordedSession {
  readonly carriage: Carriage;
  readonly request: RecordedRequest;
  /** Client-to-server SPDY bytes as they arrived (socket chunks, or one entry per WebSocket message). */
  readonly clientChunks: Buffer[] = [];
  /** Tunnel only: payloads of the client's binary WebSocket messages, in order. */
  readonly wsMessages: Buffer[] = [];
  /** Tunnel only: how many data frames (first fragments and continuations) carried those messages. */
  wsDataFrames = 0;
  /** Decoded client-to-server frames (DATA payloads copied). */
  readonly frames: TimedFrame[] = [];
  /** Frames the recorder sent back. */
  readonly sent: TimedFrame[] = [];
  readonly notes: SessionNote[] = [];
  /** When the connection closed, in ms since the upgrade, or undefined while open. */
  closedAtMs: number | undefined;

  readonly #startedAt = performance.now();
  readonly #decoder = new FrameDecoder();
  readonly #encoder = new FrameEncoder();
  readonly #streams = new Map<number, StreamRecord>();
  readonly #write: (frameBytes: Buffer[]) => void;
  readonly #changed: () => void;
  readonly #fail: () => void;

  /** @internal */
  constructor(carriage: Carriage, request: RecordedRequest, write: (frameBytes: Buffer[]) => void, changed: () => void, fail: () => void) {
    this.carriage = carriage;
    this.request = request;
    this.#write = write;
    this.#changed = changed;
    this.#fail = fail;
  }

  /** Every client-to-server SPDY byte so far, concatenated. */
  clientBytes(): Buffer {
    return Buffer.concat(this.clientChunks);
  }

  /** Milliseconds since the upgrade. */
  now(): number {
    return performance.now() - this.#startedAt;
  }

  /** @internal Records a remark. */
  note(text: string): void {
    this.notes.push({ atMs: this.now(), text });
    this.#changed();
  }

  /** @internal Marks the connection closed. */
  markClosed(): void {
    if (this.closedAtMs !== undefined) return;
    this.closedAtMs = this.now();
    this.#changed();
  }

  /** @internal Feeds client-to-server SPDY bytes. */
  receive(chunk: Buffer): void {
    if (chunk.length === 0) return;
    this.clientChunks.push(chunk);
    try {
      this.#decoder.push(chunk, (frame) => this.#onFrame(frame));
    } catch (err) {
      this.note(`decode failed: ${err instanceof Error ? err.message : String(err)}`);
      this.#fail();
    }
    this.#changed();
  }

  #send(frame: Frame): void {
    this.sent.push({ atMs: this.now(), frame });
    this.#write(this.#encoder.encode(frame));
  }

  #onFrame(decoded: Frame): void {
    // DATA payloads (and unknown control payloads) are views of the input chunk: keep copies.
    const frame: Frame =
      decoded.type === 'DATA'
        ? { ...decoded, data: Buffer.from(decoded.data) }
        : decoded.type === 'UNKNOWN'
          ? { ...decoded, payload: Buffer.from(decoded.payload) }
          : decoded;
    this.frames.push({ atMs: this.now(), frame });
    switch (frame.type) {
      case 'SYN_STREAM': {
        this.#streams.set(frame.streamId, {
          streamType: headerValue(frame.headers, 'streamtype'),
          requestId: headerValue(frame.headers, 'requestid'),
          serverFin: false,
        });
        this.#send({ type: 'SYN_REPLY', streamId: frame.streamId, flags: 0, headers: new Map() });
        break;
      }
      case 'DATA': {
        const stream = this.#streams.get(frame.streamId);
        if (stream === undefined) {
          this.note(`DATA on unknown stream ${frame.streamId}`);
          break;
        }
        const fin = (frame.flags & FLAG_FIN) !== 0;
        if (stream.streamType === 'data') {
          if (frame.data.length > 0) this.#send({ type: 'DATA', streamId: frame.streamId, flags: 0, data: frame.data });
          if (fin) this.#finishPair(frame.streamId, stream);
        } else if (stream.streamType === 'error') {
          if (frame.data.length > 0) this.note(`client wrote ${frame.data.length} bytes on error stream ${frame.streamId}`);
          if (fin) this.note(`client FIN on error stream ${frame.streamId} (${frame.data.length} bytes)`);
        }
        break;
      }
      case 'PING':
        // The client's pings (odd ids) expect the same frame back.
        this.#send(frame);
        break;
      case 'RST_STREAM':
        this.note(`client RST_STREAM stream ${frame.streamId} status ${frame.status}`);
        break;
      case 'GOAWAY':
        this.note(`client GOAWAY lastGoodStreamId ${frame.lastGoodStreamId} status ${frame.status}`);
        break;
      default:
        this.note(`client ${frame.type}`);
    }
  }

  /**
   * The client half-closed a data stream: like a container runtime whose pod connection ended,
   * finish the data stream and then its error stream. client-go waits for the error stream's
   * end before it closes the local connection, so without this FIN the local client would
   * never see its end.
   */
  #finishPair(dataStreamId: number, dataStream: StreamRecord): void {
    if (!dataStream.serverFin) {
      dataStream.serverFin = true;
      this.#send({ type: 'DATA', streamId: dataStreamId, flags: FLAG_FIN, data: Buffer.alloc(0) });
    }
    for (const [streamId, stream] of this.#streams) {
      if (stream.streamType === 'error' && stream.requestId === dataStream.requestId && !stream.serverFin) {
        stream.serverFin = true;
        this.#send({ type: 'DATA', streamId, flags: FLAG_FIN, data: Buffer.alloc(0) });
      }
    }
  }
}

/** Options of {@link KubectlRecorder.start}. */
export interface KubectlRecorderOptions {
  /** Called with a line for every request the recorder has no route for. */
  readonly log?: (line: string) => void;
}

/**
 * The fake API server. Emits 'change' whenever anything is recorded; {@link waitFor} builds on
 * that so tests wait for events, not for time.
 */
export class KubectlRecorder extends EventEmitter {
  /** Every HTTP request, in arrival order. */
  readonly requests: RecordedRequest[] = [];
  /** Every upgraded port-forward connection, in arrival order. */
  readonly sessions: RecordedSession[] = [];
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();
  readonly #log: (line: string) => void;
  #url = '';

  private constructor(options: KubectlRecorderOptions) {
    super();
    this.#log = options.log ?? (() => {});
    this.#server = createServer((req, res) => this.#onRequest(req, res));
    this.#server.on('connection', (socket: Socket) => {
      this.#sockets.add(socket);
      socket.once('close', () => this.#sockets.delete(socket));
    });
    this.#server.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => this.#onUpgrade(req, socket, head));
  }

  /** Starts a recorder on 127.0.0.1 with a port the system picks. */
  static async start(options: KubectlRecorderOptions = {}): Promise<KubectlRecorder> {
    const recorder = new KubectlRecorder(options);
    await new Promise<void>((resolve, reject) => {
      recorder.#server.once('error', reject);
      recorder.#server.listen(0, '127.0.0.1', () => {
        recorder.#server.off('error', reject);
        resolve();
      });
    });
    recorder.#url = `http://127.0.0.1:${(recorder.#server.address() as AddressInfo).port}`;
    return recorder;
  }

  /** e.g. "http://127.0.0.1:40123" */
  get url(): string {
    return this.#url;
  }

  /**
   * Resolves with the first non-undefined result of `check`, evaluated now and after every
   * recorded change; rejects after `timeoutMs` with `what` in the message.
   */
  waitFor<T>(what: string, check: () => T | undefined, timeoutMs: number): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const first = check();
      if (first !== undefined) {
        resolve(first);
        return;
      }
      const onChange = (): void => {
        const result = check();
        if (result === undefined) return;
        cleanup();
        resolve(result);
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`));
      }, timeoutMs);
      const cleanup = (): void => {
        clearTimeout(timer);
        this.off('change', onChange);
      };
      this.on('change', onChange);
    });
  }

  /** Destroys every connection (upgraded ones included) and stops listening. */
  async close(): Promise<void> {
    for (const socket of this.#sockets) socket.destroy();
    this.#sockets.clear();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  #changed(): void {
    this.emit('change');
  }

  #record(req: IncomingMessage, upgrade: boolean, status: number, known: boolean): RecordedRequest {
    const rawHeaders: Array<readonly [string, string]> = [];
    for (let i = 0; i + 1 < req.rawHeaders.length; i += 2) rawHeaders.push([req.rawHeaders[i]!, req.rawHeaders[i + 1]!]);
    const recorded: RecordedRequest = { method: req.method ?? '', url: req.url ?? '', rawHeaders, upgrade, status, known };
    this.requests.push(recorded);
    if (!known) this.#log(`recorder: no route for ${recorded.method} ${recorded.url} (answered ${status})`);
    this.#changed();
    return recorded;
  }

  #onRequest(req: IncomingMessage, res: ServerResponse): void {
    const path = new URL(req.url ?? '/', 'http://recorder').pathname;
    const body = req.method === 'GET' ? discoveryResponse(path, this.#url) : undefined;
    const status = body === undefined ? 404 : 200;
    this.#record(req, false, status, body !== undefined);
    const json = JSON.stringify(
      body ?? { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: `recorder has no ${req.method} ${path}`, reason: 'NotFound', code: 404 },
    );
    // Drain any request body so the keep-alive connection stays usable.
    req.resume();
    res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(json) });
    res.end(json);
  }

  #onUpgrade(req: IncomingMessage, socket: Socket, head: Buffer): void {
    const path = new URL(req.url ?? '/', 'http://recorder').pathname;
    const upgrade = (req.headers.upgrade ?? '').toLowerCase();
    const refuse = (status: number, reason: string): void => {
      this.#record(req, true, status, false);
      this.#log(`recorder: refused upgrade ${req.method} ${req.url}: ${reason}`);
      socket.end(`HTTP/1.1 ${status} ${reason}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`);
    };
    if (path !== PORTFORWARD_PATH) {
      refuse(404, 'Not Found');
      return;
    }
    if (upgrade.includes('spdy/3.1')) {
      const request = this.#record(req, true, 101, true);
      socket.write(
        'HTTP/1.1 101 Switching Protocols\r\n' +
          'Connection: Upgrade\r\n' +
          'Upgrade: SPDY/3.1\r\n' +
          `X-Stream-Protocol-Version: ${PORTFORWARD_PROTOCOL}\r\n` +
          '\r\n',
      );
      const session = this.#newSession('spdy', request, socket, (bytes) => {
        if (socket.destroyed) return;
        socket.cork();
        for (const part of bytes) socket.write(part);
        socket.uncork();
      });
      socket.on('data', (chunk: Buffer) => session.receive(chunk));
      // Bytes that arrived with the request belong to the SPDY stream.
      session.receive(head);
      return;
    }
    if (upgrade === 'websocket') {
      const offered = (req.headers['sec-websocket-protocol'] ?? '').split(',').map((p) => p.trim());
      const key = req.headers['sec-websocket-key'];
      if (!offered.includes(TUNNEL_SUBPROTOCOL) || typeof key !== 'string') {
        refuse(400, 'Bad Request');
        return;
      }
      const request = this.#record(req, true, 101, true);
      const accept = createHash('sha1').update(key + WEBSOCKET_GUID).digest('base64');
      socket.write(
        'HTTP/1.1 101 Switching Protocols\r\n' +
          'Upgrade: websocket\r\n' +
          'Connection: Upgrade\r\n' +
          `Sec-WebSocket-Accept: ${accept}\r\n` +
          `Sec-WebSocket-Protocol: ${TUNNEL_SUBPROTOCOL}\r\n` +
          '\r\n',
      );
      // One binary message per SPDY frame; the client's reader does not care about alignment.
      const session = this.#newSession('websocket-tunnel', request, socket, (bytes) => {
        if (!socket.destroyed) socket.write(encodeWsFrame(WS_BINARY, Buffer.concat(bytes)));
      });
      const reader = new WsFrameReader();
      const onChunk = (chunk: Buffer): void => {
        try {
          reader.push(chunk, (message) => this.#onWsMessage(session, socket, message));
          session.wsDataFrames = reader.dataFrames;
        } catch (err) {
          session.note(`WebSocket framing error: ${err instanceof Error ? err.message : String(err)}`);
          socket.destroy();
        }
      };
      socket.on('data', onChunk);
      onChunk(head);
      return;
    }
    refuse(400, 'Bad Request');
  }

  #newSession(carriage: Carriage, request: RecordedRequest, socket: Socket, write: (bytes: Buffer[]) => void): RecordedSession {
    const session = new RecordedSession(carriage, request, write, () => this.#changed(), () => socket.destroy());
    this.sessions.push(session);
    socket.on('error', (err) => session.note(`socket error: ${err.message}`));
    socket.on('end', () => {
      session.note('client ended its side of the TCP connection');
      socket.end();
    });
    socket.on('close', () => session.markClosed());
    this.#changed();
    return session;
  }

  #onWsMessage(session: RecordedSession, socket: Socket, message: WsMessage): void {
    switch (message.opcode) {
      case WS_BINARY:
        session.wsMessages.push(message.payload);
        session.receive(message.payload);
        break;
      case WS_TEXT:
        session.note(`client sent a text message of ${message.payload.length} bytes`);
        break;
      case WS_CLOSE: {
        const code = message.payload.length >= 2 ? message.payload.readUInt16BE(0) : undefined;
        session.note(`client WebSocket close${code === undefined ? ' (no code)' : ` code ${code}`}`);
        if (!socket.destroyed) socket.end(encodeWsFrame(WS_CLOSE, message.payload.subarray(0, 2)));
        break;
      }
      case WS_PING:
        session.note('client WebSocket ping');
        if (!socket.destroyed) socket.write(encodeWsFrame(WS_PONG, message.payload));
        break;
      case WS_PONG:
        session.note('client WebSocket pong');
        break;
      default:
        session.note(`client WebSocket opcode ${message.opcode}`);
    }
  }
}

function discoveryResponse(path: string, serverUrl: string): unknown {
  switch (path) {
    case '/version':
      return {
        major: '1',
        minor: '33',
        gitVersion: 'v1.33.0-kubemux-recorder',
        gitCommit: '0000000000000000000000000000000000000000',
        gitTreeState: 'clean',
        buildDate: '2026-01-01T00:00:00Z',
        goVersion: 'go1.24.0',
        compiler: 'gc',
        platform: 'linux/amd64',
      };
    case '/api':
      return {
        kind: 'APIVersions',
        versions: ['v1'],
        serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress: new URL(serverUrl).host }],
      };
    case '/apis':
      return { kind: 'APIGroupList', apiVersion: 'v1', groups: [] };
    case '/api/v1':
      return {
        kind: 'APIResourceList',
        groupVersion: 'v1',
        resources: [
          { name: 'pods', singularName: 'pod', namespaced: true, kind: 'Pod', verbs: ['get', 'list'], shortNames: ['po'] },
          { name: 'pods/portforward', singularName: '', namespaced: true, kind: 'PodPortForwardOptions', verbs: ['create', 'get'] },
        ],
      };
    case POD_PATH:
      return {
        kind: 'Pod',
        apiVersion: 'v1',
        metadata: {
          name: RECORDER_POD,
          namespace: RECORDER_NAMESPACE,
          uid: '6f1d0c3e-2b8a-4c55-9e37-6b0b7a1c2d4e',
          resourceVersion: '1',
          creationTimestamp: '2026-01-01T00:00:00Z',
        },
        spec: { containers: [{ name: 'echo', image: 'kubemux/echo', ports: [{ containerPort: RECORDER_POD_PORT, protocol: 'TCP' }] }] },
        status: { phase: 'Running' },
      };
    default:
      return undefined;
  }
}

// --- RFC 6455 framing, just enough for one server-side connection ---------------------------

const WS_CONTINUATION = 0x0;
const WS_TEXT = 0x1;
const WS_BINARY = 0x2;
const WS_CLOSE = 0x8;
const WS_PING = 0x9;
const WS_PONG = 0xa;
/** Refuse absurd frames rather than buffer them (kubectl writes at most ~32 KiB per message). */
const WS_MAX_MESSAGE_BYTES = 16 * 1024 * 1024;

interface WsMessage {
  readonly opcode: number;
  readonly payload: Buffer;
}

/** An unmasked (server-to-client) frame with FIN set. */
function encodeWsFrame(opcode: number, payload: Buffer): Buffer {
  let header: Buffer;
  if (payload.length < 126) {
    header = Buffer.from([0x80 | opcode, payload.length]);
  } else if (payload.length < 65_536) {
    header = Buffer.alloc(4);
    header[0] = 0x80 | opcode;
    header[1] = 126;
    header.writeUInt16BE(payload.length, 2);
  } else {
    header = Buffer.alloc(10);
    header[0] = 0x80 | opcode;
    header[1] = 127;
    header.writeBigUInt64BE(BigInt(payload.length), 2);
  }
  return Buffer.concat([header, payload]);
}

/** Parses masked client frames and reassembles fragmented messages. */
class WsFrameReader {
  #pending: Buffer = Buffer.alloc(0);
  #fragments: Buffer[] = [];
  #fragmentOpcode = -1;
  /** Data frames parsed so far (control frames not counted). */
  dataFrames = 0;

  push(chunk: Buffer, onMessage: (message: WsMessage) => void): void {
    this.#pending = this.#pending.length === 0 ? chunk : Buffer.concat([this.#pending, chunk]);
    for (;;) {
      const buf = this.#pending;
      if (buf.length < 2) return;
      const fin = (buf[0]! & 0x80) !== 0;
      const opcode = buf[0]! & 0x0f;
      const masked = (buf[1]! & 0x80) !== 0;
      let length = buf[1]! & 0x7f;
      let offset = 2;
      if (length === 126) {
        if (buf.length < 4) return;
        length = buf.readUInt16BE(2);
        offset = 4;
      } else if (length === 127) {
        if (buf.length < 10) return;
        const big = buf.readBigUInt64BE(2);
        if (big > BigInt(WS_MAX_MESSAGE_BYTES)) throw new Error(`frame of ${big} bytes`);
        length = Number(big);
        offset = 10;
      }
      if (!masked) throw new Error('client frame is not masked');
      if (length > WS_MAX_MESSAGE_BYTES) throw new Error(`frame of ${length} bytes`);
      if (buf.length < offset + 4 + length) return;
      const mask = buf.subarray(offset, offset + 4);
      const payload = Buffer.allocUnsafe(length);
      for (let i = 0; i < length; i++) payload[i] = buf[offset + 4 + i]! ^ mask[i & 3]!;
      this.#pending = buf.subarray(offset + 4 + length);
      if (opcode < 0x8) this.dataFrames++;
      if (opcode >= 0x8) {
        onMessage({ opcode, payload });
      } else if (opcode === WS_CONTINUATION) {
        if (this.#fragmentOpcode < 0) throw new Error('continuation without a message');
        this.#fragments.push(payload);
        if (fin) {
          const message = { opcode: this.#fragmentOpcode, payload: Buffer.concat(this.#fragments) };
          this.#fragments = [];
          this.#fragmentOpcode = -1;
          onMessage(message);
        }
      } else if (fin) {
        onMessage({ opcode, payload });
      } else {
        this.#fragmentOpcode = opcode;
        this.#fragments = [payload];
      }
    }
  }
}
