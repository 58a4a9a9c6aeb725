import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { once } from 'node:events';
import { RtpSession } from '../../src/media/rtp/session.js';
import { PortAllocator, PortExhaustedError } from '../../src/media/rtp/ports.js';
import { sineTone, toneRatio } from '../../src/media/codecs/tones.js';
import { writeRtp } from '../../src/media/codecs/rtp.js';
import { ulawEncode } from '../../src/media/codecs/g711.js';

const LO = '127.0.0.1';
const allocator = new PortAllocator({ range: '44000-44099', host: LO });
const open: RtpSession[] = [];

async function session(opts: Partial<Parameters<typeof RtpSession.create>[0]> = {}): Promise<RtpSession> {
  const s = await RtpSession.create({ allocator, timeoutMs: 0, rtcpIntervalMs: 60_000, ...opts });
  open.push(s);
  return s;
}

after(async () => {
  await Promise.all(open.map((s) => s.close()));
});

/** Poll until `cond` holds; the deadline only guards against hangs, it asserts nothing about speed. */
async function waitFor(cond: () => boolean, what: string, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

async function pair(opts: Partial<Parameters<typeof RtpSession.create>[0]> = {}): Promise<[RtpSession, RtpSession]> {
  const a = await session(opts);
  const b = await session(opts);
  a.setRemote(LO, b.localPort);
  b.setRemote(LO, a.localPort);
  return [a, b];
}

test('two sessions exchange G.711 audio; the 440 Hz tone survives the trip', async () => {
  for (const codec of ['PCMU', 'PCMA'] as const) {
    const [a, b] = await pair({ codec });
    const got: number[] = [];
    let startedSsrc = -1;
    b.on('started', (src) => { startedSsrc = src.ssrc; });
    b.on('audio', (frame) => { got.push(...frame); });
    const tone = sineTone(440, { amplitude: 8000 });
    for (let i = 0; i < 50; i++) {
      assert.equal(a.send(tone.next()), true);
      if (i % 10 === 9) await new Promise((r) => setImmediate(r));
    }
    await waitFor(() => got.length >= 50 * 160, `${codec} audio`);
    assert.equal(startedSsrc, a.ssrc);
    assert.ok(toneRatio(Int16Array.from(got), 8000, 440) > 0.9, `${codec} tone energy`);
    assert.ok(toneRatio(Int16Array.from(got), 8000, 1000) < 0.01);
    const st = b.stats();
    assert.equal(st.codec, codec);
    assert.equal(st.receive.packetsReceived + st.receive.discarded, 50);
    assert.equal(st.receive.cumulativeLost, 0);
    assert.equal(a.stats().packetsSent, 50);
    assert.equal(a.stats().octetsSent, 50 * 160);
  }
});

test('per-packet listeners: once, several, this, and one added by a payload listener all behave as with emit()', async () => {
  const [a, b] = await pair({ codec: 'PCMU' });
  const seen: string[] = [];
  let thisOk = true;
  b.once('payload', function (this: unknown, p, ts, seq) {
    thisOk &&= this === b && p.length === 160 && typeof ts === 'number' && typeof seq === 'number';
    seen.push('once-payload');
    // Added while the packet is delivered: the packet's audio reaches it, as with emit().
    b.on('audio', (f) => seen.push(`late-audio:${f.length}`));
  });
  b.on('audio', function (this: unknown) {
    thisOk &&= this === b;
    seen.push('audio-1');
  });
  b.on('audio', () => seen.push('audio-2'));
  const tone = sineTone(440, { amplitude: 8000 });
  for (let i = 0; i < 3; i++) {
    assert.equal(a.send(tone.next()), true);
    await waitFor(() => seen.filter((x) => x === 'audio-2').length === i + 1, `packet ${i}`);
  }
  assert.equal(thisOk, true);
  assert.deepEqual(seen, [
    'once-payload', 'audio-1', 'audio-2', 'late-audio:160',
    'audio-1', 'audio-2', 'late-audio:160',
    'audio-1', 'audio-2', 'late-audio:160',
  ]);
  assert.equal(b.listenerCount('payload'), 0);
});

test("DTMF '123#' is detected exactly once per digit", async () => {
  const [a, b] = await pair();
  const digits: [string, number][] = [];
  b.on('dtmf', (d, ms) => digits.push([d, ms]));
  let audio = 0;
  b.on('audio', () => audio++);
  await a.sendDtmf('123#', { intervalMs: 20, durationMs: 80, gapMs: 40 });
  assert.equal(a.send(new Int16Array(160)), true, 'audio resumes after DTMF');
  await waitFor(() => digits.length >= 4 && audio >= 1, 'dtmf digits');
  // A trailing flush must not produce duplicates (all end packets were sent 3×).
  await new Promise((r) => setTimeout(r, 100));
  assert.deepEqual(digits, [['1', 80], ['2', 80], ['3', 80], ['#', 80]]);
  // start + 80 ms at 20 ms updates: 3 updates + 3 ends per digit
  assert.equal(a.stats().dtmfSent, 4 * 6);
  await assert.rejects(a.sendDtmf('12X'), RangeError);
});

test('symmetric RTP latches to the real source port after probation and ignores other sources afterwards', async () => {
  const a = await session();
  const b = await session();
  // B's SDP view of A is wrong (as behind a NAT); nothing listens there.
  const bogus = a.localPort + 50;
  b.setRemote(LO, bogus);
  a.setRemote(LO, b.localPort);
  const latched = once(b, 'latched');
  // Probation: 4 packets in sequence, paced as a stream is (a burst does not qualify).
  for (let i = 0; i < 4; i++) {
    a.send(new Int16Array(160));
    await new Promise((r) => setTimeout(r, 20));
  }
  const [src] = await latched;
  assert.deepEqual(src, { address: LO, port: a.localPort });
  assert.equal(b.remoteEndpoint!.port, a.localPort);
  assert.equal(b.isLatched, true);
  // B's replies now reach A
  const heard = once(a, 'started');
  b.send(new Int16Array(160));
  await heard;
  // An intruder sending to B is not accepted after latching
  const foreign = b.stats().foreignSource; // A's packets in probation were dropped too
  const intruder = dgram.createSocket('udp4');
  await new Promise<void>((r) => intruder.bind(0, LO, r));
  const pkt = writeRtp({ marker: false, payloadType: 0, sequenceNumber: 1, timestamp: 1, ssrc: 999 }, ulawEncode(new Int16Array(160)));
  intruder.send(pkt, b.localPort, LO);
  await waitFor(() => b.stats().foreignSource === foreign + 1, 'intruder counted');
  assert.equal(b.remoteEndpoint!.port, a.localPort);
  intruder.close();
});

test('deliberately dropped packets show up as loss, and in the RTCP report the sender gets back', async () => {
  const b = await session();
  const raw = dgram.createSocket('udp4');
  await new Promise<void>((r) => raw.bind(0, LO, r));
  b.setRemote(LO, raw.address().port);
  let count = 0;
  b.on('audio', () => count++);
  const payload = ulawEncode(new Int16Array(160));
  for (let seq = 65500; seq < 65600; seq++) {
    if (seq % 10 === 5) continue; // drop 10 of 100
    raw.send(writeRtp({ marker: false, payloadType: 0, sequenceNumber: seq & 0xffff, timestamp: seq * 160, ssrc: 0xabc }, payload), b.localPort, LO);
  }
  await waitFor(() => count === 90, 'all sent packets');
  const st = b.stats().receive;
  // First packet is consumed by probation (RFC 3550 A.1), so 99 are expected from the base.
  assert.equal(st.packetsExpected, 99);
  assert.equal(st.cumulativeLost, 10);
  assert.equal(st.extendedHighestSeq, 65536 + (65599 - 65536));
  assert.ok(b.stats().mos < 4);
  raw.close();
});

test('RTCP SR/RR exchange gives the peer a report block and a round-trip estimate', async () => {
  const [a, b] = await pair();
  for (let i = 0; i < 20; i++) a.send(new Int16Array(160));
  await waitFor(() => b.stats().receive.packetsReceived >= 19, 'audio at B');
  // RTCP goes only to a peer that has shown its address. A has heard no RTP from B (a receiver
  // only), so A's report goes nowhere until B's own RTCP arrives from B's SDP address.
  assert.equal(a.stats().latch.rtcp, null);
  const firstRr = once(a, 'rtcp');
  await b.sendRtcp([]);
  await firstRr;
  assert.deepEqual(a.stats().latch.rtcp, { address: LO, port: b.localRtcpPort });
  const srAtB = once(b, 'rtcp');
  await a.sendRtcp([]);
  const [pk] = await srAtB;
  assert.equal(pk[0]!.type, 'SR');
  if (pk[0]!.type === 'SR') assert.equal(pk[0].packetCount, 20);
  assert.deepEqual(pk[1], { type: 'SDES', chunks: [{ ssrc: a.ssrc, cname: a.cname }] });
  const rrAtA = once(a, 'rtcp');
  await b.sendRtcp([]);
  const [rr] = await rrAtA;
  assert.equal(rr[0]!.type, 'RR');
  const st = a.stats();
  assert.deepEqual(st.remoteReport, { fractionLost: 0, cumulativeLost: 0, jitterMs: st.remoteReport!.jitterMs });
  assert.ok(st.rttMs !== null && st.rttMs >= 0, `rtt ${st.rttMs}`);
});

test('no RTP for the configured time emits timeout; close sends BYE and releases the ports', async () => {
  const small = new PortAllocator({ range: '44200-44203', host: LO });
  const a = await RtpSession.create({ allocator: small, timeoutMs: 300 });
  const b = await RtpSession.create({ allocator: small, timeoutMs: 0 });
  a.setRemote(LO, b.localPort);
  b.setRemote(LO, a.localPort);
  const [info] = await once(a, 'timeout');
  assert.ok(info.silentMs >= 300);
  await assert.rejects(RtpSession.create({ allocator: small }), PortExhaustedError);
  assert.ok(a.send(new Int16Array(160))); // a sender: it owes the others a BYE (RFC 3550 §6.3.7)
  b.send(new Int16Array(160)); // and B has shown its address (RTCP goes nowhere else)
  await waitFor(() => a.isLatched, 'A latched to B');
  const bye = once(b, 'bye');
  const aPort = a.localPort;
  await a.close('hangup');
  const [reason] = await bye;
  assert.equal(reason, 'hangup');
  assert.equal(small.isAllocated(aPort), false);
  assert.equal(a.send(new Int16Array(160)), false);
  const c = await RtpSession.create({ allocator: small });
  assert.equal(c.localPort, aPort);
  await Promise.all([b.close(), c.close()]);
  assert.equal(small.allocated, 0);
});

test('a session that never sent RTP or RTCP closes without a BYE (RFC 3550 §6.3.7)', async () => {
  const small = new PortAllocator({ range: '44210-44213', host: LO });
  const a = await RtpSession.create({ allocator: small, timeoutMs: 0, rtcpIntervalMs: 60_000 });
  const b = await RtpSession.create({ allocator: small, timeoutMs: 0, rtcpIntervalMs: 60_000 });
  a.setRemote(LO, b.localPort);
  b.setRemote(LO, a.localPort);
  const sent: unknown[][] = [];
  for (const s of [a, b]) {
    const real = s.sendRtcp.bind(s);
    s.sendRtcp = (extra) => {
      sent.push(extra);
      return real(extra);
    };
  }
  await a.close('hangup');
  assert.deepEqual(sent, [], 'a never sent anything: no BYE');
  assert.ok(b.send(new Int16Array(160)));
  await b.close('done');
  assert.equal(sent.length, 1, 'b sent RTP, so it sends a BYE');
  assert.equal((sent[0]![0] as { type: string }).type, 'BYE');
  assert.equal(small.allocated, 0);
});
