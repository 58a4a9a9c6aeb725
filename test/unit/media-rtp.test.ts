import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  parseRtp, parseRtpInto, createRtpPacket, writeRtp, writeRtpHeader, seqDelta, seqNewer, extendSeq, tsDelta, tsNewer, tsAdd, rtpPacketSize,
} from '../../src/media/codecs/rtp.js';

test('writeRtp/parseRtp round-trip of the fixed header', () => {
  const payload = Buffer.from([1, 2, 3, 4, 5]);
  const buf = writeRtp({ marker: true, payloadType: 8, sequenceNumber: 65535, timestamp: 0xfffffff0, ssrc: 0xdeadbeef }, payload);
  assert.equal(buf.length, 17);
  assert.deepEqual([...buf.subarray(0, 2)], [0x80, 0x88]);
  const p = parseRtp(buf);
  assert.ok(p);
  assert.equal(p.version, 2);
  assert.equal(p.marker, true);
  assert.equal(p.payloadType, 8);
  assert.equal(p.sequenceNumber, 65535);
  assert.equal(p.timestamp, 0xfffffff0);
  assert.equal(p.ssrc, 0xdeadbeef);
  assert.deepEqual([...p.payload], [1, 2, 3, 4, 5]);
});

test('parseRtpInto with a length parses only buf[0, len) (an SRTP packet decrypted in place, tag after it)', () => {
  const payload = Buffer.from('abc');
  // Padded packet with ten tag-like bytes after it: the pad count must be read at len - 1.
  const rtp = writeRtp({ marker: false, payloadType: 0, sequenceNumber: 7, timestamp: 160, ssrc: 1, padTo: 4 }, payload);
  const buf = Buffer.concat([rtp, Buffer.alloc(10, 0xee)]);
  const p = createRtpPacket();
  assert.equal(parseRtpInto(buf, p, rtp.length), true);
  assert.deepEqual([...p.payload], [...payload]);
  assert.equal(parseRtpInto(buf, p, buf.length + 1), false, 'a length past the buffer');
  assert.equal(parseRtpInto(buf, p, 11), false, 'shorter than a header');
});

test('CSRC list, header extension and padding are written and skipped on parse', () => {
  const ext = { profile: 0xbede, data: Buffer.from([0x10, 0xaa, 0, 0, 1, 2, 3, 4]) };
  const payload = Buffer.from('abc');
  const buf = writeRtp({ marker: false, payloadType: 0, sequenceNumber: 7, timestamp: 160, ssrc: 1, csrc: [11, 22], extension: ext, padTo: 4 }, payload);
  // 12 + 8 (csrc) + 4 + 8 (ext) + 3 = 35 → padded to 36
  assert.equal(buf.length, 36);
  assert.equal(rtpPacketSize({ marker: false, payloadType: 0, sequenceNumber: 0, timestamp: 0, ssrc: 0, csrc: [1, 2], extension: ext, padTo: 4 }, 3), 36);
  assert.equal(buf[0]! & 0x20, 0x20);
  assert.equal(buf[35], 1);
  const p = parseRtp(buf)!;
  assert.deepEqual(p.csrc, [11, 22]);
  assert.equal(p.extension, true);
  assert.equal(p.extensionProfile, 0xbede);
  assert.deepEqual([...p.extensionData], [...ext.data]);
  assert.equal(p.paddingLength, 1);
  assert.equal(p.payload.toString(), 'abc');
});

test('padding count is honoured for larger pads', () => {
  const raw = Buffer.alloc(12 + 2 + 6);
  writeRtpHeader(raw, false, 0, 1, 2, 3);
  raw[0] = raw[0]! | 0x20;
  raw[12] = 0x41; raw[13] = 0x42;
  raw[19] = 6;
  const p = parseRtp(raw)!;
  assert.equal(p.payload.toString(), 'AB');
  assert.equal(p.paddingLength, 6);
});

test('malformed packets parse to null', () => {
  const good = writeRtp({ marker: false, payloadType: 0, sequenceNumber: 1, timestamp: 2, ssrc: 3 }, Buffer.alloc(4));
  assert.equal(parseRtp(good.subarray(0, 11)), null, 'truncated header');
  const v1 = Buffer.from(good); v1[0] = 0x40;
  assert.equal(parseRtp(v1), null, 'version 1');
  const cc = Buffer.from(good); cc[0] = 0x80 | 3; // 3 CSRCs need 12 bytes, only 4 present
  assert.equal(parseRtp(cc), null, 'CSRC past end');
  const ext = Buffer.from(good); ext[0] = 0x90; ext.writeUInt16BE(5, 14); // ext claims 20 bytes
  assert.equal(parseRtp(ext), null, 'extension past end');
  const pad0 = Buffer.from(good); pad0[0] = 0xa0; pad0[15] = 0;
  assert.equal(parseRtp(pad0), null, 'zero pad count');
  const padBig = Buffer.from(good); padBig[0] = 0xa0; padBig[15] = 5;
  assert.equal(parseRtp(padBig), null, 'pad count into header');
});

test('writeRtp into a preallocated buffer returns the exact view', () => {
  const out = Buffer.alloc(1500);
  const v = writeRtp({ marker: false, payloadType: 0, sequenceNumber: 9, timestamp: 9, ssrc: 9 }, Buffer.alloc(160, 0xff), out);
  assert.equal(v.length, 172);
  assert.equal(v.buffer, out.buffer);
  assert.throws(() => writeRtp({ marker: false, payloadType: 0, sequenceNumber: 0, timestamp: 0, ssrc: 0 }, Buffer.alloc(160), Buffer.alloc(100)), RangeError);
});

test('sequence arithmetic wraps at 16 bits', () => {
  assert.equal(seqDelta(1, 65535), 2);
  assert.equal(seqDelta(65535, 1), -2);
  assert.equal(seqDelta(100, 100), 0);
  assert.equal(seqNewer(0, 65535), true);
  assert.equal(seqNewer(65535, 0), false);
  assert.equal(extendSeq(65535, 2), 65538);
  assert.equal(extendSeq(65538, 65534), 65534);
  assert.equal(extendSeq(3 * 65536 + 10, 5), 3 * 65536 + 5);
  assert.equal(extendSeq(10, 20), 20);
});

test('timestamp arithmetic wraps at 32 bits', () => {
  assert.equal(tsDelta(80, 0xffffffb0), 160);
  assert.equal(tsDelta(0xffffffb0, 80), -160);
  assert.equal(tsNewer(5, 0xfffffff0), true);
  assert.equal(tsAdd(0xffffff00, 0x200), 0x100);
});
