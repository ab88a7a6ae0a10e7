/**
 * The contracts every public transport call keeps, checked across the class of defects rather
 * than one instance each:
 *
 * - every failure is a KubemuxError delivered the way the API promises (an async call rejects,
 *   it never throws; a sync one throws a KubemuxError, never a TypeError or URIError);
 * - a value of the wrong type is named by its type;
 * - an answer that is not HTTP is ERR_PROTOCOL at once, never a reason to try another protocol;
 * - under 'auto', an error names the protocol that was refused;
 * - no error carries a credential, not even in its cause;
 * - TLS is verified unless the caller says otherwise, whatever NODE_TLS_REJECT_UNAUTHORIZED says.
 */
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { join } from 'node:path';
import { describe, test, type TestContext } from 'node:test';
import { inspect } from 'node:util';
import { ErrorCode, KubemuxError } from '../../../src/errors.js';
import { generateCertificates } from '../../../src/server/certificates.js';
import { apiGet } from '../../../src/transport/api/api-request.js';
import { proxyFromEnvironment } from '../../../src/transport/api/connect.js';
import { dialPortForward } from '../../../src/transport/dial.js';
import { fromKubeConfig } from '../../../src/transport/api/kubeconfig.js';
import type { PortForwardProtocol } from '../../../src/transport/port-forward-connection.js';
import { portForwardPath, requestUrl, type UpgradeTarget } from '../../../src/transport/api/request-target.js';
import { dialSpdy } from '../../../src/transport/spdy/upgrade.js';
import { dialWebSocketTunnel } from '../../../src/transport/tunnel/dial.js';
import { WebSocketV4Connection } from '../../../src/transport/v4/connection.js';
import { kubeconfig, listenLoopback, tempDir, writeJson } from '../../support/kube-fixtures.js';
import { startDemoCluster } from '../../support/servers.js';

const PATH = portForwardPath('default', 'demo');
const SECRET = 'kubemux-contract-secret-7c1d';

function usageError(pattern: RegExp) {
  return (error: unknown): boolean => {
    assert.ok(error instanceof KubemuxError, `not a KubemuxError: ${String(error)}`);
    assert.equal(error.code, ErrorCode.INVALID_ARGUMENT);
    assert.equal(error.scope, 'usage');
    assert.match(error.message, pattern);
    assert.ok(!inspect(error, { depth: 10 }).includes(SECRET), 'the error holds the secret');
    return true;
  };
}

/** Calls an async API and asserts that it returned a promise (rather than throwing), which rejects as `check` says. */
async function rejectsWithoutThrowing(call: () => Promise<unknown>, check: (error: unknown) => boolean): Promise<void> {
  let promise: Promise<unknown> | undefined;
  assert.doesNotThrow(() => {
    promise = call();
  });
  await assert.rejects(promise!, check);
}

/** A server that counts connections and answers every one with `answer` (bytes that are not HTTP). */
async function rawServer(t: TestContext, answer: string | Buffer): Promise<{ url: string; connections(): number }> {
  let connections = 0;
  const server = net.createServer((socket) => {
    connections++;
    socket.on('error', () => socket.destroy());
    socket.end(answer);
  });
  const port = await listenLoopback(t, server);
  return { url: `http://127.0.0.1:${port}`, connections: () => connections };
}

describe('failures are KubemuxErrors, delivered as promised', () => {
  test('an invalid server URL: async calls reject, sync ones throw, and none repeats the URL', async () => {
    const server = `https://user:${SECRET}@[not-a-host`;
    await rejectsWithoutThrowing(() => apiGet({ server }, '/api'), usageError(/^the server URL is not a valid URL$/));
    await rejectsWithoutThrowing(() => dialSpdy({ server, path: PATH }), usageError(/^the server URL is not a valid URL$/));
    await rejectsWithoutThrowing(() => dialWebSocketTunnel({ server, path: PATH }), usageError(/^the server URL is not a valid URL$/));
    await rejectsWithoutThrowing(() => dialPortForward({ server, path: PATH }), usageError(/^the server URL is not a valid URL$/));
    assert.throws(() => requestUrl(server, '/api'), usageError(/^the server URL is not a valid URL$/));
    assert.throws(() => proxyFromEnvironment(server, { HTTPS_PROXY: 'http://proxy:3128' }), usageError(/^the server URL is not a valid URL$/));
    assert.throws(() => new WebSocketV4Connection({ server, path: PATH }), usageError(/not a valid URL/));
  });

  test('a proxy URL with a bad percent-escape in its credentials: a usage error, not a URIError, and the password is not repeated', async () => {
    const proxy = `http://user:${SECRET}%zz@127.0.0.1:3128`;
    const expected = usageError(/^the proxy URL has a bad percent-escape in its user name or password$/);
    await rejectsWithoutThrowing(() => dialSpdy({ server: 'http://127.0.0.1:1', path: PATH, proxy }), expected);
    await rejectsWithoutThrowing(() => apiGet({ server: 'http://127.0.0.1:1', proxy }, '/api'), expected);
    await rejectsWithoutThrowing(() => dialPortForward({ server: 'http://127.0.0.1:1', path: PATH, proxy }, { protocol: 'websocket-v4' }).then((c) => c.openPortStreams(8080)), expected);
  });

  test('a value of the wrong type is named by its type, before anything is sent', async (t) => {
    const server = await rawServer(t, 'unused');
    const target: UpgradeTarget = { server: server.url, path: PATH };
    await rejectsWithoutThrowing(() => dialSpdy({ ...target, upgradeTimeoutMs: '5000' as never }), usageError(/^upgradeTimeoutMs must be an integer, got string$/));
    await rejectsWithoutThrowing(() => dialSpdy({ ...target, connectTimeoutMs: 1.5 }), usageError(/^connectTimeoutMs must be an integer, got 1\.5$/));
    await rejectsWithoutThrowing(() => apiGet(target, '/api', { timeoutMs: null as never }), usageError(/^timeoutMs must be an integer, got null$/));
    await rejectsWithoutThrowing(() => apiGet(target, '/api', { maxBodyBytes: -1 }), usageError(/^maxBodyBytes -1 is outside 0\.\.\d+$/));
    const v4 = new WebSocketV4Connection(target);
    await rejectsWithoutThrowing(() => v4.openPortStreams('8080' as never), usageError(/^port must be an integer, got string$/));
    await rejectsWithoutThrowing(() => v4.openPortStreams(70_000), usageError(/^port 70000 is outside 1\.\.65535$/));
    await rejectsWithoutThrowing(() => v4.openPortStreams(8080, { timeoutMs: '100' as never }), usageError(/^timeoutMs must be an integer, got string$/));
    assert.throws(() => new WebSocketV4Connection(target, { maxMessageBytes: '1' as never }), usageError(/^maxMessageBytes must be an integer, got string$/));
    assert.equal(server.connections(), 0);
  });
});

describe('an answer that is not HTTP', () => {
  const answers: Array<[string, string | Buffer]> = [
    ['an SSH banner', 'SSH-2.0-OpenSSH_9.6\r\n'],
    ['binary garbage', Buffer.from('16030100a5010000a10303', 'hex')],
  ];
  for (const [name, answer] of answers) {
    test(`${name}: 'auto' fails at once with ERR_PROTOCOL naming the server and the upgrade; nothing else is tried`, async (t) => {
      const server = await rawServer(t, answer);
      await assert.rejects(dialPortForward({ server: server.url, path: PATH }), (error: KubemuxError) => {
        assert.equal(error.code, ErrorCode.PROTOCOL);
        assert.equal(error.scope, 'transport');
        assert.match(error.message, /^the server at 127\.0\.0\.1:\d+ did not answer the WebSocket tunnel upgrade with HTTP \(/);
        return true;
      });
      assert.equal(server.connections(), 1);
    });
  }

  test('forced protocols fail the same way (v4 at its first pair)', async (t) => {
    const server = await rawServer(t, 'SSH-2.0-OpenSSH_9.6\r\n');
    for (const protocol of ['spdy', 'websocket-tunnel', 'websocket-v4'] as const satisfies readonly PortForwardProtocol[]) {
      const attempt = dialPortForward({ server: server.url, path: PATH }, { protocol }).then((connection) => connection.openPortStreams(8080));
      await assert.rejects(attempt, (error: KubemuxError) => error.code === ErrorCode.PROTOCOL && /did not answer the .* with HTTP/.test(error.message), protocol);
    }
    assert.equal(server.connections(), 3);
  });
});

describe("'auto' names the protocol that was refused", () => {
  test('the tunnel refused with 403, SPDY with 404: the error is SPDY\'s, and says so', async (t) => {
    const server = http.createServer((_req, res) => res.writeHead(404).end());
    server.on('upgrade', (req: http.IncomingMessage, socket: net.Socket) => {
      socket.on('error', () => socket.destroy());
      const tunnel = String(req.headers.upgrade).toLowerCase() === 'websocket';
      const status = tunnel ? 403 : 404;
      const body = JSON.stringify({ kind: 'Status', message: tunnel ? 'websocket tunnelling is disabled' : 'pods "demo" not found', code: status });
      socket.end(`HTTP/1.1 ${status} ${http.STATUS_CODES[status]}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
    });
    const port = await listenLoopback(t, server);
    await assert.rejects(dialPortForward({ server: `http://127.0.0.1:${port}`, path: PATH }), (error: KubemuxError) => {
      assert.equal(error.code, ErrorCode.UPGRADE_REFUSED);
      assert.equal(error.httpStatus, 404);
      assert.equal(error.message, 'the SPDY upgrade was refused with HTTP 404: pods "demo" not found');
      return true;
    });
  });
});

describe('no credential in any error, cause included', () => {
  test('a kubeconfig with a YAML error: the message has the line, util.inspect of the error has no token', async (t) => {
    const dir = await tempDir(t);
    const path = join(dir, 'config');
    await writeFile(path, `apiVersion: v1\nusers:\n- name: u\n  user:\n    token: ${SECRET}\n   bad: [indent\n`);
    await assert.rejects(fromKubeConfig({ kubeconfigPath: path }), (error: KubemuxError) => {
      assert.match(error.message, /invalid YAML at line \d+/);
      const printed = inspect(error, { depth: 10 });
      assert.ok(!printed.includes(SECRET), printed);
      // The cause survives, cleaned: the parser's name and the line, not its text.
      assert.ok(error.cause instanceof Error);
      assert.equal(error.cause.name, 'YAMLException');
      assert.match(error.cause.message, /at line \d+/);
      return true;
    });
  });

  test("an exec plugin that cannot be started: its arguments (a secret here) are not in the error's cause", async (t) => {
    const dir = await tempDir(t);
    const user = { exec: { apiVersion: 'client.authentication.k8s.io/v1', command: join(dir, 'no-such-plugin'), args: ['--secret', SECRET] } };
    const path = await writeJson(dir, 'config', kubeconfig({ name: 'c', cluster: { server: 'http://127.0.0.1:1' }, user }));
    await assert.rejects(fromKubeConfig({ kubeconfigPath: path }), (error: KubemuxError) => {
      assert.equal(error.code, ErrorCode.INVALID_ARGUMENT);
      assert.match(error.message, /authenticating as user "c-user" failed: .*ENOENT/);
      assert.equal((error.cause as NodeJS.ErrnoException | undefined)?.code, 'ENOENT');
      const printed = inspect(error, { depth: 10 });
      assert.ok(!printed.includes(SECRET), printed);
      return true;
    });
  });
});

describe('TLS verification cannot be switched off by the environment', () => {
  /** Runs `body` with NODE_TLS_REJECT_UNAUTHORIZED=0, restoring the variable afterwards. */
  async function withInsecureEnvironment(body: () => Promise<void>): Promise<void> {
    const saved = process.env['NODE_TLS_REJECT_UNAUTHORIZED'];
    process.env['NODE_TLS_REJECT_UNAUTHORIZED'] = '0';
    try {
      await body();
    } finally {
      if (saved === undefined) delete process.env['NODE_TLS_REJECT_UNAUTHORIZED'];
      else process.env['NODE_TLS_REJECT_UNAUTHORIZED'] = saved;
    }
  }

  const isTlsError = (error: KubemuxError): boolean => error.code === ErrorCode.TLS;

  test('hand-built targets without rejectUnauthorized are verified; only rejectUnauthorized: false turns it off', async (t) => {
    const demo = await startDemoCluster({ tls: true });
    t.after(() => demo.close());
    const target: UpgradeTarget = { server: demo.cluster.url, path: PATH };
    await withInsecureEnvironment(async () => {
      await assert.rejects(dialSpdy(target), isTlsError);
      await assert.rejects(dialSpdy({ ...target, tls: { servername: 'localhost' } }), isTlsError);
      await assert.rejects(dialSpdy({ ...target, tls: { rejectUnauthorized: undefined as never } }), isTlsError);
      await assert.rejects(dialPortForward(target, { protocol: 'websocket-tunnel' }), isTlsError);
      await assert.rejects(apiGet(target, '/api'), isTlsError);
      assert.equal(demo.cluster.stats().requests, 0);
      // The caller's explicit choice (the kubeconfig's insecure-skip-tls-verify) is honoured.
      const session = await dialSpdy({ ...target, tls: { rejectUnauthorized: false } });
      session.destroy();
    });
  });

  test('an https proxy with a certificate nobody trusts is refused', async (t) => {
    const pki = generateCertificates();
    const proxy = https.createServer({ key: pki.keyPem, cert: pki.certPem });
    proxy.on('tlsClientError', () => {});
    let connects = 0;
    proxy.on('connect', (_req: http.IncomingMessage, socket: net.Socket) => {
      connects += 1;
      socket.destroy();
    });
    const port = await listenLoopback(t, proxy);
    await withInsecureEnvironment(async () => {
      await assert.rejects(dialSpdy({ server: 'http://127.0.0.1:1', path: PATH, proxy: `https://127.0.0.1:${port}` }), (error: KubemuxError) => {
        assert.equal(error.code, ErrorCode.TLS);
        assert.match(error.message, new RegExp(`TLS with proxy 127\\.0\\.0\\.1:${port} failed`));
        return true;
      });
    });
    assert.equal(connects, 0);
  });
});
