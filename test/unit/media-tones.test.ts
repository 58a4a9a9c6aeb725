import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ToneSource, sineTone, dualTone, silenceFrame, generateTone, toFrames, detectFrequency, toneRatio, DTMF_FREQUENCIES, FRAME_SAMPLES } from '../../src/media/codecs/tones.js';

test('frames are 20 ms at 8 kHz and phase-continuous', () => {
  const src = sineTone(440, { amplitude: 10000 });
  const a = src.next();
  const b = src.next();
  assert.equal(a.length, FRAME_SAMPLES);
  assert.equal(FRAME_SAMPLES, 160);
  const whole = generateTone([440], 40, { amplitude: 10000 });
  for (let i = 0; i < 160; i++) {
    assert.ok(Math.abs(whole[i]! - a[i]!) <= 1);
    assert.ok(Math.abs(whole[160 + i]! - b[i]!) <= 1);
  }
  assert.ok(silenceFrame().every((s) => s === 0));
  assert.ok(new ToneSource([]).next().every((s) => s === 0));
});

test('Goertzel finds 440 Hz and rejects other frequencies', () => {
  const tone = generateTone([440], 200, { amplitude: 8000 });
  const p440 = detectFrequency(tone, 8000, 440);
  assert.ok(Math.abs(p440 - 8000 ** 2 / 2) / (8000 ** 2 / 2) < 0.05, `power ${p440}`);
  assert.ok(toneRatio(tone, 8000, 440) > 0.9);
  assert.ok(toneRatio(tone, 8000, 1000) < 0.01);
  assert.ok(toneRatio(tone, 8000, 600) < 0.05);
  assert.equal(toneRatio(new Int16Array(160), 8000, 440), 0);
});

test('dual tone carries both DTMF components', () => {
  const [lo, hi] = DTMF_FREQUENCIES['5']!;
  const frames = Array.from({ length: 5 }, ((src) => () => src.next())(dualTone(lo, hi, { amplitude: 6000 })));
  const all = Int16Array.from(frames.flatMap((f) => [...f]));
  assert.ok(toneRatio(all, 8000, lo) > 0.4);
  assert.ok(toneRatio(all, 8000, hi) > 0.4);
  assert.ok(toneRatio(all, 8000, 697) < 0.05);
  assert.equal(toFrames(all.subarray(0, 170)).length, 2);
});
