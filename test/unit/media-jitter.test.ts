// The jitter buffer and its concealment without sockets or timers: packets pushed with chosen
// arrival times, frames popped on a simulated 20 ms clock. Oracles are independent of the
// buffer: the ramp each packet carries says where it belongs, the tone's energy and frequency say
// what concealment should sound like.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { JitterBuffer, POP_AUDIO, POP_CONCEALED, POP_NONE, type JitterBufferOptions } from '../../src/media/jitter/jitter-buffer.js';
import { Concealer, bestLag } from '../../src/media/jitter/plc.js';
import { accelerate, ACCELERATE_INPUT } from '../../src/media/jitter/accelerate.js';
import { generateTone, meanSquare, toneRatio } from '../../src/media/codecs/tones.js';
import { Rng } from '../helpers/prng.js';

const TS0 = 0xfffff000; // near the 32-bit wrap, so the timeline arithmetic must wrap too

/** Packet k of a ramp: samples k*160 … k*160+159 (mod 30000), so any sample says where it belongs. */
function rampPacket(k: number, n = 160): Int16Array {
  const f = new Int16Array(n);
  for (let i = 0; i < n; i++) f[i] = ((k * n + i) % 30000) - 15000;
  return f;
}

interface Arrival {
  k: number;
  at: number;
  n?: number;
}

/** Run a buffer on a 1 ms simulated clock: arrivals pushed when due, one pop per 20 ms. */
function simulate(arrivals: Arrival[], untilMs: number, opts?: JitterBufferOptions, packet: (k: number, n: number) => Int16Array = rampPacket) {
  const jb = new JitterBuffer(opts);
  const sorted = [...arrivals].sort((a, b) => a.at - b.at);
  const out: Array<{ kind: number; frame: Int16Array; at: number }> = [];
  const buf = new Int16Array(160);
  let next = 0;
  for (let t = 0; t <= untilMs; t++) {
    while (next < sorted.length && sorted[next]!.at <= t) {
      const a = sorted[next++]!;
      const n = a.n ?? 160;
      jb.push(packet(a.k, n), (TS0 + a.k * n) >>> 0, (0xfff0 + a.k) & 0xffff, t);
    }
    if (t % 20 === 0) {
      const kind = jb.pop(buf, t);
      if (kind !== POP_NONE) out.push({ kind, frame: buf.slice(), at: t });
    }
  }
  return { jb, out };
}

/** Concealed frames between the first and the last real frame (not the fade-out after the last packet). */
function innerConcealed(out: Array<{ kind: number }>): number {
  const first = out.findIndex((o) => o.kind === POP_AUDIO);
  const last = out.map((o) => o.kind).lastIndexOf(POP_AUDIO);
  return out.slice(first, last + 1).filter((o) => o.kind === POP_CONCEALED).length;
}

/** The sample values of the frames played out, in order, real audio only (concealed frames as null). */
function realSamples(out: Array<{ kind: number; frame: Int16Array }>): Array<number[] | null> {
  return out.map((o) => (o.kind === POP_AUDIO ? [...o.frame] : null));
}

test('reorder: packets swapped in pairs play out in timestamp order, nothing concealed', () => {
  const arrivals: Arrival[] = [];
  for (let k = 0; k < 50; k++) arrivals.push({ k, at: 5 + (k ^ 1) * 20 }); // 1,0,3,2,5,4…
  const { jb, out } = simulate(arrivals, 50 * 20 + 200, { startMs: 40 });
  const real = realSamples(out).filter((x): x is number[] => x !== null);
  assert.equal(real.length, 50, 'every packet played once');
  const flat = real.flat();
  for (let i = 0; i < flat.length; i++) assert.equal(flat[i], (i % 30000) - 15000, `sample ${i} out of order`);
  const s = jb.stats();
  assert.equal(innerConcealed(out), 0, 'nothing concealed');
  assert.ok(s.concealed <= 5, 'only the fade-out after the last packet');
  assert.ok(s.reordered >= 24, `reordered ${s.reordered}`);
  assert.equal(s.late, 0);
});

test('loss: a missing packet is concealed in its place and the rest keeps its order', () => {
  const lost = new Set([10, 30, 31]);
  const arrivals: Arrival[] = [];
  for (let k = 0; k < 50; k++) if (!lost.has(k)) arrivals.push({ k, at: 5 + k * 20 });
  const { jb, out } = simulate(arrivals, 50 * 20 + 200);
  // Real frames: which packet each one is (read past the 4 ms cross-fade after a loss).
  const ids = out.map((o) => (o.kind === POP_AUDIO ? (o.frame[100]! + 15000 - 100) / 160 : null));
  const real = ids.filter((x): x is number => x !== null);
  assert.deepEqual(real, [...Array(50).keys()].filter((k) => !lost.has(k)), 'every packet that came, once, in order');
  for (const o of out) if (o.kind === POP_AUDIO) {
    const k = (o.frame[100]! + 15000 - 100) / 160;
    if (!lost.has(k - 1)) assert.deepEqual([...o.frame], [...rampPacket(k)], `packet ${k} intact`);
  }
  // Between packets k and k', at least k' − k − 1 concealed frames; none between neighbours.
  let prev = -1;
  let gap = 0;
  for (const id of ids) {
    if (id === null) gap++;
    else {
      if (prev >= 0 && id === prev + 1) assert.equal(gap, 0, `no concealment between ${prev} and ${id}`);
      if (prev >= 0) assert.ok(gap >= id - prev - 1, `${gap} concealed frames for ${id - prev - 1} lost`);
      prev = id;
      gap = 0;
    }
  }
  assert.ok(innerConcealed(out) >= 3 && innerConcealed(out) <= 4, `concealed ${innerConcealed(out)}`);
  assert.equal(jb.stats().late, 0);
});

test('late: a packet after its playout time is dropped and counted, and the target depth grows', () => {
  const arrivals: Arrival[] = [];
  for (let k = 0; k < 40; k++) if (k !== 12) arrivals.push({ k, at: 5 + k * 20 });
  arrivals.push({ k: 12, at: 5 + 20 * 20 }); // 160 ms late: long past its turn
  const { jb, out } = simulate(arrivals, 40 * 20 + 200, { minMs: 20, startMs: 20 });
  const s = jb.stats();
  assert.equal(s.late, 1);
  assert.ok(s.concealed >= 1, 'its frame was concealed');
  assert.ok(s.targetMs >= 40, `target grew after the late packet: ${s.targetMs}`);
  const realCount = out.filter((o) => o.kind === POP_AUDIO).length;
  assert.equal(realCount, 39, 'the late packet was not played');
});

test('adaptive depth: the target follows the measured jitter, within the bounds, and late packets stop', () => {
  const rng = new Rng(17);
  const jittery: Arrival[] = [];
  const steady: Arrival[] = [];
  for (let k = 0; k < 500; k++) {
    jittery.push({ k, at: 10 + k * 20 + Math.floor(rng.next() * 60) }); // 0..60 ms of delay, reordering included
    steady.push({ k, at: 10 + k * 20 });
  }
  const j = simulate(jittery, 500 * 20 + 500, { minMs: 20, maxMs: 200, startMs: 20 }).jb.stats();
  const st = simulate(steady, 500 * 20 + 500, { minMs: 20, maxMs: 200, startMs: 20 });
  const s = st.jb.stats();
  assert.ok(j.jitterMs > 8, `measured jitter ${j.jitterMs}`);
  assert.ok(j.targetMs >= 40 && j.targetMs <= 200, `jittery target ${j.targetMs}`);
  assert.ok(j.late < 25, `late packets stay rare once adapted: ${j.late}`);
  assert.equal(s.jitterMs, 0);
  assert.equal(s.targetMs, 20, 'no jitter: the minimum');
  assert.equal(s.late + innerConcealed(st.out), 0);

  const capped = simulate(jittery, 500 * 20 + 500, { minMs: 20, maxMs: 40, startMs: 20 }).jb.stats();
  assert.equal(capped.targetMs, 40, 'maxMs bounds the target');
});

test('a delay spike grows the buffer by holding playout; afterwards the excess is given back', () => {
  const arrivals: Arrival[] = [];
  for (let k = 0; k < 300; k++) arrivals.push({ k, at: 5 + k * 20 + (k >= 50 && k < 60 ? 60 : 0) }); // 60 ms more delay for 200 ms
  const { jb, out } = simulate(arrivals, 300 * 20 + 400, { minMs: 20, startMs: 20 }, (k) => new Int16Array(160).fill(k));
  const s = jb.stats();
  assert.equal(s.late, 0, 'held, not dropped');
  assert.ok(s.concealed >= 4, `the spike was bridged by concealment: ${s.concealed}`);
  assert.ok(s.accelerated + s.discarded >= 1, `latency given back: ${s.accelerated} time-compressed, ${s.discarded} dropped`);
  // Whatever was played is in order.
  let last = -Infinity;
  for (const o of out) if (o.kind === POP_AUDIO) {
    assert.ok(o.frame[100]! > last, 'in order'); // past the cross-fade after a concealment
    last = o.frame[100]!;
  }
});

test('a stream without timestamps (WebSocket): bursts are smoothed, an underrun holds, nothing is dropped', () => {
  const jb = new JitterBuffer({ minMs: 20, startMs: 20 });
  const buf = new Int16Array(160);
  const played: number[] = [];
  let t = 0;
  const tick = (): number => {
    t += 20;
    const r = jb.pop(buf, t);
    if (r === POP_AUDIO) played.push((buf[100]! + 15000 - 100) / 160); // past the resume cross-fade
    return r;
  };
  for (let k = 0; k < 3; k++) jb.pushInOrder(rampPacket(k), t); // a burst of three
  assert.equal(tick(), POP_AUDIO);
  assert.equal(tick(), POP_AUDIO);
  assert.equal(tick(), POP_AUDIO);
  assert.equal(tick(), POP_CONCEALED, 'ran dry: concealment');
  assert.equal(tick(), POP_CONCEALED);
  jb.pushInOrder(rampPacket(3), t); // arrives late, still played (a stream loses nothing)
  assert.equal(tick(), POP_AUDIO);
  for (let i = 0; i < 10; i++) tick();
  assert.equal(jb.active, false, 'quiet after idleMs without audio');
  assert.deepEqual(played, [0, 1, 2, 3]);
  assert.equal(jb.stats().late, 0);
});

test('a burst beyond maxMs loses its oldest audio, and the depth is bounded', () => {
  const jb = new JitterBuffer({ maxMs: 100 });
  for (let k = 0; k < 40; k++) jb.pushInOrder(rampPacket(k), 0); // 800 ms at once
  assert.ok(jb.stats().depthMs <= 100, `depth ${jb.stats().depthMs}`);
  const buf = new Int16Array(160);
  assert.equal(jb.pop(buf, 20), POP_AUDIO);
  assert.ok((buf[0]! + 15000) / 160 >= 34, 'the newest audio is kept');
});

test('30 ms packets play out as 20 ms frames, contiguous', () => {
  const arrivals: Arrival[] = [];
  for (let k = 0; k < 40; k++) arrivals.push({ k, at: 5 + k * 30, n: 240 });
  const { jb, out } = simulate(arrivals, 40 * 30 + 300, { minMs: 20, startMs: 20 }, (k, n) => rampPacket(k, n));
  const s = jb.stats();
  assert.ok(s.targetMs >= 40, 'the target holds a whole packet');
  const real = out.filter((o) => o.kind === POP_AUDIO).flatMap((o) => [...o.frame]);
  assert.ok(real.length >= 40 * 240 - 320, `played ${real.length}`);
  for (let i = 1; i < real.length; i++) if (real[i] !== real[i - 1]! + 1 && real[i] !== -15000) assert.fail(`gap at ${i}: ${real[i - 1]} → ${real[i]}`);
  assert.equal(s.late, 0);
});

test('PLC: a lost tone goes on at its pitch and level for 10 ms, fades by 20 % per 10 ms, silent after 60 ms', () => {
  const tone = generateTone([200], 200, { amplitude: 8000 }); // period 40 samples
  const plc = new Concealer();
  for (let i = 0; i < 5; i++) plc.observe(tone.slice(i * 160, (i + 1) * 160));
  const ref = meanSquare(tone.subarray(0, 160));
  const lost = new Int16Array(640); // 80 ms
  for (let i = 0; i < 4; i++) {
    const f = lost.subarray(i * 160, (i + 1) * 160);
    plc.conceal(f);
  }
  const first10 = meanSquare(lost.subarray(0, 80));
  assert.ok(Math.abs(first10 / ref - 1) < 0.1, `first 10 ms at full level: ${first10 / ref}`);
  assert.ok(toneRatio(lost.subarray(0, 160), 8000, 200) > 0.8, 'same pitch');
  // Continuation: the concealed signal continues the tone's phase (sample after the last real one).
  assert.ok(Math.abs(lost[0]! - tone[800]!) < 800, `continuous: ${lost[0]} vs ${tone[800]}`);
  const e20_30 = meanSquare(lost.subarray(160, 240));
  assert.ok(e20_30 < first10 * 0.6 && e20_30 > first10 * 0.1, `fading: ${e20_30 / first10}`);
  assert.equal(meanSquare(lost.subarray(480, 640)), 0, 'silent after 60 ms');
});

test('PLC: real audio after a loss is cross-faded in, and silence conceals as silence', () => {
  const tone = generateTone([250], 100, { amplitude: 8000 });
  const plc = new Concealer();
  for (let i = 0; i < 4; i++) plc.observe(tone.slice(i * 160, (i + 1) * 160));
  const f = new Int16Array(160);
  plc.conceal(f);
  const back = tone.slice(0, 160).fill(0); // the talker is silent after the loss
  plc.observe(back);
  assert.ok(meanSquare(back.subarray(0, 32)) > 0, 'the first samples are blended with the synthetic tone');
  assert.equal(back[100], 0, 'after 4 ms the real audio alone');

  const quiet = new Concealer();
  quiet.observe(new Int16Array(400));
  const q = new Int16Array(160).fill(7);
  quiet.conceal(q);
  assert.equal(meanSquare(q), 0);
  assert.equal(bestLag(new Int16Array(400)), 0);
});

test('accelerate: a voiced frame loses whole pitch periods, a quiet one 15 ms, noise nothing', () => {
  const out = new Int16Array(160);
  // 200 Hz with a harmonic: period 40 samples.
  const voiced = new Int16Array(ACCELERATE_INPUT);
  for (let i = 0; i < voiced.length; i++) voiced[i] = Math.round(6000 * Math.sin((2 * Math.PI * 200 * i) / 8000) + 2000 * Math.sin((2 * Math.PI * 400 * i) / 8000));
  const t = accelerate(voiced, out);
  assert.ok(t > 0 && t % 40 === 0, `a multiple of the period removed: ${t}`);
  // No seam: the frame is the waveform from t on.
  for (let i = 0; i < 160; i++) assert.ok(Math.abs(out[i]! - voiced[i]!) <= 1, `sample ${i}`);
  const quiet = new Int16Array(ACCELERATE_INPUT).fill(3);
  assert.equal(accelerate(quiet, out), 120);
  const rng = new Rng(7);
  const noise = new Int16Array(ACCELERATE_INPUT);
  for (let i = 0; i < noise.length; i++) noise[i] = Math.round((rng.next() - 0.5) * 16000);
  const before = Int16Array.from(out);
  assert.equal(accelerate(noise, out), 0, 'white noise has no period');
  assert.deepEqual(out, before, 'untouched when nothing is removed');
});

test('after a delay spike, voiced audio is time-compressed back to the target: no frame dropped, no seam, pitch kept', () => {
  // A continuous 200 Hz tone in 20 ms packets; 80 ms more delay for 200 ms, then back.
  const tone = (k: number): Int16Array => {
    const f = new Int16Array(160);
    for (let i = 0; i < 160; i++) f[i] = Math.round(8000 * Math.sin((2 * Math.PI * 200 * (k * 160 + i)) / 8000));
    return f;
  };
  const arrivals: Arrival[] = [];
  for (let k = 0; k < 400; k++) arrivals.push({ k, at: 5 + k * 20 + (k >= 50 && k < 60 ? 80 : 0) });
  const { jb, out } = simulate(arrivals, 400 * 20 + 400, { minMs: 20, startMs: 20 }, tone);
  const s = jb.stats();
  assert.equal(s.discarded, 0, 'nothing dropped whole');
  assert.ok(s.accelerated >= 2, `time-compressed frames: ${s.accelerated}`);
  assert.ok(s.depthMs <= s.targetMs + 20, `latency back near the target: depth ${s.depthMs} ms, target ${s.targetMs} ms`);
  // Continuity after the spike's concealment has passed: the largest step between neighbouring
  // samples stays that of the tone (2π·200/8000·8000 ≈ 1257), so no seam.
  const played = out.filter((o) => o.kind === POP_AUDIO).slice(-300);
  const pcm = new Int16Array(played.length * 160);
  played.forEach((o, i) => pcm.set(o.frame, i * 160));
  let maxStep = 0;
  for (let i = 1; i < pcm.length; i++) maxStep = Math.max(maxStep, Math.abs(pcm[i]! - pcm[i - 1]!));
  assert.ok(maxStep < 1400, `largest step ${maxStep}`);
  assert.ok(toneRatio(pcm, 8000, 200) > 0.9, 'the pitch is kept');
});

test('noise with excess depth: no period to remove, so after 1.2 s one frame is dropped', () => {
  const rng = new Rng(11);
  const noise = (): Int16Array => {
    const f = new Int16Array(160);
    for (let i = 0; i < 160; i++) f[i] = Math.round((rng.next() - 0.5) * 16000);
    return f;
  };
  const arrivals: Arrival[] = [];
  for (let k = 0; k < 300; k++) arrivals.push({ k, at: 5 + k * 20 + (k >= 50 && k < 60 ? 80 : 0) });
  const { jb } = simulate(arrivals, 300 * 20 + 400, { minMs: 20, startMs: 20 }, noise);
  const s = jb.stats();
  assert.equal(s.accelerated, 0);
  assert.ok(s.discarded >= 1, `dropped: ${s.discarded}`);
});
