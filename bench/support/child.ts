/**
 * Child processes of the forward bench: started with their output read line by line (and kept,
 * bounded, for failure messages), waited on for a line, and always stopped by the bench (SIGINT,
 * then SIGKILL after a grace period), so that no process outlives a run, even a failed one.
 */
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';

/** The most output kept per child for error messages, characters. */
const MAX_KEPT_OUTPUT = 64 * 1024;

/** A running child. */
export interface Child {
  readonly process: ChildProcess;
  readonly pid: number;
  /** True once it has exited. */
  readonly exited: boolean;
  /** The exit code or signal, once it has exited. */
  readonly exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** The last {@link MAX_KEPT_OUTPUT} characters of stdout and stderr, interleaved. */
  output(): string;
  /** Lines seen so far on stdout that matched `pattern`. */
  count(pattern: RegExp): number;
  /** Resolves with the first line (stdout or stderr, past or future) matching `pattern`; rejects on exit or after `timeoutMs`. */
  line(pattern: RegExp, timeoutMs: number): Promise<string>;
  /** Called with every stdout line from now on. */
  onLine(listener: (line: string) => void): void;
  /** SIGINT, then SIGKILL after `graceMs`. Idempotent. */
  stop(graceMs?: number): Promise<void>;
}

const running = new Set<Child>();

/** Stops every child still running (the bench's last step, and its handler for an early exit). */
export async function stopAllChildren(): Promise<void> {
  await Promise.all([...running].map((child) => child.stop(2_000)));
}

/** Starts `command args`; stdout and stderr are piped and read (never left to fill up). */
export function startChild(command: string, args: readonly string[], options: SpawnOptions = {}): Child {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], ...options });
  let output = '';
  let exited = false;
  const counted = new Map<RegExp, number>();
  const seen: string[] = [];
  const lineListeners: Array<(line: string) => void> = [];
  const waiters = new Set<{ pattern: RegExp; resolve: (line: string) => void }>();
  const keep = (text: string): void => {
    output += text;
    if (output.length > MAX_KEPT_OUTPUT * 2) output = output.slice(-MAX_KEPT_OUTPUT);
  };
  const onLine = (line: string, stdout: boolean): void => {
    if (stdout) {
      for (const [pattern, n] of counted) if (pattern.test(line)) counted.set(pattern, n + 1);
      for (const listener of lineListeners) listener(line);
    }
    // Lines are kept for waiters only until the first waiter has been satisfied (start-up lines).
    if (seen.length < 1_000) seen.push(line);
    for (const waiter of [...waiters]) {
      if (waiter.pattern.test(line)) {
        waiters.delete(waiter);
        waiter.resolve(line);
      }
    }
  };
  for (const [stream, isStdout] of [
    [child.stdout, true],
    [child.stderr, false],
  ] as const) {
    if (stream === null || stream === undefined) continue;
    let partial = '';
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => {
      keep(chunk);
      partial += chunk;
      let newline = partial.indexOf('\n');
      while (newline >= 0) {
        onLine(partial.slice(0, newline), isStdout);
        partial = partial.slice(newline + 1);
        newline = partial.indexOf('\n');
      }
    });
  }
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => {
      exited = true;
      resolve({ code, signal });
    });
    child.once('error', (error) => {
      keep(`\n[spawn error] ${error.message}\n`);
      exited = true;
      resolve({ code: null, signal: null });
    });
  });
  let stopping: Promise<void> | undefined;
  const handle: Child = {
    process: child,
    pid: child.pid ?? -1,
    get exited() {
      return exited;
    },
    exit,
    output: () => output,
    count(pattern) {
      return counted.get(pattern) ?? (counted.set(pattern, 0), 0);
    },
    line(pattern, timeoutMs) {
      const past = seen.find((line) => pattern.test(line));
      if (past !== undefined) return Promise.resolve(past);
      return new Promise<string>((resolve, reject) => {
        const waiter = {
          pattern,
          resolve: (line: string) => {
            clearTimeout(timer);
            resolve(line);
          },
        };
        const timer = setTimeout(() => {
          waiters.delete(waiter);
          reject(new Error(`${command} printed no line matching ${String(pattern)} within ${timeoutMs} ms; output:\n${output.slice(-4000)}`));
        }, timeoutMs);
        waiters.add(waiter);
        void exit.then(({ code, signal }) => {
          if (!waiters.delete(waiter)) return;
          clearTimeout(timer);
          reject(new Error(`${command} exited (code ${code}, signal ${signal}) before printing ${String(pattern)}; output:\n${output.slice(-4000)}`));
        });
      });
    },
    onLine(listener) {
      lineListeners.push(listener);
    },
    stop(graceMs = 5_000) {
      stopping ??= (async () => {
        if (!exited) {
          child.kill('SIGINT');
          let timer: NodeJS.Timeout | undefined;
          const graceful = await Promise.race([exit.then(() => true), new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), graceMs)))]);
          clearTimeout(timer);
          if (!graceful) {
            child.kill('SIGKILL');
            await exit;
          }
        }
        running.delete(handle);
      })();
      return stopping;
    },
  };
  running.add(handle);
  return handle;
}
