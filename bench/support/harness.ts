/**
 * A small benchmark harness. Every figure it prints is paired with a baseline measured in the same
 * run, on the same machine, with rounds of the two interleaved: absolute numbers move with the
 * machine and its load, the ratio much less. Nothing here asserts a time; benchmarks are programs
 * that report, tests are where behaviour is asserted.
 */
import { cpus, availableParallelism, totalmem } from 'node:os';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';

/** One operation under measurement; a returned promise is awaited before the next call. */
export type Op = () => unknown;

/** How long and how often to measure. */
export interface MeasureOptions {
  /** Minimum length of one round, in milliseconds. */
  readonly minTimeMs?: number;
  /** Time spent running the op before the first round (JIT, caches, pools), in milliseconds. */
  readonly warmupMs?: number;
  /** Number of rounds; the reported rate is the median over them. */
  readonly rounds?: number;
  /** Bytes one op processes; when set, bytes/s is reported too. */
  readonly bytesPerOp?: number;
  /** Items (frames, blocks) one op processes; rates are reported per item. Default 1. */
  readonly itemsPerOp?: number;
}

/** Defaults of a normal run, sized so that one comparison takes a few seconds. */
export const NORMAL_OPTIONS = Object.freeze({ minTimeMs: 300, warmupMs: 300, rounds: 7 });
/** Defaults of `--quick`: enough to see that every bench runs, not enough to quote. */
export const QUICK_OPTIONS = Object.freeze({ minTimeMs: 40, warmupMs: 40, rounds: 3 });

/** The outcome of measuring one op. */
export interface Measurement {
  readonly name: string;
  /** Median over the rounds. */
  readonly opsPerSec: number;
  /** opsPerSec × itemsPerOp. */
  readonly itemsPerSec: number;
  /** Median over the rounds, when `bytesPerOp` was given. */
  readonly bytesPerSec: number | undefined;
  /** Ops per second of every round, in the order they ran. */
  readonly roundOpsPerSec: readonly number[];
  /** (max - min) / median of the rounds: how noisy the figure is. */
  readonly spread: number;
}

/** The outcome of measuring an op against its baseline. */
export interface Comparison {
  readonly subject: Measurement;
  readonly baseline: Measurement;
  /** Median of the per-round ratios subject/baseline (higher = subject is faster). */
  readonly ratio: number;
  /** (max - min) / median of the per-round ratios: how far to trust the ratio. */
  readonly ratioSpread: number;
}

/** The median of `values` (the mean of the middle two for an even count). */
export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** The nearest-rank percentile `p` (0..100) of an ascending array. */
export function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return typeof value === 'object' && value !== null && typeof (value as { then?: unknown }).then === 'function';
}

/**
 * Runs one op in timed rounds. Synchronous ops run in batches sized during warm-up so that the
 * clock is read about once per millisecond, not once per op (reading it costs ~50 ns, as much
 * as a small op).
 */
class Runner {
  readonly name: string;
  readonly #fn: Op;
  #async = false;
  #batch = 1;

  constructor(name: string, fn: Op) {
    this.name = name;
    this.#fn = fn;
  }

  async warmup(warmupMs: number): Promise<void> {
    const first = this.#fn();
    this.#async = isThenable(first);
    if (this.#async) await first;
    const start = performance.now();
    let ops = 0;
    let batch = 1;
    while (performance.now() - start < warmupMs || ops === 0) {
      const batchStart = performance.now();
      await this.#runBatch(batch);
      ops += batch;
      const batchMs = performance.now() - batchStart;
      // Grow the batch until one takes about a millisecond.
      if (batchMs < 1) batch = Math.min(batch * 2, 1 << 24);
    }
    this.#batch = batch;
  }

  /** One round: returns ops per second. */
  async round(minTimeMs: number): Promise<number> {
    let ops = 0;
    const start = performance.now();
    let elapsed = 0;
    do {
      await this.#runBatch(this.#batch);
      ops += this.#batch;
      elapsed = performance.now() - start;
    } while (elapsed < minTimeMs);
    return (ops * 1000) / elapsed;
  }

  async #runBatch(count: number): Promise<void> {
    const fn = this.#fn;
    if (this.#async) {
      for (let i = 0; i < count; i++) await fn();
    } else {
      for (let i = 0; i < count; i++) fn();
    }
  }
}

type TimingOptions = Required<Pick<MeasureOptions, 'minTimeMs' | 'warmupMs' | 'rounds'>>;

function resolveOptions(options: MeasureOptions): TimingOptions {
  const merged = { ...currentDefaults, ...options };
  return { minTimeMs: merged.minTimeMs, warmupMs: merged.warmupMs, rounds: merged.rounds };
}

function summarise(name: string, roundOpsPerSec: number[], bytesPerOp: number | undefined, itemsPerOp = 1): Measurement {
  const opsPerSec = median(roundOpsPerSec);
  return {
    name,
    opsPerSec,
    itemsPerSec: opsPerSec * itemsPerOp,
    bytesPerSec: bytesPerOp === undefined ? undefined : opsPerSec * bytesPerOp,
    roundOpsPerSec,
    spread: (Math.max(...roundOpsPerSec) - Math.min(...roundOpsPerSec)) / opsPerSec,
  };
}

let currentDefaults: TimingOptions = { ...NORMAL_OPTIONS };

/** Sets the options every later measurement starts from (run.ts does this for `--quick`). */
export function setDefaultOptions(options: TimingOptions): void {
  currentDefaults = { ...options };
}

/** Measures one op on its own: median ops/s (and bytes/s) over the rounds. */
export async function measure(name: string, fn: Op, options: MeasureOptions = {}): Promise<Measurement> {
  const opts = resolveOptions(options);
  const runner = new Runner(name, fn);
  await runner.warmup(opts.warmupMs);
  const rounds: number[] = [];
  for (let i = 0; i < opts.rounds; i++) rounds.push(await runner.round(opts.minTimeMs));
  return summarise(name, rounds, options.bytesPerOp, options.itemsPerOp);
}

/** One side of a comparison. */
export interface Case {
  readonly name: string;
  readonly fn: Op;
  /** Bytes one op processes; defaults to the comparison's `bytesPerOp`. */
  readonly bytesPerOp?: number;
  /** Items one op processes; defaults to the comparison's `itemsPerOp`. */
  readonly itemsPerOp?: number;
}

/**
 * Measures `subject` against `baseline`, alternating their rounds so that drift in machine load
 * hits both alike. The ratio is per round, then the median: one disturbed round moves it little.
 * When both sides have a byte count, the ratio is of bytes/s, otherwise of items/s.
 */
export async function compare(subject: Case, baseline: Case, options: MeasureOptions = {}): Promise<Comparison> {
  const opts = resolveOptions(options);
  const subjectBytes = subject.bytesPerOp ?? options.bytesPerOp;
  const baselineBytes = baseline.bytesPerOp ?? options.bytesPerOp;
  const subjectItems = subject.itemsPerOp ?? options.itemsPerOp ?? 1;
  const baselineItems = baseline.itemsPerOp ?? options.itemsPerOp ?? 1;
  const bytesBased = subjectBytes !== undefined && baselineBytes !== undefined;
  const runners = [new Runner(subject.name, subject.fn), new Runner(baseline.name, baseline.fn)] as const;
  for (const runner of runners) await runner.warmup(opts.warmupMs);
  const subjectRounds: number[] = [];
  const baselineRounds: number[] = [];
  const ratios: number[] = [];
  for (let i = 0; i < opts.rounds; i++) {
    // Alternate which side goes first, so neither always runs on a warmer (or cooler) machine.
    const order = i % 2 === 0 ? runners : ([runners[1], runners[0]] as const);
    const result = new Map<Runner, number>();
    for (const runner of order) result.set(runner, await runner.round(opts.minTimeMs));
    const s = result.get(runners[0])!;
    const b = result.get(runners[1])!;
    subjectRounds.push(s);
    baselineRounds.push(b);
    ratios.push(bytesBased ? (s * subjectBytes) / (b * baselineBytes) : (s * subjectItems) / (b * baselineItems));
  }
  return {
    subject: summarise(subject.name, subjectRounds, subjectBytes, subjectItems),
    baseline: summarise(baseline.name, baselineRounds, baselineBytes, baselineItems),
    ratio: median(ratios),
    ratioSpread: (Math.max(...ratios) - Math.min(...ratios)) / median(ratios),
  };
}

// ---------------------------------------------------------------------------------------------
// Formatting

const MIB = 1024 * 1024;

/** A number with three significant digits and thousands separators: 1,230,000 or 12.3. */
export function formatNumber(value: number): string {
  if (!Number.isFinite(value)) return String(value);
  return value.toLocaleString('en-US', { maximumSignificantDigits: 3 });
}

/** Bytes per second as MiB/s. */
export function formatMiBps(bytesPerSec: number): string {
  return `${formatNumber(bytesPerSec / MIB)} MiB/s`;
}

/** A rate in the unit the reader thinks in: MiB/s when the op has a byte count, else `<unit>/s`. */
export function formatRate(m: Measurement, unit = 'ops'): string {
  return m.bytesPerSec === undefined ? `${formatNumber(m.itemsPerSec)} ${unit}/s` : formatMiBps(m.bytesPerSec);
}

/** A ratio as `1.23×`. */
export function formatRatio(ratio: number): string {
  return `${ratio >= 10 ? ratio.toFixed(1) : ratio.toFixed(2)}×`;
}

/** A fraction as a percentage with one decimal. */
export function formatPercent(fraction: number): string {
  return `${(fraction * 100).toFixed(1)} %`;
}

/** A Markdown table; cells are escaped for `|`. */
export function markdownTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const escape = (cell: string): string => cell.replaceAll('|', '\\|');
  const lines = [
    `| ${header.map(escape).join(' | ')} |`,
    `| ${header.map((_, i) => (i === 0 ? '---' : '---:')).join(' | ')} |`,
    ...rows.map((row) => `| ${row.map(escape).join(' | ')} |`),
  ];
  return lines.join('\n');
}

/** The standard row of a comparison: name | value | baseline | ratio. */
export function comparisonRow(name: string, c: Comparison, unit = 'ops'): string[] {
  return [name, formatRate(c.subject, unit), `${formatRate(c.baseline, unit)} (${c.baseline.name})`, formatRatio(c.ratio)];
}

/** A sentence on the noise of a set of comparisons, to print under their table. */
export function spreadNote(comparisons: readonly Comparison[]): string {
  const worst = Math.max(...comparisons.map((c) => c.ratioSpread));
  return `Largest round-to-round spread of a ratio in this table: ${formatPercent(worst)} of its median.`;
}

/** The standard table of comparisons. */
export function comparisonTable(rows: readonly (readonly string[])[]): string {
  return markdownTable(['name', 'value', 'baseline', 'ratio'], rows);
}

// ---------------------------------------------------------------------------------------------
// Machine and command line

/** What the figures were measured on. */
export interface MachineInfo {
  readonly node: string;
  readonly cpuModel: string;
  readonly cores: number;
  readonly platform: string;
  readonly memoryGiB: number;
}

/** Node version, CPU model and core count, as the figures must always be quoted with them. */
export function machineInfo(): MachineInfo {
  const cpuList = cpus();
  return {
    node: process.version,
    cpuModel: cpuList[0]?.model.trim() ?? 'unknown CPU',
    cores: availableParallelism(),
    platform: `${process.platform}/${process.arch}`,
    memoryGiB: Math.round(totalmem() / 1024 ** 3),
  };
}

/** One line describing the machine. */
export function formatMachine(info: MachineInfo): string {
  return `Node ${info.node} on ${info.platform}, ${info.cpuModel}, ${info.cores} cores, ${info.memoryGiB} GiB`;
}

/** The parsed command line of `run.js`. */
export interface BenchArgs {
  /** Short rounds: checks that everything runs, figures not fit to quote. */
  readonly quick: boolean;
  /** Bench names to run; empty = all. */
  readonly filters: readonly string[];
  readonly help: boolean;
}

/** Parses `[--quick] [name...]`. */
export function parseBenchArgs(argv: readonly string[]): BenchArgs {
  const { values, positionals } = parseArgs({
    args: [...argv],
    options: { quick: { type: 'boolean', default: false }, help: { type: 'boolean', short: 'h', default: false } },
    allowPositionals: true,
    strict: true,
  });
  return { quick: values.quick === true, filters: positionals, help: values.help === true };
}

/** The command as the user typed it, for the report (so a reader can run it again). */
export function commandLine(argv: readonly string[]): string {
  const args = argv.join(' ');
  // Under `npm run bench`, quote the npm form: it is the one the README documents.
  if (process.env['npm_lifecycle_event'] === 'bench') return `npm run bench${args === '' ? '' : ` -- ${args}`}`;
  const script = process.argv[1] === undefined ? 'run.js' : relativeToCwd(process.argv[1]);
  return `node ${script}${args === '' ? '' : ` ${args}`}`;
}

function relativeToCwd(path: string): string {
  const cwd = process.cwd();
  return path.startsWith(`${cwd}/`) ? path.slice(cwd.length + 1) : path;
}

// ---------------------------------------------------------------------------------------------
// Bench modules

/** What a bench module prints: a title, tables, and notes under them. */
export interface BenchSection {
  readonly title: string;
  /** Markdown blocks (tables, paragraphs), printed in order. */
  readonly blocks: readonly string[];
}

/** Passed to every bench. */
export interface BenchContext {
  readonly quick: boolean;
  /** Prints progress to stderr, so stdout stays clean Markdown. */
  progress(message: string): void;
}

/** The default export of a `*.bench.ts` module. */
export interface Bench {
  /** What the filter argument matches, e.g. `codec`. */
  readonly name: string;
  run(context: BenchContext): Promise<BenchSection[]>;
}
