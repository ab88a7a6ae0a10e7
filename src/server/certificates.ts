/**
 * A self-signed certificate authority and a server certificate for the fake cluster's HTTPS
 * listener, built without any dependency: the X.509 v3 structures (RFC 5280) are written in DER
 * by the small writer below, keys are ECDSA P-256 from `node:crypto`, and signatures are
 * ecdsa-with-SHA256 (`crypto.sign` already returns the DER `Ecdsa-Sig-Value` that X.509 wants).
 *
 * The real consumer is kubectl, i.e. Go's crypto/x509, which parses strictly: DER minimal
 * lengths and integers, no NULL parameters in ECDSA algorithm identifiers (RFC 5758 section 3.2),
 * DEFAULT FALSE booleans omitted, UTCTime before 2050 (RFC 5280 section 4.1.2.5), a positive
 * serial, and names that match byte for byte between the issuer and the CA's subject.
 */
import { createHash, generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto';
import { isIP } from 'node:net';
import { ErrorCode, KubemuxError } from '../errors.js';

// --- DER writer -------------------------------------------------------------------------------

/** ASN.1 universal tags and the context-specific tags X.509 uses, as DER identifier octets. */
const Tag = {
  BOOLEAN: 0x01,
  INTEGER: 0x02,
  BIT_STRING: 0x03,
  OCTET_STRING: 0x04,
  OID: 0x06,
  UTF8_STRING: 0x0c,
  PRINTABLE_STRING: 0x13,
  IA5_STRING: 0x16,
  UTC_TIME: 0x17,
  GENERALIZED_TIME: 0x18,
  SEQUENCE: 0x30,
  SET: 0x31,
} as const;

/**
 * A minimal DER writer: each function returns the complete encoding (identifier, length,
 * contents) of one value. Exported for the tests, which compare it with known encodings.
 */
export const der = {
  /** Tag-length-value with a definite, minimal length (short form below 128, else long form). */
  tlv(tag: number, contents: Uint8Array): Buffer {
    const length = contents.length;
    let header: Buffer;
    if (length < 0x80) {
      header = Buffer.from([tag, length]);
    } else {
      const lengthBytes: number[] = [];
      for (let rest = length; rest > 0; rest = Math.floor(rest / 256)) lengthBytes.unshift(rest & 0xff);
      header = Buffer.from([tag, 0x80 | lengthBytes.length, ...lengthBytes]);
    }
    return Buffer.concat([header, contents]);
  },
  sequence(...items: Uint8Array[]): Buffer {
    return der.tlv(Tag.SEQUENCE, Buffer.concat(items));
  },
  /** SET OF with the elements sorted by their encodings, as DER requires (X.690 section 11.6). */
  set(...items: Uint8Array[]): Buffer {
    const sorted = [...items].map((item) => Buffer.from(item)).sort(Buffer.compare);
    return der.tlv(Tag.SET, Buffer.concat(sorted));
  },
  boolean(value: boolean): Buffer {
    return der.tlv(Tag.BOOLEAN, Buffer.from([value ? 0xff : 0x00]));
  },
  /** A non-negative INTEGER from big-endian magnitude bytes, in minimal two's complement. */
  unsignedInteger(magnitude: Uint8Array): Buffer {
    let start = 0;
    while (start < magnitude.length - 1 && magnitude[start] === 0) start++;
    let body = Buffer.from(magnitude.subarray(start));
    if (body.length === 0) body = Buffer.from([0]);
    if ((body[0]! & 0x80) !== 0) body = Buffer.concat([Buffer.from([0]), body]);
    return der.tlv(Tag.INTEGER, body);
  },
  smallInteger(value: number): Buffer {
    if (!Number.isInteger(value) || value < 0 || value > 0xffff_ffff) throw new RangeError(`smallInteger ${value}`);
    const bytes = Buffer.alloc(4);
    bytes.writeUInt32BE(value);
    return der.unsignedInteger(bytes);
  },
  /** An OBJECT IDENTIFIER from dotted text, e.g. "2.5.29.19". */
  oid(dotted: string): Buffer {
    const arcs = dotted.split('.').map((arc) => {
      if (!/^\d+$/.test(arc)) throw new RangeError(`bad OID ${dotted}`);
      return Number(arc);
    });
    if (arcs.length < 2 || arcs[0]! > 2) throw new RangeError(`bad OID ${dotted}`);
    const out: number[] = [];
    const pushBase128 = (value: number): void => {
      const groups: number[] = [value & 0x7f];
      for (let rest = Math.floor(value / 128); rest > 0; rest = Math.floor(rest / 128)) groups.unshift((rest & 0x7f) | 0x80);
      out.push(...groups);
    };
    pushBase128(arcs[0]! * 40 + arcs[1]!);
    for (const arc of arcs.slice(2)) pushBase128(arc);
    return der.tlv(Tag.OID, Buffer.from(out));
  },
  /** BIT STRING with `unusedBits` padding bits (which must be zero) at the end of `bytes`. */
  bitString(bytes: Uint8Array, unusedBits = 0): Buffer {
    if (unusedBits < 0 || unusedBits > 7 || (bytes.length === 0 && unusedBits !== 0)) throw new RangeError(`unusedBits ${unusedBits}`);
    return der.tlv(Tag.BIT_STRING, Buffer.concat([Buffer.from([unusedBits]), bytes]));
  },
  /**
   * A named-bit-list BIT STRING (such as KeyUsage) with the given bit numbers set; bit 0 is the
   * most significant bit of the first byte. DER drops trailing zero bits (X.690 section 11.2.2).
   */
  namedBits(bits: readonly number[]): Buffer {
    if (bits.length === 0) return der.bitString(Buffer.alloc(0));
    const highest = Math.max(...bits);
    const bytes = Buffer.alloc(Math.floor(highest / 8) + 1);
    for (const bit of bits) bytes[Math.floor(bit / 8)]! |= 0x80 >> bit % 8;
    return der.bitString(bytes, 7 - (highest % 8));
  },
  octetString(bytes: Uint8Array): Buffer {
    return der.tlv(Tag.OCTET_STRING, bytes);
  },
  utf8String(text: string): Buffer {
    return der.tlv(Tag.UTF8_STRING, Buffer.from(text, 'utf8'));
  },
  /** UTCTime for 1950..2049 and GeneralizedTime otherwise, to the second (RFC 5280 section 4.1.2.5). */
  time(date: Date): Buffer {
    const iso = date.toISOString(); // YYYY-MM-DDTHH:MM:SS.sssZ
    const year = date.getUTCFullYear();
    const digits = iso.slice(0, 19).replace(/[-T:]/g, ''); // YYYYMMDDHHMMSS
    if (year >= 1950 && year < 2050) return der.tlv(Tag.UTC_TIME, Buffer.from(`${digits.slice(2)}Z`, 'ascii'));
    return der.tlv(Tag.GENERALIZED_TIME, Buffer.from(`${digits}Z`, 'ascii'));
  },
  /** An EXPLICIT context tag [n] around a complete encoding (constructed). */
  explicit(n: number, inner: Uint8Array): Buffer {
    return der.tlv(0xa0 | n, inner);
  },
  /** An IMPLICIT primitive context tag [n] replacing the tag of a primitive value's contents. */
  implicit(n: number, contents: Uint8Array): Buffer {
    return der.tlv(0x80 | n, contents);
  },
};

/** Reads one DER TLV at `offset`: its tag, where its contents start, and where it ends. */
function readTlv(buf: Buffer, offset: number): { tag: number; start: number; end: number } {
  const tag = buf[offset];
  const first = buf[offset + 1];
  if (tag === undefined || first === undefined) throw new RangeError('truncated DER');
  let length = first;
  let start = offset + 2;
  if (first & 0x80) {
    const count = first & 0x7f;
    length = 0;
    for (let i = 0; i < count; i++) length = length * 256 + buf[start + i]!;
    start += count;
  }
  const end = start + length;
  if (end > buf.length) throw new RangeError('truncated DER');
  return { tag, start, end };
}

// --- X.509 --------------------------------------------------------------------------------------

const OID = {
  ecdsaWithSha256: '1.2.840.10045.4.3.2',
  commonName: '2.5.4.3',
  organization: '2.5.4.10',
  subjectKeyIdentifier: '2.5.29.14',
  keyUsage: '2.5.29.15',
  subjectAltName: '2.5.29.17',
  basicConstraints: '2.5.29.19',
  authorityKeyIdentifier: '2.5.29.35',
  extKeyUsage: '2.5.29.37',
  serverAuth: '1.3.6.1.5.5.7.3.1',
} as const;

/** KeyUsage bit numbers (RFC 5280 section 4.2.1.3). */
const KeyUsage = { digitalSignature: 0, keyCertSign: 5, cRLSign: 6 } as const;

function extension(oid: string, critical: boolean, value: Buffer): Buffer {
  // `critical` is BOOLEAN DEFAULT FALSE: DER omits a default value (X.690 section 11.5).
  return critical ? der.sequence(der.oid(oid), der.boolean(true), der.octetString(value)) : der.sequence(der.oid(oid), der.octetString(value));
}

function name(commonName: string): Buffer {
  const attribute = (oid: string, value: string): Buffer => der.set(der.sequence(der.oid(oid), der.utf8String(value)));
  return der.sequence(attribute(OID.organization, 'kubemux'), attribute(OID.commonName, commonName));
}

/** Key identifier: SHA-1 of the subjectPublicKey BIT STRING contents (RFC 5280 section 4.2.1.2, method 1). */
function keyIdentifier(spki: Buffer): Buffer {
  const outer = readTlv(spki, 0);
  const algorithm = readTlv(spki, outer.start);
  const key = readTlv(spki, algorithm.end);
  // Skip the BIT STRING's unused-bits byte.
  return createHash('sha1').update(spki.subarray(key.start + 1, key.end)).digest();
}

/** A random positive 128-bit serial that always takes 16 bytes (RFC 5280 allows up to 20). */
function randomSerial(): Buffer {
  const serial = randomBytes(16);
  serial[0] = (serial[0]! & 0x7f) | 0x40;
  return serial;
}

/** The 4 or 16 bytes of an IP address in text form. */
export function ipAddressBytes(address: string): Buffer {
  const family = isIP(address);
  if (family === 4) return Buffer.from(address.split('.').map(Number));
  if (family !== 6) throw new KubemuxError(ErrorCode.INVALID_ARGUMENT, 'usage', `not an IP address: ${address}`);
  let text = address.split('%')[0]!;
  const tail: number[] = [];
  // An embedded IPv4 tail (::ffff:1.2.3.4) stands for the last two groups.
  const dotted = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (dotted !== null) {
    tail.push(...dotted[1]!.split('.').map(Number));
    text = text.slice(0, -dotted[1]!.length) + '0:0';
  }
  const [head, rest] = text.includes('::') ? text.split('::') : [text, undefined];
  const groups = (part: string | undefined): number[] => (part === undefined || part === '' ? [] : part.split(':').map((g) => parseInt(g, 16)));
  const left = groups(head);
  const right = groups(rest);
  const all = rest === undefined ? left : [...left, ...new Array<number>(8 - left.length - right.length).fill(0), ...right];
  const bytes = Buffer.alloc(16);
  all.forEach((group, i) => bytes.writeUInt16BE(group, i * 2));
  if (tail.length === 4) Buffer.from(tail).copy(bytes, 12);
  return bytes;
}

interface CertificateFields {
  readonly subject: Buffer;
  readonly issuer: Buffer;
  readonly spki: Buffer;
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly extensions: Buffer[];
  readonly signingKey: KeyObject;
}

function buildCertificate(fields: CertificateFields): Buffer {
  const algorithm = der.sequence(der.oid(OID.ecdsaWithSha256)); // no parameters (RFC 5758 section 3.2)
  const tbs = der.sequence(
    der.explicit(0, der.smallInteger(2)), // v3
    der.unsignedInteger(randomSerial()),
    algorithm,
    fields.issuer,
    der.sequence(der.time(fields.notBefore), der.time(fields.notAfter)),
    fields.subject,
    fields.spki,
    der.explicit(3, der.sequence(...fields.extensions)),
  );
  const signature = sign('sha256', tbs, fields.signingKey); // DER Ecdsa-Sig-Value
  return der.sequence(tbs, algorithm, der.bitString(signature));
}

function toPem(label: string, body: Buffer): string {
  const lines = body.toString('base64').match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`;
}

/** Options of {@link generateCertificates}. */
export interface CertificateOptions {
  /** DNS names the server certificate is valid for. Default `['localhost']`. */
  readonly dnsNames?: readonly string[];
  /** IP addresses the server certificate is valid for. Default `['127.0.0.1', '::1']`. */
  readonly ipAddresses?: readonly string[];
  /** Lifetime from now, in days (1..397, the CA/Browser limit). Default 365. */
  readonly validityDays?: number;
  /** The current time (tests inject it). Default `new Date()`. */
  readonly now?: Date;
}

/** A CA and a server certificate signed by it, all PEM text. */
export interface GeneratedCertificates {
  /** The self-signed CA certificate: what a client trusts (kubeconfig `certificate-authority-data`). */
  readonly caCertPem: string;
  /** The CA's private key (PKCS#8). Not needed to serve; kept for tests that sign more. */
  readonly caKeyPem: string;
  /** The server certificate. */
  readonly certPem: string;
  /** The server's private key (PKCS#8). */
  readonly keyPem: string;
}

/**
 * Creates a fresh ECDSA P-256 CA (basicConstraints CA:true, keyUsage keyCertSign|cRLSign, both
 * critical) and a server certificate it signs (CA:false; keyUsage digitalSignature, critical;
 * extKeyUsage serverAuth; subjectAltName from the options; authority and subject key
 * identifiers). Both are valid from one hour ago, to absorb clock skew, for `validityDays`.
 */
export function generateCertificates(options: CertificateOptions = {}): GeneratedCertificates {
  const dnsNames = options.dnsNames ?? ['localhost'];
  const ipAddresses = options.ipAddresses ?? ['127.0.0.1', '::1'];
  const validityDays = options.validityDays ?? 365;
  if (!Number.isInteger(validityDays) || validityDays < 1 || validityDays > 397) {
    throw new KubemuxError(ErrorCode.INVALID_ARGUMENT, 'usage', `validityDays ${String(validityDays)} is outside 1..397`);
  }
  if (dnsNames.length + ipAddresses.length === 0) {
    throw new KubemuxError(ErrorCode.INVALID_ARGUMENT, 'usage', 'the server certificate needs at least one DNS name or IP address');
  }
  for (const dnsName of dnsNames) {
    if (!/^[A-Za-z0-9*]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*$/.test(dnsName)) {
      throw new KubemuxError(ErrorCode.INVALID_ARGUMENT, 'usage', `not a DNS name: ${dnsName}`);
    }
  }
  const ipBytes = ipAddresses.map(ipAddressBytes);
  const now = options.now ?? new Date();
  const notBefore = new Date(Math.floor(now.getTime() / 1000) * 1000 - 3_600_000);
  const notAfter = new Date(notBefore.getTime() + 3_600_000 + validityDays * 86_400_000);

  const ca = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const caSpki = ca.publicKey.export({ type: 'spki', format: 'der' });
  const caKeyId = keyIdentifier(caSpki);
  // One encoding of the CA name serves as its subject and as the server's issuer, so they match byte for byte.
  const caName = name('kubemux fake cluster CA');
  const caDer = buildCertificate({
    subject: caName,
    issuer: caName,
    spki: caSpki,
    notBefore,
    notAfter,
    signingKey: ca.privateKey,
    extensions: [
      extension(OID.basicConstraints, true, der.sequence(der.boolean(true))),
      extension(OID.keyUsage, true, der.namedBits([KeyUsage.keyCertSign, KeyUsage.cRLSign])),
      extension(OID.subjectKeyIdentifier, false, der.octetString(caKeyId)),
    ],
  });

  const server = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const serverSpki = server.publicKey.export({ type: 'spki', format: 'der' });
  const altNames = [
    ...dnsNames.map((dnsName) => der.implicit(2, Buffer.from(dnsName, 'ascii'))),
    ...ipBytes.map((bytes) => der.implicit(7, bytes)),
  ];
  const serverDer = buildCertificate({
    subject: name('kubemux fake cluster'),
    issuer: caName,
    spki: serverSpki,
    notBefore,
    notAfter,
    signingKey: ca.privateKey,
    extensions: [
      // cA is DEFAULT FALSE, so CA:false is the empty SEQUENCE.
      extension(OID.basicConstraints, true, der.sequence()),
      extension(OID.keyUsage, true, der.namedBits([KeyUsage.digitalSignature])),
      extension(OID.extKeyUsage, false, der.sequence(der.oid(OID.serverAuth))),
      extension(OID.subjectKeyIdentifier, false, der.octetString(keyIdentifier(serverSpki))),
      extension(OID.authorityKeyIdentifier, false, der.sequence(der.implicit(0, caKeyId))),
      extension(OID.subjectAltName, false, der.sequence(...altNames)),
    ],
  });

  return {
    caCertPem: toPem('CERTIFICATE', caDer),
    caKeyPem: ca.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    certPem: toPem('CERTIFICATE', serverDer),
    keyPem: server.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
  };
}
