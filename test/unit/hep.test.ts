import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeHep3, encodeHep3, HEP_CHUNK, HEP_MAX_PACKET, type HepMessage } from '../../src/logging/hep.js';
import dgram from 'node:dgram';
import pino from 'pino';
import { HepExporter, parseHepTarget } from '../../src/logging/hep-exporter.js';

const SIP = 'OPTIONS sip:a@127.0.0.1 SIP/2.0\r\nCall-ID: abc@host\r\nContent-Length: 0\r\n\r\n';

const base: HepMessage = {
  srcIp: '192.0.2.7',
  srcPort: 5062,
  dstIp: '10.1.2.3',
  dstPort: 5060,
  timeMs: 1_700_000_000_123.456,
  captureId: 2026,
  payload: Buffer.from(SIP),
};

test('HEP3 header and chunks are laid out byte for byte as the spec says', () => {
  const p = encodeHep3(base);
  assert.equal(p.toString('ascii', 0, 4), 'HEP3');
  assert.equal(p.readUInt16BE(4), p.length, 'total length covers the whole packet');
  // Walk the chunks by hand (independent of decodeHep3): vendor 0, type, length incl. 6-byte header.
  const seen = new Map<number, Buffer>();
  for (let at = 6; at < p.length; ) {
    assert.equal(p.readUInt16BE(at), 0, 'generic vendor');
    const len = p.readUInt16BE(at + 4);
    seen.set(p.readUInt16BE(at + 2), p.subarray(at + 6, at + len));
    at += len;
  }
  assert.deepEqual([...seen.get(1)!], [2], 'family IPv4 = 2');
  assert.deepEqual([...seen.get(2)!], [17], 'protocol UDP = 17');
  assert.deepEqual([...seen.get(3)!], [192, 0, 2, 7]);
  assert.deepEqual([...seen.get(4)!], [10, 1, 2, 3]);
  assert.equal(seen.get(7)!.readUInt16BE(), 5062);
  assert.equal(seen.get(8)!.readUInt16BE(), 5060);
  assert.equal(seen.get(9)!.readUInt32BE(), 1_700_000_000);
  assert.equal(seen.get(10)!.readUInt32BE(), 123_456, 'microseconds');
  assert.deepEqual([...seen.get(11)!], [1], 'proto type SIP = 1');
  assert.equal(seen.get(12)!.readUInt32BE(), 2026);
  assert.equal(seen.get(15)!.toString(), SIP);
  assert.equal(seen.has(14), false);
  assert.equal(seen.has(17), false);
});

test('decodeHep3 reads back every field, IPv4 and IPv6, with auth key and correlation id', () => {
  const d = decodeHep3(encodeHep3({ ...base, authKey: 'secret', correlationId: 'abc@host' }));
  assert.ok(d.ok);
  assert.deepEqual({ ...d.message, payload: d.message.payload.toString() }, {
    ...base,
    payload: SIP,
    protoType: 1,
    ipProto: 17,
    authKey: 'secret',
    correlationId: 'abc@host',
  });
  const v6 = decodeHep3(encodeHep3({ ...base, srcIp: '2001:db8::7', dstIp: '::ffff:10.1.2.3' }));
  assert.ok(v6.ok);
  assert.equal(v6.message.srcIp, '2001:db8::7');
  assert.equal(v6.message.dstIp, '::ffff:a01:203');
  assert.deepEqual([...v6.chunks.get(HEP_CHUNK.family)!], [10]);
  assert.deepEqual([...v6.chunks.get(HEP_CHUNK.srcIp6)!], [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 7]);
});

test('mixed families and oversized payloads are refused; broken packets do not decode', () => {
  assert.throws(() => encodeHep3({ ...base, dstIp: '::1' }), /both IPv4 or both IPv6/);
  assert.throws(() => encodeHep3({ ...base, payload: Buffer.alloc(HEP_MAX_PACKET) }), /exceeds/);
  const p = encodeHep3(base);
  assert.equal(decodeHep3(Buffer.from('HEP2' + 'x'.repeat(20))).ok, false);
  assert.equal(decodeHep3(p.subarray(0, p.length - 3)).ok, false, 'length field larger than the datagram');
  const bad = Buffer.from(p);
  bad.writeUInt16BE(3, 6 + 4); // first chunk claims 3 bytes, less than its header
  assert.equal(decodeHep3(bad).ok, false);
});

test('parseHepTarget: host:port, [v6]:port, names; anything else is refused', () => {
  assert.deepEqual(parseHepTarget('10.0.0.9:9060'), { host: '10.0.0.9', port: 9060 });
  assert.deepEqual(parseHepTarget('[::1]:9060'), { host: '::1', port: 9060 });
  assert.deepEqual(parseHepTarget('homer.local:9060'), { host: 'homer.local', port: 9060 });
  for (const bad of ['10.0.0.9', ':9060', '10.0.0.9:0', '10.0.0.9:70000', '::1:9060', '']) assert.throws(() => parseHepTarget(bad), /host:port/, bad);
});

test('the exporter marks SIP over TCP and TLS as IP protocol 6 and UDP as 17, over a real socket', async () => {
  const collector = dgram.createSocket('udp4');
  await new Promise<void>((r) => collector.bind(0, '127.0.0.1', () => r()));
  const got: Buffer[] = [];
  collector.on('message', (m) => got.push(m));
  const hep = new HepExporter({ host: '127.0.0.1', port: collector.address().port, logger: pino({ level: 'silent' }) });
  try {
    const bytes = Buffer.from('OPTIONS sip:a@127.0.0.1 SIP/2.0\r\nCall-ID: x@y\r\n\r\n');
    const local = { address: '127.0.0.1', port: 5060 };
    for (const transport of [undefined, 'tcp', 'tls'] as const) {
      hep.hook({ direction: 'in', local, remote: { address: '127.0.0.1', port: 40000, ...(transport ? { transport } : {}) }, bytes, time: Date.now() });
    }
    for (let t = 0; t < 100 && got.length < 3; t++) await new Promise((r) => setTimeout(r, 10));
    const protos = got.map((p) => {
      const d = decodeHep3(p);
      assert.ok(d.ok);
      return d.message.ipProto;
    });
    assert.deepEqual(protos, [17, 6, 6]);
  } finally {
    hep.close();
    collector.close();
  }
});
