/**
 * A scripted SPDY peer for session tests: the other end of a session's transport, driven frame by
 * frame, so that a test reads like a wire transcript:
 *
 *   const { session, peer } = scriptedPair({ role: 'client' });   // ./scripted-pair.ts
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
import type { Duplex } from 'node:stream';
import { FLAG_FIN, FrameDecoder, FrameEncoder, MAX_FRAME_PAYLOAD_BYTES, type DataFrame, type Frame } from '../../src/spdy/index.js';
import { EXPECT_TIMEOUT_MS } from './deadlines.js';
import { ping } from './frame-builders.js';
import { describeFrame, describePattern, frameLength, matchFrame, withLength, type FramePattern } from './frame-matcher.js';

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
    // Each check looks only at the frames that arrived since the last one: a flood of frames
    // before the echo must not make the wait quadratic.
    let scanned = this.#cursor;
    await this.#until(
      () => {
        for (; scanned < this.received.length; scanned++) {
          const frame = this.received[scanned]!;
          if (frame.type === 'PING' && frame.id === id) {
            echo = scanned;
            return true;
          }
        }
        return false;
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
