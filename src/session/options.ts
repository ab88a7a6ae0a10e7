/**
 * Session options: one object, units in the names, defaults frozen, every value validated at
 * construction so that a bad option fails at once with a usage error naming the bound.
 */
import { integerIn, MAX_TIMER_MS, usage } from '../util/validate.js';
import { DEFAULT_MAX_FRAME_BYTES, DEFAULT_MAX_HEADER_BLOCK_BYTES, DEFAULT_MAX_HEADER_VALUES, MAX_FRAME_PAYLOAD_BYTES, MAX_STREAM_ID } from '../spdy/index.js';

/** Which side of the connection a session is. */
export type SessionRole = 'client' | 'server';

/**
 * When the session takes part in SPDY/3.1 flow control.
 * - `'auto'`: windows are used in both directions once the peer shows it implements them (it sends
 *   SETTINGS INITIAL_WINDOW_SIZE or a WINDOW_UPDATE). Go's spdystream never does, so against it
 *   kubemux sends exactly what kubectl sends: no SETTINGS, no WINDOW_UPDATE.
 * - `'advertise'`: as `'auto'`, and the session announces its own receive windows as soon as it
 *   starts (SETTINGS + a session WINDOW_UPDATE). kubemux's test server uses this; spdystream
 *   ignores both frames.
 */
export type FlowControlMode = 'auto' | 'advertise';

/** Options of {@link SpdySession}; every size in bytes, every time in ms, as the names say. */
export interface SpdySessionOptions {
  /** `'client'` opens odd stream ids and sends odd ping ids (kubectl's side); `'server'` even ones. */
  readonly role: SessionRole;
  /** Streams open at once, in each direction. Extra incoming ones are refused (RST REFUSED_STREAM); extra outgoing ones fail with ERR_STREAM_LIMIT. Default 1000. */
  readonly maxConcurrentStreams?: number;
  /** Largest incoming frame payload, bytes. Default 1 MiB. */
  readonly maxFrameBytes?: number;
  /** Largest decompressed incoming header block, bytes. Default 64 KiB. */
  readonly maxHeaderBlockBytes?: number;
  /**
   * Most values one incoming header block may carry (a name with one value counts one; each
   * NUL-separated part of a value counts one). More closes the session with
   * ERR_HEADER_BLOCK_TOO_LARGE. Default 256 (Kubernetes sends 3 or 4).
   */
  readonly maxHeaderValues?: number;
  /**
   * Heap the header blocks of the peer's open streams may hold together, bytes, as estimated by
   * `headerBlockMemory` (characters at 2 bytes, plus 64 bytes per name and per value). A new
   * stream whose block would pass it is refused (RST REFUSED_STREAM). Default 2 KiB per
   * `maxConcurrentStreams` (2 MiB for the default 1,000; a Kubernetes stream holds about 450).
   */
  readonly maxSessionHeaderBytes?: number;
  /**
   * Replies to the peer's frames (PING echoes, SYN_REPLY, RST_STREAM, WINDOW_UPDATE) the session
   * queues behind a transport that does not drain. At the bound the session stops reading (the
   * rest of the input waits) until the transport drains; a peer that does not read for
   * `receiveStallTimeoutMs` after that is disconnected with ERR_RESOURCE_LIMIT (GOAWAY sent).
   * Default 1,024.
   */
  readonly maxQueuedReplyFrames?: number;
  /**
   * Closes the session when no frame has been read or written for this long, as the kubelet's
   * streaming server does (spdystream's idle timer, `StreamIdleTimeout`, 4 h there): open streams
   * are reset (CANCEL), GOAWAY is sent, and the session closes with ERR_IDLE_TIMEOUT. Pings count
   * as frames. 0 (the default) disables it; the endpoint sets 4 h.
   */
  readonly idleTimeoutMs?: number;
  /** Largest DATA payload the session sends in one frame, bytes. Default 64 KiB. */
  readonly maxDataFrameBytes?: number;
  /**
   * Unread bytes one stream may hold before the session stops reading its transport. Also the
   * stream receive window when flow control is on. Default 1 MiB: a smaller window makes a fast
   * sender wait for WINDOW_UPDATE round trips (at 256 KiB, server-to-client throughput fell to
   * ~0.5x raw TCP; at 1 MiB windows cost nothing measurable, see the README benchmarks).
   */
  readonly streamReceiveBufferBytes?: number;
  /** Unread bytes all streams together may hold before the session stops reading its transport. Also the session receive window. Default 16 MiB. */
  readonly sessionReceiveBufferBytes?: number;
  /**
   * How long one stream that is over its receive buffer and not being read may keep the whole
   * transport paused before it is reset (RST CANCEL, ERR_STREAM_RECEIVE_STALLED on the stream) so
   * that the other streams can move again. 0 disables the reset (the stall then lasts as long as
   * the reader does not read, as with kubectl). It also bounds how long a peer may keep the
   * session paused on replies it does not read (see maxQueuedReplyFrames). Default 30,000 ms.
   */
  readonly receiveStallTimeoutMs?: number;
  /** Deadline for `ping()` when the caller gives none. Default 30,000 ms. */
  readonly pingTimeoutMs?: number;
  /** Deadline for a new stream's SYN_REPLY when the caller gives none. Default 30,000 ms (kubectl's). */
  readonly streamOpenTimeoutMs?: number;
  /** See {@link FlowControlMode}. Default `'auto'` for clients, `'advertise'` for servers. */
  readonly flowControl?: FlowControlMode;
  /** First stream id this side uses (tests use it to reach id exhaustion). Default 1 (client) or 2 (server). */
  readonly firstStreamId?: number;
}

/** Options with every default applied (what a session runs with: `session.options`). */
export type ResolvedSessionOptions = Required<SpdySessionOptions>;

/** The defaults of the optional {@link SpdySessionOptions}. */
export const SESSION_DEFAULTS = Object.freeze({
  maxConcurrentStreams: 1000,
  maxFrameBytes: DEFAULT_MAX_FRAME_BYTES,
  maxHeaderBlockBytes: DEFAULT_MAX_HEADER_BLOCK_BYTES,
  maxHeaderValues: DEFAULT_MAX_HEADER_VALUES,
  /** Per allowed concurrent stream; see {@link SpdySessionOptions.maxSessionHeaderBytes}. */
  sessionHeaderBytesPerStream: 2048,
  maxQueuedReplyFrames: 1024,
  idleTimeoutMs: 0,
  maxDataFrameBytes: 64 * 1024,
  streamReceiveBufferBytes: 1024 * 1024,
  sessionReceiveBufferBytes: 16 * 1024 * 1024,
  receiveStallTimeoutMs: 30_000,
  pingTimeoutMs: 30_000,
  streamOpenTimeoutMs: 30_000,
});

/** Applies defaults and validates; throws ERR_INVALID_ARGUMENT (usage) naming the bad option. */
export function resolveSessionOptions(options: SpdySessionOptions): ResolvedSessionOptions {
  const role = options.role;
  if (role !== 'client' && role !== 'server') usage(`role must be 'client' or 'server', got ${String(role)}`);
  const d = SESSION_DEFAULTS;
  const maxFrameBytes = integerIn('maxFrameBytes', options.maxFrameBytes ?? d.maxFrameBytes, 1024, MAX_FRAME_PAYLOAD_BYTES);
  const streamReceiveBufferBytes = integerIn(
    'streamReceiveBufferBytes',
    options.streamReceiveBufferBytes ?? d.streamReceiveBufferBytes,
    1024,
    MAX_STREAM_ID,
  );
  const flowControl = options.flowControl ?? (role === 'server' ? 'advertise' : 'auto');
  if (flowControl !== 'auto' && flowControl !== 'advertise') usage(`flowControl must be 'auto' or 'advertise', got ${String(flowControl)}`);
  const firstStreamId = integerIn('firstStreamId', options.firstStreamId ?? (role === 'client' ? 1 : 2), 1, MAX_STREAM_ID);
  if (firstStreamId % 2 !== (role === 'client' ? 1 : 0)) {
    usage(`firstStreamId ${firstStreamId} must be ${role === 'client' ? 'odd for a client' : 'even for a server'}`);
  }
  const maxConcurrentStreams = integerIn('maxConcurrentStreams', options.maxConcurrentStreams ?? d.maxConcurrentStreams, 1, 1 << 30);
  return {
    role,
    maxConcurrentStreams,
    maxFrameBytes,
    maxHeaderBlockBytes: integerIn('maxHeaderBlockBytes', options.maxHeaderBlockBytes ?? d.maxHeaderBlockBytes, 64, 1 << 30),
    maxHeaderValues: integerIn('maxHeaderValues', options.maxHeaderValues ?? d.maxHeaderValues, 1, 1 << 20),
    maxSessionHeaderBytes: integerIn(
      'maxSessionHeaderBytes',
      options.maxSessionHeaderBytes ?? Math.min(maxConcurrentStreams * d.sessionHeaderBytesPerStream, 2 ** 40),
      1024,
      2 ** 40,
    ),
    maxQueuedReplyFrames: integerIn('maxQueuedReplyFrames', options.maxQueuedReplyFrames ?? d.maxQueuedReplyFrames, 1, 1 << 30),
    idleTimeoutMs: integerIn('idleTimeoutMs', options.idleTimeoutMs ?? d.idleTimeoutMs, 0, MAX_TIMER_MS),
    maxDataFrameBytes: integerIn('maxDataFrameBytes', options.maxDataFrameBytes ?? d.maxDataFrameBytes, 1, MAX_FRAME_PAYLOAD_BYTES),
    streamReceiveBufferBytes,
    sessionReceiveBufferBytes: integerIn(
      'sessionReceiveBufferBytes',
      options.sessionReceiveBufferBytes ?? d.sessionReceiveBufferBytes,
      streamReceiveBufferBytes,
      MAX_STREAM_ID,
    ),
    receiveStallTimeoutMs: integerIn('receiveStallTimeoutMs', options.receiveStallTimeoutMs ?? d.receiveStallTimeoutMs, 0, MAX_TIMER_MS),
    pingTimeoutMs: integerIn('pingTimeoutMs', options.pingTimeoutMs ?? d.pingTimeoutMs, 1, MAX_TIMER_MS),
    streamOpenTimeoutMs: integerIn('streamOpenTimeoutMs', options.streamOpenTimeoutMs ?? d.streamOpenTimeoutMs, 1, MAX_TIMER_MS),
    flowControl,
    firstStreamId,
  };
}
