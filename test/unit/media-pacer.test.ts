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

test('addSoonest: the slot whose next beat comes first after the lead, once per interval at its own offset', () => {
  const t = fakeTime();
  const pacer = new Pacer({ now: t.now, setTimer: t.setTimer, clearTimer: t.clearTimer });
  assert.equal(pacer.phases, 4);
  const fired: Array<[string, number, number]> = [];
  pacer.add((n) => fired.push(['beat', n, t.now()]));
  t.fireNext(); // 20 ms
  t.fireNext(); // 40 ms
  // At 43 ms with a 2 ms lead: 45 ms is the first slot beat at or after 45 → slot 1 (5 ms after the beat).
  t.fireNext(3);
  const at = t.now();
  assert.equal(at, 63);
  const offSoon = pacer.addSoonest((n) => fired.push(['soon', n, t.now()]), 2);
  fired.length = 0;
  for (let i = 0; i < 6; i++) t.fireNext();
  assert.deepEqual(fired, [
    ['soon', 4, 65],
    ['beat', 4, 80],
    ['soon', 5, 85],
    ['beat', 5, 100],
    ['soon', 6, 105],
    ['beat', 6, 120],
  ]);
  // Leaving the slot: the timer goes back to the plain 20 ms beat.
  offSoon();
  const before = t.delays.length;
  t.fireNext();
  t.fireNext();
  assert.equal(t.delays.length - before, 2, 'one timer per interval again');
  assert.equal(fired.at(-1)?.[2], 160);
});

test('addSoonest on an idle clock starts it; a lead past the interval wraps to the next one', () => {
  const t = fakeTime();
  const pacer = new Pacer({ now: t.now, setTimer: t.setTimer, clearTimer: t.clearTimer });
  const times: number[] = [];
  const off = pacer.addSoonest(() => times.push(t.now()), 12); // origin 0: first beat at or after 12 → 15 (slot 3)
  t.fireNext();
  t.fireNext();
  assert.deepEqual(times, [15, 35]);
  off();
  assert.equal(t.armed, false, 'clock stops without subscribers');
  assert.equal(pacer.size, 0);
});

test('phases: a stall past maxCatchUpTicks runs each slot once, and owed beats before it run in order', () => {
  const t = fakeTime();
  const pacer = new Pacer({ now: t.now, setTimer: t.setTimer, clearTimer: t.clearTimer, maxCatchUpTicks: 2 });
  const log: string[] = [];
  pacer.add((n) => log.push(`0:${n}`));
  t.fireNext(); // 20
  pacer.addSoonest((n) => log.push(`s:${n}`), 0); // 20 ms → next slot beat 25 (slot 1)
  t.fireNext(12); // due 25, fired at 37: only the beat of 25 is owed
  assert.deepEqual(log, ['0:1', 's:2']);
  t.fireNext(30); // due 40, fired at 70: 40, 45, 60, 65 owed (2 ticks: within the catch-up)
  assert.deepEqual(log.slice(2), ['0:2', 's:3', '0:3', 's:4']);
  t.fireNext(300); // due 80, fired at 380: 15 ticks owed > 2 → one of each slot, the last interval's
  assert.deepEqual(log.slice(6), ['s:19', '0:19']);
  assert.equal(pacer.skippedTicks, 15, "slot 0 owed ticks 4..19, one run");
});
