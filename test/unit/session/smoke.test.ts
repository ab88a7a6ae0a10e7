import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { SpdySession } from '../../../src/session/index.js';
import { duplexPair } from '../../support/duplex-pair.js';

test('client opens a stream, server echoes 4 MiB, hashes match', async () => {
  const [a, b] = duplexPair();
  const client = new SpdySession(a, { role: 'client' });
  const server = new SpdySession(b, { role: 'server' });
  server.on('stream', (s) => {
    s.accept();
    s.pipe(s);
  });
  const stream = await client.openStream({ streamtype: 'data', port: '80', requestid: '0' });
  const payload = randomBytes(4 * 1024 * 1024);
  const received: Buffer[] = [];
  const done = new Promise<void>((resolve, reject) => {
    stream.on('data', (c: Buffer) => received.push(c));
    stream.on('end', resolve);
    stream.on('error', reject);
  });
  stream.end(payload);
  await done;
  const h = (b: Buffer) => createHash('sha256').update(b).digest('hex');
  assert.equal(h(Buffer.concat(received)), h(payload));
  assert.equal(client.stats.peerFlowControl, true);
  await client.close();
  assert.equal(client.closed, true);
});
