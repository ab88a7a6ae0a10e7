/**
 * The fake cluster's JSON config (validation that names the field) and its live state (pod
 * replacement, port resolution, watch history).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { isKubemuxError } from '../../../src/errors.js';
import { defaultClusterConfig, loadClusterConfig, parseHostPort, validateClusterConfig, type PodConfig } from '../../../src/server/cluster-config.js';
import { ClusterState } from '../../../src/server/cluster-state.js';
import { FakeCluster } from '../../../src/server/fake-cluster.js';

function tempDir(t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'kubemux-cluster-config-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Asserts that validating `document` fails with a usage error whose message contains `field`. */
function rejectsField(document: unknown, field: string, problem?: RegExp): void {
  assert.throws(
    () => validateClusterConfig(document, 'test.json'),
    (err) => {
      assert.ok(isKubemuxError(err, 'ERR_INVALID_ARGUMENT'), String(err));
      assert.equal(err.scope, 'usage');
      assert.ok(err.message.includes(field), `"${err.message}" should name ${field}`);
      if (problem !== undefined) assert.match(err.message, problem);
      return true;
    },
  );
}

const pod = (extra: Record<string, unknown> = {}): PodConfig => ({ name: 'p', containers: [{ name: 'c', ports: [{ containerPort: 80 }] }], ...extra }) as PodConfig;
const inDefault = (objects: Record<string, unknown>): unknown => ({ namespaces: { default: objects } });

test('the default config is valid and describes demo pod, deployment and service', () => {
  const config = validateClusterConfig(defaultClusterConfig());
  const ns = config.namespaces['default']!;
  assert.deepEqual(ns.pods!.map((p) => p.name), ['demo']);
  assert.deepEqual(ns.pods![0]!.labels, { app: 'demo' });
  assert.ok(ns.pods![0]!.containers[0]!.ports!.some((p) => p.name === 'http' && p.containerPort === 8080));
  assert.deepEqual(ns.deployments![0]!.selector.matchLabels, { app: 'demo' });
  assert.ok(ns.services![0]!.ports.some((p) => p.targetPort === 'http'));
  assert.ok(ns.services![0]!.ports.some((p) => typeof p.targetPort === 'number'));
});

test('validation errors name the offending field', () => {
  rejectsField({}, 'namespaces', /required/);
  rejectsField({ namespaces: {}, extra: 1 }, 'the document.extra', /not a known field/);
  rejectsField({ namespaces: { Bad_NS: {} } }, 'namespaces.Bad_NS');
  rejectsField(inDefault({ podz: [] }), 'namespaces.default.podz');
  rejectsField(inDefault({ pods: [pod({ name: 'UPPER' })] }), 'namespaces.default.pods[0].name', /DNS-1123/);
  rejectsField(inDefault({ pods: [pod({ containers: [] })] }), 'namespaces.default.pods[0].containers', /at least one/);
  rejectsField(inDefault({ pods: [pod({ containers: [{ name: 'c', ports: [{ containerPort: 70_000 }] }] })] }), 'namespaces.default.pods[0].containers[0].ports[0].containerPort', /1\.\.65535/);
  rejectsField(inDefault({ pods: [pod({ containers: [{ name: 'c', ports: [{ containerPort: 80, name: 'way-too-long-port-name' }] }] })] }), 'ports[0].name');
  rejectsField(inDefault({ pods: [pod({ containers: [{ name: 'c', ports: [{ containerPort: 80, protocol: 'HTTP' }] }] })] }), 'ports[0].protocol');
  rejectsField(inDefault({ pods: [pod({ labels: { app: 'has space' } })] }), 'namespaces.default.pods[0].labels.app');
  rejectsField(inDefault({ pods: [pod({ portMap: { http: '127.0.0.1:1' } })] }), 'portMap key "http"');
  rejectsField(inDefault({ pods: [pod({ portMap: { '80': 'nowhere' } })] }), 'namespaces.default.pods[0].portMap.80', /host:port/);
  rejectsField(inDefault({ pods: [pod(), pod()] }), 'namespaces.default.pods[1].name', /repeats/);
  rejectsField({ namespaces: { a: { pods: [pod({ uid: 'same' })] }, b: { pods: [pod({ uid: 'same' })] } } }, 'namespaces.b.pods[0].uid');
  rejectsField(inDefault({ services: [{ name: 's', selector: {}, ports: [{ port: 1 }, { port: 2 }] }] }), 'namespaces.default.services[0].ports[0].name', /more than one port/);
  rejectsField(inDefault({ services: [{ name: 's', selector: {}, ports: [{ port: 1, targetPort: 'Not_A_Name' }] }] }), 'services[0].ports[0].targetPort');
  rejectsField(inDefault({ services: [{ name: '1svc', selector: {}, ports: [{ port: 1 }] }] }), 'services[0].name', /DNS-1035/);
  rejectsField(inDefault({ deployments: [{ name: 'd', selector: { matchLabels: {} } }] }), 'deployments[0].selector.matchLabels', /at least one/);
  rejectsField(inDefault({ deployments: [{ name: 'd', selector: { matchLabels: { a: 'b' } }, replicas: -1 }] }), 'deployments[0].replicas');
  rejectsField(inDefault({ deployments: [{ name: 'd' }] }), 'deployments[0].selector', /required/);
});

test('pod status fields are validated like the rest: phase, readiness, times, node, restarts', () => {
  const pods = (extra: Record<string, unknown>): unknown => inDefault({ pods: [pod(extra)] });
  rejectsField(pods({ phase: 'Sleeping' }), 'pods[0].phase', /Pending, Running/);
  rejectsField(pods({ ready: 'yes' }), 'pods[0].ready', /true or false/);
  rejectsField(pods({ phase: 'Pending', ready: true }), 'pods[0].ready', /phase Pending/);
  rejectsField(pods({ creationTimestamp: '2025-01-01 00:00:00' }), 'pods[0].creationTimestamp', /RFC 3339/);
  rejectsField(pods({ creationTimestamp: '2025-13-45T00:00:00Z' }), 'pods[0].creationTimestamp', /not a valid date/);
  rejectsField(pods({ ready: false, readySince: '2025-01-01T00:00:00Z' }), 'pods[0].readySince', /not ready/);
  rejectsField(pods({ phase: 'Failed', readySince: '2025-01-01T00:00:00Z' }), 'pods[0].readySince', /not ready/);
  rejectsField(pods({ nodeName: 'Node_1' }), 'pods[0].nodeName', /DNS-1123/);
  rejectsField(pods({ nodeName: '' }), 'pods[0].nodeName', /only a Pending pod/);
  rejectsField(inDefault({ pods: [pod({ containers: [{ name: 'c', restartCount: -1 }] })] }), 'pods[0].containers[0].restartCount', /0\.\.2147483647/);
  rejectsField(inDefault({ pods: [pod({ containers: [{ name: 'c', restartCount: 1.5 }] })] }), 'pods[0].containers[0].restartCount');

  const valid = validateClusterConfig(
    pods({ phase: 'Pending', nodeName: '', creationTimestamp: '2025-01-01T00:00:00.5+02:00' }),
  ).namespaces['default']!.pods![0]!;
  assert.deepEqual([valid.phase, valid.nodeName, valid.creationTimestamp, valid.ready], ['Pending', '', '2025-01-01T00:00:00.5+02:00', undefined]);
});

test('pod status defaults to Running, ready since creation, on the fake node; configured values are kept', () => {
  const state = new ClusterState({
    namespaces: {
      default: {
        pods: [
          pod({ name: 'plain' }),
          pod({ name: 'set', creationTimestamp: '2025-01-01T00:00:00Z', readySince: '2025-01-01T00:05:00Z', nodeName: 'node-b', containers: [{ name: 'c', restartCount: 3 }] }),
          pod({ name: 'waiting', phase: 'Pending', nodeName: '' }),
          pod({ name: 'unready', ready: false }),
        ],
      },
    },
  });
  const plain = state.pod('default', 'plain')!;
  assert.deepEqual([plain.phase, plain.ready, plain.nodeName, plain.containers[0]!.restartCount], ['Running', true, 'kubemux-node', 0]);
  assert.equal(plain.readySince.getTime(), plain.createdAt.getTime());
  const set = state.pod('default', 'set')!;
  assert.equal(set.createdAt.toISOString(), '2025-01-01T00:00:00.000Z');
  assert.equal(set.readySince.toISOString(), '2025-01-01T00:05:00.000Z');
  assert.deepEqual([set.nodeName, set.containers[0]!.restartCount], ['node-b', 3]);
  const waiting = state.pod('default', 'waiting')!;
  assert.deepEqual([waiting.phase, waiting.ready, waiting.nodeName], ['Pending', false, '']);
  assert.deepEqual([state.pod('default', 'unready')!.phase, state.pod('default', 'unready')!.ready], ['Running', false]);

  // A replacement is a new pod: same phase, readiness and node, created now, no restarts.
  const before = Date.now();
  const { added } = state.replacePod('default', 'set')!;
  assert.deepEqual([added.phase, added.ready, added.nodeName, added.containers[0]!.restartCount], ['Running', true, 'node-b', 0]);
  assert.ok(added.createdAt.getTime() >= before - 1, 'created now, not at the old creation time');
  assert.equal(added.readySince.getTime(), added.createdAt.getTime());
  assert.equal(state.replacePod('default', 'waiting')!.added.phase, 'Pending');
});

test('loadClusterConfig reads JSON files and reports unreadable or non-JSON ones', async (t) => {
  const dir = tempDir(t);
  const good = join(dir, 'good.json');
  writeFileSync(good, JSON.stringify({ namespaces: { team: { pods: [pod({ portMap: { '80': '[::1]:8081' } })] } } }));
  const loaded = await loadClusterConfig(good);
  assert.equal(loaded.namespaces['team']!.pods![0]!.portMap!['80'], '[::1]:8081');
  const broken = join(dir, 'broken.json');
  writeFileSync(broken, '{ namespaces: ');
  await assert.rejects(loadClusterConfig(broken), (err) => isKubemuxError(err, 'ERR_INVALID_ARGUMENT') && err.message.includes('is not JSON'));
  await assert.rejects(loadClusterConfig(join(dir, 'absent.json')), (err) => isKubemuxError(err, 'ERR_INVALID_ARGUMENT') && err.message.includes('cannot read'));
  const badField = join(dir, 'bad.json');
  writeFileSync(badField, JSON.stringify(inDefault({ pods: [pod({ containers: [{ name: 'c', ports: [{ containerPort: 0 }] }] })] })));
  await assert.rejects(loadClusterConfig(badField), (err) => isKubemuxError(err) && err.message.includes(`${badField}: namespaces.default.pods[0].containers[0].ports[0].containerPort`));
});

test('host:port targets parse with IPv6 brackets and reject the rest', () => {
  assert.deepEqual(parseHostPort('127.0.0.1:8080'), { host: '127.0.0.1', port: 8080 });
  assert.deepEqual(parseHostPort('[::1]:9'), { host: '::1', port: 9 });
  assert.deepEqual(parseHostPort('echo.local:443'), { host: 'echo.local', port: 443 });
  for (const bad of ['::1:80', '[nothost]:1', 'host', 'host:0', 'host:65536', ':80']) assert.equal(parseHostPort(bad), undefined, bad);
});

test('state assigns uids, keeps configured ones, always has namespace default', () => {
  const state = new ClusterState({ namespaces: { team: { pods: [pod({ uid: 'fixed-uid' }), pod({ name: 'q' })] } } });
  assert.deepEqual(state.namespaces().map((n) => n.name), ['default', 'team']);
  assert.equal(state.pod('team', 'p')!.uid, 'fixed-uid');
  assert.match(state.pod('team', 'q')!.uid, /^[0-9a-f-]{36}$/);
  assert.deepEqual(state.pods().map((p) => p.name), ['p', 'q']);
  assert.equal(state.pods('default').length, 0);
});

test('replacePod keeps spec and labels, changes name and uid, and records the events', () => {
  const state = new ClusterState(defaultClusterConfig());
  const rvBefore = Number(state.resourceVersion);
  const events: string[] = [];
  const unsubscribe = state.onPodEvent((e) => events.push(`${e.type} ${e.pod.name}`));
  const old = state.pod('default', 'demo')!;
  const replacement = state.replacePod('default', 'demo')!;
  unsubscribe();
  assert.equal(replacement.removed, old);
  assert.equal(state.pod('default', replacement.added.name), replacement.added);
  assert.ok(Number(replacement.added.resourceVersion) > rvBefore);
  assert.notEqual(replacement.added.name, 'demo');
  assert.notEqual(replacement.added.uid, old.uid);
  assert.deepEqual(replacement.added.labels, old.labels);
  assert.deepEqual(replacement.added.containers, old.containers);
  assert.equal(state.pod('default', 'demo'), undefined);
  assert.deepEqual(state.podsSelectedBy('default', { app: 'demo' }).map((p) => p.name), [replacement.added.name]);
  assert.deepEqual(events, ['DELETED demo', `ADDED ${replacement.added.name}`]);
  assert.deepEqual(state.podEventsSince(rvBefore)!.map((e) => e.type), ['DELETED', 'ADDED']);
  assert.equal(state.replacePod('default', 'demo'), undefined);
  state.replacePod('default', replacement.added.name);
  assert.equal(state.onPodEvent(() => undefined)(), true);
});

test('the watch history forgets old events and says so', () => {
  const state = new ClusterState(defaultClusterConfig());
  let name = 'demo';
  for (let i = 0; i < 600; i++) name = state.replacePod('default', name)!.added.name; // 1200 events
  assert.equal(state.podEventsSince(1), undefined);
  assert.equal(state.podEventsSince(Number(state.resourceVersion))!.length, 0);
  assert.equal(state.podEventsSince(Number(state.resourceVersion) - 2)!.length, 2);
});

test('podTarget resolves ports through portMap, else to loopback', () => {
  const state = new ClusterState({ namespaces: { default: { pods: [pod({ portMap: { '80': '[::1]:8081', '81': 'localhost:9' } })] } } });
  const target = state.podTarget(state.pod('default', 'p')!);
  assert.equal(target.name, 'p');
  assert.deepEqual(target.resolvePort(80), { host: '::1', port: 8081 });
  assert.deepEqual(target.resolvePort(81), { host: 'localhost', port: 9 });
  assert.deepEqual(target.resolvePort(8080), { host: '127.0.0.1', port: 8080 });
});

test('addPod validates and refuses a taken name; deletePod removes', () => {
  const state = new ClusterState(defaultClusterConfig());
  assert.throws(() => state.addPod('default', { name: 'demo', containers: [{ name: 'c' }] }), (err) => isKubemuxError(err, 'ERR_INVALID_ARGUMENT'));
  assert.throws(() => state.addPod('default', { name: 'Bad', containers: [{ name: 'c' }] }), (err) => isKubemuxError(err, 'ERR_INVALID_ARGUMENT'));
  const added = state.addPod('fresh', { name: 'x', labels: { app: 'demo' }, containers: [{ name: 'c' }] });
  assert.equal(state.namespace('fresh')?.name, 'fresh');
  assert.equal(state.pod('fresh', 'x'), added);
  assert.equal(state.deletePod('fresh', 'x'), added);
  assert.equal(state.deletePod('fresh', 'x'), undefined);
});

test('writeKubeconfig writes an owner-only JSON kubeconfig', async (t) => {
  const dir = tempDir(t);
  const cluster = await FakeCluster.start();
  t.after(() => cluster.close());
  const path = join(dir, 'kubeconfig');
  await cluster.writeKubeconfig(path);
  assert.equal(statSync(path).mode & 0o777, 0o600);
});
