/**
 * REMOTE port → pod port, kubectl's rules and messages: container ports by number or name (init
 * containers too), service ports by number or name to their targetPort (number, name, absent,
 * headless), UDP-only ports refused, malformed ports refused.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isKubemuxError } from '../../../src/errors.js';
import { podFromJson, serviceFromJson } from '../../../src/resilience/api-objects.js';
import { podPortResolver, servicePortResolver } from '../../../src/resilience/port-resolution.js';

const pod = podFromJson({
  metadata: { name: 'web-1' },
  spec: {
    containers: [
      { name: 'app', ports: [{ name: 'http', containerPort: 8080, protocol: 'TCP' }, { name: 'metrics', containerPort: 9090 }] },
      { name: 'dns', ports: [{ name: 'dns-udp', containerPort: 53, protocol: 'UDP' }, { name: 'both-udp', containerPort: 5353, protocol: 'UDP' }, { name: 'both-tcp', containerPort: 5353, protocol: 'TCP' }] },
    ],
    initContainers: [{ name: 'init', ports: [{ name: 'debug', containerPort: 7000, protocol: 'TCP' }] }],
  },
});

const service = (spec: Record<string, unknown>): ReturnType<typeof serviceFromJson> => serviceFromJson({ metadata: { name: 'web' }, spec: { selector: { app: 'web' }, ...spec } });

function throwsWith(fn: () => unknown, code: string, message: string, scope?: string): void {
  assert.throws(fn, (err) => {
    assert.ok(isKubemuxError(err), String(err));
    assert.equal(err.code, code);
    assert.equal(err.message, message);
    if (scope !== undefined) assert.equal(err.scope, scope);
    return true;
  });
}

test('pod ports: numbers as they are (declared or not), names through the containers then init containers', () => {
  const resolve = podPortResolver(pod);
  assert.equal(resolve(8080), 8080);
  assert.equal(resolve('8080'), 8080);
  assert.equal(resolve(12345), 12345, 'kubectl forwards to undeclared ports too');
  assert.equal(resolve('http'), 8080);
  assert.equal(resolve('metrics'), 9090, 'protocol defaults to TCP');
  assert.equal(resolve('debug'), 7000);
  assert.equal(resolve('both-udp'), 5353, 'a port also declared TCP is forwardable');
  throwsWith(() => resolve('grpc'), 'ERR_TARGET_NOT_FOUND', "Pod 'web-1' does not have a named port 'grpc'", 'stream');
  throwsWith(() => resolve(53), 'ERR_INVALID_ARGUMENT', 'UDP protocol is not supported for 53', 'usage');
  throwsWith(() => resolve('dns-udp'), 'ERR_INVALID_ARGUMENT', 'UDP protocol is not supported for dns-udp');
});

test('malformed remote ports are usage errors', () => {
  const resolve = podPortResolver(pod);
  throwsWith(() => resolve(''), 'ERR_INVALID_ARGUMENT', 'remote port cannot be empty', 'usage');
  throwsWith(() => resolve(0), 'ERR_INVALID_ARGUMENT', 'remote port must be > 0');
  throwsWith(() => resolve('0'), 'ERR_INVALID_ARGUMENT', 'remote port must be > 0');
  throwsWith(() => resolve(65_536), 'ERR_INVALID_ARGUMENT', 'remote port 65536 is outside 1..65535');
  throwsWith(() => resolve(80.5), 'ERR_INVALID_ARGUMENT', 'remote port 80.5 is outside 1..65535');
  throwsWith(() => resolve(null as unknown as number), 'ERR_INVALID_ARGUMENT', 'a remote port is a number or a port name, got object');
});

test('service ports: by number or name, to a numeric targetPort, a named one in the pod, or the port itself', () => {
  const svc = service({
    clusterIP: '10.96.0.10',
    ports: [
      { name: 'http', port: 80, targetPort: 'http', protocol: 'TCP' },
      { name: 'admin', port: 81, targetPort: 9090, protocol: 'TCP' },
      { name: 'plain', port: 8443, protocol: 'TCP' },
      { name: 'zero', port: 8444, targetPort: 0, protocol: 'TCP' },
      { name: 'grpc', port: 82, targetPort: 'grpc', protocol: 'TCP' },
      { name: 'dns', port: 53, targetPort: 53, protocol: 'UDP' },
    ],
  });
  const resolve = servicePortResolver(svc, pod);
  assert.equal(resolve(80), 8080);
  assert.equal(resolve('http'), 8080);
  assert.equal(resolve('80'), 8080);
  assert.equal(resolve(81), 9090);
  assert.equal(resolve('admin'), 9090);
  assert.equal(resolve(8443), 8443, 'no targetPort: the port itself');
  assert.equal(resolve('zero'), 8444, 'targetPort 0 is omitted');
  throwsWith(() => resolve(8080), 'ERR_TARGET_NOT_FOUND', 'Service web does not have a service port 8080', 'stream');
  throwsWith(() => resolve('metrics'), 'ERR_TARGET_NOT_FOUND', "Service 'web' does not have a named port 'metrics'", 'stream');
  throwsWith(() => resolve('grpc'), 'ERR_TARGET_NOT_FOUND', "Pod 'web-1' does not have a named port 'grpc'");
  throwsWith(() => resolve(53), 'ERR_INVALID_ARGUMENT', 'UDP protocol is not supported for 53');
  throwsWith(() => resolve('dns'), 'ERR_INVALID_ARGUMENT', 'UDP protocol is not supported for dns');
});

test('a headless service forwards to the service port itself; a string targetPort is always a name', () => {
  const headless = servicePortResolver(service({ clusterIP: 'None', ports: [{ name: 'http', port: 80, targetPort: 'nowhere' }] }), pod);
  assert.equal(headless(80), 80);
  const quoted = servicePortResolver(service({ ports: [{ port: 80, targetPort: '8080' }] }), pod);
  throwsWith(() => quoted(80), 'ERR_TARGET_NOT_FOUND', "Pod 'web-1' does not have a named port '8080'");
});
