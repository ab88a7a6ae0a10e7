/** Options of the v4 port-forward connection: what a caller may set, the defaults, their validation. */
import { integerIn, MAX_TIMER_MS } from '../../util/validate.js';
import type { UpgradeConnectionOptions } from '../websocket/index.js';

/** Options of {@link WebSocketV4Connection}. */
export interface WebSocketV4Options {
  /** Options of each WebSocketConnection (payload limit, close deadline, masking). */
  readonly connection?: UpgradeConnectionOptions;
  /** Largest data payload sent in one message, bytes; longer writes are split. Default 64 KiB. */
  readonly maxMessageBytes?: number;
  /** Received data bytes a pair buffers before its WebSocket is paused. Default 256 KiB. */
  readonly readableHighWaterMark?: number;
  /** Bytes a pair's write() buffers before it returns false. Default 64 KiB. */
  readonly writableHighWaterMark?: number;
  /** Deadline of ping() when the caller gives none, ms. Default 30,000. */
  readonly pingTimeoutMs?: number;
}

/** Defaults of {@link WebSocketV4Options}. */
export const WEBSOCKET_V4_DEFAULTS = Object.freeze({
  maxMessageBytes: 64 * 1024,
  readableHighWaterMark: 256 * 1024,
  writableHighWaterMark: 64 * 1024,
  pingTimeoutMs: 30_000,
});

/** {@link WebSocketV4Options} with the defaults applied and every bound checked. @internal */
export interface ResolvedV4Options {
  readonly connection: UpgradeConnectionOptions | undefined;
  readonly maxMessageBytes: number;
  readonly readableHighWaterMark: number;
  readonly writableHighWaterMark: number;
  readonly pingTimeoutMs: number;
}

/** The largest byte count a size option takes. */
const MAX_SIZE_BYTES = 2 ** 30;

/** Applies the defaults and validates; throws ERR_INVALID_ARGUMENT (usage) naming the bad option. @internal */
export function resolveV4Options(options: WebSocketV4Options): ResolvedV4Options {
  const d = WEBSOCKET_V4_DEFAULTS;
  return {
    connection: options.connection,
    maxMessageBytes: integerIn('maxMessageBytes', options.maxMessageBytes ?? d.maxMessageBytes, 1, MAX_SIZE_BYTES),
    readableHighWaterMark: integerIn('readableHighWaterMark', options.readableHighWaterMark ?? d.readableHighWaterMark, 1, MAX_SIZE_BYTES),
    writableHighWaterMark: integerIn('writableHighWaterMark', options.writableHighWaterMark ?? d.writableHighWaterMark, 1, MAX_SIZE_BYTES),
    pingTimeoutMs: integerIn('pingTimeoutMs', options.pingTimeoutMs ?? d.pingTimeoutMs, 1, MAX_TIMER_MS),
  };
}
