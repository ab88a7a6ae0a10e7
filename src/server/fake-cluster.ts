/**
 * The fake cluster: one HTTP/1.1 (or HTTPS) server that answers enough of the Kubernetes API for
 * kubectl and kubemux to resolve `pod/NAME`, `deploy/NAME` and `svc/NAME` and to reach the
 * portforward subresource, which it hands to a {@link PortForwardEndpoint}. Two extra routes,
 * answered to loopback clients only, steer tests: `POST /kubemux/faults/ACTION` and
 * `GET /kubemux/stats`.
 *
 * It listens on loopback unless told otherwise: it accepts any bearer token (or none) unless
 * `requireToken` is set, so on a reachable address anyone could port-forward through it.
 *
 * Size (about 470 lines): one concern, the cluster's lifecycle and its HTTP routing (API, fault
 * routes, upgrades to the endpoint); the API itself (kube-api.ts, resources.ts), the state
 * (cluster-state), the config and the endpoint live elsewhere. What remains is the glue between
 * them, which reads best in one place.
 */
import { createServer as createHttpServer, STATUS_CODES, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { isIP, type AddressInfo } from 'node:net';
import { writeFile } from 'node:fs/promises';
import type { Duplex } from 'node:stream';
import { ErrorCode, KubemuxError } from '../errors.js';
import { integerIn, MAX_TIMER_MS } from '../util/validate.js';
import { generateCertificates } from './certificates.js';
import { defaultClusterConfig, type ClusterConfig } from './cluster-config.js';
import { ClusterState } from './cluster-state.js';
import { KubeApi, badTargetReply, matchPortForwardPath, notFoundStatus, statusBody, writeReply, type ApiReply } from './kube-api.js';
import { kubeconfigFor } from './kubeconfig.js';
import { decodePathSegment, parseRequestTarget, type RequestTarget } from './request-target.js';
import { MAX_FAULT_DELAY_MS, PortForwardEndpoint, type EndpointFault, type EndpointFaultParams, type EndpointStats } from './portforward/endpoint.js';

/** Options of {@link FakeCluster.start}. */
export interface FakeClusterOptions {
  /** Where to listen. Default 127.0.0.1, port 0 (any free port). */
  readonly listen?: { readonly host?: string; readonly port?: number };
  /** Serve HTTPS with a freshly generated CA and server certificate. Default false. */
  readonly tls?: boolean;
  /** Extra DNS names or IP addresses for the server certificate (localhost, 127.0.0.1, ::1 and the listen host are always in). */
  readonly tlsNames?: readonly string[];
  /** The objects. Default {@link defaultClusterConfig}. */
  readonly config?: ClusterConfig;
  /** The port-forward endpoint; the cluster closes it on {@link FakeCluster.close}. Default a new one. */
  readonly endpoint?: PortForwardEndpoint;
  /** Permit a listen host that is not loopback. Default false. */
  readonly allowNonLoopback?: boolean;
  /** Receives one line per request (method, URL, Accept, status), for debugging clients. */
  readonly log?: (line: string) => void;
  /**
   * Answer every API and upgrade request that does not carry `Authorization: Bearer <this>` with
   * 401 Unauthorized, as an API server does for a missing or expired credential (the
   * `/kubemux/` routes stay open). Default: any token, or none, is accepted. Changeable while
   * running with {@link FakeCluster.setRequiredToken}, to test credential refresh.
   */
  readonly requireToken?: string;
  /**
   * How long a client may take to send a request's headers, ms (Node's `headersTimeout`): a
   * client that trickles them (slowloris) gets 408 and is disconnected. Default 10,000.
   */
  readonly headersTimeoutMs?: number;
  /** How long a client may take to send a whole request, body included, ms (Node's `requestTimeout`). Default 30,000. */
  readonly requestTimeoutMs?: number;
  /**
   * The port-forward endpoint's idle timeout (see PortForwardEndpointOptions.idleTimeoutMs), for
   * the endpoint the cluster creates; ignored when `endpoint` is given. Default 4 h, 0 disables.
   */
  readonly idleTimeoutMs?: number;
}

/** Defaults of {@link FakeClusterOptions}. */
export const FAKE_CLUSTER_DEFAULTS = Object.freeze({
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 30_000,
});

/** `GET /kubemux/stats`: the endpoint's counters plus the cluster's own. */
export interface ClusterStats extends EndpointStats {
  /** Kubernetes API requests answered (not upgrades, not /kubemux routes). */
  readonly requests: number;
  /** Upgrade requests for an existing pod's portforward handed to the endpoint. */
  readonly upgrades: number;
}

/** Options of {@link FakeCluster.kubeconfig}. */
export interface FakeClusterKubeconfigOptions {
  readonly namespace?: string;
  readonly token?: string;
  readonly name?: string;
}

/** The fault actions `POST /kubemux/faults/ACTION` accepts. */
export const FAULT_ACTIONS = ['drop', 'blackhole', 'stall', 'refuse', 'goaway', 'delay', 'replace-pod', 'clear'] as const;
/** One of {@link FAULT_ACTIONS}. */
export type FaultAction = (typeof FAULT_ACTIONS)[number];

/** Whether a listen host is a loopback name or address (localhost, 127.0.0.0/8, ::1, ::ffff:127.x.y.z). */
export function isLoopbackHost(host: string): boolean {
  return host.toLowerCase() === 'localhost' || isLoopbackAddress(host);
}

/** Whether a peer address (`socket.remoteAddress`) is loopback: 127.0.0.0/8, ::1, or IPv4-mapped 127.x. */
export function isLoopbackAddress(address: string | undefined): boolean {
  if (address === undefined) return false;
  const bare = address.replace(/^\[|\]$/g, '');
  const v4 = /^(?:::ffff:)?(\d+)\.\d+\.\d+\.\d+$/i.exec(bare);
  if (v4 !== null) return isIP(bare.replace(/^::ffff:/i, '')) === 4 && v4[1] === '127';
  if (isIP(bare) !== 6) return false;
  return /^(0{0,4}:){2,7}0{0,3}1$/.test(bare) || bare === '::1';
}

/** A running fake cluster. */
export class FakeCluster {
  /** The base URL, e.g. `http://127.0.0.1:40123` (an unspecified listen address is shown as loopback). */
  readonly url: string;
  /** The CA certificate to trust (PEM) when serving HTTPS; undefined over plain HTTP. */
  readonly caPem: string | undefined;
  /** The live objects (tests mutate them, e.g. `state.replacePod`). */
  readonly state: ClusterState;
  /** The port-forward endpoint requests are handed to. */
  readonly endpoint: PortForwardEndpoint;
  /** The API request handler. */
  readonly api: KubeApi;

  readonly #server: Server;
  readonly #sockets = new Set<Duplex>();
  readonly #log: ((line: string) => void) | undefined;
  #requiredToken: string | undefined;
  #requests = 0;
  #upgrades = 0;
  #closing: Promise<void> | undefined;

  private constructor(server: Server, url: string, caPem: string | undefined, state: ClusterState, endpoint: PortForwardEndpoint, log: ((line: string) => void) | undefined) {
    this.#server = server;
    this.url = url;
    this.caPem = caPem;
    this.state = state;
    this.endpoint = endpoint;
    this.api = new KubeApi(state);
    this.#log = log;
  }

  /**
   * Starts listening. Fails with ERR_INVALID_ARGUMENT (usage) for a non-loopback host without
   * `allowNonLoopback` or an invalid config, and with the listen error (EADDRINUSE, ...) otherwise.
   */
  static async start(options: FakeClusterOptions = {}): Promise<FakeCluster> {
    const host = options.listen?.host ?? '127.0.0.1';
    const port = options.listen?.port ?? 0;
    if (!Number.isInteger(port) || port < 0 || port > 65_535) throw new KubemuxError(ErrorCode.INVALID_ARGUMENT, 'usage', `listen port ${String(port)} is outside 0..65535`);
    if (!isLoopbackHost(host) && options.allowNonLoopback !== true) {
      throw new KubemuxError(
        ErrorCode.INVALID_ARGUMENT,
        'usage',
        `refusing to listen on ${host}: the fake cluster accepts any credentials, so it listens on loopback only unless allowNonLoopback is set`,
      );
    }
    const headersTimeoutMs = integerIn('headersTimeoutMs', options.headersTimeoutMs ?? FAKE_CLUSTER_DEFAULTS.headersTimeoutMs, 1, MAX_TIMER_MS);
    const requestTimeoutMs = integerIn('requestTimeoutMs', options.requestTimeoutMs ?? FAKE_CLUSTER_DEFAULTS.requestTimeoutMs, 1, MAX_TIMER_MS);
    const state = new ClusterState(options.config ?? defaultClusterConfig());
    const endpoint = options.endpoint ?? new PortForwardEndpoint(options.idleTimeoutMs === undefined ? {} : { idleTimeoutMs: options.idleTimeoutMs });
    // Node checks both deadlines every connectionsCheckingInterval (30 s by default, which would
    // let a slowloris client hold its socket up to that much longer than the deadline).
    const httpOptions = {
      headersTimeout: Math.min(headersTimeoutMs, requestTimeoutMs),
      requestTimeout: requestTimeoutMs,
      connectionsCheckingInterval: Math.max(10, Math.min(1000, Math.floor(Math.min(headersTimeoutMs, requestTimeoutMs) / 4))),
    };

    let server: Server;
    let caPem: string | undefined;
    if (options.tls === true) {
      const names = new Set(['localhost', '127.0.0.1', '::1', ...(isUnspecified(host) ? [] : [host]), ...(options.tlsNames ?? [])]);
      const certificates = generateCertificates({
        dnsNames: [...names].filter((n) => isIP(n) === 0),
        ipAddresses: [...names].filter((n) => isIP(n) !== 0),
      });
      caPem = certificates.caCertPem;
      // HTTP/1.1 only: port-forward upgrades do not exist in HTTP/2.
      server = createHttpsServer({ ...httpOptions, key: certificates.keyPem, cert: certificates.certPem, ALPNProtocols: ['http/1.1'] });
    } else {
      server = createHttpServer(httpOptions);
    }

    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    const address = server.address() as AddressInfo;
    const shownHost = host === '0.0.0.0' ? '127.0.0.1' : host === '::' ? '::1' : host;
    const url = `${options.tls === true ? 'https' : 'http'}://${isIP(shownHost) === 6 ? `[${shownHost}]` : shownHost}:${address.port}`;
    const cluster = new FakeCluster(server, url, caPem, state, endpoint, options.log);
    cluster.setRequiredToken(options.requireToken);
    cluster.#attach();
    return cluster;
  }

  /** A kubeconfig (JSON text) for this cluster, trusting its CA when it serves HTTPS, with the required token (if any) unless `token` says otherwise. */
  kubeconfig(options: FakeClusterKubeconfigOptions = {}): string {
    return kubeconfigFor({
      server: this.url,
      ...(this.caPem === undefined ? {} : { caPem: this.caPem }),
      ...(this.#requiredToken === undefined ? {} : { token: this.#requiredToken }),
      ...options,
    });
  }

  /**
   * From now on, requires `Authorization: Bearer <token>` on API and upgrade requests (401
   * otherwise); `undefined` accepts any again. Connections already upgraded are not affected, as
   * on a real API server. Fails with ERR_INVALID_ARGUMENT for an empty token or one that cannot be
   * sent in a header.
   */
  setRequiredToken(token: string | undefined): void {
    if (token !== undefined && (token === '' || !/^[\x21-\x7e]+$/.test(token))) {
      throw new KubemuxError(ErrorCode.INVALID_ARGUMENT, 'usage', 'requireToken must be a non-empty token of visible ASCII characters');
    }
    this.#requiredToken = token;
  }

  /** Writes {@link FakeCluster.kubeconfig} to `path`, readable by the owner only. */
  async writeKubeconfig(path: string, options: FakeClusterKubeconfigOptions = {}): Promise<void> {
    await writeFile(path, this.kubeconfig(options), { mode: 0o600 });
  }

  /** The counters `GET /kubemux/stats` reports. */
  stats(): ClusterStats {
    return { ...this.endpoint.stats(), requests: this.#requests, upgrades: this.#upgrades };
  }

  /**
   * Applies a fault, as `POST /kubemux/faults/ACTION?params` does, and returns the same JSON
   * body. Fails with ERR_INVALID_ARGUMENT (usage) for an unknown action, a bad parameter or a
   * missing pod.
   */
  applyFault(action: string, params: Readonly<Record<string, string>> = {}): Record<string, unknown> {
    const reply = this.#fault(action, new URLSearchParams(params));
    if (reply.status !== 200) throw new KubemuxError(ErrorCode.INVALID_ARGUMENT, 'usage', String(reply.body['error']));
    return reply.body;
  }

  /** Stops listening, destroys every open connection (upgraded ones too) and closes the endpoint. Idempotent. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
      for (const socket of this.#sockets) socket.destroy();
      this.#sockets.clear();
      await this.endpoint.close();
      await closed;
    })();
    return this.#closing;
  }

  #attach(): void {
    const track = (socket: Duplex): void => {
      if (this.#closing !== undefined) {
        socket.destroy();
        return;
      }
      if (this.#sockets.has(socket)) return;
      this.#sockets.add(socket);
      // A client reset must not become an uncaught 'error'; the connection is simply gone.
      socket.on('error', (err: Error) => this.#log?.(`socket error: ${err.message}`));
      socket.once('close', () => this.#sockets.delete(socket));
    };
    this.#server.on('connection', track);
    if (this.caPem !== undefined) this.#server.on('secureConnection', track);
    // Each handler runs behind a last-resort catch: whatever one request does, an exception must
    // end that request (500, or the socket), never the process that other tests share.
    this.#server.on('request', (req: IncomingMessage, res: ServerResponse) => {
      try {
        this.#onRequest(req, res);
      } catch (error) {
        this.#log?.(`request handler failed: ${String(error)}`);
        req.resume();
        if (res.headersSent) res.destroy();
        else writeReply(res, { type: 'json', status: 500, body: statusBody(500, 'InternalError', 'the fake cluster failed to handle the request') });
      }
    });
    this.#server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      track(socket);
      try {
        this.#onUpgrade(req, socket, head);
      } catch (error) {
        this.#log?.(`upgrade handler failed: ${String(error)}`);
        socket.destroy();
      }
    });
  }

  #onRequest(req: IncomingMessage, res: ServerResponse): void {
    const method = req.method ?? 'GET';
    if (this.#log !== undefined) {
      const log = this.#log;
      res.once('close', () => log(`${method} ${req.url ?? ''} accept=${JSON.stringify(req.headers.accept ?? '')} -> ${res.statusCode}`));
    }
    const target = parseRequestTarget(req.url);
    if (target === undefined) {
      req.resume();
      writeReply(res, badTargetReply());
      return;
    }
    const { pathname } = target;
    if (pathname.startsWith('/kubemux/')) {
      req.resume();
      this.#onControl(req, res, method, target);
      return;
    }
    this.#requests += 1;
    if (!this.#authorized(req)) {
      req.resume();
      writeReply(res, UNAUTHORIZED);
      return;
    }
    const pod = matchPortForwardPath(pathname);
    if (pod !== undefined) {
      const refusal = this.#portForwardRefusal(method, pod);
      if (refusal !== undefined) {
        req.resume();
        writeReply(res, refusal);
        return;
      }
      this.endpoint.handleRequest(req, res);
      return;
    }
    this.api.serve(req, res);
  }

  #onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const method = req.method ?? 'GET';
    this.#log?.(
      `UPGRADE ${method} ${req.url ?? ''} upgrade=${JSON.stringify(req.headers.upgrade ?? '')} protocols=${JSON.stringify(
        req.headers['sec-websocket-protocol'] ?? req.headers['x-stream-protocol-version'] ?? '',
      )}`,
    );
    const pathname = parseRequestTarget(req.url)?.pathname;
    if (pathname === undefined) {
      writeRawReply(socket, badTargetReply());
      return;
    }
    if (!pathname.startsWith('/kubemux/') && !this.#authorized(req)) {
      this.#requests += 1;
      writeRawReply(socket, UNAUTHORIZED);
      return;
    }
    const target = matchPortForwardPath(pathname);
    if (target === undefined) {
      const reply: ApiReply = pathname.startsWith('/kubemux/')
        ? { type: 'json', status: 400, body: { ok: false, error: `${pathname} does not upgrade` } }
        : this.api.reply(method, req.url ?? '/', req.headers.accept, req.headers.host);
      writeRawReply(socket, reply.type === 'watch' ? { type: 'json', status: 400, body: statusBody(400, 'BadRequest', 'watch over an upgrade request is not supported') } : reply);
      return;
    }
    this.#requests += 1;
    const refusal = this.#portForwardRefusal(method, target);
    if (refusal !== undefined) {
      writeRawReply(socket, refusal);
      return;
    }
    this.#upgrades += 1;
    this.endpoint.handleUpgrade(req, socket, head, this.state.podTarget(this.state.pod(target.namespace, target.name)!));
  }

  /** Whether `req` carries the required bearer token (always, when none is required). */
  #authorized(req: IncomingMessage): boolean {
    if (this.#requiredToken === undefined) return true;
    return req.headers.authorization === `Bearer ${this.#requiredToken}`;
  }

  /** The API server's answer when a portforward request cannot proceed (wrong method, no such pod). */
  #portForwardRefusal(method: string, target: { namespace: string; name: string }): Extract<ApiReply, { type: 'json' }> | undefined {
    if (method !== 'GET' && method !== 'POST') {
      return { type: 'json', status: 405, body: statusBody(405, 'MethodNotAllowed', 'the server does not allow this method on the requested resource', {}) };
    }
    if (this.state.pod(target.namespace, target.name) === undefined) return { type: 'json', status: 404, body: notFoundStatus('pods', '', target.name) };
    return undefined;
  }

  #onControl(req: IncomingMessage, res: ServerResponse, method: string, target: RequestTarget): void {
    const { pathname } = target;
    const send = (status: number, body: Record<string, unknown>): void => writeReply(res, { type: 'json', status, body });
    if (!isLoopbackAddress(req.socket.remoteAddress)) {
      send(403, { ok: false, error: 'the /kubemux/ routes answer loopback clients only' });
      return;
    }
    if (pathname === '/kubemux/stats') {
      if (method !== 'GET') send(405, { ok: false, error: 'use GET /kubemux/stats' });
      else send(200, { ...this.stats() });
      return;
    }
    const fault = /^\/kubemux\/faults\/([^/]+)$/.exec(pathname);
    if (fault !== null) {
      if (method !== 'POST') {
        send(405, { ok: false, error: `use POST ${pathname}` });
        return;
      }
      const action = decodePathSegment(fault[1]!);
      const reply = action === undefined ? { status: 400, body: { ok: false, error: `${pathname} is not a valid fault path` } } : this.#fault(action, target.searchParams);
      send(reply.status, reply.body);
      return;
    }
    send(404, { ok: false, error: `no route ${pathname}; the control routes are POST /kubemux/faults/{${FAULT_ACTIONS.join(',')}} and GET /kubemux/stats` });
  }

  #fault(action: string, params: URLSearchParams): { status: number; body: Record<string, unknown> } {
    const bad = (status: number, error: string): { status: number; body: Record<string, unknown> } => ({ status, body: { ok: false, error } });
    if (!(FAULT_ACTIONS as readonly string[]).includes(action)) return bad(400, `unknown fault action ${JSON.stringify(action)}; expected one of ${FAULT_ACTIONS.join(', ')}`);
    if (action === 'replace-pod') {
      const name = params.get('name');
      const namespace = params.get('namespace') ?? 'default';
      if (name === null || name === '') return bad(400, 'replace-pod needs ?name=POD (and optionally &namespace=NS)');
      const replacement = this.state.replacePod(namespace, name);
      if (replacement === undefined) return bad(404, `pods "${name}" not found in namespace "${namespace}"`);
      // A deleted pod takes its forwarded connections with it, as on a real node.
      this.endpoint.dropPod(replacement.removed.uid);
      return {
        status: 200,
        body: {
          ok: true,
          action,
          namespace,
          removed: { name: replacement.removed.name, uid: replacement.removed.uid },
          added: { name: replacement.added.name, uid: replacement.added.uid },
        },
      };
    }
    let status: number | undefined;
    const statusParam = params.get('status');
    if (statusParam !== null) {
      if (action !== 'refuse') return bad(400, `only refuse takes ?status=`);
      if (!/^\d{3}$/.test(statusParam) || Number(statusParam) < 400 || Number(statusParam) > 599) return bad(400, `status ${JSON.stringify(statusParam)} must be an HTTP error status in 400..599`);
      status = Number(statusParam);
    }
    let keepAlive: boolean | undefined;
    const keepAliveParam = params.get('keepalive');
    if (keepAliveParam !== null) {
      if (action !== 'refuse') return bad(400, `only refuse takes ?keepalive=`);
      if (keepAliveParam !== 'true' && keepAliveParam !== 'false') return bad(400, `keepalive ${JSON.stringify(keepAliveParam)} must be true or false`);
      keepAlive = keepAliveParam === 'true';
    }
    let ms: number | undefined;
    const msParam = params.get('ms');
    if (msParam !== null) {
      if (action !== 'delay') return bad(400, `only delay takes ?ms=`);
      if (!/^\d{1,5}$/.test(msParam) || Number(msParam) < 1 || Number(msParam) > MAX_FAULT_DELAY_MS) return bad(400, `ms ${JSON.stringify(msParam)} must be an integer in 1..${MAX_FAULT_DELAY_MS}`);
      ms = Number(msParam);
    } else if (action === 'delay') {
      return bad(400, `delay needs ?ms=N (1..${MAX_FAULT_DELAY_MS})`);
    }
    const applied: EndpointFaultParams = {
      ...(status === undefined ? {} : { status }),
      ...(keepAlive === undefined ? {} : { keepAlive }),
      ...(ms === undefined ? {} : { ms }),
    };
    try {
      this.endpoint.applyFault(action as EndpointFault, applied);
    } catch (err) {
      return bad(400, err instanceof Error ? err.message : String(err));
    }
    return { status: 200, body: { ok: true, action, ...applied } };
  }
}

/** What the API server answers a request without valid credentials. */
const UNAUTHORIZED: Extract<ApiReply, { type: 'json' }> = { type: 'json', status: 401, body: statusBody(401, 'Unauthorized', 'Unauthorized') };

function isUnspecified(host: string): boolean {
  return host === '0.0.0.0' || host === '::';
}

/** Answers on a socket that Node handed over for an upgrade, then closes it. */
function writeRawReply(socket: Duplex, reply: Exclude<ApiReply, { type: 'watch' }>): void {
  const text = reply.type === 'json' ? JSON.stringify(reply.body) : reply.body;
  socket.end(
    `HTTP/1.1 ${reply.status} ${STATUS_CODES[reply.status] ?? 'Error'}\r\n` +
      `Content-Type: ${reply.type === 'json' ? 'application/json' : 'text/plain; charset=utf-8'}\r\n` +
      `Content-Length: ${Buffer.byteLength(text)}\r\nConnection: close\r\n\r\n${text}`,
  );
}
