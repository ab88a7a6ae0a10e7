/**
 * A scripted SPDY peer for session tests: the other end of a session's transport, driven frame by
 * frame, so that a test reads like a wire transcript:
 *
 *   const { session, peer } = scriptedPair({ role: 'client' });
 *   const opening = session.openStream({ streamtype: 'data' });
 *   await peer.expect({ type: 'SYN_STREAM', streamId: 1, headers: { streamtype: 'data' } });
 *   peer.send(reply(1));
 *   const stream = await opening;
 *
 * The peer has its own FrameEncoder and FrameDecoder, hence its own zlib contexts, as a real peer
 * does; it never shares state with the session under test.
 *
 * Waiting is bounded and event-driven: `expect` resolves as soon as the frame arrives and fails
 * after a deadline (default 2 s) with the frames actually received. Absence is never proven by
 * sleeping: {@link ScriptedPeer.sync} sends a PING and waits for its echo, and since the session
 * handles frames in wire order, every frame it sent in reaction to what the peer sent before the
 * PING is then on record.
 */
import assert from 'node:assert/strict';
import { createHash, type Hash } from 'node:crypto';
import { createServer, connect, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { SpdySession, type SpdySessionOptions } from '../../src/session/index.js';
import {
  FLAG_FIN,
  FLAG_UNIDIRECTIONAL,
  FrameDecoder,
  FrameEncoder,
  GoAwayStatus,
  MAX_FRAME_PAYLOAD_BYTES,
  SettingsId,
  headerBlockFrom,
} from '../../src/spdy/index.js';
import type {
  DataFrame,
  Frame,
  GoAwayFrame,
  HeaderBlock,
  PingFrame,
  RstStreamFrame,
  SettingsEntry,
  SettingsFrame,
  SynReplyFrame,
  SynStreamFrame,
  WindowUpdateFrame,
} from '../../src/spdy/index.js';
import { duplexPair } from './duplex-pair.js';

/** Headers as tests like to write them: a plain object, or a decoded block. */
export type HeadersLike = HeaderBlock | Readonly<Record<string, string | readonly string[]>>;

type FieldPattern<F> = {
  readonly [K in Exclude<keyof F, 'type'>]?: K extends 'headers'
    ? HeadersLike
    : K extends 'data'
      ? Buffer | string
      : K extends 'entries'
        ? readonly SettingsEntry[]
        : F[K];
};

/**
 * A partial frame: `type` plus any fields that must match. `headers` compare as a set of names
 * (each with its values in order) and must be exactly the given set; `data` compares by bytes.
 */
export type FramePattern = { [T in Frame['type']]: { readonly type: T } & FieldPattern<Extract<Frame, { type: T }>> }[Frame['type']];

/** Default deadline of every wait, ms. A deadline for failing, not a pause: waits end at the event. */
export const EXPECT_TIMEOUT_MS = 2000;

/** Ids of the peer's synchronisation PINGs start here, far from ids a test uses by hand. */
const SYNC_PING_BASE = 0x4000_0000;

/** How a {@link ScriptedPeer} behaves. */
export interface ScriptedPeerOptions {
  /** The peer's own role (decides the parity of its PING ids). The opposite of the session's. */
  readonly role: 'client' | 'server';
  /** Keep DATA payloads in `received` (default true). Off for bulk transfers: byte counts and hashes are kept either way. */
  readonly keepData?: boolean;
  /** Deadline of `expect` and friends, ms. Default {@link EXPECT_TIMEOUT_MS}. */
  readonly expectTimeoutMs?: number;
}

interface Waiter {
  readonly check: () => boolean;
}

/** One scripted end of a SPDY transport: sends what the test says, records what the session sends. */
export class ScriptedPeer {
  /** The peer's end of the transport (a socket in the TCP variant). */
  readonly transport: Duplex;
  readonly role: 'client' | 'server';
  /** Every frame decoded so far, in wire order (without DATA payloads when `keepData` is off). */
  readonly received: Frame[] = [];
  /** Errors the peer's transport emitted (kept so that they cannot crash the test process). */
  readonly transportErrors: Error[] = [];
  /** Set when the session sent bytes the peer could not decode. */
  decodeError: Error | undefined;
  /** True once the session ended or closed the transport. */
  ended = false;

  readonly #encoder = new FrameEncoder();
  readonly #decoder = new FrameDecoder({ maxFrameBytes: MAX_FRAME_PAYLOAD_BYTES, maxHeaderBlockBytes: 1 << 20 });
  readonly #keepData: boolean;
  readonly #timeoutMs: number;
  readonly #waiters = new Set<Waiter>();
  readonly #listeners = new Set<(frame: Frame) => void>();
  readonly #hashes = new Map<number, Hash>();
  readonly #byteCounts = new Map<number, number>();
  #cursor = 0;
  #nextSyncPing: number;

  constructor(transport: Duplex, options: ScriptedPeerOptions) {
    this.transport = transport;
    this.role = options.role;
    this.#keepData = options.keepData ?? true;
    this.#timeoutMs = options.expectTimeoutMs ?? EXPECT_TIMEOUT_MS;
    this.#nextSyncPing = SYNC_PING_BASE + (options.role === 'client' ? 1 : 0);
    transport.on('data', (chunk: Buffer) => this.#receive(chunk));
    transport.on('end', () => this.#markEnded());
    transport.on('close', () => this.#markEnded());
    transport.on('error', (error: Error) => {
      this.transportErrors.push(error);
      this.#markEnded();
    });
  }

  // ------------------------------------------------------------------ sending

  /** Encodes `frames` with the peer's own compression context and writes them; returns the last write's result. */
  send(...frames: Frame[]): boolean {
    let flowing = true;
    for (const frame of frames) for (const bytes of this.#encoder.encode(frame)) flowing = this.transport.write(bytes);
    return flowing;
  }

  /** Writes bytes as they are (garbage, half frames, hand-made headers). */
  sendRaw(bytes: Uint8Array): boolean {
    return this.transport.write(bytes);
  }

  /** Stops reading the transport (on TCP the kernel buffers then fill and the session sees backpressure). */
  pause(): void {
    this.transport.pause();
  }

  /** Reads the transport again after {@link pause}. */
  resume(): void {
    this.transport.resume();
  }

  /** Ends the peer's sending side (TCP FIN). */
  close(): void {
    this.transport.end();
  }

  /** Destroys the transport at once. */
  destroy(): void {
    this.transport.destroy();
  }

  // ------------------------------------------------------------------ observing

  /**
   * Calls `listener` for every frame from now on, in a microtask after the frame was decoded:
   * like a peer across a real network, a listener that answers never re-enters the session while
   * the session is still handling the bytes it just wrote. Returns a function that unsubscribes.
   */
  onFrame(listener: (frame: Frame) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** DATA payload bytes received so far on `streamId`. */
  dataBytes(streamId: number): number {
    return this.#byteCounts.get(streamId) ?? 0;
  }

  /** SHA-256 (hex) of all DATA payload received so far on `streamId`, in order. */
  dataHash(streamId: number): string {
    return (this.#hashes.get(streamId)?.copy() ?? createHash('sha256')).digest('hex');
  }

  /** Frames received and not yet consumed by an `expect*` or `sync`. */
  get unconsumed(): Frame[] {
    return this.received.slice(this.#cursor);
  }

  /**
   * Waits for the next unconsumed frame and asserts that it matches `pattern` (a transcript is
   * strict: a different frame in its place fails at once). Returns the frame.
   */
  async expect<P extends FramePattern>(pattern: P, timeoutMs = this.#timeoutMs): Promise<Extract<Frame, { type: P['type'] }>> {
    await this.#until(() => this.received.length > this.#cursor, `a ${describePattern(pattern)}`, timeoutMs);
    const frame = this.received[this.#cursor]!;
    const mismatch = matchFrame(frame, pattern);
    if (mismatch !== undefined) {
      assert.fail(`expected ${describePattern(pattern)} as frame #${this.#cursor}, got ${describeFrame(frame)} (${mismatch})\n${this.#transcript()}`);
    }
    this.#cursor++;
    return frame as Extract<Frame, { type: P['type'] }>;
  }

  /** {@link expect} for each pattern in turn. */
  async expectSequence(...patterns: FramePattern[]): Promise<Frame[]> {
    const frames: Frame[] = [];
    for (const pattern of patterns) frames.push(await this.expect(pattern));
    return frames;
  }

  /**
   * Consumes consecutive DATA frames of `streamId` until `byteCount` payload bytes have arrived
   * (the last frame may carry FIN when `fin` says so; none before it may). Returns the frames.
   */
  async expectData(streamId: number, byteCount: number, options: { fin?: boolean; timeoutMs?: number } = {}): Promise<DataFrame[]> {
    const frames: DataFrame[] = [];
    let bytes = 0;
    let finished = false;
    while (bytes < byteCount) {
      const frame = await this.expect({ type: 'DATA', streamId }, options.timeoutMs);
      frames.push(frame);
      bytes += frameLength(frame);
      if ((frame.flags & FLAG_FIN) !== 0) {
        if (options.fin !== true || bytes !== byteCount) {
          assert.fail(`DATA on stream ${streamId} carried FIN after ${bytes} of ${byteCount} bytes\n${this.#transcript()}`);
        }
        finished = true;
      }
    }
    assert.equal(bytes, byteCount, `DATA on stream ${streamId}: ${bytes} bytes instead of ${byteCount}`);
    // The payload may be complete with FIN following in an empty frame of its own.
    if (options.fin === true && !finished) {
      const fin = await this.expect({ type: 'DATA', streamId, flags: FLAG_FIN }, options.timeoutMs);
      assert.equal(frameLength(fin), 0, `DATA on stream ${streamId} went past ${byteCount} bytes`);
      frames.push(fin);
    }
    return frames;
  }

  /**
   * Round trip: sends a PING of the peer's own parity and waits for its echo. Returns (and
   * consumes) the frames that arrived before the echo. Because the session handles frames in
   * wire order, this is the proof of absence: whatever the session did in reaction to the
   * earlier frames has reached the wire by now.
   */
  async sync(timeoutMs = this.#timeoutMs): Promise<Frame[]> {
    const id = this.#nextSyncPing;
    this.#nextSyncPing += 2;
    this.send(ping(id));
    let echo = -1;
    await this.#until(
      () => {
        echo = this.received.findIndex((frame, index) => index >= this.#cursor && frame.type === 'PING' && frame.id === id);
        return echo >= 0;
      },
      `the echo of PING ${id}`,
      timeoutMs,
    );
    const before = this.received.slice(this.#cursor, echo);
    this.#cursor = echo + 1;
    return before;
  }

  /** Asserts, by a {@link sync} round trip, that the session sent nothing since the last consumed frame. */
  async expectQuiet(timeoutMs = this.#timeoutMs): Promise<void> {
    const before = await this.sync(timeoutMs);
    if (before.length > 0) assert.fail(`expected no frames, got ${before.map(describeFrame).join(', ')}\n${this.#transcript()}`);
  }

  /** Waits until the session has ended or closed the transport. */
  async expectEnd(timeoutMs = this.#timeoutMs): Promise<void> {
    await this.#until(() => this.ended, 'the end of the transport', timeoutMs, true);
  }

  /** Waits until `predicate` holds over the frames received so far (does not consume). */
  async waitFor(predicate: (received: readonly Frame[]) => boolean, what: string, timeoutMs = this.#timeoutMs): Promise<void> {
    await this.#until(() => predicate(this.received), what, timeoutMs, true);
  }

  /** All frames received so far, one per line, for failure messages. */
  transcript(): string {
    return this.#transcript();
  }

  // ------------------------------------------------------------------ internals

  #receive(chunk: Buffer): void {
    if (this.decodeError !== undefined) return;
    try {
      this.#decoder.push(chunk, (frame) => this.#record(frame));
    } catch (error) {
      this.decodeError = error as Error;
    }
    this.#wake();
  }

  #record(frame: Frame): void {
    if (frame.type === 'DATA') {
      const length = frame.data.length;
      let hash = this.#hashes.get(frame.streamId);
      if (hash === undefined) this.#hashes.set(frame.streamId, (hash = createHash('sha256')));
      hash.update(frame.data);
      this.#byteCounts.set(frame.streamId, (this.#byteCounts.get(frame.streamId) ?? 0) + length);
      // The payload is a view of the transport's chunk; keep a copy, or only its length.
      frame = this.#keepData ? { ...frame, data: Buffer.from(frame.data) } : withLength(frame, length);
    }
    this.received.push(frame);
    if (this.#listeners.size > 0) {
      const listeners = [...this.#listeners];
      queueMicrotask(() => {
        for (const listener of listeners) listener(frame);
      });
    }
  }

  #markEnded(): void {
    this.ended = true;
    this.#wake();
  }

  #wake(): void {
    for (const waiter of [...this.#waiters]) waiter.check();
  }

  /** Resolves when `condition` holds; rejects at the deadline, or early when no frame can come any more. */
  #until(condition: () => boolean, what: string, timeoutMs: number, endIsFine = false): Promise<void> {
    if (condition()) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const fail = (why: string): void => {
        clearTimeout(timer);
        this.#waiters.delete(waiter);
        reject(new assert.AssertionError({ message: `waiting for ${what}: ${why}\n${this.#transcript()}` }));
      };
      const waiter: Waiter = {
        check: () => {
          if (condition()) {
            clearTimeout(timer);
            this.#waiters.delete(waiter);
            resolve();
            return true;
          }
          if (this.decodeError !== undefined) fail(`the session sent undecodable bytes: ${this.decodeError.message}`);
          else if (this.ended && !endIsFine) fail('the transport ended');
          return false;
        },
      };
      const timer = setTimeout(() => fail(`nothing matching within ${timeoutMs} ms`), timeoutMs);
      this.#waiters.add(waiter);
      waiter.check();
    });
  }

  #transcript(): string {
    const lines = this.received.map((frame, index) => `${index === this.#cursor ? '>' : ' '} #${index} ${describeFrame(frame)}`);
    if (this.#cursor === this.received.length) lines.push(`> (nothing after frame #${this.#cursor - 1})`);
    if (this.ended) lines.push('  (transport ended)');
    return `frames received from the session:\n${lines.join('\n')}`;
  }
}

// -------------------------------------------------------------------- frame builders

/** SYN_STREAM as spdystream writes it: priority 0, slot 0, not associated. */
export function syn(streamId: number, headers: HeadersLike = {}, options: { fin?: boolean; unidirectional?: boolean } = {}): SynStreamFrame {
  const flags = (options.fin === true ? FLAG_FIN : 0) | (options.unidirectional === true ? FLAG_UNIDIRECTIONAL : 0);
  return { type: 'SYN_STREAM', streamId, associatedStreamId: 0, priority: 0, slot: 0, flags, headers: toBlock(headers) };
}

/** SYN_REPLY; with no headers given, the empty block Kubernetes sends. */
export function reply(streamId: number, options: { headers?: HeadersLike; fin?: boolean } = {}): SynReplyFrame {
  return { type: 'SYN_REPLY', streamId, flags: options.fin === true ? FLAG_FIN : 0, headers: toBlock(options.headers ?? {}) };
}

/** DATA; strings are UTF-8. */
export function data(streamId: number, bytes: Uint8Array | string = Buffer.alloc(0), options: { fin?: boolean } = {}): DataFrame {
  return { type: 'DATA', streamId, flags: options.fin === true ? FLAG_FIN : 0, data: typeof bytes === 'string' ? Buffer.from(bytes) : Buffer.from(bytes) };
}

/** RST_STREAM with `status` (one of RstStatus). */
export function rst(streamId: number, status: number): RstStreamFrame {
  return { type: 'RST_STREAM', streamId, status, flags: 0 };
}

/** PING; an even id is a server's, an odd one a client's. */
export function ping(id: number): PingFrame {
  return { type: 'PING', id, flags: 0 };
}

/** GOAWAY naming the last stream of the receiver's that the sender processed. */
export function goaway(lastGoodStreamId: number, status: number = GoAwayStatus.OK): GoAwayFrame {
  return { type: 'GOAWAY', lastGoodStreamId, status, flags: 0 };
}

/** WINDOW_UPDATE; stream 0 is the session window. */
export function windowUpdate(streamId: number, deltaWindowSize: number): WindowUpdateFrame {
  return { type: 'WINDOW_UPDATE', streamId, deltaWindowSize, flags: 0 };
}

/** SETTINGS from named values (the two the session reads) or raw entries. */
export function settings(values: { initialWindowSize?: number; maxConcurrentStreams?: number } | readonly SettingsEntry[]): SettingsFrame {
  if (Array.isArray(values)) return { type: 'SETTINGS', flags: 0, entries: values };
  const named = values as { initialWindowSize?: number; maxConcurrentStreams?: number };
  const entries: SettingsEntry[] = [];
  if (named.maxConcurrentStreams !== undefined) entries.push({ id: SettingsId.MAX_CONCURRENT_STREAMS, flags: 0, value: named.maxConcurrentStreams });
  if (named.initialWindowSize !== undefined) entries.push({ id: SettingsId.INITIAL_WINDOW_SIZE, flags: 0, value: named.initialWindowSize });
  return { type: 'SETTINGS', flags: 0, entries };
}

// -------------------------------------------------------------------- set-ups

/** A session under test and the scripted peer at the other end of its transport. */
export interface ScriptedSetup {
  readonly session: SpdySession;
  readonly peer: ScriptedPeer;
  /** Destroys the session and the peer's transport (and, for TCP, the listener). Idempotent. */
  dispose(): Promise<void>;
}

/** A TCP set-up also exposes both sockets. */
export interface ScriptedTcpSetup extends ScriptedSetup {
  /** The session's socket. */
  readonly sessionSocket: Socket;
  /** The peer's socket (also `peer.transport`). */
  readonly peerSocket: Socket;
}

function peerRole(options: SpdySessionOptions): 'client' | 'server' {
  return options.role === 'client' ? 'server' : 'client';
}

/** A session and a scripted peer over an in-memory duplex pair. */
export function scriptedPair(sessionOptions: SpdySessionOptions, peerOptions: Partial<ScriptedPeerOptions> = {}): ScriptedSetup {
  const [sessionEnd, peerEnd] = duplexPair();
  // The peer listens before the session can write its first frames (server SETTINGS).
  const peer = new ScriptedPeer(peerEnd, { role: peerRole(sessionOptions), ...peerOptions });
  const session = new SpdySession(sessionEnd, sessionOptions);
  return {
    session,
    peer,
    dispose: async () => {
      session.destroy();
      peer.destroy();
    },
  };
}

/** A session and a scripted peer over a real loopback TCP connection (127.0.0.1, ephemeral port). */
export async function scriptedTcpPair(sessionOptions: SpdySessionOptions, peerOptions: Partial<ScriptedPeerOptions> = {}): Promise<ScriptedTcpSetup> {
  const server = createServer();
  const accepted = new Promise<Socket>((resolve) => server.once('connection', resolve));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  try {
    const address = server.address();
    assert.ok(address !== null && typeof address === 'object');
    const sessionSocket = connect(address.port, '127.0.0.1');
    await new Promise<void>((resolve, reject) => {
      sessionSocket.once('connect', resolve);
      sessionSocket.once('error', reject);
    });
    const peerSocket = await accepted;
    const peer = new ScriptedPeer(peerSocket, { role: peerRole(sessionOptions), ...peerOptions });
    const session = new SpdySession(sessionSocket, sessionOptions);
    return {
      session,
      peer,
      sessionSocket,
      peerSocket,
      dispose: async () => {
        session.destroy();
        peerSocket.destroy();
        sessionSocket.destroy();
      },
    };
  } finally {
    // Stop listening at once. Not awaited: close() calls back only once the accepted
    // connection has ended too, and that connection is the one the test is about to use.
    server.close();
  }
}

// -------------------------------------------------------------------- matching and describing

function toBlock(headers: HeadersLike): HeaderBlock {
  return headers instanceof Map ? headers : headerBlockFrom(headers as Readonly<Record<string, string | readonly string[]>>);
}

const LENGTHS = new WeakMap<DataFrame, number>();

function withLength(frame: DataFrame, length: number): DataFrame {
  const stripped: DataFrame = { ...frame, data: Buffer.alloc(0) };
  LENGTHS.set(stripped, length);
  return stripped;
}

/** A DATA frame's payload length, also when the peer did not keep the payload. */
export function frameLength(frame: DataFrame): number {
  return LENGTHS.get(frame) ?? frame.data.length;
}

function sortedHeaders(headers: HeadersLike): string {
  const block = toBlock(headers);
  return JSON.stringify([...block].map(([name, values]) => [name, [...values]]).sort(([a], [b]) => ((a as string) < (b as string) ? -1 : 1)));
}

/** Why `frame` does not match `pattern`, or undefined when it does. */
export function matchFrame(frame: Frame, pattern: FramePattern): string | undefined {
  if (frame.type !== pattern.type) return `type ${frame.type} is not ${pattern.type}`;
  const fields = frame as unknown as Record<string, unknown>;
  for (const [key, expected] of Object.entries(pattern)) {
    if (key === 'type' || expected === undefined) continue;
    const actual = fields[key];
    if (key === 'headers') {
      const want = sortedHeaders(expected as HeadersLike);
      const got = sortedHeaders(actual as HeaderBlock);
      if (want !== got) return `headers ${got} are not ${want}`;
    } else if (key === 'data') {
      const want = typeof expected === 'string' ? Buffer.from(expected) : (expected as Buffer);
      if (!(actual as Buffer).equals(want)) return `data ${preview(actual as Buffer)} is not ${preview(want)}`;
    } else if (key === 'entries') {
      try {
        assert.deepStrictEqual(
          (actual as SettingsEntry[]).map(({ id, flags, value }) => ({ id, flags, value })),
          (expected as SettingsEntry[]).map(({ id, flags, value }) => ({ id, flags, value })),
        );
      } catch {
        return `entries ${JSON.stringify(actual)} are not ${JSON.stringify(expected)}`;
      }
    } else if (actual !== expected) {
      return `${key} ${String(actual)} is not ${String(expected)}`;
    }
  }
  return undefined;
}

function preview(bytes: Buffer): string {
  const hex = bytes.subarray(0, 16).toString('hex');
  return `${bytes.length} bytes [${hex}${bytes.length > 16 ? '…' : ''}]`;
}

function describePattern(pattern: FramePattern): string {
  const parts = Object.entries(pattern)
    .filter(([key, value]) => key !== 'type' && value !== undefined)
    .map(([key, value]) => {
      if (key === 'headers') return `headers=${sortedHeaders(value as HeadersLike)}`;
      if (key === 'data') return `data=${preview(typeof value === 'string' ? Buffer.from(value) : (value as Buffer))}`;
      return `${key}=${JSON.stringify(value)}`;
    });
  return `${pattern.type}${parts.length > 0 ? ` {${parts.join(', ')}}` : ''}`;
}

/** A one-line description of a frame. */
export function describeFrame(frame: Frame): string {
  switch (frame.type) {
    case 'DATA':
      return `DATA stream=${frame.streamId} flags=${frame.flags} ${LENGTHS.has(frame) ? `${frameLength(frame)} bytes` : preview(frame.data)}`;
    case 'SYN_STREAM':
      return `SYN_STREAM stream=${frame.streamId} flags=${frame.flags} priority=${frame.priority} headers=${sortedHeaders(frame.headers)}`;
    case 'SYN_REPLY':
    case 'HEADERS':
      return `${frame.type} stream=${frame.streamId} flags=${frame.flags} headers=${sortedHeaders(frame.headers)}`;
    case 'RST_STREAM':
      return `RST_STREAM stream=${frame.streamId} status=${frame.status}`;
    case 'SETTINGS':
      return `SETTINGS flags=${frame.flags} ${JSON.stringify(frame.entries)}`;
    case 'PING':
      return `PING id=${frame.id}`;
    case 'GOAWAY':
      return `GOAWAY last=${frame.lastGoodStreamId} status=${frame.status}`;
    case 'WINDOW_UPDATE':
      return `WINDOW_UPDATE stream=${frame.streamId} delta=${frame.deltaWindowSize}`;
    case 'UNKNOWN':
      return `UNKNOWN type=${frame.controlType} version=${frame.version} ${preview(frame.payload)}`;
  }
}
