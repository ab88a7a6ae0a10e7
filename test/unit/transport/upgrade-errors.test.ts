/**
 * dialSpdy through fromKubeConfig against the fake cluster (HTTP and HTTPS on 127.0.0.1) and
 * against scripted servers: bytes move hash-checked when all is well, and every way the upgrade
 * can fail gives the typed error a user can act on (HTTP status and the Kubernetes Status
 * message, TLS, refused connection, the two deadlines, broken answers), never with the token in
 * its text.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { describe, test, type TestContext } from 'node:test';
import { ErrorCode, KubemuxError, isKubemuxError } from '../../../src/errors.js';
import { generateCertificates } from '../../../src/server/certificates.js';
import type { ClusterConfig } from '../../../src/server/cluster-config.js';
import { FakeCluster } from '../../../src/server/fake-cluster.js';
import { fromKubeConfig, type KubeConnection } from '../../../src/transport/api/kubeconfig.js';
import { portForwardPath } from '../../../src/transport/api/request-target.js';
import { dialSpdy } from '../../../src/transport/spdy/upgrade.js';
import { SPDY_SWITCHING_PROTOCOLS, base64, echoThroughPod, kubeconfig, listenLoopback, startScriptedServer, statusAnswer, tempDir, writeJson } from '../../support/kube-fixtures.js';
import { closedPort, startEchoServer } from '../../support/servers.js';
import { randomBytes, sha256 } from '../../support/streams.js';

const TOKEN = 'kubemux-upgrade-token-31c4e8';
const POD_PORT = 8080;

function podConfig(echoPort: number): ClusterConfig {
  return {
    namespaces: {
      shop: {
        pods: [{ name: 'web', containers: [{ name: 'app', ports: [{ containerPort: POD_PORT }] }], portMap: { [POD_PORT]: `127.0.0.1:${echoPort}` } }],
      },
    },
  };
}

/** A fake cluster with pod shop/web whose port 8080 is an echo server, and a KubeConnection to it. */
async function clusterSetup(t: TestContext, tls: boolean): Promise<{ cluster: FakeCluster; kube: KubeConnection }> {
  const echo = await startEchoServer();
  t.after(() => echo.close());
  const cluster = await FakeCluster.start({ tls, config: podConfig(echo.port) });
  t.after(() => cluster.close());
  const dir = await tempDir(t);
  const path = `${dir}/config`;
  await cluster.writeKubeconfig(path, { token: TOKEN, namespace: 'shop' });
  const kube = await fromKubeConfig({ kubeconfigPath: path, upgradeTimeoutMs: 5_000, connectTimeoutMs: 5_000 });
  return { cluster, kube };
}

/** A predicate for assert.rejects: a KubemuxError with `code`, whose message matches and holds no token. */
function typed(code: ErrorCode, pattern: RegExp, httpStatus?: number) {
  return (error: unknown): boolean => {
    assert.ok(error instanceof KubemuxError, `not a KubemuxError: ${String(error)}`);
    assert.equal(error.code, code, error.message);
    assert.equal(error.scope, 'transport');
    assert.match(error.message, pattern);
    assert.ok(!error.message.includes(TOKEN), `the message holds the token: ${error.message}`);
    if (httpStatus !== undefined) assert.equal(error.httpStatus, httpStatus);
    return true;
  };
}

const bearer = { Authorization: `Bearer ${TOKEN}` };

for (const tls of [false, true]) {
  describe(`the fake cluster over ${tls ? 'HTTPS' : 'HTTP'}`, () => {
    test('dialSpdy({ ...kube.target, path }) forwards 4 × 1 MiB to the pod and back, hash-checked', async (t) => {
      const { cluster, kube } = await clusterSetup(t, tls);
      assert.equal(kube.namespace, 'shop');
      assert.equal(kube.target.server, cluster.url);
      const session = await dialSpdy({ ...kube.target, path: portForwardPath(kube.namespace, 'web') });
      t.after(() => session.destroy());
      const payloads = Array.from({ length: 4 }, () => randomBytes(1 << 20));
      const results = await Promise.all(payloads.map((payload, i) => echoThroughPod(session, POD_PORT, i, payload)));
      assert.deepEqual(
        results,
        payloads.map((payload) => ({ echoed: sha256(payload), errorText: '' })),
      );
      assert.equal(cluster.stats().upgrades, 1);
      assert.equal(cluster.stats().bytesToPod, 4 << 20);
    });

    test('refused upgrades (401, 403, 404, 500) give ERR_UPGRADE_REFUSED with the status and the Status message', async (t) => {
      const { cluster, kube } = await clusterSetup(t, tls);
      for (const status of [401, 403, 404, 500]) {
        cluster.applyFault('refuse', { status: String(status) });
        await assert.rejects(
          dialSpdy({ ...kube.target, path: portForwardPath('shop', 'web') }),
          typed(ErrorCode.UPGRADE_REFUSED, new RegExp(`HTTP ${status}: port-forward refused by fault injection \\(${status}\\)$`), status),
        );
      }
      cluster.applyFault('clear');
      const session = await dialSpdy({ ...kube.target, path: portForwardPath('shop', 'web') });
      session.destroy();
    });

    test('a pod that does not exist: HTTP 404 with `pods "nope" not found`', async (t) => {
      const { kube } = await clusterSetup(t, tls);
      await assert.rejects(
        dialSpdy({ ...kube.target, path: portForwardPath(kube.namespace, 'nope') }),
        typed(ErrorCode.UPGRADE_REFUSED, /refused with HTTP 404: pods "nope" not found$/, 404),
      );
    });
  });
}

describe('the API server refuses', () => {
  test("RBAC's 403 and an expired token's 401 carry the API server's own words", async (t) => {
    const forbidden =
      'pods "web" is forbidden: User "system:serviceaccount:ci:deployer" cannot create resource "pods/portforward" in API group "" in the namespace "shop"';
    const answers = new Map([
      [403, statusAnswer(403, 'Forbidden', forbidden)],
      [401, statusAnswer(401, 'Unauthorized', 'Unauthorized')],
    ]);
    for (const [status, answer] of answers) {
      const server = await startScriptedServer(t, (socket) => socket.end(answer));
      await assert.rejects(
        dialSpdy({ server: server.url, headers: bearer, path: portForwardPath('shop', 'web') }),
        typed(ErrorCode.UPGRADE_REFUSED, status === 403 ? new RegExp(`HTTP 403: ${forbidden.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`) : /HTTP 401: Unauthorized$/, status),
      );
    }
  });
});

describe('TLS failures', () => {
  test('a CA that did not sign the server certificate: ERR_TLS, and nothing reaches the server', async (t) => {
    const { cluster } = await clusterSetup(t, true);
    const dir = await tempDir(t);
    const other = generateCertificates();
    const path = await writeJson(dir, 'config', kubeconfig({ name: 'c', cluster: { server: cluster.url, 'certificate-authority-data': base64(other.caCertPem) }, user: { token: TOKEN } }));
    const kube = await fromKubeConfig({ kubeconfigPath: path });
    await assert.rejects(dialSpdy({ ...kube.target, path: portForwardPath('shop', 'web') }), typed(ErrorCode.TLS, /TLS with 127\.0\.0\.1:\d+ failed: .*(certificate|verify)/i));
    assert.equal(cluster.stats().requests, 0);
  });

  test('a certificate for another name (tls-server-name wrong.kubemux.test): ERR_TLS naming the mismatch', async (t) => {
    const { cluster } = await clusterSetup(t, true);
    const dir = await tempDir(t);
    const path = await writeJson(
      dir,
      'config',
      kubeconfig({
        name: 'c',
        cluster: { server: cluster.url, 'certificate-authority-data': base64(cluster.caPem!), 'tls-server-name': 'wrong.kubemux.test' },
        user: { token: TOKEN },
      }),
    );
    const kube = await fromKubeConfig({ kubeconfigPath: path });
    await assert.rejects(dialSpdy({ ...kube.target, path: portForwardPath('shop', 'web') }), typed(ErrorCode.TLS, /wrong\.kubemux\.test/));
    assert.equal(cluster.stats().requests, 0);
  });
});

describe('connection failures and deadlines', () => {
  test('nothing listening: ERR_CONNECT_FAILED', async () => {
    const port = await closedPort();
    for (const scheme of ['http', 'https']) {
      await assert.rejects(
        dialSpdy({ server: `${scheme}://127.0.0.1:${port}`, headers: bearer, path: portForwardPath('shop', 'web') }),
        typed(ErrorCode.CONNECT_FAILED, new RegExp(`cannot connect to 127\\.0\\.0\\.1:${port}: .*ECONNREFUSED`)),
      );
    }
  });

  test('a server that accepts but never answers the upgrade: ERR_TIMEOUT at the upgrade deadline', async (t) => {
    const server = await startScriptedServer(t, () => {});
    const started = performance.now();
    await assert.rejects(
      dialSpdy({ server: server.url, headers: bearer, path: portForwardPath('shop', 'web'), upgradeTimeoutMs: 250 }),
      typed(ErrorCode.TIMEOUT, /no answer to the SPDY upgrade from 127\.0\.0\.1:\d+ within 250 ms/),
    );
    const elapsed = performance.now() - started;
    assert.ok(elapsed >= 240 && elapsed < 2_000, `took ${elapsed} ms`);
    assert.equal(server.connections, 1);
  });

  test('a server that accepts TCP but never completes TLS: ERR_TIMEOUT at the connect deadline', async (t) => {
    // A plain TCP server that reads the ClientHello and says nothing.
    const silent = await startScriptedServer(t, () => {});
    const started = performance.now();
    await assert.rejects(
      dialSpdy({ server: `https://127.0.0.1:${silent.port}`, headers: bearer, path: portForwardPath('shop', 'web'), connectTimeoutMs: 250, upgradeTimeoutMs: 10_000 }),
      typed(ErrorCode.TIMEOUT, /timed out after 250 ms/),
    );
    const elapsed = performance.now() - started;
    assert.ok(elapsed >= 240 && elapsed < 2_000, `took ${elapsed} ms`);
  });
});

describe('broken answers', () => {
  test('garbage right after a correct 101: the session closes with a typed codec error', async (t) => {
    // A control frame of SPDY version 7 (a SYN_STREAM with a 4-byte body).
    const garbage = Buffer.from('8007000100000004deadbeef', 'hex');
    const server = await startScriptedServer(t, (socket) => socket.write(Buffer.concat([Buffer.from(SPDY_SWITCHING_PROTOCOLS, 'latin1'), garbage])));
    const session = await dialSpdy({ server: server.url, headers: bearer, path: portForwardPath('shop', 'web') });
    t.after(() => session.destroy());
    if (!session.closed) await new Promise<void>((resolve) => session.once('close', () => resolve()));
    const error = session.closeError;
    assert.ok(isKubemuxError(error), String(error));
    assert.equal(error.code, ErrorCode.UNSUPPORTED_VERSION);
    await assert.rejects(session.openStream({ streamtype: 'error', port: '8080', requestid: '0' }), (e: unknown) => isKubemuxError(e));
  });

  test('an answer that is not HTTP: ERR_PROTOCOL (no API server there), never a fallback signal', async (t) => {
    const server = await startScriptedServer(t, (socket) => socket.end('SSH-2.0-OpenSSH_9.6\r\n'));
    await assert.rejects(dialSpdy({ server: server.url, headers: bearer, path: portForwardPath('shop', 'web') }), typed(ErrorCode.PROTOCOL, /the server at 127\.0\.0\.1:\d+ did not answer the SPDY upgrade with HTTP/));
  });

  test('a 101 for another protocol: ERR_UPGRADE_INVALID naming it', async (t) => {
    const wrong = SPDY_SWITCHING_PROTOCOLS.replace('portforward.k8s.io', 'v4.channel.k8s.io');
    const server = await startScriptedServer(t, (socket) => socket.write(wrong));
    await assert.rejects(
      dialSpdy({ server: server.url, headers: bearer, path: portForwardPath('shop', 'web') }),
      typed(ErrorCode.UPGRADE_INVALID, /unable to negotiate protocol: .*"v4\.channel\.k8s\.io"/),
    );
  });

  test('a server that closes after reading the request: ERR_TRANSPORT_CLOSED', async (t) => {
    const server = await startScriptedServer(t, (socket) => socket.destroy());
    await assert.rejects(
      dialSpdy({ server: server.url, headers: bearer, path: portForwardPath('shop', 'web') }),
      typed(ErrorCode.TRANSPORT_CLOSED, /closed the connection before answering/),
    );
  });

  test('a server that closes during the TLS handshake: ERR_CONNECT_FAILED', async (t) => {
    // Closes on the ClientHello.
    const port = await listenLoopback(t, net.createServer((socket) => socket.once('data', () => socket.destroy())));
    await assert.rejects(
      dialSpdy({ server: `https://127.0.0.1:${port}`, headers: bearer, path: portForwardPath('shop', 'web') }),
      typed(ErrorCode.CONNECT_FAILED, /cannot connect to 127\.0\.0\.1:\d+/),
    );
  });
});

test('bad session options are a usage error before anything is sent, never an uncaught exception', async (t) => {
  let connections = 0;
  const server = net.createServer((socket) => {
    connections++;
    socket.destroy();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const { port } = server.address() as net.AddressInfo;
  await assert.rejects(dialSpdy({ server: `http://127.0.0.1:${port}`, path: '/api/v1/namespaces/default/pods/demo/portforward' }, { session: { maxFrameBytes: 5 } }), {
    code: 'ERR_INVALID_ARGUMENT',
    scope: 'usage',
  });
  assert.equal(connections, 0);
});
