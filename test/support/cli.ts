/** The `kubemux` command run as a user runs it: `node bin/kubemux.js ...` in a child process. */
import { join } from 'node:path';
import { REPO_ROOT } from './paths.js';
import { runToEnd, startProcess, type Finished, type ProcessOptions, type RunningProcess } from './processes.js';

/** The launcher a user's `kubemux` runs. */
export const KUBEMUX_BIN = join(REPO_ROOT, 'bin', 'kubemux.js');

/** Runs `kubemux ARGS` to its end (30 s at most). */
export function kubemux(args: readonly string[], options: ProcessOptions & { readonly timeoutMs?: number } = {}): Promise<Finished> {
  return runToEnd(process.execPath, [KUBEMUX_BIN, ...args], { timeoutMs: 30_000, ...options });
}

/** Starts `kubemux ARGS` (a long-running command); the caller stops it. */
export function startKubemux(args: readonly string[], options: ProcessOptions = {}): RunningProcess {
  return startProcess(process.execPath, [KUBEMUX_BIN, ...args], options);
}

/** The lines of `text` (without the empty one after the last newline). */
export function lines(text: string): string[] {
  return text.split('\n').filter((line, i, all) => i < all.length - 1 || line !== '');
}

/** Whether `text` holds a JavaScript stack trace. */
export function hasStack(text: string): boolean {
  return /^\s+at .+[:(]/m.test(text);
}
