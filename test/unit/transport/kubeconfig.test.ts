/**
 * fromKubeConfig against kubeconfig files written to a temporary directory and a recording API
 * server on 127.0.0.1: each way of authenticating (token, token file, client certificate, basic,
 * exec plugin) is checked by what the server received, each TLS setting by whether the handshake
 * succeeds, and every failure by its code and by the absence of credentials in its text.
 */
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { inspect } from 'node:util';
import { KubeConfig } from '@kubernetes/client-node';
import { ErrorCode, KubemuxError } from '../../../src/errors.js';
import { generateCertificates } from '../../../src/server/certificates.js';
import { apiGet } from '../../../src/transport/api/api-request.js';
import { fromKubeConfig, type KubeConfigLike } from '../../../src/transport/api/kubeconfig.js';
import { base64, fingerprint, kubeconfig, startRecordingServer, tempDir, writeJson } from '../../support/kube-fixtures.js';

const TOKEN = 'kubemux-test-token-5f1e0c7a';
const SECRET = 'kubemux-secret-9d3b';

/** A fresh CA and a server certificate for localhost, 127.0.0.1 and ::1. */
const serverPki = generateCertificates();

function assertNoSecret(text: string, ...secrets: string[]): void {
  for (const secret of secrets) assert.ok(!text.includes(secret), `${JSON.stringify(text)} contains a credential`);
}

function isUsageError(pattern: RegExp, ...secrets: string[]) {
  return (error: unknown): boolean => {
    assert.ok(error instanceof KubemuxError, String(error));
    assert.equal(error.code, ErrorCode.INVALID_ARGUMENT);
    assert.equal(error.scope, 'usage');
    assert.match(error.message, pattern);
    assertNoSecret(error.message, ...secrets);
    return true;
  };
}

describe('fromKubeConfig: authentication', () => {
  test('a bearer token is sent as Authorization, and the result prints without it', async (t) => {
    const dir = await tempDir(t);
    const server = await startRecordingServer(t, { key: serverPki.keyPem, cert: serverPki.certPem });
    const path = await writeJson(
      dir,
      'config',
      kubeconfig({ name: 'prod', cluster: { server: server.url, 'certificate-authority-data': base64(serverPki.caCertPem) }, user: { token: TOKEN }, namespace: 'shop' }),
    );
    const kube = await fromKubeConfig({ kubeconfigPath: path });
    assert.equal(kube.namespace, 'shop');
    assert.equal(kube.context, 'prod');
    assert.equal(kube.cluster, 'prod-cluster');
    assert.equal(kube.user, 'prod-user');
    assert.equal(kube.target.server, server.url);
    assert.equal(kube.target.tls?.rejectUnauthorized, true);

    const response = await kube.get('/api');
    assert.equal(response.status, 200);
    assert.deepEqual(response.json, { kind: 'APIVersions', versions: ['v1'] });
    assert.equal(server.requests[0]?.authorization, `Bearer ${TOKEN}`);

    const printed = [inspect(kube, { depth: 10 }), inspect(kube.target, { depth: 10 }), JSON.stringify(kube), JSON.stringify(kube.target)];
    for (const text of printed) {
      assertNoSecret(text, TOKEN);
      assert.match(text, /redacted/);
    }
    // Spreading the target into a dialer's argument copies the credentials but not the hooks.
    const spread = { ...kube.target, path: '/api' };
    assert.equal(spread.headers?.['Authorization'], `Bearer ${TOKEN}`);
    assert.ok(!Object.getOwnPropertySymbols(spread).includes(inspect.custom));
  });

  test('a token file is read and its trailing newline dropped', async (t) => {
    const dir = await tempDir(t);
    const server = await startRecordingServer(t);
    const tokenPath = join(dir, 'token');
    await writeFile(tokenPath, `${TOKEN}\n`);
    // client-node spells the field `token-file`; see the README about kubectl's `tokenFile`.
    const path = await writeJson(dir, 'config', kubeconfig({ name: 'c', cluster: { server: server.url }, user: { 'token-file': tokenPath } }));
    const kube = await fromKubeConfig({ kubeconfigPath: path });
    await kube.get('/api');
    assert.equal(server.requests[0]?.authorization, `Bearer ${TOKEN}`);
  });

  test('an auth-provider token file is read', async (t) => {
    const dir = await tempDir(t);
    const server = await startRecordingServer(t);
    const tokenPath = join(dir, 'token');
    await writeFile(tokenPath, TOKEN);
    const path = await writeJson(dir, 'config', kubeconfig({ name: 'c', cluster: { server: server.url }, user: { 'auth-provider': { name: 'tokenFile', config: { tokenFile: tokenPath } } } }));
    const kube = await fromKubeConfig({ kubeconfigPath: path });
    assert.equal(kube.target.headers?.['Authorization'], `Bearer ${TOKEN}`);
    await kube.get('/api');
    assert.equal(server.requests[0]?.authorization, `Bearer ${TOKEN}`);
  });

  test('a client certificate from files (relative to the kubeconfig) and from data is presented', async (t) => {
    const dir = await tempDir(t);
    const server = await startRecordingServer(t, { key: serverPki.keyPem, cert: serverPki.certPem });
    const client = generateCertificates({ dnsNames: ['kubemux-client'], ipAddresses: [] });
    await writeFile(join(dir, 'client.crt'), client.certPem);
    await writeFile(join(dir, 'client.key'), client.keyPem);
    await writeFile(join(dir, 'ca.crt'), serverPki.caCertPem);
    const fromFiles = await writeJson(
      dir,
      'files',
      kubeconfig({ name: 'c', cluster: { server: server.url, 'certificate-authority': 'ca.crt' }, user: { 'client-certificate': 'client.crt', 'client-key': 'client.key' } }),
    );
    const fromData = await writeJson(
      dir,
      'data',
      kubeconfig({
        name: 'c',
        cluster: { server: server.url, 'certificate-authority-data': base64(serverPki.caCertPem) },
        user: { 'client-certificate-data': base64(client.certPem), 'client-key-data': base64(client.keyPem) },
      }),
    );
    for (const path of [fromFiles, fromData]) {
      const kube = await fromKubeConfig({ kubeconfigPath: path });
      await kube.get('/api');
    }
    assert.deepEqual(
      server.requests.map((r) => r.clientCertificate),
      [fingerprint(client.certPem), fingerprint(client.certPem)],
    );
    const printed = inspect(await fromKubeConfig({ kubeconfigPath: fromData }), { depth: 10 });
    assertNoSecret(printed, client.keyPem.split('\n')[1]!);
  });

  test('basic auth from username and password; Impersonate-User from `as`', async (t) => {
    const dir = await tempDir(t);
    const server = await startRecordingServer(t);
    const path = await writeJson(dir, 'config', kubeconfig({ name: 'c', cluster: { server: server.url }, user: { username: 'alice', password: SECRET, as: 'bob' } }));
    await (await fromKubeConfig({ kubeconfigPath: path })).get('/api');
    assert.equal(server.requests[0]?.authorization, `Basic ${Buffer.from(`alice:${SECRET}`).toString('base64')}`);
    assert.equal(server.requests[0]?.impersonate, 'bob');
  });

  test('an exec credential plugin supplies the token and runs again on refresh; a failing plugin is a usage error without its output', async (t) => {
    const dir = await tempDir(t);
    const server = await startRecordingServer(t);
    const plugin = join(dir, 'plugin.mjs');
    await writeFile(
      plugin,
      `const mode = process.argv[2];
if (mode === 'fail') { process.stderr.write('not logged in: run corp-login first'); process.exit(1); }
if (mode === 'garbage') { process.stdout.write('token=${SECRET}'); process.exit(0); }
let token = '${TOKEN}';
if (mode === 'count') {
  // A new token on every run, with no expiry: each authentication must run the plugin again.
  const { readFileSync, writeFileSync, existsSync } = await import('node:fs');
  const file = new URL('./runs', import.meta.url);
  const runs = (existsSync(file) ? Number(readFileSync(file, 'utf8')) : 0) + 1;
  writeFileSync(file, String(runs));
  token = 'token-' + runs;
}
process.stdout.write(JSON.stringify({ apiVersion: 'client.authentication.k8s.io/v1', kind: 'ExecCredential', status: { token } }));
`,
    );
    const user = (mode: string) => ({ exec: { apiVersion: 'client.authentication.k8s.io/v1', command: process.execPath, args: [plugin, mode], interactiveMode: 'Never' } });
    const good = await writeJson(dir, 'good', kubeconfig({ name: 'c', cluster: { server: server.url }, user: user('ok') }));
    const kube = await fromKubeConfig({ kubeconfigPath: good });
    await kube.get('/api');
    assert.equal(server.requests[0]?.authorization, `Bearer ${TOKEN}`);

    const counting = await writeJson(dir, 'counting', kubeconfig({ name: 'c', cluster: { server: server.url }, user: user('count') }));
    const refreshed = await fromKubeConfig({ kubeconfigPath: counting });
    assert.equal(refreshed.target.headers?.['Authorization'], 'Bearer token-1');
    assert.equal((await refreshed.refresh()).headers?.['Authorization'], 'Bearer token-2');
    assert.equal(refreshed.target.headers?.['Authorization'], 'Bearer token-1');
    await refreshed.get('/api');
    assert.equal(server.requests[1]?.authorization, 'Bearer token-3');

    const failing = await writeJson(dir, 'failing', kubeconfig({ name: 'c', cluster: { server: server.url }, user: user('fail') }));
    await assert.rejects(fromKubeConfig({ kubeconfigPath: failing }), isUsageError(/authenticating as user "c-user" failed: not logged in: run corp-login first/));
    const garbage = await writeJson(dir, 'garbage', kubeconfig({ name: 'c', cluster: { server: server.url }, user: user('garbage') }));
    await assert.rejects(fromKubeConfig({ kubeconfigPath: garbage }), (error: KubemuxError) => {
      isUsageError(/did not print an ExecCredential/, SECRET)(error);
      assert.equal(error.cause, undefined);
      return true;
    });
  });

  test('a context without a user sends no credentials', async (t) => {
    const dir = await tempDir(t);
    const server = await startRecordingServer(t);
    const path = await writeJson(dir, 'config', kubeconfig({ name: 'anon', cluster: { server: server.url } }));
    const kube = await fromKubeConfig({ kubeconfigPath: path });
    assert.equal(kube.user, undefined);
    assert.deepEqual(kube.target.headers, {});
    await kube.get('/api');
    assert.equal(server.requests[0]?.authorization, undefined);
  });
});

describe('fromKubeConfig: TLS', () => {
  test('without a CA the server certificate must chain to the system roots: ERR_TLS', async (t) => {
    const dir = await tempDir(t);
    const server = await startRecordingServer(t, { key: serverPki.keyPem, cert: serverPki.certPem });
    const path = await writeJson(dir, 'config', kubeconfig({ name: 'c', cluster: { server: server.url }, user: { token: TOKEN } }));
    const kube = await fromKubeConfig({ kubeconfigPath: path });
    await assert.rejects(kube.get('/api'), (error: KubemuxError) => {
      assert.equal(error.code, ErrorCode.TLS);
      assertNoSecret(error.message, TOKEN);
      return true;
    });
    assert.equal(server.requests.length, 0);
  });

  test('insecure-skip-tls-verify accepts an unknown CA; together with a CA it is refused', async (t) => {
    const dir = await tempDir(t);
    const server = await startRecordingServer(t, { key: serverPki.keyPem, cert: serverPki.certPem });
    const skip = await writeJson(dir, 'skip', kubeconfig({ name: 'c', cluster: { server: server.url, 'insecure-skip-tls-verify': true }, user: { token: TOKEN } }));
    const kube = await fromKubeConfig({ kubeconfigPath: skip });
    assert.equal(kube.target.tls?.rejectUnauthorized, false);
    assert.equal((await kube.get('/api')).status, 200);
    const both = await writeJson(
      dir,
      'both',
      kubeconfig({ name: 'c', cluster: { server: server.url, 'insecure-skip-tls-verify': true, 'certificate-authority-data': base64(serverPki.caCertPem) }, user: { token: TOKEN } }),
    );
    await assert.rejects(fromKubeConfig({ kubeconfigPath: both }), isUsageError(/certificate authority together with insecure-skip-tls-verify/));
  });

  test('tls-server-name is the name sent (SNI) and verified', async (t) => {
    const dir = await tempDir(t);
    const named = generateCertificates({ dnsNames: ['api.kubemux.test'], ipAddresses: [] });
    const server = await startRecordingServer(t, { key: named.keyPem, cert: named.certPem });
    const cluster = { server: server.url, 'certificate-authority-data': base64(named.caCertPem) };
    const withName = await writeJson(dir, 'with', kubeconfig({ name: 'c', cluster: { ...cluster, 'tls-server-name': 'api.kubemux.test' } }));
    await (await fromKubeConfig({ kubeconfigPath: withName })).get('/api');
    assert.equal(server.requests[0]?.servername, 'api.kubemux.test');
    // By IP alone the certificate (which names only api.kubemux.test) does not match.
    const without = await writeJson(dir, 'without', kubeconfig({ name: 'c', cluster }));
    await assert.rejects((await fromKubeConfig({ kubeconfigPath: without })).get('/api'), { code: ErrorCode.TLS });
  });

  test('an unreadable certificate-authority file is a usage error naming it', async (t) => {
    const dir = await tempDir(t);
    const path = await writeJson(dir, 'config', kubeconfig({ name: 'c', cluster: { server: 'https://127.0.0.1:1', 'certificate-authority': join(dir, 'missing.crt') } }));
    await assert.rejects(fromKubeConfig({ kubeconfigPath: path }), isUsageError(/cannot read certificate-authority .*missing\.crt/));
  });
});

describe('fromKubeConfig: contexts, namespaces, loading', () => {
  test('context and namespace overrides select another cluster, user and namespace', async (t) => {
    const dir = await tempDir(t);
    const first = await startRecordingServer(t);
    const second = await startRecordingServer(t);
    const path = await writeJson(
      dir,
      'config',
      kubeconfig(
        { name: 'one', cluster: { server: first.url }, user: { token: 'token-one' }, namespace: 'ns-one' },
        { name: 'two', cluster: { server: second.url }, user: { token: 'token-two' } },
      ),
    );
    const current = await fromKubeConfig({ kubeconfigPath: path });
    assert.equal(current.namespace, 'ns-one');
    const other = await fromKubeConfig({ kubeconfigPath: path, context: 'two' });
    assert.equal(other.namespace, 'default');
    assert.equal(other.target.server, second.url);
    const overridden = await fromKubeConfig({ kubeconfigPath: path, context: 'two', namespace: 'elsewhere' });
    assert.equal(overridden.namespace, 'elsewhere');
    await other.get('/api');
    await current.get('/api');
    assert.deepEqual(second.requests.map((r) => r.authorization), ['Bearer token-two']);
    assert.deepEqual(first.requests.map((r) => r.authorization), ['Bearer token-one']);
    await assert.rejects(fromKubeConfig({ kubeconfigPath: path, context: 'three' }), isUsageError(/context "three" does not exist/));
  });

  test("a caller's KubeConfig is used as it is and not modified by a context override", async (t) => {
    const first = await startRecordingServer(t);
    const second = await startRecordingServer(t);
    const config = new KubeConfig();
    config.loadFromString(
      JSON.stringify(
        kubeconfig(
          { name: 'one', cluster: { server: first.url }, user: { token: 'token-one' } },
          { name: 'two', cluster: { server: second.url }, user: { token: 'token-two' } },
        ),
      ),
    );
    const kube = await fromKubeConfig({ kubeConfig: config, context: 'two' });
    assert.equal(config.getCurrentContext(), 'one');
    await kube.get('/api');
    assert.deepEqual(second.requests.map((r) => r.authorization), ['Bearer token-two']);
    assert.equal(first.requests.length, 0);
  });

  test('an object with only the public KubeConfig methods works (no private applyOptions)', async (t) => {
    const server = await startRecordingServer(t);
    const real = new KubeConfig();
    real.loadFromString(JSON.stringify(kubeconfig({ name: 'one', cluster: { server: server.url, 'insecure-skip-tls-verify': true }, user: { token: TOKEN } })));
    // What a future client-node without the private method would look like from outside.
    const publicOnly: KubeConfigLike = {
      getCurrentContext: () => real.getCurrentContext(),
      setCurrentContext: (name) => real.setCurrentContext(name),
      getContextObject: (name) => real.getContextObject(name),
      getCluster: (name) => real.getCluster(name),
      getUser: (name) => real.getUser(name),
      getCurrentCluster: () => real.getCurrentCluster(),
      getCurrentUser: () => real.getCurrentUser(),
      applyToHTTPSOptions: (options) => real.applyToHTTPSOptions(options as never),
    };
    const kube = await fromKubeConfig({ kubeConfig: publicOnly });
    await kube.get('/api');
    assert.equal(server.requests[0]?.authorization, `Bearer ${TOKEN}`);
    await assert.rejects(fromKubeConfig({ kubeConfig: {} as KubeConfigLike }), isUsageError(/not a @kubernetes\/client-node KubeConfig: it lacks getCurrentContext/));
  });

  test('KUBECONFIG is read when no file or object is given', async (t) => {
    const dir = await tempDir(t);
    const server = await startRecordingServer(t);
    const path = await writeJson(dir, 'config', kubeconfig({ name: 'from-env', cluster: { server: server.url }, user: { token: TOKEN } }));
    const saved = process.env['KUBECONFIG'];
    process.env['KUBECONFIG'] = path;
    try {
      const kube = await fromKubeConfig();
      assert.equal(kube.context, 'from-env');
    } finally {
      if (saved === undefined) delete process.env['KUBECONFIG'];
      else process.env['KUBECONFIG'] = saved;
    }
  });

  test('a broken kubeconfig is a usage error that does not quote the file', async (t) => {
    const dir = await tempDir(t);
    const path = join(dir, 'config');
    await writeFile(path, `apiVersion: v1\nusers:\n- name: u\n  user:\n    token: ${SECRET}\n   bad: [indent\n`);
    await assert.rejects(fromKubeConfig({ kubeconfigPath: path }), isUsageError(/cannot load the kubeconfig .*config: invalid YAML at line \d+/, SECRET));
    await assert.rejects(fromKubeConfig({ kubeconfigPath: join(dir, 'absent') }), isUsageError(/ENOENT/));
    const noServer = await writeJson(dir, 'no-server', { clusters: [{ name: 'x', cluster: {} }] });
    await assert.rejects(fromKubeConfig({ kubeconfigPath: noServer }), isUsageError(/clusters\[0\]\.cluster\.server is missing/));
    const noContext = await writeJson(dir, 'no-context', { clusters: [{ name: 'x', cluster: { server: 'https://127.0.0.1:1' } }] });
    await assert.rejects(fromKubeConfig({ kubeconfigPath: noContext }), isUsageError(/no current context/));
  });

  test('apiGet returns any status as data', async (t) => {
    const server = await startRecordingServer(t);
    const response = await apiGet({ server: `${server.url}/prefix/` }, '/api?x=1');
    assert.equal(response.status, 200);
    assert.equal(server.requests[0]?.url, '/prefix/api?x=1');
  });
});
