/**
 * `kubemux/codec`: the low-level codecs, for tools that speak the wire format themselves.
 * Everything here is pure data transformation: no sockets, no timers.
 */
export * from './spdy/index.js';
export { KubemuxError, ErrorCode, isKubemuxError, type ErrorScope, type KubemuxErrorDetails } from './errors.js';
