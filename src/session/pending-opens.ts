/**
 * Opens of ours waiting for the peer's SYN_REPLY, each with its deadline (streamOpenTimeoutMs or
 * the call's `timeoutMs`, unref'd) and its abort signal. Whoever settles an open (the reply, a
 * reset, GOAWAY, the session's close) takes it from here, so that its timer and abort listener
 * never outlive it.
 */
import { ErrorCode, KubemuxError, abortError } from '../errors.js';
import type { SpdyStream } from './spdy-stream.js';

/** One open's settlement, once taken from the table. */
export interface PendingOpen {
  readonly resolve: (stream: SpdyStream) => void;
  readonly reject: (error: KubemuxError) => void;
}

/** How an open waits (see {@link PendingOpens.add}). */
export interface OpenWait extends PendingOpen {
  readonly timeoutMs: number;
  readonly signal: AbortSignal | undefined;
  /** The deadline passed or the signal aborted (the open is already out of the table): reset the stream. */
  readonly giveUp: (error: KubemuxError) => void;
}

interface Entry extends PendingOpen {
  readonly timer: NodeJS.Timeout;
}

/** The table of opens waiting for a reply (see the file comment). */
export class PendingOpens {
  readonly #opens = new Map<number, Entry>();

  /** Waits for the reply to stream `id`: at the deadline or abort, `giveUp` then `reject` run with the error. */
  add(id: number, wait: OpenWait): void {
    const { signal } = wait;
    const expire = (error: KubemuxError): void => {
      this.take(id);
      settled();
      wait.giveUp(error);
      wait.reject(error);
    };
    const onAbort = (): void => expire(abortError(signal!, 'stream', `opening stream ${id}`));
    const settled = (): void => signal?.removeEventListener('abort', onAbort);
    const timer = setTimeout(() => {
      expire(new KubemuxError(ErrorCode.STREAM_OPEN_TIMEOUT, 'stream', `no SYN_REPLY for stream ${id} within ${wait.timeoutMs} ms`, { streamId: id, origin: 'local' }));
    }, wait.timeoutMs);
    timer.unref();
    signal?.addEventListener('abort', onAbort, { once: true });
    this.#opens.set(id, {
      resolve: (stream) => {
        settled();
        wait.resolve(stream);
      },
      reject: (error) => {
        settled();
        wait.reject(error);
      },
      timer,
    });
  }

  /** Takes the open of stream `id` out of the table (its deadline stopped), to settle it; undefined if none. */
  take(id: number): PendingOpen | undefined {
    const entry = this.#opens.get(id);
    if (entry === undefined) return undefined;
    this.#opens.delete(id);
    clearTimeout(entry.timer);
    return entry;
  }

  /** The ids waiting now (a copy: settling them changes the table). */
  ids(): number[] {
    return [...this.#opens.keys()];
  }

  /** Rejects every open with `error` (the session closed). */
  rejectAll(error: KubemuxError): void {
    for (const id of this.ids()) this.take(id)?.reject(error);
  }
}
