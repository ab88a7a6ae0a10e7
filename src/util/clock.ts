/**
 * Time as an injectable dependency. Every layer that waits (liveness pings, deadlines, backoff)
 * takes a {@link Clock}, so that tests drive time by hand instead of sleeping, and state machines
 * can be checked step by step (test/support/manual-clock.ts).
 */
import { performance } from 'node:perf_hooks';

/** An opaque handle for a scheduled callback. */
export type TimerHandle = object;

/** A source of time and timers. */
export interface Clock {
  /** Milliseconds on a monotonic scale (not wall time): only differences mean anything. */
  now(): number;
  /** Calls `callback` once after `ms`. Never keeps the process alive (system timers are unref'd). */
  setTimeout(callback: () => void, ms: number): TimerHandle;
  /** Cancels a callback; no effect when it already ran, was cancelled, or `handle` is undefined. */
  clearTimeout(handle: TimerHandle | undefined): void;
}

/** The real clock: `performance.now()` and unref'd Node timers. */
export const systemClock: Clock = Object.freeze({
  now: () => performance.now(),
  setTimeout(callback: () => void, ms: number): TimerHandle {
    const timer = setTimeout(callback, ms);
    timer.unref();
    return timer;
  },
  clearTimeout(handle: TimerHandle | undefined): void {
    if (handle !== undefined) clearTimeout(handle as NodeJS.Timeout);
  },
});

/** A source of uniformly distributed numbers in [0, 1), like `Math.random` (injectable for jitter). */
export type RandomSource = () => number;
