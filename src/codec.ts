/**
 * `kubemux/codec`: the low-level codecs, for tools that speak the wire format themselves: SPDY/3.1
 * frames and header compression, and the Kubernetes WebSocket codecs (subprotocol names, v4
 * channel messages and port prefixes). Everything here is pure data transformation: no sockets,
 * no timers.
 */
export * from './spdy/index.js';
export * from './channel/index.js';
export { KubemuxError, ErrorCode, isKubemuxError, type ErrorScope, type ErrorOrigin, type KubemuxErrorDetails } from './errors.js';
