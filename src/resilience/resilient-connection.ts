/**
 * ResilientConnection: one object per target that keeps a live port-forward connection under its
 * pairs, for ever, and that the forwarder uses exactly as it would use a PortForwardConnection
 * (`openPortStreams(port)`, the same pair contract). The forwarder never learns that connections
 * were replaced. All ports of one forward share it, as kubectl shares one connection.
 *
 * What it adds to a connection (spec/resilience.md has the whole design, the defaults and why):
 * - liveness: each connection is pinged on an interval with a deadline (lane.ts); a missed deadline,
 *   a transport or session error marks it dead, on an idle forward too;
 * - an open deadline with a probe: a pair that is not accepted in time fails alone, and the
 *   connection is probed rather than condemned; it is replaced only when the probe fails, or when
 *   opens keep timing out while pings succeed (a stalled runtime);
 * - replacement: a draining or stalled connection is replaced make-before-break (its pairs finish);
 *   a dead one at once (its pairs fail: the pod side of a forwarded TCP connection cannot move);
 *   an open that was waiting on a connection that died is retried on the replacement, once, within
 *   its own deadline; one dial at most is ever in flight;
 * - re-dialing with full-jitter backoff, failures classified (failure-kind.ts), the target resolved
 *   again before every dial (options.ts, TargetFunction); while no connection is live, opens fail
 *   at once with ERR_UNAVAILABLE rather than hang.
 *
 * The public state is derived from the lanes and the dial after every change, and moves only along
 * the transitions below (anything else is a bug and throws):
 *
 *                  dial ok                       open timed out
 *   connecting ─────────────> ready <──────────────────────────> suspect
 *     │    ^                  │ │ ^   probe answered                 │
 *     │    │ delay passed     │ │ └────────────────┐                 │ stalled / GOAWAY
 *     │    │                  │ │ GOAWAY, ids      │ replacement ok  v
 *     v    │                  │ └──────────────> draining ───────────┘
 *   backing-off  <─────┐      │ died                  │ its dial failed
 *   unauthorized       │      v                       │
 *   target-missing <───┴── replacing <────────────────┘ (old one closed first)
 *
 *   any state ── close() / destroy() / fatal ──> closed
 *
 * Size (about 690 lines): one concern, the target's state machine (dial, replace, back off, grow,
 * close), whose transitions share the lanes and the pending opens; each lane's liveness (lane.ts),
 * the backoff, the failure classification, the options and the events are in files of their own.
 */
import { EventEmitter } from 'eventemitter3';
import { abortError, ErrorCode, isKubemuxError, KubemuxError } from '../errors.js';
import { PortForwardDialer } from '../transport/dial.js';
import {
  openArgumentsError,
  type OpenPortStreamsOptions,
  type PortForwardConnection,
  type PortForwardDrainInfo,
  type PortStreamOpener,
  type PortStreams,
} from '../transport/port-forward-connection.js';
import { raceSignal } from '../util/abort.js';
import type { Clock, TimerHandle } from '../util/clock.js';
import { Backoff } from './backoff.js';
import type { DialFailure, ReplacementCause, ResilienceState, ResilientConnectionEvents, ResilientConnectionStats, StateChange } from './events.js';
import { classifyFailure, type FailureKind } from './failure-kind.js';
import { Lane } from './lane.js';
import { resolveResilienceOptions, type ConnectionDialer, type DialReason, type ResilientConnectionOptions, type ResolvedResilienceOptions } from './options.js';

/** Where the public state may go from each state (see the diagram in the file comment). */
const TRANSITIONS: Readonly<Record<ResilienceState, readonly ResilienceState[]>> = {
  connecting: ['ready', 'suspect', 'backing-off', 'unauthorized', 'target-missing', 'closed'],
  ready: ['suspect', 'draining', 'replacing', 'backing-off', 'closed'],
  suspect: ['ready', 'draining', 'replacing', 'backing-off', 'closed'],
  draining: ['ready', 'suspect', 'replacing', 'backing-off', 'unauthorized', 'target-missing', 'closed'],
  replacing: ['ready', 'suspect', 'backing-off', 'unauthorized', 'target-missing', 'closed'],
  'backing-off': ['connecting', 'replacing', 'draining', 'ready', 'suspect', 'closed'],
  unauthorized: ['connecting', 'replacing', 'draining', 'ready', 'suspect', 'closed'],
  'target-missing': ['connecting', 'replacing', 'draining', 'ready', 'suspect', 'closed'],
  closed: [],
};

/** The retry states, by failure kind. */
const RETRY_STATE: Readonly<Record<Exclude<FailureKind, 'fatal'>, ResilienceState>> = {
  transient: 'backing-off',
  credentials: 'unauthorized',
  'target-missing': 'target-missing',
};

/** Errors of an open that say the connection, not the pair, failed: the open may go to a replacement. */
const CONNECTION_LEVEL: ReadonlySet<string> = new Set([
  ErrorCode.SESSION_CLOSED,
  ErrorCode.SESSION_DRAINING,
  ErrorCode.STREAM_IDS_EXHAUSTED,
  ErrorCode.TRANSPORT_CLOSED,
  // A GOAWAY refuses the streams the server did not process: they are safe to send elsewhere.
  ErrorCode.STREAM_REFUSED,
]);

/** Errors of a v4 open that are its upgrade failing: a dial failure, retried as one. */
const V4_DIAL_FAILURES: ReadonlySet<string> = new Set([
  ErrorCode.CONNECT_FAILED,
  ErrorCode.TLS,
  ErrorCode.TIMEOUT,
  ErrorCode.UPGRADE_REFUSED,
  ErrorCode.UPGRADE_INVALID,
]);

interface Waiter {
  readonly resolve: (lane: Lane) => void;
  readonly reject: (error: KubemuxError) => void;
}

/** An interruption of service: no lane took pairs since `since`. */
interface Outage {
  readonly cause: ReplacementCause;
  readonly since: number;
  readonly error: KubemuxError | undefined;
  readonly detectedAfterMs: number | undefined;
  readonly failedDialsBefore: number;
}

interface PendingRetry {
  readonly kind: Exclude<FailureKind, 'fatal'>;
  readonly timer: TimerHandle;
  readonly delayMs: number;
}

// Not `implements LaneOwner`: its methods are internal (stripInternal), absent from the published
// .d.ts, where the clause would not hold. The connection is checked against LaneOwner where it
// hands itself to a new Lane.
/** A port-forward connection to one target that heals itself; see the file comment. */
export class ResilientConnection extends EventEmitter<ResilientConnectionEvents> implements PortStreamOpener {
  /** The options in force (defaults applied). */
  readonly options: ResolvedResilienceOptions;
  readonly #clock: Clock;
  readonly #dialer: ConnectionDialer;
  readonly #backoff: Backoff;

  #state: ResilienceState = 'connecting';
  readonly #lanes: Lane[] = [];
  #generation = 0;
  #dial: AbortController | undefined;
  #dialSettled: Promise<void> = Promise.resolve();
  #retry: PendingRetry | undefined;
  readonly #waiters = new Set<Waiter>();
  /** Lanes condemned because their opens kept timing out while they answered pings. */
  readonly #stalled = new WeakSet<Lane>();
  /** v4 lanes condemned because a pair's upgrade failed (the failure is handled as a failed dial). */
  readonly #v4Failed = new WeakSet<Lane>();
  #outage: Outage | undefined;
  #everConnected = false;
  #credentialsRefreshed = false;
  #lastError: KubemuxError | undefined;
  #closeError: KubemuxError | undefined;
  #closing: Promise<void> | undefined;
  #closeEmitted = false;
  /** Set during shutdown once no dial can add a lane any more. */
  #dialDone = false;
  #rttMs: number | undefined;
  readonly #counters = { dials: 0, dialFailures: 0, replacements: 0, pairsOpened: 0, pairsActive: 0, pairsFailed: 0, openTimeouts: 0 };
  readonly #retired = { dataBytesSent: 0, dataBytesReceived: 0 };
  /** Extra connections waiting to be closed for idleness. */
  readonly #idleTimers = new Map<Lane, TimerHandle>();

  /**
   * Validates the options (ERR_INVALID_ARGUMENT, usage, before anything is sent) and starts the
   * first dial at once, so that a forward is connected before its first local connection.
   */
  constructor(options: ResilientConnectionOptions) {
    super();
    this.options = resolveResilienceOptions(options);
    this.#clock = this.options.clock;
    this.#backoff = new Backoff({ initialDelayMs: this.options.backoffInitialDelayMs, maxDelayMs: this.options.backoffMaxDelayMs }, this.options.random);
    this.#dialer = this.options.dial ?? defaultDialer(this.options);
    this.#startDial('initial');
  }

  /** See {@link ResilienceState}. */
  get state(): ResilienceState {
    return this.#state;
  }

  /** The protocol of the connection taking pairs now, if any. */
  get protocol(): PortForwardConnection['protocol'] | undefined {
    return this.#usableLane()?.connection.protocol;
  }

  /** A snapshot of the counters. */
  get stats(): ResilientConnectionStats {
    let dataBytesSent = this.#retired.dataBytesSent;
    let dataBytesReceived = this.#retired.dataBytesReceived;
    for (const lane of this.#lanes) {
      const stats = lane.connection.stats;
      dataBytesSent += stats.dataBytesSent;
      dataBytesReceived += stats.dataBytesReceived;
    }
    return {
      state: this.#state,
      protocol: this.protocol,
      rttMs: this.#rttMs,
      connections: this.#lanes.length,
      ...this.#counters,
      dataBytesSent,
      dataBytesReceived,
      lastError: this.#lastError,
    };
  }

  /**
   * Resolves once a connection takes pairs (at once if one does); rejects with ERR_SESSION_CLOSED
   * if the connection is closed first, or when `signal` aborts. Unlike openPortStreams, it waits
   * through backoff.
   */
  ready(options: { readonly signal?: AbortSignal } = {}): Promise<void> {
    const { signal } = options;
    if (signal?.aborted === true) return Promise.reject(abortError(signal, 'session', 'waiting for a connection'));
    if (this.#state === 'closed') return Promise.reject(this.#closedError());
    if (this.#usableLane() !== undefined) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const finish = (error?: KubemuxError): void => {
        this.off('state', onState);
        signal?.removeEventListener('abort', onAbort);
        if (error === undefined) resolve();
        else reject(error);
      };
      const onState = (change: StateChange): void => {
        if (change.state === 'ready' || change.state === 'suspect') finish();
        else if (change.state === 'closed') finish(this.#closedError());
      };
      const onAbort = (): void => finish(abortError(signal!, 'session', 'waiting for a connection'));
      this.on('state', onState);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  /**
   * Opens a pair for one forwarded connection to the pod's `port`, on whichever connection is live
   * (see PortForwardConnection.openPortStreams for the pair contract). Waits for a connection that
   * is being dialed, within the deadline (`timeoutMs`, default `openTimeoutMs`). Fails with
   * ERR_STREAM_OPEN_TIMEOUT when the deadline passes (the connection is then probed),
   * ERR_UNAVAILABLE at once while no connection is live (backing off; the cause says why),
   * ERR_SESSION_CLOSED after close(), ERR_ABORTED through `signal`, and the pair's own errors
   * (ERR_STREAM_RESET, ...). A failed call leaves nothing open.
   */
  async openPortStreams(port: number, options: OpenPortStreamsOptions = {}): Promise<PortStreams> {
    const bad = openArgumentsError(port, options);
    if (bad !== undefined) throw bad;
    const timeoutMs = options.timeoutMs ?? this.options.openTimeoutMs;
    const what = `opening a pair for port ${port}`;
    if (options.signal?.aborted === true) throw abortError(options.signal, 'stream', what);
    if (this.#state === 'closed') throw this.#closedError();

    const deadline = this.#clock.now() + timeoutMs;
    const controller = new AbortController();
    const timer = this.#clock.setTimeout(
      () => controller.abort(new KubemuxError(ErrorCode.STREAM_OPEN_TIMEOUT, 'stream', `the pair for port ${port} was not open within ${timeoutMs} ms`)),
      timeoutMs,
    );
    const onCallerAbort = (): void => controller.abort(abortError(options.signal!, 'stream', what));
    options.signal?.addEventListener('abort', onCallerAbort, { once: true });
    try {
      let retried = false;
      for (;;) {
        const lane = await this.#laneFor(controller.signal);
        try {
          const opening = lane.connection.openPortStreams(port, { timeoutMs: Math.max(1, Math.ceil(deadline - this.#clock.now())), signal: controller.signal });
          const pair = await raceSignal(opening, controller.signal, (late) => late.data.destroy());
          lane.openSucceeded();
          this.#credentialsRefreshed = false;
          this.#track(pair, lane);
          return pair;
        } catch (error) {
          const failure = asKubemuxError(controller.signal.aborted ? controller.signal.reason : error);
          if (failure.code === ErrorCode.STREAM_OPEN_TIMEOUT) {
            lane.openTimedOut();
            throw failure;
          }
          if (controller.signal.aborted) throw failure;
          // At a stream limit (ours, or the peer refusing while still open): another connection takes it.
          // Each such retry marks a lane full, so the loop ends when every lane is and no more may be dialed.
          if (failure.code === ErrorCode.STREAM_LIMIT || (failure.code === ErrorCode.STREAM_REFUSED && lane.usable)) {
            lane.markFull();
            continue;
          }
          if (CONNECTION_LEVEL.has(failure.code) && !retried) {
            retried = true;
            continue;
          }
          if (lane.connection.protocol === 'websocket-v4' && V4_DIAL_FAILURES.has(failure.code)) this.#v4UpgradeFailed(lane, failure);
          throw failure;
        }
      }
    } catch (error) {
      this.#counters.pairsFailed++;
      if (isKubemuxError(error, ErrorCode.STREAM_OPEN_TIMEOUT)) this.#counters.openTimeouts++;
      throw error;
    } finally {
      this.#clock.clearTimeout(timer);
      options.signal?.removeEventListener('abort', onCallerAbort);
    }
  }

  /**
   * Graceful close: no more dials (one in flight is aborted), no new pairs; open pairs finish on
   * their connections, which then close. Resolves once nothing is left (no connection, no dial, no
   * timer). Idempotent.
   */
  close(): Promise<void> {
    return this.#shutDown(undefined, false);
  }

  /** Immediate close: open pairs fail with `error` (or ERR_SESSION_CLOSED); resolves once nothing is left. Idempotent. */
  destroy(error?: KubemuxError): Promise<void> {
    return this.#shutDown(error, true);
  }

  // ------------------------------------------------------------------ LaneOwner

  /** @internal */
  laneAlive(_lane: Lane, rttMs: number): void {
    this.#rttMs = rttMs;
    this.emit('rtt', rttMs);
  }

  /** @internal */
  laneSuspect(lane: Lane): void {
    this.#refreshState(`a pair on connection ${lane.generation} was not accepted in time; probing it`);
  }

  /** @internal */
  laneRecovered(lane: Lane): void {
    this.#refreshState(`connection ${lane.generation} answered its probe`);
  }

  /** @internal */
  laneStalled(lane: Lane): void {
    this.#stalled.add(lane);
    lane.drain();
  }

  /** @internal */
  laneDraining(lane: Lane, info: PortForwardDrainInfo | undefined): void {
    if (this.#state === 'closed') return;
    const stalled = this.#stalled.has(lane);
    const why = stalled
      ? `new pairs on connection ${lane.generation} keep timing out while it answers pings (a stalled runtime)`
      : `connection ${lane.generation} is draining (${info?.reason ?? 'closing'})`;
    // A failed v4 upgrade is handled as a failed dial by its caller (#v4UpgradeFailed).
    if (this.#v4Failed.has(lane)) return;
    if (this.#usableLane() === undefined) {
      this.#beginOutage(lane, stalled ? 'stalled' : 'draining', undefined, undefined);
      this.#startDial(stalled ? 'stalled' : 'draining');
    }
    this.#refreshState(why);
  }

  /** @internal */
  laneClosed(lane: Lane, error: KubemuxError | undefined): void {
    this.#clock.clearTimeout(this.#idleTimers.get(lane));
    this.#idleTimers.delete(lane);
    const index = this.#lanes.indexOf(lane);
    if (index !== -1) this.#lanes.splice(index, 1);
    const stats = lane.connection.stats;
    this.#retired.dataBytesSent += stats.dataBytesSent;
    this.#retired.dataBytesReceived += stats.dataBytesReceived;
    if (this.#state === 'closed') {
      this.#maybeFinishClose();
      return;
    }
    // A lane that was draining had its replacement started when it began to drain.
    if (lane.drained) {
      this.#refreshState(`connection ${lane.generation} finished draining`);
      return;
    }
    const failure = error ?? new KubemuxError(ErrorCode.TRANSPORT_CLOSED, 'transport', `connection ${lane.generation} was closed by the server`);
    this.#lastError = failure;
    if (this.#usableLane() !== undefined) {
      this.#refreshState(`connection ${lane.generation} was lost: ${failure.message}`, failure);
      return;
    }
    this.#beginOutage(lane, 'connection-lost', failure, this.#clock.now() - lane.lastAliveAt);
    if (this.#backoff.failures === 0) {
      // A connection that was healthy is replaced at once; one that keeps dying young backs off.
      this.#backoff.next();
      this.#startDial('connection-lost');
      this.#refreshState(`connection ${lane.generation} was lost: ${failure.message}`, failure);
    } else {
      this.#scheduleRetry('transient', failure, 'connection-lost');
    }
  }

  // ------------------------------------------------------------------ dialing

  #startDial(reason: DialReason): void {
    if (this.#dial !== undefined || this.#state === 'closed') return;
    if (this.#retry !== undefined) {
      this.#clock.clearTimeout(this.#retry.timer);
      this.#retry = undefined;
    }
    const controller = new AbortController();
    this.#dial = controller;
    this.#counters.dials++;
    const attempt = this.#backoff.failures;
    this.#dialSettled = this.#dialOnce(reason, attempt, controller.signal).then(
      (connection) => {
        this.#dial = undefined;
        if (this.#state === 'closed') {
          connection.destroy();
          return;
        }
        this.#addLane(connection);
      },
      (error: unknown) => {
        this.#dial = undefined;
        if (this.#state === 'closed') return;
        this.#dialFailed(asKubemuxError(error));
      },
    );
  }

  async #dialOnce(reason: DialReason, attempt: number, signal: AbortSignal): Promise<PortForwardConnection> {
    const { target } = this.options;
    const resolved = typeof target === 'function' ? await target({ reason, attempt, signal }) : target;
    if (signal.aborted) throw abortError(signal, 'transport', 'the dial');
    return raceSignal(this.#dialer(resolved, { signal }), signal, (late) => late.destroy());
  }

  #addLane(connection: PortForwardConnection): void {
    const lane = new Lane(connection, ++this.#generation, this, this.#clock, this.options);
    this.#lanes.push(lane);
    this.#everConnected = true;
    // A 101 proves the credentials; a v4 "connection" proves nothing until a pair opens on it.
    if (connection.protocol !== 'websocket-v4') this.#credentialsRefreshed = false;
    const outage = this.#outage;
    this.#outage = undefined;
    if (outage !== undefined) {
      this.#counters.replacements++;
      this.emit('replaced', {
        cause: outage.cause,
        ...(outage.error === undefined ? {} : { error: outage.error }),
        ...(outage.detectedAfterMs === undefined ? {} : { detectedAfterMs: outage.detectedAfterMs }),
        recoveredAfterMs: this.#clock.now() - outage.since,
        failedDials: this.#counters.dialFailures - outage.failedDialsBefore,
        protocol: connection.protocol,
        generation: lane.generation,
      });
    }
    this.#refreshState(`connection ${lane.generation} is up (${connection.protocol})`);
    if (lane.usable) this.#wake(lane);
  }

  #dialFailed(error: KubemuxError): void {
    this.#counters.dialFailures++;
    this.#lastError = error;
    const kind = classifyFailure(error, this.#everConnected);
    if (kind === 'fatal') {
      this.emit('dialFailed', { error, kind, attempt: this.#backoff.failures + 1, delayMs: undefined });
      void this.#shutDown(error, true);
      return;
    }
    if (kind === 'credentials' && !this.#credentialsRefreshed) {
      // One immediate re-dial with fresh credentials (the target function refreshes them).
      this.#credentialsRefreshed = true;
      this.emit('dialFailed', { error, kind, attempt: this.#backoff.failures + 1, delayMs: 0 });
      this.#startDial('credentials-rejected');
      return;
    }
    this.#scheduleRetry(kind, error, kind === 'target-missing' ? 'target-missing' : kind === 'credentials' ? 'credentials-rejected' : 'retry');
  }

  #scheduleRetry(kind: Exclude<FailureKind, 'fatal'>, error: KubemuxError, reason: DialReason): void {
    // A newer failure decides the next attempt (a growth dial failed, then the last connection died, say).
    if (this.#retry !== undefined) this.#clock.clearTimeout(this.#retry.timer);
    const delayMs = kind === 'credentials' ? this.options.backoffMaxDelayMs : this.#backoff.next();
    if (kind === 'credentials') this.#backoff.next();
    const timer = this.#clock.setTimeout(() => {
      this.#retry = undefined;
      this.#startDial(reason);
      this.#refreshState(`dialing again (${reason})`);
    }, delayMs);
    this.#retry = { kind, timer, delayMs };
    const unavailable = this.#unavailableError();
    for (const waiter of this.#waiters) waiter.reject(unavailable);
    this.#waiters.clear();
    const failure: DialFailure = { error, kind, attempt: this.#backoff.failures, delayMs };
    this.#refreshState(`${error.message}; next dial in ${delayMs} ms`, error, delayMs);
    this.emit('dialFailed', failure);
  }

  /**
   * v4 has no long-lived connection: its pairs' upgrades are its dials. A failed upgrade condemns
   * the v4 "connection" (its open pairs go on) and is retried like a failed dial, so that the
   * target is resolved again and the backoff applies.
   */
  #v4UpgradeFailed(lane: Lane, error: KubemuxError): void {
    if (!lane.usable || this.#state === 'closed') return;
    this.#v4Failed.add(lane);
    lane.drain();
    if (this.#usableLane() === undefined && this.#dial === undefined && this.#retry === undefined) {
      this.#beginOutage(lane, 'connection-lost', error, undefined);
      this.#dialFailed(error);
    }
  }

  // ------------------------------------------------------------------ waiting for a lane

  /** A lane that takes new pairs (full or not), active ones first: what the public state reflects. */
  #usableLane(): Lane | undefined {
    let suspect: Lane | undefined;
    for (const lane of this.#lanes) {
      if (!lane.usable) continue;
      if (lane.state === 'active') return lane;
      suspect ??= lane;
    }
    return suspect;
  }

  /** A lane with room for a pair: active before suspect, and among those the one carrying fewest pairs. */
  #laneWithRoom(): Lane | undefined {
    let best: Lane | undefined;
    for (const lane of this.#lanes) {
      if (!lane.usable || lane.full) continue;
      if (best === undefined || (lane.state === 'active' && best.state !== 'active') || (lane.state === best.state && lane.pairs < best.pairs)) best = lane;
    }
    return best;
  }

  #laneFor(signal: AbortSignal): Promise<Lane> {
    const lane = this.#laneWithRoom();
    if (lane !== undefined) return Promise.resolve(lane);
    if (this.#state === 'closed') return Promise.reject(this.#closedError());
    if (this.#usableLane() !== undefined) {
      // Every live connection is at its stream limit: one more, if the target may have it.
      if (this.#retry !== undefined) return Promise.reject(this.#unavailableError());
      if (this.#dial === undefined && this.#lanes.length >= this.options.maxConnections) {
        return Promise.reject(
          new KubemuxError(ErrorCode.STREAM_LIMIT, 'stream', `all ${this.#lanes.length} connections to the pod are at their stream limit (maxConnections ${this.options.maxConnections})`),
        );
      }
      this.#startDial('capacity');
    } else {
      if (this.#retry !== undefined) return Promise.reject(this.#unavailableError());
      this.#startDial('retry');
    }
    return new Promise<Lane>((resolve, reject) => {
      const waiter: Waiter = {
        resolve: (found) => {
          signal.removeEventListener('abort', onAbort);
          resolve(found);
        },
        reject: (error) => {
          signal.removeEventListener('abort', onAbort);
          reject(error);
        },
      };
      const onAbort = (): void => {
        this.#waiters.delete(waiter);
        reject(asKubemuxError(signal.reason));
      };
      signal.addEventListener('abort', onAbort, { once: true });
      this.#waiters.add(waiter);
    });
  }

  #unavailableError(): KubemuxError {
    const last = this.#lastError;
    const delay = this.#retry === undefined ? '' : `; the next dial is due within ${this.#retry.delayMs} ms`;
    return new KubemuxError(
      ErrorCode.UNAVAILABLE,
      'stream',
      `no connection to the pod${last === undefined ? '' : `: ${last.message}`}${delay}`,
      last === undefined ? {} : { cause: last },
    );
  }

  #closedError(): KubemuxError {
    return new KubemuxError(ErrorCode.SESSION_CLOSED, 'session', 'the resilient connection is closed', this.#closeError === undefined ? {} : { cause: this.#closeError });
  }

  // ------------------------------------------------------------------ state

  #beginOutage(lane: Lane, cause: ReplacementCause, error: KubemuxError | undefined, detectedAfterMs: number | undefined): void {
    if (this.#outage !== undefined) return;
    // A connection that stayed up long enough proves the target healthy again: start the backoff over.
    if (this.#clock.now() - lane.createdAt >= this.options.healthyAfterMs) this.#backoff.reset();
    this.#outage = { cause, since: this.#clock.now(), error, detectedAfterMs, failedDialsBefore: this.#counters.dialFailures };
  }

  /** The state the facts call for (see the diagram in the file comment). */
  #derivedState(): ResilienceState {
    if (this.#state === 'closed') return 'closed';
    const lane = this.#usableLane();
    if (lane !== undefined) return lane.state === 'active' ? 'ready' : 'suspect';
    if (this.#retry !== undefined) return RETRY_STATE[this.#retry.kind];
    if (this.#lanes.some((l) => l.state === 'draining')) return 'draining';
    return this.#everConnected ? 'replacing' : 'connecting';
  }

  #refreshState(reason: string, error?: KubemuxError, delayMs?: number): void {
    const next = this.#derivedState();
    if (next === this.#state) return;
    this.#transition(next, reason, error, delayMs);
  }

  #transition(to: ResilienceState, reason: string, error?: KubemuxError, delayMs?: number): void {
    const previous = this.#state;
    if (!TRANSITIONS[previous].includes(to)) throw new Error(`kubemux bug: resilient connection cannot go from ${previous} to ${to} (${reason})`);
    this.#state = to;
    const protocol = to === 'ready' || to === 'suspect' ? this.#usableLane()?.connection.protocol : undefined;
    this.emit('state', {
      state: to,
      previous,
      reason,
      ...(error === undefined ? {} : { error }),
      ...(delayMs === undefined ? {} : { delayMs }),
      ...(protocol === undefined ? {} : { protocol }),
    });
  }

  // ------------------------------------------------------------------ pairs and shutdown

  #track(pair: PortStreams, lane: Lane): void {
    this.#counters.pairsOpened++;
    this.#counters.pairsActive++;
    pair.data.once('close', () => {
      this.#counters.pairsActive--;
      lane.pairClosed();
      if (lane.pairs === 0) this.#retireIfSpare(lane);
      else if (this.#waiters.size > 0 && lane.usable) this.#wake(lane);
    });
  }

  /**
   * An extra connection that carries nothing closes after extraConnectionIdleMs, as long as
   * another connection takes pairs; the first connection of a target always stays.
   */
  #retireIfSpare(lane: Lane): void {
    if (this.#state === 'closed' || !lane.usable || this.#lanes.filter((l) => l.usable).length < 2) return;
    this.#clock.clearTimeout(this.#idleTimers.get(lane));
    const timer = this.#clock.setTimeout(() => {
      this.#idleTimers.delete(lane);
      if (lane.pairs === 0 && lane.usable && this.#lanes.some((l) => l !== lane && l.usable)) {
        lane.drain({ reason: 'closing' });
      }
    }, this.options.extraConnectionIdleMs);
    this.#idleTimers.set(lane, timer);
  }

  #wake(lane: Lane): void {
    for (const waiter of this.#waiters) waiter.resolve(lane);
    this.#waiters.clear();
  }

  #shutDown(error: KubemuxError | undefined, immediate: boolean): Promise<void> {
    if (this.#closing !== undefined) {
      if (immediate) for (const lane of [...this.#lanes]) lane.destroy(error);
      return this.#closing;
    }
    this.#closeError = error;
    if (this.#retry !== undefined) {
      this.#clock.clearTimeout(this.#retry.timer);
      this.#retry = undefined;
    }
    for (const timer of this.#idleTimers.values()) this.#clock.clearTimeout(timer);
    this.#idleTimers.clear();
    this.#transition('closed', error === undefined ? 'closed by its owner' : error.message, error);
    this.#dial?.abort(new KubemuxError(ErrorCode.SESSION_CLOSED, 'session', 'the resilient connection was closed during the dial'));
    const closed = this.#closedError();
    for (const waiter of this.#waiters) waiter.reject(closed);
    this.#waiters.clear();
    this.#closing = new Promise<void>((resolve) => this.once('close', () => resolve()));
    void this.#dialSettled.then(() => {
      for (const lane of [...this.#lanes]) {
        if (immediate) lane.destroy(error);
        else lane.drain();
      }
      this.#dialDone = true;
      this.#maybeFinishClose();
    });
    return this.#closing;
  }

  #maybeFinishClose(): void {
    if (this.#closeEmitted || !this.#dialDone || this.#lanes.length > 0) return;
    this.#closeEmitted = true;
    this.emit('close', this.#closeError);
  }
}

function asKubemuxError(error: unknown): KubemuxError {
  return error instanceof KubemuxError ? error : new KubemuxError(ErrorCode.TRANSPORT_CLOSED, 'transport', `unexpected failure: ${String(error)}`, { cause: error });
}

/** kubemux's own dialer: the protocol of the options, negotiated once for `'auto'` and remembered across targets. */
function defaultDialer(options: ResolvedResilienceOptions): ConnectionDialer {
  let dialer: PortForwardDialer | undefined;
  return (target, { signal }) => {
    dialer ??= new PortForwardDialer(target, { ...options.transport, protocol: options.protocol });
    return dialer.dial({ target, signal });
  };
}
