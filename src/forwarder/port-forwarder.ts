/**
 * PortForwarder: local TCP listeners whose every accepted connection gets its own pair from a
 * {@link PortStreamOpener} (a PortForwardConnection today, the resilience layer's connection
 * tomorrow), as `kubectl port-forward` does, with one failing connection never taking the others
 * down. The per-connection contract is in forwarded-connection.ts and spec/forwarder.md.
 *
 * Lifecycle (one private state, checked transitions):
 *
 *   starting ──every port resolved and bound──▶ listening ──close()──▶ closing ──nothing left──▶ closed
 *      │                                                                  ▲
 *      └── close(), a name that does not resolve, a port that does not bind ┘
 *
 * While starting, ports are resolved (`resolvePort`) and validated first, then bound one spec at
 * a time; a failure closes whatever was bound and `ready` rejects. `closing` has stopped
 * listening; it lasts until every connection has ended (mode 'finish', with an optional deadline)
 * or has been reset (mode 'abort').
 *
 * An opener given by the caller is the caller's: the forwarder never closes it. One the forwarder
 * built for a `target` is the forwarder's, closed when the forwarder closes. A ResilientConnection's
 * 'state' and 'replaced' events are passed through, and its stats are part of {@link
 * PortForwarder.stats}. A plain connection that has died makes every new local connection fail
 * (ERR_SESSION_CLOSED) while the listeners stay up; close the forwarder on its 'close' to behave
 * like kubectl.
 */
import { EventEmitter } from 'eventemitter3';
import net from 'node:net';
import { ErrorCode, KubemuxError, abortError } from '../errors.js';
import type { Replacement, StateChange } from '../resilience/events.js';
import { ResilientConnection } from '../resilience/resilient-connection.js';
import type { PortStreamOpener } from '../transport/port-forward-connection.js';
import { noop } from '../util/noop.js';
import { resetStream, type SpliceDirection } from '../util/splice.js';
import type { AcceptErrorInfo, ForwarderReady, ListenerInfo, PortForwarderEvents, PortForwarderStats, SkippedListener } from './events.js';
import { ForwardedConnection, type ConnectionEnd, type ConnectionHost } from './forwarded-connection.js';
import { formatHostPort } from './listen-address.js';
import { bindPort, closeListeners, systemReason, type BoundListener } from './listen.js';
import {
  checkDistinctLocalPorts,
  resolveCloseOptions,
  resolveForwarderOptions,
  type CloseForwarderOptions,
  type PortForwarderOptions,
  type ResolvedForwarderOptions,
} from './options.js';

type ForwarderState = 'starting' | 'listening' | 'closing' | 'closed';

const TRANSITIONS: Readonly<Record<ForwarderState, readonly ForwarderState[]>> = {
  starting: ['listening', 'closing'],
  listening: ['closing'],
  closing: ['closed'],
  closed: [],
};

/** A port spec with its remote port resolved and its local port known. */
interface ResolvedPort {
  readonly text: string;
  readonly local: number;
  readonly remote: number;
}

/** Local listeners forwarding each accepted connection over its own pair; see the file comment. */
export class PortForwarder extends EventEmitter<PortForwarderEvents> {
  /** What opens the pairs: the options' `opener` (the caller's), or the ResilientConnection built for their `target` (the forwarder's). */
  readonly opener: PortStreamOpener;
  /**
   * Resolves once every port is bound, with the listeners (print "Forwarding from
   * 127.0.0.1:8080 -> 80" from them). Rejects with ERR_LISTEN_FAILED (transport) when a port
   * cannot be bound, the `resolvePort` hook's error, ERR_INVALID_ARGUMENT (usage) for a resolved
   * port out of range or a local port given twice, or ERR_ABORTED when close() came first; the
   * forwarder is then closed. A rejection nobody awaits does not crash the process.
   */
  readonly ready: Promise<ForwarderReady>;

  readonly #options: ResolvedForwarderOptions;
  #state: ForwarderState = 'starting';
  readonly #startup = new AbortController();
  readonly #listeners: Array<BoundListener & { readonly remotePort: number }> = [];
  readonly #connections = new Set<ForwardedConnection>();
  #nextId = 1;
  #closing: Promise<void> | undefined;
  #finishTimer: NodeJS.Timeout | undefined;
  #onDrained: (() => void) | undefined;
  readonly #counts = { accepted: 0, opened: 0, closed: 0, failed: 0, acceptErrors: 0, bytesToPod: 0, bytesFromPod: 0 };
  readonly #host: ConnectionHost;

  /** Validates the options (throws ERR_INVALID_ARGUMENT, usage, naming the bad one) and starts binding; see {@link ready}. */
  constructor(options: PortForwarderOptions) {
    super();
    this.#options = resolveForwarderOptions(options);
    this.opener = this.#options.opener;
    if (this.opener instanceof ResilientConnection) {
      this.opener.on('state', this.#onState);
      this.opener.on('replaced', this.#onReplaced);
    }
    const counts = this.#counts;
    this.#host = {
      opener: this.opener,
      openTimeoutMs: this.#options.openTimeoutMs,
      countChunk: (direction: SpliceDirection, bytes: number) => {
        if (direction === 'aToB') counts.bytesToPod += bytes;
        else counts.bytesFromPod += bytes;
      },
      opened: (_connection, info) => {
        counts.opened++;
        this.emit('connectionOpened', info);
      },
      ended: (connection, end) => this.#connectionEnded(connection, end),
    };
    this.ready = this.#start();
    this.ready.catch(noop);
  }

  /** A snapshot of the counters. */
  stats(): PortForwarderStats {
    const { accepted, opened, closed, failed, acceptErrors, bytesToPod, bytesFromPod } = this.#counts;
    const opener = this.opener;
    return {
      ...(opener instanceof ResilientConnection ? { connection: opener.stats } : {}),
      listeners: this.#listeners.length,
      openConnections: this.#connections.size,
      accepted,
      opened,
      closed,
      failed,
      acceptErrors,
      bytesToPod,
      bytesFromPod,
    };
  }

  /**
   * Stops listening at once, then:
   * - `mode: 'finish'` (default): open connections end by themselves; with `timeoutMs`, those
   *   still open after it are reset (`connectionFailed` with ERR_ABORTED);
   * - `mode: 'abort'`: every open connection is reset now (`connectionFailed`, ERR_ABORTED).
   *
   * Resolves when nothing is left running (no listener, no socket, no timer), after the last
   * connection event and the 'close' event. Idempotent: later calls return the same promise, except
   * that `'abort'` (or a `timeoutMs`) still cuts connections a `'finish'` is waiting for. Rejects
   * only with ERR_INVALID_ARGUMENT (usage) for bad options. The opener is not closed.
   */
  close(options: CloseForwarderOptions = {}): Promise<void> {
    let mode: 'finish' | 'abort';
    let timeoutMs: number | undefined;
    try {
      ({ mode, timeoutMs } = resolveCloseOptions(options));
    } catch (error) {
      return Promise.reject(error);
    }
    if (this.#state === 'starting' || (this.#closing === undefined && this.#state !== 'listening')) {
      // Not ready (yet, or ever): #start sees the abort after its current step, closes what it
      // bound and settles `ready`, which is then the end of the close.
      this.#startup.abort(new KubemuxError(ErrorCode.ABORTED, 'transport', 'the forwarder was closed before it was ready'));
      this.#closing ??= this.ready.then(noop, noop);
      return this.#closing;
    }
    if (mode === 'abort') this.#abortConnections(new KubemuxError(ErrorCode.ABORTED, 'stream', 'the forwarder was closed (mode abort)'));
    else if (timeoutMs !== undefined && this.#finishTimer === undefined && this.#state !== 'closed') {
      this.#finishTimer = setTimeout(() => {
        this.#abortConnections(new KubemuxError(ErrorCode.ABORTED, 'stream', `the forwarder was closed and the connection did not finish within ${timeoutMs} ms`));
      }, timeoutMs);
      this.#finishTimer.unref();
    }
    this.#closing ??= this.#shutdown();
    return this.#closing;
  }

  async #start(): Promise<ForwarderReady> {
    const signal = this.#startup.signal;
    try {
      const ports = await this.#resolvePorts(signal);
      checkDistinctLocalPorts(ports);
      const listeners: ListenerInfo[] = [];
      const skipped: SkippedListener[] = [];
      for (const port of ports) {
        if (signal.aborted) throw abortError(signal, 'transport', 'starting the forwarder');
        const bound = await bindPort(this.#options.addresses, port.local, () => this.#createServer(port.remote));
        for (const listener of bound.listeners) {
          this.#listeners.push({ ...listener, remotePort: port.remote });
          const info = { address: listener.address, port: listener.port, remotePort: port.remote };
          listeners.push(info);
          this.emit('listening', info);
        }
        skipped.push(...bound.skipped);
      }
      if (signal.aborted) throw abortError(signal, 'transport', 'starting the forwarder');
      this.#transition('listening');
      return { listeners, skipped };
    } catch (error) {
      // Never ready: nothing of it stays.
      this.#transition('closing');
      this.#abortConnections(new KubemuxError(ErrorCode.ABORTED, 'stream', 'the forwarder did not start'));
      await this.#stopped();
      throw error;
    }
  }

  async #resolvePorts(signal: AbortSignal): Promise<ResolvedPort[]> {
    const resolvePort = this.#options.resolvePort;
    return Promise.all(
      this.#options.ports.map(async (spec): Promise<ResolvedPort> => {
        let remote: number;
        if (resolvePort === undefined) remote = spec.remote as number;
        else {
          remote = await resolvePort(spec.remote, signal);
          if (!Number.isInteger(remote) || remote < 1 || remote > 0xffff) {
            throw new KubemuxError(ErrorCode.INVALID_ARGUMENT, 'usage', `resolvePort gave ${String(remote)} for port spec ${spec.text}, outside 1..65535`);
          }
        }
        // kubectl: "http" listens on the port the name stands for; "80" of a service listens on 80.
        const local = spec.local ?? (typeof spec.remote === 'number' ? spec.remote : remote);
        return { text: spec.text, local, remote };
      }),
    );
  }

  #createServer(remotePort: number): net.Server {
    // allowHalfOpen: a client's FIN must not end our side (the pod's reply is still coming).
    // pauseOnConnect: bytes wait in the kernel until the pair is open.
    const server = net.createServer({ allowHalfOpen: true, pauseOnConnect: true, noDelay: true });
    server.on('connection', (socket: net.Socket) => this.#accept(socket, remotePort));
    // Errors while binding are bindPort's; once listening, the only errors are failed accepts.
    server.on('error', (error: Error) => {
      if (server.listening) this.#acceptFailed(server, error);
    });
    return server;
  }

  #accept(socket: net.Socket, remotePort: number): void {
    if (this.#state === 'closing' || this.#state === 'closed') {
      // Accepted just before the listener closed.
      resetStream(socket);
      return;
    }
    const connection = new ForwardedConnection(this.#nextId++, socket, remotePort, this.#host);
    this.#connections.add(connection);
    this.#counts.accepted++;
    connection.start();
  }

  #acceptFailed(server: net.Server, cause: Error): void {
    const bound = server.address() as net.AddressInfo | null;
    const address = bound?.address ?? '';
    const port = bound?.port ?? 0;
    this.#counts.acceptErrors++;
    const error = new KubemuxError(ErrorCode.ACCEPT_FAILED, 'transport', `cannot accept a connection on ${formatHostPort(address, port)}: ${systemReason(cause)}`, {
      cause,
    });
    const info: AcceptErrorInfo = { address, port, error };
    this.emit('acceptError', info);
  }

  #connectionEnded(connection: ForwardedConnection, end: ConnectionEnd): void {
    this.#connections.delete(connection);
    if (end.kind === 'closed') {
      this.#counts.closed++;
      this.emit('connectionClosed', end.info);
    } else {
      this.#counts.failed++;
      this.emit('connectionFailed', end.info);
    }
    if (this.#connections.size === 0) this.#onDrained?.();
  }

  #abortConnections(error: KubemuxError): void {
    for (const connection of [...this.#connections]) connection.abort(error);
  }

  async #shutdown(): Promise<void> {
    this.#transition('closing');
    await this.#stopped();
  }

  /** Closes the listeners, waits for the connections, and moves to 'closed'. */
  async #stopped(): Promise<void> {
    const listeners = this.#listeners.splice(0);
    const drained =
      this.#connections.size === 0
        ? Promise.resolve()
        : new Promise<void>((resolve) => {
            this.#onDrained = resolve;
          });
    await Promise.all([closeListeners(listeners), drained]);
    this.#onDrained = undefined;
    clearTimeout(this.#finishTimer);
    this.#finishTimer = undefined;
    if (this.opener instanceof ResilientConnection) {
      this.opener.off('state', this.#onState);
      this.opener.off('replaced', this.#onReplaced);
    }
    await this.#options.owned?.close();
    this.#transition('closed');
    this.emit('close');
  }

  readonly #onState = (change: StateChange): void => {
    this.emit('state', change);
  };

  readonly #onReplaced = (replacement: Replacement): void => {
    this.emit('replaced', replacement);
  };

  #transition(to: ForwarderState): void {
    if (!TRANSITIONS[this.#state].includes(to)) throw new Error(`port forwarder: no transition ${this.#state} -> ${to}`);
    this.#state = to;
  }
}

/** Starts a {@link PortForwarder}: `await forward(options).ready` to know where it listens. */
export function forward(options: PortForwarderOptions): PortForwarder {
  return new PortForwarder(options);
}
