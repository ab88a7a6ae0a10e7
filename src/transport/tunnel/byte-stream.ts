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
import { ErrorCode, KubemuxError } from '../../errors.js';
import { CLOSE_NORMAL, closedWithStatus } from '../websocket/close-codes.js';
import type { WebSocketConnection } from '../websocket/connection.js';
import { MessageDuplex, type WriteCallback } from '../websocket/message-duplex.js';

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

/** A byte Duplex over the binary messages of a {@link WebSocketConnection}. */
export class WebSocketByteStream extends MessageDuplex {
  readonly #onMessage = (data: Buffer, isBinary: boolean): void => {
    if (this.isData(data, isBinary, 'a text message arrived in the SPDY tunnel; only binary messages carry its bytes')) this.deliver(data);
  };

  readonly #onClosing = (code: number, reason: string, byPeer: boolean, error?: KubemuxError): void => {
    if (!byPeer) return; // our own end() or destroy() started it
    if (code === CLOSE_NORMAL && error === undefined) {
      this.endInput();
      return;
    }
    this.dropPendingWrite();
    this.destroy(error ?? closedWithStatus('the WebSocket', code, reason));
  };

  readonly #onClose = (code: number, reason: string, error?: KubemuxError): void => {
    if (code === CLOSE_NORMAL && error === undefined) {
      // The socket flushed what we had queued before it closed cleanly.
      this.settlePendingWrite();
      this.endInput();
      return;
    }
    this.dropPendingWrite();
    this.destroy(error ?? closedWithStatus('the WebSocket', code, reason));
  };

  /** Wraps `connection`, which must be open; the stream owns it from now on. */
  constructor(connection: WebSocketConnection, options: WebSocketByteStreamOptions = {}) {
    super(connection, {
      // Without half-close in WebSocket, the end of the readable side ends the writable side too.
      allowHalfOpen: false,
      readableHighWaterMark: options.readableHighWaterMark ?? DEFAULT_HIGH_WATER_MARK,
      writableHighWaterMark: options.writableHighWaterMark ?? DEFAULT_HIGH_WATER_MARK,
    });
    connection.on('message', this.#onMessage);
    connection.on('closing', this.#onClosing);
    connection.on('close', this.#onClose);
    if (connection.state !== 'open') {
      process.nextTick(() =>
        this.destroy(new KubemuxError(ErrorCode.TRANSPORT_CLOSED, 'transport', `the WebSocket is already ${connection.state}`)),
      );
    }
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
    if (this.connection.state === 'open') this.connection.close(CLOSE_NORMAL);
    callback();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.connection.off('message', this.#onMessage);
    this.connection.off('closing', this.#onClosing);
    this.connection.off('close', this.#onClose);
    super._destroy(error, callback);
  }

  protected override notWritable(): Error {
    // The connection's own failure, when it has one, is the real reason the write cannot happen.
    return this.connection.error ?? new KubemuxError(ErrorCode.TRANSPORT_CLOSED, 'transport', `cannot write: the WebSocket is ${this.connection.state}`);
  }

  /** The chunks of one writev as few messages as {@link MAX_TUNNEL_MESSAGE_BYTES} allows, in one socket write. */
  #send(chunks: readonly Buffer[], callback: WriteCallback): void {
    // Everything Node gathered for one write goes out as one message up to the bound (a SPDY
    // frame's header and payload arrive here together): fewer frames, and no 8-byte messages of
    // their own.
    const messages: Array<Buffer | Buffer[]> = [];
    let group: Buffer[] = [];
    let groupBytes = 0;
    const flush = (): void => {
      if (group.length === 0) return;
      messages.push(group.length === 1 ? group[0]! : group);
      group = [];
      groupBytes = 0;
    };
    for (const chunk of chunks) {
      if (groupBytes > 0 && groupBytes + chunk.length > MAX_TUNNEL_MESSAGE_BYTES) flush();
      group.push(chunk);
      groupBytes += chunk.length;
    }
    flush();
    this.sendMessages(messages, callback);
  }
}
