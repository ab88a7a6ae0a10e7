/**
 * Fixtures for the kubeconfig, proxy and upgrade-error tests: temporary kubeconfig files, an API
 * server stand-in that records what each request carried (credentials, client certificate, SNI),
 * and servers that misbehave on purpose. Everything listens on 127.0.0.1 and is closed by the
 * test that started it.
 */
import { X509Certificate } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Duplex } from 'node:stream';
import tls, { type TLSSocket } from 'node:tls';
import { readAll, sha256, writeAllAndEnd } from './streams.js';

/** The part of node:test's TestContext these helpers need. */
export interface Cleanup {
  after(fn: () => unknown): void;
}

/** A fresh temporary directory, removed when the test ends. */
export async function tempDir(t: Cleanup): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'kubemux-kubeconfig-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** Writes `value` as JSON (which kubeconfig readers accept, JSON being YAML) and returns the path. */
export async function writeJson(dir: string, name: string, value: unknown): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, `${JSON.stringify(value, null, 2)}\n`, { mode: 0o600 });
  return path;
}

/** One context of a kubeconfig built by {@link kubeconfig}. */
export interface ContextSpec {
  readonly name: string;
  readonly cluster: Record<string, unknown>;
  readonly user?: Record<string, unknown>;
  readonly namespace?: string;
}

/** A kubeconfig document with one cluster and user per context; the first context is current. */
export function kubeconfig(...contexts: ContextSpec[]): Record<string, unknown> {
  return {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: contexts.map((c) => ({ name: `${c.name}-cluster`, cluster: c.cluster })),
    users: contexts.filter((c) => c.user !== undefined).map((c) => ({ name: `${c.name}-user`, user: c.user })),
    contexts: contexts.map((c) => ({
      name: c.name,
      context: { cluster: `${c.name}-cluster`, ...(c.user === undefined ? {} : { user: `${c.name}-user` }), ...(c.namespace === undefined ? {} : { namespace: c.namespace }) },
    })),
    'current-context': contexts[0]?.name,
  };
}

/** What one request to a {@link RecordingServer} carried. */
export interface RecordedRequest {
  readonly method: string;
  readonly url: string;
  readonly authorization: string | undefined;
  readonly impersonate: string | undefined;
  /** SHA-256 fingerprint of the client certificate, if one was presented. */
  readonly clientCertificate: string | undefined;
  /** The SNI name the client sent, if any. */
  readonly servername: string | undefined;
}

/** An API server stand-in: answers every GET with a small APIVersions document. */
export interface RecordingServer {
  readonly url: string;
  readonly port: number;
  readonly requests: RecordedRequest[];
}

function trackSockets(t: Cleanup, server: net.Server): void {
  const sockets = new Set<net.Socket>();
  server.on('connection', (socket: net.Socket) => {
    sockets.add(socket);
    socket.on('error', () => socket.destroy());
    socket.once('close', () => sockets.delete(socket));
  });
  t.after(async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
}

/** Starts `server` on 127.0.0.1 and returns its port. */
export async function listenLoopback(t: Cleanup, server: net.Server): Promise<number> {
  trackSockets(t, server);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  return (server.address() as net.AddressInfo).port;
}

/**
 * A recording API server on 127.0.0.1, plain or (with `tls`) HTTPS. With TLS it asks for a
 * client certificate without verifying it, so that tests can check which one was presented.
 */
export async function startRecordingServer(t: Cleanup, tls?: { key: string; cert: string }): Promise<RecordingServer> {
  const requests: RecordedRequest[] = [];
  const handler = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    const socket = req.socket as TLSSocket;
    const peer = typeof socket.getPeerCertificate === 'function' ? socket.getPeerCertificate() : undefined;
    requests.push({
      method: req.method ?? '',
      url: req.url ?? '',
      authorization: req.headers.authorization,
      impersonate: header(req.headers['impersonate-user']),
      clientCertificate: peer !== undefined && peer !== null && 'fingerprint256' in peer && peer.fingerprint256 !== undefined ? peer.fingerprint256 : undefined,
      servername: typeof (socket as { servername?: unknown }).servername === 'string' ? (socket as unknown as { servername: string }).servername : undefined,
    });
    req.resume();
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify({ kind: 'APIVersions', versions: ['v1'] }));
  };
  const server =
    tls === undefined
      ? http.createServer(handler)
      : https.createServer({ key: tls.key, cert: tls.cert, requestCert: true, rejectUnauthorized: false }, handler);
  const port = await listenLoopback(t, server);
  return { url: `${tls === undefined ? 'http' : 'https'}://127.0.0.1:${port}`, port, requests };
}

function header(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value.join(', ') : value;
}

/** The SHA-256 fingerprint of a PEM certificate, in the colon-separated form Node reports. */
export function fingerprint(certPem: string): string {
  return new X509Certificate(certPem).fingerprint256;
}

/** Base64 of UTF-8 text, for the kubeconfig's `*-data` fields. */
export function base64(text: string): string {
  return Buffer.from(text, 'utf8').toString('base64');
}

/**
 * A server that reads one request head (up to the blank line) and lets `answer` do anything with
 * the socket: the way to script API servers that misbehave. `answer` is not called for a
 * connection that closes first. With `tls`, it speaks TLS first.
 */
export async function startScriptedServer(
  t: Cleanup,
  answer: (socket: net.Socket, head: string) => void,
  tlsOptions?: { key: string; cert: string },
): Promise<{ url: string; port: number; connections: number }> {
  const state = { connections: 0 };
  const onSocket = (socket: net.Socket): void => {
    state.connections += 1;
    socket.on('error', () => socket.destroy());
    let received = '';
    const onData = (chunk: Buffer): void => {
      received += chunk.toString('latin1');
      const end = received.indexOf('\r\n\r\n');
      if (end === -1) return;
      socket.off('data', onData);
      answer(socket, received.slice(0, end));
    };
    socket.on('data', onData);
  };
  const server = tlsOptions === undefined ? net.createServer(onSocket) : tlsServer(tlsOptions, onSocket);
  const port = await listenLoopback(t, server);
  return {
    url: `${tlsOptions === undefined ? 'http' : 'https'}://127.0.0.1:${port}`,
    port,
    get connections() {
      return state.connections;
    },
  };
}

function tlsServer(options: { key: string; cert: string }, onSocket: (socket: net.Socket) => void): net.Server {
  const server = tls.createServer({ key: options.key, cert: options.cert, ALPNProtocols: ['http/1.1'] }, onSocket);
  // A client that gives up mid-handshake is expected in these tests.
  server.on('tlsClientError', () => {});
  return server;
}

/** The head of a correct 101 answer to a SPDY port-forward upgrade. */
export const SPDY_SWITCHING_PROTOCOLS =
  'HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\nX-Stream-Protocol-Version: portforward.k8s.io\r\n\r\n';

/** An answer to an upgrade with a Kubernetes Status body, as the API server writes one. */
export function statusAnswer(code: number, reason: string, message: string): string {
  const body = JSON.stringify({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code });
  return `HTTP/1.1 ${code} ${http.STATUS_CODES[code] ?? 'Error'}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`;
}

/** Something that opens port-forward streams (a SpdySession). */
interface StreamOpener {
  openStream(headers: Record<string, string>): Promise<Duplex>;
}

/**
 * Moves `payload` through pod port `port` and back, kubectl's way (an error stream, half-closed,
 * then the data stream), and returns the SHA-256 of what came back and the error stream's text.
 */
export async function echoThroughPod(session: StreamOpener, port: number, requestId: number, payload: Buffer): Promise<{ echoed: string; errorText: string }> {
  const headers = { port: String(port), requestid: String(requestId) };
  const errorStream = await session.openStream({ ...headers, streamtype: 'error' });
  errorStream.end();
  const errorText = readAll(errorStream).then(
    (b) => b.toString('utf8'),
    () => '',
  );
  const dataStream = await session.openStream({ ...headers, streamtype: 'data' });
  const [echoed] = await Promise.all([readAll(dataStream), writeAllAndEnd(dataStream, payload)]);
  return { echoed: sha256(echoed), errorText: await errorText };
}
