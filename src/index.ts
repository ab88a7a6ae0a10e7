/** kubemux: the public API. */
export { KubemuxError, ErrorCode, isKubemuxError, type ErrorScope, type KubemuxErrorDetails } from './errors.js';
