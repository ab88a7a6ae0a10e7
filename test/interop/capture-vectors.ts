/**
 * Records real kubectl client bytes as spec vectors (format: spec/vectors/README.md).
 *
 *   node dist/test/interop/capture-vectors.js [output-folder]
 *
 * For kubectl 1.27 (SPDY/3.1 over a POST upgrade) and kubectl 1.33 (SPDY tunnelled in WebSocket
 * binary messages, its default) it forwards one local connection that sends "hello" and
 * half-closes, through test/support/kubectl-recorder.ts, and writes the client-to-server byte
 * stream up to and including the data stream's FIN. Nothing waits for pings (kubectl sends its
 * first one after 5 s over SPDY, 10 s in the tunnel), so the vectors hold none.
 *
 * Header blocks are Go-compressed with header pairs in map order (random), so a new capture
 * differs byte for byte from the last one while meaning the same; `encodeExact` is false.
 * Exits non-zero, writing nothing for that version, when a kubectl is missing or a check fails.
 * Does nothing when the node test runner starts it (it lives below test/, which `node --test`
 * scans).
 */
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { FLAG_FIN, FrameDecoder, type Frame, type SynStreamFrame } from '../../src/spdy/index.js';
import { KubectlRecorder, RECORDER_POD, RECORDER_POD_PORT, TUNNEL_SUBPROTOCOL, type Carriage } from '../support/kubectl-recorder.js';
import { echoRoundTrip, findKubectl, kubectlMissing, kubectlVersion, startPortForward, type WebsocketsSetting } from '../support/kubectl.js';
import { VECTORS_DIR } from '../support/paths.js';

const PAYLOAD = Buffer.from('hello');
const STAGE_TIMEOUT_MS = 20_000;

interface Capture {
  readonly name: string;
  readonly minor: string;
  readonly websockets: WebsocketsSetting;
  readonly carriage: Carriage;
}

const CAPTURES: readonly Capture[] = [
  { name: 'kubectl-1.27-spdy-client', minor: '1.27', websockets: 'unset', carriage: 'spdy' },
  { name: 'kubectl-1.33-ws-tunnel-client', minor: '1.33', websockets: 'unset', carriage: 'websocket-tunnel' },
];

/** A frame in the vector file's JSON form: buffers as hex, header blocks as objects. */
function frameJson(frame: Frame): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(frame)) {
    if (Buffer.isBuffer(value)) out[`${key}Hex`] = value.toString('hex');
    else if (value instanceof Map) out[key] = Object.fromEntries(value);
    else out[key] = value;
  }
  return out;
}

/** JSON with one line per frame and per message, so a diff of two captures stays readable. */
function formatVector(vector: Record<string, unknown>): string {
  const fields = Object.entries(vector).map(([key, value]) => {
    const name = JSON.stringify(key);
    if (!Array.isArray(value) || value.length === 0) return `  ${name}: ${JSON.stringify(value)}`;
    return `  ${name}: [\n${value.map((item) => `    ${JSON.stringify(item)}`).join(',\n')}\n  ]`;
  });
  return `{\n${fields.join(',\n')}\n}\n`;
}

/** Byte offsets where each frame of a complete SPDY byte stream ends. */
function frameEnds(bytes: Buffer): number[] {
  const ends: number[] = [];
  let offset = 0;
  while (offset + 8 <= bytes.length) {
    offset += 8 + bytes.readUIntBE(offset + 5, 3);
    ends.push(offset);
  }
  return ends;
}

/**
 * The messages that carry exactly the first `length` bytes. spdystream writes an empty DATA
 * payload as its own write, and the tunnel turns every write into a message, so an empty
 * message right after the cut still belongs to the last frame.
 */
function messagesUpTo(messages: readonly Buffer[], length: number): Buffer[] {
  const kept: Buffer[] = [];
  let total = 0;
  for (const message of messages) {
    if (total === length && message.length > 0) break;
    kept.push(message);
    total += message.length;
    if (total > length) throw new Error(`the cut at byte ${length} falls inside a WebSocket message`);
  }
  if (total !== length) throw new Error(`messages carry ${total} bytes, ${length} expected`);
  return kept;
}

async function capture(spec: Capture, outDir: string, date: string): Promise<void> {
  const kubectl = findKubectl(spec.minor);
  if (kubectl === undefined) throw new Error(kubectlMissing(spec.minor));
  const version = kubectlVersion(kubectl)!.gitVersion;
  const recorder = await KubectlRecorder.start({ log: (line) => console.error(line) });
  let stop: (() => Promise<unknown>) | undefined;
  try {
    const forward = await startPortForward({
      kubectl,
      serverUrl: recorder.url,
      target: `pod/${RECORDER_POD}`,
      remotePort: RECORDER_POD_PORT,
      websockets: spec.websockets,
      readyTimeoutMs: STAGE_TIMEOUT_MS,
    });
    stop = () => forward.stop();
    const echo = await echoRoundTrip(forward.localPort, PAYLOAD, STAGE_TIMEOUT_MS);
    assert.deepEqual(echo.received, PAYLOAD, 'echo differs from what was sent');
    await forward.stop();

    assert.equal(recorder.sessions.length, 1, 'expected exactly one port-forward connection');
    const session = recorder.sessions[0]!;
    assert.equal(session.carriage, spec.carriage, `kubectl ${version} used ${session.carriage}, expected ${spec.carriage}`);

    // Cut after the data stream's FIN: the frames that describe one forwarded connection.
    const all = session.clientBytes();
    const ends = frameEnds(all);
    const frames = session.frames.map((f) => f.frame);
    assert.equal(ends.length, frames.length, 'frame boundaries disagree with the decoded frames');
    const dataStreamId = frames.find(
      (f): f is SynStreamFrame => f.type === 'SYN_STREAM' && f.headers.get('streamtype')?.[0] === 'data',
    )?.streamId;
    const finIndex = frames.findIndex((f) => f.type === 'DATA' && f.streamId === dataStreamId && (f.flags & FLAG_FIN) !== 0);
    assert.ok(finIndex >= 0, 'no FIN on the data stream');
    const cut = ends[finIndex]!;
    const hex = all.subarray(0, cut).toString('hex');
    const kept = frames.slice(0, finIndex + 1).map(frameJson);

    // The file must decode, with a fresh decoder, to exactly the frames it lists.
    const redecoded: Array<Record<string, unknown>> = [];
    new FrameDecoder().push(Buffer.from(hex, 'hex'), (frame) => redecoded.push(frameJson(frame)));
    assert.deepEqual(redecoded, kept, 'the cut byte stream does not decode to the recorded frames');

    const tunnel = spec.carriage === 'websocket-tunnel';
    const wsMessages = tunnel ? messagesUpTo(session.wsMessages, cut).map((m) => m.toString('hex')) : undefined;
    if (wsMessages !== undefined) assert.equal(wsMessages.join(''), hex, 'wsMessages do not concatenate to hex');

    const vector = {
      name: spec.name,
      description: tunnel
        ? `kubectl ${version} port-forward client bytes tunnelled in WebSocket binary messages (GET upgrade, subprotocol ${TUNNEL_SUBPROTOCOL}) ` +
          `for one local connection: error stream SYN_STREAM and empty FIN, data stream SYN_STREAM, "hello", data FIN.`
        : `kubectl ${version} port-forward client bytes over SPDY/3.1 (POST upgrade) for one local connection: ` +
          `error stream SYN_STREAM and empty FIN, data stream SYN_STREAM, "hello", data FIN.`,
      source: `captured from kubectl ${version} on ${date} by test/interop/capture-vectors.ts`,
      direction: 'client-to-server',
      transport: spec.carriage,
      ...(wsMessages === undefined ? {} : { wsMessages }),
      hex,
      encodeExact: false,
      frames: kept,
    };
    const file = join(outDir, `${spec.name}.json`);
    writeFileSync(file, formatVector(vector));
    console.log(`${file}: ${kept.length} frames, ${cut} bytes${wsMessages === undefined ? '' : ` in ${wsMessages.length} WebSocket messages`}`);
  } finally {
    await stop?.();
    await recorder.close();
  }
}

async function main(): Promise<void> {
  // `node --test dist/test/` runs every .js file below a folder named test, this one included;
  // a test run must not start kubectl or rewrite the committed vectors.
  if (process.env['NODE_TEST_CONTEXT'] !== undefined) {
    console.log('capture-vectors: not run under node --test (run it directly to capture)');
    return;
  }
  const outDir = process.argv[2] ?? VECTORS_DIR;
  mkdirSync(outDir, { recursive: true });
  const date = new Date().toISOString().slice(0, 10);
  let failed = false;
  for (const spec of CAPTURES) {
    try {
      await capture(spec, outDir, date);
    } catch (err) {
      failed = true;
      console.error(`${spec.name}: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  if (failed) process.exitCode = 1;
}

await main();
