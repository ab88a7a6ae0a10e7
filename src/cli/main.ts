/** The `kubemux` command line: dispatches to one module per subcommand. */
import { readFileSync } from 'node:fs';
import { FAKE_CLUSTER_USAGE, fakeClusterCommand } from './fake-cluster-command.js';

const USAGE = `kubemux: Kubernetes port-forward that does not drop

Usage:
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
      process.stdout.write(rest[0] === 'fake-cluster' ? FAKE_CLUSTER_USAGE : USAGE);
      return 0;
    case '--version':
    case 'version':
      process.stdout.write(`kubemux ${packageVersion()}\n`);
      return 0;
    case 'fake-cluster':
      return fakeClusterCommand(rest);
    default:
      process.stderr.write(`kubemux: unknown command "${command}"\n\n${USAGE}`);
      return 2;
  }
}
