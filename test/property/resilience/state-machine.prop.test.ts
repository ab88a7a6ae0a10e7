/**
 * The resilience layer's state machine under random sequences of faults, opens, pair closes,
 * dial outcomes and time steps (fast-check), on a hand-driven clock and scripted connections, so
 * that every run is deterministic and a failing seed replays exactly.
 *
 * Invariants, checked after every step:
 *  - at most one dial is ever in flight;
 *  - never two connections taking new pairs at once (a draining one may coexist with its
 *    replacement), unless connections are at their stream limit, and then never more than
 *    maxConnections;
 *  - every openPortStreams settles by its own deadline;
 *  - the public state only moves along the documented transitions (the class throws otherwise,
 *    which would surface here as an uncaught error);
 * and at the end: close() (or destroy()) settles, no timer is left on the clock, and every
 * connection ever dialed is closed.
 *
 * Reproduce: KUBEMUX_FC_SEED=... KUBEMUX_FC_PATH=... node --test dist/test/property/resilience/state-machine.prop.test.js
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { ErrorCode, KubemuxError } from '../../../src/errors.js';
import { ResilientConnection } from '../../../src/resilience/resilient-connection.js';
import type { PortStreams } from '../../../src/transport/port-forward-connection.js';
import { FakeDialer, type DialOutcome, type FakeMode } from '../../support/fake-connection.js';
import { ManualClock, settle } from '../../support/manual-clock.js';

type Command =
  | { readonly kind: 'open'; readonly timeoutMs: number }
  | { readonly kind: 'advance'; readonly ms: number }
  | { readonly kind: 'mode'; readonly mode: FakeMode }
  | { readonly kind: 'goaway' }
  | { readonly kind: 'kill' }
  | { readonly kind: 'receive' }
  | { readonly kind: 'closePair'; readonly index: number }
  | { readonly kind: 'nextDial'; readonly outcome: 'ok' | 'transient' | '401' | '404' | 'hang' };

const command: fc.Arbitrary<Command> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('open' as const), timeoutMs: fc.integer({ min: 1, max: 8000 }) }) },
  { weight: 5, arbitrary: fc.record({ kind: fc.constant('advance' as const), ms: fc.oneof(fc.integer({ min: 0, max: 200 }), fc.integer({ min: 200, max: 20_000 })) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('mode' as const), mode: fc.constantFrom<FakeMode>('healthy', 'blackhole', 'stall', 'refusing') }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('goaway' as const) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('kill' as const) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('receive' as const) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('closePair' as const), index: fc.nat() }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('nextDial' as const), outcome: fc.constantFrom('ok' as const, 'transient' as const, '401' as const, '404' as const, 'hang' as const) }) },
);

function dialOutcome(outcome: 'ok' | 'transient' | '401' | '404' | 'hang'): DialOutcome {
  switch (outcome) {
    case 'ok':
      return { mode: 'healthy' };
    case 'hang':
      return 'hang';
    case 'transient':
      return { error: new KubemuxError(ErrorCode.CONNECT_FAILED, 'transport', 'connection refused') };
    case '401':
      return { error: new KubemuxError(ErrorCode.UPGRADE_REFUSED, 'transport', 'Unauthorized', { httpStatus: 401 }) };
    case '404':
      return { error: new KubemuxError(ErrorCode.UPGRADE_REFUSED, 'transport', 'not found', { httpStatus: 404 }) };
  }
}

interface TrackedOpen {
  readonly deadline: number;
  settled: boolean;
  pair?: PortStreams;
}

async function run(commands: readonly Command[], graceful: boolean, seed: number, maxPairs: number): Promise<void> {
  const clock = new ManualClock();
  const dialer = new FakeDialer();
  dialer.maxPairs = maxPairs;
  let jitter = seed;
  const connection = new ResilientConnection({
    target: { server: 'http://127.0.0.1:1', path: '/x' },
    dial: dialer.dial,
    clock,
    // A deterministic sequence in [0, 1): the run replays exactly.
    random: () => ((jitter = (jitter * 1103515245 + 12345) % 2147483648) / 2147483648),
    pingIntervalMs: 1000,
    pingTimeoutMs: 2000,
    openTimeoutMs: 3000,
    probeTimeoutMs: 500,
    backoffInitialDelayMs: 100,
    backoffMaxDelayMs: 2000,
    healthyAfterMs: 5000,
    maxConnections: 4,
    extraConnectionIdleMs: 2000,
  });
  const opens: TrackedOpen[] = [];
  const pairs: PortStreams[] = [];
  const check = (step: string): void => {
    assert.ok(dialer.maxInFlight <= 1, `${step}: ${dialer.maxInFlight} dials in flight`);
    const taking = dialer.connections.filter((c) => c.acceptingStreams && !c.closed);
    // More than one only when connections reach their stream limit, and never past maxConnections.
    if (maxPairs === Infinity) assert.ok(taking.length <= 1, `${step}: ${taking.length} connections take new pairs at once`);
    else assert.ok(taking.length <= 4, `${step}: ${taking.length} connections, over maxConnections`);
    for (const open of opens) assert.ok(open.settled || clock.now() < open.deadline, `${step}: an open passed its deadline (${open.deadline}) unsettled at ${clock.now()}`);
  };
  await settle();
  for (const [i, c] of commands.entries()) {
    const step = `step ${i} ${JSON.stringify(c)}`;
    switch (c.kind) {
      case 'open': {
        const tracked: TrackedOpen = { deadline: clock.now() + c.timeoutMs, settled: false };
        opens.push(tracked);
        connection.openPortStreams(80, { timeoutMs: c.timeoutMs }).then(
          (pair) => {
            tracked.settled = true;
            tracked.pair = pair;
            pairs.push(pair);
            pair.data.on('error', () => {});
          },
          (error: unknown) => {
            tracked.settled = true;
            assert.ok(error instanceof KubemuxError, `${step}: an open failed with ${String(error)}`);
          },
        );
        break;
      }
      case 'advance':
        await clock.advance(c.ms);
        break;
      case 'mode':
        if (dialer.connections.length > 0) dialer.last.mode = c.mode;
        break;
      case 'goaway':
        if (dialer.connections.length > 0) dialer.last.goAway();
        break;
      case 'kill':
        if (dialer.connections.length > 0) dialer.last.destroy(new KubemuxError(ErrorCode.TRANSPORT_CLOSED, 'transport', 'reset'));
        break;
      case 'receive':
        if (dialer.connections.length > 0) dialer.last.receive();
        break;
      case 'closePair':
        if (pairs.length > 0) pairs.splice(c.index % pairs.length, 1)[0]!.data.destroy();
        break;
      case 'nextDial':
        dialer.outcome = dialOutcome(c.outcome);
        break;
    }
    await settle(5);
    check(step);
  }
  // The end: give every open its deadline, then close.
  await clock.advance(10_000);
  check('after the last deadline');
  assert.ok(opens.every((o) => o.settled), 'every open settled');
  let closed = false;
  if (graceful) {
    for (const pair of pairs) pair.data.destroy();
    void connection.close().then(() => (closed = true));
  } else {
    void connection.destroy().then(() => (closed = true));
  }
  await clock.advance(0);
  await settle();
  assert.ok(closed, `${graceful ? 'close' : 'destroy'}() settled`);
  assert.equal(clock.pending, 0, 'no timer is left');
  assert.ok(dialer.connections.every((c) => c.closed), 'every connection is closed');
  assert.equal(connection.state, 'closed');
}

test('random faults, opens and time steps keep the invariants', async () => {
  const details = await fc.check(
    fc.asyncProperty(
      fc.array(command, { minLength: 1, maxLength: 60 }),
      fc.boolean(),
      fc.integer({ min: 1, max: 2 ** 30 }),
      fc.constantFrom(Infinity, 1, 2),
      (commands, graceful, seed, maxPairs) => run(commands, graceful, seed, maxPairs),
    ),
    {
      numRuns: Number(process.env.KUBEMUX_FC_RUNS ?? 150),
      ...(process.env.KUBEMUX_FC_SEED === undefined ? {} : { seed: Number(process.env.KUBEMUX_FC_SEED), path: process.env.KUBEMUX_FC_PATH }),
    },
  );
  // The test reporter prints no `cause`: the failure's own stack goes into the message.
  if (details.failed) assert.fail(`${fc.defaultReportMessage(details)}\n${details.errorInstance instanceof Error ? details.errorInstance.stack : String(details.errorInstance)}`);
});
