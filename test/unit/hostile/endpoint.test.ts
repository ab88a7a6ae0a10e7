/**
 * Hostile clients against the port-forward endpoint over real loopback TCP (the server side, end
 * to end): a PING flood from a client that never reads, pairs that never complete, a header bomb,
 * pairs whose streams disagree on the port, idle connections (SPDY, tunnel, v4) and a frame header
 * trickled a byte at a time. Each case checks the bound, that a legitimate client of the same
 * endpoint is still served, and the typed outcome in the endpoint's counters.
 */
import assert from 'node:assert/strict';
import { describe, test, type TestContext } from 'node:test';
import { WebSocket } from 'ws';
import { ErrorCode, isKubemuxError, type KubemuxError } from '../../../src/errors.js';
import type { SpdyStream } from '../../../src/session/index.js';
import { FrameEncoder, encodePing, headerBlockFrom } from '../../../src/spdy/index.js';
import { portForwardPath } from '../../../src/transport/api/request-target.js';
import { dialSpdy } from '../../../src/transport/spdy/upgrade.js';
import { once, within } from '../../support/deadlines.js';
import { MiB, flood, heapSampler, legitForward, rawSpdyClient, repeat } from '../../support/hostile.js';
import { closedPort, startEchoServer, startEndpointServer, testPod } from '../../support/servers.js';
import { readAll } from '../../support/streams.js';
import { syn } from '../../support/frame-builders.js';

const SUITE = { timeout: 60_000 };

async function endpoint(t: TestContext, options: Parameters<typeof startEndpointServer>[1] = {}, extraPorts: Record<number, number> = {}) {
  const echo = await startEchoServer();
  t.after(() => echo.close());
  const server = await startEndpointServer(testPod({ 8080: echo.port, ...extraPorts }), options);
  t.after(() => server.close());
  return server;
}

/** Reads a stream's text until it ends or fails (a reset after the text is fine). */
function textOf(stream: SpdyStream): Promise<string> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    stream.once('close', () => resolve(Buffer.concat(chunks).toString()));
  });
}

describe('the endpoint against hostile clients', SUITE, () => {
  test('a PING flood from a client that never reads: the session stops reading, then closes with ERR_RESOURCE_LIMIT; heap bounded; other clients served', async (t) => {
    const server = await endpoint(t, { session: { maxQueuedReplyFrames: 256, receiveStallTimeoutMs: 300 } });
    const client = await rawSpdyClient(server.port, { read: false });
    // Decoding millions of PINGs makes much garbage: sample what is held.
    const heap = heapSampler({ collect: true });
    const attempt = 64 * MiB;
    const flooding = flood(client.socket, repeat(encodePing({ type: 'PING', id: 1, flags: 0 }), 5461), attempt);
    await legitForward(server.url);
    await within(client.closed, 'the server to drop the flooding client', 20_000);
    const { written, blocked } = await flooding;
    const growth = heap.stop();
    assert.ok(blocked, 'the flood never met backpressure');
    // Kernel buffers on both sides take some megabytes first; then TCP stops the client.
    assert.ok(written < attempt / 2, `the client wrote ${(written / MiB).toFixed(1)} MiB`);
    assert.equal(server.endpoint.stats().sessionErrors[ErrorCode.RESOURCE_LIMIT], 1);
    assert.ok(growth < 16 * MiB, `the heap held ${(growth / MiB).toFixed(1)} MiB more`);
    t.diagnostic(`the flooding client was stopped after ${(written / MiB).toFixed(1)} MiB; heap held at most ${(growth / MiB).toFixed(1)} MiB more`);
  });

  test('error streams that never get their data stream: after the pairing timeout both are reset, so their slots come back and a new pair on the same connection works', async (t) => {
    const server = await endpoint(t, { pairingTimeoutMs: 100, session: { maxConcurrentStreams: 20 } });
    const session = await dialSpdy({ server: server.url, path: portForwardPath('default', 'demo') });
    t.after(() => session.destroy());
    // A client that opens error streams and never ends them (kubectl ends them at once) nor pairs them.
    const lone = await Promise.all(Array.from({ length: 20 }, (_, i) => session.openStream({ streamtype: 'error', port: '8080', requestid: `lone-${i}` })));
    const texts = lone.map(textOf);
    for (const stream of lone) stream.on('error', () => {});
    assert.deepEqual(await within(Promise.all(texts), 'the pairing timeouts'), lone.map((_, i) => `timed out waiting for streams for request lone-${i}`));
    assert.equal(server.endpoint.stats().pairingTimeouts, 20);
    // Before: the server ended the error streams but kept them (the client never ended its side):
    // all 20 slots stayed taken and this pair was refused.
    const errorStream = await session.openStream({ streamtype: 'error', port: '8080', requestid: 'real' });
    errorStream.end();
    errorStream.resume();
    const data = await session.openStream({ streamtype: 'data', port: '8080', requestid: 'real' });
    const echoed = readAll(data);
    data.end('still works');
    assert.equal((await echoed).toString(), 'still works');
  });

  test('a lone data stream the client resets takes its pair with it (no pairing timeout counted for it)', async (t) => {
    const server = await endpoint(t, { pairingTimeoutMs: 200 });
    const session = await dialSpdy({ server: server.url, path: portForwardPath('default', 'demo') });
    t.after(() => session.destroy());
    for (let i = 0; i < 10; i++) {
      const stream = await session.openStream({ streamtype: 'data', port: '8080', requestid: `gone-${i}` });
      stream.on('error', () => {});
      stream.destroy();
    }
    // Timers fire in order: once this later lone stream has timed out, the earlier ten would have.
    const last = await session.openStream({ streamtype: 'error', port: '8080', requestid: 'witness' });
    last.on('error', () => {});
    assert.match(await within(textOf(last), 'the witness to time out'), /timed out waiting for streams for request witness/);
    assert.equal(server.endpoint.stats().pairingTimeouts, 1);
  });

  test('a pair whose streams name different ports is forwarded to the data stream\'s port, as the kubelet does, whichever arrives second', async (t) => {
    const refused = await closedPort();
    const server = await endpoint(t, {}, { [refused]: refused });
    const session = await dialSpdy({ server: server.url, path: portForwardPath('default', 'demo') });
    t.after(() => session.destroy());
    // The data stream first (the echo's port), the error stream second (a port nothing listens on).
    const data = await session.openStream({ streamtype: 'data', port: '8080', requestid: '7' });
    const errorStream = await session.openStream({ streamtype: 'error', port: String(refused), requestid: '7' });
    errorStream.end();
    const errorText = textOf(errorStream);
    const echoed = readAll(data);
    data.end('to the data stream port');
    assert.equal((await echoed).toString(), 'to the data stream port');
    assert.equal(await errorText, '');
    assert.equal(server.endpoint.stats().dialFailures, 0);
  });

  test('a header value of 65,000 NUL-separated parts: that connection fails with ERR_HEADER_BLOCK_TOO_LARGE; others are served', async (t) => {
    const server = await endpoint(t);
    const client = await rawSpdyClient(server.port);
    for (const part of new FrameEncoder().encode(syn(1, headerBlockFrom({ streamtype: 'data', port: '8080', requestid: '0', x: Array<string>(65_000).fill('') })))) client.socket.write(part);
    await within(client.closed, 'the server to close the connection');
    assert.equal(server.endpoint.stats().sessionErrors[ErrorCode.HEADER_BLOCK_TOO_LARGE], 1);
    await legitForward(server.url);
  });
});

describe('idle connections (the kubelet\'s StreamIdleTimeout)', SUITE, () => {
  test('SPDY: a connection that opens no stream is closed after idleTimeoutMs (GOAWAY), counted as ERR_IDLE_TIMEOUT', async (t) => {
    const server = await endpoint(t, { idleTimeoutMs: 200 });
    const session = await dialSpdy({ server: server.url, path: portForwardPath('default', 'demo') });
    t.after(() => session.destroy());
    const draining = once(session, 'draining', 3_000);
    const closed = once<[KubemuxError | undefined]>(session, 'close', 3_000);
    await draining;
    await closed;
    assert.equal(server.endpoint.stats().sessionErrors[ErrorCode.IDLE_TIMEOUT], 1);
    await legitForward(server.url);
  });

  test('v4: a WebSocket with nothing moving is closed with 1000 after idleTimeoutMs', async (t) => {
    const server = await endpoint(t, { idleTimeoutMs: 200 });
    const socket = new WebSocket(`ws://127.0.0.1:${server.port}/api/v1/namespaces/default/pods/demo/portforward?ports=8080`, ['v4.channel.k8s.io']);
    t.after(() => socket.terminate());
    const [code] = await once<[number, Buffer]>(socket, 'close', 3_000);
    assert.equal(code, 1000);
  });

  test('slowloris on frames: a frame header trickled a byte every 50 ms completes no frame, so the idle timeout still closes the connection; memory stays one frame header', async (t) => {
    const server = await endpoint(t, { idleTimeoutMs: 300 });
    const client = await rawSpdyClient(server.port);
    const header = Buffer.from('8003000600000004', 'hex'); // a PING header whose payload never comes
    const trickle = (async () => {
      for (let i = 0; i < header.length && !client.socket.destroyed; i++) {
        client.socket.write(header.subarray(i, i + 1));
        await new Promise<void>((resolve) => setTimeout(resolve, 50));
      }
    })();
    await legitForward(server.url);
    await within(client.closed, 'the idle timeout to close the trickling connection', 5_000);
    await trickle;
    assert.equal(server.endpoint.stats().sessionErrors[ErrorCode.IDLE_TIMEOUT], 1);
  });

  test('idleTimeoutMs is validated, and 0 disables it', async () => {
    const { PortForwardEndpoint } = await import('../../../src/server/portforward/endpoint.js');
    assert.throws(() => new PortForwardEndpoint({ idleTimeoutMs: -1 }), (error: KubemuxError) => isKubemuxError(error, ErrorCode.INVALID_ARGUMENT) && /idleTimeoutMs/.test(error.message));
    assert.throws(() => new PortForwardEndpoint({ session: { maxQueuedReplyFrames: 0 } }), (error: KubemuxError) => isKubemuxError(error, ErrorCode.INVALID_ARGUMENT));
    assert.doesNotThrow(() => new PortForwardEndpoint({ idleTimeoutMs: 0 }));
  });
});
