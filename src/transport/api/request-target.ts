/**
 * Where and how a port-forward upgrade request is sent: the server URL, the path, auth headers
 * and TLS material. Built from a kubeconfig by the kubeconfig module, or by hand in tests.
 */
import type { ConnectionOptions } from 'node:tls';
import { ErrorCode, KubemuxError } from '../../errors.js';
import { firstError, timeoutError } from '../../util/validate.js';

/** Everything needed to send a port-forward upgrade request: server, path, auth headers, TLS, proxy, deadlines. */
export interface UpgradeTarget {
  /** The API server's base URL, http: or https:, e.g. `https://127.0.0.1:6443`. */
  readonly server: string | URL;
  /** Path (and query) of the portforward subresource, e.g. `/api/v1/namespaces/default/pods/demo/portforward`. */
  readonly path: string;
  /** Extra request headers: authentication, user agent. Never logged. */
  readonly headers?: Readonly<Record<string, string>>;
  /**
   * TLS options for https servers (ca, cert, key, servername, rejectUnauthorized). The server's
   * certificate is verified unless `rejectUnauthorized` is `false` here, whatever
   * `NODE_TLS_REJECT_UNAUTHORIZED` says.
   */
  readonly tls?: ConnectionOptions;
  /** Deadline for the TCP (and TLS) connection, ms. Default 30,000. */
  readonly connectTimeoutMs?: number;
  /** Deadline from request sent to 101 received, ms. Default 30,000. */
  readonly upgradeTimeoutMs?: number;
  /**
   * An HTTP proxy to tunnel through with `CONNECT`, as `http://[user:password@]host:port` (or
   * `https://` for TLS to the proxy itself); the userinfo becomes `Proxy-Authorization: Basic`.
   * TLS to the API server then runs inside the tunnel. Undefined: connect directly. This field is
   * taken as given, never from the environment: `fromKubeConfig` fills it from the kubeconfig's
   * `proxy-url` or from `HTTPS_PROXY`/`NO_PROXY` (see `proxyFromEnvironment`). Never logged.
   */
  readonly proxy?: string | URL;
}

/**
 * An {@link UpgradeTarget} without its path: one API server and how to reach it. What
 * `fromKubeConfig` returns, so that one description serves every request:
 * `dialSpdy({ ...server, path: portForwardPath(namespace, pod) })`.
 */
export type ServerTarget = Omit<UpgradeTarget, 'path'>;

/**
 * The URL a request for `path` goes to. The server URL's own path is kept as a prefix, because
 * some API servers sit behind one (Rancher's `https://host/k8s/clusters/c-xxxxx`, kubectl keeps
 * it too); `new URL(path, server)` alone would drop it. Throws ERR_INVALID_ARGUMENT (usage) for
 * a server that is not a URL (the message does not repeat it: it may hold credentials).
 */
export function requestUrl(server: string | URL, path: string): URL {
  const url = parseServerUrl(server);
  const prefix = url.pathname.replace(/\/+$/, '');
  const queryAt = path.indexOf('?');
  const pathname = queryAt === -1 ? path : path.slice(0, queryAt);
  // Assigning the parts (rather than resolving `path` against the server) keeps the origin
  // fixed: a path such as `//elsewhere/x` cannot send the credentials to another host.
  url.pathname = `${prefix}${pathname.startsWith('/') ? '' : '/'}${pathname}`;
  url.search = queryAt === -1 ? '' : path.slice(queryAt);
  url.hash = '';
  return url;
}

/** `server` as a URL; ERR_INVALID_ARGUMENT (usage) when it is not one. */
export function parseServerUrl(server: string | URL): URL {
  try {
    return new URL(server);
  } catch {
    // No cause: Node's URL error carries the input, which may hold credentials.
    throw new KubemuxError(ErrorCode.INVALID_ARGUMENT, 'usage', 'the server URL is not a valid URL');
  }
}

/** The usage error for a target whose deadlines are not integers in 1..2^31-1 ms, or undefined. */
export function targetError(target: ServerTarget): KubemuxError | undefined {
  return firstError(timeoutError('connectTimeoutMs', target.connectTimeoutMs), timeoutError('upgradeTimeoutMs', target.upgradeTimeoutMs));
}

/** The portforward subresource path of a pod. */
export function portForwardPath(namespace: string, pod: string): string {
  return `/api/v1/namespaces/${encodeURIComponent(namespace)}/pods/${encodeURIComponent(pod)}/portforward`;
}
