/**
 * The slice of the Kubernetes API the fake cluster serves: legacy discovery, pods, services,
 * namespaces (core v1) and deployments (apps/v1), read-only, as JSON, with server-side Table
 * output for `kubectl get`, label and field selectors, and watches of pods.
 *
 * Discovery is deliberately the legacy kind (APIVersions, APIGroupList, APIResourceList). Since
 * 1.26 kubectl asks `/api` and `/apis` for aggregated discovery first
 * (`Accept: application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,...,application/json`);
 * client-go looks at the response's Content-Type, and a plain `application/json` makes it decode
 * the legacy documents and then fetch each group version's resource list. That fallback is
 * tested against kubectl 1.27 to 1.33 (test/interop/kubectl-api.test.ts).
 *
 * Error bodies are metav1.Status documents worded as the API server words them
 * (`pods "x" not found`), because kubectl prints the message and some clients branch on `reason`.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { decodePathSegment, parseRequestTarget } from './request-target.js';
import type { ClusterState, DeploymentRecord, NamespaceRecord, PodEvent, PodRecord, ServiceRecord } from './cluster-state.js';

// --- responses --------------------------------------------------------------------------------

/** A metav1.Status failure document. */
export interface StatusBody {
  readonly kind: 'Status';
  readonly apiVersion: 'v1';
  readonly metadata: Record<string, never>;
  readonly status: 'Failure';
  readonly message: string;
  readonly reason: string;
  readonly details?: { readonly name?: string; readonly group?: string; readonly kind?: string };
  readonly code: number;
}

/** A failure as the API server reports it. */
export function statusBody(code: number, reason: string, message: string, details?: StatusBody['details']): StatusBody {
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, ...(details === undefined ? {} : { details }), code };
}

/** `pods "x" not found` (or `deployments.apps "x" not found`), 404 NotFound with details. */
export function notFoundStatus(resource: string, group: string, name: string): StatusBody {
  const qualified = group === '' ? resource : `${resource}.${group}`;
  return statusBody(404, 'NotFound', `${qualified} "${name}" not found`, { name, ...(group === '' ? {} : { group }), kind: resource });
}

const RESOURCE_NOT_FOUND = (): StatusBody => statusBody(404, 'NotFound', 'the server could not find the requested resource', {});

/** What the API answers to one request. */
export type ApiReply =
  | { readonly type: 'json'; readonly status: number; readonly body: unknown }
  | { readonly type: 'text'; readonly status: number; readonly body: string }
  | { readonly type: 'watch'; readonly watch: WatchPlan };

/** A watch to run: which objects, from where, rendered how. */
export interface WatchPlan {
  readonly resource: Resource;
  readonly namespace: string | undefined;
  readonly filter: (object: StoredObject) => boolean;
  /** Undefined: start with ADDED for every current object ("0" or no resourceVersion). */
  readonly sinceResourceVersion: number | undefined;
  readonly table: TableRequest | undefined;
  readonly timeoutSeconds: number | undefined;
}

// --- paths ------------------------------------------------------------------------------------

/** The resources the fake cluster serves. */
export type Resource = 'pods' | 'services' | 'deployments' | 'namespaces';
/** A stored object of any served resource. */
export type StoredObject = PodRecord | ServiceRecord | DeploymentRecord | NamespaceRecord;

/** The pod a `/api/v1/namespaces/NS/pods/NAME/portforward` path addresses, or undefined for any other path. */
export function matchPortForwardPath(pathname: string): { namespace: string; name: string } | undefined {
  const match = /^\/api\/v1\/namespaces\/([^/]+)\/pods\/([^/]+)\/portforward\/?$/.exec(pathname);
  if (match === null) return undefined;
  const namespace = decodePathSegment(match[1]!);
  const name = decodePathSegment(match[2]!);
  return namespace === undefined || name === undefined ? undefined : { namespace, name };
}

interface Route {
  readonly resource: Resource;
  readonly namespace: string | undefined;
  readonly name: string | undefined;
}

function routeResource(pathname: string): Route | undefined {
  const parts = pathname.split('/').filter((p) => p !== '');
  let rest: string[];
  let group: 'core' | 'apps';
  if (parts[0] === 'api' && parts[1] === 'v1') {
    group = 'core';
    rest = parts.slice(2);
  } else if (parts[0] === 'apis' && parts[1] === 'apps' && parts[2] === 'v1') {
    group = 'apps';
    rest = parts.slice(3);
  } else {
    return undefined;
  }
  const decoded: string[] = [];
  for (const part of rest) {
    const text = decodePathSegment(part);
    if (text === undefined) return undefined;
    decoded.push(text);
  }
  const allowed: readonly Resource[] = group === 'core' ? ['pods', 'services', 'namespaces'] : ['deployments'];
  const isResource = (r: string | undefined): r is Resource => r !== undefined && (allowed as readonly string[]).includes(r);
  // /namespaces and /namespaces/NAME are the namespace resource itself.
  if (group === 'core' && decoded[0] === 'namespaces' && decoded.length <= 2) return { resource: 'namespaces', namespace: undefined, name: decoded[1] };
  if (decoded[0] === 'namespaces' && decoded.length >= 3 && decoded.length <= 4 && isResource(decoded[2]) && decoded[2] !== 'namespaces') {
    return { resource: decoded[2], namespace: decoded[1], name: decoded[3] };
  }
  if (decoded.length === 1 && isResource(decoded[0]) && decoded[0] !== 'namespaces') return { resource: decoded[0], namespace: undefined, name: undefined };
  return undefined;
}

const GROUP_OF: Record<Resource, string> = { pods: '', services: '', namespaces: '', deployments: 'apps' };
const KIND_OF: Record<Resource, string> = { pods: 'Pod', services: 'Service', namespaces: 'Namespace', deployments: 'Deployment' };
const API_VERSION_OF: Record<Resource, string> = { pods: 'v1', services: 'v1', namespaces: 'v1', deployments: 'apps/v1' };

// --- Accept -----------------------------------------------------------------------------------

/** A request for server-side printing (`application/json;as=Table;v=v1;g=meta.k8s.io`). */
export interface TableRequest {
  readonly version: 'v1' | 'v1beta1';
  /** `includeObject` query parameter: what each row carries. Default Metadata. */
  readonly includeObject: 'None' | 'Metadata' | 'Object';
}

/** The Table version the Accept header asks for first, if any. */
export function tableVersionFromAccept(accept: string | undefined): 'v1' | 'v1beta1' | undefined {
  for (const range of (accept ?? '').split(',')) {
    const [type, ...params] = range.split(';').map((s) => s.trim());
    if (type !== 'application/json') continue;
    const p = new Map(params.map((param) => param.split('=').map((s) => s.trim()) as [string, string]));
    if (p.get('as') === 'Table' && p.get('g') === 'meta.k8s.io' && (p.get('v') === 'v1' || p.get('v') === 'v1beta1')) return p.get('v') as 'v1' | 'v1beta1';
  }
  return undefined;
}

// --- selectors --------------------------------------------------------------------------------

/** One requirement of a label selector. */
export interface LabelRequirement {
  readonly key: string;
  readonly op: 'exists' | '!exists' | '=' | '!=' | 'in' | 'notin' | 'gt' | 'lt';
  readonly values: readonly string[];
}

/** A selector syntax error; the message becomes a 400 BadRequest. */
export class SelectorError extends Error {
  override readonly name = 'SelectorError';
}

const LABEL_KEY = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

/**
 * Parses a label selector as apimachinery's `labels.Parse` does: comma-separated requirements
 * `k`, `!k`, `k=v`, `k==v`, `k!=v`, `k in (a,b)`, `k notin (a,b)`, `k>n`, `k<n`.
 */
export function parseLabelSelector(text: string): LabelRequirement[] {
  const requirements: LabelRequirement[] = [];
  // Split on commas outside parentheses.
  const parts: string[] = [];
  let depth = 0;
  let current = '';
  for (const ch of text) {
    if (ch === '(') depth++;
    if (ch === ')') depth--;
    if (depth < 0) throw new SelectorError(`unable to parse requirement: unexpected ")" in ${JSON.stringify(text)}`);
    if (ch === ',' && depth === 0) {
      parts.push(current);
      current = '';
    } else {
      current += ch;
    }
  }
  if (depth !== 0) throw new SelectorError(`unable to parse requirement: unclosed "(" in ${JSON.stringify(text)}`);
  parts.push(current);
  if (parts.length === 1 && parts[0]!.trim() === '') return [];
  for (const raw of parts) {
    const part = raw.trim();
    const checkKey = (key: string): string => {
      if (!LABEL_KEY.test(key)) throw new SelectorError(`unable to parse requirement: invalid label key ${JSON.stringify(key)}`);
      return key;
    };
    const checkValue = (value: string): string => {
      if (value.length > 63 || !LABEL_VALUE.test(value)) throw new SelectorError(`unable to parse requirement: invalid label value ${JSON.stringify(value)}`);
      return value;
    };
    let match: RegExpExecArray | null;
    if ((match = /^!\s*(\S+)$/.exec(part)) !== null) {
      requirements.push({ key: checkKey(match[1]!), op: '!exists', values: [] });
    } else if ((match = /^(\S+?)\s+(in|notin)\s*\(([^)]*)\)$/.exec(part)) !== null) {
      const values = match[3]!.split(',').map((v) => checkValue(v.trim()));
      requirements.push({ key: checkKey(match[1]!), op: match[2] as 'in' | 'notin', values });
    } else if ((match = /^([^=!<>\s]+)\s*(==|=|!=|<|>)\s*(\S*)$/.exec(part)) !== null) {
      const op = match[2] === '!=' ? '!=' : match[2] === '<' ? 'lt' : match[2] === '>' ? 'gt' : '=';
      const value = match[3]!;
      if ((op === 'lt' || op === 'gt') && !/^-?\d+$/.test(value)) throw new SelectorError(`unable to parse requirement: for 'Gt', 'Lt' operators, the value must be an integer`);
      requirements.push({ key: checkKey(match[1]!), op, values: [op === 'lt' || op === 'gt' ? value : checkValue(value)] });
    } else if (/^\S+$/.test(part)) {
      requirements.push({ key: checkKey(part), op: 'exists', values: [] });
    } else {
      throw new SelectorError(`unable to parse requirement: ${JSON.stringify(part)} is not a valid requirement`);
    }
  }
  return requirements;
}

/** Whether `labels` satisfy every requirement. */
export function matchesLabelSelector(requirements: readonly LabelRequirement[], labels: Readonly<Record<string, string>>): boolean {
  return requirements.every(({ key, op, values }) => {
    const has = Object.hasOwn(labels, key);
    const value = labels[key];
    switch (op) {
      case 'exists':
        return has;
      case '!exists':
        return !has;
      case '=':
      case 'in':
        return has && values.includes(value!);
      case '!=':
      case 'notin':
        return !has || !values.includes(value!);
      case 'gt':
      case 'lt': {
        if (!has || !/^-?\d+$/.test(value!)) return false;
        return op === 'gt' ? Number(value) > Number(values[0]) : Number(value) < Number(values[0]);
      }
    }
  });
}

/** One requirement of a field selector. */
export interface FieldRequirement {
  readonly field: string;
  readonly op: '=' | '!=';
  readonly value: string;
}

/** Parses a field selector (`a=b,c!=d`, `==` allowed, `\,` `\=` `\\` escapes) as `fields.ParseSelector` does. */
export function parseFieldSelector(text: string): FieldRequirement[] {
  if (text.trim() === '') return [];
  const parts: string[] = [];
  let current = '';
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (ch === '\\' && i + 1 < text.length) {
      current += ch + text[++i]!;
    } else if (ch === ',') {
      parts.push(current);
      current = '';
    } else {
      current += ch;
    }
  }
  parts.push(current);
  const unescape = (s: string): string => s.replace(/\\(.)/g, '$1');
  return parts.map((part) => {
    const match = /^((?:[^=!\\]|\\.)+?)\s*(!=|==|=)(.*)$/.exec(part.trim());
    if (match === null) throw new SelectorError(`invalid selector: '${part}'; can't understand '${part}'`);
    return { field: match[1]!.trim(), op: match[2] === '!=' ? '!=' : '=', value: unescape(match[3]!.trim()) };
  });
}

// --- rendering --------------------------------------------------------------------------------

/** The IP the scheduled pods report: the fake cluster forwards to loopback unless a portMap says otherwise. */
const POD_IP = '127.0.0.1';

/** metav1.Time's JSON form: RFC 3339 to the second. */
function timestamp(date: Date): string {
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

interface ColumnDefinition {
  readonly name: string;
  readonly type: string;
  readonly format: string;
  readonly description: string;
  readonly priority: number;
}

const column = (name: string, type: string, description: string, priority = 0, format = ''): ColumnDefinition => ({ name, type, format, description, priority });
const NAME_COLUMN = column('Name', 'string', 'Name must be unique within a namespace.', 0, 'name');
const AGE_COLUMN = column('Age', 'string', 'CreationTimestamp is a timestamp representing the server time when this object was created.');

/** The columns the API server's printers use for each resource (kubectl prints these). */
const COLUMNS: Record<Resource, readonly ColumnDefinition[]> = {
  pods: [
    NAME_COLUMN,
    column('Ready', 'string', 'The aggregate readiness state of this pod for accepting traffic.'),
    column('Status', 'string', 'The aggregate status of the containers in this pod.'),
    column('Restarts', 'string', 'The number of times the containers in this pod have been restarted and when the last container in this pod has restarted.'),
    AGE_COLUMN,
    column('IP', 'string', 'IP address allocated to the pod.', 1),
    column('Node', 'string', 'NodeName is a request to schedule this pod onto a specific node.', 1),
    column('Nominated Node', 'string', 'nominatedNodeName is set only when this pod preempts other pods on the node.', 1),
    column('Readiness Gates', 'string', 'If specified, all readiness gates will be evaluated for pod readiness.', 1),
  ],
  services: [
    NAME_COLUMN,
    column('Type', 'string', 'type determines how the Service is exposed.'),
    column('Cluster-IP', 'string', 'clusterIP is the IP address of the service.'),
    column('External-IP', 'string', 'externalIPs is a list of IP addresses for which nodes in the cluster will also accept traffic for this service.'),
    column('Port(s)', 'string', 'The list of ports that are exposed by this service.'),
    AGE_COLUMN,
    column('Selector', 'string', 'Route service traffic to pods with label keys and values matching this selector.', 1),
  ],
  deployments: [
    NAME_COLUMN,
    column('Ready', 'string', 'Number of the pod with ready state'),
    column('Up-to-date', 'integer', 'Total number of non-terminated pods targeted by this deployment that have the desired template spec.'),
    column('Available', 'integer', 'Total number of available pods (ready for at least minReadySeconds) targeted by this deployment.'),
    AGE_COLUMN,
    column('Containers', 'string', 'Names of each container in the template.', 1),
    column('Images', 'string', 'Images referenced by each container in the template.', 1),
    column('Selector', 'string', 'Label selector for pods. Existing ReplicaSets whose pods are selected by this will be the ones affected by this deployment.', 1),
  ],
  namespaces: [NAME_COLUMN, column('Status', 'string', 'The status of the namespace'), AGE_COLUMN],
};

function selectorText(labels: Readonly<Record<string, string>>): string {
  const entries = Object.entries(labels).sort(([a], [b]) => (a < b ? -1 : 1));
  return entries.length === 0 ? '<none>' : entries.map(([k, v]) => `${k}=${v}`).join(',');
}

// --- the API ----------------------------------------------------------------------------------

/** The version the fake cluster claims to be. */
export const SERVER_VERSION = {
  major: '1',
  minor: '33',
  gitVersion: 'v1.33.0+kubemux',
  gitCommit: '0000000000000000000000000000000000000000',
  gitTreeState: 'clean',
  buildDate: '2025-01-01T00:00:00Z',
  goVersion: 'go1.24.0',
  compiler: 'gc',
  platform: 'linux/amd64',
} as const;

const CORE_RESOURCES = [
  { name: 'namespaces', singularName: 'namespace', namespaced: false, kind: 'Namespace', verbs: ['get', 'list', 'watch'], shortNames: ['ns'] },
  { name: 'pods', singularName: 'pod', namespaced: true, kind: 'Pod', verbs: ['get', 'list', 'watch'], shortNames: ['po'], categories: ['all'] },
  { name: 'pods/portforward', singularName: '', namespaced: true, kind: 'PodPortForwardOptions', verbs: ['create', 'get'] },
  { name: 'services', singularName: 'service', namespaced: true, kind: 'Service', verbs: ['get', 'list', 'watch'], shortNames: ['svc'], categories: ['all'] },
];

const APPS_RESOURCES = [
  { name: 'deployments', singularName: 'deployment', namespaced: true, kind: 'Deployment', verbs: ['get', 'list', 'watch'], shortNames: ['deploy'], categories: ['all'] },
];

/** Options of {@link KubeApi}. */
export interface KubeApiOptions {
  /** The clock for ages in tables (tests inject it). Default `() => new Date()`. */
  readonly now?: () => Date;
}

/** The API over a {@link ClusterState}: {@link KubeApi.reply} decides, {@link KubeApi.serve} writes. */
export class KubeApi {
  readonly #state: ClusterState;
  readonly #now: () => Date;

  constructor(state: ClusterState, options: KubeApiOptions = {}) {
    this.#state = state;
    this.#now = options.now ?? (() => new Date());
  }

  /**
   * The answer to one request, without I/O. `host` is the Host header (discovery reports it as
   * the server address). The portforward subresource is not handled here.
   */
  reply(method: string, url: string, accept: string | undefined, host = 'localhost'): ApiReply {
    const parsed = parseRequestTarget(url);
    if (parsed === undefined) return badTargetReply();
    const path = parsed.pathname.length > 1 ? parsed.pathname.replace(/\/$/, '') : parsed.pathname;
    if (method !== 'GET' && method !== 'HEAD') {
      return { type: 'json', status: 405, body: statusBody(405, 'MethodNotAllowed', 'the server does not allow this method on the requested resource', {}) };
    }
    switch (path) {
      case '/version':
        return json(SERVER_VERSION);
      case '/healthz':
      case '/livez':
      case '/readyz':
        return { type: 'text', status: 200, body: 'ok' };
      case '/api':
        return json({ kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress: host }] });
      case '/apis':
        return json({ kind: 'APIGroupList', apiVersion: 'v1', groups: [APPS_GROUP] });
      case '/apis/apps':
        return json({ kind: 'APIGroup', apiVersion: 'v1', ...APPS_GROUP });
      case '/api/v1':
        return json({ kind: 'APIResourceList', groupVersion: 'v1', resources: CORE_RESOURCES });
      case '/apis/apps/v1':
        return json({ kind: 'APIResourceList', apiVersion: 'v1', groupVersion: 'apps/v1', resources: APPS_RESOURCES });
    }
    const route = routeResource(path);
    if (route === undefined) return { type: 'json', status: 404, body: RESOURCE_NOT_FOUND() };
    const query = parsed.searchParams;
    const tableVersion = tableVersionFromAccept(accept);
    const includeObject = query.get('includeObject');
    const table: TableRequest | undefined =
      tableVersion === undefined
        ? undefined
        : { version: tableVersion, includeObject: includeObject === 'None' || includeObject === 'Object' ? includeObject : 'Metadata' };

    if (route.name !== undefined) {
      const record = this.#get(route.resource, route.namespace, route.name);
      if (record === undefined) return { type: 'json', status: 404, body: notFoundStatus(route.resource, GROUP_OF[route.resource], route.name) };
      return json(table === undefined ? this.#render(route.resource, record) : this.#table(route.resource, [record], table, true));
    }

    let filter: (object: StoredObject) => boolean;
    try {
      filter = this.#filter(route.resource, query.get('labelSelector') ?? '', query.get('fieldSelector') ?? '');
    } catch (err) {
      if (err instanceof SelectorError) return { type: 'json', status: 400, body: statusBody(400, 'BadRequest', err.message) };
      throw err;
    }
    const watch = query.get('watch');
    if (watch === 'true' || watch === '1') {
      const rv = query.get('resourceVersion') ?? '';
      if (rv !== '' && !/^\d+$/.test(rv)) return { type: 'json', status: 400, body: statusBody(400, 'BadRequest', `invalid resource version: ${rv}`) };
      const timeout = query.get('timeoutSeconds');
      return {
        type: 'watch',
        watch: {
          resource: route.resource,
          namespace: route.namespace,
          filter,
          sinceResourceVersion: rv === '' || rv === '0' ? undefined : Number(rv),
          table,
          timeoutSeconds: timeout !== null && /^\d+$/.test(timeout) && Number(timeout) > 0 ? Number(timeout) : undefined,
        },
      };
    }
    const items = this.#list(route.resource, route.namespace).filter(filter);
    if (table !== undefined) return json(this.#table(route.resource, items, table, true));
    return json({
      kind: `${KIND_OF[route.resource]}List`,
      apiVersion: API_VERSION_OF[route.resource],
      metadata: { resourceVersion: this.#state.resourceVersion },
      // The API server leaves kind and apiVersion out of list items; clients fill them in.
      items: items.map((item) => {
        const { kind: _kind, apiVersion: _apiVersion, ...rest } = this.#render(route.resource, item);
        return rest;
      }),
    });
  }

  /** Answers `req` on `res` (a watch keeps `res` open until its timeout or the client leaves). */
  serve(req: IncomingMessage, res: ServerResponse): void {
    const reply = this.reply(req.method ?? 'GET', req.url ?? '/', req.headers.accept, req.headers.host);
    // Drain any request body so a keep-alive connection stays usable.
    req.resume();
    if (reply.type === 'watch') {
      this.#serveWatch(reply.watch, res);
      return;
    }
    writeReply(res, reply, req.method === 'HEAD');
  }

  #serveWatch(plan: WatchPlan, res: ServerResponse): void {
    res.writeHead(200, { 'Content-Type': 'application/json', 'Cache-Control': 'no-cache, private', 'Transfer-Encoding': 'chunked' });
    // Node holds headers back until the first body write; a quiet watch must still answer at once.
    res.flushHeaders();
    let first = true;
    const send = (type: string, object: unknown): void => {
      res.write(`${JSON.stringify({ type, object })}\n`);
    };
    const render = (record: StoredObject): unknown => {
      if (plan.table === undefined) return this.#render(plan.resource, record);
      const table = this.#table(plan.resource, [record], plan.table, first);
      first = false;
      return table;
    };
    const inScope = (record: StoredObject & { namespace?: string }): boolean => (plan.namespace === undefined || record.namespace === plan.namespace) && plan.filter(record);
    if (plan.sinceResourceVersion === undefined) {
      for (const record of this.#list(plan.resource, plan.namespace).filter(plan.filter)) send('ADDED', render(record));
    } else if (plan.resource === 'pods') {
      const missed = this.#state.podEventsSince(plan.sinceResourceVersion);
      if (missed === undefined) {
        send('ERROR', statusBody(410, 'Expired', `too old resource version: ${plan.sinceResourceVersion} (${this.#state.resourceVersion})`));
        res.end();
        return;
      }
      for (const event of missed) if (inScope(event.pod)) send(event.type, render(event.pod));
    }
    // Only pods change; watches of other resources stay open and quiet, as on an idle cluster.
    const unsubscribe =
      plan.resource === 'pods'
        ? this.#state.onPodEvent((event: PodEvent) => {
            if (inScope(event.pod)) send(event.type, render(event.pod));
          })
        : () => undefined;
    const timer =
      plan.timeoutSeconds === undefined
        ? undefined
        : setTimeout(() => {
            unsubscribe();
            res.end();
          }, plan.timeoutSeconds * 1000).unref();
    res.once('close', () => {
      unsubscribe();
      if (timer !== undefined) clearTimeout(timer);
    });
  }

  #get(resource: Resource, namespace: string | undefined, name: string): StoredObject | undefined {
    const s = this.#state;
    switch (resource) {
      case 'namespaces':
        return s.namespace(name);
      case 'pods':
        return namespace === undefined ? undefined : s.pod(namespace, name);
      case 'services':
        return namespace === undefined ? undefined : s.service(namespace, name);
      case 'deployments':
        return namespace === undefined ? undefined : s.deployment(namespace, name);
    }
  }

  #list(resource: Resource, namespace: string | undefined): StoredObject[] {
    const s = this.#state;
    switch (resource) {
      case 'namespaces':
        return s.namespaces();
      case 'pods':
        return s.pods(namespace);
      case 'services':
        return s.services(namespace);
      case 'deployments':
        return s.deployments(namespace);
    }
  }

  #render(resource: Resource, record: StoredObject): Record<string, unknown> {
    switch (resource) {
      case 'namespaces':
        return renderNamespace(record);
      case 'pods':
        return renderPod(record as PodRecord);
      case 'services':
        return renderService(record as ServiceRecord);
      case 'deployments':
        return renderDeployment(record as DeploymentRecord, this.#state);
    }
  }

  #filter(resource: Resource, labelSelector: string, fieldSelector: string): (object: StoredObject) => boolean {
    const labels = parseLabelSelector(labelSelector);
    const fields = parseFieldSelector(fieldSelector);
    const supported = resource === 'pods' ? POD_FIELDS : resource === 'namespaces' ? NAMESPACE_FIELDS : OBJECT_FIELDS;
    for (const { field } of fields) if (!Object.hasOwn(supported, field)) throw new SelectorError(`field label not supported: ${field}`);
    return (object) => {
      const objectLabels = 'labels' in object ? object.labels : resource === 'namespaces' ? { 'kubernetes.io/metadata.name': object.name } : resource === 'deployments' ? (object as DeploymentRecord).matchLabels : {};
      if (!matchesLabelSelector(labels, objectLabels)) return false;
      return fields.every(({ field, op, value }) => (supported[field]!(object) === value) === (op === '='));
    };
  }

  #table(resource: Resource, records: readonly StoredObject[], request: TableRequest, withColumns: boolean): Record<string, unknown> {
    const now = this.#now().getTime();
    const age = (record: StoredObject): string => humanDuration(now - record.createdAt.getTime());
    const rows = records.map((record) => {
      let cells: unknown[];
      switch (resource) {
        case 'pods': {
          const pod = record as PodRecord;
          const restarts = pod.containers.reduce((sum, c) => sum + c.restartCount, 0);
          const status = pod.phase === 'Pending' && pod.nodeName !== '' ? 'ContainerCreating' : pod.phase === 'Succeeded' ? 'Completed' : pod.phase === 'Failed' ? 'Error' : pod.phase;
          cells = [
            pod.name,
            `${pod.ready ? pod.containers.length : 0}/${pod.containers.length}`,
            status,
            String(restarts),
            age(pod),
            pod.phase === 'Running' ? POD_IP : '<none>',
            pod.nodeName === '' ? '<none>' : pod.nodeName,
            '<none>',
            '<none>',
          ];
          break;
        }
        case 'services': {
          const svc = record as ServiceRecord;
          cells = [svc.name, 'ClusterIP', svc.clusterIP, '<none>', svc.ports.map((p) => `${p.port}/${p.protocol}`).join(','), age(svc), selectorText(svc.selector)];
          break;
        }
        case 'deployments': {
          const deployment = record as DeploymentRecord;
          const pods = this.#state.podsSelectedBy(deployment.namespace, deployment.matchLabels);
          const containers = pods[0]?.containers ?? [];
          const ready = pods.filter((pod) => pod.ready).length;
          cells = [
            deployment.name,
            `${ready}/${deployment.replicas}`,
            pods.length,
            ready,
            age(deployment),
            containers.map((c) => c.name).join(','),
            containers.map((c) => c.image).join(','),
            selectorText(deployment.matchLabels),
          ];
          break;
        }
        case 'namespaces':
          cells = [record.name, 'Active', age(record)];
          break;
      }
      const rendered = this.#render(resource, record);
      const object =
        request.includeObject === 'None'
          ? undefined
          : request.includeObject === 'Object'
            ? rendered
            : { kind: 'PartialObjectMetadata', apiVersion: `meta.k8s.io/${request.version}`, metadata: rendered['metadata'] };
      return { cells, ...(object === undefined ? {} : { object }) };
    });
    return {
      kind: 'Table',
      apiVersion: `meta.k8s.io/${request.version}`,
      metadata: { resourceVersion: this.#state.resourceVersion },
      ...(withColumns ? { columnDefinitions: COLUMNS[resource] } : {}),
      rows,
    };
  }
}

const APPS_GROUP = {
  name: 'apps',
  versions: [{ groupVersion: 'apps/v1', version: 'v1' }],
  preferredVersion: { groupVersion: 'apps/v1', version: 'v1' },
};

type FieldGetter = (object: StoredObject) => string;
const OBJECT_FIELDS: Record<string, FieldGetter> = {
  'metadata.name': (o) => o.name,
  'metadata.namespace': (o) => ('namespace' in o ? o.namespace : ''),
};
const NAMESPACE_FIELDS: Record<string, FieldGetter> = { 'metadata.name': (o) => o.name, 'status.phase': () => 'Active' };
const POD_FIELDS: Record<string, FieldGetter> = {
  ...OBJECT_FIELDS,
  'spec.nodeName': (o) => (o as PodRecord).nodeName,
  'spec.restartPolicy': () => 'Always',
  'spec.schedulerName': () => 'default-scheduler',
  'spec.serviceAccountName': () => 'default',
  'status.phase': (o) => (o as PodRecord).phase,
  'status.podIP': (o) => ((o as PodRecord).phase === 'Running' ? POD_IP : ''),
};

/** The answer to a request target that is not a path (`//`, `*`, a URL the parser rejects). */
export function badTargetReply(): Extract<ApiReply, { type: 'json' }> {
  return { type: 'json', status: 400, body: statusBody(400, 'BadRequest', 'the request target is not a valid path') };
}

function json(body: unknown): ApiReply {
  return { type: 'json', status: 200, body };
}

/** Writes a JSON or text reply with the API server's headers. */
export function writeReply(res: ServerResponse, reply: Exclude<ApiReply, { type: 'watch' }>, headOnly = false): void {
  const text = reply.type === 'json' ? JSON.stringify(reply.body) : reply.body;
  res.writeHead(reply.status, {
    'Content-Type': reply.type === 'json' ? 'application/json' : 'text/plain; charset=utf-8',
    'Content-Length': Buffer.byteLength(text),
    'Cache-Control': 'no-cache, private',
  });
  res.end(headOnly ? undefined : text);
}
