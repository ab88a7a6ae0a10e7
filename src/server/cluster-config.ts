/**
 * What the fake cluster contains: namespaces with pods, services and deployments, described by a
 * small JSON document.
 *
 * The format is JSON, not YAML, on purpose: Node parses JSON without a dependency, and the
 * document is small enough to write by hand. {@link loadClusterConfig} validates every field and
 * names the offending one (`namespaces.default.pods[0].containers[0].ports[1].containerPort`)
 * so that a typo fails at startup rather than as a puzzling kubectl error later.
 *
 * Example:
 * ```json
 * {
 *   "namespaces": {
 *     "default": {
 *       "pods": [{ "name": "demo", "labels": { "app": "demo" },
 *                  "containers": [{ "name": "app", "ports": [{ "containerPort": 8080, "name": "http" }] }],
 *                  "portMap": { "8080": "127.0.0.1:18080" } }],
 *       "services": [{ "name": "demo", "selector": { "app": "demo" }, "ports": [{ "port": 80, "targetPort": "http" }] }],
 *       "deployments": [{ "name": "demo", "selector": { "matchLabels": { "app": "demo" } }, "replicas": 1 }]
 *     }
 *   }
 * }
 * ```
 */
import { readFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { ErrorCode, KubemuxError } from '../errors.js';

/** A port a container declares. */
export interface ContainerPortConfig {
  readonly containerPort: number;
  /** An IANA service name (at most 15 characters, lower case, digits, '-', one letter at least). */
  readonly name?: string;
  /** Default `'TCP'`. */
  readonly protocol?: 'TCP' | 'UDP' | 'SCTP';
}

/** A container of a pod (the fake cluster runs nothing; this is what the API shows). */
export interface ContainerConfig {
  readonly name: string;
  /** Default `'kubemux/placeholder'`. */
  readonly image?: string;
  readonly ports?: readonly ContainerPortConfig[];
  /** How often the container has restarted (kubectl prefers pods with fewer restarts). Default 0. */
  readonly restartCount?: number;
}

/** The phases a pod can be in (`status.phase`). */
export const POD_PHASES = ['Pending', 'Running', 'Succeeded', 'Failed', 'Unknown'] as const;
/** One of {@link POD_PHASES}. */
export type PodPhase = (typeof POD_PHASES)[number];

/** A pod. */
export interface PodConfig {
  /** A DNS-1123 subdomain. */
  readonly name: string;
  /** Default: generated at startup. */
  readonly uid?: string;
  readonly labels?: Readonly<Record<string, string>>;
  readonly containers: readonly ContainerConfig[];
  /**
   * Where a forwarded connection to a pod port really goes: pod port (as a decimal string) →
   * `"host:port"` (`"[::1]:port"` for IPv6). Ports not listed go to 127.0.0.1 on the same port.
   */
  readonly portMap?: Readonly<Record<string, string>>;
  /** `status.phase`. Default `'Running'`. kubectl forwards only to a Running pod. */
  readonly phase?: PodPhase;
  /** Whether the pod's Ready condition is True. Default: true when Running. Only a Running pod can be ready. */
  readonly ready?: boolean;
  /** `metadata.creationTimestamp`, RFC 3339 (`2025-01-01T00:00:00Z`). Default: when the cluster (or `state.addPod`) created it. */
  readonly creationTimestamp?: string;
  /** When the pod became ready (the Ready condition's `lastTransitionTime`), RFC 3339; only for a ready pod. Default: its creationTimestamp. */
  readonly readySince?: string;
  /** The node it is scheduled on; `""` for a pod no node was chosen for yet (then it must be Pending). Default `kubemux-node`. */
  readonly nodeName?: string;
}

/** A port of a service. */
export interface ServicePortConfig {
  /** Required when the service has more than one port, as in Kubernetes. */
  readonly name?: string;
  readonly port: number;
  /** A container port number or a container port name. Default: the same number as `port`. */
  readonly targetPort?: number | string;
  /** Default `'TCP'`. */
  readonly protocol?: 'TCP' | 'UDP' | 'SCTP';
}

/** A ClusterIP service. */
export interface ServiceConfig {
  /** A DNS-1035 label. */
  readonly name: string;
  readonly selector: Readonly<Record<string, string>>;
  readonly ports: readonly ServicePortConfig[];
}

/** A deployment; it owns nothing here, it only selects the pods listed in its namespace. */
export interface DeploymentConfig {
  /** A DNS-1123 subdomain. */
  readonly name: string;
  readonly selector: { readonly matchLabels: Readonly<Record<string, string>> };
  /** Default 1. */
  readonly replicas?: number;
}

/** The objects of one namespace. */
export interface NamespaceConfig {
  readonly pods?: readonly PodConfig[];
  readonly services?: readonly ServiceConfig[];
  readonly deployments?: readonly DeploymentConfig[];
}

/** The whole fake cluster. Namespace `default` always exists, listed or not. */
export interface ClusterConfig {
  readonly namespaces: Readonly<Record<string, NamespaceConfig>>;
}

/** The default pod's HTTP port (named `http`). */
export const DEFAULT_HTTP_PORT = 8080;
/** The default pod's second port (named `db`). */
export const DEFAULT_DB_PORT = 5432;

/**
 * One namespace, `default`, with pod `demo` (labels app=demo; container `app` with ports 8080
 * named `http` and 5432 named `db`), deployment `demo` selecting app=demo, and service `demo`
 * (port 80 → targetPort `http`, port 5432 → 5432).
 */
export function defaultClusterConfig(): ClusterConfig {
  return {
    namespaces: {
      default: {
        pods: [
          {
            name: 'demo',
            labels: { app: 'demo' },
            containers: [
              {
                name: 'app',
                image: 'kubemux/demo',
                ports: [
                  { containerPort: DEFAULT_HTTP_PORT, name: 'http', protocol: 'TCP' },
                  { containerPort: DEFAULT_DB_PORT, name: 'db', protocol: 'TCP' },
                ],
              },
            ],
          },
        ],
        services: [
          {
            name: 'demo',
            selector: { app: 'demo' },
            ports: [
              { name: 'http', port: 80, targetPort: 'http', protocol: 'TCP' },
              { name: 'db', port: DEFAULT_DB_PORT, targetPort: DEFAULT_DB_PORT, protocol: 'TCP' },
            ],
          },
        ],
        deployments: [{ name: 'demo', selector: { matchLabels: { app: 'demo' } }, replicas: 1 }],
      },
    },
  };
}

/** Reads and validates a JSON cluster config; errors are ERR_INVALID_ARGUMENT (usage) naming the field. */
export async function loadClusterConfig(path: string): Promise<ClusterConfig> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new KubemuxError(ErrorCode.INVALID_ARGUMENT, 'usage', `cannot read cluster config ${path}: ${(err as Error).message}`, { cause: err });
  }
  let document: unknown;
  try {
    document = JSON.parse(text);
  } catch (err) {
    throw new KubemuxError(ErrorCode.INVALID_ARGUMENT, 'usage', `cluster config ${path} is not JSON: ${(err as Error).message}`, { cause: err });
  }
  return validateClusterConfig(document, path);
}

// --- validation ----------------------------------------------------------------------------------

/** Kubernetes name rules (apimachinery validation). */
const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const DNS1035_LABEL = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;
const LABEL_NAME = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;
const IANA_SVC_NAME = /^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/;
const PROTOCOLS = ['TCP', 'UDP', 'SCTP'] as const;
const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/;

class Validator {
  readonly #source: string;

  constructor(source: string) {
    this.#source = source;
  }

  fail(field: string, problem: string): never {
    throw new KubemuxError(ErrorCode.INVALID_ARGUMENT, 'usage', `cluster config ${this.#source}: ${field} ${problem}`);
  }

  object(value: unknown, field: string, allowed: readonly string[]): Record<string, unknown> {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) this.fail(field, 'must be an object');
    const record = value as Record<string, unknown>;
    for (const key of Object.keys(record)) {
      if (!allowed.includes(key)) this.fail(`${field}.${key}`, `is not a known field (expected one of: ${allowed.join(', ')})`);
    }
    return record;
  }

  array(value: unknown, field: string): unknown[] {
    if (!Array.isArray(value)) this.fail(field, 'must be an array');
    return value;
  }

  string(value: unknown, field: string, pattern?: RegExp, maxLength?: number, rule?: string): string {
    if (typeof value !== 'string') this.fail(field, 'must be a string');
    if (maxLength !== undefined && value.length > maxLength) this.fail(field, `must be at most ${maxLength} characters`);
    if (pattern !== undefined && !pattern.test(value)) this.fail(field, `${JSON.stringify(value)} is not ${rule ?? `of the form ${pattern.source}`}`);
    return value;
  }

  port(value: unknown, field: string): number {
    if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > 65_535) this.fail(field, `must be an integer in 1..65535, got ${JSON.stringify(value)}`);
    return value;
  }

  protocol(value: unknown, field: string): 'TCP' | 'UDP' | 'SCTP' | undefined {
    if (value === undefined) return undefined;
    if (!PROTOCOLS.includes(value as 'TCP')) this.fail(field, `must be one of ${PROTOCOLS.join(', ')}`);
    return value as 'TCP' | 'UDP' | 'SCTP';
  }

  labels(value: unknown, field: string): Record<string, string> {
    const record = this.object(value, field, Object.keys(value ?? {}));
    const out: Record<string, string> = {};
    for (const [key, labelValue] of Object.entries(record)) {
      const slash = key.lastIndexOf('/');
      const prefix = slash >= 0 ? key.slice(0, slash) : undefined;
      const nameOnly = slash >= 0 ? key.slice(slash + 1) : key;
      if (prefix !== undefined) this.string(prefix, `${field} key ${JSON.stringify(key)} prefix`, DNS1123_SUBDOMAIN, 253, 'a DNS-1123 subdomain');
      this.string(nameOnly, `${field} key ${JSON.stringify(key)}`, LABEL_NAME, 63, 'a valid label name');
      out[key] = this.string(labelValue, `${field}.${key}`, LABEL_VALUE, 63, 'a valid label value');
    }
    return out;
  }

  portName(value: unknown, field: string): string {
    const text = this.string(value, field, IANA_SVC_NAME, 15, 'an IANA service name (lower case letters, digits and inner dashes)');
    if (!/[a-z]/.test(text) || text.includes('--')) this.fail(field, `${JSON.stringify(text)} must contain a letter and no "--"`);
    return text;
  }

  /** An RFC 3339 time as metav1.Time accepts it (`2025-01-01T00:00:00Z`, fractions and offsets allowed). */
  timestamp(value: unknown, field: string): string {
    const text = this.string(value, field, RFC3339, 64, 'an RFC 3339 time such as 2025-01-01T00:00:00Z');
    if (Number.isNaN(Date.parse(text))) this.fail(field, `${JSON.stringify(text)} is not a valid date`);
    return text;
  }

  unique(names: readonly string[], field: string, what: string): void {
    const seen = new Set<string>();
    for (const [i, entry] of names.entries()) {
      if (seen.has(entry)) this.fail(`${field}[${i}].name`, `${JSON.stringify(entry)} repeats an earlier ${what}`);
      seen.add(entry);
    }
  }
}

/** Parses a `"host:port"` target of a pod's portMap. */
export function parseHostPort(text: string, options: { allowPortZero?: boolean } = {}): { host: string; port: number } | undefined {
  const match = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(text);
  if (match === null) return undefined;
  const host = match[1] ?? match[2]!;
  const port = Number(match[3]);
  // Port 0 means "any free port" for a listen address, and nothing for a target.
  if (port < (options.allowPortZero === true ? 0 : 1) || port > 65_535) return undefined;
  if (match[1] !== undefined && isIP(host) !== 6) return undefined;
  return { host, port };
}

/**
 * Checks an already parsed document (from JSON or built in code) and returns it as a
 * {@link ClusterConfig}; `source` names it in error messages.
 */
export function validateClusterConfig(document: unknown, source = '(inline)'): ClusterConfig {
  const v = new Validator(source);
  const root = v.object(document, 'the document', ['namespaces']);
  if (root['namespaces'] === undefined) v.fail('namespaces', 'is required');
  const namespaces = v.object(root['namespaces'], 'namespaces', Object.keys(root['namespaces'] ?? {}));
  const result: Record<string, NamespaceConfig> = {};
  for (const [nsName, nsValue] of Object.entries(namespaces)) {
    const nsField = `namespaces.${nsName}`;
    v.string(nsName, `${nsField} (namespace name)`, DNS1123_LABEL, 63, 'a DNS-1123 label');
    const ns = v.object(nsValue, nsField, ['pods', 'services', 'deployments']);
    const pods = v.array(ns['pods'] ?? [], `${nsField}.pods`).map((pod, i) => validatePod(v, pod, `${nsField}.pods[${i}]`));
    const services = v.array(ns['services'] ?? [], `${nsField}.services`).map((svc, i) => validateService(v, svc, `${nsField}.services[${i}]`));
    const deployments = v
      .array(ns['deployments'] ?? [], `${nsField}.deployments`)
      .map((deployment, i) => validateDeployment(v, deployment, `${nsField}.deployments[${i}]`));
    v.unique(pods.map((p) => p.name), `${nsField}.pods`, 'pod name');
    v.unique(services.map((s) => s.name), `${nsField}.services`, 'service name');
    v.unique(deployments.map((d) => d.name), `${nsField}.deployments`, 'deployment name');
    result[nsName] = { pods, services, deployments };
  }
  const uids = new Set<string>();
  for (const [nsName, ns] of Object.entries(result)) {
    for (const [i, pod] of (ns.pods ?? []).entries()) {
      if (pod.uid === undefined) continue;
      if (uids.has(pod.uid)) v.fail(`namespaces.${nsName}.pods[${i}].uid`, `${JSON.stringify(pod.uid)} is used by another pod`);
      uids.add(pod.uid);
    }
  }
  return { namespaces: result };
}

function validatePod(v: Validator, value: unknown, field: string): PodConfig {
  const pod = v.object(value, field, ['name', 'uid', 'labels', 'containers', 'portMap', 'phase', 'ready', 'creationTimestamp', 'readySince', 'nodeName']);
  const name = v.string(pod['name'], `${field}.name`, DNS1123_SUBDOMAIN, 253, 'a DNS-1123 subdomain');
  const uid = pod['uid'] === undefined ? undefined : v.string(pod['uid'], `${field}.uid`, /^[-A-Za-z0-9]{1,128}$/, 128, 'a UID (letters, digits, dashes)');
  const labels = v.labels(pod['labels'] ?? {}, `${field}.labels`);
  const containerValues = v.array(pod['containers'], `${field}.containers`);
  if (containerValues.length === 0) v.fail(`${field}.containers`, 'must list at least one container');
  const containers = containerValues.map((container, i) => validateContainer(v, container, `${field}.containers[${i}]`));
  v.unique(containers.map((c) => c.name), `${field}.containers`, 'container name');
  const portNames = containers.flatMap((c) => (c.ports ?? []).map((p) => p.name).filter((n): n is string => n !== undefined));
  if (new Set(portNames).size !== portNames.length) v.fail(`${field}.containers`, 'declare a port name twice in one pod');
  let portMap: Record<string, string> | undefined;
  if (pod['portMap'] !== undefined) {
    const raw = v.object(pod['portMap'], `${field}.portMap`, Object.keys(pod['portMap'] ?? {}));
    portMap = {};
    for (const [key, target] of Object.entries(raw)) {
      if (!/^\d+$/.test(key)) v.fail(`${field}.portMap key ${JSON.stringify(key)}`, 'must be a pod port number');
      v.port(Number(key), `${field}.portMap key ${JSON.stringify(key)}`);
      const text = v.string(target, `${field}.portMap.${key}`);
      if (parseHostPort(text) === undefined) v.fail(`${field}.portMap.${key}`, `${JSON.stringify(text)} is not "host:port" (IPv6 as "[::1]:port")`);
      portMap[String(Number(key))] = text;
    }
  }
  const status = validatePodStatus(v, pod, field);
  return { name, ...(uid === undefined ? {} : { uid }), labels, containers, ...(portMap === undefined ? {} : { portMap }), ...status };
}

/** The status fields of a pod: phase, readiness, times, node; each absent when not configured. */
function validatePodStatus(v: Validator, pod: Record<string, unknown>, field: string): Pick<PodConfig, 'phase' | 'ready' | 'creationTimestamp' | 'readySince' | 'nodeName'> {
  let phase: PodPhase | undefined;
  if (pod['phase'] !== undefined) {
    if (!POD_PHASES.includes(pod['phase'] as PodPhase)) v.fail(`${field}.phase`, `must be one of ${POD_PHASES.join(', ')}`);
    phase = pod['phase'] as PodPhase;
  }
  const effectivePhase = phase ?? 'Running';
  let ready: boolean | undefined;
  if (pod['ready'] !== undefined) {
    if (typeof pod['ready'] !== 'boolean') v.fail(`${field}.ready`, 'must be true or false');
    ready = pod['ready'];
    // The kubelet reports Ready only for a pod whose containers run.
    if (ready && effectivePhase !== 'Running') v.fail(`${field}.ready`, `cannot be true for a pod in phase ${effectivePhase}`);
  }
  const creationTimestamp = pod['creationTimestamp'] === undefined ? undefined : v.timestamp(pod['creationTimestamp'], `${field}.creationTimestamp`);
  let readySince: string | undefined;
  if (pod['readySince'] !== undefined) {
    readySince = v.timestamp(pod['readySince'], `${field}.readySince`);
    if (!(ready ?? effectivePhase === 'Running')) v.fail(`${field}.readySince`, 'is set but the pod is not ready');
  }
  let nodeName: string | undefined;
  if (pod['nodeName'] !== undefined) {
    nodeName = v.string(pod['nodeName'], `${field}.nodeName`);
    if (nodeName !== '') v.string(nodeName, `${field}.nodeName`, DNS1123_SUBDOMAIN, 253, 'a DNS-1123 subdomain (or "" for a pod not scheduled yet)');
    // Only the scheduler's choice of a node lets a pod leave Pending.
    else if (effectivePhase !== 'Pending') v.fail(`${field}.nodeName`, `is "" (not scheduled) but the pod is ${effectivePhase}; only a Pending pod can be unscheduled`);
  }
  return {
    ...(phase === undefined ? {} : { phase }),
    ...(ready === undefined ? {} : { ready }),
    ...(creationTimestamp === undefined ? {} : { creationTimestamp }),
    ...(readySince === undefined ? {} : { readySince }),
    ...(nodeName === undefined ? {} : { nodeName }),
  };
}

function validateContainer(v: Validator, value: unknown, field: string): ContainerConfig {
  const container = v.object(value, field, ['name', 'image', 'ports', 'restartCount']);
  const name = v.string(container['name'], `${field}.name`, DNS1123_LABEL, 63, 'a DNS-1123 label');
  const image = container['image'] === undefined ? undefined : v.string(container['image'], `${field}.image`, /^\S+$/, 1024, 'an image reference without spaces');
  const ports = v.array(container['ports'] ?? [], `${field}.ports`).map((portValue, i) => {
    const portField = `${field}.ports[${i}]`;
    const port = v.object(portValue, portField, ['containerPort', 'name', 'protocol']);
    const containerPort = v.port(port['containerPort'], `${portField}.containerPort`);
    const portName = port['name'] === undefined ? undefined : v.portName(port['name'], `${portField}.name`);
    const protocol = v.protocol(port['protocol'], `${portField}.protocol`);
    return { containerPort, ...(portName === undefined ? {} : { name: portName }), ...(protocol === undefined ? {} : { protocol }) };
  });
  const restartCount = container['restartCount'];
  if (restartCount !== undefined && (typeof restartCount !== 'number' || !Number.isInteger(restartCount) || restartCount < 0 || restartCount > 2 ** 31 - 1)) {
    v.fail(`${field}.restartCount`, `must be an integer in 0..2147483647, got ${JSON.stringify(restartCount)}`);
  }
  return { name, ...(image === undefined ? {} : { image }), ports, ...(restartCount === undefined ? {} : { restartCount }) };
}

function validateService(v: Validator, value: unknown, field: string): ServiceConfig {
  const service = v.object(value, field, ['name', 'selector', 'ports']);
  const name = v.string(service['name'], `${field}.name`, DNS1035_LABEL, 63, 'a DNS-1035 label');
  const selector = v.labels(service['selector'] ?? {}, `${field}.selector`);
  const portValues = v.array(service['ports'], `${field}.ports`);
  if (portValues.length === 0) v.fail(`${field}.ports`, 'must list at least one port');
  const ports = portValues.map((portValue, i) => {
    const portField = `${field}.ports[${i}]`;
    const port = v.object(portValue, portField, ['name', 'port', 'targetPort', 'protocol']);
    const portName = port['name'] === undefined ? undefined : v.portName(port['name'], `${portField}.name`);
    if (portName === undefined && portValues.length > 1) v.fail(`${portField}.name`, 'is required when a service has more than one port');
    const number = v.port(port['port'], `${portField}.port`);
    const target = port['targetPort'];
    let targetPort: number | string | undefined;
    if (typeof target === 'number') targetPort = v.port(target, `${portField}.targetPort`);
    else if (target !== undefined) targetPort = v.portName(target, `${portField}.targetPort`);
    const protocol = v.protocol(port['protocol'], `${portField}.protocol`);
    return {
      ...(portName === undefined ? {} : { name: portName }),
      port: number,
      ...(targetPort === undefined ? {} : { targetPort }),
      ...(protocol === undefined ? {} : { protocol }),
    };
  });
  const names = ports.map((p) => p.name).filter((n): n is string => n !== undefined);
  if (new Set(names).size !== names.length) v.fail(`${field}.ports`, 'repeat a port name');
  return { name, selector, ports };
}

function validateDeployment(v: Validator, value: unknown, field: string): DeploymentConfig {
  const deployment = v.object(value, field, ['name', 'selector', 'replicas']);
  const name = v.string(deployment['name'], `${field}.name`, DNS1123_SUBDOMAIN, 253, 'a DNS-1123 subdomain');
  if (deployment['selector'] === undefined) v.fail(`${field}.selector`, 'is required');
  const selector = v.object(deployment['selector'], `${field}.selector`, ['matchLabels']);
  const matchLabels = v.labels(selector['matchLabels'] ?? {}, `${field}.selector.matchLabels`);
  // An empty selector would select every pod; the API server rejects it for apps/v1 deployments.
  if (Object.keys(matchLabels).length === 0) v.fail(`${field}.selector.matchLabels`, 'must have at least one label');
  const replicas = deployment['replicas'] ?? 1;
  if (typeof replicas !== 'number' || !Number.isInteger(replicas) || replicas < 0 || replicas > 1000) {
    v.fail(`${field}.replicas`, `must be an integer in 0..1000, got ${JSON.stringify(replicas)}`);
  }
  return { name, selector: { matchLabels }, replicas };
}
