/**
 * What `kubemux forward` prints, from the forwarder's and the resilience layer's events:
 *
 * - text (default): kubectl's lines on stdout (`Forwarding from ...`, `Handling connection for
 *   ...`), failures and replacements on stderr, and on a terminal a live status line (state, RTT,
 *   open connections, bytes, replacements) below them;
 * - `--json`: one JSON object per line on stdout, `{"event": ..., ...}`, errors as
 *   `{code, scope, message, httpStatus?}`; nothing else.
 */
import type { KubemuxError, ListenerInfo, PortForwarder, ResilientConnection } from '../index.js';
import type { Console } from './console.js';

const STATUS_REFRESH_MS = 500;

/** How an error appears in JSON events: data, never a stack, never credentials. */
function errorJson(error: KubemuxError | undefined): Record<string, unknown> | undefined {
  if (error === undefined) return undefined;
  return {
    code: error.code,
    scope: error.scope,
    message: error.message,
    ...(error.httpStatus === undefined ? {} : { httpStatus: error.httpStatus }),
  };
}

/** `[::1]:8080` or `127.0.0.1:8080`. */
function hostPort(address: string, port: number): string {
  return address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
}

/** Bytes as a person reads them: 812 B, 1.2 KiB, 3.4 MiB, 1.1 GiB. */
export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(1)} ${units[unit]}`;
}

/** Prints a forward's events (see the file comment). */
export class ForwardReporter {
  readonly #console: Console;
  readonly #connection: ResilientConnection;
  readonly #json: boolean;
  #forwarder: PortForwarder | undefined;
  /** Local port of each listener by connection id, for kubectl's "Handling connection for". */
  readonly #localPorts = new Map<number, number>();
  #statusTimer: NodeJS.Timeout | undefined;

  constructor(console: Console, connection: ResilientConnection, json: boolean) {
    this.#console = console;
    this.#connection = connection;
    this.#json = json;
    connection.on('state', (change) => {
      if (json) this.#event('state', { state: change.state, previous: change.previous, reason: change.reason, error: errorJson(change.error), delayMs: change.delayMs, protocol: change.protocol });
      this.#drawStatus();
    });
    connection.on('replaced', (r) => {
      if (json) {
        this.#event('replaced', { cause: r.cause, error: errorJson(r.error), detectedAfterMs: r.detectedAfterMs, recoveredAfterMs: r.recoveredAfterMs, protocol: r.protocol });
        return;
      }
      const why = r.cause === 'connection-lost' ? (r.error?.message ?? 'the connection closed') : r.cause === 'draining' ? 'the server is closing it' : 'new connections stalled';
      // Only a missed ping deadline has a detection delay worth showing; errors are noticed at once.
      const detected = r.detectedAfterMs === undefined || r.error?.code !== 'ERR_PING_TIMEOUT' ? '' : `, noticed after ${Math.round(r.detectedAfterMs)} ms`;
      console.err(`connection lost (${why}${detected}); reconnected in ${Math.round(r.recoveredAfterMs)} ms`);
    });
    connection.on('dialFailed', (f) => {
      if (json) this.#event('dialFailed', { kind: f.kind, attempt: f.attempt, delayMs: f.delayMs, error: errorJson(f.error) });
      else console.err(`reconnecting failed (${f.error.message})${f.delayMs === undefined ? '' : `; retrying in ${f.delayMs} ms`}`);
    });
    connection.on('rtt', (rttMs) => {
      if (json) this.#event('rtt', { rttMs: Math.round(rttMs * 1000) / 1000 });
    });
    if (console.live && !json) {
      this.#statusTimer = setInterval(() => this.#drawStatus(), STATUS_REFRESH_MS);
      this.#statusTimer.unref();
    }
  }

  /** Starts reporting a forwarder's events. */
  attach(forwarder: PortForwarder): void {
    this.#forwarder = forwarder;
    const console = this.#console;
    forwarder.on('listening', (info: ListenerInfo) => {
      if (this.#json) this.#event('listening', { address: info.address, port: info.port, remotePort: info.remotePort });
      else console.out(`Forwarding from ${hostPort(info.address, info.port)} -> ${info.remotePort}`);
    });
    forwarder.on('connectionOpened', (info) => {
      this.#localPorts.set(info.id, info.localPort);
      if (this.#json) this.#event('connectionOpened', { ...info });
      else console.out(`Handling connection for ${info.localPort}`);
      this.#drawStatus();
    });
    forwarder.on('connectionClosed', (info) => {
      this.#localPorts.delete(info.id);
      if (this.#json) this.#event('connectionClosed', { ...info });
      this.#drawStatus();
    });
    forwarder.on('connectionFailed', (info) => {
      const localPort = this.#localPorts.get(info.id);
      this.#localPorts.delete(info.id);
      if (this.#json) this.#event('connectionFailed', { ...info, error: errorJson(info.error) });
      else console.err(`an error occurred forwarding ${localPort ?? '?'} -> ${info.remotePort}: ${info.error.message}`);
      this.#drawStatus();
    });
    forwarder.on('acceptError', (info) => {
      if (this.#json) this.#event('acceptError', { address: info.address, port: info.port, error: errorJson(info.error) });
      else console.err(`cannot accept on ${hostPort(info.address, info.port)}: ${info.error.message}`);
    });
  }

  /** Stops the status line and its timer. */
  close(): void {
    clearInterval(this.#statusTimer);
    this.#console.endStatus();
  }

  #event(event: string, fields: Record<string, unknown>): void {
    this.#console.out(JSON.stringify({ event, time: new Date().toISOString(), ...fields }));
  }

  #drawStatus(): void {
    if (!this.#console.live || this.#json) return;
    const c = this.#connection.stats;
    const f = this.#forwarder?.stats();
    const rtt = c.rttMs === undefined ? '-' : `${c.rttMs.toFixed(1)} ms`;
    this.#console.status(
      `[${c.state}] ${c.protocol ?? '-'}  rtt ${rtt}  open ${f?.openConnections ?? 0}  ` +
        `↑ ${formatBytes(f?.bytesToPod ?? 0)}  ↓ ${formatBytes(f?.bytesFromPod ?? 0)}  replaced ${c.replacements}`,
    );
  }
}
