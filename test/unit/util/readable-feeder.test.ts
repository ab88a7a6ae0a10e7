/**
 * ReadableFeeder: whatever the chunk sizes and however the reader reads, the bytes come out
 * intact and in order; while the reader is behind, small chunks are held as coalesced blocks
 * (few objects), and a reader that keeps up gets chunks as they are.
 */
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { test } from 'node:test';
import fc from 'fast-check';
import { BLOCK_BYTES, ReadableFeeder, SMALL_CHUNK_BYTES } from '../../../src/util/readable-feeder.js';
import { sha256 } from '../../support/streams.js';

/** A Readable fed by hand through a feeder, as the session feeds a stream. */
class Fed extends Readable {
  readonly feeder = new ReadableFeeder(this);
  constructor(highWaterMark: number) {
    super({ highWaterMark });
  }
  override _read(): void {
    this.feeder.read();
  }
  end(): void {
    this.feeder.flush();
    this.push(null);
  }
}

test('property: bytes come out intact and in order, for any chunk sizes and any reading pattern', async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.array(fc.uint8Array({ minLength: 1, maxLength: 9000 }), { minLength: 1, maxLength: 60 }),
      fc.array(fc.integer({ min: 0, max: 3 }), { minLength: 1, maxLength: 60 }),
      fc.integer({ min: 1, max: 64 * 1024 }),
      async (chunks, pattern, highWaterMark) => {
        const fed = new Fed(highWaterMark);
        const out: Buffer[] = [];
        let step = 0;
        // Interleave deliveries with reads of varying appetite, as a slow reader would.
        for (const chunk of chunks) {
          fed.feeder.push(Buffer.from(chunk));
          const action = pattern[step++ % pattern.length]!;
          if (action === 1) {
            const read = fed.read() as Buffer | null;
            if (read !== null) out.push(read);
          } else if (action === 2) {
            const read = fed.read(1) as Buffer | null;
            if (read !== null) out.push(read);
          } else if (action === 3) {
            await new Promise<void>((resolve) => setImmediate(resolve));
          }
        }
        fed.end();
        for await (const rest of fed) out.push(rest as Buffer);
        assert.equal(sha256(Buffer.concat(out)), sha256(Buffer.concat(chunks.map((c) => Buffer.from(c)))));
      },
    ),
    { numRuns: 200, seed: 0xfeed },
  );
});

test('a reader that is behind holds 1-byte chunks as blocks: 100,000 bytes in about 7 objects, not 100,000', () => {
  const fed = new Fed(1 << 20);
  fed.feeder.push(Buffer.from('first')); // the buffer was empty: taken as it is
  for (let i = 0; i < 100_000; i++) fed.feeder.push(Buffer.from([i & 0xff]));
  const state = fed as unknown as { readableLength: number; _readableState: { buffer: { length: number } } };
  const objects = state._readableState.buffer.length;
  assert.ok(objects <= 1 + Math.ceil(100_000 / BLOCK_BYTES), `${objects} chunks buffered`);
  assert.equal(fed.readableLength + fed.feeder.heldBytes, 100_005);
});

test('while the reader keeps up, chunks go in as they are (no copy); large chunks always do', () => {
  const fed = new Fed(1 << 20);
  const small = Buffer.from('abc');
  fed.feeder.push(small);
  assert.equal(fed.read(), small, 'an empty buffer takes the chunk itself');
  fed.feeder.push(Buffer.from('x'));
  const large = Buffer.alloc(SMALL_CHUNK_BYTES, 7);
  fed.feeder.push(large);
  fed.read(1);
  assert.equal(fed.read(), large, 'a large chunk that is most of its buffer is not copied');
});
