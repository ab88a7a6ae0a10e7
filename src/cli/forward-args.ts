/**
 * The arguments of `kubemux forward` (alias `kubemux port-forward`), parsed as kubectl parses
 * `kubectl port-forward`'s, so that a script can swap the command name and keep its arguments:
 *
 *   kubemux forward TYPE/NAME [LOCAL_PORT:]REMOTE_PORT [...] [-n NS] [--context C]
 *     [--kubeconfig FILE] [--address ADDR[,ADDR]] [--pod-running-timeout 1m0s]
 *     [--protocol auto|websocket|spdy|v4] [--ping-interval 5s] [--ping-timeout 10s] [--json]
 *
 * Everything is checked here, before anything is dialed or bound; a bad argument is one line of
 * text for a usage error (exit 2).
 */
import { parseDuration } from './duration.js';
import { parseOptions, UsageError } from './usage.js';

export { UsageError };

/** The protocols the CLI names, and what the library calls them. */
export const CLI_PROTOCOLS = { auto: 'auto', websocket: 'websocket-tunnel', spdy: 'spdy', v4: 'websocket-v4' } as const;

/** Parsed `kubemux forward` arguments. */
export interface ForwardArguments {
  readonly help: boolean;
  /** `TYPE/NAME` or `NAME`, as given. */
  readonly target: string;
  /** The port specs, as given (`8080`, `9000:80`, `:80`, `0:http`). */
  readonly ports: readonly string[];
  readonly namespace: string | undefined;
  readonly context: string | undefined;
  readonly kubeconfig: string | undefined;
  /** `localhost` unless given; each entry `localhost` or an IP literal. */
  readonly addresses: readonly string[];
  readonly podRunningTimeoutMs: number;
  readonly protocol: (typeof CLI_PROTOCOLS)[keyof typeof CLI_PROTOCOLS];
  readonly pingIntervalMs: number;
  readonly pingTimeoutMs: number;
  readonly json: boolean;
}

const OPTIONS = {
  namespace: { type: 'string', short: 'n' },
  context: { type: 'string' },
  kubeconfig: { type: 'string' },
  address: { type: 'string', multiple: true },
  'pod-running-timeout': { type: 'string' },
  protocol: { type: 'string' },
  'ping-interval': { type: 'string' },
  'ping-timeout': { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

function duration(flag: string, value: string | undefined, fallbackMs: number, minMs: number): number {
  if (value === undefined) return fallbackMs;
  const ms = parseDuration(value);
  if (ms === undefined) throw new UsageError(`invalid argument "${value}" for "--${flag}" flag: a duration is a number with a unit, e.g. 5s, 500ms, 1m0s`);
  if (ms < minMs) throw new UsageError(`--${flag} ${value} is too short: at least ${minMs} ms`);
  return ms;
}

/** Parses `argv` (the words after `forward`); throws {@link UsageError}. */
export function parseForwardArguments(argv: readonly string[]): ForwardArguments {
  const { values, positionals } = parseOptions({ args: [...argv], options: OPTIONS, strict: true, allowPositionals: true });
  const help = values.help === true;
  if (!help && positionals.length < 2) {
    throw new UsageError(positionals.length === 0 ? 'TYPE/NAME and a list of ports are required for port-forward' : 'at least 1 PORT is required for port-forward');
  }
  const protocolName = values.protocol ?? 'auto';
  if (!Object.hasOwn(CLI_PROTOCOLS, protocolName)) throw new UsageError(`--protocol must be one of ${Object.keys(CLI_PROTOCOLS).join(', ')}, got "${protocolName}"`);
  const addresses = (values.address ?? ['localhost']).flatMap((a) => a.split(',')).map((a) => a.trim());
  if (addresses.some((a) => a === '')) throw new UsageError('--address must not be empty');
  const pingIntervalMs = duration('ping-interval', values['ping-interval'], 5_000, 1);
  const pingTimeoutMs = duration('ping-timeout', values['ping-timeout'], 10_000, 1);
  return {
    help,
    target: positionals[0] ?? '',
    ports: positionals.slice(1),
    namespace: values.namespace,
    context: values.context,
    kubeconfig: values.kubeconfig,
    addresses,
    podRunningTimeoutMs: duration('pod-running-timeout', values['pod-running-timeout'], 60_000, 1),
    protocol: CLI_PROTOCOLS[protocolName as keyof typeof CLI_PROTOCOLS],
    pingIntervalMs,
    pingTimeoutMs,
    json: values.json === true,
  };
}
