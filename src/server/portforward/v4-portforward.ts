/**
 * The runtime side of the WebSocket v4 channel protocol (`v4.channel.k8s.io`), as the
 * Kubernetes streaming library serves it: the ports come from the request (`?ports=P1&ports=P2`);
 * for the i-th port, channel 2i carries data both ways and channel 2i+1 the server's error text;
 * each channel's first server message is the port as 2 bytes little-endian. Every port is dialed
 * at once, one pod connection per port per WebSocket. There is no half-close: when every port's
 * connection has ended the server closes the WebSocket (1000); when the client closes it, the
 * pod connections are closed.
 */
import { ErrorCode, KubemuxError } from '../../errors.js';
import { CLOSE_NO_STATUS, CLOSE_NORMAL } from '../../transport/websocket/close-codes.js';
import type { WebSocketConnection } from '../../transport/websocket/index.js';
import { MessageDuplex, type WriteCallback } from '../../transport/websocket/message-duplex.js';
import { IdleTimer } from '../../util/idle-timer.js';
import { dataChannel, decodeChannelMessage, encodeChannelMessage, encodePortPrefix, errorChannel, isErrorChannel, portIndexOf } from '../../channel/index.js';
import { forwardToPod, type ForwardCounters } from './forward-to-pod.js';
import type { DialFunction } from './pod-dialer.js';
import type { PodTarget } from './types.js';

/** What {@link serveV4PortForward} needs from the endpoint. */
export interface V4PortForwardContext {
  readonly pod: PodTarget;
  readonly dial: DialFunction;
  readonly counters: ForwardCounters & { streams: number };
  /** Close the WebSocket (1000) after this long without a message either way, ms; 0: never. */
  readonly idleTimeoutMs: number;
}

/**
 * One data channel as a Duplex (a {@link MessageDuplex}), so the forwarding code is the same as
 * for a SPDY data stream. The WebSocket carries every port of the request: the channels share its
 * input (a full one pauses it for all) and leave closing it to {@link serveV4PortForward}. Its
 * readable side ends when the WebSocket closes (the protocol has no other end signal).
 */
class DataChannel extends MessageDuplex {
  readonly #channel: number;
  readonly #onFull: (full: boolean) => void;
  readonly #onSend: () => void;

  constructor(connection: WebSocketConnection, channel: number, onFull: (full: boolean) => void, onSend: () => void) {
    super(connection, { allowHalfOpen: true, readableHighWaterMark: 256 * 1024 });
    this.#channel = channel;
    this.#onFull = onFull;
    this.#onSend = onSend;
  }

  /** Bytes the client sent on this channel. */
  receive(payload: Buffer): void {
    this.deliver(payload);
  }

  /**
   * The WebSocket closed: the client's side ends after what was delivered, and a write waiting
   * for 'drain' completes (flushed when the close was clean, failed otherwise).
   */
  connectionClosed(code: number, error: KubemuxError | undefined): void {
    this.endInput();
    const clean = (code === CLOSE_NORMAL || code === CLOSE_NO_STATUS) && error === undefined;
    this.settlePendingWrite(clean ? undefined : (error ?? this.notWritable()));
  }

  override _final(callback: (error?: Error | null) => void): void {
    // The pod ended its side. v4 has no half-close, so the client's side ends here too and the
    // forwarding is over (containerd likewise closes the pod connection at most 1 s after either
    // direction ends); without this the WebSocket would stay open until the client closed it.
    this.endInput();
    callback();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: WriteCallback): void {
    this.#onSend();
    this.sendMessages([encodeChannelMessage(this.#channel, chunk)], callback);
  }

  protected override pauseInput(): void {
    this.#onFull(true);
  }

  protected override resumeInput(): void {
    this.#onFull(false);
  }

  /** The WebSocket carries the other ports too: serveV4PortForward closes it once every port has ended. */
  protected override endConnection(): void {}

  protected override notWritable(): Error {
    return new KubemuxError(ErrorCode.TRANSPORT_CLOSED, 'transport', `cannot write to channel ${this.#channel}: the WebSocket is ${this.connection.state}`);
  }
}

/** Serves the ports of one v4 WebSocket until it closes. */
export function serveV4PortForward(connection: WebSocketConnection, ports: readonly number[], context: V4PortForwardContext): void {
  const full = new Set<number>();
  const setFull = (channel: number, isFull: boolean): void => {
    if (isFull) full.add(channel);
    else full.delete(channel);
    if (full.size > 0) connection.pause();
    else connection.resume();
  };
  // The kubelet's idle timeout (wsstream's deadline, restarted by traffic): nothing either way for
  // idleTimeoutMs closes the WebSocket, as x/net/websocket's Close does (1000).
  const idle =
    context.idleTimeoutMs > 0
      ? new IdleTimer(context.idleTimeoutMs, () => {
          if (connection.state === 'open') connection.close(CLOSE_NORMAL, 'idle timeout');
        })
      : undefined;
  const touch = (): void => idle?.touch();
  const channels = ports.map(
    (_, index) =>
      new DataChannel(
        connection,
        dataChannel(index),
        (isFull) => setFull(dataChannel(index), isFull),
        touch,
      ),
  );
  let open = ports.length;

  for (const [index, port] of ports.entries()) {
    connection.send(encodeChannelMessage(dataChannel(index), encodePortPrefix(port)), { binary: true });
    connection.send(encodeChannelMessage(errorChannel(index), encodePortPrefix(port)), { binary: true });
  }

  connection.on('ping', touch);
  connection.on('pong', touch);
  connection.on('message', (message, isBinary) => {
    touch();
    if (!isBinary || message.length === 0) return; // the server ignores what it cannot use
    let decoded;
    try {
      decoded = decodeChannelMessage(message, ports.length * 2);
    } catch {
      return; // data for channels that do not exist is ignored, as the Kubernetes server does
    }
    // Clients must not write on error channels; what they send there is discarded.
    if (isErrorChannel(decoded.channel) || decoded.payload.length === 0) return;
    channels[portIndexOf(decoded.channel)]?.receive(decoded.payload);
  });

  connection.on('close', (code, _reason, error) => {
    idle?.stop();
    for (const channel of channels) channel.connectionClosed(code, error);
  });

  for (const [index, port] of ports.entries()) {
    const channel = channels[index]!;
    context.counters.streams++;
    void forwardToPod({
      pod: context.pod,
      port,
      client: channel,
      dial: context.dial,
      counters: context.counters,
      reportError: (message) => {
        connection.send(encodeChannelMessage(errorChannel(index), Buffer.from(message, 'utf8')), { binary: true });
        channel.destroy();
      },
    }).finally(() => {
      open--;
      if (open === 0 && connection.state === 'open') connection.close(CLOSE_NORMAL);
    });
  }
}
