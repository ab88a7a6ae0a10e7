/**
 * What a {@link PortForwarder} tells its caller: the events, the readiness value and the stats
 * snapshot.
 *
 * Every accepted local connection ends in exactly one of `connectionClosed` and
 * `connectionFailed`; `connectionOpened` comes before it when its pair opened.
 */
import type { KubemuxError } from '../errors.js';
import type { Replacement, ResilientConnectionStats, StateChange } from '../resilience/events.js';
import type { SkippedListener } from './listen.js';

export type { SkippedListener } from './listen.js';

/** A bound listener: where local clients connect, and the pod port they reach. */
export interface ListenerInfo {
  /** The local IP address listened on (`127.0.0.1`, `::1`, ...). */
  readonly address: string;
  /** The local port (the one picked, for a local port 0). */
  readonly port: number;
  /** The pod port it forwards to (after name resolution). */
  readonly remotePort: number;
}

/** What {@link PortForwarder.ready} resolves with. */
export interface ForwarderReady {
  /** Every bound listener, in the order of the port specs, then of the addresses. */
  readonly listeners: readonly ListenerInfo[];
  /** `localhost` listeners that could not be bound while their sibling could (e.g. no IPv6 here). */
  readonly skipped: readonly SkippedListener[];
}

/** Argument of `connectionOpened`. */
export interface ConnectionOpenedInfo {
  /** The forwarder's number for this local connection, from 1. */
  readonly id: number;
  /** The listener's address and port the client connected to. */
  readonly localAddress: string;
  readonly localPort: number;
  /** The client's address and port. */
  readonly clientAddress: string;
  readonly clientPort: number;
  readonly remotePort: number;
  /** The pair's request id (see PortStreams.requestId). */
  readonly requestId: string;
}

/** How a connection that did not fail ended. */
export type ConnectionCloseReason =
  /** Both directions ended cleanly: each side's end reached the other. */
  | 'done'
  /**
   * The local client closed or reset its connection before both directions had ended (or before
   * its pair opened): the pod side was reset, as kubectl does.
   */
  | 'local-closed';

/** Argument of `connectionClosed`. */
export interface ConnectionClosedInfo {
  readonly id: number;
  readonly remotePort: number;
  /** Absent when the client left before the pair opened. */
  readonly requestId?: string;
  readonly reason: ConnectionCloseReason;
  /** Bytes copied from the local client to the pod. */
  readonly bytesToPod: number;
  /** Bytes copied from the pod to the local client. */
  readonly bytesFromPod: number;
  /** From accept to the end, ms. */
  readonly durationMs: number;
}

/** Argument of `connectionFailed`: the local socket was reset (never ended cleanly). */
export interface ConnectionFailedInfo {
  readonly id: number;
  readonly remotePort: number;
  /** Absent when the pair never opened. */
  readonly requestId?: string;
  /**
   * Why: the opener's error when the pair could not be opened (ERR_STREAM_OPEN_TIMEOUT,
   * ERR_SESSION_CLOSED, ...); ERR_STREAM_RESET carrying the server's error text (nothing
   * listening on the pod port, say); the data stream's error (ERR_STREAM_RESET,
   * ERR_SESSION_CLOSED, ERR_TRANSPORT_CLOSED); ERR_ABORTED when the forwarder's close cut it.
   */
  readonly error: KubemuxError;
  readonly bytesToPod: number;
  readonly bytesFromPod: number;
  readonly durationMs: number;
}

/** Argument of `acceptError`. */
export interface AcceptErrorInfo {
  readonly address: string;
  readonly port: number;
  /** ERR_ACCEPT_FAILED with the system error as `cause`. */
  readonly error: KubemuxError;
}

/** Events of a {@link PortForwarder}. */
export interface PortForwarderEvents {
  /** A listener is bound (before `ready` resolves). */
  listening: (info: ListenerInfo) => void;
  /** A local connection's pair is open; bytes flow. */
  connectionOpened: (info: ConnectionOpenedInfo) => void;
  /** A local connection ended without a failure (see {@link ConnectionCloseReason}). */
  connectionClosed: (info: ConnectionClosedInfo) => void;
  /** A local connection failed and its socket was reset; other connections are not affected. */
  connectionFailed: (info: ConnectionFailedInfo) => void;
  /**
   * A listener could not accept a connection (descriptor exhaustion); it goes on listening. Rare:
   * libuv keeps a spare descriptor and, when it runs out, accepts and at once closes the pending
   * connections itself (their clients see the connection closed), without telling Node.
   */
  acceptError: (info: AcceptErrorInfo) => void;
  /** {@link PortForwarder.close} has completed: nothing is listening or running. Emitted once. */
  close: () => void;
  /** The ResilientConnection's state changed (its 'state' event, passed through; only with one). */
  state: (change: StateChange) => void;
  /** The ResilientConnection replaced its connection (its 'replaced' event, passed through; only with one). */
  replaced: (replacement: Replacement) => void;
}

/** Counters of a {@link PortForwarder}; a snapshot. */
export interface PortForwarderStats {
  /** Listeners bound now. */
  readonly listeners: number;
  /** Local connections accepted and not yet ended (opening their pair, or open). */
  readonly openConnections: number;
  /** Local connections accepted in all. */
  readonly accepted: number;
  /** Local connections whose pair opened. */
  readonly opened: number;
  /** Local connections that ended with `connectionClosed`. */
  readonly closed: number;
  /** Local connections that ended with `connectionFailed`. */
  readonly failed: number;
  /** `acceptError`s. */
  readonly acceptErrors: number;
  /** Bytes copied from local clients to the pod, open connections included. */
  readonly bytesToPod: number;
  /** Bytes copied from the pod to local clients, open connections included. */
  readonly bytesFromPod: number;
  /** With a ResilientConnection as opener: its stats (state, RTT, replacements, upgraded connections, ...). */
  readonly connection?: ResilientConnectionStats;
}
