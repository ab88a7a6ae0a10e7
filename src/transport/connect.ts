/**
 * Opening the byte connection an upgrade request travels on: TCP, or TLS for https servers
 * (HTTP/1.1 only: the upgrade does not exist in HTTP/2). Every dialer (SPDY, WebSocket tunnel,
 * v4 channels) passes this to http.request as `createConnection`, so connection concerns
 * (TLS material, proxies) live in one place.
 */
import net from 'node:net';
import type { Duplex } from 'node:stream';
import tls from 'node:tls';
import type { UpgradeTarget } from './request-target.js';

/** The `createConnection` option of http.request, in its callback form. */
export type ConnectionFactory = (options: object, callback: (error: Error | null, socket?: Duplex) => void) => Duplex | undefined;

/** A connection factory for `target`: a fresh socket per call, never pooled. */
export function connectionFactory(target: UpgradeTarget): ConnectionFactory {
  const url = new URL(target.server);
  const secure = url.protocol === 'https:';
  const host = url.hostname.replace(/^\[|\]$/g, '');
  const port = Number(url.port || (secure ? 443 : 80));
  const timeoutMs = target.connectTimeoutMs ?? 30_000;
  return (_options, callback) => {
    const socket = secure
      ? tls.connect({ host, port, ...(net.isIP(host) === 0 ? { servername: host } : {}), ALPNProtocols: ['http/1.1'], ...target.tls })
      : net.connect({ host, port });
    const connected = (): void => {
      socket.setTimeout(0);
      socket.off('error', failed);
      callback(null, socket);
    };
    const failed = (error: Error): void => {
      socket.destroy();
      callback(error);
    };
    socket.setTimeout(timeoutMs, () => {
      failed(Object.assign(new Error(`connect to ${url.host} timed out after ${timeoutMs} ms`), { code: 'ETIMEDOUT' }));
    });
    socket.once(secure ? 'secureConnect' : 'connect', connected);
    socket.once('error', failed);
    return undefined;
  };
}
