/** The SPDY/3.1 codec: frames, header blocks and their compression. No I/O, no timers. */
export * from './constants.js';
export type * from './frames.js';
export { SPDY3_DICTIONARY } from './dictionary.js';
export {
  encodeHeaderBlock,
  decodeHeaderBlock,
  headerBlockFrom,
  headerValue,
  headerBlockMemory,
  DEFAULT_MAX_HEADER_VALUES,
  HEADER_ENTRY_OVERHEAD_BYTES,
} from './header-block.js';
export { HeaderCompressor, HeaderDecompressor, DEFAULT_MAX_HEADER_BLOCK_BYTES } from './compression.js';
export {
  FrameEncoder,
  checkHeaderBearingFrame,
  encodeDataFrame,
  encodeDataFrameHeader,
  encodeHeaderBearingFrame,
  encodeRstStream,
  encodeSettings,
  encodePing,
  encodeGoAway,
  encodeWindowUpdate,
  encodeUnknownControl,
  encodeSimpleControlFrame,
} from './encode.js';
export { FrameDecoder, DEFAULT_MAX_FRAME_BYTES, controlTypeName, type FrameDecoderOptions } from './decoder.js';
