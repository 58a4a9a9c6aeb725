import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  buildRtcpCompound, parseRtcpCompound, ntpFromUnixMs, ntpToUnixMs, ntpMiddle32, roundTripMs,
  type ReportBlock, type SenderReport,
} from '../../src/media/codecs/rtcp.js';

const rb: ReportBlock = { ssrc: 0x1234, fractionLost: 25, cumulativeLost: -3, extendedHighestSeq: 70000, jitter: 17, lsr: 0xabcd0000, dlsr: 65536 };

test('SR + SDES + BYE compound round-trips', () => {
  const sr: SenderReport = { type: 'SR', ssrc: 42, ntpSeconds: 3900000000, ntpFraction: 0x80000000, rtpTimestamp: 12345, packetCount: 50, octetCount: 8000, reports: [rb] };
  const buf = buildRtcpCompound([sr, { type: 'SDES', chunks: [{ ssrc: 42, cname: 'leg-a@callchart' }] }, { type: 'BYE', ssrcs: [42], reason: 'hangup' }]);
  assert.equal(buf.length % 4, 0);
  const parsed = parseRtcpCompound(buf);
  assert.ok(parsed);
  assert.equal(parsed.length, 3);
  assert.deepEqual(parsed[0], sr);
  assert.deepEqual(parsed[1], { type: 'SDES', chunks: [{ ssrc: 42, cname: 'leg-a@callchart' }] });
  assert.deepEqual(parsed[2], { type: 'BYE', ssrcs: [42], reason: 'hangup' });
});

test('RR with several report blocks; negative cumulative loss survives 24-bit packing', () => {
  const buf = buildRtcpCompound([{ type: 'RR', ssrc: 7, reports: [rb, { ...rb, ssrc: 9, cumulativeLost: 1000 }] }]);
  assert.equal(buf.length, 8 + 48);
  const [rr] = parseRtcpCompound(buf)!;
  assert.equal(rr!.type, 'RR');
  if (rr!.type !== 'RR') return;
  assert.equal(rr.reports.length, 2);
  assert.deepEqual(rr.reports[0], rb);
  assert.equal(rr.reports[1]!.cumulativeLost, 1000);
});

test('SDES chunk padding works for every CNAME length', () => {
  for (let n = 1; n <= 9; n++) {
    const cname = 'x'.repeat(n);
    const buf = buildRtcpCompound([{ type: 'RR', ssrc: 1, reports: [] }, { type: 'SDES', chunks: [{ ssrc: 2, cname }, { ssrc: 3, cname: cname + 'y' }] }]);
    const parsed = parseRtcpCompound(buf)!;
    assert.deepEqual(parsed[1], { type: 'SDES', chunks: [{ ssrc: 2, cname }, { ssrc: 3, cname: cname + 'y' }] }, `len ${n}`);
  }
});

test('compound validity (RFC 3550 A.2)', () => {
  assert.throws(() => buildRtcpCompound([{ type: 'BYE', ssrcs: [1] }]));
  const good = buildRtcpCompound([{ type: 'RR', ssrc: 1, reports: [] }, { type: 'BYE', ssrcs: [1] }]);
  assert.ok(parseRtcpCompound(good));
  // BYE first
  const byeFirst = Buffer.concat([good.subarray(8), good.subarray(0, 8)]);
  assert.equal(parseRtcpCompound(byeFirst), null);
  // wrong version
  const v1 = Buffer.from(good); v1[0] = 0x40;
  assert.equal(parseRtcpCompound(v1), null);
  // length field overruns the datagram
  const long = Buffer.from(good); long.writeUInt16BE(9, 2);
  assert.equal(parseRtcpCompound(long), null);
  // trailing garbage (lengths do not add up)
  assert.equal(parseRtcpCompound(Buffer.concat([good, Buffer.from([0x80, 0xcb, 0, 5])])), null);
  // padding on the first packet of a compound
  const pad = Buffer.from(good); pad[0] = pad[0]! | 0x20;
  assert.equal(parseRtcpCompound(pad), null);
});

test('NTP conversion and compact form', () => {
  const ms = Date.UTC(2024, 0, 1, 0, 0, 0, 500);
  const ntp = ntpFromUnixMs(ms);
  assert.equal(ntp.seconds, ms / 1000 - 0.5 + 2208988800);
  assert.equal(ntp.fraction, 0x80000000);
  assert.ok(Math.abs(ntpToUnixMs(ntp) - ms) < 1e-3);
  assert.equal(ntpMiddle32(ntp), (((ntp.seconds & 0xffff) << 16) | 0x8000) >>> 0);
});

test('round trip from LSR/DLSR', () => {
  // SR sent at t=1000.0s compact, peer held it 0.25 s, report arrives at 1000.5 s → RTT 250 ms.
  const lsr = 1000 * 65536;
  const dlsr = 0.25 * 65536;
  const arrival = 1000.5 * 65536;
  assert.equal(roundTripMs(arrival, lsr, dlsr), 250);
  assert.equal(roundTripMs(arrival, 0, dlsr), null);
  assert.equal(roundTripMs(lsr, arrival, 0), null, 'negative result rejected');
});
