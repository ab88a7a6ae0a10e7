/**
 * Regressions found by the session model (test/property/session/model.test.ts), each reduced to
 * the smallest deterministic exchange that showed it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { SpdySession } from '../../../src/session/index.js';
import { duplexPair } from '../../support/duplex-pair.js';
import { readAll, sha256 } from '../../support/streams.js';


test('a stream opened before flow control was agreed is not reset for data the peer sent before it knew our window', async (t) => {
  // The client adopts flow control when it reads the server's SETTINGS, and only then announces
  // its own 4 KiB window; the server holds itself to that window only once it has read it. A
  // stream the client opened before reading the server's SETTINGS can therefore carry more than
  // 4 KiB that the server sent, rightly, without looking at any window. The model found the client
  // resetting such streams with FLOW_CONTROL_ERROR over loopback TCP; here the in-memory pair
  // makes the order certain: each session starts reading on the next tick, the client first, so
  // the server reads the SYN_STREAM (and answers it) before the client's SETTINGS behind it.
  const [a, b] = duplexPair();
  const client = new SpdySession(a, { role: 'client', streamReceiveBufferBytes: 4096 });
  const server = new SpdySession(b, { role: 'server' });
  t.after(() => {
    client.destroy();
    server.destroy();
  });
  const payload = randomBytes(16 * 1024);
  server.on('stream', (stream) => {
    stream.accept();
    stream.resume();
    stream.end(payload);
  });
  // Read from the moment the stream exists: a reset must show up here, not pass unobserved.
  let received: Promise<Buffer> | undefined;
  client.once('streamOpened', (stream) => (received = readAll(stream)));
  const stream = await client.openStream({ streamtype: 'data', port: '80', requestid: '0' });
  assert.ok(received !== undefined);
  assert.equal(sha256(await received), sha256(payload));
  stream.end();
  await client.close();
  assert.equal(client.closeError, undefined);
  assert.equal(client.stats.peerFlowControl, true);
});

test('many streams, each below its own WINDOW_UPDATE threshold, do not starve the session window', async (t) => {
  // Found by the session benchmark (64 streams x 8 MiB with windows on hung): the session window
  // was only credited when a stream's own credit (half its window) was sent, so 16 streams each
  // holding just under half a 64 KiB window of consumed-but-unreturned bytes (16 x 32 KiB =
  // 512 KiB) could use up a 256 KiB session window, and every sender waited for ever. The session
  // window must follow what readers consume, whatever the streams' thresholds.
  const [a, b] = duplexPair();
  const options = { streamReceiveBufferBytes: 64 * 1024, sessionReceiveBufferBytes: 256 * 1024 };
  const client = new SpdySession(a, { role: 'client', ...options });
  const server = new SpdySession(b, { role: 'server', ...options });
  t.after(() => {
    client.destroy();
    server.destroy();
  });
  server.on('stream', (stream) => {
    stream.accept();
    stream.pipe(stream);
  });
  const results = await Promise.all(
    Array.from({ length: 16 }, async () => {
      const stream = await client.openStream({ streamtype: 'data' });
      const payload = randomBytes(512 * 1024);
      const echoed = readAll(stream);
      // Small writes, round-robin across streams, so that every stream stays below its threshold.
      for (let offset = 0; offset < payload.length; offset += 20 * 1024) {
        if (!stream.write(payload.subarray(offset, offset + 20 * 1024))) await new Promise((resolve) => stream.once('drain', resolve));
      }
      stream.end();
      return sha256(await echoed) === sha256(payload);
    }),
  );
  assert.deepEqual(results, Array(16).fill(true));
  assert.equal(client.stats.peerFlowControl, true);
});
