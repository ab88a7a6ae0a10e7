/**
 * The forward bench's tables: from a {@link ForwardResults} to Markdown sections. Every ratio is
 * computed per rep (rep i of one contender against rep i of the other, which ran minutes apart at
 * most) and the median taken; the range says how much the reps disagreed.
 */
import type { BulkResult, ConcurrencyResult, ContenderInfo, ForwardResults, MemoryResult, RecoveryResult } from './forward-results.js';
import { formatMachine, formatNumber, markdownTable, median, type BenchSection } from './harness.js';

const KIB = 1024;
const MIB = 1024 * KIB;
const GIB = 1024 * MIB;

/** The ratio targets of the issue, checked in the summary. */
const TARGETS = Object.freeze({
  throughputVsKubectl: 1.3,
  throughputVsClientNode: 1.0,
  latencyVsKubectl: 0.5,
  latencyVsClientNode: 0.33,
  idleBytesPerConnection: 16 * KIB,
  /** What "one dial" may add to ping interval + ping timeout in the recovery bound, ms. */
  dialAllowanceMs: 500,
});

function mib(bytes: number): string {
  return `${formatNumber(bytes / MIB)} MiB`;
}

/** An exact count with thousands separators (formatNumber rounds to three digits: 9,999 would read 10,000). */
function count(value: number): string {
  return value.toLocaleString('en-US');
}

function ms(value: number | undefined): string {
  if (value === undefined) return '—';
  return value >= 1000 ? `${formatNumber(value / 1000)} s` : `${formatNumber(value)} ms`;
}

function ratioText(values: readonly number[]): string {
  if (values.length === 0) return '—';
  const m = median(values);
  const lo = Math.min(...values);
  const hi = Math.max(...values);
  return values.length === 1 ? `${m.toFixed(2)}×` : `${m.toFixed(2)}× (${lo.toFixed(2)}–${hi.toFixed(2)})`;
}

/** The contender a kubemux row is compared with: kubectl over the same transport. */
function kubectlPeer(results: ForwardResults, kubemux: ContenderInfo): ContenderInfo | undefined {
  if (kubemux.transport === 'v4') return undefined;
  return results.contenders.find((c) => c.family === 'kubectl' && c.transport === kubemux.transport && c.unavailable === undefined);
}

function clientNode(results: ForwardResults): ContenderInfo | undefined {
  return results.contenders.find((c) => c.family === 'client-node' && c.unavailable === undefined);
}

function ran(results: ForwardResults): ContenderInfo[] {
  return results.contenders.filter((c) => c.unavailable === undefined);
}

function label(results: ForwardResults, id: string): string {
  return results.contenders.find((c) => c.id === id)?.label ?? id;
}

// ---------------------------------------------------------------------------------------------
// Throughput and CPU

const CASES = (results: ForwardResults): Array<{ direction: 'download' | 'upload'; connections: number; bytes: number; title: string }> => {
  const sizes = [...new Map(results.bulk.map((b) => [b.connections, b.bytesPerConnection])).entries()].sort((a, b) => a[0] - b[0]);
  return (['download', 'upload'] as const).flatMap((direction) => sizes.map(([connections, bytes]) => ({ direction, connections, bytes, title: `${direction} ${connections} × ${mib(bytes)}` })));
};

function bulkRow(results: ForwardResults, contender: string, direction: string, connections: number): BulkResult | undefined {
  return results.bulk.find((b) => b.contender === contender && b.direction === direction && b.connections === connections);
}

function rates(row: BulkResult | undefined): number[] {
  return row === undefined ? [] : row.reps.map((r) => (r.error === undefined ? r.mibPerSecond : 0));
}

function throughputCell(row: BulkResult | undefined): string {
  if (row === undefined) return '—';
  const values = rates(row);
  const failed = row.reps.filter((r) => r.error !== undefined).length;
  const text = `${formatNumber(median(values))} (${formatNumber(Math.min(...values))}–${formatNumber(Math.max(...values))})`;
  return failed > 0 ? `${text}, ${failed} failed` : text;
}

/** Per-rep ratios of two bulk rows (reps that failed on either side are left out). */
function bulkRatios(a: BulkResult | undefined, b: BulkResult | undefined): number[] {
  if (a === undefined || b === undefined) return [];
  const out: number[] = [];
  for (let i = 0; i < Math.min(a.reps.length, b.reps.length); i++) {
    const x = a.reps[i]!;
    const y = b.reps[i]!;
    if (x.error === undefined && y.error === undefined && y.mibPerSecond > 0) out.push(x.mibPerSecond / y.mibPerSecond);
  }
  return out;
}

function throughputSection(results: ForwardResults): BenchSection {
  const cases = CASES(results);
  const rows = ran(results).map((c) => [c.label, ...cases.map((k) => throughputCell(bulkRow(results, c.id, k.direction, k.connections)))]);
  const ratioRows: string[][] = [];
  const cn = clientNode(results);
  for (const c of ran(results).filter((x) => x.family === 'kubemux')) {
    const peers = [kubectlPeer(results, c), cn].filter((p): p is ContenderInfo => p !== undefined);
    for (const peer of peers) {
      ratioRows.push([
        `${c.label} / ${peer.label}`,
        ...cases.map((k) => ratioText(bulkRatios(bulkRow(results, c.id, k.direction, k.connections), bulkRow(results, peer.id, k.direction, k.connections)))),
      ]);
    }
  }
  const reps = results.settings.reps;
  const headroom = results.serverHeadroom;
  const headroomText =
    headroom === undefined
      ? ''
      : `Server headroom: ${headroom.contenders.map((id) => label(results, id)).join(' and ')} downloading through the server at once moved ${formatNumber(headroom.togetherMiBps)} MiB/s together (alone: ${headroom.aloneMiBps.map((v) => formatNumber(v)).join(' and ')} MiB/s), the server using ${formatNumber(headroom.serverCpuShare * 100)} % of a core.`;
  return {
    title: 'Forward: bulk throughput (MiB/s)',
    blocks: [
      `Each cell: median of ${reps} reps (min–max) of the bytes moved through the forward divided by the time from the first connect to the last byte. Every contender first moved ${mib(results.settings.warmupBytes)} each way (the Node contenders' JIT settles; kubectl has none), then reps of all contenders are interleaved, in alternating order.`,
      markdownTable(['contender', ...cases.map((k) => k.title)], rows),
      `Ratios, rep by rep (median, min–max). Targets: ≥ ${TARGETS.throughputVsKubectl}× kubectl over the same transport, ≥ ${TARGETS.throughputVsClientNode}× client-node.`,
      markdownTable(['kubemux / other', ...cases.map((k) => k.title)], ratioRows),
      ...(headroomText === '' ? [] : [headroomText]),
    ],
  };
}

/** CPU seconds per GiB moved, over every rep of one direction (both sizes). */
function cpuPerGiB(results: ForwardResults, contender: string, direction: string, field: 'cpuSeconds' | 'cpuSystemSeconds' | 'serverCpuSeconds'): number | undefined {
  let cpu = 0;
  let bytes = 0;
  for (const row of results.bulk.filter((b) => b.contender === contender && b.direction === direction)) {
    for (const rep of row.reps) {
      const value = rep[field];
      if (rep.error !== undefined || value === undefined) continue;
      cpu += value;
      bytes += row.connections * row.bytesPerConnection;
    }
  }
  return bytes === 0 ? undefined : cpu / (bytes / GIB);
}

/** The busiest the server was (share of one core) during any rep of a contender. */
function serverPeakShare(results: ForwardResults, contender: string): number | undefined {
  const shares = results.bulk.filter((b) => b.contender === contender).flatMap((b) => b.reps.filter((r) => r.elapsedMs > 0).map((r) => r.serverCpuSeconds / (r.elapsedMs / 1000)));
  return shares.length === 0 ? undefined : Math.max(...shares);
}

function cpuSection(results: ForwardResults): BenchSection {
  const fmt = (v: number | undefined): string => (v === undefined ? '—' : v.toFixed(2));
  const rows = ran(results)
    .filter((c) => c.family !== 'raw-tcp')
    .map((c) => {
      const share = c.transport === 'tcp' ? undefined : serverPeakShare(results, c.id);
      const withSystem = (direction: string): string => {
        const all = cpuPerGiB(results, c.id, direction, 'cpuSeconds');
        const system = cpuPerGiB(results, c.id, direction, 'cpuSystemSeconds');
        return all === undefined ? '—' : `${fmt(all)}${system === undefined ? '' : ` (${fmt(system)})`}`;
      };
      return [
        c.label,
        withSystem('download'),
        withSystem('upload'),
        c.transport === 'tcp' ? '—' : fmt(cpuPerGiB(results, c.id, 'download', 'serverCpuSeconds')),
        c.transport === 'tcp' ? '—' : fmt(cpuPerGiB(results, c.id, 'upload', 'serverCpuSeconds')),
        share === undefined ? '—' : `${formatNumber(share * 100)} %`,
      ];
    });
  return {
    title: 'Forward: CPU per GiB moved',
    blocks: [
      'User + system CPU seconds per GiB, from /proc/PID/stat before and after every bulk rep (all threads; the same reading for a Go binary and a Node process), summed over both sizes and every rep; in parentheses the system part. On loopback the kernel does the TCP work of both ends of a connection in the context of whichever process triggers it: a forwarder that reads a socket whose window had closed also pays for the sender\'s transmission, so system time moves between processes with their timing, and the user part is the one that is each program\'s own. The server columns are the fake cluster (a Node process) serving that contender; its busiest rep, as a share of one core, shows how close it came to being the bottleneck (100 % = one core, all it can use).',
      markdownTable(['contender', 'forwarder, download (system)', 'forwarder, upload (system)', 'server, download', 'server, upload', 'server busiest'], rows),
    ],
  };
}

// ---------------------------------------------------------------------------------------------
// Latency and concurrency

function latencySection(results: ForwardResults): BenchSection {
  const cn = clientNode(results);
  const medianOf = (id: string | undefined): number | undefined => results.latency.find((l) => l.contender === id)?.medianMs;
  const rows = ran(results).map((c) => {
    const l = results.latency.find((x) => x.contender === c.id);
    const own = l?.medianMs;
    const peer = c.family === 'kubemux' ? kubectlPeer(results, c) : undefined;
    const vsKubectl = peer === undefined || own === undefined || medianOf(peer.id) === undefined ? '—' : `${(own / medianOf(peer.id)!).toFixed(2)}×`;
    const vsClientNode = c.family !== 'kubemux' || own === undefined || medianOf(cn?.id) === undefined ? '—' : `${(own / medianOf(cn?.id)!).toFixed(2)}×`;
    return [c.label, ms(own), ms(l?.p99Ms), vsKubectl, vsClientNode, l === undefined ? '—' : `${l.failed}${l.firstError === undefined ? '' : ` (${l.firstError})`}`];
  });
  return {
    title: 'Forward: connect → first echoed byte',
    blocks: [
      `${formatNumber(results.settings.latencyConnections)} connections per contender, one after the other (blocks interleaved across contenders): connect, send one byte at once, time until its echo arrives; then close and wait for the close before the next. Targets: median ≤ ${TARGETS.latencyVsKubectl}× kubectl's (same transport), ≤ ${TARGETS.latencyVsClientNode}× client-node's.`,
      markdownTable(['contender', 'median', 'p99', 'vs kubectl', 'vs client-node', 'failed'], rows),
    ],
  };
}

function concurrencyRows(results: ForwardResults, list: readonly ConcurrencyResult[]): string[][] {
  return list.map((r) => [
    label(results, r.contender),
    `${count(r.succeeded)} / ${count(r.connections)}${r.succeeded === r.connections ? '' : ` (${((100 * r.succeeded) / r.connections).toFixed(2)} %)`}`,
    `${ms(r.wallMs)}${r.burstMs === undefined ? '' : ` (${ms(r.burstMs)})`}`,
    r.peakRssBytes === undefined ? '—' : mib(r.peakRssBytes),
    `${r.targetHashFailures} / ${r.targetTruncated ?? '—'}`,
    r.firstError ?? '',
  ]);
}

function concurrencySection(results: ForwardResults): BenchSection {
  const first = results.concurrency[0];
  return {
    title: 'Forward: concurrent connections',
    blocks: [
      `${formatNumber(first?.connections ?? 0)} connections open at once, each sending ${first?.bytesPerConnection ?? 0} bytes and reading their echo, checked with SHA-256 at both ends (the target hashes what arrives, the client the echo). The connections are opened first (at most 500 TCP handshakes pending at a time), then all send at once. Wall time from the first connect to the last echo (in parentheses: from all open to the last echo). Peak RSS: the forwarding process's VmHWM, reset just before. At the target, "corrupt" counts requests whose bytes all arrived and hashed differently, "cut short" those whose connection ended first.`,
      markdownTable(['contender', 'succeeded', 'wall time (burst)', 'peak RSS', 'at the target: corrupt / cut short', 'first error'], concurrencyRows(results, results.concurrency)),
    ],
  };
}

// ---------------------------------------------------------------------------------------------
// Recovery

function recoveryCell(result: RecoveryResult | undefined): string {
  if (result === undefined) return '—';
  const recovered = result.reps.map((r) => r.recoveredMs).filter((v): v is number => v !== undefined);
  const noticed = result.reps.map((r) => r.noticedMs).filter((v): v is number => v !== undefined);
  const allRecovered = result.reps.every((r) => r.outcome === 'recovered');
  if (allRecovered && recovered.length > 0) {
    const n = recovered.length > 1 ? ` (median of ${recovered.length}; ${recovered.map((v) => ms(v)).join(', ')})` : '';
    return `${noticed.length === 0 ? 'no loss reported' : `noticed ${ms(median(noticed))}`}, first new connection ${ms(median(recovered))}${n}`;
  }
  const outcomes = [...new Set(result.reps.map((r) => r.outcome))];
  const extra = recovered.length > 0 ? `; first new connection ${ms(median(recovered))}` : '';
  return `${outcomes.join('; ')}${extra}`;
}

function recoverySection(results: ForwardResults): BenchSection {
  const ids = [...new Set(results.recovery.map((r) => r.contender))];
  const rows = ids.map((id) => [
    label(results, id),
    recoveryCell(results.recovery.find((r) => r.contender === id && r.fault === 'blackhole')),
    recoveryCell(results.recovery.find((r) => r.contender === id && r.fault === 'drop')),
  ]);
  const { pingIntervalMs, pingTimeoutMs } = results.settings;
  return {
    title: 'Forward: recovery',
    blocks: [
      `Times from the fault (POST /kubemux/faults/blackhole or /drop on the fake cluster) to the first new local connection whose byte is echoed through the forward; new connections are tried every 50 ms. kubemux runs with \`--ping-interval ${pingIntervalMs}ms --ping-timeout ${pingTimeoutMs}ms --json\`; "noticed" is its first state event after the fault. A black hole is cleared as soon as the contender has noticed it (a replacement connection needs a server that answers); one that never notices gets ${ms(results.quick ? 3000 : 10_000)}. Target: within ping interval + ping timeout + one dial (${ms(pingIntervalMs + pingTimeoutMs)} + ≤ ${TARGETS.dialAllowanceMs} ms).`,
      markdownTable(['contender', 'blackhole', 'drop (every upgraded connection closed)'], rows),
    ],
  };
}

// ---------------------------------------------------------------------------------------------
// Memory and scale

function perConnection(total: number | undefined, base: number | undefined, count: number): string {
  if (total === undefined || base === undefined || count === 0) return '—';
  return `${formatNumber((total - base) / count / KIB)} KiB`;
}

function memoryRows(results: ForwardResults, memory: readonly MemoryResult[]): string[][] {
  const counts = results.settings.idleCounts;
  return memory.map((m) => [
    label(results, m.contender),
    m.baselineRssBytes === undefined ? '—' : mib(m.baselineRssBytes),
    ...counts.flatMap((target) => {
      const step = m.steps.find((s) => s.target === target);
      if (step === undefined) return ['—', '—', '—'];
      return [
        `${count(step.established)}${step.established < target ? ' ⚠' : ''}`,
        perConnection(step.rssBytes, m.baselineRssBytes, step.established),
        perConnection(step.heapBytes, m.baselineHeapBytes, step.established),
      ];
    }),
    ...counts.map((target) => {
      const step = m.steps.find((s) => s.target === target);
      return step === undefined ? '—' : `${formatNumber(step.setupPerSecond)}/s (${step.batch} at a time)`;
    }),
  ]);
}

function memorySection(results: ForwardResults): BenchSection {
  const counts = results.settings.idleCounts;
  const errors = results.memory.flatMap((m) => m.steps.filter((s) => s.firstError !== undefined).map((s) => `${label(results, m.contender)} at ${formatNumber(s.target)}: ${s.firstError}`));
  return {
    title: 'Forward: memory per idle connection, and set-up rate',
    blocks: [
      `A fresh process per contender, warmed up; then connections are opened until ${counts.map((c) => formatNumber(c)).join(', then ')} are held, each proven by one echoed byte and then left idle. Per connection: (RSS, or V8 heap after forced collections for Node contenders, with the connections held − the same before) / connections held. Set-up rate: connections proven per second while getting there. Target: ≤ ${TARGETS.idleBytesPerConnection / KIB} KiB per idle forwarded connection.`,
      markdownTable(
        ['contender', 'baseline RSS', ...counts.flatMap((c) => [`held of ${formatNumber(c)}`, `RSS/conn @${formatNumber(c)}`, `heap/conn @${formatNumber(c)}`]), ...counts.map((c) => `set-up rate to ${formatNumber(c)}`)],
        memoryRows(results, results.memory),
      ),
      ...(errors.length === 0 ? [] : [`Failures: ${errors.join('; ')}.`]),
    ],
  };
}

function scaleSection(results: ForwardResults): BenchSection {
  return {
    title: 'Forward: scale load',
    blocks: [
      `${formatNumber(results.settings.scaleConnections)} connections open at once (opened at most 500 handshakes at a time, then all sending together), each echoing ${results.settings.scaleBytes / KIB} KiB checked with SHA-256 at both ends, through a fresh forward (after the memory scenario). Peak RSS of the forwarding process during the load; target columns as above.`,
      markdownTable(['contender', 'succeeded', 'wall time (burst)', 'peak RSS', 'at the target: corrupt / cut short', 'first error'], concurrencyRows(results, results.scale)),
    ],
  };
}

// ---------------------------------------------------------------------------------------------
// Summary

function targetsSection(results: ForwardResults): BenchSection {
  const lines: string[] = [];
  const cn = clientNode(results);
  const mark = (ok: boolean): string => (ok ? 'met' : '**not met**');
  for (const c of ran(results).filter((x) => x.family === 'kubemux')) {
    const peer = kubectlPeer(results, c);
    for (const k of CASES(results)) {
      const own = bulkRow(results, c.id, k.direction, k.connections);
      if (peer !== undefined) {
        const r = median(bulkRatios(own, bulkRow(results, peer.id, k.direction, k.connections)));
        if (Number.isFinite(r)) lines.push(`- ${c.label} ${k.title}: ${r.toFixed(2)}× ${peer.label} (≥ ${TARGETS.throughputVsKubectl}×: ${mark(r >= TARGETS.throughputVsKubectl)})`);
      }
      if (cn !== undefined) {
        const r = median(bulkRatios(own, bulkRow(results, cn.id, k.direction, k.connections)));
        if (Number.isFinite(r)) lines.push(`- ${c.label} ${k.title}: ${r.toFixed(2)}× ${cn.label} (≥ ${TARGETS.throughputVsClientNode}×: ${mark(r >= TARGETS.throughputVsClientNode)})`);
      }
    }
    const own = results.latency.find((l) => l.contender === c.id)?.medianMs;
    const kl = peer === undefined ? undefined : results.latency.find((l) => l.contender === peer.id)?.medianMs;
    const cl = results.latency.find((l) => l.contender === cn?.id)?.medianMs;
    if (own !== undefined && kl !== undefined) lines.push(`- ${c.label} latency: ${(own / kl).toFixed(2)}× ${peer!.label} (≤ ${TARGETS.latencyVsKubectl}×: ${mark(own / kl <= TARGETS.latencyVsKubectl)})`);
    if (own !== undefined && cl !== undefined) lines.push(`- ${c.label} latency: ${(own / cl).toFixed(2)}× ${cn!.label} (≤ ${TARGETS.latencyVsClientNode}×: ${mark(own / cl <= TARGETS.latencyVsClientNode)})`);
    if (peer !== undefined) {
      for (const direction of ['download', 'upload']) {
        const a = cpuPerGiB(results, c.id, direction, 'cpuSeconds');
        const b = cpuPerGiB(results, peer.id, direction, 'cpuSeconds');
        if (a !== undefined && b !== undefined) lines.push(`- ${c.label} CPU per GiB, ${direction}: ${a.toFixed(2)} s vs ${peer.label} ${b.toFixed(2)} s (≤: ${mark(a <= b)})`);
      }
    }
    const mem = results.memory.find((m) => m.contender === c.id);
    const last = mem?.steps[mem.steps.length - 1];
    if (mem?.baselineRssBytes !== undefined && last?.rssBytes !== undefined && last.established > 0) {
      const per = (last.rssBytes - mem.baselineRssBytes) / last.established;
      lines.push(`- ${c.label} RSS per idle connection at ${formatNumber(last.established)}: ${formatNumber(per / KIB)} KiB (≤ ${TARGETS.idleBytesPerConnection / KIB} KiB: ${mark(per <= TARGETS.idleBytesPerConnection)})`);
    }
    const kubectlPeak = peer === undefined ? undefined : results.concurrency.find((r) => r.contender === peer.id)?.peakRssBytes;
    const ownPeak = results.concurrency.find((r) => r.contender === c.id)?.peakRssBytes;
    if (kubectlPeak !== undefined && ownPeak !== undefined) lines.push(`- ${c.label} peak RSS under ${formatNumber(results.settings.concurrentConnections)} concurrent connections: ${mib(ownPeak)} vs ${peer!.label} ${mib(kubectlPeak)} (≤: ${mark(ownPeak <= kubectlPeak)})`);
    const bound = results.settings.pingIntervalMs + results.settings.pingTimeoutMs + TARGETS.dialAllowanceMs;
    for (const fault of ['blackhole', 'drop'] as const) {
      const rec = results.recovery.find((r) => r.contender === c.id && r.fault === fault);
      const times = rec?.reps.map((r) => r.recoveredMs).filter((v): v is number => v !== undefined) ?? [];
      if (rec !== undefined) {
        const worst = times.length === rec.reps.length && times.length > 0 ? Math.max(...times) : undefined;
        lines.push(`- ${c.label} recovery from ${fault}: ${worst === undefined ? 'did not always recover' : `worst ${ms(worst)}`} (≤ ${ms(bound)}: ${mark(worst !== undefined && worst <= bound)})`);
      }
    }
  }
  return { title: 'Forward: targets', blocks: [lines.join('\n')] };
}

/** Every section of the forward bench's report. */
export function renderForwardReport(results: ForwardResults, resultsFile: string): BenchSection[] {
  const m = results.machine;
  const versions = [
    m.kubectl === undefined ? 'kubectl 1.33: not installed' : `kubectl ${m.kubectl}`,
    m.clientNode === undefined ? undefined : `@kubernetes/client-node ${m.clientNode}`,
    m.openFiles === undefined ? undefined : `open files limit ${m.openFiles.soft} (hard ${m.openFiles.hard})`,
    `load average at start ${m.loadAverage.join(' / ')}`,
  ].filter((v): v is string => v !== undefined);
  const header: BenchSection = {
    title: 'Forward: machine and set-up',
    blocks: [
      `${formatMachine(m)}; ${versions.join('; ')}. Command: \`${results.command}\`; ${results.durationSeconds} s. Results: \`${resultsFile.replace(/^.*\/bench\/results\//, 'bench/results/')}\`.`,
      'Every contender is its own process listening on 127.0.0.1 and forwarding `pod/demo` port 8080 through the same fake cluster (`kubemux fake-cluster`, its own process) to the same target process; raw TCP goes straight to the target, the Node proxy pipes to it without any protocol.',
      ...(results.notes.length === 0 ? [] : [`Notes:\n${results.notes.map((n) => `- ${n}`).join('\n')}`]),
    ],
  };
  return [header, throughputSection(results), cpuSection(results), latencySection(results), concurrencySection(results), recoverySection(results), memorySection(results), scaleSection(results), targetsSection(results)];
}
