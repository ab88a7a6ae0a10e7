/**
 * A hostile SPDY peer against a SpdySession, in both roles: floods of every control frame, a peer
 * that never reads while it floods, amplification through header blocks, SETTINGS, WINDOW_UPDATE,
 * GOAWAY repeats and 1-byte DATA frames. Each case states its bound and checks three things: the
 * memory the session holds stays under it (the session's own counters, and heap growth measured
 * with a generous margin: kilobytes against the gigabytes these floods reached before), a
 * legitimate session in the same process keeps being served, and the outcome is typed (an error
 * code, or a pause that TCP turns into backpressure).
 *
 * The transport is the in-memory pair (backpressure after 16 KiB, like a socket whose peer does
 * not read, without megabytes of kernel buffers in between); the end-to-end cases over TCP
 * against the port-forward endpoint are in endpoint.test.ts.
 */
import assert from 'node:assert/strict';
import { describe, test, type TestContext } from 'node:test';
import { ErrorCode, isKubemuxError, type KubemuxError } from '../../../src/errors.js';
import { SpdySession, type SpdySessionOptions, type SpdyStream } from '../../../src/session/index.js';
import {
  FrameEncoder,
  GoAwayStatus,
  RstStatus,
  SettingsId,
  encodeGoAway,
  encodePing,
  encodeRstStream,
  encodeSettings,
  encodeUnknownControl,
  encodeWindowUpdate,
  headerBlockFrom,
  type SettingsEntry,
} from '../../../src/spdy/index.js';
import { once, within } from '../../support/deadlines.js';
import { duplexPair } from '../../support/duplex-pair.js';
import { KiB, MiB, flood, heapSampler, legitEcho, repeat } from '../../support/hostile.js';
import { data, reply, rst, settings, syn } from '../../support/frame-builders.js';
import { scriptedPair, type ScriptedSetup } from '../../support/scripted-pair.js';

const SUITE = { timeout: 60_000 };
const ROLES = ['client', 'server'] as const;
const DATA_HEADERS = { streamtype: 'data', port: '8080', requestid: '0' };

/** A session under test and the raw other end of its transport, which never reads. */
function silentPeer(t: TestContext, options: SpdySessionOptions): { session: SpdySession; peer: ReturnType<typeof duplexPair>[1] } {
  const [mine, peer] = duplexPair();
  const session = new SpdySession(mine, options);
  peer.on('error', () => {});
  t.after(() => {
    session.destroy();
    peer.destroy();
  });
  return { session, peer };
}

/** Samples the session's counters every few ms: the highest reply backlog seen, and whether it paused. */
function watchSession(session: SpdySession): { stop(): { maxQueuedReplies: number; paused: boolean; maxHeaderBytes: number } } {
  let maxQueuedReplies = 0;
  let maxHeaderBytes = 0;
  let paused = false;
  const sample = (): void => {
    const stats = session.stats;
    maxQueuedReplies = Math.max(maxQueuedReplies, stats.queuedReplyFrames);
    maxHeaderBytes = Math.max(maxHeaderBytes, stats.headerBytes);
    paused ||= stats.receivePaused;
  };
  const timer = setInterval(sample, 2);
  return {
    stop() {
      sample();
      clearInterval(timer);
      return { maxQueuedReplies, paused, maxHeaderBytes };
    },
  };
}

/** The first id of the peer's own pings and streams: even when the session is the client (the peer is then a server). */
function peerFirstId(role: 'client' | 'server'): number {
  return role === 'client' ? 2 : 1;
}

/** A scripted pair whose peer answers every SYN_STREAM the session sends. */
function answeringPair(t: TestContext, options: SpdySessionOptions): ScriptedSetup {
  const setup = scriptedPair(options, { keepData: false, expectTimeoutMs: 10_000 });
  t.after(() => setup.dispose());
  setup.peer.onFrame((frame) => {
    if (frame.type === 'SYN_STREAM') setup.peer.send(reply(frame.streamId));
  });
  return setup;
}

/**
 * Counts reads of one field (or method) of one object from now on, by turning it into an accessor
 * on that object: how a test sees how often the session touches one stream, without timing
 * anything.
 */
function countReads(target: object, field: string): { count: number } {
  const counter = { count: 0 };
  let value: unknown = (target as Record<string, unknown>)[field];
  Object.defineProperty(target, field, {
    configurable: true,
    enumerable: true,
    get() {
      counter.count++;
      return value;
    },
    set(next: unknown) {
      value = next;
    },
  });
  return counter;
}

/** Milliseconds `work` took (the frames are handled synchronously as they are written, so a deadline timer could not interrupt them). */
async function timed(work: () => Promise<void>): Promise<number> {
  const started = performance.now();
  await work();
  return performance.now() - started;
}

async function openMany(session: SpdySession, count: number): Promise<SpdyStream[]> {
  const streams = await Promise.all(Array.from({ length: count }, (_, i) => session.openStream({ ...DATA_HEADERS, requestid: String(i) }, { timeoutMs: 30_000 })));
  for (const stream of streams) stream.on('error', () => {});
  return streams;
}

describe('floods from a peer that never reads', SUITE, () => {
  for (const role of ROLES) {
    test(`${role}: PINGs: the session stops reading at maxQueuedReplyFrames and, unread for receiveStallTimeoutMs, closes with ERR_RESOURCE_LIMIT; heap bounded; others served`, async (t) => {
      const bound = 256;
      const { session, peer } = silentPeer(t, { role, maxQueuedReplyFrames: bound, receiveStallTimeoutMs: 300 });
      const closed = once<[KubemuxError | undefined]>(session, 'close', 10_000);
      const watch = watchSession(session);
      const heap = heapSampler({ collect: true });
      // 64 KiB of PINGs per write, 16 MiB in all: 1.4 million replies if nothing stopped them.
      const attempt = 16 * MiB;
      const flooding = flood(peer, repeat(encodePing({ type: 'PING', id: peerFirstId(role), flags: 0 }), 5461), attempt);
      await legitEcho();
      const [error] = await closed;
      const { written, blocked } = await flooding;
      const growth = heap.stop();
      const seen = watch.stop();
      assert.ok(isKubemuxError(error, ErrorCode.RESOURCE_LIMIT), `closed with ${String(error)}`);
      assert.equal(error.scope, 'session');
      assert.ok(blocked, 'the flood never met backpressure');
      assert.ok(written < attempt / 10, `the peer wrote ${written} bytes before it was stopped`);
      assert.ok(seen.paused, 'the session never stopped reading');
      assert.ok(seen.maxQueuedReplies <= bound, `${seen.maxQueuedReplies} replies were queued (bound ${bound})`);
      assert.ok(growth < 16 * MiB, `the heap held ${(growth / MiB).toFixed(1)} MiB more`);
      t.diagnostic(`peer stopped after ${(written / KiB).toFixed(0)} KiB of the ${attempt / MiB} MiB it tried; heap growth ${(growth / MiB).toFixed(2)} MiB`);
    });

    test(`${role}: a SYN_STREAM storm: answered (SYN_REPLY or RST REFUSED_STREAM) up to the reply bound, then ERR_RESOURCE_LIMIT; the stream table stays within maxConcurrentStreams`, async (t) => {
      const bound = 256;
      const maxConcurrentStreams = 100;
      const { session, peer } = silentPeer(t, { role, maxQueuedReplyFrames: bound, receiveStallTimeoutMs: 300, maxConcurrentStreams });
      // The server side accepts what it can, as the endpoint does; the client side has no listener and refuses all.
      if (role === 'server') session.on('stream', (stream) => stream.accept());
      let maxActive = 0;
      session.on('streamOpened', () => (maxActive = Math.max(maxActive, session.activeStreams)));
      const closed = once<[KubemuxError | undefined]>(session, 'close', 10_000);
      const watch = watchSession(session);
      const heap = heapSampler({ collect: true });
      const encoder = new FrameEncoder();
      let nextId = peerFirstId(role);
      const synChunk = (): Buffer => {
        const frames: Buffer[] = [];
        for (let i = 0; i < 1000; i++) {
          frames.push(...encoder.encode(syn(nextId, DATA_HEADERS)));
          nextId += 2;
        }
        return Buffer.concat(frames);
      };
      const attempt = 8 * MiB;
      const flooding = flood(peer, synChunk, attempt);
      await legitEcho();
      const [error] = await closed;
      const { written, blocked } = await flooding;
      const growth = heap.stop();
      const seen = watch.stop();
      assert.ok(isKubemuxError(error, ErrorCode.RESOURCE_LIMIT), `closed with ${String(error)}`);
      assert.ok(blocked);
      assert.ok(written < attempt / 10, `the peer wrote ${written} bytes`);
      assert.ok(seen.maxQueuedReplies <= bound);
      assert.ok(maxActive <= maxConcurrentStreams, `${maxActive} streams were open`);
      assert.ok(growth < 16 * MiB, `the heap held ${(growth / MiB).toFixed(1)} MiB more`);
      t.diagnostic(`heap held at most ${(growth / MiB).toFixed(2)} MiB more (bound 16 MiB)`);
    });

    test(`${role}: RST_STREAM and WINDOW_UPDATE for unknown streams and unknown control types need no reply: all read and dropped, the session stays open, heap bounded`, async (t) => {
      const { session, peer } = silentPeer(t, { role });
      const heap = heapSampler({ collect: true });
      const rsts = repeat(encodeRstStream({ type: 'RST_STREAM', streamId: 999_999, status: RstStatus.CANCEL, flags: 0 }), 4096);
      const updates = repeat(encodeWindowUpdate({ type: 'WINDOW_UPDATE', streamId: 777_777, deltaWindowSize: 1, flags: 0 }), 4096);
      const unknown = encodeUnknownControl({ type: 'UNKNOWN', controlType: 0x7777, version: 3, flags: 0, payload: Buffer.alloc(64 * KiB, 0x55) });
      const results = await within(
        Promise.all([flood(peer, rsts, 4 * MiB), flood(peer, updates, 4 * MiB), flood(peer, unknown, 8 * MiB), legitEcho()]),
        'the floods to be read',
        20_000,
      );
      const growth = heap.stop();
      for (const result of results.slice(0, 3)) assert.deepEqual({ blocked: (result as { blocked: boolean }).blocked }, { blocked: false });
      assert.equal(session.closed, false);
      assert.equal(session.stats.queuedReplyFrames, 0);
      assert.ok(session.stats.unknownFramesReceived >= 128);
      assert.ok(growth < 16 * MiB, `the heap held ${(growth / MiB).toFixed(1)} MiB more`);
      t.diagnostic(`heap held at most ${(growth / MiB).toFixed(2)} MiB more (bound 16 MiB)`);
    });
  }

  test('a burst of PINGs larger than the bound from a peer that reads late: every one is answered, in order, nothing dropped, no error', async (t) => {
    const setup = scriptedPair({ role: 'client', maxQueuedReplyFrames: 64 }, { keepData: false, expectTimeoutMs: 10_000 });
    t.after(() => setup.dispose());
    const { session, peer } = setup;
    peer.pause();
    const count = 5_000;
    for (let i = 0; i < count; i++) peer.send({ type: 'PING', id: 2 * (i + 1), flags: 0 });
    await within(
      new Promise<void>((resolve) => {
        const check = (): void => (session.stats.receivePaused ? resolve() : void setImmediate(check));
        check();
      }),
      'the session to stop reading',
    );
    peer.resume();
    // A client session sends nothing of its own here: every frame is an echo.
    await peer.waitFor((frames) => frames.length >= count, `${count} echoes`, 10_000);
    const ids = peer.received.filter((f) => f.type === 'PING').map((f) => (f.type === 'PING' ? f.id : 0));
    assert.deepEqual(ids, Array.from({ length: count }, (_, i) => 2 * (i + 1)));
    assert.equal(session.closed, false);
    assert.equal(session.stats.receivePaused, false);
  });
});

describe('amplification', SUITE, () => {
  test('SETTINGS with 1.6 million INITIAL_WINDOW_SIZE entries against 1,000 open streams: one walk over the streams per frame, not one per entry; the last entry wins', async (t) => {
    const { session, peer } = answeringPair(t, { role: 'client' });
    const streams = await openMany(session, 1000);
    // The stream's send window is a FlowControl (src/session/flow-control.ts): a walk shifts it.
    const walks = countReads(streams[500]!.sendWindow!, 'shift');
    const entries: SettingsEntry[] = [];
    for (let i = 0; i < 100_000; i++) entries.push({ id: SettingsId.INITIAL_WINDOW_SIZE, flags: 0, value: i % 2 === 0 ? 1 << 20 : 0 });
    entries.push({ id: SettingsId.INITIAL_WINDOW_SIZE, flags: 0, value: 3 });
    const frame = encodeSettings({ type: 'SETTINGS', flags: 0, entries });
    const elapsed = await timed(async () => {
      for (let i = 0; i < 16; i++) peer.sendRaw(frame);
      await peer.sync(20_000);
    });
    // Before: 1.6 million updates of every stream's window (1.6e9 in all).
    assert.ok(walks.count <= 16, `a stream's window was updated ${walks.count} times for 16 frames`);
    assert.ok(elapsed < 10_000, `the frames took ${elapsed.toFixed(0)} ms`);
    await legitEcho();
    // A window of 3 bytes: of 10 bytes written, 3 leave.
    streams[0]!.write(Buffer.from('0123456789'));
    await peer.waitFor((frames) => frames.some((f) => f.type === 'DATA' && f.streamId === streams[0]!.id), 'DATA on the first stream');
    await peer.sync();
    assert.equal(peer.dataBytes(streams[0]!.id), 3);
    assert.equal(session.stats.peerFlowControl, true);
  });

  test('WINDOW_UPDATE of 1 byte for the session, 200,000 times, with 936 writers waiting for session window: each update moves one writer, not all', async (t) => {
    const { session, peer } = answeringPair(t, { role: 'client' });
    const streams = await openMany(session, 1000);
    // Flow control on, stream windows of 1 MiB: the 64 KiB session window is what runs out.
    peer.send(settings({ initialWindowSize: 1 << 20 }));
    await peer.sync();
    for (const stream of streams) stream.write(Buffer.alloc(KiB, 1));
    await peer.waitFor(() => peer.dataBytes(streams[63]!.id) === KiB, 'the first 64 KiB');
    await peer.sync();
    const pumps = countReads(streams[500]!, 'pendingWrite');
    const update = repeat(encodeWindowUpdate({ type: 'WINDOW_UPDATE', streamId: 0, deltaWindowSize: 1, flags: 0 }), 200_000);
    const elapsed = await timed(async () => {
      peer.sendRaw(update);
      await peer.sync(20_000);
    });
    // Before: every update pumped every waiting writer (1.9e8 pumps, 200,000 of them this one's).
    assert.ok(pumps.count < 5_000, `one waiting writer was looked at ${pumps.count} times`);
    assert.ok(elapsed < 10_000, `the updates took ${elapsed.toFixed(0)} ms`);
    const moved = streams.slice(64).reduce((sum, stream) => sum + peer.dataBytes(stream.id), 0);
    assert.equal(moved, 200_000, 'the 200,000 bytes of window went to the waiting writers, one byte per update');
    await legitEcho();
  });

  test('GOAWAY repeated 200,000 times with 5,000 opens pending: one walk over them, not one per GOAWAY', async (t) => {
    const setup = scriptedPair({ role: 'client', maxConcurrentStreams: 5000 }, { keepData: false, expectTimeoutMs: 10_000 });
    t.after(() => setup.dispose());
    const { session, peer } = setup;
    const pending = Array.from({ length: 5000 }, (_, i) => session.openStream({ ...DATA_HEADERS, requestid: String(i) }, { timeoutMs: 60_000 }));
    for (const open of pending) open.catch(() => {});
    await peer.waitFor((frames) => frames.length >= 5000, '5,000 SYN_STREAMs');
    const draining = once(session, 'draining');
    // The walk over the pending opens reads the session's own id parity for each of them.
    const steps = countReads(session.options, 'firstStreamId');
    const goAways = repeat(encodeGoAway({ type: 'GOAWAY', lastGoodStreamId: 0x7fff_ffff, status: GoAwayStatus.OK, flags: 0 }), 200_000);
    const elapsed = await timed(async () => {
      peer.sendRaw(goAways);
      await peer.sync(20_000);
    });
    await draining;
    // Before: 1e9 steps over the pending opens (6.9 s here); now one walk, about a tenth of a second.
    assert.ok(steps.count <= 5_000, `${steps.count} steps over the pending opens for 200,000 GOAWAYs`);
    assert.ok(elapsed < 10_000, `the GOAWAYs took ${elapsed.toFixed(0)} ms`);
    assert.equal(session.activeStreams, 5000, 'the pending opens were above no last-good id: still pending');
    assert.equal(session.acceptingStreams, false);
    await legitEcho();
  });

  test('a header value of 65,000 NUL-separated parts (a block of about 100 compressed bytes) closes the session with ERR_HEADER_BLOCK_TOO_LARGE and GOAWAY PROTOCOL_ERROR', async (t) => {
    const setup = scriptedPair({ role: 'server' }, { expectTimeoutMs: 5_000 });
    t.after(() => setup.dispose());
    const { session, peer } = setup;
    session.on('stream', (stream) => stream.accept());
    const closed = once<[KubemuxError | undefined]>(session, 'close');
    const bomb = new FrameEncoder().encode(syn(1, headerBlockFrom({ ...DATA_HEADERS, x: Array<string>(65_000).fill('') })));
    const wireBytes = bomb.reduce((sum, part) => sum + part.length, 0);
    assert.ok(wireBytes < 1024, `the bomb is ${wireBytes} bytes on the wire`);
    for (const part of bomb) peer.sendRaw(part);
    const [error] = await closed;
    assert.ok(isKubemuxError(error, ErrorCode.HEADER_BLOCK_TOO_LARGE), `closed with ${String(error)}`);
    assert.match(error.message, /more than 256 values/);
    await peer.waitFor((frames) => frames.some((f) => f.type === 'GOAWAY' && f.status === GoAwayStatus.PROTOCOL_ERROR), 'GOAWAY PROTOCOL_ERROR');
  });

  test('streams with large header blocks: past maxSessionHeaderBytes new streams are refused (RST REFUSED_STREAM), and accepted again once earlier ones close', async (t) => {
    const setup = scriptedPair({ role: 'server' }, { expectTimeoutMs: 10_000 });
    t.after(() => setup.dispose());
    const { session, peer } = setup;
    const accepted: SpdyStream[] = [];
    session.on('stream', (stream) => {
      stream.accept();
      stream.on('error', () => {});
      accepted.push(stream);
    });
    const watch = watchSession(session);
    const heap = heapSampler({ collect: true });
    // 200 headers of 250 bytes: a 53 KB block, under every per-block bound; about 130 KB of heap decoded.
    const big: Record<string, string> = {};
    for (let i = 0; i < 200; i++) big[`h${i}`] = `${i}`.padEnd(250, String.fromCharCode(97 + (i % 26)));
    for (let i = 0; i < 100; i++) peer.send(syn(2 * i + 1, { ...DATA_HEADERS, ...big }));
    await peer.waitFor((frames) => frames.filter((f) => f.type === 'SYN_REPLY' || f.type === 'RST_STREAM').length === 100, '100 answers');
    // Encoding and decoding 5 MB of header blocks makes garbage: what counts is what stays held.
    const held = heap.retained();
    const seen = watch.stop();
    const refused = peer.received.filter((f) => f.type === 'RST_STREAM' && f.status === RstStatus.REFUSED_STREAM).length;
    assert.ok(refused > 50, `only ${refused} of 100 streams were refused`);
    assert.equal(session.stats.streamsRefused, refused);
    assert.ok(seen.maxHeaderBytes <= session.options.maxSessionHeaderBytes, `${seen.maxHeaderBytes} header bytes held`);
    // Before: all 100 streams accepted, about 13 MB of decoded headers held.
    assert.ok(held < 8 * MiB, `the session holds ${(held / MiB).toFixed(1)} MiB`);
    // The client ends the accepted streams: their budget comes back.
    for (const stream of accepted) peer.send(rst(stream.id, RstStatus.CANCEL));
    await peer.sync();
    assert.equal(session.stats.headerBytes, 0);
    peer.send(syn(1001, { ...DATA_HEADERS, ...big }));
    await peer.expect({ type: 'SYN_REPLY', streamId: 1001 });
  });

  test('1-byte DATA frames into a stream nobody reads: the 1 MiB stream buffer holds about 1 MiB of heap, not a million objects; the stall deadline then resets the stream', async (t) => {
    const [mine, peerEnd] = duplexPair();
    const session = new SpdySession(mine, { role: 'server', receiveStallTimeoutMs: 500 });
    t.after(() => {
      session.destroy();
      peerEnd.destroy();
    });
    peerEnd.on('error', () => {});
    peerEnd.resume(); // the peer reads (SYN_REPLY, RST), it just floods
    let stream!: SpdyStream;
    session.on('stream', (s) => {
      s.accept();
      stream = s;
    });
    const encoder = new FrameEncoder();
    for (const part of encoder.encode(syn(1, DATA_HEADERS))) peerEnd.write(part);
    const heap = heapSampler({ collect: true });
    const tiny = Buffer.concat(encoder.encode(data(1, Buffer.from('x'))));
    const outcome = new Promise<Error | undefined>((resolve) => {
      const wait = (): void => {
        if (stream === undefined) return void setImmediate(wait);
        stream.once('error', resolve);
        stream.once('close', () => resolve(undefined));
      };
      wait();
    });
    // 2 million frames would be 2 MiB of payload: the session stops reading at 1 MiB unread.
    const flooding = flood(peerEnd, repeat(tiny, 7000), 2_000_000 * tiny.length);
    await legitEcho();
    const failure = await within(outcome, 'the stalled stream to be reset', 20_000);
    const growth = heap.stop();
    await flooding;
    assert.ok(isKubemuxError(failure, ErrorCode.STREAM_RECEIVE_STALLED), `the stream ended with ${String(failure)}`);
    assert.ok(session.stats.dataBytesReceived >= MiB, `${session.stats.dataBytesReceived} bytes arrived`);
    // Before: about 130 bytes of heap per 1-byte chunk held, so 130+ MiB for the 1 MiB buffer.
    assert.ok(growth < 8 * MiB, `the heap held ${(growth / MiB).toFixed(1)} MiB more`);
    t.diagnostic(`heap growth with 1 MiB held in 1-byte frames: ${(growth / MiB).toFixed(2)} MiB`);
  });
});
