import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RtpReceiveStats, estimateMos, rFactor, mosFromR } from '../../src/media/rtp/stats.js';

/** Feed packets with perfectly regular arrival (20 ms / 160 ticks) unless overridden. */
function feed(s: RtpReceiveStats, seqs: number[], opts: { arrivalJitter?: (i: number) => number } = {}): void {
  seqs.forEach((seq, i) => {
    const n = seq; // timestamp and arrival follow the sequence, as a real sender's would
    s.update(seq & 0xffff, (n * 160) >>> 0, n * 20 + (opts.arrivalJitter?.(i) ?? 0), 160, 0x11);
  });
}

test('probation: a new source is trusted after MIN_SEQUENTIAL in-order packets', () => {
  const s = new RtpReceiveStats();
  assert.equal(s.update(100, 0, 0, 160, 1), false);
  assert.equal(s.snapshot().probation, true);
  assert.equal(s.update(101, 160, 20, 160), true);
  assert.equal(s.snapshot().probation, false);
  assert.equal(s.packetsReceived, 1);
  // Out-of-order during probation restarts it
  const t = new RtpReceiveStats();
  t.update(10, 0, 0);
  assert.equal(t.update(12, 0, 0), false);
  assert.equal(t.update(13, 0, 0), true);
});

test('no loss, no jitter on a clean stream', () => {
  const s = new RtpReceiveStats({ minSequential: 0 });
  feed(s, Array.from({ length: 100 }, (_, i) => i + 1));
  const snap = s.snapshot();
  assert.equal(snap.packetsReceived, 100);
  assert.equal(snap.packetsExpected, 100);
  assert.equal(snap.cumulativeLost, 0);
  assert.equal(snap.jitterTs, 0);
  assert.equal(snap.duplicates, 0);
});

test('loss, interval fraction lost and cumulative lost (A.3)', () => {
  const s = new RtpReceiveStats({ minSequential: 0 });
  const seqs = Array.from({ length: 100 }, (_, i) => i).filter((q) => q % 10 !== 5); // drop 10
  feed(s, seqs);
  const rb = s.makeReportBlock()!;
  assert.equal(rb.cumulativeLost, 10);
  assert.equal(rb.extendedHighestSeq, 99);
  assert.equal(rb.fractionLost, Math.floor((10 * 256) / 100));
  assert.equal(s.snapshot().lossPercent, 10);
  // next interval with no loss → fraction back to 0, cumulative unchanged
  feed(s, Array.from({ length: 50 }, (_, i) => 100 + i));
  const rb2 = s.makeReportBlock()!;
  assert.equal(rb2.fractionLost, 0);
  assert.equal(rb2.cumulativeLost, 10);
});

test('sequence wrap extends the highest sequence (A.1 cycles)', () => {
  const s = new RtpReceiveStats({ minSequential: 0 });
  feed(s, Array.from({ length: 20 }, (_, i) => 65530 + i));
  const snap = s.snapshot();
  assert.equal(snap.extendedHighestSeq, 65536 + 13);
  assert.equal(snap.packetsExpected, 20);
  assert.equal(snap.cumulativeLost, 0);
});

test('duplicates and reordering are counted', () => {
  const s = new RtpReceiveStats({ minSequential: 0 });
  feed(s, [1, 2, 3, 5, 4, 6, 6, 7, 3]);
  const snap = s.snapshot();
  assert.equal(snap.duplicates, 2);
  assert.equal(snap.reordered, 1);
  assert.equal(snap.extendedHighestSeq, 7);
  // RFC semantics: duplicates count as received, so cumulative loss goes negative
  assert.equal(snap.cumulativeLost, 7 - 9);
  assert.equal(snap.lossPercent, 0);
});

test('duplicates are recognised anywhere in the last 64 sequence numbers, across a wrap and after jumps forward', () => {
  const s = new RtpReceiveStats({ minSequential: 0 });
  const start = 65_500; // the sequence wraps at 65 536 on the way
  const seqs = Array.from({ length: 100 }, (_, i) => start + i);
  feed(s, seqs);
  // 63 back is the oldest in the window, both halves of the bitmap and its edge between them.
  feed(s, [start + 99, start + 98, start + 99 - 31, start + 99 - 32, start + 99 - 33, start + 99 - 63]);
  assert.equal(s.snapshot().duplicates, 6);
  // 64 back has left the window: taken as late, not as a duplicate.
  feed(s, [start + 99 - 64]);
  assert.equal(s.snapshot().duplicates, 6);
  // A gap of 40 (a slide across the halves): what arrived before it is still known, what did not is new.
  feed(s, [start + 139, start + 139, start + 120, start + 99]);
  assert.equal(s.snapshot().duplicates, 8);
  // A gap of 70 (past the whole window): everything before it is out of the window.
  feed(s, [start + 209, start + 139, start + 209]);
  assert.equal(s.snapshot().duplicates, 9);
  assert.equal(s.snapshot().extendedHighestSeq, 65_536 + ((start + 209) & 0xffff));
});

test('large jump needs confirmation before resync', () => {
  const s = new RtpReceiveStats({ minSequential: 0 });
  feed(s, [1, 2, 3]);
  assert.equal(s.update(20000, 0, 0), false);
  assert.equal(s.update(20001, 160, 20), true);
  assert.equal(s.snapshot().sequenceResets, 1);
  assert.equal(s.snapshot().packetsReceived, 1);
});

test('interarrival jitter converges to the A.8 estimate', () => {
  const s = new RtpReceiveStats({ minSequential: 0 });
  // Arrival alternates ±5 ms around the ideal: |D| = 10 ms = 80 ticks every packet
  feed(s, Array.from({ length: 400 }, (_, i) => i), { arrivalJitter: (i) => (i % 2 ? 5 : -5) });
  const snap = s.snapshot();
  assert.ok(Math.abs(snap.jitterTs - 80) < 1, `jitter ${snap.jitterTs}`);
  assert.ok(Math.abs(snap.jitterMs - 10) < 0.2);
  // and the single-step update matches J += (|D| - J)/16
  const t = new RtpReceiveStats({ minSequential: 0 });
  t.update(1, 0, 0);
  t.update(2, 160, 30); // transit grows by 10 ms = 80 ticks
  assert.equal(t.jitterTs, 80 / 16);
});

test('E-model: perfect G.711 ≈ 4.4, loss and delay lower it, PLC helps', () => {
  assert.equal(estimateMos({ latencyMs: 0, jitterMs: 0, lossPercent: 0, codec: 'PCMU' }), 4.41);
  const lossy = estimateMos({ latencyMs: 20, jitterMs: 0, lossPercent: 5, codec: 'PCMA' });
  const plc = estimateMos({ latencyMs: 20, jitterMs: 0, lossPercent: 5, codec: 'PCMA', plc: true });
  assert.ok(lossy < 3, `lossy ${lossy}`);
  assert.ok(plc > lossy && plc < 4.4);
  // 5 % loss, no PLC: Ie,eff = 95·5/(5+4.3)
  const r = rFactor({ latencyMs: 0, jitterMs: 0, lossPercent: 5, codec: 'PCMU' });
  assert.ok(Math.abs(r - (93.2 - (95 * 5) / 9.3)) < 1e-9);
  // delay knee at 177.3 ms
  const r200 = rFactor({ latencyMs: 200, jitterMs: 0, lossPercent: 0, codec: 'PCMU' });
  assert.ok(Math.abs(r200 - (93.2 - 0.024 * 200 - 0.11 * 22.7)) < 1e-9);
  assert.equal(mosFromR(-5), 1);
  assert.equal(mosFromR(120), 4.5);
  let prev = 0;
  for (let rr = 0; rr <= 100; rr += 5) { const m = mosFromR(rr); assert.ok(m >= prev); prev = m; }
});
