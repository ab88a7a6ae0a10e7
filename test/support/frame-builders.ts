/**
 * SPDY frames as a test writes them: one builder per frame type, with the defaults Go's
 * spdystream uses, so that a transcript reads like the wire.
 */
import { FLAG_FIN, FLAG_UNIDIRECTIONAL, GoAwayStatus, SettingsId, headerBlockFrom } from '../../src/spdy/index.js';
import type {
  DataFrame,
  GoAwayFrame,
  HeaderBlock,
  PingFrame,
  RstStreamFrame,
  SettingsEntry,
  SettingsFrame,
  SynReplyFrame,
  SynStreamFrame,
  WindowUpdateFrame,
} from '../../src/spdy/index.js';

/** Headers as tests like to write them: a plain object, or a decoded block. */
export type HeadersLike = HeaderBlock | Readonly<Record<string, string | readonly string[]>>;

/** A header block from {@link HeadersLike}. */
export function toBlock(headers: HeadersLike): HeaderBlock {
  return headers instanceof Map ? headers : headerBlockFrom(headers as Readonly<Record<string, string | readonly string[]>>);
}

/** SYN_STREAM as spdystream writes it: priority 0, slot 0, not associated. */
export function syn(streamId: number, headers: HeadersLike = {}, options: { fin?: boolean; unidirectional?: boolean } = {}): SynStreamFrame {
  const flags = (options.fin === true ? FLAG_FIN : 0) | (options.unidirectional === true ? FLAG_UNIDIRECTIONAL : 0);
  return { type: 'SYN_STREAM', streamId, associatedStreamId: 0, priority: 0, slot: 0, flags, headers: toBlock(headers) };
}

/** SYN_REPLY; with no headers given, the empty block Kubernetes sends. */
export function reply(streamId: number, options: { headers?: HeadersLike; fin?: boolean } = {}): SynReplyFrame {
  return { type: 'SYN_REPLY', streamId, flags: options.fin === true ? FLAG_FIN : 0, headers: toBlock(options.headers ?? {}) };
}

/** DATA; strings are UTF-8. */
export function data(streamId: number, bytes: Uint8Array | string = Buffer.alloc(0), options: { fin?: boolean } = {}): DataFrame {
  return { type: 'DATA', streamId, flags: options.fin === true ? FLAG_FIN : 0, data: typeof bytes === 'string' ? Buffer.from(bytes) : Buffer.from(bytes) };
}

/** RST_STREAM with `status` (one of RstStatus). */
export function rst(streamId: number, status: number): RstStreamFrame {
  return { type: 'RST_STREAM', streamId, status, flags: 0 };
}

/** PING; an even id is a server's, an odd one a client's. */
export function ping(id: number): PingFrame {
  return { type: 'PING', id, flags: 0 };
}

/** GOAWAY naming the last stream of the receiver's that the sender processed. */
export function goaway(lastGoodStreamId: number, status: number = GoAwayStatus.OK): GoAwayFrame {
  return { type: 'GOAWAY', lastGoodStreamId, status, flags: 0 };
}

/** WINDOW_UPDATE; stream 0 is the session window. */
export function windowUpdate(streamId: number, deltaWindowSize: number): WindowUpdateFrame {
  return { type: 'WINDOW_UPDATE', streamId, deltaWindowSize, flags: 0 };
}

/** SETTINGS from named values (the two the session reads) or raw entries. */
export function settings(values: { initialWindowSize?: number; maxConcurrentStreams?: number } | readonly SettingsEntry[]): SettingsFrame {
  if (Array.isArray(values)) return { type: 'SETTINGS', flags: 0, entries: values };
  const named = values as { initialWindowSize?: number; maxConcurrentStreams?: number };
  const entries: SettingsEntry[] = [];
  if (named.maxConcurrentStreams !== undefined) entries.push({ id: SettingsId.MAX_CONCURRENT_STREAMS, flags: 0, value: named.maxConcurrentStreams });
  if (named.initialWindowSize !== undefined) entries.push({ id: SettingsId.INITIAL_WINDOW_SIZE, flags: 0, value: named.initialWindowSize });
  return { type: 'SETTINGS', flags: 0, entries };
}
