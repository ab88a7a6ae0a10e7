/**
 * Real kubectl binaries for interop tests: finding them by minor version and running
 * `kubectl port-forward` against a local fake API server, always stopping the process afterwards.
 *
 * Binaries are looked up next to the resolved `kubectl` on PATH (the Google Cloud SDK installs
 * `kubectl.1.27` ... `kubectl.1.33` beside its dispatcher), and the PATH kubectl itself counts for
 * the version it reports.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants as fsConstants, mkdtempSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';

/** The `kubectl` found on PATH, resolved through symlinks, or undefined. */
export function pathKubectl(): string | undefined {
  for (const dir of (process.env['PATH'] ?? '').split(delimiter)) {
    if (dir === '') continue;
    const candidate = join(dir, 'kubectl');
    if (isExecutable(candidate)) return realpathSync(candidate);
  }
  return undefined;
}

/** The folder searched for versioned binaries (`kubectl.1.NN`), or undefined without a PATH kubectl. */
export function kubectlFolder(): string | undefined {
  const resolved = pathKubectl();
  return resolved === undefined ? undefined : dirname(resolved);
}

function isExecutable(path: string): boolean {
  try {
    accessSync(path, fsConstants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** What `kubectl version --client -o json` says about a binary. */
export interface KubectlVersion {
  /** e.g. "v1.27.16" (a dispatcher may add a suffix: "v1.32.4-dispatcher"). */
  readonly gitVersion: string;
  /** "1.27" */
  readonly minor: string;
}

const versionCache = new Map<string, KubectlVersion | undefined>();

/** The client version of a kubectl binary, or undefined if it cannot tell (cached per path). */
export function kubectlVersion(path: string): KubectlVersion | undefined {
  if (versionCache.has(path)) return versionCache.get(path);
  let version: KubectlVersion | undefined;
  const home = mkdtempSync(join(tmpdir(), 'kubemux-kubectl-version-'));
  try {
    const out = execFileSync(path, ['version', '--client', '-o', 'json'], {
      env: kubectlEnv(home, undefined),
      encoding: 'utf8',
      timeout: 15_000,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const gitVersion = (JSON.parse(out) as { clientVersion?: { gitVersion?: string } }).clientVersion?.gitVersion;
    const match = /^v(\d+)\.(\d+)\./.exec(gitVersion ?? '');
    if (gitVersion !== undefined && match !== null) version = { gitVersion, minor: `${match[1]}.${match[2]}` };
  } catch {
    version = undefined;
  } finally {
    rmSync(home, { recursive: true, force: true });
  }
  versionCache.set(path, version);
  return version;
}

/**
 * The absolute path of a kubectl whose client version is `minor` (e.g. "1.27"), or undefined.
 * Prefers `kubectl.<minor>` next to the resolved PATH kubectl, then the PATH kubectl itself.
 */
export function findKubectl(minor: string): string | undefined {
  const resolved = pathKubectl();
  if (resolved === undefined) return undefined;
  const versioned = join(dirname(resolved), `kubectl.${minor}`);
  if (isExecutable(versioned) && kubectlVersion(versioned)?.minor === minor) return versioned;
  if (kubectlVersion(resolved)?.minor === minor) return resolved;
  return undefined;
}

/**
 * Why {@link findKubectl} found no kubectl of `minor` (or of any of `minors`), as a sentence for a
 * skip message: there is no kubectl on PATH at all, or what was looked for next to it and what
 * the PATH kubectl is.
 */
export function kubectlMissing(minors: string | readonly string[]): string {
  const wanted = typeof minors === 'string' ? minors : minors.join(', ');
  const resolved = pathKubectl();
  if (resolved === undefined) return `kubectl ${wanted} not found: there is no kubectl on PATH`;
  const files = typeof minors === 'string' ? `kubectl.${minors}` : `kubectl.${minors[0]} … kubectl.${minors.at(-1)}`;
  const version = kubectlVersion(resolved)?.gitVersion ?? 'of a version it does not report';
  return `kubectl ${wanted} not found: no ${files} in ${dirname(resolved)}, and the kubectl on PATH (${resolved}) is ${version}`;
}

/** The skip message for tests that need any kubectl on PATH. */
export const NO_KUBECTL_ON_PATH = 'kubectl not found: there is no kubectl on PATH';

/** How a run sets KUBECTL_PORT_FORWARD_WEBSOCKETS: always explicitly, never inherited. */
export type WebsocketsSetting = 'true' | 'false' | 'unset';

const PROXY_VARIABLES = ['http_proxy', 'https_proxy', 'no_proxy', 'all_proxy', 'socks_proxy'];

/**
 * The environment for a kubectl child: the parent's minus proxy variables, KUBECONFIG and any
 * inherited KUBECTL_PORT_FORWARD_WEBSOCKETS; HOME points at `home` so no user config or
 * discovery cache leaks in.
 */
function kubectlEnv(home: string, websockets: WebsocketsSetting | undefined): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) {
    const lower = name.toLowerCase();
    if (PROXY_VARIABLES.includes(lower) || name === 'KUBECONFIG' || name === 'KUBECTL_PORT_FORWARD_WEBSOCKETS') continue;
    env[name] = value;
  }
  env['HOME'] = home;
  if (websockets !== undefined && websockets !== 'unset') env['KUBECTL_PORT_FORWARD_WEBSOCKETS'] = websockets;
  return env;
}

/** A kubeconfig for an http:// API server with a dummy bearer token. */
export function kubeconfigFor(serverUrl: string, namespace = 'default'): string {
  return [
    'apiVersion: v1',
    'kind: Config',
    'clusters:',
    '- name: recorder',
    '  cluster:',
    `    server: ${serverUrl}`,
    'users:',
    '- name: recorder',
    '  user:',
    '    token: kubemux-dummy-token',
    'contexts:',
    '- name: recorder',
    '  context:',
    '    cluster: recorder',
    '    user: recorder',
    `    namespace: ${namespace}`,
    'current-context: recorder',
    '',
  ].join('\n');
}

/** Options of {@link startPortForward}. */
export interface PortForwardOptions {
  /** Absolute path of the kubectl binary. */
  readonly kubectl: string;
  /** The fake API server, e.g. "http://127.0.0.1:40123". */
  readonly serverUrl: string;
  /** The resource argument, e.g. "pod/demo". */
  readonly target: string;
  /** A port number, or a port name kubectl resolves itself. */
  readonly remotePort: number | string;
  readonly websockets: WebsocketsSetting;
  /** More kubectl arguments (e.g. ["-v=8"] while debugging). */
  readonly extraArgs?: readonly string[];
  /** Bound on waiting for the "Forwarding from" line. */
  readonly readyTimeoutMs?: number;
}

/** How a stopped kubectl ended. */
export interface KubectlExit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  /** True when SIGINT was not enough and SIGKILL was needed. */
  readonly killed: boolean;
}

/** A running `kubectl port-forward`. */
export interface PortForward {
  /** The local port kubectl listens on (127.0.0.1). */
  readonly localPort: number;
  readonly pid: number;
  /** Everything kubectl printed so far (stdout and stderr interleaved), for failure messages. */
  output(): string;
  /**
   * Resolves with the output once it matches `pattern` (checked on every chunk kubectl prints and
   * when it exits); rejects with the output so far after `timeoutMs` or when kubectl exits
   * without printing it.
   */
  waitForOutput(pattern: RegExp, timeoutMs: number): Promise<string>;
  /**
   * Stops kubectl: SIGINT (kubectl's own clean shutdown, which closes its SPDY connection), then
   * SIGKILL if it has not exited within `graceMs`. Idempotent; removes the temporary HOME.
   */
  stop(graceMs?: number): Promise<KubectlExit>;
}

const FORWARDING_LINE = /Forwarding from 127\.0\.0\.1:(\d+) ->/;

/**
 * Starts `kubectl port-forward <target> :<remotePort> --address 127.0.0.1` with a generated
 * kubeconfig and resolves once kubectl prints its "Forwarding from 127.0.0.1:PORT" line. If it
 * exits or stays silent past the timeout, the process is stopped and the promise rejects with
 * kubectl's output.
 */
export async function startPortForward(options: PortForwardOptions): Promise<PortForward> {
  const home = mkdtempSync(join(tmpdir(), 'kubemux-kubectl-'));
  const kubeconfig = join(home, 'kubeconfig');
  writeFileSync(kubeconfig, kubeconfigFor(options.serverUrl));
  const child = spawn(
    options.kubectl,
    [
      '--kubeconfig',
      kubeconfig,
      ...(options.extraArgs ?? []),
      'port-forward',
      options.target,
      `:${options.remotePort}`,
      '--address',
      '127.0.0.1',
    ],
    { env: kubectlEnv(home, options.websockets), stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    // 'close', not 'exit': 'exit' can come before the last output has been read from the pipes,
    // and everything below that looks at the output once kubectl has ended would miss its last
    // lines (kubectl's "lost connection to pod" is its last line).
    child.once('close', (code, signal) => resolve({ code, signal }));
    // A spawn failure emits 'error' and may never emit 'close'.
    child.once('error', (err) => {
      output += `\n[spawn error] ${err.message}`;
      resolve({ code: null, signal: null });
    });
  });
  let stopping: Promise<KubectlExit> | undefined;
  const stop = (graceMs = 5_000): Promise<KubectlExit> => {
    stopping ??= stopChild(child, exited, graceMs).finally(() => rmSync(home, { recursive: true, force: true }));
    return stopping;
  };

  const readyTimeoutMs = options.readyTimeoutMs ?? 20_000;
  const localPort = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => {
      finish(new Error(`kubectl did not print "Forwarding from 127.0.0.1:PORT" within ${readyTimeoutMs} ms; output:\n${output}`));
    }, readyTimeoutMs);
    const onData = (chunk: Buffer): void => {
      output += chunk.toString('utf8');
      const match = FORWARDING_LINE.exec(output);
      if (match !== null) finish(undefined, Number(match[1]));
    };
    let settled = false;
    const finish = (err: Error | undefined, port?: number): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      child.stdout?.off('data', onData);
      child.stderr?.off('data', onData);
      // Keep collecting output for failure messages after the port is known.
      child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
      child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
      if (err !== undefined) reject(err);
      else resolve(port!);
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    void exited.then(({ code, signal }) => finish(new Error(`kubectl exited (code ${code}, signal ${signal}) before forwarding; output:\n${output}`)));
  }).catch(async (err: unknown) => {
    await stop();
    throw err;
  });

  const waitForOutput = (pattern: RegExp, timeoutMs: number): Promise<string> =>
    new Promise<string>((resolve, reject) => {
      const check = (): boolean => {
        if (!pattern.test(output)) return false;
        finish();
        resolve(output);
        return true;
      };
      const onData = (): void => {
        // The other 'data' listener appends first (it was added earlier).
        check();
      };
      let settled = false;
      const onExit = (): void => {
        if (!settled && !check()) {
          finish();
          reject(new Error(`kubectl exited without printing ${String(pattern)}; output:\n${output}`));
        }
      };
      const timer = setTimeout(() => {
        finish();
        reject(new Error(`kubectl did not print ${String(pattern)} within ${timeoutMs} ms; output:\n${output}`));
      }, timeoutMs);
      const finish = (): void => {
        settled = true;
        clearTimeout(timer);
        child.stdout?.off('data', onData);
        child.stderr?.off('data', onData);
      };
      if (check()) return;
      child.stdout?.on('data', onData);
      child.stderr?.on('data', onData);
      // Ended: judged once its output is complete ('close', see above).
      void exited.then(onExit);
    });

  return { localPort, pid: child.pid!, output: () => output, waitForOutput, stop };
}

async function stopChild(
  child: ChildProcess,
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>,
  graceMs: number,
): Promise<KubectlExit> {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) {
    return { ...(await exited), killed: false };
  }
  child.kill('SIGINT');
  let timer: NodeJS.Timeout | undefined;
  const graceful = await Promise.race([
    exited.then((result) => ({ ...result, killed: false })),
    new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), graceMs))),
  ]);
  clearTimeout(timer);
  if (graceful !== undefined) return graceful;
  child.kill('SIGKILL');
  return { ...(await exited), killed: true };
}

/** What a local TCP client got back through a port-forward. */
export interface EchoResult {
  readonly received: Buffer;
  /** Milliseconds from connect to the end of the echo. */
  readonly elapsedMs: number;
}

/**
 * Connects to 127.0.0.1:`port`, writes `payload`, half-closes, and collects everything until the
 * other side ends. Rejects after `timeoutMs` (saying how many bytes had arrived) or on a socket
 * error; the socket is destroyed either way.
 */
export function echoRoundTrip(port: number, payload: Buffer, timeoutMs: number): Promise<EchoResult> {
  return new Promise<EchoResult>((resolve, reject) => {
    const started = performance.now();
    const chunks: Buffer[] = [];
    let receivedBytes = 0;
    const socket = connect({ host: '127.0.0.1', port });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`echo through 127.0.0.1:${port} did not end within ${timeoutMs} ms (${receivedBytes} of ${payload.length} bytes back)`));
    }, timeoutMs);
    socket.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      receivedBytes += chunk.length;
    });
    socket.once('error', (err) => {
      clearTimeout(timer);
      socket.destroy();
      reject(new Error(`echo through 127.0.0.1:${port} failed after ${receivedBytes} bytes back: ${err.message}`));
    });
    socket.once('end', () => {
      clearTimeout(timer);
      socket.destroy();
      resolve({ received: Buffer.concat(chunks), elapsedMs: performance.now() - started });
    });
    socket.once('connect', () => socket.end(payload));
  });
}
