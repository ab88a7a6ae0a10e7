/** The `kubemux` command line: dispatches to one module per subcommand. */
import { readFileSync } from 'node:fs';
import { DEMO_USAGE, demoCommand } from './demo-command.js';
import { FAKE_CLUSTER_USAGE, fakeClusterCommand } from './fake-cluster-command.js';
import { FORWARD_USAGE, forwardCommand } from './forward-command.js';

const USAGE = `kubemux: Kubernetes port-forward that does not drop

Usage:
  kubemux forward TYPE/NAME [LOCAL:]REMOTE...   forward local ports to a pod, and keep forwarding
                                                (alias: port-forward; a drop-in for kubectl port-forward)
  kubemux demo                     watch a forward heal itself, with no cluster
  kubemux fake-cluster [options]   run a fake Kubernetes API with a port-forward endpoint
  kubemux --version                print the version
  kubemux --help                   show this help

Run "kubemux COMMAND --help" for a command's options.
`;

function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

/** Runs the CLI with the given arguments and resolves to the process exit code. */
export async function main(argv: readonly string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case undefined:
    case '--help':
    case '-h':
    case 'help':
      process.stdout.write(helpFor(rest[0]));
      return 0;
    case '--version':
    case 'version':
      process.stdout.write(`kubemux ${packageVersion()}\n`);
      return 0;
    case 'fake-cluster':
      return fakeClusterCommand(rest);
    case 'forward':
    case 'port-forward':
      return forwardCommand(rest, { stdout: process.stdout, stderr: process.stderr, stopped: stopSignal() });
    case 'demo':
      return demoCommand(rest, { stdout: process.stdout, stderr: process.stderr });
    default:
      process.stderr.write(`kubemux: unknown command "${command}"\n\n${USAGE}`);
      return 2;
  }
}

function helpFor(command: string | undefined): string {
  switch (command) {
    case 'fake-cluster':
      return FAKE_CLUSTER_USAGE;
    case 'forward':
    case 'port-forward':
      return FORWARD_USAGE;
    case 'demo':
      return DEMO_USAGE;
    default:
      return USAGE;
  }
}

/** Resolves on the first SIGINT or SIGTERM, which from then on no longer kill the process. */
function stopSignal(): Promise<void> {
  return new Promise<void>((resolve) => {
    const stop = (): void => {
      resolve();
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
}
