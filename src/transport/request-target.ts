/**
 * Where and how a port-forward upgrade request is sent: the server URL, the path, auth headers
 * and TLS material. Built from a kubeconfig by the kubeconfig module, or by hand in tests.
 */
import type { ConnectionOptions } from 'node:tls';

export interface UpgradeTarget {
  /** The API server's base URL, http: or https:, e.g. `https://127.0.0.1:6443`. */
  readonly server: string | URL;
  /** Path (and query) of the portforward subresource, e.g. `/api/v1/namespaces/default/pods/demo/portforward`. */
  readonly path: string;
  /** Extra request headers: authentication, user agent. Never logged. */
  readonly headers?: Readonly<Record<string, string>>;
  /** TLS options for https servers (ca, cert, key, servername, rejectUnauthorized). */
  readonly tls?: ConnectionOptions;
  /** Deadline for the TCP (and TLS) connection, ms. Default 30,000. */
  readonly connectTimeoutMs?: number;
  /** Deadline from request sent to 101 received, ms. Default 30,000. */
  readonly upgradeTimeoutMs?: number;
}

/** The portforward subresource path of a pod. */
export function portForwardPath(namespace: string, pod: string): string {
  return `/api/v1/namespaces/${encodeURIComponent(namespace)}/pods/${encodeURIComponent(pod)}/portforward`;
}
