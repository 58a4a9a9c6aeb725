// Bridge a PCMU call leg to a PCMA call leg (transcoding through PCM), then put three legs in a
// mixer room, and print what every phone heard.
//
//   npx tsx examples/media-bridge.ts
// Every phone and leg runs in this process on loopback; RTP ports come from CALLCHART_RTP_PORTS
// (default 20000-29999, the CLI's range). No engine is needed for the media plane alone.
// The media plane's building blocks are the `callchart/media` subpath; bridge and MixerRoom are
// also in 'callchart' itself, for bridging calls.
import { PortAllocator, RtpSession, sineTone, toneRatio, sharedPacer, rtpLeg, bridge, MixerRoom, type G711Law } from 'callchart/media';

const LO = '127.0.0.1';
const allocator = new PortAllocator({ range: process.env.CALLCHART_RTP_PORTS ?? '20000-29999', host: LO });
const pacer = sharedPacer();
const cleanup: Array<() => unknown> = [];

/** A phone talking `hz` in `codec`, and the engine-side leg it is connected to. */
async function phone(hz: number, codec: G711Law) {
  const engine = await RtpSession.create({ allocator, codec, timeoutMs: 0 });
  const far = await RtpSession.create({ allocator, codec, timeoutMs: 0 });
  engine.setRemote(LO, far.localPort);
  far.setRemote(LO, engine.localPort);
  const heard: number[] = [];
  far.on('audio', (f) => heard.push(...f));
  const tone = sineTone(hz, { amplitude: 5000 });
  const frame = new Int16Array(160);
  cleanup.push(pacer.add(() => void far.send(tone.next(frame))), () => engine.close(), () => far.close());
  return { hz, codec, leg: rtpLeg(engine, `${codec}-${hz}`), heard };
}

const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));
const report = (p: { hz: number; codec: string; heard: number[] }, freqs: number[]) => {
  const last = Int16Array.from(p.heard.slice(-8000));
  return `${p.codec} phone (${p.hz} Hz) hears: ` + freqs.map((f) => `${f} Hz ${(toneRatio(last, 8000, f) * 100).toFixed(0)} %`).join(', ');
};

const a = await phone(600, 'PCMU');
const b = await phone(1400, 'PCMA');
const calls = [{ send: (e: { type: string }) => process.stdout.write(`  call a ← ${e.type}\n`) }, { send: (e: { type: string }) => process.stdout.write(`  call b ← ${e.type}\n`) }];
const br = bridge(a.leg, b.leg, { notify: calls });
await wait(1200);
process.stdout.write(`bridge mode ${br.stats().mode}; ${report(a, [600, 1400])}\n`);
process.stdout.write(`bridge mode ${br.stats().mode}; ${report(b, [600, 1400])}\n`);
br.stop();

const room = new MixerRoom();
const members = [await phone(450, 'PCMU'), await phone(950, 'PCMU'), await phone(1500, 'PCMA')];
for (const m of members) room.add(m.leg);
await wait(1200);
for (const m of members) process.stdout.write(`mixer: ${report(m, [450, 950, 1500])}\n`);
process.stdout.write(`mixer stats: ${JSON.stringify(room.stats())}\n`);
room.close();

for (const c of cleanup) await c();
pacer.stop();
await allocator.close();
