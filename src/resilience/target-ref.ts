/**
 * What a user names as the thing to forward to, `TYPE/NAME` as `kubectl port-forward` takes it:
 * `pod/web-0`, `web-0` (a bare name is a pod), `deploy/web`, `svc/web`.
 *
 * kubectl resolves TYPE through the API server's discovery (any resource name, singular, short
 * name or kind, optionally qualified by group: `deployments.apps/web`), then asks
 * polymorphichelpers for a pod of the object. kubemux knows the three types that matter for
 * port-forwarding (and that the fake cluster serves) without discovery; the other types kubectl
 * can select a pod from (replica sets, stateful sets, daemon sets, jobs, replication controllers)
 * are recognised and refused with a clear usage error rather than "unknown type".
 */
import { usageError } from '../util/validate.js';

/** The kinds of object kubemux forwards to. */
export type TargetKind = 'pod' | 'deployment' | 'service';

/** A parsed `TYPE/NAME`. */
export interface TargetRef {
  readonly kind: TargetKind;
  /** The object's name (a DNS-1123 subdomain). */
  readonly name: string;
}

/** Every spelling kubectl accepts for the supported kinds (lower-cased; group-qualified forms included). */
const KIND_ALIASES: Readonly<Record<string, TargetKind>> = {
  pod: 'pod',
  pods: 'pod',
  po: 'pod',
  deployment: 'deployment',
  deployments: 'deployment',
  deploy: 'deployment',
  'deployment.apps': 'deployment',
  'deployments.apps': 'deployment',
  'deployment.v1.apps': 'deployment',
  'deployments.v1.apps': 'deployment',
  service: 'service',
  services: 'service',
  svc: 'service',
};

/** Types kubectl port-forward can select a pod from that kubemux does not (yet); refused by name. */
const UNSUPPORTED_KINDS: Readonly<Record<string, string>> = {
  replicaset: 'replicasets',
  replicasets: 'replicasets',
  rs: 'replicasets',
  statefulset: 'statefulsets',
  statefulsets: 'statefulsets',
  sts: 'statefulsets',
  daemonset: 'daemonsets',
  daemonsets: 'daemonsets',
  ds: 'daemonsets',
  job: 'jobs',
  jobs: 'jobs',
  replicationcontroller: 'replicationcontrollers',
  replicationcontrollers: 'replicationcontrollers',
  rc: 'replicationcontrollers',
};

const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/**
 * Parses `TYPE/NAME` or a bare `NAME` (a pod), as `kubectl port-forward` does. TYPE is
 * case-insensitive: `pod`, `pods`, `po`; `deployment`, `deployments`, `deploy` (also
 * `deployments.apps`); `service`, `services`, `svc`. Fails with ERR_INVALID_ARGUMENT (usage) for
 * an empty or malformed reference, a name that is not a DNS-1123 subdomain, and any other type
 * (kubectl's other pod-owning types are named as not supported).
 */
export function parseTargetRef(text: string): TargetRef {
  if (typeof text !== 'string' || text === '') throw usageError('a target is required: pod/NAME, NAME, deployment/NAME or service/NAME');
  const parts = text.split('/');
  if (parts.length > 2 || parts.some((part) => part === '')) {
    // kubectl's own wording for `pod/`, `/x`, `a/b/c`.
    throw usageError(`arguments in resource/name form must have a single resource and name: ${JSON.stringify(text)}`);
  }
  const [typeText, name] = parts.length === 1 ? ['pod', parts[0]!] : [parts[0]!, parts[1]!];
  const type = typeText.toLowerCase();
  const kind = KIND_ALIASES[type];
  if (kind === undefined) {
    const plural = UNSUPPORTED_KINDS[type] ?? UNSUPPORTED_KINDS[type.replace(/\.(v1\.)?(apps|batch)$/, '')];
    if (plural !== undefined) throw usageError(`kubemux does not forward to ${plural} (${JSON.stringify(text)}); use pod/NAME, deployment/NAME or service/NAME`);
    throw usageError(`the server doesn't have a resource type ${JSON.stringify(typeText)} (kubemux forwards to pod/NAME, deployment/NAME and service/NAME)`);
  }
  if (name.length > 253 || !DNS1123_SUBDOMAIN.test(name)) {
    throw usageError(`${JSON.stringify(name)} is not a valid ${kind} name (lower-case letters, digits, '-' and '.', at most 253 characters)`);
  }
  return { kind, name };
}

/** `kind/name`, e.g. `deployment/web`: how messages name a target. */
export function formatTargetRef(ref: TargetRef): string {
  return `${ref.kind}/${ref.name}`;
}

