/**
 * Local listen addresses, as kubectl's `--address` takes them (`parseAddresses` in client-go's
 * portforward.go):
 *
 * - `localhost` (the default) means two listeners, 127.0.0.1 and ::1, in failure mode `'all'`:
 *   the port fails only if neither binds (a machine without IPv6 still forwards);
 * - any other value must be an IP literal, and every one must bind (failure mode `'any'`). This is
 *   the only way to listen outside loopback (`0.0.0.0`, `::`, a LAN address): asked for by name.
 *
 * An address given both ways (`localhost` and `127.0.0.1`) is bound once, in mode `'any'`.
 * Addresses are bound in string order, as kubectl sorts them (so 127.0.0.1 before ::1), which
 * matters for local port 0: the port picked by the first listener is reused for the others.
 */
import { isIP } from 'node:net';
import { ErrorCode, KubemuxError } from '../errors.js';

/** The default listen addresses: loopback only. */
export const DEFAULT_LISTEN_ADDRESSES: readonly string[] = Object.freeze(['localhost']);

/** One address to listen on. */
export interface ListenAddress {
  /** An IP literal. */
  readonly address: string;
  readonly family: 4 | 6;
  /** `'all'`: from `localhost`, fails only with its sibling; `'any'`: must bind. */
  readonly failureMode: 'all' | 'any';
}

/** Parses `addresses` (at least one): `localhost` (127.0.0.1 and ::1, either may fail) or IP literals; throws ERR_INVALID_ARGUMENT (usage) naming a bad one. */
export function parseListenAddresses(addresses: readonly string[]): ListenAddress[] {
  if (!Array.isArray(addresses) || addresses.length === 0) {
    throw new KubemuxError(ErrorCode.INVALID_ARGUMENT, 'usage', 'addresses must list at least one address (default ["localhost"])');
  }
  const parsed = new Map<string, ListenAddress>();
  for (const address of addresses) {
    if (address === 'localhost') {
      // An explicit 127.0.0.1 or ::1 keeps its stricter mode.
      if (!parsed.has('127.0.0.1')) parsed.set('127.0.0.1', { address: '127.0.0.1', family: 4, failureMode: 'all' });
      if (!parsed.has('::1')) parsed.set('::1', { address: '::1', family: 6, failureMode: 'all' });
      continue;
    }
    const family = typeof address === 'string' ? isIP(address) : 0;
    if (family === 0) {
      throw new KubemuxError(ErrorCode.INVALID_ARGUMENT, 'usage', `address ${JSON.stringify(address)} is neither "localhost" nor an IP address`);
    }
    parsed.set(address, { address, family: family as 4 | 6, failureMode: 'any' });
  }
  return [...parsed.values()].sort((x, y) => (x.address < y.address ? -1 : x.address > y.address ? 1 : 0));
}

/** `host:port` with brackets around an IPv6 address, for messages and logs. */
export function formatHostPort(address: string, port: number): string {
  return `${isIP(address) === 6 ? `[${address}]` : address}:${port}`;
}
