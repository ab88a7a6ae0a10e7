/**
 * `kubemux forward` run as a kubectl user runs `kubectl port-forward`: the same arguments, the
 * same stdout lines (checked against real kubectl where it is installed), a forwarded connection
 * hash-checked, a lost connection reported and replaced, `--json` events, and the exit codes (0 on
 * SIGINT and SIGTERM, 1 for a fatal error with one line and no stack, 2 for a usage error).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test, type TestContext } from 'node:test';
import { kubemux, lines, startKubemux, hasStack } from '../../support/cli.js';
import type { RunningProcess } from '../../support/processes.js';
import { echoRoundTrip, pathKubectl, startPortForward } from '../../support/kubectl.js';
import { startDemoCluster } from '../../support/servers.js';
import { randomBytes, sha256 } from '../../support/streams.js';

async function demo(t: TestContext): Promise<{ url: string; kubeconfig: string; cluster: Awaited<ReturnType<typeof startDemoCluster>>['cluster'] }> {
  const running = await startDemoCluster();
  t.after(() => running.close());
  const dir = mkdtempSync(join(tmpdir(), 'kubemux-forward-cli-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const kubeconfig = join(dir, 'kubeconfig');
  writeFileSync(kubeconfig, running.cluster.kubeconfig(), { mode: 0o600 });
  return { url: running.cluster.url, kubeconfig, cluster: running.cluster };
}

/** `kubemux ARGS`, stopped (SIGKILL) after the test if it is still running. */
function run(t: TestContext, args: readonly string[]): RunningProcess {
  const cli = startKubemux(args);
  t.after(() => cli.stop('SIGKILL'));
  return cli;
}

/** The local port of the first "Forwarding from 127.0.0.1:PORT -> R" line. */
async function forwardingPort(cli: RunningProcess): Promise<number> {
  const line = await cli.line(/^Forwarding from 127\.0\.0\.1:\d+ -> \d+$/, 20_000);
  return Number(/:(\d+) ->/.exec(line)![1]);
}

function echo(port: number, bytes = 256 * 1024): Promise<void> {
  const payload = randomBytes(bytes);
  return echoRoundTrip(port, payload, 15_000).then((result) => assert.equal(sha256(result.received), sha256(payload)));
}

describe('kubemux forward', () => {
  test("prints kubectl's lines, forwards bytes intact, reports a replaced connection, exits 0 on SIGINT", async (t) => {
    const { kubeconfig, cluster } = await demo(t);
    const cli = run(t, ['forward', 'svc/demo', ':80', '--kubeconfig', kubeconfig, '--ping-interval', '200ms', '--ping-timeout', '500ms']);
    const port = await forwardingPort(cli);
    assert.match(lines(cli.output().stdout)[0]!, /^Forwarding from 127\.0\.0\.1:\d+ -> 8080$/, 'the service port maps to the pod port, as kubectl prints it');
    await echo(port);
    await cli.line(new RegExp(`^Handling connection for ${port}$`), 10_000);
    cluster.applyFault('drop');
    await cli.line(/^connection lost \(.*\); reconnected in \d+ ms$/, 15_000, 'stderr');
    await echo(port);
    const result = await cli.stop('SIGINT');
    assert.equal(result.code, 0);
    assert.equal(result.signal, null);
    assert.ok(!hasStack(result.stderr), 'no stack trace');
  });

  test('the same stdout lines as kubectl port-forward, for the same arguments', async (t) => {
    const kubectl = pathKubectl();
    if (kubectl === undefined) {
      t.skip('kubectl is not on PATH: no output to compare with');
      return;
    }
    const { url, kubeconfig } = await demo(t);
    const theirs = await startPortForward({ kubectl, serverUrl: url, target: 'deploy/demo', remotePort: 8080, websockets: 'unset' });
    t.after(() => theirs.stop());
    const ours = run(t, ['port-forward', 'deploy/demo', ':8080', '--address', '127.0.0.1', '--kubeconfig', kubeconfig]);
    const port = await forwardingPort(ours);
    await echo(port, 4096);
    await echo(theirs.localPort, 4096);
    await ours.line(/^Handling connection for/, 10_000);
    await theirs.waitForOutput(/Handling connection for/, 10_000);
    const normalise = (lines: readonly string[]): string[] => lines.filter((l) => l !== '').map((l) => l.replace(/:\d+ ->/, ':PORT ->').replace(/for \d+$/, 'for PORT'));
    // kubectl's output() interleaves stderr; its stdout lines are these two kinds.
    const kubectlStdout = theirs.output().split('\n').filter((l) => /^(Forwarding from|Handling connection for)/.test(l));
    assert.deepEqual(normalise(lines(ours.output().stdout)), normalise(kubectlStdout));
    assert.equal((await ours.stop('SIGTERM')).code, 0);
  });

  test('--json: one JSON event per line, errors as data', async (t) => {
    const { kubeconfig, cluster } = await demo(t);
    const cli = run(t, ['forward', 'pod/demo', '0:8080', '--address', '127.0.0.1', '--kubeconfig', kubeconfig, '--json', '--ping-interval', '200ms', '--ping-timeout', '500ms']);
    const listening = JSON.parse(await cli.line(/"event":"listening"/, 20_000)) as { port: number; remotePort: number; address: string };
    assert.equal(listening.address, '127.0.0.1');
    assert.equal(listening.remotePort, 8080);
    await echo(listening.port);
    await cli.line(/"event":"connectionClosed"/, 10_000);
    cluster.applyFault('drop');
    const replaced = JSON.parse(await cli.line(/"event":"replaced"/, 15_000)) as { cause: string; error: { code: string }; recoveredAfterMs: number };
    assert.equal(replaced.cause, 'connection-lost');
    assert.match(replaced.error.code, /^ERR_/);
    const result = await cli.stop('SIGTERM');
    assert.equal(result.code, 0);
    for (const line of lines(result.stdout)) assert.doesNotThrow(() => JSON.parse(line), `not JSON: ${line}`);
    const events = new Set(lines(result.stdout).map((l) => (JSON.parse(l) as { event: string }).event));
    for (const event of ['listening', 'connectionOpened', 'connectionClosed', 'state', 'replaced']) assert.ok(events.has(event), `a ${event} event`);
  });

  test('fatal errors: one line, no stack, exit 1', async (t) => {
    const { kubeconfig } = await demo(t);
    const cases: Array<{ args: string[]; message: RegExp }> = [
      { args: ['pod/nope', '8080', '--kubeconfig', kubeconfig], message: /^error: .*pods "nope" not found/ },
      { args: ['svc/demo', '81', '--kubeconfig', kubeconfig], message: /^error: .*does not have a service port 81/ },
      { args: ['pod/demo', '8080', '--kubeconfig', join(tmpdir(), 'kubemux-no-such-kubeconfig')], message: /^error: / },
    ];
    const busy = net.createServer();
    await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve));
    t.after(() => busy.close());
    const busyPort = (busy.address() as net.AddressInfo).port;
    cases.push({ args: ['pod/demo', `${busyPort}:8080`, '--address', '127.0.0.1', '--kubeconfig', kubeconfig], message: /^error: .*127\.0\.0\.1:\d+.*in use/ });
    for (const { args, message } of cases) {
      const result = await kubemux(['forward', ...args]);
      const stderr = lines(result.stderr);
      assert.equal(result.code, 1, `${args.join(' ')}: ${result.stderr}`);
      assert.equal(stderr.length, 1, `one line: ${JSON.stringify(stderr)}`);
      assert.match(stderr[0]!, message);
    }
  });

  test('usage errors: one line plus a pointer to --help, exit 2', async (t) => {
    for (const args of [['forward'], ['forward', 'pod/demo'], ['forward', 'pod/demo', '80', '--bogus'], ['forward', 'pod/demo', '80', '--ping-interval', 'often'], ['port-forward', 'pod/demo', '80:90:100']]) {
      const result = await kubemux(args);
      const stderr = lines(result.stderr);
      assert.equal(result.code, 2, `${args.join(' ')}: ${result.stderr}`);
      assert.match(stderr[0]!, /^kubemux forward: /);
      assert.match(stderr.at(-1)!, /--help/);
      assert.ok(stderr.length <= 2, JSON.stringify(stderr));
    }
  });
});

describe('kubemux demo', () => {
  test('heals every fault and says so, exit 0', async () => {
    const result = await kubemux(['demo'], { timeoutMs: 60_000 });
    const stdout = lines(result.stdout);
    assert.equal(result.code, 0, result.stdout + result.stderr);
    assert.match(stdout.at(-1)!, /^verdict: PASS/);
    assert.equal(stdout.filter((l) => /^\s+✔ \d\./.test(l)).length, 5, 'five kubemux steps passed');
  });
});
