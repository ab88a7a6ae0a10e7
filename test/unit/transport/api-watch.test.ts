/**
 * apiWatch: newline-delimited watch events as they arrive, over real loopback HTTP: from the fake
 * cluster's pod watch, and from hand-written servers that split events across writes, end the
 * stream, refuse, or send what is not a watch.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import { test, type TestContext } from 'node:test';
import { ErrorCode, isKubemuxError } from '../../../src/errors.js';
import { FakeCluster } from '../../../src/server/fake-cluster.js';
import { apiWatch, type WatchEvent } from '../../../src/transport/api/api-request.js';
import { within } from '../../support/deadlines.js';
import { listenLoopback } from '../../support/kube-fixtures.js';

/** A loopback HTTP server answering every request with `handler`; closed when the test ends. */
async function serve(t: TestContext, handler: http.RequestListener): Promise<string> {
  return `http://127.0.0.1:${await listenLoopback(t, http.createServer(handler))}`;
}

const event = (type: string, name: string): string => `${JSON.stringify({ type, object: { metadata: { name } } })}\n`;

test('events from the fake cluster arrive as they happen; returning true stops the watch', async (t) => {
  const cluster = await FakeCluster.start();
  t.after(() => cluster.close());
  const seen: string[] = [];
  let opened = false;
  const path = `/api/v1/namespaces/default/pods?labelSelector=app%3Ddemo&watch=true&resourceVersion=${cluster.state.resourceVersion}`;
  const result = await within(
    apiWatch({ server: cluster.url }, path, (e: WatchEvent) => {
      assert.ok(opened, 'onOpen comes before any event');
      seen.push(`${e.type} ${(e.object as { metadata: { name: string } }).metadata.name}`);
      return e.type === 'ADDED';
    }, {
      onOpen: () => {
        opened = true;
        // The watch is in place: what happens now must reach it.
        cluster.state.replacePod('default', 'demo');
      },
    }),
    'the watch',
  );
  assert.deepEqual(result, { status: 200, text: '', statusMessage: undefined, stopped: true });
  assert.equal(seen.length, 2);
  assert.equal(seen[0], 'DELETED demo');
  assert.match(seen[1]!, /^ADDED demo-[a-z0-9]{5}$/);
});

test('events split across writes are reassembled; the end of the stream ends the watch', async (t) => {
  const url = await serve(t, (_req, res) => {
    res.writeHead(200, { 'Content-Type': 'application/json' });
    const text = event('ADDED', 'a') + '\n' + event('MODIFIED', 'b') + event('DELETED', 'c').trimEnd();
    // One byte at a time: every event straddles writes, and the last has no newline.
    let i = 0;
    const next = (): void => {
      if (i === text.length) {
        res.end();
        return;
      }
      res.write(text[i++], next);
    };
    next();
  });
  const seen: string[] = [];
  const result = await apiWatch({ server: url }, '/w?watch=true', (e) => {
    seen.push(`${e.type} ${(e.object as { metadata: { name: string } }).metadata.name}`);
  });
  assert.equal(result.stopped, false);
  assert.deepEqual(seen, ['ADDED a', 'MODIFIED b', 'DELETED c']);
});

test('a refused watch delivers no event and reports the status and Status message', async (t) => {
  const url = await serve(t, (_req, res) => {
    res.writeHead(403, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify({ kind: 'Status', apiVersion: 'v1', status: 'Failure', message: 'pods is forbidden: User "x" cannot watch resource "pods"', reason: 'Forbidden', code: 403 }));
  });
  let events = 0;
  const result = await apiWatch({ server: url }, '/w?watch=true', () => void events++, { onOpen: () => assert.fail('a refused watch is not open') });
  assert.equal(events, 0);
  assert.equal(result.status, 403);
  assert.equal(result.statusMessage, 'pods is forbidden: User "x" cannot watch resource "pods"');
  assert.equal(result.stopped, false);
});

test('what is not a watch event, an oversized event, a throwing handler or onOpen, and an abort all end the watch with an error', async (t) => {
  let body = '';
  const url = await serve(t, (_req, res) => {
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.write(body);
    // Left open: each failure must end the watch by itself.
  });
  body = 'this is not JSON\n';
  await assert.rejects(apiWatch({ server: url }, '/w', () => undefined), (err) => isKubemuxError(err, 'ERR_PROTOCOL') && err.scope === 'transport' && /not a watch event/.test(err.message));
  body = '{"kind":"Status"}\n';
  await assert.rejects(apiWatch({ server: url }, '/w', () => undefined), (err) => isKubemuxError(err, 'ERR_PROTOCOL'));

  body = `{"type":"ADDED","object":"${'x'.repeat(2000)}`;
  await assert.rejects(apiWatch({ server: url }, '/w', () => undefined, { maxEventBytes: 1000 }), (err) => isKubemuxError(err, 'ERR_TRANSPORT_CLOSED') && /exceeds 1000 bytes/.test(err.message));

  body = event('ADDED', 'a');
  const boom = new Error('handler failed');
  await assert.rejects(apiWatch({ server: url }, '/w', () => {
    throw boom;
  }), (err) => err === boom);

  await assert.rejects(apiWatch({ server: url }, '/w', () => undefined, {
    onOpen: () => {
      throw boom;
    },
  }), (err) => err === boom);

  body = '';
  const controller = new AbortController();
  const reason = new Error('caller gave up');
  const watching = apiWatch({ server: url }, '/w', () => undefined, { signal: controller.signal, onOpen: () => controller.abort(reason) });
  await assert.rejects(within(watching, 'the aborted watch'), (err: unknown) => isKubemuxError(err, ErrorCode.ABORTED) && err.name === 'AbortError' && err.cause === reason);
});

test('the deadline covers only the wait for an answer, not the events after it', async (t) => {
  let release: (() => void) | undefined;
  const url = await serve(t, (req, res) => {
    if (req.url === '/silent') return; // never answers
    res.writeHead(200);
    res.flushHeaders();
    release = () => res.end(event('ADDED', 'late'));
  });
  await assert.rejects(apiWatch({ server: url }, '/silent', () => undefined, { timeoutMs: 50 }), (err) => isKubemuxError(err, 'ERR_TIMEOUT') && /no answer within 50 ms/.test(err.message));
  const names: string[] = [];
  const result = await apiWatch({ server: url }, '/open', (e) => void names.push((e.object as { metadata: { name: string } }).metadata.name), {
    timeoutMs: 50,
    // The event comes after the deadline would have passed, had it still been running.
    onOpen: () => setTimeout(() => release!(), 100),
  });
  assert.equal(result.stopped, false);
  assert.deepEqual(names, ['late']);
});
