/** Port specs and listen addresses: kubectl's rules, checked before anything is bound. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ErrorCode, KubemuxError } from '../../../src/errors.js';
import { PortForwarder, parsePortSpec, isPortName } from '../../../src/forwarder/index.js';
import { parseListenAddresses } from '../../../src/forwarder/listen-address.js';
import type { PortStreamOpener } from '../../../src/transport/port-forward-connection.js';

/** An opener that must never be used: these tests never get as far as a connection. */
const unusedOpener: PortStreamOpener = {
  openPortStreams: () => Promise.reject(new Error('no pair should be opened')),
};

function usageError(pattern: RegExp): (error: unknown) => boolean {
  return (error) => {
    assert.ok(error instanceof KubemuxError, String(error));
    assert.equal(error.code, ErrorCode.INVALID_ARGUMENT);
    assert.equal(error.scope, 'usage');
    assert.match(error.message, pattern);
    return true;
  };
}

test("kubectl's port spec forms", () => {
  assert.deepEqual(parsePortSpec('8080'), { text: '"8080"', local: undefined, remote: 8080 });
  assert.deepEqual(parsePortSpec('9000:80'), { text: '"9000:80"', local: 9000, remote: 80 });
  assert.deepEqual(parsePortSpec(':80'), { text: '":80"', local: 0, remote: 80 });
  assert.deepEqual(parsePortSpec('0:80'), { text: '"0:80"', local: 0, remote: 80 });
  assert.deepEqual(parsePortSpec('http'), { text: '"http"', local: undefined, remote: 'http' });
  assert.deepEqual(parsePortSpec('9000:http'), { text: '"9000:http"', local: 9000, remote: 'http' });
  assert.deepEqual(parsePortSpec('65535:1'), { text: '"65535:1"', local: 65535, remote: 1 });
  assert.deepEqual(parsePortSpec('008080'), { text: '"008080"', local: undefined, remote: 8080 });
  assert.deepEqual(parsePortSpec({ remote: 80 }), { text: '{ remote: 80 }', local: undefined, remote: 80 });
  assert.deepEqual(parsePortSpec({ local: 0, remote: 'db' }), { text: '{ local: 0, remote: "db" }', local: 0, remote: 'db' });
  assert.deepEqual(parsePortSpec({ local: 9000, remote: '80' }), { text: '{ local: 9000, remote: "80" }', local: 9000, remote: 80 });
});

test('bad port specs are usage errors naming the spec and the rule', () => {
  const cases: Array<[Parameters<typeof parsePortSpec>[0], RegExp]> = [
    ['1:2:3', /"1:2:3": more than one ":"/],
    ['0', /"0": remote port must be > 0/],
    ['8080:0', /"8080:0": remote port must be > 0/],
    ['65536', /"65536": remote port "65536" is outside 1\.\.65535/],
    ['65536:80', /"65536:80": local port "65536" is not a port number in 0\.\.65535/],
    ['-1:80', /local port "-1"/],
    ['+80', /remote port "\+80" is neither a port number in 1\.\.65535 nor a port name/],
    ['', /remote port "" is neither/],
    [':', /remote port "" is neither/],
    ['x:80', /local port "x"/],
    ['HTTP', /remote port "HTTP" is neither/],
    ['a--b', /"a--b" is neither/],
    ['-http', /"-http" is neither/],
    ['http-', /"http-" is neither/],
    ['sixteen-chars-xx', /"sixteen-chars-xx" is neither/],
    [{ remote: 0 }, /remote port must be > 0/],
    [{ local: -1, remote: 80 }, /local port -1/],
    [{ local: 1.5, remote: 80 }, /local port 1\.5/],
    [{ remote: 70000 }, /remote port 70000 is outside/],
    [{ remote: true } as never, /remote must be a port number or a port name/],
    [42 as never, /expected a string/],
  ];
  for (const [spec, pattern] of cases) assert.throws(() => parsePortSpec(spec), usageError(pattern), JSON.stringify(spec));
});

test('port names follow IANA_SVC_NAME', () => {
  for (const name of ['http', 'db', 'h2c', 'web-admin', 'a', '8080x', 'fifteen-chars-x']) assert.equal(isPortName(name), true, name);
  for (const name of ['', '8080', 'HTTP', 'a--b', '-a', 'a-', 'a_b', 'sixteen-chars-xx']) assert.equal(isPortName(name), false, name);
});

test('the constructor validates every option before binding anything (it throws at once)', () => {
  assert.throws(() => new PortForwarder({ opener: unusedOpener, ports: ['0:80', '1:2:3'] }), usageError(/"1:2:3"/));
  assert.throws(() => new PortForwarder({ opener: unusedOpener, ports: [] }), usageError(/at least one port/));
  assert.throws(() => new PortForwarder({ opener: unusedOpener, ports: ['0:http'] }), usageError(/port name "http" needs a resolvePort hook/));
  assert.throws(() => new PortForwarder({ opener: unusedOpener, ports: ['0:80'], addresses: ['example.com'] }), usageError(/address "example\.com" is neither "localhost" nor an IP address/));
  assert.throws(() => new PortForwarder({ opener: unusedOpener, ports: ['0:80'], addresses: [] }), usageError(/addresses must list at least one/));
  assert.throws(() => new PortForwarder({ opener: unusedOpener, ports: ['0:80'], openTimeoutMs: 0 }), usageError(/openTimeoutMs 0 is outside 1\.\.2147483647/));
  assert.throws(() => new PortForwarder({ opener: {} as PortStreamOpener, ports: ['0:80'] }), usageError(/opener must have openPortStreams/));
});

test("listen addresses: localhost is 127.0.0.1 and ::1 in mode 'all'; IP literals in mode 'any'; kubectl's order", () => {
  assert.deepEqual(parseListenAddresses(['localhost']), [
    { address: '127.0.0.1', family: 4, failureMode: 'all' },
    { address: '::1', family: 6, failureMode: 'all' },
  ]);
  assert.deepEqual(parseListenAddresses(['::1', '10.1.2.3', '0.0.0.0']), [
    { address: '0.0.0.0', family: 4, failureMode: 'any' },
    { address: '10.1.2.3', family: 4, failureMode: 'any' },
    { address: '::1', family: 6, failureMode: 'any' },
  ]);
  // An address named explicitly keeps the stricter mode, in either order.
  for (const addresses of [['localhost', '127.0.0.1'], ['127.0.0.1', 'localhost']]) {
    assert.deepEqual(parseListenAddresses(addresses), [
      { address: '127.0.0.1', family: 4, failureMode: 'any' },
      { address: '::1', family: 6, failureMode: 'all' },
    ]);
  }
  assert.throws(() => parseListenAddresses(['[::1]']), usageError(/"\[::1\]"/));
  assert.throws(() => parseListenAddresses(['127.0.0.1:80']), usageError(/"127\.0\.0\.1:80"/));
});
