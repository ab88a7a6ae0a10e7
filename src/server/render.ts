/**
 * The JSON the fake cluster's API answers with for each object, as the API server renders it:
 * pods, services, deployments and namespaces, plus the small formats their tables share (ages,
 * selectors as text).
 */
import type { ClusterState, DeploymentRecord, NamespaceRecord, PodRecord, ServiceRecord } from './cluster-state.js';

/** A stored object of any served resource. */
export type StoredObject = PodRecord | ServiceRecord | DeploymentRecord | NamespaceRecord;


/** The IP the scheduled pods report: the fake cluster forwards to loopback unless a portMap says otherwise. */
export const POD_IP = '127.0.0.1';

/** metav1.Time's JSON form: RFC 3339 to the second. */
export function timestamp(date: Date): string {
  return date.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** The age format of kubectl's tables (apimachinery `duration.HumanDuration`). */
export function humanDuration(ms: number): string {
  const seconds = Math.floor(ms / 1000);
  if (seconds < -1) return '<invalid>';
  if (seconds < 0) return '0s';
  if (seconds < 60 * 2) return `${seconds}s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 10) return seconds % 60 === 0 ? `${minutes}m` : `${minutes}m${seconds % 60}s`;
  if (minutes < 60 * 3) return `${minutes}m`;
  const hours = Math.floor(minutes / 60);
  if (hours < 8) return minutes % 60 === 0 ? `${hours}h` : `${hours}h${minutes % 60}m`;
  if (hours < 48) return `${hours}h`;
  if (hours < 24 * 8) return hours % 24 === 0 ? `${Math.floor(hours / 24)}d` : `${Math.floor(hours / 24)}d${hours % 24}h`;
  if (hours < 24 * 365 * 2) return `${Math.floor(hours / 24)}d`;
  const days = Math.floor(hours / 24);
  if (hours < 24 * 365 * 8) return days % 365 === 0 ? `${Math.floor(days / 365)}y` : `${Math.floor(days / 365)}y${days % 365}d`;
  return `${Math.floor(days / 365)}y`;
}

function objectMeta(record: StoredObject, namespace: string | undefined, labels?: Readonly<Record<string, string>>): Record<string, unknown> {
  return {
    name: record.name,
    ...(namespace === undefined ? {} : { namespace }),
    uid: record.uid,
    resourceVersion: record.resourceVersion,
    creationTimestamp: timestamp(record.createdAt),
    ...(labels === undefined || Object.keys(labels).length === 0 ? {} : { labels: { ...labels } }),
  };
}

function containerSpecs(pod: PodRecord | undefined): unknown[] {
  const containers = pod?.containers ?? [{ name: 'app', image: 'kubemux/placeholder', ports: [] }];
  return containers.map((c) => ({
    name: c.name,
    image: c.image,
    ...(c.ports.length === 0 ? {} : { ports: c.ports.map((p) => ({ ...(p.name === undefined ? {} : { name: p.name }), containerPort: p.containerPort, protocol: p.protocol })) }),
    resources: {},
    terminationMessagePath: '/dev/termination-log',
    terminationMessagePolicy: 'File',
    imagePullPolicy: 'IfNotPresent',
  }));
}

/** A pod as the API server shows it: its phase, conditions and container states follow its record (by default scheduled, Running, every container ready). */
export function renderPod(pod: PodRecord): Record<string, unknown> {
  const created = timestamp(pod.createdAt);
  const scheduled = pod.nodeName !== '';
  const running = pod.phase === 'Running';
  const condition = (type: string, status: boolean, since = created): unknown => ({ type, status: status ? 'True' : 'False', lastProbeTime: null, lastTransitionTime: since });
  const readySince = timestamp(pod.readySince);
  return {
    kind: 'Pod',
    apiVersion: 'v1',
    metadata: objectMeta(pod, pod.namespace, pod.labels),
    spec: {
      containers: containerSpecs(pod),
      restartPolicy: 'Always',
      terminationGracePeriodSeconds: 30,
      dnsPolicy: 'ClusterFirst',
      serviceAccountName: 'default',
      serviceAccount: 'default',
      ...(scheduled ? { nodeName: pod.nodeName } : {}),
      securityContext: {},
      schedulerName: 'default-scheduler',
      priority: 0,
      enableServiceLinks: true,
      preemptionPolicy: 'PreemptLowerPriority',
    },
    status: {
      phase: pod.phase,
      // An unscheduled pod has only PodScheduled=False, as the scheduler leaves it.
      conditions: scheduled
        ? [
            condition('Initialized', pod.phase !== 'Pending'),
            condition('Ready', pod.ready, readySince),
            condition('ContainersReady', pod.ready, readySince),
            condition('PodScheduled', true),
          ]
        : [{ ...(condition('PodScheduled', false) as object), reason: 'Unschedulable', message: '0/1 nodes are available.' }],
      ...(scheduled
        ? {
            hostIP: POD_IP,
            hostIPs: [{ ip: POD_IP }],
            ...(running ? { podIP: POD_IP, podIPs: [{ ip: POD_IP }] } : {}),
            startTime: created,
            containerStatuses: pod.containers.map((c) => ({
              name: c.name,
              state: containerState(pod, created),
              lastState: {},
              ready: pod.ready,
              restartCount: c.restartCount,
              image: c.image,
              imageID: '',
              ...(pod.phase === 'Pending' ? {} : { containerID: `kubemux://${pod.uid}/${c.name}` }),
              started: running,
            })),
          }
        : {}),
      qosClass: 'BestEffort',
    },
  };
}

/** A container's `state` for its pod's phase. */
function containerState(pod: PodRecord, since: string): Record<string, unknown> {
  switch (pod.phase) {
    case 'Running':
      return { running: { startedAt: since } };
    case 'Pending':
    case 'Unknown':
      return { waiting: { reason: 'ContainerCreating' } };
    case 'Succeeded':
    case 'Failed': {
      const failed = pod.phase === 'Failed';
      return { terminated: { exitCode: failed ? 1 : 0, reason: failed ? 'Error' : 'Completed', startedAt: since, finishedAt: since } };
    }
  }
}

/** A ClusterIP service. */
export function renderService(service: ServiceRecord): Record<string, unknown> {
  return {
    kind: 'Service',
    apiVersion: 'v1',
    metadata: objectMeta(service, service.namespace),
    spec: {
      ports: service.ports.map((p) => ({ ...(p.name === undefined ? {} : { name: p.name }), protocol: p.protocol, port: p.port, targetPort: p.targetPort })),
      selector: { ...service.selector },
      clusterIP: service.clusterIP,
      clusterIPs: [service.clusterIP],
      type: 'ClusterIP',
      sessionAffinity: 'None',
      ipFamilies: ['IPv4'],
      ipFamilyPolicy: 'SingleStack',
      internalTrafficPolicy: 'Cluster',
    },
    status: { loadBalancer: {} },
  };
}

/** A deployment whose status counts the pods its selector currently matches. */
export function renderDeployment(deployment: DeploymentRecord, state: ClusterState): Record<string, unknown> {
  const pods = state.podsSelectedBy(deployment.namespace, deployment.matchLabels);
  const ready = pods.filter((pod) => pod.ready).length;
  const available = ready >= deployment.replicas;
  const since = timestamp(deployment.createdAt);
  return {
    kind: 'Deployment',
    apiVersion: 'apps/v1',
    metadata: { ...objectMeta(deployment, deployment.namespace, deployment.matchLabels), generation: 1 },
    spec: {
      replicas: deployment.replicas,
      selector: { matchLabels: { ...deployment.matchLabels } },
      template: {
        metadata: { creationTimestamp: null, labels: { ...deployment.matchLabels } },
        spec: { containers: containerSpecs(pods[0]), restartPolicy: 'Always', terminationGracePeriodSeconds: 30, dnsPolicy: 'ClusterFirst', schedulerName: 'default-scheduler' },
      },
      strategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: '25%', maxSurge: '25%' } },
      revisionHistoryLimit: 10,
      progressDeadlineSeconds: 600,
    },
    status: {
      observedGeneration: 1,
      ...(pods.length === 0 ? {} : { replicas: pods.length, updatedReplicas: pods.length }),
      ...(ready === 0 ? {} : { readyReplicas: ready, availableReplicas: ready }),
      ...(pods.length - ready === 0 ? {} : { unavailableReplicas: pods.length - ready }),
      conditions: [
        {
          type: 'Available',
          status: available ? 'True' : 'False',
          lastUpdateTime: since,
          lastTransitionTime: since,
          reason: available ? 'MinimumReplicasAvailable' : 'MinimumReplicasUnavailable',
          message: available ? 'Deployment has minimum availability.' : 'Deployment does not have minimum availability.',
        },
        {
          type: 'Progressing',
          status: 'True',
          lastUpdateTime: since,
          lastTransitionTime: since,
          reason: 'NewReplicaSetAvailable',
          message: `ReplicaSet "${deployment.name}" has successfully progressed.`,
        },
      ],
    },
  };
}

/** A namespace (always Active). */
export function renderNamespace(namespace: NamespaceRecord): Record<string, unknown> {
  return {
    kind: 'Namespace',
    apiVersion: 'v1',
    metadata: { ...objectMeta(namespace, undefined), labels: { 'kubernetes.io/metadata.name': namespace.name } },
    spec: { finalizers: ['kubernetes'] },
    status: { phase: 'Active' },
  };
}

/** A label map as kubectl's wide tables print it (`a=b,c=d`, sorted; `<none>` when empty). */
export function selectorText(labels: Readonly<Record<string, string>>): string {
  const entries = Object.entries(labels).sort(([a], [b]) => (a < b ? -1 : 1));
  return entries.length === 0 ? '<none>' : entries.map(([k, v]) => `${k}=${v}`).join(',');
}
