/**
 * kubemux picks the pod real kubectl picks: for deployments and services whose pods differ in
 * exactly one of kubectl's ordering keys (readiness, how long ready, restarts, age, phase,
 * scheduling), `kubectl port-forward deploy/NAME` is run against the fake cluster, the pod its
 * upgrade request went to is read from the cluster's request log, and TargetResolver must name
 * the same pod. Where kubectl refuses (the chosen pod is not running), kubemux must refuse with
 * the same words. Pod names are chosen so that alphabetical order never gives the answer away.
 * Skipped without a kubectl on PATH.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { TargetResolver } from '../../src/resilience/target-resolver.js';
import type { ClusterConfig, PodConfig } from '../../src/server/cluster-config.js';
import { FakeCluster } from '../../src/server/fake-cluster.js';
import { NO_KUBECTL_ON_PATH, pathKubectl, startPortForward } from '../support/kubectl.js';

interface Scenario {
  readonly name: string;
  /** The pods of app=<name>; the first is never kubectl's choice. */
  readonly pods: readonly Omit<PodConfig, 'labels' | 'containers'>[];
  /** kubectl's choice, or the start of the error it prints. */
  readonly expected: { readonly pod: string } | { readonly error: string };
}

const SCENARIOS: readonly Scenario[] = [
  { name: 'ready', pods: [{ name: 'a-unready', ready: false }, { name: 'b-ready' }], expected: { pod: 'b-ready' } },
  {
    name: 'ready-longest',
    pods: [
      { name: 'a-recent', creationTimestamp: '2025-01-01T00:00:00Z', readySince: '2025-01-01T00:30:00Z' },
      { name: 'b-longest', creationTimestamp: '2025-01-01T00:10:00Z', readySince: '2025-01-01T00:11:00Z' },
      { name: 'c-middle', creationTimestamp: '2025-01-01T00:00:00Z', readySince: '2025-01-01T00:20:00Z' },
    ],
    expected: { pod: 'b-longest' },
  },
  {
    name: 'restarts',
    pods: [
      { name: 'a-flaky', creationTimestamp: '2025-01-01T00:00:00Z', readySince: '2025-01-01T00:05:00Z' },
      { name: 'b-calm', creationTimestamp: '2025-01-01T00:00:00Z', readySince: '2025-01-01T00:05:00Z' },
    ],
    expected: { pod: 'b-calm' },
  },
  {
    name: 'oldest',
    pods: [
      { name: 'a-newer', creationTimestamp: '2025-01-02T00:00:00Z', ready: false },
      { name: 'b-older', creationTimestamp: '2025-01-01T00:00:00Z', ready: false },
    ],
    expected: { pod: 'b-older' },
  },
  { name: 'phase', pods: [{ name: 'a-pending', phase: 'Pending' }, { name: 'b-running-unready', ready: false }], expected: { pod: 'b-running-unready' } },
  {
    name: 'unscheduled',
    pods: [{ name: 'a-unscheduled', phase: 'Pending', nodeName: '' }, { name: 'b-creating', phase: 'Pending' }],
    expected: { error: 'unable to forward port because pod is not running. Current status=Pending' },
  },
];

/** Restart counts per pod (the config puts them on containers). */
const RESTARTS: Readonly<Record<string, number>> = { 'a-flaky': 4 };

function config(): ClusterConfig {
  const pods: PodConfig[] = SCENARIOS.flatMap((scenario) =>
    scenario.pods.map((pod) => ({
      ...pod,
      labels: { app: scenario.name },
      containers: [{ name: 'app', ports: [{ containerPort: 8080, name: 'http' }], restartCount: RESTARTS[pod.name] ?? 0 }],
    })),
  );
  return {
    namespaces: {
      default: {
        pods,
        deployments: SCENARIOS.map((s) => ({ name: s.name, selector: { matchLabels: { app: s.name } }, replicas: s.pods.length })),
        services: SCENARIOS.map((s) => ({ name: s.name, selector: { app: s.name }, ports: [{ port: 80, targetPort: 'http' }] })),
      },
    },
  };
}

/** What kubectl prints when it refuses to forward `target` (fails the test if it forwards). */
function kubectlRefusal(kubectl: string, serverUrl: string, target: string, remotePort: number | string): Promise<string> {
  return startPortForward({ kubectl, serverUrl, target, remotePort, websockets: 'unset', readyTimeoutMs: 15_000 }).then(
    async (forward) => {
      await forward.stop();
      return assert.fail(`kubectl forwarded: ${forward.output()}`);
    },
    (err: Error) => err.message,
  );
}

describe('the pod kubectl port-forward chooses is the pod kubemux chooses', () => {
  const kubectl = pathKubectl();
  for (const scenario of SCENARIOS) {
    for (const kind of ['deploy', 'svc'] as const) {
      test(`${kind}/${scenario.name}: ${'pod' in scenario.expected ? scenario.expected.pod : 'refused'}`, async (t) => {
        if (kubectl === undefined) {
          t.skip(NO_KUBECTL_ON_PATH);
          return;
        }
        const upgrades: string[] = [];
        const cluster = await FakeCluster.start({
          config: config(),
          log: (line) => {
            const match = /^UPGRADE \S+ \/api\/v1\/namespaces\/default\/pods\/([^/?]+)\/portforward/.exec(line);
            if (match !== null) upgrades.push(match[1]!);
          },
        });
        t.after(() => cluster.close());
        const target = `${kind}/${scenario.name}`;
        const ours = (): Promise<unknown> => new TargetResolver({ target: { server: cluster.url }, namespace: 'default' }, target).resolve();

        const { expected } = scenario;
        if ('pod' in expected) {
          const forward = await startPortForward({ kubectl, serverUrl: cluster.url, target, remotePort: kind === 'svc' ? 80 : 8080, websockets: 'unset' });
          t.after(() => forward.stop());
          // kubectl dials before it prints "Forwarding from": the upgrade is logged by now.
          assert.deepEqual(upgrades, [expected.pod], forward.output());
          assert.equal(((await ours()) as { pod: string }).pod, expected.pod);
        } else {
          const refused = await kubectlRefusal(kubectl, cluster.url, target, kind === 'svc' ? 80 : 8080);
          assert.ok(refused.includes(expected.error), refused);
          await assert.rejects(ours(), (err: Error) => err.message.startsWith(expected.error));
          assert.deepEqual(upgrades, []);
        }
      });
    }
  }
});

describe('kubemux refuses a port in kubectl\'s words', () => {
  const kubectl = pathKubectl();
  const cases: readonly { target: string; remote: number | string }[] = [
    { target: 'deploy/ready', remote: 'grpc' },
    { target: 'svc/ready', remote: 8080 },
    { target: 'svc/ready', remote: 'grpc' },
    { target: 'pod/b-ready', remote: 'metrics' },
  ];
  for (const { target, remote } of cases) {
    test(`${target} :${remote}`, async (t) => {
      if (kubectl === undefined) {
        t.skip(NO_KUBECTL_ON_PATH);
        return;
      }
      const cluster = await FakeCluster.start({ config: config() });
      t.after(() => cluster.close());
      const refused = await kubectlRefusal(kubectl, cluster.url, target, remote);
      const resolved = await new TargetResolver({ target: { server: cluster.url }, namespace: 'default' }, target).resolve();
      const ours = ((): string => {
        try {
          return `resolved to ${resolved.resolvePort(remote)}`;
        } catch (err) {
          return (err as Error).message;
        }
      })();
      assert.ok(refused.includes(`error: ${ours}\n`), `kubectl: ${refused}\nkubemux: ${ours}`);
    });
  }
});
