/**
 * Opening the byte connection an upgrade request travels on: TCP, or TLS for https servers
 * (HTTP/1.1 only: the upgrade does not exist in HTTP/2), directly or through an HTTP proxy with
 * `CONNECT`. Every dialer (SPDY, WebSocket tunnel, v4 channels) and the API GET helper pass this
 * to http.request as `createConnection`, so connection concerns (TLS material, proxies, the
 * connect deadline) live in one place.
 *
 * Through a proxy, kubemux does what kubectl's SPDY round tripper does: `CONNECT host:port` to the
 * proxy (for http and https servers alike), `Proxy-Authorization: Basic` from the proxy URL's
 * userinfo, any 2xx opens the tunnel, and TLS to the API server runs inside it, so the proxy sees
 * only the host name and port. Which proxy to use is the caller's decision ({@link UpgradeTarget}
 * `proxy`); {@link proxyFromEnvironment} makes it the way Go's `http.ProxyFromEnvironment` does.
 *
 * Credentials never appear in an error: proxies are named by host and port only.
 */
import http, { STATUS_CODES } from 'node:http';
import https from 'node:https';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import tls from 'node:tls';
import { ErrorCode, KubemuxError, abortError } from '../../errors.js';
import { parseServerUrl, type ServerTarget, type UpgradeTarget } from './request-target.js';
import { connectError } from './upgrade-errors.js';

/** The `createConnection` option of http.request, in its callback form. */
export type ConnectionFactory = (options: object, callback: (error: Error | null, socket?: Duplex) => void) => Duplex | undefined;

const DEFAULT_CONNECT_TIMEOUT_MS = 30_000;

/** A proxy URL taken apart; `authorization` is the Proxy-Authorization value, if any. */
interface ProxyPlan {
  readonly secure: boolean;
  readonly host: string;
  readonly port: number;
  /** `host:port`, for messages: never the userinfo. */
  readonly shown: string;
  readonly authorization: string | undefined;
}

/** Options of {@link connectionFactory}. */
export interface ConnectionFactoryOptions {
  /**
   * Abandons a connect under way: whatever it opened (TCP, TLS, the proxy's CONNECT) is destroyed
   * at once. The requester aborts it when it gives up (its deadline, its caller's signal), since
   * http.request has no way to cancel a connection factory that has not called back yet.
   */
  readonly signal?: AbortSignal;
}

/**
 * A connection factory for `target`: a fresh socket per call, never pooled. Accepts a full
 * {@link UpgradeTarget} or a {@link ServerTarget} (the path plays no part in connecting).
 * Throws ERR_INVALID_ARGUMENT (usage) for a server or proxy URL it cannot use.
 */
export function connectionFactory(target: UpgradeTarget | ServerTarget, options: ConnectionFactoryOptions = {}): ConnectionFactory {
  const url = parseServerUrl(target.server);
  const secure = url.protocol === 'https:';
  const host = bareHost(url.hostname);
  const port = Number(url.port || (secure ? 443 : 80));
  const timeoutMs = target.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
  const proxy = target.proxy === undefined || target.proxy === '' ? undefined : parseProxy(target.proxy);
  const tlsOptions = (): tls.ConnectionOptions => ({
    host,
    port,
    // SNI carries names only (RFC 6066 section 3); for an IP address Node checks the IP SANs.
    ...(net.isIP(host) === 0 ? { servername: host } : {}),
    ALPNProtocols: ['http/1.1'],
    ...target.tls,
    // Always a boolean: left out (or undefined), Node would take NODE_TLS_REJECT_UNAUTHORIZED from
    // the environment, and `=0` there would silently turn verification off. Only the caller's
    // explicit `false` (the kubeconfig's insecure-skip-tls-verify) does.
    rejectUnauthorized: target.tls?.rejectUnauthorized !== false,
  });

  return (_options, callback) => {
    // Everything this attempt opened, so that a failure or the deadline closes all of it.
    const opened: Array<{ destroy(): unknown; on(event: 'error', listener: (error: Error) => void): unknown }> = [];
    const sockets: net.Socket[] = [];
    let finished = false;
    const finish = (error: Error | null, socket?: net.Socket): void => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', abandoned);
      for (const each of sockets) each.off('error', failed);
      if (error === null) {
        // From here on, errors belong to whoever holds the socket (http.request, then the session).
        socket!.setTimeout(0);
        callback(null, socket);
        return;
      }
      for (const each of opened) {
        // What is abandoned may still report its end (a reset, "socket hang up"); that is not news.
        each.on('error', ignore);
        each.destroy();
      }
      callback(error);
    };
    const failed = (error: Error): void => finish(error);
    const track = <T extends net.Socket>(socket: T): T => {
      opened.push(socket);
      sockets.push(socket);
      socket.on('error', failed);
      return socket;
    };
    const timer = setTimeout(() => {
      const through = proxy === undefined ? '' : ` through proxy ${proxy.shown}`;
      finish(new KubemuxError(ErrorCode.TIMEOUT, 'transport', `connecting to ${url.host}${through} timed out after ${timeoutMs} ms`));
    }, timeoutMs);
    timer.unref();
    const signal = options.signal;
    const abandoned = (): void => finish(abortError(signal!, 'transport', `connecting to ${url.host}`));
    if (signal?.aborted === true) {
      process.nextTick(abandoned);
      return undefined;
    }
    signal?.addEventListener('abort', abandoned, { once: true });

    const startTls = (tunnel?: net.Socket): void => {
      const socket = track(tls.connect({ ...tlsOptions(), ...(tunnel === undefined ? {} : { socket: tunnel }) }));
      socket.once('secureConnect', () => finish(null, socket));
    };
    if (proxy !== undefined) {
      const request = openTunnel(proxy, `${net.isIP(host) === 6 ? `[${host}]` : host}:${port}`, failed, (tunnel) => {
        if (finished) return void tunnel.destroy();
        track(tunnel);
        if (secure) startTls(tunnel);
        else finish(null, tunnel);
      });
      opened.push(request);
    } else if (secure) {
      startTls();
    } else {
      const socket = track(net.connect({ host, port }));
      socket.once('connect', () => finish(null, socket));
    }
    return undefined;
  };
}

function ignore(): void {}

/**
 * Sends `CONNECT authority` to the proxy and hands over the tunnel socket on a 2xx answer. Every
 * failure is a KubemuxError that names the proxy: ERR_CONNECT_FAILED (unreachable, or a refusal
 * with the proxy's status in `httpStatus`), ERR_TLS (an https proxy's certificate).
 */
function openTunnel(proxy: ProxyPlan, authority: string, failed: (error: Error) => void, ready: (tunnel: net.Socket) => void): http.ClientRequest {
  const request = (proxy.secure ? https : http).request({
    host: proxy.host,
    port: proxy.port,
    method: 'CONNECT',
    path: authority,
    agent: false,
    headers: { Host: authority, ...(proxy.authorization === undefined ? {} : { 'Proxy-Authorization': proxy.authorization }) },
    ...(proxy.secure && net.isIP(proxy.host) === 0 ? { servername: proxy.host } : {}),
    // Explicit, so that NODE_TLS_REJECT_UNAUTHORIZED=0 cannot turn off the proxy's verification.
    ...(proxy.secure ? { rejectUnauthorized: true } : {}),
  });
  request.on('error', (error) => failed(connectError(error, `proxy ${proxy.shown}`)));
  // Node reports every answer to CONNECT as 'connect', whatever its status.
  request.once('connect', (response: http.IncomingMessage, socket: net.Socket, head: Buffer) => {
    const status = response.statusCode ?? 0;
    if (status < 200 || status > 299) {
      socket.destroy();
      failed(
        new KubemuxError(
          ErrorCode.CONNECT_FAILED,
          'transport',
          `proxy ${proxy.shown} refused the tunnel to ${authority}: HTTP ${status} ${STATUS_CODES[status] ?? ''}`.trimEnd(),
          { httpStatus: status },
        ),
      );
      return;
    }
    // A proxy should send nothing more before the server speaks; anything it did belongs to the server.
    if (head.length > 0) socket.unshift(head);
    ready(socket);
  });
  request.end();
  return request;
}

/** Takes a proxy URL apart; a value without a scheme means http, as in Go's environment proxies. */
function parseProxy(value: string | URL): ProxyPlan {
  let url: URL;
  try {
    url = new URL(typeof value === 'string' && !/^[a-z][a-z0-9+.-]*:\/\//i.test(value) ? `http://${value}` : value);
  } catch {
    // The value itself may hold a password, so it is not repeated.
    throw new KubemuxError(ErrorCode.INVALID_ARGUMENT, 'usage', 'the proxy URL is not a valid URL');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new KubemuxError(
      ErrorCode.INVALID_ARGUMENT,
      'usage',
      `proxy scheme ${url.protocol} is not supported: kubemux tunnels through HTTP proxies (http: or https:) with CONNECT${url.protocol.startsWith('socks') ? '; SOCKS proxies are not supported' : ''}`,
    );
  }
  const secure = url.protocol === 'https:';
  let authorization: string | undefined;
  if (url.username !== '' || url.password !== '') {
    let credentials: string;
    try {
      credentials = `${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`;
    } catch {
      // A URIError quotes nothing, but the value is a credential all the same: not repeated.
      throw new KubemuxError(ErrorCode.INVALID_ARGUMENT, 'usage', 'the proxy URL has a bad percent-escape in its user name or password');
    }
    authorization = `Basic ${Buffer.from(credentials, 'utf8').toString('base64')}`;
  }
  return { secure, host: bareHost(url.hostname), port: Number(url.port || (secure ? 443 : 80)), shown: url.host, authorization };
}

/** A URL hostname without the brackets of an IPv6 literal. */
function bareHost(hostname: string): string {
  return hostname.replace(/^\[|\]$/g, '');
}

/** The environment variables {@link proxyFromEnvironment} reads. */
export type ProxyEnvironment = Readonly<Record<string, string | undefined>>;

/**
 * The proxy for requests to `server` according to the environment, as Go's
 * `http.ProxyFromEnvironment` (and so kubectl) decides it: `HTTPS_PROXY` for https servers and
 * `HTTP_PROXY` for http ones (upper case first, then lower case; no fallback from one to the
 * other), unless `NO_PROXY` matches. Requests to `localhost` and loopback addresses never use
 * the environment's proxy. Returns the proxy URL (credentials included) or undefined. Throws
 * ERR_INVALID_ARGUMENT (usage) for a server that is not a URL.
 *
 * `NO_PROXY` is a comma-separated list of: `*` (no proxy at all); IP addresses and CIDR ranges;
 * domain names, which match the name and its subdomains (`example.com`), or only subdomains
 * with a leading dot or `*.` (`.example.com`); each optionally with `:port`.
 */
export function proxyFromEnvironment(server: string | URL, env: ProxyEnvironment = process.env): string | undefined {
  const url = parseServerUrl(server);
  const secure = url.protocol === 'https:';
  const proxy = secure ? firstSet(env, 'HTTPS_PROXY', 'https_proxy') : firstSet(env, 'HTTP_PROXY', 'http_proxy');
  if (proxy === undefined) return undefined;
  const host = bareHost(url.hostname).toLowerCase();
  const port = url.port || (secure ? '443' : '80');
  if (host === 'localhost' || isLoopback(host)) return undefined;
  return bypassesProxy(host, port, firstSet(env, 'NO_PROXY', 'no_proxy') ?? '') ? undefined : proxy;
}

function firstSet(env: ProxyEnvironment, ...names: string[]): string | undefined {
  for (const name of names) {
    const value = env[name]?.trim();
    if (value !== undefined && value !== '') return value;
  }
  return undefined;
}

function isLoopback(host: string): boolean {
  const family = net.isIP(host);
  if (family === 4) return host.startsWith('127.');
  if (family === 6) return loopbackV6.check(host, 'ipv6') || /^::ffff:127\./i.test(host);
  return false;
}

const loopbackV6 = new net.BlockList();
loopbackV6.addAddress('::1', 'ipv6');

/** Whether a NO_PROXY list matches `host` (lower case, no brackets) and `port`. */
function bypassesProxy(host: string, port: string, noProxy: string): boolean {
  const family = net.isIP(host);
  for (const raw of noProxy.split(',')) {
    const entry = raw.trim().toLowerCase();
    if (entry === '') continue;
    if (entry === '*') return true;
    const cidr = /^([^/]+)\/(\d{1,3})$/.exec(entry);
    if (cidr !== null) {
      const entryFamily = net.isIP(cidr[1]!);
      if (entryFamily !== 0 && entryFamily === family) {
        const list = new net.BlockList();
        const type = family === 4 ? 'ipv4' : 'ipv6';
        try {
          list.addSubnet(cidr[1]!, Number(cidr[2]), type);
        } catch {
          continue; // a prefix length out of range: a malformed entry is ignored, as Go does
        }
        if (list.check(host, type)) return true;
      }
      continue;
    }
    const { name, entryPort } = splitEntry(entry);
    if (name === '' || (entryPort !== undefined && entryPort !== port)) continue;
    if (net.isIP(name) !== 0) {
      if (family !== 0 && sameAddress(name, host)) return true;
      continue;
    }
    // `*.example.com` and `.example.com`: subdomains only; `example.com`: itself and subdomains.
    const suffix = name.startsWith('*.') ? name.slice(1) : name.startsWith('.') ? name : `.${name}`;
    if (host.endsWith(suffix) || (!name.startsWith('.') && !name.startsWith('*.') && host === name)) return true;
  }
  return false;
}

function splitEntry(entry: string): { name: string; entryPort: string | undefined } {
  const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(entry);
  if (bracketed !== null) return { name: bracketed[1]!, entryPort: bracketed[2] };
  if (net.isIP(entry) === 6) return { name: entry, entryPort: undefined };
  const withPort = /^(.*):(\d+)$/.exec(entry);
  return withPort === null ? { name: entry, entryPort: undefined } : { name: withPort[1]!, entryPort: withPort[2] };
}

function sameAddress(a: string, b: string): boolean {
  const family = net.isIP(a);
  if (family !== net.isIP(b)) return false;
  const list = new net.BlockList();
  list.addAddress(a, family === 4 ? 'ipv4' : 'ipv6');
  return list.check(b, family === 4 ? 'ipv4' : 'ipv6');
}
