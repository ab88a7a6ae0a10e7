/**
 * The `kubemux` command as a user runs it: a child process with its stdout and stderr read line
 * by line, stopped by the test (SIGKILL as a last resort) so that none outlives it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { within } from './deadlines.js';
import { REPO_ROOT } from './paths.js';

/** `bin/kubemux.js` of this checkout. */
export const KUBEMUX_BIN = join(REPO_ROOT, 'bin', 'kubemux.js');

/** A running `kubemux` process. */
export interface CliProcess {
  readonly child: ChildProcess;
  /** Lines written so far (without their newlines). */
  readonly stdout: string[];
  readonly stderr: string[];
  /** The first stdout (or stderr) line matching `pattern` (already written or still to come), within a deadline. */
  line(pattern: RegExp, stream?: 'stdout' | 'stderr', timeoutMs?: number): Promise<string>;
  /** Resolves with the exit code (or signal name) once the process has exited. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Starts `kubemux ...args`; the test's end kills it if it is still running. */
export function runKubemux(t: TestContext, args: readonly string[], env: NodeJS.ProcessEnv = {}): CliProcess {
  const child = spawn(process.execPath, [KUBEMUX_BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  const lines = { stdout: [] as string[], stderr: [] as string[] };
  const waiters: Array<{ pattern: RegExp; stream: 'stdout' | 'stderr'; resolve: (line: string) => void }> = [];
  for (const stream of ['stdout', 'stderr'] as const) {
    let partial = '';
    child[stream]!.setEncoding('utf8');
    child[stream]!.on('data', (chunk: string) => {
      partial += chunk;
      const parts = partial.split('\n');
      partial = parts.pop()!;
      for (const line of parts) {
        lines[stream].push(line);
        for (const waiter of [...waiters]) {
          if (waiter.stream === stream && waiter.pattern.test(line)) {
            waiters.splice(waiters.indexOf(waiter), 1);
            waiter.resolve(line);
          }
        }
      }
    });
  }
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  t.after(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await exited;
    }
  });
  return {
    child,
    stdout: lines.stdout,
    stderr: lines.stderr,
    line(pattern, stream = 'stdout', timeoutMs = 15_000) {
      const found = lines[stream].find((l) => pattern.test(l));
      if (found !== undefined) return Promise.resolve(found);
      return within(
        new Promise<string>((resolve) => waiters.push({ pattern, stream, resolve })),
        `a ${stream} line matching ${pattern} (${stream} so far: ${JSON.stringify(lines[stream].slice(-5))}; stderr: ${JSON.stringify(lines.stderr.slice(-3))})`,
        timeoutMs,
      );
    },
    exited,
  };
}
