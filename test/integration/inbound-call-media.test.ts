// Inbound-call WebSocket calls have a media leg: bridged WS ↔ WS and SIP ↔ WS, recorded to WAV,
// played to — over real sockets on loopback, each side checked by the frequency it hears (Goertzel).
// Every client sends a tone of its own, so "hears itself" can never pass for "hears the other".
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createEngine, demoApp, type Call, type Engine, type EngineOptions } from '../../src/index.js';
import { toneRatio, readWavFile } from '../../src/media/index.js';
import { TestClient } from '../helpers/ws-client.js';
import { ToneCaller, assertHears } from '../helpers/ws-tone-caller.js';
import { loopbackEngines } from '../helpers/loopback-engines.js';
import { waitFor } from '../helpers/wait.js';
import { TwilioBotSim, sine } from '../helpers/twilio-bot-sim.js';

const dir = mkdtempSync(path.join(tmpdir(), 'callchart-ws-media-'));
const engines: Engine[] = [];
// RTP for the SIP ↔ WS case: this file's own slice of ports.
const sipEngines = loopbackEngines(41000, 50);
let bot: TwilioBotSim | undefined;
after(async () => {
  await bot?.close();
  await Promise.all(engines.map((e) => e.close()));
  await sipEngines.closeAll();
  rmSync(dir, { recursive: true, force: true });
});

/** An engine taking inbound-call WebSocket calls; every call is answered and handed to `onCall`. */
async function wsEngine(onCall: (call: Call) => void, o: EngineOptions = {}): Promise<{ engine: Engine; url: string }> {
  const engine = createEngine({
    host: '127.0.0.1',
    wsPort: 0,
    sipPort: false,
    inboundCall: { offerDelayMs: 10 },
    onIncomingCall: (call) => {
      onCall(call);
      return { action: 'accept' };
    },
    ...o,
  });
  engines.push(engine);
  await engine.listen();
  return { engine, url: `ws://127.0.0.1:${engine.wsPort}/` };
}

test('WS ↔ WS bridge: each client hears the other\'s tone and not its own (30 ms and 20 ms messages)', { timeout: 15_000 }, async () => {
  const calls: Call[] = [];
  const { engine, url } = await wsEngine((call) => calls.push(call));
  const a = new ToneCaller(url);
  const b = new ToneCaller(url);
  await Promise.all([a.answered(), b.answered()]);
  await waitFor(() => calls.length === 2 && calls.every((c) => c.isActive), 'both calls answered', 2000);
  assert.ok(calls[0]!.media && calls[1]!.media, 'WS calls have a media leg');
  const br = engine.bridge(calls[0]!, calls[1]!);
  assert.equal(br.stats().mode, 'pcm');
  assert.equal(calls[0]!.actor.getSnapshot().context.media, 'started');
  // A sends 30 ms messages (the leg re-frames them to 20 ms), B the protocol's usual 20 ms.
  await Promise.all([a.sendTone(500, 1200, 240), b.sendTone(1500, 1200, 160)]);
  await waitFor(() => a.heardSamples().length >= 8000 && b.heardSamples().length >= 8000, 'both heard ~1 s', 2000);
  const st = br.stats();
  assert.ok(st.aToB >= 50 && st.bToA >= 50, JSON.stringify(st));
  const callA = calls.find((c) => c.id === a.sessionId)!;
  const callB = calls.find((c) => c.id === b.sessionId)!;
  a.hangup();
  assert.equal((await callA.waitForEnd()).reason, 'remote-hangup');
  await waitFor(() => !br.active, 'the bridge stops when a call ends', 2000);
  assert.ok(callB.isActive, 'the other call goes on (the app decides what to do with it)');
  assert.equal(callB.actor.getSnapshot().context.media, 'stopped');
  callB.hangup();
  await b.c.waitClose();
  assertHears(a.heardSamples(), 1500, 500, 'A');
  assertHears(b.heardSamples(), 500, 1500, 'B');
});

test('a WS call recorded to WAV holds what the client sent (odd message sizes), final when the client hangs up', { timeout: 10_000 }, async () => {
  const file = path.join(dir, 'ws-call.wav');
  let rec: ReturnType<Call['record']> | undefined;
  const { url } = await wsEngine((call) => void (rec = call.record(file)));
  const c = new ToneCaller(url);
  await c.answered();
  // A recording captures from the moment its file is open (on a loaded box, after the answer).
  await waitFor(() => rec?.actor.getSnapshot().matches('active') === true, 'the recording to be open', 3000);
  // 111 samples per message: frames straddle messages all the time.
  const bytes = await c.sendTone(700, 1000, 111);
  await new Promise((r) => setTimeout(r, 100));
  c.hangup();
  const out = await rec!.done;
  assert.equal(out.reason, 'leg-closed');
  const samples = readWavFile(file);
  // Recorded through the leg's jitter buffer: every whole frame the client sent, plus what it
  // concealed when the client's messages came late and after the client stopped (≤ 100 ms each).
  const sent = Math.floor(bytes / 320) * 160;
  assert.ok(samples.length >= sent && samples.length <= sent + 1600, `${samples.length} samples recorded for ${sent} sent`);
  const r = toneRatio(samples, 8000, 700);
  assert.ok(r > 0.9, `recording holds 700 Hz: share ${r.toFixed(2)}`);
});

test('play into a WS call: the client hears the tone as 320-byte frames, paced', { timeout: 10_000 }, async () => {
  let done: Promise<unknown> | undefined;
  const { url } = await wsEngine((call) => void (done = call.play({ kind: 'tone', frequencies: [440], durationMs: 600 }).done));
  const c = new ToneCaller(url);
  const t0 = Date.now();
  await c.answered();
  await done;
  const took = Date.now() - t0;
  await waitFor(() => c.heardSamples().length >= 600 * 8, 'the last frames to arrive', 2000);
  const heard = c.heardSamples();
  assert.equal(heard.length, 600 * 8);
  assert.ok(took >= 500, `600 ms of tone played in ${took} ms: paced, not dumped`);
  const r = toneRatio(heard, 8000, 440);
  assert.ok(r > 0.9, `client heard 440 Hz: share ${r.toFixed(2)}`);
  c.hangup();
  await c.c.waitClose();
});

test('the demo app still echoes WS frames byte for byte, whatever their size', { timeout: 10_000 }, async () => {
  const { url } = await wsEngine(() => {}, { onIncomingCall: demoApp({ answerDelayMs: 0, hangupAfterMs: 5000 }) });
  const c = new TestClient(url);
  await c.opened();
  const { sessionId } = await c.json('incoming_call');
  await c.json('answer');
  const frames = [Buffer.alloc(333, 1), Buffer.alloc(1, 2), Buffer.alloc(320, 3), Buffer.alloc(1000, 4)];
  for (const f of frames) c.send(f);
  for (const f of frames) {
    const got = await c.next((x) => x.kind === 'binary');
    assert.ok(got.kind === 'binary' && got.data.equals(f), `a ${f.length}-byte frame came back unchanged`);
  }
  c.send({ event: 'hangup', sessionId });
  await c.waitClose();
});

test('SIP ↔ WS bridge: a SIP caller and a WS client each hear the other', { timeout: 20_000 }, async () => {
  let wsCall: Call | undefined;
  let sipCall: Call | undefined;
  // The server: WS calls wait; a SIP call is answered and bridged with the waiting WS call.
  const server = await sipEngines.start({
    inboundCall: { offerDelayMs: 10 },
    onIncomingCall: (call) => {
      if (call.transport === 'ws') wsCall = call;
      else sipCall = call;
      return { action: 'accept' };
    },
  });
  const phone = await sipEngines.start();
  const client = new ToneCaller(`ws://127.0.0.1:${server.wsPort}/`);
  await client.answered();
  const out = await phone.call(`sip:bridge@127.0.0.1:${server.sipPort}`);
  await waitFor(() => out.isActive && sipCall?.isActive === true, 'SIP call answered', 5000);
  const br = server.bridge(sipCall!, wsCall!);
  assert.equal(br.stats().mode, 'pcm', 'a WS leg has no G.711 pass-through');
  const heardFile = path.join(dir, 'phone-heard.wav');
  const rec = out.record(heardFile);
  const phoneTone = out.play({ kind: 'tone', frequencies: [600], durationMs: 1500, amplitude: 10_000 });
  await Promise.all([client.sendTone(1800, 1500), phoneTone.done]);
  await new Promise((r) => setTimeout(r, 100));
  out.hangup();
  await rec.done;
  await sipCall!.waitForEnd();
  wsCall!.hangup();
  await client.c.waitClose();
  assertHears(client.heardSamples(), 600, 1800, 'the WS client');
  assertHears(readWavFile(heardFile), 1800, 600, 'the SIP phone');
  const st = br.stats();
  assert.ok(st.aToB > 50 && st.bToA > 50, JSON.stringify(st));
});

test('a WS call streamed to a Twilio-format bot: the bot hears the client, the client hears the bot, stop on hangup', { timeout: 15_000 }, async () => {
  bot = await TwilioBotSim.start();
  const started = bot.nextStarted();
  let stream: ReturnType<Call['stream']> | undefined;
  const { url } = await wsEngine((call) => void call.once('answered', () => (stream = call.stream(bot!.url))));
  const c = new ToneCaller(url);
  await c.answered();
  const conn = await started;
  assert.deepEqual(conn.start!.mediaFormat, { encoding: 'audio/x-mulaw', sampleRate: 8000, channels: 1 });
  // The client speaks 700 Hz: the bot gets it as μ-law media.
  await c.sendTone(700, 1000);
  await waitFor(() => conn.inbound.length >= 8000 * 0.6, 'client audio at the bot', 3000);
  const got = Int16Array.from(conn.inbound.slice(-8000 * 0.6));
  assert.ok(toneRatio(got, 8000, 700) > 0.5, `700 Hz share at the bot ${toneRatio(got, 8000, 700).toFixed(2)}`);
  // The bot answers 1 s of 1300 Hz at once: the client hears it, paced.
  const before = c.heardSamples().length;
  conn.sendAudio(sine(1300, 1000));
  await waitFor(() => c.heardSamples().length - before >= 8000 * 0.9, 'the bot audio at the client', 3000);
  const heard = c.heardSamples().subarray(before);
  assertHears(heard, 1300, 700, 'the WS client');
  assert.deepEqual(conn.problems, []);
  c.hangup();
  await waitFor(() => conn.closed !== undefined, 'bot socket closed', 3000);
  assert.equal(conn.messages.at(-1)!.event, 'stop');
  assert.equal((await stream!.done).reason, 'call-ended');
});
