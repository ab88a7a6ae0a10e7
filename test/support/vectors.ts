/**
 * Loads the JSON test vectors of spec/vectors/ (format: spec/vectors/README.md) into typed objects,
 * and converts between the JSON frame form (`headers` as an object, `dataHex`, `payloadHex`) and the
 * {@link Frame} union.
 *
 * Loading is strict: an unknown field, a missing field or a wrongly typed value is an error naming
 * the file and the frame, because a typo in a vector would otherwise compare as "absent" and pass.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { ErrorCode } from '../../src/errors.js';
import type { Frame, HeaderBlock, SettingsEntry } from '../../src/spdy/frames.js';
import { VECTORS_DIR } from './paths.js';

/** Which peer wrote the bytes. */
export type VectorDirection = 'client-to-server' | 'server-to-client';
/** How the bytes travelled: raw SPDY, or SPDY inside WebSocket binary messages (KEP-4006). */
export type VectorTransport = 'spdy' | 'websocket-tunnel';

/** A frame as vector files spell it: Frame fields, with headers as an object and bytes as hex. */
export interface JsonFrame {
  readonly type: Frame['type'];
  readonly [field: string]: unknown;
}

/** One vector file, parsed and checked. */
export interface Vector {
  /** Absolute path of the file. */
  readonly file: string;
  readonly name: string;
  readonly description: string;
  readonly source: string;
  readonly direction: VectorDirection;
  readonly transport: VectorTransport;
  /** The whole byte stream, lower-case hex. */
  readonly hex: string;
  readonly bytes: Buffer;
  /** websocket-tunnel only: the binary message payloads in order. */
  readonly wsMessages: readonly Buffer[] | undefined;
  readonly encodeExact: boolean;
  /** What decoding `bytes` with a fresh decoder must give, in order. */
  readonly frames: readonly Frame[];
  /** When present, decoding must fail with this code after `frames`. */
  readonly error: ErrorCode | undefined;
}

const ERROR_CODES: ReadonlySet<string> = new Set(Object.values(ErrorCode));
const HEX = /^(?:[0-9a-f]{2})*$/;

type FieldKind = 'uint' | 'headers' | 'hex' | 'entries';

/** The JSON fields of each frame type besides `type`, from the Frame union in src/spdy/frames.ts. */
const FRAME_FIELDS: { readonly [K in Frame['type']]: Readonly<Record<string, FieldKind>> } = {
  DATA: { streamId: 'uint', flags: 'uint', dataHex: 'hex' },
  SYN_STREAM: { streamId: 'uint', associatedStreamId: 'uint', priority: 'uint', slot: 'uint', flags: 'uint', headers: 'headers' },
  SYN_REPLY: { streamId: 'uint', flags: 'uint', headers: 'headers' },
  HEADERS: { streamId: 'uint', flags: 'uint', headers: 'headers' },
  RST_STREAM: { streamId: 'uint', status: 'uint', flags: 'uint' },
  SETTINGS: { flags: 'uint', entries: 'entries' },
  PING: { id: 'uint', flags: 'uint' },
  GOAWAY: { lastGoodStreamId: 'uint', status: 'uint', flags: 'uint' },
  WINDOW_UPDATE: { streamId: 'uint', deltaWindowSize: 'uint', flags: 'uint' },
  UNKNOWN: { controlType: 'uint', version: 'uint', flags: 'uint', payloadHex: 'hex' },
};

class VectorFormatError extends Error {
  override readonly name = 'VectorFormatError';
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function uint(value: unknown, where: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > 0xffff_ffff) {
    throw new VectorFormatError(`${where}: expected an integer 0..2^32-1, got ${JSON.stringify(value)}`);
  }
  return value;
}

function hexBytes(value: unknown, where: string): Buffer {
  if (typeof value !== 'string' || !HEX.test(value)) {
    throw new VectorFormatError(`${where}: expected lower-case hex with an even number of digits`);
  }
  return Buffer.from(value, 'hex');
}

function headersFromJson(value: unknown, where: string): HeaderBlock {
  if (!isRecord(value)) throw new VectorFormatError(`${where}: expected an object of name -> [values]`);
  const headers: HeaderBlock = new Map();
  for (const [name, values] of Object.entries(value)) {
    if (!Array.isArray(values) || values.length === 0 || !values.every((v) => typeof v === 'string')) {
      throw new VectorFormatError(`${where}.${name}: expected a non-empty array of strings`);
    }
    headers.set(name, [...(values as string[])]);
  }
  return headers;
}

function entriesFromJson(value: unknown, where: string): SettingsEntry[] {
  if (!Array.isArray(value)) throw new VectorFormatError(`${where}: expected an array of { id, flags, value }`);
  return value.map((entry, i) => {
    const at = `${where}[${i}]`;
    if (!isRecord(entry)) throw new VectorFormatError(`${at}: expected an object`);
    const keys = Object.keys(entry).sort().join(',');
    if (keys !== 'flags,id,value') throw new VectorFormatError(`${at}: expected exactly the fields flags, id, value; got ${keys}`);
    return { id: uint(entry['id'], `${at}.id`), flags: uint(entry['flags'], `${at}.flags`), value: uint(entry['value'], `${at}.value`) };
  });
}

/** Converts one JSON frame to a {@link Frame}, checking that it has exactly its type's fields. */
export function frameFromJson(json: unknown, where = 'frame'): Frame {
  if (!isRecord(json) || typeof json['type'] !== 'string' || !Object.hasOwn(FRAME_FIELDS, json['type'])) {
    throw new VectorFormatError(`${where}: expected an object whose type is one of ${Object.keys(FRAME_FIELDS).join(', ')}`);
  }
  const type = json['type'] as Frame['type'];
  const fields = FRAME_FIELDS[type];
  for (const key of Object.keys(json)) {
    if (key !== 'type' && !Object.hasOwn(fields, key)) throw new VectorFormatError(`${where}: ${type} has no field "${key}"`);
  }
  const out: Record<string, unknown> = { type };
  for (const [key, kind] of Object.entries(fields)) {
    const at = `${where}.${key}`;
    if (!Object.hasOwn(json, key)) throw new VectorFormatError(`${at}: missing`);
    const value = json[key];
    switch (kind) {
      case 'uint':
        out[key] = uint(value, at);
        break;
      case 'headers':
        out[key] = headersFromJson(value, at);
        break;
      case 'entries':
        out[key] = entriesFromJson(value, at);
        break;
      case 'hex':
        // dataHex -> data, payloadHex -> payload
        out[key.slice(0, -'Hex'.length)] = hexBytes(value, at);
        break;
    }
  }
  return out as unknown as Frame;
}

/** Converts a {@link Frame} to the JSON form of vector files. */
export function frameToJson(frame: Frame): JsonFrame {
  switch (frame.type) {
    case 'DATA':
      return { type: frame.type, streamId: frame.streamId, flags: frame.flags, dataHex: Buffer.from(frame.data).toString('hex') };
    case 'UNKNOWN':
      return {
        type: frame.type,
        controlType: frame.controlType,
        version: frame.version,
        flags: frame.flags,
        payloadHex: Buffer.from(frame.payload).toString('hex'),
      };
    case 'SYN_STREAM':
    case 'SYN_REPLY':
    case 'HEADERS':
      // Object.fromEntries defines own properties, so even a header named "__proto__" survives.
      return { ...frame, headers: Object.fromEntries([...frame.headers].map(([name, values]) => [name, [...values]])) };
    case 'SETTINGS':
      return { type: frame.type, flags: frame.flags, entries: frame.entries.map(({ id, flags, value }) => ({ id, flags, value })) };
    default:
      return { ...frame };
  }
}

function stringField(json: Record<string, unknown>, key: string, where: string): string {
  const value = json[key];
  if (typeof value !== 'string' || value.length === 0) throw new VectorFormatError(`${where}: "${key}" must be a non-empty string`);
  return value;
}

const VECTOR_FIELDS = new Set([
  'name',
  'description',
  'source',
  'direction',
  'transport',
  'wsMessages',
  'hex',
  'encodeExact',
  'frames',
  'error',
]);

/** Parses the JSON text of one vector file; `file` names it in errors and must match `name`. */
export function parseVector(text: string, file: string): Vector {
  const where = basename(file);
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new VectorFormatError(`${where}: not JSON (${(err as Error).message})`);
  }
  if (!isRecord(json)) throw new VectorFormatError(`${where}: expected an object`);
  for (const key of Object.keys(json)) {
    if (!VECTOR_FIELDS.has(key)) throw new VectorFormatError(`${where}: unknown field "${key}"`);
  }
  const name = stringField(json, 'name', where);
  if (`${name}.json` !== where) throw new VectorFormatError(`${where}: name "${name}" must equal the file name without .json`);
  const direction = json['direction'];
  if (direction !== 'client-to-server' && direction !== 'server-to-client') {
    throw new VectorFormatError(`${where}: direction must be client-to-server or server-to-client`);
  }
  const transport = json['transport'];
  if (transport !== 'spdy' && transport !== 'websocket-tunnel') {
    throw new VectorFormatError(`${where}: transport must be spdy or websocket-tunnel`);
  }
  const hex = json['hex'];
  const bytes = hexBytes(hex, `${where}: hex`);
  let wsMessages: Buffer[] | undefined;
  if (json['wsMessages'] !== undefined) {
    if (transport !== 'websocket-tunnel') throw new VectorFormatError(`${where}: wsMessages needs transport websocket-tunnel`);
    if (!Array.isArray(json['wsMessages'])) throw new VectorFormatError(`${where}: wsMessages must be an array of hex strings`);
    wsMessages = json['wsMessages'].map((message, i) => hexBytes(message, `${where}: wsMessages[${i}]`));
  }
  if (typeof json['encodeExact'] !== 'boolean') throw new VectorFormatError(`${where}: encodeExact must be true or false`);
  if (!Array.isArray(json['frames'])) throw new VectorFormatError(`${where}: frames must be an array`);
  const frames = json['frames'].map((frame, i) => frameFromJson(frame, `${where}: frames[${i}]`));
  const error = json['error'];
  if (error !== undefined && (typeof error !== 'string' || !ERROR_CODES.has(error))) {
    throw new VectorFormatError(`${where}: error ${JSON.stringify(error)} is not an ErrorCode`);
  }
  return {
    file,
    name,
    description: stringField(json, 'description', where),
    source: stringField(json, 'source', where),
    direction,
    transport,
    hex: hex as string,
    bytes,
    wsMessages,
    encodeExact: json['encodeExact'],
    frames,
    error: error as ErrorCode | undefined,
  };
}

/** Absolute paths of every `*.json` file in `dir`, sorted, so new vector files are picked up. */
export function vectorFiles(dir: string = VECTORS_DIR): string[] {
  return readdirSync(dir)
    .filter((entry) => entry.endsWith('.json'))
    .sort()
    .map((entry) => join(dir, entry));
}

/** Reads and parses one vector file. */
export function loadVector(file: string): Vector {
  return parseVector(readFileSync(file, 'utf8'), file);
}

/** Every vector in `dir`. */
export function loadVectors(dir: string = VECTORS_DIR): Vector[] {
  return vectorFiles(dir).map(loadVector);
}
