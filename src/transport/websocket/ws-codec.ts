/**
 * Typed access to the frame codec of the `ws` package: its `Receiver` (a Writable that parses
 * frames) and `Sender` (which frames and writes). `ws` exports both (lib/receiver.js,
 * lib/sender.js, re-exported by its ESM wrapper), but @types/ws does not declare them, so this
 * file states the part of their contract kubemux relies on, checked against ws 8.23.
 */
import type { Duplex, Writable } from 'node:stream';
import * as ws from 'ws';

/** Options of `new Receiver()` that kubemux sets. */
export interface ReceiverOptions {
  /** Emit several messages in one tick (no setImmediate between them). */
  readonly allowSynchronousEvents?: boolean;
  /** 'nodebuffer': messages arrive as Buffers. */
  readonly binaryType?: 'nodebuffer';
  /** Negotiated extensions; none. */
  readonly extensions?: Record<string, never>;
  /** Server role: frames must be masked. Client role: frames must not be. */
  readonly isServer?: boolean;
  /** Largest message, bytes (0 = unlimited); ws reads it as `| 0`, so at most 2^31-1. */
  readonly maxPayload?: number;
  /** Most frames per message (0 = unlimited); more is WS_ERR_TOO_MANY_BUFFERED_PARTS (1008). */
  readonly maxFragments?: number;
  /** Most socket chunks buffered for an incomplete frame (0 = unlimited); more is WS_ERR_TOO_MANY_BUFFERED_PARTS (1008). */
  readonly maxBufferedChunks?: number;
  readonly skipUTF8Validation?: boolean;
}

/**
 * The frame parser. Events: 'message' (data, isBinary), 'ping' (data), 'pong' (data),
 * 'conclude' (code, reason) for a close frame, 'error' (err) for a malformed frame (err.code is
 * a WS_ERR_* string), plus the Writable events ('drain', 'finish').
 */
export interface FrameReceiver extends Writable {
  on(event: 'message', listener: (data: Buffer, isBinary: boolean) => void): this;
  on(event: 'ping' | 'pong', listener: (data: Buffer) => void): this;
  on(event: 'conclude', listener: (code: number, reason: Buffer) => void): this;
  on(event: 'error', listener: (error: Error & { code?: string }) => void): this;
  on(event: 'drain' | 'finish' | 'close', listener: () => void): this;
  // Writable's own catch-all, so that this interface still extends it.
  on(event: string | symbol, listener: (...args: any[]) => void): this;
}

/** Options of the static `Sender.frame()`. */
export interface FrameOptions {
  readonly fin: boolean;
  /** 1 text, 2 binary, 8 close, 9 ping, 10 pong. */
  readonly opcode: number;
  readonly mask: boolean;
  /** False lets `frame()` mask the payload in place instead of copying it. */
  readonly readOnly: boolean;
  readonly rsv1: boolean;
  /** Fills the 4-byte masking key; random when absent. */
  readonly generateMask?: ((mask: Buffer) => void) | undefined;
}

/** The framer and writer. Callbacks are the socket's write callbacks. */
export interface FrameSender {
  send(data: Buffer, options: { binary: boolean; compress: boolean; fin: boolean; mask: boolean }, callback?: (error?: Error | null) => void): void;
  ping(data: Buffer, mask: boolean, callback?: (error?: Error | null) => void): void;
  pong(data: Buffer, mask: boolean, callback?: (error?: Error | null) => void): void;
  close(code: number | undefined, reason: string | Buffer | undefined, mask: boolean, callback?: (error?: Error | null) => void): void;
}

interface ReceiverClass {
  new (options?: ReceiverOptions): FrameReceiver;
}

interface SenderClass {
  new (socket: Duplex, extensions?: Record<string, never>, generateMask?: (mask: Buffer) => void): FrameSender;
  /** Frames one payload: `[header, payload]`, or `[header + payload]` when masking merged them. */
  frame(data: Buffer, options: FrameOptions): Buffer[];
}

const codec = ws as unknown as { Receiver?: ReceiverClass; Sender?: SenderClass };
if (typeof codec.Receiver !== 'function' || typeof codec.Sender !== 'function') {
  throw new Error('the installed "ws" package does not export Receiver and Sender (kubemux needs ws 8)');
}

// maxFragments and maxBufferedChunks bound what a peer can make the parser hold; a ws without
// them would ignore the options silently, so their presence is checked once, here.
const probe = new codec.Receiver({ maxFragments: 1, maxBufferedChunks: 1 }) as unknown as { _maxFragments?: number; _maxBufferedChunks?: number };
if (probe._maxFragments !== 1 || probe._maxBufferedChunks !== 1) {
  throw new Error('the installed "ws" package does not support the Receiver options maxFragments and maxBufferedChunks (kubemux needs ws >= 8.23)');
}

/** ws's frame parser class. */
export const Receiver: ReceiverClass = codec.Receiver;

/** ws's framer class. */
export const Sender: SenderClass = codec.Sender;

/**
 * The close status ws's Receiver asks for with each error code. ws also attaches it to the error
 * under a private symbol; this table keeps kubemux off that symbol.
 */
export const RECEIVER_ERROR_STATUS: Readonly<Record<string, number>> = Object.freeze({
  WS_ERR_UNEXPECTED_RSV_2_3: 1002,
  WS_ERR_UNEXPECTED_RSV_1: 1002,
  WS_ERR_INVALID_OPCODE: 1002,
  WS_ERR_EXPECTED_FIN: 1002,
  WS_ERR_INVALID_CONTROL_PAYLOAD_LENGTH: 1002,
  WS_ERR_EXPECTED_MASK: 1002,
  WS_ERR_UNEXPECTED_MASK: 1002,
  WS_ERR_INVALID_CLOSE_CODE: 1002,
  WS_ERR_INVALID_UTF8: 1007,
  WS_ERR_TOO_MANY_BUFFERED_PARTS: 1008,
  WS_ERR_UNSUPPORTED_DATA_PAYLOAD_LENGTH: 1009,
  WS_ERR_UNSUPPORTED_MESSAGE_LENGTH: 1009,
});

/** Close status codes an endpoint may send (RFC 6455 section 7.4; ws's isValidStatusCode). */
export function isSendableCloseCode(code: number): boolean {
  return Number.isInteger(code) && ((code >= 1000 && code <= 1014 && code !== 1004 && code !== 1005 && code !== 1006) || (code >= 3000 && code <= 4999));
}
