/**
 * PortForwardEndpoint: what the Kubernetes API server, kubelet and container runtime together do
 * on the port-forward path, for all three wire protocols:
 *
 * - SPDY/3.1: `POST .../pods/NAME/portforward` with `Upgrade: SPDY/3.1` and
 *   `X-Stream-Protocol-Version: portforward.k8s.io`, answered 101 and served as SPDY;
 * - SPDY tunnelled in WebSocket binary messages (subprotocol `SPDY/3.1+portforward.k8s.io`);
 * - WebSocket v4 channels (`v4.channel.k8s.io`, `?ports=P1&ports=P2`).
 *
 * Plus fault injection (drop, blackhole, stall, refuse, goaway, delay) so that clients can be
 * tested against every way a real path fails. The host (the fake cluster, or a test) resolves the
 * pod and hands over the upgrade request.
 */
import { STATUS_CODES, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { SpdySession, resolveSessionOptions, type SpdySessionOptions } from '../../session/index.js';
import { WebSocketByteStream } from '../../transport/tunnel/byte-stream.js';
import { acceptWebSocket } from '../../transport/websocket/index.js';
import { MAX_PORTS, PORT_FORWARD_PROTOCOL, SPDY_TUNNEL_SUBPROTOCOL, V4_CHANNEL_SUBPROTOCOL } from '../../channel/index.js';
import { integerIn, MAX_TIMER_MS, usage } from '../../util/validate.js';
import { parseRequestTarget } from '../request-target.js';
import { FaultGate } from './fault-gate.js';
import { dialTcp, type DialFunction } from './pod-dialer.js';
import { serveSpdyPortForward } from './spdy-portforward.js';
import { serveV4PortForward } from './v4-portforward.js';
import type { EndpointStats, PodTarget } from './types.js';

export type { EndpointStats, PodTarget } from './types.js';
export type { DialFunction } from './pod-dialer.js';

/** Fault actions the endpoint understands (a cluster handles pod-level ones such as replace-pod). */
export type EndpointFault = 'drop' | 'blackhole' | 'stall' | 'refuse' | 'goaway' | 'delay' | 'clear';

/** Every fault action {@link PortForwardEndpoint.applyFault} accepts. */
export const ENDPOINT_FAULTS: readonly EndpointFault[] = ['drop', 'blackhole', 'stall', 'refuse', 'goaway', 'delay', 'clear'];

/** Parameters of {@link PortForwardEndpoint.applyFault}. */
export interface EndpointFaultParams {
  /** `refuse`: the HTTP status, 400..599. Default 503. */
  readonly status?: number;
  /**
   * `refuse`: answer as Go's net/http does (Content-Length, no `Connection: close`) and keep the
   * connection open, as every real API server does after a 4xx. Default false (close after it).
   */
  readonly keepAlive?: boolean;
  /** `delay`: how long every byte of every upgraded connection is held, each way, ms (1..60,000). */
  readonly ms?: number;
}

/** The largest `delay` the endpoint accepts, ms. */
export const MAX_FAULT_DELAY_MS = 60_000;

/** Options of {@link PortForwardEndpoint}. */
export interface PortForwardEndpointOptions {
  /** How the runtime reaches a pod's port. Default: TCP to `pod.resolvePort(port)`. */
  readonly dial?: DialFunction;
  /** How long the first stream of a pair waits for the second, ms. Default 30,000 (the kubelet's). */
  readonly pairingTimeoutMs?: number;
  /**
   * Closes an upgraded connection on which nothing has moved for this long, ms, as the kubelet's
   * streaming server does (`StreamIdleTimeout`, 4 h; spec/portforward.md §8). SPDY, plain or
   * tunnelled: no frame read or written (pings count); open streams are then reset (CANCEL), GOAWAY
   * is sent and the session closes with ERR_IDLE_TIMEOUT. v4: no message either way; the
   * WebSocket is then closed with 1000. 0 disables it. Default 14,400,000 (4 h).
   */
  readonly idleTimeoutMs?: number;
  /**
   * Options for the server-side SPDY sessions (role is always 'server'; the idle timeout is
   * `idleTimeoutMs` above). Unless given here, `maxConcurrentStreams` and `maxSessionHeaderBytes`
   * are the endpoint's (see {@link ENDPOINT_DEFAULTS}), not the session's.
   */
  readonly session?: Omit<SpdySessionOptions, 'role' | 'idleTimeoutMs'>;
}

/** Defaults of {@link PortForwardEndpointOptions}. */
export const ENDPOINT_DEFAULTS = Object.freeze({
  pairingTimeoutMs: 30_000,
  idleTimeoutMs: 4 * 60 * 60 * 1000,
  /**
   * Streams per upgraded connection. The kubelet and the container runtimes (Go's spdystream) have
   * no limit, and kubectl sends every local connection of a forward over one connection, so a
   * load test of thousands of connections through kubectl must not be refused here as it would
   * not be by a cluster. 65,536 streams (32,768 pairs) is far above that and still a bound: what
   * protects the endpoint is the memory budget (about 1.2 KB of heap per open stream, headers
   * within `maxSessionHeaderBytes`, unread data within the session's receive buffers).
   */
  maxConcurrentStreams: 65_536,
  /** Decoded headers of a connection's open streams, bytes: about 74,000 Kubernetes streams (~450 bytes each). */
  maxSessionHeaderBytes: 32 * 1024 * 1024,
});

/** One upgraded connection the endpoint serves. */
interface UpgradedConnection {
  readonly gate: FaultGate;
  readonly podUid: string;
  readonly session?: SpdySession;
}

/** The runtime side of port-forward for all three protocols, with fault injection (see the file comment). */
export class PortForwardEndpoint {
  readonly #dial: DialFunction;
  readonly #pairingTimeoutMs: number;
  readonly #idleTimeoutMs: number;
  readonly #sessionOptions: SpdySessionOptions;
  readonly #connections = new Set<UpgradedConnection>();
  #closed = false;

  // Fault state.
  #blackholed = false;
  #stalled = false;
  #refuseStatus: number | undefined;
  #refuseKeepAlive = false;
  #delayMs = 0;
  /** v4 WebSockets accepted while stalled: served (port prefixes, pod dials) at `clear`. */
  readonly #stalledV4 = new Set<() => void>();

  readonly #sessionErrors: Record<string, number> = {};
  readonly #counters = {
    sessions: 0,
    spdySessions: 0,
    tunnelSessions: 0,
    v4Sessions: 0,
    streams: 0,
    bytesToPod: 0,
    bytesFromPod: 0,
    dialFailures: 0,
    pairingTimeouts: 0,
    rejectedStreams: 0,
  };

  /** Throws ERR_INVALID_ARGUMENT (usage) for a bad option, session options included (checked now, not at the first upgrade). */
  constructor(options: PortForwardEndpointOptions = {}) {
    this.#dial = options.dial ?? dialTcp;
    this.#pairingTimeoutMs = integerIn('pairingTimeoutMs', options.pairingTimeoutMs ?? ENDPOINT_DEFAULTS.pairingTimeoutMs, 1, MAX_TIMER_MS);
    this.#idleTimeoutMs = integerIn('idleTimeoutMs', options.idleTimeoutMs ?? ENDPOINT_DEFAULTS.idleTimeoutMs, 0, MAX_TIMER_MS);
    this.#sessionOptions = {
      maxConcurrentStreams: ENDPOINT_DEFAULTS.maxConcurrentStreams,
      maxSessionHeaderBytes: ENDPOINT_DEFAULTS.maxSessionHeaderBytes,
      ...options.session,
      idleTimeoutMs: this.#idleTimeoutMs,
      role: 'server',
    };
    resolveSessionOptions(this.#sessionOptions);
  }

  /**
   * Handles an upgrade request for pods/NAME/portforward (from an http server's 'upgrade'
   * event). Answers with the status the API server would give when the request is not acceptable.
   */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer, pod: PodTarget): void {
    socket.on('error', () => socket.destroy());
    // This runs inside the host's 'upgrade' event: an exception would escape into the host's
    // server (often as an uncaught exception). Whatever one request does ends only its socket.
    try {
      this.#handleUpgrade(req, socket, head, pod);
    } catch {
      socket.destroy();
    }
  }

  #handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer, pod: PodTarget): void {
    if (this.#closed) return respond(socket, 503, statusBody(503, 'ServiceUnavailable', 'the port-forward endpoint is shutting down'));
    if (this.#refuseStatus !== undefined) {
      const status = this.#refuseStatus;
      return respond(socket, status, statusBody(status, reasonFor(status), `port-forward refused by fault injection (${status})`), {}, this.#refuseKeepAlive);
    }
    const upgrade = headerText(req.headers.upgrade).toLowerCase();
    const connection = headerText(req.headers.connection).toLowerCase();
    if (upgrade === 'websocket') return this.#upgradeToWebSocket(req, socket, head, pod);
    if (!connection.includes('upgrade') || !upgrade.includes('spdy/3.1')) {
      return respond(
        socket,
        400,
        plainBody(`unable to upgrade: missing upgrade headers in request: Connection=${JSON.stringify(connection)} Upgrade=${JSON.stringify(upgrade)}`),
      );
    }
    this.#upgradeToSpdy(req, socket, head, pod);
  }

  /** Answers a portforward request that is not an upgrade, as the API server does. */
  handleRequest(_req: IncomingMessage, res: ServerResponse): void {
    res.writeHead(400, { 'content-type': 'text/plain; charset=utf-8' }).end('Upgrade request required');
  }

  /** Applies a fault (see {@link EndpointFaultParams} for the parameters). */
  applyFault(action: EndpointFault, params: EndpointFaultParams = {}): void {
    switch (action) {
      case 'drop':
        for (const connection of this.#connections) connection.gate.destroy();
        return;
      case 'blackhole':
        this.#blackholed = true;
        for (const connection of this.#connections) connection.gate.blackhole();
        return;
      case 'stall':
        this.#stalled = true;
        return;
      case 'refuse': {
        const status = integerIn('refuse status', params.status ?? 503, 400, 599);
        this.#refuseStatus = status;
        this.#refuseKeepAlive = params.keepAlive === true;
        return;
      }
      case 'delay': {
        const ms = integerIn('delay ms', params.ms, 1, MAX_FAULT_DELAY_MS);
        this.#delayMs = ms;
        for (const connection of this.#connections) connection.gate.delay(ms);
        return;
      }
      case 'goaway':
        for (const connection of this.#connections) connection.session?.goAway();
        return;
      case 'clear':
        this.#blackholed = false;
        this.#stalled = false;
        this.#refuseStatus = undefined;
        this.#refuseKeepAlive = false;
        this.#delayMs = 0;
        for (const connection of this.#connections) {
          connection.gate.delay(0);
          connection.gate.restore();
        }
        for (const serve of this.#stalledV4) serve();
        this.#stalledV4.clear();
        return;
      default:
        usage(`unknown fault "${String(action)}"; known: ${ENDPOINT_FAULTS.join(', ')}`);
    }
  }

  /** Ends every connection to the pod with this uid (the pod was deleted). */
  dropPod(uid: string): void {
    for (const connection of this.#connections) if (connection.podUid === uid) connection.gate.destroy();
  }

  stats(): EndpointStats {
    return { ...this.#counters, activeSessions: this.#connections.size, sessionErrors: { ...this.#sessionErrors } };
  }

  /** Closes every upgraded connection and refuses new ones. */
  async close(): Promise<void> {
    this.#closed = true;
    for (const connection of this.#connections) connection.gate.destroy();
    this.#connections.clear();
  }

  #upgradeToSpdy(req: IncomingMessage, socket: Duplex, head: Buffer, pod: PodTarget): void {
    const offered = headerList(req.headers['x-stream-protocol-version']);
    if (offered.length === 0) {
      return respond(socket, 400, plainBody('unable to upgrade: header X-Stream-Protocol-Version does not exist in request'));
    }
    if (!offered.includes(PORT_FORWARD_PROTOCOL)) {
      return respond(
        socket,
        403,
        plainBody(`unable to upgrade: unable to negotiate protocol: client supports [${offered.join(' ')}], server accepts [${PORT_FORWARD_PROTOCOL}]`),
        { 'X-Accepted-Stream-Protocol-Versions': PORT_FORWARD_PROTOCOL },
      );
    }
    socket.write(
      'HTTP/1.1 101 Switching Protocols\r\n' +
        'Connection: Upgrade\r\n' +
        'Upgrade: SPDY/3.1\r\n' +
        `X-Stream-Protocol-Version: ${PORT_FORWARD_PROTOCOL}\r\n` +
        `Date: ${new Date().toUTCString()}\r\n\r\n`,
    );
    // Bytes that came with the request belong to the SPDY stream.
    if (head.length > 0) socket.unshift(head);
    this.#counters.spdySessions++;
    this.#serveSpdy(this.#gate(socket), pod);
  }

  /**
   * WebSocket: SPDY tunnelled in binary messages (kubectl >= 1.31), or the v4 channel protocol
   * (@kubernetes/client-node). The subprotocol `SPDY/3.1+portforward.k8s.io` is not a valid
   * token for `ws`, so the handshake is kubemux's own (src/transport/websocket).
   */
  #upgradeToWebSocket(req: IncomingMessage, socket: Duplex, head: Buffer, pod: PodTarget): void {
    const target = parseRequestTarget(req.url);
    if (target === undefined) return respond(socket, 400, plainBody('the request target is not a valid path'));
    const offered = headerList(req.headers['sec-websocket-protocol']);
    const wantsV4 = !offered.includes(SPDY_TUNNEL_SUBPROTOCOL) && offered.includes(V4_CHANNEL_SUBPROTOCOL);
    let ports: number[] = [];
    if (wantsV4) {
      const values = target.searchParams.getAll('ports').flatMap((v) => v.split(','));
      ports = values.map((v) => (/^[0-9]{1,5}$/.test(v) ? Number(v) : NaN));
      if (ports.length === 0) return respond(socket, 400, plainBody('query parameter "port" is required'));
      const bad = values.find((_, i) => !(ports[i]! >= 1 && ports[i]! <= 65535));
      if (bad !== undefined) return respond(socket, 400, plainBody(`unable to parse "${bad}" as a port: must be 1..65535`));
      if (ports.length > MAX_PORTS) return respond(socket, 400, plainBody(`at most ${MAX_PORTS} ports per request`));
    }
    const gate = this.#gate(socket);
    const accepted = acceptWebSocket({ method: req.method ?? '', headers: req.headers }, gate, head, {
      protocols: [SPDY_TUNNEL_SUBPROTOCOL, V4_CHANNEL_SUBPROTOCOL],
    });
    if (!accepted.ok) return;
    const { connection, protocol } = accepted;
    if (protocol === SPDY_TUNNEL_SUBPROTOCOL) {
      this.#counters.tunnelSessions++;
      this.#serveSpdy(gate, pod, new WebSocketByteStream(connection));
      return;
    }
    this.#counters.v4Sessions++;
    const tracked: UpgradedConnection = { gate, podUid: pod.uid };
    this.#track(tracked);
    const serve = (): void => {
      if (connection.state === 'open') serveV4PortForward(connection, ports, { pod, dial: this.#dial, counters: this.#counters, idleTimeoutMs: this.#idleTimeoutMs });
    };
    connection.on('close', () => {
      this.#connections.delete(tracked);
      this.#stalledV4.delete(serve);
    });
    // Stalled: the upgrade succeeds, then the runtime sends nothing (no port prefix) until `clear`.
    if (this.#stalled) this.#stalledV4.add(serve);
    else serve();
  }

  /** Wraps an upgraded socket in a gate that the faults in force apply to. */
  #gate(socket: Duplex): FaultGate {
    const gate = new FaultGate(socket);
    if (this.#blackholed) gate.blackhole();
    if (this.#delayMs > 0) gate.delay(this.#delayMs);
    return gate;
  }

  /** Serves SPDY on `transport` (the gate itself, or a WebSocket byte stream over it). */
  #serveSpdy(gate: FaultGate, pod: PodTarget, transport: Duplex = gate): void {
    const session = new SpdySession(transport, this.#sessionOptions);
    const connection: UpgradedConnection = { gate, session, podUid: pod.uid };
    this.#track(connection);
    serveSpdyPortForward(session, {
      pod,
      dial: this.#dial,
      pairingTimeoutMs: this.#pairingTimeoutMs,
      counters: this.#counters,
      stalled: () => this.#stalled,
    });
    session.on('close', (error) => {
      this.#connections.delete(connection);
      if (error !== undefined) this.#sessionErrors[error.code] = (this.#sessionErrors[error.code] ?? 0) + 1;
    });
  }

  #track(connection: UpgradedConnection): void {
    this.#counters.sessions++;
    this.#connections.add(connection);
    connection.gate.on('close', () => this.#connections.delete(connection));
  }
}

function headerText(value: string | string[] | undefined): string {
  return Array.isArray(value) ? value.join(', ') : (value ?? '');
}

/** All values of a repeatable header, split on commas (Go's Handshake does the same). */
function headerList(value: string | string[] | undefined): string[] {
  const values = Array.isArray(value) ? value : value === undefined ? [] : [value];
  return values.flatMap((v) => v.split(',')).map((v) => v.trim()).filter((v) => v.length > 0);
}

interface Body {
  readonly contentType: string;
  readonly text: string;
}

function plainBody(text: string): Body {
  return { contentType: 'text/plain; charset=utf-8', text };
}

/** A metav1.Status body, as the API server sends with errors. */
function statusBody(code: number, reason: string, message: string): Body {
  return {
    contentType: 'application/json',
    text: JSON.stringify({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code }),
  };
}

function reasonFor(status: number): string {
  const reasons: Record<number, string> = {
    400: 'BadRequest',
    401: 'Unauthorized',
    403: 'Forbidden',
    404: 'NotFound',
    409: 'Conflict',
    429: 'TooManyRequests',
    500: 'InternalError',
    503: 'ServiceUnavailable',
    504: 'Timeout',
  };
  return reasons[status] ?? 'Unknown';
}

/**
 * Writes a complete HTTP/1.1 response on a socket that was never handed to the HTTP server's
 * response machinery, and closes it; with `keepAlive`, answers as Go's net/http does (no
 * `Connection: close`) and leaves the connection open for the client to close.
 */
function respond(socket: Duplex, status: number, body: Body, extraHeaders: Record<string, string> = {}, keepAlive = false): void {
  const payload = Buffer.from(body.text, 'utf8');
  const headers = [
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Unknown'}`,
    `Content-Type: ${body.contentType}`,
    `Content-Length: ${payload.length}`,
    ...(keepAlive ? [`Date: ${new Date().toUTCString()}`] : ['Connection: close']),
    ...Object.entries(extraHeaders).map(([name, value]) => `${name}: ${value}`),
  ];
  const response = Buffer.concat([Buffer.from(`${headers.join('\r\n')}\r\n\r\n`, 'latin1'), payload]);
  if (!keepAlive) {
    socket.end(response);
    return;
  }
  socket.write(response);
  // Like Go's server: whatever the client sends next is read (and here dropped), and its end of
  // the connection is answered by ours; until then the connection stays open.
  socket.resume();
  socket.once('end', () => socket.end());
}
