/**
 * `kubemux forward` (alias `kubemux port-forward`): `kubectl port-forward` that does not drop.
 *
 * What a kubectl user's scripts rely on is kept exactly: the arguments (forward-args.ts), the
 * lines `Forwarding from 127.0.0.1:8080 -> 80` / `Forwarding from [::1]:8080 -> 80` once the
 * forward listens, `Handling connection for 8080` per connection, on stdout. What kubectl cannot
 * do is added: the connection is kept alive and replaced when it dies (reported on stderr as
 * `connection lost (reason); reconnected in N ms`), one failing connection never ends the others,
 * a live status line on a terminal, and `--json` events for tools.
 *
 * Exit codes: 0 after SIGINT or SIGTERM; 1 for a fatal error (an unusable kubeconfig, no such
 * pod and no way to find one, a port that cannot be bound, no connection within
 * --pod-running-timeout); 2 for a usage error.
 */
import {
  forward,
  fromKubeConfig,
  isKubemuxError,
  parseListenAddresses,
  parsePortSpec,
  ResilientConnection,
  TargetResolver,
  type KubemuxError,
  type PortForwarder,
  type ResolvedTarget,
} from '../index.js';
import { Console } from './console.js';
import { formatDuration } from './duration.js';
import { errorLine } from './error-line.js';
import { parseForwardArguments, UsageError, type ForwardArguments } from './forward-args.js';
import { ForwardReporter } from './forward-reporter.js';
import type { CommandIo } from './process-io.js';
import { USAGE_EXIT_CODE, usageMessage } from './usage.js';

const COMMAND = 'kubemux forward';

/** The help text of `kubemux forward`. */
export const FORWARD_USAGE = `Forward one or more local ports to a pod, and keep forwarding when the connection dies.

Usage:
  kubemux forward TYPE/NAME [LOCAL_PORT:]REMOTE_PORT [...[LOCAL_PORT_N:]REMOTE_PORT_N] [options]
  (alias: kubemux port-forward)

A drop-in for kubectl port-forward: the same arguments, and the same output lines on stdout
("Forwarding from 127.0.0.1:8080 -> 80", "Handling connection for 8080"). Unlike kubectl, a lost
connection is replaced (deploy/ and svc/ are resolved again to a running pod), and a failing
connection (e.g. the pod's port is closed) fails alone instead of ending the forward.

Examples:
  # Listen on ports 5000 and 6000 locally, forwarding to the same ports in the pod
  kubemux forward pod/mypod 5000 6000

  # Listen on 8080 locally, forwarding to port 80 of a pod of the deployment
  kubemux forward deployment/mydeployment 8080:80

  # Listen on 8443 locally, forwarding to the targetPort of the service's port named "https"
  kubemux forward service/myservice 8443:https

  # Pick a free local port; listen on all addresses too
  kubemux forward pod/mypod :5000 --address localhost,10.19.21.23

  # One JSON event per line, for tools
  kubemux forward deploy/web 8080:80 --json

Options (as kubectl's):
  -n, --namespace NS             the namespace (default: the context's)
      --context NAME             the kubeconfig context to use
      --kubeconfig FILE          the kubeconfig to use (default: $KUBECONFIG or ~/.kube/config)
      --address ADDR[,ADDR]      addresses to listen on: localhost or IP literals (default localhost)
      --pod-running-timeout DUR  how long to wait for a running pod, and for the first connection (default 1m0s)
kubemux's own:
      --protocol NAME            auto (default: kubectl's negotiation), websocket, spdy or v4
      --ping-interval DUR        time between liveness pings (default 5s)
      --ping-timeout DUR         a ping not answered within this is a dead connection (default 10s)
      --json                     print one JSON event per line instead of text
  -h, --help                     show this help

Durations are Go's: 500ms, 5s, 1m0s.

Exit codes:
  0  stopped by SIGINT or SIGTERM
  1  a fatal error: an unusable kubeconfig, no such pod and no way to find one, a port that
     cannot be bound, no connection within --pod-running-timeout
  2  a usage error
`;

/** What the command needs from its process (tests pass their own): every command's {@link CommandIo}. */
export type ForwardIo = CommandIo;

/** Runs `kubemux forward`; resolves to the exit code. */
export async function forwardCommand(argv: readonly string[], io: ForwardIo): Promise<number> {
  const console = new Console(io.stdout, io.stderr);
  let args: ForwardArguments;
  try {
    args = parseForwardArguments(argv);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    console.err(usageMessage(COMMAND, error.message).trimEnd());
    return USAGE_EXIT_CODE;
  }
  if (args.help) {
    console.out(FORWARD_USAGE.trimEnd());
    return 0;
  }
  // Port specs and addresses are arguments too: a bad one is a usage error before anything is read or dialed.
  try {
    for (const spec of args.ports) parsePortSpec(spec);
    parseListenAddresses(args.addresses);
  } catch (error) {
    if (!isKubemuxError(error) || error.scope !== 'usage') throw error;
    console.err(`kubemux forward: ${error.message}`);
    console.err(`See 'kubemux forward --help'.`);
    return 2;
  }
  const fatal = (error: unknown): number => {
    console.endStatus();
    console.err(`error: ${errorLine(error)}`);
    return 1;
  };

  const stop = new AbortController();
  void io.stopped.then(() => stop.abort());

  let first: ResolvedTarget;
  let resolver: TargetResolver;
  try {
    const kube = await fromKubeConfig({
      ...(args.kubeconfig === undefined ? {} : { kubeconfigPath: args.kubeconfig }),
      ...(args.context === undefined ? {} : { context: args.context }),
      ...(args.namespace === undefined ? {} : { namespace: args.namespace }),
    });
    resolver = new TargetResolver(kube, args.target, {
      podRunningTimeoutMs: args.podRunningTimeoutMs,
      onWaitingForPod: (wait) => {
        if (!args.json) console.err(`waiting up to ${formatDuration(wait.timeoutMs)} for a pod of ${args.target} (selector ${wait.selector})`);
      },
    });
    first = await resolver.resolve({ signal: stop.signal });
  } catch (error) {
    if (stop.signal.aborted) return 0;
    return fatal(error);
  }

  let initial: ResolvedTarget | undefined = first;
  const connection = new ResilientConnection({
    // The first resolution is fresh; every later dial resolves again (a new pod after a rollout).
    target: async ({ signal }) => {
      const resolved = initial ?? (await resolver.resolve({ signal }));
      initial = undefined;
      return resolved.upgradeTarget;
    },
    protocol: args.protocol,
    pingIntervalMs: args.pingIntervalMs,
    pingTimeoutMs: args.pingTimeoutMs,
  });
  const reporter = new ForwardReporter(console, connection, args.json);

  // kubectl connects before it listens: a script that waits for "Forwarding from" finds a
  // working forward. Transient failures are retried (and reported) until --pod-running-timeout.
  const deadline = AbortSignal.timeout(args.podRunningTimeoutMs);
  try {
    await connection.ready({ signal: AbortSignal.any([deadline, stop.signal]) });
  } catch (error) {
    await connection.destroy();
    reporter.close();
    if (stop.signal.aborted) return 0;
    const last = connection.stats.lastError;
    return fatal(deadline.aborted ? (last ?? error) : error);
  }

  let forwarder: PortForwarder;
  try {
    forwarder = forward({
      opener: connection,
      ports: args.ports,
      addresses: args.addresses,
      resolvePort: async (remote) => first.resolvePort(remote),
    });
    reporter.attach(forwarder);
    await forwarder.ready;
  } catch (error) {
    await connection.destroy();
    reporter.close();
    return fatal(error);
  }

  // Run until stopped, or until the connection gives up for good (a fatal failure).
  const gaveUp = new Promise<KubemuxError | undefined>((resolve) => connection.once('close', resolve));
  const outcome = await Promise.race([io.stopped.then(() => 'stopped' as const), gaveUp]);
  await forwarder.close({ mode: 'abort' });
  await connection.destroy();
  reporter.close();
  if (outcome === 'stopped') return 0;
  return fatal(outcome ?? new Error('the connection closed'));
}
