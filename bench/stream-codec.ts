// The Twilio Media Streams per-frame codec work, full path vs fast path (src/streams/fast-media.ts),
// interleaved in one run (A, B, A, B… several rounds; medians), in-process with no sockets, so it
// does not move with the box's load as a ladder does:
//
//   npx tsx bench/stream-codec.ts
//
// One "frame" is the four codec steps of a streamed call's 20 ms: the platform builds `media`, the
// bot parses it, the bot builds its `media` answer, the platform parses that.
import { BotMediaTemplate, PlatformMediaMatcher } from '../src/streams/fast-media.js';
import { PlatformEncoder, encodeMessage, makeSid, parseBotMessage, parsePlatformMessage } from '../src/streams/protocol.js';
import { printTable, median } from './table.js';

const FRAMES = Number(process.env.STREAM_CODEC_FRAMES ?? 50_000);
const ROUNDS = Number(process.env.STREAM_CODEC_ROUNDS ?? 7);
const sid = makeSid('MZ');
const ulaw = Buffer.alloc(160);
for (let i = 0; i < 160; i++) ulaw[i] = (i * 37) & 0xff;
let sink = 0;

/** Before: objects + JSON.stringify out (ws turns the string into bytes), JSON.parse + zod in. */
function full(n: number): void {
  const enc = new PlatformEncoder(sid);
  for (let i = 0; i < n; i++) {
    const wire = Buffer.from(enc.media('inbound', ulaw, i * 20));
    const p = parsePlatformMessage(wire.toString('utf8'));
    if (!p.ok || p.message.event !== 'media') throw new Error('platform parse');
    const got = Buffer.from(p.message.media.payload, 'base64');
    const back = Buffer.from(encodeMessage({ event: 'media', streamSid: sid, media: { payload: got.toString('base64') } }));
    const b = parseBotMessage(back.toString());
    if (!b.ok || b.message.event !== 'media' || b.message.streamSid !== sid) throw new Error('bot parse');
    sink += Buffer.from(b.message.media.payload, 'base64').length;
  }
}

/** After: bytes from templates out, canonical media recognised in. */
function fast(n: number): void {
  const enc = new PlatformEncoder(sid);
  const platformIn = new PlatformMediaMatcher(sid);
  const bot = new BotMediaTemplate(sid);
  for (let i = 0; i < n; i++) {
    const m = platformIn.match(enc.mediaBytes('inbound', ulaw, i * 20));
    if (!m) throw new Error('platform match');
    const got = m.ulaw;
    const b = bot.match(bot.build(got));
    if (!b) throw new Error('bot match');
    sink += b.length;
  }
}

function timeUs(fn: (n: number) => void): number {
  const c0 = process.cpuUsage();
  fn(FRAMES);
  const c = process.cpuUsage(c0);
  return (c.user + c.system) / FRAMES;
}

full(5000);
fast(5000);
const a: number[] = [];
const b: number[] = [];
for (let r = 0; r < ROUNDS; r++) {
  a.push(timeUs(full));
  b.push(timeUs(fast));
}
printTable(`Media Streams codec per frame (4 steps: platform out, bot in, bot out, platform in); ${ROUNDS} interleaved rounds of ${FRAMES} frames, CPU µs`, ['path', 'median µs/frame', 'min', 'max'], [
  ['full (JSON.stringify / JSON.parse + schema)', median(a).toFixed(2), Math.min(...a).toFixed(2), Math.max(...a).toFixed(2)],
  ['fast (templates / canonical match)', median(b).toFixed(2), Math.min(...b).toFixed(2), Math.max(...b).toFixed(2)],
]);
if (sink < 0) console.log(sink);
