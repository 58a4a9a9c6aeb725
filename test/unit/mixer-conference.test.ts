// The mixer's conference controls, tick by tick (a pacer that never fires by itself): mute keeps a
// leg out of the sum, deaf sends it silence, injected frames reach everyone, the tap sees the full
// mix, and talker detection starts on one loud frame and ends only after the hang time.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MixerRoom, Pacer, memoryLegPair, type MediaLeg } from '../../src/media/index.js';

function setup(talk?: { thresholdRms?: number; hangMs?: number }) {
  const legs: MediaLeg[] = [];
  const feeds: Array<(v: number) => void> = [];
  const last: number[] = [NaN, NaN, NaN];
  const events: string[] = [];
  for (let i = 0; i < 3; i++) {
    const [engineSide, phoneSide] = memoryLegPair(`m${i}`, `p${i}`);
    legs.push(engineSide);
    phoneSide.onAudio((f) => void (last[i] = f[0]!));
    feeds.push((v) => void phoneSide.write(new Int16Array(160).fill(v)));
  }
  const manual = new Pacer({ setTimer: () => 0, clearTimer: () => {} });
  const room = new MixerRoom({ pacer: manual, ...(talk ? { talk: { ...talk, onChange: (id, on) => void events.push(`${id}:${on}`) } } : {}) });
  for (const l of legs) room.add(l);
  const tick = (values: number[]) => {
    values.forEach((v, i) => feeds[i]!(v));
    room.tick();
    return [...last];
  };
  return { room, tick, events };
}

test('mute keeps a leg out of what the others hear; it still hears them', () => {
  const { room, tick } = setup();
  assert.deepEqual(tick([100, 20, 3]), [23, 103, 120]);
  assert.equal(room.setMuted('m0', true), true);
  assert.deepEqual(tick([100, 20, 3]), [23, 3, 20]);
  room.setMuted('m0', false);
  assert.deepEqual(tick([100, 20, 3]), [23, 103, 120]);
  assert.equal(room.setMuted('nope', true), false);
});

test('deaf sends silence to that leg only; the others still hear it', () => {
  const { room, tick } = setup();
  room.setDeaf('m1', true);
  assert.deepEqual(tick([100, 20, 3]), [23, 0, 120]);
  assert.deepEqual(room.stats().map((s) => [s.muted, s.deaf]), [[false, false], [false, true], [false, false]]);
});

test('injected frames reach every leg once per tick; the tap gets the full mix', () => {
  const { room, tick } = setup();
  const tapped: number[] = [];
  room.onMix((f) => void tapped.push(f[0]!));
  room.inject([new Int16Array(160).fill(1000), new Int16Array(160).fill(2000)]);
  assert.deepEqual(tick([100, 20, 3]), [1023, 1103, 1120]);
  assert.deepEqual(tick([100, 20, 3]), [2023, 2103, 2120]);
  assert.deepEqual(tick([100, 20, 3]), [23, 103, 120]);
  assert.deepEqual(tapped, [1123, 2123, 123]);
});

test('talker detection: one loud frame starts it, quiet frames end it after the hang time, mute ends it at once', () => {
  // RMS 1000, hang 60 ms = 3 ticks.
  const { room, tick, events } = setup({ thresholdRms: 1000, hangMs: 60 });
  tick([5000, 10, 0]);
  assert.deepEqual(events, ['m0:true']);
  tick([10, 10, 0]);
  tick([10, 10, 0]);
  assert.deepEqual(events, ['m0:true'], 'still talking inside the hang time');
  tick([10, 10, 0]);
  assert.deepEqual(events, ['m0:true', 'm0:false']);
  tick([10, 999, 0]);
  assert.deepEqual(events, ['m0:true', 'm0:false'], 'just under the threshold is not speech');
  tick([10, 1001, 0]);
  assert.deepEqual(events.at(-1), 'm1:true');
  room.setMuted('m1', true);
  assert.deepEqual(events.at(-1), 'm1:false');
  tick([10, 5000, 0]);
  assert.deepEqual(events.at(-1), 'm1:false', 'a muted leg is never reported talking');
  assert.equal(room.stats()[1]!.talking, false);
});
