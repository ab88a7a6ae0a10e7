/**
 * Client data frames, built and masked here rather than by ws's Sender. RFC 6455 requires every
 * client frame to be masked with a fresh random key; ws masks byte by byte in JavaScript unless
 * the native `bufferutil` addon is installed (kubemux takes no native addons), which capped
 * uploads through the WebSocket tunnel at ~75 MiB/s. Masking four bytes at a time on an aligned
 * copy runs at memory speed; the copy is the one ws made anyway (a caller's buffer is never
 * changed).
 */
import { randomFillSync } from 'node:crypto';

const MASK_POOL_BYTES = 8 * 1024;
let maskPool = Buffer.alloc(0);
let maskPoolOffset = MASK_POOL_BYTES;

/** Four fresh random bytes, taken from a pool refilled by the CSPRNG (as ws does). */
function nextMask(): Buffer {
  if (maskPoolOffset + 4 > maskPool.length) {
    maskPool = randomFillSync(Buffer.allocUnsafe(MASK_POOL_BYTES));
    maskPoolOffset = 0;
  }
  const mask = maskPool.subarray(maskPoolOffset, maskPoolOffset + 4);
  maskPoolOffset += 4;
  return mask;
}

/** A copy of `payload` XOR-ed with the 4-byte `mask` (the mask's first byte applies to offset 0). */
export function maskedCopy(payload: Uint8Array, mask: Uint8Array): Buffer {
  const length = payload.length;
  // Its own ArrayBuffer, so the 32-bit view below is aligned.
  const out = Buffer.from(new ArrayBuffer(length));
  out.set(payload);
  const words = new Uint32Array(out.buffer, 0, length >>> 2);
  const key = (mask[0]! | (mask[1]! << 8) | (mask[2]! << 16) | (mask[3]! << 24)) >>> 0;
  // Byte order does not matter for XOR as long as the key is laid out as the bytes are: on a
  // little-endian host the word key above matches bytes mask[0..3] at offsets 0..3.
  const wordKey = LITTLE_ENDIAN ? key : ((mask[3]! | (mask[2]! << 8) | (mask[1]! << 16) | (mask[0]! << 24)) >>> 0);
  for (let i = 0; i < words.length; i++) words[i]! ^= wordKey;
  for (let i = words.length * 4; i < length; i++) out[i]! ^= mask[i & 3]!;
  return out;
}

const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/** One unfragmented, masked client frame: [header with the mask key, masked payload]. */
export function clientFrame(payload: Uint8Array, opcode: number): [Buffer, Buffer] {
  const length = payload.length;
  const lengthBytes = length < 126 ? 0 : length < 65_536 ? 2 : 8;
  const header = Buffer.allocUnsafe(2 + lengthBytes + 4);
  header[0] = 0x80 | opcode; // FIN + opcode
  if (lengthBytes === 0) {
    header[1] = 0x80 | length;
  } else if (lengthBytes === 2) {
    header[1] = 0x80 | 126;
    header.writeUInt16BE(length, 2);
  } else {
    header[1] = 0x80 | 127;
    header.writeUInt32BE(Math.floor(length / 2 ** 32), 2);
    header.writeUInt32BE(length >>> 0, 6);
  }
  const mask = nextMask();
  mask.copy(header, 2 + lengthBytes);
  return [header, maskedCopy(payload, mask)];
}
