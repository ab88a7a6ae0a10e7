/**
 * Frames a session writes in one turn of the event loop reach its transport in one write (a
 * writev): on loopback every write is a wake-up of the peer. What is written before a close
 * (a GOAWAY saying why) still goes out.
 */
import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import { GoAwayStatus } from '../../../src/spdy/index.js';
import { countingScriptedPair } from '../../support/scripted-pair.js';

const SUITE = { timeout: 10_000 };

function counted(t: TestContext): ReturnType<typeof countingScriptedPair> {
  const pair = countingScriptedPair({ role: 'client' });
  t.after(() => pair.dispose());
  return pair;
}

test('two SYN_STREAMs and a PING written in one tick leave in one write, in order', SUITE, async (t) => {
  const { session, peer, transport } = counted(t);
  const first = session.openStream({ streamtype: 'error', port: '8080', requestid: '0' });
  const second = session.openStream({ streamtype: 'data', port: '8080', requestid: '0' });
  const ping = session.ping({ timeoutMs: 5_000 });
  await peer.expect({ type: 'SYN_STREAM', streamId: 1 });
  await peer.expect({ type: 'SYN_STREAM', streamId: 3 });
  await peer.expect({ type: 'PING', id: 1 });
  assert.equal(transport.writes, 1);
  for (const pending of [first, second, ping]) pending.catch(() => undefined);
});

test('writes of later ticks are not held back: each tick flushes its own', SUITE, async (t) => {
  const { session, peer, transport } = counted(t);
  void session.openStream({ streamtype: 'error', port: '8080', requestid: '0' }).catch(() => undefined);
  await peer.expect({ type: 'SYN_STREAM', streamId: 1 });
  void session.openStream({ streamtype: 'data', port: '8080', requestid: '0' }).catch(() => undefined);
  await peer.expect({ type: 'SYN_STREAM', streamId: 3 });
  assert.equal(transport.writes, 2);
});

test('a GOAWAY written in the tick the session closes still reaches the peer', SUITE, async (t) => {
  const { session, peer } = counted(t);
  // Garbage from the peer: the session answers GOAWAY PROTOCOL_ERROR and closes in the same tick.
  peer.sendRaw(Buffer.from([0x80, 0x07, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00]));
  await peer.expect({ type: 'GOAWAY', status: GoAwayStatus.PROTOCOL_ERROR });
  await peer.expectEnd();
  assert.equal(session.closed, true);
});
