// call.record({ channels }): engine A calls engine B over SIP on loopback. A plays 1100 Hz into the
// call, B plays 700 Hz; each side records itself four ways at once. The WAVs are read back and each
// channel is checked by frequency: `in` holds the far end only, `out` this side only, `mixed` both,
// `stereo` the caller (A, 1100 Hz) left and the callee (B, 700 Hz) right, whichever side records.
// The recordings end with the call (`leg-closed`) and are final files.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Call, CallRecordChannels, RecordingHandle } from '../../src/index.js';
import { parseWav, toneRatio } from '../../src/media/index.js';
import { startEcho } from '../../src/media/mixing/echo.js';
import { loopbackEngines } from '../helpers/loopback-engines.js';
import { sleep, waitFor } from '../helpers/wait.js';

const dir = mkdtempSync(path.join(tmpdir(), 'callchart-record-channels-'));
// Fixed RTP ports of this helper's range (47100-47199): 47150-47199 here (the interop test's
// slice too; test files run one at a time).
const engines = loopbackEngines(47150, 25);
after(async () => {
  await engines.closeAll();
  rmSync(dir, { recursive: true, force: true });
});

const CHANNELS: CallRecordChannels[] = ['in', 'out', 'mixed', 'stereo'];

function recordAll(call: Call, who: string): Map<CallRecordChannels, RecordingHandle> {
  return new Map(CHANNELS.map((c) => [c, call.record(path.join(dir, `${who}-${c}.wav`), { channels: c })]));
}

/** One channel of a WAV (all of a mono one), with the first 200 ms and last 100 ms cut. */
function channel(file: string, ch: 0 | 1, channels: number): Int16Array {
  const info = parseWav(readFileSync(file));
  assert.equal(info.channels, channels, `${file}: ${channels} channel(s)`);
  assert.equal(info.sampleRate, 8000);
  const n = info.samples.length / channels;
  const out = new Int16Array(n);
  for (let i = 0; i < n; i++) out[i] = info.samples[i * channels + ch]!;
  assert.ok(n > 8000, `${file}: ${n / 8} ms recorded`);
  return out.subarray(1600, n - 800);
}

const share = (s: Int16Array, hz: number) => toneRatio(s, 8000, hz);

function check(recs: Map<CallRecordChannels, RecordingHandle>, who: string, farHz: number, nearHz: number): void {
  const file = (c: CallRecordChannels) => path.join(dir, `${who}-${c}.wav`);
  const inS = channel(file('in'), 0, 1);
  assert.ok(share(inS, farHz) > 0.8 && share(inS, nearHz) < 0.05, `${who} in: far ${share(inS, farHz).toFixed(2)}, near ${share(inS, nearHz).toFixed(3)}`);
  const outS = channel(file('out'), 0, 1);
  assert.ok(share(outS, nearHz) > 0.8 && share(outS, farHz) < 0.05, `${who} out: near ${share(outS, nearHz).toFixed(2)}, far ${share(outS, farHz).toFixed(3)}`);
  const mixed = channel(file('mixed'), 0, 1);
  assert.ok(share(mixed, nearHz) > 0.3 && share(mixed, farHz) > 0.3, `${who} mixed: near ${share(mixed, nearHz).toFixed(2)}, far ${share(mixed, farHz).toFixed(2)}`);
  const left = channel(file('stereo'), 0, 2);
  const right = channel(file('stereo'), 1, 2);
  assert.ok(share(left, 1100) > 0.8 && share(left, 700) < 0.05, `${who} stereo left = caller (1100 Hz): ${share(left, 1100).toFixed(2)} / ${share(left, 700).toFixed(3)}`);
  assert.ok(share(right, 700) > 0.8 && share(right, 1100) < 0.05, `${who} stereo right = callee (700 Hz): ${share(right, 700).toFixed(2)} / ${share(right, 1100).toFixed(3)}`);
  assert.equal(recs.size, 4);
}

test('call.record channels in / out / mixed / stereo, on both the inbound and the outbound call, finalised at hangup', { timeout: 30_000 }, async () => {
  const b = await engines.start({ onIncomingCall: () => ({ action: 'accept' }) });
  const a = await engines.start();
  const inboundP = new Promise<Call>((resolve) => b.once('call', (c) => c.once('answered', () => resolve(c))));
  const caller = await a.call(`sip:rec@127.0.0.1:${b.sipPort}`);
  const callee = await inboundP;
  await waitFor(() => caller.isActive, 'A sees the answer');
  const recA = recordAll(caller, 'a');
  const recB = recordAll(callee, 'b');
  caller.play({ kind: 'tone', frequencies: [1100], durationMs: 5000, amplitude: 8000 }, { keepOpen: true });
  callee.play({ kind: 'tone', frequencies: [700], durationMs: 5000, amplitude: 8000 }, { keepOpen: true });
  await sleep(1500);
  caller.hangup();
  const outs = await Promise.all([...recA.values(), ...recB.values()].map((r) => r.done));
  for (const o of outs) {
    assert.equal(o.reason, 'leg-closed', `${o.path} ends with the call`);
    assert.ok(o.durationMs >= 1000, `${o.path}: ${o.durationMs} ms`);
  }
  check(recA, 'a', 700, 1100);
  check(recB, 'b', 1100, 700);
});

test("call.record channels: 'out' holds what a pass-through echo sends back; bad channels are refused", { timeout: 20_000 }, async () => {
  const b = await engines.start({
    onIncomingCall: (call) => {
      startEcho(call.media!);
      return { action: 'accept' };
    },
  });
  const a = await engines.start();
  const inboundP = new Promise<Call>((resolve) => b.once('call', (c) => c.once('answered', () => resolve(c))));
  const caller = await a.call(`sip:echo@127.0.0.1:${b.sipPort}`);
  const callee = await inboundP;
  await waitFor(() => caller.isActive, 'A sees the answer');
  assert.throws(() => callee.record(path.join(dir, 'x.wav'), { channels: 'both' as CallRecordChannels }), /channels must be one of/);
  const rec = callee.record(path.join(dir, 'echo-out.wav'), { channels: 'out' });
  await caller.play({ kind: 'tone', frequencies: [1300], durationMs: 1500, amplitude: 8000 }).done;
  const out = await rec.stop();
  assert.equal(out.reason, 'stopped');
  const s = channel(out.path, 0, 1);
  assert.ok(share(s, 1300) > 0.8, `the echoed (G.711 pass-through) 1300 Hz is in 'out': ${share(s, 1300).toFixed(2)}`);
  caller.hangup();
});
