/**
 * A runtime error as a person at a terminal reads it: one line, the error's message alone (no
 * stack trace, no `Error: ` that `String(error)` would add, whitespace folded), and the names
 * of library options replaced by the CLI flags that set them. The library's messages are written
 * for API users (`... unless allowNonLoopback is set`); a CLI user can only act on a flag
 * (`... unless --allow-non-loopback is set`).
 */
import { isKubemuxError } from '../index.js';

/** Library option names (as they appear in messages) and the flag that sets each; longest first. */
const FLAGS: ReadonlyArray<readonly [RegExp, string]> = [
  [/\bkubeconfigPath or kubeConfig\b/g, '--kubeconfig'],
  [/\bkubeconfigPath\b/g, '--kubeconfig'],
  [/\ballowNonLoopback\b/g, '--allow-non-loopback'],
  [/\bpodRunningTimeoutMs\b/g, '--pod-running-timeout'],
  [/\bpingIntervalMs\b/g, '--ping-interval'],
  [/\bpingTimeoutMs\b/g, '--ping-timeout'],
];

/** `message` with library option names replaced by the CLI flags (see the file comment). */
export function withFlagNames(message: string): string {
  return FLAGS.reduce((text, [name, flag]) => text.replace(name, flag), message);
}

/** What the operating system said, as `no such file or directory (ENOENT)`, or undefined for other errors. */
export function systemReason(error: unknown): string | undefined {
  const { code, message } = (error ?? {}) as NodeJS.ErrnoException;
  if (typeof code !== 'string' || typeof message !== 'string') return undefined;
  // Node's system errors read "ENOENT: no such file or directory, open '/x'".
  const described = new RegExp(`^${code}: ([^,]+)`).exec(message);
  return described === null ? code : `${described[1]} (${code})`;
}

/** One line for `error` (see the file comment). */
export function errorLine(error: unknown): string {
  const message = isKubemuxError(error) || error instanceof Error ? error.message : String(error);
  return withFlagNames(message.replace(/\s*\n\s*/g, ' ').trim());
}
