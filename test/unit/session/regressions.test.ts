/**
 * Regressions found by the session model (test/property/session/model.test.ts), each reduced to
 * the smallest deterministic exchange that showed it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { SpdySession, type SpdyStream } from '../../../src/session/index.js';
import { duplexPair } from '../../support/duplex-pair.js';

const sha256 = (data: Buffer): string => createHash('sha256').update(data).digest('hex');

function readAll(stream: SpdyStream): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    stream.on('end', () => resolve(Buffer.concat(chunks)));
    stream.on('error', reject);
  });
}

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
