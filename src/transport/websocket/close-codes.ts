/**
 * The RFC 6455 close statuses (section 7.4.1) the message Duplexes send and read, and what a close
 * means to them: one table, so that the tunnel, the v4 client and the v4 server map closes alike.
 */
import { ErrorCode, KubemuxError } from '../../errors.js';

/** "Normal closure": the purpose of the connection has been fulfilled. */
export const CLOSE_NORMAL = 1000;
/** "Protocol error". */
export const CLOSE_PROTOCOL_ERROR = 1002;
/** "Received a type of data it cannot accept" (a text message where only binary ones carry data). */
export const CLOSE_UNSUPPORTED_DATA = 1003;
/** "No status received": a close frame without a code, which is not an error either. */
export const CLOSE_NO_STATUS = 1005;
/** "Encountered an unexpected condition". */
export const CLOSE_INTERNAL_ERROR = 1011;

/** Close reasons must be valid UTF-8 of at most 123 bytes: ASCII and a hard cut guarantee both. */
export function closeReasonFor(error: Error): string {
  return error.message.replace(/[^\x20-\x7e]/g, '?').slice(0, 123);
}

/**
 * The error for a WebSocket (`subject`, e.g. "the WebSocket") that closed with a status that is
 * not a clean end (1006: without a close frame): ERR_TRANSPORT_CLOSED with `closeCode`.
 */
export function closedWithStatus(subject: string, code: number, reason: string): KubemuxError {
  return new KubemuxError(ErrorCode.TRANSPORT_CLOSED, 'transport', `${subject} closed with status ${code}${reason === '' ? '' : ` (${reason})`}`, { closeCode: code });
}
