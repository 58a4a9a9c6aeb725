// call.stream() over loopback: engine A calls engine B over SIP, B streams the call to a bot
// simulator written from Twilio's documentation (test/helpers/twilio-bot-sim.ts). What the bot
// receives, what the caller hears (frequencies), marks, clear, and bots that misbehave or vanish.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { toneRatio } from '../../src/media/index.js';
import { demoApp, type Call, type Engine } from '../../src/index.js';
import type { MediaStream } from '../../src/streams/stream.js';
import type { CallStreamOptions } from '../../src/streams/runtime.js';
import { loopbackEngines } from '../helpers/loopback-engines.js';
import { TwilioBotSim, sine, type BotConnection } from '../helpers/twilio-bot-sim.js';
import { sleep, waitFor } from '../helpers/wait.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const engines = loopbackEngines(48200, 50, { streams: { reconnectDelayMs: 50, connectTimeoutMs: 1000 } });
let bot: TwilioBotSim;
after(async () => {
  await engines.closeAll();
  await bot?.close();
});

interface Setup {
  a: Call;
  b: Call;
  stream: MediaStream;
  conn: BotConnection;
  /** What the caller (A) hears, from now on. */
  heard: number[];
}

let pair: { a: Engine; b: Engine } | undefined;
async function engineswithBot(): Promise<{ a: Engine; b: Engine }> {
  bot ??= await TwilioBotSim.start();
  pair ??= { a: await engines.start(), b: await engines.start({ onIncomingCall: () => ({ action: 'accept' }) }) };
  return pair;
}

/** A calls B; once B's call is answered it is streamed to the bot with `opts`. */
async function streamedCall(opts: CallStreamOptions = {}): Promise<Setup> {
  const { a, b } = await engineswithBot();
  const started = bot.nextStarted();
  const bCall = new Promise<{ call: Call; stream: MediaStream }>((resolve) => {
    b.once('call', (call) => call.once('answered', () => resolve({ call, stream: call.stream(bot.url, opts) })));
  });
  const aCall = await a.call(`sip:bot@127.0.0.1:${b.sipPort}`);
  const { call, stream } = await bCall;
  const conn = await started;
  await waitFor(() => aCall.isActive, 'A answered', 3000);
  const heard: number[] = [];
  aCall.media!.onAudio((f) => {
    for (const x of f) heard.push(x);
  });
  return { a: aCall, b: call, stream, conn, heard };
}

async function hangup(s: Setup): Promise<void> {
  s.a.hangup();
  await s.b.waitForEnd();
}

test('the bot gets connected, start (Twilio fields) and the caller audio; the caller hears the bot; its mark comes after its audio', async () => {
  const s = await streamedCall({ customParameters: { lang: 'en', agent: 'demo' } });
  const start = s.conn.start!;
  assert.equal(start.streamSid, s.stream.streamSid);
  assert.match(start.streamSid, /^MZ[0-9a-f]{32}$/);
  assert.match(start.callSid, /^CA[0-9a-f]{32}$/);
  assert.match(start.accountSid, /^AC[0-9a-f]{32}$/);
  assert.deepEqual(start.tracks, ['inbound']);
  assert.deepEqual(start.customParameters, { lang: 'en', agent: 'demo' });
  assert.deepEqual(start.mediaFormat, { encoding: 'audio/x-mulaw', sampleRate: 8000, channels: 1 });

  // The caller speaks (440 Hz): the bot hears it.
  await s.a.play({ kind: 'tone', frequencies: [440], durationMs: 800 }).done;
  await waitFor(() => s.conn.inbound.length >= 8000 * 0.6, 'caller audio at the bot', 3000);
  const got = Int16Array.from(s.conn.inbound.slice(-8000 * 0.6));
  assert.ok(toneRatio(got, 8000, 440) > 0.5, `440 Hz share at the bot ${toneRatio(got, 8000, 440).toFixed(2)}`);

  // The bot answers with 1 s of 1 kHz, all at once (faster than real time), then a mark.
  s.heard.length = 0;
  const sentAt = performance.now();
  s.conn.sendAudio(sine(1000, 1000));
  s.conn.mark('utterance-1');
  const [name, at] = await new Promise<[string, number]>((r) => s.conn.once('mark', (n, t) => r([n, t])));
  assert.equal(name, 'utterance-1');
  const after = at - sentAt;
  assert.ok(after >= 900 && after < 2000, `mark echoed ${after.toFixed(0)} ms after 1 s of audio was sent`);
  await sleep(150);
  const tail = Int16Array.from(s.heard);
  assert.ok(tail.length >= 8000 * 0.9, `caller heard ${tail.length} samples`);
  assert.ok(toneRatio(tail, 8000, 1000) > 0.6, `1 kHz share at the caller ${toneRatio(tail, 8000, 1000).toFixed(2)}`);
  assert.equal(s.stream.stats.playedFrames, 50, '1 s of bot audio is 50 frames of 20 ms');
  assert.deepEqual(s.conn.problems, []);

  // DTMF from the caller reaches the bot as a dtmf message.
  await s.a.sendDtmf('7');
  await waitFor(() => s.conn.count('dtmf') === 1, 'dtmf at the bot', 3000);
  assert.deepEqual(s.conn.messages.find((m) => m.event === 'dtmf')!.dtmf, { track: 'inbound_track', digit: '7' });

  // The call ends: the bot gets stop (accountSid, callSid), then the socket closes normally.
  await hangup(s);
  await waitFor(() => s.conn.closed !== undefined, 'socket closed', 3000);
  const stop = s.conn.messages.at(-1)!;
  assert.equal(stop.event, 'stop');
  assert.deepEqual(stop.stop, { accountSid: start.accountSid, callSid: start.callSid });
  assert.equal(s.conn.closed, 1000);
  const summary = await s.stream.done;
  assert.equal(summary.reason, 'call-ended');
  assert.deepEqual(s.conn.problems, []);
});

test('clear (barge-in) drops the queued audio within one frame and echoes the marks it cut', async () => {
  const s = await streamedCall();
  s.conn.sendAudio(sine(1000, 5000), 500);
  s.conn.mark('long');
  await sleep(300);
  let framesAtClear = -1;
  s.stream.once('mark', () => (framesAtClear = s.stream.stats.playedFrames));
  const clearedAt = performance.now();
  s.conn.clear();
  const [name, at] = await new Promise<[string, number]>((r) => s.conn.once('mark', (n, t) => r([n, t])));
  assert.equal(name, 'long', 'a cleared mark is echoed');
  assert.ok(at - clearedAt < 200, `cleared mark echoed after ${(at - clearedAt).toFixed(0)} ms`);
  assert.ok(framesAtClear >= 10 && framesAtClear < 50, `${framesAtClear} frames before clear`);
  await sleep(200);
  assert.ok(s.stream.stats.playedFrames - framesAtClear <= 1, `${s.stream.stats.playedFrames - framesAtClear} frames after clear`);
  assert.ok(s.stream.stats.clearedBytes > 8000 * 4, `cleared ${s.stream.stats.clearedBytes} bytes`);
  assert.equal(s.stream.stats.queuedBytes, 0);
  await hangup(s);
});

test('a bad bot (garbage, binary, wrong streamSid, oversize frame, flood) only costs its own messages', async () => {
  const s = await streamedCall({ maxQueueMs: 2000, maxReconnects: 0, fallback: 'continue', maxPayload: 64 * 1024 });
  const before = s.stream.stats.violations;
  s.conn.raw('this is not json');
  s.conn.raw('{"event":"media"}');
  s.conn.ws.send(Buffer.alloc(10), { binary: true });
  s.conn.raw({ event: 'media', streamSid: 'MZ-not-mine', media: { payload: 'AAAA' } });
  s.conn.raw({ event: 'dance', streamSid: s.conn.streamSid });
  await waitFor(() => s.stream.stats.violations - before === 5, 'five violations', 2000);
  assert.ok(s.b.isActive && s.stream.state === 'streaming', 'the stream goes on');
  // 20 s of audio at once into a 2 s queue: bounded, the rest dropped.
  s.conn.sendAudio(sine(1000, 20_000), 1000);
  await waitFor(() => s.stream.stats.receivedMedia === 20, 'the flood arrived', 2000);
  assert.ok(s.stream.stats.queuedBytes <= 16_000, `queued ${s.stream.stats.queuedBytes}`);
  assert.ok(s.stream.stats.droppedBytes >= 8000 * 17, `dropped ${s.stream.stats.droppedBytes}`);
  // An oversize frame ends that connection (1009); with no reconnect left and fallback continue,
  // the stream ends and the call stays up.
  s.conn.raw({ event: 'media', streamSid: s.conn.streamSid, media: { payload: Buffer.alloc(100_000).toString('base64') } });
  const summary = await s.stream.done;
  assert.equal(summary.reason, 'bot-gone');
  assert.equal(summary.lastCloseCode, 1009);
  assert.equal(summary.fallback, 'continue');
  await sleep(100);
  assert.ok(s.b.isActive && s.a.isActive, 'fallback continue: the call is still up');
  await hangup(s);
});

test('a vanished bot is reconnected (start again), then the call follows fallback hangup', async () => {
  const s = await streamedCall({ maxReconnects: 1, fallback: 'hangup' });
  const again = bot.nextStarted();
  s.conn.ws.terminate();
  const c2 = await again;
  assert.equal(c2.start!.streamSid, s.conn.start!.streamSid, 'the same stream resumes');
  assert.equal(c2.messages[1]!.sequenceNumber, '1', 'a new connection numbers from 1');
  c2.ws.terminate();
  const summary = await s.stream.done;
  assert.equal(summary.reason, 'bot-gone');
  assert.equal(summary.reconnects, 1);
  const end = await s.b.waitForEnd();
  assert.match(JSON.stringify(end), /bot gone/);
  await s.a.waitForEnd();
});

test('a bot that closes normally is not reconnected; an unreachable bot makes the call follow its fallback', async () => {
  const s = await streamedCall({ maxReconnects: 3, fallback: 'continue' });
  s.conn.ws.close(1000, 'bye');
  const summary = await s.stream.done;
  assert.equal(summary.reason, 'bot-closed');
  assert.equal(summary.reconnects, 0);
  assert.ok(s.b.isActive);
  // Nobody listens there: connect fails, one reconnect, then hang up.
  const st = s.b.stream('ws://127.0.0.1:9/nobody', { maxReconnects: 1, fallback: 'hangup' });
  const out = await st.done;
  assert.equal(out.reason, 'bot-gone');
  assert.equal(out.connections, 0);
  await s.b.waitForEnd();
  assert.throws(() => s.b.stream('http://x/'), /ws:\/\/ or wss:\/\//);
});

test('demoApp({ streamUrl }) — what `callchart serve --stream-url` runs — streams each SIP call to the bot both ways', async () => {
  const { a } = await engineswithBot();
  const c = await engines.start({ onIncomingCall: demoApp({ streamUrl: bot.url }) });
  const started = bot.nextStarted();
  const call = await a.call(`sip:bot@127.0.0.1:${c.sipPort}`);
  const conn = await started;
  await waitFor(() => call.isActive, 'answered', 3000);
  const heard: number[] = [];
  call.media!.onAudio((f) => {
    for (const x of f) heard.push(x);
  });
  conn.sendAudio(sine(600, 600));
  conn.mark('hello');
  await new Promise((r) => conn.once('mark', r));
  await sleep(100);
  const got = Int16Array.from(heard.slice(-4000));
  assert.ok(toneRatio(got, 8000, 600) > 0.5, `600 Hz share at the caller ${toneRatio(got, 8000, 600).toFixed(2)}`);
  // The bot leaves: the demo's fallback hangs the call up.
  conn.ws.close(1000);
  await call.waitForEnd();
});

test('examples/voice-bot.ts: the README bot greets the caller with a beep and echoes what it hears', async () => {
  const proc = spawn(process.execPath, ['--import', 'tsx', 'examples/voice-bot.ts'], { cwd: ROOT, env: { ...process.env, BOT_PORT: '0' }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout.on('data', (d) => (out += d));
  proc.stderr.on('data', (d) => (out += d));
  try {
    await waitFor(() => /listening on (ws:\/\/\S+)/.test(out), `the example to listen: ${out}`, 20_000);
    const url = /listening on (ws:\/\/\S+)/.exec(out)![1]!;
    const { a, b } = await engineswithBot();
    const streamed = new Promise<MediaStream>((resolve) => b.once('call', (call) => call.once('answered', () => resolve(call.stream(url)))));
    const call = await a.call(`sip:bot@127.0.0.1:${b.sipPort}`);
    const stream = await streamed;
    await waitFor(() => call.isActive, 'answered', 3000);
    const heard: number[] = [];
    call.media!.onAudio((f) => {
      for (const x of f) heard.push(x);
    });
    await waitFor(() => /mark greeting played/.test(out), `the greeting to play: ${out}`, 3000);
    const beep = Int16Array.from(heard);
    assert.ok(toneRatio(beep, 8000, 880) > 0.3, `880 Hz share of the greeting ${toneRatio(beep, 8000, 880).toFixed(2)}`);
    heard.length = 0;
    await call.play({ kind: 'tone', frequencies: [500], durationMs: 1500 }).done;
    await sleep(700);
    const echo = Int16Array.from(heard.slice(-8000));
    assert.ok(toneRatio(echo, 8000, 500) > 0.5, `500 Hz share of the echo ${toneRatio(echo, 8000, 500).toFixed(2)}`);
    call.hangup();
    assert.equal((await stream.done).reason, 'call-ended');
    await waitFor(() => /stream closed/.test(out), `the bot to see the close: ${out}`, 3000);
  } finally {
    proc.kill('SIGTERM');
  }
});
