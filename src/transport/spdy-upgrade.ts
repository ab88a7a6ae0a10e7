/**
 * The SPDY/3.1 upgrade, client side, as kubectl does it: `POST` to the portforward subresource
 * over HTTP/1.1 (plain or TLS) with `Connection: Upgrade`, `Upgrade: SPDY/3.1` and
 * `X-Stream-Protocol-Version: portforward.k8s.io`; a 101 with the negotiated protocol turns the
 * connection into a SPDY session (client role). Bytes that arrive with the 101 belong to it.
 */
import http from 'node:http';
import https from 'node:https';
import type { Socket } from 'node:net';
import { ErrorCode, KubemuxError } from '../errors.js';
import { SpdySession, type SpdySessionOptions } from '../session/index.js';
import { connectionFactory } from './connect.js';
import { requestUrl, type UpgradeTarget } from './request-target.js';
import { refusedUpgradeError, requestError } from './upgrade-errors.js';

export const PORT_FORWARD_PROTOCOL = 'portforward.k8s.io';
const DEFAULT_TIMEOUT_MS = 30_000;

/** Performs the SPDY upgrade and returns the live session. */
export function dialSpdy(target: UpgradeTarget, sessionOptions: Omit<SpdySessionOptions, 'role'> = {}): Promise<SpdySession> {
  const url = requestUrl(target.server, target.path);
  const secure = url.protocol === 'https:';
  if (!secure && url.protocol !== 'http:') {
    return Promise.reject(new KubemuxError(ErrorCode.INVALID_ARGUMENT, 'usage', `server URL must be http: or https:, got ${url.protocol}`));
  }
  const where = url.host;
  return new Promise<SpdySession>((resolve, reject) => {
    let settled = false;
    const fail = (error: KubemuxError): void => {
      if (settled) return;
      settled = true;
      clearTimeout(upgradeTimer);
      request.destroy();
      reject(error);
    };
    const request = (secure ? https : http).request(url, {
      method: 'POST',
      // A fresh connection of our own: an upgraded socket must never come from (or go back to) a pool.
      createConnection: connectionFactory(target) as unknown as http.RequestOptions['createConnection'],
      timeout: target.connectTimeoutMs ?? DEFAULT_TIMEOUT_MS,
      headers: {
        ...target.headers,
        Connection: 'Upgrade',
        Upgrade: 'SPDY/3.1',
        'X-Stream-Protocol-Version': PORT_FORWARD_PROTOCOL,
        'Content-Length': '0',
      },
    });
    const upgradeTimer = setTimeout(
      () => fail(new KubemuxError(ErrorCode.TIMEOUT, 'transport', `no upgrade answer from ${where} within ${target.upgradeTimeoutMs ?? DEFAULT_TIMEOUT_MS} ms`)),
      target.upgradeTimeoutMs ?? DEFAULT_TIMEOUT_MS,
    );
    upgradeTimer.unref();
    request.on('timeout', () => fail(new KubemuxError(ErrorCode.TIMEOUT, 'transport', `connecting to ${where} timed out`)));
    // The connection factory hands the socket over only once TCP (and TLS) is up.
    let connected = false;
    request.once('socket', () => {
      connected = true;
    });
    request.on('error', (error) => fail(requestError(error, where, connected)));
    request.on('response', (response) => {
      void refusedUpgradeError(response, 'the SPDY upgrade').then(fail);
    });
    request.on('upgrade', (response: http.IncomingMessage, socket: Socket, head: Buffer) => {
      const problem = checkSpdyUpgradeResponse(response);
      if (problem !== undefined) {
        socket.destroy();
        return fail(new KubemuxError(ErrorCode.UPGRADE_INVALID, 'transport', `${where} answered the SPDY upgrade wrongly: ${problem}`));
      }
      if (settled) return socket.destroy();
      settled = true;
      clearTimeout(upgradeTimer);
      socket.setTimeout(0);
      socket.setNoDelay(true);
      if (head.length > 0) socket.unshift(head);
      resolve(new SpdySession(socket, { ...sessionOptions, role: 'client' }));
    });
    request.end();
  });
}

/** What is wrong with a 101 answer to a SPDY upgrade, or undefined when it is right. */
export function checkSpdyUpgradeResponse(response: http.IncomingMessage): string | undefined {
  const connection = String(response.headers.connection ?? '').toLowerCase();
  const upgrade = String(response.headers.upgrade ?? '').toLowerCase();
  const protocol = response.headers['x-stream-protocol-version'];
  if (response.statusCode !== 101) return `status ${response.statusCode}`;
  if (!connection.includes('upgrade')) return `Connection header is ${JSON.stringify(connection)}`;
  if (!upgrade.includes('spdy/3.1')) return `Upgrade header is ${JSON.stringify(upgrade)}`;
  if (protocol !== PORT_FORWARD_PROTOCOL) {
    return `unable to negotiate protocol: client supports "${PORT_FORWARD_PROTOCOL}", server returned ${JSON.stringify(protocol ?? '')}`;
  }
  return undefined;
}
