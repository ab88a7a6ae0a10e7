/**
 * Option and argument validation: the one place that turns a bad option into the usage error
 * every layer promises (ERR_INVALID_ARGUMENT, scope 'usage'), thrown or returned before anything
 * is sent. A message names the option, says what it must be and what it got: a value of the
 * wrong type is named by its type (`port must be an integer, got string`), never printed, since
 * an option object can sit next to credentials.
 */
import { ErrorCode, KubemuxError } from '../errors.js';

/** The largest delay a Node timer takes, ms (2^31 - 1); longer ones fire at once. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/** The usage error with `message` (and `cause`, when the mistake was found by another check). */
export function usageError(message: string, cause?: unknown): KubemuxError {
  return new KubemuxError(ErrorCode.INVALID_ARGUMENT, 'usage', message, cause === undefined ? {} : { cause });
}

/** Throws the usage error with `message`. */
export function usage(message: string): never {
  throw usageError(message);
}

/** `typeof`, with `null` and arrays told apart: what a message says a wrong value was. */
function typeName(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  return typeof value;
}

/** The usage error for `value` unless it is an integer in `min..max` (undefined when it is). */
export function integerError(name: string, value: unknown, min: number, max: number): KubemuxError | undefined {
  if (typeof value !== 'number') return usageError(`${name} must be an integer, got ${typeName(value)}`);
  if (!Number.isInteger(value)) return usageError(`${name} must be an integer, got ${String(value)}`);
  if (value < min || value > max) return usageError(`${name} ${value} is outside ${min}..${max}`);
  return undefined;
}

/** `value` when it is an integer in `min..max`; otherwise throws the usage error naming `name` and the bounds. */
export function integerIn(name: string, value: unknown, min: number, max: number): number {
  const bad = integerError(name, value, min, max);
  if (bad !== undefined) throw bad;
  return value as number;
}

/** The usage error for an optional deadline in ms (1..2^31-1), or undefined when it is absent or good. */
export function timeoutError(name: string, value: unknown): KubemuxError | undefined {
  return value === undefined ? undefined : integerError(name, value, 1, MAX_TIMER_MS);
}

/** The usage error for an optional `signal` that is not an AbortSignal, or undefined. */
export function signalError(signal: unknown): KubemuxError | undefined {
  if (signal === undefined) return undefined;
  // Duck-typed, so that a signal from another realm (a vm context, a polyfill) works too.
  const candidate = signal as { aborted?: unknown; addEventListener?: unknown; removeEventListener?: unknown } | null;
  if (
    candidate !== null &&
    typeof candidate === 'object' &&
    typeof candidate.aborted === 'boolean' &&
    typeof candidate.addEventListener === 'function' &&
    typeof candidate.removeEventListener === 'function'
  ) {
    return undefined;
  }
  return usageError(`signal must be an AbortSignal, got ${typeName(signal)}`);
}

/** The first of `errors` that is set: checks written as a list, in the order a caller reads them. */
export function firstError(...errors: ReadonlyArray<KubemuxError | undefined>): KubemuxError | undefined {
  return errors.find((error) => error !== undefined);
}
