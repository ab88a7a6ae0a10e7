/**
 * SPDY PINGs with deadlines. spdystream's own Ping() waits forever and Kubernetes servers never
 * ping, so a dead path is only ever noticed by a client that pings with a deadline: this is the
 * primitive kubemux's liveness checks are built on.
 *
 * Ids follow SPDY: the client's pings are odd, the server's even; a PING with the peer's parity
 * is the peer's and is echoed unchanged, one with ours answers one of our pings.
 */
import { performance } from 'node:perf_hooks';
import { ErrorCode, KubemuxError, abortError } from '../errors.js';
import type { SessionRole } from './options.js';

const MAX_PING_ID = 0x7fff_ffff;

interface PendingPing {
  readonly sentAt: number;
  readonly timer: NodeJS.Timeout;
  readonly resolve: (rttMs: number) => void;
  readonly reject: (error: KubemuxError) => void;
}

/** Our outstanding pings: ids, deadlines and round-trip times. */
export class PingTracker {
  readonly #firstId: number;
  #nextId: number;
  readonly #pending = new Map<number, PendingPing>();
  readonly #send: (id: number) => void;

  constructor(role: SessionRole, send: (id: number) => void) {
    this.#firstId = role === 'client' ? 1 : 2;
    this.#nextId = this.#firstId;
    this.#send = send;
  }

  /** Pings not yet answered. */
  get pendingCount(): number {
    return this.#pending.size;
  }

  /** True when a PING with this id was sent by the peer (and must be echoed). */
  isPeerPing(id: number): boolean {
    return id % 2 !== this.#firstId % 2;
  }

  /**
   * Sends a PING; resolves to the round trip in milliseconds or rejects with ERR_PING_TIMEOUT, or
   * ERR_ABORTED when `signal` aborts first (the id is then forgotten: a late answer is ignored).
   */
  ping(timeoutMs: number, signal?: AbortSignal): Promise<number> {
    const id = this.#allocateId();
    return new Promise<number>((resolve, reject) => {
      const onAbort = (): void => {
        this.#pending.delete(id);
        clearTimeout(timer);
        reject(abortError(signal!, 'session', `PING ${id}`));
      };
      const settled = (): void => signal?.removeEventListener('abort', onAbort);
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        settled();
        reject(new KubemuxError(ErrorCode.PING_TIMEOUT, 'session', `PING ${id} was not answered within ${timeoutMs} ms`));
      }, timeoutMs);
      timer.unref();
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#pending.set(id, {
        sentAt: performance.now(),
        timer,
        resolve: (rttMs) => {
          settled();
          resolve(rttMs);
        },
        reject: (error) => {
          settled();
          reject(error);
        },
      });
      this.#send(id);
    });
  }

  /** Handles the peer's answer to one of our pings. Unknown ids (late or forged) are ignored. */
  answered(id: number): number | undefined {
    const pending = this.#pending.get(id);
    if (pending === undefined) return undefined;
    this.#pending.delete(id);
    clearTimeout(pending.timer);
    const rttMs = performance.now() - pending.sentAt;
    pending.resolve(rttMs);
    return rttMs;
  }

  /** Rejects every outstanding ping (the session is closing). */
  failAll(error: KubemuxError): void {
    for (const pending of this.#pending.values()) {
      clearTimeout(pending.timer);
      pending.reject(error);
    }
    this.#pending.clear();
  }

  #allocateId(): number {
    // Ids wrap within the 31-bit space, keeping their parity and skipping ids still in flight.
    let id = this.#nextId;
    while (this.#pending.has(id)) id = id + 2 > MAX_PING_ID ? this.#firstId : id + 2;
    this.#nextId = id + 2 > MAX_PING_ID ? this.#firstId : id + 2;
    return id;
  }
}
