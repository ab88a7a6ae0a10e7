/**
 * The SPDY/3.1 codec, against baselines that do the least possible work on the same bytes.
 *
 * The requirement is "the codec is never the bottleneck: decoding DATA frames must not
 * copy payloads". So DATA is measured against copying the same bytes once: a decoder that
 * copied payloads could at best match that baseline, a zero-copy one should beat it by far. The
 * input arrives in 64 KiB chunks, as Node's socket reads deliver it, so frames straddle chunk
 * boundaries; frame-aligned chunks show the best case. The share of payloads handed out as
 * views is counted, not assumed.
 */
import { randomFillSync } from 'node:crypto';
import {
  FRAME_HEADER_BYTES,
  FrameDecoder,
  FrameEncoder,
  HeaderCompressor,
  HeaderDecompressor,
  encodeDataFrameHeader,
  encodeHeaderBlock,
  encodePing,
  encodeWindowUpdate,
  type Frame,
  type HeaderBlock,
} from '../src/spdy/index.js';
import {
  type Bench,
  type BenchContext,
  type BenchSection,
  compare,
  comparisonRow,
  comparisonTable,
  formatNumber,
  formatPercent,
  markdownTable,
  spreadNote,
  type Comparison,
} from './support/harness.js';

const KIB = 1024;
/** Node's net.Socket reads (libuv) deliver at most 64 KiB per 'data' event. */
const SOCKET_CHUNK_BYTES = 64 * KIB;
/** Payload bytes per measured op: large enough to amortise the op, small enough to stay in cache. */
const STREAM_PAYLOAD_BYTES = 1024 * KIB;
const STREAM_ID = 1;

/** Keeps results observable so the JIT cannot drop the work that produced them. */
let sink = 0;
/**
 * The last frame a handler saw. Storing it makes every frame escape, as it does into a session's
 * dispatcher; otherwise V8 may elide the allocation of a frame object the handler barely reads,
 * in the minimal baseline parsers especially, and the comparison would be against nothing.
 */
let lastFrame: Frame | undefined;

function fail(message: string): never {
  throw new Error(`codec bench: ${message}`);
}

// ---------------------------------------------------------------------------------------------
// (a) DATA frames

type Chunking = 'socket' | 'split' | 'aligned';

const CHUNKING_LABEL: Record<Chunking, string> = {
  socket: '64 KiB chunks (frames straddle)',
  split: '64 KiB chunks, splitDataPayloads (the session)',
  aligned: 'frame-aligned chunks',
};

interface DataStream {
  readonly payloadBytes: number;
  readonly frames: number;
  /** The whole byte stream: headers and payloads, as the peer would write it. */
  readonly wire: Buffer;
  /** Offset of each frame's header in `wire`. */
  readonly offsets: readonly number[];
  /** The payloads, as views of `wire` (what the sender hands to the encoder). */
  readonly payloads: readonly Buffer[];
}

function dataStream(payloadBytes: number): DataStream {
  const frames = STREAM_PAYLOAD_BYTES / payloadBytes;
  const frameBytes = FRAME_HEADER_BYTES + payloadBytes;
  // Buffer.alloc of this size never comes from the shared pool, so `data.buffer === wire.buffer`
  // below tells a view from a copy.
  const wire = Buffer.alloc(frames * frameBytes);
  randomFillSync(wire);
  const offsets: number[] = [];
  const payloads: Buffer[] = [];
  for (let i = 0; i < frames; i++) {
    const offset = i * frameBytes;
    encodeDataFrameHeader(STREAM_ID, 0, payloadBytes).copy(wire, offset);
    offsets.push(offset);
    payloads.push(wire.subarray(offset + FRAME_HEADER_BYTES, offset + frameBytes));
  }
  return { payloadBytes, frames, wire, offsets, payloads };
}

function chunksOf(stream: DataStream, chunking: Chunking): Buffer[] {
  const size =
    chunking !== 'aligned'
      ? SOCKET_CHUNK_BYTES
      : Math.max(1, Math.floor(SOCKET_CHUNK_BYTES / (FRAME_HEADER_BYTES + stream.payloadBytes))) * (FRAME_HEADER_BYTES + stream.payloadBytes);
  const chunks: Buffer[] = [];
  for (let offset = 0; offset < stream.wire.length; offset += size) chunks.push(stream.wire.subarray(offset, offset + size));
  return chunks;
}

/** Decodes the stream once and checks every frame against what was encoded. */
function verifyDecoding(stream: DataStream, chunks: readonly Buffer[], split: boolean): { views: number; copies: number; copiedBytes: number } {
  const decoder = new FrameDecoder({ splitDataPayloads: split });
  let index = 0;
  let views = 0;
  let copies = 0;
  let copiedBytes = 0;
  let pieces: Buffer[] = [];
  let pieceBytes = 0;
  for (const chunk of chunks) {
    decoder.push(chunk, (frame) => {
      if (frame.type !== 'DATA' || frame.streamId !== STREAM_ID || frame.flags !== 0) fail(`unexpected frame ${frame.type}`);
      // In split mode a payload may come in pieces; a frame counts as a view when every piece is.
      pieces.push(frame.data);
      pieceBytes += frame.data.length;
      if (pieceBytes < stream.payloads[index]!.length) return;
      if (!Buffer.concat(pieces).equals(stream.payloads[index]!)) fail(`payload ${index} differs`);
      if (pieces.every((piece) => piece.buffer === stream.wire.buffer)) {
        views++;
      } else {
        copies++;
        copiedBytes += pieceBytes;
      }
      pieces = [];
      pieceBytes = 0;
      index++;
    });
  }
  if (index !== stream.frames || !decoder.idle) fail(`decoded ${index} of ${stream.frames} frames`);
  return { views, copies, copiedBytes };
}

async function dataFrames(context: BenchContext): Promise<BenchSection> {
  const rows: string[][] = [];
  const results: Comparison[] = [];
  const copyRows: string[][] = [];
  // 32 KiB is what Kubernetes peers write (Go's io.Copy buffer); 16 and 64 KiB bracket it.
  for (const payloadBytes of [16 * KIB, 32 * KIB, 64 * KIB]) {
    const stream = dataStream(payloadBytes);
    const encoder = new FrameEncoder();
    // The encoder's output, written at the frame's place in `wire`, must be the wire itself:
    // then the bytes the decoder reads below are the bytes the encoder produced.
    for (let i = 0; i < stream.frames; i++) {
      const [header, payload] = encoder.encode({ type: 'DATA', streamId: STREAM_ID, flags: 0, data: stream.payloads[i]! });
      if (!header!.equals(stream.wire.subarray(stream.offsets[i]!, stream.offsets[i]! + FRAME_HEADER_BYTES)) || payload !== stream.payloads[i]) {
        fail('FrameEncoder output differs from the prepared wire');
      }
    }
    for (const chunking of ['socket', 'split', 'aligned'] as const) {
      const chunks = chunksOf(stream, chunking);
      const shares = verifyDecoding(stream, chunks, chunking === 'split');
      const label = `DATA ${payloadBytes / KIB} KiB, ${CHUNKING_LABEL[chunking]}`;
      context.progress(label);

      const decoder = new FrameDecoder({ splitDataPayloads: chunking === 'split' });
      let decodedBytes = 0;
      const onFrame = (frame: Frame): void => {
        lastFrame = frame;
        if (frame.type === 'DATA') decodedBytes += frame.data.length;
      };
      // One op sends and receives the whole stream. Sending: FrameEncoder.encode per frame, its
      // 8-byte header written at the frame's place in the wire buffer; the payload is already
      // there, as the kernel's gather of a writev would put it. Receiving: the decoder, chunk by
      // chunk.
      const codecOp = (): void => {
        for (let i = 0; i < stream.frames; i++) {
          const out = encoder.encode({ type: 'DATA', streamId: STREAM_ID, flags: 0, data: stream.payloads[i]! });
          out[0]!.copy(stream.wire, stream.offsets[i]!);
        }
        for (const chunk of chunks) decoder.push(chunk, onFrame);
      };
      const target = Buffer.alloc(stream.wire.length);
      const copyOp = (): void => {
        let offset = 0;
        for (const chunk of chunks) offset += chunk.copy(target, offset);
        sink += offset;
      };
      const result = await compare(
        { name: 'encode + decode', fn: codecOp },
        { name: 'one Buffer.copy', fn: copyOp },
        { bytesPerOp: stream.wire.length },
      );
      if (decodedBytes % STREAM_PAYLOAD_BYTES !== 0 || decodedBytes === 0) fail('decoder lost payload bytes');
      sink += decodedBytes;
      rows.push(comparisonRow(label, result));
      results.push(result);
      copyRows.push([
        `${payloadBytes / KIB} KiB`,
        CHUNKING_LABEL[chunking],
        String(stream.frames),
        `${shares.views} (${formatPercent(shares.views / stream.frames)})`,
        `${shares.copies} (${formatPercent(shares.copies / stream.frames)})`,
        formatPercent(shares.copiedBytes / STREAM_PAYLOAD_BYTES),
      ]);
    }
  }
  return {
    title: 'Codec: DATA frames',
    blocks: [
      `A stream of 1 MiB of DATA payload per op, encoded (FrameEncoder.encode, header placed in the wire buffer) and decoded (FrameDecoder.push per chunk). Baseline: copying the same wire bytes once, chunk by chunk, into a preallocated buffer. Rates are wire bytes (headers included) per second; ratio > 1 means the codec costs less than one copy of the data.`,
      comparisonTable(rows),
      spreadNote(results),
      'DATA payloads as the decoder returned them: views of the input chunk (zero copy) or gathered into a new buffer because the payload straddled chunks:',
      markdownTable(['payload', 'chunking', 'frames', 'views', 'gathered copies', 'payload bytes copied'], copyRows),
    ],
  };
}

// ---------------------------------------------------------------------------------------------
// (b) header blocks

/** The block kubectl sends for each stream of a port-forward connection (lower-case on the wire). */
function kubernetesHeaders(n: number): HeaderBlock {
  return new Map([
    ['streamtype', [n % 2 === 0 ? 'error' : 'data']],
    ['port', ['8080']],
    ['requestid', [String(n >> 1)]],
  ]);
}

function kubernetesHeadersRecord(n: number): Record<string, string> {
  return { streamtype: n % 2 === 0 ? 'error' : 'data', port: '8080', requestid: String(n >> 1) };
}

async function headerBlocks(context: BenchContext): Promise<BenchSection> {
  context.progress('header blocks');
  // One context pair for the whole run, as in a session: each block continues the zlib stream,
  // so blocks after the first compress against the ones before.
  const compressor = new HeaderCompressor();
  const decompressor = new HeaderDecompressor();
  let n = 0;
  let compressedBytes = 0;
  let blocks = 0;
  const blockOp = (): void => {
    const compressed = compressor.compress(kubernetesHeaders(n++));
    compressedBytes += compressed.length;
    blocks++;
    sink += decompressor.decompress(compressed).size;
  };
  let j = 0;
  const jsonOp = (): void => {
    sink += (JSON.parse(JSON.stringify(kubernetesHeadersRecord(j++))) as { port: string }).port.length;
  };
  // Correctness first: a block must come back as it went in.
  for (let i = 0; i < 4; i++) {
    const back = decompressor.decompress(compressor.compress(kubernetesHeaders(n)));
    if (JSON.stringify([...back]) !== JSON.stringify([...kubernetesHeaders(n)])) fail('header block round trip differs');
    n++;
  }
  const blockResult = await compare({ name: 'compress + decompress', fn: blockOp }, { name: 'JSON.stringify + parse', fn: jsonOp });

  // The same block inside its frame: what opening one stream costs each side.
  const encoder = new FrameEncoder();
  const decoder = new FrameDecoder();
  let streamId = 1;
  const onFrame = (frame: Frame): void => {
    lastFrame = frame;
    if (frame.type === 'SYN_STREAM') sink += frame.headers.size;
  };
  const synOp = (): void => {
    const id = streamId;
    streamId = streamId >= 0x7fff_fff0 ? 1 : streamId + 2;
    const [frame] = encoder.encode({ type: 'SYN_STREAM', streamId: id, associatedStreamId: 0, priority: 0, slot: 0, flags: 0, headers: kubernetesHeaders(id) });
    decoder.push(frame!, onFrame);
  };
  const synResult = await compare({ name: 'SYN_STREAM encode + decode', fn: synOp }, { name: 'JSON.stringify + parse', fn: jsonOp });

  const uncompressed = encodeHeaderBlock(kubernetesHeaders(n)).length;
  return {
    title: 'Codec: header blocks',
    blocks: [
      `The 3-header Kubernetes block {streamtype, port, requestid} (requestid counting up, streamtype alternating error/data), on one persistent compression context pair. Baseline (a reference point only): JSON.stringify + JSON.parse of the same headers as a plain object.`,
      comparisonTable([comparisonRow('header block compress + decompress', blockResult, 'blocks'), comparisonRow('SYN_STREAM frame encode + decode', synResult, 'frames')]),
      spreadNote([blockResult, synResult]),
      `Compressed block size: ${formatNumber(compressedBytes / blocks)} bytes on average (about ${uncompressed} bytes uncompressed).`,
    ],
  };
}

// ---------------------------------------------------------------------------------------------
// (c) small control frames

// The least a parser for one known control frame type can do: read the fields, build the frame,
// hand it on. No validation, no dispatch on type. One function per type, so that each stays
// monomorphic like a hand-written parser would be.

function minimalPingParse(chunk: Buffer, onFrame: (frame: Frame) => void): void {
  for (let offset = 0; offset + 12 <= chunk.length; offset += 12) {
    onFrame({ type: 'PING', id: chunk.readUInt32BE(offset + 8), flags: chunk[offset + 4]! });
  }
}

function minimalWindowUpdateParse(chunk: Buffer, onFrame: (frame: Frame) => void): void {
  for (let offset = 0; offset + 16 <= chunk.length; offset += 16) {
    onFrame({
      type: 'WINDOW_UPDATE',
      streamId: chunk.readUInt32BE(offset + 8) & 0x7fff_ffff,
      deltaWindowSize: chunk.readUInt32BE(offset + 12) & 0x7fff_ffff,
      flags: chunk[offset + 4]!,
    });
  }
}

async function controlFrames(context: BenchContext): Promise<BenchSection> {
  const BATCH = 1024;
  const rows: string[][] = [];
  const results: Comparison[] = [];
  let seen = 0;
  const onFrame = (frame: Frame): void => {
    lastFrame = frame;
    if (frame.type === 'PING' || frame.type === 'WINDOW_UPDATE') seen++;
  };
  const cases = [
    { label: 'PING', parse: minimalPingParse, encode: (i: number) => encodePing({ type: 'PING', id: 2 * i + 1, flags: 0 }) },
    {
      label: 'WINDOW_UPDATE',
      parse: minimalWindowUpdateParse,
      encode: (i: number) => encodeWindowUpdate({ type: 'WINDOW_UPDATE', streamId: 2 * (i % 64) + 1, deltaWindowSize: 32 * KIB, flags: 0 }),
    },
  ];
  for (const { label, parse, encode } of cases) {
    const frames = Array.from({ length: BATCH }, (_, i) => encode(i));
    const batch = Buffer.concat(frames);
    const single = frames[0]!;
    // Correctness first.
    const check: Frame[] = [];
    new FrameDecoder().push(batch, (frame) => check.push(frame));
    const expected: Frame[] = [];
    parse(batch, (frame) => expected.push(frame));
    if (JSON.stringify(check) !== JSON.stringify(expected)) fail(`${label} decoding differs from the minimal parser`);

    context.progress(`${label} frames`);
    const decoder = new FrameDecoder();
    // Frames arrive alone (a ping, or a window update between DATA reads) or back to back.
    const single1 = await compare(
      { name: 'FrameDecoder', fn: () => decoder.push(single, onFrame) },
      { name: `minimal ${label} parser`, fn: () => parse(single, onFrame) },
    );
    const batched = await compare(
      { name: 'FrameDecoder', fn: () => decoder.push(batch, onFrame) },
      { name: `minimal ${label} parser`, fn: () => parse(batch, onFrame) },
      { itemsPerOp: BATCH },
    );
    results.push(single1, batched);
    rows.push(comparisonRow(`${label} decode, one frame per push`, single1, 'frames'));
    rows.push(comparisonRow(`${label} decode, ${BATCH} frames per push`, batched, 'frames'));
  }
  sink += seen;
  return {
    title: 'Codec: small control frames',
    blocks: [
      'Decoding only (the frames are encoded once, up front). Baseline: a hand-written parser for that one frame type that reads the fields and builds the same frame object, without validation or type dispatch; it is the floor, so the ratio is below 1 by construction and says how much the general decoder costs above it.',
      comparisonTable(rows),
      spreadNote(results),
    ],
  };
}

/** The codec bench: `node dist/bench/run.js codec`. */
const bench: Bench = {
  name: 'codec',
  async run(context) {
    const sections = [await dataFrames(context), await headerBlocks(context), await controlFrames(context)];
    // Reading `sink` once keeps every result it collected alive to the end.
    if (Number.isNaN(sink) || lastFrame === undefined) fail('no work was observed');
    return sections;
  },
};

export default bench;
