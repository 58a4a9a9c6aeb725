// SRTP with SDES keys on real SIP calls over loopback: an in-test SRTP client (raw SIP + the
// SRTP codec) against an echoing engine, offers refused per mode, and two engines calling each
// other with the tone checked where it lands. Interop with baresip: test/interop/srtp-baresip.test.ts.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket, type Socket } from 'node:dgram';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { demoApp, type Engine, type Call } from '../../src/index.js';
import { readWavFile, toneRatio } from '../../src/media/index.js';
import { startEcho } from '../../src/media/mixing/echo.js';
import { SrtpContext, formatSdesKey, parseSdesKey } from '../../src/media/rtp/srtp.js';
import { RawSip, request } from '../helpers/raw-sip.js';
import { loopbackEngines } from '../helpers/loopback-engines.js';

const { start, closeAll } = loopbackEngines(36400);
const dir = mkdtempSync(join(tmpdir(), 'callchart-sip-srtp-'));
after(async () => {
  await closeAll();
  rmSync(dir, { recursive: true, force: true });
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function offer(rtpPort: number, profile: string, crypto: string[]): string {
  return [
    'v=0', 'o=- 1 1 IN IP4 127.0.0.1', 's=-', 'c=IN IP4 127.0.0.1', 't=0 0',
    `m=audio ${rtpPort} ${profile} 0 101`, 'a=rtpmap:0 PCMU/8000', 'a=rtpmap:101 telephone-event/8000', ...crypto, 'a=sendrecv', '',
  ].join('\n');
}

/** INVITE from a raw client; the final response. */
async function invite(e: Engine, body: string): Promise<{ client: RawSip; status: number; body: string; callId: string; to: string }> {
  const client = await new RawSip().open();
  const callId = `srtp-${Math.random().toString(36).slice(2)}@127.0.0.1`;
  const sipPort = e.sipPort!;
  client.send(request('INVITE', sipPort, client.port, { 'Content-Type': 'application/sdp', 'Call-ID': callId }, body), sipPort);
  const res = await client.response((r) => r.status >= 200);
  return { client, status: res.status, body: res.body.toString('utf8'), callId, to: res.headers.get('To') ?? '' };
}

function rtpPacket(seq: number, payload: Buffer): Buffer {
  const b = Buffer.alloc(12 + payload.length + 10);
  b[0] = 0x80;
  b[1] = 0; // PCMU
  b.writeUInt16BE(seq, 2);
  b.writeUInt32BE(seq * 160, 4);
  b.writeUInt32BE(0x5eed5eed, 8);
  payload.copy(b, 12);
  return b;
}

function udp(): Promise<Socket> {
  const s = createSocket('udp4');
  return new Promise((resolve) => s.bind(0, '127.0.0.1', () => resolve(s)));
}

for (const suite of ['AES_CM_128_HMAC_SHA1_80', 'AES_CM_128_HMAC_SHA1_32'] as const) {
  test(`an SRTP client (RTP/SAVP, ${suite}) hears its own payload back; forged, replayed and plain packets are not echoed`, async () => {
    const e = await start({ sip: { srtp: 'required' }, onIncomingCall: demoApp() });
    const sock = await udp();
    const key = randomBytes(30);
    const r = await invite(e, offer(sock.address().port, 'RTP/SAVP', [`a=crypto:7 ${suite} ${formatSdesKey(key)}|2^31`]));
    assert.equal(r.status, 200, r.body);
    assert.match(r.body, /^m=audio \d+ RTP\/SAVP 0/m);
    const line = new RegExp(`^a=crypto:7 ${suite} (inline:\\S+)\\r?$`, 'm').exec(r.body);
    assert.ok(line, `answer keeps tag 7 and the suite:\n${r.body}`);
    const theirKey = parseSdesKey(line[1]!)!;
    assert.ok(theirKey && !theirKey.equals(key), 'the engine answers with its own key');
    const port = Number(/^m=audio (\d+)/m.exec(r.body)![1]);
    r.client.send(request('ACK', e.sipPort!, r.client.port, { 'Call-ID': r.callId, To: r.to, CSeq: '1 ACK' }), e.sipPort!);

    const tx = new SrtpContext(suite, key);
    const rx = new SrtpContext(suite, theirKey);
    const heard: Buffer[] = [];
    let undecryptable = 0;
    sock.on('message', (m) => {
      const n = rx.unprotectRtp(m);
      if (n < 0) undecryptable++;
      else heard.push(Buffer.from(m.subarray(12, n)));
    });
    const sent: Buffer[] = [];
    let seq = 65500; // crosses a rollover on the way
    for (let i = 0; i < 60; i++) {
      const payload = Buffer.alloc(160, i + 1);
      const p = rtpPacket(seq, payload);
      const n = tx.protectRtp(p, 172);
      if (i === 20) {
        // Before the genuine packet (a copy after it would be dropped as a replay first).
        const forged = Buffer.from(p.subarray(0, n));
        forged[20]! ^= 0xff; // tampered payload
        sock.send(forged, port, '127.0.0.1');
        sock.send(rtpPacket((seq + 1) & 0xffff, Buffer.alloc(160, 0xee)).subarray(0, 172), port, '127.0.0.1'); // plain RTP
      }
      sock.send(p.subarray(0, n), port, '127.0.0.1');
      if (i === 10) sock.send(p.subarray(0, n), port, '127.0.0.1'); // a replay
      sent.push(payload);
      seq = (seq + 1) & 0xffff;
      await sleep(5);
    }
    await sleep(300);
    assert.equal(undecryptable, 0, 'everything the engine sends authenticates with its key');
    assert.ok(heard.length >= 55, `${heard.length} echoed packets`);
    for (const h of heard) assert.ok(h.length === 160 && h[0]! >= 1 && h[0]! <= 60 && h.every((b) => b === h[0]), 'an echoed payload is one we sent');
    assert.equal(new Set(heard.map((h) => h[0])).size, heard.length, 'the replay was not echoed twice');
    const call = e.calls.list()[0] as Call | undefined;
    const stats = call?.stats() as { srtp?: { suite: string; authFailed: number; replayed: number } } | undefined;
    assert.equal(stats?.srtp?.suite, suite);
    assert.ok((stats?.srtp?.authFailed ?? 0) >= 2, `forged + plain counted: ${JSON.stringify(stats?.srtp)}`);
    assert.equal(stats?.srtp?.replayed, 1, 'the replay counted');
    r.client.close();
    sock.close();
  });
}

test('required: an offer without a=crypto gets 488; off: an RTP/SAVP offer gets 488; optional takes both', async () => {
  const required = await start({ sip: { srtp: 'required' }, onIncomingCall: demoApp() });
  const off = await start({ onIncomingCall: demoApp() });
  const optional = await start({ sip: { srtp: 'optional' }, onIncomingCall: demoApp() });
  const key = formatSdesKey(randomBytes(30));
  const plain = await invite(required, offer(40000, 'RTP/AVP', []));
  assert.equal(plain.status, 488);
  const unsupported = await invite(required, offer(40000, 'RTP/SAVP', [`a=crypto:1 AES_256_CM_HMAC_SHA1_80 inline:${randomBytes(46).toString('base64')}`]));
  assert.equal(unsupported.status, 488, 'no suite we support');
  const savp = await invite(off, offer(40000, 'RTP/SAVP', [`a=crypto:1 AES_CM_128_HMAC_SHA1_80 ${key}`]));
  assert.equal(savp.status, 488);
  const avpCrypto = await invite(off, offer(40000, 'RTP/AVP', [`a=crypto:1 AES_CM_128_HMAC_SHA1_80 ${key}`]));
  assert.equal(avpCrypto.status, 200, 'off ignores best-effort a=crypto');
  assert.doesNotMatch(avpCrypto.body, /a=crypto/);
  const o1 = await invite(optional, offer(40000, 'RTP/AVP', []));
  assert.equal(o1.status, 200);
  assert.doesNotMatch(o1.body, /a=crypto/);
  const o2 = await invite(optional, offer(40000, 'RTP/AVP', [`a=crypto:3 AES_CM_128_HMAC_SHA1_32 ${key}`]));
  assert.equal(o2.status, 200);
  assert.match(o2.body, /^m=audio \d+ RTP\/AVP /m, 'best-effort SDES keeps RTP/AVP');
  assert.match(o2.body, /^a=crypto:3 AES_CM_128_HMAC_SHA1_32 inline:/m);
  for (const r of [plain, unsupported, savp, avpCrypto, o1, o2]) r.client.close();
});

for (const [caller, callee] of [['required', 'required'], ['optional', 'required'], ['required', 'optional']] as const) {
  test(`engine (${caller}) calls engine (${callee}) over SRTP: the 1 kHz tone comes back through the echo`, async () => {
    const b = await start({
      sip: { srtp: callee },
      onIncomingCall: (call) => {
        startEcho(call.media!);
        return { action: 'accept' };
      },
    });
    const a = await start({ sip: { srtp: caller } });
    const call = await a.call(`sip:echo@127.0.0.1:${b.sipPort}`);
    await new Promise<void>((resolve, reject) => {
      if (call.isActive) return resolve();
      call.once('answered', () => resolve());
      call.once('ended', (end) => reject(new Error(JSON.stringify(end))));
    });
    const rec = call.record(join(dir, `srtp-${caller}-${callee}.wav`));
    await call.play({ kind: 'tone', frequencies: [1000], durationMs: 1000 }).done;
    await sleep(100);
    const out = await rec.stop();
    const s = readWavFile(out.path);
    assert.ok(s.length >= 6000, `${s.length} samples recorded`);
    assert.ok(toneRatio(s, 8000, 1000) > 0.8, `1 kHz share ${toneRatio(s, 8000, 1000).toFixed(2)}`);
    const stats = call.stats() as { srtp?: { suite: string } } | undefined;
    assert.equal(stats?.srtp?.suite, 'AES_CM_128_HMAC_SHA1_80', 'the first offered suite was taken');
    call.hangup();
    await sleep(50);
  });
}

test('hold and resume by re-INVITE keep SRTP: the re-offers carry the agreed key, the tone still comes back', async () => {
  const b = await start({
    sip: { srtp: 'required' },
    onIncomingCall: (call) => {
      startEcho(call.media!);
      return { action: 'accept' };
    },
  });
  const a = await start({ sip: { srtp: 'required' } });
  const call = await a.call(`sip:echo@127.0.0.1:${b.sipPort}`);
  await new Promise<void>((resolve, reject) => {
    if (call.isActive) return resolve();
    call.once('answered', () => resolve());
    call.once('ended', (end) => reject(new Error(JSON.stringify(end))));
  });
  call.hold();
  await sleep(300);
  assert.equal(call.isActive, true, `still up after hold (state ${call.state})`);
  call.resume();
  await sleep(300);
  const rec = call.record(join(dir, 'srtp-after-hold.wav'));
  await call.play({ kind: 'tone', frequencies: [1000], durationMs: 800 }).done;
  await sleep(100);
  const s = readWavFile((await rec.stop()).path);
  assert.ok(toneRatio(s, 8000, 1000) > 0.8, `1 kHz share after hold/resume ${toneRatio(s, 8000, 1000).toFixed(2)}`);
  const st = call.stats() as { srtp?: { authFailed: number } } | undefined;
  assert.equal(st?.srtp?.authFailed, 0, 'no packet failed authentication across the re-INVITEs');
  call.hangup();
  await sleep(50);
});

test('optional calling off falls back to plain RTP (best-effort SDES ignored); required calling off is refused with 488', async () => {
  const b = await start({
    onIncomingCall: (call) => {
      startEcho(call.media!);
      return { action: 'accept' };
    },
  });
  const optional = await start({ sip: { srtp: 'optional' } });
  const call = await optional.call(`sip:echo@127.0.0.1:${b.sipPort}`);
  await new Promise<void>((resolve, reject) => {
    if (call.isActive) return resolve();
    call.once('answered', () => resolve());
    call.once('ended', (end) => reject(new Error(JSON.stringify(end))));
  });
  const rec = call.record(join(dir, 'srtp-optional-off.wav'));
  await call.play({ kind: 'tone', frequencies: [1000], durationMs: 800 }).done;
  await sleep(100);
  const s = readWavFile((await rec.stop()).path);
  assert.ok(toneRatio(s, 8000, 1000) > 0.8, `1 kHz share ${toneRatio(s, 8000, 1000).toFixed(2)}`);
  assert.equal((call.stats() as { srtp?: unknown } | undefined)?.srtp, null, 'plain RTP');
  call.hangup();

  const required = await start({ sip: { srtp: 'required' } });
  const refused = await required.call(`sip:echo@127.0.0.1:${b.sipPort}`);
  const end = await refused.waitForEnd();
  assert.equal(end.code, 488, JSON.stringify(end));
});

test('required: a 200 whose answer has no a=crypto is ACKed and ended with a BYE; no RTP goes to its address in the clear', async () => {
  const a = await start({ sip: { srtp: 'required' } });
  const uas = await new RawSip().open();
  const media = await udp();
  let rtpSeen = 0;
  media.on('message', () => rtpSeen++);
  const call = await a.call(`sip:plain@127.0.0.1:${uas.port}`);
  const inv = await uas.request((r) => r.method === 'INVITE');
  const offerSdp = inv.body.toString('utf8');
  assert.match(offerSdp, /^m=audio \d+ RTP\/SAVP /m);
  assert.equal((offerSdp.match(/^a=crypto:/gm) ?? []).length, 2, 'both suites offered');
  const h = (n: string): string => inv.headers.getAll(n).join(', ');
  const answer = offer(media.address().port, 'RTP/AVP', []);
  const resp = [
    'SIP/2.0 200 OK', `Via: ${h('Via')}`, `From: ${h('From')}`, `To: ${h('To')};tag=plain1`, `Call-ID: ${h('Call-ID')}`, `CSeq: ${h('CSeq')}`,
    `Contact: <sip:plain@127.0.0.1:${uas.port}>`, 'Content-Type: application/sdp', `Content-Length: ${Buffer.byteLength(answer.replace(/\n/g, '\r\n'))}`, '', answer,
  ].join('\n');
  uas.send(resp, a.sipPort!);
  await uas.request((r) => r.method === 'ACK');
  const bye = await uas.request((r) => r.method === 'BYE');
  assert.ok(bye);
  const end = await call.waitForEnd();
  assert.match(JSON.stringify(end), /SRTP not negotiated/);
  await sleep(200);
  assert.equal(rtpSeen, 0, 'nothing sent to the plain answer\'s address');
  uas.close();
  media.close();
});
