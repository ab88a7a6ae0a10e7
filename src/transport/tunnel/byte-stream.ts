/**
 * WebSocketByteStream: the KEP-4006 tunnel (`SPDY/3.1+portforward.k8s.io`) as a plain byte Duplex,
 * so that a SpdySession can run over a WebSocket exactly as over TCP.
 *
 * Mapping (client-go `tools/portforward/tunneling_connection.go` does the same):
 * - each write() becomes one binary message (the writes Node gathers into one writev become one
 *   message up to {@link MAX_TUNNEL_MESSAGE_BYTES}); message boundaries carry no meaning, the
 *   payloads of all binary messages form one byte stream;
 * - a text message is a protocol error (the connection is closed with 1003);
 * - a close with 1000 is EOF; any other close code, an abnormal closure or a socket error destroys
 *   the stream with a KubemuxError (ERR_TRANSPORT_CLOSED with `closeCode`, or the connection's
 *   own error, e.g. ERR_PROTOCOL for a malformed frame). The peer's close frame and a malformed
 *   frame act at once ('closing'), not when the closing handshake ends: the session above learns
 *   the real error immediately instead of ERR_TRANSPORT_CLOSED after closeTimeoutMs.
 *
 * WebSocket has no half-close: a close frame ends both directions. So end() on this stream starts
 * the closing handshake (close 1000); bytes the peer sends before it answers are still read, but
 * the peer cannot keep sending after it has seen our close. SPDY does its half-closes per stream
 * inside the tunnel, so a SpdySession never needs the transport's.
 *
 * destroy() also closes with a handshake (1000 without an error, 1003 after a text message, 1011
 * for other errors), bounded by the connection's closeTimeoutMs; use connection.destroy() to drop
 * the socket at once.
 */
import { Duplex } from 'node:stream';
import { ErrorCode, KubemuxError } from '../../errors.js';
import { ReadableFeeder } from '../../util/readable-feeder.js';
import type { WebSocketConnection } from '../websocket/connection.js';

/** Options of {@link WebSocketByteStream}. */
export interface WebSocketByteStreamOptions {
  /** Received bytes buffered before the connection is paused. Default 64 KiB. */
  readonly readableHighWaterMark?: number;
  /** Bytes buffered by write() before it returns false. Default 64 KiB. */
  readonly writableHighWaterMark?: number;
}

const DEFAULT_HIGH_WATER_MARK = 64 * 1024;

/**
 * Largest message built from the chunks of one writev. Node hands _writev everything written while
 * the socket was busy (or corked), which under a burst of many streams is megabytes; one message
 * of that size would break a receiver's message limit (16 MiB by default here, with close 1009).
 */
export const MAX_TUNNEL_MESSAGE_BYTES = 1024 * 1024;

/** RFC 6455 section 7.4.1: "received a type of data it cannot accept". */
const CLOSE_UNSUPPORTED_DATA = 1003;
/** RFC 6455 section 7.4.1: "encountered an unexpected condition". */
const CLOSE_INTERNAL_ERROR = 1011;

/** Close reasons must be valid UTF-8 of at most 123 bytes: ASCII and a hard cut guarantee both. */
function closeReasonFor(error: Error): string {
  return error.message.replace(/[^\x20-\x7e]/g, '?').slice(0, 123);
}

/** The error for a WebSocket that closed with a status other than 1000 (1006: without a close frame). */
function closedWith(code: number, reason: string): KubemuxError {
  return new KubemuxError(ErrorCode.TRANSPORT_CLOSED, 'transport', `the WebSocket closed with status ${code}${reason === '' ? '' : ` (${reason})`}`, { closeCode: code });
}

type WriteCallback = (error?: Error | null) => void;

/** A byte Duplex over the binary messages of a {@link WebSocketConnection}. */
export class WebSocketByteStream extends Duplex {
  /** The connection carrying the bytes. */
  readonly connection: WebSocketConnection;
  /** A write waiting for the socket to drain. */
  #pendingWrite: WriteCallback | undefined;
  // Messages can be tiny: while the reader is behind, they are held as coalesced blocks.
  readonly #feeder = new ReadableFeeder(this);
  #readableDone = false;
  /** Close status to send when destroyed with an error (1011 unless a more precise one is known). */
  #failureCloseCode = CLOSE_INTERNAL_ERROR;

  readonly #onMessage = (data: Buffer, isBinary: boolean): void => {
    if (this.destroyed || this.#readableDone) return;
    if (!isBinary) {
      this.#failureCloseCode = CLOSE_UNSUPPORTED_DATA;
      this.destroy(new KubemuxError(ErrorCode.PROTOCOL, 'transport', 'a text message arrived in the SPDY tunnel; only binary messages carry its bytes'));
      return;
    }
    if (data.length === 0) return;
    if (!this.#feeder.push(data)) this.connection.pause();
  };

  readonly #onDrain = (): void => {
    const callback = this.#pendingWrite;
    this.#pendingWrite = undefined;
    callback?.();
  };

  readonly #onClosing = (code: number, reason: string, byPeer: boolean, error?: KubemuxError): void => {
    if (!byPeer) return; // our own end() or destroy() started it
    if (code === 1000 && error === undefined) {
      this.#endReadable();
      return;
    }
    this.#pendingWrite = undefined;
    this.destroy(error ?? closedWith(code, reason));
  };

  readonly #onClose = (code: number, reason: string, error?: KubemuxError): void => {
    const pending = this.#pendingWrite;
    this.#pendingWrite = undefined;
    if (code === 1000 && error === undefined) {
      // The socket flushed what we had queued before it closed cleanly.
      pending?.();
      this.#endReadable();
      return;
    }
    this.destroy(error ?? closedWith(code, reason));
  };

  /** Wraps `connection`, which must be open; the stream owns it from now on. */
  constructor(connection: WebSocketConnection, options: WebSocketByteStreamOptions = {}) {
    super({
      // Without half-close in WebSocket, the end of the readable side ends the writable side too.
      allowHalfOpen: false,
      readableHighWaterMark: options.readableHighWaterMark ?? DEFAULT_HIGH_WATER_MARK,
      writableHighWaterMark: options.writableHighWaterMark ?? DEFAULT_HIGH_WATER_MARK,
    });
    this.connection = connection;
    connection.on('message', this.#onMessage);
    connection.on('drain', this.#onDrain);
    connection.on('closing', this.#onClosing);
    connection.on('close', this.#onClose);
    if (connection.state !== 'open') {
      process.nextTick(() =>
        this.destroy(new KubemuxError(ErrorCode.TRANSPORT_CLOSED, 'transport', `the WebSocket is already ${connection.state}`)),
      );
    }
  }

  override _read(): void {
    this.#feeder.read();
    this.connection.resume();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: WriteCallback): void {
    this.#send([chunk], callback);
  }

  override _writev(chunks: Array<{ chunk: Buffer; encoding: BufferEncoding }>, callback: WriteCallback): void {
    this.#send(
      chunks.map((c) => c.chunk),
      callback,
    );
  }

  override _final(callback: WriteCallback): void {
    if (this.connection.state === 'open') this.connection.close(1000);
    callback();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.#pendingWrite = undefined;
    this.connection.off('message', this.#onMessage);
    this.connection.off('drain', this.#onDrain);
    this.connection.off('closing', this.#onClosing);
    this.connection.off('close', this.#onClose);
    if (this.connection.state === 'open') {
      if (error === null) this.connection.close(1000);
      else this.connection.close(this.#failureCloseCode, closeReasonFor(error));
    }
    callback(error);
  }

  /** The chunks of one writev as few messages as {@link MAX_TUNNEL_MESSAGE_BYTES} allows, in one socket write. */
  #send(chunks: readonly Buffer[], callback: WriteCallback): void {
    const connection = this.connection;
    if (connection.state !== 'open') {
      // The connection's own failure, when it has one, is the real reason the write cannot happen.
      callback(connection.error ?? new KubemuxError(ErrorCode.TRANSPORT_CLOSED, 'transport', `cannot write: the WebSocket is ${connection.state}`));
      return;
    }
    // Everything Node gathered for one write goes out as one message up to the bound (a SPDY
    // frame's header and payload arrive here together): fewer frames, and no 8-byte messages of
    // their own.
    let writable = true;
    let group: Buffer[] = [];
    let groupBytes = 0;
    const flush = (): void => {
      if (group.length === 0) return;
      writable = connection.send(group.length === 1 ? group[0]! : group, { binary: true });
      group = [];
      groupBytes = 0;
    };
    connection.cork();
    for (const chunk of chunks) {
      if (groupBytes > 0 && groupBytes + chunk.length > MAX_TUNNEL_MESSAGE_BYTES) flush();
      group.push(chunk);
      groupBytes += chunk.length;
    }
    flush();
    connection.uncork();
    // Errors of the socket write surface through the connection's 'close', which destroys us.
    if (writable) callback();
    else this.#pendingWrite = callback;
  }

  #endReadable(): void {
    if (this.#readableDone) return;
    this.#readableDone = true;
    this.#feeder.flush();
    this.push(null);
  }
}
