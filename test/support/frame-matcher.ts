/**
 * Matching and describing SPDY frames in tests: a {@link FramePattern} names the fields that must
 * match, {@link matchFrame} says why a frame does not, and the describe functions make failure
 * messages read like a transcript.
 */
import assert from 'node:assert/strict';
import type { DataFrame, Frame, HeaderBlock, SettingsEntry } from '../../src/spdy/index.js';
import { toBlock, type HeadersLike } from './frame-builders.js';

type FieldPattern<F> = {
  readonly [K in Exclude<keyof F, 'type'>]?: K extends 'headers'
    ? HeadersLike
    : K extends 'data'
      ? Buffer | string
      : K extends 'entries'
        ? readonly SettingsEntry[]
        : F[K];
};

/**
 * A partial frame: `type` plus any fields that must match. `headers` compare as a set of names
 * (each with its values in order) and must be exactly the given set; `data` compares by bytes.
 */
export type FramePattern = { [T in Frame['type']]: { readonly type: T } & FieldPattern<Extract<Frame, { type: T }>> }[Frame['type']];


const LENGTHS = new WeakMap<DataFrame, number>();

/** A copy of a DATA frame without its payload that still reports the payload's length to {@link frameLength}. */
export function withLength(frame: DataFrame, length: number): DataFrame {
  const stripped: DataFrame = { ...frame, data: Buffer.alloc(0) };
  LENGTHS.set(stripped, length);
  return stripped;
}

/** A DATA frame's payload length, also when the peer did not keep the payload. */
export function frameLength(frame: DataFrame): number {
  return LENGTHS.get(frame) ?? frame.data.length;
}

function sortedHeaders(headers: HeadersLike): string {
  const block = toBlock(headers);
  return JSON.stringify([...block].map(([name, values]) => [name, [...values]]).sort(([a], [b]) => ((a as string) < (b as string) ? -1 : 1)));
}

/** Why `frame` does not match `pattern`, or undefined when it does. */
export function matchFrame(frame: Frame, pattern: FramePattern): string | undefined {
  if (frame.type !== pattern.type) return `type ${frame.type} is not ${pattern.type}`;
  const fields = frame as unknown as Record<string, unknown>;
  for (const [key, expected] of Object.entries(pattern)) {
    if (key === 'type' || expected === undefined) continue;
    const actual = fields[key];
    if (key === 'headers') {
      const want = sortedHeaders(expected as HeadersLike);
      const got = sortedHeaders(actual as HeaderBlock);
      if (want !== got) return `headers ${got} are not ${want}`;
    } else if (key === 'data') {
      const want = typeof expected === 'string' ? Buffer.from(expected) : (expected as Buffer);
      if (!(actual as Buffer).equals(want)) return `data ${preview(actual as Buffer)} is not ${preview(want)}`;
    } else if (key === 'entries') {
      try {
        assert.deepStrictEqual(
          (actual as SettingsEntry[]).map(({ id, flags, value }) => ({ id, flags, value })),
          (expected as SettingsEntry[]).map(({ id, flags, value }) => ({ id, flags, value })),
        );
      } catch {
        return `entries ${JSON.stringify(actual)} are not ${JSON.stringify(expected)}`;
      }
    } else if (actual !== expected) {
      return `${key} ${String(actual)} is not ${String(expected)}`;
    }
  }
  return undefined;
}

function preview(bytes: Buffer): string {
  const hex = bytes.subarray(0, 16).toString('hex');
  return `${bytes.length} bytes [${hex}${bytes.length > 16 ? '…' : ''}]`;
}

/** A one-line description of a pattern, for failure messages. */
export function describePattern(pattern: FramePattern): string {
  const parts = Object.entries(pattern)
    .filter(([key, value]) => key !== 'type' && value !== undefined)
    .map(([key, value]) => {
      if (key === 'headers') return `headers=${sortedHeaders(value as HeadersLike)}`;
      if (key === 'data') return `data=${preview(typeof value === 'string' ? Buffer.from(value) : (value as Buffer))}`;
      return `${key}=${JSON.stringify(value)}`;
    });
  return `${pattern.type}${parts.length > 0 ? ` {${parts.join(', ')}}` : ''}`;
}

/** A one-line description of a frame. */
export function describeFrame(frame: Frame): string {
  switch (frame.type) {
    case 'DATA':
      return `DATA stream=${frame.streamId} flags=${frame.flags} ${LENGTHS.has(frame) ? `${frameLength(frame)} bytes` : preview(frame.data)}`;
    case 'SYN_STREAM':
      return `SYN_STREAM stream=${frame.streamId} flags=${frame.flags} priority=${frame.priority} headers=${sortedHeaders(frame.headers)}`;
    case 'SYN_REPLY':
    case 'HEADERS':
      return `${frame.type} stream=${frame.streamId} flags=${frame.flags} headers=${sortedHeaders(frame.headers)}`;
    case 'RST_STREAM':
      return `RST_STREAM stream=${frame.streamId} status=${frame.status}`;
    case 'SETTINGS':
      return `SETTINGS flags=${frame.flags} ${JSON.stringify(frame.entries)}`;
    case 'PING':
      return `PING id=${frame.id}`;
    case 'GOAWAY':
      return `GOAWAY last=${frame.lastGoodStreamId} status=${frame.status}`;
    case 'WINDOW_UPDATE':
      return `WINDOW_UPDATE stream=${frame.streamId} delta=${frame.deltaWindowSize}`;
    case 'UNKNOWN':
      return `UNKNOWN type=${frame.controlType} version=${frame.version} ${preview(frame.payload)}`;
  }
}
