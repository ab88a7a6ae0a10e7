/**
 * The `kubemux` command as a user meets it, every subcommand run as a child process:
 *
 * - a usage error is one line plus "See 'kubemux COMMAND --help'." and exit 2, never the help;
 *   a bare `kubemux` prints the help and exits 2 (as git does);
 * - a runtime error is one line: no stack trace, no `Error:`, and CLI flags where the library's
 *   message names an option;
 * - a closed stdout (`kubemux … | head -1`) ends the output, not the command;
 * - without dist/ the launcher says how to build, in one line, and exits 1.
 */
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { FakeCluster } from '../../../src/testing.js';
import { hasStack, kubemux, KUBEMUX_BIN, lines, startKubemux } from '../../support/cli.js';
import { tempDir } from '../../support/kube-fixtures.js';
import { echoRoundTrip } from '../../support/kubectl.js';
import { startDemoCluster } from '../../support/servers.js';
import { randomBytes, sha256 } from '../../support/streams.js';
import { runToEnd } from '../../support/processes.js';

/** Asserts a usage error: exit 2, stderr exactly the message line and the pointer to the help. */
function assertUsageError(result: { code: number | null; stdout: string; stderr: string }, command: string, message: RegExp): void {
  assert.equal(result.code, 2, result.stderr);
  const [first, second, ...more] = lines(result.stderr);
  assert.match(first ?? '', new RegExp(`^${command}: `));
  assert.match(first ?? '', message);
  assert.equal(second, `See '${command} --help'.`);
  assert.deepEqual(more, [], 'nothing after the pointer to the help');
  assert.equal(result.stdout, '', 'no help text');
}

/** Asserts a runtime error: the exit code, and a last stderr line that is the error alone. */
function assertRuntimeError(result: { code: number | null; stderr: string }, code: number, message: RegExp): string {
  assert.equal(result.code, code, result.stderr);
  assert.ok(!hasStack(result.stderr), `a stack trace:\n${result.stderr}`);
  assert.doesNotMatch(result.stderr, /\bError: /, 'no "Error:" from String(error)');
  const last = lines(result.stderr).at(-1) ?? '';
  assert.match(last, message);
  return last;
}

describe('usage errors: one line, where the help is, exit 2', () => {
  test('a bare kubemux prints the help and exits 2', async () => {
    const result = await kubemux([]);
    assert.equal(result.code, 2);
    assert.match(result.stdout, /^Usage:$/m);
    assert.match(result.stdout, /kubemux fake-cluster/);
  });

  test('--help and help COMMAND print the help and exit 0', async () => {
    const top = await kubemux(['--help']);
    assert.equal(top.code, 0);
    assert.match(top.stdout, /^Usage:$/m);
    for (const command of ['fake-cluster', 'forward', 'port-forward', 'demo']) {
      const own = await kubemux([command, '--help']);
      assert.equal(own.code, 0, `${command} --help: ${own.stderr}`);
      assert.match(own.stdout, /Usage:/);
      const viaHelp = await kubemux(['help', command]);
      assert.equal(viaHelp.stdout, own.stdout);
    }
  });

  test('--version prints the version', async () => {
    const result = await kubemux(['--version']);
    assert.equal(result.code, 0);
    assert.match(result.stdout, /^kubemux \d+\.\d+\.\d+\n$/);
  });

  test('--bogus is an unknown option, bogus an unknown command', async () => {
    assertUsageError(await kubemux(['--bogus']), 'kubemux', /unknown option "--bogus"/);
    assertUsageError(await kubemux(['bogus']), 'kubemux', /unknown command "bogus"/);
    assertUsageError(await kubemux(['help', 'bogus']), 'kubemux', /unknown command "bogus"/);
  });

  test('every subcommand: an unknown option', async () => {
    assertUsageError(await kubemux(['fake-cluster', '--bogus']), 'kubemux fake-cluster', /Unknown option '--bogus'/);
    assertUsageError(await kubemux(['forward', 'pod/demo', '8080', '--bogus']), 'kubemux forward', /Unknown option '--bogus'/);
    assertUsageError(await kubemux(['port-forward', 'pod/demo', '8080', '--bogus']), 'kubemux forward', /Unknown option '--bogus'/);
    assertUsageError(await kubemux(['demo', '--bogus']), 'kubemux demo', /unknown option "--bogus"/);
  });

  test('every subcommand: a bad value or a missing argument', async () => {
    assertUsageError(await kubemux(['fake-cluster', '--listen', 'nonsense']), 'kubemux fake-cluster', /--listen must be HOST:PORT/);
    assertUsageError(await kubemux(['fake-cluster', '--listen']), 'kubemux fake-cluster', /argument missing/);
    assertUsageError(await kubemux(['forward']), 'kubemux forward', /TYPE\/NAME and a list of ports are required/);
    assertUsageError(await kubemux(['forward', 'pod/demo', '8080', '--ping-interval', 'soon']), 'kubemux forward', /--ping-interval/);
    assertUsageError(await kubemux(['demo', 'extra']), 'kubemux demo', /unknown argument "extra"/);
  });

  test('a usage error found by the library names the CLI flag, not the API option', async () => {
    const result = await kubemux(['fake-cluster', '--listen', '0.0.0.0:0']);
    assertUsageError(result, 'kubemux fake-cluster', /refusing to listen on 0\.0\.0\.0.*--allow-non-loopback/);
    assert.doesNotMatch(result.stderr, /allowNonLoopback/);
  });
});

describe('runtime errors: one line, no stack, exit 1', () => {
  test('a port in use: the system error, without "Error:"', async (t) => {
    const cluster = await FakeCluster.start();
    t.after(() => cluster.close());
    const port = new URL(cluster.url).port;
    const result = await kubemux(['fake-cluster', '--listen', `127.0.0.1:${port}`]);
    assertRuntimeError(result, 1, new RegExp(`^kubemux fake-cluster: listen EADDRINUSE: address already in use 127\\.0\\.0\\.1:${port}$`));
    assert.equal(lines(result.stderr).length, 1);
  });

  test('forward without any kubeconfig names --kubeconfig', async (t) => {
    const home = await tempDir(t);
    const env: NodeJS.ProcessEnv = { ...process.env, HOME: home };
    delete env['KUBECONFIG'];
    const result = await kubemux(['forward', 'pod/demo', '8080'], { env });
    const line = assertRuntimeError(result, 1, /^error: no kubeconfig found: .*--kubeconfig/);
    assert.doesNotMatch(line, /kubeconfigPath|kubeConfig/);
  });

  test('forward to a deployment with no pod names --pod-running-timeout when it gives up', async (t) => {
    const cluster = await FakeCluster.start({
      config: { namespaces: { default: { deployments: [{ name: 'lonely', selector: { matchLabels: { app: 'lonely' } } }] } } },
    });
    t.after(() => cluster.close());
    const dir = await tempDir(t);
    const kubeconfig = join(dir, 'kubeconfig');
    await cluster.writeKubeconfig(kubeconfig);
    const result = await kubemux(['forward', 'deploy/lonely', '8080', '--kubeconfig', kubeconfig, '--pod-running-timeout', '1s']);
    const line = assertRuntimeError(result, 1, /^error: timed out waiting for the condition: no pod of deployment\/lonely .*\(--pod-running-timeout\)$/);
    assert.doesNotMatch(line, /podRunningTimeoutMs/);
  });
});

describe('a closed stdout ends the output, not the command', () => {
  test('--help, --version and a usage error with the reader gone before the first write', async () => {
    for (const args of [['--help'], ['--version'], ['fake-cluster', '--help'], []]) {
      const child = startKubemux(args);
      // Closed right after the spawn: the child is still starting Node, so its first write
      // meets a pipe with no reader (EPIPE).
      child.child.stdout!.destroy();
      const result = await child.finished;
      assert.equal(result.code, args.length === 0 ? 2 : 0, `kubemux ${args.join(' ')}: ${result.stderr}`);
      assert.equal(result.stderr, '', `kubemux ${args.join(' ')}`);
    }
  });

  test('forward: after "Forwarding from", stdout closed; connections still go through, SIGTERM exits 0', async (t) => {
    const demo = await startDemoCluster();
    t.after(() => demo.close());
    const dir = await tempDir(t);
    const kubeconfig = join(dir, 'kubeconfig');
    await demo.cluster.writeKubeconfig(kubeconfig);
    const forward = startKubemux(['forward', 'pod/demo', ':8080', '--address', '127.0.0.1', '--kubeconfig', kubeconfig]);
    t.after(() => forward.stop('SIGKILL'));
    const ready = await forward.line(/^Forwarding from 127\.0\.0\.1:\d+ -> 8080$/, 20_000);
    const port = Number(/:(\d+) ->/.exec(ready)![1]);
    // `| head -1`: the reader goes away; the next line ("Handling connection for ...") meets EPIPE.
    forward.child.stdout!.destroy();
    for (let i = 0; i < 2; i++) {
      const payload = randomBytes(64 * 1024);
      const echoed = await echoRoundTrip(port, payload, 10_000);
      assert.equal(sha256(echoed.received), sha256(payload));
    }
    const result = await forward.stop('SIGTERM', 10_000);
    assert.equal(result.code, 0, result.stderr);
    assert.ok(!hasStack(result.stderr), result.stderr);
  });
});

test('without dist/, the launcher says how to build, in one line, and exits 1', async (t) => {
  const dir = await tempDir(t);
  mkdirSync(join(dir, 'bin'));
  copyFileSync(KUBEMUX_BIN, join(dir, 'bin', 'kubemux.js'));
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'kubemux', type: 'module' }));
  const result = await runToEnd(process.execPath, [join(dir, 'bin', 'kubemux.js'), '--version'], { timeoutMs: 30_000 });
  assert.equal(result.code, 1);
  assert.equal(lines(result.stderr).length, 1, result.stderr);
  assert.match(result.stderr, /^kubemux: not built .*run `npm run build`/);
  assert.ok(!hasStack(result.stderr));
  assert.doesNotMatch(result.stderr, /ERR_MODULE_NOT_FOUND/);
});
