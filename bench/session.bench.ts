/**
 * The session bench: SpdySession over loopback TCP against a raw TCP socket measured in the same
 * run. Throughput (both directions, 1 and 64 streams, both flow-control configurations), stream
 * open latency against a 1-byte TCP round trip, and heap bytes per idle stream on each side.
 *
 * Throughput and latency run both ends in this one thread, the raw baseline too: each figure is
 * the cost of sending plus receiving, and the ratio says what the session adds to what the kernel
 * and Node's socket layer already cost.
 */
import { createHash, randomFillSync } from 'node:crypto';
import { once } from 'node:events';
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import type { Readable, Writable } from 'node:stream';
import { Worker } from 'node:worker_threads';
import { SpdySession, type FlowControlMode, type SpdyStream } from '../src/session/index.js';
import { tcpTransport, type TransportPair } from '../test/support/transports.js';
import { obtainGc, settledHeapBytes } from './support/gc.js';
import type { PeerConfig, PeerReply, PeerRequest } from './support/session-peer.js';
import { formatNumber, formatPercent, formatRatio, markdownTable, median, percentile, type Bench, type BenchContext, type BenchSection } from './support/harness.js';

const KIB = 1024;
const MIB = 1024 * KIB;
/** What the writers hand to write(): the case, and Node's socket read size. */
const WRITE_BYTES = 64 * KIB;
/** Written cyclically in WRITE_BYTES slices, so consecutive writes carry different bytes. */
const SOURCE = randomFillSync(Buffer.alloc(MIB));
/** No single transfer may take longer; a stuck one fails the bench instead of hanging it. */
const TRANSFER_DEADLINE_MS = 180_000;

function fail(message: string): never {
  throw new Error(`session bench: ${message}`);
}

/** (max - min) / median: how far apart the rounds were. */
function spread(values: readonly number[]): number {
  return (Math.max(...values) - Math.min(...values)) / median(values);
}

function withDeadline<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`session bench: ${what} did not finish within ${ms} ms`)), ms);
  });
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}

// ---------------------------------------------------------------------------------------------
// Writers and readers shared by the session and the raw socket

/**
 * Writes `bytes` in WRITE_BYTES slices of SOURCE, waiting for 'drain' whenever write() says the
 * buffer is full: the pattern of any well-behaved Node producer (and of pipe()).
 */
function pump(writable: Writable, bytes: number): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    let written = 0;
    let offset = 0;
    const onError = (error: Error): void => reject(error);
    writable.once('error', onError);
    const write = (): void => {
      while (written < bytes) {
        const size = Math.min(WRITE_BYTES, bytes - written, SOURCE.length - offset);
        const slice = SOURCE.subarray(offset, offset + size);
        offset = offset + size === SOURCE.length ? 0 : offset + size;
        written += size;
        if (!writable.write(slice)) {
          writable.once('drain', write);
          return;
        }
      }
      writable.off('error', onError);
      resolve();
    };
    write();
  });
}

/** The SHA-256 of the first `bytes` of SOURCE repeated: what a verified reader must see. */
function expectedDigest(bytes: number): string {
  const hash = createHash('sha256');
  for (let done = 0; done < bytes; done += SOURCE.length) hash.update(SOURCE.subarray(0, Math.min(SOURCE.length, bytes - done)));
  return hash.digest('hex');
}

interface Received {
  readonly bytes: number;
  readonly digest: string | undefined;
}

/**
 * Reads with a 'data' listener until `bytes` have arrived (`untilEnd` false: a raw socket that is
 * reused) or until the readable side ends (a stream, which must then have carried exactly
 * `bytes`). With `verify`, the bytes are hashed too (only outside the timed transfers).
 */
function consume(readable: Readable, bytes: number, options: { readonly untilEnd: boolean; readonly verify: boolean }): Promise<Received> {
  return new Promise<Received>((resolve, reject) => {
    let received = 0;
    const hash = options.verify ? createHash('sha256') : undefined;
    const finish = (): void => {
      readable.off('data', onData);
      readable.off('end', onEnd);
      readable.off('error', onError);
      if (received !== bytes) reject(new Error(`session bench: received ${received} bytes, expected ${bytes}`));
      else resolve({ bytes: received, digest: hash?.digest('hex') });
    };
    const onData = (chunk: Buffer): void => {
      received += chunk.length;
      hash?.update(chunk);
      if (!options.untilEnd && received >= bytes) finish();
    };
    const onEnd = (): void => finish();
    const onError = (error: Error): void => reject(error);
    readable.on('data', onData);
    if (options.untilEnd) readable.on('end', onEnd);
    readable.on('error', onError);
  });
}

// ---------------------------------------------------------------------------------------------
// A session pair over loopback TCP, and a raw socket pair

type Direction = 'client-to-server' | 'server-to-client';

/** What the server side of the rig does with a stream, told by the client in its SYN_STREAM. */
type StreamMode = 'upload' | 'download' | 'echo' | 'idle';

/**
 * A client and a server session on one loopback TCP connection. The server side acts on the
 * `benchmode` header of each stream: it reads an upload (and reports what arrived), writes a
 * download, or echoes.
 */
class SessionRig {
  readonly client: SpdySession;
  readonly server: SpdySession;
  readonly #pair: TransportPair;
  readonly #uploads = new Map<string, { resolve: (r: Received) => void; reject: (e: Error) => void }>();
  #nextRequestId = 0;

  private constructor(pair: TransportPair, serverFlowControl: FlowControlMode, maxConcurrentStreams: number) {
    this.#pair = pair;
    this.client = new SpdySession(pair.client, { role: 'client', maxConcurrentStreams });
    this.server = new SpdySession(pair.server, { role: 'server', flowControl: serverFlowControl, maxConcurrentStreams });
    this.server.on('stream', (stream) => this.#serve(stream));
  }

  static async start(serverFlowControl: FlowControlMode, maxConcurrentStreams = 1000): Promise<SessionRig> {
    return new SessionRig(await tcpTransport.connect(), serverFlowControl, maxConcurrentStreams);
  }

  #serve(stream: SpdyStream): void {
    const mode = stream.header('benchmode') as StreamMode | undefined;
    const bytes = Number(stream.header('benchbytes') ?? '0');
    const verify = stream.header('benchverify') === '1';
    stream.accept();
    switch (mode) {
      case 'upload': {
        const requestId = stream.header('requestid') ?? '';
        const waiter = this.#uploads.get(requestId);
        this.#uploads.delete(requestId);
        consume(stream, bytes, { untilEnd: true, verify }).then(
          (received) => {
            stream.end();
            waiter?.resolve(received);
          },
          (error: Error) => waiter?.reject(error),
        );
        return;
      }
      case 'download':
        stream.resume();
        pump(stream, bytes).then(
          () => stream.end(),
          () => stream.destroy(),
        );
        return;
      case 'echo':
        stream.on('data', (chunk: Buffer) => stream.write(chunk));
        stream.on('end', () => stream.end());
        return;
      case 'idle':
      case undefined:
        return;
    }
  }

  /** Kubernetes' three headers, plus the rig's instructions to the server side. */
  headers(mode: StreamMode, bytes = 0, verify = false): Record<string, string> {
    return {
      streamtype: 'data',
      port: '8080',
      requestid: String(this.#nextRequestId++),
      benchmode: mode,
      benchbytes: String(bytes),
      benchverify: verify ? '1' : '0',
    };
  }

  /** Moves `bytes` over `streams` streams opened by the client; resolves with what each reader saw. */
  async transfer(direction: Direction, streams: number, bytes: number, verify: boolean): Promise<Received[]> {
    const share = bytes / streams;
    const results: Promise<Received>[] = [];
    for (let i = 0; i < streams; i++) {
      if (direction === 'client-to-server') {
        const headers = this.headers('upload', share, verify);
        results.push(
          new Promise<Received>((resolve, reject) => {
            this.#uploads.set(headers['requestid']!, { resolve, reject });
            this.client.openStream(headers).then(async (stream) => {
              stream.resume();
              await pump(stream, share);
              stream.end();
            }, reject);
          }),
        );
      } else {
        // The client sends nothing on a download: FIN goes with the SYN_STREAM.
        results.push(this.client.openStream(this.headers('download', share, verify), { fin: true }).then((stream) => consume(stream, share, { untilEnd: true, verify })));
      }
    }
    return Promise.all(results);
  }

  async close(): Promise<void> {
    this.client.destroy();
    this.server.destroy();
    await this.#pair.close();
  }
}

/** The baseline: one loopback TCP connection, written and read with the same pattern. */
class RawRig {
  readonly #pair: TransportPair;

  private constructor(pair: TransportPair) {
    this.#pair = pair;
  }

  static async start(): Promise<RawRig> {
    return new RawRig(await tcpTransport.connect());
  }

  get client(): net.Socket {
    return this.#pair.client as net.Socket;
  }

  get server(): net.Socket {
    return this.#pair.server as net.Socket;
  }

  async transfer(direction: Direction, bytes: number, verify: boolean): Promise<Received> {
    const [from, to] = direction === 'client-to-server' ? [this.client, this.server] : [this.server, this.client];
    const received = consume(to, bytes, { untilEnd: false, verify });
    await pump(from, bytes);
    return received;
  }

  close(): Promise<void> {
    return this.#pair.close();
  }
}

// ---------------------------------------------------------------------------------------------
// (1) throughput

interface ThroughputCase {
  readonly flowControl: FlowControlMode;
  readonly direction: Direction;
  readonly streams: number;
}

const FLOW_LABEL: Record<FlowControlMode, string> = {
  advertise: "server 'advertise' (windows on)",
  auto: "server 'auto' (no windows)",
};

const DIRECTION_LABEL: Record<Direction, string> = {
  'client-to-server': 'client → server',
  'server-to-client': 'server → client',
};

interface Timing {
  readonly ms: number;
  /** User + system CPU time of the whole process (every thread, GC helpers included), µs. */
  readonly cpuUs: number;
}

async function timed(run: () => Promise<unknown>, what: string): Promise<Timing> {
  const cpuStart = process.cpuUsage();
  const start = performance.now();
  await withDeadline(run(), TRANSFER_DEADLINE_MS, what);
  const ms = performance.now() - start;
  const cpu = process.cpuUsage(cpuStart);
  return { ms, cpuUs: cpu.user + cpu.system };
}

/** Checks, with hashes at both ends, that a transfer of this kind delivers exactly what was sent. */
async function verifyTransfers(sessions: SessionRig, raw: RawRig, c: ThroughputCase): Promise<void> {
  const bytes = c.streams * 256 * KIB;
  const share = bytes / c.streams;
  const want = expectedDigest(share);
  const got = await withDeadline(sessions.transfer(c.direction, c.streams, bytes, true), TRANSFER_DEADLINE_MS, 'verification');
  if (got.length !== c.streams || got.some((r) => r.digest !== want)) fail(`a session transfer (${c.direction}, ${c.streams} streams) delivered different bytes`);
  const rawGot = await withDeadline(raw.transfer(c.direction, bytes, true), TRANSFER_DEADLINE_MS, 'verification');
  if (rawGot.digest !== expectedDigest(bytes)) fail('the raw TCP transfer delivered different bytes');
}

/** Part (1) alone, for profiling: `--cpu-prof` a script that awaits it. */
export async function throughput(context: BenchContext): Promise<BenchSection> {
  const bytesPerTransfer = context.quick ? 32 * MIB : 512 * MIB;
  const rounds = context.quick ? 2 : 5;
  const cases: ThroughputCase[] = [];
  for (const flowControl of ['advertise', 'auto'] as const) {
    for (const direction of ['client-to-server', 'server-to-client'] as const) {
      for (const streams of [1, 64]) cases.push({ flowControl, direction, streams });
    }
  }
  const rigs = new Map<FlowControlMode, SessionRig>();
  const raw = await RawRig.start();
  const subjectRates = cases.map((): number[] => []);
  const rawRates = cases.map((): number[] => []);
  const ratios = cases.map((): number[] => []);
  const subjectCpu = cases.map((): number[] => []);
  const rawCpu = cases.map((): number[] => []);
  try {
    for (const mode of ['advertise', 'auto'] as const) rigs.set(mode, await SessionRig.start(mode));
    for (const c of cases) {
      context.progress(`throughput: verify and warm up ${FLOW_LABEL[c.flowControl]}, ${DIRECTION_LABEL[c.direction]}, ${c.streams} streams`);
      const rig = rigs.get(c.flowControl)!;
      await verifyTransfers(rig, raw, c);
      await timed(() => rig.transfer(c.direction, c.streams, Math.min(bytesPerTransfer, 64 * MIB), false), 'warm-up');
      await timed(() => raw.transfer(c.direction, Math.min(bytesPerTransfer, 64 * MIB), false), 'warm-up');
    }
    const peerFlowControl = (mode: FlowControlMode): boolean => rigs.get(mode)!.client.stats.peerFlowControl;
    if (!peerFlowControl('advertise') || peerFlowControl('auto')) fail('the flow-control configurations did not take effect');
    for (let round = 0; round < rounds; round++) {
      context.progress(`throughput: round ${round + 1} of ${rounds}`);
      // Rotate the case order each round, and alternate which of a pair runs first, so that
      // neither the subject nor the baseline always gets the quieter moment.
      for (let k = 0; k < cases.length; k++) {
        const index = (k + round) % cases.length;
        const c = cases[index]!;
        const rig = rigs.get(c.flowControl)!;
        const runSubject = (): Promise<Timing> => timed(() => rig.transfer(c.direction, c.streams, bytesPerTransfer, false), 'session transfer');
        const runRaw = (): Promise<Timing> => timed(() => raw.transfer(c.direction, bytesPerTransfer, false), 'raw transfer');
        let subject: Timing;
        let baseline: Timing;
        if ((round + k) % 2 === 0) {
          subject = await runSubject();
          baseline = await runRaw();
        } else {
          baseline = await runRaw();
          subject = await runSubject();
        }
        const mib = bytesPerTransfer / MIB;
        const subjectRate = mib / (subject.ms / 1000);
        const rawRate = mib / (baseline.ms / 1000);
        subjectRates[index]!.push(subjectRate);
        rawRates[index]!.push(rawRate);
        ratios[index]!.push(subjectRate / rawRate);
        subjectCpu[index]!.push(subject.cpuUs / mib);
        rawCpu[index]!.push(baseline.cpuUs / mib);
      }
    }
  } finally {
    for (const rig of rigs.values()) await rig.close();
    await raw.close();
  }
  const rows = cases.map((c, i) => [
    FLOW_LABEL[c.flowControl],
    DIRECTION_LABEL[c.direction],
    String(c.streams),
    `${formatNumber(median(subjectRates[i]!))} MiB/s`,
    `${formatNumber(median(rawRates[i]!))} MiB/s`,
    formatRatio(median(ratios[i]!)),
    `${formatRatio(Math.min(...ratios[i]!))}–${formatRatio(Math.max(...ratios[i]!))}`,
    `${formatNumber(median(subjectCpu[i]!))} / ${formatNumber(median(rawCpu[i]!))} µs`,
  ]);
  const allRatioSpreads = ratios.map(spread);
  return {
    title: 'Session: throughput over loopback TCP',
    blocks: [
      `${formatNumber(bytesPerTransfer / MIB)} MiB per transfer, written in ${WRITE_BYTES / KIB} KiB writes that honour 'drain' and read with a 'data' listener; with 64 streams each carries 1/64 of it, all at once. Client: flowControl 'auto' (the default). Baseline: one raw TCP socket pair, the same bytes and write pattern, measured right before or after each session transfer. ${rounds} rounds, case order rotated each round; figures are medians. Both ends run in this one thread.`,
      markdownTable(['flow control', 'direction', 'streams', 'kubemux', 'raw TCP', 'ratio', 'ratio range', 'CPU per MiB, kubemux / raw'], rows),
      `Largest round-to-round spread of a ratio: ${formatPercent(Math.max(...allRatioSpreads))} of its median. CPU per MiB is the process's user + system time over the transfer (both ends, every thread), divided by the MiB moved: on a busy machine it moves less than the rates do.`,
    ],
  };
}

// ---------------------------------------------------------------------------------------------
// (2) stream open latency

const ONE_BYTE = Buffer.from([0x2a]);

function firstData(readable: Readable): Promise<Buffer> {
  return new Promise<Buffer>((resolve, reject) => {
    const onData = (chunk: Buffer): void => {
      readable.off('error', onError);
      resolve(chunk);
    };
    const onError = (error: Error): void => {
      readable.off('data', onData);
      reject(error);
    };
    readable.once('data', onData);
    readable.once('error', onError);
  });
}

interface Latencies {
  readonly reply: number[];
  readonly echo: number[];
  readonly raw: number[];
}

/** Part (2) alone. */
export async function openLatency(context: BenchContext): Promise<BenchSection> {
  const opens = context.quick ? 200 : 2000;
  const blocks = 10;
  const perBlock = opens / blocks;
  const rig = await SessionRig.start('advertise');
  const raw = await RawRig.start();
  const samples: Latencies = { reply: [], echo: [], raw: [] };
  try {
    raw.server.on('data', (chunk: Buffer) => raw.server.write(chunk));
    const openOne = async (record: boolean): Promise<void> => {
      const start = performance.now();
      const stream = await rig.client.openStream(rig.headers('echo'));
      const replied = performance.now();
      const echoed = firstData(stream);
      stream.write(ONE_BYTE);
      const chunk = await echoed;
      const done = performance.now();
      if (chunk.length !== 1 || chunk[0] !== ONE_BYTE[0]) fail('the echo differs');
      stream.end();
      if (record) {
        samples.reply.push((replied - start) * 1000);
        samples.echo.push((done - start) * 1000);
      }
    };
    const pingOne = async (record: boolean): Promise<void> => {
      const start = performance.now();
      const echoed = firstData(raw.client);
      raw.client.write(ONE_BYTE);
      const chunk = await echoed;
      const done = performance.now();
      if (chunk.length !== 1 || chunk[0] !== ONE_BYTE[0]) fail('the raw echo differs');
      if (record) samples.raw.push((done - start) * 1000);
    };
    context.progress('open latency: warm-up');
    for (let i = 0; i < 200; i++) {
      await openOne(false);
      await pingOne(false);
    }
    for (let block = 0; block < blocks; block++) {
      context.progress(`open latency: block ${block + 1} of ${blocks}`);
      const sequence = block % 2 === 0 ? [openOne, pingOne] : [pingOne, openOne];
      for (const op of sequence) for (let i = 0; i < perBlock; i++) await withDeadline(op(true), 30_000, 'an open or a ping');
    }
    if (rig.client.activeStreams > 1) fail(`${rig.client.activeStreams} echo streams did not close`);
  } finally {
    await rig.close();
    await raw.close();
  }
  const row = (name: string, values: number[]): string[] => {
    const sorted = [...values].sort((a, b) => a - b);
    const rawMedian = median(samples.raw);
    return [name, `${formatNumber(median(sorted))} µs`, `${formatNumber(percentile(sorted, 99))} µs`, formatRatio(median(sorted) / rawMedian)];
  };
  return {
    title: 'Session: stream open latency over loopback TCP',
    blocks: [
      `${opens} sequential opens on one session (server 'advertise', the default): openStream() sends SYN_STREAM with Kubernetes' three headers, the server accepts (SYN_REPLY) and echoes; the client writes 1 byte once openStream() resolves. Baseline: a 1-byte ping-pong on an open TCP socket, ${opens} times. Opens and pings run in alternating blocks of ${perBlock}. Ratio: median over the baseline's median.`,
      markdownTable(
        ['', 'median', 'p99', 'ratio to a TCP round trip'],
        [row('openStream() → SYN_REPLY', samples.reply), row('openStream() → first echoed byte', samples.echo), row('raw TCP 1-byte round trip', samples.raw)],
      ),
    ],
  };
}

// ---------------------------------------------------------------------------------------------
// (3) memory per idle stream

class Peer {
  readonly #worker: Worker;
  readonly #replies: PeerReply[] = [];
  #waiter: ((reply: PeerReply) => void) | undefined;
  #failure: Error | undefined;

  constructor(config: PeerConfig) {
    this.#worker = new Worker(new URL('./support/session-peer.js', import.meta.url), { workerData: config });
    this.#worker.on('message', (reply: PeerReply) => {
      if (reply.type === 'failed') this.#failure = new Error(`session bench: worker: ${reply.message}`);
      this.#replies.push(reply);
      this.#wake();
    });
    this.#worker.on('error', (error) => {
      this.#failure = error;
      this.#wake();
    });
  }

  #wake(): void {
    const waiter = this.#waiter;
    const reply = this.#replies.shift();
    if (waiter !== undefined && reply !== undefined) {
      this.#waiter = undefined;
      waiter(reply);
    } else if (reply !== undefined) {
      this.#replies.unshift(reply);
    }
  }

  /** The next reply, which must be of type `type`. */
  async next<T extends PeerReply['type']>(type: T): Promise<Extract<PeerReply, { type: T }>> {
    const reply = await withDeadline(
      new Promise<PeerReply>((resolve) => {
        this.#waiter = resolve;
        this.#wake();
      }),
      120_000,
      `the worker's '${type}' reply`,
    );
    if (this.#failure !== undefined) throw this.#failure;
    if (reply.type !== type) fail(`expected '${type}' from the worker, got '${reply.type}'`);
    return reply as Extract<PeerReply, { type: T }>;
  }

  async ask<T extends PeerReply['type']>(request: PeerRequest, type: T): Promise<Extract<PeerReply, { type: T }>> {
    this.#worker.postMessage(request);
    return this.next(type);
  }

  async close(): Promise<void> {
    this.#worker.postMessage({ type: 'close' } satisfies PeerRequest);
    await Promise.race([once(this.#worker, 'exit'), new Promise((resolve) => setTimeout(resolve, 5000).unref())]);
    await this.#worker.terminate();
  }
}

/** Part (3) alone. */
export async function streamMemory(context: BenchContext): Promise<BenchSection> {
  const count = context.quick ? 1000 : 10_000;
  const rounds = context.quick ? 1 : 3;
  const gcSource = obtainGc().source;
  const maxConcurrentStreams = 2 * count;
  const peer = new Peer({ maxConcurrentStreams });
  const clientBytes: number[] = [];
  const serverBytes: number[] = [];
  let client: SpdySession | undefined;
  try {
    const { port } = await peer.next('listening');
    const socket = net.connect(port, '127.0.0.1');
    await once(socket, 'connect');
    socket.setNoDelay(true);
    client = new SpdySession(socket, { role: 'client', maxConcurrentStreams });
    const session = client;
    let requestId = 0;
    const openAll = (n: number): Promise<SpdyStream[]> =>
      Promise.all(Array.from({ length: n }, () => session.openStream({ streamtype: 'data', port: '8080', requestid: String(requestId++) })));
    const closeAll = async (streams: SpdyStream[]): Promise<void> => {
      for (const stream of streams) stream.destroy();
      await peer.ask({ type: 'waitStreams', count: 0 }, 'streams');
      if (session.activeStreams !== 0) fail(`${session.activeStreams} client streams are still open`);
    };
    context.progress('memory: warm-up');
    await closeAll(await openAll(Math.min(count, 1000)));
    // One round in a function of its own: a variable of this loop's body could keep the previous
    // round's streams reachable into the next round's "before" figure.
    const measureRound = async (): Promise<void> => {
      const serverBefore = (await peer.ask({ type: 'heap' }, 'heap')).heapBytes;
      const clientBefore = settledHeapBytes();
      // Held as a caller would hold its streams; the array costs 8 bytes a stream.
      const streams = await withDeadline(openAll(count), 120_000, 'opening the streams');
      await peer.ask({ type: 'waitStreams', count }, 'streams');
      const serverAfter = await peer.ask({ type: 'heap' }, 'heap');
      const clientAfter = settledHeapBytes();
      if (serverAfter.streams !== count || session.activeStreams !== count) fail('not every stream is open on both sides');
      clientBytes.push((clientAfter - clientBefore) / count);
      serverBytes.push((serverAfter.heapBytes - serverBefore) / count);
      await closeAll(streams);
    };
    for (let round = 0; round < rounds; round++) {
      context.progress(`memory: round ${round + 1} of ${rounds}, ${count} streams`);
      await measureRound();
    }
  } finally {
    client?.destroy();
    await peer.close();
  }
  const row = (side: string, values: number[]): string[] => [
    side,
    `${formatNumber(median(values))} B`,
    values.map((v) => formatNumber(v)).join(', '),
    median(values) <= 2048 ? 'yes' : 'no',
  ];
  return {
    title: 'Session: heap per idle stream',
    blocks: [
      `${formatNumber(count)} streams opened at once by the client and accepted by the server, on one session pair over loopback TCP (maxConcurrentStreams ${formatNumber(maxConcurrentStreams)}), no data sent. The server side runs in a worker thread, so each side's V8 heap is measured alone: heap in use after forced full collections (gc ${gcSource === 'flag' ? 'from --expose-gc' : 'enabled at run time'}) with the streams open, minus before, divided by the stream count. ${rounds} rounds.`,
      markdownTable(['side', 'bytes per stream (median)', 'rounds', 'target ≤ 2 KiB met'], [row('client (opened the streams)', clientBytes), row('server (accepted them)', serverBytes)]),
    ],
  };
}

/** The session bench: `node dist/bench/run.js session` (`node --expose-gc …` is fine too). */
const bench: Bench = {
  name: 'session',
  async run(context) {
    return [await throughput(context), await openLatency(context), await streamMemory(context)];
  },
};

export default bench;
