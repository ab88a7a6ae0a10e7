/** The SPDY session layer: streams over one byte Duplex. */
export { SpdySession, type SpdySessionEvents, type SessionStats, type OpenStreamOptions, type PingOptions, type DrainInfo, type DrainReason } from './spdy-session.js';
export { SpdyStream, type StreamInitiator } from './spdy-stream.js';
export { resolveSessionOptions, SESSION_DEFAULTS, type SpdySessionOptions, type SessionRole, type FlowControlMode } from './options.js';
