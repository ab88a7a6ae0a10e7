/**
 * Our SPDY codec against the real client: a real kubectl port-forwards to the fake cluster behind
 * a socket tap (test/support/kubectl-recorder.ts), whose recorded client bytes are decoded with
 * src/spdy; the fake cluster's echo pod sends the data back. 1 MiB goes through kubectl both ways
 * and must come back intact; the recorded client frames must show kubectl's stream protocol
 * (error stream first, closed empty; then the data stream; odd, increasing ids) over the
 * carriage each kubectl version is expected to choose.
 *
 * Each kubectl version is skipped, with a message, when its binary is not installed.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test, type TestContext } from 'node:test';
import { FLAG_FIN, type Frame, type HeaderBlock, type SynStreamFrame } from '../../src/spdy/index.js';
import {
  KubectlRecorder,
  RECORDER_POD,
  RECORDER_POD_PORT,
  TUNNEL_SUBPROTOCOL,
  type Carriage,
  type RecordedRequest,
  type RecordedSession,
} from '../support/kubectl-recorder.js';
import {
  echoRoundTrip,
  findKubectl,
  kubectlMissing,
  startPortForward,
  type PortForward,
  type WebsocketsSetting,
} from '../support/kubectl.js';
import { sha256 } from '../support/streams.js';

/** Bound on each stage of a case (kubectl startup, the echo, kubectl shutdown). */
const STAGE_TIMEOUT_MS = 20_000;
const PAYLOAD_BYTES = 1024 * 1024;

interface Case {
  readonly minor: string;
  readonly websockets: WebsocketsSetting;
  readonly expected: Carriage;
  readonly label: string;
}

const CASES: readonly Case[] = [
  // 1.27 predates tunnelling and ignores the variable.
  { minor: '1.27', websockets: 'unset', expected: 'spdy', label: 'kubectl 1.27 speaks SPDY/3.1 over a POST upgrade' },
  { minor: '1.30', websockets: 'true', expected: 'websocket-tunnel', label: 'kubectl 1.30 with KUBECTL_PORT_FORWARD_WEBSOCKETS=true tunnels SPDY in WebSocket' },
  { minor: '1.33', websockets: 'unset', expected: 'websocket-tunnel', label: 'kubectl 1.33 tunnels SPDY in WebSocket by default' },
  { minor: '1.33', websockets: 'false', expected: 'spdy', label: 'kubectl 1.33 with KUBECTL_PORT_FORWARD_WEBSOCKETS=false speaks SPDY/3.1' },
];

/** Header blocks compare as sets: Go writes header pairs in map order, which is random. */
function sortedHeaders(headers: HeaderBlock): Array<[string, string[]]> {
  return [...headers].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

function header(request: RecordedRequest, name: string): string[] {
  return request.rawHeaders.filter(([n]) => n.toLowerCase() === name.toLowerCase()).map(([, v]) => v);
}

function describeFrame(frame: Frame): string {
  switch (frame.type) {
    case 'DATA':
      return `DATA stream ${frame.streamId} flags ${frame.flags} ${frame.data.length} bytes`;
    case 'SYN_STREAM':
      return `SYN_STREAM stream ${frame.streamId} ${JSON.stringify(Object.fromEntries(frame.headers))}`;
    case 'PING':
      return `PING ${frame.id}`;
    case 'RST_STREAM':
      return `RST_STREAM stream ${frame.streamId} status ${frame.status}`;
    case 'GOAWAY':
      return `GOAWAY last ${frame.lastGoodStreamId} status ${frame.status}`;
    default:
      return frame.type;
  }
}

/** A compact account of what the recorder saw, for failure messages. */
function transcript(recorder: KubectlRecorder, kubectlOutput: string): string {
  const lines = recorder.requests.map((r) => `${r.method} ${r.url} -> ${r.status}${r.known ? '' : ' (no route)'}`);
  for (const session of recorder.sessions) {
    lines.push(`session (${session.carriage}), closed at ${session.closedAtMs?.toFixed(0) ?? '-'} ms:`);
    // DATA frames of the payload are many; show the first and last few.
    const frames = session.frames.length > 24 ? [...session.frames.slice(0, 12), undefined, ...session.frames.slice(-12)] : session.frames;
    for (const f of frames) lines.push(f === undefined ? '  ...' : `  ${f.atMs.toFixed(1)} ms ${describeFrame(f.frame)}`);
    for (const n of session.notes) lines.push(`  note ${n.atMs.toFixed(1)} ms: ${n.text}`);
  }
  return `${lines.join('\n')}\nkubectl output:\n${kubectlOutput}`;
}

for (const c of CASES) {
  test(c.label, { timeout: 4 * STAGE_TIMEOUT_MS }, async (t: TestContext) => {
    const kubectl = findKubectl(c.minor);
    if (kubectl === undefined) {
      t.skip(kubectlMissing(c.minor));
      return;
    }
    const recorder = await KubectlRecorder.start({ log: (line) => t.diagnostic(line) });
    let forward: PortForward | undefined;
    // One hook, so kubectl stops before its server goes away (hooks also run on timeout).
    t.after(async () => {
      await forward?.stop();
      await recorder.close();
    });
    forward = await startPortForward({
      kubectl,
      serverUrl: recorder.url,
      target: `pod/${RECORDER_POD}`,
      remotePort: RECORDER_POD_PORT,
      websockets: c.websockets,
      readyTimeoutMs: STAGE_TIMEOUT_MS,
    });
    const output = forward.output;
    const failure = (what: string): string => `${what}\n${transcript(recorder, output())}`;

    const payload = randomBytes(PAYLOAD_BYTES);
    const echo = await echoRoundTrip(forward.localPort, payload, STAGE_TIMEOUT_MS).catch((err: unknown) => {
      throw new Error(failure(err instanceof Error ? err.message : String(err)));
    });
    assert.equal(echo.received.length, payload.length, failure('echo length differs from what was sent'));
    assert.equal(sha256(echo.received), sha256(payload), failure('echo differs from what was sent'));

    // The recorder saw the client's data FIN before it answered with its own, so everything up
    // to the FIN is recorded by now; stopping kubectl shows how it ends the connection.
    const exit = await forward.stop();
    await recorder.waitFor('the port-forward connection to close', () => (recorder.sessions.every((s) => s.closedAtMs !== undefined) ? true : undefined), STAGE_TIMEOUT_MS)
      .catch((err: unknown) => {
        throw new Error(failure(err instanceof Error ? err.message : String(err)));
      });

    assert.equal(recorder.sessions.length, 1, failure('expected exactly one port-forward connection'));
    const session: RecordedSession = recorder.sessions[0]!;
    assert.equal(session.carriage, c.expected, failure(`expected carriage ${c.expected}`));
    const request = session.request;
    if (c.expected === 'spdy') {
      assert.equal(request.method, 'POST', failure('SPDY upgrade must be a POST'));
      assert.deepEqual(header(request, 'Upgrade'), ['SPDY/3.1']);
      assert.deepEqual(header(request, 'X-Stream-Protocol-Version'), ['portforward.k8s.io']);
      assert.equal(
        recorder.requests.filter((r) => r.upgrade && header(r, 'Upgrade').some((v) => v.toLowerCase() === 'websocket')).length,
        0,
        failure('no WebSocket upgrade was expected'),
      );
    } else {
      assert.equal(request.method, 'GET', failure('WebSocket upgrade must be a GET'));
      assert.deepEqual(header(request, 'Upgrade').map((v) => v.toLowerCase()), ['websocket']);
      const offered = header(request, 'Sec-WebSocket-Protocol').flatMap((v) => v.split(',').map((p) => p.trim()));
      assert.ok(offered.includes(TUNNEL_SUBPROTOCOL), failure(`Sec-WebSocket-Protocol must offer ${TUNNEL_SUBPROTOCOL}`));
      assert.ok(session.wsMessages.length > 0, failure('no binary WebSocket messages recorded'));
    }
    assert.equal(request.url, `/api/v1/namespaces/default/pods/${RECORDER_POD}/portforward`, failure('unexpected port-forward URL'));
    assert.ok(!session.notes.some((n) => n.text.startsWith('decode failed')), failure('our decoder rejected kubectl bytes'));

    const frames = session.frames.map((f) => f.frame);
    const syns = frames.filter((f): f is SynStreamFrame => f.type === 'SYN_STREAM');
    assert.equal(syns.length, 2, failure('expected one error and one data SYN_STREAM'));
    const [errorSyn, dataSyn] = syns as [SynStreamFrame, SynStreamFrame];
    const pairHeaders = (streamType: string): Array<[string, string[]]> => [
      ['port', [String(RECORDER_POD_PORT)]],
      ['requestid', ['0']],
      ['streamtype', [streamType]],
    ];
    assert.deepEqual(sortedHeaders(errorSyn.headers), pairHeaders('error'), failure('first SYN_STREAM must open the error stream'));
    assert.deepEqual(sortedHeaders(dataSyn.headers), pairHeaders('data'), failure('second SYN_STREAM must open the data stream'));
    for (const syn of syns) {
      assert.equal(syn.streamId % 2, 1, failure(`client stream id ${syn.streamId} must be odd`));
      assert.equal(syn.associatedStreamId, 0);
    }
    assert.ok(dataSyn.streamId > errorSyn.streamId, failure('stream ids must increase'));
    assert.ok(
      frames.indexOf(errorSyn) < frames.indexOf(dataSyn),
      failure('the error stream must be opened before the data stream'),
    );

    const onStream = (id: number): Array<Extract<Frame, { type: 'DATA' }>> =>
      frames.filter((f): f is Extract<Frame, { type: 'DATA' }> => f.type === 'DATA' && f.streamId === id);
    const errorData = onStream(errorSyn.streamId);
    assert.deepEqual(
      errorData.map((f) => [f.flags, f.data.length]),
      [[FLAG_FIN, 0]],
      failure('the error stream must carry exactly one empty DATA frame with FIN'),
    );
    const dataFrames = onStream(dataSyn.streamId);
    const sent = Buffer.concat(dataFrames.map((f) => f.data));
    assert.equal(sha256(sent), sha256(payload), failure('DATA on the data stream differs from what the local client sent'));
    const finIndex = dataFrames.findIndex((f) => (f.flags & FLAG_FIN) !== 0);
    assert.equal(finIndex, dataFrames.length - 1, failure('the data stream must end with exactly one FIN, on its last DATA frame'));

    const pings = frames.filter((f) => f.type === 'PING');
    assert.ok(pings.every((p) => p.type === 'PING' && p.id % 2 === 1), failure('client ping ids must be odd'));

    const largest = Math.max(...dataFrames.map((f) => f.data.length));
    t.diagnostic(
      `${session.carriage}: ${dataFrames.length} DATA frames on the data stream (largest ${largest} bytes)` +
        (session.carriage === 'websocket-tunnel'
          ? `, ${session.wsMessages.length} WebSocket messages for ${session.clientBytes().length} SPDY bytes`
          : '') +
        `; echo took ${echo.elapsedMs.toFixed(0)} ms`,
    );
    const after = frames.slice(frames.indexOf(dataFrames[finIndex]!) + 1).map(describeFrame);
    t.diagnostic(`after the data FIN: [${after.join(', ')}]; kubectl exit ${JSON.stringify(exit)}; notes: ${session.notes.map((n) => n.text).join('; ')}`);
  });
}
