// A real SIP peer's call streamed to a Twilio-format bot: SIPp calls callchart, callchart streams
// the call (call.stream) to the bot simulator written from Twilio's docs (test/helpers/twilio-bot-sim.ts).
// With -rtp_echo SIPp sends back every RTP packet it gets, so what the bot says reaches the caller
// and comes back to the bot as the caller's audio: checked by frequency. With g711a.pcap SIPp plays
// a real A-law capture and an RFC 2833 "1", which the bot receives as μ-law media and a dtmf message.
// Needs `sipp`, and root/CAP_NET_RAW for pcap play. Run: npm run test:interop.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { runSipp, describeSipp, scenarioPath, requireSipp, type SippResult } from './helpers/sipp.js';
import { startEngine, within, eventually } from './helpers/engine.js';
import { toneRatio, meanSquare } from '../../src/media/index.js';
import type { MediaStream } from '../../src/index.js';
import { TwilioBotSim, sine } from '../helpers/twilio-bot-sim.js';

before(() => {
  requireSipp();
});

let bot: TwilioBotSim;
after(async () => bot?.close());

function assertAllOk(r: SippResult): void {
  const why = describeSipp(r);
  assert.equal(r.exitCode, 0, why);
  assert.equal(r.stats?.successfulCalls, 1, why);
  assert.equal(r.stats?.failedCalls, 0, why);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('SIPp -rtp_echo call streamed to the bot: the caller hears the bot (it comes back 900 Hz), marks follow the audio, clear silences it', { timeout: 60_000 }, async () => {
  bot ??= await TwilioBotSim.start();
  let stream: MediaStream | undefined;
  const e = await startEngine({
    decide: (rec) => {
      rec.call.once('answered', () => (stream = rec.call.stream(bot.url)));
      return { action: 'accept' };
    },
  });
  try {
    const started = bot.nextStarted();
    const sipp = runSipp({ scenario: scenarioPath('media-uac-rtp-echo-6s'), remote: `127.0.0.1:${e.sipPort}`, extraArgs: ['-rtp_echo'], timeoutMs: 30_000 });
    const conn = await within(started, 10_000, 'the stream to start');
    // 1 s of 900 Hz at once, then a mark: played at speech speed, echoed by SIPp, back at the bot.
    conn.sendAudio(sine(900, 1000));
    conn.mark('first');
    const t0 = performance.now();
    const name = await new Promise<string>((r) => conn.once('mark', (n) => r(n)));
    assert.equal(name, 'first');
    assert.ok(performance.now() - t0 >= 900, `mark after ${(performance.now() - t0).toFixed(0)} ms`);
    await sleep(200);
    const back = Int16Array.from(conn.inbound.slice(-8000));
    assert.ok(toneRatio(back, 8000, 900) > 0.5, `900 Hz share of what came back from the caller ${toneRatio(back, 8000, 900).toFixed(2)}`);
    // Barge-in: 3 s queued, cleared after 0.5 s. The caller's echo of the tone stops: beyond the
    // frames already in flight on the loop (a few, on loopback), nothing of it comes back.
    conn.sendAudio(sine(900, 3000));
    await sleep(500);
    const atClear = conn.inbound.length;
    conn.clear();
    await sleep(500);
    const inFlight = 4 * 160;
    const later = Int16Array.from(conn.inbound.slice(atClear + inFlight));
    assert.ok(later.length === 0 || Math.sqrt(meanSquare(later)) < 300, `after clear the tone went on: ${later.length} samples, RMS ${Math.sqrt(meanSquare(later)).toFixed(0)}`);
    assert.ok(conn.inbound.length - atClear <= inFlight, `${conn.inbound.length - atClear} samples of the tone came back after clear`);
    assert.ok(stream!.stats.clearedBytes > 8000 * 2, `cleared ${stream!.stats.clearedBytes} bytes`);
    assertAllOk(await sipp);
    await eventually(() => conn.closed !== undefined, 5000, 'the bot socket to close');
    assert.equal(conn.messages.at(-1)!.event, 'stop');
    assert.equal((await stream!.done).reason, 'call-ended');
    assert.deepEqual(conn.problems, []);
  } finally {
    await e.close();
  }
});

test('SIPp plays g711a.pcap + RFC 2833 "1" into a streamed call: the bot gets ~7 s of μ-law media and a dtmf 1', { timeout: 60_000 }, async () => {
  bot ??= await TwilioBotSim.start();
  const e = await startEngine({
    decide: (rec) => {
      rec.call.once('answered', () => rec.call.stream(bot.url, { customParameters: { from: 'sipp' } }));
      return { action: 'accept' };
    },
  });
  try {
    const started = bot.nextStarted();
    const r = await runSipp({ scenario: scenarioPath('uac-pcap-g711a-dtmf'), remote: `127.0.0.1:${e.sipPort}`, timeoutMs: 30_000 });
    assertAllOk(r);
    const conn = await within(started, 5000, 'the stream to start');
    await eventually(() => conn.closed !== undefined, 5000, 'the bot socket to close');
    assert.deepEqual(conn.start!.customParameters, { from: 'sipp' });
    const ms = conn.inbound.length / 8;
    assert.ok(ms > 6000 && ms < 7800, `the bot got ${ms} ms of the caller's audio, expected ≈ 7080 ms`);
    assert.ok(Math.sqrt(meanSquare(Int16Array.from(conn.inbound))) > 200, 'not silence');
    const dtmf = conn.messages.filter((m) => m.event === 'dtmf').map((m) => (m.dtmf as { digit: string }).digit);
    assert.deepEqual(dtmf, ['1']);
    assert.deepEqual(conn.problems, []);
  } finally {
    await e.close();
  }
});
