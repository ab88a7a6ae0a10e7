/**
 * An exception thrown by the application's own listeners is the application's: it surfaces as an
 * uncaught exception of its own, and the session neither blames the peer (no ERR_PROTOCOL, no
 * GOAWAY PROTOCOL_ERROR) nor loses the frames that follow. Before, the frame loop caught it and
 * closed the session as if the peer had sent a malformed frame.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { captureUncaught } from '../../support/hostile.js';
import { data, reply, syn } from '../../support/frame-builders.js';
import { scriptedPair } from '../../support/scripted-pair.js';
import { readAll } from '../../support/streams.js';

const HEADERS = { streamtype: 'data', port: '8080', requestid: '0' };

test("a 'stream' listener that throws: its exception surfaces as uncaught, the session stays open and serves the next stream", async (t) => {
  const uncaught = captureUncaught(t);
  const setup = scriptedPair({ role: 'server' });
  t.after(() => setup.dispose());
  const { session, peer } = setup;
  const bug = new Error('application bug in the stream listener');
  let calls = 0;
  session.on('stream', (stream) => {
    calls++;
    stream.accept();
    if (calls === 1) throw bug;
    stream.pipe(stream);
  });
  await peer.expectSequence({ type: 'SETTINGS' }, { type: 'WINDOW_UPDATE' });
  peer.send(syn(1, HEADERS), syn(3, HEADERS), data(3, 'still served', { fin: true }));
  await peer.expectSequence({ type: 'SYN_REPLY', streamId: 1 }, { type: 'SYN_REPLY', streamId: 3 });
  await peer.expectData(3, 'still served'.length, { fin: true });
  await peer.expectQuiet();
  assert.equal(session.closed, false);
  assert.deepEqual(uncaught.errors, [bug]);
});

test("a 'data' listener that throws: its exception surfaces as uncaught; the bytes after it and the FIN still arrive", async (t) => {
  const uncaught = captureUncaught(t);
  const setup = scriptedPair({ role: 'client' });
  t.after(() => setup.dispose());
  const { session, peer } = setup;
  const opening = session.openStream(HEADERS);
  await peer.expect({ type: 'SYN_STREAM', streamId: 1 });
  peer.send(reply(1));
  const stream = await opening;
  // The reader listens first: a listener after a throwing one misses that event (EventEmitter).
  const all = readAll(stream);
  const bug = new Error('application bug in the data listener');
  let first = true;
  stream.on('data', () => {
    if (first) {
      first = false;
      throw bug;
    }
  });
  peer.send(data(1, 'one'), data(1, 'two', { fin: true }));
  assert.equal((await all).toString(), 'onetwo');
  await peer.expectQuiet();
  assert.equal(session.closed, false);
  assert.equal(session.closeError, undefined);
  assert.deepEqual(uncaught.errors, [bug]);
});
