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

/**
 * A copy of `payload` (or of several parts, concatenated) XOR-ed with the 4-byte `mask` (the
 * mask's first byte applies to offset 0).
 */
export function maskedCopy(payload: Uint8Array | readonly Uint8Array[], mask: Uint8Array): Buffer {
  const parts = payload instanceof Uint8Array ? [payload] : payload;
  let length = 0;
  for (const part of parts) length += part.length;
  // Its own ArrayBuffer, so the 32-bit view below is aligned.
  const out = Buffer.from(new ArrayBuffer(length));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
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

/**
 * One unfragmented data frame carrying `payload` (several parts make one message). A client
 * frame is masked: [header with the mask key, one masked copy]. A server frame is not: [header,
 * ...parts], nothing copied.
 */
export function dataFrame(payload: Uint8Array | readonly Uint8Array[], opcode: number, masked: boolean): Buffer[] {
  const parts = payload instanceof Uint8Array ? [payload] : payload;
  let length = 0;
  for (const part of parts) length += part.length;
  const header = frameHeader(length, opcode, masked);
  if (!masked) return [header, ...parts.map((part) => (Buffer.isBuffer(part) ? part : Buffer.from(part.buffer, part.byteOffset, part.byteLength)))];
  const mask = nextMask();
  mask.copy(header, header.length - 4);
  return [header, maskedCopy(parts, mask)];
}

/** A masked client frame (see {@link dataFrame}). */
export function clientFrame(payload: Uint8Array | readonly Uint8Array[], opcode: number): Buffer[] {
  return dataFrame(payload, opcode, true);
}

/** The frame header: FIN, opcode, the payload length, and room for the mask key when masked. */
function frameHeader(length: number, opcode: number, masked: boolean): Buffer {
  const lengthBytes = length < 126 ? 0 : length < 65_536 ? 2 : 8;
  const maskBit = masked ? 0x80 : 0;
  const header = Buffer.allocUnsafe(2 + lengthBytes + (masked ? 4 : 0));
  header[0] = 0x80 | opcode; // FIN + opcode
  if (lengthBytes === 0) {
    header[1] = maskBit | length;
  } else if (lengthBytes === 2) {
    header[1] = maskBit | 126;
    header.writeUInt16BE(length, 2);
  } else {
    header[1] = maskBit | 127;
    header.writeUInt32BE(Math.floor(length / 2 ** 32), 2);
    header.writeUInt32BE(length >>> 0, 6);
  }
  return header;
}
