// Bridge, mixer room and echo over real RtpSessions on loopback.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { RtpSession } from '../../src/media/rtp/session.js';
import { PortAllocator } from '../../src/media/rtp/ports.js';
import { Pacer } from '../../src/media/pacer.js';
import { sineTone, toneRatio } from '../../src/media/codecs/tones.js';
import type { G711Law } from '../../src/media/codecs/g711.js';
import { rtpLeg, bridge, MixerRoom, startEcho, memoryLegPair, FrameQueue, type MediaLeg } from '../../src/media/index.js';
import { waitFor } from '../helpers/wait.js';

const LO = '127.0.0.1';
const allocator = new PortAllocator({ range: '45300-45499', host: LO });
const pacer = new Pacer();
const sessions: RtpSession[] = [];
const stops: Array<() => void> = [];

after(async () => {
  for (const s of stops) s();
  await Promise.all(sessions.map((s) => s.close()));
  pacer.stop();
});

async function session(codec: G711Law): Promise<RtpSession> {
  const s = await RtpSession.create({ allocator, codec, timeoutMs: 0, rtcpIntervalMs: 60_000 });
  sessions.push(s);
  return s;
}

/**
 * One "phone": a far-end session that sends `hz` continuously and keeps what it hears, and the
 * engine-side leg it talks to.
 */
async function phone(hz: number, codec: G711Law = 'PCMU') {
  const far = await session(codec);
  const near = await session(codec);
  far.setRemote(LO, near.localPort);
  near.setRemote(LO, far.localPort);
  const heard: number[] = [];
  far.on('audio', (f) => {
    for (let i = 0; i < f.length; i++) heard.push(f[i]!);
  });
  const tone = sineTone(hz, { amplitude: 5000 });
  const frame = new Int16Array(160);
  const stop = pacer.add(() => void far.send(tone.next(frame)));
  stops.push(stop);
  return { leg: rtpLeg(near, `phone-${hz}`), near, far, heard, hz, stop };
}

/** The last `n` samples a phone heard. */
const tail = (heard: number[], n = 8000) => Int16Array.from(heard.slice(-n));

test('bridge: each leg hears the other tone and not its own; calls get MEDIA.STARTED/STOPPED', async () => {
  const a = await phone(500);
  const b = await phone(1300);
  const events: string[] = [];
  const br = bridge(a.leg, b.leg, { notify: [{ send: (e) => events.push(`a:${e.type}`) }, { send: (e) => events.push(`b:${e.type}`) }] });
  assert.equal(br.stats().mode, 'passthrough', 'same codec: bytes are forwarded');
  await waitFor(() => a.heard.length >= 8000 && b.heard.length >= 8000, '1 s each way', 8000);
  assert.ok(toneRatio(tail(a.heard), 8000, 1300) > 0.9, 'a hears b');
  assert.ok(toneRatio(tail(a.heard), 8000, 500) < 0.01, 'a does not hear itself');
  assert.ok(toneRatio(tail(b.heard), 8000, 500) > 0.9, 'b hears a');
  assert.ok(toneRatio(tail(b.heard), 8000, 1300) < 0.01, 'b does not hear itself');
  br.stop();
  assert.equal(br.active, false);
  const s = br.stats();
  assert.ok(s.aToB >= 50 && s.bToA >= 50, JSON.stringify(s));
  const before = a.heard.length;
  await new Promise((r) => setTimeout(r, 100));
  assert.ok(a.heard.length - before <= 160 * 2, 'nothing forwarded after stop (in-flight frames aside)');
  assert.deepEqual(events, ['a:MEDIA.STARTED', 'b:MEDIA.STARTED', 'a:MEDIA.STOPPED', 'b:MEDIA.STOPPED']);
  a.stop();
  b.stop();
});

test('bridge: PCMU ↔ PCMA transcodes through PCM; closing a leg stops the bridge', async () => {
  const a = await phone(700, 'PCMU');
  const b = await phone(1100, 'PCMA');
  let stopReason = '';
  const br = bridge(a.leg, b.leg, { onStop: (r) => (stopReason = r) });
  assert.equal(br.stats().mode, 'pcm');
  await waitFor(() => a.heard.length >= 8000 && b.heard.length >= 8000, '1 s each way', 8000);
  assert.ok(toneRatio(tail(a.heard), 8000, 1100) > 0.9, 'PCMU side hears the PCMA tone');
  assert.ok(toneRatio(tail(b.heard), 8000, 700) > 0.9, 'PCMA side hears the PCMU tone');
  assert.ok(toneRatio(tail(a.heard), 8000, 700) < 0.01 && toneRatio(tail(b.heard), 8000, 1100) < 0.01, 'toneRatio(tail(a.heard), 8000, 700) < 0.01 && toneRatio(tail(b.heard), 8000, 1100) < 0.01');
  assert.equal(b.near.stats().codec, 'PCMA');
  await a.leg.close();
  await waitFor(() => !br.active, 'bridge stopped', 8000);
  assert.equal(stopReason, 'leg-closed');
  a.stop();
  b.stop();
});

test('mixer: with three legs each hears the other two tones and not its own', async () => {
  const phones = [await phone(450), await phone(950), await phone(1500)];
  const room = new MixerRoom({ pacer });
  for (const p of phones) room.add(p.leg);
  for (const p of phones) p.heard.length = 0;
  await waitFor(() => phones.every((p) => p.heard.length >= 12000), '1.5 s of mix', 8000);
  for (const p of phones) {
    const t = tail(p.heard);
    for (const q of phones) {
      const r = toneRatio(t, 8000, q.hz);
      if (q === p) assert.ok(r < 0.02, `${p.hz} hears itself (${r})`);
      else assert.ok(r > 0.3, `${p.hz} does not hear ${q.hz} (${r})`);
    }
  }
  const stats = room.stats();
  assert.equal(stats.length, 3);
  for (const s of stats) assert.ok(s.received > 40 && s.sent > 40, JSON.stringify(s));
  await phones[0]!.leg.close();
  assert.equal(room.size, 2, 'a closed leg leaves the room');
  room.close();
  assert.equal(room.size, 0);
  for (const p of phones) p.stop();
});

test('mixer arithmetic: sum minus own, clipped to int16; overflow drops the oldest frame', () => {
  const legs: MediaLeg[] = [];
  const feeds: Array<(f: Int16Array) => void> = [];
  const outs: Int16Array[][] = [];
  for (let i = 0; i < 3; i++) {
    const [engineSide, phoneSide] = memoryLegPair(`m${i}`, `p${i}`);
    legs.push(engineSide);
    const got: Int16Array[] = [];
    outs.push(got);
    phoneSide.onAudio((f) => got.push(Int16Array.from(f)));
    feeds.push((f) => phoneSide.write(f));
  }
  const manual = new Pacer({ setTimer: () => 0, clearTimer: () => {} }); // never fires by itself
  const room = new MixerRoom({ pacer: manual, queueFrames: 2 });
  for (const l of legs) room.add(l);
  const frame = (v: number) => new Int16Array(160).fill(v);
  feeds[0]!(frame(20000));
  feeds[1]!(frame(20000));
  feeds[2]!(frame(-5));
  room.tick();
  assert.equal(outs[0]![0]![0], 19995);
  assert.equal(outs[1]![0]![0], 19995);
  assert.equal(outs[2]![0]![0], 32767, 'clipped');
  // Leg 0 sends 3 frames before the next tick: capacity 2, so the oldest (1) is dropped.
  feeds[0]!(frame(1));
  feeds[0]!(frame(2));
  feeds[0]!(frame(3));
  room.tick();
  assert.equal(outs[1]![1]![0], 2);
  room.tick();
  assert.equal(outs[1]![2]![0], 3);
  room.tick();
  assert.equal(outs[1]![3]![0], 0, 'nothing queued: silence');
  const st = room.stats();
  assert.equal(st[0]!.dropped, 1);
  assert.ok(st[1]!.underruns >= 3, 'st[1]!.underruns >= 3');
  room.close();
  manual.stop();
  const q = new FrameQueue(2);
  assert.equal(q.pop(), null);
  q.push(Int16Array.of(1, 2));
  assert.deepEqual([...q.pop()!.subarray(0, 3)], [1, 2, 0], 'short frames are zero-padded');
});

for (const mode of ['pcm', 'passthrough'] as const) {
  test(`echo (${mode}): what the leg receives comes back`, async () => {
    const p = await phone(800);
    const echo = startEcho(p.leg, { mode });
    assert.equal(echo.mode, mode);
    await waitFor(() => p.heard.length >= 8000, 'echoed audio', 8000);
    assert.ok(toneRatio(tail(p.heard), 8000, 800) > 0.9, 'toneRatio(tail(p.heard), 8000, 800) > 0.9');
    if (mode === 'passthrough') {
      assert.deepEqual(p.far.stats().receive.cumulativeLost, 0);
    }
    echo.stop();
    assert.ok(echo.frames >= 50, 'echo.frames >= 50');
    p.stop();
  });
}

test('echo pass-through returns the exact payload bytes', async () => {
  const far = await session('PCMU');
  const near = await session('PCMU');
  far.setRemote(LO, near.localPort);
  near.setRemote(LO, far.localPort);
  startEcho(rtpLeg(near), { mode: 'passthrough' });
  const payload = Uint8Array.from({ length: 160 }, (_, i) => (i * 7) & 0xff);
  const back = new Promise<Uint8Array>((r) => far.once('payload', (p) => r(Uint8Array.from(p))));
  assert.equal(far.sendPayload(payload), true);
  assert.deepEqual(await back, payload);
});

test('send buffers: a synchronous burst larger than the send ring still delivers every packet intact', async () => {
  const a = await session('PCMU');
  const b = await session('PCMU');
  a.setRemote(LO, b.localPort);
  b.setRemote(LO, a.localPort);
  const got: number[] = [];
  b.on('payload', (p) => got.push(p[0]!));
  // 40 back-to-back sends in one turn (the ring holds 16), alternating both send paths.
  for (let i = 0; i < 40; i++) {
    if (i % 2) assert.equal(a.sendPayload(new Uint8Array(160).fill(i)), true, 'sent');
    else assert.equal(a.send(new Int16Array(160).fill(0)), true, 'sent');
  }
  await waitFor(() => got.length >= 40, '40 packets', 8000);
  const odd = got.filter((_, i) => i % 2 === 1);
  assert.deepEqual(odd, Array.from({ length: 20 }, (_, k) => 2 * k + 1), 'no payload overwritten before it left');
  assert.equal(b.stats().receive.packetsReceived + b.stats().receive.discarded, 40);
});
