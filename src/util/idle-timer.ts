/**
 * IdleTimer: calls back once nothing has happened for a while (the kubelet's streaming idle
 * timeout, on a session or a WebSocket). `touch()` only bumps a counter, so it can sit on a path
 * that runs for every frame; the timer wakes eight times per timeout to look at the counter.
 * The callback therefore runs between `timeoutMs` and `1.125 × timeoutMs` after the last touch.
 */

/** Calls `onIdle` once after `timeoutMs` without a {@link IdleTimer.touch} (see the file comment). */
export class IdleTimer {
  readonly #timeoutMs: number;
  readonly #tickMs: number;
  readonly #onIdle: () => void;
  #activity = 0;
  #seenActivity = 0;
  #quietSince: number;
  #timer: NodeJS.Timeout | undefined;

  /** Starts counting now. `timeoutMs` must be at least 1. */
  constructor(timeoutMs: number, onIdle: () => void) {
    this.#timeoutMs = timeoutMs;
    this.#tickMs = Math.max(1, Math.floor(timeoutMs / 8));
    this.#onIdle = onIdle;
    this.#quietSince = performance.now();
    this.#arm(this.#tickMs);
  }

  /** Something happened: the idle period starts again. */
  touch(): void {
    this.#activity++;
  }

  /** Stops the timer for good. */
  stop(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #arm(ms: number): void {
    this.#timer = setTimeout(() => this.#check(), ms);
    this.#timer.unref();
  }

  #check(): void {
    const now = performance.now();
    if (this.#activity !== this.#seenActivity) {
      this.#seenActivity = this.#activity;
      this.#quietSince = now;
    }
    const quietMs = now - this.#quietSince;
    if (quietMs >= this.#timeoutMs) {
      this.#timer = undefined;
      this.#onIdle();
      return;
    }
    this.#arm(Math.min(this.#tickMs, Math.max(1, Math.ceil(this.#timeoutMs - quietMs))));
  }
}
