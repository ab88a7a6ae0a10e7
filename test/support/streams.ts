/** Helpers to move and check bytes on Duplex streams in tests. */
import { createHash, randomBytes } from 'node:crypto';
import type { Duplex, Readable } from 'node:stream';

/** The SHA-256 of `data`, lower-case hex. */
export function sha256(data: Buffer | Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

/** Reads a stream to its end; rejects on its 'error'. */
export function readAll(stream: Readable): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    stream.once('end', () => resolve(Buffer.concat(chunks)));
    stream.once('error', reject);
  });
}

/**
 * Resolves with exactly the first `count` bytes the stream delivers, then pauses it (bytes past
 * `count` are put back for the next reader); rejects if it ends or fails first.
 */
export function readBytes(stream: Readable, count: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let total = 0;
    const finish = (error?: Error): void => {
      stream.off('data', onData);
      stream.off('end', onEnd);
      stream.off('error', finish);
      stream.pause();
      if (error !== undefined) {
        reject(error);
        return;
      }
      const all = Buffer.concat(chunks);
      if (all.length > count) stream.unshift(all.subarray(count));
      resolve(all.subarray(0, count));
    };
    const onData = (chunk: Buffer): void => {
      chunks.push(chunk);
      total += chunk.length;
      if (total >= count) finish();
    };
    const onEnd = (): void => finish(new Error(`stream ended after ${total} of ${count} bytes`));
    stream.on('data', onData);
    stream.once('end', onEnd);
    stream.once('error', finish);
    stream.resume();
  });
}

/** Reads a stream to its end, also when an earlier reader (readBytes) left it paused. */
export function readRest(stream: Readable): Promise<Buffer> {
  const all = readAll(stream);
  stream.resume();
  return all;
}

/** Waits for a stream's 'error' and returns it; rejects if it ends cleanly instead. */
export function nextError(stream: Duplex): Promise<Error> {
  return new Promise((resolve, reject) => {
    stream.once('error', resolve);
    stream.once('close', () => {
      if (stream.errored === null) reject(new Error('stream closed without an error'));
    });
  });
}

/** Writes `data` in chunks of `chunkBytes`, honouring backpressure, then ends the stream. */
export async function writeAllAndEnd(stream: Duplex, data: Buffer, chunkBytes = 64 * 1024): Promise<void> {
  await writeAll(stream, data, chunkBytes);
  await new Promise<void>((resolve) => stream.end(resolve));
}

export { randomBytes };

/** Something with eventemitter3's `once` (node:events' once() only takes Node emitters). */
interface OnceEmitter {
  once(event: string, listener: (...args: any[]) => void): unknown;
}

/** Resolves with the arguments of the emitter's next `event`. */
export function nextEvent<T extends unknown[] = unknown[]>(emitter: OnceEmitter, event: string): Promise<T> {
  return new Promise((resolve) => emitter.once(event, (...args: unknown[]) => resolve(args as T)));
}

/**
 * Writes `payload` to an echoing stream without ending it, and resolves with exactly
 * `payload.length` bytes read back (works over v4 too, which has no half-close). Rejects on the
 * stream's error, or if it ends first.
 */
export function echoExactly(stream: Duplex, payload: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let received = 0;
    const finish = (error?: Error): void => {
      stream.off('data', onData);
      stream.off('error', finish);
      stream.off('end', onEnd);
      if (error === undefined) resolve(Buffer.concat(chunks).subarray(0, payload.length));
      else reject(error);
    };
    const onData = (chunk: Buffer): void => {
      chunks.push(chunk);
      received += chunk.length;
      if (received >= payload.length) finish();
    };
    const onEnd = (): void => finish(new Error(`the stream ended after ${received} of ${payload.length} bytes`));
    stream.on('data', onData);
    stream.once('error', finish);
    stream.once('end', onEnd);
    void writeAll(stream, payload).catch(finish);
  });
}

/** Writes `data` in chunks, honouring backpressure, without ending the stream. */
export async function writeAll(stream: Duplex, data: Buffer, chunkBytes = 64 * 1024): Promise<void> {
  for (let offset = 0; offset < data.length; offset += chunkBytes) {
    if (!stream.write(data.subarray(offset, offset + chunkBytes))) {
      await new Promise<void>((resolve, reject) => {
        const onDrain = (): void => {
          stream.off('error', onError);
          resolve();
        };
        const onError = (error: Error): void => {
          stream.off('drain', onDrain);
          reject(error);
        };
        stream.once('drain', onDrain);
        stream.once('error', onError);
      });
    }
  }
}
