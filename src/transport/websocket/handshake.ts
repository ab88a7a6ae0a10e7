/**
 * The RFC 6455 opening handshake (section 4), done by hand because `ws` and Node's built-in
 * WebSocket both refuse Kubernetes' tunnelling subprotocol `SPDY/3.1+portforward.k8s.io` ("/" is
 * not a token character). These functions only build and check HTTP heads; they never throw on
 * what a peer sent (a bad request or response is a typed result), and they do no I/O.
 */
import { createHash, randomBytes } from 'node:crypto';
import { STATUS_CODES, type IncomingHttpHeaders } from 'node:http';
import { ErrorCode, KubemuxError } from '../../errors.js';
import { formatSubprotocols, isValidSubprotocol, parseSubprotocols } from '../../channel/index.js';

/** The GUID RFC 6455 section 1.3 appends to Sec-WebSocket-Key before hashing. */
export const WEBSOCKET_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

/** The only protocol version RFC 6455 defines (Sec-WebSocket-Version). */
export const WEBSOCKET_VERSION = '13';

/**
 * A key is 16 bytes in base64: 22 characters and `==`. Like `ws`, the unused low bits of the last
 * character are not checked (RFC 6455 only asks that the key decode to 16 bytes, and lenient
 * decoders such as Go's accept them).
 */
const KEY_PATTERN = /^[+/0-9A-Za-z]{22}==$/;

/** Sec-WebSocket-Accept for `key`: base64(SHA-1(key + GUID)). */
export function acceptKeyFor(key: string): string {
  return createHash('sha1').update(key + WEBSOCKET_GUID).digest('base64');
}

/** A fresh Sec-WebSocket-Key: 16 random bytes, base64. */
export function generateKey(): string {
  return randomBytes(16).toString('base64');
}

/** True when `key` is the base64 form of exactly 16 bytes (RFC 6455 section 4.2.1, item 5). */
export function isValidKey(key: string): boolean {
  return KEY_PATTERN.test(key);
}

/** The parts of an upgrade request the server checks (an `http.IncomingMessage` fits). */
export interface UpgradeRequestHead {
  readonly method?: string | undefined;
  readonly httpVersion?: string | undefined;
  readonly headers: IncomingHttpHeaders;
}

/** A request that may be upgraded: its key and the subprotocols it offers, in its order. */
export interface AcceptableUpgrade {
  readonly ok: true;
  readonly key: string;
  readonly protocols: readonly string[];
}

/** A request that must be refused, with the status and headers to refuse it with. */
export interface RefusedUpgrade {
  readonly ok: false;
  readonly status: number;
  readonly reason: string;
  /** Extra response headers (426 names the version we speak). */
  readonly headers: Readonly<Record<string, string>>;
}

/** Result of {@link checkUpgradeRequest}. */
export type UpgradeRequestCheck = AcceptableUpgrade | RefusedUpgrade;

function headerValue(value: string | readonly string[] | undefined): string {
  if (value === undefined) return '';
  return typeof value === 'string' ? value : value.join(', ');
}

/** True when a comma-separated header value contains `token`, ignoring case. */
function listContains(value: string | readonly string[] | undefined, token: string): boolean {
  return headerValue(value)
    .split(',')
    .some((element) => element.trim().toLowerCase() === token);
}

function refuse(status: number, reason: string, headers: Record<string, string> = {}): RefusedUpgrade {
  return { ok: false, status, reason, headers };
}

/**
 * Checks a client's opening handshake (RFC 6455 section 4.2.1): GET, HTTP/1.1 or later,
 * `Upgrade: websocket`, `Connection` containing `upgrade`, `Sec-WebSocket-Version: 13` and a
 * 16-byte base64 key. Subprotocols are parsed without the token rule (see src/channel/subprotocols.ts).
 * Never throws; a bad request yields the status to answer with (405, 400, or 426 with
 * `Sec-WebSocket-Version: 13`).
 */
export function checkUpgradeRequest(request: UpgradeRequestHead): UpgradeRequestCheck {
  const headers = request.headers;
  if (request.method !== undefined && request.method !== 'GET') return refuse(405, `a WebSocket upgrade must use GET, not ${request.method}`, { Allow: 'GET' });
  if (request.httpVersion !== undefined && !/^1\.[1-9]$|^[2-9]\./.test(request.httpVersion)) {
    return refuse(400, `a WebSocket upgrade needs HTTP/1.1, got HTTP/${request.httpVersion}`);
  }
  if (!listContains(headers.upgrade, 'websocket')) return refuse(400, `missing "Upgrade: websocket" (got ${JSON.stringify(headerValue(headers.upgrade))})`);
  if (!listContains(headers.connection, 'upgrade')) return refuse(400, `missing "Connection: Upgrade" (got ${JSON.stringify(headerValue(headers.connection))})`);
  const version = headerValue(headers['sec-websocket-version']).trim();
  if (version !== WEBSOCKET_VERSION) {
    return refuse(426, `unsupported Sec-WebSocket-Version ${JSON.stringify(version)}; this server speaks ${WEBSOCKET_VERSION}`, {
      'Sec-WebSocket-Version': WEBSOCKET_VERSION,
    });
  }
  const key = headerValue(headers['sec-websocket-key']).trim();
  if (!isValidKey(key)) return refuse(400, `Sec-WebSocket-Key ${JSON.stringify(key)} is not 16 bytes in base64`);
  let protocols: string[];
  try {
    protocols = parseSubprotocols(headers['sec-websocket-protocol']);
  } catch (error) {
    return refuse(400, error instanceof Error ? error.message : 'invalid Sec-WebSocket-Protocol');
  }
  return { ok: true, key, protocols };
}

/**
 * Picks the subprotocol to answer with: the first one the client offered that the server
 * supports, which is how the Kubernetes streaming library (`wsstream` handshake) and the
 * apiserver's tunnelling handler choose. Undefined when there is none in common.
 */
export function selectSubprotocol(offered: readonly string[], supported: readonly string[]): string | undefined {
  return offered.find((name) => supported.includes(name));
}

function checkHeaderField(name: string, value: string): void {
  // A CR or LF in a header would let a caller (or whatever fed it) inject response lines.
  if (!/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(name) || /[\r\n\0]/.test(value)) {
    throw new KubemuxError(ErrorCode.INVALID_ARGUMENT, 'usage', `invalid response header ${JSON.stringify(name)}`);
  }
}

function headerLines(headers: Readonly<Record<string, string>>): string {
  let lines = '';
  for (const [name, value] of Object.entries(headers)) {
    checkHeaderField(name, value);
    lines += `${name}: ${value}\r\n`;
  }
  return lines;
}

/**
 * The raw `101 Switching Protocols` head that completes the handshake for `key`, naming
 * `protocol` in Sec-WebSocket-Protocol when given. Throws ERR_INVALID_ARGUMENT (usage) for an
 * invalid protocol name or header.
 */
export function acceptResponse(key: string, protocol?: string, extraHeaders: Readonly<Record<string, string>> = {}): string {
  if (protocol !== undefined && !isValidSubprotocol(protocol)) {
    throw new KubemuxError(ErrorCode.INVALID_ARGUMENT, 'usage', `invalid WebSocket subprotocol ${JSON.stringify(protocol)}`);
  }
  return (
    'HTTP/1.1 101 Switching Protocols\r\n' +
    'Upgrade: websocket\r\n' +
    'Connection: Upgrade\r\n' +
    `Sec-WebSocket-Accept: ${acceptKeyFor(key)}\r\n` +
    (protocol === undefined ? '' : `Sec-WebSocket-Protocol: ${protocol}\r\n`) +
    headerLines(extraHeaders) +
    '\r\n'
  );
}

/** A complete plain-text HTTP response refusing an upgrade (the connection is to be closed after it). */
export function refusalResponse(status: number, reason: string, extraHeaders: Readonly<Record<string, string>> = {}): string {
  if (!Number.isInteger(status) || status < 400 || status > 599) {
    throw new KubemuxError(ErrorCode.INVALID_ARGUMENT, 'usage', `refusal status ${String(status)} is outside 400..599`);
  }
  const body = `${reason}\n`;
  return (
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Error'}\r\n` +
    'Connection: close\r\n' +
    'Content-Type: text/plain; charset=utf-8\r\n' +
    `Content-Length: ${Buffer.byteLength(body)}\r\n` +
    headerLines(extraHeaders) +
    '\r\n' +
    body
  );
}

/** What a client sends to open a WebSocket, and what it must remember to check the answer. */
export interface ClientUpgrade {
  /** The Sec-WebSocket-Key sent. */
  readonly key: string;
  /** The subprotocols offered, in preference order. */
  readonly protocols: readonly string[];
  /** The upgrade headers to add to the GET request. */
  readonly headers: Readonly<Record<string, string>>;
}

/**
 * The headers of a client opening handshake offering `protocols` (RFC 6455 section 4.1). No
 * extensions are offered: permessage-deflate would only cost CPU on already-framed SPDY bytes.
 * Throws ERR_INVALID_ARGUMENT (usage) for an invalid protocol name.
 */
export function clientUpgrade(protocols: readonly string[], key: string = generateKey()): ClientUpgrade {
  const headers: Record<string, string> = {
    Connection: 'Upgrade',
    Upgrade: 'websocket',
    'Sec-WebSocket-Version': WEBSOCKET_VERSION,
    'Sec-WebSocket-Key': key,
  };
  if (protocols.length > 0) headers['Sec-WebSocket-Protocol'] = formatSubprotocols(protocols);
  return { key, protocols: [...protocols], headers };
}

/** The parts of the server's answer the client checks (an `http.IncomingMessage` fits). */
export interface UpgradeResponseHead {
  readonly statusCode?: number | undefined;
  readonly statusMessage?: string | undefined;
  readonly headers: IncomingHttpHeaders;
}

/** Result of {@link checkUpgradeResponse}. */
export type UpgradeResponseCheck =
  | { readonly ok: true; /** The negotiated subprotocol; undefined only when none was offered. */ readonly protocol: string | undefined }
  | { readonly ok: false; readonly error: KubemuxError };

function invalid(message: string): UpgradeResponseCheck {
  return { ok: false, error: new KubemuxError(ErrorCode.UPGRADE_INVALID, 'transport', `the WebSocket upgrade failed: ${message}`) };
}

/**
 * Checks the server's answer to {@link clientUpgrade} (RFC 6455 section 4.1, client
 * requirements): status 101, `Upgrade: websocket`, `Connection: upgrade`, the accept key for our
 * key, no extension, and exactly one subprotocol among those offered (a server that names none
 * when we offered some is refused too: without it we would not know the framing).
 *
 * Errors: ERR_UPGRADE_REFUSED (with `httpStatus`) for a status other than 101 — kubectl falls back
 * to plain SPDY on it — and ERR_UPGRADE_INVALID for a 101 that breaks the rules. Never throws.
 */
export function checkUpgradeResponse(response: UpgradeResponseHead, upgrade: Pick<ClientUpgrade, 'key' | 'protocols'>): UpgradeResponseCheck {
  const status = response.statusCode;
  if (status !== 101) {
    const text = `${String(status)} ${response.statusMessage ?? ''}`.trim();
    return {
      ok: false,
      error: new KubemuxError(ErrorCode.UPGRADE_REFUSED, 'transport', `the WebSocket upgrade was refused with HTTP ${text}`, status === undefined ? {} : { httpStatus: status }),
    };
  }
  const headers = response.headers;
  if (headerValue(headers.upgrade).trim().toLowerCase() !== 'websocket') return invalid(`"Upgrade" is ${JSON.stringify(headerValue(headers.upgrade))}, not "websocket"`);
  if (!listContains(headers.connection, 'upgrade')) return invalid(`"Connection" is ${JSON.stringify(headerValue(headers.connection))}, without "upgrade"`);
  const accept = headerValue(headers['sec-websocket-accept']).trim();
  if (accept !== acceptKeyFor(upgrade.key)) return invalid(`Sec-WebSocket-Accept ${JSON.stringify(accept)} does not match the key sent`);
  if (headers['sec-websocket-extensions'] !== undefined) return invalid(`the server chose extensions ${JSON.stringify(headerValue(headers['sec-websocket-extensions']))} that were not offered`);
  let chosen: string[];
  try {
    chosen = parseSubprotocols(headers['sec-websocket-protocol']);
  } catch (error) {
    return invalid(error instanceof Error ? error.message : 'invalid Sec-WebSocket-Protocol');
  }
  if (chosen.length > 1) return invalid(`the server named ${chosen.length} subprotocols (${chosen.join(', ')}); one is allowed`);
  const protocol = chosen[0];
  if (protocol === undefined) {
    if (upgrade.protocols.length > 0) return invalid(`the server selected no subprotocol; offered ${upgrade.protocols.join(', ')}`);
    return { ok: true, protocol: undefined };
  }
  if (!upgrade.protocols.includes(protocol)) return invalid(`the server selected subprotocol ${JSON.stringify(protocol)}, which was not offered (offered: ${upgrade.protocols.join(', ') || 'none'})`);
  return { ok: true, protocol };
}
