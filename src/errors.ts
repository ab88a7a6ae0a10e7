/**
 * The one error type of kubemux. Every failure the library reports — a malformed frame, a
 * refused stream, a dead connection, a bad option — is a {@link KubemuxError} with a stable
 * `code` (what happened) and a `scope` (how much it breaks), so callers branch on data, not on
 * message text.
 */

/** How far the damage reaches. */
export type ErrorScope =
  /** One stream (or one forwarded connection) failed; its session goes on. */
  | 'stream'
  /** The session (one multiplexed connection) is unusable and will be (or was) closed. */
  | 'session'
  /** The underlying byte transport (TCP, TLS, WebSocket, HTTP upgrade) failed. */
  | 'transport'
  /** The caller used the API wrongly (bad option, bad argument); nothing was sent. */
  | 'usage';

/**
 * Stable error codes. The message text may change between releases; these do not.
 * Grouped by the layer that raises them.
 */
export const ErrorCode = {
  // codec
  /** A frame's declared length exceeds the configured `maxFrameBytes`. */
  FRAME_TOO_LARGE: 'ERR_FRAME_TOO_LARGE',
  /** Bytes that are not valid SPDY/3.1 (bad length for the frame type, zero stream id, ...). */
  PROTOCOL: 'ERR_PROTOCOL',
  /** A control frame carries a version other than 3. */
  UNSUPPORTED_VERSION: 'ERR_UNSUPPORTED_VERSION',
  /** A name/value header block is malformed (bad counts, duplicate or upper-case names, ...). */
  HEADER_BLOCK: 'ERR_HEADER_BLOCK',
  /** A header block inflates to more than `maxHeaderBlockBytes`. */
  HEADER_BLOCK_TOO_LARGE: 'ERR_HEADER_BLOCK_TOO_LARGE',
  /** The zlib stream of header blocks is corrupt (or a compression context failed). */
  COMPRESSION: 'ERR_COMPRESSION',
  /** An argument or option is out of its documented range. */
  INVALID_ARGUMENT: 'ERR_INVALID_ARGUMENT',
  /**
   * The call is valid in itself but not in the object's present state: writing to a stream
   * after ending it, a lifecycle transition that the state machine does not allow. Arguments
   * that are wrong whatever the state are {@link ErrorCode.INVALID_ARGUMENT}.
   */
  INVALID_STATE: 'ERR_INVALID_STATE',

  // session
  /** The peer reset the stream (RST_STREAM); `rstStatus` says why. */
  STREAM_RESET: 'ERR_STREAM_RESET',
  /** The peer refused a new stream (RST_STREAM REFUSED_STREAM), or sent GOAWAY before processing it: retry elsewhere. */
  STREAM_REFUSED: 'ERR_STREAM_REFUSED',
  /** Opening another stream would exceed `maxConcurrentStreams`. */
  STREAM_LIMIT: 'ERR_STREAM_LIMIT',
  /** The session has used up its 31-bit stream id space. */
  STREAM_IDS_EXHAUSTED: 'ERR_STREAM_IDS_EXHAUSTED',
  /** A stream held its full receive buffer unread for longer than `receiveStallTimeoutMs` and was reset so the other streams could move. */
  STREAM_RECEIVE_STALLED: 'ERR_STREAM_RECEIVE_STALLED',
  /** The peer did not reply to a new stream within the deadline. */
  STREAM_OPEN_TIMEOUT: 'ERR_STREAM_OPEN_TIMEOUT',
  /** A PING was not answered within the deadline. */
  PING_TIMEOUT: 'ERR_PING_TIMEOUT',
  /** The session received or sent GOAWAY and accepts no new streams. */
  SESSION_DRAINING: 'ERR_SESSION_DRAINING',
  /** The session is closed. */
  SESSION_CLOSED: 'ERR_SESSION_CLOSED',
  /** The peer violated flow control: it sent past a stream window we advertised, or grew a send window past 2^31-1. */
  FLOW_CONTROL: 'ERR_FLOW_CONTROL',
  /**
   * The peer made kubemux reach a bound of its memory budget (spec/memory-budget.md) and did not
   * let go: it kept the session paused on replies it never read, or sent a WebSocket message in
   * more fragments than `maxFragments`. The connection is closed.
   */
  RESOURCE_LIMIT: 'ERR_RESOURCE_LIMIT',
  /** No frame was read or written for `idleTimeoutMs` (the kubelet's streaming idle timeout); the session was closed. */
  IDLE_TIMEOUT: 'ERR_IDLE_TIMEOUT',

  // transport
  /** The byte transport ended or failed under the session. */
  TRANSPORT_CLOSED: 'ERR_TRANSPORT_CLOSED',
  /** The server answered the upgrade request with something other than 101; `httpStatus` and the Kubernetes Status message say why. */
  UPGRADE_REFUSED: 'ERR_UPGRADE_REFUSED',
  /** The server answered 101 but not as the protocol requires (headers, negotiated protocol, WebSocket accept key). */
  UPGRADE_INVALID: 'ERR_UPGRADE_INVALID',
  /** The TCP connection to the server (or proxy) could not be made. */
  CONNECT_FAILED: 'ERR_CONNECT_FAILED',
  /** TLS failed: unknown certificate authority, wrong host name, handshake error. */
  TLS: 'ERR_TLS',
  /** A connect or upgrade deadline passed. */
  TIMEOUT: 'ERR_TIMEOUT',
  /** The API server answered a plain request (a lookup, not an upgrade) with an error status; `httpStatus` and the Kubernetes Status message say why. */
  API_REFUSED: 'ERR_API_REFUSED',

  // resilience, forwarder
  /** The caller aborted the operation through its `signal`. The error's `name` is `'AbortError'`, as Node's own APIs reject, and its `cause` is the signal's reason. */
  ABORTED: 'ERR_ABORTED',
  /** No live connection to the target right now (it is backing off after failures); the `cause` is the last failure. The operation failed at once rather than wait. */
  UNAVAILABLE: 'ERR_UNAVAILABLE',
  /** The pod, deployment or service, or the named port, does not exist, or no pod of it is running. */
  TARGET_NOT_FOUND: 'ERR_TARGET_NOT_FOUND',
  /** A local address or port could not be listened on (EADDRINUSE, EACCES, an address this machine does not have). */
  LISTEN_FAILED: 'ERR_LISTEN_FAILED',
  /** A listener could not accept a connection (EMFILE, ENFILE: out of file descriptors). The listener goes on; that connection is lost. */
  ACCEPT_FAILED: 'ERR_ACCEPT_FAILED',
} as const;

/** One of the {@link ErrorCode} values. */
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/**
 * Who ended the stream or session an error reports, as h2's `Initiator`: `'peer'` when the other
 * side did (its RST_STREAM, GOAWAY, close frame, or closing the connection), `'local'` when this
 * side did (a deadline, a bound of the memory budget, an abort, a protocol violation we detected
 * and answered). Absent when the error ends nothing, or nobody can tell (a failed socket).
 */
export type ErrorOrigin = 'local' | 'peer';

/** Extra, structured facts about an error. Never contains credentials. */
export interface KubemuxErrorDetails {
  /** Stream the error concerns, when it concerns one. */
  readonly streamId?: number;
  /** RST_STREAM status code received or sent. */
  readonly rstStatus?: number;
  /** GOAWAY status code received or sent. */
  readonly goAwayStatus?: number;
  /** HTTP status of a refused upgrade. */
  readonly httpStatus?: number;
  /** WebSocket close status: the one received, the one sent for a peer's protocol violation (1002, 1007, 1009), or 1006 when no close frame came. */
  readonly closeCode?: number;
  /** Who ended the stream or session: see {@link ErrorOrigin}. */
  readonly origin?: ErrorOrigin;
  /** The underlying error (a Node system error, a zlib error, ...). */
  readonly cause?: unknown;
}

const DETAIL_FIELDS = ['streamId', 'rstStatus', 'goAwayStatus', 'httpStatus', 'closeCode'] as const;
type DetailField = (typeof DETAIL_FIELDS)[number];

/** The single error class of the library. */
export class KubemuxError extends Error {
  /** `'KubemuxError'`, except `'AbortError'` for {@link ErrorCode.ABORTED}, so that code written for Node's own abortable APIs recognises it. */
  override readonly name: 'KubemuxError' | 'AbortError';
  readonly code: ErrorCode;
  readonly scope: ErrorScope;
  // Declared, not initialised: a field that does not apply is absent (it neither prints as
  // `undefined` nor shows up in Object.keys), and reads as undefined.
  declare readonly streamId?: number;
  declare readonly rstStatus?: number;
  declare readonly goAwayStatus?: number;
  declare readonly httpStatus?: number;
  declare readonly closeCode?: number;
  /** Who ended the stream or session, when the layer that raised the error knows: see {@link ErrorOrigin}. */
  declare readonly origin?: ErrorOrigin;

  constructor(code: ErrorCode, scope: ErrorScope, message: string, details: KubemuxErrorDetails = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = code === ErrorCode.ABORTED ? 'AbortError' : 'KubemuxError';
    this.code = code;
    this.scope = scope;
    const self = this as { -readonly [K in DetailField]?: number };
    for (const field of DETAIL_FIELDS) if (details[field] !== undefined) self[field] = details[field];
    if (details.origin !== undefined) (this as { origin?: ErrorOrigin }).origin = details.origin;
  }
}

/** True when `err` is a {@link KubemuxError}, optionally with the given code. */
export function isKubemuxError(err: unknown, code?: ErrorCode): err is KubemuxError {
  return err instanceof KubemuxError && (code === undefined || err.code === code);
}

/**
 * Sets `origin` on an error that has none yet: one made by a layer that cannot know who ends
 * what (the frame decoder, say), when the layer above decides. Returns the same error.
 * @internal
 */
export function markOrigin(error: KubemuxError, origin: ErrorOrigin): KubemuxError {
  if (error.origin === undefined) (error as { origin?: ErrorOrigin }).origin = origin;
  return error;
}

/**
 * The error an operation rejects with when its `signal` aborts: {@link ErrorCode.ABORTED}, named
 * `'AbortError'`, with the signal's reason as its cause (Node's convention). When the reason is
 * itself a KubemuxError (a layer aborting its own work with a typed reason, a deadline, say),
 * that error is returned unchanged, so the real cause keeps its code.
 */
export function abortError(signal: AbortSignal, scope: ErrorScope, what: string): KubemuxError {
  const reason: unknown = signal.reason;
  if (reason instanceof KubemuxError) return reason;
  // The caller aborted: this side ends the operation.
  return new KubemuxError(ErrorCode.ABORTED, scope, `${what} was aborted`, { origin: 'local', cause: reason });
}
