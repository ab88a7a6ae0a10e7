/**
 * The session behaviour suite: the same behaviours over every byte transport (an in-memory pair
 * and real loopback TCP), client and server both kubemux sessions. Wire details and the
 * spdystream quirks are covered by transcripts.test.ts; this file checks what a user sees.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ErrorCode, KubemuxError } from '../../../src/errors.js';
import { SpdySession, type SpdySessionOptions, type SpdyStream } from '../../../src/session/index.js';
import { allTransports, type TransportKind } from '../../support/transports.js';
import { nextError, nextEvent, randomBytes, readAll, sha256, writeAllAndEnd } from '../../support/streams.js';

interface Pair {
  client: SpdySession;
  server: SpdySession;
  /** Streams the server accepted, in order. */
  accepted: AsyncIterableIterator<SpdyStream>;
  close(): Promise<void>;
}

async function sessions(
  kind: TransportKind,
  clientOptions: Partial<SpdySessionOptions> = {},
  serverOptions: Partial<SpdySessionOptions> = {},
): Promise<Pair> {
  const transport = await kind.connect();
  const client = new SpdySession(transport.client, { ...clientOptions, role: 'client' });
  const server = new SpdySession(transport.server, { ...serverOptions, role: 'server' });
  const queue: SpdyStream[] = [];
  const waiters: Array<(s: SpdyStream) => void> = [];
  server.on('stream', (stream) => {
    stream.accept();
    const waiter = waiters.shift();
    if (waiter) waiter(stream);
    else queue.push(stream);
  });
  const accepted: AsyncIterableIterator<SpdyStream> = {
    next: () =>
      new Promise((resolve) => {
        const queued = queue.shift();
        if (queued) resolve({ value: queued, done: false });
        else waiters.push((value) => resolve({ value, done: false }));
      }),
    [Symbol.asyncIterator]() {
      return this;
    },
  };
  return {
    client,
    server,
    accepted,
    async close() {
      client.destroy();
      server.destroy();
      await transport.close();
    },
  };
}

async function nextAccepted(pair: Pair): Promise<SpdyStream> {
  return (await pair.accepted.next()).value as SpdyStream;
}

for (const kind of allTransports) {
  describe(`session behaviour over ${kind.name}`, () => {
    test('bytes move both ways on one stream, hash-checked (4 MiB each way)', async (t) => {
      const pair = await sessions(kind);
      t.after(() => pair.close());
      const [stream, remote] = await Promise.all([pair.client.openStream({ streamtype: 'data', port: '8080', requestid: '0' }), nextAccepted(pair)]);
      assert.equal(remote.header('streamtype'), 'data');
      assert.equal(remote.header('port'), '8080');
      const up = randomBytes(4 << 20);
      const down = randomBytes(4 << 20);
      const [receivedByServer, receivedByClient] = await Promise.all([
        readAll(remote),
        readAll(stream),
        writeAllAndEnd(stream, up),
        writeAllAndEnd(remote, down),
      ]);
      assert.equal(sha256(receivedByServer), sha256(up));
      assert.equal(sha256(receivedByClient), sha256(down));
    });

    test('half-close: after the client ends, the server can still send, then ends', async (t) => {
      const pair = await sessions(kind);
      t.after(() => pair.close());
      const [stream, remote] = await Promise.all([pair.client.openStream({ streamtype: 'data' }), nextAccepted(pair)]);
      const serverRead = readAll(remote);
      stream.end(Buffer.from('request'));
      assert.equal((await serverRead).toString(), 'request');
      // The server's readable side has ended; its writable side is still open.
      assert.equal(remote.writable, true);
      const clientRead = readAll(stream);
      const streamClosed = nextEvent(pair.client, 'streamClosed');
      remote.end(Buffer.from('response after the request ended'));
      assert.equal((await clientRead).toString(), 'response after the request ended');
      await streamClosed;
      assert.equal(pair.client.activeStreams, 0);
    });

    test('a reset by one side surfaces on the other as ERR_STREAM_RESET with the status', async (t) => {
      const pair = await sessions(kind);
      t.after(() => pair.close());
      const [stream, remote] = await Promise.all([pair.client.openStream({ streamtype: 'data' }), nextAccepted(pair)]);
      const failure = nextError(remote);
      stream.destroy();
      const error = await failure;
      assert.ok(error instanceof KubemuxError);
      assert.equal(error.code, ErrorCode.STREAM_RESET);
      assert.equal(error.rstStatus, 5 /* CANCEL */);
      assert.equal(error.scope, 'stream');
    });

    test('64 concurrent streams, 256 KiB each way, every byte delivered once and in order', async (t) => {
      const pair = await sessions(kind);
      t.after(() => pair.close());
      pair.server.on('streamOpened', (remote) => {
        // Echo on the server side: what arrives goes back on the same stream.
        remote.pipe(remote);
      });
      const results = await Promise.all(
        Array.from({ length: 64 }, async (_, i) => {
          const stream = await pair.client.openStream({ streamtype: 'data', requestid: String(i) });
          const payload = randomBytes(256 * 1024);
          const [echoed] = await Promise.all([readAll(stream), writeAllAndEnd(stream, payload, 16 * 1024)]);
          return sha256(echoed) === sha256(payload);
        }),
      );
      assert.deepEqual(results, Array(64).fill(true));
      assert.equal(pair.client.stats.droppedDataFrames, 0);
    });

    test('the server can open a stream towards the client too', async (t) => {
      const pair = await sessions(kind);
      t.after(() => pair.close());
      pair.client.on('stream', (s) => {
        s.accept();
        s.pipe(s);
      });
      const stream = await pair.server.openStream({ streamtype: 'data' });
      assert.equal(stream.id % 2, 0);
      const payload = randomBytes(100_000);
      const [echoed] = await Promise.all([readAll(stream), writeAllAndEnd(stream, payload)]);
      assert.equal(sha256(echoed), sha256(payload));
    });

    test('ping measures a round trip from either side', async (t) => {
      const pair = await sessions(kind);
      t.after(() => pair.close());
      const rtts: number[] = [];
      pair.client.on('ping', (rtt) => rtts.push(rtt));
      const fromClient = await pair.client.ping({ timeoutMs: 2_000 });
      const fromServer = await pair.server.ping({ timeoutMs: 2_000 });
      assert.ok(fromClient >= 0 && fromClient < 2_000);
      assert.ok(fromServer >= 0 && fromServer < 2_000);
      assert.deepEqual(rtts, [fromClient]);
      assert.equal(pair.client.stats.pingsEchoed, 1);
    });

    test('close() lets open streams finish, then closes both sessions cleanly', async (t) => {
      const pair = await sessions(kind);
      t.after(() => pair.close());
      const [stream, remote] = await Promise.all([pair.client.openStream({ streamtype: 'data' }), nextAccepted(pair)]);
      const draining = nextEvent(pair.server, 'draining');
      const clientClosed = pair.client.close();
      const [info] = (await draining) as [{ reason: string }];
      assert.equal(info.reason, 'goaway-received');
      await assert.rejects(pair.client.openStream({ streamtype: 'data' }), { code: ErrorCode.SESSION_DRAINING });
      // The open stream still works in both directions while the sessions drain.
      const serverRead = readAll(remote);
      const clientRead = readAll(stream);
      stream.end(Buffer.from('last words'));
      remote.end(Buffer.from('goodbye'));
      assert.equal((await serverRead).toString(), 'last words');
      assert.equal((await clientRead).toString(), 'goodbye');
      await clientClosed;
      assert.equal(pair.client.closed, true);
      assert.equal(pair.client.closeError, undefined);
      if (!pair.server.closed) await nextEvent(pair.server, 'close');
      assert.equal(pair.server.closeError, undefined);
    });

    test('the Kubernetes pair: error stream and data stream for one request id', async (t) => {
      const pair = await sessions(kind);
      t.after(() => pair.close());
      pair.server.removeAllListeners('stream');
      const byType = new Map<string, SpdyStream>();
      const bothArrived = new Promise<void>((resolve) => {
        pair.server.on('stream', (s) => {
          s.accept();
          byType.set(s.header('streamtype') ?? '?', s);
          if (byType.size === 2) resolve();
        });
      });
      const headers = { port: '5432', requestid: '7' };
      const errorStream = await pair.client.openStream({ ...headers, streamtype: 'error' });
      errorStream.end(); // kubectl never writes on the error stream
      const dataStream = await pair.client.openStream({ ...headers, streamtype: 'data' });
      await bothArrived;
      assert.equal(byType.get('error')?.header('requestid'), '7');
      assert.equal(byType.get('data')?.header('requestid'), '7');
      // The server reports a failure on the error stream and closes both.
      const message = 'error forwarding port 5432 to pod default/demo, uid : failed to connect to localhost:5432: connection refused';
      const errorText = readAll(errorStream);
      byType.get('error')!.end(message);
      byType.get('data')!.end();
      assert.equal((await errorText).toString(), message);
      assert.equal((await readAll(dataStream)).length, 0);
    });

    test('a closed transport fails open streams, pending opens and pings with typed errors', async (t) => {
      const transport = await kind.connect();
      t.after(() => transport.close());
      const client = new SpdySession(transport.client, { role: 'client' });
      const server = new SpdySession(transport.server, { role: 'server', flowControl: 'auto' });
      const accepted = new Promise<SpdyStream>((resolve) => server.on('stream', (s) => (s.accept(), resolve(s))));
      const stream = await client.openStream({ streamtype: 'data' });
      await accepted;
      // The server stops answering (it no longer accepts streams or reads), then the connection dies.
      server.removeAllListeners('stream');
      const pendingOpen = client.openStream({ streamtype: 'data' }, { timeoutMs: 10_000 });
      const streamError = nextError(stream);
      const closed = nextEvent(client, 'close');
      transport.server.destroy();
      const [closeError] = (await closed) as [KubemuxError];
      assert.equal(closeError.code, ErrorCode.TRANSPORT_CLOSED);
      assert.equal(closeError.scope, 'transport');
      assert.equal(((await streamError) as KubemuxError).code, ErrorCode.SESSION_CLOSED);
      await assert.rejects(pendingOpen, (e: KubemuxError) => e.code === ErrorCode.SESSION_CLOSED || e.code === ErrorCode.STREAM_REFUSED);
      await assert.rejects(client.ping(), { code: ErrorCode.SESSION_CLOSED });
      server.destroy();
    });
  });
}
