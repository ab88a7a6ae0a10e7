/**
 * Dialing "inside the pod": where the runtime connects for each forwarded connection, and the
 * error text it reports when that fails. The text follows containerd's shape, because clients
 * (kubectl among them) print it verbatim and users search for it.
 */
import net from 'node:net';
import type { Duplex } from 'node:stream';
import type { PodTarget } from './types.js';

/** Connects to the target of a forwarded port. Resolves once connected; rejects with the dial error. */
export type DialFunction = (target: { host: string; port: number }, context: { pod: PodTarget; port: number }) => Promise<Duplex>;

/** The default dial: a TCP connection to `target` (127.0.0.1:PORT unless the pod maps it elsewhere). */
export const dialTcp: DialFunction = (target) =>
  new Promise((resolve, reject) => {
    // allowHalfOpen: the pod may finish sending while the client still has bytes for it.
    const socket = net.connect({ port: target.port, host: target.host, allowHalfOpen: true });
    const onError = (error: Error): void => {
      socket.destroy();
      reject(error);
    };
    socket.once('error', onError);
    socket.once('connect', () => {
      socket.off('error', onError);
      socket.setNoDelay(true);
      resolve(socket);
    });
  });

/** Go's wording for the common socket errors, as it appears in runtime messages. */
function goSyscallText(error: unknown): string {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  switch (code) {
    case 'ECONNREFUSED':
      return 'connect: connection refused';
    case 'ETIMEDOUT':
      return 'i/o timeout';
    case 'EHOSTUNREACH':
      return 'connect: no route to host';
    case 'ENETUNREACH':
      return 'connect: network is unreachable';
    case 'ECONNRESET':
      return 'read: connection reset by peer';
    default:
      return error instanceof Error ? error.message : String(error);
  }
}

/**
 * The message written on the error stream when the dial fails, e.g.
 * `error forwarding port 8080 to pod default/demo, uid 1f2e...: failed to connect to
 * localhost:8080 inside namespace "demo", IPv4: dial tcp4 127.0.0.1:8080: connect: connection
 * refused IPv6 dial tcp6 [::1]:8080: connect: connection refused`.
 */
export function dialFailureMessage(pod: PodTarget, port: number, target: { host: string; port: number }, error: unknown): string {
  const reason = goSyscallText(error);
  return (
    `error forwarding port ${port} to pod ${pod.namespace}/${pod.name}, uid ${pod.uid}: ` +
    `failed to connect to localhost:${port} inside namespace "${pod.name}", ` +
    `IPv4: dial tcp4 ${target.host}:${target.port}: ${reason} IPv6 dial tcp6 [::1]:${target.port}: ${reason}`
  );
}
