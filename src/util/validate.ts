/**
 * Option validation: one place that turns a bad option into the usage error every layer promises
 * (ERR_INVALID_ARGUMENT, scope 'usage', naming the option and its bound), thrown before anything
 * is sent.
 */
import { ErrorCode, KubemuxError } from '../errors.js';

/** Throws the usage error with `message`. */
export function usage(message: string): never {
  throw new KubemuxError(ErrorCode.INVALID_ARGUMENT, 'usage', message);
}

/** `value` when it is an integer in min..max; otherwise a usage error naming `name` and the bounds. */
export function integerIn(name: string, value: unknown, min: number, max: number): number {
  if (typeof value !== 'number') usage(`${name} must be an integer, got ${value === null ? 'null' : typeof value}`);
  if (!Number.isInteger(value) || value < min || value > max) usage(`${name} ${String(value)} is outside ${min}..${max}`);
  return value;
}

/** The largest delay a Node timer takes, ms (2^31 - 1); longer ones fire at once. */
export const MAX_TIMER_MS = 2 ** 31 - 1;
