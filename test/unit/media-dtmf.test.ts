import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  encodeTelephoneEvent, decodeTelephoneEvent, digitToEvent, eventToDigit, DtmfReceiver, DtmfSender, planDtmf,
} from '../../src/media/codecs/dtmf.js';

test('payload codec', () => {
  const buf = encodeTelephoneEvent({ event: 11, end: true, volume: 10, duration: 800 });
  assert.deepEqual([...buf], [11, 0x8a, 0x03, 0x20]);
  assert.deepEqual(decodeTelephoneEvent(buf), { event: 11, end: true, volume: 10, duration: 800 });
  assert.deepEqual(decodeTelephoneEvent(Buffer.from([5, 0x40 | 7, 0, 0])), { event: 5, end: false, volume: 7, duration: 0 }, 'R bit ignored');
  assert.equal(decodeTelephoneEvent(Buffer.from([1, 2, 3])), null);
});

test('event/digit map', () => {
  assert.equal([...'0123456789*#ABCD'].map(digitToEvent).join(','), Array.from({ length: 16 }, (_, i) => i).join(','));
  assert.equal(digitToEvent('a'), 12);
  assert.equal(eventToDigit(10), '*');
  assert.equal(eventToDigit(16), null);
  assert.throws(() => digitToEvent('x'), RangeError);
});

test('sender: marker on start, 50 ms updates, 3 end packets, one timestamp per event', () => {
  const plan = planDtmf('1#', 1000, { durationMs: 150, gapMs: 100 });
  const first = plan.filter((p) => p.digit === '1');
  assert.deepEqual(first.map((p) => [p.marker, p.payload.end, p.payload.duration]), [
    [true, false, 400], [false, false, 800], [false, true, 1200], [false, true, 1200], [false, true, 1200],
  ]);
  assert.ok(first.every((p) => p.timestamp === 1000));
  const second = plan.filter((p) => p.digit === '#');
  assert.equal(second[0]!.marker, true);
  // 5 ticks of event 1 + 2 gap ticks, 400 samples each
  assert.equal(second[0]!.timestamp, 1000 + 7 * 400);
  assert.ok(second.every((p) => p.timestamp === second[0]!.timestamp));
  assert.equal(second.filter((p) => p.payload.end).length, 3);
});

test('sender: duration shorter than one interval still gives start(+end) and 3 ends', () => {
  const plan = planDtmf('5', 0, { durationMs: 40 });
  assert.deepEqual(plan.map((p) => [p.marker, p.payload.end]), [[true, true], [false, true], [false, true]]);
  assert.throws(() => new DtmfSender('12x'), RangeError);
});

function run(packets: { timestamp: number; payload: Buffer }[]): [string, number][] {
  const got: [string, number][] = [];
  const rx = new DtmfReceiver((d, ms) => got.push([d, ms]));
  for (const p of packets) rx.push(p.timestamp, p.payload, 0);
  rx.flush();
  return got;
}

const enc = (p: ReturnType<typeof planDtmf>[number]) => ({ timestamp: p.timestamp, payload: encodeTelephoneEvent(p.payload) });

test('receiver: one digit per event despite updates and 3 end packets', () => {
  const got = run(planDtmf('123#', 0, { durationMs: 100 }).map(enc));
  assert.deepEqual(got, [['1', 100], ['2', 100], ['3', 100], ['#', 100]]);
});

test('receiver: lost start, lost end packets and duplicated packets', () => {
  const plan = planDtmf('1122', 0, { durationMs: 150 }).map(enc);
  const ts = [...new Set(plan.map((p) => p.timestamp))];
  const kept = plan.filter((p, i) => {
    const d = decodeTelephoneEvent(p.payload)!;
    if (p.timestamp === ts[0] && !d.end && d.duration === 400) return false; // start of first '1' lost
    if (p.timestamp === ts[2] && d.end) return false; // all ends of first '2' lost
    return i >= 0;
  });
  const withDups = kept.flatMap((p) => [p, p]);
  const got = run(withDups);
  assert.deepEqual(got.map((g) => g[0]), ['1', '1', '2', '2']);
  assert.equal(got[2]![1], 100, 'lost-end digit reports the longest duration seen');
  assert.equal(got[3]![1], 150);
});

test('receiver: lost end reported on timeout', () => {
  const got: string[] = [];
  const rx = new DtmfReceiver((d) => got.push(d), { endTimeoutMs: 300 });
  rx.push(500, encodeTelephoneEvent({ event: 9, end: false, volume: 10, duration: 400 }), 1000);
  rx.checkTimeout(1200);
  assert.deepEqual(got, []);
  rx.checkTimeout(1300);
  assert.deepEqual(got, ['9']);
  // stragglers of the same event are not reported again
  rx.push(500, encodeTelephoneEvent({ event: 9, end: true, volume: 10, duration: 800 }), 1310);
  rx.flush();
  assert.deepEqual(got, ['9']);
});

test('receiver: timestamps across 32-bit wrap', () => {
  const got = run(planDtmf('78', 0xffffff00).map(enc));
  assert.deepEqual(got.map((g) => g[0]), ['7', '8']);
});
