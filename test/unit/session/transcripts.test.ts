/**
 * SpdySession against a scripted peer: each test is a wire transcript of what the peer sends and
 * what the session must answer, frame by frame. The peer behaves like Go's spdystream unless a
 * test says otherwise: it never sends SETTINGS or WINDOW_UPDATE, never pings on its own, replies
 * with an empty header block, and keeps sending DATA after a reset.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, test, type TestContext } from 'node:test';
import { ErrorCode, KubemuxError, isKubemuxError } from '../../../src/errors.js';
import type { SpdySessionOptions, SpdyStream, DrainInfo } from '../../../src/session/index.js';
import { DEFAULT_INITIAL_WINDOW_BYTES, FLAG_FIN, GoAwayStatus, RstStatus, SettingsId } from '../../../src/spdy/index.js';
import { data, goaway, ping, reply, rst, settings, syn, windowUpdate } from '../../support/frame-builders.js';
import { scriptedPair, type ScriptedSetup } from '../../support/scripted-pair.js';
import { type ScriptedPeerOptions } from '../../support/scripted-peer.js';
import { once, within } from '../../support/deadlines.js';
import { readAll, sha256 } from '../../support/streams.js';

const KiB = 1024;
const MiB = 1024 * KiB;
const SUITE = { timeout: 10_000 };
const DATA_HEADERS = { streamtype: 'data', port: '8080', requestid: '0' };

function setup(t: TestContext, options: SpdySessionOptions, peerOptions: Partial<ScriptedPeerOptions> = {}): ScriptedSetup {
  const pair = scriptedPair(options, peerOptions);
  t.after(() => pair.dispose());
  return pair;
}


/** Awaits `promise`, asserts it rejects with a KubemuxError of `code`, returns the error. */
async function rejection(promise: Promise<unknown>, code: ErrorCode): Promise<KubemuxError> {
  try {
    await within(promise, `a rejection with ${code}`);
    assert.fail(`expected a rejection with ${code}, but it resolved`);
  } catch (error) {
    if (error instanceof assert.AssertionError) throw error;
    assert.ok(isKubemuxError(error), `expected a KubemuxError ${code}, got ${String(error)}`);
    assert.equal(error.code, code, error.message);
    return error;
  }
  assert.fail(`expected a rejection with ${code}, but it resolved`);
}

/** The error a stream is destroyed with. */
async function streamError(stream: SpdyStream): Promise<KubemuxError> {
  const [error] = (await once(stream, 'error')) as [unknown];
  assert.ok(isKubemuxError(error), `expected a KubemuxError, got ${String(error)}`);
  return error;
}

/** Everything the stream's readable side yields until it ends, within the default deadline. */
function readToEnd(stream: SpdyStream): Promise<Buffer> {
  return within(readAll(stream), `the end of stream ${stream.id}`);
}

/**
 * A server session whose opening SETTINGS and connection WINDOW_UPDATE the peer has consumed:
 * the prologue every server-role transcript starts from.
 */
async function serverSetup(t: TestContext, options: Partial<SpdySessionOptions> = {}): Promise<ScriptedSetup> {
  const pair = setup(t, { role: 'server', ...options });
  await pair.peer.expectSequence({ type: 'SETTINGS' }, { type: 'WINDOW_UPDATE' });
  return pair;
}

/** Accepts every stream the peer opens; the array fills in arrival order. */
function acceptAll(session: ScriptedSetup['session']): SpdyStream[] {
  const streams: SpdyStream[] = [];
  session.on('stream', (stream) => {
    streams.push(stream);
    stream.accept();
  });
  return streams;
}

/** A client session with stream 1 opened and replied to (the peer's transcript is consumed). */
async function openedClientStream(t: TestContext, options: Partial<SpdySessionOptions> = {}) {
  const pair = setup(t, { role: 'client', ...options });
  const opening = pair.session.openStream(DATA_HEADERS);
  await pair.peer.expect({ type: 'SYN_STREAM', streamId: 1 });
  pair.peer.send(reply(1));
  const stream = await opening;
  return { ...pair, stream };
}

describe('client role: opening streams', SUITE, () => {
  test('openStream sends SYN_STREAM id 1, priority 0, flags 0, the headers exactly as given; the next open uses id 3', async (t) => {
    const { session, peer } = setup(t, { role: 'client' });
    const first = session.openStream({ streamtype: 'error', port: '8080', requestid: '0' });
    await peer.expect({
      type: 'SYN_STREAM',
      streamId: 1,
      associatedStreamId: 0,
      priority: 0,
      slot: 0,
      flags: 0,
      headers: { streamtype: 'error', port: '8080', requestid: '0' },
    });
    const second = session.openStream(new Map([['streamtype', ['data']], ['port', ['8080']], ['requestid', ['0']]]));
    await peer.expect({ type: 'SYN_STREAM', streamId: 3, priority: 0, flags: 0, headers: DATA_HEADERS });
    peer.send(reply(1), reply(3));
    const [errorStream, dataStream] = await Promise.all([first, second]);
    assert.equal(errorStream.id, 1);
    assert.equal(dataStream.id, 3);
    assert.equal(dataStream.header('streamtype'), 'data');
    await peer.expectQuiet();
  });

  test('header names reach the wire in lower case, as spdystream demands', async (t) => {
    const { session, peer } = setup(t, { role: 'client' });
    void session.openStream({ StreamType: 'data', Port: '80', RequestID: '7' }).catch(() => undefined);
    await peer.expect({ type: 'SYN_STREAM', streamId: 1, headers: { streamtype: 'data', port: '80', requestid: '7' } });
  });

  test('20 opens started concurrently from different async paths reach the wire as ids 1..39 in order', async (t) => {
    const { session, peer } = setup(t, { role: 'client' });
    peer.onFrame((frame) => {
      if (frame.type === 'SYN_STREAM') peer.send(reply(frame.streamId));
    });
    const streams = await Promise.all(
      Array.from({ length: 20 }, async (_, i) => {
        // Each open starts after a different number of microtask turns, so calls interleave.
        for (let turn = 0; turn < (i * 7) % 5; turn++) await null;
        return session.openStream({ ...DATA_HEADERS, requestid: String(i) });
      }),
    );
    const wireIds = peer.received.flatMap((frame) => (frame.type === 'SYN_STREAM' ? [frame.streamId] : []));
    assert.deepEqual(wireIds, Array.from({ length: 20 }, (_, i) => 2 * i + 1));
    // Each stream carries the id its own SYN_STREAM went out with.
    for (const stream of streams) {
      const synFrame = peer.received.find((frame) => frame.type === 'SYN_STREAM' && frame.streamId === stream.id);
      assert.ok(synFrame?.type === 'SYN_STREAM');
      assert.equal(synFrame.headers.get('requestid')?.[0], stream.header('requestid'));
    }
  });

  test('openStream resolves on a SYN_REPLY with an empty header block, not before', async (t) => {
    const { session, peer } = setup(t, { role: 'client' });
    let settled = false;
    const opening = session.openStream(DATA_HEADERS).finally(() => (settled = true));
    await peer.expect({ type: 'SYN_STREAM', streamId: 1 });
    await peer.expectQuiet();
    assert.equal(settled, false, 'resolved before any SYN_REPLY');
    peer.send(reply(1));
    const stream = await opening;
    assert.equal(stream.id, 1);
    assert.equal(stream.initiator, 'local');
  });

  test('writes become DATA frames, end() an empty DATA with FIN; no RST once both sides sent FIN', async (t) => {
    const { session, peer, stream } = await openedClientStream(t);
    stream.write('hello');
    await peer.expect({ type: 'DATA', streamId: 1, flags: 0, data: 'hello' });
    stream.end();
    await peer.expect({ type: 'DATA', streamId: 1, flags: FLAG_FIN, data: '' });
    peer.send(data(1, 'bye', { fin: true }));
    assert.equal((await readToEnd(stream)).toString(), 'bye');
    stream.destroy();
    await peer.expectQuiet();
    assert.equal(session.activeStreams, 0);
  });

  test('destroy() on an open stream sends RST_STREAM CANCEL', async (t) => {
    const { session, peer, stream } = await openedClientStream(t);
    const closed = once(session, 'streamClosed');
    stream.destroy();
    await peer.expect({ type: 'RST_STREAM', streamId: 1, status: RstStatus.CANCEL });
    await closed;
    assert.equal(session.activeStreams, 0);
    await peer.expectQuiet();
  });
});

describe('against a window-less peer (spdystream never sends SETTINGS or WINDOW_UPDATE)', SUITE, () => {
  test('the client sends 1 MiB on one stream without stalling at 64 KiB, receives 1 MiB, and sends no SETTINGS or WINDOW_UPDATE at all', async (t) => {
    const { session, peer, stream } = await openedClientStream(t);
    const upload = randomBytes(MiB);
    const download = randomBytes(MiB);
    const received = readToEnd(stream);
    stream.end(upload);
    await peer.expectData(1, upload.length, { fin: true });
    assert.equal(peer.dataHash(1), sha256(upload));
    for (let offset = 0; offset < download.length; offset += 32 * KiB) peer.send(data(1, download.subarray(offset, offset + 32 * KiB)));
    peer.send(data(1, '', { fin: true }));
    assert.equal(sha256(await received), sha256(download));
    await peer.expectQuiet();
    const flowFrames = peer.received.filter((frame) => frame.type === 'SETTINGS' || frame.type === 'WINDOW_UPDATE');
    assert.deepEqual(flowFrames, [], 'a client must not send flow-control frames to a peer that never showed it uses them');
    assert.equal(session.stats.peerFlowControl, false);
  });
});

describe('server role', SUITE, () => {
  test("with flowControl 'advertise' (the default) the first frames are SETTINGS INITIAL_WINDOW_SIZE and a session WINDOW_UPDATE", async (t) => {
    const { session, peer } = setup(t, { role: 'server' });
    await peer.expect({
      type: 'SETTINGS',
      flags: 0,
      entries: [{ id: SettingsId.INITIAL_WINDOW_SIZE, flags: 0, value: session.options.streamReceiveBufferBytes }],
    });
    await peer.expect({
      type: 'WINDOW_UPDATE',
      streamId: 0,
      deltaWindowSize: session.options.sessionReceiveBufferBytes - DEFAULT_INITIAL_WINDOW_BYTES,
    });
    await peer.expectQuiet();
  });

  test("an incoming SYN_STREAM is emitted on 'stream'; accept() sends SYN_REPLY with an empty header block", async (t) => {
    const { session, peer } = await serverSetup(t);
    const incoming = once<[SpdyStream]>(session, 'stream');
    peer.send(syn(1, DATA_HEADERS));
    const [stream] = await incoming;
    assert.equal(stream.id, 1);
    assert.equal(stream.initiator, 'remote');
    assert.equal(stream.header('port'), '8080');
    await peer.expectQuiet();
    stream.accept();
    await peer.expect({ type: 'SYN_REPLY', streamId: 1, flags: 0, headers: {} });
    peer.send(data(1, 'ping?'));
    stream.once('data', (chunk: Buffer) => stream.write(Buffer.concat([chunk, Buffer.from('!')])));
    await peer.expect({ type: 'DATA', streamId: 1, data: 'ping?!' });
  });

  test("with no 'stream' listener an incoming stream is refused with RST REFUSED_STREAM", async (t) => {
    const { peer } = await serverSetup(t);
    peer.send(syn(1, DATA_HEADERS));
    await peer.expect({ type: 'RST_STREAM', streamId: 1, status: RstStatus.REFUSED_STREAM });
    await peer.expectQuiet();
  });

  test('a SYN_STREAM with a lower id than a previous one, or the wrong parity, gets RST PROTOCOL_ERROR and the session carries on', async (t) => {
    const { session, peer } = await serverSetup(t);
    const streams = acceptAll(session);
    peer.send(syn(5, DATA_HEADERS));
    await peer.expect({ type: 'SYN_REPLY', streamId: 5 });
    peer.send(syn(3, DATA_HEADERS));
    await peer.expect({ type: 'RST_STREAM', streamId: 3, status: RstStatus.PROTOCOL_ERROR });
    peer.send(syn(8, DATA_HEADERS));
    await peer.expect({ type: 'RST_STREAM', streamId: 8, status: RstStatus.PROTOCOL_ERROR });
    peer.send(syn(7, DATA_HEADERS));
    await peer.expect({ type: 'SYN_REPLY', streamId: 7 });
    await peer.expectQuiet();
    assert.deepEqual(
      streams.map((stream) => stream.id),
      [5, 7],
    );
    assert.equal(session.closed, false);
  });

  test('a second SYN_STREAM for a stream that is open: the RST PROTOCOL_ERROR we answer with also ends our copy of that stream', async (t) => {
    // spdystream drops its stream on any RST for its id, so after answering a repeated id with
    // RST we must not keep a stream the peer no longer has: it would never see FIN or RST again.
    const { session, peer } = await serverSetup(t);
    const incoming = once<[SpdyStream]>(session, 'stream');
    peer.send(syn(1, DATA_HEADERS));
    const [stream] = await incoming;
    stream.accept();
    await peer.expect({ type: 'SYN_REPLY', streamId: 1 });
    const failed = streamError(stream);
    peer.send(syn(1, DATA_HEADERS));
    await peer.expect({ type: 'RST_STREAM', streamId: 1, status: RstStatus.PROTOCOL_ERROR });
    const error = await failed;
    assert.equal(error.code, ErrorCode.PROTOCOL);
    assert.equal(error.streamId, 1);
    await peer.expectQuiet();
    assert.equal(session.activeStreams, 0);
  });
});

describe('client role: a SYN_STREAM reusing the id of our open stream', SUITE, () => {
  test('gets RST PROTOCOL_ERROR, and our stream with that id ends with ERR_PROTOCOL', async (t) => {
    const { session, peer, stream } = await openedClientStream(t);
    const failed = streamError(stream);
    peer.send(syn(1, DATA_HEADERS));
    await peer.expect({ type: 'RST_STREAM', streamId: 1, status: RstStatus.PROTOCOL_ERROR });
    assert.equal((await failed).code, ErrorCode.PROTOCOL);
    await peer.expectQuiet();
    assert.equal(session.activeStreams, 0);
  });
});

describe('DATA the session did not ask for', SUITE, () => {
  test('DATA after we reset a stream and DATA for an unknown stream are dropped silently and counted; the session keeps working', async (t) => {
    const { session, peer, stream } = await openedClientStream(t);
    stream.destroy();
    await peer.expect({ type: 'RST_STREAM', streamId: 1, status: RstStatus.CANCEL });
    // spdystream keeps writing after a reset, and a confused peer may write to any id.
    peer.send(data(1, 'late'), data(1, 'later', { fin: true }), data(99, 'stray'));
    await peer.expectQuiet();
    assert.equal(session.stats.droppedDataFrames, 3);
    assert.equal(session.stats.droppedDataBytes, 4 + 5 + 5);

    const opening = session.openStream(DATA_HEADERS);
    await peer.expect({ type: 'SYN_STREAM', streamId: 3 });
    peer.send(reply(3), data(3, 'fresh', { fin: true }));
    const next = await opening;
    assert.equal((await readToEnd(next)).toString(), 'fresh');
  });
});

describe('resets from the peer', SUITE, () => {
  test('RST_STREAM CANCEL fails the stream with ERR_STREAM_RESET carrying the status; no RST goes back', async (t) => {
    const { session, peer, stream } = await openedClientStream(t);
    const closed = once<[SpdyStream, KubemuxError | undefined]>(session, 'streamClosed');
    const failed = streamError(stream);
    peer.send(rst(1, RstStatus.CANCEL));
    const error = await failed;
    assert.equal(error.code, ErrorCode.STREAM_RESET);
    assert.equal(error.scope, 'stream');
    assert.equal(error.rstStatus, RstStatus.CANCEL);
    assert.equal(error.streamId, 1);
    const [closedStream, closeError] = await closed;
    assert.equal(closedStream, stream);
    assert.equal(closeError?.code, ErrorCode.STREAM_RESET);
    await peer.expectQuiet();
    // Writing after the reset fails instead of reaching the wire.
    stream.on('error', () => undefined);
    stream.write('x');
    await peer.expectQuiet();
  });

  test('RST_STREAM REFUSED_STREAM fails the stream with ERR_STREAM_REFUSED', async (t) => {
    const { peer, stream } = await openedClientStream(t);
    const failed = streamError(stream);
    peer.send(rst(1, RstStatus.REFUSED_STREAM));
    const error = await failed;
    assert.equal(error.code, ErrorCode.STREAM_REFUSED);
    assert.equal(error.rstStatus, RstStatus.REFUSED_STREAM);
  });

  test('an RST while openStream waits for the reply rejects openStream (REFUSED_STREAM → ERR_STREAM_REFUSED, INTERNAL_ERROR → ERR_STREAM_RESET)', async (t) => {
    const { session, peer } = setup(t, { role: 'client' });
    const refused = session.openStream(DATA_HEADERS);
    const reset = session.openStream(DATA_HEADERS);
    await peer.expectSequence({ type: 'SYN_STREAM', streamId: 1 }, { type: 'SYN_STREAM', streamId: 3 });
    peer.send(rst(1, RstStatus.REFUSED_STREAM), rst(3, RstStatus.INTERNAL_ERROR));
    assert.equal((await rejection(refused, ErrorCode.STREAM_REFUSED)).rstStatus, RstStatus.REFUSED_STREAM);
    assert.equal((await rejection(reset, ErrorCode.STREAM_RESET)).rstStatus, RstStatus.INTERNAL_ERROR);
    await peer.expectQuiet();
    assert.equal(session.activeStreams, 0);
  });
});

describe('half-close', SUITE, () => {
  test('a remote FIN ends only the readable side: the stream can still write, and the peer receives it', async (t) => {
    const { session, peer, stream } = await openedClientStream(t);
    peer.send(data(1, 'request', { fin: true }));
    assert.equal((await readToEnd(stream)).toString(), 'request');
    assert.equal(session.activeStreams, 1);
    stream.write('response part 1, ');
    stream.end('part 2');
    await peer.expect({ type: 'DATA', streamId: 1, flags: 0, data: 'response part 1, ' });
    await peer.expect({ type: 'DATA', streamId: 1, flags: 0, data: 'part 2' });
    await peer.expect({ type: 'DATA', streamId: 1, flags: FLAG_FIN, data: '' });
    await peer.expectQuiet();
    assert.equal(session.activeStreams, 0);
  });
});

describe('pings', SUITE, () => {
  test('ping() sends odd ids from a client and resolves with the round trip when echoed', async (t) => {
    const { session, peer } = setup(t, { role: 'client' });
    const events: number[] = [];
    session.on('ping', (rtt) => events.push(rtt));
    const first = session.ping();
    await peer.expect({ type: 'PING', id: 1, flags: 0 });
    peer.send(ping(1));
    const rtt = await first;
    assert.ok(Number.isFinite(rtt) && rtt >= 0, `rtt ${rtt}`);
    assert.deepEqual(events, [rtt]);
    const second = session.ping();
    await peer.expect({ type: 'PING', id: 3 });
    peer.send(ping(3));
    await second;
    assert.equal(session.stats.pingsSent, 2);
  });

  test("the peer's even-id ping is echoed unchanged", async (t) => {
    const { session, peer } = setup(t, { role: 'client' });
    peer.send(ping(2), ping(0x7fff_fffe));
    await peer.expectSequence({ type: 'PING', id: 2, flags: 0 }, { type: 'PING', id: 0x7fff_fffe, flags: 0 });
    assert.equal(session.stats.pingsEchoed, 2);
  });

  test('a server pings with even ids and echoes odd ones', async (t) => {
    const { session, peer } = await serverSetup(t);
    const pinging = session.ping();
    await peer.expect({ type: 'PING', id: 2 });
    peer.send(ping(2), ping(5));
    await pinging;
    await peer.expect({ type: 'PING', id: 5 });
  });

  test('a ping the peer never answers rejects with ERR_PING_TIMEOUT; its late echo is ignored', async (t) => {
    const { session, peer } = setup(t, { role: 'client' });
    const started = performance.now();
    const pinging = session.ping({ timeoutMs: 50 });
    await peer.expect({ type: 'PING', id: 1 });
    const error = await rejection(pinging, ErrorCode.PING_TIMEOUT);
    assert.ok(performance.now() - started >= 45, 'rejected before its deadline');
    assert.equal(error.scope, 'session');
    peer.send(ping(1));
    await peer.expectQuiet();
    assert.equal(session.closed, false);
  });

  test('an answer to a ping we never sent is ignored (not echoed, no error)', async (t) => {
    const { session, peer } = setup(t, { role: 'client' });
    peer.send(ping(7));
    await peer.expectQuiet();
    assert.equal(session.closed, false);
    assert.equal(session.stats.pingsEchoed, 1, 'only the round trip of expectQuiet() itself was echoed');
  });
});

describe('stream open timeout', SUITE, () => {
  test('no SYN_REPLY: ERR_STREAM_OPEN_TIMEOUT and RST CANCEL on the wire; a late SYN_REPLY and DATA are ignored', async (t) => {
    const { session, peer } = setup(t, { role: 'client' });
    const opening = session.openStream(DATA_HEADERS, { timeoutMs: 50 });
    await peer.expect({ type: 'SYN_STREAM', streamId: 1 });
    const error = await rejection(opening, ErrorCode.STREAM_OPEN_TIMEOUT);
    assert.equal(error.streamId, 1);
    await peer.expect({ type: 'RST_STREAM', streamId: 1, status: RstStatus.CANCEL });
    peer.send(reply(1), data(1, 'late'));
    await peer.expectQuiet();
    assert.equal(session.activeStreams, 0);
    assert.equal(session.stats.droppedDataFrames, 1);
    const next = session.openStream(DATA_HEADERS);
    await peer.expect({ type: 'SYN_STREAM', streamId: 3 });
    peer.send(reply(3));
    assert.equal((await next).id, 3);
  });
});

describe('GOAWAY and closing', SUITE, () => {
  test('GOAWAY received: draining, new opens fail, unprocessed opens are refused, open streams finish, then the session closes', async (t) => {
    const { session, peer, stream } = await openedClientStream(t);
    const pending = session.openStream(DATA_HEADERS);
    await peer.expect({ type: 'SYN_STREAM', streamId: 3 });
    const drains: DrainInfo[] = [];
    session.on('draining', (info) => drains.push(info));
    const closing = once<[KubemuxError | undefined]>(session, 'close');

    peer.send(goaway(1, GoAwayStatus.OK));
    const refused = await rejection(pending, ErrorCode.STREAM_REFUSED);
    assert.equal(refused.streamId, 3);
    assert.deepEqual(drains, [{ reason: 'goaway-received', goAwayStatus: GoAwayStatus.OK }]);
    assert.equal(session.acceptingStreams, false);
    await rejection(session.openStream(DATA_HEADERS), ErrorCode.SESSION_DRAINING);

    // Stream 1 was processed by the peer and may finish.
    peer.send(data(1, 'last words', { fin: true }));
    assert.equal((await readToEnd(stream)).toString(), 'last words');
    assert.equal(session.closed, false);
    stream.end('bye');
    await peer.expect({ type: 'DATA', streamId: 1, data: 'bye' });
    await peer.expect({ type: 'DATA', streamId: 1, flags: FLAG_FIN });
    const [closeError] = await closing;
    assert.equal(closeError, undefined, 'a GOAWAY OK ends in a clean close');
    await peer.expectEnd();
    assert.ok(!peer.received.some((frame) => frame.type === 'SYN_STREAM' && frame.streamId > 3), 'no stream opened after GOAWAY');
  });

  test('GOAWAY PROTOCOL_ERROR from the peer: the session closes with an error carrying the status', async (t) => {
    const { session, peer } = setup(t, { role: 'client' });
    const closing = once<[KubemuxError | undefined]>(session, 'close');
    peer.send(goaway(0, GoAwayStatus.PROTOCOL_ERROR));
    const [closeError] = await closing;
    assert.ok(closeError !== undefined);
    assert.equal(closeError.goAwayStatus, GoAwayStatus.PROTOCOL_ERROR);
    await peer.expectEnd();
  });

  test('close() sends GOAWAY with the last peer stream id, refuses new streams, and closes once the open ones finish', async (t) => {
    const { session, peer } = await serverSetup(t);
    const streams = acceptAll(session);
    peer.send(syn(1, DATA_HEADERS), syn(3, DATA_HEADERS));
    await peer.expectSequence({ type: 'SYN_REPLY', streamId: 1 }, { type: 'SYN_REPLY', streamId: 3 });
    const drains: DrainInfo[] = [];
    session.on('draining', (info) => drains.push(info));
    let closed = false;
    const closing = session.close().then(() => (closed = true));
    await peer.expect({ type: 'GOAWAY', lastGoodStreamId: 3, status: GoAwayStatus.OK });
    assert.deepEqual(drains, [{ reason: 'goaway-sent', goAwayStatus: GoAwayStatus.OK }]);

    peer.send(syn(5, DATA_HEADERS));
    await peer.expect({ type: 'RST_STREAM', streamId: 5, status: RstStatus.REFUSED_STREAM });
    for (const stream of streams) stream.end();
    await peer.expectSequence({ type: 'DATA', streamId: 1, flags: FLAG_FIN }, { type: 'DATA', streamId: 3, flags: FLAG_FIN });
    peer.send(data(1, '', { fin: true }));
    await peer.expectQuiet();
    assert.equal(closed, false, 'closed while stream 3 was still open');
    peer.send(data(3, '', { fin: true }));
    await closing;
    assert.equal(session.closeError, undefined);
    await peer.expectEnd();
  });

  test("stream ids running out: 'draining' (stream-ids-exhausted), ERR_STREAM_IDS_EXHAUSTED on the next open, open streams still work", async (t) => {
    const { session, peer } = setup(t, { role: 'client', firstStreamId: 2 ** 31 - 3 });
    const drains: DrainInfo[] = [];
    session.on('draining', (info) => drains.push(info));
    const a = session.openStream(DATA_HEADERS);
    await peer.expect({ type: 'SYN_STREAM', streamId: 2 ** 31 - 3 });
    assert.deepEqual(drains, []);
    const b = session.openStream(DATA_HEADERS);
    await peer.expect({ type: 'SYN_STREAM', streamId: 2 ** 31 - 1 });
    assert.deepEqual(drains, [{ reason: 'stream-ids-exhausted' }]);
    await rejection(session.openStream(DATA_HEADERS), ErrorCode.STREAM_IDS_EXHAUSTED);
    peer.send(reply(2 ** 31 - 3), reply(2 ** 31 - 1), data(2 ** 31 - 1, 'still here', { fin: true }));
    const [, last] = await Promise.all([a, b]);
    assert.equal((await readToEnd(last)).toString(), 'still here');
    last.end('me too');
    await peer.expect({ type: 'DATA', streamId: 2 ** 31 - 1, data: 'me too' });
    await peer.expect({ type: 'DATA', streamId: 2 ** 31 - 1, flags: FLAG_FIN });
    await peer.expectQuiet();
    assert.ok(!peer.received.some((frame) => frame.type === 'SYN_STREAM' && frame.streamId < 2 ** 31 - 3), 'ids never wrapped');
  });
});

describe('closing a session that ran out of stream ids', SUITE, () => {
  test('close() still sends GOAWAY and closes once the last stream finishes', async (t) => {
    const { session, peer } = setup(t, { role: 'client', firstStreamId: 2 ** 31 - 1 });
    const opening = session.openStream(DATA_HEADERS);
    await peer.expect({ type: 'SYN_STREAM', streamId: 2 ** 31 - 1 });
    peer.send(reply(2 ** 31 - 1));
    const stream = await opening;
    assert.equal(session.acceptingStreams, false, 'the last id is used: the session drains');
    const closing = session.close();
    await peer.expect({ type: 'GOAWAY', lastGoodStreamId: 0, status: GoAwayStatus.OK });
    stream.end();
    await peer.expect({ type: 'DATA', streamId: 2 ** 31 - 1, flags: FLAG_FIN });
    peer.send(data(2 ** 31 - 1, '', { fin: true }));
    await within(closing, 'close()');
    assert.equal(session.closed, true);
    await peer.expectEnd();
  });
});

describe('maxConcurrentStreams', SUITE, () => {
  test('extra incoming streams are refused with RST REFUSED_STREAM; a slot frees when a stream closes', async (t) => {
    const { session, peer } = await serverSetup(t, { maxConcurrentStreams: 2 });
    const streams = acceptAll(session);
    peer.send(syn(1, DATA_HEADERS), syn(3, DATA_HEADERS), syn(5, DATA_HEADERS));
    await peer.expectSequence(
      { type: 'SYN_REPLY', streamId: 1 },
      { type: 'SYN_REPLY', streamId: 3 },
      { type: 'RST_STREAM', streamId: 5, status: RstStatus.REFUSED_STREAM },
    );
    streams[0]!.destroy();
    await peer.expect({ type: 'RST_STREAM', streamId: 1, status: RstStatus.CANCEL });
    peer.send(syn(7, DATA_HEADERS));
    await peer.expect({ type: 'SYN_REPLY', streamId: 7 });
  });

  test('extra outgoing streams reject with ERR_STREAM_LIMIT, and send nothing', async (t) => {
    const { session, peer } = setup(t, { role: 'client', maxConcurrentStreams: 2 });
    void session.openStream(DATA_HEADERS).catch(() => undefined);
    void session.openStream(DATA_HEADERS).catch(() => undefined);
    await peer.expectSequence({ type: 'SYN_STREAM', streamId: 1 }, { type: 'SYN_STREAM', streamId: 3 });
    await rejection(session.openStream(DATA_HEADERS), ErrorCode.STREAM_LIMIT);
    await peer.expectQuiet();
  });

  test("the peer's SETTINGS MAX_CONCURRENT_STREAMS limits outgoing streams too", async (t) => {
    const { session, peer } = setup(t, { role: 'client' });
    peer.send(settings({ maxConcurrentStreams: 1 }));
    await peer.expectQuiet();
    void session.openStream(DATA_HEADERS).catch(() => undefined);
    await peer.expect({ type: 'SYN_STREAM', streamId: 1 });
    await rejection(session.openStream(DATA_HEADERS), ErrorCode.STREAM_LIMIT);
  });
});

describe('flow control with a peer that uses windows', SUITE, () => {
  test('after SETTINGS INITIAL_WINDOW_SIZE=1000 the client sends at most 1000 bytes per stream until WINDOW_UPDATE', async (t) => {
    const { session, peer } = setup(t, { role: 'client' });
    peer.send(settings({ initialWindowSize: 1000 }));
    // A peer that keeps windows also counts ours: the client now announces them.
    await peer.expect({ type: 'SETTINGS', entries: [{ id: SettingsId.INITIAL_WINDOW_SIZE, flags: 0, value: session.options.streamReceiveBufferBytes }] });
    await peer.expect({ type: 'WINDOW_UPDATE', streamId: 0 });
    const opening = session.openStream(DATA_HEADERS);
    await peer.expect({ type: 'SYN_STREAM', streamId: 1 });
    peer.send(reply(1));
    const stream = await opening;
    const payload = randomBytes(5000);
    let written = false;
    stream.write(payload, () => (written = true));
    await peer.expectData(1, 1000);
    await peer.expectQuiet();
    assert.equal(written, false, 'the write completed while 4000 bytes were still waiting for window');
    peer.send(windowUpdate(1, 1500));
    await peer.expectData(1, 1500);
    await peer.expectQuiet();
    peer.send(windowUpdate(1, 10_000));
    await peer.expectData(1, 2500);
    assert.equal(peer.dataHash(1), sha256(payload));
    await peer.expectQuiet();
    assert.equal(written, true);
  });

  test('a stream opened before the SETTINGS has its window shifted by the new initial size', async (t) => {
    const { session, peer, stream } = await openedClientStream(t);
    peer.send(settings({ initialWindowSize: 1000 }));
    await peer.expectSequence({ type: 'SETTINGS' }, { type: 'WINDOW_UPDATE', streamId: 0 });
    stream.write(randomBytes(3000));
    await peer.expectData(1, 1000);
    await peer.expectQuiet();
    assert.equal(session.stats.peerFlowControl, true);
  });

  test('the session window is 64 KiB until the peer sends WINDOW_UPDATE for stream 0', async (t) => {
    const { session, peer } = setup(t, { role: 'client' });
    peer.send(settings({ initialWindowSize: 4 * MiB }));
    await peer.expectSequence({ type: 'SETTINGS' }, { type: 'WINDOW_UPDATE', streamId: 0 });
    const opening = session.openStream(DATA_HEADERS);
    await peer.expect({ type: 'SYN_STREAM', streamId: 1 });
    peer.send(reply(1));
    const stream = await opening;
    const payload = randomBytes(100 * KiB);
    stream.write(payload);
    await peer.expectData(1, DEFAULT_INITIAL_WINDOW_BYTES);
    await peer.expectQuiet();
    peer.send(windowUpdate(0, DEFAULT_INITIAL_WINDOW_BYTES));
    await peer.expectData(1, payload.length - DEFAULT_INITIAL_WINDOW_BYTES);
    assert.equal(peer.dataHash(1), sha256(payload));
  });

  test('a peer that sends past the receive window we advertised gets RST FLOW_CONTROL_ERROR on that stream', async (t) => {
    const { session, peer } = setup(t, { role: 'server', streamReceiveBufferBytes: 4 * KiB });
    await peer.expectSequence({ type: 'SETTINGS', entries: [{ id: SettingsId.INITIAL_WINDOW_SIZE, flags: 0, value: 4 * KiB }] }, { type: 'WINDOW_UPDATE' });
    const incoming = once<[SpdyStream]>(session, 'stream');
    // The peer shows it uses windows, so the session holds it to ours.
    peer.send(windowUpdate(0, 1), syn(1, DATA_HEADERS));
    const [stream] = await incoming;
    stream.accept();
    await peer.expect({ type: 'SYN_REPLY', streamId: 1 });
    const failed = streamError(stream);
    peer.send(data(1, randomBytes(4 * KiB + 1)));
    await peer.expect({ type: 'RST_STREAM', streamId: 1, status: RstStatus.FLOW_CONTROL_ERROR });
    assert.equal((await failed).code, ErrorCode.FLOW_CONTROL);
    await peer.expectQuiet();
  });
});
