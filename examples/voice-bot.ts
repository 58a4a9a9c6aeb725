// A voice bot that speaks Twilio's Media Streams format, served by callchart itself
// (`engine.mediaStreams`): it greets the caller with a beep, then says back what it hears
// (an echo, half a second late), and drops what it has queued when the caller presses * (barge-in).
// Replace the echo with your speech-to-text → LLM → text-to-speech loop.
//
//   npx tsx examples/voice-bot.ts                              # ws://127.0.0.1:8080/bot
//   npx callchart serve --stream-url ws://127.0.0.1:8080/bot   # every SIP call talks to it
//
// BOT_PORT (default 8080, 0 = an ephemeral port) and BOT_HOST (default 127.0.0.1) move it.
import { createEngine } from 'callchart';

const bot = createEngine({ host: process.env.BOT_HOST ?? '127.0.0.1', wsPort: Number(process.env.BOT_PORT ?? 8080), metrics: false });

/** 8 kHz PCM of a sine tone. */
function beep(hz: number, ms: number): Int16Array {
  const out = new Int16Array((8000 * ms) / 1000);
  for (let i = 0; i < out.length; i++) out[i] = Math.round(6000 * Math.sin((2 * Math.PI * hz * i) / 8000));
  return out;
}

bot.mediaStreams('/bot', (stream) => {
  console.log(`call ${stream.callSid}: stream ${stream.streamSid} started`, stream.customParameters);
  stream.send(beep(880, 300));
  stream.mark('greeting');
  const delayed: Int16Array[] = [];
  let frames = 0;
  stream.on('audio', (pcm) => {
    // The echo: keep 25 frames (0.5 s), then send each one back as a new one arrives.
    delayed.push(pcm);
    if (delayed.length > 25) stream.send(delayed.shift()!);
    if (++frames % 250 === 0) stream.mark(`${frames / 50}s`);
  });
  stream.on('dtmf', (digit) => {
    console.log(`call ${stream.callSid}: pressed ${digit}`);
    if (digit === '*') stream.clear();
  });
  stream.on('mark', (name) => console.log(`call ${stream.callSid}: mark ${name} played`));
  stream.on('close', (code) => console.log(`call ${stream.callSid}: stream closed (${code})`));
});

await bot.listen();
console.log(`voice bot listening on ws://${bot.options.host}:${bot.wsPort}/bot`);
for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => void bot.close().then(() => process.exit(0)));
