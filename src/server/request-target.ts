/**
 * The request target of an HTTP request as a server receives it (`req.url`), parsed without ever
 * throwing: the fake cluster and the port-forward endpoint answer requests from anyone on the
 * socket, and a target such as `//` or `%E0%A4%A` made `new URL(target, base)` and
 * `decodeURIComponent` throw out of the request handler and end the process.
 */

/** The parts of a request target the servers route on. */
export interface RequestTarget {
  /** The path, percent-escapes kept as sent (WHATWG-normalised: `.` and `..` segments resolved). */
  readonly pathname: string;
  readonly searchParams: URLSearchParams;
}

// Only a parsing base; it never appears in an answer.
const BASE = 'http://request-target.invalid';

/**
 * Parses an origin-form (`/path?query`) or absolute-form (`http://host/path`) request target.
 * Returns undefined for anything else (`*`, an empty target, a URL the WHATWG parser rejects):
 * the caller answers 400.
 *
 * Why not `new URL(target, base)`: a target that starts with `//` is then a scheme-relative URL,
 * so `//` throws (no host) and `//host/path` routes on `/path` of another host. Appending the
 * target to a fixed origin keeps every origin-form target a path.
 */
export function parseRequestTarget(target: string | undefined): RequestTarget | undefined {
  if (target === undefined || target === '') return undefined;
  try {
    let url: URL;
    if (target.startsWith('/')) url = new URL(BASE + target);
    else if (/^https?:\/\//i.test(target)) url = new URL(target);
    else return undefined;
    return { pathname: url.pathname, searchParams: url.searchParams };
  } catch {
    return undefined;
  }
}

/** `decodeURIComponent` that returns undefined for a malformed escape instead of throwing. */
export function decodePathSegment(segment: string): string | undefined {
  try {
    return decodeURIComponent(segment);
  } catch {
    return undefined;
  }
}
