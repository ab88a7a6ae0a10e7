/** SPDY/3.1 wire constants (draft-mbelshe-httpbis-spdy-00 as updated for 3.1). */

/** The only protocol version kubemux speaks; every control frame carries it. */
export const SPDY_VERSION = 3;

/** Size of every frame header, control or data. */
export const FRAME_HEADER_BYTES = 8;

/** The 24-bit length field caps any frame payload at this many bytes. */
export const MAX_FRAME_PAYLOAD_BYTES = 0xff_ffff;

/** Stream ids (and ping ids, last-good-stream ids) are 31-bit; the top bit is reserved. */
export const MAX_STREAM_ID = 0x7fff_ffff;

/** Control frame type numbers. */
export const ControlType = {
  SYN_STREAM: 1,
  SYN_REPLY: 2,
  RST_STREAM: 3,
  SETTINGS: 4,
  PING: 6,
  GOAWAY: 7,
  HEADERS: 8,
  WINDOW_UPDATE: 9,
} as const;
/** One of the {@link ControlType} values. */
export type ControlType = (typeof ControlType)[keyof typeof ControlType];

/** FIN on DATA, SYN_STREAM, SYN_REPLY and HEADERS: the sender will send nothing more on the stream. */
export const FLAG_FIN = 0x01;
/** UNIDIRECTIONAL on SYN_STREAM: the receiver must not send on the stream. */
export const FLAG_UNIDIRECTIONAL = 0x02;
/** CLEAR_SETTINGS on SETTINGS: forget persisted settings. */
export const FLAG_SETTINGS_CLEAR_SETTINGS = 0x01;
/** Per-entry SETTINGS flags. */
export const SETTINGS_FLAG_PERSIST_VALUE = 0x01;
/** Per-entry SETTINGS flag: the value was persisted earlier. */
export const SETTINGS_FLAG_PERSISTED = 0x02;

/** RST_STREAM status codes. 0 is not a valid status. */
export const RstStatus = {
  PROTOCOL_ERROR: 1,
  INVALID_STREAM: 2,
  REFUSED_STREAM: 3,
  UNSUPPORTED_VERSION: 4,
  CANCEL: 5,
  INTERNAL_ERROR: 6,
  FLOW_CONTROL_ERROR: 7,
  STREAM_IN_USE: 8,
  STREAM_ALREADY_CLOSED: 9,
  INVALID_CREDENTIALS: 10,
  FRAME_TOO_LARGE: 11,
} as const;
/** One of the {@link RstStatus} values. */
export type RstStatus = (typeof RstStatus)[keyof typeof RstStatus];

/** GOAWAY status codes. */
export const GoAwayStatus = {
  OK: 0,
  PROTOCOL_ERROR: 1,
  INTERNAL_ERROR: 2,
} as const;
/** One of the {@link GoAwayStatus} values. */
export type GoAwayStatus = (typeof GoAwayStatus)[keyof typeof GoAwayStatus];

/** SETTINGS ids. */
export const SettingsId = {
  UPLOAD_BANDWIDTH: 1,
  DOWNLOAD_BANDWIDTH: 2,
  ROUND_TRIP_TIME: 3,
  MAX_CONCURRENT_STREAMS: 4,
  CURRENT_CWND: 5,
  DOWNLOAD_RETRANS_RATE: 6,
  INITIAL_WINDOW_SIZE: 7,
  CLIENT_CERTIFICATE_VECTOR_SIZE: 8,
} as const;
/** One of the {@link SettingsId} values. */
export type SettingsId = (typeof SettingsId)[keyof typeof SettingsId];

/** SPDY/3.1's initial stream and session flow-control window. */
export const DEFAULT_INITIAL_WINDOW_BYTES = 65_536;

/** Human-readable name of an RST_STREAM status, for messages. */
export function rstStatusName(status: number): string {
  for (const [name, value] of Object.entries(RstStatus)) if (value === status) return name;
  return `UNKNOWN(${status})`;
}

/** Human-readable name of a GOAWAY status, for messages. */
export function goAwayStatusName(status: number): string {
  for (const [name, value] of Object.entries(GoAwayStatus)) if (value === status) return name;
  return `UNKNOWN(${status})`;
}
