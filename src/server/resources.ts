/**
 * What the fake cluster knows about each resource it serves, in one table: its names (plural,
 * singular, short names), its group and version, where the objects live in the
 * {@link ClusterState}, how one renders, which labels and fields selectors see, and its table
 * columns and cells (`kubectl get`). Routing, discovery, get, list, watch and tables in
 * kube-api.ts all read this table; serving another resource is one more entry here.
 */
import type { ClusterState, DeploymentRecord, NamespaceRecord, PodRecord, ServiceRecord } from './cluster-state.js';
import { POD_IP, renderDeployment, renderNamespace, renderPod, renderService, selectorText, type StoredObject } from './render.js';

/** The resources the fake cluster serves (URL path segment, plural). */
export type Resource = 'namespaces' | 'pods' | 'services' | 'deployments';

/** One column of a server-side table (metav1.TableColumnDefinition). */
export interface ColumnDefinition {
  readonly name: string;
  readonly type: string;
  readonly format: string;
  readonly description: string;
  readonly priority: number;
}

/** One entry of an APIResourceList (discovery), in the key order the API server writes. */
export interface DiscoveryEntry {
  readonly name: string;
  readonly singularName: string;
  readonly namespaced: boolean;
  readonly kind: string;
  readonly verbs: readonly string[];
  readonly shortNames?: readonly string[];
  readonly categories?: readonly string[];
}

/** Everything the API needs to serve one resource whose stored objects are `R`. */
export interface ResourceDescriptor<R extends StoredObject = StoredObject> {
  readonly resource: Resource;
  readonly singularName: string;
  readonly shortNames: readonly string[];
  /** Discovery categories (`kubectl get all`); none for namespaces. */
  readonly categories?: readonly string[];
  readonly kind: string;
  /** API group: '' is the core (legacy) group under /api. */
  readonly group: '' | 'apps';
  readonly version: 'v1';
  readonly namespaced: boolean;
  /** Subresources listed in discovery right after the resource (pods/portforward). */
  readonly subresources?: readonly DiscoveryEntry[];
  /** The object, or undefined (a namespaced resource is never found without a namespace). */
  get(state: ClusterState, namespace: string | undefined, name: string): R | undefined;
  /** The objects of `namespace`, or of every namespace when undefined. */
  list(state: ClusterState, namespace: string | undefined): R[];
  /** The object as the API server renders it. */
  render(record: R, state: ClusterState): Record<string, unknown>;
  /** The labels a label selector matches against. */
  labels(record: R): Readonly<Record<string, string>>;
  /** The fields a field selector may name, and their values. */
  readonly fields: Readonly<Record<string, (record: R) => string>>;
  /** The columns the API server's printer uses (kubectl prints these). */
  readonly columns: readonly ColumnDefinition[];
  /** One table row's cells; `age` is already formatted. */
  cells(record: R, state: ClusterState, age: string): unknown[];
}

/** `group/version`, or just the version for the core group. */
export function apiVersionOf(descriptor: ResourceDescriptor): string {
  return descriptor.group === '' ? descriptor.version : `${descriptor.group}/${descriptor.version}`;
}

const VERBS = ['get', 'list', 'watch'];

const column = (name: string, type: string, description: string, priority = 0, format = ''): ColumnDefinition => ({ name, type, format, description, priority });
const NAME_COLUMN = column('Name', 'string', 'Name must be unique within a namespace.', 0, 'name');
const AGE_COLUMN = column('Age', 'string', 'CreationTimestamp is a timestamp representing the server time when this object was created.');

/** Field selectors every namespaced object supports. */
const OBJECT_FIELDS = {
  'metadata.name': (o: StoredObject) => o.name,
  'metadata.namespace': (o: StoredObject) => ('namespace' in o ? o.namespace : ''),
};

const NAMESPACES: ResourceDescriptor<NamespaceRecord> = {
  resource: 'namespaces',
  singularName: 'namespace',
  shortNames: ['ns'],
  kind: 'Namespace',
  group: '',
  version: 'v1',
  namespaced: false,
  get: (state, _namespace, name) => state.namespace(name),
  list: (state) => state.namespaces(),
  render: (record) => renderNamespace(record),
  labels: (record) => ({ 'kubernetes.io/metadata.name': record.name }),
  fields: { 'metadata.name': (o) => o.name, 'status.phase': () => 'Active' },
  columns: [NAME_COLUMN, column('Status', 'string', 'The status of the namespace'), AGE_COLUMN],
  cells: (record, _state, age) => [record.name, 'Active', age],
};

const PODS: ResourceDescriptor<PodRecord> = {
  resource: 'pods',
  singularName: 'pod',
  shortNames: ['po'],
  categories: ['all'],
  kind: 'Pod',
  group: '',
  version: 'v1',
  namespaced: true,
  subresources: [{ name: 'pods/portforward', singularName: '', namespaced: true, kind: 'PodPortForwardOptions', verbs: ['create', 'get'] }],
  get: (state, namespace, name) => (namespace === undefined ? undefined : state.pod(namespace, name)),
  list: (state, namespace) => state.pods(namespace),
  render: (record) => renderPod(record),
  labels: (record) => record.labels,
  fields: {
    ...OBJECT_FIELDS,
    'spec.nodeName': (o) => o.nodeName,
    'spec.restartPolicy': () => 'Always',
    'spec.schedulerName': () => 'default-scheduler',
    'spec.serviceAccountName': () => 'default',
    'status.phase': (o) => o.phase,
    'status.podIP': (o) => (o.phase === 'Running' ? POD_IP : ''),
  },
  columns: [
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
  cells: (pod, _state, age) => {
    const restarts = pod.containers.reduce((sum, c) => sum + c.restartCount, 0);
    const status = pod.phase === 'Pending' && pod.nodeName !== '' ? 'ContainerCreating' : pod.phase === 'Succeeded' ? 'Completed' : pod.phase === 'Failed' ? 'Error' : pod.phase;
    return [
      pod.name,
      `${pod.ready ? pod.containers.length : 0}/${pod.containers.length}`,
      status,
      String(restarts),
      age,
      pod.phase === 'Running' ? POD_IP : '<none>',
      pod.nodeName === '' ? '<none>' : pod.nodeName,
      '<none>',
      '<none>',
    ];
  },
};

const SERVICES: ResourceDescriptor<ServiceRecord> = {
  resource: 'services',
  singularName: 'service',
  shortNames: ['svc'],
  categories: ['all'],
  kind: 'Service',
  group: '',
  version: 'v1',
  namespaced: true,
  get: (state, namespace, name) => (namespace === undefined ? undefined : state.service(namespace, name)),
  list: (state, namespace) => state.services(namespace),
  render: (record) => renderService(record),
  // A service's selector picks pods; the service itself carries no labels.
  labels: () => ({}),
  fields: OBJECT_FIELDS,
  columns: [
    NAME_COLUMN,
    column('Type', 'string', 'type determines how the Service is exposed.'),
    column('Cluster-IP', 'string', 'clusterIP is the IP address of the service.'),
    column('External-IP', 'string', 'externalIPs is a list of IP addresses for which nodes in the cluster will also accept traffic for this service.'),
    column('Port(s)', 'string', 'The list of ports that are exposed by this service.'),
    AGE_COLUMN,
    column('Selector', 'string', 'Route service traffic to pods with label keys and values matching this selector.', 1),
  ],
  cells: (svc, _state, age) => [svc.name, 'ClusterIP', svc.clusterIP, '<none>', svc.ports.map((p) => `${p.port}/${p.protocol}`).join(','), age, selectorText(svc.selector)],
};

const DEPLOYMENTS: ResourceDescriptor<DeploymentRecord> = {
  resource: 'deployments',
  singularName: 'deployment',
  shortNames: ['deploy'],
  categories: ['all'],
  kind: 'Deployment',
  group: 'apps',
  version: 'v1',
  namespaced: true,
  get: (state, namespace, name) => (namespace === undefined ? undefined : state.deployment(namespace, name)),
  list: (state, namespace) => state.deployments(namespace),
  render: (record, state) => renderDeployment(record, state),
  // The fake deployment's labels are its selector's (the template's labels, as kubectl create makes them).
  labels: (record) => record.matchLabels,
  fields: OBJECT_FIELDS,
  columns: [
    NAME_COLUMN,
    column('Ready', 'string', 'Number of the pod with ready state'),
    column('Up-to-date', 'integer', 'Total number of non-terminated pods targeted by this deployment that have the desired template spec.'),
    column('Available', 'integer', 'Total number of available pods (ready for at least minReadySeconds) targeted by this deployment.'),
    AGE_COLUMN,
    column('Containers', 'string', 'Names of each container in the template.', 1),
    column('Images', 'string', 'Images referenced by each container in the template.', 1),
    column('Selector', 'string', 'Label selector for pods. Existing ReplicaSets whose pods are selected by this will be the ones affected by this deployment.', 1),
  ],
  cells: (deployment, state, age) => {
    const pods = state.podsSelectedBy(deployment.namespace, deployment.matchLabels);
    const containers = pods[0]?.containers ?? [];
    const ready = pods.filter((pod) => pod.ready).length;
    return [
      deployment.name,
      `${ready}/${deployment.replicas}`,
      pods.length,
      ready,
      age,
      containers.map((c) => c.name).join(','),
      containers.map((c) => c.image).join(','),
      selectorText(deployment.matchLabels),
    ];
  },
};

/** Every served resource, in discovery order within each group. */
export const RESOURCES: Readonly<Record<Resource, ResourceDescriptor>> = {
  namespaces: NAMESPACES as unknown as ResourceDescriptor,
  pods: PODS as unknown as ResourceDescriptor,
  services: SERVICES as unknown as ResourceDescriptor,
  deployments: DEPLOYMENTS as unknown as ResourceDescriptor,
};

/** The descriptor of `name` in `group`, or undefined when that group serves no such resource. */
export function resourceIn(group: ResourceDescriptor['group'], name: string | undefined): ResourceDescriptor | undefined {
  const descriptor = name === undefined || !Object.hasOwn(RESOURCES, name) ? undefined : RESOURCES[name as Resource];
  return descriptor?.group === group ? descriptor : undefined;
}

/** The discovery entries (APIResourceList `resources`) of one group, subresources after their resource. */
export function discoveryEntries(group: ResourceDescriptor['group']): DiscoveryEntry[] {
  return Object.values(RESOURCES)
    .filter((d) => d.group === group)
    .flatMap((d) => [
      {
        name: d.resource,
        singularName: d.singularName,
        namespaced: d.namespaced,
        kind: d.kind,
        verbs: VERBS,
        shortNames: d.shortNames,
        ...(d.categories === undefined ? {} : { categories: d.categories }),
      },
      ...(d.subresources ?? []),
    ]);
}
