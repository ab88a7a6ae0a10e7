/**
 * Options of the resilience layer: units in the names, defaults frozen, everything validated at
 * construction, before anything is dialed. The defaults and why: spec/resilience.md, "Defaults".
 */
import type { PortForwardConnection } from '../transport/port-forward-connection.js';
import type { PortForwardDialOptions, PortForwardProtocolChoice } from '../transport/dial.js';
import type { UpgradeTarget } from '../transport/api/request-target.js';
import { systemClock, type Clock, type RandomSource } from '../util/clock.js';
import { integerIn, MAX_TIMER_MS, usage } from '../util/validate.js';

/** Why a dial happens; passed to a {@link TargetFunction}. */
export type DialReason =
  /** The first connection. */
  | 'initial'
  /** The connection died (ping deadline, transport or session error). */
  | 'connection-lost'
  /** The connection is draining (GOAWAY, stream ids used up): make-before-break. */
  | 'draining'
  /** New pairs kept timing out while pings succeeded: a stalled runtime. */
  | 'stalled'
  /** Another attempt after a failed dial (after the backoff delay). */
  | 'retry'
  /** The server refused the credentials (401, 403): refresh them. */
  | 'credentials-rejected'
  /** The pod was not found (404, or the resolver found none): resolve the target again. */
  | 'target-missing'
  /** Every connection is at its stream limit: one more connection to the same target. */
  | 'capacity';

/** What a {@link TargetFunction} is told about the dial it is called for. */
export interface TargetContext {
  readonly reason: DialReason;
  /** Failed dials since the last healthy connection (0 for the first attempt). */
  readonly attempt: number;
  /** Aborted when the connection is closed while the target is being resolved. */
  readonly signal: AbortSignal;
}

/**
 * Called before every dial: re-resolve `deploy/NAME` or `svc/NAME` to the pod that runs now,
 * refresh credentials, switch context. Fails like the dialers do (ERR_TARGET_NOT_FOUND,
 * ERR_API_REFUSED with `httpStatus`, transport errors); see failure-kind.ts for what each means.
 */
export type TargetFunction = (context: TargetContext) => Promise<UpgradeTarget>;

/** Dials one connection to `target`; `signal` aborts it (close() during a dial). */
export type ConnectionDialer = (target: UpgradeTarget, options: { readonly signal: AbortSignal }) => Promise<PortForwardConnection>;

/** Options of {@link ResilientConnection}. */
export interface ResilientConnectionOptions {
  /** Where to connect: a fixed target, or a function called before every dial (see {@link TargetFunction}). */
  readonly target: UpgradeTarget | TargetFunction;
  /** The wire protocol, or `'auto'` for kubectl's negotiation (remembered across re-dials). Default `'auto'`. Ignored with `dial`. */
  readonly protocol?: PortForwardProtocolChoice;
  /** Options of the SPDY session, the tunnel and v4 for every dial. Ignored with `dial`. */
  readonly transport?: Omit<PortForwardDialOptions, 'protocol'>;
  /** A dialer of your own instead of kubemux's (tests, other carriers). */
  readonly dial?: ConnectionDialer;
  /** Time between liveness pings on each connection, ms. Default 5,000 (kubectl's ping period). */
  readonly pingIntervalMs?: number;
  /** A ping not answered within this is a dead connection, ms. Default 10,000. */
  readonly pingTimeoutMs?: number;
  /** Default deadline of {@link ResilientConnection.openPortStreams}, ms. Default 5,000. */
  readonly openTimeoutMs?: number;
  /** Deadline of the ping that probes a connection after one of its opens timed out, ms. Default 2,000. */
  readonly probeTimeoutMs?: number;
  /** Opens in a row that may time out on a connection whose pings succeed before it is replaced (a stalled runtime). Default 2. */
  readonly stalledOpenLimit?: number;
  /** Ceiling of the first re-dial delay, ms. Default 100. */
  readonly backoffInitialDelayMs?: number;
  /** Largest re-dial delay, ms. Default 5,000. */
  readonly backoffMaxDelayMs?: number;
  /** A connection that stays up this long resets the backoff, ms. Default 30,000. */
  readonly healthyAfterMs?: number;
  /**
   * Upgraded connections one target may use at once. A connection that reaches a stream limit (its
   * session's `maxConcurrentStreams`, the peer's SETTINGS, or a REFUSED_STREAM answer) sends new
   * pairs to another one, dialed when needed. Default 64.
   */
  readonly maxConnections?: number;
  /** An extra connection (one beyond the first) closes after carrying no pair for this long, ms. Default 10,000. */
  readonly extraConnectionIdleMs?: number;
  /** Time source (tests drive it by hand). Default the system clock. */
  readonly clock?: Clock;
  /** Jitter source, uniform in [0, 1). Default `Math.random`. */
  readonly random?: RandomSource;
}

/** Defaults of {@link ResilientConnectionOptions}. */
export const RESILIENCE_DEFAULTS = Object.freeze({
  pingIntervalMs: 5_000,
  pingTimeoutMs: 10_000,
  openTimeoutMs: 5_000,
  probeTimeoutMs: 2_000,
  stalledOpenLimit: 2,
  backoffInitialDelayMs: 100,
  backoffMaxDelayMs: 5_000,
  healthyAfterMs: 30_000,
  maxConnections: 64,
  extraConnectionIdleMs: 10_000,
});

/** The options a {@link ResilientConnection} runs with. */
export interface ResolvedResilienceOptions {
  readonly target: UpgradeTarget | TargetFunction;
  readonly protocol: PortForwardProtocolChoice;
  readonly transport: Omit<PortForwardDialOptions, 'protocol'>;
  readonly dial: ConnectionDialer | undefined;
  readonly pingIntervalMs: number;
  readonly pingTimeoutMs: number;
  readonly openTimeoutMs: number;
  readonly probeTimeoutMs: number;
  readonly stalledOpenLimit: number;
  readonly backoffInitialDelayMs: number;
  readonly backoffMaxDelayMs: number;
  readonly healthyAfterMs: number;
  readonly maxConnections: number;
  readonly extraConnectionIdleMs: number;
  readonly clock: Clock;
  readonly random: RandomSource;
}

const PROTOCOL_CHOICES: readonly string[] = ['auto', 'spdy', 'websocket-tunnel', 'websocket-v4'];

/** Applies defaults and validates; throws ERR_INVALID_ARGUMENT (usage) naming the bad option. */
export function resolveResilienceOptions(options: ResilientConnectionOptions): ResolvedResilienceOptions {
  if (options === null || typeof options !== 'object') usage('options must be an object with at least a target');
  const { target } = options;
  if (typeof target !== 'function' && (target === null || typeof target !== 'object' || target.server === undefined || typeof target.path !== 'string')) {
    usage('target must be an UpgradeTarget ({ server, path, ... }) or an async function returning one');
  }
  const protocol = options.protocol ?? 'auto';
  if (!PROTOCOL_CHOICES.includes(protocol)) usage(`protocol must be one of ${PROTOCOL_CHOICES.join(', ')}, got ${JSON.stringify(protocol)}`);
  if (options.dial !== undefined && typeof options.dial !== 'function') usage('dial must be a function');
  const d = RESILIENCE_DEFAULTS;
  const ms = (name: keyof typeof d, min = 1): number => integerIn(name, options[name] ?? d[name], min, MAX_TIMER_MS);
  const resolved: ResolvedResilienceOptions = {
    target,
    protocol,
    transport: options.transport ?? {},
    dial: options.dial,
    pingIntervalMs: ms('pingIntervalMs'),
    pingTimeoutMs: ms('pingTimeoutMs'),
    openTimeoutMs: ms('openTimeoutMs'),
    probeTimeoutMs: ms('probeTimeoutMs'),
    stalledOpenLimit: integerIn('stalledOpenLimit', options.stalledOpenLimit ?? d.stalledOpenLimit, 1, 1_000),
    backoffInitialDelayMs: ms('backoffInitialDelayMs'),
    backoffMaxDelayMs: ms('backoffMaxDelayMs'),
    healthyAfterMs: ms('healthyAfterMs', 0),
    maxConnections: integerIn('maxConnections', options.maxConnections ?? d.maxConnections, 1, 10_000),
    extraConnectionIdleMs: ms('extraConnectionIdleMs', 0),
    clock: options.clock ?? systemClock,
    random: options.random ?? Math.random,
  };
  if (resolved.backoffMaxDelayMs < resolved.backoffInitialDelayMs) {
    usage(`backoffMaxDelayMs ${resolved.backoffMaxDelayMs} is below backoffInitialDelayMs ${resolved.backoffInitialDelayMs}`);
  }
  return resolved;
}
