/**
 * Hostile clients against the port-forward endpoint: each bad connection ends with a typed error
 * on that connection (or that stream), the endpoint keeps serving other clients, and memory stays
 * bounded. The bad client speaks raw bytes over its own TCP socket after a hand-made upgrade.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { describe, test } from 'node:test';
import { ErrorCode } from '../../../src/errors.js';
import { FrameEncoder, GoAwayStatus, HeaderCompressor, RstStatus, headerBlockFrom, type Frame } from '../../../src/spdy/index.js';
import { startEchoServer, startEndpointServer, testPod } from '../../support/servers.js';
import { legitForward, rawSpdyClient } from '../../support/hostile.js';

async function setup(t: { after(fn: () => Promise<void>): void }, options: Parameters<typeof startEndpointServer>[1] = {}) {
  const echo = await startEchoServer();
  t.after(() => echo.close());
  const server = await startEndpointServer(testPod({ 8080: echo.port }), options);
  t.after(() => server.close());
  /** Proves the endpoint still serves a well-behaved client: a full forwarded echo. */
  const stillServes = (): Promise<void> => legitForward(server.url);
  return { server, stillServes };
}

const syn = (streamId: number, headers: Record<string, string>): Frame => ({
  type: 'SYN_STREAM',
  streamId,
  associatedStreamId: 0,
  priority: 0,
  slot: 0,
  flags: 0,
  headers: headerBlockFrom(headers),
});

describe('port-forward endpoint under bad input', () => {
  test('garbage after the upgrade: GOAWAY PROTOCOL_ERROR, connection closed, others unaffected', async (t) => {
    const { server, stillServes } = await setup(t);
    const client = await rawSpdyClient(server.port);
    client.socket.write(Buffer.from('GET / HTTP/1.1\r\n\r\n this is not SPDY'));
    await client.closed;
    assert.deepEqual(client.frames.at(-1), { type: 'GOAWAY', lastGoodStreamId: 0, status: GoAwayStatus.PROTOCOL_ERROR, flags: 0 });
    const errors = server.endpoint.stats().sessionErrors;
    assert.equal(Object.values(errors).reduce((a, b) => a + b, 0), 1, JSON.stringify(errors));
    await stillServes();
  });

  test('a malformed header block: ERR_COMPRESSION / ERR_HEADER_BLOCK on that connection', async (t) => {
    const { server, stillServes } = await setup(t);
    const client = await rawSpdyClient(server.port);
    // A SYN_STREAM whose block is not zlib at all, then one whose block inflates to nonsense.
    const bad = Buffer.from(new FrameEncoder().encode(syn(1, { port: '8080' }))[0]!);
    bad.fill(0xab, 18); // keep the 18 fixed bytes, trash the compressed block
    client.socket.write(bad);
    await client.closed;
    assert.equal(server.endpoint.stats().sessionErrors[ErrorCode.COMPRESSION], 1);

    const second = await rawSpdyClient(server.port);
    const compressor = new HeaderCompressor();
    const block = compressor.compressRaw(Buffer.from('00000005', 'hex')); // claims 5 pairs, has none
    const frame = Buffer.alloc(18 + block.length);
    frame.writeUInt32BE(0x80030001, 0);
    frame.writeUInt32BE(10 + block.length, 4);
    frame.writeUInt32BE(1, 8);
    block.copy(frame, 18);
    second.socket.write(frame);
    await second.closed;
    assert.equal(server.endpoint.stats().sessionErrors[ErrorCode.HEADER_BLOCK], 1);
    await stillServes();
  });

  test('an unknown control frame (NOOP) is ignored, as SPDY requires; the connection goes on', async (t) => {
    const { server, stillServes } = await setup(t);
    const client = await rawSpdyClient(server.port);
    const encoder = new FrameEncoder();
    client.socket.write(Buffer.from('8003000500000000', 'hex'));
    for (const bytes of encoder.encode({ type: 'PING', id: 1, flags: 0 })) client.socket.write(bytes);
    while (!client.frames.some((f) => f.type === 'PING')) await once(client.socket, 'data');
    assert.ok(client.frames.some((f) => f.type === 'PING' && f.id === 1));
    assert.deepEqual(server.endpoint.stats().sessionErrors, {});
    client.socket.destroy();
    await stillServes();
  });

  test('a 16 MiB frame header: ERR_FRAME_TOO_LARGE before any payload is sent', async (t) => {
    const { server, stillServes } = await setup(t);
    const client = await rawSpdyClient(server.port);
    client.socket.write(Buffer.from('00000001 00ffffff'.replace(' ', ''), 'hex'));
    await client.closed;
    assert.equal(server.endpoint.stats().sessionErrors[ErrorCode.FRAME_TOO_LARGE], 1);
    await stillServes();
  });

  test('10,000 streams opened and never paired: all accepted, as by the kubelet (no stream limit below 65,536), memory bounded', async (t) => {
    const { server, stillServes } = await setup(t);
    const client = await rawSpdyClient(server.port);
    const encoder = new FrameEncoder();
    global.gc?.();
    const before = process.memoryUsage().heapUsed;
    for (let i = 0; i < 10_000; i++) {
      for (const bytes of encoder.encode(syn(2 * i + 1, { streamtype: 'data', port: '8080', requestid: `r${i}` }))) client.socket.write(bytes);
    }
    // Every stream gets an answer: a SYN_REPLY while under the limit (65,536 streams by default),
    // RST REFUSED_STREAM past it.
    const answered = (): number => client.frames.filter((f) => f.type === 'SYN_REPLY' || f.type === 'RST_STREAM').length;
    while (answered() < 10_000) await once(client.socket, 'data');
    const replies = client.frames.filter((f) => f.type === 'SYN_REPLY').length;
    const refused = client.frames.filter((f) => f.type === 'RST_STREAM' && f.status === RstStatus.REFUSED_STREAM).length;
    assert.equal(replies, 10_000, 'the endpoint has no stream limit this low, as the kubelet has none');
    assert.equal(refused, 0);
    const grownMiB = (process.memoryUsage().heapUsed - before) / 2 ** 20;
    assert.ok(grownMiB < 64, `heap grew by ${grownMiB.toFixed(1)} MiB for 10,000 held streams`);
    await stillServes();
    client.socket.destroy();
    await client.closed;
  });
});
