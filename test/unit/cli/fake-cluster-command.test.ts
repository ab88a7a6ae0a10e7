/**
 * `kubemux fake-cluster` as a user runs it: the exact first line, the kubeconfig it writes (used
 * here by kubemux's own client), SIGTERM → exit 0, and the refusal to listen beyond loopback.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fromKubeConfig } from '../../../src/transport/kubeconfig.js';
import { portForwardPath } from '../../../src/transport/request-target.js';
import { dialSpdy } from '../../../src/transport/spdy-upgrade.js';
import { once } from '../../support/deadlines.js';
import { REPO_ROOT } from '../../support/paths.js';

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
