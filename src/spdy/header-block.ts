/**
 * The SPDY/3 name/value block, uncompressed:
 *
 *   u32 pair count, then per pair: u32 name length, name, u32 value length, value
 *
 * All counts and lengths are 32-bit (SPDY/2 used 16-bit ones). Several values of one name travel
 * as one value joined with NUL bytes. Names must be lower-case and unique within a block: Go's
 * spdystream fails its whole connection otherwise, so we are exactly as strict when decoding and
 * never produce such a block when encoding.
 */
import { ErrorCode, KubemuxError } from '../errors.js';
import { usageError } from '../util/validate.js';
import type { HeaderBlock } from './frames.js';

const VALUE_SEPARATOR = '\0';

function malformed(message: string): KubemuxError {
  return new KubemuxError(ErrorCode.HEADER_BLOCK, 'session', `malformed header block: ${message}`);
}

function hasUpperCaseAscii(name: string): boolean {
  return /[A-Z]/.test(name);
}

/** What we send: lower-case RFC 7230 tokens, plus ':' for SPDY's pseudo-headers. Go's reader also rejects Unicode upper case. */
const SENDABLE_NAME = /^[!#$%&'*+\-.:^_`|~0-9a-z]+$/;

/**
 * Names Go's spdystream refuses in any header block it reads (its "invalid header" table, which
 * matches because Go canonicalises names first); `host` only in SYN_STREAM, but never needed.
 */
const REFUSED_BY_GO = new Set(['connection', 'host', 'keep-alive', 'proxy-connection', 'transfer-encoding']);

/** Serialises a header block. Throws a usage error for a block Go's reader would reject. */
export function encodeHeaderBlock(headers: HeaderBlock): Buffer {
  const parts: Buffer[] = [];
  const count = Buffer.allocUnsafe(4);
  count.writeUInt32BE(headers.size);
  parts.push(count);
  for (const [name, values] of headers) {
    if (name.length === 0) throw usageError('header name is empty');
    if (!SENDABLE_NAME.test(name)) throw usageError(`header name "${name}" is not a lower-case token (a-z, 0-9, :!#$%&'*+-.^_\`|~)`);
    if (REFUSED_BY_GO.has(name)) throw usageError(`header name "${name}" is connection-specific; spdystream would drop the connection`);
    if (values.length === 0) throw usageError(`header "${name}" has no value`);
    for (const value of values) {
      if (value.includes(VALUE_SEPARATOR)) throw usageError(`a value of header "${name}" contains NUL`);
    }
    const nameBytes = Buffer.from(name, 'utf8');
    const valueBytes = Buffer.from(values.join(VALUE_SEPARATOR), 'utf8');
    const nameLength = Buffer.allocUnsafe(4);
    nameLength.writeUInt32BE(nameBytes.length);
    const valueLength = Buffer.allocUnsafe(4);
    valueLength.writeUInt32BE(valueBytes.length);
    parts.push(nameLength, nameBytes, valueLength, valueBytes);
  }
  return Buffer.concat(parts);
}

/**
 * Default cap on the values one decoded block may carry (names with one value count one; a value
 * with NUL separators counts once per part). Kubernetes sends three or four. Without a cap a
 * block that compresses to about 100 bytes (64 KiB of NULs) decodes to a 65,000-element array.
 */
export const DEFAULT_MAX_HEADER_VALUES = 256;

/**
 * Estimated heap a decoded header block holds, in bytes: its strings at two bytes per UTF-16 unit
 * (V8's worst case) plus {@link HEADER_ENTRY_OVERHEAD_BYTES} per name and per value (string
 * header, array slot, map entry). The session charges it to its header budget while the stream
 * that carries the block is open.
 */
export function headerBlockMemory(headers: HeaderBlock): number {
  let bytes = 0;
  for (const [name, values] of headers) {
    bytes += HEADER_ENTRY_OVERHEAD_BYTES + 2 * name.length;
    for (const value of values) bytes += HEADER_ENTRY_OVERHEAD_BYTES + 2 * value.length;
  }
  return bytes;
}

/** What {@link headerBlockMemory} charges for each name and each value beyond its characters. */
export const HEADER_ENTRY_OVERHEAD_BYTES = 64;

/** Values of one value field: its NUL separators plus one, counted up to `limit + 1` at most. */
function valueCount(bytes: Buffer, limit: number): number {
  let count = 1;
  for (let at = bytes.indexOf(0); at !== -1 && count <= limit; at = bytes.indexOf(0, at + 1)) count++;
  return count;
}

/**
 * Parses an uncompressed header block. Every count and length is checked against the bytes
 * that remain before anything is allocated; the block must be consumed exactly. More than
 * `maxValues` values (see {@link DEFAULT_MAX_HEADER_VALUES}) is ERR_HEADER_BLOCK_TOO_LARGE, found
 * before the values are split.
 */
export function decodeHeaderBlock(block: Uint8Array, maxValues: number = DEFAULT_MAX_HEADER_VALUES): HeaderBlock {
  const view = Buffer.from(block.buffer, block.byteOffset, block.byteLength);
  let offset = 0;
  const readLength = (what: string): number => {
    if (view.length - offset < 4) {
      throw malformed(`${what} needs 4 bytes, ${view.length - offset} remain`);
    }
    const value = view.readUInt32BE(offset);
    offset += 4;
    return value;
  };
  const readBytes = (length: number, what: string): Buffer => {
    if (length > view.length - offset) {
      throw malformed(`${what} of ${length} bytes exceeds the ${view.length - offset} bytes that remain`);
    }
    const bytes = view.subarray(offset, offset + length);
    offset += length;
    return bytes;
  };

  const pairCount = readLength('pair count');
  // Each pair takes at least 8 bytes (two empty lengths), so a count the block cannot hold is
  // rejected before the loop runs (and before the map can grow).
  if (pairCount > (view.length - offset) / 8) {
    throw malformed(`pair count ${pairCount} exceeds what ${view.length - offset} bytes can hold`);
  }
  const headers: HeaderBlock = new Map();
  let values = 0;
  for (let i = 0; i < pairCount; i++) {
    const name = readBytes(readLength('name length'), 'name').toString('utf8');
    if (name.length === 0) throw malformed(`pair ${i} has an empty name`);
    if (hasUpperCaseAscii(name)) throw malformed(`header name "${name}" is not lower-case`);
    if (headers.has(name)) throw malformed(`header name "${name}" appears twice`);
    const valueBytes = readBytes(readLength('value length'), 'value');
    values += valueCount(valueBytes, maxValues - values);
    if (values > maxValues) {
      throw new KubemuxError(ErrorCode.HEADER_BLOCK_TOO_LARGE, 'session', `header block carries more than ${maxValues} values (maxHeaderValues)`);
    }
    headers.set(name, valueBytes.toString('utf8').split(VALUE_SEPARATOR));
  }
  if (offset !== view.length) {
    throw malformed(`${view.length - offset} bytes follow the last pair`);
  }
  return headers;
}

/** Builds a {@link HeaderBlock} from a plain object; string values become one-value lists. */
export function headerBlockFrom(record: Readonly<Record<string, string | readonly string[]>>): HeaderBlock {
  const headers: HeaderBlock = new Map();
  for (const [name, value] of Object.entries(record)) {
    headers.set(name.toLowerCase(), typeof value === 'string' ? [value] : [...value]);
  }
  return headers;
}

/** The first value of a header, or undefined. */
export function headerValue(headers: HeaderBlock, name: string): string | undefined {
  return headers.get(name)?.[0];
}
