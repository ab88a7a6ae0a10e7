/**
 * What `forward({ cluster, target, ports })` builds when it is given a Kubernetes target instead of
 * an opener: a TargetResolver for `pod/NAME`, `deploy/NAME`, `svc/NAME` or `NAME`, and a
 * ResilientConnection that resolves the target again before every dial (a new pod after a rollout,
 * fresh credentials), so that the forward survives what kubectl's does not. The forwarder owns
 * both and closes the connection when it closes.
 *
 * Port names and service ports resolve as kubectl resolves them, against the pod chosen by the
 * first resolution; that resolution also serves the first dial, so starting a forward costs one
 * lookup, not two.
 */
import type { KubemuxError } from '../errors.js';
import type { ResilientConnectionOptions } from '../resilience/options.js';
import { ResilientConnection } from '../resilience/resilient-connection.js';
import type { TargetRef } from '../resilience/target-ref.js';
import { TargetResolver, type ClusterAccess, type ResolvedTarget, type TargetResolverOptions } from '../resilience/target-resolver.js';
import type { ResolvePort } from './options.js';

/** The Kubernetes target of a forward, as `forward()` accepts it instead of an `opener`. */
export interface ForwardTargetOptions {
  /** The API server, credentials and namespace: what `fromKubeConfig()` returns, or `{ target, namespace }`. */
  readonly cluster: ClusterAccess;
  /** `pod/NAME`, `deploy/NAME`, `svc/NAME` (and kubectl's other spellings) or `NAME` (a pod). */
  readonly target: TargetRef | string;
  /** How long to wait for a running pod of a deployment or service, ms (kubectl's `--pod-running-timeout`). Default 60,000. */
  readonly podRunningTimeoutMs?: number;
  /** Options of the ResilientConnection built for the target (pings, deadlines, backoff, protocol). */
  readonly connection?: Omit<ResilientConnectionOptions, 'target'>;
}

/** A resilient connection to a target, with kubectl's port resolution for it. @internal */
export interface TargetOpener {
  readonly connection: ResilientConnection;
  readonly resolvePort: ResolvePort;
}

/** Builds the connection and the port resolver of a {@link ForwardTargetOptions}; throws ERR_INVALID_ARGUMENT (usage) for a bad target or option. @internal */
export function targetOpener(options: ForwardTargetOptions): TargetOpener {
  const resolverOptions: TargetResolverOptions = options.podRunningTimeoutMs === undefined ? {} : { podRunningTimeoutMs: options.podRunningTimeoutMs };
  const resolver = new TargetResolver(options.cluster, options.target, resolverOptions);
  // The resolution made for the ports, handed to the first dial that comes after it.
  let fresh: ResolvedTarget | undefined;
  let first: Promise<ResolvedTarget> | undefined;
  const firstResolution = (signal: AbortSignal): Promise<ResolvedTarget> => {
    first ??= resolver.resolve({ signal }).then((resolved) => (fresh = resolved));
    return first;
  };
  const connection = new ResilientConnection({
    ...options.connection,
    target: async ({ signal }) => {
      const resolved = fresh ?? (await resolver.resolve({ signal }));
      fresh = undefined;
      return resolved.upgradeTarget;
    },
  });
  const resolvePort: ResolvePort = async (remote, signal) => {
    try {
      return (await firstResolution(signal)).resolvePort(remote);
    } catch (error) {
      // The forward does not start: nothing may stay running.
      await connection.destroy(error as KubemuxError);
      throw error;
    }
  };
  return { connection, resolvePort };
}
