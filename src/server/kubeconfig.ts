/**
 * A kubeconfig for the fake cluster. It is JSON, which kubectl reads as readily as YAML (client-go
 * decodes kubeconfigs with a YAML parser, and JSON is YAML), so no YAML writer is needed.
 */

/** Options of {@link kubeconfigFor}. */
export interface KubeconfigOptions {
  /** The API server URL, e.g. `https://127.0.0.1:40123`. */
  readonly server: string;
  /** The bearer token kubectl sends (the fake cluster accepts any, unless started with `requireToken`). Default `kubemux-fake-token`. */
  readonly token?: string;
  /** The CA certificate (PEM) to trust for an https server; embedded as `certificate-authority-data`. */
  readonly caPem?: string;
  /** The context's namespace. Default `default`. */
  readonly namespace?: string;
  /** Name of the cluster, user and context entries. Default `kubemux-fake-cluster`. */
  readonly name?: string;
}

/** A kubeconfig (JSON text) with one cluster, one user and one context, which is current. */
export function kubeconfigFor(options: KubeconfigOptions): string {
  const name = options.name ?? 'kubemux-fake-cluster';
  const cluster: Record<string, string> = { server: options.server };
  if (options.caPem !== undefined) cluster['certificate-authority-data'] = Buffer.from(options.caPem, 'utf8').toString('base64');
  const config = {
    apiVersion: 'v1',
    kind: 'Config',
    preferences: {},
    clusters: [{ name, cluster }],
    users: [{ name, user: { token: options.token ?? 'kubemux-fake-token' } }],
    contexts: [{ name, context: { cluster: name, user: name, namespace: options.namespace ?? 'default' } }],
    'current-context': name,
  };
  return `${JSON.stringify(config, null, 2)}\n`;
}
