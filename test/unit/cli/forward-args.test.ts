/** `kubemux forward`'s arguments: kubectl's syntax, and one-line usage errors. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { formatDuration, parseDuration } from '../../../src/cli/duration.js';
import { parseForwardArguments, UsageError } from '../../../src/cli/forward-args.js';

describe('Go durations', () => {
  test('kubectl-style values parse to milliseconds', () => {
    assert.equal(parseDuration('0'), 0);
    assert.equal(parseDuration('5s'), 5000);
    assert.equal(parseDuration('1m0s'), 60_000);
    assert.equal(parseDuration('1.5s'), 1500);
    assert.equal(parseDuration('300ms'), 300);
    assert.equal(parseDuration('2h45m'), 9_900_000);
    assert.equal(parseDuration('1500us'), 2);
  });
  test('anything else is refused', () => {
    for (const bad of ['', '5', 's', '-5s', '5 s', '5sec', '1m0', 'ms5', '1e3s']) assert.equal(parseDuration(bad), undefined, bad);
  });
  test('printed as kubectl prints them', () => {
    assert.equal(formatDuration(60_000), '1m0s');
    assert.equal(formatDuration(5_000), '5s');
    assert.equal(formatDuration(300), '300ms');
    assert.equal(formatDuration(3_723_000), '1h2m3s');
  });
});

describe('parseForwardArguments', () => {
  test('kubectl port-forward arguments, in any order', () => {
    const args = parseForwardArguments(['svc/web', '8080:80', '-n', 'shop', ':443', '--address', '127.0.0.1,::1', '--context=prod', '--pod-running-timeout=30s']);
    assert.equal(args.target, 'svc/web');
    assert.deepEqual(args.ports, ['8080:80', ':443']);
    assert.equal(args.namespace, 'shop');
    assert.equal(args.context, 'prod');
    assert.deepEqual(args.addresses, ['127.0.0.1', '::1']);
    assert.equal(args.podRunningTimeoutMs, 30_000);
    assert.equal(args.protocol, 'auto');
  });
  test('defaults: localhost, 1m0s, auto, 5s pings with a 10s deadline, plain output', () => {
    const args = parseForwardArguments(['pod/demo', '8080']);
    assert.deepEqual(args.addresses, ['localhost']);
    assert.equal(args.podRunningTimeoutMs, 60_000);
    assert.equal(args.pingIntervalMs, 5000);
    assert.equal(args.pingTimeoutMs, 10_000);
    assert.equal(args.json, false);
  });
  test("kubemux's own flags", () => {
    const args = parseForwardArguments(['demo', '80', '--protocol', 'v4', '--ping-interval', '1s', '--ping-timeout', '2500ms', '--json', '--address', 'localhost', '--address', '10.0.0.1']);
    assert.equal(args.protocol, 'websocket-v4');
    assert.equal(args.pingIntervalMs, 1000);
    assert.equal(args.pingTimeoutMs, 2500);
    assert.equal(args.json, true);
    assert.deepEqual(args.addresses, ['localhost', '10.0.0.1']);
    assert.equal(parseForwardArguments(['demo', '80', '--protocol=websocket']).protocol, 'websocket-tunnel');
  });
  test('--help needs no positionals', () => {
    assert.equal(parseForwardArguments(['--help']).help, true);
    assert.equal(parseForwardArguments(['-h']).help, true);
  });
  test('usage errors are one line, naming what is wrong', () => {
    const cases: Array<[string[], RegExp]> = [
      [[], /TYPE\/NAME and a list of ports are required/],
      [['pod/demo'], /at least 1 PORT is required/],
      [['pod/demo', '80', '--bogus'], /Unknown option '--bogus'/],
      [['pod/demo', '80', '--protocol', 'quic'], /--protocol must be one of auto, websocket, spdy, v4, got "quic"/],
      [['pod/demo', '80', '--ping-interval', '5'], /invalid argument "5" for "--ping-interval" flag/],
      [['pod/demo', '80', '--pod-running-timeout', 'soon'], /invalid argument "soon" for "--pod-running-timeout"/],
      [['pod/demo', '80', '--address', ''], /--address must not be empty/],
      [['pod/demo', '80', '-n'], /Option '-n, --namespace <value>' argument missing/],
    ];
    for (const [argv, message] of cases) {
      assert.throws(
        () => parseForwardArguments(argv),
        (error: unknown) => error instanceof UsageError && message.test(error.message) && !error.message.includes('\n'),
        `${argv.join(' ')} -> ${message}`,
      );
    }
  });
});
