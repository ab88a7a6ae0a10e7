/**
 * SpdySession under faults: a peer that stops reading, stops answering, resets the connection
 * mid-frame, sends garbage or an absurd frame length, or floods a stream nobody reads; and a
 * closed session must leave no timer behind. Real loopback sockets wherever backpressure matters.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { describe, test, type TestContext } from 'node:test';
import fc from 'fast-check';
import { ErrorCode, KubemuxError, isKubemuxError } from '../../../src/errors.js';
import type { SpdySessionOptions, SpdyStream } from '../../../src/session/index.js';
import { GoAwayStatus, RstStatus, encodeDataFrame, type Frame } from '../../../src/spdy/index.js';
import { data, ping, reply } from '../../support/frame-builders.js';
import { describeFrame } from '../../support/frame-matcher.js';
import { scriptedPair, scriptedTcpPair, type ScriptedSetup, type ScriptedTcpSetup } from '../../support/scripted-pair.js';
import type { ScriptedPeerOptions } from '../../support/scripted-peer.js';
import { EXPECT_TIMEOUT_MS, once, within } from '../../support/deadlines.js';

const KiB = 1024;
const MiB = 1024 * KiB;
const DATA_HEADERS = { streamtype: 'data', port: '8080', requestid: '0' };
const SUITE = { timeout: 15_000 };

/** Errors a session may close with when the peer sent bytes that are not SPDY/3.1. */
const DECODE_ERRORS: readonly string[] = [
  ErrorCode.PROTOCOL,
  ErrorCode.UNSUPPORTED_VERSION,
  ErrorCode.FRAME_TOO_LARGE,
  ErrorCode.HEADER_BLOCK,
  ErrorCode.HEADER_BLOCK_TOO_LARGE,
  ErrorCode.COMPRESSION,
  ErrorCode.FLOW_CONTROL,
];

async function tcp(t: TestContext, options: SpdySessionOptions, peerOptions: Partial<ScriptedPeerOptions> = {}): Promise<ScriptedTcpSetup> {
  const pair = await scriptedTcpPair(options, peerOptions);
  t.after(() => pair.dispose());
  return pair;
}

function memory(t: TestContext, options: SpdySessionOptions, peerOptions: Partial<ScriptedPeerOptions> = {}): ScriptedSetup {
  const pair = scriptedPair(options, peerOptions);
  t.after(() => pair.dispose());
  return pair;
}


/** The rejection of `promise` (it must reject, with a KubemuxError). */
async function rejection(promise: Promise<unknown>, what: string, timeoutMs = EXPECT_TIMEOUT_MS): Promise<KubemuxError> {
  const outcome = await within(
    promise.then(
      () => undefined,
      (error: unknown) => ({ error }),
    ),
    `${what} to reject`,
    timeoutMs,
  );
  assert.ok(outcome !== undefined, `${what} resolved instead of rejecting`);
  assert.ok(isKubemuxError(outcome.error), `${what} rejected with ${String(outcome.error)}, not a KubemuxError`);
  return outcome.error;
}

/** Records uncaught exceptions and unhandled rejections for the duration of one test. */
function guardProcess(t: TestContext): { assertClean(): void } {
  const caught: unknown[] = [];
  const onError = (error: unknown): void => {
    caught.push(error);
  };
  process.on('uncaughtException', onError);
  process.on('unhandledRejection', onError);
  t.after(() => {
    process.off('uncaughtException', onError);
    process.off('unhandledRejection', onError);
  });
  return {
    assertClean: () => assert.deepEqual(caught, [], `uncaught: ${caught.map(String).join('; ')}`),
  };
}

/** Opens stream `id` (the peer replies) on a client session. */
async function open(setup: ScriptedSetup, id: number): Promise<SpdyStream> {
  const opening = setup.session.openStream(DATA_HEADERS);
  await setup.peer.expect({ type: 'SYN_STREAM', streamId: id });
  setup.peer.send(reply(id));
  return opening;
}

/** Resolves with the error a stream ends with, once it has fully closed ('close' follows 'error'). */
function streamOutcome(stream: SpdyStream, timeoutMs = EXPECT_TIMEOUT_MS): Promise<Error | undefined> {
  let error: Error | undefined;
  stream.on('error', (e: Error) => (error = e));
  return within(
    new Promise<Error | undefined>((resolve) => stream.once('close', () => resolve(error))),
    `stream ${stream.id} to close`,
    timeoutMs,
  );
}

function lastFrame(frames: readonly Frame[]): string {
  const last = frames.at(-1);
  return last === undefined ? '(none)' : describeFrame(last);
}

describe('a peer that stops reading', SUITE, () => {
  test('64 MiB written into a stream meet backpressure: writes stall, stream and socket buffers stay under 1 MiB, and everything arrives once the peer reads again', async (t) => {
    const setup = await tcp(t, { role: 'client' }, { keepData: false, expectTimeoutMs: 5000 });
    const { peer, sessionSocket } = setup;
    const stream = await open(setup, 1);
    peer.pause();

    const chunk = randomBytes(64 * KiB);
    const total = 64 * MiB;
    let completed = 0; // bytes whose write callback has run
    let falseReturns = 0;
    let maxStreamBuffered = 0;
    let maxSocketBuffered = 0;
    let stalledAt: number | undefined;
    let resumed!: () => void;
    const peerReadsAgain = new Promise<void>((resolve) => (resumed = resolve));

    const writer = (async () => {
      for (let written = 0; written < total; written += chunk.length) {
        const flowing = stream.write(chunk, (error) => {
          if (error == null) completed += chunk.length;
        });
        maxStreamBuffered = Math.max(maxStreamBuffered, stream.writableLength);
        maxSocketBuffered = Math.max(maxSocketBuffered, sessionSocket.writableLength);
        if (flowing) continue;
        falseReturns++;
        // Absence of progress cannot be shown by a round trip here (the peer reads nothing), so
        // a stall is a 'drain' that does not come within 300 ms; then the peer starts reading.
        const drained = await Promise.race([
          new Promise<boolean>((resolve) => stream.once('drain', () => resolve(true))),
          new Promise<boolean>((resolve) => setTimeout(() => resolve(false), 300).unref()),
        ]);
        if (!drained && stalledAt === undefined) {
          stalledAt = completed;
          resumed();
        }
        // A 'drain' that came just after the window closed must not leave the writer waiting.
        if (!drained && stream.writableNeedDrain) await new Promise<void>((resolve) => stream.once('drain', () => resolve()));
      }
      stream.end();
    })();

    await within(peerReadsAgain, 'the writer to stall', 10_000);
    assert.ok(stalledAt !== undefined);
    assert.ok(stalledAt < total, `the writer completed all ${total} bytes with nobody reading`);
    assert.ok(falseReturns > 0, 'stream.write() never returned false');
    assert.ok(maxStreamBuffered <= 2 * 64 * KiB, `stream.writableLength reached ${maxStreamBuffered}`);
    assert.ok(maxSocketBuffered < MiB, `socket.writableLength reached ${maxSocketBuffered}`);
    t.diagnostic(`stalled after ${(stalledAt / MiB).toFixed(1)} MiB (kernel buffers); max stream buffer ${maxStreamBuffered} B, max socket buffer ${maxSocketBuffered} B`);

    peer.resume();
    await within(writer, 'the writer to finish once the peer reads', 10_000);
    await peer.expectData(1, total, { fin: true, timeoutMs: 10_000 });
    const expected = createHash('sha256');
    for (let offset = 0; offset < total; offset += chunk.length) expected.update(chunk);
    assert.equal(peer.dataHash(1), expected.digest('hex'));
    assert.ok(maxStreamBuffered <= 2 * 64 * KiB && maxSocketBuffered < MiB, 'buffers stayed bounded after the resume too');
  });
});

describe('a peer that stops answering pings', SUITE, () => {
  test('ping() rejects with ERR_PING_TIMEOUT once the peer stops reading; the session itself stays open', async (t) => {
    const setup = await tcp(t, { role: 'client' });
    const { session, peer } = setup;
    peer.onFrame((frame) => {
      if (frame.type === 'PING' && frame.id % 2 === 1) peer.send(ping(frame.id));
    });
    const rtt = await within(session.ping({ timeoutMs: 1000 }), 'the first ping');
    assert.ok(rtt >= 0);
    peer.pause();
    const error = await rejection(session.ping({ timeoutMs: 100 }), 'a ping to a peer that reads nothing');
    assert.equal(error.code, ErrorCode.PING_TIMEOUT);
    assert.equal(session.closed, false, 'a ping timeout is for the owner to act on, not a reason to close');
  });
});

describe('the transport resets mid-frame', SUITE, () => {
  const variants: ReadonlyArray<{ name: string; kind: 'tcp-rst' | 'tcp-fin' | 'memory' }> = [
    { name: 'TCP RST (resetAndDestroy)', kind: 'tcp-rst' },
    { name: 'TCP FIN (destroy)', kind: 'tcp-fin' },
    { name: 'in-memory pair destroyed', kind: 'memory' },
  ];
  for (const variant of variants) {
    test(`${variant.name}: 'close' with ERR_TRANSPORT_CLOSED, open streams fail with ERR_SESSION_CLOSED, pending opens and pings reject, nothing uncaught`, async (t) => {
      const guard = guardProcess(t);
      const setup = variant.kind === 'memory' ? memory(t, { role: 'client' }) : await tcp(t, { role: 'client' });
      const { session, peer } = setup;
      const watched = await open(setup, 1);
      // Stream 3 has no listener of the test's: an unobserved failure must not crash anything.
      await open(setup, 3);
      const watchedOutcome = streamOutcome(watched);
      const pendingOpen = session.openStream(DATA_HEADERS, { timeoutMs: 60_000 });
      await peer.expect({ type: 'SYN_STREAM', streamId: 5 });
      const pendingPing = session.ping({ timeoutMs: 60_000 });
      await peer.expect({ type: 'PING', id: 1 });
      const closing = once<[KubemuxError | undefined]>(session, 'close');

      // Half a DATA frame: the header promises 100 bytes, 30 arrive.
      peer.sendRaw(Buffer.concat([Buffer.from('0000000100000064', 'hex'), randomBytes(30)]));
      if (variant.kind === 'tcp-rst') (setup as ScriptedTcpSetup).peerSocket.resetAndDestroy();
      else peer.destroy();

      const [closeError] = await closing;
      assert.ok(isKubemuxError(closeError), `closed with ${String(closeError)}`);
      assert.equal(closeError.code, ErrorCode.TRANSPORT_CLOSED);
      assert.equal(closeError.scope, 'transport');
      assert.equal(session.closeError, closeError);
      const streamFailure = await watchedOutcome;
      assert.ok(isKubemuxError(streamFailure, ErrorCode.SESSION_CLOSED), `stream 1 ended with ${String(streamFailure)}`);
      assert.equal((await rejection(pendingOpen, 'the pending open')).code, ErrorCode.SESSION_CLOSED);
      assert.equal((await rejection(pendingPing, 'the pending ping')).code, ErrorCode.SESSION_CLOSED);
      assert.equal((await rejection(session.openStream(DATA_HEADERS), 'an open after close')).code, ErrorCode.SESSION_CLOSED);
      assert.equal((await rejection(session.ping(), 'a ping after close')).code, ErrorCode.SESSION_CLOSED);
      assert.equal(session.activeStreams, 0);
      guard.assertClean();
    });
  }
});

describe('bytes that are not SPDY', SUITE, () => {
  test('garbage after valid frames (TCP): GOAWAY PROTOCOL_ERROR, then close with a typed decode error', async (t) => {
    const guard = guardProcess(t);
    const setup = await tcp(t, { role: 'client' });
    const { session, peer } = setup;
    const stream = await open(setup, 1);
    const outcome = streamOutcome(stream);
    peer.send(data(1, 'valid bytes first'));
    const closing = once<[KubemuxError | undefined]>(session, 'close');
    // A control frame header of version 0x7eef with a modest length, then noise.
    peer.sendRaw(Buffer.concat([Buffer.from('feef0001' + '00000010', 'hex'), randomBytes(4096)]));
    const [closeError] = await closing;
    assert.ok(isKubemuxError(closeError));
    assert.equal(closeError.code, ErrorCode.UNSUPPORTED_VERSION);
    await peer.waitFor((frames) => frames.some((frame) => frame.type === 'GOAWAY'), 'GOAWAY');
    await peer.expectEnd();
    const goAway = peer.received.find((frame) => frame.type === 'GOAWAY');
    assert.ok(goAway?.type === 'GOAWAY');
    assert.equal(goAway.status, GoAwayStatus.PROTOCOL_ERROR);
    assert.equal(goAway.lastGoodStreamId, 0, 'the peer opened no stream');
    assert.ok(isKubemuxError(await outcome, ErrorCode.SESSION_CLOSED));
    guard.assertClean();
  });

  test('property: any garbage after valid frames ends in a typed close, never a crash; decode errors are announced with GOAWAY PROTOCOL_ERROR', async (t) => {
    const guard = guardProcess(t);
    // Pure noise mostly fails the version check; a valid control header in front of noise
    // reaches the per-type checks, the header-block parser and zlib.
    const garbage = fc.oneof(
      fc.uint8Array({ minLength: 1, maxLength: 256 }),
      fc
        .record({
          type: fc.integer({ min: 1, max: 12 }),
          flags: fc.integer({ min: 0, max: 255 }),
          payload: fc.uint8Array({ maxLength: 64 }),
          extra: fc.integer({ min: -4, max: 4 }),
        })
        .map(({ type, flags, payload, extra }) => {
          const head = Buffer.alloc(8);
          head.writeUInt16BE(0x8003, 0);
          head.writeUInt16BE(type, 2);
          head.writeUInt32BE(((flags << 24) | Math.max(0, payload.length + extra)) >>> 0, 4);
          return Uint8Array.from(Buffer.concat([head, payload]));
        }),
    );
    const outcomes = new Map<string, number>();
    await fc.assert(
      fc.asyncProperty(garbage, async (noise) => {
        const setup = scriptedPair({ role: 'client' });
        try {
          const { session, peer } = setup;
          const stream = await open(setup, 1);
          const outcome = streamOutcome(stream);
          peer.send(data(1, 'hello'));
          const closing = once<[KubemuxError | undefined]>(session, 'close');
          peer.sendRaw(noise);
          // Whatever the noise left half-parsed, the end of the transport settles it.
          if (!session.closed) peer.close();
          const [closeError] = await closing;
          assert.ok(closeError === undefined || isKubemuxError(closeError), `closed with ${String(closeError)}`);
          const reason = closeError?.code ?? 'clean';
          outcomes.set(reason, (outcomes.get(reason) ?? 0) + 1);
          assert.notEqual(closeError?.message, 'failed to process a frame', `a frame handler threw: ${String(closeError?.cause)}`);
          if (closeError !== undefined && DECODE_ERRORS.includes(closeError.code)) {
            const last = peer.received.at(-1);
            assert.ok(last?.type === 'GOAWAY' && last.status === GoAwayStatus.PROTOCOL_ERROR, `last frame sent: ${lastFrame(peer.received)}`);
          }
          const streamEnd = await outcome;
          assert.ok(streamEnd === undefined || isKubemuxError(streamEnd), `stream ended with ${String(streamEnd)}`);
        } finally {
          await setup.dispose();
        }
      }),
      { numRuns: 300, seed: 0x5eed },
    );
    t.diagnostic(`close reasons: ${JSON.stringify(Object.fromEntries(outcomes))}`);
    const decodeFailures = [...outcomes].filter(([code]) => DECODE_ERRORS.includes(code)).reduce((sum, [, n]) => sum + n, 0);
    assert.ok(decodeFailures > 50, 'the generator hardly ever produced undecodable input');
    guard.assertClean();
  });

  test('a DATA header announcing 16 MiB - 1 bytes fails with ERR_FRAME_TOO_LARGE at once, before any payload arrives', async (t) => {
    const setup = await tcp(t, { role: 'client' });
    const { session, peer } = setup;
    await open(setup, 1);
    const closing = once<[KubemuxError | undefined]>(session, 'close');
    peer.sendRaw(Buffer.from('00000001' + '00ffffff', 'hex'));
    const [closeError] = await closing;
    assert.ok(isKubemuxError(closeError, ErrorCode.FRAME_TOO_LARGE), `closed with ${String(closeError)}`);
    await peer.expect({ type: 'GOAWAY', status: GoAwayStatus.PROTOCOL_ERROR });
    await peer.expectEnd();
  });

  test('a control frame header announcing 16 MiB - 1 bytes fails the same way', async (t) => {
    const setup = memory(t, { role: 'server' });
    const { session, peer } = setup;
    await peer.expectSequence({ type: 'SETTINGS' }, { type: 'WINDOW_UPDATE' });
    const closing = once<[KubemuxError | undefined]>(session, 'close');
    peer.sendRaw(Buffer.from('80030001' + '00ffffff', 'hex'));
    const [closeError] = await closing;
    assert.ok(isKubemuxError(closeError, ErrorCode.FRAME_TOO_LARGE), `closed with ${String(closeError)}`);
    await peer.expect({ type: 'GOAWAY', status: GoAwayStatus.PROTOCOL_ERROR });
  });
});

describe('a stream nobody reads', SUITE, () => {
  test('a window-less peer flooding it: the transport pauses, the peer blocks, RSS grows < 64 MiB; after receiveStallTimeoutMs the stream is reset and another stream works', async (t) => {
    const guard = guardProcess(t);
    const setup = await tcp(t, { role: 'client', receiveStallTimeoutMs: 200 });
    const { session, peer, peerSocket } = setup;
    const stalled = await open(setup, 1);
    const stalledOutcome = streamOutcome(stalled, 10_000);

    const limit = 1024 * MiB;
    const frame = Buffer.concat(encodeDataFrame(data(1, randomBytes(64 * KiB))));
    const rssBefore = process.memoryUsage().rss;
    let rssPeak = rssBefore;
    let peerWritten = 0;
    let waitingForDrain = false;
    let stop!: () => void;
    const stopped = new Promise<void>((resolve) => (stop = resolve));
    let stopping = false;
    peer.onFrame((f) => {
      if (f.type === 'RST_STREAM' && f.streamId === 1) {
        stopping = true;
        stop();
      }
    });

    // What the session looked like the moment it gave up on stream 1.
    let atReset: { peerWaitingForDrain: boolean; peerWritten: number; delivered: number; receivePaused: boolean } | undefined;
    session.on('streamClosed', (stream) => {
      if (stream !== stalled || atReset !== undefined) return;
      rssPeak = Math.max(rssPeak, process.memoryUsage().rss);
      atReset = {
        peerWaitingForDrain: waitingForDrain,
        peerWritten,
        delivered: session.stats.dataBytesReceived,
        receivePaused: session.stats.receivePaused,
      };
    });

    // The peer writes as a Go peer would: as fast as its socket takes it, never looking at windows.
    const writer = (async () => {
      while (!stopping && peerWritten < limit) {
        const flowing = peerSocket.write(frame);
        peerWritten += frame.length;
        if (flowing) continue;
        rssPeak = Math.max(rssPeak, process.memoryUsage().rss);
        waitingForDrain = true;
        await Promise.race([new Promise((resolve) => peerSocket.once('drain', resolve)), stopped]);
        waitingForDrain = false;
      }
    })();

    const failure = await stalledOutcome;
    assert.ok(isKubemuxError(failure, ErrorCode.STREAM_RECEIVE_STALLED), `stream 1 ended with ${String(failure)}`);
    assert.equal(failure.rstStatus, RstStatus.CANCEL);
    await within(stopped, 'the RST to reach the peer');
    await within(writer, 'the peer writer to stop');
    assert.ok(atReset !== undefined);
    assert.equal(atReset.receivePaused, true, 'the session was not pausing its transport');
    assert.equal(atReset.peerWaitingForDrain, true, "the peer's writes were still flowing when the stream was reset");
    assert.ok(atReset.peerWritten < 128 * MiB, `the peer wrote ${atReset.peerWritten} bytes before it blocked`);
    // The stream's buffer, plus the rest of the socket chunk being decoded when the pause began.
    const bufferBound = session.options.streamReceiveBufferBytes + 128 * KiB;
    assert.ok(atReset.delivered <= bufferBound, `${atReset.delivered} bytes were delivered into the session while paused (bound ${bufferBound})`);
    const rssGrowth = rssPeak - rssBefore;
    assert.ok(rssGrowth < 64 * MiB, `RSS grew by ${(rssGrowth / MiB).toFixed(1)} MiB`);
    t.diagnostic(
      `peer blocked after writing ${(atReset.peerWritten / MiB).toFixed(1)} MiB; session had taken ${(atReset.delivered / KiB).toFixed(0)} KiB; ` +
        `RSS growth at peak ${(rssGrowth / MiB).toFixed(1)} MiB`,
    );

    // The RST is on the wire, and the session reads again: another stream works.
    await peer.waitFor((frames) => frames.some((f) => f.type === 'RST_STREAM' && f.streamId === 1 && f.status === RstStatus.CANCEL), 'RST CANCEL');
    peer.onFrame((f) => {
      if (f.type === 'SYN_STREAM' && f.streamId === 3) peer.send(reply(3));
      if (f.type === 'DATA' && f.streamId === 3) peer.send(f);
    });
    const fresh = await within(session.openStream(DATA_HEADERS), 'stream 3 to open', 10_000);
    assert.equal(fresh.id, 3);
    const chunks: Buffer[] = [];
    const ended = within(
      new Promise<void>((resolve, reject) => {
        fresh.on('data', (chunk: Buffer) => chunks.push(chunk));
        fresh.once('end', resolve);
        fresh.once('error', reject);
      }),
      'the echo on stream 3',
      10_000,
    );
    fresh.end('hello');
    await ended;
    assert.equal(Buffer.concat(chunks).toString(), 'hello');
    assert.equal(session.stats.receivePaused, false);
    assert.ok(session.stats.droppedDataBytes > 0, 'DATA the peer had in flight for the reset stream was dropped');
    guard.assertClean();
  });
});

describe('timers', SUITE, () => {
  test('a closed session keeps nothing alive: a child process that opens, pings, times out, stalls and closes sessions exits by itself, even with unref() disabled', async (t) => {
    const sessionUrl = new URL('../../../src/session/index.js', import.meta.url).href;
    const spdyUrl = new URL('../../../src/spdy/index.js', import.meta.url).href;
    const pairUrl = new URL('../../support/duplex-pair.js', import.meta.url).href;
    const child = spawn(process.execPath, ['--input-type=module', '-e', childScript(sessionUrl, spdyUrl, pairUrl)], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    t.after(() => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    });
    let code: number | null;
    try {
      code = await within(exited, 'the child to exit by itself', 8000);
    } catch (error) {
      throw new assert.AssertionError({ message: `${(error as Error).message}; it printed:\n${stdout}${stderr}` });
    }
    assert.equal(code, 0, `child failed:\n${stdout}\n${stderr}`);
    assert.match(stdout, /all scenarios done/);
    assert.match(stdout, /live timers at the end: 0/);
  });
});

/**
 * The child's program. Timers' unref() is made a no-op first, so that any timer a session
 * forgets to clear holds the process open and the parent's deadline catches it.
 */
function childScript(sessionUrl: string, spdyUrl: string, pairUrl: string): string {
  return `
const probe = setTimeout(() => {}, 0);
Object.getPrototypeOf(probe).unref = function () { return this; };
clearTimeout(probe);
const { SpdySession } = await import(${JSON.stringify(sessionUrl)});
const { FrameEncoder, FrameDecoder } = await import(${JSON.stringify(spdyUrl)});
const { duplexPair } = await import(${JSON.stringify(pairUrl)});
const check = (ok, what) => { if (!ok) { console.error('FAILED: ' + what); process.exit(1); } };
const headers = { streamtype: 'data', port: '80', requestid: '0' };

// 1. Two sessions: open (timer cleared by the reply), echo, ping (timer cleared by the echo), close.
{
  const [a, b] = duplexPair();
  const client = new SpdySession(a, { role: 'client' });
  const server = new SpdySession(b, { role: 'server' });
  server.on('stream', (s) => { s.accept(); s.pipe(s); });
  const stream = await client.openStream(headers);
  const echoed = [];
  stream.on('data', (c) => echoed.push(c));
  const ended = new Promise((resolve) => stream.on('end', resolve));
  stream.end('hello');
  await ended;
  check(Buffer.concat(echoed).toString() === 'hello', 'echo');
  await client.ping();
  await server.ping();
  const serverClosed = new Promise((resolve) => server.once('close', resolve));
  await client.close();
  await serverClosed;
  console.log('clean close done');
}

// 2. A silent peer: one ping and one open time out, another of each is pending at destroy.
{
  const [a, b] = duplexPair();
  b.resume();
  const client = new SpdySession(a, { role: 'client' });
  const timedOut = await Promise.allSettled([client.ping({ timeoutMs: 20 }), client.openStream(headers, { timeoutMs: 20 })]);
  check(timedOut.every((r) => r.status === 'rejected'), 'timeouts');
  const pending = Promise.allSettled([client.ping({ timeoutMs: 60000 }), client.openStream(headers, { timeoutMs: 60000 })]);
  client.destroy();
  check((await pending).every((r) => r.status === 'rejected'), 'pending rejected at destroy');
  console.log('silent peer done');
}

// 3. A stream nobody reads: the stall timer is armed, then the session is destroyed.
{
  const [a, b] = duplexPair();
  const encoder = new FrameEncoder();
  const decoder = new FrameDecoder();
  b.on('data', (chunk) => decoder.push(chunk, (frame) => {
    if (frame.type === 'SYN_STREAM') {
      for (const bytes of encoder.encode({ type: 'SYN_REPLY', streamId: frame.streamId, flags: 0, headers: new Map() })) b.write(bytes);
      for (const bytes of encoder.encode({ type: 'DATA', streamId: frame.streamId, flags: 0, data: Buffer.alloc(4096) })) b.write(bytes);
    }
  }));
  const client = new SpdySession(a, { role: 'client', streamReceiveBufferBytes: 1024, receiveStallTimeoutMs: 60000 });
  const stream = await client.openStream(headers);
  stream.on('error', () => {});
  // The DATA followed the SYN_REPLY in the same synchronous delivery: the pause is already on.
  check(client.stats.receivePaused, 'receive paused');
  client.destroy();
  console.log('stall destroy done');
}

// 4. GOAWAY from the peer with streams open, then a clean end.
{
  const [a, b] = duplexPair();
  const client = new SpdySession(a, { role: 'client' });
  const server = new SpdySession(b, { role: 'server' });
  server.on('stream', (s) => { s.accept(); });
  const stream = await client.openStream(headers);
  stream.on('error', () => {});
  const closed = new Promise((resolve) => client.once('close', resolve));
  server.goAway();
  stream.destroy();
  await closed;
  server.destroy();
  console.log('goaway done');
}

const live = process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
console.log('live timers at the end: ' + live);
console.log('all scenarios done');
`;
}
