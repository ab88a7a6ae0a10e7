/** The events and the stats snapshot of a {@link ResilientConnection}. */
import type { KubemuxError } from '../errors.js';
import type { PortForwardProtocol } from '../transport/port-forward-connection.js';
import type { FailureKind } from './failure-kind.js';

/**
 * The state of a target's connection, as callers see it (the diagram: spec/resilience.md).
 *
 * | state            | meaning                                                                | new pairs                    |
 * |------------------|------------------------------------------------------------------------|------------------------------|
 * | `connecting`     | dialing; no connection has worked yet                                   | wait for it, within their deadline |
 * | `ready`          | a healthy connection takes pairs                                        | go to it                     |
 * | `suspect`        | a pair timed out; the connection is being probed                        | still go to it               |
 * | `draining`       | the connection takes no new pairs (GOAWAY, or condemned); its replacement is being dialed, its pairs finish | wait for the replacement |
 * | `replacing`      | the connection died; a replacement is being dialed                      | wait for it                  |
 * | `backing-off`    | a dial failed; the next one is due after `delayMs`                       | fail at once (ERR_UNAVAILABLE) |
 * | `unauthorized`   | the credentials were refused even after a refresh; retrying at the backoff ceiling | fail at once      |
 * | `target-missing` | the pod is gone and none was found; resolving again at each retry       | fail at once                 |
 * | `closed`         | close() or destroy() was called, or a fatal error                        | fail (ERR_SESSION_CLOSED)    |
 */
export type ResilienceState = 'connecting' | 'ready' | 'suspect' | 'draining' | 'replacing' | 'backing-off' | 'unauthorized' | 'target-missing' | 'closed';

/** Argument of the 'state' event. */
export interface StateChange {
  readonly state: ResilienceState;
  readonly previous: ResilienceState;
  /** Why, in words (for logs; not a stable identifier). */
  readonly reason: string;
  /** The failure behind the change, when there is one. */
  readonly error?: KubemuxError;
  /** `backing-off`, `unauthorized`, `target-missing`: the delay before the next dial, ms. */
  readonly delayMs?: number;
  /** `ready`: the wire protocol of the connection. */
  readonly protocol?: PortForwardProtocol;
}

/** What caused a replacement. */
export type ReplacementCause =
  /** The connection died: a missed ping deadline, a failed probe, a transport or session error, or a close nobody asked for. */
  | 'connection-lost'
  /** The connection drained (GOAWAY, stream ids used up): replaced make-before-break. */
  | 'draining'
  /** Opens kept timing out while pings succeeded (a stalled runtime): replaced make-before-break. */
  | 'stalled';

/** Argument of the 'replaced' event: a new connection took over from one that stopped taking pairs. */
export interface Replacement {
  readonly cause: ReplacementCause;
  /** Why the old connection was given up, when an error says it. */
  readonly error?: KubemuxError;
  /**
   * `connection-lost`: from the old connection's last proof of life (its last answered ping, or
   * its creation) to the moment it was declared dead, ms: how long the failure went unnoticed.
   */
  readonly detectedAfterMs?: number;
  /** From the moment the old connection stopped taking pairs to the new one taking them, ms. */
  readonly recoveredAfterMs: number;
  /** Dials that failed in between. */
  readonly failedDials: number;
  /** The new connection's protocol. */
  readonly protocol: PortForwardProtocol;
  /** The new connection's generation (1 for the first connection). */
  readonly generation: number;
}

/** Argument of the 'dialFailed' event. */
export interface DialFailure {
  readonly error: KubemuxError;
  /** How it is retried (failure-kind.ts). */
  readonly kind: FailureKind;
  /** Failed dials in a row, this one included. */
  readonly attempt: number;
  /** The delay before the next dial, ms; 0 for an immediate retry; undefined when there is none (fatal). */
  readonly delayMs: number | undefined;
}

/** Events of a {@link ResilientConnection}. */
export interface ResilientConnectionEvents {
  /** The state changed (see {@link ResilienceState}). */
  state: (change: StateChange) => void;
  /** A liveness ping or probe was answered; the round trip in ms. */
  rtt: (rttMs: number) => void;
  /** A replacement connection is taking pairs. */
  replaced: (replacement: Replacement) => void;
  /** A dial (or the target function) failed. */
  dialFailed: (failure: DialFailure) => void;
  /** Everything is closed: no connection, no dial, no timer. `error` for a fatal failure or destroy(error). Emitted once. */
  close: (error?: KubemuxError) => void;
}

/** A snapshot of a {@link ResilientConnection}'s counters. */
export interface ResilientConnectionStats {
  readonly state: ResilienceState;
  /** The protocol of the connection taking pairs, if any. */
  readonly protocol: PortForwardProtocol | undefined;
  /** The last ping round trip, ms. */
  readonly rttMs: number | undefined;
  /** Upgraded connections open now (draining ones included). */
  readonly connections: number;
  /** Dials started (target function and upgrade). */
  readonly dials: number;
  /** Dials that failed. */
  readonly dialFailures: number;
  /** Connections that took over from one that stopped taking pairs. */
  readonly replacements: number;
  /** Pairs opened. */
  readonly pairsOpened: number;
  /** Pairs whose `data` has not closed yet. */
  readonly pairsActive: number;
  /** openPortStreams calls that failed (timeouts included). */
  readonly pairsFailed: number;
  /** Of `pairsFailed`: those that missed their deadline. */
  readonly openTimeouts: number;
  /** Payload bytes sent to pods, over every connection so far. */
  readonly dataBytesSent: number;
  /** Payload bytes received from pods, over every connection so far. */
  readonly dataBytesReceived: number;
  /** The last failure (a dial or a lost connection), if any. */
  readonly lastError: KubemuxError | undefined;
}
