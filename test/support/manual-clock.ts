/**
 * A {@link Clock} driven by hand: time moves only when the test calls advance(), and callbacks
 * that fall due run in order of their due time (then of scheduling). Between callbacks it lets
 * promise continuations run, so that async code reacting to one timer can schedule the next
 * before time moves on. No real time passes and nothing sleeps.
 */
import type { Clock, TimerHandle } from '../../src/util/clock.js';

interface Scheduled {
  readonly due: number;
  readonly seq: number;
  readonly callback: () => void;
}

/** Lets pending promise continuations (and the ones they schedule) run. */
export async function settle(rounds = 20): Promise<void> {
  for (let i = 0; i < rounds; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}

/** A hand-driven clock (see the file comment). */
export class ManualClock implements Clock {
  #now = 0;
  #seq = 0;
  readonly #timers = new Map<object, Scheduled>();

  now(): number {
    return this.#now;
  }

  setTimeout(callback: () => void, ms: number): TimerHandle {
    const handle = {};
    this.#timers.set(handle, { due: this.#now + Math.max(0, ms), seq: this.#seq++, callback });
    return handle;
  }

  clearTimeout(handle: TimerHandle | undefined): void {
    if (handle !== undefined) this.#timers.delete(handle);
  }

  /** Callbacks scheduled and not yet run. */
  get pending(): number {
    return this.#timers.size;
  }

  /** The due time of the next callback, if any. */
  get nextDue(): number | undefined {
    let next: number | undefined;
    for (const t of this.#timers.values()) if (next === undefined || t.due < next) next = t.due;
    return next;
  }

  /** Moves time forward by `ms`, running every callback that falls due (letting promises settle after each). */
  async advance(ms: number): Promise<void> {
    const end = this.#now + ms;
    await settle();
    for (;;) {
      let first: [object, Scheduled] | undefined;
      for (const entry of this.#timers) {
        const t = entry[1];
        if (t.due <= end && (first === undefined || t.due < first[1].due || (t.due === first[1].due && t.seq < first[1].seq))) first = entry;
      }
      if (first === undefined) break;
      this.#timers.delete(first[0]);
      this.#now = Math.max(this.#now, first[1].due);
      first[1].callback();
      await settle();
    }
    this.#now = end;
  }
}
