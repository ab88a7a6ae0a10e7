/**
 * Exponential backoff with full jitter (the AWS architecture blog's "full jitter": a uniformly
 * random delay between 0 and the exponential ceiling), which spreads the re-dials of many
 * forwards that lost their API server at the same moment instead of synchronising them.
 *
 *   ceiling(n) = min(maxDelayMs, initialDelayMs * 2^n)      delay(n) = random() * ceiling(n)
 *
 * `n` counts failures since the last {@link Backoff.reset}. The owner resets it once a connection
 * has been healthy for a while, not as soon as one succeeds, so a server that accepts and then
 * drops at once still sees growing delays.
 */
import type { RandomSource } from '../util/clock.js';

/** The delays of a {@link Backoff}. */
export interface BackoffPolicy {
  /** The ceiling of the first delay, ms. */
  readonly initialDelayMs: number;
  /** The largest ceiling, ms. */
  readonly maxDelayMs: number;
}

/** Full-jitter exponential backoff (see the file comment). */
export class Backoff {
  readonly #policy: BackoffPolicy;
  readonly #random: RandomSource;
  #failures = 0;

  constructor(policy: BackoffPolicy, random: RandomSource) {
    this.#policy = policy;
    this.#random = random;
  }

  /** Failures counted since the last reset. */
  get failures(): number {
    return this.#failures;
  }

  /** The delay before the next attempt, ms; counts one more failure. */
  next(): number {
    const ceiling = this.ceiling();
    this.#failures++;
    return Math.floor(this.#random() * ceiling);
  }

  /** The largest delay {@link next} could return now. */
  ceiling(): number {
    const { initialDelayMs, maxDelayMs } = this.#policy;
    // 2^n overflows to Infinity long after the ceiling is reached; min() keeps it finite.
    return Math.min(maxDelayMs, initialDelayMs * 2 ** Math.min(this.#failures, 52));
  }

  /** Starts again from the first delay. */
  reset(): void {
    this.#failures = 0;
  }
}
