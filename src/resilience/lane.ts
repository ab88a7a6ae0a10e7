/**
 * One upgraded connection of a {@link ResilientConnection}, with its liveness: pings on an
 * interval with a deadline, the probe after an open timed out, and the count of opens that timed
 * out in a row. The lane decides nothing about replacement; it reports to its owner.
 *
 *            open timed out                probe answered, fewer than stalledOpenLimit timeouts in a row
 *   active ─────────────────> suspect ────────────────────────────────────────────> active
 *     │  ^                      │  │ probe answered, stalledOpenLimit in a row: owner.laneStalled
 *     │  └── (owner replaces) ──┘  │ probe failed ─────────────────────────────┐
 *     │ GOAWAY / ids used up /     v                                            v
 *     │ owner condemns it      draining ── closes when its pairs are done ──> closed
 *     └──── ping deadline missed, transport or session error ───────────────> closed
 *
 * Proof of life: a ping answered in time. A ping that misses its deadline proves death only when
 * nothing else arrived from the peer meanwhile and the session was reading: a connection busy
 * moving data (frames arrived) is alive however late its echo, and one whose session stopped
 * reading because a local reader is slow cannot see the echo (spec/resilience.md, "Liveness").
 *
 * v4 has no long-lived connection: its "connection" is a factory of one WebSocket per pair, whose
 * ping() pings every open WebSocket and fails only the pairs that do not answer. A v4 lane is
 * therefore never declared dead by a ping.
 */
import { ErrorCode, KubemuxError } from '../errors.js';
import type { PortForwardConnection, PortForwardDrainInfo } from '../transport/port-forward-connection.js';
import type { Clock, TimerHandle } from '../util/clock.js';

/** See the diagram in the file comment. */
export type LaneState = 'active' | 'suspect' | 'draining' | 'closed';

const LANE_TRANSITIONS: Readonly<Record<LaneState, readonly LaneState[]>> = {
  active: ['suspect', 'draining', 'closed'],
  suspect: ['active', 'draining', 'closed'],
  draining: ['closed'],
  closed: [],
};

/** What a lane tells its owner. Every call happens at most once per lane, except `laneAlive`. */
export interface LaneOwner {
  /** A ping was answered (liveness or probe). */
  laneAlive(lane: Lane, rttMs: number): void;
  /** The lane became suspect (an open timed out) and is being probed. */
  laneSuspect(lane: Lane): void;
  /** The probe was answered and the lane takes pairs again. */
  laneRecovered(lane: Lane): void;
  /** The probe was answered but opens keep timing out: a stalled runtime. */
  laneStalled(lane: Lane): void;
  /** The connection stopped taking new pairs (GOAWAY, ids used up, or {@link Lane.drain}). */
  laneDraining(lane: Lane, info: PortForwardDrainInfo | undefined): void;
  /**
   * The lane is gone. `error` is why: a missed ping deadline or failed probe (ERR_PING_TIMEOUT),
   * the connection's own error, or undefined for a clean close.
   */
  laneClosed(lane: Lane, error: KubemuxError | undefined): void;
}

/** Liveness settings of a lane. */
export interface LaneTiming {
  readonly pingIntervalMs: number;
  readonly pingTimeoutMs: number;
  readonly probeTimeoutMs: number;
  readonly stalledOpenLimit: number;
}

/** One connection and its liveness (see the file comment). */
export class Lane {
  /** The connection this lane watches. Owned by the lane from now on. */
  readonly connection: PortForwardConnection;
  /** 1 for a target's first connection, then counting. */
  readonly generation: number;
  /** When the lane was created (clock ms). */
  readonly createdAt: number;
  #state: LaneState = 'active';
  #drained = false;
  #lastAliveAt: number;
  #rttMs: number | undefined;
  #openTimeoutsInARow = 0;
  #pairs = 0;
  #full = false;
  #pingTimer: TimerHandle | undefined;
  #pinging = false;
  #probing = false;
  readonly #owner: LaneOwner;
  readonly #clock: Clock;
  readonly #timing: LaneTiming;
  readonly #onDraining = (info: PortForwardDrainInfo): void => this.drain(info);
  readonly #onClose = (error?: KubemuxError): void => this.#close(error);

  constructor(connection: PortForwardConnection, generation: number, owner: LaneOwner, clock: Clock, timing: LaneTiming) {
    this.connection = connection;
    this.generation = generation;
    this.#owner = owner;
    this.#clock = clock;
    this.#timing = timing;
    this.createdAt = clock.now();
    this.#lastAliveAt = this.createdAt;
    connection.on('draining', this.#onDraining);
    connection.on('close', this.#onClose);
    this.#schedulePing();
    if (connection.closed) queueMicrotask(() => this.#close(undefined));
    else if (!connection.acceptingStreams) queueMicrotask(() => this.drain(undefined));
  }

  /** See the diagram in the file comment. */
  get state(): LaneState {
    return this.#state;
  }

  /** True once the lane entered 'draining' (it stays true after it closed). */
  get drained(): boolean {
    return this.#drained;
  }

  /** Whether new pairs may go to this lane. */
  get usable(): boolean {
    return (this.#state === 'active' || this.#state === 'suspect') && this.connection.acceptingStreams;
  }

  /** The last proof of life (clock ms): creation, or the last answered ping. */
  get lastAliveAt(): number {
    return this.#lastAliveAt;
  }

  /** The last ping round trip, ms. */
  get rttMs(): number | undefined {
    return this.#rttMs;
  }

  /** Pairs opened on this lane whose `data` has not closed. */
  get pairs(): number {
    return this.#pairs;
  }

  /** True after an open on this lane met a stream limit, until one of its pairs closes. */
  get full(): boolean {
    return this.#full;
  }

  /** Reports a pair opened on this lane: the runtime is creating streams. */
  openSucceeded(): void {
    this.#openTimeoutsInARow = 0;
    this.#pairs++;
  }

  /** Reports that a pair of this lane closed (its capacity is free again). */
  pairClosed(): void {
    this.#pairs--;
    this.#full = false;
  }

  /** Reports an open refused for capacity (our limit, the peer's SETTINGS, REFUSED_STREAM): new pairs go elsewhere. */
  markFull(): void {
    this.#full = true;
  }

  /** Reports a pair that timed out on this lane: the lane turns suspect and is probed. */
  openTimedOut(): void {
    if (this.#state !== 'active' && this.#state !== 'suspect') return;
    this.#openTimeoutsInARow++;
    if (this.#state === 'active') {
      this.#transition('suspect');
      this.#owner.laneSuspect(this);
    }
    if (!this.#probing) void this.#probe();
  }

  /** Stops new pairs (make-before-break): open pairs finish, then the connection closes. */
  drain(info?: PortForwardDrainInfo): void {
    if (this.#state === 'draining' || this.#state === 'closed') return;
    this.#transition('draining');
    this.#drained = true;
    this.#owner.laneDraining(this, info);
    // A connection that drains by itself (GOAWAY) closes once its pairs are done; one we condemn
    // must be told. close() is graceful and idempotent either way.
    void this.connection.close();
  }

  /** Ends the lane now: its pairs fail with `error` (their local sockets are reset). */
  destroy(error: KubemuxError | undefined): void {
    if (this.#state === 'closed') return;
    this.connection.destroy(error);
    // The connection's 'close' normally got us here already; make sure.
    this.#close(error);
  }

  /** A read of the state that the compiler does not narrow (it changes across awaits). */
  #isClosed(): boolean {
    return this.#state === 'closed';
  }

  #transition(to: LaneState): void {
    if (!LANE_TRANSITIONS[this.#state].includes(to)) throw new Error(`kubemux bug: lane ${this.generation} cannot go from ${this.#state} to ${to}`);
    this.#state = to;
  }

  #close(error: KubemuxError | undefined): void {
    if (this.#state === 'closed') return;
    this.#transition('closed');
    this.#clock.clearTimeout(this.#pingTimer);
    this.#pingTimer = undefined;
    this.connection.off('draining', this.#onDraining);
    this.connection.off('close', this.#onClose);
    this.#owner.laneClosed(this, error);
  }

  #schedulePing(): void {
    if (this.#state === 'closed') return;
    this.#pingTimer = this.#clock.setTimeout(() => {
      this.#pingTimer = undefined;
      void this.#livenessPing();
    }, this.#timing.pingIntervalMs);
  }

  async #livenessPing(): Promise<void> {
    if (this.#state === 'closed') return;
    if (this.#pinging || !this.connection.canPing) {
      this.#schedulePing();
      return;
    }
    this.#pinging = true;
    const outcome = await this.#ping(this.#timing.pingTimeoutMs);
    this.#pinging = false;
    if (this.#isClosed()) return;
    if (outcome.error !== undefined && outcome.conclusive) {
      this.destroy(outcome.error);
      return;
    }
    this.#schedulePing();
  }

  async #probe(): Promise<void> {
    this.#probing = true;
    const outcome = await this.#ping(this.#timing.probeTimeoutMs);
    this.#probing = false;
    if (this.#state !== 'suspect') return;
    if (outcome.error !== undefined) {
      // A probe exists to decide; an inconclusive one (the peer is busy sending us data) counts as alive.
      if (outcome.conclusive) {
        this.destroy(new KubemuxError(ErrorCode.PING_TIMEOUT, 'session', `the connection was probed after a pair timed out and did not answer: ${outcome.error.message}`, { cause: outcome.error }));
        return;
      }
    }
    if (this.#openTimeoutsInARow >= this.#timing.stalledOpenLimit) {
      this.#owner.laneStalled(this);
      return;
    }
    this.#transition('active');
    this.#owner.laneRecovered(this);
  }

  /**
   * One ping under the lane's own deadline (the clock's, so tests can drive it). Resolves with the
   * error, if any, and whether that error proves the connection dead (see the file comment).
   */
  #ping(timeoutMs: number): Promise<{ error?: KubemuxError; conclusive: boolean }> {
    const before = this.#received();
    return new Promise((resolve) => {
      let settled = false;
      const finish = (result: { error?: KubemuxError; conclusive: boolean }): void => {
        if (settled) return;
        settled = true;
        this.#clock.clearTimeout(deadline);
        resolve(result);
      };
      const deadline = this.#clock.setTimeout(() => {
        const error = new KubemuxError(ErrorCode.PING_TIMEOUT, 'session', `no answer to a ping within ${timeoutMs} ms`);
        finish({ error, conclusive: this.#conclusive(before) });
      }, timeoutMs);
      this.connection.ping({ timeoutMs }).then(
        (rttMs) => {
          if (settled) return;
          this.#rttMs = rttMs;
          this.#lastAliveAt = this.#clock.now();
          finish({ conclusive: true });
          this.#owner.laneAlive(this, rttMs);
        },
        (error: unknown) => {
          const failure =
            error instanceof KubemuxError ? error : new KubemuxError(ErrorCode.PING_TIMEOUT, 'session', `the ping failed: ${String(error)}`, { cause: error });
          // A ping that fails because the connection closed is not the lane's verdict: 'close' is.
          finish({ error: failure, conclusive: failure.code === ErrorCode.PING_TIMEOUT && this.#conclusive(before) });
        },
      );
    });
  }

  /** Whether a missed deadline proves death: see the file comment. */
  #conclusive(before: ReceiveMark): boolean {
    if (this.connection.protocol === 'websocket-v4') return false;
    const now = this.#received();
    return now.frames === before.frames && !now.paused && !before.paused;
  }

  #received(): ReceiveMark {
    const session = this.connection.stats.session;
    return { frames: session?.framesReceived ?? 0, paused: session?.receivePaused ?? false };
  }
}

interface ReceiveMark {
  readonly frames: number;
  readonly paused: boolean;
}
