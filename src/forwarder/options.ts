/** Options of a {@link PortForwarder}, their defaults and their validation. */
import type { ResilientConnection } from '../resilience/resilient-connection.js';
import { integerIn, MAX_TIMER_MS, usageError } from '../util/validate.js';
import type { PortStreamOpener } from '../transport/port-forward-connection.js';
import { DEFAULT_LISTEN_ADDRESSES, parseListenAddresses, type ListenAddress } from './listen-address.js';
import { parsePortSpecs, type ParsedPortSpec, type PortSpec } from './port-spec.js';
import { targetOpener, type ForwardTargetOptions } from './target-opener.js';

/**
 * Maps a remote port as given (a number, or a port name) to the pod port to open pairs on: a
 * pod's named container port, a service port's target port. Fails with a KubemuxError
 * (ERR_TARGET_NOT_FOUND for an unknown name, say), which {@link PortForwarder.ready} rejects with.
 */
export type ResolvePort = (remote: number | string, signal: AbortSignal) => Promise<number>;

/** What every forward takes, whatever opens its pairs. */
export interface ForwarderCommonOptions {
  /** The ports to forward, at least one: `"8080"`, `"9000:80"`, `":80"`, `"0:80"`, `"http"`, or `{ local?, remote }`. */
  readonly ports: readonly PortSpec[];
  /**
   * Where to listen. Default `['localhost']`: 127.0.0.1 and ::1, either may fail. Other values are
   * IP literals that must all bind; a non-loopback one (`0.0.0.0`) is how to listen beyond this
   * machine.
   */
  readonly addresses?: readonly string[];
  /**
   * Maps remote ports (names, service ports) to pod ports; called once per port spec before
   * anything is bound. Default: numbers as they are; a port name is then a usage error.
   */
  readonly resolvePort?: ResolvePort;
  /** Deadline for each local connection's pair to open, ms (`timeoutMs` of openPortStreams). Default 5,000. */
  readonly openTimeoutMs?: number;
}

/** A forward over pairs from an opener of your own. */
export interface OpenerForwarderOptions extends ForwarderCommonOptions {
  /**
   * What opens a pair per local connection: a ResilientConnection, or a PortForwardConnection
   * (which does not heal). The caller owns it: the forwarder never closes it (close it after the
   * forwarder).
   */
  readonly opener: PortStreamOpener;
}

/**
 * A forward to a Kubernetes target: the forwarder builds a ResilientConnection that resolves the
 * target again before every dial, uses kubectl's port resolution for it (named ports, service
 * ports to target ports) unless `resolvePort` is given, and closes the connection when it closes.
 */
export interface TargetForwarderOptions extends ForwarderCommonOptions, ForwardTargetOptions {
  readonly opener?: undefined;
}

/** Options of {@link PortForwarder} and {@link forward}: an `opener`, or a `cluster` and a `target`. */
export type PortForwarderOptions = OpenerForwarderOptions | TargetForwarderOptions;

/** Defaults of {@link PortForwarderOptions}. */
export const FORWARDER_DEFAULTS = Object.freeze({
  addresses: DEFAULT_LISTEN_ADDRESSES,
  openTimeoutMs: 5_000,
});

/** Options of {@link PortForwarder.close}. */
export interface CloseForwarderOptions {
  /**
   * `'finish'` (default): stop listening, let open connections end by themselves. `'abort'`: stop
   * listening and reset every open connection.
   */
  readonly mode?: 'finish' | 'abort';
  /** With `'finish'`: abort the connections still open after this many ms. Default: wait for them. */
  readonly timeoutMs?: number;
}

/** Validated options. @internal */
export interface ResolvedForwarderOptions {
  readonly opener: PortStreamOpener;
  /** The connection the forwarder built for a target, and closes. */
  readonly owned: ResilientConnection | undefined;
  readonly ports: readonly ParsedPortSpec[];
  readonly addresses: readonly ListenAddress[];
  readonly resolvePort: ResolvePort | undefined;
  readonly openTimeoutMs: number;
}

/** Applies defaults and validates; throws ERR_INVALID_ARGUMENT (usage) naming the bad option. @internal */
export function resolveForwarderOptions(options: PortForwarderOptions): ResolvedForwarderOptions {
  if (typeof options !== 'object' || options === null) throw usageError('options are required: { opener, ports } or { cluster, target, ports }');
  const given = options.opener as PortStreamOpener | undefined;
  const byTarget = given === undefined && (options as Partial<TargetForwarderOptions>).target !== undefined;
  if (!byTarget && typeof given?.openPortStreams !== 'function') {
    throw usageError('opener must have openPortStreams(port, options) (a ResilientConnection or a PortForwardConnection), or give cluster and target instead');
  }
  const ports = parsePortSpecs(options.ports);
  let resolvePort = options.resolvePort;
  if (resolvePort !== undefined && typeof resolvePort !== 'function') throw usageError('resolvePort must be a function');
  if (resolvePort === undefined && !byTarget) {
    const named = ports.find((port) => typeof port.remote === 'string');
    if (named !== undefined) throw usageError(`invalid port spec ${named.text}: the port name ${JSON.stringify(named.remote)} needs a resolvePort hook`);
  }
  const addresses = parseListenAddresses(options.addresses ?? FORWARDER_DEFAULTS.addresses);
  const openTimeoutMs = integerIn('openTimeoutMs', options.openTimeoutMs ?? FORWARDER_DEFAULTS.openTimeoutMs, 1, MAX_TIMER_MS);
  // Built last: every other option is valid by now, so a bad one leaves no connection behind.
  let opener: PortStreamOpener;
  let owned: ResilientConnection | undefined;
  if (byTarget) {
    const built = targetOpener(options as TargetForwarderOptions);
    opener = owned = built.connection;
    resolvePort ??= built.resolvePort;
  } else opener = given!;
  return { opener, owned, ports, addresses, resolvePort, openTimeoutMs };
}

/**
 * Throws ERR_INVALID_ARGUMENT (usage) when two specs name the same non-zero local port (known
 * once names are resolved): the second could never bind. @internal
 */
export function checkDistinctLocalPorts(ports: ReadonlyArray<{ readonly text: string; readonly local: number }>): void {
  const seen = new Map<number, string>();
  for (const { text, local } of ports) {
    if (local === 0) continue;
    const earlier = seen.get(local);
    if (earlier !== undefined) throw usageError(`invalid port spec ${text}: local port ${local} is already used by ${earlier}`);
    seen.set(local, text);
  }
}

/** Validates close options; throws ERR_INVALID_ARGUMENT (usage). @internal */
export function resolveCloseOptions(options: CloseForwarderOptions): { mode: 'finish' | 'abort'; timeoutMs: number | undefined } {
  const mode = options.mode ?? 'finish';
  if (mode !== 'finish' && mode !== 'abort') throw usageError(`close mode must be 'finish' or 'abort', got ${JSON.stringify(mode)}`);
  const timeoutMs = options.timeoutMs === undefined ? undefined : integerIn('timeoutMs', options.timeoutMs, 0, MAX_TIMER_MS);
  if (timeoutMs !== undefined && mode === 'abort') throw usageError("timeoutMs applies to close mode 'finish' only");
  return { mode, timeoutMs };
}
