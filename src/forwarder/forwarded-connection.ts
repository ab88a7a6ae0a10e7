/**
 * One forwarded local connection: an accepted socket, its pair, and the splice between them.
 *
 * - The pair is opened on accept, not on the first byte, so that protocols where the server
 *   speaks first (a database greeting) work. What the client sends early (its EOF included)
 *   waits, bounded by the socket's buffer and then the kernel's, until the pair is there; a reset
 *   from the client aborts the open.
 * - Bytes flow both ways with backpressure and half-close (src/util/splice.ts): a local FIN
 *   becomes `data.end()`, the pod's FIN the socket's `end()`.
 * - Any failure resets the local socket (RST), never ends it cleanly, so that a client cannot
 *   take a cut response for a complete one: the pair could not be opened, `data` failed (the
 *   stream was reset, the connection was lost), or the server sent error text for this pair.
 * - `data` is always destroyed once done with (the PortStreams contract).
 * - Nothing here touches another connection: its errors are its own.
 *
 * States (one private state, checked transitions):
 *
 *   opening ──pair opened──▶ open ──splice settled──▶ ending ──error text known──▶ finished
 *      │                      │                        │
 *      │                      └── abort: both reset ──▶ (settles, then) ──────────▶ finished
 *      └── open failed / local socket closed / abort ─────────────────────────────▶ finished
 *
 * `ending` waits for the pair's error text (it follows the data stream's end at once on a healthy
 * server, or is cut short by the transport after a grace period): a failure the server reports only
 * after the end still becomes `connectionFailed`, and resets the socket if it is still open.
 *
 * Memory: no timer, no buffer beyond data in flight (the splice holds at most one chunk past a
 * high-water mark), a few small objects (this one, the splice, two promise reactions); all of it
 * is dropped when the connection finishes.
 */
import type net from 'node:net';
import { ErrorCode, KubemuxError } from '../errors.js';
import type { PortStreamOpener, PortStreams } from '../transport/port-forward-connection.js';
import { resetStream, splice, type SpliceDirection, type SpliceResult } from '../util/splice.js';
import type { ConnectionClosedInfo, ConnectionFailedInfo, ConnectionOpenedInfo } from './events.js';

/** How a connection ended. @internal */
export type ConnectionEnd = { readonly kind: 'closed'; readonly info: ConnectionClosedInfo } | { readonly kind: 'failed'; readonly info: ConnectionFailedInfo };

/** What a connection needs from its forwarder. @internal */
export interface ConnectionHost {
  readonly opener: PortStreamOpener;
  readonly openTimeoutMs: number;
  /** Shared by every connection's splice (no closure per connection): live byte totals. */
  readonly countChunk: (direction: SpliceDirection, bytes: number) => void;
  opened(connection: ForwardedConnection, info: ConnectionOpenedInfo): void;
  ended(connection: ForwardedConnection, end: ConnectionEnd): void;
}

type ConnectionState = 'opening' | 'open' | 'ending' | 'finished';

const TRANSITIONS: Readonly<Record<ConnectionState, readonly ConnectionState[]>> = {
  opening: ['open', 'finished'],
  open: ['ending'],
  ending: ['finished'],
  finished: [],
};

/** Errors of a local socket are reported through its 'close' (before the pair) or the splice. */
function ignore(): void {}

/** The error for a pair whose server sent error text. */
function errorTextFailure(port: number, text: string): KubemuxError {
  return new KubemuxError(ErrorCode.STREAM_RESET, 'stream', `the server ended the connection to port ${port} with an error: ${text}`);
}

/** Any failure as a KubemuxError (an opener that is not kubemux's may fail with anything). */
function asKubemuxError(error: unknown, port: number): KubemuxError {
  if (error instanceof KubemuxError) return error;
  const message = error instanceof Error ? error.message : String(error);
  return new KubemuxError(ErrorCode.STREAM_RESET, 'stream', `the connection to port ${port} failed: ${message}`, { cause: error });
}

/** One accepted local socket and its pair; see the file comment. @internal */
export class ForwardedConnection {
  readonly id: number;
  readonly remotePort: number;
  readonly #socket: net.Socket;
  readonly #host: ConnectionHost;
  readonly #acceptedAt = performance.now();
  #state: ConnectionState = 'opening';
  /** Aborts the open; only while opening. */
  #opening: AbortController | undefined;
  #pair: PortStreams | undefined;
  #result: SpliceResult | undefined;
  /** The pair's error text, once it is known. */
  #errorText: string | undefined;
  /** Why the forwarder cut this connection, when it did. */
  #abortError: KubemuxError | undefined;

  readonly #onEarlyClose = (): void => {
    if (this.#state !== 'opening') return;
    this.#opening?.abort(new KubemuxError(ErrorCode.ABORTED, 'stream', 'the local connection closed before its pair opened'));
    this.#opening = undefined;
    this.#finish({ kind: 'closed', info: this.#closedInfo('local-closed') });
  };

  constructor(id: number, socket: net.Socket, remotePort: number, host: ConnectionHost) {
    this.id = id;
    this.#socket = socket;
    this.remotePort = remotePort;
    this.#host = host;
  }

  /** Opens the pair. */
  start(): void {
    const socket = this.#socket;
    socket.on('error', ignore);
    socket.once('close', this.#onEarlyClose);
    // Read (without consuming) while the pair opens, so that a reset from the client is noticed
    // and aborts the open. What the client sends meanwhile waits in the socket's buffer, up to its
    // high-water mark, then in the kernel. A FIN is not a close: it waits there too, and reaches
    // the pod as a half-close once the pair is open (a client may send a request and its EOF at
    // once, then wait for the reply).
    socket.read(0);
    const opening = new AbortController();
    this.#opening = opening;
    let pair: Promise<PortStreams>;
    try {
      pair = this.#host.opener.openPortStreams(this.remotePort, { timeoutMs: this.#host.openTimeoutMs, signal: opening.signal });
    } catch (error) {
      pair = Promise.reject(error);
    }
    pair.then(
      (opened) => this.#opened(opened),
      (error: unknown) => this.#openFailed(error),
    );
  }

  /**
   * Cuts the connection (the forwarder is closing): its socket is reset and its pair destroyed;
   * it ends with `connectionFailed` and `error`, unless its splice had already settled.
   */
  abort(error: KubemuxError): void {
    switch (this.#state) {
      case 'opening':
        this.#opening?.abort(error);
        this.#opening = undefined;
        resetStream(this.#socket);
        this.#finish({ kind: 'failed', info: this.#failedInfo(error) });
        return;
      case 'open':
        // The splice settles on the resets and ends the connection with this error.
        this.#abortError = error;
        resetStream(this.#socket);
        this.#pair!.data.destroy();
        return;
      case 'ending':
        // The splice is over; only the error text was awaited.
        this.#conclude();
        return;
      case 'finished':
        return;
    }
  }

  #opened(pair: PortStreams): void {
    const socket = this.#socket;
    if (this.#state !== 'opening') {
      // The socket closed, or the forwarder aborted, while the opener ignored the signal.
      pair.data.destroy();
      return;
    }
    this.#opening = undefined;
    socket.off('close', this.#onEarlyClose);
    this.#pair = pair;
    this.#transition('open');
    this.#host.opened(this, {
      id: this.id,
      localAddress: socket.localAddress ?? '',
      localPort: socket.localPort ?? 0,
      clientAddress: socket.remoteAddress ?? '',
      clientPort: socket.remotePort ?? 0,
      remotePort: this.remotePort,
      requestId: pair.requestId,
    });
    void splice(socket, pair.data, { onChunk: this.#host.countChunk }).then((result) => this.#spliced(result));
    void pair.errors.then((text) => this.#errorsKnown(text));
  }

  #openFailed(error: unknown): void {
    if (this.#state !== 'opening') return;
    this.#opening = undefined;
    resetStream(this.#socket);
    this.#finish({ kind: 'failed', info: this.#failedInfo(asKubemuxError(error, this.remotePort)) });
  }

  #spliced(result: SpliceResult): void {
    this.#result = result;
    this.#pair!.data.destroy();
    // Both directions ended: closing the socket now sends nothing more (its FIN is out).
    if (result.outcome === 'done') this.#socket.destroy();
    this.#transition('ending');
    if (this.#abortError !== undefined || this.#errorText !== undefined) this.#conclude();
  }

  #errorsKnown(text: string): void {
    this.#errorText = text;
    if (text !== '' && this.#state === 'open') {
      // Error text means this connection failed, whatever the data stream says: the splice
      // resets the socket and settles with this error.
      this.#pair!.data.destroy(errorTextFailure(this.remotePort, text));
      return;
    }
    if (this.#state === 'ending') this.#conclude();
  }

  /** Ends the connection once the splice has settled, from its result and the error text. */
  #conclude(): void {
    const result = this.#result!;
    const text = this.#errorText ?? '';
    if (this.#abortError !== undefined) {
      this.#finish({ kind: 'failed', info: this.#failedInfo(this.#abortError) });
    } else if (text !== '') {
      // Reported after a clean end: too late to spare the client an EOF, but a socket still open
      // is reset all the same.
      resetStream(this.#socket);
      this.#finish({ kind: 'failed', info: this.#failedInfo(errorTextFailure(this.remotePort, text)) });
    } else if (result.outcome === 'done') {
      this.#finish({ kind: 'closed', info: this.#closedInfo('done') });
    } else if (result.endedBy === 'a') {
      this.#finish({ kind: 'closed', info: this.#closedInfo('local-closed') });
    } else {
      const error =
        result.error === undefined
          ? new KubemuxError(ErrorCode.STREAM_RESET, 'stream', `the stream to port ${this.remotePort} closed before both directions had ended`)
          : asKubemuxError(result.error, this.remotePort);
      this.#finish({ kind: 'failed', info: this.#failedInfo(error) });
    }
  }

  #closedInfo(reason: ConnectionClosedInfo['reason']): ConnectionClosedInfo {
    return {
      id: this.id,
      remotePort: this.remotePort,
      ...(this.#pair === undefined ? {} : { requestId: this.#pair.requestId }),
      reason,
      bytesToPod: this.#result?.bytesAToB ?? 0,
      bytesFromPod: this.#result?.bytesBToA ?? 0,
      durationMs: performance.now() - this.#acceptedAt,
    };
  }

  #failedInfo(error: KubemuxError): ConnectionFailedInfo {
    return {
      id: this.id,
      remotePort: this.remotePort,
      ...(this.#pair === undefined ? {} : { requestId: this.#pair.requestId }),
      error,
      bytesToPod: this.#result?.bytesAToB ?? 0,
      bytesFromPod: this.#result?.bytesBToA ?? 0,
      durationMs: performance.now() - this.#acceptedAt,
    };
  }

  #finish(end: ConnectionEnd): void {
    this.#transition('finished');
    this.#host.ended(this, end);
  }

  #transition(to: ConnectionState): void {
    if (!TRANSITIONS[this.#state].includes(to)) throw new Error(`forwarded connection ${this.id}: no transition ${this.#state} -> ${to}`);
    this.#state = to;
  }
}
