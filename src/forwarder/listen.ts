/**
 * Binding one forwarded port on every listen address, with kubectl's failure modes (see
 * listen-address.ts) and its reuse of a picked port, and the ERR_LISTEN_FAILED that names the
 * address, the port and the operating system's reason.
 */
import net from 'node:net';
import { ErrorCode, KubemuxError } from '../errors.js';
import { formatHostPort, type ListenAddress } from './listen-address.js';

/** A listener that could not be bound while its `localhost` sibling could (failure mode `'all'`). */
export interface SkippedListener {
  readonly address: string;
  readonly port: number;
  /** ERR_LISTEN_FAILED, naming the address, the port and the reason. */
  readonly error: KubemuxError;
}

/** One bound listener. @internal */
export interface BoundListener {
  readonly server: net.Server;
  readonly address: string;
  readonly port: number;
}

/** The result of {@link bindPort}. @internal */
export interface BoundPort {
  readonly listeners: readonly BoundListener[];
  readonly skipped: readonly SkippedListener[];
}

/** Words for the listen errors people meet; the code follows in the message in every case. */
const REASONS: Readonly<Record<string, string>> = {
  EADDRINUSE: 'address already in use',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EADDRNOTAVAIL: 'address not available on this machine',
  EAFNOSUPPORT: 'address family not supported',
  EINVAL: 'invalid argument',
  EMFILE: 'too many open files',
  ENFILE: 'too many open files in the system',
};

/** The operating system's reason, without Node's stack or syscall noise: `address already in use (EADDRINUSE)`. */
export function systemReason(error: unknown): string {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  if (typeof code === 'string') return `${REASONS[code] ?? code.toLowerCase()} (${code})`;
  return error instanceof Error ? error.message : String(error);
}

/** ERR_LISTEN_FAILED for one address and port. */
export function listenFailure(address: string, port: number, error: unknown): KubemuxError {
  return new KubemuxError(ErrorCode.LISTEN_FAILED, 'transport', `cannot listen on ${formatHostPort(address, port)}: ${systemReason(error)}`, { cause: error });
}

/**
 * The accept queue asked of the kernel (which caps it at net.core.somaxconn). Node's default, 511,
 * made a burst of 2,000 local connections lose a quarter of them to resets before the forwarder
 * saw them; Go, and so kubectl, asks for somaxconn.
 */
const LISTEN_BACKLOG = 4096;

/** Starts `server` listening; resolves with the port bound. */
function listenOn(server: net.Server, address: ListenAddress, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const onError = (error: Error): void => reject(error);
    server.once('error', onError);
    // ipv6Only: "::" means IPv6 only, as Go's tcp6 listener does; 0.0.0.0 is its own listener.
    server.listen({ host: address.address, port, ipv6Only: address.family === 6, backlog: LISTEN_BACKLOG }, () => {
      server.off('error', onError);
      resolve((server.address() as net.AddressInfo).port);
    });
  });
}

/** Closes listeners that were bound, ignoring a server that is already closed. @internal */
export function closeListeners(listeners: readonly BoundListener[]): Promise<void> {
  return Promise.all(listeners.map(({ server }) => new Promise<void>((resolve) => server.close(() => resolve())))).then(() => undefined);
}

/**
 * Binds `localPort` (0: a free port, then the same one on the next addresses) on every address
 * with a server from `createServer`. Fails with ERR_LISTEN_FAILED when an address in mode `'any'`
 * fails or every address in mode `'all'` does; the message names each failure, and every listener
 * this call bound is closed first.
 * @internal
 */
export async function bindPort(addresses: readonly ListenAddress[], localPort: number, createServer: () => net.Server): Promise<BoundPort> {
  const listeners: BoundListener[] = [];
  const failures: Array<{ address: ListenAddress; port: number; error: KubemuxError }> = [];
  let port = localPort;
  for (const address of addresses) {
    const server = createServer();
    try {
      const bound = await listenOn(server, address, port);
      // kubectl's getListener: a port picked for the first address is the port for the rest.
      port = bound;
      listeners.push({ server, address: address.address, port: bound });
    } catch (error) {
      failures.push({ address, port, error: listenFailure(address.address, port, error) });
    }
  }
  const allMode = addresses.filter((a) => a.failureMode === 'all');
  const allModeFailed = allMode.length > 0 && failures.filter((f) => f.address.failureMode === 'all').length === allMode.length;
  const anyModeFailed = failures.some((f) => f.address.failureMode === 'any');
  if (allModeFailed || anyModeFailed) {
    await closeListeners(listeners);
    const first = failures[0]!.error;
    const message = failures.length === 1 ? first.message : `cannot listen: ${failures.map((f) => f.error.message.replace(/^cannot listen on /, '')).join('; ')}`;
    throw new KubemuxError(ErrorCode.LISTEN_FAILED, 'transport', message, { cause: first.cause });
  }
  return {
    listeners,
    skipped: failures.map(({ address, port: tried, error }) => ({ address: address.address, port: tried, error })),
  };
}
