/**
 * The fault matrix, end to end: a ResilientConnection over real loopback sockets through the fake
 * cluster, under each of its faults, over each transport where the fault applies. Each case checks
 * the detection bound where there is one, that new pairs after recovery succeed, byte integrity
 * (sha256 of what went and what came back), and that nothing is left behind after close() (no
 * socket, server or ref'd timer keeps the process alive).
 *
 * Timings are shortened (pings every 200 ms with a 500 ms deadline) so that the whole matrix runs
 * in seconds; the deterministic state-machine tests cover the default values exactly.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ErrorCode, isKubemuxError, type KubemuxError } from '../../../src/errors.js';
import type { Replacement, StateChange } from '../../../src/resilience/events.js';
import type { DialReason } from '../../../src/resilience/options.js';
import { ResilientConnection } from '../../../src/resilience/resilient-connection.js';
import { defaultClusterConfig } from '../../../src/server/cluster-config.js';
import { FakeCluster } from '../../../src/server/fake-cluster.js';
import type { PortForwardProtocol } from '../../../src/transport/port-forward-connection.js';
import { portForwardPath } from '../../../src/transport/api/request-target.js';
import { TargetResolver } from '../../../src/resilience/target-resolver.js';
import { onceMatching, within } from '../../support/deadlines.js';
import { aliveResources, expectNothingLeftSince } from '../../support/leaks.js';
import { startEchoServer, type RunningServer } from '../../support/servers.js';
import { echoExactly, randomBytes, sha256 } from '../../support/streams.js';

const TIMING = {
  pingIntervalMs: 200,
  pingTimeoutMs: 500,
  openTimeoutMs: 1000,
  probeTimeoutMs: 300,
  backoffInitialDelayMs: 50,
  backoffMaxDelayMs: 300,
  healthyAfterMs: 1000,
};
/** Detection may lag the bound by event-loop delays on a loaded machine; the exact bound is checked on a manual clock. */
const LAG_ALLOWANCE_MS = 1500;
const PROTOCOLS: readonly PortForwardProtocol[] = ['spdy', 'websocket-tunnel', 'websocket-v4'];

interface Fixture {
  cluster: FakeCluster;
  echo: RunningServer;
  readonly echoPort: number;
  readonly connection: ResilientConnection;
  readonly reasons: DialReason[];
  /** The pods the resolver chose, one per dial (deploy/ and svc/ fixtures). */
  readonly pods: string[];
  readonly states: StateChange[];
  /** Restarts the cluster on the same port (a fresh process, same objects). */
  restartCluster(): Promise<void>;
  /** Closes the target's port ("the pod closed it") and opens it again. */
  closePodPort(): Promise<void>;
  reopenPodPort(): Promise<void>;
  close(): Promise<void>;
}

/** `via`: the pod by name (a fixed path), or a deployment or service resolved before every dial. */
async function fixture(protocol: PortForwardProtocol, via: 'pod/demo' | 'deploy/demo' | 'svc/demo' = 'pod/demo'): Promise<Fixture> {
  const before = aliveResources();
  const echo = await startEchoServer();
  const echoPort = echo.port;
  const base = defaultClusterConfig();
  const config = {
    ...base,
    namespaces: Object.fromEntries(
      Object.entries(base.namespaces).map(([name, ns]) => [name, { ...ns, pods: (ns.pods ?? []).map((pod) => ({ ...pod, portMap: { '8080': `127.0.0.1:${echoPort}` } })) }]),
    ),
  };
  const state: { cluster: FakeCluster; echo: RunningServer | undefined } = { cluster: await FakeCluster.start({ config }), echo };
  const port = Number(new URL(state.cluster.url).port);
  const reasons: DialReason[] = [];
  const pods: string[] = [];
  const connection = new ResilientConnection({
    target: async ({ reason, signal }) => {
      reasons.push(reason);
      if (via === 'pod/demo') return { server: state.cluster.url, path: portForwardPath('default', 'demo') };
      const resolved = await new TargetResolver({ target: { server: state.cluster.url }, namespace: 'default' }, via).resolve({ signal });
      pods.push(resolved.pod);
      return resolved.upgradeTarget;
    },
    protocol,
    ...TIMING,
  });
  const states: StateChange[] = [];
  connection.on('state', (change) => states.push(change));
  return {
    get cluster() {
      return state.cluster;
    },
    get echo() {
      return state.echo!;
    },
    echoPort,
    connection,
    reasons,
    pods,
    states,
    async restartCluster() {
      await state.cluster.close();
      state.cluster = await FakeCluster.start({ config, listen: { port } });
    },
    async closePodPort() {
      await state.echo?.close();
      state.echo = undefined;
    },
    async reopenPodPort() {
      state.echo = await startEchoServer(echoPort);
    },
    async close() {
      await within(connection.destroy(), 'the resilient connection to close');
      await state.cluster.close();
      await state.echo?.close();
      await expectNothingLeftSince(before, 'after close()');
    },
  } as Fixture;
}

/** One pair, a payload echoed through it, hashes compared. */
async function roundTrip(connection: ResilientConnection, bytes = 64 * 1024): Promise<void> {
  const pair = await connection.openPortStreams(8080);
  try {
    const payload = randomBytes(bytes);
    const echoed = await within(echoExactly(pair.data, payload), 'the echo through the forward');
    assert.equal(sha256(echoed), sha256(payload));
  } finally {
    pair.data.destroy();
  }
}

function nextReplacement(connection: ResilientConnection, timeoutMs = 10_000): Promise<Replacement> {
  return onceMatching<[Replacement]>(connection, 'replaced', () => true, 'a replacement', timeoutMs).then(([r]) => r);
}

for (const protocol of PROTOCOLS) {
  describe(`resilience over ${protocol}`, () => {
    test('the seed scenario, 20 times: the pod closes its port, one pair fails alone, the port reopens, the next pair works; no replacement', async () => {
      const f = await fixture(protocol);
      try {
        await roundTrip(f.connection);
        for (let i = 0; i < 20; i++) {
          await f.closePodPort();
          const pair = await f.connection.openPortStreams(8080);
          const failure = await echoExactly(pair.data, Buffer.from('hello')).then(
            () => assert.fail('a pair to a closed port must fail'),
            (error: unknown) => error,
          );
          pair.data.destroy();
          assert.ok(isKubemuxError(failure), `a typed error, got ${String(failure)}`);
          assert.match(await pair.errors, /connection refused/, 'the runtime says why, on that pair');
          await f.reopenPodPort();
          await roundTrip(f.connection);
        }
        const stats = f.connection.stats;
        assert.equal(stats.replacements, 0, 'a closed pod port is not a connection failure');
        assert.equal(stats.state, 'ready');
        if (protocol !== 'websocket-v4') assert.equal(stats.dials, 1, 'one connection all along');
      } finally {
        await f.close();
      }
    });

    test('the upgraded connection is reset (drop), then the cluster restarts on the same port: replaced', async () => {
      const f = await fixture(protocol);
      try {
        await roundTrip(f.connection);
        if (protocol !== 'websocket-v4') {
          const replaced = nextReplacement(f.connection);
          f.cluster.applyFault('drop');
          const replacement = await replaced;
          assert.equal(replacement.cause, 'connection-lost');
          assert.ok(isKubemuxError(replacement.error), 'the loss is typed');
          await roundTrip(f.connection);
        }
        const failedThenReplaced = protocol === 'websocket-v4' ? undefined : nextReplacement(f.connection);
        await f.restartCluster();
        if (failedThenReplaced !== undefined) await failedThenReplaced;
        await roundTrip(f.connection);
        await roundTrip(f.connection);
      } finally {
        await f.close();
      }
    });

    if (protocol !== 'websocket-v4') {
      test('a half-open connection (blackhole) is detected within the ping interval plus the deadline, then replaced', async () => {
        const f = await fixture(protocol);
        try {
          await roundTrip(f.connection);
          const lost = onceMatching<[StateChange]>(f.connection, 'state', (c) => c.state === 'replacing' || c.state === 'backing-off', 'the loss to be detected');
          const replaced = nextReplacement(f.connection);
          f.cluster.applyFault('blackhole');
          const [change] = await lost;
          assert.ok(isKubemuxError(change.error, ErrorCode.PING_TIMEOUT), `detected by a ping deadline, got ${change.error?.code}`);
          f.cluster.applyFault('clear');
          const replacement = await replaced;
          assert.ok(replacement.detectedAfterMs !== undefined && replacement.detectedAfterMs <= TIMING.pingIntervalMs + TIMING.pingTimeoutMs + LAG_ALLOWANCE_MS, `detected after ${replacement.detectedAfterMs} ms`);
          await roundTrip(f.connection, 1 << 20);
        } finally {
          await f.close();
        }
      });

      test('stalled stream creation: the opens time out, the probe answers, the stalled connection is replaced', async () => {
        const f = await fixture(protocol);
        try {
          await roundTrip(f.connection);
          const replaced = nextReplacement(f.connection);
          f.cluster.applyFault('stall');
          for (let i = 0; i < TIMING.openTimeoutMs; i++) {
            const outcome = await f.connection.openPortStreams(8080).then(
              (pair) => pair,
              (error: KubemuxError) => error,
            );
            if (!isKubemuxError(outcome)) {
              outcome.data.destroy();
              assert.fail('a stalled runtime accepted a pair');
            }
            assert.equal(outcome.code, ErrorCode.STREAM_OPEN_TIMEOUT);
            if (f.connection.stats.replacements > 0) break;
          }
          const replacement = await replaced;
          assert.equal(replacement.cause, 'stalled');
          f.cluster.applyFault('clear');
          await roundTrip(f.connection);
        } finally {
          await f.close();
        }
      });

      test('GOAWAY: make-before-break, the pair open on the old connection completes, hash-checked', async () => {
        const f = await fixture(protocol);
        try {
          const old = await f.connection.openPortStreams(8080);
          const first = randomBytes(256 * 1024);
          assert.equal(sha256(await echoExactly(old.data, first)), sha256(first));
          const replaced = nextReplacement(f.connection);
          f.cluster.applyFault('goaway');
          const replacement = await replaced;
          assert.equal(replacement.cause, 'draining');
          assert.equal(f.connection.stats.connections, 2, 'the old connection stays for its pair');
          const second = randomBytes(256 * 1024);
          assert.equal(sha256(await echoExactly(old.data, second)), sha256(second), 'the old pair goes on');
          await roundTrip(f.connection);
          old.data.destroy();
          await within(
            (async () => {
              while (f.connection.stats.connections > 1) await new Promise<void>((resolve) => setTimeout(resolve, 5));
            })(),
            'the drained connection to close',
          );
        } finally {
          await f.close();
        }
      });
    }

    if (protocol === 'websocket-v4') {
      test('v4: a half-open pair fails alone by its own ping deadline; the next pair works', async () => {
        const f = await fixture(protocol);
        try {
          const pair = await f.connection.openPortStreams(8080);
          const first = randomBytes(1024);
          assert.equal(sha256(await echoExactly(pair.data, first)), sha256(first));
          const failed = new Promise<unknown>((resolve) => pair.data.once('error', resolve));
          f.cluster.applyFault('blackhole');
          const error = await within(failed, 'the dead pair to fail', TIMING.pingIntervalMs + TIMING.pingTimeoutMs + LAG_ALLOWANCE_MS + 2000);
          assert.ok(isKubemuxError(error, ErrorCode.PING_TIMEOUT) && error.scope === 'stream', `a typed per-pair failure, got ${String(error)}`);
          f.cluster.applyFault('clear');
          await roundTrip(f.connection);
          assert.equal(f.connection.stats.replacements, 0, 'a dead pair is not a dead connection');
        } finally {
          await f.close();
        }
      });

      test('v4: a stalled runtime (no port prefix after the upgrade) fails the pair at its deadline', async () => {
        const f = await fixture(protocol);
        try {
          await roundTrip(f.connection);
          f.cluster.applyFault('stall');
          await assert.rejects(f.connection.openPortStreams(8080), (e: unknown) => isKubemuxError(e, ErrorCode.STREAM_OPEN_TIMEOUT));
          f.cluster.applyFault('clear');
          await roundTrip(f.connection);
        } finally {
          await f.close();
        }
      });
    }

    test('a slow but healthy link (every byte delayed, pings answered under the deadline) is not replaced', async () => {
      const f = await fixture(protocol);
      try {
        await roundTrip(f.connection);
        f.cluster.applyFault('delay', { ms: '120' });
        const pair = await f.connection.openPortStreams(8080);
        // Keep a pair open while pings go round, so that v4 has something to ping.
        const rtts: number[] = [];
        f.connection.on('rtt', (rtt) => rtts.push(rtt));
        await onceMatching<[number]>(f.connection, 'rtt', (rtt) => rtt >= 120, 'a delayed ping answer', 10_000);
        await onceMatching<[number]>(f.connection, 'rtt', (rtt) => rtt >= 120, 'another delayed ping answer', 10_000);
        const payload = randomBytes(256 * 1024);
        assert.equal(sha256(await within(echoExactly(pair.data, payload), 'the echo over the slow link', 20_000)), sha256(payload));
        pair.data.destroy();
        assert.equal(f.connection.stats.replacements, 0, 'slow is not dead');
        assert.equal(f.connection.state, 'ready');
        assert.ok(rtts.every((rtt) => rtt < TIMING.pingTimeoutMs), `every answer came under the deadline: ${rtts.map(Math.round).join(', ')}`);
        f.cluster.applyFault('clear');
      } finally {
        await f.close();
      }
    });

    for (const via of ['deploy/demo', 'svc/demo'] as const) {
      test(`the pod behind ${via} is replaced: the connection is lost, the new pod is found`, async () => {
        const f = await fixture(protocol, via);
        try {
          await roundTrip(f.connection);
          const before = f.pods.at(-1)!;
          const replaced = protocol === 'websocket-v4' ? undefined : nextReplacement(f.connection);
          f.cluster.applyFault('replace-pod', { name: before });
          if (replaced !== undefined) await replaced;
          // v4 dials with each pair: the old pod's path is refused (404), the target is resolved again.
          for (let attempt = 0; protocol === 'websocket-v4' && attempt < 20; attempt++) {
            const outcome = await f.connection.openPortStreams(8080).then(
              (pair) => {
                pair.data.destroy();
                return 'open';
              },
              (error: KubemuxError) => error,
            );
            if (outcome === 'open') break;
            await onceMatching<[StateChange]>(f.connection, 'state', (c) => c.state === 'ready', 'the next attempt');
          }
          await roundTrip(f.connection);
          const after = f.pods.at(-1)!;
          assert.notEqual(after, before, 'a new pod');
          assert.match(after, /^demo-[a-z0-9]{5}$/);
        } finally {
          await f.close();
        }
      });
    }

    test('upgrades refused with 503 for a while: backoff, opens fail fast, then recovery', async () => {
      const f = await fixture(protocol);
      try {
        await roundTrip(f.connection);
        f.cluster.applyFault('refuse', { status: '503' });
        const backingOff = onceMatching<[StateChange]>(f.connection, 'state', (c) => c.state === 'backing-off', 'backing off');
        if (protocol === 'websocket-v4') {
          // v4 dials with each pair: the next pair's upgrade meets the refusal.
          await assert.rejects(f.connection.openPortStreams(8080), (e: unknown) => isKubemuxError(e, ErrorCode.UPGRADE_REFUSED) && e.httpStatus === 503);
        } else {
          f.cluster.applyFault('drop');
        }
        const [change] = await backingOff;
        assert.ok(isKubemuxError(change.error, ErrorCode.UPGRADE_REFUSED) && change.error.httpStatus === 503);
        if (f.connection.state === 'backing-off') {
          await assert.rejects(f.connection.openPortStreams(8080), (e: unknown) => isKubemuxError(e, ErrorCode.UNAVAILABLE) && isKubemuxError(e.cause, ErrorCode.UPGRADE_REFUSED));
        }
        const replaced = nextReplacement(f.connection);
        f.cluster.applyFault('clear');
        await replaced;
        await roundTrip(f.connection);
      } finally {
        await f.close();
      }
    });

    test('401: one credential refresh at once, then unauthorized; recovery once accepted', async () => {
      const f = await fixture(protocol);
      try {
        await roundTrip(f.connection);
        f.cluster.applyFault('refuse', { status: '401' });
        const unauthorized = onceMatching<[StateChange]>(f.connection, 'state', (c) => c.state === 'unauthorized', 'the unauthorized state');
        if (protocol === 'websocket-v4') {
          // Each pair is an upgrade: the first 401 refreshes the credentials, the second gives up.
          await assert.rejects(f.connection.openPortStreams(8080), (e: unknown) => isKubemuxError(e, ErrorCode.UPGRADE_REFUSED) && e.httpStatus === 401);
          await assert.rejects(f.connection.openPortStreams(8080), (e: unknown) => isKubemuxError(e, ErrorCode.UPGRADE_REFUSED) && e.httpStatus === 401);
        } else {
          f.cluster.applyFault('drop');
        }
        await unauthorized;
        const refreshes = f.reasons.filter((r) => r === 'credentials-rejected').length;
        assert.equal(refreshes, 1, `one refresh before giving up, got reasons ${f.reasons.join(', ')}`);
        const replaced = nextReplacement(f.connection);
        f.cluster.applyFault('clear');
        await replaced;
        await roundTrip(f.connection);
      } finally {
        await f.close();
      }
    });
  });
}
