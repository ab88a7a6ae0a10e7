/**
 * The hand-written DER and X.509 of src/server/certificates.ts: the DER writer against known
 * encodings, the certificates through Node's parser and OpenSSL's chain verification (a real TLS
 * handshake on loopback). Go's stricter parser is exercised by test/interop/kubectl-api.test.ts.
 */
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { once } from 'node:events';
import { request as httpsRequest, createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { isKubemuxError } from '../../../src/errors.js';
import { der, generateCertificates, ipAddressBytes } from '../../../src/server/certificates.js';

const hex = (buf: Uint8Array): string => Buffer.from(buf).toString('hex');

test('DER lengths use the short form below 128 and the minimal long form above', () => {
  assert.equal(hex(der.tlv(0x04, Buffer.alloc(127))).slice(0, 4), '047f');
  assert.equal(hex(der.tlv(0x04, Buffer.alloc(128))).slice(0, 6), '048180');
  assert.equal(hex(der.tlv(0x04, Buffer.alloc(256))).slice(0, 8), '04820100');
  assert.equal(der.tlv(0x04, Buffer.alloc(70_000)).length, 70_000 + 5);
});

test('DER INTEGERs are minimal two\'s complement and non-negative', () => {
  assert.equal(hex(der.unsignedInteger(Buffer.from([0]))), '020100');
  assert.equal(hex(der.unsignedInteger(Buffer.from([0, 0, 0x7f]))), '02017f');
  assert.equal(hex(der.unsignedInteger(Buffer.from([0x80]))), '02020080');
  assert.equal(hex(der.unsignedInteger(Buffer.from([0, 0, 0x80, 1]))), '0203008001');
  assert.equal(hex(der.smallInteger(2)), '020102');
});

test('DER OIDs, booleans, named bit lists and SET OF ordering match X.690', () => {
  assert.equal(hex(der.oid('1.2.840.10045.4.3.2')), '06082a8648ce3d040302'); // ecdsa-with-SHA256
  assert.equal(hex(der.oid('2.5.29.19')), '0603551d13');
  assert.equal(hex(der.oid('1.3.6.1.5.5.7.3.1')), '06082b06010505070301');
  assert.equal(hex(der.boolean(true)), '0101ff');
  assert.equal(hex(der.namedBits([0])), '03020780'); // digitalSignature
  assert.equal(hex(der.namedBits([5, 6])), '03020106'); // keyCertSign | cRLSign
  assert.equal(hex(der.namedBits([0, 8])), '0303078080');
  assert.equal(hex(der.set(Buffer.from('0201ff', 'hex'), Buffer.from('020101', 'hex'))), '3106020101' + '0201ff');
  assert.throws(() => der.oid('3.1'), RangeError);
});

test('DER times are UTCTime before 2050 and GeneralizedTime from 2050', () => {
  assert.equal(der.time(new Date(Date.UTC(2049, 11, 31, 23, 59, 59))).toString('latin1', 2), '491231235959Z');
  assert.equal(der.time(new Date(Date.UTC(2049, 11, 31, 23, 59, 59)))[0], 0x17);
  const later = der.time(new Date(Date.UTC(2050, 0, 1, 0, 0, 0)));
  assert.equal(later[0], 0x18);
  assert.equal(later.toString('latin1', 2), '20500101000000Z');
});

test('IP addresses become 4 or 16 bytes, IPv6 shorthand and IPv4 tails included', () => {
  assert.equal(hex(ipAddressBytes('127.0.0.1')), '7f000001');
  assert.equal(hex(ipAddressBytes('::1')), '00000000000000000000000000000001');
  assert.equal(hex(ipAddressBytes('fe80::1:2')), 'fe800000000000000000000000010002');
  assert.equal(hex(ipAddressBytes('::ffff:127.0.0.1')), '00000000000000000000ffff7f000001');
  assert.equal(hex(ipAddressBytes('2001:db8:0:0:1:0:0:1')), '20010db8000000000001000000000001');
  assert.throws(() => ipAddressBytes('localhost'), (err) => isKubemuxError(err, 'ERR_INVALID_ARGUMENT'));
});

test('the CA is self-signed and the server certificate is signed by it, valid for loopback names', () => {
  const now = new Date(Date.UTC(2030, 5, 1, 12, 0, 0));
  const certs = generateCertificates({ now, validityDays: 30 });
  const ca = new X509Certificate(certs.caCertPem);
  const server = new X509Certificate(certs.certPem);
  assert.equal(ca.ca, true);
  assert.equal(server.ca, false);
  assert.equal(ca.verify(ca.publicKey), true);
  assert.equal(server.verify(ca.publicKey), true);
  assert.equal(server.checkIssued(ca), true);
  assert.equal(server.verify(server.publicKey), false);
  assert.equal(server.checkIP('127.0.0.1'), '127.0.0.1');
  assert.equal(server.checkIP('::1'), '::1');
  assert.equal(server.checkHost('localhost'), 'localhost');
  assert.equal(server.checkIP('10.0.0.1'), undefined);
  assert.equal(server.checkHost('example.com'), undefined);
  assert.deepEqual(server.keyUsage, ['1.3.6.1.5.5.7.3.1']);
  assert.equal(new Date(server.validFrom).getTime(), now.getTime() - 3_600_000);
  assert.equal(new Date(server.validTo).getTime(), now.getTime() + 30 * 86_400_000);
  assert.equal(server.issuer, ca.subject);
  assert.match(server.serialNumber, /^[4-7][0-9A-F]{31}$/);
  assert.equal(server.publicKey.asymmetricKeyDetails?.namedCurve, 'prime256v1');
});

test('extensions carry the criticality and bits Go checks, byte for byte', () => {
  const certs = generateCertificates();
  const ca = new X509Certificate(certs.caCertPem).raw;
  const server = new X509Certificate(certs.certPem).raw;
  const has = (raw: Buffer, hexBytes: string): boolean => raw.includes(Buffer.from(hexBytes, 'hex'));
  // basicConstraints, critical, CA:TRUE
  assert.ok(has(ca, '300f0603551d130101ff040530030101ff'));
  // keyUsage, critical, keyCertSign | cRLSign
  assert.ok(has(ca, '300e0603551d0f0101ff0404030201' + '06'));
  // basicConstraints, critical, CA:FALSE (the default, so an empty SEQUENCE)
  assert.ok(has(server, '300c0603551d130101ff04023000'));
  // keyUsage, critical, digitalSignature
  assert.ok(has(server, '300e0603551d0f0101ff040403020780'));
  // The server's authorityKeyIdentifier is the CA's subjectKeyIdentifier.
  const ski = /0603551d0e04160414([0-9a-f]{40})/.exec(ca.toString('hex'));
  assert.ok(ski !== null);
  assert.ok(has(server, `0603551d23041830168014${ski[1]}`));
  // ECDSA algorithm identifiers carry no NULL parameters.
  assert.ok(!has(server, '06082a8648ce3d0403020500'));
});

test('every generation has fresh keys and serial numbers', () => {
  const a = new X509Certificate(generateCertificates().certPem);
  const b = new X509Certificate(generateCertificates().certPem);
  assert.notEqual(a.serialNumber, b.serialNumber);
  assert.notEqual(a.fingerprint256, b.fingerprint256);
});

test('custom names replace the defaults; bad options are usage errors', () => {
  const server = new X509Certificate(generateCertificates({ dnsNames: ['fake.test'], ipAddresses: ['10.1.2.3'] }).certPem);
  assert.equal(server.checkHost('fake.test'), 'fake.test');
  assert.equal(server.checkIP('10.1.2.3'), '10.1.2.3');
  assert.equal(server.checkHost('localhost'), undefined);
  const usage = (err: unknown): boolean => isKubemuxError(err, 'ERR_INVALID_ARGUMENT') && err.scope === 'usage';
  assert.throws(() => generateCertificates({ validityDays: 0 }), usage);
  assert.throws(() => generateCertificates({ validityDays: 400 }), usage);
  assert.throws(() => generateCertificates({ dnsNames: ['bad name'] }), usage);
  assert.throws(() => generateCertificates({ dnsNames: [], ipAddresses: [] }), usage);
});

test('a TLS client that trusts only the CA completes a handshake with the server certificate', async (t) => {
  const certs = generateCertificates();
  const server = createHttpsServer({ key: certs.keyPem, cert: certs.certPem }, (_req, res) => res.end('ok'));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(() => server.close());
  const port = (server.address() as AddressInfo).port;
  const get = (ca: string, host: string): Promise<string> =>
    new Promise((resolve, reject) => {
      const req = httpsRequest({ host, port, path: '/', ca, agent: false, timeout: 5_000 }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () => resolve(body));
      });
      req.on('timeout', () => req.destroy(new Error('timed out')));
      req.on('error', reject);
      req.end();
    });
  assert.equal(await get(certs.caCertPem, '127.0.0.1'), 'ok');
  assert.equal(await get(certs.caCertPem, 'localhost'), 'ok');
  await assert.rejects(get(generateCertificates().caCertPem, '127.0.0.1'), /self.signed|unable to (get|verify)|certificate/i);
});
