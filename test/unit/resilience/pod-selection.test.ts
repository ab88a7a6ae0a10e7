/**
 * kubectl's pod ordering (sort.Reverse(podutils.ActivePods)), one rule at a time, on pods parsed
 * from API JSON as the resolver parses them; and the parser's reading of the fields involved.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { podFromJson, type PodSummary } from '../../../src/resilience/api-objects.js';
import { choosePod, comparePodsForForwarding } from '../../../src/resilience/pod-selection.js';

interface PodShape {
  readonly phase?: string;
  readonly node?: string;
  readonly ready?: boolean;
  readonly readySince?: string;
  readonly created?: string;
  readonly deleting?: string;
  readonly restarts?: readonly number[];
  readonly sidecarRestarts?: number;
}

/** A pod document as the API server returns it, with only the fields the ordering reads. */
function pod(name: string, shape: PodShape = {}): PodSummary {
  const ready = shape.ready ?? true;
  return podFromJson({
    metadata: {
      name,
      uid: `uid-${name}`,
      ...(shape.created === undefined ? { creationTimestamp: '2025-01-01T00:00:00Z' } : shape.created === '' ? {} : { creationTimestamp: shape.created }),
      ...(shape.deleting === undefined ? {} : { deletionTimestamp: shape.deleting }),
    },
    spec: {
      ...(shape.node === '' ? {} : { nodeName: shape.node ?? 'node-a' }),
      containers: [{ name: 'app' }],
      initContainers: [{ name: 'proxy', restartPolicy: 'Always' }, { name: 'setup' }],
    },
    status: {
      phase: shape.phase ?? 'Running',
      conditions: [
        { type: 'PodScheduled', status: 'True', lastTransitionTime: '2024-01-01T00:00:00Z' },
        { type: 'Ready', status: ready ? 'True' : 'False', ...(shape.readySince === '' ? {} : { lastTransitionTime: shape.readySince ?? '2025-01-01T00:01:00Z' }) },
      ],
      containerStatuses: (shape.restarts ?? [0]).map((restartCount, i) => ({ name: `c${i}`, restartCount })),
      initContainerStatuses: [
        { name: 'proxy', restartCount: shape.sidecarRestarts ?? 0 },
        // Not a sidecar: its restarts do not count.
        { name: 'setup', restartCount: 99 },
      ],
    },
  });
}

/** The names in the order kubectl prefers them. */
function order(...pods: PodSummary[]): string[] {
  return [...pods].sort(comparePodsForForwarding).map((p) => p.name);
}

test('the parser reads phase, node, readiness, times, restarts and sidecar restarts', () => {
  const p = pod('p', { restarts: [2, 7, 1], sidecarRestarts: 4, deleting: '2025-02-01T00:00:00Z' });
  assert.equal(p.phase, 'Running');
  assert.equal(p.nodeName, 'node-a');
  assert.equal(p.ready, true);
  assert.equal(p.readySinceMs, Date.parse('2025-01-01T00:01:00Z'));
  assert.equal(p.createdMs, Date.parse('2025-01-01T00:00:00Z'));
  assert.equal(p.deletingSinceMs, Date.parse('2025-02-01T00:00:00Z'));
  assert.equal(p.maxRestarts, 7);
  assert.equal(p.maxSidecarRestarts, 4, 'only init containers with restartPolicy Always count');
  const bare = podFromJson({ metadata: { name: 'bare' } });
  assert.deepEqual([bare.phase, bare.nodeName, bare.ready, bare.createdMs, bare.maxRestarts, bare.containerPorts.length], ['', '', false, undefined, 0, 0]);
  assert.throws(() => podFromJson({ kind: 'Status' }), /not a pod/);
});

test('1. a pod on a node before one not scheduled', () => {
  assert.deepEqual(order(pod('a', { node: '', phase: 'Running' }), pod('b', { node: 'node-b', phase: 'Pending', ready: false })), ['b', 'a']);
});

test('2. Running before Unknown before Pending; other phases rank with Pending', () => {
  const pods = [
    pod('pending', { phase: 'Pending', ready: false }),
    pod('failed', { phase: 'Failed', ready: false }),
    pod('unknown', { phase: 'Unknown', ready: false }),
    pod('running', { phase: 'Running', ready: false }),
  ];
  assert.deepEqual(order(...pods), ['running', 'unknown', 'pending', 'failed']);
  // Failed and Pending are equal to kubectl: list order decides.
  assert.deepEqual(order(pods[1]!, pods[0]!), ['failed', 'pending']);
});

test('3. ready before not ready', () => {
  assert.deepEqual(order(pod('a', { ready: false }), pod('b', { ready: true, restarts: [10] })), ['b', 'a']);
});

test('4-5. not terminating before terminating; of two terminating, the one deleted later', () => {
  const early = pod('early', { ready: false, deleting: '2025-01-01T00:10:00Z' });
  const late = pod('late', { ready: false, deleting: '2025-01-01T00:20:00Z' });
  const alive = pod('alive', { ready: false, restarts: [50] });
  assert.deepEqual(order(early, late, alive), ['alive', 'late', 'early']);
});

test('6. of two ready pods, the one ready for longer; an unknown ready time last', () => {
  const longer = pod('longer', { readySince: '2025-01-01T00:01:00Z', restarts: [3] });
  const recent = pod('recent', { readySince: '2025-01-01T00:30:00Z' });
  const unknown = pod('unknown', { readySince: '' });
  assert.deepEqual(order(unknown, recent, longer), ['longer', 'recent', 'unknown']);
});

test('7. fewer restarts (of the most restarted container) first, then fewer sidecar restarts', () => {
  assert.deepEqual(order(pod('many', { restarts: [0, 4] }), pod('few', { restarts: [3, 3] })), ['few', 'many']);
  assert.deepEqual(order(pod('flappy-sidecar', { sidecarRestarts: 2 }), pod('calm', { sidecarRestarts: 0 })), ['calm', 'flappy-sidecar']);
  // Not ready pods have no ready time to compare, so restarts decide.
  assert.deepEqual(order(pod('x', { ready: false, restarts: [1] }), pod('y', { ready: false, restarts: [0] })), ['y', 'x']);
});

test('8. older before newer; no creation time last; otherwise list order', () => {
  const older = pod('older', { created: '2024-06-01T00:00:00Z' });
  const newer = pod('newer', { created: '2025-06-01T00:00:00Z' });
  const undated = pod('undated', { created: '' });
  assert.deepEqual(order(undated, newer, older), ['older', 'newer', 'undated']);
  assert.deepEqual(order(pod('b'), pod('a'), pod('c')), ['b', 'a', 'c'], 'indistinguishable pods keep the list order');
});

test('choosePod takes the first of the best, as the head of kubectl\'s sorted list', () => {
  assert.equal(choosePod([]), undefined);
  const pods = [pod('z-pending', { phase: 'Pending', ready: false }), pod('m-ready'), pod('a-unready', { ready: false }), pod('n-ready')];
  assert.equal(choosePod(pods)!.name, 'm-ready');
  assert.equal(choosePod(pods)!.name, order(...pods)[0]);
});
