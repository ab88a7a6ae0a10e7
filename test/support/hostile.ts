/**
 * Helpers for the hostile-peer tests (test/unit/hostile): raw HTTP exchanges, a flood writer that
 * honours (or proves) backpressure, heap sampling, a legitimate echo to show that a process under
 * attack keeps serving, and a guard that takes over uncaught exceptions for one test.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import type { TestContext } from 'node:test';
import { obtainGc } from '../../bench/support/gc.js';
import { SpdySession } from '../../src/session/index.js';
import { FrameDecoder, type Frame } from '../../src/spdy/index.js';
import { portForwardPath } from '../../src/transport/api/request-target.js';
import { dialSpdy } from '../../src/transport/spdy/upgrade.js';
import { within } from './deadlines.js';
import { duplexPair } from './duplex-pair.js';
import { randomBytes, readAll, sha256 } from './streams.js';

export const KiB = 1024;
export const MiB = 1024 * KiB;

/** What a raw HTTP exchange got back: the status line's code, the head and whatever body came before the close. */
export interface RawHttpAnswer {
  readonly status: number;
  readonly head: string;
  readonly body: string;
}

/**
 * Sends `request` (raw bytes, CRLFs included) on a fresh TCP connection and collects the answer
 * until the server closes the connection, or, with `untilHead`, until the answer's head is
 * complete (the connection is then destroyed: a 101 leaves it open).
 */
export async function rawHttp(port: number, request: string | Buffer, options: { timeoutMs?: number; untilHead?: boolean } = {}): Promise<RawHttpAnswer> {
  const socket = net.connect(port, '127.0.0.1');
  const chunks: Buffer[] = [];
  const done = new Promise<void>((resolve) => {
    socket.once('close', () => resolve());
    socket.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      if (options.untilHead === true && Buffer.concat(chunks).includes('\r\n\r\n')) resolve();
    });
  });
  socket.on('error', () => {});
  await once(socket, 'connect');
  socket.write(request);
  try {
    await within(done, `the answer to ${JSON.stringify(String(request).slice(0, 40))}`, options.timeoutMs ?? 5_000);
  } finally {
    socket.destroy();
  }
  const text = Buffer.concat(chunks).toString('latin1');
  const headEnd = text.indexOf('\r\n\r\n');
  const head = headEnd === -1 ? text : text.slice(0, headEnd);
  const status = /^HTTP\/1\.1 (\d{3}) /.exec(head)?.[1];
  assert.ok(status !== undefined, `no HTTP status line in ${JSON.stringify(text.slice(0, 200))}`);
  return { status: Number(status), head, body: headEnd === -1 ? '' : text.slice(headEnd + 4) };
}

/**
 * A peer's hostile writer: writes `chunk` (or what the function makes, each time) again and again until `totalBytes` are written or the
 * transport fails, waiting for 'drain' when it must. Resolves with the bytes written and whether
 * the writer ended up blocked (its last write waited for a 'drain' that never came before the
 * transport closed): that is the proof that the other side stopped reading.
 */
export async function flood(transport: Duplex, chunk: Buffer | (() => Buffer), totalBytes: number): Promise<{ written: number; blocked: boolean }> {
  const next = typeof chunk === 'function' ? chunk : () => chunk;
  let written = 0;
  let closed = transport.destroyed;
  let wake: (() => void) | undefined;
  const onDrain = (): void => wake?.();
  const onClose = (): void => {
    closed = true;
    wake?.();
  };
  transport.on('drain', onDrain);
  transport.on('close', onClose);
  transport.on('error', () => {});
  try {
    while (written < totalBytes && !closed && !transport.destroyed) {
      const bytes = next();
      const flowing = transport.write(bytes);
      written += bytes.length;
      if (flowing) continue;
      await new Promise<void>((resolve) => (wake = resolve));
      wake = undefined;
      if (closed) return { written, blocked: true };
    }
    return { written, blocked: false };
  } finally {
    transport.off('drain', onDrain);
    transport.off('close', onClose);
  }
}

/** `count` copies of `frame` back to back (a chunk for {@link flood}). */
export function repeat(frame: Buffer, count: number): Buffer {
  return Buffer.concat(Array.from({ length: count }, () => frame));
}

/**
 * Memory in use (V8 heap plus Buffer contents) after full collections, as a baseline, and a
 * sampler that records the highest use (without collecting) until stopped: growth = peak − baseline. Garbage counts too,
 * so bounds must be generous; they are meant to tell kilobytes from gigabytes. With `collect`,
 * each sample (every 50 ms) runs a full collection first, so the peak is of what was held, not
 * of garbage (for floods that decode millions of frames). `retained()` collects once: what is
 * still held now.
 */
export function heapSampler(options: { intervalMs?: number; collect?: boolean } = {}): { baseline: number; stop(): number; retained(): number } {
  const { gc } = obtainGc();
  gc();
  gc();
  const baseline = heldBytes();
  let peak = baseline;
  const intervalMs = options.intervalMs ?? (options.collect === true ? 50 : 5);
  const sample = (): void => {
    if (options.collect === true) gc();
    peak = Math.max(peak, heldBytes());
  };
  const timer = setInterval(sample, intervalMs);
  return {
    baseline,
    stop() {
      sample();
      clearInterval(timer);
      return peak - baseline;
    },
    /** Heap in use after full collections now, minus the baseline: what is still held. */
    retained() {
      clearInterval(timer);
      gc();
      gc();
      return heldBytes() - baseline;
    },
  };
}

/** The V8 heap in use plus the bytes of ArrayBuffers (Buffers' contents live outside the heap). */
function heldBytes(): number {
  const usage = process.memoryUsage();
  return usage.heapUsed + usage.arrayBuffers;
}

/**
 * A legitimate SPDY session pair in this process (in-memory transport): opens a stream, echoes
 * 64 KiB through it and checks the bytes, within `timeoutMs`. Used while a flood runs elsewhere
 * in the process, to show that the process keeps serving others (a sanity deadline, not a timing
 * assertion).
 */
export async function legitEcho(timeoutMs = 5_000): Promise<void> {
  const [a, b] = duplexPair();
  const client = new SpdySession(a, { role: 'client' });
  const server = new SpdySession(b, { role: 'server' });
  server.on('stream', (stream) => {
    stream.accept();
    stream.pipe(stream);
  });
  try {
    await within(
      (async () => {
        const stream = await client.openStream({ streamtype: 'data', port: '1', requestid: '0' });
        const payload = randomBytes(64 * KiB);
        const echoed = readAll(stream);
        stream.end(payload);
        assert.equal(sha256(await echoed), sha256(payload));
      })(),
      'a legitimate echo in the same process',
      timeoutMs,
    );
  } finally {
    client.destroy();
    server.destroy();
  }
}

/**
 * A legitimate client of an endpoint or fake cluster at `serverUrl`: dials SPDY to `pod`
 * (default `demo`), opens a pair to its `port` (default 8080), and checks that 64 KiB come back
 * intact, within `timeoutMs` (default 5 s).
 */
export async function legitForward(serverUrl: string, options: { port?: number; pod?: string; timeoutMs?: number } = {}): Promise<void> {
  const port = options.port ?? 8080;
  const timeoutMs = options.timeoutMs ?? 5_000;
  const session = await within(dialSpdy({ server: serverUrl, path: portForwardPath('default', options.pod ?? 'demo') }), 'the legitimate dial', timeoutMs);
  try {
    await within(
      (async () => {
        const errorStream = await session.openStream({ streamtype: 'error', port: String(port), requestid: '0' });
        errorStream.end();
        errorStream.resume();
        const data = await session.openStream({ streamtype: 'data', port: String(port), requestid: '0' });
        const payload = randomBytes(64 * KiB);
        const echoed = readAll(data);
        data.end(payload);
        assert.equal(sha256(await echoed), sha256(payload));
      })(),
      'a legitimate forwarded echo',
      timeoutMs,
    );
  } finally {
    session.destroy();
  }
}

/**
 * Takes over uncaught exceptions for the rest of test `t` (node:test's own handler would fail the
 * test on the first one): they are collected in `errors` instead, and the runner's handlers come
 * back after the test.
 */
export function captureUncaught(t: TestContext): { readonly errors: unknown[] } {
  const errors: unknown[] = [];
  const saved = process.listeners('uncaughtException');
  process.removeAllListeners('uncaughtException');
  const collect = (error: unknown): void => {
    errors.push(error);
  };
  process.on('uncaughtException', collect);
  t.after(() => {
    process.off('uncaughtException', collect);
    for (const listener of saved) process.on('uncaughtException', listener);
  });
  return { errors };
}

/**
 * One WebSocket frame built by hand (RFC 6455 section 5.2), so that a test can send what no
 * library would: fragments of any size, control floods, reserved bits. `mask` (clients must mask)
 * uses the all-zero key, which leaves the payload as it is; `declaredLength` overrides the length
 * field (a frame announced larger than what follows).
 */
export function wsFrame(opcode: number, payload: Buffer = Buffer.alloc(0), options: { fin?: boolean; mask?: boolean; rsv?: number; declaredLength?: number } = {}): Buffer {
  const length = options.declaredLength ?? payload.length;
  const first = ((options.fin ?? true) ? 0x80 : 0) | ((options.rsv ?? 0) << 4) | opcode;
  const maskBit = options.mask === true ? 0x80 : 0;
  let head: Buffer;
  if (length < 126) head = Buffer.from([first, maskBit | length]);
  else if (length < 0x10000) {
    head = Buffer.alloc(4);
    head[0] = first;
    head[1] = maskBit | 126;
    head.writeUInt16BE(length, 2);
  } else {
    head = Buffer.alloc(10);
    head[0] = first;
    head[1] = maskBit | 127;
    head.writeBigUInt64BE(BigInt(length), 2);
  }
  return Buffer.concat([head, options.mask === true ? Buffer.alloc(4) : Buffer.alloc(0), payload]);
}

/**
 * A client socket that has done the SPDY upgrade to `pod`'s (default `demo`) portforward path by hand and then speaks
 * raw bytes. The server's frames are collected in `frames` unless `read` is false: then the
 * socket is paused after the 101 and never read again (a peer that does not read).
 */
export async function rawSpdyClient(port: number, options: { read?: boolean; pod?: string } = {}): Promise<{ socket: net.Socket; frames: Frame[]; closed: Promise<void> }> {
  const socket = net.connect(port, '127.0.0.1');
  socket.on('error', () => {});
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  await once(socket, 'connect');
  socket.setNoDelay(true);
  socket.write(
    `POST ${portForwardPath('default', options.pod ?? 'demo')} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade\r\n` +
      'Upgrade: SPDY/3.1\r\nX-Stream-Protocol-Version: portforward.k8s.io\r\nContent-Length: 0\r\n\r\n',
  );
  let head = Buffer.alloc(0);
  while (!head.includes('\r\n\r\n')) head = Buffer.concat([head, (await once(socket, 'data'))[0] as Buffer]);
  const end = head.indexOf('\r\n\r\n') + 4;
  assert.match(head.subarray(0, end).toString('latin1'), /^HTTP\/1\.1 101 /);
  const frames: Frame[] = [];
  if (options.read === false) {
    socket.pause();
    return { socket, frames, closed };
  }
  const decoder = new FrameDecoder();
  const feed = (chunk: Buffer): void => {
    try {
      decoder.push(chunk, (frame) => frames.push(frame));
    } catch {
      // The tests only look at frames the server managed to send.
    }
  };
  if (end < head.length) feed(head.subarray(end));
  socket.on('data', feed);
  return { socket, frames, closed };
}
