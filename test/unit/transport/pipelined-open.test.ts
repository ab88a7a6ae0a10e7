/**
 * A SPDY pair opens in one round trip: SYN_STREAM (error), its FIN and SYN_STREAM (data) leave
 * together, in kubectl's order, before any reply, in one write; the pair is handed out only once
 * both SYN_REPLYs are in, and a refusal or reset of either stream fails the open and resets the
 * other, as when the opens were sequential. Transcripts against a scripted server peer.
 */
import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import { ErrorCode, isKubemuxError } from '../../../src/errors.js';
import { FLAG_FIN, RstStatus } from '../../../src/spdy/index.js';
import { SpdyPortForwardConnection } from '../../../src/transport/spdy/port-forward.js';
import { within } from '../../support/deadlines.js';
import { data, reply, rst } from '../../support/frame-builders.js';
import { countingScriptedPair, scriptedPair } from '../../support/scripted-pair.js';
import { ScriptedPeer } from '../../support/scripted-peer.js';
import { randomBytes, readBytes, sha256 } from '../../support/streams.js';

const SUITE = { timeout: 10_000 };
const PAIR_HEADERS = (type: string): Record<string, string[]> => ({ streamtype: [type], port: ['8080'], requestid: ['0'] });

function connection(t: TestContext): { connection: SpdyPortForwardConnection; peer: ScriptedPeer } {
  const pair = scriptedPair({ role: 'client' });
  t.after(() => pair.dispose());
  return { connection: new SpdyPortForwardConnection(pair.session, 'spdy'), peer: pair.peer };
}

/** The three opening frames of pair 0, in kubectl's order, all before any reply. */
async function expectOpeningFrames(peer: ScriptedPeer): Promise<void> {
  await peer.expect({ type: 'SYN_STREAM', streamId: 1, flags: 0, headers: PAIR_HEADERS('error') });
  const fin = await peer.expect({ type: 'DATA', streamId: 1 });
  assert.equal(fin.flags & FLAG_FIN, FLAG_FIN);
  assert.equal(fin.data.length, 0);
  await peer.expect({ type: 'SYN_STREAM', streamId: 3, flags: 0, headers: PAIR_HEADERS('data') });
}

test('both SYN_STREAMs and the error stream FIN leave before any reply; the pair opens on both replies', SUITE, async (t) => {
  const { connection: c, peer } = connection(t);
  let opened = false;
  const opening = c.openPortStreams(8080).then((pair) => {
    opened = true;
    return pair;
  });
  await expectOpeningFrames(peer);
  peer.send(reply(1));
  await peer.expectQuiet();
  assert.equal(opened, false, 'not open with only the error stream replied');
  peer.send(reply(3));
  const pair = await within(opening, 'the pair');
  const payload = randomBytes(4096);
  pair.data.write(payload);
  await peer.waitFor(() => peer.dataBytes(3) === payload.length, 'the payload on stream 3');
  assert.equal(peer.dataHash(3), sha256(payload));
  peer.send(data(3, payload));
  assert.equal(sha256(await readBytes(pair.data, payload.length)), sha256(payload));
  pair.data.destroy();
});

test('a refused data stream fails the open with ERR_STREAM_REFUSED and resets the error stream', SUITE, async (t) => {
  const { connection: c, peer } = connection(t);
  const opening = c.openPortStreams(8080);
  await expectOpeningFrames(peer);
  peer.send(reply(1), rst(3, RstStatus.REFUSED_STREAM));
  await assert.rejects(within(opening, 'the refusal'), (error: unknown) => isKubemuxError(error) && error.code === ErrorCode.STREAM_REFUSED);
  await peer.expect({ type: 'RST_STREAM', streamId: 1, status: RstStatus.CANCEL });
  assert.equal(c.stats.pairsFailed, 1);
  assert.equal(c.session.activeStreams, 0);
});

test('a reset error stream fails the open and resets the data stream, even before the data stream is replied to', SUITE, async (t) => {
  const { connection: c, peer } = connection(t);
  const opening = c.openPortStreams(8080);
  await expectOpeningFrames(peer);
  peer.send(rst(1, RstStatus.CANCEL));
  await assert.rejects(within(opening, 'the reset'), (error: unknown) => isKubemuxError(error) && error.code === ErrorCode.STREAM_RESET);
  await peer.expect({ type: 'RST_STREAM', streamId: 3, status: RstStatus.CANCEL });
  assert.equal(c.session.activeStreams, 0);
});

test('the deadline covers both replies: one missing reply fails the open with ERR_STREAM_OPEN_TIMEOUT, both streams reset', SUITE, async (t) => {
  const { connection: c, peer } = connection(t);
  const opening = c.openPortStreams(8080, { timeoutMs: 100 });
  await expectOpeningFrames(peer);
  peer.send(reply(1));
  await assert.rejects(within(opening, 'the deadline'), (error: unknown) => isKubemuxError(error) && error.code === ErrorCode.STREAM_OPEN_TIMEOUT);
  const resets = (await peer.sync()).filter((frame) => frame.type === 'RST_STREAM').map((frame) => (frame.type === 'RST_STREAM' ? frame.streamId : 0));
  assert.deepEqual(resets.sort(), [1, 3]);
});

test('the three opening frames reach the transport in one write (one wake-up of the peer, not three)', SUITE, async (t) => {
  const { session, peer, transport: counting, dispose } = countingScriptedPair({ role: 'client' });
  t.after(dispose);
  const c = new SpdyPortForwardConnection(session, 'spdy');
  const opening = c.openPortStreams(8080);
  await expectOpeningFrames(peer);
  assert.equal(counting.writes, 1);
  peer.send(reply(1), reply(3));
  (await within(opening, 'the pair')).data.destroy();
});
