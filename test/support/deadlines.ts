/** Waiting in tests with a deadline that fails the test instead of letting it hang. */
import assert from 'node:assert/strict';

/** Default deadline of every wait, ms. A deadline for failing, not a pause: waits end at the event. */
export const EXPECT_TIMEOUT_MS = 2000;

/** Awaits `promise`, failing the test at a deadline instead of letting it hang. */
export async function within<T>(promise: Promise<T>, what: string, timeoutMs = EXPECT_TIMEOUT_MS): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new assert.AssertionError({ message: `${what} did not happen within ${timeoutMs} ms` })), timeoutMs);
  });
  try {
    return await Promise.race([promise, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

interface Emitter {
  // eventemitter3's typed once() and Node's untyped one both fit this shape.
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  once(event: any, listener: any): unknown;
}

/** The arguments of the next `event` on `emitter` (Node or eventemitter3), within a deadline. */
export function once<A extends unknown[] = unknown[]>(emitter: Emitter, event: string, timeoutMs = EXPECT_TIMEOUT_MS): Promise<A> {
  return within(new Promise<A>((resolve) => emitter.once(event, (...args: never[]) => resolve(args as unknown as A))), `event '${event}'`, timeoutMs);
}

/** The arguments of the first `event` on `emitter` for which `predicate` holds, within a deadline. */
export function onceMatching<A extends unknown[] = unknown[]>(
  emitter: { on(event: any, listener: any): unknown; off(event: any, listener: any): unknown },
  event: string,
  predicate: (...args: A) => boolean,
  what: string,
  timeoutMs = 10_000,
): Promise<A> {
  let listener: ((...args: A) => void) | undefined;
  const matched = new Promise<A>((resolve) => {
    listener = (...args: A): void => {
      if (!predicate(...args)) return;
      emitter.off(event, listener);
      resolve(args);
    };
    emitter.on(event, listener);
  });
  return within(matched, what, timeoutMs).finally(() => emitter.off(event, listener));
}
