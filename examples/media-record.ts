// Record a call leg that receives a tone, drop the call mid-recording, and show the WAV is
// still complete and valid; then record two legs as stereo.
//
//   npx tsx examples/media-record.ts
// Both ends run in this process on loopback; RTP ports come from CALLCHART_RTP_PORTS (default
// 20000-29999, the CLI's range). The engine binds nothing else: no port is named for it.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createEngine } from 'callchart';
import { RtpSession, parseWav, sineTone, toneRatio, sharedPacer, rtpLeg } from 'callchart/media';

const LO = '127.0.0.1';
// The engine owns the actors (a recording is one) and the RTP port allocator.
const callchart = createEngine({ host: LO, rtpPorts: process.env.CALLCHART_RTP_PORTS ?? '20000-29999', media: { maxRecordingMs: 60_000 } });
const allocator = callchart.ports;
const recording = callchart.media.recording;
const pacer = sharedPacer();
const dir = mkdtempSync(join(tmpdir(), 'callchart-example-'));

/** A leg whose far end talks (a tone) on the shared pacer. */
async function talkingLeg(hz: number) {
  const engine = await RtpSession.create({ allocator, timeoutMs: 0 });
  const phone = await RtpSession.create({ allocator, timeoutMs: 0 });
  engine.setRemote(LO, phone.localPort);
  phone.setRemote(LO, engine.localPort);
  const tone = sineTone(hz, { amplitude: 6000 });
  const frame = new Int16Array(160);
  const stop = pacer.add(() => void phone.send(tone.next(frame)));
  return { leg: rtpLeg(engine, `leg-${hz}`), phone, stop };
}

const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));

const a = await talkingLeg(440);
const rec = recording.record(a.leg, { path: join(dir, 'call.wav') });
rec.on('state', (s) => process.stdout.write(`  recording → ${s}\n`));
await wait(700);
process.stdout.write('the call drops (leg closed) while recording…\n');
await a.leg.close();
const out = await rec.done;
const wav = parseWav(readFileSync(out.path));
process.stdout.write(
  `finished: reason=${out.reason} duration=${out.durationMs} ms bytes=${out.bytes}; file parses: ${wav.channels} ch, ${wav.sampleRate} Hz, ` +
    `${wav.samples.length} samples, 440 Hz share ${toneRatio(wav.samples, 8000, 440).toFixed(2)}\n`,
);

const b = await talkingLeg(500);
const c = await talkingLeg(1200);
const stereo = recording.record([b.leg, c.leg], { path: join(dir, 'stereo.wav'), mode: 'stereo' });
await wait(500);
const so = await stereo.stop();
const sw = parseWav(readFileSync(so.path));
const left = sw.samples.filter((_, i) => i % 2 === 0);
const right = sw.samples.filter((_, i) => i % 2 === 1);
process.stdout.write(
  `stereo: ${so.durationMs} ms, left 500 Hz share ${toneRatio(left, 8000, 500).toFixed(2)}, right 1200 Hz share ${toneRatio(right, 8000, 1200).toFixed(2)}\n`,
);

for (const x of [a, b, c]) x.stop();
await Promise.all([a.phone, b.phone, c.phone].map((s) => s.close()));
await Promise.all([b.leg.close(), c.leg.close()]);
await callchart.close();
pacer.stop();
rmSync(dir, { recursive: true, force: true });
