/**
 * The fake cluster's Kubernetes API and control routes over real loopback HTTP: discovery,
 * objects, metav1.Status errors, selectors, tables, watches, pod replacement, the portforward
 * route handing upgrades to the endpoint, fault validation and the loopback rule.
 */
import assert from 'node:assert/strict';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { connect, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { test, type TestContext } from 'node:test';
import { isKubemuxError } from '../../../src/errors.js';
import { defaultClusterConfig, type ClusterConfig } from '../../../src/server/cluster-config.js';
import { FakeCluster, isLoopbackAddress, isLoopbackHost } from '../../../src/server/fake-cluster.js';
import { humanDuration } from '../../../src/server/render.js';
import { matchesLabelSelector, parseFieldSelector, parseLabelSelector } from '../../../src/server/selectors.js';
import { PortForwardEndpoint, type PodTarget } from '../../../src/server/portforward/endpoint.js';

const TABLE_ACCEPT = 'application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json';
const AGGREGATED_ACCEPT =
  'application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json';
const TIMEOUT_MS = 5_000;

interface Reply {
  readonly status: number;
  readonly contentType: string;
  readonly text: string;
  readonly json: any;
}

function call(cluster: FakeCluster, method: string, path: string, headers: Record<string, string> = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(`${cluster.url}${path}`, { method, headers, agent: false, timeout: TIMEOUT_MS }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('end', () => {
        let json: unknown;
        try {
          json = JSON.parse(text);
        } catch {
          json = undefined;
        }
        resolve({ status: res.statusCode ?? 0, contentType: String(res.headers['content-type']), text, json });
      });
    });
    req.on('timeout', () => req.destroy(new Error(`${method} ${path} timed out`)));
    req.on('error', reject);
    req.end();
  });
}

async function startCluster(t: TestContext, options: Parameters<typeof FakeCluster.start>[0] = {}): Promise<FakeCluster> {
  const cluster = await FakeCluster.start(options);
  t.after(() => cluster.close());
  return cluster;
}

/** Sends a raw upgrade request and resolves with everything the server writes until it closes. */
function rawUpgrade(cluster: FakeCluster, method: string, path: string): Promise<string> {
  const { port } = new URL(cluster.url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), '127.0.0.1');
    let text = '';
    const timer = setTimeout(() => socket.destroy(new Error('raw upgrade timed out')), TIMEOUT_MS);
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => (text += chunk));
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(text);
    });
    socket.on('error', reject);
    socket.write(`${method} ${path} HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\nX-Stream-Protocol-Version: portforward.k8s.io\r\nContent-Length: 0\r\n\r\n`);
  });
}

test('discovery is legacy JSON even when aggregated discovery is asked for', async (t) => {
  const cluster = await startCluster(t);
  const api = await call(cluster, 'GET', '/api', { accept: AGGREGATED_ACCEPT });
  assert.equal(api.status, 200);
  assert.equal(api.contentType, 'application/json');
  assert.equal(api.json.kind, 'APIVersions');
  assert.deepEqual(api.json.versions, ['v1']);
  const apis = await call(cluster, 'GET', '/apis', { accept: AGGREGATED_ACCEPT });
  assert.equal(apis.contentType, 'application/json');
  assert.equal(apis.json.kind, 'APIGroupList');
  assert.deepEqual(apis.json.groups.map((g: { name: string }) => g.name), ['apps']);
  const core = await call(cluster, 'GET', '/api/v1');
  assert.equal(core.json.kind, 'APIResourceList');
  const coreNames = core.json.resources.map((r: { name: string }) => r.name);
  for (const name of ['pods', 'pods/portforward', 'services', 'namespaces']) assert.ok(coreNames.includes(name), name);
  const apps = await call(cluster, 'GET', '/apis/apps/v1');
  assert.equal(apps.json.groupVersion, 'apps/v1');
  assert.deepEqual(apps.json.resources[0].shortNames, ['deploy']);
  const version = await call(cluster, 'GET', '/version');
  assert.equal(version.json.major, '1');
  assert.match(version.json.gitVersion, /^v1\.\d+\.\d+/);
});

test('a pod is served Running with its labels, uid and named container ports', async (t) => {
  const cluster = await startCluster(t);
  const reply = await call(cluster, 'GET', '/api/v1/namespaces/default/pods/demo', { accept: 'application/json, */*' });
  assert.equal(reply.status, 200);
  const pod = reply.json;
  assert.equal(pod.kind, 'Pod');
  assert.equal(pod.apiVersion, 'v1');
  assert.equal(pod.metadata.name, 'demo');
  assert.equal(pod.metadata.uid, cluster.state.pod('default', 'demo')!.uid);
  assert.deepEqual(pod.metadata.labels, { app: 'demo' });
  assert.match(pod.metadata.creationTimestamp, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  assert.equal(pod.status.phase, 'Running');
  assert.deepEqual(pod.spec.containers[0].ports[0], { name: 'http', containerPort: 8080, protocol: 'TCP' });
  assert.equal(pod.status.containerStatuses[0].ready, true);
});

test('pod status follows the config: phase, conditions, container states, restarts, node', async (t) => {
  const config: ClusterConfig = {
    namespaces: {
      default: {
        pods: [
          { name: 'unscheduled', phase: 'Pending', nodeName: '', containers: [{ name: 'c' }] },
          { name: 'creating', phase: 'Pending', containers: [{ name: 'c' }] },
          { name: 'flaky', ready: false, creationTimestamp: '2025-01-01T00:00:00Z', containers: [{ name: 'a', restartCount: 2 }, { name: 'b', restartCount: 5 }] },
          { name: 'steady', creationTimestamp: '2025-01-01T00:00:00Z', readySince: '2025-01-01T00:01:00Z', nodeName: 'node-b', containers: [{ name: 'c' }] },
          { name: 'done', phase: 'Succeeded', containers: [{ name: 'c' }] },
        ],
      },
    },
  };
  const cluster = await startCluster(t, { config });
  const get = async (name: string): Promise<any> => (await call(cluster, 'GET', `/api/v1/namespaces/default/pods/${name}`)).json;
  const conditions = (pod: any): Record<string, string> => Object.fromEntries(pod.status.conditions.map((c: any) => [c.type, c.status]));

  const unscheduled = await get('unscheduled');
  assert.equal(unscheduled.status.phase, 'Pending');
  assert.equal(unscheduled.spec.nodeName, undefined, 'no node chosen yet');
  assert.deepEqual(conditions(unscheduled), { PodScheduled: 'False' });
  assert.equal(unscheduled.status.containerStatuses, undefined);
  assert.equal(unscheduled.status.podIP, undefined);

  const creating = await get('creating');
  assert.equal(creating.spec.nodeName, 'kubemux-node');
  assert.deepEqual(conditions(creating), { Initialized: 'False', Ready: 'False', ContainersReady: 'False', PodScheduled: 'True' });
  assert.deepEqual(creating.status.containerStatuses[0].state, { waiting: { reason: 'ContainerCreating' } });
  assert.equal(creating.status.podIP, undefined);

  const flaky = await get('flaky');
  assert.equal(flaky.status.phase, 'Running');
  assert.equal(flaky.metadata.creationTimestamp, '2025-01-01T00:00:00Z');
  assert.equal(conditions(flaky)['Ready'], 'False');
  assert.deepEqual(flaky.status.containerStatuses.map((c: any) => [c.ready, c.restartCount]), [[false, 2], [false, 5]]);

  const steady = await get('steady');
  assert.equal(steady.spec.nodeName, 'node-b');
  const ready = steady.status.conditions.find((c: any) => c.type === 'Ready');
  assert.deepEqual([ready.status, ready.lastTransitionTime], ['True', '2025-01-01T00:01:00Z']);

  assert.ok((await get('done')).status.containerStatuses[0].state.terminated);

  const names = async (fieldSelector: string): Promise<string[]> =>
    (await call(cluster, 'GET', `/api/v1/namespaces/default/pods?fieldSelector=${encodeURIComponent(fieldSelector)}`)).json.items.map((i: any) => i.metadata.name);
  assert.deepEqual(await names('status.phase=Pending'), ['creating', 'unscheduled']);
  assert.deepEqual(await names('spec.nodeName=node-b'), ['steady']);
  assert.deepEqual(await names('spec.nodeName='), ['unscheduled']);

  const table = await call(cluster, 'GET', '/api/v1/namespaces/default/pods', { accept: TABLE_ACCEPT });
  const rows = Object.fromEntries(table.json.rows.map((r: any) => [r.cells[0], r.cells.slice(1, 4)]));
  assert.deepEqual(rows['unscheduled'], ['0/1', 'Pending', '0']);
  assert.deepEqual(rows['creating'], ['0/1', 'ContainerCreating', '0']);
  assert.deepEqual(rows['flaky'], ['0/2', 'Running', '7']);
  assert.deepEqual(rows['done'], ['0/1', 'Completed', '0']);
});

test('requireToken answers 401 without the bearer token, to API and upgrade requests alike', async (t) => {
  const cluster = await startCluster(t, { requireToken: 'sesame' });
  const pod = '/api/v1/namespaces/default/pods/demo';
  const denied = await call(cluster, 'GET', pod);
  assert.equal(denied.status, 401);
  assert.deepEqual([denied.json.kind, denied.json.reason, denied.json.message], ['Status', 'Unauthorized', 'Unauthorized']);
  assert.equal((await call(cluster, 'GET', pod, { authorization: 'Bearer wrong' })).status, 401);
  assert.equal((await call(cluster, 'GET', pod, { authorization: 'Bearer sesame' })).status, 200);
  assert.match(await rawUpgrade(cluster, 'POST', `${pod}/portforward`), /^HTTP\/1\.1 401 /);
  assert.equal((await call(cluster, 'GET', '/kubemux/stats')).status, 200, 'the control routes stay open');
  assert.equal(JSON.parse(cluster.kubeconfig()).users[0].user.token, 'sesame', 'the kubeconfig carries the required token');

  cluster.setRequiredToken('rotated');
  assert.equal((await call(cluster, 'GET', pod, { authorization: 'Bearer sesame' })).status, 401);
  cluster.setRequiredToken(undefined);
  assert.equal((await call(cluster, 'GET', pod)).status, 200);
  assert.throws(() => cluster.setRequiredToken('two words'), (err) => isKubemuxError(err, 'ERR_INVALID_ARGUMENT'));
});

test('missing objects are 404 metav1.Status documents worded as the API server words them', async (t) => {
  const cluster = await startCluster(t);
  const pod = await call(cluster, 'GET', '/api/v1/namespaces/default/pods/nope');
  assert.equal(pod.status, 404);
  assert.equal(pod.contentType, 'application/json');
  assert.deepEqual(pod.json, {
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Failure',
    message: 'pods "nope" not found',
    reason: 'NotFound',
    details: { name: 'nope', kind: 'pods' },
    code: 404,
  });
  const deployment = await call(cluster, 'GET', '/apis/apps/v1/namespaces/default/deployments/gone', { accept: TABLE_ACCEPT });
  assert.equal(deployment.status, 404);
  assert.equal(deployment.json.message, 'deployments.apps "gone" not found');
  assert.deepEqual(deployment.json.details, { name: 'gone', group: 'apps', kind: 'deployments' });
  const namespace = await call(cluster, 'GET', '/api/v1/namespaces/elsewhere');
  assert.equal(namespace.json.message, 'namespaces "elsewhere" not found');
  const unknown = await call(cluster, 'GET', '/api/v1/configmaps');
  assert.equal(unknown.status, 404);
  assert.equal(unknown.json.message, 'the server could not find the requested resource');
  const write = await call(cluster, 'DELETE', '/api/v1/namespaces/default/pods/demo');
  assert.equal(write.status, 405);
  assert.equal(write.json.reason, 'MethodNotAllowed');
});

test('lists honour label and field selectors; bad selectors are 400 BadRequest', async (t) => {
  const config: ClusterConfig = {
    namespaces: {
      default: {
        pods: [
          { name: 'web-1', labels: { app: 'web', tier: 'front' }, containers: [{ name: 'c' }] },
          { name: 'web-2', labels: { app: 'web', tier: 'back' }, containers: [{ name: 'c' }] },
          { name: 'db', labels: { app: 'db' }, containers: [{ name: 'c' }] },
        ],
      },
      other: { pods: [{ name: 'web-3', labels: { app: 'web' }, containers: [{ name: 'c' }] }] },
    },
  };
  const cluster = await startCluster(t, { config });
  const names = async (path: string): Promise<string[]> => {
    const reply = await call(cluster, 'GET', path);
    assert.equal(reply.status, 200, reply.text);
    assert.equal(reply.json.kind, 'PodList');
    return reply.json.items.map((item: { metadata: { name: string } }) => item.metadata.name);
  };
  const list = '/api/v1/namespaces/default/pods';
  assert.deepEqual(await names(list), ['db', 'web-1', 'web-2']);
  assert.deepEqual(await names(`${list}?labelSelector=${encodeURIComponent('app=web')}`), ['web-1', 'web-2']);
  assert.deepEqual(await names(`${list}?labelSelector=${encodeURIComponent('app=web,tier=back')}`), ['web-2']);
  assert.deepEqual(await names(`${list}?labelSelector=${encodeURIComponent('app==web,tier!=back')}`), ['web-1']);
  assert.deepEqual(await names(`${list}?labelSelector=${encodeURIComponent('tier in (front,back),app')}`), ['web-1', 'web-2']);
  assert.deepEqual(await names(`${list}?labelSelector=${encodeURIComponent('!tier')}`), ['db']);
  assert.deepEqual(await names(`${list}?labelSelector=${encodeURIComponent('app=none')}`), []);
  assert.deepEqual(await names(`${list}?fieldSelector=${encodeURIComponent('metadata.name=db')}`), ['db']);
  assert.deepEqual(await names(`${list}?fieldSelector=${encodeURIComponent('metadata.name!=db,status.phase=Running')}`), ['web-1', 'web-2']);
  assert.deepEqual(await names(`/api/v1/pods?labelSelector=app%3Dweb`), ['web-1', 'web-2', 'web-3']);
  assert.deepEqual(await names('/api/v1/namespaces/missing/pods'), []);

  const listReply = await call(cluster, 'GET', list);
  assert.equal(listReply.json.items[0].kind, undefined, 'list items carry no kind, as from the API server');
  assert.match(listReply.json.metadata.resourceVersion, /^\d+$/);

  const badField = await call(cluster, 'GET', `${list}?fieldSelector=spec.magic%3Dyes`);
  assert.equal(badField.status, 400);
  assert.equal(badField.json.reason, 'BadRequest');
  assert.equal(badField.json.message, 'field label not supported: spec.magic');
  const badLabel = await call(cluster, 'GET', `${list}?labelSelector=${encodeURIComponent('a b c')}`);
  assert.equal(badLabel.status, 400);
  assert.match(badLabel.json.message, /^unable to parse requirement/);
});

test('kubectl get\'s Table Accept header gets server-side tables', async (t) => {
  const cluster = await startCluster(t);
  const pods = await call(cluster, 'GET', '/api/v1/namespaces/default/pods?limit=500', { accept: TABLE_ACCEPT });
  assert.equal(pods.json.kind, 'Table');
  assert.equal(pods.json.apiVersion, 'meta.k8s.io/v1');
  assert.deepEqual(
    pods.json.columnDefinitions.map((c: { name: string }) => c.name),
    ['Name', 'Ready', 'Status', 'Restarts', 'Age', 'IP', 'Node', 'Nominated Node', 'Readiness Gates'],
  );
  assert.deepEqual(pods.json.rows[0].cells.slice(0, 4), ['demo', '1/1', 'Running', '0']);
  assert.equal(pods.json.rows[0].object.kind, 'PartialObjectMetadata');
  assert.equal(pods.json.rows[0].object.metadata.name, 'demo');
  const svc = await call(cluster, 'GET', '/api/v1/namespaces/default/services/demo', { accept: TABLE_ACCEPT });
  assert.deepEqual(svc.json.rows[0].cells.slice(0, 5), ['demo', 'ClusterIP', cluster.state.service('default', 'demo')!.clusterIP, '<none>', '80/TCP,5432/TCP']);
  const deploy = await call(cluster, 'GET', '/apis/apps/v1/namespaces/default/deployments?includeObject=Object', { accept: TABLE_ACCEPT });
  assert.deepEqual(deploy.json.rows[0].cells.slice(0, 4), ['demo', '1/1', 1, 1]);
  assert.equal(deploy.json.rows[0].object.kind, 'Deployment');
  const beta = await call(cluster, 'GET', '/api/v1/namespaces', { accept: 'application/json;as=Table;v=v1beta1;g=meta.k8s.io' });
  assert.equal(beta.json.apiVersion, 'meta.k8s.io/v1beta1');
  const plain = await call(cluster, 'GET', '/api/v1/namespaces/default/services/demo', { accept: 'application/json' });
  assert.equal(plain.json.kind, 'Service');
  assert.deepEqual(plain.json.spec.ports[0], { name: 'http', protocol: 'TCP', port: 80, targetPort: 'http' });
});

test('replace-pod swaps the name and uid behind the same labels', async (t) => {
  const cluster = await startCluster(t);
  const before = cluster.state.pod('default', 'demo')!;
  const reply = await call(cluster, 'POST', '/kubemux/faults/replace-pod?name=demo');
  assert.equal(reply.status, 200, reply.text);
  assert.equal(reply.json.ok, true);
  assert.deepEqual(reply.json.removed, { name: 'demo', uid: before.uid });
  const added = reply.json.added as { name: string; uid: string };
  assert.match(added.name, /^demo-[bcdfghjklmnpqrstvwxz2456789]{5}$/);
  assert.notEqual(added.uid, before.uid);

  assert.equal((await call(cluster, 'GET', '/api/v1/namespaces/default/pods/demo')).status, 404);
  const fresh = await call(cluster, 'GET', `/api/v1/namespaces/default/pods/${added.name}`);
  assert.equal(fresh.json.metadata.uid, added.uid);
  assert.deepEqual(fresh.json.metadata.labels, { app: 'demo' });
  // What kubectl port-forward deploy/demo and svc/demo do: list by the selector.
  const selected = await call(cluster, 'GET', '/api/v1/namespaces/default/pods?labelSelector=app%3Ddemo');
  assert.deepEqual(selected.json.items.map((p: { metadata: { name: string } }) => p.metadata.name), [added.name]);
  const deployment = await call(cluster, 'GET', '/apis/apps/v1/namespaces/default/deployments/demo');
  assert.equal(deployment.json.status.readyReplicas, 1);

  // A second replacement derives its name from the same base, not from demo-xxxxx.
  const again = cluster.applyFault('replace-pod', { name: added.name, namespace: 'default' });
  assert.match((again['added'] as { name: string }).name, /^demo-[a-z0-9]{5}$/);
  assert.equal(cluster.state.pods('default').length, 1);
});

test('a pod watch reports the replacement as DELETED then ADDED', async (t) => {
  const cluster = await startCluster(t);
  const list = await call(cluster, 'GET', '/api/v1/namespaces/default/pods');
  const rv = list.json.metadata.resourceVersion as string;
  const events: Array<{ type: string; name: string }> = [];
  const res = await new Promise<IncomingMessage>((resolve, reject) => {
    const req = httpRequest(`${cluster.url}/api/v1/namespaces/default/pods?watch=true&labelSelector=app%3Ddemo&resourceVersion=${rv}`, { agent: false }, resolve);
    req.on('error', reject);
    req.end();
  });
  t.after(() => res.destroy());
  assert.equal(res.statusCode, 200);
  const two = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`watch saw ${JSON.stringify(events)} only`)), TIMEOUT_MS);
    let buffered = '';
    res.setEncoding('utf8');
    res.on('data', (chunk: string) => {
      buffered += chunk;
      let newline: number;
      while ((newline = buffered.indexOf('\n')) >= 0) {
        const event = JSON.parse(buffered.slice(0, newline)) as { type: string; object: { metadata: { name: string } } };
        buffered = buffered.slice(newline + 1);
        events.push({ type: event.type, name: event.object.metadata.name });
        if (events.length === 2) {
          clearTimeout(timer);
          resolve();
        }
      }
    });
  });
  const replaced = cluster.state.replacePod('default', 'demo')!;
  await two;
  assert.deepEqual(events, [
    { type: 'DELETED', name: 'demo' },
    { type: 'ADDED', name: replaced.added.name },
  ]);
});

class RecordingEndpoint extends PortForwardEndpoint {
  readonly upgrades: Array<{ method: string; pod: PodTarget; socket: Duplex }> = [];
  #onUpgrade: (() => void) | undefined;

  upgraded(): Promise<void> {
    return new Promise((resolve) => (this.#onUpgrade = resolve));
  }

  override handleUpgrade(req: IncomingMessage, socket: Duplex, _head: Buffer, pod: PodTarget): void {
    // Hold the connection open without answering, as a long-lived session would.
    this.upgrades.push({ method: req.method ?? '', pod, socket });
    this.#onUpgrade?.();
  }
}

test('portforward upgrades reach the endpoint with the resolved pod; close() ends them', async (t) => {
  const config = defaultClusterConfig();
  const pod = config.namespaces['default']!.pods![0]!;
  const withMap: ClusterConfig = { namespaces: { default: { ...config.namespaces['default'], pods: [{ ...pod, portMap: { '8080': '[::1]:18080' } }] } } };
  const endpoint = new RecordingEndpoint();
  const cluster = await startCluster(t, { config: withMap, endpoint });
  const { port } = new URL(cluster.url);
  const client: Socket = connect(Number(port), '127.0.0.1');
  t.after(() => client.destroy());
  const clientClosed = new Promise<void>((resolve) => client.once('close', () => resolve()));
  client.on('error', () => undefined);
  const upgraded = endpoint.upgraded();
  client.write('POST /api/v1/namespaces/default/pods/demo/portforward HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\nX-Stream-Protocol-Version: portforward.k8s.io\r\n\r\n');
  await upgraded;
  const [seen] = endpoint.upgrades;
  assert.equal(seen!.method, 'POST');
  assert.equal(seen!.pod.name, 'demo');
  assert.equal(seen!.pod.namespace, 'default');
  assert.equal(seen!.pod.uid, cluster.state.pod('default', 'demo')!.uid);
  assert.deepEqual(seen!.pod.resolvePort(8080), { host: '::1', port: 18080 });
  assert.deepEqual(seen!.pod.resolvePort(5432), { host: '127.0.0.1', port: 5432 });
  assert.equal(cluster.stats().upgrades, 1);
  await cluster.close();
  await clientClosed;
  assert.ok(seen!.socket.destroyed);
});

test('portforward requests for missing pods, wrong methods or without upgrade get API server answers', async (t) => {
  const cluster = await startCluster(t);
  const missing = await rawUpgrade(cluster, 'POST', '/api/v1/namespaces/default/pods/ghost/portforward');
  assert.match(missing, /^HTTP\/1\.1 404 /);
  assert.ok(missing.includes('"message":"pods \\"ghost\\" not found"'), missing);
  const put = await rawUpgrade(cluster, 'PUT', '/api/v1/namespaces/default/pods/demo/portforward');
  assert.match(put, /^HTTP\/1\.1 405 /);
  const plain = await call(cluster, 'POST', '/api/v1/namespaces/default/pods/demo/portforward');
  assert.equal(plain.status, 400);
  assert.match(plain.text, /Upgrade request required/);
  const plainMissing = await call(cluster, 'GET', '/api/v1/namespaces/default/pods/ghost/portforward');
  assert.equal(plainMissing.status, 404);
  assert.equal(plainMissing.json.reason, 'NotFound');
  assert.equal(cluster.stats().upgrades, 0);
});

test('fault routes validate the action and its parameters', async (t) => {
  const cluster = await startCluster(t);
  const unknown = await call(cluster, 'POST', '/kubemux/faults/explode');
  assert.equal(unknown.status, 400);
  assert.equal(unknown.json.ok, false);
  assert.match(unknown.json.error, /unknown fault action "explode"; expected one of drop, blackhole, stall, refuse, goaway, delay, replace-pod, clear/);
  assert.equal((await call(cluster, 'GET', '/kubemux/faults/drop')).status, 405);
  assert.equal((await call(cluster, 'POST', '/kubemux/faults/replace-pod')).status, 400);
  const ghost = await call(cluster, 'POST', '/kubemux/faults/replace-pod?name=ghost');
  assert.equal(ghost.status, 404);
  assert.match(ghost.json.error, /pods "ghost" not found/);
  assert.equal((await call(cluster, 'POST', '/kubemux/faults/refuse?status=200')).status, 400);
  assert.equal((await call(cluster, 'POST', '/kubemux/faults/drop?status=503')).status, 400);
  assert.equal((await call(cluster, 'POST', '/kubemux/faults/refuse?keepalive=yes')).status, 400);
  assert.equal((await call(cluster, 'POST', '/kubemux/faults/drop?keepalive=true')).status, 400);
  assert.equal((await call(cluster, 'POST', '/kubemux/faults/delay')).status, 400);
  for (const ms of ['0', '-5', '1.5', '60001', 'x']) assert.equal((await call(cluster, 'POST', `/kubemux/faults/delay?ms=${ms}`)).status, 400, ms);
  assert.equal((await call(cluster, 'POST', '/kubemux/faults/stall?ms=5')).status, 400);
  assert.deepEqual((await call(cluster, 'POST', '/kubemux/faults/delay?ms=25')).json, { ok: true, action: 'delay', ms: 25 });
  assert.deepEqual((await call(cluster, 'POST', '/kubemux/faults/refuse?status=403&keepalive=true')).json, { ok: true, action: 'refuse', status: 403, keepAlive: true });
  assert.deepEqual(cluster.applyFault('refuse', { status: '403', keepalive: 'false' }), { ok: true, action: 'refuse', status: 403, keepAlive: false });

  const refuse = await call(cluster, 'POST', '/kubemux/faults/refuse?status=429');
  assert.equal(refuse.status, 200);
  assert.deepEqual(refuse.json, { ok: true, action: 'refuse', status: 429 });
  assert.match(await rawUpgrade(cluster, 'POST', '/api/v1/namespaces/default/pods/demo/portforward'), /^HTTP\/1\.1 429 /);
  assert.deepEqual((await call(cluster, 'POST', '/kubemux/faults/clear')).json, { ok: true, action: 'clear' });
  for (const action of ['drop', 'blackhole', 'stall', 'goaway', 'clear']) {
    assert.equal((await call(cluster, 'POST', `/kubemux/faults/${action}`)).status, 200, action);
  }
  assert.throws(() => cluster.applyFault('nope'), (err) => isKubemuxError(err, 'ERR_INVALID_ARGUMENT') && err.scope === 'usage');
  assert.equal((await call(cluster, 'GET', '/kubemux/nothing')).status, 404);
});

test('stats combine the endpoint counters with the API request count', async (t) => {
  const cluster = await startCluster(t);
  await call(cluster, 'GET', '/api');
  await call(cluster, 'GET', '/api/v1/namespaces/default/pods/demo');
  const stats = await call(cluster, 'GET', '/kubemux/stats');
  assert.equal(stats.status, 200);
  for (const key of ['sessions', 'activeSessions', 'streams', 'bytesToPod', 'bytesFromPod', 'dialFailures', 'requests', 'upgrades']) {
    assert.equal(typeof stats.json[key], 'number', key);
  }
  assert.equal(stats.json.requests, 2);
  assert.equal(stats.json.upgrades, 0);
  assert.equal((await call(cluster, 'POST', '/kubemux/stats')).status, 405);
});

test('control routes and listening are loopback-only', async () => {
  for (const address of ['127.0.0.1', '127.9.8.7', '::1', '0:0:0:0:0:0:0:1', '::ffff:127.0.0.1', '[::1]']) assert.equal(isLoopbackAddress(address), true, address);
  for (const address of [undefined, '', '10.0.0.1', '128.0.0.1', '::ffff:10.0.0.1', '::', 'fe80::1', '::2', '0.0.0.0', 'localhost']) {
    assert.equal(isLoopbackAddress(address), false, String(address));
  }
  assert.equal(isLoopbackHost('localhost'), true);
  assert.equal(isLoopbackHost('0.0.0.0'), false);
  await assert.rejects(
    FakeCluster.start({ listen: { host: '0.0.0.0' } }),
    (err) => isKubemuxError(err, 'ERR_INVALID_ARGUMENT') && err.scope === 'usage' && /allowNonLoopback/.test(err.message),
  );
  await assert.rejects(FakeCluster.start({ listen: { port: 70_000 } }), (err) => isKubemuxError(err, 'ERR_INVALID_ARGUMENT'));
});

test('kubeconfig names the server, a token, the namespace and (with TLS) the CA', async (t) => {
  const plain = await startCluster(t);
  const config = JSON.parse(plain.kubeconfig({ namespace: 'other' }));
  assert.equal(config.kind, 'Config');
  assert.equal(config['current-context'], config.contexts[0].name);
  assert.equal(config.clusters[0].cluster.server, plain.url);
  assert.equal(config.clusters[0].cluster['certificate-authority-data'], undefined);
  assert.equal(config.contexts[0].context.namespace, 'other');
  assert.equal(typeof config.users[0].user.token, 'string');
  assert.match(plain.url, /^http:\/\/127\.0\.0\.1:\d+$/);

  const secure = await startCluster(t, { tls: true });
  assert.match(secure.url, /^https:\/\/127\.0\.0\.1:\d+$/);
  const tlsConfig = JSON.parse(secure.kubeconfig());
  assert.equal(Buffer.from(tlsConfig.clusters[0].cluster['certificate-authority-data'], 'base64').toString('utf8'), secure.caPem);
});

test('selector parsers and the age format follow apimachinery', () => {
  assert.deepEqual(parseLabelSelector(''), []);
  assert.deepEqual(parseLabelSelector('a=b,c!=d'), [
    { key: 'a', op: '=', values: ['b'] },
    { key: 'c', op: '!=', values: ['d'] },
  ]);
  assert.deepEqual(parseLabelSelector('env in (a, b),x'), [
    { key: 'env', op: 'in', values: ['a', 'b'] },
    { key: 'x', op: 'exists', values: [] },
  ]);
  assert.equal(matchesLabelSelector(parseLabelSelector('n>3'), { n: '4' }), true);
  assert.equal(matchesLabelSelector(parseLabelSelector('n<3'), { n: '4' }), false);
  assert.equal(matchesLabelSelector(parseLabelSelector('example.com/role=web'), { 'example.com/role': 'web' }), true);
  assert.throws(() => parseLabelSelector('a=(b'));
  assert.throws(() => parseLabelSelector('a=b c'));
  assert.deepEqual(parseFieldSelector('metadata.name=a\\,b,status.phase!=Failed'), [
    { field: 'metadata.name', op: '=', value: 'a,b' },
    { field: 'status.phase', op: '!=', value: 'Failed' },
  ]);
  assert.equal(humanDuration(5_000), '5s');
  assert.equal(humanDuration(150_000), '2m30s');
  assert.equal(humanDuration(3 * 3_600_000), '3h');
  assert.equal(humanDuration(3 * 86_400_000 + 3_600_000), '3d1h');
});
