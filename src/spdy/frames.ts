/**
 * SPDY/3.1 frames as plain data: a discriminated union on `type`. Decoders produce these,
 * encoders consume them. Flags are kept raw (a bit set) so that unknown bits survive a round trip.
 */

/**
 * A decoded name/value header block. Names are lower-case and unique; each name has one or
 * more values (on the wire, several values are joined with a NUL byte). Insertion order is
 * wire order.
 */
export type HeaderBlock = Map<string, string[]>;

/** DATA: payload bytes of one stream. */
export interface DataFrame {
  readonly type: 'DATA';
  readonly streamId: number;
  /** FLAG_FIN or 0. */
  readonly flags: number;
  /** The payload: a view of the decoder's input whenever the frame lay within one input chunk. */
  readonly data: Buffer;
}

/** SYN_STREAM: opens a stream, with its headers. */
export interface SynStreamFrame {
  readonly type: 'SYN_STREAM';
  readonly streamId: number;
  /** 0 when the stream is not associated with another (always 0 in port-forward). */
  readonly associatedStreamId: number;
  /** 0 (highest) to 7 (lowest). */
  readonly priority: number;
  /** CREDENTIAL slot; unused by every peer kubemux talks to. */
  readonly slot: number;
  /** FLAG_FIN | FLAG_UNIDIRECTIONAL. */
  readonly flags: number;
  readonly headers: HeaderBlock;
}

/** SYN_REPLY: accepts a stream (Kubernetes sends an empty header block). */
export interface SynReplyFrame {
  readonly type: 'SYN_REPLY';
  readonly streamId: number;
  readonly flags: number;
  readonly headers: HeaderBlock;
}

/** RST_STREAM: ends a stream abnormally. */
export interface RstStreamFrame {
  readonly type: 'RST_STREAM';
  readonly streamId: number;
  /** One of RstStatus (never 0 on the wire). */
  readonly status: number;
  readonly flags: number;
}

/** One SETTINGS entry. */
export interface SettingsEntry {
  /** SettingsId, 24 bits. */
  readonly id: number;
  /** SETTINGS_FLAG_PERSIST_VALUE | SETTINGS_FLAG_PERSISTED. */
  readonly flags: number;
  readonly value: number;
}

/** SETTINGS: connection parameters (spdystream ignores them). */
export interface SettingsFrame {
  readonly type: 'SETTINGS';
  /** FLAG_SETTINGS_CLEAR_SETTINGS or 0. */
  readonly flags: number;
  readonly entries: readonly SettingsEntry[];
}

/** PING: echoed by the peer that did not send it. */
export interface PingFrame {
  readonly type: 'PING';
  /** Odd ids are the client's pings, even ids the server's. */
  readonly id: number;
  readonly flags: number;
}

/** GOAWAY: no new streams on this connection. */
export interface GoAwayFrame {
  readonly type: 'GOAWAY';
  /** The highest peer-initiated stream id the sender processed. */
  readonly lastGoodStreamId: number;
  /** One of GoAwayStatus. */
  readonly status: number;
  readonly flags: number;
}

/** HEADERS: more headers for an open stream (never used by port-forward). */
export interface HeadersFrame {
  readonly type: 'HEADERS';
  readonly streamId: number;
  readonly flags: number;
  readonly headers: HeaderBlock;
}

/** WINDOW_UPDATE: more send window for a stream or the session. */
export interface WindowUpdateFrame {
  readonly type: 'WINDOW_UPDATE';
  /** 0 for the session window. */
  readonly streamId: number;
  /** 1 to 2^31-1 bytes. */
  readonly deltaWindowSize: number;
  readonly flags: number;
}

/** A control frame of a type SPDY/3.1 does not define (e.g. NOOP, CREDENTIAL). The session decides. */
export interface UnknownControlFrame {
  readonly type: 'UNKNOWN';
  readonly controlType: number;
  readonly version: number;
  readonly flags: number;
  readonly payload: Buffer;
}

/** Every control frame. */
export type ControlFrame =
  | SynStreamFrame
  | SynReplyFrame
  | RstStreamFrame
  | SettingsFrame
  | PingFrame
  | GoAwayFrame
  | HeadersFrame
  | WindowUpdateFrame
  | UnknownControlFrame;

/** Every frame. */
export type Frame = DataFrame | ControlFrame;

/** Frames whose payload ends in a compressed header block. */
export type HeaderBearingFrame = SynStreamFrame | SynReplyFrame | HeadersFrame;
