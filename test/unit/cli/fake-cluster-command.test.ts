/**
 * `kubemux fake-cluster` as a user runs it: the exact first line, the kubeconfig it writes (used
 * here by kubemux's own client), SIGTERM → exit 0, the refusal to listen beyond loopback, and
 * `--flow-control` (windows announced or not, seen from a kubemux client).
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { dialProtocol } from '../../../src/transport/dial.js';
import { fromKubeConfig } from '../../../src/transport/kubeconfig.js';
import { portForwardPath } from '../../../src/transport/request-target.js';
import { REPO_ROOT } from '../../support/paths.js';
import { startEchoServer } from '../../support/servers.js';
import { randomBytes, readBytes, sha256, writeAll } from '../../support/streams.js';

const BIN = join(REPO_ROOT, 'bin', 'kubemux.js');

function run(args: string[]): {
  child: ChildProcess;
  firstLine: Promise<string>;
  line: (pattern: RegExp) => Promise<string>;
  exit: Promise<{ code: number | null; stderr: string }>;
} {
  const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  /** The first whole stdout line matching `pattern`. */
  const line = (pattern: RegExp): Promise<string> =>
    new Promise<string>((resolve, reject) => {
      const look = (): void => {
        const found = stdout.split('\n').slice(0, -1).find((l) => pattern.test(l));
        if (found === undefined) return;
        child.stdout!.off('data', look);
        resolve(found);
      };
      child.stdout!.on('data', look);
      look();
      child.once('exit', () => reject(new Error(`exited before printing a line matching ${pattern}; stderr: ${stderr}`)));
    });
  const firstLine = line(/^/);
  firstLine.catch(() => {}); // tests that expect an early exit do not wait for a line
  const exit = new Promise<{ code: number | null; stderr: string }>((resolve) => child.once('exit', (code) => resolve({ code, stderr })));
  return { child, firstLine, line, exit };
}

test('prints "fake cluster listening on URL" first, writes a usable kubeconfig, exits 0 on SIGTERM', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kubemux-cli-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const kubeconfigPath = join(dir, 'kubeconfig');
  const { child, firstLine, line, exit } = run(['fake-cluster', '--kubeconfig-out', kubeconfigPath, '--tls']);
  t.after(() => child.kill('SIGKILL'));
  assert.match(await firstLine, /^fake cluster listening on https:\/\/127\.0\.0\.1:\d+$/);
  // The second line says the file is complete.
  assert.equal(await line(/^kubeconfig written to /), `kubeconfig written to ${kubeconfigPath}`);
  const kube = await fromKubeConfig({ kubeconfigPath });
  assert.equal(kube.namespace, 'default');
  const pod = await kube.get('/api/v1/namespaces/default/pods/demo');
  assert.equal(pod.status, 200);
  assert.equal((pod.json as { status: { phase: string } }).status.phase, 'Running');
  child.kill('SIGTERM');
  assert.equal((await exit).code, 0);
});

test('refuses a non-loopback listen address unless told, with exit code 2', async () => {
  const { exit } = run(['fake-cluster', '--listen', '0.0.0.0:0']);
  const result = await exit;
  assert.equal(result.code, 2);
  assert.match(result.stderr, /refusing to listen on 0\.0\.0\.0/);
});

test('a bad option is a usage error with exit code 2', async () => {
  const { exit } = run(['fake-cluster', '--no-such-option']);
  const result = await exit;
  assert.equal(result.code, 2);
  assert.match(result.stderr, /Usage: kubemux fake-cluster/);
});

test('--flow-control: advertise (the default) announces SPDY windows, auto announces none, as a kubelet', async (t) => {
  const echo = await startEchoServer();
  t.after(() => echo.close());
  const dir = mkdtempSync(join(tmpdir(), 'kubemux-cli-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const configPath = join(dir, 'cluster.json');
  writeFileSync(
    configPath,
    JSON.stringify({ namespaces: { default: { pods: [{ name: 'demo', containers: [{ name: 'app', ports: [{ containerPort: 8080 }] }], portMap: { '8080': `127.0.0.1:${echo.port}` } }] } } }),
  );
  for (const [args, windows] of [
    [[], true],
    [['--flow-control', 'advertise'], true],
    [['--flow-control', 'auto'], false],
  ] as const) {
    const kubeconfigPath = join(dir, `kubeconfig-${args.join('-') || 'default'}`);
    const { child, line, exit } = run(['fake-cluster', '--config', configPath, '--kubeconfig-out', kubeconfigPath, ...args]);
    t.after(() => child.kill('SIGKILL'));
    await line(/^kubeconfig written to /);
    const kube = await fromKubeConfig({ kubeconfigPath });
    const connection = await dialProtocol({ ...kube.target, path: portForwardPath('default', 'demo') }, 'spdy');
    const pair = await connection.openPortStreams(8080);
    // Data both ways: by then the server's SETTINGS, if any, has arrived.
    const payload = randomBytes(64 * 1024);
    const [echoed] = await Promise.all([readBytes(pair.data, payload.length), writeAll(pair.data, payload)]);
    assert.equal(sha256(echoed), sha256(payload));
    assert.equal(connection.stats.session?.peerFlowControl, windows, `fake-cluster ${args.join(' ')}`);
    pair.data.destroy();
    connection.destroy();
    child.kill('SIGTERM');
    assert.equal((await exit).code, 0);
  }
});

test('--flow-control with another value is a usage error with exit code 2', async () => {
  const { exit } = run(['fake-cluster', '--flow-control', 'off']);
  const result = await exit;
  assert.equal(result.code, 2);
  assert.match(result.stderr, /--flow-control must be advertise or auto, got "off"/);
});
