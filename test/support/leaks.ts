/**
 * Leak checks: what keeps the process alive (sockets, servers, ref'd timers), counted through
 * `process.getActiveResourcesInfo()`, before and after. "The process exits by itself" is exactly
 * "nothing new keeps it alive".
 */
import assert from 'node:assert/strict';

const WATCHED = ['TCPSocketWrap', 'TCPServerWrap', 'TLSWrap', 'Timeout', 'PipeWrap'];

/** Counts of the watched resource kinds that keep the process alive now. */
export function aliveResources(): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const kind of process.getActiveResourcesInfo()) if (WATCHED.includes(kind)) counts[kind] = (counts[kind] ?? 0) + 1;
  return counts;
}

/**
 * Resolves once no watched kind is above its count in `before` (closing sockets take a few turns
 * of the event loop to go); fails the test with what is left after `timeoutMs`.
 */
export async function expectNothingLeftSince(before: Record<string, number>, what: string, timeoutMs = 5_000): Promise<void> {
  const started = Date.now();
  for (;;) {
    const now = aliveResources();
    const extra = Object.entries(now).filter(([kind, count]) => count > (before[kind] ?? 0));
    if (extra.length === 0) return;
    if (Date.now() - started > timeoutMs) assert.fail(`${what}: still alive after ${timeoutMs} ms: ${extra.map(([k, c]) => `${k} ${c} (was ${before[k] ?? 0})`).join(', ')}`);
    // No event says "a handle was released": look again shortly (a poll with a deadline, not a wait for time to pass).
    await new Promise<void>((resolve) => setTimeout(resolve, 5));
  }
}
