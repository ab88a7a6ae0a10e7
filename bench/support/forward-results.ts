/**
 * What one run of the forward bench measured, as written to bench/results/*.json and rendered
 * into tables by forward-report.ts. Bytes are bytes, times are ms unless a name says otherwise.
 */
import type { MachineInfo } from './harness.js';
import type { Family, Transport } from './contenders.js';

/** A contender as the results name it. */
export interface ContenderInfo {
  readonly id: string;
  readonly label: string;
  readonly family: Family;
  readonly transport: Transport;
  readonly version?: string;
  /** Why it did not run, when it did not. */
  readonly unavailable?: string;
}

/** One bulk transfer. */
export interface BulkRep {
  readonly mibPerSecond: number;
  readonly elapsedMs: number;
  /** CPU seconds (user + system) of the forwarding process during the transfer (absent for raw TCP). */
  readonly cpuSeconds?: number;
  /** Of {@link cpuSeconds}, system time: on loopback mostly TCP work, for both ends of whichever socket it touched. */
  readonly cpuSystemSeconds?: number;
  /** CPU seconds of the fake cluster during the transfer. */
  readonly serverCpuSeconds: number;
  /** Busy CPU seconds of the whole machine (all cores) during the transfer. */
  readonly machineCpuSeconds?: number;
  readonly error?: string;
}

/** One bulk case for one contender. */
export interface BulkResult {
  readonly contender: string;
  readonly direction: 'download' | 'upload';
  readonly connections: number;
  readonly bytesPerConnection: number;
  readonly reps: readonly BulkRep[];
}

/** Connect → first echoed byte. */
export interface LatencyResult {
  readonly contender: string;
  readonly count: number;
  readonly medianMs?: number;
  readonly p99Ms?: number;
  readonly failed: number;
  readonly firstError?: string;
}

/** Many connections at once (small request/response, or the 64 KiB echo of the scale load). */
export interface ConcurrencyResult {
  readonly contender: string;
  readonly connections: number;
  readonly bytesPerConnection: number;
  readonly succeeded: number;
  /** From the first connect to the last echo, ms. */
  readonly wallMs: number;
  /** From every connection open to the last echo (all of them sending at once), ms. */
  readonly burstMs?: number;
  /** Largest RSS of the forwarding process during the load (VmHWM after a reset). */
  readonly peakRssBytes?: number;
  /** Echoes whose bytes all reached the target and differed from the announced hash (corruption). */
  readonly targetHashFailures: number;
  /** Echoes cut short before all their bytes reached the target (a failed connection, not corruption). */
  readonly targetTruncated?: number;
  readonly firstError?: string;
}

/** One recovery trial. */
export interface RecoveryRep {
  /** From the fault to the contender reporting the loss (kubemux's state event; kubectl's exit). */
  readonly noticedMs?: number;
  /** From the fault to the `clear` the bench sent (blackhole only). */
  readonly clearedMs?: number;
  /** From the fault to the first new connection that echoed through the forward. */
  readonly recoveredMs?: number;
  /** What happened, in words, for contenders that do not recover. */
  readonly outcome: string;
}

/** Recovery from one fault for one contender. */
export interface RecoveryResult {
  readonly contender: string;
  readonly fault: 'blackhole' | 'drop';
  readonly reps: readonly RecoveryRep[];
}

/** Idle connections held at one count. */
export interface IdleStep {
  /** Connections asked for (in total, so far). */
  readonly target: number;
  /** Of those, how many echoed and stayed open. */
  readonly established: number;
  /** Connections being set up at a time while getting here. */
  readonly batch: number;
  /** Set-up rate of this step's new connections, per second. */
  readonly setupPerSecond: number;
  readonly rssBytes?: number;
  /** V8 heap in use after collections (Node contenders). */
  readonly heapBytes?: number;
  readonly firstError?: string;
}

/** Memory per idle connection for one contender. */
export interface MemoryResult {
  readonly contender: string;
  /** RSS and heap with the forward started, warmed up and idle. */
  readonly baselineRssBytes?: number;
  readonly baselineHeapBytes?: number;
  readonly steps: readonly IdleStep[];
}

/** Everything one run measured. */
export interface ForwardResults {
  readonly bench: 'forward';
  readonly startedAt: string;
  readonly durationSeconds: number;
  readonly command: string;
  readonly quick: boolean;
  readonly machine: MachineInfo & {
    readonly kubectl?: string;
    readonly clientNode?: string;
    readonly openFiles?: { readonly soft: number; readonly hard: number };
    /** Load average at the start (1, 5, 15 min): how busy the shared machine was. */
    readonly loadAverage: readonly number[];
  };
  readonly settings: {
    readonly reps: number;
    /** Bytes each way every contender moved before the throughput, latency and concurrency scenarios. */
    readonly warmupBytes: number;
    readonly latencyConnections: number;
    readonly concurrentConnections: number;
    readonly pingIntervalMs: number;
    readonly pingTimeoutMs: number;
    readonly idleCounts: readonly number[];
    readonly scaleConnections: number;
    readonly scaleBytes: number;
  };
  readonly contenders: readonly ContenderInfo[];
  readonly bulk: readonly BulkResult[];
  readonly latency: readonly LatencyResult[];
  readonly concurrency: readonly ConcurrencyResult[];
  readonly recovery: readonly RecoveryResult[];
  readonly memory: readonly MemoryResult[];
  readonly scale: readonly ConcurrencyResult[];
  /** Two forwards through the server at once against each alone: does the server have room? */
  readonly serverHeadroom?: {
    readonly contenders: readonly string[];
    readonly aloneMiBps: readonly number[];
    readonly togetherMiBps: number;
    readonly serverCpuShare: number;
  };
  /** Things the reader must know (restarts, crashes, limits met). */
  readonly notes: readonly string[];
}
