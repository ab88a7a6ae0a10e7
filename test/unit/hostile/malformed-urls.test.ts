/**
 * Request targets that are not paths, and percent-escapes that do not decode, sent as plain
 * requests and as upgrades to the fake cluster and to a bare port-forward endpoint: each gets an
 * HTTP error (400, or the API server's 404), and the process keeps serving. Before the fix, `//`
 * and `%E0%A4%A` threw out of the request handler (`new URL`, `decodeURIComponent`) and the
 * process exited.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseRequestTarget } from '../../../src/server/request-target.js';
import { legitForward, rawHttp } from '../../support/hostile.js';
import { startDemoCluster, startEchoServer, startEndpointServer, testPod } from '../../support/servers.js';

const WEBSOCKET_HEADERS = 'Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n';
const TUNNEL = `${WEBSOCKET_HEADERS}Sec-WebSocket-Protocol: SPDY/3.1+portforward.k8s.io\r\n`;
const V4 = `${WEBSOCKET_HEADERS}Sec-WebSocket-Protocol: v4.channel.k8s.io\r\n`;
const SPDY = 'Connection: Upgrade\r\nUpgrade: SPDY/3.1\r\nX-Stream-Protocol-Version: portforward.k8s.io\r\n';

function request(method: string, target: string, headers = ''): string {
  return `${method} ${target} HTTP/1.1\r\nHost: 127.0.0.1\r\n${headers}Content-Length: 0\r\nConnection: close\r\n\r\n`;
}

describe('malformed request targets', { timeout: 30_000 }, () => {
  test('the fake cluster answers each with an HTTP error and keeps serving', async (t) => {
    const demo = await startDemoCluster();
    t.after(() => demo.close());
    const port = Number(new URL(demo.cluster.url).port);
    const cases: ReadonlyArray<{ what: string; text: string; status: number }> = [
      // `//` is a path the API does not serve; `*` and the like are not paths at all.
      { what: 'GET //', text: request('GET', '//'), status: 404 },
      { what: 'GET // as a WebSocket upgrade', text: request('GET', '//', TUNNEL), status: 404 },
      { what: 'POST // as a SPDY upgrade', text: request('POST', '//', SPDY), status: 405 },
      { what: 'a fault name that does not decode', text: request('POST', '/kubemux/faults/%E0%A4%A'), status: 400 },
      { what: 'OPTIONS *', text: request('OPTIONS', '*'), status: 400 },
      { what: 'GET * as a WebSocket upgrade', text: request('GET', '*', TUNNEL), status: 400 },
      { what: 'an absolute-form target', text: request('GET', 'http://127.0.0.1/version'), status: 200 },
      { what: 'a path segment that does not decode', text: request('GET', '/api/v1/namespaces/%E0%A4%A/pods'), status: 404 },
      { what: 'a portforward path that does not decode, upgraded', text: request('GET', '/api/v1/namespaces/default/pods/%zz/portforward', TUNNEL), status: 404 },
      { what: '//host/path routes on the whole path, not on /path of another host', text: request('GET', '//evil.example/version'), status: 404 },
    ];
    for (const { what, text, status } of cases) {
      const answer = await rawHttp(port, text);
      assert.equal(answer.status, status, `${what}: ${answer.head}`);
    }
    await legitForward(demo.cluster.url);
    assert.equal(demo.cluster.stats().dialFailures, 0);
  });

  test('a bare endpoint (which ignores the path) upgrades // and answers * with 400; it keeps serving', async (t) => {
    const echo = await startEchoServer();
    t.after(() => echo.close());
    const server = await startEndpointServer(testPod({ 8080: echo.port }));
    t.after(() => server.close());
    for (const headers of [TUNNEL, V4]) {
      const upgraded = await rawHttp(server.port, request('GET', '//?ports=8080', headers), { untilHead: true });
      assert.equal(upgraded.status, 101, upgraded.head);
      const refused = await rawHttp(server.port, request('GET', '*', headers));
      assert.equal(refused.status, 400, refused.head);
    }
    await legitForward(server.url);
  });

  test('parseRequestTarget: origin-form and absolute-form parse; anything else is undefined, never a throw', () => {
    assert.equal(parseRequestTarget('/api/v1?watch=1')?.pathname, '/api/v1');
    assert.equal(parseRequestTarget('/api/v1?watch=1')?.searchParams.get('watch'), '1');
    assert.equal(parseRequestTarget('//')?.pathname, '//');
    assert.equal(parseRequestTarget('//evil.example/x')?.pathname, '//evil.example/x');
    assert.equal(parseRequestTarget('http://h:1/p?q=2')?.pathname, '/p');
    for (const bad of [undefined, '', '*', 'version', 'ftp://h/x', 'http://[/x']) assert.equal(parseRequestTarget(bad), undefined, String(bad));
  });
});
