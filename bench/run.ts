/**
 * Runs the benchmarks: `node dist/bench/run.js [--quick] [name...]` (or `npm run bench -- name`).
 * Prints Markdown to stdout (machine, command, one section per bench) and progress to stderr.
 */
import {
  type Bench,
  type BenchSection,
  QUICK_OPTIONS,
  commandLine,
  formatMachine,
  machineInfo,
  parseBenchArgs,
  setDefaultOptions,
} from './support/harness.js';

/** Every bench, in the order they run. Adding one is one line here. */
const BENCHES: Readonly<Record<string, () => Promise<{ default: Bench }>>> = {
  codec: () => import('./codec.bench.js'),
  session: () => import('./session.bench.js'),
  forward: () => import('./forward.bench.js'),
};

async function main(): Promise<number> {
  const argv = process.argv.slice(2);
  let args;
  try {
    args = parseBenchArgs(argv);
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n`);
    return 2;
  }
  const names = Object.keys(BENCHES);
  if (args.help) {
    process.stdout.write(`usage: node dist/bench/run.js [--quick] [${names.join('|')}...]\n`);
    return 0;
  }
  const unknown = args.filters.filter((f) => !names.includes(f));
  if (unknown.length > 0) {
    process.stderr.write(`unknown bench ${unknown.join(', ')}; available: ${names.join(', ')}\n`);
    return 2;
  }
  const selected = args.filters.length === 0 ? names : names.filter((n) => args.filters.includes(n));
  if (args.quick) setDefaultOptions(QUICK_OPTIONS);

  const out = (text: string): void => {
    process.stdout.write(`${text}\n`);
  };
  out('# kubemux benchmarks');
  out('');
  out(`- Machine: ${formatMachine(machineInfo())}`);
  out(`- Command: \`${commandLine(argv)}\`${args.quick ? ' (quick run: figures are indicative only)' : ''}`);
  out('- Each figure is the median of the rounds; each ratio is the median of per-round ratios against a baseline measured in the same run, rounds interleaved.');

  const context = {
    quick: args.quick,
    progress: (message: string): void => {
      process.stderr.write(`… ${message}\n`);
    },
  };
  for (const name of selected) {
    const bench = (await BENCHES[name]!()).default;
    const sections: BenchSection[] = await bench.run(context);
    for (const section of sections) {
      out('');
      out(`## ${section.title}`);
      for (const block of section.blocks) {
        out('');
        out(block);
      }
    }
  }
  return 0;
}

process.exitCode = await main();
