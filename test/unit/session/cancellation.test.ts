/**
 * Aborting SpdySession.openStream and ping through their `signal`, against a scripted peer: the
 * error is Node's AbortError shape (code ERR_ABORTED, the reason as cause; a KubemuxError reason
 * as it is), an aborted open resets its stream (RST_STREAM CANCEL) as the deadline does, an
 * already-aborted signal sends nothing, and an abort after the answer changes nothing.
 */
import assert from 'node:assert/strict';
import { describe, test, type TestContext } from 'node:test';
import { ErrorCode, KubemuxError } from '../../../src/errors.js';
import { RstStatus } from '../../../src/spdy/index.js';
import { reply } from '../../support/frame-builders.js';
import { scriptedPair, type ScriptedSetup } from '../../support/scripted-pair.js';

const HEADERS = { streamtype: 'data', port: '8080', requestid: '0' };

function client(t: TestContext): ScriptedSetup {
  const pair = scriptedPair({ role: 'client' });
  t.after(() => pair.dispose());
  return pair;
}

/** Asserts Node's abort shape: the reason as cause, or the KubemuxError reason itself. */
function assertAborted(error: unknown, reason: unknown, scope: string): void {
  if (reason instanceof KubemuxError) {
    assert.equal(error, reason);
    return;
  }
  assert.ok(error instanceof KubemuxError, String(error));
  assert.equal(error.name, 'AbortError');
  assert.equal(error.code, ErrorCode.ABORTED);
  assert.equal(error.scope, scope);
  assert.equal(error.cause, reason);
}

describe('SpdySession.openStream({ signal })', () => {
  test('an abort while waiting for SYN_REPLY resets the stream (CANCEL) and rejects with AbortError', async (t) => {
    const { session, peer } = client(t);
    const controller = new AbortController();
    const opening = session.openStream(HEADERS, { signal: controller.signal });
    await peer.expect({ type: 'SYN_STREAM', streamId: 1 });
    const reason = new Error('the caller gave up');
    controller.abort(reason);
    await assert.rejects(opening, (error: unknown) => {
      assertAborted(error, reason, 'stream');
      return true;
    });
    await peer.expect({ type: 'RST_STREAM', streamId: 1, status: RstStatus.CANCEL });
    assert.equal(session.activeStreams, 0);
    // A late reply to the abandoned stream is ignored; the session goes on.
    peer.send(reply(1));
    const next = session.openStream(HEADERS);
    await peer.expect({ type: 'SYN_STREAM', streamId: 3 });
    peer.send(reply(3));
    assert.equal((await next).id, 3);
  });

  test('an already-aborted signal rejects at once and sends nothing; a KubemuxError reason comes back as it is', async (t) => {
    const { session, peer } = client(t);
    const reason = new KubemuxError(ErrorCode.TIMEOUT, 'transport', 'the caller ran out of time');
    await assert.rejects(session.openStream(HEADERS, { signal: AbortSignal.abort(reason) }), (error: unknown) => {
      assertAborted(error, reason, 'stream');
      return true;
    });
    await peer.expectQuiet();
    assert.equal(session.activeStreams, 0);
    assert.equal(session.stats.streamsOpenedLocal, 0);
  });

  test('an abort after the reply does nothing', async (t) => {
    const { session, peer } = client(t);
    const controller = new AbortController();
    const opening = session.openStream(HEADERS, { signal: controller.signal });
    await peer.expect({ type: 'SYN_STREAM', streamId: 1 });
    peer.send(reply(1));
    const stream = await opening;
    controller.abort();
    await peer.expectQuiet();
    assert.equal(stream.destroyed, false);
    assert.equal(session.activeStreams, 1);
  });
});

describe('SpdySession.ping({ signal })', () => {
  test('an abort while waiting for the echo rejects with AbortError; a late echo is ignored', async (t) => {
    const { session, peer } = client(t);
    const controller = new AbortController();
    const pinging = session.ping({ signal: controller.signal, timeoutMs: 60_000 });
    const sent = await peer.expect({ type: 'PING' });
    controller.abort();
    await assert.rejects(pinging, (error: unknown) => {
      assertAborted(error, controller.signal.reason, 'session');
      return true;
    });
    peer.send({ type: 'PING', id: sent.id, flags: 0 });
    // The session is still fine: the next ping is answered.
    const next = session.ping({ timeoutMs: 5_000 });
    const second = await peer.expect({ type: 'PING' });
    peer.send({ type: 'PING', id: second.id, flags: 0 });
    assert.ok((await next) >= 0);
  });

  test('an already-aborted signal sends no PING; a number instead of options is a usage error', async (t) => {
    const { session, peer } = client(t);
    await assert.rejects(session.ping({ signal: AbortSignal.abort() }), { name: 'AbortError', code: ErrorCode.ABORTED });
    await peer.expectQuiet();
    assert.equal(session.stats.pingsSent, 0);
    await assert.rejects(session.ping(5_000 as never), { code: ErrorCode.INVALID_ARGUMENT, scope: 'usage' });
  });
});
