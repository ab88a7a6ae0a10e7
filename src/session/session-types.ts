/**
 * The public types of a `SpdySession`: its events, its stats, and the options of its calls.
 * Kept apart from the session's code (spdy-session.ts) so that the class reads as dispatch and
 * lifecycle.
 */
import type { KubemuxError } from '../errors.js';
import type { SpdyStream, StreamInitiator } from './spdy-stream.js';

/** Why a session stopped accepting new streams. */
export type DrainReason = 'goaway-received' | 'goaway-sent' | 'stream-ids-exhausted';

/** Why and how a session started draining ('draining' event). */
export interface DrainInfo {
  readonly reason: DrainReason;
  /** The GOAWAY status, for the GOAWAY reasons. */
  readonly goAwayStatus?: number;
}

/** Events of a `SpdySession`. */
export interface SpdySessionEvents {
  /** The peer opened a stream. Call `stream.accept()` or `stream.reject()`; with no listener, streams are refused. */
  stream: (stream: SpdyStream) => void;
  /** A stream entered the session's table (opened by either side). */
  streamOpened: (stream: SpdyStream, initiator: StreamInitiator) => void;
  /** A stream left the table: both directions ended (error undefined), or it was reset or failed. */
  streamClosed: (stream: SpdyStream, error: KubemuxError | undefined) => void;
  /** One of our pings was answered. */
  ping: (rttMs: number) => void;
  /** The session accepts no new streams; open ones may finish. A higher layer should replace it. */
  draining: (info: DrainInfo) => void;
  /** The session is closed; `error` is undefined for a clean, requested close. */
  close: (error: KubemuxError | undefined) => void;
}

/** Counters for observability. A snapshot; cheap to take. */
export interface SessionStats {
  readonly streamsOpenedLocal: number;
  readonly streamsOpenedRemote: number;
  readonly streamsActive: number;
  readonly framesSent: number;
  readonly framesReceived: number;
  readonly dataBytesSent: number;
  readonly dataBytesReceived: number;
  /** DATA frames (and their payload bytes) dropped because their stream was unknown, finished or reset. */
  readonly droppedDataFrames: number;
  readonly droppedDataBytes: number;
  readonly unknownFramesReceived: number;
  readonly pingsSent: number;
  readonly pingsEchoed: number;
  /** Bytes received but not yet read, over all streams. */
  readonly unreadBytes: number;
  /** True while the session has stopped reading its transport because readers are behind. */
  readonly receivePaused: boolean;
  /** True once the peer has shown it uses SPDY/3.1 flow control. */
  readonly peerFlowControl: boolean;
  /** Streams the peer opened that were refused (RST REFUSED_STREAM): draining, stream limit, header budget, no listener. */
  readonly streamsRefused: number;
  /** Replies to the peer queued since the transport last drained (see maxQueuedReplyFrames). */
  readonly queuedReplyFrames: number;
  /** Estimated heap held by the header blocks of the peer's open streams (see maxSessionHeaderBytes). */
  readonly headerBytes: number;
}

/** Options of `SpdySession.openStream()`. */
export interface OpenStreamOptions {
  /** Deadline for the SYN_REPLY, ms. Default: the session's streamOpenTimeoutMs. */
  readonly timeoutMs?: number;
  /** Send FIN with the SYN_STREAM (we will send nothing on this stream). */
  readonly fin?: boolean;
  /**
   * Aborts the open: the stream is reset (RST_STREAM CANCEL), as at the deadline, and the call
   * rejects with ERR_ABORTED (`name` `'AbortError'`, the signal's reason as `cause`; a
   * KubemuxError reason as it is). An aborted signal sends nothing. No effect once the peer has
   * replied.
   */
  readonly signal?: AbortSignal;
  /**
   * Called synchronously once the SYN_STREAM has been handed to the transport, with the stream,
   * before the peer's reply: a caller that pipelines may end the stream (or write to it) at once,
   * its frames following the SYN_STREAM on the wire. The returned promise still settles on the
   * reply (or the failure, which destroys the stream).
   */
  readonly sent?: (stream: SpdyStream) => void;
}

/** Options of `SpdySession.ping()`. */
export interface PingOptions {
  /** Deadline for the answer, ms. Default: the session's pingTimeoutMs. */
  readonly timeoutMs?: number;
  /**
   * Aborts the wait: the call rejects with ERR_ABORTED (as {@link OpenStreamOptions.signal}). The
   * PING already sent stays sent; a late answer is ignored.
   */
  readonly signal?: AbortSignal;
}
