/**
 * idleTimeoutMs: what spdystream's idle timer does in the kubelet's streaming server. No frame
 * read or written for the timeout: every open stream is reset (CANCEL), GOAWAY OK is sent, and
 * the session closes with ERR_IDLE_TIMEOUT. Any frame, pings included, starts the period again.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ErrorCode, isKubemuxError, type KubemuxError } from '../../../src/errors.js';
import { GoAwayStatus, RstStatus } from '../../../src/spdy/index.js';
import { once } from '../../support/deadlines.js';
import { ping, syn } from '../../support/frame-builders.js';
import { scriptedPair } from '../../support/scripted-pair.js';

const HEADERS = { streamtype: 'data', port: '8080', requestid: '0' };

test('a session with nothing moving resets its streams, sends GOAWAY OK and closes with ERR_IDLE_TIMEOUT', async (t) => {
  const setup = scriptedPair({ role: 'server', idleTimeoutMs: 150 });
  t.after(() => setup.dispose());
  const { session, peer } = setup;
  let stream: import('../../../src/session/index.js').SpdyStream | undefined;
  session.on('stream', (s) => {
    s.accept();
    stream = s;
  });
  const streamError = new Promise<Error>((resolve) => session.once('streamClosed', (_s, error) => resolve(error as Error)));
  const closed = once<[KubemuxError | undefined]>(session, 'close', 3_000);
  peer.send(syn(1, HEADERS));
  await peer.expectSequence({ type: 'SETTINGS' }, { type: 'WINDOW_UPDATE' }, { type: 'SYN_REPLY', streamId: 1 });
  const [error] = await closed;
  assert.ok(isKubemuxError(error, ErrorCode.IDLE_TIMEOUT), `closed with ${String(error)}`);
  assert.equal(error.scope, 'session');
  assert.ok(stream !== undefined);
  assert.ok(isKubemuxError(await streamError, ErrorCode.IDLE_TIMEOUT));
  await peer.expectSequence({ type: 'RST_STREAM', streamId: 1, status: RstStatus.CANCEL }, { type: 'GOAWAY', lastGoodStreamId: 1, status: GoAwayStatus.OK });
  await peer.expectEnd();
});

test('pings keep a session without streams open past the idle timeout (as in the kubelet: pings are frames)', async (t) => {
  const setup = scriptedPair({ role: 'server', idleTimeoutMs: 200 });
  t.after(() => setup.dispose());
  const { session, peer } = setup;
  // Ping every 40 ms for 5 idle periods; each echo proves the session is still there.
  for (let i = 0; i < 25; i++) {
    await new Promise<void>((resolve) => setTimeout(resolve, 40));
    peer.send(ping(2 * i + 1));
    await peer.waitFor((frames) => frames.some((f) => f.type === 'PING' && f.id === 2 * i + 1), `the echo of ping ${2 * i + 1}`);
  }
  assert.equal(session.closed, false);
  const closed = once<[KubemuxError | undefined]>(session, 'close', 3_000);
  const [error] = await closed;
  assert.ok(isKubemuxError(error, ErrorCode.IDLE_TIMEOUT));
});

test('idleTimeoutMs is validated (0 disables it)', () => {
  const { session, dispose } = scriptedPair({ role: 'client', idleTimeoutMs: 0 });
  assert.equal(session.options.idleTimeoutMs, 0);
  void dispose();
  assert.throws(() => scriptedPair({ role: 'client', idleTimeoutMs: -1 }), (error: KubemuxError) => error.code === ErrorCode.INVALID_ARGUMENT && /idleTimeoutMs/.test(error.message));
});
