/**
 * The data side of one v4 pair: a byte Duplex over channel 0 of its own WebSocket (a
 * {@link MessageDuplex}), with the error text of channel 1 in `errors`. The connection's file
 * comment (./connection.ts) says how its ends map onto a protocol without half-close or reset.
 */
import { PortPrefixStripper, dataChannel, errorChannel } from '../../channel/index.js';
import { ErrorCode, KubemuxError } from '../../errors.js';
import { noop } from '../../util/noop.js';
import { ErrorTextCollector } from '../port-forward-connection.js';
import { CLOSE_NO_STATUS, CLOSE_NORMAL, CLOSE_PROTOCOL_ERROR, closedWithStatus } from '../websocket/close-codes.js';
import type { WebSocketConnection } from '../websocket/index.js';
import { MessageDuplex, type WriteCallback } from '../websocket/message-duplex.js';
import type { ResolvedV4Options } from './options.js';

/** The one port of a pair's WebSocket is at index 0: data on channel 0, errors on channel 1. */
const DATA_CHANNEL = dataChannel(0);
const ERROR_CHANNEL = errorChannel(0);
const DATA_CHANNEL_BYTE = Buffer.from([DATA_CHANNEL]);

/** The connection's counters a pair adds to. @internal */
export interface PairCounters {
  dataBytesSent: number;
  dataBytesReceived: number;
  pairErrors: number;
}

/**
 * The data side of one v4 pair (see the file comment).
 * @internal Exposed to callers only as {@link PortStreams.data}.
 */
export class V4DataStream extends MessageDuplex {
  readonly port: number;
  /** See {@link PortStreams.errors}; settles when the WebSocket closes. */
  readonly errors: Promise<string>;
  readonly #resolveErrors: (text: string) => void;
  readonly #errorText = new ErrorTextCollector();
  readonly #stripper: PortPrefixStripper;
  readonly #maxMessageBytes: number;
  readonly #counters: PairCounters;
  #prefixed = false;

  readonly #onMessage = (message: Buffer, isBinary: boolean): void => {
    if (!this.isData(message, isBinary, 'a text message arrived on a v4.channel.k8s.io WebSocket, whose messages are binary')) return;
    let channel: number;
    let payload: Buffer;
    try {
      ({ channel, payload } = this.#stripper.decode(message));
    } catch (error) {
      this.failWith(error as KubemuxError, CLOSE_PROTOCOL_ERROR);
      return;
    }
    if (!this.#prefixed && this.#stripper.prefixReceived(DATA_CHANNEL) && this.#stripper.prefixReceived(ERROR_CHANNEL)) {
      this.#prefixed = true;
      this.emit('prefixed');
    }
    if (payload.length === 0) return;
    if (channel === DATA_CHANNEL) {
      this.#counters.dataBytesReceived += payload.length;
      this.deliver(payload);
    } else {
      this.#errorText.add(payload);
    }
  };

  readonly #onClose = (code: number, reason: string, error?: KubemuxError): void => {
    this.connection.off('message', this.#onMessage);
    const text = this.#errorText.text();
    if (text !== '') this.#counters.pairErrors++;
    this.#resolveErrors(text);
    if (this.destroyed) return;
    if ((code === CLOSE_NORMAL || code === CLOSE_NO_STATUS) && error === undefined) {
      if (text !== '') {
        this.dropPendingWrite();
        this.destroy(new KubemuxError(ErrorCode.STREAM_RESET, 'stream', `the server ended the connection to port ${this.port} with an error: ${text}`));
        return;
      }
      // The socket flushed what we had queued before it closed cleanly.
      this.settlePendingWrite();
      this.endInput();
      return;
    }
    this.dropPendingWrite();
    this.destroy(error ?? closedWithStatus(`the v4 WebSocket for port ${this.port}`, code, reason));
  };

  constructor(connection: WebSocketConnection, port: number, options: ResolvedV4Options, counters: PairCounters) {
    super(connection, {
      // No half-close in v4: once the server has closed, nothing can be written either.
      allowHalfOpen: false,
      readableHighWaterMark: options.readableHighWaterMark,
      writableHighWaterMark: options.writableHighWaterMark,
    });
    this.port = port;
    this.#stripper = new PortPrefixStripper([port]);
    this.#maxMessageBytes = options.maxMessageBytes;
    this.#counters = counters;
    let resolveErrors!: (text: string) => void;
    this.errors = new Promise<string>((resolve) => {
      resolveErrors = resolve;
    });
    this.#resolveErrors = resolveErrors;
    connection.on('message', this.#onMessage);
    connection.on('close', this.#onClose);
    // Failures reach whoever listens; without a listener, a pair nobody watches (its connection
    // destroyed, say) would crash the process with an unhandled 'error'. SpdySession does the same.
    this.on('error', noop);
  }

  /**
   * True once the runtime's port prefix has arrived on both channels ('prefixed' is emitted then):
   * the runtime sends them as soon as it has taken the WebSocket, so a pair without them is a
   * runtime that is stuck.
   */
  get prefixed(): boolean {
    return this.#prefixed;
  }

  /** Which channels still owe their port prefix, for messages. */
  missingPrefixes(): string {
    const data = !this.#stripper.prefixReceived(DATA_CHANNEL);
    const error = !this.#stripper.prefixReceived(ERROR_CHANNEL);
    return data && error ? 'the data and error channels' : data ? 'the data channel' : 'the error channel';
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: WriteCallback): void {
    // Channel byte and payload leave as one message (the server reads one frame as one message).
    const messages: Buffer[][] = [];
    for (let offset = 0; offset < chunk.length; offset += this.#maxMessageBytes) {
      messages.push([DATA_CHANNEL_BYTE, chunk.subarray(offset, offset + this.#maxMessageBytes)]);
    }
    if (this.connection.state === 'open') this.#counters.dataBytesSent += chunk.length;
    this.sendMessages(messages, callback);
  }

  override _final(callback: WriteCallback): void {
    // v4 cannot say "no more data" without closing the whole WebSocket, which would also cut off
    // the pod's reply: nothing is sent, and the WebSocket stays open for the readable side.
    callback();
  }

  protected override notWritable(): Error {
    return new KubemuxError(ErrorCode.TRANSPORT_CLOSED, 'transport', `cannot write to port ${this.port}: its WebSocket is ${this.connection.state}`);
  }
}
