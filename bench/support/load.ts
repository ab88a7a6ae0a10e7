/**
 * The client side of every forward-bench scenario: local TCP connections to a contender's port,
 * speaking the target's little protocol (target-server.ts). Everything runs in the bench's main
 * thread; each function checks what came back (byte counts, SHA-256 of echoes) and reports
 * failures as counts with the first error, never as a crash of the bench.
 */
import { createHash, randomFillSync } from 'node:crypto';
import net from 'node:net';
import { performance } from 'node:perf_hooks';

const KIB = 1024;
const MIB = 1024 * KIB;
/** What uploads write per write(). */
const UPLOAD_SLICE = MIB;
const SOURCE = randomFillSync(Buffer.alloc(UPLOAD_SLICE));
/** Payloads of the echo scenarios are slices of this, at an offset per connection. */
const ECHO_POOL = randomFillSync(Buffer.alloc(4 * MIB));

/** The outcome of many connections. */
export interface LoadResult {
  readonly attempted: number;
  readonly succeeded: number;
  readonly failed: number;
  /** From the first connect to the last connection settled, ms. */
  readonly elapsedMs: number;
  /** The first failure, for the notes. */
  readonly firstError: string | undefined;
}

function connect(port: number): net.Socket {
  const socket = net.connect({ host: '127.0.0.1', port, noDelay: true, allowHalfOpen: true });
  return socket;
}

/**
 * Runs `count` tasks with at most `parallel` in flight; resolves with each task's error (or
 * undefined). With `giveUpAfterFailures`, no new task starts once that many have failed in a row
 * (a contender at its limit); the tasks never started count as failed with the last error.
 */
async function runPool(count: number, parallel: number, task: (index: number) => Promise<void>, giveUpAfterFailures = Infinity): Promise<Array<string | undefined>> {
  const errors = new Array<string | undefined>(count);
  let next = 0;
  let failuresInARow = 0;
  let lastError = '';
  const worker = async (): Promise<void> => {
    while (next < count && failuresInARow < giveUpAfterFailures) {
      const index = next++;
      try {
        await task(index);
        failuresInARow = 0;
      } catch (error) {
        errors[index] = lastError = error instanceof Error ? error.message : String(error);
        failuresInARow++;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(parallel, count) }, () => worker()));
  for (let i = next; i < count; i++) errors[i] = `not tried after ${giveUpAfterFailures} failures in a row (${lastError})`;
  return errors;
}

function summarise(errors: Array<string | undefined>, elapsedMs: number): LoadResult {
  const failures = errors.filter((e) => e !== undefined);
  return { attempted: errors.length, succeeded: errors.length - failures.length, failed: failures.length, elapsedMs, firstError: failures[0] };
}

/**
 * Reads `expected` bytes from `socket` (each chunk goes to `onChunk` first), then closes it.
 * Resolves once they have all arrived; rejects when the socket fails, ends or closes before, or
 * after `timeoutMs`. Completion is by byte count, not by the forwarder's end of the connection:
 * client-node never ends a local socket when its WebSocket closes, and a request that waits for
 * that would time out on every contender that behaves so.
 */
function receive(socket: net.Socket, expected: number, timeoutMs: number, what: string, onChunk?: (chunk: Buffer) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    let received = 0;
    let settled = false;
    const settle = (failure: string | undefined): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.removeListener('data', onData);
      // Everything was read: destroy() sends a FIN, not a reset.
      socket.destroy();
      if (failure === undefined) resolve();
      else reject(new Error(`${what}: ${failure}`));
    };
    const onData = (chunk: Buffer): void => {
      received += chunk.length;
      onChunk?.(chunk);
      if (received > expected) settle(`${received} bytes came back, ${expected} expected`);
      else if (received === expected) settle(undefined);
    };
    const timer = setTimeout(() => settle(`${received} of ${expected} bytes within ${timeoutMs} ms`), timeoutMs);
    socket.on('data', onData);
    socket.on('error', (error) => settle(`${error.message} after ${received} of ${expected} bytes`));
    socket.on('end', () => settle(`ended after ${received} of ${expected} bytes`));
    socket.on('close', () => settle(`closed after ${received} of ${expected} bytes`));
    if (expected === 0) settle(undefined);
  });
}

/** `connections` downloads of `bytes` each, all at once. */
export async function download(port: number, connections: number, bytes: number, timeoutMs: number): Promise<LoadResult> {
  const started = performance.now();
  const errors = await runPool(connections, connections, async () => {
    const socket = connect(port);
    const head = Buffer.alloc(9);
    head.write('D', 0, 'latin1');
    head.writeBigUInt64BE(BigInt(bytes), 1);
    socket.write(head);
    await receive(socket, bytes, timeoutMs, 'download');
  });
  return summarise(errors, performance.now() - started);
}

/** `connections` uploads of `bytes` each, all at once; the target confirms the count it read, then ends. */
export async function upload(port: number, connections: number, bytes: number, timeoutMs: number): Promise<LoadResult> {
  const started = performance.now();
  const errors = await runPool(connections, connections, async () => {
    const socket = connect(port);
    const head = Buffer.alloc(9);
    head.write('U', 0, 'latin1');
    head.writeBigUInt64BE(BigInt(bytes), 1);
    socket.write(head);
    let sent = 0;
    const write = (): void => {
      while (sent < bytes) {
        const size = Math.min(UPLOAD_SLICE, bytes - sent);
        sent += size;
        if (!socket.write(size === UPLOAD_SLICE ? SOURCE : SOURCE.subarray(0, size))) {
          socket.once('drain', write);
          return;
        }
      }
    };
    write();
    const reply: Buffer[] = [];
    await receive(socket, 8, timeoutMs, 'upload', (chunk) => reply.push(chunk));
    const counted = Number(Buffer.concat(reply).readBigUInt64BE(0));
    if (counted !== bytes) throw new Error(`upload: the target read ${counted} of ${bytes} bytes`);
  });
  return summarise(errors, performance.now() - started);
}

/**
 * `count` connections one after the other: connect, send a one-byte 'H' request at once, time
 * until the echoed byte arrives, then close and wait for the close before the next. Returns the latencies in ms
 * (failed connections are counted, not timed).
 */
export async function connectLatency(port: number, count: number, timeoutMs: number): Promise<{ latenciesMs: number[]; failed: number; firstError: string | undefined }> {
  const latenciesMs: number[] = [];
  let failed = 0;
  let firstError: string | undefined;
  for (let i = 0; i < count; i++) {
    try {
      latenciesMs.push(await oneEcho(port, timeoutMs));
    } catch (error) {
      failed++;
      firstError ??= error instanceof Error ? error.message : String(error);
    }
  }
  return { latenciesMs, failed, firstError };
}

/**
 * The bytes of an 'H' exchange: header (SHA-256 and length) and payload. The target echoes the
 * payload and then ends the connection itself, so a forwarder that cannot pass a client's FIN on
 * (WebSocket v4 has no half-close) is not left holding the pod connection.
 */
function hashedEcho(payload: Buffer): { readonly request: Buffer; readonly hash: Buffer } {
  const hash = createHash('sha256').update(payload).digest();
  const head = Buffer.alloc(37);
  head.write('H', 0, 'latin1');
  hash.copy(head, 1);
  head.writeUInt32BE(payload.length, 33);
  return { request: Buffer.concat([head, payload]), hash };
}

const ONE_BYTE_ECHO = hashedEcho(Buffer.from('x')).request;

async function oneEcho(port: number, timeoutMs: number): Promise<number> {
  const started = performance.now();
  const socket = connect(port);
  socket.write(ONE_BYTE_ECHO);
  await receive(socket, 1, timeoutMs, 'echo');
  const latency = performance.now() - started;
  // The next connection starts once this one has closed here: teardown is not timed, but it
  // does not overlap the next measurement either.
  if (!socket.closed) await new Promise((resolve) => socket.once('close', resolve));
  return latency;
}

/**
 * One new connection that sends a byte and waits for its echo: resolves with the moment
 * (`performance.now()`) the echo arrived, or undefined when it failed or took over `timeoutMs`.
 */
export async function probe(port: number, timeoutMs: number): Promise<number | undefined> {
  const socket = connect(port);
  socket.write(ONE_BYTE_ECHO);
  try {
    await receive(socket, 1, timeoutMs, 'probe');
    return performance.now();
  } catch {
    return undefined;
  }
}

/** A payload of `bytes` from the echo pool, different per connection index. */
function echoPayload(index: number, bytes: number): Buffer {
  const offset = (index * 7919) % (ECHO_POOL.length - bytes);
  return ECHO_POOL.subarray(offset, offset + bytes);
}

/** The outcome of {@link echoLoad}. */
export interface EchoLoadResult extends LoadResult {
  /** From the moment every connection was open (or had failed) to the last echo, ms. */
  readonly burstMs: number;
}

/**
 * `connections` connections open at the same time, each echoing `bytes` checked with SHA-256 at
 * both ends (the target hashes what arrives against the hash announced in the header, the client
 * hashes the echo). First every connection is opened, at most `rampParallel` TCP handshakes
 * pending at a time (a burst of 10,000 SYNs would measure listen backlogs, not forwarders); then
 * all of them send at once, and a connection succeeds when its echo is complete and equal.
 */
export async function echoLoad(port: number, connections: number, bytes: number, options: { readonly rampParallel: number; readonly timeoutMs: number }): Promise<EchoLoadResult> {
  const started = performance.now();
  const sockets = new Array<net.Socket | undefined>(connections);
  const errors = await runPool(connections, options.rampParallel, (index) => {
    return new Promise<void>((resolve, reject) => {
      const socket = connect(port);
      const fail = (error: Error): void => {
        socket.destroy();
        reject(new Error(`echo: ${error.message} before the connection was open`));
      };
      socket.once('error', fail);
      socket.once('connect', () => {
        socket.off('error', fail);
        // Errors from now on are reported by receive(); until then none may go unhandled.
        socket.on('error', () => undefined);
        sockets[index] = socket;
        resolve();
      });
    });
  });
  const open = performance.now();
  const echoes = await Promise.all(
    sockets.map(async (socket, index) => {
      if (socket === undefined) return errors[index];
      const payload = echoPayload(index, bytes);
      const { request, hash: expected } = hashedEcho(payload);
      if (socket.destroyed) return 'echo: the connection closed while the others were being opened';
      socket.write(request);
      const hash = createHash('sha256');
      try {
        await receive(socket, bytes, options.timeoutMs, 'echo', (chunk) => hash.update(chunk));
      } catch (error) {
        return error instanceof Error ? error.message : String(error);
      }
      return hash.digest().equals(expected) ? undefined : 'echo: the bytes that came back differ (SHA-256)';
    }),
  );
  const done = performance.now();
  return { ...summarise(echoes, done - started), burstMs: done - open };
}

/** Connections held open by {@link openIdle}. */
export interface IdleConnections {
  readonly result: LoadResult;
  /** Closes every connection and resolves once all are closed. */
  close(): Promise<void>;
}

/**
 * Opens `count` connections, at most `parallel` being set up at a time; each is set up when one
 * byte has been echoed through it (the forward is proven), and then stays open and idle. With
 * `giveUpAfterFailures`, opening stops once that many have failed in a row.
 */
export async function openIdle(port: number, count: number, parallel: number, timeoutMs: number, giveUpAfterFailures = Infinity): Promise<IdleConnections> {
  const sockets: net.Socket[] = [];
  const started = performance.now();
  const errors = await runPool(count, parallel, (index) => {
    return new Promise<void>((resolve, reject) => {
      const socket = connect(port);
      sockets[index] = socket;
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new Error(`idle connection: no echo within ${timeoutMs} ms`));
      }, timeoutMs);
      socket.on('error', (error) => {
        clearTimeout(timer);
        socket.destroy();
        reject(new Error(`idle connection: ${error.message}`));
      });
      socket.once('close', () => {
        clearTimeout(timer);
        reject(new Error('idle connection: closed before its echo'));
      });
      socket.once('data', () => {
        clearTimeout(timer);
        resolve();
      });
      socket.write('Ei');
    });
  }, giveUpAfterFailures);
  const result = summarise(errors, performance.now() - started);
  return {
    result,
    async close() {
      await Promise.all(
        sockets.map(
          (socket) =>
            new Promise<void>((resolve) => {
              if (socket === undefined || socket.destroyed) return resolve();
              socket.once('close', () => resolve());
              socket.removeAllListeners('data');
              socket.resume();
              socket.end();
              setTimeout(() => socket.destroy(), 10_000).unref();
            }),
        ),
      );
    },
  };
}
