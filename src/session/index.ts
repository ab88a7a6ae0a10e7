/** The SPDY session layer: streams over one byte Duplex. */
export { SpdySession } from './spdy-session.js';
export type { SpdySessionEvents, SessionStats, OpenStreamOptions, PingOptions, DrainInfo, DrainReason } from './session-types.js';
export { SpdyStream, type StreamInitiator } from './spdy-stream.js';
export { resolveSessionOptions, SESSION_DEFAULTS, type SpdySessionOptions, type SessionRole, type FlowControlMode } from './options.js';
