/**
 * Hostile decoder input shared by the mutation property test and the soak run (bench/soak.ts):
 * mutations of valid encodings (bit flips, truncation, inserted and deleted bytes, oversized
 * length fields) and the check of every decoder invariant under such input.
 */
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ErrorCode, KubemuxError } from '../../src/errors.js';
import { FrameDecoder } from '../../src/spdy/decoder.js';
import { FrameEncoder } from '../../src/spdy/encode.js';
import type { Frame } from '../../src/spdy/frames.js';
import { chunkBytes, type ChunkPlan } from './frame-arbitraries.js';

/** The codes decoding may produce; anything else (INVALID_ARGUMENT, session codes) is a bug. */
export const DECODE_ERRORS: ReadonlySet<string> = new Set([
  ErrorCode.FRAME_TOO_LARGE,
  ErrorCode.PROTOCOL,
  ErrorCode.UNSUPPORTED_VERSION,
  ErrorCode.HEADER_BLOCK,
  ErrorCode.HEADER_BLOCK_TOO_LARGE,
  ErrorCode.COMPRESSION,
]);

/** One change to a valid encoding. */
export type Mutation =
  | { readonly kind: 'flip'; readonly at: number; readonly bit: number }
  | { readonly kind: 'truncate'; readonly at: number }
  | { readonly kind: 'insert'; readonly at: number; readonly bytes: Uint8Array }
  | { readonly kind: 'delete'; readonly at: number; readonly count: number }
  | { readonly kind: 'length'; readonly frame: number; readonly length: number };

/** Any {@link Mutation}. */
export const mutationArb: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 16 }) }),
  fc.record({ kind: fc.constant('delete' as const), at: fc.nat(), count: fc.integer({ min: 1, max: 16 }) }),
  fc.record({
    kind: fc.constant('length' as const),
    frame: fc.nat(),
    length: fc.oneof(fc.constant(0xff_ffff), fc.integer({ min: 0, max: 0xff_ffff })),
  }),
);

/** Applies one mutation; `starts` are the offsets where frames began before any mutation. */
export function mutate(bytes: Buffer, mutation: Mutation, starts: readonly number[]): Buffer {
  if (bytes.length === 0) return bytes;
  switch (mutation.kind) {
    case 'flip': {
      const out = Buffer.from(bytes);
      const at = mutation.at % out.length;
      out[at] = out[at]! ^ (1 << mutation.bit);
      return out;
    }
    case 'truncate':
      return bytes.subarray(0, mutation.at % bytes.length);
    case 'insert': {
      const at = mutation.at % (bytes.length + 1);
      return Buffer.concat([bytes.subarray(0, at), mutation.bytes, bytes.subarray(at)]);
    }
    case 'delete': {
      const at = mutation.at % bytes.length;
      return Buffer.concat([bytes.subarray(0, at), bytes.subarray(at + mutation.count)]);
    }
    case 'length': {
      const start = starts[mutation.frame % starts.length]!;
      if (start + 8 > bytes.length) return bytes;
      const out = Buffer.from(bytes);
      out.writeUIntBE(mutation.length, start + 5, 3);
      return out;
    }
  }
}

/** Encodes `frames` with a fresh encoder; returns the bytes and where each frame began (for length mutations). */
export function encodeWithStarts(frames: readonly Frame[]): { bytes: Buffer; starts: number[] } {
  const encoder = new FrameEncoder();
  const starts: number[] = [];
  const parts: Buffer[] = [];
  let offset = 0;
  for (const frame of frames) {
    starts.push(offset);
    for (const part of encoder.encode(frame)) {
      parts.push(part);
      offset += part.length;
    }
  }
  return { bytes: Buffer.concat(parts), starts };
}

/**
 * Feeds `bytes` in the chunks `plan` makes and checks every invariant of the decoder under
 * hostile input: only codec KubemuxErrors (scope session), at most 8 + maxFrameBytes buffered
 * after every push, and the same error again on any later push. Returns the error, if any.
 */
export function checkHostileDecoding(bytes: Uint8Array, plan: ChunkPlan, maxFrameBytes: number): KubemuxError | undefined {
  const decoder = new FrameDecoder({ maxFrameBytes, maxHeaderBlockBytes: 16 * 1024 });
  let failure: KubemuxError | undefined;
  for (const chunk of chunkBytes(bytes, plan)) {
    try {
      decoder.push(chunk, () => {});
    } catch (err) {
      if (!(err instanceof KubemuxError)) throw new Error(`decoder threw a non-KubemuxError: ${String(err)}`, { cause: err });
      assert.ok(DECODE_ERRORS.has(err.code), `unexpected code ${err.code}: ${err.message}`);
      assert.equal(err.scope, 'session');
      failure = err;
    }
    assert.ok(decoder.bufferedBytes <= 8 + maxFrameBytes, `buffered ${decoder.bufferedBytes} > 8 + ${maxFrameBytes}`);
    if (failure !== undefined) break;
  }
  if (failure !== undefined) {
    assert.throws(() => decoder.push(new Uint8Array([0x80, 0x03, 0x00, 0x06]), () => assert.fail('no frame after failure')), (err: unknown) => err === failure);
  }
  return failure;
}
