/**
 * The soak run (not part of `npm test`): `npm run soak`, or
 * `node dist/bench/soak.js [--decoder-inputs N] [--session-inputs N] [--trials N] [--seed S]`.
 *
 * 1. Decoder fuzz: N (default 1,000,000) hostile inputs to FrameDecoder: valid encodings with bit
 *    flips, truncation, inserted and deleted bytes and oversized lengths, random payloads behind
 *    valid control headers, random bytes; in random chunkings. Every input must decode or fail
 *    with a codec KubemuxError, with at most 8 + maxFrameBytes buffered.
 * 2. Session fuzz: N (default 20,000) mutated frame streams into a SpdySession (both roles) over an
 *    in-memory pair: every session must close with a KubemuxError (or stay open), nothing uncaught.
 * 3. Fault trials: N (default 1,000) random trials against one fake cluster: forwards over all three
 *    protocols with random payloads (hash-checked), faults during forwards (drop, goaway,
 *    replace-pod, blackhole, stall, refuse), and hostile clients (malformed targets, garbage and
 *    mutated frames after the upgrade, header bombs, PING bursts, SETTINGS storms, 1-byte WebSocket
 *    fragments, request headers trickled past headersTimeoutMs). Every trial must end in its expected outcome or a typed
 *    error; every 25 trials a legitimate forward must succeed and the heap is sampled.
 *
 * Prints a Markdown report; exits 1 on any unexpected outcome.
 */
import { once } from 'node:events';
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import { WebSocket } from 'ws';
import fc from 'fast-check';
import { isKubemuxError, KubemuxError } from '../src/errors.js';
import { SpdySession } from '../src/session/index.js';
import { DEFAULT_MAX_FRAME_BYTES, FrameEncoder, SettingsId, encodePing, encodeSettings, headerBlockFrom } from '../src/spdy/index.js';
import { dialProtocol } from '../src/transport/dial.js';
import type { PortForwardProtocol } from '../src/transport/port-forward-connection.js';
import { portForwardPath } from '../src/transport/api/request-target.js';
import { duplexPair } from '../test/support/duplex-pair.js';
import { chunkPlanArb, frameSequenceArb } from '../test/support/frame-arbitraries.js';
import { legitForward, rawHttp, rawSpdyClient, repeat } from '../test/support/hostile.js';
import { checkHostileDecoding, encodeWithStarts, mutate, mutationArb } from '../test/support/mutations.js';
import { rawControlFrame } from '../test/support/reference-encoder.js';
import { startDemoCluster } from '../test/support/servers.js';
import { sha256 } from '../test/support/streams.js';
import { settledHeapBytes } from './support/gc.js';

interface SoakArgs {
  decoderInputs: number;
  sessionInputs: number;
  trials: number;
  seed: number;
}

function parseArgs(argv: readonly string[]): SoakArgs {
  const args: SoakArgs = { decoderInputs: 1_000_000, sessionInputs: 20_000, trials: 1_000, seed: 0x50a4 };
  const names: Record<string, keyof SoakArgs> = { '--decoder-inputs': 'decoderInputs', '--session-inputs': 'sessionInputs', '--trials': 'trials', '--seed': 'seed' };
  for (let i = 0; i < argv.length; i += 2) {
    const key = names[argv[i]!];
    const value = Number(argv[i + 1]);
    if (key === undefined || !Number.isInteger(value) || value < 0) throw new Error(`usage: soak [--decoder-inputs N] [--session-inputs N] [--trials N] [--seed S] (got ${argv[i]} ${argv[i + 1]})`);
    args[key] = value;
  }
  return args;
}

/** A small seeded PRNG (mulberry32), so that a failing trial sequence can be replayed with --seed. */
function prng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function count(map: Map<string, number>, key: string): void {
  map.set(key, (map.get(key) ?? 0) + 1);
}

function table(map: Map<string, number>): string {
  return [...map].sort(([a], [b]) => (a < b ? -1 : 1)).map(([key, n]) => `${key} ${n.toLocaleString('en-US')}`).join(', ');
}

const MiB = 1024 * 1024;

// ---------------------------------------------------------------------------------------- 1

function decoderFuzz(inputs: number, seed: number): { codes: Map<string, number>; seconds: number } {
  const codes = new Map<string, number>();
  const maxFrameBytesArb = fc.oneof({ weight: 3, arbitrary: fc.constant(DEFAULT_MAX_FRAME_BYTES) }, { weight: 1, arbitrary: fc.integer({ min: 1, max: 4096 }) });
  const mutated = fc
    .tuple(frameSequenceArb(12), fc.array(mutationArb, { minLength: 1, maxLength: 4 }))
    .map(([frames, mutations]) => {
      const { bytes, starts } = encodeWithStarts(frames);
      let out: Buffer = bytes;
      for (const mutation of mutations) out = mutate(out, mutation, starts);
      return out as Uint8Array;
    });
  const controlPayloads = fc
    .array(fc.tuple(fc.integer({ min: 0, max: 11 }), fc.integer({ min: 0, max: 0xff }), fc.uint8Array({ maxLength: 256 })), { minLength: 1, maxLength: 8 })
    .map((frames) => Buffer.concat(frames.map(([type, flags, payload]) => rawControlFrame(3, type, flags, payload))) as Uint8Array);
  const input = fc.oneof({ weight: 14, arbitrary: mutated }, { weight: 3, arbitrary: controlPayloads }, { weight: 3, arbitrary: fc.uint8Array({ maxLength: 2048 }) });
  const started = performance.now();
  fc.assert(
    fc.property(input, chunkPlanArb, maxFrameBytesArb, (bytes, plan, max) => {
      count(codes, checkHostileDecoding(bytes, plan, max)?.code ?? 'decoded');
    }),
    { numRuns: inputs, seed },
  );
  return { codes, seconds: (performance.now() - started) / 1000 };
}

// ---------------------------------------------------------------------------------------- 2

async function sessionFuzz(inputs: number, seed: number): Promise<{ outcomes: Map<string, number>; seconds: number }> {
  const outcomes = new Map<string, number>();
  const samples = fc.sample(
    fc.tuple(fc.constantFrom('client' as const, 'server' as const), frameSequenceArb(12), fc.array(mutationArb, { maxLength: 3 })),
    { numRuns: inputs, seed },
  );
  const started = performance.now();
  for (const [role, frames, mutations] of samples) {
    const { bytes, starts } = encodeWithStarts(frames);
    let wire: Buffer = bytes;
    for (const mutation of mutations) wire = mutate(wire, mutation, starts);
    const [mine, peer] = duplexPair();
    peer.resume();
    peer.on('error', () => {});
    const session = new SpdySession(mine, { role });
    session.on('stream', (stream) => {
      stream.accept();
      stream.on('error', () => {});
      stream.resume();
    });
    const closed = new Promise<KubemuxError | undefined | 'open'>((resolve) => {
      session.once('close', resolve);
      setImmediate(() => setImmediate(() => resolve('open')));
    });
    peer.write(wire);
    const outcome = await closed;
    if (outcome !== 'open' && outcome !== undefined && !isKubemuxError(outcome)) throw new Error(`session closed with ${String(outcome)}`);
    count(outcomes, outcome === 'open' ? 'still open' : (outcome?.code ?? 'clean'));
    session.destroy();
    peer.destroy();
  }
  return { outcomes, seconds: (performance.now() - started) / 1000 };
}

// ---------------------------------------------------------------------------------------- 3

/** Resolves with the outcome of `work`, or 'deadline' after `ms` (the caller then cleans up). */
function deadline<T>(work: Promise<T>, ms: number): Promise<T | 'deadline'> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([work, new Promise<'deadline'>((resolve) => (timer = setTimeout(() => resolve('deadline'), ms)))]).finally(() => clearTimeout(timer));
}

/** A typed outcome: the error's code, anything else is unexpected (and rethrown by the caller). */
function codeOf(error: unknown): string {
  if (isKubemuxError(error)) return error.code;
  throw new Error(`an untyped failure: ${String(error)}`, { cause: error });
}

async function faultTrials(trials: number, seed: number): Promise<{ outcomes: Map<string, number>; heaps: number[]; seconds: number; activeAtEnd: number }> {
  const random = prng(seed);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
  const outcomes = new Map<string, number>();
  const demo = await startDemoCluster({ headersTimeoutMs: 500 });
  const { cluster } = demo;
  const port = Number(new URL(cluster.url).port);
  const podName = (): string => cluster.state.pods('default')[0]!.name;
  const target = (): { server: string; path: string; upgradeTimeoutMs: number } => ({ server: cluster.url, path: portForwardPath('default', podName()), upgradeTimeoutMs: 2_000 });
  const heaps: number[] = [settledHeapBytes()];
  const started = performance.now();

  const forward = async (protocol: PortForwardProtocol, bytes: number, during?: () => void): Promise<string> => {
    const connection = await dialProtocol(target(), protocol);
    try {
      const { data } = await connection.openPortStreams(8080, { timeoutMs: 1_000 });
      const payload = Buffer.alloc(bytes, Math.floor(random() * 256));
      const echoed: Buffer[] = [];
      let received = 0;
      // Until every byte is back: over v4 end() sends nothing, so the echo never ends by itself.
      const ended = new Promise<void>((resolve, reject) => {
        data.on('data', (chunk: Buffer) => {
          echoed.push(chunk);
          received += chunk.length;
          if (received >= bytes) resolve();
        });
        data.once('end', resolve);
        data.once('error', reject);
      });
      data.end(payload);
      during?.();
      const result = await deadline(ended, 2_000);
      data.destroy();
      if (result === 'deadline') return 'stalled (no answer within 2 s)';
      if (sha256(Buffer.concat(echoed)) !== sha256(payload)) throw new Error(`${protocol}: echoed bytes differ`);
      return `forward ok`;
    } finally {
      connection.destroy();
    }
  };

  const kinds: Record<string, () => Promise<string>> = {
    async 'forward'() {
      return forward(pick(['spdy', 'websocket-tunnel', 'websocket-v4'] as const), 1 + Math.floor(random() * 256 * 1024));
    },
    async 'fault during a forward'() {
      const fault = pick(['drop', 'goaway', 'replace-pod', 'blackhole', 'stall', 'refuse'] as const);
      try {
        if (fault === 'stall' || fault === 'refuse') cluster.applyFault(fault);
        return await forward(pick(['spdy', 'websocket-tunnel'] as const), 1 + Math.floor(random() * MiB), () => {
          if (fault === 'replace-pod') cluster.applyFault('replace-pod', { name: podName() });
          else if (fault !== 'stall' && fault !== 'refuse') cluster.applyFault(fault);
        });
      } finally {
        cluster.applyFault('clear');
      }
    },
    async 'malformed target'() {
      const target = pick(['//', '*', '/kubemux/faults/%E0%A4%A', '/%zz', 'http://x/version', '/api/v1/namespaces/%/pods', '//evil/x', '/api/v1/namespaces/default/pods/%zz/portforward']);
      const upgrade = pick(['', 'Connection: Upgrade\r\nUpgrade: SPDY/3.1\r\nX-Stream-Protocol-Version: portforward.k8s.io\r\n', 'Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Protocol: SPDY/3.1+portforward.k8s.io\r\n']);
      const answer = await rawHttp(port, `${pick(['GET', 'POST'])} ${target} HTTP/1.1\r\nHost: x\r\n${upgrade}Content-Length: 0\r\nConnection: close\r\n\r\n`);
      return `HTTP ${answer.status}`;
    },
    async 'bytes after the upgrade'() {
      const client = await rawSpdyClient(port, { pod: podName() });
      const garbage = pick(['random', 'mutated'] as const);
      if (garbage === 'random') client.socket.write(Buffer.from(Array.from({ length: 1 + Math.floor(random() * 4096) }, () => Math.floor(random() * 256))));
      else {
        const [frames, mutations] = fc.sample(fc.tuple(frameSequenceArb(12), fc.array(mutationArb, { minLength: 1, maxLength: 3 })), { numRuns: 1, seed: Math.floor(random() * 2 ** 31) })[0]!;
        const { bytes, starts } = encodeWithStarts(frames);
        let wire: Buffer = bytes;
        for (const mutation of mutations) wire = mutate(wire, mutation, starts);
        client.socket.write(wire);
      }
      client.socket.end();
      const closed = await deadline(client.closed, 3_000);
      client.socket.destroy();
      return closed === 'deadline' ? 'left open until the client went' : 'closed by the server';
    },
    async 'header bomb'() {
      const client = await rawSpdyClient(port, { pod: podName() });
      for (const part of new FrameEncoder().encode({ type: 'SYN_STREAM', streamId: 1, associatedStreamId: 0, priority: 0, slot: 0, flags: 0, headers: headerBlockFrom({ x: Array<string>(65_000).fill('') }) })) client.socket.write(part);
      const closed = await deadline(client.closed, 3_000);
      client.socket.destroy();
      if (closed === 'deadline') throw new Error('a header bomb did not close its connection');
      return 'closed by the server';
    },
    async 'PING burst'() {
      const client = await rawSpdyClient(port, { pod: podName() });
      client.socket.write(repeat(encodePing({ type: 'PING', id: 1, flags: 0 }), 10_000));
      const echoed = await deadline(
        new Promise<void>((resolve) => {
          const check = (): void => (client.frames.length >= 10_000 ? resolve() : void setTimeout(check, 5));
          check();
        }),
        5_000,
      );
      client.socket.destroy();
      if (echoed === 'deadline') throw new Error(`only ${client.frames.length} of 10,000 pings were answered`);
      return 'all answered';
    },
    async 'SETTINGS storm'() {
      const client = await rawSpdyClient(port, { pod: podName() });
      const entries = Array.from({ length: 50_000 }, (_, i) => ({ id: SettingsId.INITIAL_WINDOW_SIZE, flags: 0, value: i }));
      const frame = encodeSettings({ type: 'SETTINGS', flags: 0, entries });
      for (let i = 0; i < 4; i++) client.socket.write(frame);
      client.socket.write(encodePing({ type: 'PING', id: 5, flags: 0 }));
      const answered = await deadline(
        new Promise<void>((resolve) => {
          const check = (): void => (client.frames.some((f) => f.type === 'PING') ? resolve() : void setTimeout(check, 5));
          check();
        }),
        5_000,
      );
      client.socket.destroy();
      if (answered === 'deadline') throw new Error('no PING echo after a SETTINGS storm');
      return 'ping answered';
    },
    async 'slow request headers'() {
      const socket = net.connect(port, '127.0.0.1');
      socket.on('error', () => {});
      await once(socket, 'connect');
      const answer: Buffer[] = [];
      socket.on('data', (chunk: Buffer) => answer.push(chunk));
      const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
      const text = `GET /version HTTP/1.1\r\nHost: x\r\n${'X-Slow: x\r\n'.repeat(100)}\r\n`;
      for (let i = 0; i < text.length && !socket.destroyed; i++) {
        socket.write(text[i]!);
        await new Promise<void>((resolve) => setTimeout(resolve, 20));
      }
      const result = await deadline(closed, 3_000);
      socket.destroy();
      const status = /^HTTP\/1\.1 (\d{3})/.exec(Buffer.concat(answer).toString('latin1'))?.[1];
      if (result === 'deadline' || status !== '408') throw new Error(`a slow client got ${status ?? 'no answer'}`);
      return 'cut off with 408';
    },
    async '1-byte WebSocket fragments'() {
      const socket = new WebSocket(`ws://127.0.0.1:${port}/api/v1/namespaces/default/pods/${podName()}/portforward?ports=8080`, ['v4.channel.k8s.io']);
      socket.on('error', () => {});
      await new Promise<void>((resolve, reject) => {
        socket.once('open', () => resolve());
        socket.once('error', reject);
      });
      const closed = new Promise<number>((resolve) => socket.once('close', (code) => resolve(code)));
      for (let i = 0; i < 5_000 && socket.readyState === WebSocket.OPEN; i++) socket.send(Buffer.from([0]), { fin: false, binary: true });
      const code = await deadline(closed, 5_000);
      socket.terminate();
      if (code === 'deadline') throw new Error('5,000 fragments did not close the WebSocket');
      return `closed ${code}`;
    },
  };
  const names = Object.keys(kinds);
  for (let trial = 0; trial < trials; trial++) {
    const name = pick(names);
    try {
      count(outcomes, `${name}: ${await kinds[name]!()}`);
    } catch (error) {
      if (error instanceof Error && !isKubemuxError(error)) throw new Error(`trial ${trial} (${name}) failed: ${error.message}`, { cause: error });
      count(outcomes, `${name}: ${codeOf(error)}`);
    }
    if ((trial + 1) % 25 === 0) {
      await legitForward(cluster.url, { pod: podName() }).catch((error: unknown) => {
        throw new Error(`after trial ${trial}, a legitimate forward failed: ${String(error)}`, { cause: error });
      });
      heaps.push(settledHeapBytes());
    }
  }
  // Every connection a trial opened has gone (the endpoint tracks them until they close).
  const quiet = await deadline(
    new Promise<void>((resolve) => {
      const check = (): void => (cluster.stats().activeSessions === 0 ? resolve() : void setTimeout(check, 20));
      check();
    }),
    10_000,
  );
  const activeAtEnd = quiet === 'deadline' ? cluster.stats().activeSessions : 0;
  await legitForward(cluster.url, { pod: podName() });
  heaps.push(settledHeapBytes());
  const seconds = (performance.now() - started) / 1000;
  await demo.close();
  return { outcomes, heaps, seconds, activeAtEnd };
}

async function main(): Promise<number> {
  const args = parseArgs(process.argv.slice(2));
  const out: string[] = [`# kubemux soak run`, '', `Node ${process.version}, seed ${args.seed}.`, ''];
  process.stderr.write(`decoder fuzz: ${args.decoderInputs} inputs...\n`);
  const decoder = decoderFuzz(args.decoderInputs, args.seed);
  out.push(
    `**Decoder**: ${args.decoderInputs.toLocaleString('en-US')} hostile inputs in ${decoder.seconds.toFixed(0)} s ` +
      `(${Math.round(args.decoderInputs / decoder.seconds).toLocaleString('en-US')}/s); every one decoded or failed with a codec KubemuxError, ` +
      `never more than 8 + maxFrameBytes buffered. Outcomes: ${table(decoder.codes)}.`,
    '',
  );
  process.stderr.write(`session fuzz: ${args.sessionInputs} inputs...\n`);
  const session = await sessionFuzz(args.sessionInputs, args.seed);
  out.push(`**Session**: ${args.sessionInputs.toLocaleString('en-US')} mutated frame streams into a SpdySession (both roles) in ${session.seconds.toFixed(0)} s; outcomes: ${table(session.outcomes)}.`, '');
  process.stderr.write(`fault trials: ${args.trials}...\n`);
  const faults = await faultTrials(args.trials, args.seed);
  const heapMiB = faults.heaps.map((bytes) => (bytes / MiB).toFixed(1));
  out.push(
    `**Fault trials**: ${args.trials.toLocaleString('en-US')} random trials against one fake cluster in ${faults.seconds.toFixed(0)} s; ` +
      `a legitimate forward succeeded after every 25th; connections left open at the end: ${faults.activeAtEnd}. ` +
      `Heap after collection (MiB), at the start, every 25 trials, at the end: ${heapMiB[0]} … max ${Math.max(...faults.heaps.map((b) => b / MiB)).toFixed(1)} … ${heapMiB.at(-1)}.`,
    '',
    '| trial: outcome | count |',
    '| --- | ---: |',
    ...[...faults.outcomes].sort(([a], [b]) => (a < b ? -1 : 1)).map(([key, n]) => `| ${key} | ${n} |`),
    '',
  );
  process.stdout.write(`${out.join('\n')}\n`);
  if (faults.activeAtEnd !== 0) {
    process.stderr.write(`${faults.activeAtEnd} connections were still open at the end\n`);
    return 1;
  }
  return 0;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`soak failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(1);
  },
);
