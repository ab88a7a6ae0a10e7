/**
 * One SPDY stream as a Node Duplex, so callers can `pipeline(socket, stream, socket)` and
 * backpressure works end to end.
 *
 *   end()          -> DATA with FIN (half-close: the readable side stays open)
 *   destroy(err)   -> RST_STREAM CANCEL, unless both directions already ended cleanly
 *   remote FIN     -> the readable side ends ('end'); writing may go on
 *   remote RST     -> the stream is destroyed with a KubemuxError carrying the RST status
 *
 * Lifecycle: each direction closes on its own; the stream leaves the session when both have,
 * or at the first reset. The state machine and its diagram are in stream-state.ts.
 *
 * All wire work is done by the session through the small {@link StreamHost} interface, so this
 * file knows nothing about frames or sockets.
 */
import { Duplex } from 'node:stream';
import type { HeaderBlock } from '../spdy/index.js';
import { ReadableFeeder } from '../util/readable-feeder.js';
import type { PendingWrite } from './data-sender.js';
import type { FlowControl } from './flow-control.js';
import { StreamState } from './stream-state.js';

/** What a stream needs from its session. Implemented by SpdySession. @internal */
export interface StreamHost {
  writeData(stream: SpdyStream, chunk: Buffer, callback: (error?: Error | null) => void): void;
  writeFin(stream: SpdyStream, callback: (error?: Error | null) => void): void;
  acceptStream(stream: SpdyStream): void;
  rejectStream(stream: SpdyStream, status: number): void;
  streamConsumed(stream: SpdyStream): void;
  streamDestroyed(stream: SpdyStream, error: Error | null): void;
}

/** Who opened a stream. */
export type StreamInitiator = 'local' | 'remote';

/** What the session gives a new stream. @internal */
export interface SpdyStreamInit {
  readonly id: number;
  readonly initiator: StreamInitiator;
  readonly headers: HeaderBlock;
  readonly host: StreamHost;
  readonly receiveBufferBytes: number;
  readonly writeBufferBytes: number;
  /** Estimated heap of the peer's header block (streams the peer opened). */
  readonly headerBytes?: number;
}

/** One SPDY stream as a Node Duplex (see the file comment for the lifecycle). */
export class SpdyStream extends Duplex {
  /** The SPDY stream id: odd when the client opened it, even when the server did. */
  readonly id: number;
  /** Which side opened the stream. */
  readonly initiator: StreamInitiator;
  /** The headers of the SYN_STREAM that opened the stream (ours or the peer's). */
  readonly headers: HeaderBlock;

  readonly #host: StreamHost;
  // Payload goes in through the feeder: a reader that is behind holds coalesced blocks, not one
  // object per (possibly 1-byte) DATA frame.
  readonly #feeder = new ReadableFeeder(this);

  // The lifecycle (stream-state.ts): one state, moved only through its checked transitions.
  readonly #state: StreamState;
  #receivedBytes = 0;

  // The send side, written only by data-sender.ts (kept here so that a frame finds them without a lookup).
  /** @internal The peer's window for this stream (enforced once the peer uses flow control). */
  sendWindow: FlowControl | undefined;
  /** @internal The write waiting for send window. */
  pendingWrite: PendingWrite | undefined;

  /** @internal Estimated heap of the peer's header block this stream holds (the session's header budget). */
  readonly headerBytes: number;

  /** @internal Use SpdySession.openStream() or the session's 'stream' event. */
  constructor(init: SpdyStreamInit) {
    super({
      allowHalfOpen: true,
      readableHighWaterMark: init.receiveBufferBytes,
      writableHighWaterMark: init.writeBufferBytes,
    });
    this.id = init.id;
    this.initiator = init.initiator;
    this.headers = init.headers;
    this.#host = init.host;
    this.headerBytes = init.headerBytes ?? 0;
    this.#state = new StreamState(init.id);
  }

  /** @internal The lifecycle state, driven by the session (see stream-state.ts). */
  get lifecycle(): StreamState {
    return this.#state;
  }

  /** @internal DATA payload bytes received and pushed into the readable side. */
  get receivedBytes(): number {
    return this.#receivedBytes;
  }

  /** The first value of a SYN_STREAM header, e.g. `stream.header('streamtype')`. */
  header(name: string): string | undefined {
    return this.headers.get(name)?.[0];
  }

  /**
   * Accepts a stream the peer opened: sends SYN_REPLY with an empty header block, as the
   * Kubernetes side does. Writing to a stream not yet accepted accepts it.
   */
  accept(): void {
    this.#host.acceptStream(this);
  }

  /** Refuses a stream the peer opened with RST_STREAM (default REFUSED_STREAM). */
  reject(status?: number): void {
    this.#host.rejectStream(this, status ?? 3);
  }

  /** @internal Delivers received payload; false when the reader is behind (buffer over its mark). */
  deliver(data: Buffer): boolean {
    this.#receivedBytes += data.length;
    return this.#feeder.push(data);
  }

  /** @internal The peer's FIN: ends the readable side after what was delivered. */
  deliverEnd(): void {
    this.#feeder.flush();
    this.push(null);
  }

  /** @internal Received bytes not yet read: the readable buffer plus what the feeder holds back. */
  get unreadBytes(): number {
    return this.readableLength + this.#feeder.heldBytes;
  }

  override read(size?: number): unknown {
    const chunk: unknown = super.read(size);
    // Every read may free receive buffer: the session uses it to resume a paused transport and
    // to return window to a peer that uses flow control.
    this.#host.streamConsumed(this);
    return chunk;
  }

  override _read(): void {
    // Nothing to fetch: the session pushes payload as frames arrive (consumption is tracked in
    // read() above, which also runs for every read Node's stream machinery makes). Bytes the
    // feeder held back while the reader was behind go in now.
    this.#feeder.read();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.#host.writeData(this, chunk, callback);
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.#host.writeFin(this, callback);
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.#host.streamDestroyed(this, error);
    callback(error);
  }
}
