/**
 * The parts of Kubernetes API objects the target resolver reads, lifted out of their JSON once:
 * a pod's identity, status and ports, a service's selector and ports, a deployment's selector.
 * Absent fields take the value Go's zero value gives them in kubectl (an empty string, a zero
 * time, no ports), so the ordering and port rules below read like kubectl's. A document that is
 * not the object asked for at all (no `metadata.name`) is ERR_PROTOCOL: the server is not an API
 * server, or not the one we think.
 */
import { ErrorCode, KubemuxError } from '../errors.js';

/** A port a container declares. */
export interface PodPort {
  readonly name: string | undefined;
  readonly containerPort: number;
  /** `TCP`, `UDP` or `SCTP` (the API server fills in `TCP` when a manifest leaves it out). */
  readonly protocol: string;
}

/** What the resolver needs to know about a pod. Times are milliseconds since the epoch; undefined is Go's zero time (absent). */
export interface PodSummary {
  readonly name: string;
  readonly uid: string;
  /** `status.phase`: `Pending`, `Running`, `Succeeded`, `Failed`, `Unknown`, or `''` when absent. */
  readonly phase: string;
  /** `spec.nodeName`; `''` while the pod is not scheduled. */
  readonly nodeName: string;
  /** Whether the Ready condition is True. */
  readonly ready: boolean;
  /** When the Ready condition became True (its lastTransitionTime); undefined when not ready or not recorded. */
  readonly readySinceMs: number | undefined;
  readonly createdMs: number | undefined;
  /** `metadata.deletionTimestamp`: set once the pod is terminating. */
  readonly deletingSinceMs: number | undefined;
  /** The highest restart count of its regular containers. */
  readonly maxRestarts: number;
  /** The highest restart count of its sidecars (init containers with `restartPolicy: Always`). */
  readonly maxSidecarRestarts: number;
  /** Ports of `spec.containers`, in order. */
  readonly containerPorts: readonly PodPort[];
  /** Ports of `spec.initContainers`, in order (kubectl looks names up there too). */
  readonly initContainerPorts: readonly PodPort[];
}

/** A port of a service. */
export interface ServicePortSummary {
  readonly name: string | undefined;
  readonly port: number;
  /** A number, a container port name, or undefined (absent or 0: the same as `port`). */
  readonly targetPort: number | string | undefined;
  readonly protocol: string;
}

/** What the resolver needs to know about a service. */
export interface ServiceSummary {
  readonly name: string;
  /** `None` for a headless service (kubectl then ignores targetPort). */
  readonly clusterIP: string;
  /** `spec.selector`; empty for a service without one. */
  readonly selector: Readonly<Record<string, string>>;
  readonly ports: readonly ServicePortSummary[];
}

/** A pod list: its items and the resource version to watch from. */
export interface PodList {
  readonly pods: readonly PodSummary[];
  readonly resourceVersion: string;
}

type Json = Record<string, unknown>;

const asObject = (value: unknown): Json => (typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Json) : {});
const asArray = (value: unknown): unknown[] => (Array.isArray(value) ? value : []);
const asString = (value: unknown): string => (typeof value === 'string' ? value : '');
const asNumber = (value: unknown): number => (typeof value === 'number' && Number.isFinite(value) ? value : 0);

/** A metav1.Time (RFC 3339) as epoch milliseconds; undefined for absent, null or unparsable (Go's zero time). */
function time(value: unknown): number | undefined {
  if (typeof value !== 'string' || value === '') return undefined;
  const ms = Date.parse(value);
  return Number.isNaN(ms) ? undefined : ms;
}

function metadataName(json: unknown, what: string): { metadata: Json; name: string } {
  const metadata = asObject(asObject(json)['metadata']);
  const name = asString(metadata['name']);
  if (name === '') throw new KubemuxError(ErrorCode.PROTOCOL, 'transport', `the API server's answer is not a ${what} (no metadata.name)`);
  return { metadata, name };
}

function portsOf(containers: unknown): PodPort[] {
  return asArray(containers).flatMap((container) =>
    asArray(asObject(container)['ports']).map((port) => {
      const p = asObject(port);
      const name = asString(p['name']);
      return { name: name === '' ? undefined : name, containerPort: asNumber(p['containerPort']), protocol: asString(p['protocol']) || 'TCP' };
    }),
  );
}

/** A pod object (`GET .../pods/NAME`, a list item, a watch event's object). */
export function podFromJson(json: unknown): PodSummary {
  const { metadata, name } = metadataName(json, 'pod');
  const spec = asObject(asObject(json)['spec']);
  const status = asObject(asObject(json)['status']);
  const readyCondition = asArray(status['conditions']).map(asObject).find((c) => c['type'] === 'Ready');
  const ready = readyCondition !== undefined && readyCondition['status'] === 'True';
  const sidecars = new Set(
    asArray(spec['initContainers'])
      .map(asObject)
      .filter((c) => c['restartPolicy'] === 'Always')
      .map((c) => asString(c['name'])),
  );
  const maxOf = (statuses: unknown, include: (s: Json) => boolean): number =>
    asArray(statuses)
      .map(asObject)
      .filter(include)
      .reduce((max, s) => Math.max(max, asNumber(s['restartCount'])), 0);
  return {
    name,
    uid: asString(metadata['uid']),
    phase: asString(status['phase']),
    nodeName: asString(spec['nodeName']),
    ready,
    readySinceMs: ready ? time(readyCondition['lastTransitionTime']) : undefined,
    createdMs: time(metadata['creationTimestamp']),
    deletingSinceMs: time(metadata['deletionTimestamp']),
    maxRestarts: maxOf(status['containerStatuses'], () => true),
    maxSidecarRestarts: maxOf(status['initContainerStatuses'], (s) => sidecars.has(asString(s['name']))),
    containerPorts: portsOf(spec['containers']),
    initContainerPorts: portsOf(spec['initContainers']),
  };
}

/** A PodList (`GET .../pods?labelSelector=...`). */
export function podListFromJson(json: unknown): PodList {
  const list = asObject(json);
  if (!Array.isArray(list['items'])) throw new KubemuxError(ErrorCode.PROTOCOL, 'transport', "the API server's answer is not a pod list (no items)");
  return { pods: list['items'].map(podFromJson), resourceVersion: asString(asObject(list['metadata'])['resourceVersion']) };
}

/** A service object. */
export function serviceFromJson(json: unknown): ServiceSummary {
  const { name } = metadataName(json, 'service');
  const spec = asObject(asObject(json)['spec']);
  const selector: Record<string, string> = {};
  for (const [key, value] of Object.entries(asObject(spec['selector']))) if (typeof value === 'string') selector[key] = value;
  return {
    name,
    clusterIP: asString(spec['clusterIP']),
    selector,
    ports: asArray(spec['ports']).map((port) => {
      const p = asObject(port);
      const portName = asString(p['name']);
      const target = p['targetPort'];
      // intstr: a JSON number is a port, a JSON string is a name (even "8080"), 0 or absent is "same as port".
      const targetPort = typeof target === 'string' && target !== '' ? target : typeof target === 'number' && target !== 0 ? target : undefined;
      return { name: portName === '' ? undefined : portName, port: asNumber(p['port']), targetPort, protocol: asString(p['protocol']) || 'TCP' };
    }),
  };
}

/**
 * A deployment's `spec.selector` as a label selector string (`app=web,tier in (a,b)`), as
 * apimachinery's LabelSelectorAsSelector renders it: requirements sorted by key. An empty
 * selector selects every pod (`''`), as in kubectl. Fails with ERR_PROTOCOL for an operator
 * that is not In, NotIn, Exists or DoesNotExist.
 */
export function deploymentSelector(json: unknown): { name: string; selector: string } {
  const { name } = metadataName(json, 'deployment');
  const selector = asObject(asObject(asObject(json)['spec'])['selector']);
  const requirements: { key: string; text: string }[] = [];
  for (const [key, value] of Object.entries(asObject(selector['matchLabels']))) requirements.push({ key, text: `${key}=${asString(value)}` });
  for (const expression of asArray(selector['matchExpressions']).map(asObject)) {
    const key = asString(expression['key']);
    const values = asArray(expression['values']).map(asString).sort();
    const operator = asString(expression['operator']);
    switch (operator) {
      case 'In':
        requirements.push({ key, text: `${key} in (${values.join(',')})` });
        break;
      case 'NotIn':
        requirements.push({ key, text: `${key} notin (${values.join(',')})` });
        break;
      case 'Exists':
        requirements.push({ key, text: key });
        break;
      case 'DoesNotExist':
        requirements.push({ key, text: `!${key}` });
        break;
      default:
        throw new KubemuxError(ErrorCode.PROTOCOL, 'transport', `deployment ${name}: ${JSON.stringify(operator)} is not a valid label selector operator`);
    }
  }
  requirements.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  return { name, selector: requirements.map((r) => r.text).join(',') };
}

/** A selector map (a service's) as a label selector string, sorted by key. */
export function selectorFromLabels(labels: Readonly<Record<string, string>>): string {
  return Object.keys(labels)
    .sort()
    .map((key) => `${key}=${labels[key]}`)
    .join(',');
}

/** The resource version of a watch event's object, if it has one. */
export function resourceVersionOf(json: unknown): string | undefined {
  const version = asString(asObject(asObject(json)['metadata'])['resourceVersion']);
  return version === '' ? undefined : version;
}
