/** kubemux's own SPDY client through the whole fake cluster: API path, endpoint, pod. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ErrorCode, KubemuxError } from '../../../src/errors.js';
import { dialSpdy } from '../../../src/transport/spdy/upgrade.js';
import { portForwardPath } from '../../../src/transport/api/request-target.js';
import { startDemoCluster } from '../../support/servers.js';
import { nextEvent, randomBytes, readAll, sha256, writeAllAndEnd } from '../../support/streams.js';

test('forward through the fake cluster; replace-pod ends the old pod connection; 404 for the old name', async (t) => {
  const demo = await startDemoCluster();
  t.after(() => demo.close());
  const session = await dialSpdy({ server: demo.cluster.url, path: portForwardPath('default', 'demo') });
  t.after(() => session.destroy());
  const errorStream = await session.openStream({ streamtype: 'error', port: '8080', requestid: '0' });
  errorStream.end();
  errorStream.resume();
  const data = await session.openStream({ streamtype: 'data', port: '8080', requestid: '0' });
  const payload = randomBytes(2 << 20);
  const [echoed] = await Promise.all([readAll(data), writeAllAndEnd(data, payload)]);
  assert.equal(sha256(echoed), sha256(payload));

  const closed = nextEvent<[KubemuxError | undefined]>(session, 'close');
  const response = await fetch(`${demo.cluster.url}/kubemux/faults/replace-pod?name=demo`, { method: 'POST' });
  const body = (await response.json()) as { added: { name: string } };
  assert.equal(response.status, 200);
  assert.match(body.added.name, /^demo-[a-z0-9]{5}$/);
  assert.equal((await closed)[0]?.code, ErrorCode.TRANSPORT_CLOSED);

  await assert.rejects(dialSpdy({ server: demo.cluster.url, path: portForwardPath('default', 'demo') }), (error: KubemuxError) => {
    assert.equal(error.code, ErrorCode.UPGRADE_REFUSED);
    assert.equal(error.httpStatus, 404);
    assert.match(error.message, /pods "demo" not found/);
    return true;
  });
  const replacement = await dialSpdy({ server: demo.cluster.url, path: portForwardPath('default', body.added.name) });
  t.after(() => replacement.destroy());
  assert.ok((await replacement.ping({ timeoutMs: 2_000 })) >= 0);
  const stats = (await (await fetch(`${demo.cluster.url}/kubemux/stats`)).json()) as { sessions: number; streams: number };
  assert.equal(stats.sessions, 2);
  assert.equal(stats.streams, 1);
});
