/**
 * PortForwardConnection: what every transport gives the layers above it (the liveness and
 * replacement layer, the forwarder): a connection to one pod on which pairs of port streams are
 * opened, one pair per forwarded TCP connection.
 *
 * Three implementations, one contract:
 *
 * | protocol             | carriage                                        | a pair is                        |
 * |----------------------|-------------------------------------------------|----------------------------------|
 * | `'spdy'`             | SPDY/3.1 after a POST upgrade                   | an error stream and a data stream |
 * | `'websocket-tunnel'` | the same SPDY bytes in WebSocket binary messages | as for `'spdy'`                  |
 * | `'websocket-v4'`     | `v4.channel.k8s.io`, one WebSocket per pair      | channels 0 (data) and 1 (errors)  |
 *
 * Error isolation (spec/portforward.md §10): error text from the server concerns one pair only.
 * It is reported on that pair's {@link PortStreams.errors}; it never closes the connection, unlike
 * kubectl, which drops every forwarded connection when one pair reports an error.
 */
import type { EventEmitter } from 'eventemitter3';
import type { Duplex } from 'node:stream';
import { ErrorCode, KubemuxError } from '../errors.js';
import type { DrainReason, PingOptions, SessionStats } from '../session/index.js';
import { firstError, integerError, signalError, timeoutError } from '../util/validate.js';

/** The wire protocol of a {@link PortForwardConnection}. */
export type PortForwardProtocol = 'spdy' | 'websocket-tunnel' | 'websocket-v4';

/** Every {@link PortForwardProtocol}, in the order `'auto'` negotiation tries them. */
export const PORT_FORWARD_PROTOCOLS: readonly PortForwardProtocol[] = Object.freeze(['websocket-tunnel', 'spdy', 'websocket-v4']);

/**
 * Error text kept per pair, bytes. A server sends one short line; anything past this is read (so
 * the stream never stalls its connection) and dropped.
 */
export const MAX_ERROR_TEXT_BYTES = 64 * 1024;

/** Options of {@link PortForwardConnection.openPortStreams}. */
export interface OpenPortStreamsOptions {
  /**
   * Deadline for the server to accept the pair, ms: both SYN_REPLYs over SPDY (the pair fails with
   * ERR_STREAM_OPEN_TIMEOUT, scope 'stream', and the connection goes on); for v4 the connect, the
   * WebSocket upgrade and the port prefix on both channels (also ERR_STREAM_OPEN_TIMEOUT).
   * Default: the session's `streamOpenTimeoutMs` (SPDY), or the target's connect and upgrade
   * deadlines (v4; the prefix must then follow the 101 within `upgradeTimeoutMs`).
   */
  readonly timeoutMs?: number;
  /**
   * Aborts the open: the call rejects with ERR_ABORTED (`name` `'AbortError'`, the signal's
   * reason as `cause`; or the reason itself when it is a KubemuxError) and leaves nothing open.
   * A pair that is already open is not affected.
   */
  readonly signal?: AbortSignal;
}

/**
 * What the forwarder needs from whatever carries its pairs: a {@link PortForwardConnection}, or the
 * resilience layer's connection that replaces them as they die. Both keep the same pair contract.
 */
export interface PortStreamOpener {
  /** Opens a pair for one forwarded connection; see {@link PortForwardConnection.openPortStreams}. */
  openPortStreams(port: number, options?: OpenPortStreamsOptions): Promise<PortStreams>;
}

/**
 * One forwarded connection's streams to the pod's port.
 *
 * `data` is a byte Duplex with backpressure both ways. How its ends map to the wire:
 *
 * | on `data`                | SPDY and tunnel                      | v4                                               |
 * |--------------------------|--------------------------------------|--------------------------------------------------|
 * | `end()` (local EOF)      | DATA FIN: a half-close; the pod's replies keep coming | nothing can be sent (v4 has no half-close): the WebSocket stays open and the pod's replies keep coming until the server closes it |
 * | `destroy()`              | RST_STREAM CANCEL unless both sides had ended | WebSocket close 1000 (1011 with an error), which ends the pod connection |
 * | server ends its side     | 'end' (the pod closed)               | 'end' when the server closes the WebSocket with 1000 |
 * | server aborts            | 'error' ERR_STREAM_RESET (RST_STREAM) | 'error': ERR_STREAM_RESET when the error channel carried text, ERR_TRANSPORT_CLOSED for any other close |
 * | connection lost          | 'error' ERR_SESSION_CLOSED           | 'error' ERR_TRANSPORT_CLOSED                     |
 *
 * The owner of `data` must destroy it once it is done with it (after its 'end', or to abandon the
 * pair): that is what lets the server release the pod connection (kubectl resets the data stream
 * the same way, spec/portforward.md §4.1 step 5).
 */
export interface PortStreams {
  /** The pod port this pair forwards to. */
  readonly port: number;
  /**
   * The pair's request id: the `requestid` header over SPDY (a decimal counter per connection,
   * from 0, as kubectl numbers them); over v4, where the wire has no id, the same counter, for
   * logs only.
   */
  readonly requestId: string;
  /** Bytes to and from the pod's port; see the table above. */
  readonly data: Duplex;
  /**
   * The text the server wrote on this pair's error stream (channel 1 over v4), as UTF-8, `''` when
   * it wrote none; at most {@link MAX_ERROR_TEXT_BYTES}. Settles when the server ends the error
   * stream (SPDY: its FIN or reset, at the latest 10 s after `data` closed; v4: the
   * WebSocket's close). Never rejects: a failure of the pair itself is reported on `data`. A
   * non-empty text means this one forwarded connection failed (e.g. nothing listens on the port);
   * the connection and its other pairs go on.
   */
  readonly errors: Promise<string>;
}

/** Why a connection stopped accepting pairs: the session's reasons, or `'closing'` after close(). */
export type PortForwardDrainReason = DrainReason | 'closing';

/** Argument of the 'draining' event. */
export interface PortForwardDrainInfo {
  readonly reason: PortForwardDrainReason;
  /** The GOAWAY status, when a GOAWAY caused it. */
  readonly goAwayStatus?: number;
}

/** Events of a {@link PortForwardConnection}. */
export interface PortForwardConnectionEvents {
  /**
   * The connection accepts no new pairs from now on ({@link PortForwardConnection.acceptingStreams}
   * turned false); open pairs go on. A replacement layer should dial a new connection. Emitted at
   * most once, and before 'close'.
   */
  draining: (info: PortForwardDrainInfo) => void;
  /**
   * The connection is closed and every pair on it has ended. `error` is undefined for a close
   * that was asked for (or a clean GOAWAY from the server once its pairs finished), otherwise why
   * it ended (ERR_TRANSPORT_CLOSED, ERR_PROTOCOL, ...). Emitted exactly once.
   */
  close: (error?: KubemuxError) => void;
}

/** Counters of a {@link PortForwardConnection}; a snapshot. */
export interface PortForwardConnectionStats {
  readonly protocol: PortForwardProtocol;
  /** Pairs opened successfully. */
  readonly pairsOpened: number;
  /** Opened pairs whose `data` has not closed yet. */
  readonly pairsActive: number;
  /** {@link PortForwardConnection.openPortStreams} calls that failed. */
  readonly pairsFailed: number;
  /** Pairs whose error stream carried text. */
  readonly pairErrors: number;
  /** Payload bytes sent to the server (SPDY: every DATA payload of the session; v4: data channel payloads). */
  readonly dataBytesSent: number;
  /** Payload bytes received from the server, counted as for {@link dataBytesSent}. */
  readonly dataBytesReceived: number;
  /** The SPDY session's own counters (`'spdy'` and `'websocket-tunnel'` only). */
  readonly session?: SessionStats;
}

/**
 * A port-forward connection to one pod (see the file comment). Created by `dialPortForward`,
 * `PortForwardDialer` or the per-protocol dialers.
 */
export interface PortForwardConnection extends EventEmitter<PortForwardConnectionEvents>, PortStreamOpener {
  /** The wire protocol. */
  readonly protocol: PortForwardProtocol;

  /**
   * Opens a pair for one forwarded connection to `port` (1..65535) and resolves once the server
   * has accepted it. SPDY and tunnel: kubectl's choreography (spec/portforward.md §4): the error
   * stream (`streamtype: error`), its SYN_REPLY, its half-close at once, then the data stream with
   * the same `port` and `requestid`. v4: a new WebSocket for `?ports=<port>`.
   *
   * Fails with ERR_INVALID_ARGUMENT (usage) for a bad port; ERR_SESSION_DRAINING or
   * ERR_SESSION_CLOSED when the connection no longer accepts pairs; ERR_STREAM_OPEN_TIMEOUT,
   * ERR_STREAM_REFUSED, ERR_STREAM_RESET, ERR_STREAM_LIMIT (scope 'stream') when this pair could
   * not be opened but the connection goes on; for v4 also the upgrade's transport errors
   * (ERR_CONNECT_FAILED, ERR_TLS, ERR_UPGRADE_REFUSED, ...). A failed call leaves nothing open.
   */
  openPortStreams(port: number, options?: OpenPortStreamsOptions): Promise<PortStreams>;

  /**
   * Measures liveness; resolves with the round-trip time in ms, or fails with ERR_PING_TIMEOUT
   * after `timeoutMs` (default: the session's `pingTimeoutMs`, 30 s), ERR_ABORTED when `signal`
   * aborts first. A timeout means the caller should treat the connection as dead (destroy it; a
   * replacement layer dials anew). A bad option is ERR_INVALID_ARGUMENT (usage).
   *
   * - `'spdy'`: a SPDY PING, echoed by the container runtime: it tests the whole path.
   * - `'websocket-tunnel'`: the same SPDY PING inside the tunnel, as kubectl does (a WebSocket
   *   ping would only test the hop to the API server).
   * - `'websocket-v4'`: there is no long-lived connection, only one WebSocket per open pair. A
   *   WebSocket ping goes on every open WebSocket under the one deadline, and the slowest pong is
   *   the result; a pair whose WebSocket does not answer in time is dead and fails alone (its
   *   `data` errors with ERR_PING_TIMEOUT). It tests the hop to whoever terminates the WebSocket
   *   (the API server, or a proxy in between). With no
   *   WebSocket open there is nothing to test, {@link canPing} is false and ping() fails with
   *   ERR_INVALID_ARGUMENT (usage): the next pair's upgrade is the only real probe.
   */
  ping(options?: PingOptions): Promise<number>;

  /** Whether {@link ping} can measure anything now: false once closed, and for v4 while no WebSocket is open. */
  readonly canPing: boolean;

  /** False once the connection is draining or closed: {@link openPortStreams} would fail. */
  readonly acceptingStreams: boolean;

  /** True once 'close' has been emitted. */
  readonly closed: boolean;

  /**
   * Graceful close: no new pairs (SPDY: GOAWAY), open pairs finish, then the connection closes.
   * Resolves on 'close'. Idempotent.
   */
  close(): Promise<void>;

  /**
   * Immediate close: every open pair's `data` fails with `error` or ERR_SESSION_CLOSED, pending
   * {@link openPortStreams} calls fail, sockets are destroyed. Idempotent.
   */
  destroy(error?: KubemuxError): void;

  /** Counters for observability. */
  readonly stats: PortForwardConnectionStats;
}

/**
 * The usage error for bad {@link PortForwardConnection.openPortStreams} arguments (a port that is
 * not an integer in 1..65535, a timeout that is not an integer number of ms in 1..2^31-1, a signal
 * that is not an AbortSignal), or undefined when they are good.
 * @internal
 */
export function openArgumentsError(port: unknown, options: OpenPortStreamsOptions): KubemuxError | undefined {
  if (typeof options !== 'object' || options === null) {
    return new KubemuxError(ErrorCode.INVALID_ARGUMENT, 'usage', `openPortStreams takes an options object ({ timeoutMs, signal }), got ${typeof options}`);
  }
  return firstError(integerError('port', port, 1, 0xffff), timeoutError('timeoutMs', options.timeoutMs), signalError(options.signal));
}

/**
 * The usage error for bad {@link PortForwardConnection.ping} options, or undefined.
 * @internal
 */
export function pingArgumentsError(options: PingOptions): KubemuxError | undefined {
  if (typeof options !== 'object' || options === null) {
    return new KubemuxError(ErrorCode.INVALID_ARGUMENT, 'usage', `ping takes an options object ({ timeoutMs, signal }), got ${typeof options}`);
  }
  return firstError(timeoutError('timeoutMs', options.timeoutMs), signalError(options.signal));
}

/**
 * Collects error text up to {@link MAX_ERROR_TEXT_BYTES}, dropping the rest.
 * @internal
 */
export class ErrorTextCollector {
  readonly #chunks: Buffer[] = [];
  #bytes = 0;

  /** Adds received bytes (copied only up to the cap, so a socket buffer is not held). */
  add(chunk: Buffer): void {
    const room = MAX_ERROR_TEXT_BYTES - this.#bytes;
    if (room <= 0 || chunk.length === 0) return;
    const kept = Buffer.from(chunk.subarray(0, room));
    this.#chunks.push(kept);
    this.#bytes += kept.length;
  }

  /** The text so far, as UTF-8. */
  text(): string {
    return Buffer.concat(this.#chunks).toString('utf8');
  }
}
