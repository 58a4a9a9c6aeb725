// Media on real SIP calls over loopback: two (or three) callchart engines call each other, and
// the audio is checked where it lands (a WAV recorded by the other side, frequencies measured
// with Goertzel). No external peers; interop with SIPp/baresip is in test/interop/media-*.test.ts.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { createEngine, demoApp, type Engine, type EngineOptions, type Call } from '../../src/index.js';
import { readWavFile, parseWav, toneRatio, DTMF_FREQUENCIES } from '../../src/media/index.js';
import { startEcho } from '../../src/media/mixing/echo.js';
import { readFileSync } from 'node:fs';
import { rtpStats } from '../helpers/call-stats.js';

const engines: Engine[] = [];
const dir = mkdtempSync(join(tmpdir(), 'callchart-sip-media-'));
after(async () => {
  await Promise.all(engines.map((e) => e.close()));
  rmSync(dir, { recursive: true, force: true });
});

let rtpBase = 34000;
async function start(o: EngineOptions = {}): Promise<Engine> {
  const range = `${rtpBase}-${rtpBase + 99}`;
  rtpBase += 100;
  const engine = createEngine({ host: '127.0.0.1', wsPort: 0, sipPort: 0, rtpPorts: range, inboundCall: false, ...o });
  engines.push(engine);
  await engine.listen();
  return engine;
}

async function stopEngine(e: Engine): Promise<void> {
  await e.close();
  engines.splice(engines.indexOf(e), 1);
}

function answered(call: Call, ms = 5000): Promise<void> {
  if (call.isActive) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`call ${call.id} not answered in ${ms} ms (state ${call.state})`)), ms);
    call.once('answered', () => {
      clearTimeout(t);
      resolve();
    });
    call.once('ended', (end) => {
      clearTimeout(t);
      reject(new Error(`call ended before answer: ${JSON.stringify(end)}`));
    });
  });
}

/** The first inbound call an engine receives, answered. */
function nextInbound(e: Engine, setup: (call: Call) => void = () => {}): Promise<Call> {
  return new Promise((resolve) => {
    e.once('call', (call) => {
      setup(call);
      call.once('answered', () => resolve(call));
    });
  });
}

async function eventually(pred: () => boolean, ms: number, what: string): Promise<void> {
  const t0 = Date.now();
  while (!pred()) {
    if (Date.now() - t0 > ms) throw new Error(`timed out after ${ms} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const uri = (e: Engine, user = 'media') => `sip:${user}@127.0.0.1:${e.sipPort}`;

/** Samples of a recording (8 kHz mono) with its length asserted to be at least `minMs`. */
function recorded(path: string, minMs: number): Int16Array {
  const info = parseWav(readFileSync(path));
  assert.equal(info.sampleRate, 8000);
  assert.equal(info.channels, 1);
  const s = readWavFile(path);
  assert.ok(s.length >= (minMs * 8000) / 1000, `${path}: ${(s.length / 8).toFixed(0)} ms recorded, expected ≥ ${minMs} ms`);
  return s;
}

test('B plays a 440 Hz tone into the call; A records the call and the WAV holds 440 Hz', async () => {
  const b = await start({
    onIncomingCall: (call) => {
      call.play({ kind: 'tone', frequencies: [440], durationMs: 1500 });
      return { action: 'accept' };
    },
  });
  const a = await start();
  const inbound = nextInbound(b);
  const call = await a.call(uri(b, 'tone'));
  await answered(call);
  const rec = call.record(join(dir, 'a-hears-440.wav'));
  const bCall = await inbound;
  const played = await bCall.playback!.done;
  assert.equal(played.played, 1);
  const out = await rec.stop();
  assert.equal(out.reason, 'stopped');
  const s = recorded(out.path, 1000);
  assert.ok(toneRatio(s, 8000, 440) > 0.8, `440 Hz share ${toneRatio(s, 8000, 440).toFixed(2)}`);
  assert.ok(toneRatio(s, 8000, 1000) < 0.05);
  call.hangup();
  assert.equal((await bCall.waitForEnd()).reason, 'remote-hangup');
  await stopEngine(a);
  await stopEngine(b);
});

test('B echoes with startEcho(call.media); the 1 kHz tone A sends comes back', async () => {
  const b = await start({
    onIncomingCall: (call) => {
      const echo = startEcho(call.media!);
      call.data.echoMode = echo.mode;
      return { action: 'accept' };
    },
  });
  const a = await start();
  const inbound = nextInbound(b);
  const call = await a.call(uri(b, 'echo'));
  await answered(call);
  const rec = call.record(join(dir, 'a-echo-1k.wav'));
  const sent = await call.play({ kind: 'tone', frequencies: [1000], durationMs: 1200 }).done;
  assert.equal(sent.played, 1);
  await sleep(100); // the last echoed packets are on their way back
  const out = await rec.stop();
  const s = recorded(out.path, 900);
  assert.ok(toneRatio(s, 8000, 1000) > 0.8, `1 kHz share ${toneRatio(s, 8000, 1000).toFixed(2)}`);
  const bCall = await inbound;
  assert.equal(bCall.data.echoMode, 'passthrough', 'same codec on an RTP leg: the echo relays payload bytes');
  call.hangup();
  await bCall.waitForEnd();
  await stopEngine(a);
  await stopEngine(b);
});

test('demo app (npm start): a SIP call is echoed by startEcho on the media leg, not by the audio event', async () => {
  const b = await start({ onIncomingCall: demoApp({ hangupDigit: '#' }) });
  const a = await start();
  const inbound = nextInbound(b);
  const call = await a.call(uri(b, 'demo'));
  await answered(call);
  const bCall = await inbound;
  assert.equal(bCall.listenerCount('audio'), 0, 'no per-frame EventEmitter echo');
  const rec = call.record(join(dir, 'demo-echo.wav'));
  await call.play({ kind: 'tone', frequencies: [1200], durationMs: 800 }).done;
  await sleep(100);
  const s = recorded((await rec.stop()).path, 600);
  assert.ok(toneRatio(s, 8000, 1200) > 0.8, `1200 Hz share ${toneRatio(s, 8000, 1200).toFixed(2)}`);
  call.sendDtmf('#');
  assert.equal((await call.waitForEnd()).reason, 'remote-hangup');
  await stopEngine(a);
  await stopEngine(b);
});

for (const variant of [
  { name: 'relay (PCMU both sides)', codecs2: undefined, mode: 'passthrough' },
  { name: 'transcoding PCMU ↔ PCMA', codecs2: ['PCMA' as const], mode: 'pcm' },
]) {
  test(`engine.bridge() between two inbound calls, ${variant.name}: each caller hears the other's tone, not its own`, async () => {
    const inbound: Call[] = [];
    const b = await start({
      onIncomingCall: (call) => {
        inbound.push(call);
        return { action: 'accept' };
      },
    });
    const a1 = await start();
    const a2 = await start(variant.codecs2 ? { sip: { codecs: variant.codecs2 } } : {});
    const c1 = await a1.call(uri(b, 'one'));
    const c2 = await a2.call(uri(b, 'two'));
    await answered(c1);
    await answered(c2);
    await eventually(() => inbound.length === 2 && inbound.every((c) => c.isActive), 5000, 'both inbound calls answered on B');
    const [b1, b2] = inbound as [Call, Call];
    assert.equal(rtpStats(b1).codec, 'PCMU');
    assert.equal(rtpStats(b2).codec, variant.codecs2 ? 'PCMA' : 'PCMU');

    const br = b.bridge(b1, b2);
    assert.equal(br.stats().mode, variant.mode);
    for (const c of [b1, b2]) assert.equal(c.actor.getSnapshot().context.media, 'started');

    const r1 = c1.record(join(dir, `bridge-${variant.mode}-1.wav`));
    const r2 = c2.record(join(dir, `bridge-${variant.mode}-2.wav`));
    const p1 = c1.play({ kind: 'tone', frequencies: [500], durationMs: 1200 });
    const p2 = c2.play({ kind: 'tone', frequencies: [1500], durationMs: 1200 });
    await Promise.all([p1.done, p2.done]);
    await sleep(100);
    const [o1, o2] = await Promise.all([r1.stop(), r2.stop()]);
    const s1 = recorded(o1.path, 900);
    const s2 = recorded(o2.path, 900);
    assert.ok(toneRatio(s1, 8000, 1500) > 0.7, `caller 1 hears 1500 Hz: share ${toneRatio(s1, 8000, 1500).toFixed(2)}`);
    assert.ok(toneRatio(s1, 8000, 500) < 0.05, `caller 1 does not hear itself: 500 Hz share ${toneRatio(s1, 8000, 500).toFixed(3)}`);
    assert.ok(toneRatio(s2, 8000, 500) > 0.7, `caller 2 hears 500 Hz: share ${toneRatio(s2, 8000, 500).toFixed(2)}`);
    assert.ok(toneRatio(s2, 8000, 1500) < 0.05, `caller 2 does not hear itself: 1500 Hz share ${toneRatio(s2, 8000, 1500).toFixed(3)}`);
    const st = br.stats();
    assert.ok(st.aToB > 40 && st.bToA > 40, JSON.stringify(st));

    // A call ending stops the bridge; both call actors hear MEDIA.STOPPED.
    c1.hangup();
    await b1.waitForEnd();
    await eventually(() => !br.active, 2000, 'bridge stopped after a call ended');
    assert.equal(b2.actor.getSnapshot().context.media, 'stopped');
    c2.hangup();
    await b2.waitForEnd();
    await stopEngine(a1);
    await stopEngine(a2);
    await stopEngine(b);
  });
}

test('call.media follows the codec the answer chose; call.stats() shows packets and a MOS on a clean loopback call', async () => {
  const b = await start({
    sip: { codecs: ['PCMA'] },
    onIncomingCall: (call) => {
      startEcho(call.media!);
      return { action: 'accept' };
    },
  });
  const a = await start(); // offers PCMU, PCMA: its session starts as PCMU and switches on the answer
  const call = await a.call(uri(b, 'stats'));
  assert.ok(call.media, 'a SIP call has a media leg from the start');
  await answered(call);
  assert.equal(call.media!.payload!.codec, 'PCMA');
  await call.play({ kind: 'tone', frequencies: [1000], durationMs: 1000 }).done;
  await sleep(100);
  const st = rtpStats(call);
  assert.equal(st.codec, 'PCMA');
  assert.ok(st.packetsSent >= 45, `packets sent ${st.packetsSent}`);
  assert.ok(st.receive.packetsReceived >= 40, `packets received ${st.receive.packetsReceived}`);
  assert.equal(st.receive.cumulativeLost <= 0, true, `lost ${st.receive.cumulativeLost}`);
  assert.ok(st.mos > 4, `MOS ${st.mos}`);
  call.hangup();
  await call.waitForEnd();
  assert.ok(call.media!.closed, 'the media leg closes with the call');
  assert.equal(rtpStats(call).packetsSent, st.packetsSent, 'stats stay readable (frozen) after the call ended');
  const late = await call.play({ kind: 'silence', durationMs: 100 }).done;
  assert.equal(late.played, 0, 'playing into an ended call plays nothing');
  await stopEngine(a);
  await stopEngine(b);
});

test('a recording running when the call ends is finalised (leg-closed) with a valid header', async () => {
  const b = await start({
    onIncomingCall: (call) => {
      call.play({ kind: 'tone', frequencies: [700], durationMs: 5000 });
      return { action: 'accept' };
    },
  });
  const a = await start();
  const call = await a.call(uri(b, 'drop'));
  await answered(call);
  const rec = call.record(join(dir, 'dropped.wav'));
  await sleep(600);
  call.hangup();
  const out = await rec.done;
  assert.equal(out.reason, 'leg-closed');
  const s = recorded(out.path, 300);
  assert.ok(toneRatio(s, 8000, 700) > 0.8);
  await stopEngine(a);
  await stopEngine(b);
});

test('examples/ivr-prompt-digits.ts: prompt, digits 4 2 # over RFC 4733, read back as DTMF tones, hang up', async () => {
  const proc = spawn(process.execPath, ['--import', 'tsx', 'examples/ivr-prompt-digits.ts'], {
    env: { ...process.env, SIP_PORT: '0', RTP_PORTS: '34900-34949', IVR_DIGIT_TIMEOUT_MS: '4000' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  proc.stdout!.on('data', (d) => (out += d));
  proc.stderr!.on('data', (d) => (out += d));
  const exited = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));
  try {
    await eventually(() => /"sipPort":\d+/.test(out), 15_000, `example to start: ${out}`);
    const port = Number(/"sipPort":(\d+)/.exec(out)![1]);
    const a = await start();
    const call = await a.call(`sip:ivr@127.0.0.1:${port}`);
    await answered(call);
    const rec = call.record(join(dir, 'ivr.wav'));
    await sleep(400); // into the prompt
    call.sendDtmf('42#');
    const end = await call.waitForEnd();
    assert.equal(end.reason, 'remote-hangup', JSON.stringify(end));
    const o = await rec.done;
    const s = recorded(o.path, 800);
    await eventually(() => /"digits":"42"/.test(out), 2000, `example logs the digits: ${out}`);
    assert.match(out, /"end":"#"/);
    // Find the read-back: 40 ms windows where a digit's two frequencies carry most of the energy.
    const firstWindow = (digit: string): number => {
      const [lo, hi] = DTMF_FREQUENCIES[digit]!;
      for (let i = 0; i + 320 <= s.length; i += 160) {
        const w = s.subarray(i, i + 320);
        if (toneRatio(w, 8000, lo) > 0.3 && toneRatio(w, 8000, hi) > 0.3) return i;
      }
      return -1;
    };
    const at4 = firstWindow('4');
    const at2 = firstWindow('2');
    assert.ok(at4 >= 0, 'the read-back holds DTMF 4 (770 + 1209 Hz)');
    assert.ok(at2 > at4, `then DTMF 2 (697 + 1336 Hz): 4 at ${at4 / 8} ms, 2 at ${at2 / 8} ms`);
    assert.ok(toneRatio(s.subarray(0, 2400), 8000, 660) > 0.2, 'the prompt (660 Hz beep) was heard first');
    await stopEngine(a);
  } finally {
    proc.kill('SIGTERM');
    await exited;
  }
});
