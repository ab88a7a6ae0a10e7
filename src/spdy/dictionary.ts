/**
 * The SPDY/3 header compression dictionary (1,423 bytes, Adler-32 0xe3c6a7c2), as the SPDY/3 draft
 * defines it: 65 length-prefixed words (HTTP header names, methods and tokens) followed by a run
 * of raw text (status codes and phrases, dates, content types). Both zlib contexts of a session are
 * primed with it; Go's zlib writer announces it with DICTID e3c6a7c2 in the first block's header.
 */

const PREFIXED_WORDS = [
  'options', 'head', 'post', 'put', 'delete', 'trace', 'accept', 'accept-charset',
  'accept-encoding', 'accept-language', 'accept-ranges', 'age', 'allow', 'authorization',
  'cache-control', 'connection', 'content-base', 'content-encoding', 'content-language',
  'content-length', 'content-location', 'content-md5', 'content-range', 'content-type', 'date',
  'etag', 'expect', 'expires', 'from', 'host', 'if-match', 'if-modified-since', 'if-none-match',
  'if-range', 'if-unmodified-since', 'last-modified', 'location', 'max-forwards', 'pragma',
  'proxy-authenticate', 'proxy-authorization', 'range', 'referer', 'retry-after', 'server', 'te',
  'trailer', 'transfer-encoding', 'upgrade', 'user-agent', 'vary', 'via', 'warning',
  'www-authenticate', 'method', 'get', 'status', '200 OK', 'version', 'HTTP/1.1', 'url', 'public',
  'set-cookie', 'keep-alive', 'origin',
];

const RAW_TAIL =
  "10010120120220520630030230330430530630740240540640740840941041141241341441541641" +
  "7502504505203 Non-Authoritative Information204 No Content301 Moved Permanently40" +
  "0 Bad Request401 Unauthorized403 Forbidden404 Not Found500 Internal Server Error" +
  "501 Not Implemented503 Service UnavailableJan Feb Mar Apr May Jun Jul Aug Sept O" +
  "ct Nov Dec 00:00:00 Mon, Tue, Wed, Thu, Fri, Sat, Sun, GMTchunked,text/html,imag" +
  "e/png,image/jpg,image/gif,application/xml,application/xhtml+xml,text/plain,text/" +
  "javascript,publicprivatemax-age=gzip,deflate,sdchcharset=utf-8charset=iso-8859-1" +
  ",utf-,*,enq=0.";

function buildDictionary(): Uint8Array {
  const chunks: Buffer[] = [];
  for (const word of PREFIXED_WORDS) {
    const length = Buffer.alloc(4);
    length.writeUInt32BE(word.length);
    chunks.push(length, Buffer.from(word, 'latin1'));
  }
  chunks.push(Buffer.from(RAW_TAIL, 'latin1'));
  return new Uint8Array(Buffer.concat(chunks));
}

/** The dictionary bytes. Treat as read-only. */
export const SPDY3_DICTIONARY: Uint8Array = buildDictionary();
