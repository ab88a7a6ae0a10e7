/**
 * A scriptable {@link PortForwardConnection} for the resilience layer's deterministic tests: no
 * sockets and no timers of its own, so that a ManualClock alone decides when anything times out.
 * A test flips its mode (healthy, blackholed, stalled) or makes it drain or die, and sees what the
 * layer above does. End-to-end behaviour over real sockets is tested against the fake cluster.
 */
import { EventEmitter } from 'eventemitter3';
import { PassThrough } from 'node:stream';
import { ErrorCode, KubemuxError } from '../../src/errors.js';
import type {
  OpenPortStreamsOptions,
  PortForwardConnection,
  PortForwardConnectionEvents,
  PortForwardConnectionStats,
  PortForwardProtocol,
  PortStreams,
} from '../../src/transport/port-forward-connection.js';
import type { UpgradeTarget } from '../../src/transport/api/request-target.js';

/**
 * - `healthy`: opens succeed and pings are answered at once;
 * - `blackhole`: nothing is answered (a half-open connection);
 * - `stall`: pings are answered, opens never are (a stalled runtime);
 * - `refusing`: opens fail with the pair's own error text (the pod's port is closed).
 */
export type FakeMode = 'healthy' | 'blackhole' | 'stall' | 'refusing';

interface Pending {
  readonly reject: (error: KubemuxError) => void;
}

let nextId = 1;

/** See the file comment. */
export class FakeConnection extends EventEmitter<PortForwardConnectionEvents> implements PortForwardConnection {
  readonly id = nextId++;
  readonly protocol: PortForwardProtocol;
  readonly target: UpgradeTarget | undefined;
  mode: FakeMode;
  /** Pairs open at once before opens fail with ERR_STREAM_LIMIT (a session at its stream limit). */
  maxPairs = Infinity;
  /** Frames "received": bumped by {@link receive} (a peer busy sending data). */
  framesReceived = 0;
  #state: 'open' | 'draining' | 'closed' = 'open';
  readonly #pending = new Set<Pending>();
  readonly #pairs = new Set<PassThrough>();
  #requestId = 0;
  readonly counters = { opens: 0, pings: 0 };

  constructor(mode: FakeMode = 'healthy', protocol: PortForwardProtocol = 'spdy', target?: UpgradeTarget) {
    super();
    this.mode = mode;
    this.protocol = protocol;
    this.target = target;
  }

  get acceptingStreams(): boolean {
    return this.#state === 'open';
  }

  get canPing(): boolean {
    return this.#state !== 'closed';
  }

  get closed(): boolean {
    return this.#state === 'closed';
  }

  /** Pairs whose data has not closed. */
  get openPairs(): number {
    return this.#pairs.size;
  }

  get stats(): PortForwardConnectionStats {
    return {
      protocol: this.protocol,
      pairsOpened: this.counters.opens,
      pairsActive: this.#pairs.size,
      pairsFailed: 0,
      pairErrors: 0,
      dataBytesSent: 0,
      dataBytesReceived: 0,
      session: {
        streamsOpenedLocal: 0,
        streamsOpenedRemote: 0,
        streamsActive: this.#pairs.size * 2,
        framesSent: 0,
        framesReceived: this.framesReceived,
        dataBytesSent: 0,
        dataBytesReceived: 0,
        droppedDataFrames: 0,
        droppedDataBytes: 0,
        unknownFramesReceived: 0,
        pingsSent: this.counters.pings,
        pingsEchoed: 0,
        unreadBytes: 0,
        receivePaused: false,
        peerFlowControl: false,
        streamsRefused: 0,
        queuedReplyFrames: 0,
        headerBytes: 0,
      },
    };
  }

  /** The peer sent something (proof of life that is not a ping answer). */
  receive(): void {
    this.framesReceived++;
  }

  openPortStreams(port: number, options: OpenPortStreamsOptions = {}): Promise<PortStreams> {
    if (this.#state !== 'open') {
      return Promise.reject(
        this.#state === 'closed'
          ? new KubemuxError(ErrorCode.SESSION_CLOSED, 'session', `fake connection ${this.id} is closed`)
          : new KubemuxError(ErrorCode.SESSION_DRAINING, 'session', `fake connection ${this.id} is draining`),
      );
    }
    const requestId = String(this.#requestId++);
    if (this.#pairs.size >= this.maxPairs) {
      return Promise.reject(new KubemuxError(ErrorCode.STREAM_LIMIT, 'stream', `${this.#pairs.size} pairs are open, the limit is ${this.maxPairs}`));
    }
    if (this.mode === 'healthy' || this.mode === 'refusing') {
      this.counters.opens++;
      const data = new PassThrough();
      this.#pairs.add(data);
      data.once('close', () => {
        this.#pairs.delete(data);
        this.#closeIfDrained();
      });
      const errors = Promise.resolve(this.mode === 'refusing' ? `error forwarding port ${port}: connection refused` : '');
      if (this.mode === 'refusing') queueMicrotask(() => data.destroy(new KubemuxError(ErrorCode.STREAM_RESET, 'stream', 'connection refused')));
      return Promise.resolve({ port, requestId, data, errors });
    }
    return this.#hang<PortStreams>(options.signal);
  }

  ping(): Promise<number> {
    this.counters.pings++;
    if (this.#state === 'closed') return Promise.reject(new KubemuxError(ErrorCode.SESSION_CLOSED, 'session', 'closed'));
    if (this.mode === 'blackhole') return this.#hang<number>(undefined);
    return Promise.resolve(1);
  }

  /** The server sent GOAWAY: no new pairs; closes once its pairs are done. */
  goAway(): void {
    if (this.#state !== 'open') return;
    this.#state = 'draining';
    this.emit('draining', { reason: 'goaway-received', goAwayStatus: 0 });
    this.#closeIfDrained();
  }

  close(): Promise<void> {
    if (this.#state === 'closed') return Promise.resolve();
    const closed = new Promise<void>((resolve) => this.once('close', () => resolve()));
    if (this.#state === 'open') {
      this.#state = 'draining';
      this.emit('draining', { reason: 'closing' });
    }
    this.#closeIfDrained();
    return closed;
  }

  destroy(error?: KubemuxError): void {
    if (this.#state === 'closed') return;
    this.#state = 'closed';
    const failure = new KubemuxError(ErrorCode.SESSION_CLOSED, 'session', `the session closed${error === undefined ? '' : `: ${error.message}`}`, error === undefined ? {} : { cause: error });
    for (const pending of this.#pending) pending.reject(failure);
    this.#pending.clear();
    for (const data of this.#pairs) data.destroy(failure);
    this.#pairs.clear();
    this.emit('close', error);
  }

  #closeIfDrained(): void {
    if (this.#state !== 'draining' || this.#pairs.size > 0 || this.#pending.size > 0) return;
    this.#state = 'closed';
    this.emit('close', undefined);
  }

  #hang<T>(signal: AbortSignal | undefined): Promise<T> {
    return new Promise<T>((_, reject) => {
      const pending: Pending = {
        reject: (error) => {
          signal?.removeEventListener('abort', onAbort);
          reject(error);
        },
      };
      const onAbort = (): void => {
        this.#pending.delete(pending);
        reject(signal!.reason);
        this.#closeIfDrained();
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#pending.add(pending);
    });
  }
}

/** What the next dial of a {@link FakeDialer} does. */
export type DialOutcome = { readonly mode: FakeMode } | { readonly error: KubemuxError } | 'hang';

/** A dialer whose outcomes the test sets; it records every connection it made and every target it got. */
export class FakeDialer {
  readonly connections: FakeConnection[] = [];
  readonly targets: UpgradeTarget[] = [];
  /** Dials started and not settled. */
  inFlight = 0;
  /** Most dials in flight at once (the layer promises one). */
  maxInFlight = 0;
  /** Outcome of every dial from now on, unless {@link queue} has one. */
  outcome: DialOutcome = { mode: 'healthy' };
  /** Outcomes for the next dials, in order. */
  readonly queue: DialOutcome[] = [];
  readonly aborted: number[] = [];
  protocol: PortForwardProtocol = 'spdy';
  /** maxPairs of every new connection. */
  maxPairs = Infinity;

  readonly dial = (target: UpgradeTarget, options: { readonly signal: AbortSignal }): Promise<PortForwardConnection> => {
    this.targets.push(target);
    const outcome = this.queue.shift() ?? this.outcome;
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    const done = (): void => {
      this.inFlight--;
    };
    if (outcome === 'hang') {
      return new Promise<PortForwardConnection>((_, reject) => {
        options.signal.addEventListener(
          'abort',
          () => {
            done();
            this.aborted.push(this.targets.length);
            reject(options.signal.reason);
          },
          { once: true },
        );
      });
    }
    return Promise.resolve().then(() => {
      done();
      if ('error' in outcome) throw outcome.error;
      const connection = new FakeConnection(outcome.mode, this.protocol, target);
      connection.maxPairs = this.maxPairs;
      this.connections.push(connection);
      return connection;
    });
  };

  /** The newest connection. */
  get last(): FakeConnection {
    const last = this.connections.at(-1);
    if (last === undefined) throw new Error('no connection was dialed');
    return last;
  }
}
