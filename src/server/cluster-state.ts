/**
 * The live objects of the fake cluster: what a {@link ClusterConfig} describes, plus what the API
 * server adds (uids, resource versions, creation times, cluster IPs), and the one mutation tests
 * need most: replacing a pod the way a Deployment's ReplicaSet would, so that the old name is
 * gone and a new pod with a new name and uid sits behind the same labels.
 */
import { randomInt, randomUUID } from 'node:crypto';
import { ErrorCode, KubemuxError } from '../errors.js';
import type { PodTarget } from './portforward/endpoint.js';
import { parseHostPort, validateClusterConfig, type ClusterConfig, type ContainerConfig, type PodConfig, type PodPhase } from './cluster-config.js';

/** A container port with the API server's defaults applied. */
export interface ContainerPort {
  readonly containerPort: number;
  readonly name: string | undefined;
  readonly protocol: 'TCP' | 'UDP' | 'SCTP';
}

/** A container with defaults applied. */
export interface Container {
  readonly name: string;
  readonly image: string;
  readonly ports: readonly ContainerPort[];
  readonly restartCount: number;
}

/** Fields every stored object has. */
export interface ObjectRecord {
  readonly name: string;
  readonly uid: string;
  readonly createdAt: Date;
  /** The cluster-wide counter value when the object was last written. */
  readonly resourceVersion: string;
}

/** A pod as the fake cluster stores it: by default Running, Ready and scheduled, as its config says otherwise. */
export interface PodRecord extends ObjectRecord {
  readonly namespace: string;
  readonly phase: PodPhase;
  readonly ready: boolean;
  /** When the Ready condition last changed (to True for a ready pod); the creation time unless configured. */
  readonly readySince: Date;
  /** `""` while not scheduled. */
  readonly nodeName: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly containers: readonly Container[];
  /** Pod port → "host:port" overrides for where forwarded connections go. */
  readonly portMap: Readonly<Record<string, string>>;
  /** The name replacement pods are generated from (`<base>-<5 chars>`). */
  readonly baseName: string;
}

/** A service port with defaults applied (targetPort defaults to port). */
export interface ServicePort {
  readonly name: string | undefined;
  readonly port: number;
  readonly targetPort: number | string;
  readonly protocol: 'TCP' | 'UDP' | 'SCTP';
}

/** A ClusterIP service. */
export interface ServiceRecord extends ObjectRecord {
  readonly namespace: string;
  readonly selector: Readonly<Record<string, string>>;
  readonly ports: readonly ServicePort[];
  readonly clusterIP: string;
}

/** A deployment; its pods are whatever pods of its namespace its selector matches. */
export interface DeploymentRecord extends ObjectRecord {
  readonly namespace: string;
  readonly matchLabels: Readonly<Record<string, string>>;
  readonly replicas: number;
}

/** A namespace. */
export type NamespaceRecord = ObjectRecord;

/** A change to the set of pods, as a watch reports it. */
export interface PodEvent {
  readonly type: 'ADDED' | 'DELETED';
  readonly pod: PodRecord;
  /** The cluster resource version after the change. */
  readonly resourceVersion: string;
}

/** What {@link ClusterState.replacePod} did. */
export interface PodReplacement {
  readonly removed: PodRecord;
  readonly added: PodRecord;
}

/** How many recent pod events are kept so that a watch can start from a resource version. */
const EVENT_HISTORY = 1000;
/** The node every scheduled pod runs on unless its config names another. */
export const DEFAULT_NODE_NAME = 'kubemux-node';
/** The alphabet of Kubernetes' generated name suffixes (no vowels, no look-alikes). */
const SUFFIX_ALPHABET = 'bcdfghjklmnpqrstvwxz2456789';

/** Whether every key=value of `selector` is among `labels` (an empty selector matches everything). */
export function labelsMatch(selector: Readonly<Record<string, string>>, labels: Readonly<Record<string, string>>): boolean {
  return Object.entries(selector).every(([key, value]) => labels[key] === value);
}

function randomSuffix(): string {
  let out = '';
  for (let i = 0; i < 5; i++) out += SUFFIX_ALPHABET[randomInt(SUFFIX_ALPHABET.length)];
  return out;
}

function byName<T extends { name: string }>(a: T, b: T): number {
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}

/** What a pod is made from: a config entry, or the record it replaces (times then left to default). */
interface PodSpecLike {
  readonly labels?: Readonly<Record<string, string>>;
  readonly containers: readonly (ContainerConfig | Container)[];
  readonly portMap?: Readonly<Record<string, string>>;
  readonly phase?: PodPhase;
  readonly ready?: boolean;
  readonly creationTimestamp?: string | undefined;
  readonly readySince?: string | undefined;
  readonly nodeName?: string;
}

/** The fake cluster's objects. Lookups return snapshots that are never mutated afterwards. */
export class ClusterState {
  #version = 0;
  readonly #namespaces = new Map<string, NamespaceRecord>();
  /** namespace → name → object */
  readonly #pods = new Map<string, Map<string, PodRecord>>();
  readonly #services = new Map<string, Map<string, ServiceRecord>>();
  readonly #deployments = new Map<string, Map<string, DeploymentRecord>>();
  readonly #history: PodEvent[] = [];
  /** The resource version of the newest event dropped from the history. */
  #historyFloor = 0;
  readonly #listeners = new Set<(event: PodEvent) => void>();
  #nextClusterIp = 10;

  /** Builds the objects of `config` (validated again, so code-built configs get the same checks). */
  constructor(config: ClusterConfig) {
    const valid = validateClusterConfig(config);
    const now = new Date();
    const names = new Set(['default', ...Object.keys(valid.namespaces)]);
    for (const ns of names) this.#namespaces.set(ns, { name: ns, uid: randomUUID(), createdAt: now, resourceVersion: this.#bump() });
    for (const [ns, objects] of Object.entries(valid.namespaces)) {
      for (const pod of objects.pods ?? []) this.#storePod(this.#makePod(ns, pod.name, pod, pod.uid ?? randomUUID(), now, pod.name));
      for (const svc of objects.services ?? []) {
        this.#map(this.#services, ns).set(svc.name, {
          namespace: ns,
          name: svc.name,
          uid: randomUUID(),
          createdAt: now,
          resourceVersion: this.#bump(),
          selector: { ...svc.selector },
          ports: svc.ports.map((p) => ({ name: p.name, port: p.port, targetPort: p.targetPort ?? p.port, protocol: p.protocol ?? 'TCP' })),
          clusterIP: this.#allocateClusterIp(),
        });
      }
      for (const deployment of objects.deployments ?? []) {
        this.#map(this.#deployments, ns).set(deployment.name, {
          namespace: ns,
          name: deployment.name,
          uid: randomUUID(),
          createdAt: now,
          resourceVersion: this.#bump(),
          matchLabels: { ...deployment.selector.matchLabels },
          replicas: deployment.replicas ?? 1,
        });
      }
    }
  }

  /** The current cluster-wide resource version (what a list reports). */
  get resourceVersion(): string {
    return String(this.#version);
  }

  /** Every namespace, sorted by name. */
  namespaces(): NamespaceRecord[] {
    return [...this.#namespaces.values()].sort(byName);
  }

  /** One namespace, or undefined. */
  namespace(name: string): NamespaceRecord | undefined {
    return this.#namespaces.get(name);
  }

  /** Pods of one namespace, or of all namespaces when `namespace` is undefined, sorted by namespace and name. */
  pods(namespace?: string): PodRecord[] {
    return this.#list(this.#pods, namespace);
  }

  /** One pod, or undefined. */
  pod(namespace: string, name: string): PodRecord | undefined {
    return this.#pods.get(namespace)?.get(name);
  }

  /** Services of one namespace, or of all when `namespace` is undefined. */
  services(namespace?: string): ServiceRecord[] {
    return this.#list(this.#services, namespace);
  }

  /** One service, or undefined. */
  service(namespace: string, name: string): ServiceRecord | undefined {
    return this.#services.get(namespace)?.get(name);
  }

  /** Deployments of one namespace, or of all when `namespace` is undefined. */
  deployments(namespace?: string): DeploymentRecord[] {
    return this.#list(this.#deployments, namespace);
  }

  /** One deployment, or undefined. */
  deployment(namespace: string, name: string): DeploymentRecord | undefined {
    return this.#deployments.get(namespace)?.get(name);
  }

  /** The pods of `namespace` whose labels include every pair of `selector`. */
  podsSelectedBy(namespace: string, selector: Readonly<Record<string, string>>): PodRecord[] {
    return this.pods(namespace).filter((pod) => labelsMatch(selector, pod.labels));
  }

  /**
   * Deletes pod `namespace/name` and creates a new one from the same spec with a new name
   * (`<base>-<5 random characters>`) and uid, as a ReplicaSet replaces a lost pod: whatever
   * selected the old pod by labels (deployments, services) now finds the new one, and the old
   * name is not found any more. The new pod has the old one's phase, readiness and node, is
   * created (and ready) now, and has no restarts. Returns undefined when there is no such pod.
   */
  replacePod(namespace: string, name: string): PodReplacement | undefined {
    const old = this.pod(namespace, name);
    if (old === undefined) return undefined;
    this.deletePod(namespace, name);
    let newName: string;
    do newName = `${old.baseName}-${randomSuffix()}`;
    while (this.pod(namespace, newName) !== undefined);
    const now = new Date();
    const spec = { ...old, containers: old.containers.map((c) => ({ ...c, restartCount: 0 })), creationTimestamp: undefined, readySince: undefined };
    const added = this.#storePod(this.#makePod(namespace, newName, spec, randomUUID(), now, old.baseName));
    return { removed: old, added };
  }

  /** Removes a pod; returns it, or undefined when there was none. */
  deletePod(namespace: string, name: string): PodRecord | undefined {
    const pod = this.pod(namespace, name);
    if (pod === undefined) return undefined;
    this.#pods.get(namespace)!.delete(name);
    this.#emit({ type: 'DELETED', pod, resourceVersion: this.#bump() });
    return pod;
  }

  /** Creates a pod from a config entry (validated); fails with ERR_INVALID_ARGUMENT if the name is taken. */
  addPod(namespace: string, config: PodConfig): PodRecord {
    const valid = validateClusterConfig({ namespaces: { [namespace]: { pods: [config] } } }).namespaces[namespace]!.pods![0]!;
    if (this.pod(namespace, valid.name) !== undefined) {
      throw new KubemuxError(ErrorCode.INVALID_ARGUMENT, 'usage', `pods "${valid.name}" already exists in namespace "${namespace}"`);
    }
    if (!this.#namespaces.has(namespace)) this.#namespaces.set(namespace, { name: namespace, uid: randomUUID(), createdAt: new Date(), resourceVersion: this.#bump() });
    return this.#storePod(this.#makePod(namespace, valid.name, valid, valid.uid ?? randomUUID(), new Date(), valid.name));
  }

  /**
   * Pod events after `resourceVersion` that are still in the history, or undefined when the
   * history no longer reaches back that far (a watch then answers 410 Gone, as the API server does).
   */
  podEventsSince(resourceVersion: number): PodEvent[] | undefined {
    if (resourceVersion < this.#historyFloor) return undefined;
    return this.#history.filter((event) => Number(event.resourceVersion) > resourceVersion);
  }

  /** Calls `listener` for every later pod change; returns the function that unsubscribes it. */
  onPodEvent(listener: (event: PodEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /**
   * What the port-forward endpoint needs to know about `pod`: connections to pod port P go to
   * the pod's `portMap[P]` when it has one, else to 127.0.0.1:P.
   */
  podTarget(pod: PodRecord): PodTarget {
    const portMap = pod.portMap;
    return {
      namespace: pod.namespace,
      name: pod.name,
      uid: pod.uid,
      resolvePort(port: number): { host: string; port: number } {
        const mapped = portMap[String(port)];
        return (mapped === undefined ? undefined : parseHostPort(mapped)) ?? { host: '127.0.0.1', port };
      },
    };
  }

  #bump(): string {
    this.#version += 1;
    return String(this.#version);
  }

  #allocateClusterIp(): string {
    const n = this.#nextClusterIp++;
    return `10.96.${Math.floor(n / 256) % 256}.${n % 256}`;
  }

  #map<T>(maps: Map<string, Map<string, T>>, namespace: string): Map<string, T> {
    let map = maps.get(namespace);
    if (map === undefined) {
      map = new Map();
      maps.set(namespace, map);
    }
    return map;
  }

  #list<T extends { name: string; namespace: string }>(maps: Map<string, Map<string, T>>, namespace: string | undefined): T[] {
    if (namespace !== undefined) return [...(maps.get(namespace)?.values() ?? [])].sort(byName);
    return [...maps.values()]
      .flatMap((map) => [...map.values()])
      .sort((a, b) => (a.namespace === b.namespace ? byName(a, b) : a.namespace < b.namespace ? -1 : 1));
  }

  /** A pod record from a (validated) config entry or an existing record; `now` is the default creation and ready time. */
  #makePod(namespace: string, name: string, spec: PodSpecLike, uid: string, now: Date, baseName: string): PodRecord {
    const phase = spec.phase ?? 'Running';
    const createdAt = spec.creationTimestamp === undefined ? now : new Date(spec.creationTimestamp);
    return {
      namespace,
      name,
      uid,
      createdAt,
      resourceVersion: '0', // set by #storePod
      phase,
      ready: spec.ready ?? phase === 'Running',
      readySince: spec.readySince === undefined ? createdAt : new Date(spec.readySince),
      nodeName: spec.nodeName ?? DEFAULT_NODE_NAME,
      labels: { ...(spec.labels ?? {}) },
      containers: spec.containers.map((c) => ({
        name: c.name,
        image: c.image ?? 'kubemux/placeholder',
        ports: (c.ports ?? []).map((p) => ({ containerPort: p.containerPort, name: p.name ?? undefined, protocol: p.protocol ?? 'TCP' })),
        restartCount: c.restartCount ?? 0,
      })),
      portMap: { ...(spec.portMap ?? {}) },
      baseName,
    };
  }

  #storePod(pod: PodRecord): PodRecord {
    const resourceVersion = this.#bump();
    const stored: PodRecord = { ...pod, resourceVersion };
    this.#map(this.#pods, pod.namespace).set(pod.name, stored);
    this.#emit({ type: 'ADDED', pod: stored, resourceVersion });
    return stored;
  }

  #emit(event: PodEvent): void {
    this.#history.push(event);
    if (this.#history.length > EVENT_HISTORY) this.#historyFloor = Number(this.#history.shift()!.resourceVersion);
    for (const listener of [...this.#listeners]) listener(event);
  }
}
