/**
 * `kubemux demo`: a forward healing itself, on this machine, with no cluster. In one process it
 * starts the fake cluster, a small HTTP server standing for a pod's port, and a forward to
 * `deploy/demo` through the resilience layer; then it breaks things the way real clusters break
 * and shows each request after each fault, with its timing:
 *
 *   1. a request succeeds;
 *   2. the pod closes its port: a request fails, alone, with the runtime's message;
 *   3. the port reopens: the next request succeeds, on the same connection (the seed scenario);
 *   4. the API connection is black-holed: the forward detects it, replaces it (detection and
 *      recovery times), and a request succeeds;
 *   5. the pod is replaced: the forward finds the new pod, and a request succeeds.
 *
 * Where kubectl is installed, `kubectl port-forward` goes through the seed scenario beside it (it
 * exits); where it is not, the demo says so. It ends with a one-line verdict and exits 0 only when
 * every step passed within 30 s.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { forward, isKubemuxError, ResilientConnection, TargetResolver, type ConnectionFailedInfo, type PortForwarder, type StateChange } from '../index.js';
import { FakeCluster, type ClusterConfig } from '../testing.js';
import type { OutputStream } from './console.js';
import { USAGE_EXIT_CODE, usageMessage } from './usage.js';

/** The help text of `kubemux demo`. */
export const DEMO_USAGE = `Usage: kubemux demo [--no-kubectl]

Shows a forward healing itself, with no cluster: starts a fake cluster, a small HTTP server as
the pod's port and a forward to deploy/demo, then closes and reopens the pod's port, black-holes
the API connection and replaces the pod, making a request after each. Where kubectl is installed,
kubectl port-forward goes through the same port closing beside it.

Options:
  --no-kubectl   skip the kubectl comparison
  -h, --help     show this help

Exit code 0 when every step passed within 30 s, 1 otherwise.
`;

const BUDGET_MS = 30_000;
const STEP_TIMEOUT_MS = 10_000;

/** A small HTTP server standing for the pod's port 8080; it can close the port and reopen it on the same number. */
class PodPort {
  #server: http.Server | undefined;
  readonly #sockets = new Set<Socket>();
  port = 0;

  async open(): Promise<void> {
    const server = http.createServer((req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain', connection: 'close' }).end(`hello from the pod (${req.url ?? '/'})\n`);
    });
    server.on('connection', (socket) => {
      this.#sockets.add(socket);
      socket.once('close', () => this.#sockets.delete(socket));
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => resolve());
    });
    this.port = (server.address() as AddressInfo).port;
    this.#server = server;
  }

  async close(): Promise<void> {
    const server = this.#server;
    this.#server = undefined;
    if (server === undefined) return;
    for (const socket of this.#sockets) socket.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

/** One GET on a fresh connection: the body, or why it failed. */
function get(port: number): Promise<{ ok: true; body: string } | { ok: false; error: string }> {
  return new Promise((resolve) => {
    const request = http.get({ host: '127.0.0.1', port, path: '/', agent: false, timeout: STEP_TIMEOUT_MS }, (response) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (body += chunk));
      response.on('end', () => resolve(response.statusCode === 200 ? { ok: true, body } : { ok: false, error: `HTTP ${response.statusCode}` }));
      response.on('error', (error) => resolve({ ok: false, error: error.message }));
    });
    request.on('timeout', () => request.destroy(new Error(`no answer within ${STEP_TIMEOUT_MS} ms`)));
    request.on('error', (error: NodeJS.ErrnoException) =>
      resolve({ ok: false, error: error.code === undefined || error.message.includes(error.code) ? error.message : `${error.message} (${error.code})` }),
    );
  });
}

function demoConfig(podPort: number): ClusterConfig {
  const labels = { app: 'demo' };
  return {
    namespaces: {
      default: {
        pods: [{ name: 'demo', labels, containers: [{ name: 'web', ports: [{ containerPort: 8080, name: 'http' }] }], portMap: { '8080': `127.0.0.1:${podPort}` } }],
        deployments: [{ name: 'demo', selector: { matchLabels: labels }, replicas: 1 }],
        services: [{ name: 'demo', selector: labels, ports: [{ port: 80, targetPort: 'http' }] }],
      },
    },
  };
}

/** The runtime's long dial error, shortened to what a person needs: which port, which pod, why. */
function shortReason(message: string): string {
  const match = /(error forwarding port \d+ to pod [^,]+).*?(dial tcp4 \S+ \S+ [^I]+?)(?: IPv6|$)/.exec(message);
  return match === null ? message.slice(0, 200) : `${match[1]}: ${match[2]!.trim()}`;
}

/** Resolves with the first event for which `match` holds, or undefined after `timeoutMs`. */
function waitFor<T>(subscribe: (listener: (value: T) => void) => () => void, match: (value: T) => boolean, timeoutMs: number): Promise<T | undefined> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => finish(undefined), timeoutMs);
    const unsubscribe = subscribe((value) => {
      if (match(value)) finish(value);
    });
    function finish(value: T | undefined): void {
      clearTimeout(timer);
      unsubscribe();
      resolve(value);
    }
  });
}

/** The version kubectl reports, or undefined when there is no kubectl on PATH. */
function kubectlVersion(): string | undefined {
  const result = spawnSync('kubectl', ['version', '--client', '-o', 'json'], { encoding: 'utf8', timeout: 10_000 });
  if (result.status !== 0) return undefined;
  try {
    return (JSON.parse(result.stdout) as { clientVersion?: { gitVersion?: string } }).clientVersion?.gitVersion;
  } catch {
    return undefined;
  }
}

class Report {
  readonly #out: OutputStream;
  readonly #started = performance.now();
  passed = 0;
  failed = 0;

  constructor(out: OutputStream) {
    this.#out = out;
  }

  line(text = ''): void {
    this.#out.write(`${text}\n`);
  }

  step(ok: boolean, text: string, ms?: number, detail?: string): void {
    if (ok) this.passed++;
    else this.failed++;
    const timing = ms === undefined ? '' : ` (${Math.round(ms)} ms)`;
    this.line(`  ${ok ? '✔' : '✘'} ${text}${timing}`);
    if (detail !== undefined) this.line(`      ${detail}`);
  }

  /** A line that is not a kubemux step (the kubectl comparison): reported, not counted. */
  note(text: string, detail?: string): void {
    this.line(`  • ${text}`);
    if (detail !== undefined) this.line(`      ${detail}`);
  }

  get elapsedMs(): number {
    return performance.now() - this.#started;
  }
}

/** Runs `kubemux demo`; resolves to the exit code. */
export async function demoCommand(argv: readonly string[], io: { readonly stdout: OutputStream; readonly stderr: OutputStream }): Promise<number> {
  if (argv.includes('-h') || argv.includes('--help')) {
    io.stdout.write(DEMO_USAGE);
    return 0;
  }
  const unknown = argv.find((a) => a !== '--no-kubectl');
  if (unknown !== undefined) {
    io.stderr.write(usageMessage('kubemux demo', `unknown ${unknown.startsWith('-') ? 'option' : 'argument'} "${unknown}"`));
    return USAGE_EXIT_CODE;
  }
  const report = new Report(io.stdout);
  const pod = new PodPort();
  let cluster: FakeCluster | undefined;
  let connection: ResilientConnection | undefined;
  let forwarder: PortForwarder | undefined;
  const cleanups: Array<() => Promise<void> | void> = [];
  try {
    report.line('kubemux demo: a port-forward that heals itself, with no cluster');
    report.line();
    await pod.open();
    cluster = await FakeCluster.start({ config: demoConfig(pod.port) });
    const resolver = new TargetResolver({ target: { server: cluster.url }, namespace: 'default' }, 'deploy/demo');
    let currentPod = '';
    connection = new ResilientConnection({
      target: async ({ signal }) => {
        const resolved = await resolver.resolve({ signal });
        currentPod = resolved.pod;
        return resolved.upgradeTarget;
      },
      // Short liveness timings, so that the black-holed connection is found in about a second.
      pingIntervalMs: 500,
      pingTimeoutMs: 1000,
    });
    const live = connection;
    forwarder = forward({ opener: live, ports: ['0:8080'], addresses: ['127.0.0.1'] });
    const failures: ConnectionFailedInfo[] = [];
    forwarder.on('connectionFailed', (info) => failures.push(info));
    const { listeners } = await forwarder.ready;
    const local = listeners[0]!.port;
    await live.ready();
    report.line(`  fake cluster   ${cluster.url}  (deployment demo -> pod demo, port 8080 = a small HTTP server)`);
    report.line(`  forward        127.0.0.1:${local} -> deploy/demo:8080  (${live.protocol ?? '?'}, pings every 500 ms, 1 s deadline)`);
    report.line();

    // 1. A request succeeds.
    let t0 = performance.now();
    let answer = await get(local);
    report.step(answer.ok, '1. a request through the forward succeeds', performance.now() - t0, answer.ok ? undefined : answer.error);

    // 2. The pod closes its port.
    await pod.close();
    t0 = performance.now();
    answer = await get(local);
    const failure = failures.at(-1);
    const refused = !answer.ok && failure !== undefined && /connection refused/.test(failure.error.message);
    report.step(refused, '2. the pod closes its port: that request fails alone, with the runtime\'s reason', performance.now() - t0, failure === undefined ? answer.ok ? 'the request succeeded' : answer.error : shortReason(failure.error.message));

    // 3. The port reopens: the next request succeeds on the same connection.
    await pod.open();
    t0 = performance.now();
    answer = await get(local);
    const kept = live.stats.replacements === 0 && live.stats.dials === 1;
    report.step(answer.ok && kept, '3. the port reopens: the next request succeeds, on the same connection', performance.now() - t0, answer.ok ? (kept ? undefined : 'the connection was replaced') : answer.error);

    // 4. The API connection is black-holed.
    const subscribe = <E extends 'state' | 'replaced'>(event: E) => (listener: (value: never) => void) => {
      live.on(event, listener as never);
      return () => live.off(event, listener as never);
    };
    t0 = performance.now();
    const lost = waitFor<StateChange>(subscribe('state'), (c) => c.state === 'replacing' || c.state === 'backing-off', STEP_TIMEOUT_MS);
    cluster.applyFault('blackhole');
    const detected = await lost;
    const detectedMs = performance.now() - t0;
    const replaced = waitFor<{ recoveredAfterMs: number; detectedAfterMs?: number }>(subscribe('replaced'), () => true, STEP_TIMEOUT_MS);
    cluster.applyFault('clear');
    const replacement = await replaced;
    answer = await get(local);
    report.step(
      detected !== undefined && replacement !== undefined && answer.ok,
      '4. the API connection is black-holed: detected, replaced, and a request succeeds',
      undefined,
      detected === undefined || replacement === undefined
        ? 'the loss was not detected'
        : `detected after ${(detectedMs / 1000).toFixed(1)} s (no answer to a ping: ${isKubemuxError(detected.error) ? detected.error.code : '?'}), new connection in ${Math.round(replacement.recoveredAfterMs)} ms${answer.ok ? '' : `; request: ${answer.error}`}`,
    );

    // 5. The pod is replaced (a rollout, a restart): the forward finds the new one.
    const before = currentPod;
    t0 = performance.now();
    const next = waitFor(subscribe('replaced'), () => true, STEP_TIMEOUT_MS);
    cluster.applyFault('replace-pod', { name: before });
    await next;
    answer = await get(local);
    report.step(answer.ok && currentPod !== before, `5. the pod is replaced: the forward finds the new pod ${currentPod} and a request succeeds`, performance.now() - t0, answer.ok ? undefined : answer.error);

    report.line();
    const kubectl = argv.includes('--no-kubectl') ? 'skipped' : await compareWithKubectl(report, cluster, pod, cleanups);

    const allPassed = report.failed === 0;
    const inTime = report.elapsedMs <= BUDGET_MS;
    report.line();
    const kubectlPart = kubectl === 'exited' ? '; kubectl port-forward exited at the first fault' : kubectl === 'absent' ? ' (kubectl not installed: no comparison)' : '';
    report.line(
      allPassed && inTime
        ? `verdict: PASS — kubemux healed every fault, ${report.passed}/${report.passed} steps in ${(report.elapsedMs / 1000).toFixed(1)} s${kubectlPart}`
        : `verdict: FAIL — ${report.failed} of ${report.passed + report.failed} steps failed${inTime ? '' : `, and the demo took ${(report.elapsedMs / 1000).toFixed(1)} s (budget ${BUDGET_MS / 1000} s)`}`,
    );
    return allPassed && inTime ? 0 : 1;
  } catch (error) {
    report.line(`verdict: FAIL — ${error instanceof Error ? error.message : String(error)}`);
    return 1;
  } finally {
    for (const cleanup of cleanups.reverse()) await cleanup();
    await forwarder?.close({ mode: 'abort' });
    await connection?.destroy();
    await cluster?.close();
    await pod.close();
  }
}

/**
 * kubectl port-forward through the seed scenario on the same cluster: a request succeeds; the
 * pod closes its port; kubectl exits ("lost connection to pod"); the port reopens, and nothing
 * listens any more.
 */
async function compareWithKubectl(report: Report, cluster: FakeCluster, pod: PodPort, cleanups: Array<() => Promise<void> | void>): Promise<'exited' | 'survived' | 'absent'> {
  const version = kubectlVersion();
  if (version === undefined) {
    report.line('  kubectl is not installed here: skipping the comparison with kubectl port-forward.');
    return 'absent';
  }
  report.line(`  kubectl port-forward (${version}), same cluster, same fault:`);
  const dir = mkdtempSync(join(tmpdir(), 'kubemux-demo-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const kubeconfig = join(dir, 'kubeconfig');
  writeFileSync(kubeconfig, cluster.kubeconfig(), { mode: 0o600 });
  const child: ChildProcess = spawn('kubectl', ['port-forward', 'deploy/demo', ':8080', '--address', '127.0.0.1'], {
    env: { ...process.env, KUBECONFIG: kubeconfig },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  cleanups.push(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  let output = '';
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const port = await new Promise<number | undefined>((resolve) => {
    const timer = setTimeout(() => resolve(undefined), STEP_TIMEOUT_MS);
    const onData = (chunk: Buffer): void => {
      output += chunk.toString();
      const match = /Forwarding from 127\.0\.0\.1:(\d+)/.exec(output);
      if (match !== null) {
        clearTimeout(timer);
        resolve(Number(match[1]));
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    void exited.then(() => resolve(undefined));
  });
  if (port === undefined) {
    report.note('kubectl port-forward did not start', output.trim().split('\n').at(-1));
    return 'survived';
  }
  let answer = await get(port);
  report.note(`a request through kubectl port-forward ${answer.ok ? 'succeeds' : `fails (${answer.error})`}`);
  await pod.close();
  answer = await get(port);
  const code = await Promise.race([exited, new Promise<'running'>((resolve) => setTimeout(() => resolve('running'), 5_000).unref())]);
  const lastLine = output.trim().split('\n').at(-1) ?? '';
  report.note(`the pod closes its port: kubectl ${code === 'running' ? 'keeps running' : `exits (code ${code}): "${lastLine}"`}`);
  await pod.open();
  const after = await get(port);
  report.note(`the port reopens: kubectl's local port ${after.ok ? 'works again' : `is gone (${after.error})`}`);
  return code === 'running' ? 'survived' : 'exited';
}
