/**
 * The runtime side of the WebSocket v4 channel protocol (`v4.channel.k8s.io`), as the
 * Kubernetes streaming library serves it: the ports come from the request (`?ports=P1&ports=P2`);
 * for the i-th port, channel 2i carries data both ways and channel 2i+1 the server's error text;
 * each channel's first server message is the port as 2 bytes little-endian. Every port is dialed
 * at once, one pod connection per port per WebSocket. There is no half-close: when every port's
 * connection has ended the server closes the WebSocket (1000); when the client closes it, the
 * pod connections are closed.
 */
import { Duplex } from 'node:stream';
import type { WebSocketConnection } from '../../transport/websocket/index.js';
import { dataChannel, decodeChannelMessage, encodeChannelMessage, encodePortPrefix, errorChannel, isErrorChannel, portIndexOf } from '../../ws/index.js';
import { forwardToPod, type ForwardCounters } from './forward-to-pod.js';
import type { DialFunction } from './pod-dialer.js';
import type { PodTarget } from './types.js';

/** What {@link serveV4PortForward} needs from the endpoint. */
export interface V4PortForwardContext {
  readonly pod: PodTarget;
  readonly dial: DialFunction;
  readonly counters: ForwardCounters & { streams: number };
}

/**
 * One data channel as a Duplex, so the forwarding code is the same as for a SPDY data stream.
 * Its readable side ends when the WebSocket closes (the protocol has no other end signal).
 */
class DataChannel extends Duplex {
  readonly #connection: WebSocketConnection;
  readonly #channel: number;
  readonly #onFull: (full: boolean) => void;
  #podEnded = false;

  constructor(connection: WebSocketConnection, channel: number, onFull: (full: boolean) => void) {
    super({ allowHalfOpen: true, readableHighWaterMark: 256 * 1024 });
    this.#connection = connection;
    this.#channel = channel;
    this.#onFull = onFull;
  }

  /** Bytes the client sent on this channel. */
  deliver(payload: Buffer): void {
    if (this.readableEnded || this.destroyed || this.#podEnded) return;
    if (!this.push(payload)) this.#onFull(true);
  }

  override _final(callback: (error?: Error | null) => void): void {
    // The pod ended its side. v4 has no half-close, so the client's side ends here too and the
    // forwarding is over (containerd likewise closes the pod connection at most 1 s after either
    // direction ends); without this the WebSocket would stay open until the client closed it.
    this.#podEnded = true;
    this.push(null);
    callback();
  }

  override _read(): void {
    this.#onFull(false);
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.#connection.send(encodeChannelMessage(this.#channel, chunk), { binary: true }, (error) => callback(error ?? null));
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
  const channels = ports.map((_, index) => new DataChannel(connection, dataChannel(index), (isFull) => setFull(dataChannel(index), isFull)));
  let open = ports.length;

  for (const [index, port] of ports.entries()) {
    connection.send(encodeChannelMessage(dataChannel(index), encodePortPrefix(port)), { binary: true });
    connection.send(encodeChannelMessage(errorChannel(index), encodePortPrefix(port)), { binary: true });
  }

  connection.on('message', (message, isBinary) => {
    if (!isBinary || message.length === 0) return; // the server ignores what it cannot use
    let decoded;
    try {
      decoded = decodeChannelMessage(message, ports.length * 2);
    } catch {
      return; // data for channels that do not exist is ignored, as the Kubernetes server does
    }
    // Clients must not write on error channels; what they send there is discarded.
    if (isErrorChannel(decoded.channel) || decoded.payload.length === 0) return;
    channels[portIndexOf(decoded.channel)]?.deliver(decoded.payload);
  });

  connection.on('close', () => {
    for (const channel of channels) {
      if (channel.readableEnded || channel.destroyed) continue;
      channel.push(null);
    }
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
      if (open === 0 && connection.state === 'open') connection.close(1000);
    });
  }
}
