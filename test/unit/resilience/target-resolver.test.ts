/**
 * TargetResolver against a real FakeCluster over loopback (and hand-written API servers for
 * refusals and early-ending watches): pods, bare names, deployments and services; kubectl's pod
 * choice and port mapping; waiting for a pod; pod replacement; credentials; abort; and a dial
 * through what it resolved, bytes hash-checked.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { isKubemuxError, type KubemuxError } from '../../../src/errors.js';
import { TargetResolver, type ClusterAccess, type PodWait, type ResolvedTarget } from '../../../src/resilience/target-resolver.js';
import type { Clock, TimerHandle } from '../../../src/util/clock.js';
import { defaultClusterConfig, type ClusterConfig, type PodConfig } from '../../../src/server/cluster-config.js';
import { FakeCluster } from '../../../src/server/fake-cluster.js';
import { dialPortForward } from '../../../src/transport/dial.js';
import { fromKubeConfig } from '../../../src/transport/api/kubeconfig.js';
import { within } from '../../support/deadlines.js';
import { listenLoopback, tempDir } from '../../support/kube-fixtures.js';
import { closedPort, startDemoCluster } from '../../support/servers.js';
import { randomBytes, readAll, sha256, writeAllAndEnd } from '../../support/streams.js';

async function startCluster(t: TestContext, options: Parameters<typeof FakeCluster.start>[0] = {}): Promise<FakeCluster> {
  const cluster = await FakeCluster.start(options);
  t.after(() => cluster.close());
  return cluster;
}

const access = (cluster: FakeCluster, namespace = 'default'): ClusterAccess => ({ target: { server: cluster.url }, namespace });

/** Resolves and returns the error, asserting its code (and scope, when given). */
async function failure(promise: Promise<unknown>, code: string, scope?: string): Promise<KubemuxError> {
  const error = await within(promise.then(() => assert.fail('expected a failure'), (err: unknown) => err), 'the resolution');
  assert.ok(isKubemuxError(error), String(error));
  assert.equal(error.code, code, error.message);
  if (scope !== undefined) assert.equal(error.scope, scope);
  return error;
}

const container = (ports: { containerPort: number; name?: string; protocol?: 'TCP' | 'UDP' }[] = [{ containerPort: 8080, name: 'http' }], restartCount = 0): PodConfig['containers'][number] => ({
  name: 'app',
  ports,
  restartCount,
});

/** Five pods of app=web in every state kubectl's ordering tells apart; web-e is its choice. */
const WEB_PODS: PodConfig[] = [
  { name: 'web-a', labels: { app: 'web' }, phase: 'Pending', containers: [container()] },
  { name: 'web-b', labels: { app: 'web' }, ready: false, containers: [container()] },
  { name: 'web-c', labels: { app: 'web' }, creationTimestamp: '2025-01-01T00:00:00Z', readySince: '2025-01-01T00:10:00Z', containers: [container()] },
  { name: 'web-d', labels: { app: 'web' }, creationTimestamp: '2025-01-01T00:00:00Z', readySince: '2025-01-01T00:05:00Z', containers: [container(undefined, 2)] },
  { name: 'web-e', labels: { app: 'web' }, creationTimestamp: '2025-01-01T00:01:00Z', readySince: '2025-01-01T00:05:00Z', containers: [container([{ containerPort: 9000, name: 'http' }])] },
];

function webConfig(): ClusterConfig {
  return {
    namespaces: {
      default: {
        pods: [...WEB_PODS, { name: 'stuck-1', labels: { app: 'stuck' }, phase: 'Pending', containers: [container()] }],
        deployments: [
          { name: 'web', selector: { matchLabels: { app: 'web' } }, replicas: 5 },
          { name: 'stuck', selector: { matchLabels: { app: 'stuck' } } },
          { name: 'later', selector: { matchLabels: { app: 'later' } } },
        ],
        services: [
          { name: 'web', selector: { app: 'web' }, ports: [{ name: 'http', port: 80, targetPort: 'http' }, { name: 'raw', port: 81, targetPort: 8081 }] },
          { name: 'later', selector: { app: 'later' }, ports: [{ port: 80 }] },
          { name: 'external', selector: {}, ports: [{ port: 80 }] },
        ],
      },
      team: { pods: [{ name: 'tool', containers: [container()] }] },
    },
  };
}

function checkResolved(resolved: ResolvedTarget, cluster: FakeCluster, expected: { kind: string; name: string; pod: string; namespace?: string }): void {
  const namespace = expected.namespace ?? 'default';
  assert.equal(resolved.kind, expected.kind);
  assert.equal(resolved.name, expected.name);
  assert.equal(resolved.namespace, namespace);
  assert.equal(resolved.pod, expected.pod);
  assert.equal(resolved.podUid, cluster.state.pod(namespace, expected.pod)!.uid);
  assert.equal(resolved.upgradeTarget.server, cluster.url);
  assert.equal(resolved.upgradeTarget.path, `/api/v1/namespaces/${namespace}/pods/${expected.pod}/portforward`);
}

test('pod/NAME, a bare NAME, deploy/NAME and svc/NAME resolve to the pod and its ports', async (t) => {
  const cluster = await startCluster(t);
  for (const [text, kind] of [['pod/demo', 'pod'], ['demo', 'pod'], ['deploy/demo', 'deployment'], ['svc/demo', 'service']] as const) {
    const resolved = await new TargetResolver(access(cluster), text).resolve();
    checkResolved(resolved, cluster, { kind, name: 'demo', pod: 'demo' });
    assert.equal(resolved.candidates, 1);
    if (kind === 'service') {
      assert.equal(resolved.resolvePort(80), 8080, 'service port 80 -> targetPort http -> 8080');
      assert.equal(resolved.resolvePort('http'), 8080, 'by the service port name');
      assert.equal(resolved.resolvePort(5432), 5432, 'numeric targetPort');
    } else {
      assert.equal(resolved.resolvePort('http'), 8080, 'named container port');
      assert.equal(resolved.resolvePort('db'), 5432);
      assert.equal(resolved.resolvePort(7000), 7000);
    }
  }
  const team = await new TargetResolver(access(await startCluster(t, { config: webConfig() }), 'team'), 'tool').resolve();
  assert.equal(team.upgradeTarget.path, '/api/v1/namespaces/team/pods/tool/portforward');
});

test('ports that do not exist fail with kubectl\'s messages', async (t) => {
  const cluster = await startCluster(t);
  const pod = await new TargetResolver(access(cluster), 'deploy/demo').resolve();
  assert.throws(() => pod.resolvePort('grpc'), (err) => isKubemuxError(err, 'ERR_TARGET_NOT_FOUND') && err.scope === 'stream' && err.message === "Pod 'demo' does not have a named port 'grpc'");
  const svc = await new TargetResolver(access(cluster), 'svc/demo').resolve();
  assert.throws(() => svc.resolvePort(8080), (err) => isKubemuxError(err, 'ERR_TARGET_NOT_FOUND') && err.message === 'Service demo does not have a service port 8080');
  assert.throws(() => svc.resolvePort('grpc'), (err) => isKubemuxError(err, 'ERR_TARGET_NOT_FOUND') && err.message === "Service 'demo' does not have a named port 'grpc'");
});

test('UDP-only ports are refused as kubectl refuses them', async (t) => {
  const config: ClusterConfig = {
    namespaces: {
      default: {
        pods: [{ name: 'dns', labels: { app: 'dns' }, containers: [container([{ containerPort: 53, name: 'dns', protocol: 'UDP' }, { containerPort: 8080, name: 'http' }])] }],
        services: [{ name: 'dns', selector: { app: 'dns' }, ports: [{ name: 'dns', port: 53, protocol: 'UDP' }, { name: 'http', port: 80, targetPort: 8080 }] }],
      },
    },
  };
  const cluster = await startCluster(t, { config });
  const pod = await new TargetResolver(access(cluster), 'pod/dns').resolve();
  assert.throws(() => pod.resolvePort(53), (err) => isKubemuxError(err, 'ERR_INVALID_ARGUMENT') && err.message === 'UDP protocol is not supported for 53');
  assert.throws(() => pod.resolvePort('dns'), (err) => isKubemuxError(err, 'ERR_INVALID_ARGUMENT') && err.message === 'UDP protocol is not supported for dns');
  const svc = await new TargetResolver(access(cluster), 'svc/dns').resolve();
  assert.throws(() => svc.resolvePort('dns'), (err) => isKubemuxError(err, 'ERR_INVALID_ARGUMENT'));
  assert.equal(svc.resolvePort(80), 8080);
});

test('among several pods, deployments and services pick kubectl\'s: scheduled, Running, ready, ready longest, fewest restarts, oldest', async (t) => {
  const cluster = await startCluster(t, { config: webConfig() });
  const deploy = await new TargetResolver(access(cluster), 'deploy/web').resolve();
  checkResolved(deploy, cluster, { kind: 'deployment', name: 'web', pod: 'web-e' });
  assert.equal(deploy.candidates, 5);
  assert.equal(deploy.resolvePort('http'), 9000, 'ports are read from the chosen pod');
  const svc = await new TargetResolver(access(cluster), 'service/web').resolve();
  checkResolved(svc, cluster, { kind: 'service', name: 'web', pod: 'web-e' });
  assert.equal(svc.resolvePort(80), 9000, 'the named targetPort in the chosen pod');
  assert.equal(svc.resolvePort('raw'), 8081);

  // Take the winners away one by one: the next is kubectl's next.
  for (const [gone, next] of [['web-e', 'web-d'], ['web-d', 'web-c'], ['web-c', 'web-b']] as const) {
    cluster.state.deletePod('default', gone);
    assert.equal((await new TargetResolver(access(cluster), 'deploy/web').resolve()).pod, next);
  }
});

test('a pod that is not Running fails with kubectl\'s message', async (t) => {
  const cluster = await startCluster(t, { config: webConfig() });
  const viaDeployment = await failure(new TargetResolver(access(cluster), 'deploy/stuck').resolve(), 'ERR_TARGET_NOT_FOUND', 'transport');
  assert.equal(viaDeployment.message, 'unable to forward port because pod is not running. Current status=Pending (pod stuck-1 of deployment/stuck)');
  const direct = await failure(new TargetResolver(access(cluster), 'stuck-1').resolve(), 'ERR_TARGET_NOT_FOUND');
  assert.match(direct.message, /^unable to forward port because pod is not running\. Current status=Pending \(pod stuck-1\)$/);
});

test('missing objects are ERR_TARGET_NOT_FOUND with the API server\'s message and httpStatus 404', async (t) => {
  const cluster = await startCluster(t, { config: webConfig() });
  for (const [text, message] of [
    ['pod/ghost', 'pods "ghost" not found'],
    ['ghost', 'pods "ghost" not found'],
    ['deploy/ghost', 'deployments.apps "ghost" not found'],
    ['svc/ghost', 'services "ghost" not found'],
  ] as const) {
    const error = await failure(new TargetResolver(access(cluster), text).resolve(), 'ERR_TARGET_NOT_FOUND', 'transport');
    assert.equal(error.message, message);
    assert.equal(error.httpStatus, 404);
  }
  const noSelector = await failure(new TargetResolver(access(cluster), 'svc/external').resolve(), 'ERR_TARGET_NOT_FOUND');
  assert.match(noSelector.message, /invalid service 'external': Service is defined without a selector/);
  assert.equal(noSelector.httpStatus, undefined);
});

test('with no pod, the resolver waits for one to appear, as kubectl does', async (t) => {
  const cluster = await startCluster(t, { config: webConfig() });
  const waits: PodWait[] = [];
  const resolver = new TargetResolver(access(cluster), 'svc/later', {
    onWaitingForPod: (wait) => {
      waits.push(wait);
      // The watch is in place: the pod comes now.
      cluster.state.addPod('default', { name: 'later-1', labels: { app: 'later' }, containers: [container([{ containerPort: 80 }])] });
    },
  });
  const resolved = await within(resolver.resolve(), 'the wait for later-1');
  checkResolved(resolved, cluster, { kind: 'service', name: 'later', pod: 'later-1' });
  assert.equal(resolved.candidates, 1);
  assert.equal(resolved.resolvePort(80), 80);
  assert.deepEqual(waits, [{ target: { kind: 'service', name: 'later' }, namespace: 'default', selector: 'app=later', timeoutMs: 60_000 }]);

  // kubectl takes the first pod that appears, whatever its phase, then finds it is not running.
  cluster.state.deletePod('default', 'later-1');
  const pending = new TargetResolver(access(cluster), 'deploy/later', {
    onWaitingForPod: () => void cluster.state.addPod('default', { name: 'later-2', labels: { app: 'later' }, phase: 'Pending', containers: [container()] }),
  });
  const error = await failure(pending.resolve(), 'ERR_TARGET_NOT_FOUND');
  assert.match(error.message, /pod is not running\. Current status=Pending \(pod later-2 of deployment\/later\)/);
});

/** A clock whose timers run only when the test says so. */
function handClock(): Clock & { fire(ms: number): void; pending(): number[]; set(ms: number): Promise<void> } {
  const timers = new Map<TimerHandle, { callback: () => void; ms: number }>();
  const waiters: { ms: number; resolve: () => void }[] = [];
  return {
    now: () => 0,
    setTimeout(callback, ms) {
      const handle = {};
      timers.set(handle, { callback, ms });
      for (const waiter of waiters.filter((w) => w.ms === ms)) {
        waiters.splice(waiters.indexOf(waiter), 1);
        waiter.resolve();
      }
      return handle;
    },
    clearTimeout(handle) {
      if (handle !== undefined) timers.delete(handle);
    },
    fire(ms) {
      for (const [handle, timer] of [...timers]) {
        if (timer.ms !== ms) continue;
        timers.delete(handle);
        timer.callback();
      }
    },
    pending: () => [...timers.values()].map((timer) => timer.ms),
    /** Resolves once a timer of `ms` is set (at once if one is pending). */
    set(ms) {
      if ([...timers.values()].some((timer) => timer.ms === ms)) return Promise.resolve();
      return new Promise<void>((resolve) => waiters.push({ ms, resolve }));
    },
  };
}

test('the wait ends at podRunningTimeoutMs on the injected clock, with kubectl\'s words', async (t) => {
  const cluster = await startCluster(t, { config: webConfig() });
  const clock = handClock();
  const resolver = new TargetResolver(access(cluster), 'deploy/later', { podRunningTimeoutMs: 5_000, clock, onWaitingForPod: () => clock.fire(5_000) });
  const error = await failure(resolver.resolve(), 'ERR_TARGET_NOT_FOUND', 'transport');
  assert.equal(error.message, 'timed out waiting for the condition: no pod of deployment/later (selector app=later) appeared within 5000 ms (podRunningTimeoutMs)');
  assert.deepEqual(clock.pending(), [], 'no timer is left behind');
});

test('a watch that ends without a pod is followed, after a pause, by a fresh list', async (t) => {
  // A hand-written API server: the deployment, an empty list, a watch that ends at once, then a pod.
  const requests: string[] = [];
  let lists = 0;
  const pod = { metadata: { name: 'late', uid: 'uid-late' }, spec: { nodeName: 'n', containers: [{ name: 'c' }] }, status: { phase: 'Running' } };
  const server = http.createServer((req, res) => {
    requests.push(req.url!);
    res.writeHead(200, { 'Content-Type': 'application/json' });
    if (req.url!.includes('/deployments/')) res.end(JSON.stringify({ metadata: { name: 'web' }, spec: { selector: { matchLabels: { app: 'web' } } } }));
    else if (req.url!.includes('watch=true')) res.end(`${JSON.stringify({ type: 'ERROR', object: { kind: 'Status', code: 410, reason: 'Expired' } })}\n`);
    else res.end(JSON.stringify({ kind: 'PodList', metadata: { resourceVersion: String(++lists) }, items: lists === 1 ? [] : [pod] }));
  });
  const url = `http://127.0.0.1:${await listenLoopback(t, server)}`;
  const clock = handClock();
  const resolving = new TargetResolver({ target: { server: url }, namespace: 'default' }, 'deploy/web', { clock }).resolve();
  // The pause before listing again is on the clock: release it once it is there.
  await within(clock.set(1_000), 'the pause after the watch ended');
  clock.fire(1_000);
  const resolved = await within(resolving, 'the resolution');
  assert.equal(resolved.pod, 'late');
  assert.deepEqual(
    requests.map((r) => r.replace(/\?.*/, (q) => (q.includes('watch=true') ? '?watch' : '?list'))),
    ['/apis/apps/v1/namespaces/default/deployments/web', '/api/v1/namespaces/default/pods?list', '/api/v1/namespaces/default/pods?watch', '/api/v1/namespaces/default/pods?list'],
  );
  assert.match(requests[2]!, /labelSelector=app%3Dweb&watch=true&resourceVersion=1&timeoutSeconds=60$/);
});

test('replace-pod: the next resolution finds the new pod (new name, new uid); the old name is gone', async (t) => {
  const cluster = await startCluster(t);
  const resolver = new TargetResolver(access(cluster), 'deploy/demo');
  const before = await resolver.resolve();
  const { added } = cluster.applyFault('replace-pod', { name: 'demo' }) as { added: { name: string; uid: string } };
  const after = await resolver.resolve();
  assert.equal(after.pod, added.name);
  assert.equal(after.podUid, added.uid);
  assert.notEqual(after.podUid, before.podUid);
  assert.equal(after.upgradeTarget.path, `/api/v1/namespaces/default/pods/${added.name}/portforward`);
  const gone = await failure(new TargetResolver(access(cluster), 'pod/demo').resolve(), 'ERR_TARGET_NOT_FOUND');
  assert.equal(gone.message, 'pods "demo" not found');

  // A replacement with another port layout: ports are read from the new pod.
  cluster.state.deletePod('default', added.name);
  cluster.state.addPod('default', { name: 'demo-v2', labels: { app: 'demo' }, containers: [container([{ containerPort: 9090, name: 'http' }])] });
  const svc = await new TargetResolver(access(cluster), 'svc/demo').resolve();
  assert.equal(svc.pod, 'demo-v2');
  assert.equal(svc.resolvePort(80), 9090);
});

test('what the resolver returns is dialable: bytes go through the pod it chose, hash-checked', async (t) => {
  const demo = await startDemoCluster();
  t.after(() => demo.close());
  const resolved = await new TargetResolver(access(demo.cluster), 'svc/demo').resolve();
  const connection = await dialPortForward(resolved.upgradeTarget);
  t.after(() => connection.close());
  const pair = await connection.openPortStreams(resolved.resolvePort('http'));
  const payload = randomBytes(256 * 1024);
  const [echoed] = await Promise.all([readAll(pair.data), writeAllAndEnd(pair.data, payload)]);
  assert.equal(sha256(echoed), sha256(payload));
  assert.equal(demo.echo.connections, 1);
});

test('credentials: refreshed on every resolution; 401 and 403 are ERR_API_REFUSED with httpStatus', async (t) => {
  const cluster = await startCluster(t, { requireToken: 'good' });
  const stale = await failure(
    new TargetResolver({ target: { server: cluster.url, headers: { Authorization: 'Bearer stale' } }, namespace: 'default' }, 'deploy/demo').resolve(),
    'ERR_API_REFUSED',
    'transport',
  );
  assert.equal(stale.httpStatus, 401);
  assert.equal(stale.message, 'GET /apis/apps/v1/namespaces/default/deployments/demo refused with HTTP 401: Unauthorized');

  let refreshes = 0;
  const refreshing: ClusterAccess = {
    target: { server: cluster.url, headers: { Authorization: 'Bearer stale' } },
    namespace: 'default',
    refresh: async () => ({ server: cluster.url, headers: { Authorization: `Bearer ${++refreshes === 1 ? 'good' : 'newer'}` } }),
  };
  const resolver = new TargetResolver(refreshing, 'svc/demo');
  const first = await resolver.resolve();
  assert.deepEqual(first.upgradeTarget.headers, { Authorization: 'Bearer good' });
  // The server rotates its credential; the next resolution refreshes and gets the new one.
  cluster.setRequiredToken('newer');
  const second = await resolver.resolve();
  assert.deepEqual(second.upgradeTarget.headers, { Authorization: 'Bearer newer' });
  assert.equal(refreshes, 2);

  // A 403 from an API server kubemux did not write, with its Status message; and a 500.
  const forbidden = 'pods is forbidden: User "dev" cannot list resource "pods" in API group "" in the namespace "default"';
  const server = http.createServer((req, res) => {
    const deployment = req.url!.includes('/deployments/');
    const [code, reason, message] = deployment ? [200, '', ''] : req.url!.includes('namespaces/broken') ? [500, 'InternalError', 'etcd is down'] : [403, 'Forbidden', forbidden];
    res.writeHead(code, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify(deployment ? { metadata: { name: 'web' }, spec: { selector: { matchLabels: { app: 'web' } } } } : { kind: 'Status', apiVersion: 'v1', status: 'Failure', message, reason, code }));
  });
  const url = `http://127.0.0.1:${await listenLoopback(t, server)}`;
  const refused = await failure(new TargetResolver({ target: { server: url }, namespace: 'default' }, 'deploy/web').resolve(), 'ERR_API_REFUSED');
  assert.equal(refused.httpStatus, 403);
  assert.equal(refused.message, `GET /api/v1/namespaces/default/pods refused with HTTP 403: ${forbidden}`);
  const broken = await failure(new TargetResolver({ target: { server: url }, namespace: 'broken' }, 'pod/x').resolve(), 'ERR_API_REFUSED');
  assert.equal(broken.httpStatus, 500);
  assert.match(broken.message, /HTTP 500: etcd is down$/);
});

test('a KubeConnection from fromKubeConfig is a cluster the resolver takes as it is', async (t) => {
  const cluster = await startCluster(t, { requireToken: 'from-kubeconfig', config: webConfig() });
  const path = join(await tempDir(t), 'kubeconfig');
  await cluster.writeKubeconfig(path, { namespace: 'default' });
  const kube = await fromKubeConfig({ kubeconfigPath: path });
  const resolved = await new TargetResolver(kube, 'deploy/web').resolve();
  assert.equal(resolved.pod, 'web-e');
  assert.equal(resolved.upgradeTarget.headers?.['Authorization'], 'Bearer from-kubeconfig');
});

test('transport failures pass through as the transport reports them', async () => {
  const port = await closedPort();
  await failure(new TargetResolver({ target: { server: `http://127.0.0.1:${port}` }, namespace: 'default' }, 'pod/x').resolve(), 'ERR_CONNECT_FAILED', 'transport');
});

test('an answer that is not the object asked for is ERR_PROTOCOL', async (t) => {
  const server = http.createServer((req, res) => {
    res.writeHead(200, { 'Content-Type': 'text/html' });
    res.end(req.url!.includes('/pods/') ? '<html>login</html>' : '{"kind":"Status"}');
  });
  const url = `http://127.0.0.1:${await listenLoopback(t, server)}`;
  const html = await failure(new TargetResolver({ target: { server: url }, namespace: 'default' }, 'pod/x').resolve(), 'ERR_PROTOCOL', 'transport');
  assert.match(html.message, /not JSON/);
  await failure(new TargetResolver({ target: { server: url }, namespace: 'default' }, 'svc/x').resolve(), 'ERR_PROTOCOL');
});

test('abort: before the start, during the wait, during a refresh', async (t) => {
  const cluster = await startCluster(t, { config: webConfig() });
  const reason = new Error('the user pressed ^C');
  const early = await failure(new TargetResolver(access(cluster), 'pod/demo').resolve({ signal: AbortSignal.abort(reason) }), 'ERR_ABORTED', 'transport');
  assert.equal(early.name, 'AbortError');
  assert.equal(early.cause, reason);

  const controller = new AbortController();
  const waiting = new TargetResolver(access(cluster), 'deploy/later', { onWaitingForPod: () => controller.abort(reason) });
  const during = await failure(waiting.resolve({ signal: controller.signal }), 'ERR_ABORTED');
  assert.equal(during.cause, reason);
  assert.match(during.message, /resolving deployment\/later was aborted/);

  const hung: ClusterAccess = { target: { server: cluster.url }, namespace: 'default', refresh: () => new Promise(() => undefined) };
  const refreshing = new AbortController();
  const stuck = new TargetResolver(hung, 'pod/web-e').resolve({ signal: refreshing.signal });
  refreshing.abort(reason);
  assert.equal((await failure(stuck, 'ERR_ABORTED')).cause, reason);

  // Without an abort, a refresh that never ends is bounded by requestTimeoutMs.
  const clock = handClock();
  const slow = new TargetResolver(hung, 'pod/web-e', { clock, requestTimeoutMs: 7_000 }).resolve();
  await within(clock.set(7_000), 'the refresh deadline');
  clock.fire(7_000);
  const timedOut = await failure(slow, 'ERR_TIMEOUT', 'transport');
  assert.match(timedOut.message, /refreshing the credentials took longer than 7000 ms/);
  const failing: ClusterAccess = { ...hung, refresh: () => Promise.reject(new Error('exec plugin exited with 1')) };
  await assert.rejects(new TargetResolver(failing, 'pod/web-e').resolve(), /exec plugin exited with 1/);
});

test('bad targets, namespaces and options are usage errors, before anything is sent', async (t) => {
  const cluster = await startCluster(t);
  const usage = (fn: () => unknown, pattern: RegExp): void =>
    assert.throws(fn, (err) => isKubemuxError(err, 'ERR_INVALID_ARGUMENT') && err.scope === 'usage' && pattern.test(err.message));
  usage(() => new TargetResolver(access(cluster), 'sts/db'), /does not forward to statefulsets/);
  usage(() => new TargetResolver(access(cluster), { kind: 'pod', name: 'Bad' }), /not a valid pod name/);
  usage(() => new TargetResolver(access(cluster, 'Not_A_Namespace'), 'pod/x'), /namespace "Not_A_Namespace"/);
  usage(() => new TargetResolver({ namespace: 'default' } as unknown as ClusterAccess, 'pod/x'), /must have a target/);
  usage(() => new TargetResolver(access(cluster), 'pod/x', { podRunningTimeoutMs: 0 }), /podRunningTimeoutMs 0 is outside 1\.\.2147483647/);
  usage(() => new TargetResolver(access(cluster), 'pod/x', { requestTimeoutMs: 1.5 }), /requestTimeoutMs/);
  assert.equal(cluster.stats().requests, 0);
  const parsed = new TargetResolver(access(cluster), 'deploy/demo');
  assert.deepEqual([parsed.target, parsed.namespace], [{ kind: 'deployment', name: 'demo' }, 'default']);
});

test('the default cluster config resolves through every spelling kubectl accepts', async (t) => {
  const cluster = await startCluster(t, { config: defaultClusterConfig() });
  for (const text of ['po/demo', 'pods/demo', 'deployment/demo', 'deployments.apps/demo', 'service/demo', 'services/demo']) {
    assert.equal((await new TargetResolver(access(cluster), text).resolve()).pod, 'demo', text);
  }
});
