import { readFileSync } from 'node:fs';

const USAGE = `kubemux: Kubernetes port-forward that does not drop

Usage:
  kubemux --version     print the version
  kubemux --help        show this help
`;

function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

/** Runs the CLI with the given arguments and resolves to the process exit code. */
export async function main(argv: readonly string[]): Promise<number> {
  const [command] = argv;
  if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
    process.stdout.write(USAGE);
    return 0;
  }
  if (command === '--version' || command === 'version') {
    process.stdout.write(`kubemux ${packageVersion()}\n`);
    return 0;
  }
  process.stderr.write(`kubemux: unknown command "${command}"\n\n${USAGE}`);
  return 2;
}
