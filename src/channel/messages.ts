/**
 * The v4 channel protocol of Kubernetes WebSocket port-forward (`v4.channel.k8s.io`), as a pure
 * codec: no I/O, no timers.
 *
 * Every WebSocket message is one channel byte followed by the payload. For the i-th port of the
 * request's `?ports=` list, channel 2i carries data both ways and channel 2i+1 carries error text
 * from the server. Right after the upgrade the server sends, as the first bytes of every channel,
 * the port number as 2 bytes little-endian (`handleWebSocketStreams` in the kubelet's streaming
 * library); clients strip it. The client sends no prefix.
 *
 * Sources: kubernetes/apimachinery `pkg/util/httpstream/wsstream/conn.go`, kubelet
 * `portforward/websocket.go`, @kubernetes/client-node `src/portforward.ts`.
 */
import { Buffer } from 'node:buffer';
import { ErrorCode, KubemuxError } from '../errors.js';
import { usage } from '../util/validate.js';

/** Channels are one byte. */
export const MAX_CHANNEL = 255;

/** Two channels per port, so at most 128 ports on one connection. */
export const MAX_PORTS = (MAX_CHANNEL + 1) / 2;

/** Bytes of the port prefix at the start of each server channel. */
export const PORT_PREFIX_BYTES = 2;

/** One decoded message. */
export interface ChannelMessage {
  readonly channel: number;
  /** A view into the message (not a copy). */
  readonly payload: Buffer;
}

function protocol(message: string): KubemuxError {
  return new KubemuxError(ErrorCode.PROTOCOL, 'session', message);
}

function checkPortIndex(portIndex: number): void {
  if (!Number.isInteger(portIndex) || portIndex < 0 || portIndex >= MAX_PORTS) {
    usage(`port index ${String(portIndex)} is outside 0..${MAX_PORTS - 1}`);
  }
}

function checkChannel(channel: number): void {
  if (!Number.isInteger(channel) || channel < 0 || channel > MAX_CHANNEL) usage(`channel ${String(channel)} is outside 0..${MAX_CHANNEL}`);
}

/** The data channel of the `portIndex`-th requested port: 2·i. */
export function dataChannel(portIndex: number): number {
  checkPortIndex(portIndex);
  return portIndex * 2;
}

/** The error channel of the `portIndex`-th requested port: 2·i + 1 (server to client only). */
export function errorChannel(portIndex: number): number {
  checkPortIndex(portIndex);
  return portIndex * 2 + 1;
}

/** Which requested port a channel belongs to. */
export function portIndexOf(channel: number): number {
  checkChannel(channel);
  return channel >> 1;
}

/** True for error channels (odd numbers). */
export function isErrorChannel(channel: number): boolean {
  checkChannel(channel);
  return (channel & 1) === 1;
}

/**
 * Encodes one message as `[channel byte, payload]`. The payload is not copied: a sender that can
 * write a list writes both parts as one WebSocket message, and one that needs a single buffer
 * concatenates them (once). Throws ERR_INVALID_ARGUMENT (usage) for a channel outside 0..255.
 */
export function encodeChannelMessage(channel: number, payload: Uint8Array): readonly [Buffer, Buffer] {
  checkChannel(channel);
  const body = Buffer.isBuffer(payload) ? payload : Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength);
  return [Buffer.from([channel]), body];
}

/**
 * Decodes one message. `channelCount` is the number of channels the connection has (2 × ports);
 * by default any byte is accepted. Throws ERR_PROTOCOL (scope 'session') for an empty message or a
 * channel at or above `channelCount`. The Kubernetes server ignores such messages, while
 * client-node disconnects; the caller picks by catching or not.
 */
export function decodeChannelMessage(message: Uint8Array, channelCount: number = MAX_CHANNEL + 1): ChannelMessage {
  if (message.length === 0) throw protocol('empty channel message (no channel byte)');
  const channel = message[0] as number;
  if (channel >= channelCount) throw protocol(`message for channel ${channel}, but the connection has only ${channelCount} channels`);
  const bytes = Buffer.isBuffer(message) ? message : Buffer.from(message.buffer, message.byteOffset, message.byteLength);
  return { channel, payload: bytes.subarray(1) };
}

/** The 2-byte little-endian port prefix the server sends first on each channel. Throws ERR_INVALID_ARGUMENT for a port outside 1..65535. */
export function encodePortPrefix(port: number): Buffer {
  if (!Number.isInteger(port) || port < 1 || port > 0xffff) usage(`port ${String(port)} is outside 1..65535`);
  const prefix = Buffer.allocUnsafe(PORT_PREFIX_BYTES);
  prefix.writeUInt16LE(port, 0);
  return prefix;
}

/** Reads a port prefix at `offset`. Throws ERR_PROTOCOL when fewer than 2 bytes are there. */
export function readPortPrefix(bytes: Uint8Array, offset = 0): number {
  if (!Number.isInteger(offset) || offset < 0 || bytes.length - offset < PORT_PREFIX_BYTES) {
    throw protocol(`a port prefix needs ${PORT_PREFIX_BYTES} bytes, ${Math.max(0, bytes.length - offset)} available`);
  }
  return (bytes[offset] as number) | ((bytes[offset + 1] as number) << 8);
}

// Per-channel prefix state: how many prefix bytes are still due, and the first byte if it came alone.
const PREFIX_DONE = -1;

/**
 * Strips the port prefix from the start of every channel of one connection (the client side of
 * the v4 protocol) and checks it names the port requested for that channel.
 *
 * The prefix is a stream property, not a message property: nothing in the protocol stops a server
 * from sending it as two 1-byte messages, or glued to the first payload bytes, so this works on
 * the byte stream of each channel.
 */
export class PortPrefixStripper {
  readonly #ports: readonly number[];
  /** Per channel: prefix bytes still due (2, 1) or PREFIX_DONE. */
  readonly #due: Int8Array;
  /** Per channel: the low byte when it arrived without the high byte. */
  readonly #low: Uint8Array;

  /** `ports[i]` is the port requested at index i (the order of `?ports=`). */
  constructor(ports: readonly number[]) {
    if (ports.length === 0 || ports.length > MAX_PORTS) usage(`between 1 and ${MAX_PORTS} ports are needed, got ${ports.length}`);
    for (const port of ports) encodePortPrefix(port); // validates
    this.#ports = [...ports];
    this.#due = new Int8Array(ports.length * 2).fill(PORT_PREFIX_BYTES);
    this.#low = new Uint8Array(ports.length * 2);
  }

  /** Number of channels (2 per port). */
  get channelCount(): number {
    return this.#due.length;
  }

  /** True once the whole prefix of `channel` has been received and checked. */
  prefixReceived(channel: number): boolean {
    return this.#due[channel] === PREFIX_DONE;
  }

  /**
   * Decodes a message and strips the prefix: {@link decodeChannelMessage} with this connection's
   * channel count, then {@link strip}.
   */
  decode(message: Uint8Array): ChannelMessage {
    const { channel, payload } = decodeChannelMessage(message, this.channelCount);
    return { channel, payload: this.strip(channel, payload) };
  }

  /**
   * Takes the payload of one message on `channel` and returns what is left after the prefix (a
   * view, possibly empty). Throws ERR_PROTOCOL for an unknown channel or a prefix naming another
   * port.
   */
  strip(channel: number, payload: Buffer): Buffer {
    const due = this.#due[channel];
    if (due === undefined || !Number.isInteger(channel)) throw protocol(`message for channel ${channel}, but the connection has only ${this.channelCount} channels`);
    if (due === PREFIX_DONE || payload.length === 0) return payload;
    if (due === PORT_PREFIX_BYTES && payload.length === 1) {
      this.#low[channel] = payload[0] as number;
      this.#due[channel] = 1;
      return payload.subarray(1);
    }
    const port = due === 1 ? (this.#low[channel] as number) | ((payload[0] as number) << 8) : readPortPrefix(payload);
    const expected = this.#ports[channel >> 1] as number;
    if (port !== expected) throw protocol(`channel ${channel} starts with port ${port}, expected ${expected}`);
    this.#due[channel] = PREFIX_DONE;
    return payload.subarray(due);
  }
}
