// Playback actor over real RtpSessions on loopback: what the far end hears is analysed.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RtpSession } from '../../src/media/rtp/session.js';
import { PortAllocator } from '../../src/media/rtp/ports.js';
import { Pacer } from '../../src/media/pacer.js';
import { encodeWav } from '../../src/media/codecs/wav.js';
import { generateTone, toneRatio, meanSquare } from '../../src/media/codecs/tones.js';
import { Supervisor } from '../../src/actors/supervisor.js';
import { silentLogger } from '../../src/logger.js';
import { rtpLeg, PlaybackRuntime, type MediaLeg } from '../../src/media/index.js';
import { waitFor } from '../helpers/wait.js';

const LO = '127.0.0.1';
const allocator = new PortAllocator({ range: '45000-45099', host: LO });
const pacer = new Pacer();
const logger = silentLogger();
const supervisor = new Supervisor({ logger });
const runtime = new PlaybackRuntime({ supervisor, logger, pacer, positionReportMs: 200 });
const dir = mkdtempSync(join(tmpdir(), 'callchart-playback-'));
const sessions: RtpSession[] = [];

after(async () => {
  supervisor.stopAll();
  await Promise.all(sessions.map((s) => s.close()));
  pacer.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** A playback leg and a far-end session that records every frame it hears, in order. */
async function legPair(): Promise<{ leg: MediaLeg; heard: Int16Array[]; far: RtpSession }> {
  const near = await RtpSession.create({ allocator, timeoutMs: 0, rtcpIntervalMs: 60_000 });
  const far = await RtpSession.create({ allocator, timeoutMs: 0, rtcpIntervalMs: 60_000 });
  sessions.push(near, far);
  near.setRemote(LO, far.localPort);
  far.setRemote(LO, near.localPort);
  const heard: Int16Array[] = [];
  far.on('audio', (f) => heard.push(Int16Array.from(f)));
  return { leg: rtpLeg(near, `leg-${near.localPort}`), heard, far };
}

const concat = (frames: Int16Array[]) => {
  const out = new Int16Array(frames.reduce((n, f) => n + f.length, 0));
  let o = 0;
  for (const f of frames) {
    out.set(f, o);
    o += f.length;
  }
  return out;
};

function writeWav(name: string, samples: Int16Array, sampleRate: number): string {
  const p = join(dir, name);
  writeFileSync(p, encodeWav(samples, { sampleRate }));
  return p;
}

test('a 16 kHz 440 Hz WAV file is heard at the far end as 440 Hz, for its whole length', async () => {
  const file = writeWav('a440-16k.wav', generateTone([440], 1000, { sampleRate: 16000, amplitude: 10000 }), 16000);
  const { leg, heard } = await legPair();
  const stream = runtime.start(leg);
  const states: string[] = [];
  stream.on('state', (s) => states.push(s));
  let drained = 0;
  stream.on('drained', () => drained++);
  const [done] = await stream.play({ kind: 'file', path: file });
  assert.equal(done!.reason, 'ended');
  assert.equal(done!.positionMs, 1000);
  await waitFor(() => heard.length >= 50, 'all frames', 8000);
  const all = concat(heard);
  assert.equal(heard.length, 50, '1 s = 50 frames of 20 ms');
  assert.ok(toneRatio(all, 8000, 440) > 0.9, `440 Hz share ${toneRatio(all, 8000, 440)}`);
  assert.ok(toneRatio(all, 8000, 1000) < 0.01, 'toneRatio(all, 8000, 1000) < 0.01');
  assert.equal(drained, 1);
  assert.deepEqual(states.slice(0, 2), ['active.loading', 'active.playing']);
  assert.equal(stream.state, 'idle');
  await stream.close();
  assert.equal(supervisor.count('playback'), 0);
});

test('pause stops the audio, resume continues where it was; seek jumps; volume scales', async () => {
  // 1 s of 440 Hz, then 1 s of 1000 Hz.
  const file = writeWav('two-part.wav', concat([generateTone([440], 1000, { amplitude: 8000 }), generateTone([1000], 1000, { amplitude: 8000 })]), 8000);
  const { leg, heard } = await legPair();
  const stream = runtime.start(leg);
  const finished = stream.play({ kind: 'file', path: file });
  await waitFor(() => heard.length >= 10, 'first frames', 8000);
  stream.pause();
  await waitFor(() => stream.state === 'active.paused', 'paused', 8000);
  await new Promise((r) => setTimeout(r, 60)); // let in-flight frames land
  const atPause = heard.length;
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(heard.length, atPause, 'nothing is sent while paused');
  assert.ok(stream.positionMs >= 200 && stream.positionMs < 1000, `position at pause ${stream.positionMs}`);
  const beforeResume = heard.length;
  stream.resume();
  await waitFor(() => heard.length >= beforeResume + 5, 'resumed frames', 8000);
  assert.ok(toneRatio(concat(heard.slice(beforeResume, beforeResume + 5)), 8000, 440) > 0.8, 'resumed inside the 440 Hz part');
  // Seek into the 1000 Hz part.
  stream.seek(1200);
  const atSeek = heard.length;
  await waitFor(() => heard.length >= atSeek + 12, 'frames after seek', 8000);
  const afterSeek = concat(heard.slice(atSeek + 2, atSeek + 12));
  assert.ok(toneRatio(afterSeek, 8000, 1000) > 0.8, `1000 Hz after seek: ${toneRatio(afterSeek, 8000, 1000)}`);
  // Volume: half gain halves the amplitude (a quarter of the power).
  const loud = meanSquare(afterSeek);
  stream.volume(0.5);
  const atVol = heard.length;
  await waitFor(() => heard.length >= atVol + 12, 'frames after volume', 8000);
  const quiet = meanSquare(concat(heard.slice(atVol + 2, atVol + 12)));
  assert.ok(quiet / loud > 0.2 && quiet / loud < 0.3, `power ratio ${quiet / loud}`);
  const [f] = await finished;
  assert.equal(f!.reason, 'ended');
  // 2 s item, 1 s skipped by the seek, plus the part played before: well under 2 s of frames.
  assert.ok(heard.length < 90, `heard ${heard.length} frames`);
  await stream.close();
});

test('a queue plays in order; an unreadable file fails as an event and the queue goes on', async () => {
  const { leg, heard } = await legPair();
  const stream = runtime.start(leg);
  const missing = join(dir, 'nope.wav');
  const garbage = join(dir, 'garbage.wav');
  writeFileSync(garbage, 'this is not a wav file');
  const events: string[] = [];
  stream.on('itemFinished', (f) => events.push(`${f.itemId}:${f.reason}`));
  const results = await stream.play([
    { id: 'tone', source: { kind: 'tone', frequencies: [1000], durationMs: 200 } },
    { id: 'missing', source: { kind: 'file', path: missing } },
    { id: 'garbage', source: { kind: 'file', path: garbage } },
    { id: 'gap', source: { kind: 'silence', durationMs: 100 } },
    { id: 'tone2', source: { kind: 'tone', frequencies: [600], durationMs: 200 } },
  ]);
  assert.deepEqual(events, ['tone:ended', 'missing:failed', 'garbage:failed', 'gap:ended', 'tone2:ended']);
  assert.match(results[1]!.error ?? '', /ENOENT/);
  assert.match(results[2]!.error ?? '', /RIFF/);
  await waitFor(() => heard.length >= 25, 'all frames', 8000);
  assert.equal(heard.length, 25, '200 + 100 + 200 ms');
  assert.ok(toneRatio(concat(heard.slice(0, 10)), 8000, 1000) > 0.9, 'toneRatio(concat(heard.slice(0, 10)), 8000, 1000) > 0.9');
  assert.ok(meanSquare(concat(heard.slice(11, 14))) < 100, 'silence in the middle');
  assert.ok(toneRatio(concat(heard.slice(16, 25)), 8000, 600) > 0.9, 'toneRatio(concat(heard.slice(16, 25)), 8000, 600) > 0.9');
  const snap = stream.actor.getSnapshot().context;
  assert.deepEqual([snap.played, snap.failed, snap.lastError?.itemId], [3, 2, 'garbage']);
  await stream.close();
});

test('skip and stop end items early; closing the leg closes the stream', async () => {
  const { leg, heard } = await legPair();
  const stream = runtime.start(leg);
  const p = stream.play([
    { id: 'long1', source: { kind: 'tone', frequencies: [440], durationMs: 10_000 } },
    { id: 'long2', source: { kind: 'tone', frequencies: [700], durationMs: 10_000 } },
    { id: 'long3', source: { kind: 'tone', frequencies: [900], durationMs: 10_000 } },
  ]);
  await waitFor(() => heard.length >= 5, 'first frames', 8000);
  stream.skip();
  await waitFor(() => stream.actor.getSnapshot().context.current?.id === 'long2' && heard.length >= 15, 'second item', 8000);
  stream.stop();
  const r = await p;
  assert.deepEqual(r.map((f) => f.reason), ['skipped', 'stopped', 'stopped']);
  assert.equal(stream.state, 'idle');
  // A new item on the same stream, then the call drops.
  const q = stream.play({ id: 'last', source: { kind: 'tone', frequencies: [440], durationMs: 10_000 } });
  await waitFor(() => stream.state === 'active.playing', 'playing again', 8000);
  await leg.close();
  const out = await stream.done;
  assert.deepEqual(out, { played: 0, skipped: 1, failed: 0, closedBy: 'leg' });
  assert.equal((await q)[0]!.reason, 'stopped');
  assert.equal(runtime.active, 0);
});
