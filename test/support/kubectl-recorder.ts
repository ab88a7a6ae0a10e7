/**
 * Records what a real kubectl sends during `kubectl port-forward pod/demo`: the fake cluster
 * (src/server, the demo config: pod `demo` whose port 8080 leads to an echo server) behind a
 * {@link SocketTap}. The cluster answers discovery, the pod and the port-forward upgrade in both
 * carriages kubectl knows (SPDY/3.1 over the raw socket; SPDY/3.1 inside WebSocket binary
 * messages, KEP-4006); the tap keeps every byte. Only the request heads are split out of the
 * recorded bytes here; the upgraded stream is decoded with the product's own codecs (src/spdy's
 * FrameDecoder, and ws's Receiver as the product types it) into timed frames and notes.
 *
 * Everything listens on 127.0.0.1 and speaks plain HTTP (kubectl accepts an http:// server in a
 * kubeconfig), so the SPDY bytes are visible without TLS.
 */
import { EventEmitter } from 'node:events';
import { FLAG_FIN, FrameDecoder, SPDY_TUNNEL_SUBPROTOCOL, headerValue, type Frame } from '../../src/codec.js';
import { Receiver } from '../../src/transport/websocket/ws-codec.js';
import { HttpHeads } from './http-heads.js';
import { startDemoCluster } from './servers.js';
import { SocketTap, type TappedChunk, type TappedConnection } from './socket-tap.js';

/** The namespace of the pod the recorder serves. */
export const RECORDER_NAMESPACE = 'default';
/** The name of the pod the recorder serves. */
export const RECORDER_POD = 'demo';
/** The container port the pod declares. */
export const RECORDER_POD_PORT = 8080;
/** The WebSocket subprotocol of SPDY-over-WebSocket port-forward tunnelling (KEP-4006). */
export const TUNNEL_SUBPROTOCOL = SPDY_TUNNEL_SUBPROTOCOL;

/** How the SPDY byte stream reached the server. */
export type Carriage = 'spdy' | 'websocket-tunnel';

/** One HTTP request as kubectl sent it. */
export interface RecordedRequest {
  readonly method: string;
  readonly url: string;
  /** Header lines in wire order, names as sent. */
  readonly rawHeaders: ReadonlyArray<readonly [string, string]>;
  /** True when it asked for an upgrade (an Upgrade header). */
  readonly upgrade: boolean;
  /** The status the fake cluster answered with. */
  readonly status: number;
  /** False when the fake cluster refused it (4xx or 5xx). */
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

/** One upgraded port-forward connection: what the client sent after the 101. */
export class RecordedSession {
  readonly carriage: Carriage;
  readonly request: RecordedRequest;
  /** Client-to-server SPDY bytes as they arrived (socket chunks, or one entry per WebSocket message). */
  readonly clientChunks: Buffer[] = [];
  /** Tunnel only: payloads of the client's binary WebSocket messages, in order. */
  readonly wsMessages: Buffer[] = [];
  /** Decoded client-to-server frames (payloads copied). */
  readonly frames: TimedFrame[] = [];
  readonly notes: SessionNote[] = [];
  /** When the connection closed, in ms since the upgrade, or undefined while open. */
  closedAtMs: number | undefined;

  readonly #upgradedAtMs: number;
  readonly #decoder = new FrameDecoder();
  readonly #streamTypes = new Map<number, string | undefined>();
  readonly #receiver: InstanceType<typeof Receiver> | undefined;
  #atMs = 0;
  #failed = false;

  /** @internal `upgradedAtMs` is the 101's arrival on the connection's clock. */
  constructor(carriage: Carriage, request: RecordedRequest, upgradedAtMs: number) {
    this.carriage = carriage;
    this.request = request;
    this.#upgradedAtMs = upgradedAtMs;
    if (carriage === 'websocket-tunnel') {
      const receiver = new Receiver({ isServer: true, binaryType: 'nodebuffer', allowSynchronousEvents: true, maxPayload: 16 * 1024 * 1024 });
      receiver.on('message', (data: Buffer, isBinary: boolean) => {
        if (!isBinary) {
          this.#note(`client sent a text message of ${data.length} bytes`);
          return;
        }
        this.wsMessages.push(data);
        this.#receiveSpdy(data);
      });
      receiver.on('conclude', (code: number) => this.#note(`client WebSocket close${code === 1005 ? ' (no code)' : ` code ${code}`}`));
      receiver.on('ping', () => this.#note('client WebSocket ping'));
      receiver.on('pong', () => this.#note('client WebSocket pong'));
      receiver.on('error', (err: Error) => this.#note(`WebSocket framing error: ${err.message}`));
      this.#receiver = receiver;
    }
  }

  /** Every client-to-server SPDY byte so far, concatenated. */
  clientBytes(): Buffer {
    return Buffer.concat(this.clientChunks);
  }

  /** @internal Feeds bytes the client sent after the upgrade request, stamped on the connection's clock. */
  receive(bytes: Buffer, connectionMs: number): void {
    this.#atMs = Math.max(0, connectionMs - this.#upgradedAtMs);
    // The tap relays this very buffer; the WebSocket reader unmasks in place, so it gets a copy.
    if (this.#receiver !== undefined) this.#receiver.write(Buffer.from(bytes));
    else this.#receiveSpdy(bytes);
  }

  /** @internal A remark stamped on the connection's clock. */
  note(text: string, connectionMs: number): void {
    this.notes.push({ atMs: Math.max(0, connectionMs - this.#upgradedAtMs), text });
  }

  /** @internal */
  markClosed(connectionMs: number): void {
    this.closedAtMs ??= Math.max(0, connectionMs - this.#upgradedAtMs);
  }

  #note(text: string): void {
    this.notes.push({ atMs: this.#atMs, text });
  }

  #receiveSpdy(chunk: Buffer): void {
    if (chunk.length === 0 || this.#failed) return;
    this.clientChunks.push(chunk);
    try {
      this.#decoder.push(chunk, (frame) => this.#onFrame(frame));
    } catch (err) {
      this.#failed = true;
      this.#note(`decode failed: ${err instanceof Error ? err.message : String(err)}`);
    }
  }

  #onFrame(decoded: Frame): void {
    // DATA payloads (and unknown control payloads) are views of the input chunk: keep copies.
    const frame: Frame =
      decoded.type === 'DATA'
        ? { ...decoded, data: Buffer.from(decoded.data) }
        : decoded.type === 'UNKNOWN'
          ? { ...decoded, payload: Buffer.from(decoded.payload) }
          : decoded;
    this.frames.push({ atMs: this.#atMs, frame });
    if (frame.type === 'SYN_STREAM') this.#streamTypes.set(frame.streamId, headerValue(frame.headers, 'streamtype'));
    else if (frame.type === 'DATA' && this.#streamTypes.get(frame.streamId) === 'error' && (frame.flags & FLAG_FIN) !== 0) {
      this.#note(`client FIN on error stream ${frame.streamId} (${frame.data.length} bytes)`);
    } else if (frame.type === 'RST_STREAM') this.#note(`client RST_STREAM stream ${frame.streamId} status ${frame.status}`);
    else if (frame.type === 'GOAWAY') this.#note(`client GOAWAY lastGoodStreamId ${frame.lastGoodStreamId} status ${frame.status}`);
  }
}

/** Options of {@link KubectlRecorder.start}. */
export interface KubectlRecorderOptions {
  /** Called with a line for every request the fake cluster refused. */
  readonly log?: (line: string) => void;
}

/**
 * The fake cluster behind a tap. Emits 'change' whenever anything is recorded; {@link waitFor}
 * builds on that so tests wait for events, not for time.
 */
export class KubectlRecorder extends EventEmitter {
  /** Every HTTP request, in the order of its answer. */
  readonly requests: RecordedRequest[] = [];
  /** Every upgraded port-forward connection, in order. */
  readonly sessions: RecordedSession[] = [];
  readonly #cluster: Awaited<ReturnType<typeof startDemoCluster>>;
  readonly #tap: SocketTap;
  readonly #log: (line: string) => void;

  private constructor(cluster: Awaited<ReturnType<typeof startDemoCluster>>, tap: SocketTap, options: KubectlRecorderOptions) {
    super();
    this.#cluster = cluster;
    this.#tap = tap;
    this.#log = options.log ?? (() => {});
    tap.on('connection', (connection) => this.#follow(connection));
  }

  /** Starts the fake cluster and a tap in front of it, both on 127.0.0.1. */
  static async start(options: KubectlRecorderOptions = {}): Promise<KubectlRecorder> {
    const cluster = await startDemoCluster();
    const { port } = new URL(cluster.cluster.url);
    try {
      return new KubectlRecorder(cluster, await SocketTap.start({ host: '127.0.0.1', port: Number(port) }), options);
    } catch (err) {
      await cluster.close();
      throw err;
    }
  }

  /** The tap's URL, e.g. "http://127.0.0.1:40123": what kubectl talks to. */
  get url(): string {
    return `http://127.0.0.1:${this.#tap.port}`;
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
      timer.unref();
      const cleanup = (): void => {
        clearTimeout(timer);
        this.off('change', onChange);
      };
      this.on('change', onChange);
    });
  }

  /** Destroys every connection, stops the tap, the fake cluster and its echo pod. */
  async close(): Promise<void> {
    await this.#tap.close();
    await this.#cluster.close();
  }

  /** Splits one connection into request heads and, after a 101, the upgraded stream. */
  #follow(connection: TappedConnection): void {
    const heads = new HttpHeads();
    let session: RecordedSession | undefined;
    connection.on('client-data', (chunk: TappedChunk) => {
      if (session !== undefined) session.receive(chunk.bytes, chunk.atMs);
      else heads.client(chunk.bytes);
      this.emit('change');
    });
    connection.on('server-data', (chunk: TappedChunk) => {
      if (session !== undefined) return;
      for (const { request, status, rest } of heads.server(chunk.bytes)) {
        const recorded: RecordedRequest = { ...request, status, known: status < 400 };
        this.requests.push(recorded);
        if (!recorded.known) this.#log(`recorder: the fake cluster answered ${recorded.method} ${recorded.url} with ${status}`);
        if (status === 101) {
          session = new RecordedSession(carriageOf(recorded), recorded, chunk.atMs);
          this.sessions.push(session);
          // Bytes the client sent after its upgrade request belong to the upgraded stream.
          if (rest.length > 0) session.receive(rest, chunk.atMs);
        }
      }
      this.emit('change');
    });
    connection.on('client-end', () => {
      session?.note('client ended its side of the TCP connection', connection.now());
      this.emit('change');
    });
    connection.on('error', (err: Error) => {
      session?.note(`socket error: ${err.message}`, connection.now());
      this.emit('change');
    });
    connection.on('close', () => {
      session?.markClosed(connection.closedAtMs ?? connection.now());
      this.emit('change');
    });
  }
}

function carriageOf(request: RecordedRequest): Carriage {
  const upgrade = request.rawHeaders.find(([name]) => name.toLowerCase() === 'upgrade')?.[1].toLowerCase() ?? '';
  return upgrade === 'websocket' ? 'websocket-tunnel' : 'spdy';
}
