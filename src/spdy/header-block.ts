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
import type { HeaderBlock } from './frames.js';

const VALUE_SEPARATOR = '\0';

function usage(message: string): KubemuxError {
  return new KubemuxError(ErrorCode.INVALID_ARGUMENT, 'usage', message);
}

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
    if (name.length === 0) throw usage('header name is empty');
    if (!SENDABLE_NAME.test(name)) throw usage(`header name "${name}" is not a lower-case token (a-z, 0-9, :!#$%&'*+-.^_\`|~)`);
    if (REFUSED_BY_GO.has(name)) throw usage(`header name "${name}" is connection-specific; spdystream would drop the connection`);
    if (values.length === 0) throw usage(`header "${name}" has no value`);
    for (const value of values) {
      if (value.includes(VALUE_SEPARATOR)) throw usage(`a value of header "${name}" contains NUL`);
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
 * Parses an uncompressed header block. Every count and length is checked against the bytes
 * that remain before anything is allocated; the block must be consumed exactly.
 */
export function decodeHeaderBlock(block: Uint8Array): HeaderBlock {
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
  for (let i = 0; i < pairCount; i++) {
    const name = readBytes(readLength('name length'), 'name').toString('utf8');
    if (name.length === 0) throw malformed(`pair ${i} has an empty name`);
    if (hasUpperCaseAscii(name)) throw malformed(`header name "${name}" is not lower-case`);
    if (headers.has(name)) throw malformed(`header name "${name}" appears twice`);
    const value = readBytes(readLength('value length'), 'value').toString('utf8');
    headers.set(name, value.split(VALUE_SEPARATOR));
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
