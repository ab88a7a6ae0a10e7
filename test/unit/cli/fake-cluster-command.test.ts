/**
 * `kubemux fake-cluster` as a user runs it: the exact first line, the kubeconfig it writes (used
 * here by kubemux's own client), exit 0 on SIGTERM and SIGINT, a kubeconfig path that cannot be
 * written refused before it listens, and a closed stdout that does not stop it serving.
 * `--flow-control` (windows announced or not, seen from a kubemux client).
 * (Usage errors of every command: command-line.test.ts.)
 */
import assert from 'node:assert/strict';
import { watch, writeFileSync, existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { FakeCluster } from '../../../src/testing.js';
import { fromKubeConfig } from '../../../src/transport/api/kubeconfig.js';
import { portForwardPath } from '../../../src/transport/api/request-target.js';
import { dialSpdy } from '../../../src/transport/spdy/upgrade.js';
import { dialProtocol } from '../../../src/transport/dial.js';
import { hasStack, kubemux, lines, startKubemux } from '../../support/cli.js';
import { once } from '../../support/deadlines.js';
import { tempDir } from '../../support/kube-fixtures.js';
import { startEchoServer } from '../../support/servers.js';
import { randomBytes, readBytes, sha256, writeAll } from '../../support/streams.js';

test('prints "fake cluster listening on URL" first, writes a usable kubeconfig, exits 0 on SIGTERM', async (t) => {
  const dir = await tempDir(t);
  const kubeconfigPath = join(dir, 'kubeconfig');
  const cluster = startKubemux(['fake-cluster', '--kubeconfig-out', kubeconfigPath, '--tls']);
  t.after(() => cluster.stop('SIGKILL'));
  assert.match(await cluster.line(/^/, 20_000), /^fake cluster listening on https:\/\/127\.0\.0\.1:\d+$/);
  // The second line says the file is complete.
  assert.equal(await cluster.line(/^kubeconfig written to /, 20_000), `kubeconfig written to ${kubeconfigPath}`);
  const kube = await fromKubeConfig({ kubeconfigPath });
  assert.equal(kube.namespace, 'default');
  const pod = await kube.get('/api/v1/namespaces/default/pods/demo');
  assert.equal(pod.status, 200);
  assert.equal((pod.json as { status: { phase: string } }).status.phase, 'Running');
  const result = await cluster.stop('SIGTERM');
  assert.equal(result.code, 0);
  assert.equal(result.stderr, '');
});

test('SIGINT exits 0 too', async (t) => {
  const cluster = startKubemux(['fake-cluster']);
  t.after(() => cluster.stop('SIGKILL'));
  await cluster.line(/^fake cluster listening on /, 20_000);
  const result = await cluster.stop('SIGINT');
  assert.equal(result.code, 0);
  assert.equal(result.signal, null);
});

test('a --kubeconfig-out that cannot be written: one line, exit 1, and it never listens', async (t) => {
  const dir = await tempDir(t);
  for (const path of [join(dir, 'missing-folder', 'kubeconfig'), dir]) {
    const result = await kubemux(['fake-cluster', '--kubeconfig-out', path]);
    assert.equal(result.code, 1, result.stderr);
    assert.equal(result.stdout, '', 'nothing listened');
    assert.deepEqual(lines(result.stderr).length, 1, result.stderr);
    assert.match(result.stderr, new RegExp(`^kubemux fake-cluster: cannot write the kubeconfig to ${path}: .+ \\((ENOENT|EISDIR)\\)\\n$`));
    assert.ok(!hasStack(result.stderr));
  }
});

test('a start-up that fails leaves the kubeconfig as it was: an existing one untouched, a new one removed', async (t) => {
  const busy = await FakeCluster.start();
  t.after(() => busy.close());
  const listen = `127.0.0.1:${new URL(busy.url).port}`;
  const dir = await tempDir(t);
  const existing = join(dir, 'existing');
  writeFileSync(existing, 'previous content\n');
  const fresh = join(dir, 'fresh');
  for (const path of [existing, fresh]) {
    const result = await kubemux(['fake-cluster', '--listen', listen, '--kubeconfig-out', path]);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /EADDRINUSE/);
  }
  assert.equal(readFileSync(existing, 'utf8'), 'previous content\n');
  assert.equal(existsSync(fresh), false);
});

test('stdout closed before it writes (`| head -0`): it still serves, and SIGTERM exits 0', async (t) => {
  const dir = await tempDir(t);
  const kubeconfigPath = join(dir, 'kubeconfig');
  // The kubeconfig is how this test learns the URL, since stdout is gone: wait for it to parse.
  const written = new Promise<{ clusters: Array<{ cluster: { server: string } }> }>((resolve) => {
    const watcher = watch(dir, () => {
      try {
        const parsed = JSON.parse(readFileSync(kubeconfigPath, 'utf8')) as { clusters: Array<{ cluster: { server: string } }> };
        watcher.close();
        resolve(parsed);
      } catch {
        // Not there or not complete yet: the next change will tell.
      }
    });
    t.after(() => watcher.close());
  });
  const cluster = startKubemux(['fake-cluster', '--kubeconfig-out', kubeconfigPath]);
  cluster.child.stdout!.destroy();
  t.after(() => cluster.stop('SIGKILL'));
  const kubeconfig = await written;
  const response = await fetch(`${kubeconfig.clusters[0]!.cluster.server}/version`);
  assert.equal(response.status, 200);
  const result = await cluster.stop('SIGTERM');
  assert.equal(result.code, 0, result.stderr);
  assert.equal(result.stderr, '');
});

test('--idle-timeout-ms closes an idle port-forward connection as the kubelet does; a bad value is a usage error', async (t) => {
  const cluster = startKubemux(['fake-cluster', '--idle-timeout-ms', '200']);
  t.after(() => cluster.stop('SIGKILL'));
  const url = (await cluster.line(/^fake cluster listening on /, 20_000)).replace(/^fake cluster listening on /, '');
  const session = await dialSpdy({ server: url, path: portForwardPath('default', 'demo') });
  t.after(() => session.destroy());
  await once(session, 'close', 3_000);
  assert.equal((await cluster.stop('SIGTERM')).code, 0);

  const bad = await kubemux(['fake-cluster', '--idle-timeout-ms', 'soon']);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--idle-timeout-ms must be a whole number of milliseconds/);
});

test('--flow-control: advertise (the default) announces SPDY windows, auto announces none, as a kubelet', async (t) => {
  const echo = await startEchoServer();
  t.after(() => echo.close());
  const dir = await tempDir(t);
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
    const cluster = startKubemux(['fake-cluster', '--config', configPath, '--kubeconfig-out', kubeconfigPath, ...args]);
    t.after(() => cluster.stop('SIGKILL'));
    await cluster.line(/^kubeconfig written to /, 20_000);
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
    const result = await cluster.stop('SIGTERM');
    assert.equal(result.code, 0);
  }
});

test('--flow-control with another value is a usage error with exit code 2', async () => {
  const result = await kubemux(['fake-cluster', '--flow-control', 'off']);
  assert.equal(result.code, 2);
  assert.match(result.stderr, /--flow-control must be advertise or auto, got "off"/);
});
