/**
 * The target resolver: from `pod/NAME`, `NAME`, `deploy/NAME` or `svc/NAME` to the pod a
 * port-forward connects to right now, with fresh credentials and that pod's port mapping, as
 * `kubectl port-forward` resolves its argument. The resilience layer calls
 * {@link TargetResolver.resolve} before every dial, so a forward to a deployment or service finds
 * the new pod after a rollout or restart.
 *
 * One resolution, as kubectl does it (pkg/cmd/portforward, polymorphichelpers):
 *
 *   refresh credentials ──► GET the pod ─────────────────────────────────┐
 *                       └─► GET the deployment / service ─► its selector │
 *                             └─► list pods ─► none? watch until one     │
 *                                 appears (podRunningTimeoutMs)          │
 *                                 └─► kubectl's ordering, first pod ─────┤
 *                                                                        ▼
 *                                      phase Running? ─► ResolvedTarget (path, ports)
 *
 * Like kubectl, it waits only when no pod matches: a matching pod that is not Running (say,
 * Pending after a rollout) fails at once with kubectl's "unable to forward port because pod is
 * not running. Current status=Pending", and the caller decides when to try again.
 *
 * Errors, and how a caller should read them:
 *
 * | what | code | scope | carries |
 * | --- | --- | --- | --- |
 * | the pod, deployment or service does not exist (404) | ERR_TARGET_NOT_FOUND | transport | `httpStatus` 404, the API's message (`pods "x" not found`) |
 * | no pod matched within podRunningTimeoutMs; the pod is not Running; a service without selector | ERR_TARGET_NOT_FOUND | transport | kubectl's wording |
 * | the API server refused a lookup (401, 403, 5xx, ...) | ERR_API_REFUSED | transport | `httpStatus`, the Kubernetes Status message |
 * | the API server could not be reached | ERR_CONNECT_FAILED, ERR_TLS, ERR_TIMEOUT, ERR_TRANSPORT_CLOSED | transport | as the transport layer reports them |
 * | `refresh()` took longer than requestTimeoutMs | ERR_TIMEOUT | transport | |
 * | `refresh()` failed (an exec plugin exited non-zero) | its own error, unchanged | | |
 * | the answer is not the object asked for | ERR_PROTOCOL | transport | |
 * | `signal` aborted | ERR_ABORTED (name AbortError) | transport | the signal's reason as cause |
 *
 * So: 401/403 = credentials (refresh and retry), ERR_TARGET_NOT_FOUND = the target is missing
 * for now (retry at a capped backoff), transport codes = transient. Port errors come later, from
 * {@link ResolvedTarget.resolvePort} (see port-resolution.ts).
 */
import { abortError, ErrorCode, KubemuxError } from '../errors.js';
import { apiGet, apiWatch, type ApiResponse, type ApiWatchResult } from '../transport/api/api-request.js';
import { portForwardPath, type ServerTarget, type UpgradeTarget } from '../transport/api/request-target.js';
import { deploymentSelector, podFromJson, podListFromJson, resourceVersionOf, selectorFromLabels, serviceFromJson, type PodList, type PodSummary } from './api-objects.js';
import { choosePod } from './pod-selection.js';
import { podPortResolver, servicePortResolver } from './port-resolution.js';
import { formatTargetRef, parseTargetRef, type TargetKind, type TargetRef } from './target-ref.js';
import { raceSignal } from '../util/abort.js';
import { systemClock, type Clock } from '../util/clock.js';
import { integerIn, MAX_TIMER_MS, usage } from '../util/validate.js';

/**
 * The cluster a resolver asks: what `fromKubeConfig` returns (a `KubeConnection` fits as it is),
 * or a target and namespace built by hand.
 */
export interface ClusterAccess {
  /** The API server and credentials, used when there is no `refresh`. */
  readonly target: ServerTarget;
  /** The namespace the target lives in. */
  readonly namespace: string;
  /** Fresh credentials; called once per resolution when present (exec plugins, token files). */
  refresh?(): Promise<ServerTarget>;
}

/** What {@link TargetResolverOptions.onWaitingForPod} is told. */
export interface PodWait {
  /** What was asked for. */
  readonly target: TargetRef;
  readonly namespace: string;
  /** The label selector no pod matches yet (`app=web`). */
  readonly selector: string;
  /** How long the wait lasts at most, ms. */
  readonly timeoutMs: number;
}

/** Options of {@link TargetResolver}. */
export interface TargetResolverOptions {
  /**
   * How long to wait for a pod to appear when a deployment's or service's selector matches none,
   * ms: kubectl's `--pod-running-timeout`. Default 60,000 (kubectl's default, 1 min).
   */
  readonly podRunningTimeoutMs?: number;
  /** Deadline of each API request (a get, a list, the answer to a watch) and of `refresh()`, ms. Default 30,000. */
  readonly requestTimeoutMs?: number;
  /** The timers of the pod wait. Default: Node's, unref'd. */
  readonly clock?: Clock;
  /** Called when a resolution starts waiting for a pod (the watch is in place), e.g. to tell the user. */
  readonly onWaitingForPod?: (wait: PodWait) => void;
}

/** Options of {@link TargetResolver.resolve}. */
export interface ResolveOptions {
  /** Aborts the resolution: it rejects with ERR_ABORTED (named AbortError), the signal's reason as cause. */
  readonly signal?: AbortSignal;
}

/** Where a port-forward goes right now. */
export interface ResolvedTarget {
  /** What was asked for: its kind ... */
  readonly kind: TargetKind;
  /** ... and name. */
  readonly name: string;
  readonly namespace: string;
  /** The pod chosen. */
  readonly pod: string;
  /** Its uid: a pod replaced under the same name has another. */
  readonly podUid: string;
  /** How many pods the selector matched when this one was chosen (1 for a pod, or a pod found by waiting). */
  readonly candidates: number;
  /** The upgrade request for the pod's portforward subresource, with the credentials of this resolution: hand it to a dialer. */
  readonly upgradeTarget: UpgradeTarget;
  /**
   * The pod port for a REMOTE port: for a pod or deployment, a container port number or name;
   * for a service, a service port number or name, mapped to its targetPort in this pod. Throws
   * ERR_TARGET_NOT_FOUND (scope stream) for a port that does not exist and ERR_INVALID_ARGUMENT
   * for a malformed or UDP-only one, with kubectl's messages.
   */
  resolvePort(remote: number | string): number;
}

/** kubectl's `--pod-running-timeout` default. */
export const DEFAULT_POD_RUNNING_TIMEOUT_MS = 60_000;
const DEFAULT_REQUEST_TIMEOUT_MS = 30_000;
/** Pause before listing again when a watch ends without a pod (the server's timeout, a restart, 410 Gone). */
const WATCH_RETRY_DELAY_MS = 1_000;
const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;


/**
 * Resolves one target (`deploy/web` in namespace `shop`, say) again and again: each
 * {@link resolve} asks the API server afresh. It keeps no state between calls, so calls may
 * overlap.
 */
export class TargetResolver {
  /** What this resolver resolves. */
  readonly target: TargetRef;
  /** The namespace it looks in. */
  readonly namespace: string;
  readonly #cluster: ClusterAccess;
  readonly #podRunningTimeoutMs: number;
  readonly #requestTimeoutMs: number;
  readonly #clock: Clock;
  readonly #onWaitingForPod: ((wait: PodWait) => void) | undefined;

  /**
   * Binds `target` (`'deploy/web'`, or a parsed {@link TargetRef}) to a cluster. Fails with
   * ERR_INVALID_ARGUMENT (usage) for a malformed target, a namespace that is not a DNS-1123
   * label, or an option out of range; nothing is sent.
   */
  constructor(cluster: ClusterAccess, target: TargetRef | string, options: TargetResolverOptions = {}) {
    this.target = typeof target === 'string' ? parseTargetRef(target) : parseTargetRef(formatTargetRef(target));
    if (typeof cluster !== 'object' || cluster === null || typeof cluster.target !== 'object' || cluster.target === null) {
      usage('cluster must have a target (what fromKubeConfig returns, or { target, namespace })');
    }
    if (typeof cluster.namespace !== 'string' || cluster.namespace.length > 63 || !DNS1123_LABEL.test(cluster.namespace)) {
      usage(`namespace ${JSON.stringify(cluster.namespace)} is not a DNS-1123 label`);
    }
    this.namespace = cluster.namespace;
    this.#cluster = cluster;
    this.#podRunningTimeoutMs = integerIn('podRunningTimeoutMs', options.podRunningTimeoutMs ?? DEFAULT_POD_RUNNING_TIMEOUT_MS, 1, MAX_TIMER_MS);
    this.#requestTimeoutMs = integerIn('requestTimeoutMs', options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS, 1, MAX_TIMER_MS);
    this.#clock = options.clock ?? systemClock;
    this.#onWaitingForPod = options.onWaitingForPod;
  }

  /**
   * Finds the pod to forward to now (see the file comment for the steps and the errors).
   * Credentials are refreshed first, so the returned `upgradeTarget` carries fresh ones.
   */
  async resolve(options: ResolveOptions = {}): Promise<ResolvedTarget> {
    const { signal } = options;
    const what = `resolving ${formatTargetRef(this.target)}`;
    // A function, not a condition TypeScript would narrow: the signal changes while we await.
    const aborted = (): boolean => signal?.aborted === true;
    if (aborted()) throw abortError(signal!, 'transport', what);
    try {
      return await this.#resolve(signal);
    } catch (error) {
      // Whatever the abort interrupted (a request, the wait, a refresh) reports it the same way.
      if (aborted()) throw abortError(signal!, 'transport', what);
      throw error;
    }
  }

  async #resolve(signal: AbortSignal | undefined): Promise<ResolvedTarget> {
    const server = await this.#refresh(signal);
    const { kind, name } = this.target;
    const ns = encodeURIComponent(this.namespace);
    let pod: PodSummary;
    let candidates = 1;
    let resolvePort: (remote: number | string) => number;
    switch (kind) {
      case 'pod': {
        pod = podFromJson(await this.#get(server, `/api/v1/namespaces/${ns}/pods/${encodeURIComponent(name)}`, signal));
        resolvePort = podPortResolver(pod);
        break;
      }
      case 'deployment': {
        const { selector } = deploymentSelector(await this.#get(server, `/apis/apps/v1/namespaces/${ns}/deployments/${encodeURIComponent(name)}`, signal));
        ({ pod, candidates } = await this.#firstPod(server, selector, signal));
        resolvePort = podPortResolver(pod);
        break;
      }
      case 'service': {
        const service = serviceFromJson(await this.#get(server, `/api/v1/namespaces/${ns}/services/${encodeURIComponent(name)}`, signal));
        if (Object.keys(service.selector).length === 0) {
          throw notFound(`cannot attach to *v1.Service: invalid service '${service.name}': Service is defined without a selector`);
        }
        ({ pod, candidates } = await this.#firstPod(server, selectorFromLabels(service.selector), signal));
        resolvePort = servicePortResolver(service, pod);
        break;
      }
    }
    if (pod.phase !== 'Running') {
      // kubectl's words first, so that searches for them find this.
      throw notFound(`unable to forward port because pod is not running. Current status=${pod.phase} (pod ${pod.name}${kind === 'pod' ? '' : ` of ${formatTargetRef(this.target)}`})`);
    }
    return {
      kind,
      name,
      namespace: this.namespace,
      pod: pod.name,
      podUid: pod.uid,
      candidates,
      upgradeTarget: { ...server, path: portForwardPath(this.namespace, pod.name) },
      resolvePort,
    };
  }

  /**
   * Fresh credentials from `refresh()` (an exec plugin may run), bounded by requestTimeoutMs
   * (ERR_TIMEOUT) and by the signal; the cluster's own target when it has no refresh.
   */
  async #refresh(signal: AbortSignal | undefined): Promise<ServerTarget> {
    if (this.#cluster.refresh === undefined) return this.#cluster.target;
    const ms = this.#requestTimeoutMs;
    const deadline = new AbortController();
    const timer = this.#clock.setTimeout(() => deadline.abort(new KubemuxError(ErrorCode.TIMEOUT, 'transport', `refreshing the credentials took longer than ${ms} ms (requestTimeoutMs)`)), ms);
    try {
      const either = signal === undefined ? deadline.signal : AbortSignal.any([signal, deadline.signal]);
      // A refresh that finishes after the deadline is simply dropped: a target holds no resources.
      return await raceSignal(this.#cluster.refresh(), either, () => {});
    } finally {
      this.#clock.clearTimeout(timer);
    }
  }

  /** The pod kubectl would pick among those `selector` matches, waiting for one if none does. */
  async #firstPod(server: ServerTarget, selector: string, signal: AbortSignal | undefined): Promise<{ pod: PodSummary; candidates: number }> {
    const list = await this.#list(server, selector, signal);
    const pod = choosePod(list.pods);
    if (pod !== undefined) return { pod, candidates: list.pods.length };
    return { pod: await this.#waitForPod(server, selector, list.resourceVersion, signal), candidates: 1 };
  }

  /**
   * Watches the selector's pods from `resourceVersion` until one is added (or modified), as
   * kubectl's GetPodList does, within podRunningTimeoutMs. Unlike kubectl, a watch that ends
   * early (the server's own timeout, an ERROR event such as 410 Gone) is not a failure: after a
   * pause the pods are listed again and a new watch starts, until the deadline.
   */
  async #waitForPod(server: ServerTarget, selector: string, resourceVersion: string, signal: AbortSignal | undefined): Promise<PodSummary> {
    const timeoutMs = this.#podRunningTimeoutMs;
    const timedOut = (): KubemuxError =>
      notFound(`timed out waiting for the condition: no pod of ${formatTargetRef(this.target)} (selector ${selector === '' ? '<everything>' : selector}) appeared within ${timeoutMs} ms (podRunningTimeoutMs)`);
    const deadline = new AbortController();
    const timer = this.#clock.setTimeout(() => deadline.abort(timedOut()), timeoutMs);
    const onAbort = (): void => deadline.abort(signal!.reason);
    if (signal?.aborted === true) onAbort();
    signal?.addEventListener('abort', onAbort, { once: true });
    let announced = false;
    try {
      let version = resourceVersion;
      // Bounded by the deadline: each pass waits on the server, or on the retry pause.
      for (;;) {
        let added: PodSummary | undefined;
        const result = await apiWatch(
          server,
          `${podsPath(this.namespace, selector)}${selector === '' ? '?' : '&'}watch=true&resourceVersion=${encodeURIComponent(version)}&timeoutSeconds=${Math.ceil(timeoutMs / 1000)}`,
          (event) => {
            if (event.type === 'ADDED' || event.type === 'MODIFIED') {
              added = podFromJson(event.object);
              return true;
            }
            if (event.type === 'ERROR') return true;
            version = resourceVersionOf(event.object) ?? version;
            return false;
          },
          {
            signal: deadline.signal,
            timeoutMs: this.#requestTimeoutMs,
            onOpen: () => {
              if (announced) return;
              announced = true;
              this.#onWaitingForPod?.({ target: this.target, namespace: this.namespace, selector, timeoutMs });
            },
          },
        );
        if (added !== undefined) return added;
        if (result.status < 200 || result.status > 299) throw refused('watch', podsPath(this.namespace, selector), result);
        await pause(this.#clock, WATCH_RETRY_DELAY_MS, deadline.signal);
        const list = await this.#list(server, selector, deadline.signal);
        const pod = choosePod(list.pods);
        if (pod !== undefined) return pod;
        version = list.resourceVersion;
      }
    } catch (error) {
      if (deadline.signal.aborted && signal?.aborted !== true) throw deadline.signal.reason;
      throw error;
    } finally {
      this.#clock.clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
    }
  }

  async #list(server: ServerTarget, selector: string, signal: AbortSignal | undefined): Promise<PodList> {
    return podListFromJson(await this.#get(server, podsPath(this.namespace, selector), signal));
  }

  /** `GET path` → the object; 404 → ERR_TARGET_NOT_FOUND; any other non-2xx → ERR_API_REFUSED. */
  async #get(server: ServerTarget, path: string, signal: AbortSignal | undefined): Promise<unknown> {
    const response = await apiGet(server, path, { timeoutMs: this.#requestTimeoutMs, ...(signal === undefined ? {} : { signal }) });
    if (response.status >= 200 && response.status <= 299) {
      if (response.json === undefined) throw new KubemuxError(ErrorCode.PROTOCOL, 'transport', `GET ${pathOnly(path)}: the API server's answer is not JSON`);
      return response.json;
    }
    throw refused('GET', path, response);
  }
}

/** The list path of the pods `selector` matches in `namespace`. */
function podsPath(namespace: string, selector: string): string {
  const path = `/api/v1/namespaces/${encodeURIComponent(namespace)}/pods`;
  return selector === '' ? path : `${path}?labelSelector=${encodeURIComponent(selector)}`;
}

/** The error for a non-2xx answer: 404 is a missing target, anything else a refusal. */
function refused(verb: string, path: string, response: Pick<ApiResponse | ApiWatchResult, 'status' | 'statusMessage' | 'text'>): KubemuxError {
  const { status } = response;
  const message = response.statusMessage ?? response.text.trim().slice(0, 500);
  if (status === 404) {
    // The API server's own words (`pods "x" not found`) are what kubectl prints.
    return new KubemuxError(ErrorCode.TARGET_NOT_FOUND, 'transport', response.statusMessage ?? `${verb} ${pathOnly(path)}: HTTP 404${message === '' ? '' : `: ${message}`}`, { httpStatus: status });
  }
  return new KubemuxError(ErrorCode.API_REFUSED, 'transport', `${verb} ${pathOnly(path)} refused with HTTP ${status}${message === '' ? '' : `: ${message}`}`, { httpStatus: status });
}

function pathOnly(path: string): string {
  const query = path.indexOf('?');
  return query === -1 ? path : path.slice(0, query);
}

/** Waits `ms` on `clock`; rejects with the signal's reason when it aborts first. */
function pause(clock: Clock, ms: number, signal: AbortSignal): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    if (signal.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = (): void => {
      clock.clearTimeout(handle);
      reject(signal.reason);
    };
    const handle = clock.setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

function notFound(message: string): KubemuxError {
  return new KubemuxError(ErrorCode.TARGET_NOT_FOUND, 'transport', message);
}
