/**
 * The fake cluster's API against real kubectl, 1.27 to 1.33: `get` in name, jsonpath, JSON and
 * table form, the fall-back from aggregated to legacy discovery, and `port-forward svc/demo`
 * resolving through the service's selector to a replaced pod's portforward subresource. One
 * version also runs over HTTPS trusting only the generated CA (Go's x509 is the strict judge),
 * with a foreign CA as the control that must fail.
 *
 * Binaries are `kubectl.1.NN` beside the resolved `kubectl` on PATH (or that kubectl, when it is
 * that version); a missing one is skipped with a message. Every kubectl runs with a temporary HOME, no proxy variables and no
 * KUBECONFIG, and is killed if it outlives its time bound.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { generateCertificates } from '../../src/server/certificates.js';
import { FakeCluster } from '../../src/server/fake-cluster.js';
import { kubeconfigFor } from '../../src/server/kubeconfig.js';
import { findKubectl, kubectlMissing } from '../support/kubectl.js';

const MINORS = ['1.27', '1.28', '1.29', '1.30', '1.31', '1.32', '1.33'];
/** Bound on one kubectl run. */
const RUN_TIMEOUT_MS = 20_000;
const PROXY_VARIABLES = ['http_proxy', 'https_proxy', 'no_proxy', 'all_proxy'];

interface Run {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** A kubectl runner with its own HOME and kubeconfig file, cleaned up after the test. */
function kubectlRunner(t: TestContext, binary: string): { kubeconfig: string; run: (args: string[], until?: RegExp) => Promise<Run> } {
  const home = mkdtempSync(join(tmpdir(), 'kubemux-kubectl-api-'));
  t.after(() => rmSync(home, { recursive: true, force: true }));
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (PROXY_VARIABLES.includes(name.toLowerCase()) || name === 'KUBECONFIG' || name.startsWith('KUBECTL_')) continue;
    env[name] = value;
  }
  env['HOME'] = home;
  const kubeconfig = join(home, 'kubeconfig');
  /** Runs kubectl to its exit, or until `until` matches its output (then kills it). */
  const run = (args: string[], until?: RegExp): Promise<Run> =>
    new Promise((resolve) => {
      const child = spawn(binary, ['--kubeconfig', kubeconfig, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      const timer = setTimeout(() => child.kill('SIGKILL'), RUN_TIMEOUT_MS);
      const check = (): void => {
        if (until !== undefined && until.test(stdout + stderr)) child.kill('SIGKILL');
      };
      child.stdout.on('data', (chunk: Buffer) => {
        stdout += chunk.toString('utf8');
        check();
      });
      child.stderr.on('data', (chunk: Buffer) => {
        stderr += chunk.toString('utf8');
        check();
      });
      child.on('error', (err) => {
        clearTimeout(timer);
        resolve({ code: null, stdout, stderr: `${stderr}\n[spawn error] ${err.message}` });
      });
      child.on('exit', (code) => {
        clearTimeout(timer);
        resolve({ code, stdout, stderr });
      });
    });
  return { kubeconfig, run };
}

/** The cluster's request log, and a way to wait (bounded) for a line. */
function requestLog(): { lines: string[]; log: (line: string) => void; waitFor: (pattern: RegExp, timeoutMs: number) => Promise<string> } {
  const lines: string[] = [];
  const waiters = new Set<(line: string) => void>();
  return {
    lines,
    log: (line) => {
      lines.push(line);
      for (const waiter of [...waiters]) waiter(line);
    },
    waitFor: (pattern, timeoutMs) => {
      const seen = lines.find((l) => pattern.test(l));
      if (seen !== undefined) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        const waiter = (line: string): void => {
          if (!pattern.test(line)) return;
          waiters.delete(waiter);
          clearTimeout(timer);
          resolve(line);
        };
        const timer = setTimeout(() => {
          waiters.delete(waiter);
          reject(new Error(`no request matched ${pattern} within ${timeoutMs} ms; requests:\n${lines.join('\n')}`));
        }, timeoutMs);
        waiters.add(waiter);
      });
    },
  };
}

const ok = (run: Run): string => {
  assert.equal(run.code, 0, `kubectl failed (${run.code}): ${run.stderr}`);
  return run.stdout.trim();
};

for (const minor of MINORS) {
  test(`kubectl ${minor} reads pods, deployments and services and reaches portforward`, async (t) => {
    const binary = findKubectl(minor);
    if (binary === undefined) {
      t.skip(kubectlMissing(minor));
      return;
    }
    const requests = requestLog();
    const cluster = await FakeCluster.start({ log: requests.log });
    t.after(() => cluster.close());
    const kubectl = kubectlRunner(t, binary);
    await cluster.writeKubeconfig(kubectl.kubeconfig);

    assert.equal(ok(await kubectl.run(['get', 'pods', '-o', 'name'])), 'pod/demo');
    // Aggregated discovery was asked for and the legacy answer accepted: kubectl went on to the group versions.
    const apiRequest = requests.lines.find((l) => l.startsWith('GET /api?'));
    assert.match(apiRequest ?? '', /apidiscovery\.k8s\.io/);
    assert.ok(requests.lines.some((l) => l.startsWith('GET /apis/apps/v1?')), requests.lines.join('\n'));

    assert.equal(ok(await kubectl.run(['get', 'deploy', 'demo', '-o', 'jsonpath={.spec.selector.matchLabels.app}'])), 'demo');

    const service = JSON.parse(ok(await kubectl.run(['get', 'svc', 'demo', '-o', 'json']))) as { kind: string; spec: { ports: Array<{ port: number; targetPort: unknown }> } };
    assert.equal(service.kind, 'Service');
    assert.deepEqual(service.spec.ports.map((p) => [p.port, p.targetPort]), [
      [80, 'http'],
      [5432, 5432],
    ]);

    const table = ok(await kubectl.run(['get', 'pods']));
    assert.match(table, /^NAME\s+READY\s+STATUS\s+RESTARTS\s+AGE\n/);
    assert.match(table, /\ndemo\s+1\/1\s+Running\s+0\s+\d+s$/);

    const missing = await kubectl.run(['get', 'pod', 'nope']);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /Error from server \(NotFound\): pods "nope" not found/);

    // After a replacement, svc/demo must resolve by labels to the new pod's portforward.
    const replaced = cluster.state.replacePod('default', 'demo')!.added.name;
    const portForward = kubectl.run(['port-forward', 'svc/demo', ':80', '--address', '127.0.0.1'], /Forwarding from|error/i);
    const arrived = await requests.waitFor(/^UPGRADE (GET|POST) \/api\/v1\/namespaces\/default\/pods\/[^/]+\/portforward/, RUN_TIMEOUT_MS).finally(() => portForward);
    assert.ok(arrived.includes(`/pods/${replaced}/portforward`), arrived);
    await portForward;
  });
}

test('kubectl over HTTPS trusts the generated CA and nothing else', async (t) => {
  const minor = [...MINORS].reverse().find((m) => findKubectl(m) !== undefined);
  if (minor === undefined) {
    t.skip(kubectlMissing(MINORS));
    return;
  }
  const cluster = await FakeCluster.start({ tls: true });
  t.after(() => cluster.close());
  assert.match(cluster.url, /^https:/);
  const kubectl = kubectlRunner(t, findKubectl(minor)!);

  await cluster.writeKubeconfig(kubectl.kubeconfig);
  assert.equal(ok(await kubectl.run(['get', 'pods', '-o', 'name'])), 'pod/demo');

  writeFileSync(kubectl.kubeconfig, kubeconfigFor({ server: cluster.url, caPem: generateCertificates().caCertPem }));
  const foreign = await kubectl.run(['get', 'pods', '-o', 'name', '--request-timeout=10s']);
  assert.notEqual(foreign.code, 0);
  assert.match(foreign.stderr, /x509: certificate signed by unknown authority/);
});
