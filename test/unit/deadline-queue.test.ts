// The call manager's one timer for every call's maximum duration: each entry falls due `ms` after
// it was (last) added, in order, whatever is removed or re-added meanwhile.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DeadlineQueue, type DeadlineEntry } from '../../src/call/deadlines.js';

class Entry implements DeadlineEntry {
  deadlinePrev: DeadlineEntry | undefined = undefined;
  deadlineNext: DeadlineEntry | undefined = undefined;
  deadlineAt = -1;
  added = performance.now();
  constructor(readonly name: string) {}
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('entries fall due ms after they were added, in order; removed ones never, re-added ones from then', async () => {
  const fired: Array<[string, number]> = [];
  const q = new DeadlineQueue<Entry>(60, (e) => fired.push([e.name, performance.now() - e.added]));
  const [a, b, c, d] = ['a', 'b', 'c', 'd'].map((n) => new Entry(n)) as [Entry, Entry, Entry, Entry];
  q.add(a);
  await sleep(15);
  b.added = performance.now();
  q.add(b);
  await sleep(15);
  c.added = d.added = performance.now();
  q.add(c);
  q.add(d);
  q.remove(a); // the head: the timer moves to b
  q.remove(c);
  q.remove(c); // not queued: no-op
  await sleep(10);
  b.added = performance.now();
  q.add(b); // re-added: from now, behind d
  await sleep(150);
  assert.deepEqual(
    fired.map(([n]) => n),
    ['d', 'b'],
  );
  for (const [n, after] of fired) assert.ok(after >= 58 && after < 120, `${n} fell due ${after.toFixed(1)} ms after it was added`);
  assert.equal(a.deadlineAt, -1);
  assert.equal(b.deadlineAt, -1);
});

test('an entry removed by the one falling due before it does not fall due', async () => {
  const fired: string[] = [];
  const [x, y, z] = ['x', 'y', 'z'].map((n) => new Entry(n)) as [Entry, Entry, Entry];
  const q = new DeadlineQueue<Entry>(30, (e) => {
    fired.push(e.name);
    if (e === x) q.remove(y);
  });
  q.add(x);
  q.add(y);
  await sleep(5);
  q.add(z);
  await sleep(80);
  assert.deepEqual(fired, ['x', 'z']);
});
