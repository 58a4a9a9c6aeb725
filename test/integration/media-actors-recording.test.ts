// Recording actor over real RtpSessions on loopback: the WAV on disk is parsed and analysed.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RtpSession } from '../../src/media/rtp/session.js';
import { PortAllocator } from '../../src/media/rtp/ports.js';
import { Pacer } from '../../src/media/pacer.js';
import { parseWav } from '../../src/media/codecs/wav.js';
import { sineTone, toneRatio, detectFrequency } from '../../src/media/codecs/tones.js';
import { Supervisor } from '../../src/actors/supervisor.js';
import { silentLogger } from '../../src/logger.js';
import { rtpLeg, RecordingRuntime, type MediaLeg } from '../../src/media/index.js';
import { sleep } from '../helpers/wait.js';

const LO = '127.0.0.1';
const allocator = new PortAllocator({ range: '45200-45299', host: LO });
const pacer = new Pacer();
const logger = silentLogger();
const supervisor = new Supervisor({ logger });
const runtime = new RecordingRuntime({ supervisor, logger, pacer });
const dir = mkdtempSync(join(tmpdir(), 'callchart-recording-'));
const sessions: RtpSession[] = [];
const stopSenders: Array<() => void> = [];

after(async () => {
  for (const s of stopSenders) s();
  supervisor.stopAll();
  await Promise.all(sessions.map((s) => s.close()));
  pacer.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** A leg (recorded side) and a far end that sends a continuous tone to it on the pacer. */
async function legWithTone(hz: number): Promise<{ leg: MediaLeg; sent: () => number; stop: () => void }> {
  const near = await RtpSession.create({ allocator, timeoutMs: 0, rtcpIntervalMs: 60_000 });
  const far = await RtpSession.create({ allocator, timeoutMs: 0, rtcpIntervalMs: 60_000 });
  sessions.push(near, far);
  near.setRemote(LO, far.localPort);
  far.setRemote(LO, near.localPort);
  const tone = sineTone(hz, { amplitude: 6000 });
  const frame = new Int16Array(160);
  let sent = 0;
  const stop = pacer.add(() => {
    if (far.send(tone.next(frame))) sent++;
  });
  stopSenders.push(stop);
  return { leg: rtpLeg(near, `leg-${hz}`), sent: () => sent, stop };
}


test('recording a leg that receives 440 Hz yields a valid WAV containing the tone', async () => {
  const { leg, stop } = await legWithTone(440);
  const path = join(dir, 'single.wav');
  const t0 = Date.now();
  const rec = runtime.record(leg, { path });
  await sleep(600);
  rec.pause();
  await sleep(200);
  rec.resume();
  await sleep(200);
  const out = await rec.stop();
  stop();
  assert.equal(out.reason, 'stopped');
  assert.equal(out.path, path);
  const buf = readFileSync(path);
  assert.equal(out.bytes, buf.length, 'reported bytes = file size');
  const wav = parseWav(buf);
  assert.deepEqual([wav.channels, wav.sampleRate, wav.bitsPerSample], [1, 8000, 16]);
  assert.equal(buf.readUInt32LE(40), buf.length - 44, 'data size patched');
  assert.equal(buf.readUInt32LE(4), buf.length - 8, 'RIFF size patched');
  assert.equal(out.durationMs, (wav.samples.length / 8000) * 1000);
  // Recorded: the 600 + 200 ms of recording time, never the 200 ms pause (bounds, not timing:
  // the file cannot hold more audio than arrived while recording).
  assert.ok(out.durationMs > 0 && out.durationMs <= Date.now() - t0 - 200 + 40, `duration ${out.durationMs}`);
  assert.ok(toneRatio(wav.samples, 8000, 440) > 0.9, `440 Hz share ${toneRatio(wav.samples, 8000, 440)}`);
  assert.equal(supervisor.count('recording'), 0);
});

test('the call drops mid-recording: the file is finalised and valid', async () => {
  const { leg, stop } = await legWithTone(440);
  const path = join(dir, 'dropped.wav');
  const rec = runtime.record(leg, { path, flushBytes: 3200 });
  const states: string[] = [];
  rec.on('state', (s) => states.push(s));
  await sleep(500);
  await leg.close(); // the call leg goes away
  const out = await rec.done;
  stop();
  assert.equal(out.reason, 'leg-closed');
  const buf = readFileSync(path);
  const wav = parseWav(buf);
  assert.equal(buf.readUInt32LE(40), buf.length - 44);
  assert.equal(wav.samples.length * 2 + 44, statSync(path).size);
  assert.ok(out.durationMs > 0, `duration ${out.durationMs}`);
  assert.ok(toneRatio(wav.samples, 8000, 440) > 0.9, 'toneRatio(wav.samples, 8000, 440) > 0.9');
  assert.deepEqual(states.slice(-2), ['stopping', 'done']);
});

test('max duration stops the recording by itself', async () => {
  const short = new RecordingRuntime({ supervisor, logger, pacer, maxDurationMs: 300 });
  const { leg, stop } = await legWithTone(440);
  const t0 = Date.now();
  const out = await short.record(leg, { path: join(dir, 'max.wav') }).done;
  const elapsed = Date.now() - t0;
  stop();
  assert.equal(out.reason, 'max-duration');
  assert.ok(out.durationMs > 0 && out.durationMs <= elapsed + 40, `duration ${out.durationMs} within ${elapsed} ms`);
});

test('an unwritable path ends as an error event, not a throw', async () => {
  const { leg, stop } = await legWithTone(440);
  const out = await runtime.record(leg, { path: join(dir, 'no', 'such', 'dir.wav') }).done;
  stop();
  assert.equal(out.reason, 'error');
  assert.match(out.error ?? '', /ENOENT/);
});

test('two legs: mixed mono holds both tones; stereo keeps one per channel', async () => {
  const a = await legWithTone(500);
  const b = await legWithTone(1200);
  const mixed = runtime.record([a.leg, b.leg], { path: join(dir, 'mixed.wav'), mode: 'mixed' });
  const stereo = runtime.record([a.leg, b.leg], { path: join(dir, 'stereo.wav'), mode: 'stereo' });
  await sleep(600);
  const [m, s] = await Promise.all([mixed.stop(), stereo.stop()]);
  a.stop();
  b.stop();
  const mw = parseWav(readFileSync(m.path));
  assert.equal(mw.channels, 1);
  const e500 = detectFrequency(mw.samples, 8000, 500);
  const e1200 = detectFrequency(mw.samples, 8000, 1200);
  assert.ok(toneRatio(mw.samples, 8000, 500) > 0.3 && toneRatio(mw.samples, 8000, 1200) > 0.3, `mix ${e500} / ${e1200}`);
  const sw = parseWav(readFileSync(s.path));
  assert.equal(sw.channels, 2);
  assert.equal(sw.samples.length % 2, 0);
  const left = sw.samples.filter((_, i) => i % 2 === 0);
  const right = sw.samples.filter((_, i) => i % 2 === 1);
  assert.ok(toneRatio(left, 8000, 500) > 0.8 && toneRatio(left, 8000, 1200) < 0.05, 'left = first leg');
  assert.ok(toneRatio(right, 8000, 1200) > 0.8 && toneRatio(right, 8000, 500) < 0.05, 'right = second leg');
  assert.equal(s.durationMs, (left.length / 8000) * 1000);
  assert.ok(s.durationMs > 0, `stereo duration ${s.durationMs}`);
});
