/**
 * What the kernel says about a process, read the same way for every contender (a Node child, a Go
 * binary, anything with a pid): CPU time from /proc/PID/stat, resident memory and its peak from
 * /proc/PID/status. Linux only; elsewhere every read returns undefined and the bench says so.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';

/** Clock ticks per second of /proc/PID/stat's times (`getconf CLK_TCK`; 100 on every Linux in practice). */
const CLOCK_TICKS = ((): number => {
  try {
    const value = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
    return Number.isInteger(value) && value > 0 ? value : 100;
  } catch {
    return 100;
  }
})();

/** One reading of a process. */
export interface ProcessSample {
  /** User + system CPU seconds of every thread so far (children not included). */
  readonly cpuSeconds: number;
  /** Of {@link cpuSeconds}, the kernel's share (system calls: on loopback, most of TCP). */
  readonly systemSeconds: number;
  /** Resident set size now, bytes (VmRSS). */
  readonly rssBytes: number;
  /** Largest resident set size since start or the last {@link resetPeakRss}, bytes (VmHWM). */
  readonly peakRssBytes: number;
}

/**
 * Reads `pid`'s CPU time and memory, or undefined when it has exited (or /proc is missing).
 * utime and stime are fields 14 and 15 of /proc/PID/stat, counted after the command name, which
 * is in parentheses and may itself contain spaces and parentheses: split after the last ')'.
 */
export function sampleProcess(pid: number): ProcessSample | undefined {
  let stat: string;
  let status: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    status = readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return undefined;
  }
  // After ") ": state is field 3, so utime (14) is at index 11 and stime (15) at index 12.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const userTicks = Number(fields[11]);
  const systemTicks = Number(fields[12]);
  const kib = (name: string): number => {
    const match = new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status);
    return match === null ? 0 : Number(match[1]) * 1024;
  };
  return { cpuSeconds: (userTicks + systemTicks) / CLOCK_TICKS, systemSeconds: systemTicks / CLOCK_TICKS, rssBytes: kib('VmRSS'), peakRssBytes: kib('VmHWM') };
}

/**
 * Starts a new peak-RSS window for `pid` (writing 5 to /proc/PID/clear_refs resets VmHWM to the
 * current RSS). Returns false where the kernel does not allow it; the peak is then the lifetime one.
 */
export function resetPeakRss(pid: number): boolean {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
    return true;
  } catch {
    return false;
  }
}

/** Total CPU seconds the whole machine has spent busy (all cores, from /proc/stat), or undefined. */
export function machineBusySeconds(): number | undefined {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!;
    // cpu user nice system idle iowait irq softirq steal ...
    const [, user, nice, system, , , irq, softirq, steal] = line.trim().split(/\s+/).map(Number);
    return (user! + nice! + system! + irq! + softirq! + steal!) / CLOCK_TICKS;
  } catch {
    return undefined;
  }
}

/** The soft and hard limits on open files of this process (children inherit them), from /proc/self/limits. */
export function openFileLimits(): { readonly soft: number; readonly hard: number } | undefined {
  try {
    const match = /^Max open files\s+(\d+)\s+(\d+)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
    return match === null ? undefined : { soft: Number(match[1]), hard: Number(match[2]) };
  } catch {
    return undefined;
  }
}
