/** The `kubemux` command line: dispatches to one module per subcommand. */
import { readFileSync } from 'node:fs';
import { DEMO_USAGE, demoCommand } from './demo-command.js';
import { FAKE_CLUSTER_USAGE, fakeClusterCommand } from './fake-cluster-command.js';
import { errorLine } from './error-line.js';
import { FORWARD_USAGE, forwardCommand } from './forward-command.js';
import { endOutputOnError, stopSignal } from './process-io.js';
import { USAGE_EXIT_CODE, UsageError, usageMessage } from './usage.js';

const USAGE = `kubemux: Kubernetes port-forward that does not drop

Usage:
  kubemux forward TYPE/NAME [LOCAL:]REMOTE...   forward local ports to a pod, and keep forwarding
                                                (alias: port-forward; a drop-in for kubectl port-forward)
  kubemux demo                     watch a forward heal itself, with no cluster
  kubemux fake-cluster [options]   run a fake Kubernetes API with a port-forward endpoint
  kubemux --version                print the version
  kubemux --help                   show this help

Run 'kubemux COMMAND --help' for a command's options.
`;

function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

const COMMANDS = new Set(['forward', 'port-forward', 'demo', 'fake-cluster']);

/**
 * Runs the CLI with the given arguments and resolves to the process exit code: 0, 1 for a
 * runtime error (one line on stderr), 2 for a usage error (one line and where the help is).
 */
export async function main(argv: readonly string[]): Promise<number> {
  endOutputOnError(process.stdout);
  endOutputOnError(process.stderr);
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case undefined:
        // As git does: the help, and the exit code of a usage error.
        process.stdout.write(USAGE);
        return USAGE_EXIT_CODE;
      case '--help':
      case '-h':
      case 'help':
        if (rest[0] !== undefined && !COMMANDS.has(rest[0])) throw new UsageError(`unknown command "${rest[0]}"`);
        process.stdout.write(helpFor(rest[0]));
        return 0;
      case '--version':
      case 'version':
        process.stdout.write(`kubemux ${packageVersion()}\n`);
        return 0;
      case 'fake-cluster':
        return await fakeClusterCommand(rest, { stdout: process.stdout, stderr: process.stderr, stopped: stopSignal() });
      case 'forward':
      case 'port-forward':
        return await forwardCommand(rest, { stdout: process.stdout, stderr: process.stderr, stopped: stopSignal() });
      case 'demo':
        return await demoCommand(rest, { stdout: process.stdout, stderr: process.stderr });
      default:
        throw new UsageError(command.startsWith('-') ? `unknown option "${command}"` : `unknown command "${command}"`);
    }
  } catch (error) {
    if (error instanceof UsageError) {
      process.stderr.write(usageMessage('kubemux', error.message));
      return USAGE_EXIT_CODE;
    }
    process.stderr.write(`kubemux: ${errorLine(error)}\n`);
    return 1;
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
