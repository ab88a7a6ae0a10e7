/**
 * The port-forward endpoint over SPDY, driven by kubemux's own client transport (dialSpdy):
 * pairing, forwarding, dial failures, bad headers and every fault. kubectl against the same
 * endpoint is tested in test/interop.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ErrorCode, KubemuxError } from '../../../src/errors.js';
import type { SpdySession } from '../../../src/session/index.js';
import { dialSpdy } from '../../../src/transport/spdy/upgrade.js';
import { portForwardPath } from '../../../src/transport/api/request-target.js';
import { closedPort, startEchoServer, startEndpointServer, testPod } from '../../support/servers.js';
import { nextEvent, randomBytes, readAll, sha256, writeAllAndEnd } from '../../support/streams.js';

async function setup(t: { after(fn: () => Promise<void> | void): void }, options: Parameters<typeof startEndpointServer>[1] = {}) {
  const echo = await startEchoServer();
  t.after(() => echo.close());
  const server = await startEndpointServer(testPod({ 8080: echo.port }), options);
  t.after(() => server.close());
  const dial = async (): Promise<SpdySession> => {
    const session = await dialSpdy({ server: server.url, path: portForwardPath('default', 'demo') });
    t.after(() => session.destroy());
    return session;
  };
  return { echo, server, dial };
}

/** kubectl's choreography for one local connection: error stream, FIN it, then the data stream. */
async function openPair(session: SpdySession, port: number, requestId: number) {
  const headers = { port: String(port), requestid: String(requestId) };
  const errorStream = await session.openStream({ ...headers, streamtype: 'error' });
  errorStream.end();
  const errorText = readAll(errorStream).then((b) => b.toString('utf8'), () => '');
  const dataStream = await session.openStream({ ...headers, streamtype: 'data' });
  return { errorStream, dataStream, errorText };
}

describe('port-forward endpoint over SPDY', () => {
  test('16 concurrent pairs each move 1 MiB through the pod and back, hash-checked', async (t) => {
    const { server, dial, echo } = await setup(t);
    const session = await dial();
    const results = await Promise.all(
      Array.from({ length: 16 }, async (_, i) => {
        const { dataStream, errorText } = await openPair(session, 8080, i);
        const payload = randomBytes(1 << 20);
        const [echoed] = await Promise.all([readAll(dataStream), writeAllAndEnd(dataStream, payload)]);
        return { same: sha256(echoed) === sha256(payload), error: await errorText };
      }),
    );
    assert.deepEqual(results, Array(16).fill({ same: true, error: '' }));
    assert.equal(echo.connections, 16);
    const stats = server.endpoint.stats();
    assert.equal(stats.streams, 16);
    assert.equal(stats.bytesToPod, 16 << 20);
    assert.equal(stats.bytesFromPod, 16 << 20);
  });

  test('a closed target port yields the containerd error text and the session goes on', async (t) => {
    const refused = await closedPort();
    const echo = await startEchoServer();
    t.after(() => echo.close());
    const server = await startEndpointServer(testPod({ 9999: refused, 8080: echo.port }));
    t.after(() => server.close());
    const session = await dialSpdy({ server: server.url, path: portForwardPath('default', 'demo') });
    t.after(() => session.destroy());
    const failed = await openPair(session, 9999, 0);
    const text = await failed.errorText;
    assert.match(text, /^error forwarding port 9999 to pod default\/demo, uid [0-9a-f-]+: failed to connect to localhost:9999 inside namespace "demo", IPv4: dial tcp4 127\.0\.0\.1:\d+: connect: connection refused/);
    assert.equal(server.endpoint.stats().dialFailures, 1);
    // Another connection on the same session still works.
    const ok = await openPair(session, 8080, 1);
    const [echoed] = await Promise.all([readAll(ok.dataStream), writeAllAndEnd(ok.dataStream, Buffer.from('still alive'))]);
    assert.equal(echoed.toString(), 'still alive');
  });

  test('streams with bad headers are reset with CANCEL', async (t) => {
    const { dial, server } = await setup(t);
    const session = await dial();
    const badHeaders: Array<Record<string, string>> = [
      { streamtype: 'data', port: '0', requestid: '1' },
      { streamtype: 'data', port: '70000', requestid: '1' },
      { streamtype: 'data', port: '80a', requestid: '1' },
      { streamtype: 'stdin', port: '8080', requestid: '1' },
      { port: '8080', requestid: '1' },
    ];
    for (const headers of badHeaders) {
      await assert.rejects(session.openStream(headers), (error: KubemuxError) => error.code === ErrorCode.STREAM_RESET && error.rstStatus === 5);
    }
    assert.equal(server.endpoint.stats().rejectedStreams, 5);
  });

  test('a lone stream times out waiting for its pair and gets the pairing error', async (t) => {
    const { dial, server } = await setup(t, { pairingTimeoutMs: 50 });
    const session = await dial();
    const errorStream = await session.openStream({ streamtype: 'error', port: '8080', requestid: '42' });
    errorStream.end();
    assert.equal((await readAll(errorStream)).toString(), 'timed out waiting for streams for request 42');
    assert.equal(server.endpoint.stats().pairingTimeouts, 1);
  });

  test('fault refuse: the upgrade fails with the status and the Status message', async (t) => {
    const { server, dial } = await setup(t);
    server.endpoint.applyFault('refuse', { status: 503 });
    await assert.rejects(dial(), (error: KubemuxError) => {
      assert.equal(error.code, ErrorCode.UPGRADE_REFUSED);
      assert.equal(error.httpStatus, 503);
      assert.match(error.message, /refused by fault injection/);
      return true;
    });
    server.endpoint.applyFault('clear');
    await dial();
  });

  test('fault stall: new streams get no reply; clear lets new streams through again', async (t) => {
    const { server, dial } = await setup(t);
    const session = await dial();
    server.endpoint.applyFault('stall');
    await assert.rejects(session.openStream({ streamtype: 'error', port: '8080', requestid: '0' }, { timeoutMs: 100 }), {
      code: ErrorCode.STREAM_OPEN_TIMEOUT,
    });
    server.endpoint.applyFault('clear');
    const { dataStream } = await openPair(session, 8080, 1);
    dataStream.end();
  });

  test('fault blackhole: pings stop being answered; clear brings the connection back', async (t) => {
    const { server, dial } = await setup(t);
    const session = await dial();
    assert.ok((await session.ping({ timeoutMs: 1_000 })) >= 0);
    server.endpoint.applyFault('blackhole');
    await assert.rejects(session.ping({ timeoutMs: 100 }), { code: ErrorCode.PING_TIMEOUT });
    server.endpoint.applyFault('clear');
    assert.ok((await session.ping({ timeoutMs: 1_000 })) >= 0);
  });

  test('fault goaway: the client session drains; fault drop: it closes with a transport error', async (t) => {
    const { server, dial } = await setup(t);
    const first = await dial();
    const draining = nextEvent<[{ reason: string }]>(first, 'draining');
    server.endpoint.applyFault('goaway');
    assert.equal((await draining)[0].reason, 'goaway-received');
    const second = await dial();
    const closed = nextEvent<[KubemuxError | undefined]>(second, 'close');
    server.endpoint.applyFault('drop');
    const [error] = await closed;
    assert.equal(error?.code, ErrorCode.TRANSPORT_CLOSED);
  });
});
