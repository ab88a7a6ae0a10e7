/** Small helpers shared by the codec tests: feed a decoder, encode a sequence, compare frames. */
import assert from 'node:assert/strict';
import { KubemuxError } from '../../src/errors.js';
import { FrameDecoder } from '../../src/spdy/decoder.js';
import { FrameEncoder } from '../../src/spdy/encode.js';
import type { Frame } from '../../src/spdy/frames.js';
import { frameToJson } from './vectors.js';

/** What feeding a decoder produced: the frames delivered, and the error that stopped it, if any. */
export interface DecodeResult {
  readonly frames: Frame[];
  readonly error: KubemuxError | undefined;
}

/**
 * Pushes `chunks` into `decoder` in order until it throws. Only a {@link KubemuxError} counts as a
 * decoding failure; any other exception is a bug and propagates. `afterPush` runs after every push
 * (also after a failing one), for invariants such as the buffered-bytes bound.
 */
export function decodeChunks(
  chunks: Iterable<Uint8Array>,
  decoder: FrameDecoder = new FrameDecoder(),
  afterPush?: (decoder: FrameDecoder) => void,
): DecodeResult {
  const frames: Frame[] = [];
  for (const chunk of chunks) {
    try {
      decoder.push(chunk, (frame) => frames.push(frame));
    } catch (err) {
      if (err instanceof KubemuxError) {
        afterPush?.(decoder);
        return { frames, error: err };
      }
      throw err;
    }
    afterPush?.(decoder);
  }
  return { frames, error: undefined };
}

/** Encodes `frames` in order with one encoder (one compression context) into one buffer. */
export function encodeAll(frames: readonly Frame[], encoder: FrameEncoder = new FrameEncoder()): Buffer {
  return Buffer.concat(frames.flatMap((frame) => encoder.encode(frame)));
}

/**
 * A frame in a form where deep equality means what vectors mean by "the same frame": header
 * names compare as a set (sorted here), values in order, bytes as hex.
 */
export function comparableFrame(frame: Frame): unknown {
  const json = frameToJson(frame);
  if (frame.type === 'SYN_STREAM' || frame.type === 'SYN_REPLY' || frame.type === 'HEADERS') {
    return { ...json, headers: [...frame.headers].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)) };
  }
  return json;
}

/** Asserts that two frame lists are the same frames in the sense of {@link comparableFrame}. */
export function assertSameFrames(actual: readonly Frame[], expected: readonly Frame[], message?: string): void {
  assert.deepStrictEqual(actual.map(comparableFrame), expected.map(comparableFrame), message);
}

/** Asserts that `fn` throws a {@link KubemuxError} with `code` (and `scope`, when given); returns it. */
export function expectKubemuxError(fn: () => unknown, code: string, scope?: string): KubemuxError {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof KubemuxError, `expected a KubemuxError ${code}, got ${caught === undefined ? 'no error' : String(caught)}`);
  assert.equal(caught.code, code, caught.message);
  if (scope !== undefined) assert.equal(caught.scope, scope);
  return caught;
}
