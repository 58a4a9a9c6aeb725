// Play a WAV file, a tone and silence into a call leg over real RTP on loopback, pause/seek/
// change volume on the way, and print what the far end actually heard.
//
//   npx tsx examples/media-playback.ts
// Both ends run in this process on loopback; RTP ports come from CALLCHART_RTP_PORTS (default
// 20000-29999, the CLI's range). The engine binds nothing else: no port is named for it.
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createEngine } from 'callchart';
import { RtpSession, encodeWav, generateTone, toneRatio, meanSquare, sharedPacer, rtpLeg } from 'callchart/media';

const LO = '127.0.0.1';
// The engine owns the actors (a playback stream is one) and the RTP port allocator.
const callchart = createEngine({ host: LO, rtpPorts: process.env.CALLCHART_RTP_PORTS ?? '20000-29999' });
const allocator = callchart.ports;
const playback = callchart.media.playback;

// A 16 kHz prompt on disk (converted to 8 kHz mono when loaded).
const dir = mkdtempSync(join(tmpdir(), 'callchart-example-'));
const file = join(dir, 'prompt.wav');
writeFileSync(file, encodeWav(generateTone([440], 1500, { sampleRate: 16000, amplitude: 9000 }), { sampleRate: 16000 }));

// The engine side of a call, and a "phone" at the other end.
const engine = await RtpSession.create({ allocator, timeoutMs: 0 });
const phone = await RtpSession.create({ allocator, timeoutMs: 0 });
engine.setRemote(LO, phone.localPort);
phone.setRemote(LO, engine.localPort);
const heard: number[] = [];
phone.on('audio', (f) => heard.push(...f));
const since = (n: number) => Int16Array.from(heard.slice(n));

const stream = playback.start(rtpLeg(engine, 'call-1'));
stream.on('state', (s) => process.stdout.write(`  state → ${s}\n`));
stream.on('itemFinished', (f) => process.stdout.write(`  finished ${f.itemId}: ${f.reason} at ${f.positionMs} ms${f.error ? ` (${f.error})` : ''}\n`));

const done = stream.play([
  { id: 'prompt', source: { kind: 'file', path: file } },
  { id: 'missing', source: { kind: 'file', path: join(dir, 'missing.wav') } },
  { id: 'beep', source: { kind: 'tone', frequencies: [1000], durationMs: 300 } },
  { id: 'gap', source: { kind: 'silence', durationMs: 200 } },
]);
const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));
await wait(400);
stream.pause();
const atPause = heard.length;
await wait(300);
process.stdout.write(`paused 300 ms: ${heard.length - atPause} samples arrived meanwhile (≈0 expected)\n`);
stream.resume();
await wait(200);
stream.volume(0.5);
const atVol = heard.length;
await wait(300);
process.stdout.write(`after volume 0.5: level ${Math.sqrt(meanSquare(since(atVol + 320))).toFixed(0)} RMS (full level ≈ ${(9000 / Math.SQRT2).toFixed(0)})\n`);
stream.volume(1);
const results = await done;
const all = Int16Array.from(heard);
process.stdout.write(
  `heard ${(all.length / 8).toFixed(0)} ms in total; 440 Hz share ${toneRatio(all, 8000, 440).toFixed(2)}, 1000 Hz share ${toneRatio(all, 8000, 1000).toFixed(2)}\n`,
);
process.stdout.write(`items: ${results.map((r) => `${r.itemId}=${r.reason}`).join(', ')}\n`);

await stream.close();
await Promise.all([engine.close(), phone.close()]);
await callchart.close();
sharedPacer().stop();
rmSync(dir, { recursive: true, force: true });
