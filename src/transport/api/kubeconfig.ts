/**
 * From a kubeconfig to a {@link ServerTarget}: the API server URL, TLS material, authentication
 * headers and proxy that every request to that cluster needs, plus the namespace to use.
 *
 * Loading and authentication are @kubernetes/client-node's `KubeConfig` (client certificates,
 * bearer tokens and token files, exec credential plugins, auth providers, impersonation), so
 * kubemux reads kubeconfigs as the Node ecosystem does instead of parsing them itself. Callers
 * that already hold a `KubeConfig` pass it in; kubemux only calls methods that client-node 1.x
 * and 2.x both have ({@link KubeConfigLike}), and never modifies it. Only when kubemux has to load
 * a file itself does it import its own dependency (1.x, which runs on Node 20), lazily, because
 * importing client-node costs more than a second.
 *
 * The cluster entry's connection settings (`server`, `certificate-authority(-data)`,
 * `insecure-skip-tls-verify`, `tls-server-name`, `proxy-url`) are read from the cluster object
 * KubeConfig parsed, with kubectl's rules: verification is on unless the kubeconfig turns it off,
 * whatever `NODE_TLS_REJECT_UNAUTHORIZED` says; a CA together with skip-verify is refused; with no
 * `proxy-url`, `HTTPS_PROXY`/`NO_PROXY` decide.
 *
 * Credentials never appear in an error message, and the returned objects print redacted.
 */
import { readFile } from 'node:fs/promises';
import { inspect } from 'node:util';
import type { ConnectionOptions } from 'node:tls';
import { abortError } from '../../errors.js';
import { usageError } from '../../util/validate.js';
import { apiGet, type ApiGetOptions, type ApiResponse } from './api-request.js';
import { proxyFromEnvironment, type ProxyEnvironment } from './connect.js';
import type { ServerTarget } from './request-target.js';

/** A context entry as KubeConfig returns it. */
export interface KubeContextLike {
  readonly name: string;
  readonly cluster: string;
  readonly user?: string | undefined;
  readonly namespace?: string | undefined;
}

/** A cluster entry as KubeConfig returns it (the kubeconfig's field in brackets). */
export interface KubeClusterLike {
  readonly name: string;
  /** `server` */
  readonly server: string;
  /** `certificate-authority-data`, base64 PEM. */
  readonly caData?: string | null | undefined;
  /** `certificate-authority`, a path (absolute once KubeConfig.loadFromFile made it so). */
  readonly caFile?: string | null | undefined;
  /** `insecure-skip-tls-verify` */
  readonly skipTLSVerify?: boolean | null | undefined;
  /** `tls-server-name` */
  readonly tlsServerName?: string | null | undefined;
  /** `proxy-url` */
  readonly proxyUrl?: string | null | undefined;
}

/** A user entry as KubeConfig returns it: only what kubemux reads itself (basic auth). */
export interface KubeUserLike {
  readonly name: string;
  readonly username?: string | null | undefined;
  readonly password?: string | null | undefined;
}

/**
 * The methods of @kubernetes/client-node's `KubeConfig` that kubemux calls; both 1.x and 2.x
 * have them. kubemux also uses the method that `applyToHTTPSOptions` delegates to
 * (`applyOptions`, TypeScript-private in both versions) when it exists, because
 * `applyToHTTPSOptions` additionally builds an HTTP agent kubemux does not use, and refuses plain
 * `http:` servers without `insecure-skip-tls-verify`, which kubectl accepts.
 */
export interface KubeConfigLike {
  getCurrentContext(): string;
  setCurrentContext(context: string): void;
  getContextObject(name: string): KubeContextLike | null;
  getCluster(name: string): KubeClusterLike | null;
  getUser(name: string): KubeUserLike | null;
  getCurrentCluster(): KubeClusterLike | null;
  getCurrentUser(): KubeUserLike | null;
  /** Fills https request options: `headers` (Authorization, Impersonate-User), `ca`, `cert`, `key`, ... */
  applyToHTTPSOptions(options: object): Promise<void>;
}

/** Options of {@link fromKubeConfig}. */
export interface FromKubeConfigOptions {
  /**
   * A KubeConfig the caller already loaded (@kubernetes/client-node 1.x or 2.x, or anything with
   * the {@link KubeConfigLike} methods). It is not modified: a `context` override works on a
   * view of it. When absent, kubemux loads one.
   */
  readonly kubeConfig?: KubeConfigLike;
  /**
   * The kubeconfig file to load when no `kubeConfig` is given. Default: what kubectl reads,
   * `$KUBECONFIG` (a path list, merged) or `~/.kube/config`, or the pod's service account when
   * running in a cluster.
   */
  readonly kubeconfigPath?: string;
  /** The context to use instead of the current one (`kubectl --context`). */
  readonly context?: string;
  /** The namespace to use instead of the context's (`kubectl -n`). Default: the context's, else `default`. */
  readonly namespace?: string;
  /** Where `HTTPS_PROXY`, `HTTP_PROXY` and `NO_PROXY` are read (when the cluster has no `proxy-url`). Default `process.env`. */
  readonly env?: ProxyEnvironment;
  /** Copied into the target: the TCP (and TLS, and proxy) connect deadline, ms. */
  readonly connectTimeoutMs?: number;
  /** Copied into the target: the deadline for an upgrade's answer, ms. */
  readonly upgradeTimeoutMs?: number;
}

/** A cluster to talk to, from a kubeconfig: see {@link fromKubeConfig}. */
export interface KubeConnection {
  /**
   * The API server and how to reach it, authenticated as of loading. Spread it into a dialer
   * with a path: `dialSpdy({ ...kube.target, path: portForwardPath(kube.namespace, pod) })`.
   */
  readonly target: ServerTarget;
  /** The namespace: the override, else the context's, else `default`. */
  readonly namespace: string;
  /** The context used. */
  readonly context: string;
  /** The cluster entry's name. */
  readonly cluster: string;
  /** The user entry's name; undefined for a context without a user (no credentials are sent). */
  readonly user: string | undefined;
  /**
   * Authenticates again and returns a fresh target: exec plugins run again once their credential
   * expires, token files are read again. Call it before each new connection of a long-lived
   * forward; `target` stays as it was.
   */
  refresh(): Promise<ServerTarget>;
  /** `GET path` on the API server with fresh credentials ({@link refresh}, then {@link apiGet}). */
  get(path: string, options?: ApiGetOptions): Promise<ApiResponse>;
}

type ClientNode = { KubeConfig: new () => KubeConfigLike & { loadFromFile(path: string): void; loadFromDefault(): void } };

/**
 * Reads a kubeconfig (or takes the caller's KubeConfig), selects the context, and authenticates
 * once. Fails with ERR_INVALID_ARGUMENT (usage) for a missing or unreadable kubeconfig, an
 * unknown context or cluster, an unusable server URL or TLS setting, and failed authentication
 * (an exec plugin that exits non-zero, a token file that cannot be read); the message names what
 * is wrong and never contains a credential.
 */
export async function fromKubeConfig(options: FromKubeConfigOptions = {}): Promise<KubeConnection> {
  const config = options.kubeConfig ?? (await loadKubeConfig(options.kubeconfigPath));
  checkShape(config);
  const contextName = options.context ?? config.getCurrentContext();
  if (contextName === undefined || contextName === null || contextName === '') {
    throw usageError('the kubeconfig has no current context; name one with the context option');
  }
  const context = config.getContextObject(contextName);
  if (context === null || context === undefined) throw usageError(`context ${JSON.stringify(contextName)} does not exist in the kubeconfig`);
  const cluster = config.getCluster(context.cluster);
  if (cluster === null || cluster === undefined) {
    throw usageError(`cluster ${JSON.stringify(context.cluster)} of context ${JSON.stringify(contextName)} does not exist in the kubeconfig`);
  }
  const user = context.user === undefined || context.user === '' ? null : config.getUser(context.user);
  const view = user === null ? undefined : contextView(config, contextName, cluster, user);
  const base = await clusterTarget(cluster, options);
  const authenticate = async (): Promise<ServerTarget> => redacted(view === undefined ? { ...base } : await withCredentials(base, view, user!));
  const target = await authenticate();
  const connection: KubeConnection = {
    target,
    namespace: options.namespace ?? context.namespace ?? 'default',
    context: contextName,
    cluster: cluster.name,
    user: user?.name,
    refresh: authenticate,
    get: async (path, getOptions = {}) => {
      // An aborted signal sends nothing, authentication (an exec plugin) included.
      if (getOptions.signal?.aborted === true) throw abortError(getOptions.signal, 'transport', `GET ${path}`);
      return apiGet(await authenticate(), path, getOptions);
    },
  };
  return redacted(connection);
}

/** Loads a kubeconfig with our own @kubernetes/client-node, imported only now. */
async function loadKubeConfig(path: string | undefined): Promise<KubeConfigLike> {
  const { KubeConfig } = (await import('@kubernetes/client-node')) as unknown as ClientNode;
  const config = new KubeConfig();
  try {
    if (path !== undefined) config.loadFromFile(path);
    else config.loadFromDefault();
  } catch (error) {
    const text = loadErrorText(error);
    throw usageError(`cannot load the kubeconfig${path === undefined ? '' : ` ${path}`}: ${text}`, cleanCause(error, text));
  }
  if (path === undefined && isPlaceholder(config)) {
    throw usageError('no kubeconfig found: set KUBECONFIG, create ~/.kube/config, or pass kubeconfigPath or kubeConfig');
  }
  return config;
}

/**
 * What went wrong loading, without echoing the file: a YAML error's message quotes the lines
 * around the fault, and those may hold a token.
 */
function loadErrorText(error: unknown): string {
  const yaml = error as { name?: unknown; reason?: unknown; mark?: { line?: unknown } } | null;
  if (yaml?.name === 'YAMLException') {
    const line = typeof yaml.mark?.line === 'number' ? ` at line ${yaml.mark.line + 1}` : '';
    return `invalid YAML${line}${typeof yaml.reason === 'string' ? `: ${yaml.reason}` : ''}`;
  }
  const code = (error as NodeJS.ErrnoException | null)?.code;
  if (typeof code === 'string') return (error as Error).message;
  // client-node's own validation messages name fields (`clusters[0].cluster.server is missing`) or entries.
  return error instanceof Error && /^((clusters|users|contexts)\[\d+\]|Duplicate (cluster|user|context): )/.test(error.message) ? error.message : 'the file is not a valid kubeconfig';
}

/**
 * client-node's loadFromDefault falls back to `http://localhost:8080` with no credentials when it
 * finds nothing; connecting there is never what the user meant.
 */
function isPlaceholder(config: KubeConfigLike): boolean {
  const cluster = config.getCurrentCluster();
  return config.getCurrentContext() === 'loaded-context' && cluster?.name === 'cluster' && cluster.server === 'http://localhost:8080';
}

function checkShape(config: KubeConfigLike): void {
  const methods = ['getCurrentContext', 'setCurrentContext', 'getContextObject', 'getCluster', 'getUser', 'getCurrentCluster', 'getCurrentUser', 'applyToHTTPSOptions'] as const;
  const missing = methods.filter((name) => typeof (config as unknown as Record<string, unknown>)[name] !== 'function');
  if (missing.length > 0) throw usageError(`kubeConfig is not a @kubernetes/client-node KubeConfig: it lacks ${missing.join(', ')}`);
}

/**
 * The KubeConfig to authenticate with for `contextName`. client-node authenticates the current
 * context's user, so another context gets a view: an object whose prototype is the caller's
 * KubeConfig (sharing its authenticators and their credential caches) with its own current
 * context. The view is checked to really select that cluster and user before it is trusted, so
 * that one context's credentials can never go to another context's server.
 */
function contextView(config: KubeConfigLike, contextName: string, cluster: KubeClusterLike, user: KubeUserLike): KubeConfigLike {
  let view = config;
  if (config.getCurrentContext() !== contextName) {
    view = Object.create(config) as KubeConfigLike;
    try {
      view.setCurrentContext(contextName);
    } catch (error) {
      throw usageError(`cannot select context ${JSON.stringify(contextName)} on this KubeConfig object; call its setCurrentContext first`, error);
    }
  }
  if (view.getCurrentContext() !== contextName || view.getCurrentCluster()?.name !== cluster.name || view.getCurrentUser()?.name !== user.name) {
    throw usageError(`cannot select context ${JSON.stringify(contextName)} on this KubeConfig object; call its setCurrentContext first`);
  }
  return view;
}

/** The cluster's part of the target: server, TLS verification settings, proxy. */
async function clusterTarget(cluster: KubeClusterLike, options: FromKubeConfigOptions): Promise<ServerTarget> {
  const where = `cluster ${JSON.stringify(cluster.name)}`;
  let server: URL;
  try {
    server = new URL(cluster.server);
  } catch {
    throw usageError(`${where}: server ${JSON.stringify(cluster.server)} is not a URL`);
  }
  if (server.protocol !== 'https:' && server.protocol !== 'http:') throw usageError(`${where}: server URL must be https: or http:, got ${server.protocol}`);
  if (server.username !== '' || server.password !== '') throw usageError(`${where}: the server URL must not contain credentials`);

  const skipVerify = cluster.skipTLSVerify === true;
  let ca: Buffer | undefined;
  // As in client-go, certificate-authority-data wins over certificate-authority.
  if (typeof cluster.caData === 'string' && cluster.caData !== '') {
    ca = Buffer.from(cluster.caData, 'base64');
  } else if (typeof cluster.caFile === 'string' && cluster.caFile !== '') {
    try {
      ca = await readFile(cluster.caFile);
    } catch (error) {
      throw usageError(`${where}: cannot read certificate-authority ${cluster.caFile}: ${(error as Error).message}`, error);
    }
  }
  if (skipVerify && ca !== undefined) {
    // kubectl refuses this combination too: trusting a CA and trusting anything contradict.
    throw usageError(`${where}: specifying a certificate authority together with insecure-skip-tls-verify is not allowed`);
  }
  const tls: ConnectionOptions = {
    // Explicit, so that NODE_TLS_REJECT_UNAUTHORIZED=0 in the environment does not weaken it.
    rejectUnauthorized: !skipVerify,
    ...(ca === undefined ? {} : { ca }),
    ...(typeof cluster.tlsServerName === 'string' && cluster.tlsServerName !== '' ? { servername: cluster.tlsServerName } : {}),
  };
  const proxy = typeof cluster.proxyUrl === 'string' && cluster.proxyUrl !== '' ? cluster.proxyUrl : proxyFromEnvironment(server, options.env ?? process.env);
  return {
    server: server.href.replace(/\/$/, ''),
    headers: {},
    ...(server.protocol === 'https:' ? { tls } : {}),
    ...(proxy === undefined ? {} : { proxy }),
    ...(options.connectTimeoutMs === undefined ? {} : { connectTimeoutMs: options.connectTimeoutMs }),
    ...(options.upgradeTimeoutMs === undefined ? {} : { upgradeTimeoutMs: options.upgradeTimeoutMs }),
  };
}

/** The https request options client-node fills. */
interface AppliedOptions {
  headers: Record<string, string | number | readonly string[] | undefined>;
  cert?: string | Buffer;
  key?: string | Buffer;
  pfx?: string | Buffer;
  passphrase?: string;
  auth?: string;
}

/** `base` plus the user's credentials, as the KubeConfig applies them. */
async function withCredentials(base: ServerTarget, config: KubeConfigLike, user: KubeUserLike): Promise<ServerTarget> {
  const applied: AppliedOptions = { headers: {} };
  const applyOptions = (config as unknown as { applyOptions?: unknown }).applyOptions;
  try {
    if (typeof applyOptions === 'function') await (applyOptions as (options: object) => Promise<void>).call(config, applied);
    else await config.applyToHTTPSOptions(applied);
  } catch (error) {
    const text = authErrorText(error);
    throw usageError(`authenticating as user ${JSON.stringify(user.name)} failed: ${text}`, cleanCause(error, text));
  }

  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(applied.headers)) {
    if (value === undefined) continue;
    // Token files end with a newline more often than not; client-go trims them too.
    const text = (Array.isArray(value) ? value.join(', ') : String(value)).trim();
    if (/[\r\n\0]/.test(text)) throw usageError(`the ${name} header for user ${JSON.stringify(user.name)} contains a line break or NUL; check the token`);
    headers[name] = text;
  }
  const hasAuthorization = Object.keys(headers).some((name) => name.toLowerCase() === 'authorization');
  if (!hasAuthorization && typeof user.username === 'string' && user.username !== '') {
    // What Node does with the `auth` option applyToHTTPSOptions sets: basic auth, unless a token is there.
    headers['Authorization'] = `Basic ${Buffer.from(`${user.username}:${user.password ?? ''}`, 'utf8').toString('base64')}`;
  }
  const tls: ConnectionOptions = {
    ...base.tls,
    ...(applied.cert === undefined || applied.cert === null ? {} : { cert: applied.cert }),
    ...(applied.key === undefined || applied.key === null ? {} : { key: applied.key }),
    ...(applied.pfx === undefined || applied.pfx === null ? {} : { pfx: applied.pfx }),
    ...(applied.passphrase === undefined || applied.passphrase === null ? {} : { passphrase: applied.passphrase }),
  };
  return { ...base, headers, ...(base.tls === undefined ? {} : { tls }) };
}

/** An authentication failure's text. A JSON parse error quotes the plugin's output, which may be a credential. */
function authErrorText(error: unknown): string {
  if (error instanceof SyntaxError) return 'the exec plugin did not print an ExecCredential as JSON';
  const text = error instanceof Error ? error.message.trim() : String(error);
  return text === '' ? 'no reason given (an exec plugin that exited non-zero without writing to stderr?)' : text.slice(0, 1000);
}

/**
 * What an error from loading a kubeconfig or authenticating keeps as its `cause`: a plain Error
 * with the original's name, errno code and `text` (the message kubemux built, already free of
 * the file's contents), and nothing else. The original must not be kept: a YAML parser's error
 * carries the whole file (`mark.buffer`) and quotes the lines around the fault, a spawn error the
 * plugin's arguments (`spawnargs`), a JSON error the plugin's output; `util.inspect(error)` would
 * print them all, credentials included.
 */
function cleanCause(error: unknown, text: string): Error | undefined {
  // A plugin's output that is not JSON: nothing about it is worth keeping beyond the message.
  if (error instanceof SyntaxError) return undefined;
  const clean = new Error(text);
  if (error instanceof Error) clean.name = error.name;
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === 'string') Object.assign(clean, { code });
  return clean;
}

/**
 * Makes `util.inspect` and `JSON.stringify` show `value` with credentials replaced, so that a
 * `console.log(kube)` while debugging does not leak them. Non-enumerable, so spreading the target
 * into a dialer does not copy the hook.
 */
function redacted<T extends object>(value: T): T {
  const show = (): unknown => redact(value);
  Object.defineProperty(value, inspect.custom, { value: (_depth: number, options: object) => inspect(show(), options), enumerable: false });
  Object.defineProperty(value, 'toJSON', { value: show, enumerable: false });
  return value;
}

function redact(value: unknown, key = ''): unknown {
  if (Buffer.isBuffer(value) || value instanceof Uint8Array) return key === 'ca' ? `<${value.length} bytes>` : '<redacted>';
  if (typeof value === 'function') return undefined;
  if (value instanceof URL) return redactUrl(value.href);
  if (typeof value === 'string') {
    if (key === 'proxy') return redactUrl(value);
    return key === 'ca' || !/^(authorization|proxy-authorization|cert|key|pfx|passphrase)$/i.test(key) ? value : '<redacted>';
  }
  if (Array.isArray(value)) return value.map((item) => redact(item, key));
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).flatMap(([k, v]) => (typeof v === 'function' ? [] : [[k, redact(v, k)]])));
  }
  return value;
}

function redactUrl(text: string): string {
  try {
    const url = new URL(text);
    if (url.username !== '' || url.password !== '') {
      url.username = 'redacted';
      url.password = '';
    }
    return url.href;
  } catch {
    return '<redacted>';
  }
}
