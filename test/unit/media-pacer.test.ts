import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Pacer } from '../../src/media/pacer.js';

/** Manual clock: timers fire only when the test advances time. */
function fakeTime() {
  let now = 0;
  let pending: { at: number; fn: () => void } | null = null;
  const delays: number[] = [];
  return {
    delays,
    now: () => now,
    setTimer: (fn: () => void, ms: number) => { delays.push(ms); pending = { at: now + ms, fn }; return pending; },
    clearTimer: (h: unknown) => { if (pending === h) pending = null; },
    /** Advance to the next timer deadline plus `late` ms and fire it. */
    fireNext(late = 0) { const p = pending!; pending = null; now = p.at + late; p.fn(); },
    get armed() { return pending !== null; },
  };
}

test('many subscribers share one timer and each sees every tick', () => {
  const t = fakeTime();
  const pacer = new Pacer({ now: t.now, setTimer: t.setTimer, clearTimer: t.clearTimer });
  const seen: number[][] = [[], [], []];
  const offs = seen.map((arr) => pacer.add((n) => arr.push(n)));
  for (let i = 0; i < 5; i++) t.fireNext();
  assert.deepEqual(seen, [[1, 2, 3, 4, 5], [1, 2, 3, 4, 5], [1, 2, 3, 4, 5]]);
  assert.equal(t.delays.length, 6, 'one timer per tick, not per subscriber');
  offs[1]!();
  t.fireNext();
  assert.deepEqual(seen.map((s) => s.length), [6, 5, 6]);
  offs[0]!(); offs[2]!();
  assert.equal(t.armed, false, 'clock stops without subscribers');
});

test('drift correction: a late timer shortens the next wait; stalls catch up then skip', () => {
  const t = fakeTime();
  const pacer = new Pacer({ now: t.now, setTimer: t.setTimer, clearTimer: t.clearTimer, maxCatchUpTicks: 3 });
  const ticks: number[] = [];
  pacer.add((n) => ticks.push(n));
  t.fireNext(7); // fired at 27 ms
  assert.equal(t.delays.at(-1), 13, 'next deadline stays at 40 ms');
  t.fireNext(45); // fired at 85: ticks for 40, 60, 80 are owed (3) → all run
  assert.deepEqual(ticks, [1, 2, 3, 4]);
  t.fireNext(200); // 300 ms: 11 owed > 3 → skip to one tick
  assert.equal(ticks.length, 5);
  assert.equal(ticks.at(-1), 15);
  assert.equal(pacer.skippedTicks, 10);
});

test('a subscriber removing itself or throwing does not break the others', () => {
  const t = fakeTime();
  const pacer = new Pacer({ now: t.now, setTimer: t.setTimer, clearTimer: t.clearTimer });
  let b = 0;
  const offA = pacer.add(() => { offA(); });
  pacer.add(() => { throw new Error('boom'); });
  pacer.add(() => { b++; });
  t.fireNext();
  t.fireNext();
  assert.equal(b, 2);
  assert.equal(pacer.size, 2);
});
