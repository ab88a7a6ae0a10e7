/**
 * The protocol names Kubernetes port-forward negotiates, and a parser for the
 * Sec-WebSocket-Protocol header that accepts them.
 *
 * RFC 6455 section 4.1 says a subprotocol must be an RFC 2616 token, and both `ws` and Node's
 * built-in WebSocket enforce it. Kubernetes' tunnelling subprotocol `SPDY/3.1+portforward.k8s.io`
 * contains `/`, which is not a token character, so those clients and servers refuse it. Go's
 * gorilla/websocket (the apiserver side) only splits the header on commas, so the name works on
 * the wire. This parser follows gorilla: it splits on commas, trims blanks, and rejects only what
 * could not survive in an HTTP header or would be ambiguous (controls, blanks inside a name,
 * commas, non-ASCII).
 */
import { ErrorCode, KubemuxError } from '../errors.js';

/**
 * KEP-4006 tunnelling: SPDY/3.1 port-forward carried in binary WebSocket messages
 * (`WebsocketsSPDYTunnelingPrefix` + `portforward.k8s.io` in kubernetes/apimachinery). kubectl
 * 1.31+ offers it first.
 */
export const SPDY_TUNNEL_SUBPROTOCOL = 'SPDY/3.1+portforward.k8s.io';

/** The prefix the apiserver looks for to pick the tunnelling handler. */
export const SPDY_TUNNEL_PREFIX = 'SPDY/3.1+';

/**
 * The v4 channel protocol over binary messages: each message is one channel byte and a payload.
 * @kubernetes/client-node offers it for port-forward.
 */
export const V4_CHANNEL_SUBPROTOCOL = 'v4.channel.k8s.io';

/** The v4 channel protocol over text messages: an ASCII channel digit, then base64. */
export const V4_BASE64 = 'v4.base64.channel.k8s.io';

/**
 * The SPDY port-forward protocol version (`X-Stream-Protocol-Version` of the SPDY upgrade). It is
 * not a WebSocket subprotocol on its own; the tunnel subprotocol wraps it.
 */
export const PORT_FORWARD_PROTOCOL = 'portforward.k8s.io';

/**
 * True when `name` can stand as one Sec-WebSocket-Protocol element: printable ASCII without
 * blanks or commas. Deliberately wider than RFC 6455's token rule (see the file comment).
 */
export function isValidSubprotocol(name: string): boolean {
  if (name.length === 0) return false;
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    // 0x21..0x7e is visible ASCII; 0x2c is the list separator.
    if (c < 0x21 || c > 0x7e || c === 0x2c) return false;
  }
  return true;
}

/**
 * Parses Sec-WebSocket-Protocol header values into names, in the order given. `value` may be one
 * header value or several (repeated headers); each is a comma-separated list, and empty list
 * elements are skipped as RFC 9110 section 5.6.1 allows. Returns `[]` for an absent header.
 * Throws ERR_PROTOCOL (scope 'transport') for a name {@link isValidSubprotocol} rejects.
 */
export function parseSubprotocols(value: string | readonly string[] | undefined): string[] {
  if (value === undefined) return [];
  const values = typeof value === 'string' ? [value] : value;
  const names: string[] = [];
  for (const header of values) {
    for (const element of header.split(',')) {
      const name = element.replace(/^[ \t]+|[ \t]+$/g, '');
      if (name.length === 0) continue;
      if (!isValidSubprotocol(name)) {
        throw new KubemuxError(ErrorCode.PROTOCOL, 'transport', `invalid Sec-WebSocket-Protocol element ${JSON.stringify(name)}`);
      }
      names.push(name);
    }
  }
  return names;
}

/** Formats names as one Sec-WebSocket-Protocol value. Throws ERR_INVALID_ARGUMENT (usage) for an invalid name. */
export function formatSubprotocols(names: readonly string[]): string {
  for (const name of names) {
    if (!isValidSubprotocol(name)) {
      throw new KubemuxError(ErrorCode.INVALID_ARGUMENT, 'usage', `invalid WebSocket subprotocol ${JSON.stringify(name)}`);
    }
  }
  return names.join(', ');
}
