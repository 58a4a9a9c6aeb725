// The receive-side jitter buffer on real calls over loopback sockets.
//
// SIP: a raw SIP client calls an engine that records every call; a plain UDP socket plays the
// caller's RTP: a 410 Hz tone (0.2 cycle per 20 ms frame, so every frame's phase says whether it
// follows its predecessor) sent with random delays of 0–40 ms, some packets swapped, some lost,
// one duplicated. The recording (through the jitter buffer) must be continuous: in order, losses
// concealed at the right phase. The same call's arrival-order frames (`call.media.onAudio`) are
// checked with the same oracle and must NOT pass it, so the oracle can tell the difference.
//
// WebSocket: call.stats() of an inbound-call WS call (frames, jitter buffer), and call.sendDtmf()
// reaching the client as `dtmf` messages.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createEngine, type Call, type Engine, type RecordingHandle } from '../../src/index.js';
import { writeRtp } from '../../src/media/codecs/rtp.js';
import { ulawEncode } from '../../src/media/codecs/g711.js';
import { readWavFile } from '../../src/media/index.js';
import { RawSip, request } from '../helpers/raw-sip.js';
import { TestClient } from '../helpers/ws-client.js';
import { Rng } from '../helpers/prng.js';
import { sleep, waitFor } from '../helpers/wait.js';
import { rtpStats } from '../helpers/call-stats.js';

const LO = '127.0.0.1';
const HZ = 410;
const dir = mkdtempSync(path.join(tmpdir(), 'callchart-jitter-'));
const cleanup: Array<() => unknown> = [];
after(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
  rmSync(dir, { recursive: true, force: true });
});

/** Phase (radians) of the HZ component of one frame (a single-bin DFT). */
function phaseOf(frame: ArrayLike<number>): { phase: number; amp: number } {
  let re = 0;
  let im = 0;
  for (let i = 0; i < frame.length; i++) {
    const w = (2 * Math.PI * HZ * i) / 8000;
    re += frame[i]! * Math.cos(w);
    im -= frame[i]! * Math.sin(w);
  }
  return { phase: Math.atan2(im, re), amp: (2 * Math.hypot(re, im)) / frame.length };
}

/**
 * Frame-to-frame steps of a 160-sample framing that are not the tone's 0.2 cycle (72°) ± 25°:
 * a reordered, missing or repeated frame each breaks one or two steps. Silent frames count too.
 */
function brokenSteps(samples: Int16Array): { broken: number; frames: number } {
  const want = 2 * Math.PI * ((HZ * 160) / 8000 - Math.floor((HZ * 160) / 8000));
  let broken = 0;
  let prev: number | null = null;
  const frames = Math.floor(samples.length / 160);
  for (let i = 0; i < frames; i++) {
    const { phase, amp } = phaseOf(samples.subarray(i * 160, (i + 1) * 160));
    if (amp < 2000) {
      broken++;
      prev = null;
      continue;
    }
    if (prev !== null) {
      let d = phase - prev - want;
      d = Math.atan2(Math.sin(d), Math.cos(d));
      if (Math.abs(d) > (25 * Math.PI) / 180) broken++;
    }
    prev = phase;
  }
  return { broken, frames };
}

test('SIP call, RTP with jitter, reordering, loss and a duplicate: the recording is continuous, stats count it', { timeout: 20_000 }, async (t) => {
  const recs: RecordingHandle[] = [];
  const calls: Call[] = [];
  const arrivals: Int16Array[] = [];
  const engine: Engine = createEngine({
    host: LO,
    wsPort: false,
    sipPort: 0,
    rtpPorts: '47200-47219',
    inboundCall: false,
    onIncomingCall: (call) => {
      calls.push(call);
      recs.push(call.record(path.join(dir, 'sip.wav')));
      // The same leg's frames in arrival order, for the oracle's control.
      call.media!.onAudio((f) => void arrivals.push(f.slice()));
      return { action: 'accept' };
    },
  });
  await engine.listen();
  cleanup.push(() => engine.close());

  const sock = dgram.createSocket('udp4');
  await new Promise<void>((r) => sock.bind(0, LO, () => r()));
  cleanup.push(() => new Promise<void>((r) => sock.close(() => r())));
  const sip = await new RawSip().open();
  cleanup.push(() => sip.close());
  const sipPort = engine.sipPort!;
  const callId = `jitter-${Date.now()}@${LO}`;
  const sdp = `v=0\no=raw 1 1 IN IP4 ${LO}\ns=-\nc=IN IP4 ${LO}\nt=0 0\nm=audio ${sock.address().port} RTP/AVP 0\na=rtpmap:0 PCMU/8000\n`;
  sip.send(request('INVITE', sipPort, sip.port, { 'Content-Type': 'application/sdp', 'Call-ID': callId }, sdp), sipPort);
  const ok = await sip.response((r) => r.status === 200);
  const toTag = /tag=([^;>\s]+)/.exec(ok.headers.get('To')!)![1]!;
  const to = `<sip:callchart@${LO}:${sipPort}>;tag=${toTag}`;
  sip.send(request('ACK', sipPort, sip.port, { 'Call-ID': callId, CSeq: '1 ACK', To: to }), sipPort);
  const rtpPort = Number(/m=audio (\d+)/.exec(ok.body.toString())![1]);
  await waitFor(() => recs[0]?.actor.getSnapshot().matches('active') === true, 'the recording to be open', 3000);

  // 200 packets (4 s) of the tone; a schedule of send times with 0–40 ms of random delay.
  const N = 200;
  const rng = new Rng(1703);
  const lost = new Set([30, 77, 78, 120, 160]);
  const swapped = new Set([20, 50, 90, 140, 180]); // k and k+1 trade places (k+1 goes 1 ms before k)
  const plan: Array<{ k: number; at: number }> = [];
  for (let k = 0; k < N; k++) {
    if (lost.has(k)) continue;
    let at = k * 20 + Math.floor(rng.next() * 40);
    if (swapped.has(k)) at = (k + 1) * 20 + 30;
    if (swapped.has(k - 1)) at = k * 20 + 29;
    plan.push({ k, at });
    if (k === 100) plan.push({ k, at: at + 3 }); // a duplicate
  }
  plan.sort((a, b) => a.at - b.at);
  const packet = (k: number): Buffer => {
    const pcm = new Int16Array(160);
    for (let i = 0; i < 160; i++) pcm[i] = Math.round(8000 * Math.sin((2 * Math.PI * HZ * (k * 160 + i)) / 8000));
    return writeRtp({ marker: k === 0, payloadType: 0, sequenceNumber: (65500 + k) & 0xffff, timestamp: (0xffffe000 + k * 160) >>> 0, ssrc: 0x4a17 }, ulawEncode(pcm));
  };
  const t0 = performance.now();
  for (const p of plan) {
    const wait = t0 + p.at - performance.now();
    if (wait > 1) await sleep(wait);
    sock.send(packet(p.k), rtpPort, LO);
  }
  await sleep(400); // let the buffer play out

  const call = calls[0]!;
  const live = rtpStats(call).jitterBuffer;
  assert.ok(live, 'the recording listens through the jitter buffer');
  sip.send(request('BYE', sipPort, sip.port, { 'Call-ID': callId, CSeq: '2 BYE', To: to }), sipPort);
  await call.waitForEnd();
  const out = await recs[0]!.done;
  assert.equal(out.reason, 'leg-closed');

  const jb = rtpStats(call).jitterBuffer!;
  assert.equal(jb.packets + jb.late, N - lost.size, `every packet that came went in once, or was late: ${JSON.stringify(jb)}`);
  assert.equal(jb.duplicates, 1);
  assert.ok(jb.reordered >= swapped.size, `reordered ${jb.reordered}`);
  assert.ok(jb.concealed >= lost.size, `losses concealed: ${jb.concealed}`);
  assert.ok(jb.late <= 10, `few late packets: ${jb.late}`);
  assert.ok(jb.jitterMs > 3, `jitter measured: ${jb.jitterMs} ms`);
  assert.ok(jb.targetMs >= 40 && jb.targetMs <= 200, `adaptive target ${jb.targetMs} ms`);

  // Continuity: the recording from its first tone frame to the last full one.
  const rec = readWavFile(out.path);
  let start = 0;
  while (start + 160 <= rec.length && phaseOf(rec.subarray(start, start + 160)).amp < 2000) start += 160;
  // 200 frames of timeline, less the few the buffer may discard to give back latency.
  const tone = rec.subarray(start, start + (N - 6) * 160);
  const buffered = brokenSteps(tone);
  assert.ok(buffered.frames >= N - 6, `${buffered.frames} frames recorded`);
  // Idle box: 1–4 (a late packet's or a discarded frame's join); arrival order breaks ~90.
  assert.ok(buffered.broken <= 10, `recording continuous: ${buffered.broken} broken steps in ${buffered.frames} frames`);

  // Control: the same audio in arrival order breaks at every swap, loss and duplicate.
  const flat = new Int16Array(arrivals.length * 160);
  arrivals.forEach((f, i) => flat.set(f, i * 160));
  const raw = brokenSteps(flat);
  t.diagnostic(`jitter buffer ${JSON.stringify(jb)}; broken steps: recording ${buffered.broken}/${buffered.frames}, arrival order ${raw.broken}/${raw.frames}`);
  assert.ok(raw.broken >= 12, `arrival order is not continuous (${raw.broken} broken steps): the oracle can fail`);
  assert.ok(raw.broken > buffered.broken * 3, `buffered ${buffered.broken} vs arrival order ${raw.broken}`);
});

test('WS call: call.stats() has the leg\'s frames and jitter buffer; call.sendDtmf() reaches the client', { timeout: 15_000 }, async () => {
  const calls: Call[] = [];
  let rec: RecordingHandle | undefined;
  const engine = createEngine({
    host: LO,
    wsPort: 0,
    sipPort: false,
    inboundCall: { offerDelayMs: 10 },
    onIncomingCall: (call) => {
      calls.push(call);
      rec = call.record(path.join(dir, 'ws.wav'));
      return { action: 'accept' };
    },
  });
  await engine.listen();
  cleanup.push(() => engine.close());
  const c = new TestClient(`ws://${LO}:${engine.wsPort}/`);
  await c.opened();
  cleanup.push(() => c.close());
  const offer = await c.json();
  assert.equal(offer.event, 'incoming_call');
  const sessionId: string = offer.sessionId;
  const call = calls[0]!;
  assert.equal((await c.json()).event, 'answer');
  await waitFor(() => call.isActive, 'answered', 2000);
  await waitFor(() => rec?.actor.getSnapshot().matches('active') === true, 'the recording to be open', 3000);

  // 1 s of audio in bursts: 5 frames every 100 ms.
  const frame = Buffer.alloc(320);
  for (let i = 0; i < 160; i++) frame.writeInt16LE(Math.round(6000 * Math.sin((2 * Math.PI * 500 * i) / 8000)), i * 2);
  for (let b = 0; b < 10; b++) {
    for (let f = 0; f < 5; f++) c.send(frame);
    await sleep(100);
  }
  await sleep(300);
  const st = call.stats();
  assert.ok(st && st.kind === 'ws', `WS stats: ${JSON.stringify(st)}`);
  assert.equal(st.framesIn, 50);
  const jb = st.jitterBuffer!;
  assert.ok(jb, 'the recording listens through the jitter buffer');
  assert.equal(jb.packets, 50);
  assert.equal(jb.late, 0, 'a WebSocket loses nothing: never late');
  assert.ok(jb.framesOut >= 50, `all played out: ${jb.framesOut}`);
  assert.ok(jb.jitterMs >= 10, `bursts measured as jitter: ${jb.jitterMs} ms`);
  assert.ok(jb.targetMs >= 60, `the target grew to cover the bursts: ${jb.targetMs} ms`);

  call.sendDtmf('12#');
  const digits: string[] = [];
  for (let i = 0; i < 3; i++) {
    const m = await c.json();
    assert.equal(m.event, 'dtmf');
    assert.equal(m.sessionId, sessionId);
    digits.push(m.digit);
  }
  assert.deepEqual(digits, ['1', '2', '#']);
  assert.throws(() => call.sendDtmf('x'), RangeError);

  c.send({ event: 'hangup', sessionId });
  await call.waitForEnd();
  const frozen = call.stats();
  assert.ok(frozen && frozen.kind === 'ws' && frozen.framesIn === 50, 'frozen at the end');
  assert.throws(() => call.sendDtmf('1'), /before the call is answered/, 'no digits to an ended call');
});
