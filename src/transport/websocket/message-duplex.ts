/**
 * MessageDuplex: the one base of every byte Duplex kubemux runs over WebSocket messages (the
 * tunnel's byte stream, the v4 client's data stream, the v4 server's data channel). What they
 * share lives here once:
 *
 * - inbound: payloads are delivered through a ReadableFeeder (tiny messages are coalesced while
 *   the reader is behind); a full buffer pauses the input, a read resumes it. By default that is
 *   the whole connection; a Duplex that shares its connection with others overrides
 *   {@link MessageDuplex.pauseInput}/{@link MessageDuplex.resumeInput};
 * - outbound: a write's messages leave corked, in one socket write; when the socket's buffer is
 *   over its mark the write's callback waits for the connection's 'drain' (one pending write);
 * - ends: destroy() closes the connection (1000 without an error; with one, the status set by
 *   {@link MessageDuplex.failWith}, 1011 by default, and the error's message as the reason).
 *
 * What a message means (framing, channels, prefixes) and how a close ends the stream are the
 * subclass's: each listens to the connection events it needs.
 */
import { Duplex, type DuplexOptions } from 'node:stream';
import { ErrorCode, KubemuxError } from '../../errors.js';
import { ReadableFeeder } from '../../util/readable-feeder.js';
import { CLOSE_INTERNAL_ERROR, CLOSE_NORMAL, CLOSE_UNSUPPORTED_DATA, closeReasonFor } from './close-codes.js';
import type { WebSocketConnection } from './connection.js';

/** A Writable's write callback. */
export type WriteCallback = (error?: Error | null) => void;

/** Options of {@link MessageDuplex}: the Duplex's own (half-open, high-water marks). */
export type MessageDuplexOptions = Pick<DuplexOptions, 'allowHalfOpen' | 'readableHighWaterMark' | 'writableHighWaterMark'>;

/** A byte Duplex over the binary messages of a {@link WebSocketConnection}; see the file comment. */
export abstract class MessageDuplex extends Duplex {
  /** The connection carrying the messages. */
  readonly connection: WebSocketConnection;
  /** A write waiting for the socket to drain. */
  #pendingWrite: WriteCallback | undefined;
  // Messages can be tiny: while the reader is behind, they are held as coalesced blocks.
  readonly #feeder = new ReadableFeeder(this);
  #inputEnded = false;
  /** Close status to send when destroyed with an error (1011 unless a more precise one is known). */
  #failureCloseCode = CLOSE_INTERNAL_ERROR;

  readonly #onDrain = (): void => this.settlePendingWrite();

  protected constructor(connection: WebSocketConnection, options: MessageDuplexOptions) {
    super(options);
    this.connection = connection;
    connection.on('drain', this.#onDrain);
  }

  /** True once the input has ended (or this Duplex is destroyed): later payloads are dropped. */
  protected get inputEnded(): boolean {
    return this.#inputEnded || this.destroyed;
  }

  /**
   * True when `message` is data to read: the input is still open and it is a non-empty binary
   * message. A text message fails the stream with ERR_PROTOCOL (`textError`) and close 1003.
   */
  protected isData(message: Buffer, isBinary: boolean, textError: string): boolean {
    if (this.inputEnded) return false;
    if (!isBinary) {
      this.failWith(new KubemuxError(ErrorCode.PROTOCOL, 'transport', textError), CLOSE_UNSUPPORTED_DATA);
      return false;
    }
    return message.length > 0;
  }

  /** Hands received bytes to the reader; a full buffer pauses the input. */
  protected deliver(payload: Buffer): void {
    if (this.inputEnded) return;
    if (!this.#feeder.push(payload)) this.pauseInput();
  }

  /** Ends the readable side after what was delivered (once). */
  protected endInput(): void {
    if (this.inputEnded) return;
    this.#inputEnded = true;
    this.#feeder.flush();
    this.push(null);
  }

  /** Stops the input while the reader is behind: by default, the whole connection. */
  protected pauseInput(): void {
    this.connection.pause();
  }

  /** Lets the input flow again. */
  protected resumeInput(): void {
    this.connection.resume();
  }

  /** Why a write cannot happen on a connection that is not open. */
  protected abstract notWritable(): Error;

  /**
   * Sends `messages` (each one binary message: a Buffer, or Buffers sent as one) corked, in one
   * socket write; `callback` runs now, or at the connection's 'drain' when the socket is over its
   * mark; with {@link notWritable} when the connection is not open.
   */
  protected sendMessages(messages: ReadonlyArray<Buffer | readonly Buffer[]>, callback: WriteCallback): void {
    const connection = this.connection;
    if (connection.state !== 'open') {
      callback(this.notWritable());
      return;
    }
    let writable = true;
    connection.cork();
    for (const message of messages) writable = connection.send(message, { binary: true });
    connection.uncork();
    // A failed socket write surfaces as the connection's 'close', which the subclass handles.
    if (writable) callback();
    else this.#pendingWrite = callback;
  }

  /**
   * Completes the write waiting for 'drain': successfully (the socket flushed it, e.g. before it
   * closed cleanly), or with `error`.
   */
  protected settlePendingWrite(error?: Error): void {
    const callback = this.#pendingWrite;
    this.#pendingWrite = undefined;
    callback?.(error);
  }

  /** Forgets the pending write (the stream is failing; its callback no longer matters). */
  protected dropPendingWrite(): void {
    this.#pendingWrite = undefined;
  }

  /** Destroys this stream with `error`, closing the connection with `closeCode`. */
  protected failWith(error: Error, closeCode: number): void {
    this.#failureCloseCode = closeCode;
    this.destroy(error);
  }

  /**
   * How destroy() ends the connection: a closing handshake (1000, or the failure status with the
   * error's message as reason) while it is open. A Duplex that shares its connection overrides it.
   */
  protected endConnection(error: Error | null): void {
    if (this.connection.state !== 'open') return;
    if (error === null) this.connection.close(CLOSE_NORMAL);
    else this.connection.close(this.#failureCloseCode, closeReasonFor(error));
  }

  override _read(): void {
    this.#feeder.read();
    this.resumeInput();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.#pendingWrite = undefined;
    this.connection.off('drain', this.#onDrain);
    this.endConnection(error);
    callback(error);
  }
}
