// SendRing: which buffer an RTP session's next datagram is written into. The rule that matters is
// that a ring slot handed to dgram is never written again while dgram may still read it: within
// one event-loop turn at most 16 sends use the ring, and none while the socket has queued sends.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SendRing } from '../../src/media/rtp/send-ring.js';

const nextTurn = () => new Promise<void>((r) => setImmediate(r));

/** A stand-in for the session's dgram socket: only its send-queue count is read. */
function socket(queued = 0) {
  return { queued, getSendQueueCount(): number { return this.queued; } };
}

test('SendRing: one turn hands out 16 distinct ring slots, then throwaway buffers; the next turn starts the ring again', async () => {
  await nextTurn();
  const ring = new SendRing(socket());
  const first = Array.from({ length: 16 }, () => ring.buffer(172));
  assert.equal(new Set(first.map((b) => b.byteOffset)).size, 16, '16 different slots');
  assert.ok(first.every((b) => b.buffer === first[0]!.buffer), 'the slots are views of one allocation');
  const extra = ring.buffer(172);
  assert.notEqual(extra.buffer, first[0]!.buffer, 'the 17th send of the turn gets its own buffer');
  assert.ok(extra.length >= 172);
  await nextTurn();
  const again = ring.buffer(172);
  assert.equal(again.buffer, first[0]!.buffer, 'a later turn uses the ring again');
  assert.equal(again.byteOffset, first[0]!.byteOffset, 'from where it left off, which wrapped to the first slot');
});

test('SendRing: while the socket holds queued sends, every buffer is a throwaway one', async () => {
  await nextTurn();
  const s = socket();
  const ring = new SendRing(s);
  const block = ring.buffer(172).buffer;
  await nextTurn();
  s.queued = 1;
  const a = ring.buffer(172);
  const b = ring.buffer(172);
  assert.ok(a.buffer !== block && b.buffer !== block, 'not from the ring');
  assert.ok(a.buffer !== b.buffer || a.byteOffset + a.length <= b.byteOffset, 'two sends, two places');
  s.queued = 0;
  await nextTurn();
  assert.equal(ring.buffer(172).buffer, block, 'queue drained: back on the ring');
});

test('SendRing: view() gives exactly len bytes, reusing a slot\'s view for the same length and never for a throwaway buffer', async () => {
  await nextTurn();
  const ring = new SendRing(socket());
  const slot = ring.buffer(172);
  slot.fill(7);
  const v1 = ring.view(slot, 172);
  assert.equal(v1.length, 172);
  assert.equal(v1.byteOffset, slot.byteOffset);
  await nextTurn();
  // The other 15 slots, then (next turn) the first one again.
  for (let i = 0; i < 15; i++) ring.buffer(172);
  await nextTurn();
  const same = ring.buffer(172);
  assert.equal(same.byteOffset, slot.byteOffset, 'the ring came round to the first slot');
  assert.equal(ring.view(same, 172), v1, 'same slot, same length: the view is reused');
  const shorter = ring.view(same, 100);
  assert.notEqual(shorter, v1);
  assert.equal(shorter.length, 100);
  // Throwaway: the 17th in a turn.
  await nextTurn();
  for (let i = 0; i < 16; i++) ring.buffer(172);
  const own = ring.buffer(172);
  const ov = ring.view(own, 172);
  assert.equal(ov.length, 172);
  assert.equal(ov.buffer, own.buffer, 'a view of the throwaway buffer itself');
  assert.notEqual(ring.view(own, 172), ov, 'not kept: a throwaway buffer is not reused');
});

test('SendRing: sends on a connected socket share one hot buffer across sessions; a queued send retires it', async () => {
  const s1 = socket();
  const s2 = socket();
  const a = new SendRing(s1);
  const b = new SendRing(s2);
  const hot = a.buffer(172, true);
  assert.equal(a.view(hot, 172).buffer, hot.buffer);
  a.sent();
  assert.equal(b.buffer(172, true), hot, 'another session writes its next packet into the same bytes');
  const v = b.view(hot, 172);
  assert.equal(v.length, 172);
  assert.equal(b.view(hot, 172), v, 'same length: the view is reused');
  s2.queued = 1; // this send was queued: dgram still holds the bytes
  b.sent();
  const next = a.buffer(172, true);
  assert.notEqual(next, hot, 'the held buffer is not written again');
  assert.notEqual(a.view(next, 172).buffer, hot.buffer, 'nor is its view handed out');
  a.sent();
  assert.notEqual(b.buffer(172, false).buffer, next.buffer, 'an unconnected send still takes its ring slot');
});

test('SendRing: 3 000 packets written into the hot buffer one after another on a connected loopback socket all arrive as written', async () => {
  const dgram = await import('node:dgram');
  const rx = dgram.createSocket('udp4');
  const tx = dgram.createSocket('udp4');
  try {
    await new Promise<void>((r) => rx.bind(0, '127.0.0.1', r));
    rx.setRecvBufferSize(4 << 20);
    await new Promise<void>((r) => tx.bind(0, '127.0.0.1', r));
    await new Promise<void>((r) => tx.connect(rx.address().port, '127.0.0.1', () => r()));
    const seen: number[] = [];
    const all = new Promise<void>((r) => rx.on('message', (m) => (m.length === 172 && seen.push(m.readUInt32BE(0)) === N ? r() : undefined)));
    const N = 3000;
    const ring = new SendRing(tx);
    for (let i = 0; i < N; i++) {
      const buf = ring.buffer(172, true);
      buf.fill(i & 0xff, 0, 172);
      buf.writeUInt32BE(i, 0);
      tx.send(ring.view(buf, 172));
      ring.sent();
      // A few turns of the loop, so the receiver drains between bursts.
      if (i % 200 === 199) await nextTurn();
    }
    await all;
    assert.deepEqual(seen, Array.from({ length: N }, (_, i) => i), 'every packet once, in order, with its own number');
  } finally {
    rx.close();
    tx.close();
  }
});
