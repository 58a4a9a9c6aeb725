// Media with SIPp: SIPp plays real captured G.711 A-law + RFC 2833 DTMF into callchart, which records
// the call; and SIPp echoes (-rtp_echo) what callchart plays, so callchart's RTP statistics and its
// recording show its own prompt coming back.
// Needs `sipp` (apt-get install sip-tester) and root/CAP_NET_RAW for pcap play. Run: npm run test:interop.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { runSipp, describeSipp, scenarioPath, requireSipp, type SippResult } from './helpers/sipp.js';
import { startEngine, within, type TestEngine, type CallRecord } from './helpers/engine.js';
import { parseWav, readWavFile, meanSquare, toneRatio, encodeWav, generateTone } from '../../src/media/index.js';
import type { RecordingHandle } from '../../src/media/runtimes/recording.js';
import { rtpStats } from '../helpers/call-stats.js';

before(() => {
  requireSipp();
});

const dir = mkdtempSync(path.join(tmpdir(), 'callchart-media-sipp-'));
let current: TestEngine | undefined;
after(async () => {
  await current?.close();
  rmSync(dir, { recursive: true, force: true });
});

function assertAllOk(r: SippResult): void {
  const why = describeSipp(r);
  assert.equal(r.exitCode, 0, why);
  assert.ok(r.stats, why);
  assert.equal(r.stats.failedCalls, 0, why);
  assert.equal(r.stats.successfulCalls, 1, why);
}

const ended = (rec: CallRecord, ms = 10_000) => within(rec.end, ms, `callchart call ${rec.call.id} to end (states: ${rec.states.join(' > ')})`);

test('SIPp plays g711a.pcap + RFC 2833 "1": callchart records the call to a valid WAV of ~7 s and reports dtmf 1 (rfc4733)', { timeout: 60_000 }, async () => {
  const wav = path.join(dir, 'pcap-call.wav');
  let recording: RecordingHandle | undefined;
  const e = await startEngine({
    decide: (rec) => {
      recording = rec.call.record(wav);
      return { action: 'accept' };
    },
  });
  current = e;
  try {
    const r = await runSipp({ scenario: scenarioPath('uac-pcap-g711a-dtmf'), remote: `127.0.0.1:${e.sipPort}`, timeoutMs: 30_000 });
    assertAllOk(r);
    const rec = e.incoming[0]!;
    await ended(rec);
    assert.equal(rtpStats(rec.call).codec, 'PCMA');
    assert.deepEqual(rec.dtmf, [{ digit: '1', source: 'rfc4733' }], `dtmf seen: ${JSON.stringify(rec.dtmf)}`);
    const out = await within(recording!.done, 5000, 'recording to be final');
    assert.equal(out.reason, 'leg-closed', JSON.stringify(out));
    const info = parseWav(readFileSync(wav));
    assert.equal(info.format, 1, 'PCM');
    assert.equal(info.sampleRate, 8000);
    assert.equal(info.channels, 1);
    assert.equal(info.bitsPerSample, 16);
    // g711a.pcap: 236 packets of 240 samples = 56 640 samples = 7.08 s.
    const samples = readWavFile(wav);
    const ms = samples.length / 8;
    assert.ok(ms > 6500 && ms < 7600, `recorded ${ms} ms of audio, expected ≈ 7080 ms`);
    assert.equal(out.durationMs, Math.round(ms));
    const rms = Math.sqrt(meanSquare(samples));
    assert.ok(rms > 200, `recording is not silence: RMS ${rms.toFixed(0)}`);
    // RTP stats restart when the source changes: dtmf_2833_1.pcap has its own SSRC, so what is
    // left at the end are the DTMF event packets.
    assert.ok(rtpStats(rec.call).receive.packetsReceived > 0, JSON.stringify(rtpStats(rec.call).receive));
  } finally {
    current = undefined;
    await e.close();
  }
});

test('SIPp -rtp_echo: callchart plays a WAV, SIPp echoes it, the call runs its course and callchart receives its prompt back', { timeout: 60_000 }, async () => {
  // A 16 kHz prompt (resampled to 8 kHz when loaded): 3 s of 800 Hz.
  const prompt = path.join(dir, 'prompt-800.wav');
  writeFileSync(prompt, encodeWav(generateTone([800], 3000, { sampleRate: 16000, amplitude: 9000 }), { sampleRate: 16000 }));
  const heard = path.join(dir, 'echoed.wav');
  let recording: RecordingHandle | undefined;
  const e = await startEngine({
    decide: (rec) => {
      rec.call.play(prompt);
      recording = rec.call.record(heard);
      return { action: 'accept' };
    },
  });
  current = e;
  try {
    const r = await runSipp({ scenario: scenarioPath('media-uac-rtp-echo'), remote: `127.0.0.1:${e.sipPort}`, extraArgs: ['-rtp_echo'], timeoutMs: 30_000 });
    assertAllOk(r);
    const rec = e.incoming[0]!;
    const end = await ended(rec);
    assert.equal(end.reason, 'remote-hangup');
    const st = rtpStats(rec.call);
    assert.ok(st.packetsSent > 100, `callchart sent ${st.packetsSent} packets`);
    assert.ok(st.receive.packetsReceived > 0, `RTP came back: ${JSON.stringify(st.receive)}`);
    assert.ok(st.receive.packetsReceived > st.packetsSent * 0.8, `most of it came back: sent ${st.packetsSent}, received ${st.receive.packetsReceived}`);
    assert.ok(st.mos > 3.5, `MOS ${st.mos}`);
    const out = await within(recording!.done, 5000, 'recording to be final');
    const samples = readWavFile(out.path);
    assert.ok(samples.length > 2 * 8000, `echo recorded for ${samples.length / 8} ms`);
    assert.ok(toneRatio(samples, 8000, 800) > 0.8, `what came back is the 800 Hz prompt: share ${toneRatio(samples, 8000, 800).toFixed(2)}`);
  } finally {
    current = undefined;
    await e.close();
  }
});
