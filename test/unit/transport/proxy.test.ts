/**
 * HTTP CONNECT proxies: a small proxy written here (node:http's 'connect' event) that counts
 * tunnels, checks Proxy-Authorization and resolves every host name to 127.0.0.1, in front of the
 * fake cluster. The port-forward runs through it from the kubeconfig's proxy-url and from
 * HTTPS_PROXY; NO_PROXY and loopback go direct; a refusing, unreachable or silent proxy gives a
 * typed error that holds neither the proxy password nor the token.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { describe, test, type TestContext } from 'node:test';
import { ErrorCode, KubemuxError } from '../../../src/errors.js';
import { generateCertificates } from '../../../src/server/certificates.js';
import type { ClusterConfig } from '../../../src/server/cluster-config.js';
import { FakeCluster } from '../../../src/server/fake-cluster.js';
import { proxyFromEnvironment } from '../../../src/transport/api/connect.js';
import { fromKubeConfig, type FromKubeConfigOptions } from '../../../src/transport/api/kubeconfig.js';
import { portForwardPath } from '../../../src/transport/api/request-target.js';
import { dialSpdy } from '../../../src/transport/spdy/upgrade.js';
import { base64, echoThroughPod, kubeconfig, listenLoopback, startScriptedServer, tempDir, writeJson } from '../../support/kube-fixtures.js';
import { closedPort, startEchoServer } from '../../support/servers.js';
import { randomBytes, sha256 } from '../../support/streams.js';

const TOKEN = 'kubemux-proxy-token-b7e2';
const PROXY_USER = 'corp user';
const PROXY_PASSWORD = 'pr0xy-p@ss:w0rd';
const CLUSTER_NAME = 'kube.kubemux.test';
const POD_PORT = 8080;

interface TestProxy {
  readonly port: number;
  /** `http://user:password@127.0.0.1:port`, the password percent-encoded. */
  readonly url: string;
  /** The CONNECT requests' targets, in order, including refused ones. */
  readonly connects: string[];
  /** Tunnels opened (CONNECT answered 200). */
  tunnels: number;
}

/**
 * A CONNECT proxy on 127.0.0.1 that wants Basic credentials PROXY_USER:PROXY_PASSWORD (407
 * otherwise) and, like a corporate proxy resolving internal names, sends every tunnel to
 * 127.0.0.1 whatever host it names.
 */
async function startProxy(t: TestContext): Promise<TestProxy> {
  const expected = `Basic ${Buffer.from(`${PROXY_USER}:${PROXY_PASSWORD}`).toString('base64')}`;
  const upstreams = new Set<net.Socket>();
  t.after(() => {
    for (const socket of upstreams) socket.destroy();
  });
  const server = http.createServer((_req, res) => res.writeHead(405).end());
  const proxy: TestProxy = { port: 0, url: '', connects: [], tunnels: 0 };
  server.on('connect', (req: http.IncomingMessage, client: net.Socket, head: Buffer) => {
    proxy.connects.push(req.url ?? '');
    client.on('error', () => client.destroy());
    if (req.headers['proxy-authorization'] !== expected) {
      client.end('HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm="kubemux"\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    const port = Number(/:(\d+)$/.exec(req.url ?? '')?.[1]);
    const upstream = net.connect(port, '127.0.0.1');
    upstreams.add(upstream);
    upstream.once('close', () => upstreams.delete(upstream));
    upstream.on('error', () => client.destroy());
    client.on('close', () => upstream.destroy());
    upstream.once('connect', () => {
      proxy.tunnels += 1;
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      if (head.length > 0) upstream.write(head);
      upstream.pipe(client);
      client.pipe(upstream);
    });
  });
  const port = await listenLoopback(t, server);
  return Object.assign(proxy, { port, url: `http://${encodeURIComponent(PROXY_USER)}:${encodeURIComponent(PROXY_PASSWORD)}@127.0.0.1:${port}` });
}

/** Echo pod shop/web behind a fake cluster; `tlsNames` adds names to its certificate. */
async function startCluster(t: TestContext, tls: boolean, tlsNames: string[] = []): Promise<FakeCluster> {
  const echo = await startEchoServer();
  t.after(() => echo.close());
  const config: ClusterConfig = {
    namespaces: { shop: { pods: [{ name: 'web', containers: [{ name: 'app', ports: [{ containerPort: POD_PORT }] }], portMap: { [POD_PORT]: `127.0.0.1:${echo.port}` } }] } },
  };
  const cluster = await FakeCluster.start({ tls, tlsNames, config });
  t.after(() => cluster.close());
  return cluster;
}

/** fromKubeConfig for `server`, trusting the cluster's CA, with a token and optional proxy-url. */
async function connect(t: TestContext, cluster: FakeCluster, server: string, extra: Record<string, unknown> = {}, options: FromKubeConfigOptions = {}) {
  const dir = await tempDir(t);
  const ca = cluster.caPem === undefined ? {} : { 'certificate-authority-data': base64(cluster.caPem) };
  const path = await writeJson(dir, 'config', kubeconfig({ name: 'c', cluster: { server, ...ca, ...extra }, user: { token: TOKEN }, namespace: 'shop' }));
  return fromKubeConfig({ kubeconfigPath: path, env: {}, connectTimeoutMs: 5_000, upgradeTimeoutMs: 5_000, ...options });
}

function withoutSecrets(code: ErrorCode, pattern: RegExp) {
  return (error: unknown): boolean => {
    assert.ok(error instanceof KubemuxError, String(error));
    assert.equal(error.code, code, error.message);
    assert.match(error.message, pattern);
    for (const secret of [PROXY_PASSWORD, encodeURIComponent(PROXY_PASSWORD), TOKEN]) assert.ok(!error.message.includes(secret), error.message);
    return true;
  };
}

async function forwardMiB(t: TestContext, target: Parameters<typeof dialSpdy>[0]): Promise<void> {
  const session = await dialSpdy(target);
  t.after(() => session.destroy());
  const payload = randomBytes(1 << 20);
  assert.deepEqual(await echoThroughPod(session, POD_PORT, 0, payload), { echoed: sha256(payload), errorText: '' });
}

describe('port-forward through a CONNECT proxy', () => {
  for (const tls of [true, false]) {
    test(`proxy-url with credentials, ${tls ? 'TLS inside the tunnel' : 'plain HTTP inside the tunnel'}: 1 MiB hash-checked, one tunnel`, async (t) => {
      const proxy = await startProxy(t);
      const cluster = await startCluster(t, tls);
      const kube = await connect(t, cluster, cluster.url, { 'proxy-url': proxy.url });
      assert.equal(String(kube.target.proxy), proxy.url);
      await forwardMiB(t, { ...kube.target, path: portForwardPath(kube.namespace, 'web') });
      const authority = new URL(cluster.url).host;
      assert.deepEqual(proxy.connects, [authority]);
      assert.equal(proxy.tunnels, 1);
      assert.equal(cluster.stats().upgrades, 1);
      // The API GET helper takes the same road.
      const pod = await kube.get('/api/v1/namespaces/shop/pods/web');
      assert.equal(pod.status, 200);
      assert.equal(proxy.tunnels, 2);
    });
  }

  test('HTTPS_PROXY: the proxy resolves the cluster name, TLS verifies it end to end', async (t) => {
    const proxy = await startProxy(t);
    const cluster = await startCluster(t, true, [CLUSTER_NAME]);
    const server = `https://${CLUSTER_NAME}:${new URL(cluster.url).port}`;
    const kube = await connect(t, cluster, server, {}, { env: { HTTPS_PROXY: proxy.url, HTTP_PROXY: 'http://127.0.0.1:1' } });
    await forwardMiB(t, { ...kube.target, path: portForwardPath(kube.namespace, 'web') });
    assert.deepEqual(proxy.connects, [`${CLUSTER_NAME}:${new URL(cluster.url).port}`]);
  });

  test('https_proxy in process.env is the default', async (t) => {
    const proxy = await startProxy(t);
    const cluster = await startCluster(t, true, [CLUSTER_NAME]);
    const server = `https://${CLUSTER_NAME}:${new URL(cluster.url).port}`;
    const names = ['HTTPS_PROXY', 'https_proxy', 'NO_PROXY', 'no_proxy'] as const;
    const saved = names.map((name) => process.env[name]);
    t.after(() => names.forEach((name, i) => (saved[i] === undefined ? delete process.env[name] : (process.env[name] = saved[i]))));
    for (const name of names) delete process.env[name];
    process.env['https_proxy'] = proxy.url;
    const kube = await connect(t, cluster, server, {}, { env: undefined });
    await forwardMiB(t, { ...kube.target, path: portForwardPath(kube.namespace, 'web') });
    assert.equal(proxy.tunnels, 1);
  });

  test('NO_PROXY and loopback servers bypass the environment proxy; proxy-url does not', async (t) => {
    const proxy = await startProxy(t);
    const cluster = await startCluster(t, true, [CLUSTER_NAME]);
    const port = new URL(cluster.url).port;
    const env = { HTTPS_PROXY: proxy.url, NO_PROXY: `example.org,.${CLUSTER_NAME.split('.').slice(1).join('.')}` };
    const bypassed = await connect(t, cluster, `https://${CLUSTER_NAME}:${port}`, {}, { env });
    assert.equal(bypassed.target.proxy, undefined);
    // Loopback never takes the environment's proxy (as in Go), so this dial goes direct.
    const direct = await connect(t, cluster, cluster.url, {}, { env: { HTTPS_PROXY: proxy.url } });
    assert.equal(direct.target.proxy, undefined);
    await forwardMiB(t, { ...direct.target, path: portForwardPath('shop', 'web') });
    assert.equal(proxy.connects.length, 0);
    assert.equal(cluster.stats().upgrades, 1);
    // proxy-url is explicit: it applies to loopback too.
    const explicit = await connect(t, cluster, cluster.url, { 'proxy-url': proxy.url }, { env: { NO_PROXY: '*' } });
    await forwardMiB(t, { ...explicit.target, path: portForwardPath('shop', 'web') });
    assert.equal(proxy.tunnels, 1);
  });
});

describe('proxy failures', () => {
  test('a 407 from the proxy: ERR_CONNECT_FAILED with httpStatus 407, naming the proxy but not the password', async (t) => {
    const proxy = await startProxy(t);
    const cluster = await startCluster(t, true);
    const wrong = proxy.url.replace(encodeURIComponent(PROXY_PASSWORD), encodeURIComponent(`${PROXY_PASSWORD}-wrong`));
    const kube = await connect(t, cluster, cluster.url, { 'proxy-url': wrong });
    await assert.rejects(dialSpdy({ ...kube.target, path: portForwardPath('shop', 'web') }), (error: KubemuxError) => {
      withoutSecrets(ErrorCode.CONNECT_FAILED, new RegExp(`^proxy 127\\.0\\.0\\.1:${proxy.port} refused the tunnel to 127\\.0\\.0\\.1:\\d+: HTTP 407 Proxy Authentication Required$`))(error);
      assert.equal(error.httpStatus, 407);
      return true;
    });
    assert.equal(proxy.tunnels, 0);
    assert.equal(cluster.stats().requests, 0);
  });

  test('an unreachable proxy: ERR_CONNECT_FAILED naming it', async (t) => {
    const cluster = await startCluster(t, true);
    const port = await closedPort();
    const kube = await connect(t, cluster, cluster.url, { 'proxy-url': `http://${encodeURIComponent(PROXY_USER)}:${encodeURIComponent(PROXY_PASSWORD)}@127.0.0.1:${port}` });
    await assert.rejects(dialSpdy({ ...kube.target, path: portForwardPath('shop', 'web') }), withoutSecrets(ErrorCode.CONNECT_FAILED, new RegExp(`cannot connect to proxy 127\\.0\\.0\\.1:${port}: .*ECONNREFUSED`)));
  });

  test('a proxy that never answers CONNECT: ERR_TIMEOUT at the connect deadline', async (t) => {
    const cluster = await startCluster(t, true);
    const silent = await startScriptedServer(t, () => {});
    const kube = await connect(t, cluster, cluster.url, { 'proxy-url': `http://u:${encodeURIComponent(PROXY_PASSWORD)}@127.0.0.1:${silent.port}` }, { connectTimeoutMs: 250 });
    const started = performance.now();
    await assert.rejects(
      dialSpdy({ ...kube.target, path: portForwardPath('shop', 'web') }),
      withoutSecrets(ErrorCode.TIMEOUT, new RegExp(`through proxy 127\\.0\\.0\\.1:${silent.port} timed out after 250 ms`)),
    );
    const elapsed = performance.now() - started;
    assert.ok(elapsed >= 240 && elapsed < 2_000, `took ${elapsed} ms`);
  });

  test('the tunnel does not weaken TLS: a certificate without the cluster name fails with ERR_TLS', async (t) => {
    const proxy = await startProxy(t);
    const cluster = await startCluster(t, true);
    const kube = await connect(t, cluster, `https://${CLUSTER_NAME}:${new URL(cluster.url).port}`, { 'proxy-url': proxy.url });
    await assert.rejects(dialSpdy({ ...kube.target, path: portForwardPath('shop', 'web') }), withoutSecrets(ErrorCode.TLS, new RegExp(CLUSTER_NAME.replace(/\./g, '\\.'))));
    assert.equal(proxy.tunnels, 1);
    assert.equal(cluster.stats().requests, 0);
  });

  test("an https proxy is verified like any TLS peer: one the system does not trust gives ERR_TLS naming the proxy", async (t) => {
    const cluster = await startCluster(t, true);
    const pki = generateCertificates();
    const proxyServer = https.createServer({ key: pki.keyPem, cert: pki.certPem });
    proxyServer.on('tlsClientError', () => {});
    let connects = 0;
    proxyServer.on('connect', (_req: http.IncomingMessage, socket: net.Socket) => {
      connects += 1;
      socket.destroy();
    });
    const port = await listenLoopback(t, proxyServer);
    const kube = await connect(t, cluster, cluster.url, { 'proxy-url': `https://u:${encodeURIComponent(PROXY_PASSWORD)}@127.0.0.1:${port}` });
    await assert.rejects(dialSpdy({ ...kube.target, path: portForwardPath('shop', 'web') }), withoutSecrets(ErrorCode.TLS, new RegExp(`TLS with proxy 127\\.0\\.0\\.1:${port} failed`)));
    assert.equal(connects, 0);
  });

  test('unusable proxy URLs are usage errors that do not repeat them', async () => {
    const target = { server: 'https://127.0.0.1:1', path: '/' };
    await assert.rejects(dialSpdy({ ...target, proxy: `socks5://u:${PROXY_PASSWORD}@127.0.0.1:1080` }), (error: KubemuxError) => {
      withoutSecrets(ErrorCode.INVALID_ARGUMENT, /SOCKS proxies are not supported/)(error);
      return true;
    });
    await assert.rejects(dialSpdy({ ...target, proxy: `http://u:${PROXY_PASSWORD}@[bad` }), withoutSecrets(ErrorCode.INVALID_ARGUMENT, /not a valid URL/));
  });
});

describe('proxyFromEnvironment', () => {
  const proxy = 'http://proxy.corp:3128';
  const cases: Array<[server: string, env: Record<string, string>, expected: string | undefined]> = [
    ['https://api.example.com', { HTTPS_PROXY: proxy }, proxy],
    ['https://api.example.com', { https_proxy: proxy }, proxy],
    ['https://api.example.com', { HTTPS_PROXY: proxy, https_proxy: 'http://other:1' }, proxy],
    ['https://api.example.com', { HTTP_PROXY: proxy }, undefined],
    ['http://api.example.com', { HTTP_PROXY: proxy, HTTPS_PROXY: 'http://other:1' }, proxy],
    ['https://api.example.com', { HTTPS_PROXY: '' }, undefined],
    ['https://localhost:6443', { HTTPS_PROXY: proxy }, undefined],
    ['https://127.0.0.2:6443', { HTTPS_PROXY: proxy }, undefined],
    ['https://[::1]:6443', { HTTPS_PROXY: proxy }, undefined],
    ['https://api.example.com', { HTTPS_PROXY: proxy, NO_PROXY: '*' }, undefined],
    ['https://api.example.com', { HTTPS_PROXY: proxy, NO_PROXY: 'example.com' }, undefined],
    ['https://example.com', { HTTPS_PROXY: proxy, NO_PROXY: 'example.com' }, undefined],
    ['https://example.com', { HTTPS_PROXY: proxy, NO_PROXY: '.example.com' }, proxy],
    ['https://api.example.com', { HTTPS_PROXY: proxy, no_proxy: '.example.com' }, undefined],
    ['https://api.example.com', { HTTPS_PROXY: proxy, NO_PROXY: '*.example.com' }, undefined],
    ['https://notexample.com', { HTTPS_PROXY: proxy, NO_PROXY: 'example.com' }, proxy],
    ['https://API.Example.COM', { HTTPS_PROXY: proxy, NO_PROXY: ' other.org , Example.com ' }, undefined],
    ['https://api.example.com', { HTTPS_PROXY: proxy, NO_PROXY: 'example.com:443' }, undefined],
    ['https://api.example.com:6443', { HTTPS_PROXY: proxy, NO_PROXY: 'example.com:443' }, proxy],
    ['https://10.1.2.3:6443', { HTTPS_PROXY: proxy, NO_PROXY: '10.0.0.0/8' }, undefined],
    ['https://11.1.2.3:6443', { HTTPS_PROXY: proxy, NO_PROXY: '10.0.0.0/8' }, proxy],
    ['https://10.1.2.3:6443', { HTTPS_PROXY: proxy, NO_PROXY: '10.1.2.3' }, undefined],
    ['https://10.1.2.3:6443', { HTTPS_PROXY: proxy, NO_PROXY: '10.1.2.3:443' }, proxy],
    ['https://[fd00::5]:6443', { HTTPS_PROXY: proxy, NO_PROXY: 'fd00::/8' }, undefined],
    ['https://[fd00::5]:6443', { HTTPS_PROXY: proxy, NO_PROXY: '[fd00::5]:6443' }, undefined],
    ['https://[fd00::5]:6443', { HTTPS_PROXY: proxy, NO_PROXY: 'fd00::6' }, proxy],
  ];
  for (const [server, env, expected] of cases) {
    test(`${server} with ${JSON.stringify(env)} → ${expected ?? 'direct'}`, () => {
      assert.equal(proxyFromEnvironment(server, env), expected);
    });
  }
});
