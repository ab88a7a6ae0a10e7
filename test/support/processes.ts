/**
 * Child processes as a user runs them: a command run to its end under a deadline
 * ({@link runToEnd}), or a long-running one started, read line by line and stopped
 * ({@link startProcess}). Either way the process is gone when the helper is done with it: a
 * deadline kills it (SIGKILL), and `stop()` escalates to SIGKILL after its grace period.
 */
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';

/** How a process ended, with everything it printed. */
export interface Finished {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Options of {@link runToEnd} and {@link startProcess}. */
export interface ProcessOptions {
  readonly cwd?: string;
  readonly env?: NodeJS.ProcessEnv;
  /** Written to stdin, which is then closed (default: stdin is closed at once). */
  readonly input?: string;
  /** Start it in a process group of its own (its pid is the group id). */
  readonly detached?: boolean;
}

function spawnChild(command: string, args: readonly string[], options: ProcessOptions): ChildProcess {
  const spawnOptions: SpawnOptions = {
    stdio: [options.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    ...(options.cwd === undefined ? {} : { cwd: options.cwd }),
    ...(options.env === undefined ? {} : { env: options.env }),
    ...(options.detached === true ? { detached: true } : {}),
  };
  const child = spawn(command, [...args], spawnOptions);
  if (options.input !== undefined) child.stdin!.end(options.input);
  return child;
}

/** Describes a run for failure messages: the command line and what it printed. */
export function describeRun(command: string, args: readonly string[], result: Partial<Finished>): string {
  return `$ ${[command, ...args].join(' ')}\nexit code ${result.code ?? '-'}, signal ${result.signal ?? '-'}\n--- stdout\n${result.stdout ?? ''}--- stderr\n${result.stderr ?? ''}`;
}

/**
 * Runs `command` to its end and resolves with its exit and output. Rejects when it has not ended
 * within `timeoutMs` (it is killed first, and the message carries its output so far) or cannot be
 * started at all.
 */
export function runToEnd(command: string, args: readonly string[], options: ProcessOptions & { readonly timeoutMs: number }): Promise<Finished> {
  return new Promise<Finished>((resolve, reject) => {
    const child = spawnChild(command, args, options);
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
    child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`did not end within ${options.timeoutMs} ms:\n${describeRun(command, args, { stdout, stderr })}`));
    }, options.timeoutMs);
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    // 'close', not 'exit': the output is complete only once the pipes have closed.
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

/** A running process started by {@link startProcess}. */
export interface RunningProcess {
  readonly child: ChildProcess;
  /** Everything printed so far. */
  output(): { readonly stdout: string; readonly stderr: string };
  /**
   * The first complete line of `stream` matching `pattern`, once printed. Rejects after
   * `timeoutMs`, or when the process ends without printing one, with its output in the message.
   */
  line(pattern: RegExp, timeoutMs: number, stream?: 'stdout' | 'stderr'): Promise<string>;
  /** Settles when the process has ended and its pipes have closed. */
  readonly finished: Promise<Finished>;
  /** Sends `signal` (default SIGTERM), then SIGKILL after `graceMs`; resolves with how it ended. Idempotent. */
  stop(signal?: NodeJS.Signals, graceMs?: number): Promise<Finished>;
}

/** Starts `command`; see {@link RunningProcess}. */
export function startProcess(command: string, args: readonly string[], options: ProcessOptions = {}): RunningProcess {
  const child = spawnChild(command, args, options);
  const printed = { stdout: '', stderr: '' };
  const waiters = new Set<() => void>();
  const notify = (): void => {
    for (const waiter of [...waiters]) waiter();
  };
  child.stdout!.on('data', (chunk: Buffer) => {
    printed.stdout += chunk.toString('utf8');
    notify();
  });
  child.stderr!.on('data', (chunk: Buffer) => {
    printed.stderr += chunk.toString('utf8');
    notify();
  });
  let ended = false;
  const finished = new Promise<Finished>((resolve) => {
    child.once('error', (error) => {
      printed.stderr += `[spawn error] ${error.message}\n`;
      ended = true;
      notify();
      resolve({ code: null, signal: null, ...printed });
    });
    child.once('close', (code, signal) => {
      ended = true;
      notify();
      resolve({ code, signal, ...printed });
    });
  });

  const line = (pattern: RegExp, timeoutMs: number, stream: 'stdout' | 'stderr' = 'stdout'): Promise<string> =>
    new Promise<string>((resolve, reject) => {
      const check = (): void => {
        const found = printed[stream].split('\n').slice(0, -1).find((l) => pattern.test(l));
        if (found !== undefined) finish(() => resolve(found));
        else if (ended) finish(() => reject(new Error(`ended without printing a line matching ${pattern} on ${stream}:\n${describeRun(command, args, printed)}`)));
      };
      const timer = setTimeout(
        () => finish(() => reject(new Error(`printed no line matching ${pattern} on ${stream} within ${timeoutMs} ms:\n${describeRun(command, args, printed)}`))),
        timeoutMs,
      );
      const finish = (settle: () => void): void => {
        clearTimeout(timer);
        waiters.delete(check);
        settle();
      };
      waiters.add(check);
      check();
    });

  let stopping: Promise<Finished> | undefined;
  const stop = (signal: NodeJS.Signals = 'SIGTERM', graceMs = 5_000): Promise<Finished> => {
    stopping ??= (async () => {
      if (!ended) child.kill(signal);
      let timer: NodeJS.Timeout | undefined;
      const graceful = await Promise.race([finished, new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), graceMs)))]);
      clearTimeout(timer);
      if (graceful !== undefined) return graceful;
      child.kill('SIGKILL');
      return finished;
    })();
    return stopping;
  };

  return { child, output: () => ({ ...printed }), line, finished, stop };
}
