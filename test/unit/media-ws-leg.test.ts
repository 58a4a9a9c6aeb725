// WsLeg without sockets: re-framing of any message size into 160-sample frames (little-endian
// bytes), the send ring's reuse rule, and backpressure (drop and count, never queue unbounded).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { WsLeg, type WsLegSocket } from '../../src/media/ws-leg.js';

/** A socket that keeps what it was sent and lets the test decide when writes complete. */
class FakeSocket implements WsLegSocket {
  readonly OPEN = 1;
  readyState = 1;
  bufferedAmount = 0;
  sent: Buffer[] = [];
  /** Copies taken at send time: a reused buffer would change `sent[i]` but not `copies[i]`. */
  copies: Buffer[] = [];
  pending: Array<() => void> = [];
  send(data: Buffer, _opts: { binary: true }, cb?: () => void): void {
    this.sent.push(data);
    this.copies.push(Buffer.from(data));
    if (cb) this.pending.push(cb);
  }
  flush(): void {
    for (const cb of this.pending.splice(0)) cb();
  }
}

const live = { isActive: true, hangups: [] as Array<string | undefined>, hangup(d?: string) { this.hangups.push(d); } };

/** `n` samples counting up from `start`, as little-endian bytes. */
function ramp(start: number, n: number): Buffer {
  const b = Buffer.alloc(n * 2);
  for (let i = 0; i < n; i++) b.writeInt16LE(((start + i) % 30000) - 15000, i * 2);
  return b;
}

test('receive: messages of any size (odd byte counts too) come out as 160-sample frames, in order', () => {
  const leg = new WsLeg('ws:1', new FakeSocket(), live);
  const got: number[] = [];
  let frames = 0;
  leg.onAudio((f) => {
    assert.equal(f.length, 160);
    frames++;
    for (const s of f) got.push(s);
  });
  const all = ramp(0, 1000); // 2000 bytes
  const sizes = [1, 319, 320, 333, 7, 640, 100, 280];
  let off = 0;
  for (const n of sizes) {
    leg.receive(all.subarray(off, off + n));
    off += n;
  }
  assert.equal(off, 2000);
  assert.equal(frames, 6, '2000 bytes = 6 whole frames; the last 80 bytes wait');
  for (let i = 0; i < got.length; i++) assert.equal(got[i], all.readInt16LE(i * 2), `sample ${i}`);
  assert.equal(leg.stats().framesIn, 6);
});

test('receive: nothing is done without a listener, and a partial frame is dropped when the last one leaves', () => {
  const leg = new WsLeg('ws:2', new FakeSocket(), live);
  leg.receive(ramp(0, 500)); // nobody listens
  assert.equal(leg.framesIn, 0);
  const seen: number[] = [];
  const off = leg.onAudio((f) => seen.push(f[0]!));
  leg.receive(ramp(0, 100));
  off();
  const off2 = leg.onAudio((f) => seen.push(f[0]!));
  leg.receive(ramp(1000, 160));
  assert.deepEqual(seen, [ramp(1000, 1).readInt16LE(0)], 'the stale 100 samples did not lead the new frame');
  off2();
});

test('receive: audio beyond maxRealtime (burst: 1 s at that rate) is dropped and counted, sample alignment kept', () => {
  const leg = new WsLeg('ws:7', new FakeSocket(), live, { maxRealtime: 1 });
  const got: number[] = [];
  leg.onAudio((f) => {
    for (const v of f) got.push(v);
  });
  const all = ramp(0, 15000); // 30 000 bytes at once: 1.9 s of audio, the burst is 1 s (16 000 bytes)
  for (let off = 0; off < all.length; off += 10_001) leg.receive(all.subarray(off, off + 10_001));
  assert.equal(leg.framesIn, 50, 'one second of audio delivered');
  assert.ok(leg.overrunBytes >= 13_000 && leg.overrunBytes % 2 === 0, `overrun ${leg.overrunBytes}`);
  for (let i = 0; i < got.length; i++) assert.equal(got[i], all.readInt16LE(i * 2), `sample ${i}`);
  // A trickle of a budget (0.16 B/ms, burst 160 B): once it is spent, of an odd message two bytes
  // are dropped, never three (that would shift every later sample by a byte).
  const slow = new WsLeg('ws:8', new FakeSocket(), live, { maxRealtime: 0.01 });
  slow.onAudio(() => {});
  slow.receive(Buffer.alloc(200));
  assert.equal(slow.overrunBytes, 40);
  slow.receive(Buffer.alloc(3));
  assert.equal(slow.overrunBytes, 42);
});

test('write: one binary message of little-endian bytes per frame; refused before answer and after end', () => {
  const ws = new FakeSocket();
  const call = { isActive: false, hangup() {} };
  const leg = new WsLeg('ws:3', ws, call);
  const f = new Int16Array(160).map((_, i) => i * 100 - 8000);
  assert.equal(leg.write(f), false, 'not answered yet');
  call.isActive = true;
  assert.equal(leg.write(f), true);
  assert.equal(ws.sent.length, 1);
  assert.equal(ws.sent[0]!.length, 320);
  for (let i = 0; i < 160; i++) assert.equal(ws.sent[0]!.readInt16LE(i * 2), f[i]);
  leg.end();
  assert.equal(leg.write(f), false, 'ended');
  assert.equal(ws.sent.length, 1);
});

test('write: a buffer is reused only after the socket wrote it; past the ring or bufferedAmount, frames drop and are counted', () => {
  const ws = new FakeSocket();
  const leg = new WsLeg('ws:4', ws, live, { maxQueuedFrames: 4, maxBufferedBytes: 1000 });
  const frame = (v: number) => new Int16Array(160).fill(v);
  for (let i = 0; i < 6; i++) leg.write(frame(i));
  assert.equal(ws.sent.length, 4, 'four in flight, nothing written yet: the next two are dropped');
  assert.equal(leg.dropped, 2);
  for (let i = 0; i < 4; i++) assert.equal(ws.sent[i]!.readInt16LE(0), i, `frame ${i} intact while queued`);
  ws.flush();
  assert.equal(leg.write(frame(9)), true, 'written buffers are free again');
  assert.equal(ws.copies.at(-1)!.readInt16LE(0), 9);
  ws.bufferedAmount = 5000; // the client stopped reading
  assert.equal(leg.write(frame(10)), false);
  assert.equal(leg.dropped, 3);
  ws.bufferedAmount = 0;
  ws.readyState = 3;
  assert.equal(leg.write(frame(11)), false, 'socket closed');
  assert.deepEqual(leg.stats(), { kind: 'ws', framesIn: 0, framesOut: 5, dropped: 3, overrunBytes: 0, jitterBuffer: null });
  // What went out is what was written, frame by frame.
  assert.deepEqual(ws.copies.map((b) => b.readInt16LE(0)), [0, 1, 2, 3, 9]);
});

test('write: shorter frames go out at their length; longer ones are copied whole', () => {
  const ws = new FakeSocket();
  const leg = new WsLeg('ws:5', ws, live);
  leg.write(new Int16Array(80).fill(7));
  leg.write(new Int16Array(400).fill(-3));
  assert.deepEqual(ws.sent.map((b) => b.length), [160, 800]);
  assert.equal(ws.sent[1]!.readInt16LE(798), -3);
});

test('onClose runs once on end(); close() hangs the call up; late subscribers are told at once', async () => {
  const call = { isActive: true, hangups: [] as Array<string | undefined>, hangup(d?: string) { this.hangups.push(d); } };
  const leg = new WsLeg('ws:6', new FakeSocket(), call);
  let closes = 0;
  leg.onClose(() => closes++);
  const off = leg.onClose(() => closes += 100);
  off();
  await leg.close();
  await leg.close();
  leg.end();
  assert.equal(closes, 1);
  assert.equal(leg.closed, true);
  assert.deepEqual(call.hangups, ['media closed']);
  const late = await new Promise<boolean>((resolve) => leg.onClose(() => resolve(true)));
  assert.equal(late, true);
});

test('playout: a burst of messages comes out one frame per 20 ms tick, in order, counted in stats().jitterBuffer', async () => {
  const leg = new WsLeg('ws:9', new FakeSocket(), live);
  const got: Array<{ first: number; at: number }> = [];
  const off = leg.playout.onAudio((f) => got.push({ first: f[100]!, at: performance.now() }));
  leg.receive(ramp(0, 160 * 6)); // 120 ms of audio in one message
  for (let i = 0; i < 100 && got.length < 6; i++) await new Promise((r) => setTimeout(r, 20));
  off();
  const real = got.slice(0, 6).map((g) => g.first);
  assert.deepEqual(real, [0, 1, 2, 3, 4, 5].map((k) => ramp(k * 160 + 100, 1).readInt16LE(0)), 'in order, one per tick');
  const spread = got[5]!.at - got[0]!.at;
  // 100 ms on an idle box; the pacer catches up after a stall, so allow a loaded one less.
  assert.ok(spread >= 40, `paced over ${spread.toFixed(0)} ms, not dumped`);
  const jb = leg.stats().jitterBuffer!;
  assert.equal(jb.packets, 6);
  assert.ok(jb.framesOut >= 6);
  assert.equal(jb.late, 0);
});

test('sendDtmf goes through the call (the protocol\'s dtmf message); a call without it refuses', async () => {
  const sent: string[] = [];
  const leg = new WsLeg('ws:10', new FakeSocket(), { ...live, sendDtmf: (d: string) => void sent.push(d) });
  await leg.sendDtmf('12#');
  assert.deepEqual(sent, ['12#']);
  await assert.rejects(new WsLeg('ws:11', new FakeSocket(), live).sendDtmf('1'), /cannot send DTMF/);
});
