/** Racing work against an AbortSignal, for callees that cannot (yet) be told to stop. */

/**
 * Settles with `work`, or rejects with `signal.reason` as soon as `signal` aborts, whichever comes
 * first. A result that arrives after the abort is handed to `onLate` (to close it), so nothing the
 * work produced is left open.
 */
export function raceSignal<T>(work: Promise<T>, signal: AbortSignal, onLate: (late: T) => void): Promise<T> {
  if (signal.aborted) {
    work.then(onLate, () => {});
    return Promise.reject(signal.reason);
  }
  return new Promise<T>((resolve, reject) => {
    let settled = false;
    const onAbort = (): void => {
      settled = true;
      reject(signal.reason);
    };
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        if (settled) onLate(value);
        else resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        if (!settled) reject(error);
      },
    );
  });
}
