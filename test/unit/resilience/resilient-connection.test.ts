/**
 * The resilience layer's state machine, step by step, on a hand-driven clock and scripted
 * connections (test/support/fake-connection.ts): every decision (liveness, probe, replacement,
 * backoff, classification, cancellation) at the exact millisecond it is due. The same behaviour
 * over real sockets against the fake cluster: resilience-faults.test.ts.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ErrorCode, KubemuxError, isKubemuxError } from '../../../src/errors.js';
import type { DialFailure, Replacement, StateChange } from '../../../src/resilience/events.js';
import type { TargetContext } from '../../../src/resilience/options.js';
import { ResilientConnection } from '../../../src/resilience/resilient-connection.js';
import type { ResilientConnectionOptions } from '../../../src/resilience/options.js';
import { FakeDialer } from '../../support/fake-connection.js';
import { ManualClock, settle } from '../../support/manual-clock.js';

const TARGET = { server: 'http://127.0.0.1:1', path: '/api/v1/namespaces/default/pods/demo/portforward' };

interface Harness {
  readonly clock: ManualClock;
  readonly dialer: FakeDialer;
  readonly connection: ResilientConnection;
  readonly states: StateChange[];
  readonly replacements: Replacement[];
  readonly failures: DialFailure[];
  readonly contexts: TargetContext[];
}

function harness(options: Partial<ResilientConnectionOptions> = {}, configure?: (dialer: FakeDialer) => void): Harness {
  const clock = new ManualClock();
  const dialer = new FakeDialer();
  configure?.(dialer);
  const contexts: TargetContext[] = [];
  const connection = new ResilientConnection({
    target: async (context) => {
      contexts.push(context);
      return TARGET;
    },
    dial: dialer.dial,
    clock,
    random: () => 0.5,
    ...options,
  });
  const states: StateChange[] = [];
  const replacements: Replacement[] = [];
  const failures: DialFailure[] = [];
  connection.on('state', (change) => states.push(change));
  connection.on('replaced', (replacement) => replacements.push(replacement));
  connection.on('dialFailed', (failure) => failures.push(failure));
  return { clock, dialer, connection, states, replacements, failures, contexts };
}

async function shutDown(h: Harness): Promise<void> {
  const closed = h.connection.close();
  await h.clock.advance(0);
  await Promise.race([closed, h.connection.destroy()]);
  assert.equal(h.connection.state, 'closed');
  assert.equal(h.clock.pending, 0, 'no timer is left after close');
}

/** `promise`, marked as handled: it may reject while the clock runs, before the test asserts on it. */
function later<T>(promise: Promise<T>): Promise<T> {
  promise.catch(() => {});
  return promise;
}

function failure(code: ErrorCode, httpStatus?: number): KubemuxError {
  return new KubemuxError(code, code === ErrorCode.INVALID_ARGUMENT ? 'usage' : 'transport', `dial failed (${code}${httpStatus === undefined ? '' : ` ${httpStatus}`})`, httpStatus === undefined ? {} : { httpStatus });
}

describe('ResilientConnection: connecting and opening pairs', () => {
  test('dials at construction, becomes ready, and opens pairs on its connection', async () => {
    const h = harness();
    assert.equal(h.connection.state, 'connecting');
    await settle();
    assert.equal(h.connection.state, 'ready');
    assert.deepEqual(h.states.map((s) => s.state), ['ready']);
    assert.equal(h.states[0]!.protocol, 'spdy');
    assert.equal(h.contexts[0]!.reason, 'initial');
    const pair = await h.connection.openPortStreams(8080);
    assert.equal(pair.port, 8080);
    assert.equal(h.connection.stats.pairsActive, 1);
    pair.data.destroy();
    await settle();
    assert.equal(h.connection.stats.pairsActive, 0);
    assert.equal(h.connection.stats.pairsOpened, 1);
    await shutDown(h);
  });

  test('an open that arrives while the first dial is in flight waits for it', async () => {
    const h = harness({}, (d) => d.queue.push('hang'));
    const opening = later(h.connection.openPortStreams(80, { timeoutMs: 1000 }));
    await h.clock.advance(1000);
    await assert.rejects(opening, (e: unknown) => isKubemuxError(e, ErrorCode.STREAM_OPEN_TIMEOUT));
    assert.equal(h.connection.stats.openTimeouts, 1);
    await shutDown(h);
    assert.deepEqual(h.dialer.aborted, [1], 'close() aborted the dial in flight');
  });

  test('bad arguments and options are usage errors, before anything is dialed', async () => {
    assert.throws(() => new ResilientConnection({ target: TARGET, pingIntervalMs: 0 }), /pingIntervalMs 0 is outside 1\.\./);
    assert.throws(() => new ResilientConnection({ target: TARGET, protocol: 'http2' as never }), /protocol must be one of/);
    assert.throws(() => new ResilientConnection({ target: 42 as never }), /target must be/);
    assert.throws(() => new ResilientConnection({ target: TARGET, backoffInitialDelayMs: 500, backoffMaxDelayMs: 100 }), /backoffMaxDelayMs 100 is below/);
    const h = harness();
    await assert.rejects(h.connection.openPortStreams(0), (e: unknown) => isKubemuxError(e, ErrorCode.INVALID_ARGUMENT));
    await shutDown(h);
  });

  test('the caller aborts an open: AbortError with the reason as cause', async () => {
    const h = harness({}, (d) => d.queue.push('hang'));
    const controller = new AbortController();
    const opening = later(h.connection.openPortStreams(80, { signal: controller.signal }));
    controller.abort(new Error('user gave up'));
    await assert.rejects(opening, (e: unknown) => isKubemuxError(e, ErrorCode.ABORTED) && e.name === 'AbortError' && (e.cause as Error).message === 'user gave up');
    await shutDown(h);
  });
});

describe('ResilientConnection: liveness', () => {
  test('a half-open connection is detected within the ping interval plus the deadline, and replaced', async () => {
    const h = harness({ pingIntervalMs: 5000, pingTimeoutMs: 10_000 });
    await settle();
    const first = h.dialer.last;
    const pair = await h.connection.openPortStreams(80);
    const pairError = new Promise<unknown>((resolve) => pair.data.once('error', resolve));
    await h.clock.advance(5000); // one ping answered
    assert.equal(h.connection.stats.rttMs, 1);
    first.mode = 'blackhole';
    await h.clock.advance(5000 + 10_000 - 1);
    assert.equal(first.closed, false, 'not before the interval plus the deadline');
    await h.clock.advance(1);
    assert.equal(first.closed, true);
    const error = await pairError;
    assert.ok(isKubemuxError(error, ErrorCode.SESSION_CLOSED), 'the pair on the dead connection fails with a typed error');
    assert.equal(h.dialer.connections.length, 2);
    assert.equal(h.replacements.length, 1);
    const replacement = h.replacements[0]!;
    assert.equal(replacement.cause, 'connection-lost');
    assert.ok(isKubemuxError(replacement.error, ErrorCode.PING_TIMEOUT));
    assert.equal(replacement.detectedAfterMs, 15_000, 'from the last answered ping to the verdict');
    assert.equal(replacement.recoveredAfterMs, 0);
    assert.deepEqual(h.states.map((s) => s.state), ['ready', 'replacing', 'ready']);
    assert.equal(h.contexts.at(-1)!.reason, 'connection-lost');
    const next = await h.connection.openPortStreams(80);
    assert.equal((next.data as unknown) !== pair.data, true);
    next.data.destroy();
    await shutDown(h);
  });

  test('a connection busy receiving is not declared dead by a late ping answer', async () => {
    const h = harness({ pingIntervalMs: 1000, pingTimeoutMs: 2000 });
    await settle();
    const first = h.dialer.last;
    first.mode = 'blackhole';
    await h.clock.advance(1000 + 1000);
    first.receive(); // data arrived during the ping's window
    await h.clock.advance(1000);
    assert.equal(first.closed, false, 'frames arrived: the peer is alive, just slow to echo');
    await h.clock.advance(1000 + 2000); // the next ping: nothing arrives at all
    assert.equal(first.closed, true);
    await shutDown(h);
  });

  test('a slow but healthy connection (answers within the deadline) is never replaced', async () => {
    const h = harness({ pingIntervalMs: 1000, pingTimeoutMs: 2000 });
    await settle();
    const first = h.dialer.last;
    // Answers arrive 1.5 s late: under the 2 s deadline.
    first.ping = () => new Promise((resolve) => h.clock.setTimeout(() => resolve(1500), 1500));
    await h.clock.advance(60_000);
    assert.equal(first.closed, false);
    assert.equal(h.dialer.connections.length, 1);
    assert.equal(h.connection.stats.rttMs, 1500);
    await shutDown(h);
  });
});

describe('ResilientConnection: the open deadline and the probe', () => {
  test('one slow open fails alone; the probe clears the connection, which keeps its pairs', async () => {
    const h = harness({ openTimeoutMs: 5000, probeTimeoutMs: 2000 });
    await settle();
    const first = h.dialer.last;
    const healthyPair = await h.connection.openPortStreams(80);
    first.mode = 'stall';
    const slow = later(h.connection.openPortStreams(80));
    await h.clock.advance(5000);
    await assert.rejects(slow, (e: unknown) => isKubemuxError(e, ErrorCode.STREAM_OPEN_TIMEOUT) && e.scope === 'stream');
    await settle();
    assert.deepEqual(h.states.map((s) => s.state), ['ready', 'suspect', 'ready'], 'suspect, probed, cleared');
    assert.equal(first.closed, false);
    assert.equal(healthyPair.data.destroyed, false, 'the pair already open is untouched');
    first.mode = 'healthy';
    const ok = await h.connection.openPortStreams(80);
    ok.data.destroy();
    healthyPair.data.destroy();
    await shutDown(h);
  });

  test('opens that keep timing out while pings succeed: a stalled runtime, replaced make-before-break', async () => {
    const h = harness({ openTimeoutMs: 5000, stalledOpenLimit: 2 });
    await settle();
    const first = h.dialer.last;
    const oldPair = await h.connection.openPortStreams(80);
    first.mode = 'stall';
    for (let i = 0; i < 2; i++) {
      const opening = later(h.connection.openPortStreams(80));
      await h.clock.advance(5000);
      await assert.rejects(opening, (e: unknown) => isKubemuxError(e, ErrorCode.STREAM_OPEN_TIMEOUT));
    }
    await settle();
    assert.equal(h.dialer.connections.length, 2, 'a replacement was dialed');
    assert.equal(first.acceptingStreams, false, 'the stalled connection drains');
    assert.equal(first.closed, false, 'its open pair keeps it open');
    assert.equal(h.replacements[0]!.cause, 'stalled');
    assert.equal(h.contexts.at(-1)!.reason, 'stalled');
    const fresh = await h.connection.openPortStreams(80);
    assert.equal(h.dialer.last.openPairs, 1, 'new pairs go to the new connection');
    oldPair.data.destroy();
    await settle();
    assert.equal(first.closed, true, 'the old one closes once its pairs are done');
    fresh.data.destroy();
    await shutDown(h);
  });

  test('a probe that is not answered condemns the connection at once', async () => {
    const h = harness({ openTimeoutMs: 5000, probeTimeoutMs: 2000, pingIntervalMs: 60_000 });
    await settle();
    const first = h.dialer.last;
    first.mode = 'blackhole';
    const opening = later(h.connection.openPortStreams(80));
    await h.clock.advance(5000);
    await assert.rejects(opening);
    await h.clock.advance(2000);
    assert.equal(first.closed, true);
    assert.equal(h.dialer.connections.length, 2);
    assert.ok(isKubemuxError(h.replacements[0]!.error, ErrorCode.PING_TIMEOUT));
    await shutDown(h);
  });
});

describe('ResilientConnection: replacement', () => {
  test('GOAWAY: new pairs go to a new connection, pairs on the old one finish', async () => {
    const h = harness();
    await settle();
    const first = h.dialer.last;
    const oldPair = await h.connection.openPortStreams(80);
    first.goAway();
    await settle();
    assert.equal(h.dialer.connections.length, 2);
    assert.equal(h.replacements[0]!.cause, 'draining');
    assert.deepEqual(h.states.map((s) => s.state), ['ready', 'draining', 'ready']);
    const newPair = await h.connection.openPortStreams(80);
    assert.equal(h.dialer.last.openPairs, 1);
    assert.equal(oldPair.data.destroyed, false);
    assert.equal(h.connection.stats.connections, 2);
    oldPair.data.destroy();
    await settle();
    assert.equal(first.closed, true);
    assert.equal(h.connection.stats.connections, 1);
    newPair.data.destroy();
    await shutDown(h);
  });

  test('an open in flight on a connection that dies is retried on the replacement, once', async () => {
    const h = harness();
    await settle();
    const first = h.dialer.last;
    first.mode = 'stall';
    const opening = later(h.connection.openPortStreams(80, { timeoutMs: 5000 }));
    await h.clock.advance(100);
    first.destroy(new KubemuxError(ErrorCode.TRANSPORT_CLOSED, 'transport', 'reset by peer'));
    const pair = await opening;
    assert.equal(h.dialer.last.openPairs, 1, 'the open landed on the replacement');
    assert.equal(h.dialer.connections.length, 2);
    pair.data.destroy();
    await shutDown(h);
  });

  test('a connection that keeps dying young backs off instead of re-dialing in a loop', async () => {
    const h = harness({ healthyAfterMs: 30_000 });
    await settle();
    h.dialer.last.destroy(failure(ErrorCode.TRANSPORT_CLOSED));
    await settle();
    assert.equal(h.dialer.connections.length, 2, 'the first loss is replaced at once');
    h.dialer.last.destroy(failure(ErrorCode.TRANSPORT_CLOSED));
    await settle();
    assert.equal(h.dialer.connections.length, 2, 'the second loss in a row waits');
    assert.equal(h.connection.state, 'backing-off');
    assert.equal(h.states.at(-1)!.delayMs, 100, 'random 0.5 x ceiling 200 ms');
    await h.clock.advance(100);
    assert.equal(h.dialer.connections.length, 3);
    assert.equal(h.connection.state, 'ready');
    await shutDown(h);
  });

  test('one dial in flight at most, whatever the number of waiting opens', async () => {
    const h = harness({}, (d) => d.queue.push('hang'));
    const opens = Array.from({ length: 20 }, () => later(h.connection.openPortStreams(80, { timeoutMs: 100 })));
    await h.clock.advance(100);
    for (const open of opens) await assert.rejects(open);
    assert.equal(h.dialer.maxInFlight, 1);
    await shutDown(h);
  });
});

describe('ResilientConnection: re-dial policy', () => {
  test('transient failures back off with full jitter up to the cap; opens fail at once meanwhile', async () => {
    const h = harness({ backoffInitialDelayMs: 100, backoffMaxDelayMs: 1000 }, (d) => {
      d.outcome = { error: failure(ErrorCode.UPGRADE_REFUSED, 503) };
    });
    await settle();
    assert.equal(h.connection.state, 'backing-off');
    await assert.rejects(h.connection.openPortStreams(80), (e: unknown) => isKubemuxError(e, ErrorCode.UNAVAILABLE) && isKubemuxError(e.cause, ErrorCode.UPGRADE_REFUSED));
    const delays: number[] = [];
    for (let i = 0; i < 6; i++) {
      delays.push(h.failures.at(-1)!.delayMs!);
      await h.clock.advance(h.failures.at(-1)!.delayMs!);
    }
    assert.deepEqual(delays, [50, 100, 200, 400, 500, 500], 'random 0.5 x min(1000, 100 x 2^n)');
    assert.ok(h.failures.every((f) => f.kind === 'transient'));
    h.dialer.outcome = { mode: 'healthy' };
    await h.clock.advance(500);
    assert.equal(h.connection.state, 'ready');
    assert.equal(h.connection.stats.dialFailures, 7);
    await shutDown(h);
  });

  test('401: one immediate re-dial with fresh credentials, then unauthorized at the backoff cap', async () => {
    const h = harness({ backoffMaxDelayMs: 5000 }, (d) => {
      d.outcome = { error: failure(ErrorCode.UPGRADE_REFUSED, 401) };
    });
    await settle();
    assert.deepEqual(h.contexts.map((c) => c.reason), ['initial', 'credentials-rejected']);
    assert.equal(h.connection.state, 'unauthorized');
    assert.equal(h.states.at(-1)!.delayMs, 5000);
    await h.clock.advance(5000);
    assert.equal(h.contexts.length, 3);
    h.dialer.outcome = { mode: 'healthy' };
    await h.clock.advance(5000);
    assert.equal(h.connection.state, 'ready');
    await shutDown(h);
  });

  test('404 or a missing target: target-missing, and the target is resolved again', async () => {
    const h = harness({}, (d) => {
      d.queue.push({ error: failure(ErrorCode.UPGRADE_REFUSED, 404) }, { error: new KubemuxError(ErrorCode.TARGET_NOT_FOUND, 'session', 'no pod') });
    });
    await settle();
    assert.equal(h.connection.state, 'target-missing');
    await h.clock.advance(50);
    assert.equal(h.connection.state, 'target-missing');
    await h.clock.advance(100);
    assert.equal(h.connection.state, 'ready');
    assert.deepEqual(h.contexts.map((c) => c.reason), ['initial', 'target-missing', 'target-missing']);
    await shutDown(h);
  });

  test('a usage error before any connection worked is fatal: closed with the error', async () => {
    const h = harness({}, (d) => {
      d.outcome = { error: failure(ErrorCode.INVALID_ARGUMENT) };
    });
    const closed = new Promise<unknown>((resolve) => h.connection.once('close', resolve));
    await settle();
    assert.ok(isKubemuxError(await closed, ErrorCode.INVALID_ARGUMENT));
    assert.equal(h.connection.state, 'closed');
    await assert.rejects(h.connection.openPortStreams(80), (e: unknown) => isKubemuxError(e, ErrorCode.SESSION_CLOSED));
    assert.equal(h.clock.pending, 0);
  });
});

describe('ResilientConnection: more connections at a stream limit', () => {
  test('pairs beyond a connection\'s limit go to extra connections, which close again when idle', async () => {
    const h = harness({ extraConnectionIdleMs: 1000 }, (d) => {
      d.maxPairs = 2;
    });
    await settle();
    const pairs = [];
    for (let i = 0; i < 5; i++) pairs.push(await h.connection.openPortStreams(80));
    assert.equal(h.dialer.connections.length, 3, '2 + 2 + 1 pairs');
    assert.deepEqual(h.dialer.connections.map((c) => c.openPairs), [2, 2, 1]);
    assert.deepEqual(h.contexts.map((c) => c.reason), ['initial', 'capacity', 'capacity']);
    assert.equal(h.connection.stats.connections, 3);
    assert.equal(h.replacements.length, 0, 'growing is not a replacement');
    assert.deepEqual(h.states.map((s) => s.state), ['ready']);
    for (const pair of pairs) pair.data.destroy();
    await settle();
    await h.clock.advance(999);
    assert.equal(h.connection.stats.connections, 3, 'not before the idle time');
    await h.clock.advance(1);
    assert.equal(h.connection.stats.connections, 1, 'the extra connections closed');
    const again = await h.connection.openPortStreams(80);
    again.data.destroy();
    await shutDown(h);
  });

  test('at maxConnections, every connection full: ERR_STREAM_LIMIT for that pair only', async () => {
    const h = harness({ maxConnections: 2 }, (d) => {
      d.maxPairs = 1;
    });
    await settle();
    const a = await h.connection.openPortStreams(80);
    const b = await h.connection.openPortStreams(80);
    await assert.rejects(h.connection.openPortStreams(80), (e: unknown) => isKubemuxError(e, ErrorCode.STREAM_LIMIT) && e.scope === 'stream');
    a.data.destroy();
    await settle();
    const c = await h.connection.openPortStreams(80);
    b.data.destroy();
    c.data.destroy();
    await shutDown(h);
  });
});

describe('ResilientConnection: regressions found by the model test', () => {
  test('a growth dial fails, then the last connection dies: one retry timer, not two (the first leaked past close)', async () => {
    const h = harness({}, (d) => {
      d.maxPairs = 1;
    });
    await settle();
    const pair = await h.connection.openPortStreams(80);
    pair.data.on('error', () => {}); // it fails with its connection below
    h.dialer.outcome = { error: failure(ErrorCode.CONNECT_FAILED) };
    await assert.rejects(h.connection.openPortStreams(80), (e: unknown) => isKubemuxError(e, ErrorCode.UNAVAILABLE));
    assert.equal(h.clock.pending, 2, 'the lane\'s next ping and one retry');
    h.dialer.connections[0]!.destroy(failure(ErrorCode.TRANSPORT_CLOSED));
    await settle();
    assert.equal(h.connection.state, 'backing-off');
    assert.equal(h.clock.pending, 1, 'only the newest retry is scheduled');
    await h.connection.destroy();
    assert.equal(h.clock.pending, 0);
  });
});

describe('ResilientConnection: close', () => {
  test('close() is graceful: pairs finish, then the connection closes; destroy() fails them', async () => {
    const h = harness();
    await settle();
    const pair = await h.connection.openPortStreams(80);
    let closed = false;
    const closing = h.connection.close().then(() => (closed = true));
    await settle();
    assert.equal(closed, false, 'waits for the open pair');
    await assert.rejects(h.connection.openPortStreams(80), (e: unknown) => isKubemuxError(e, ErrorCode.SESSION_CLOSED));
    pair.data.destroy();
    await closing;
    assert.equal(h.clock.pending, 0);
    const h2 = harness();
    await settle();
    const pair2 = await h2.connection.openPortStreams(80);
    const failed = new Promise<unknown>((resolve) => pair2.data.once('error', resolve));
    await h2.connection.destroy();
    assert.ok(isKubemuxError(await failed, ErrorCode.SESSION_CLOSED));
    assert.equal(h2.clock.pending, 0);
  });

  test('close() during backoff clears the retry timer', async () => {
    const h = harness({}, (d) => {
      d.outcome = { error: failure(ErrorCode.CONNECT_FAILED) };
    });
    await settle();
    assert.equal(h.connection.state, 'backing-off');
    await h.connection.close();
    assert.equal(h.clock.pending, 0);
  });
});
