/**
 * Forced garbage collection for heap measurements. `node --expose-gc` provides `gc`; without the
 * flag it is switched on at run time, so `node dist/bench/run.js` works as typed. The flag is
 * process-wide: worker threads started afterwards have `gc` too.
 */
import { getHeapStatistics, setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/** How `gc` was obtained, for the report. */
export type GcSource = 'flag' | 'runtime';

let cached: { readonly gc: () => void; readonly source: GcSource } | undefined;

/** A function that runs a full collection, and whether it came from the command line flag. */
export function obtainGc(): { readonly gc: () => void; readonly source: GcSource } {
  if (cached !== undefined) return cached;
  const fromFlag = (globalThis as { gc?: unknown }).gc;
  if (typeof fromFlag === 'function') {
    cached = { gc: fromFlag as () => void, source: 'flag' };
    return cached;
  }
  // Setting the flag exposes `gc` on contexts created from now on; a fresh vm context is one.
  setFlagsFromString('--expose-gc');
  const fromContext: unknown = runInNewContext('gc');
  if (typeof fromContext !== 'function') throw new Error('cannot obtain gc(): run node with --expose-gc');
  cached = { gc: fromContext as () => void, source: 'runtime' };
  return cached;
}

/**
 * Heap bytes in use by this thread's isolate after full collections. Several passes, because one
 * pass can leave objects that only became garbage when a finaliser of the first pass ran.
 */
export function settledHeapBytes(): number {
  const { gc } = obtainGc();
  for (let i = 0; i < 4; i++) gc();
  return getHeapStatistics().used_heap_size;
}
