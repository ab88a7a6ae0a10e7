/**
 * `kubemux fake-cluster` as a user runs it: the exact first line, the kubeconfig it writes (used
 * here by kubemux's own client), SIGTERM → exit 0, and the refusal to listen beyond loopback.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fromKubeConfig } from '../../../src/transport/kubeconfig.js';
import { portForwardPath } from '../../../src/transport/request-target.js';
import { dialSpdy } from '../../../src/transport/spdy-upgrade.js';
import { once } from '../../support/deadlines.js';
import { REPO_ROOT } from '../../support/paths.js';

const BIN = join(REPO_ROOT, 'bin', 'kubemux.js');

function run(args: string[]): { child: ChildProcess; firstLine: Promise<string>; exit: Promise<{ code: number | null; stderr: string }> } {
  const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const firstLine = new Promise<string>((resolve, reject) => {
    child.stdout!.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      const newline = stdout.indexOf('\n');
      if (newline >= 0) resolve(stdout.slice(0, newline));
    });
    child.once('exit', () => reject(new Error(`exited before printing a line; stderr: ${stderr}`)));
  });
  firstLine.catch(() => {}); // tests that expect an early exit do not wait for a line
  const exit = new Promise<{ code: number | null; stderr: string }>((resolve) => child.once('exit', (code) => resolve({ code, stderr })));
  return { child, firstLine, exit };
}

test('prints "fake cluster listening on URL" first, writes a usable kubeconfig, exits 0 on SIGTERM', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kubemux-cli-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const kubeconfigPath = join(dir, 'kubeconfig');
  const { child, firstLine, exit } = run(['fake-cluster', '--kubeconfig-out', kubeconfigPath, '--tls']);
  t.after(() => child.kill('SIGKILL'));
  const line = await firstLine;
  assert.match(line, /^fake cluster listening on https:\/\/127\.0\.0\.1:\d+$/);
  // The kubeconfig line follows the first; wait until the file is complete by asking the cluster through it.
  let kube;
  for (let attempt = 0; ; attempt++) {
    try {
      JSON.parse(readFileSync(kubeconfigPath, 'utf8'));
      kube = await fromKubeConfig({ kubeconfigPath });
      break;
    } catch (error) {
      if (attempt > 200) throw error;
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
  }
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

test('--idle-timeout-ms closes an idle port-forward connection as the kubelet does; a bad value is a usage error', async (t) => {
  const { child, firstLine, exit } = run(['fake-cluster', '--idle-timeout-ms', '200']);
  t.after(() => child.kill('SIGKILL'));
  const url = (await firstLine).replace(/^fake cluster listening on /, '');
  const session = await dialSpdy({ server: url, path: portForwardPath('default', 'demo') });
  t.after(() => session.destroy());
  await once(session, 'close', 3_000);
  child.kill('SIGTERM');
  assert.equal((await exit).code, 0);

  const bad = await run(['fake-cluster', '--idle-timeout-ms', 'soon']).exit;
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--idle-timeout-ms must be a whole number of milliseconds/);
});
