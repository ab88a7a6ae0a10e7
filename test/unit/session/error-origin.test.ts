/**
 * `origin` on the session's errors: who ended the stream or the session ('peer': its RST_STREAM,
 * GOAWAY, or closing the connection; 'local': our deadlines, bounds, aborts and the protocol
 * violations we answer), so that the resilience layer and users can tell.
 */
import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import { ErrorCode, isKubemuxError, type KubemuxError } from '../../../src/errors.js';
import type { SpdySession, SpdySessionOptions, SpdyStream } from '../../../src/session/index.js';
import { RstStatus } from '../../../src/spdy/index.js';
import { once, within } from '../../support/deadlines.js';
import { data, goaway, reply, rst, syn, windowUpdate } from '../../support/frame-builders.js';
import type { ScriptedPeer } from '../../support/scripted-peer.js';
import { scriptedPair } from '../../support/scripted-pair.js';

const HEADERS = { streamtype: 'data', port: '8080', requestid: '0' };

function setup(t: TestContext, options: SpdySessionOptions): ReturnType<typeof scriptedPair> {
  const pair = scriptedPair(options);
  t.after(() => pair.dispose());
  return pair;
}

/** Opens stream 1 and has the peer accept it. */
async function openStream1(session: SpdySession, peer: ScriptedPeer): Promise<SpdyStream> {
  const opening = session.openStream(HEADERS);
  await peer.expect({ type: 'SYN_STREAM', streamId: 1 });
  peer.send(reply(1));
  return opening;
}

function closedWith(stream: SpdyStream): Promise<KubemuxError> {
  return new Promise((resolve) => stream.once('error', (error) => resolve(error as KubemuxError)));
}

test("the peer's RST_STREAM: the stream fails with origin 'peer'", async (t) => {
  const { session, peer } = setup(t, { role: 'client' });
  const stream = await openStream1(session, peer);
  const failed = closedWith(stream);
  peer.send(rst(1, RstStatus.INTERNAL_ERROR));
  const error = await failed;
  assert.ok(isKubemuxError(error, ErrorCode.STREAM_RESET));
  assert.equal(error.origin, 'peer');
});

test("the peer's GOAWAY before our stream: the open fails ERR_STREAM_REFUSED with origin 'peer'", async (t) => {
  const { session, peer } = setup(t, { role: 'client' });
  const opening = session.openStream(HEADERS);
  await peer.expect({ type: 'SYN_STREAM', streamId: 1 });
  peer.send(goaway(0));
  await assert.rejects(opening, (error: KubemuxError) => error.code === ErrorCode.STREAM_REFUSED && error.origin === 'peer');
});

test("our deadline and our abort: the open fails with origin 'local'", async (t) => {
  const { session, peer } = setup(t, { role: 'client' });
  // within(): the open's own deadline is unref'd and would not keep the test's event loop alive.
  await assert.rejects(within(session.openStream(HEADERS, { timeoutMs: 30 }), 'the open deadline'), (error: KubemuxError) => error.code === ErrorCode.STREAM_OPEN_TIMEOUT && error.origin === 'local');
  await peer.expectSequence({ type: 'SYN_STREAM', streamId: 1 }, { type: 'RST_STREAM', streamId: 1, status: RstStatus.CANCEL });
  const controller = new AbortController();
  const opening = session.openStream(HEADERS, { signal: controller.signal });
  await peer.expect({ type: 'SYN_STREAM', streamId: 3 });
  controller.abort();
  await assert.rejects(opening, (error: KubemuxError) => error.code === ErrorCode.ABORTED && error.origin === 'local');
});

test("a peer that breaks our window: the stream fails ERR_FLOW_CONTROL with origin 'local'", async (t) => {
  const { session, peer } = setup(t, { role: 'server', streamReceiveBufferBytes: 1024 });
  await peer.expectSequence({ type: 'SETTINGS' }, { type: 'WINDOW_UPDATE' });
  const incoming = once<[SpdyStream]>(session, 'stream');
  peer.send(windowUpdate(0, 1), syn(1, HEADERS));
  const [stream] = await incoming;
  stream.accept();
  const failed = closedWith(stream);
  peer.send(data(1, Buffer.alloc(1025)));
  const error = await failed;
  assert.ok(isKubemuxError(error, ErrorCode.FLOW_CONTROL));
  assert.equal(error.origin, 'local');
});

test("the peer closes the connection: the session and its streams end with origin 'peer'", async (t) => {
  const { session, peer } = setup(t, { role: 'client' });
  const stream = await openStream1(session, peer);
  const failed = closedWith(stream);
  const closed = once<[KubemuxError | undefined]>(session, 'close');
  peer.close();
  const [sessionError] = await closed;
  assert.ok(isKubemuxError(sessionError, ErrorCode.TRANSPORT_CLOSED));
  assert.equal(sessionError.origin, 'peer');
  const streamError = await failed;
  assert.ok(isKubemuxError(streamError, ErrorCode.SESSION_CLOSED));
  assert.equal(streamError.origin, 'peer');
});

test("our idle timeout and a destroy(): origin 'local'", async (t) => {
  const idle = setup(t, { role: 'client', idleTimeoutMs: 50 });
  const [idleError] = await once<[KubemuxError | undefined]>(idle.session, 'close');
  assert.ok(isKubemuxError(idleError, ErrorCode.IDLE_TIMEOUT));
  assert.equal(idleError.origin, 'local');

  const { session, peer } = setup(t, { role: 'client' });
  const opening = session.openStream(HEADERS);
  await peer.expect({ type: 'SYN_STREAM', streamId: 1 });
  session.destroy();
  await assert.rejects(opening, (error: KubemuxError) => error.code === ErrorCode.SESSION_CLOSED && error.origin === 'local');
});
