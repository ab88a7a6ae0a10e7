/**
 * The forward bench: `kubemux forward` against kubectl 1.33 `port-forward` and
 * @kubernetes/client-node's `PortForward`, in one run on one machine, with raw TCP and a naive
 * Node proxy as references. Everything is on loopback and every process is started and stopped
 * here: the target (the "pod", target-server.ts), the fake cluster (cluster-process.ts, a child
 * so that its CPU is its own), and each contender (contenders.ts).
 *
 * Scenarios (sizes of a full run; `--quick` shrinks them):
 *  1. bulk throughput, download and upload, 1 × 256 MiB and 8 × 64 MiB, reps interleaved across
 *     contenders, with the CPU of the forwarder and of the server read from /proc;
 *  2. connect → first echoed byte, 1,000 sequential connections, blocks interleaved;
 *  3. 1,000 concurrent small request/responses: success, wall time, peak RSS;
 *  4. CPU per GiB (from 1);
 *  5. recovery from `blackhole` and `drop`;
 *  6. memory per idle connection at 1,000 and 10,000, set-up rate, and 10,000 concurrent 64 KiB
 *     echoes hash-checked at both ends.
 * Output: Markdown tables (forward-report.ts) and bench/results/forward.json (forward-quick.json
 * for a quick run).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { stopAllChildren } from './support/child.js';
import { startCluster, type ClusterProcess } from './support/cluster-process.js';
import { allContenders, type BenchEnvironment, type ContenderSpec, type RunningContender } from './support/contenders.js';
import type {
  BulkRep,
  BulkResult,
  ConcurrencyResult,
  ContenderInfo,
  ForwardResults,
  IdleStep,
  LatencyResult,
  MemoryResult,
  RecoveryRep,
  RecoveryResult,
} from './support/forward-results.js';
import { renderForwardReport } from './support/forward-report.js';
import { commandLine, machineInfo, median, percentile, type Bench, type BenchContext, type BenchSection } from './support/harness.js';
import { connectLatency, download, echoLoad, openIdle, probe, upload, type EchoLoadResult } from './support/load.js';
import { machineBusySeconds, openFileLimits, resetPeakRss, sampleProcess } from './support/proc.js';
import { startTarget, type Target } from './support/target.js';

const KIB = 1024;
const MIB = 1024 * KIB;

/** Sizes of a run. */
interface Plan {
  readonly reps: number;
  readonly bulk: ReadonlyArray<{ readonly connections: number; readonly bytes: number }>;
  /** Bytes each way a contender moves before it is measured (the JIT of the Node contenders settles). */
  readonly warmupBytes: number;
  /** The same for the memory and scale phases, where per-byte speed is not measured. */
  readonly lightWarmupBytes: number;
  readonly latencyConnections: number;
  readonly latencyBlock: number;
  readonly concurrentConnections: number;
  readonly smallBytes: number;
  readonly recoveryReps: number;
  /** How long a contender that never notices a black hole is given before the bench clears it, ms. */
  readonly unnoticedWaitMs: number;
  readonly pingIntervalMs: number;
  readonly pingTimeoutMs: number;
  readonly idle: ReadonlyArray<{ readonly count: number; readonly batch: number }>;
  readonly scaleConnections: number;
  readonly scaleBytes: number;
}

const FULL: Plan = {
  reps: 3,
  bulk: [
    { connections: 1, bytes: 256 * MIB },
    { connections: 8, bytes: 64 * MIB },
  ],
  warmupBytes: 128 * MIB,
  lightWarmupBytes: 8 * MIB,
  latencyConnections: 1000,
  latencyBlock: 100,
  concurrentConnections: 1000,
  smallBytes: 100,
  recoveryReps: 3,
  unnoticedWaitMs: 10_000,
  pingIntervalMs: 1000,
  pingTimeoutMs: 1000,
  idle: [
    { count: 1000, batch: 50 },
    { count: 10_000, batch: 500 },
  ],
  scaleConnections: 10_000,
  scaleBytes: 64 * KIB,
};

const QUICK: Plan = {
  ...FULL,
  bulk: [
    { connections: 1, bytes: 16 * MIB },
    { connections: 8, bytes: 4 * MIB },
  ],
  warmupBytes: 8 * MIB,
  lightWarmupBytes: 4 * MIB,
  latencyConnections: 100,
  latencyBlock: 50,
  concurrentConnections: 100,
  recoveryReps: 1,
  unnoticedWaitMs: 2000,
  idle: [
    { count: 100, batch: 50 },
    { count: 500, batch: 500 },
  ],
  scaleConnections: 500,
};

/** A transfer that has not finished by then has failed. */
const TRANSFER_TIMEOUT_MS = 180_000;
/** Connections that have not echoed by then have failed. */
const CONNECTION_TIMEOUT_MS = 60_000;
/** Idle connections that have not echoed by then have failed (a contender at its limit may hold them for ever). */
const IDLE_TIMEOUT_MS = 15_000;
/** TCP handshakes pending at a time while the concurrent scenarios open their connections. */
const RAMP_PARALLEL = 500;
/** How long the forwarder may take to close the target's connections after a scenario, ms. */
const SETTLE_TIMEOUT_MS = 10_000;
const DIRECTIONS = ['download', 'upload'] as const;

function errorText(error: unknown): string {
  return error instanceof Error ? error.message.split('\n')[0]! : String(error);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** The run: its plan, its processes, what it measured so far. */
class ForwardRun {
  readonly plan: Plan;
  readonly context: BenchContext;
  readonly env: BenchEnvironment;
  readonly specs: readonly ContenderSpec[];
  readonly notes: string[] = [];
  readonly #running = new Map<string, RunningContender>();

  constructor(context: BenchContext, env: BenchEnvironment, specs: readonly ContenderSpec[]) {
    this.context = context;
    this.plan = context.quick ? QUICK : FULL;
    this.env = env;
    this.specs = specs;
  }

  get cluster(): ClusterProcess {
    return this.env.cluster;
  }

  get target(): Target {
    return this.env.target;
  }

  get available(): ContenderSpec[] {
    return this.specs.filter((spec) => spec.unavailable === undefined);
  }

  progress(message: string): void {
    this.context.progress(`forward: ${message}`);
  }

  /** The running process of `spec`, started (and warmed up with `warmupBytes` each way) if it is not running or has died. */
  async contender(spec: ContenderSpec, warmupBytes = this.plan.warmupBytes): Promise<RunningContender> {
    const current = this.#running.get(spec.id);
    if (current !== undefined && current.alive()) return current;
    if (current !== undefined) {
      this.notes.push(`${spec.label} had exited (last output: ${lastLine(current.output())}); restarted.`);
      await current.stop();
    }
    const started = await spec.start(this.env);
    this.#running.set(spec.id, started);
    await this.#warmUp(started, warmupBytes);
    return started;
  }

  async stopContender(spec: ContenderSpec): Promise<void> {
    const current = this.#running.get(spec.id);
    this.#running.delete(spec.id);
    await current?.stop();
  }

  async stopAll(): Promise<void> {
    for (const spec of [...this.#running.keys()]) await this.stopContender(this.specs.find((s) => s.id === spec)!);
  }

  /** JIT, pools and the first upgraded connection: one download, one upload, a few echoes. */
  async #warmUp(contender: RunningContender, bytes: number): Promise<void> {
    this.progress(`warming up ${contender.spec.label}`);
    await download(contender.port, 1, bytes, TRANSFER_TIMEOUT_MS);
    await upload(contender.port, 1, bytes, TRANSFER_TIMEOUT_MS);
    await connectLatency(contender.port, 50, CONNECTION_TIMEOUT_MS);
    await echoLoad(contender.port, 100, 4 * KIB, { rampParallel: 100, timeoutMs: CONNECTION_TIMEOUT_MS });
  }

  // ------------------------------------------------------------------------------------- (1)

  async bulk(): Promise<BulkResult[]> {
    const results = new Map<string, { result: BulkResult; reps: BulkRep[] }>();
    const key = (id: string, direction: string, connections: number): string => `${id} ${direction} ${connections}`;
    for (let rep = 0; rep < this.plan.reps; rep++) {
      for (const size of this.plan.bulk) {
        for (const direction of DIRECTIONS) {
          // Alternate the order of contenders per rep, so none always runs first (or last).
          const order = rep % 2 === 0 ? this.available : [...this.available].reverse();
          for (const spec of order) {
            this.progress(`bulk ${direction} ${size.connections} × ${size.bytes / MIB} MiB, rep ${rep + 1}/${this.plan.reps}: ${spec.label}`);
            const k = key(spec.id, direction, size.connections);
            if (!results.has(k)) {
              const reps: BulkRep[] = [];
              results.set(k, { result: { contender: spec.id, direction, connections: size.connections, bytesPerConnection: size.bytes, reps }, reps });
            }
            results.get(k)!.reps.push(await this.#bulkRep(spec, direction, size.connections, size.bytes));
          }
        }
      }
    }
    return [...results.values()].map((r) => r.result);
  }

  async #bulkRep(spec: ContenderSpec, direction: 'download' | 'upload', connections: number, bytes: number): Promise<BulkRep> {
    let contender: RunningContender;
    try {
      contender = await this.contender(spec);
    } catch (error) {
      return { mibPerSecond: 0, elapsedMs: 0, serverCpuSeconds: 0, error: `could not start: ${errorText(error)}` };
    }
    const before = this.#cpu(contender);
    const result = await (direction === 'download' ? download : upload)(contender.port, connections, bytes, TRANSFER_TIMEOUT_MS);
    const after = this.#cpu(contender);
    const seconds = result.elapsedMs / 1000;
    return {
      mibPerSecond: (connections * bytes) / MIB / seconds,
      elapsedMs: result.elapsedMs,
      ...(before.contender === undefined || after.contender === undefined ? {} : { cpuSeconds: after.contender - before.contender }),
      ...(before.contenderSystem === undefined || after.contenderSystem === undefined ? {} : { cpuSystemSeconds: after.contenderSystem - before.contenderSystem }),
      serverCpuSeconds: (after.server ?? 0) - (before.server ?? 0),
      ...(before.machine === undefined || after.machine === undefined ? {} : { machineCpuSeconds: after.machine - before.machine }),
      ...(result.failed > 0 ? { error: `${result.failed} of ${result.attempted} failed: ${result.firstError}` } : {}),
    };
  }

  #cpu(contender: RunningContender | undefined): { contender?: number; contenderSystem?: number; server?: number; machine?: number } {
    const own = contender?.pid === undefined ? undefined : sampleProcess(contender.pid);
    const server = sampleProcess(this.cluster.child.pid)?.cpuSeconds;
    const machine = machineBusySeconds();
    return {
      ...(own === undefined ? {} : { contender: own.cpuSeconds, contenderSystem: own.systemSeconds }),
      ...(server === undefined ? {} : { server }),
      ...(machine === undefined ? {} : { machine }),
    };
  }

  /**
   * The server's headroom: two forwards downloading through it at once (kubemux and kubectl over
   * SPDY when both run, else the first two contenders that use the server), against each alone.
   */
  async serverHeadroom(bulk: readonly BulkResult[]): Promise<ForwardResults['serverHeadroom']> {
    const viaServer = this.available.filter((spec) => spec.transport !== 'tcp');
    const preferred = ['kubemux-spdy', 'kubectl-1.33-spdy'].map((id) => viaServer.find((spec) => spec.id === id));
    const pair = preferred.every((spec) => spec !== undefined) ? (preferred as ContenderSpec[]) : viaServer.slice(0, 2);
    if (pair.length < 2) return undefined;
    const size = this.plan.bulk[this.plan.bulk.length - 1]!;
    const contenders = await Promise.all(pair.map((spec) => this.contender(spec)));
    this.progress(`server headroom: ${pair.map((s) => s.label).join(' + ')} at once`);
    const before = this.#cpu(undefined);
    const started = performance.now();
    const results = await Promise.all(contenders.map((c) => download(c.port, size.connections, size.bytes, TRANSFER_TIMEOUT_MS)));
    const seconds = (performance.now() - started) / 1000;
    const after = this.#cpu(undefined);
    if (results.some((r) => r.failed > 0)) this.notes.push(`Server headroom run: ${results.map((r) => r.firstError).filter(Boolean).join('; ')}`);
    const alone = pair.map((spec) => {
      const rows = bulk.find((b) => b.contender === spec.id && b.direction === 'download' && b.connections === size.connections);
      return median(rows?.reps.map((r) => r.mibPerSecond) ?? [0]);
    });
    return {
      contenders: pair.map((s) => s.id),
      aloneMiBps: alone,
      togetherMiBps: (pair.length * size.connections * size.bytes) / MIB / seconds,
      serverCpuShare: ((after.server ?? 0) - (before.server ?? 0)) / seconds,
    };
  }

  // ------------------------------------------------------------------------------------- (2)

  async latency(): Promise<LatencyResult[]> {
    const samples = new Map<string, { latencies: number[]; failed: number; firstError: string | undefined }>();
    const blocks = Math.ceil(this.plan.latencyConnections / this.plan.latencyBlock);
    for (let block = 0; block < blocks; block++) {
      const order = block % 2 === 0 ? this.available : [...this.available].reverse();
      for (const spec of order) {
        this.progress(`latency block ${block + 1}/${blocks}: ${spec.label}`);
        const entry = samples.get(spec.id) ?? { latencies: [], failed: 0, firstError: undefined };
        samples.set(spec.id, entry);
        try {
          const contender = await this.contender(spec);
          const result = await connectLatency(contender.port, this.plan.latencyBlock, CONNECTION_TIMEOUT_MS);
          entry.latencies.push(...result.latenciesMs);
          entry.failed += result.failed;
          entry.firstError ??= result.firstError;
        } catch (error) {
          entry.failed += this.plan.latencyBlock;
          entry.firstError ??= errorText(error);
        }
      }
    }
    return [...samples].map(([contender, { latencies, failed, firstError }]) => {
      const sorted = latencies.sort((a, b) => a - b);
      return {
        contender,
        count: latencies.length + failed,
        ...(sorted.length === 0 ? {} : { medianMs: median(sorted), p99Ms: percentile(sorted, 99) }),
        failed,
        ...(firstError === undefined ? {} : { firstError }),
      };
    });
  }

  // ------------------------------------------------------------------------------------- (3)

  async concurrency(): Promise<ConcurrencyResult[]> {
    const results: ConcurrencyResult[] = [];
    for (const spec of this.available) {
      this.progress(`concurrency: ${this.plan.concurrentConnections} at once through ${spec.label}`);
      results.push(await this.#concurrent(spec, this.plan.concurrentConnections, this.plan.smallBytes));
    }
    return results;
  }

  /** `connections` echoes of `bytes`, all at once, with the forwarder's peak RSS. */
  async #concurrent(spec: ContenderSpec, connections: number, bytes: number, warmupBytes = this.plan.warmupBytes): Promise<ConcurrencyResult> {
    let contender: RunningContender;
    try {
      contender = await this.contender(spec, warmupBytes);
    } catch (error) {
      return { contender: spec.id, connections, bytesPerConnection: bytes, succeeded: 0, wallMs: 0, targetHashFailures: 0, targetTruncated: 0, firstError: `could not start: ${errorText(error)}` };
    }
    if (contender.pid !== undefined) resetPeakRss(contender.pid);
    const { hashFailures: hashBefore, truncated: truncatedBefore, open: openBefore } = await this.target.stats();
    const result: EchoLoadResult = await echoLoad(contender.port, connections, bytes, { rampParallel: RAMP_PARALLEL, timeoutMs: CONNECTION_TIMEOUT_MS });
    const peak = contender.pid === undefined ? undefined : sampleProcess(contender.pid)?.peakRssBytes;
    const { hashFailures: hashAfter, truncated: truncatedAfter } = await this.target.stats();
    await this.#settle(contender, openBefore, `${connections} concurrent echoes`);
    return {
      contender: spec.id,
      connections,
      bytesPerConnection: bytes,
      succeeded: result.succeeded,
      wallMs: result.elapsedMs,
      burstMs: result.burstMs,
      ...(peak === undefined ? {} : { peakRssBytes: peak }),
      targetHashFailures: hashAfter - hashBefore,
      targetTruncated: truncatedAfter - truncatedBefore,
      ...(result.firstError === undefined ? {} : { firstError: result.firstError }),
    };
  }

  /**
   * Waits until the target has no more connections open than `before` (the forwarder has closed
   * what the scenario opened); notes those still open after SETTLE_TIMEOUT_MS.
   */
  async #settle(contender: RunningContender, before: number, scenario: string): Promise<void> {
    const open = await this.target.settled(before, SETTLE_TIMEOUT_MS);
    if (open > before) {
      this.notes.push(`${contender.spec.label}: ${open - before} pod connections opened by "${scenario}" were still open ${SETTLE_TIMEOUT_MS / 1000} s after their clients had closed.`);
    }
  }

  // ------------------------------------------------------------------------------------- (6)

  /** Memory per idle connection, set-up rates, then the scale load, in a fresh process per contender. */
  async memoryAndScale(): Promise<{ memory: MemoryResult[]; scale: ConcurrencyResult[] }> {
    const memory: MemoryResult[] = [];
    const scale: ConcurrencyResult[] = [];
    for (const spec of this.available) {
      // A fresh process: what bulk transfers left in the heap is not counted as per-connection cost.
      await this.stopContender(spec);
      let contender: RunningContender;
      try {
        contender = await this.contender(spec, this.plan.lightWarmupBytes);
      } catch (error) {
        this.notes.push(`${spec.label}: could not start for the memory scenario: ${errorText(error)}`);
        continue;
      }
      const openBefore = (await this.target.stats()).open;
      const base = await this.#memory(contender);
      const steps: IdleStep[] = [];
      const held: Array<{ close(): Promise<void> }> = [];
      let total = 0;
      for (const step of this.plan.idle) {
        const more = step.count - total;
        this.progress(`memory: ${spec.label} to ${step.count} idle connections (${step.batch} at a time)`);
        // A contender at its limit fails every new connection: stop after a batch of failures.
        const idle = await openIdle(contender.port, more, step.batch, IDLE_TIMEOUT_MS, step.batch);
        held.push(idle);
        total = step.count;
        const established = (steps[steps.length - 1]?.established ?? 0) + idle.result.succeeded;
        const mem = contender.alive() ? await this.#memory(contender) : {};
        steps.push({
          target: step.count,
          established,
          batch: step.batch,
          setupPerSecond: idle.result.succeeded / (idle.result.elapsedMs / 1000),
          ...mem,
          ...(idle.result.firstError === undefined ? {} : { firstError: `${idle.result.failed} failed: ${idle.result.firstError}` }),
        });
        if (!contender.alive()) {
          this.notes.push(`${spec.label} exited while holding ${established} idle connections (last output: ${lastLine(contender.output())}).`);
          break;
        }
      }
      this.progress(`memory: ${spec.label}: closing the idle connections`);
      for (const idle of held) await idle.close();
      await this.#settle(contender, openBefore, `${total} idle connections`);
      memory.push({ contender: spec.id, ...(base.rssBytes === undefined ? {} : { baselineRssBytes: base.rssBytes }), ...(base.heapBytes === undefined ? {} : { baselineHeapBytes: base.heapBytes }), steps });

      // A fresh process again, so that whatever the idle connections left behind does not count.
      await this.stopContender(spec);
      this.progress(`scale: ${this.plan.scaleConnections} × ${this.plan.scaleBytes / KIB} KiB echoes at once through ${spec.label}`);
      scale.push(await this.#concurrent(spec, this.plan.scaleConnections, this.plan.scaleBytes, this.plan.lightWarmupBytes));
      await this.stopContender(spec);
    }
    return { memory, scale };
  }

  /** RSS from /proc (every contender), heap from the probe (Node contenders). */
  async #memory(contender: RunningContender): Promise<{ rssBytes?: number; heapBytes?: number }> {
    const report = await contender.memory();
    const rss = contender.pid === undefined ? undefined : sampleProcess(contender.pid)?.rssBytes;
    return { ...(rss === undefined ? {} : { rssBytes: rss }), ...(report === undefined ? {} : { heapBytes: report.heapUsedBytes }) };
  }

  // ------------------------------------------------------------------------------------- (5)

  async recovery(): Promise<RecoveryResult[]> {
    const results: RecoveryResult[] = [];
    const pingArgs = ['--ping-interval', `${this.plan.pingIntervalMs}ms`, '--ping-timeout', `${this.plan.pingTimeoutMs}ms`, '--json'];
    for (const spec of this.available.filter((s) => s.transport !== 'tcp')) {
      await this.stopContender(spec);
      for (const fault of ['blackhole', 'drop'] as const) {
        const reps: RecoveryRep[] = [];
        // Only kubemux has something to measure more than once: kubectl exits or never notices,
        // client-node has no connection to lose and never notices a black hole.
        const repCount = spec.family === 'kubemux' ? this.plan.recoveryReps : 1;
        for (let rep = 0; rep < repCount; rep++) {
          this.progress(`recovery: ${fault} under ${spec.label}, trial ${rep + 1}/${repCount}`);
          let contender: RunningContender | undefined;
          try {
            contender = await spec.start(this.env, spec.family === 'kubemux' ? { kubemuxArgs: pingArgs } : {});
            reps.push(await this.#recoveryTrial(contender, fault));
          } catch (error) {
            reps.push({ outcome: `failed: ${errorText(error)}` });
          } finally {
            await this.cluster.fault('clear');
            await contender?.stop();
          }
        }
        results.push({ contender: spec.id, fault, reps });
      }
    }
    return results;
  }

  /**
   * One fault, then new connections every 50 ms until one echoes. A black hole is cleared once the
   * contender says it noticed (kubemux's JSON `state` event), since a new connection needs a server
   * that answers; a contender that never notices gets `unnoticedWaitMs`, then the clear.
   */
  async #recoveryTrial(contender: RunningContender, fault: 'blackhole' | 'drop'): Promise<RecoveryRep> {
    const { port } = contender;
    // A working forward first, with its connection up.
    const first = await connectLatency(port, 3, 10_000);
    if (first.failed > 0) throw new Error(`the forward did not work before the fault: ${first.firstError}`);
    let noticedAt: number | undefined;
    let started = 0;
    contender.onLine((line) => {
      if (noticedAt !== undefined || started === 0) return;
      if (/"event":"state"/.test(line) && /"state":"(replacing|draining|backing-off|connecting)"/.test(line)) noticedAt = performance.now();
    });
    started = performance.now();
    await this.cluster.fault(fault);
    let clearedAt: number | undefined;
    let recoveredAt: number | undefined;
    let exitedAt: number | undefined;
    const attempts: Array<Promise<void>> = [];
    const deadline = started + this.plan.unnoticedWaitMs + 10_000;
    while (recoveredAt === undefined && performance.now() < deadline) {
      const now = performance.now();
      if (exitedAt === undefined && !contender.alive()) exitedAt = now;
      if (fault === 'blackhole' && clearedAt === undefined && (noticedAt !== undefined || now - started >= this.plan.unnoticedWaitMs)) {
        await this.cluster.fault('clear');
        clearedAt = performance.now();
      }
      if (exitedAt !== undefined && (fault === 'drop' || clearedAt !== undefined)) break;
      attempts.push(
        probe(port, 5_000).then((at) => {
          if (at !== undefined && (recoveredAt === undefined || at < recoveredAt)) recoveredAt = at;
        }),
      );
      await sleep(50);
    }
    await Promise.all(attempts);
    if (exitedAt === undefined && !contender.alive()) exitedAt = performance.now();
    const ms = (at: number | undefined): number | undefined => (at === undefined ? undefined : at - started);
    const noticed = ms(noticedAt) ?? ms(exitedAt);
    let outcome: string;
    if (exitedAt !== undefined) outcome = `exits (${lastLine(contender.output()) || 'no message'}); never recovers`;
    else if (recoveredAt === undefined) outcome = 'no new connection worked';
    else if (noticed === undefined && fault === 'blackhole') outcome = `never notices; new connections work once the fault is cleared (after ${Math.round(ms(clearedAt)!)} ms)`;
    else outcome = 'recovered';
    return {
      ...(noticed === undefined ? {} : { noticedMs: noticed }),
      ...(clearedAt === undefined ? {} : { clearedMs: ms(clearedAt)! }),
      ...(recoveredAt === undefined || exitedAt !== undefined ? {} : { recoveredMs: ms(recoveredAt)! }),
      outcome,
    };
  }
}

function lastLine(output: string): string {
  const lines = output.trim().split('\n');
  return (lines[lines.length - 1] ?? '').trim().slice(0, 200);
}

function contenderInfo(spec: ContenderSpec): ContenderInfo {
  return {
    id: spec.id,
    label: spec.label,
    family: spec.family,
    transport: spec.transport,
    ...(spec.version === undefined ? {} : { version: spec.version }),
    ...(spec.unavailable === undefined ? {} : { unavailable: spec.unavailable }),
  };
}

/** Where the JSON results go. */
const RESULTS_DIR = fileURLToPath(new URL('../../bench/results/', import.meta.url));

async function run(context: BenchContext): Promise<BenchSection[]> {
  const startedAt = new Date();
  const t0 = performance.now();
  const specs = allContenders();
  const notes: string[] = [];
  for (const spec of specs) if (spec.unavailable !== undefined) notes.push(`${spec.label} skipped: ${spec.unavailable}.`);
  context.progress('forward: starting the target and the fake cluster');
  const target = await startTarget();
  let cluster: ClusterProcess | undefined;
  const stopOnSignal = (): void => {
    void stopAllChildren().finally(() => process.exit(130));
  };
  process.once('SIGINT', stopOnSignal);
  let results: ForwardResults;
  try {
    cluster = await startCluster(target.port);
    const forwardRun = new ForwardRun(context, { cluster, target }, specs);
    const plan = forwardRun.plan;
    const bulk = await forwardRun.bulk();
    const serverHeadroom = await forwardRun.serverHeadroom(bulk);
    const latency = await forwardRun.latency();
    const concurrency = await forwardRun.concurrency();
    await forwardRun.stopAll();
    const { memory, scale } = await forwardRun.memoryAndScale();
    const recovery = await forwardRun.recovery();
    await forwardRun.stopAll();
    const kubectl = specs.find((s) => s.family === 'kubectl' && s.version !== undefined)?.version;
    const clientNode = specs.find((s) => s.family === 'client-node')?.version;
    const openFiles = openFileLimits();
    results = {
      bench: 'forward',
      startedAt: startedAt.toISOString(),
      durationSeconds: Math.round((performance.now() - t0) / 1000),
      command: commandLine(process.argv.slice(2)),
      quick: context.quick,
      machine: {
        ...machineInfo(),
        ...(kubectl === undefined ? {} : { kubectl }),
        ...(clientNode === undefined ? {} : { clientNode }),
        ...(openFiles === undefined ? {} : { openFiles }),
        loadAverage: loadavg().map((l) => Math.round(l * 100) / 100),
      },
      settings: {
        reps: plan.reps,
        warmupBytes: plan.warmupBytes,
        latencyConnections: plan.latencyConnections,
        concurrentConnections: plan.concurrentConnections,
        pingIntervalMs: plan.pingIntervalMs,
        pingTimeoutMs: plan.pingTimeoutMs,
        idleCounts: plan.idle.map((i) => i.count),
        scaleConnections: plan.scaleConnections,
        scaleBytes: plan.scaleBytes,
      },
      contenders: specs.map(contenderInfo),
      bulk,
      latency,
      concurrency,
      recovery,
      memory,
      scale,
      ...(serverHeadroom === undefined ? {} : { serverHeadroom }),
      notes: [...notes, ...forwardRun.notes],
    };
  } finally {
    process.off('SIGINT', stopOnSignal);
    await stopAllChildren();
    await cluster?.stop();
    await target.stop();
  }
  mkdirSync(RESULTS_DIR, { recursive: true });
  const file = `${RESULTS_DIR}${context.quick ? 'forward-quick.json' : 'forward.json'}`;
  writeFileSync(file, `${JSON.stringify(results, null, 2)}\n`);
  context.progress(`forward: results written to ${file}`);
  return renderForwardReport(results, file);
}

/** `npm run bench -- forward` (`--quick` for a reduced run). */
const bench: Bench = { name: 'forward', run };

export default bench;
