/**
 * The session's write pump: every frame the session sends goes through here onto the transport.
 *
 * - Corked per tick: frames written in one turn of the event loop leave in one writev (a pair's
 *   three opening frames, the replies to one read's frames); on loopback each write is a wake-up
 *   of the peer.
 * - DATA goes out as header + payload in one writev, without copying the payload.
 * - Drain: while the transport is over its mark, writers wait ({@link WritePump.whenWritable}) for
 *   its 'drain'.
 * - The reply bound (maxQueuedReplyFrames, spec/memory-budget.md): control frames written while
 *   the session handles the peer's frames are replies. Past the bound, queued behind a transport
 *   that does not drain, the pump reports a backlog (the session stops reading, so a peer that
 *   sends without reading meets TCP backpressure), and if the backlog lasts receiveStallTimeoutMs
 *   the session fails with ERR_RESOURCE_LIMIT.
 */
import type { Duplex } from 'node:stream';
import { ErrorCode, KubemuxError } from '../errors.js';
import { FrameEncoder, encodeDataFrameHeader } from '../spdy/index.js';
import type { DataFrame, Frame } from '../spdy/index.js';

/** What the pump tells its session. */
export interface WritePumpHooks {
  /** A frame was written (`dataBytes` of DATA payload; 0 for control frames). */
  readonly frameSent: (dataBytes: number) => void;
  /** The reply backlog started or ended: the session re-decides whether to read. */
  readonly backlogChanged: () => void;
  /** The backlog outlasted its deadline. */
  readonly backlogExpired: (error: KubemuxError) => void;
}

/** Bounds of the pump (from the session's options). */
export interface WritePumpLimits {
  readonly maxQueuedReplyFrames: number;
  readonly receiveStallTimeoutMs: number;
}

/** Writes the session's frames (see the file comment). */
export class WritePump {
  readonly #transport: Duplex;
  readonly #encoder = new FrameEncoder();
  readonly #limits: WritePumpLimits;
  readonly #hooks: WritePumpHooks;

  #closed = false;
  #needDrain = false;
  /** The transport is corked until the end of this tick (see #write). */
  #corked = false;
  #drainWaiters: Array<() => void> = [];

  /** True while the session is handing out the peer's frames: control frames sent now are replies. */
  #receiving = false;
  #queuedReplies = 0;
  #backlogged = false;
  #backlogTimer: NodeJS.Timeout | undefined;

  constructor(transport: Duplex, limits: WritePumpLimits, hooks: WritePumpHooks) {
    this.#transport = transport;
    this.#limits = limits;
    this.#hooks = hooks;
  }

  /** Replies to the peer queued since the transport last drained. */
  get queuedReplies(): number {
    return this.#queuedReplies;
  }

  /** True while replies are backlogged past maxQueuedReplyFrames (the session should not read). */
  get backlogged(): boolean {
    return this.#backlogged;
  }

  /** Marks the span in which the session handles the peer's frames (see the file comment). */
  set receiving(value: boolean) {
    this.#receiving = value;
  }

  /** Encodes and writes one control frame. */
  send(frame: Exclude<Frame, DataFrame>): void {
    if (this.#closed) return;
    this.#hooks.frameSent(0);
    for (const bytes of this.#encoder.encode(frame)) this.#write(bytes);
    if (this.#receiving) this.#countReply();
  }

  /** Writes one DATA frame: header and payload in one writev, no copy. */
  sendData(streamId: number, flags: number, payload: Buffer): void {
    if (this.#closed) return;
    this.#hooks.frameSent(payload.length);
    const header = encodeDataFrameHeader(streamId, flags, payload.length);
    if (payload.length === 0) {
      this.#write(header);
      return;
    }
    // No 8-byte packet on its own.
    this.#transport.cork();
    this.#write(header);
    this.#write(payload);
    this.#transport.uncork();
  }

  /** Calls `callback` now if the transport takes more, else at its next 'drain' (or at close). */
  whenWritable(callback: () => void): void {
    if (!this.#needDrain) callback();
    else this.#drainWaiters.push(callback);
  }

  /** The transport's 'drain': the replies are through, and the waiting writers go on. */
  drained(): void {
    this.#needDrain = false;
    this.#queuedReplies = 0;
    if (this.#backlogged) {
      this.#backlogged = false;
      clearTimeout(this.#backlogTimer);
      this.#backlogTimer = undefined;
      this.#hooks.backlogChanged();
    }
    this.#releaseWaiters();
  }

  /** The session is closing: nothing more is written from now on. */
  stop(): void {
    this.#closed = true;
    clearTimeout(this.#backlogTimer);
    this.#backlogTimer = undefined;
  }

  /** Last step of the close: waiting writers go on (and find the session closed); what this tick wrote leaves now. */
  flush(): void {
    this.#releaseWaiters();
    // What this tick wrote (a GOAWAY saying why) goes out before the transport ends.
    if (this.#corked) this.#uncork();
  }

  #write(bytes: Buffer): void {
    if (!this.#corked) {
      this.#corked = true;
      this.#transport.cork();
      process.nextTick(this.#uncork);
    }
    if (!this.#transport.write(bytes)) this.#needDrain = true;
  }

  readonly #uncork = (): void => {
    this.#corked = false;
    this.#transport.uncork();
  };

  #releaseWaiters(): void {
    const waiters = this.#drainWaiters;
    this.#drainWaiters = [];
    for (const waiter of waiters) waiter();
  }

  /** A reply was written while receiving: count it if it waits behind a transport that does not drain. */
  #countReply(): void {
    if (!this.#needDrain) return;
    this.#queuedReplies++;
    if (this.#queuedReplies < this.#limits.maxQueuedReplyFrames || this.#backlogged) return;
    this.#backlogged = true;
    this.#hooks.backlogChanged();
    const timeoutMs = this.#limits.receiveStallTimeoutMs;
    if (timeoutMs > 0) {
      this.#backlogTimer = setTimeout(() => {
        this.#backlogTimer = undefined;
        this.#hooks.backlogExpired(
          new KubemuxError(
            ErrorCode.RESOURCE_LIMIT,
            'session',
            `the peer left ${this.#queuedReplies} replies unread for ${timeoutMs} ms (maxQueuedReplyFrames ${this.#limits.maxQueuedReplyFrames})`,
            { origin: 'local' },
          ),
        );
      }, timeoutMs);
      this.#backlogTimer.unref();
    }
  }
}
