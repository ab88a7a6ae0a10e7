/**
 * Preloaded into the Node contenders of the forward bench (`node --expose-gc --import
 * memory-probe.js ...`, with an IPC channel): answers `{type: 'kubemux-bench-memory'}` with the
 * process's memory after full collections, so that heap per connection can be read from outside.
 * It changes nothing else in the process, and its channel does not keep the process alive.
 */

/** The request. */
export const MEMORY_REQUEST = 'kubemux-bench-memory';

/** The answer: process.memoryUsage() after collections, bytes. */
export interface MemoryReport {
  readonly type: 'kubemux-bench-memory';
  readonly rssBytes: number;
  readonly heapUsedBytes: number;
  readonly externalBytes: number;
  readonly arrayBuffersBytes: number;
}

if (typeof process.send === 'function') {
  process.channel?.unref();
  process.on('message', (message: { type?: string }) => {
    if (message?.type !== MEMORY_REQUEST) return;
    const gc = (globalThis as { gc?: () => void }).gc;
    for (let i = 0; i < 4; i++) gc?.();
    const usage = process.memoryUsage();
    const report: MemoryReport = {
      type: MEMORY_REQUEST,
      rssBytes: usage.rss,
      heapUsedBytes: usage.heapUsed,
      externalBytes: usage.external,
      arrayBuffersBytes: usage.arrayBuffers,
    };
    process.send!(report);
  });
}
