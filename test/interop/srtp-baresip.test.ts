// SRTP with baresip's srtp module (SDES, RFC 4568): baresip calls callchart and callchart calls
// baresip, each with SRTP required on both sides, and the audio is checked by frequency in what
// baresip recorded (sndfile `dump-*-dec.wav`, written after baresip decrypted it). The engine's
// RTP stats show the suite and that nothing failed authentication.
// Needs `baresip` with /usr/lib/baresip/modules/srtp.so. Run: npm run test:interop.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { heardBy, withDiagnostics } from './helpers/baresip-audio.js';
import { startBaresip, requireBaresip, BARESIP_MODULE_PATH } from './helpers/baresip.js';
import { startEngine, eventually, within, type TestEngine } from './helpers/engine.js';
import { toneRatio } from '../../src/media/index.js';
import { startEcho } from '../../src/media/mixing/echo.js';

before(() => {
  requireBaresip();
  if (!existsSync(path.join(BARESIP_MODULE_PATH, 'srtp.so'))) throw new Error(`baresip's srtp module is missing (${BARESIP_MODULE_PATH}/srtp.so)`);
});

const root = mkdtempSync(path.join(tmpdir(), 'callchart-srtp-baresip-'));
after(() => rmSync(root, { recursive: true, force: true }));

type SrtpStats = { srtp: { suite: string; authFailed: number; replayed: number; malformed: number } | null; packetsSent: number; receive: { packetsReceived: number } };

test('baresip (srtp-mand, RTP/SAVP) calls callchart (srtp required) which echoes: baresip hears its own 1 kHz back, decrypted', { timeout: 60_000 }, async () => {
  const bob = await startBaresip({ sineHz: 1000, mediaenc: 'srtp-mand', recordTo: path.join(root, 'bob-echo'), timeoutMs: 60_000 });
  let e: TestEngine | undefined;
  try {
    e = await startEngine({
      rtpPorts: '30600-30699',
      srtp: 'required',
      decide: (rec) => {
        startEcho(rec.call.media!);
        return { action: 'accept' };
      },
    });
    const dialed = await bob.dial(`sip:echo@127.0.0.1:${e.sipPort}`);
    assert.ok(dialed.ok, dialed.data);
    const rec = await e.nthIncoming(0);
    await eventually(() => rec.call.isActive, 5000, 'callchart answered');
    await bob.waitFor((ev) => ev.type === 'CALL_ESTABLISHED', 10_000, 'CALL_ESTABLISHED');
    await new Promise((r) => setTimeout(r, 2500));
    const st = rec.call.stats() as unknown as SrtpStats;
    await bob.hangup();
    await bob.waitFor((ev) => ev.type === 'CALL_CLOSED', 5000, 'CALL_CLOSED');
    await within(rec.end, 5000, 'callchart call to end');
    assert.ok(st.srtp, `SRTP in use: ${JSON.stringify(st)}`);
    assert.match(st.srtp.suite, /^AES_CM_128_HMAC_SHA1_(80|32)$/);
    // baresip (libre) sends one RTCP APP 'PINGPONG' in the clear at the start: dropped, counted.
    assert.equal(st.srtp.authFailed, 0, `baresip's SRTP authenticated (${JSON.stringify(st.srtp)})`);
    assert.ok(st.packetsSent > 50, `echoed ${st.packetsSent} packets`);
    const heard = await heardBy(bob);
    const r1k = toneRatio(heard, 8000, 1000);
    assert.ok(r1k > 0.5, `baresip heard its 1 kHz echoed: share ${r1k.toFixed(2)} over ${heard.length / 8} ms`);
  } catch (err) {
    withDiagnostics(err, [bob]);
  } finally {
    await e?.close();
    await bob.stop();
  }
});

test('callchart (srtp required, RTP/SAVP offer) calls baresip (srtp-mand) and plays 440 Hz; baresip hears 440 Hz, not its own 1500 Hz', { timeout: 60_000 }, async () => {
  const bob = await startBaresip({ sineHz: 1500, mediaenc: 'srtp-mand', recordTo: path.join(root, 'bob-tone'), timeoutMs: 60_000 });
  let e: TestEngine | undefined;
  try {
    e = await startEngine({ rtpPorts: '30700-30799', srtp: 'required' });
    const out = await e.dial(bob.uri, { from: 'sip:callchart@127.0.0.1' });
    await eventually(() => out.call.isActive, 10_000, `bob answered (states: ${out.states.join(' > ')})`);
    const played = await within(out.call.play({ kind: 'tone', frequencies: [440], durationMs: 2500, amplitude: 10_000 }).done, 10_000, 'tone to finish');
    assert.equal(played.played, 1);
    const st = out.call.stats() as unknown as SrtpStats;
    out.call.hangup();
    await bob.waitFor((ev) => ev.type === 'CALL_CLOSED', 5000, 'CALL_CLOSED');
    await within(out.end, 5000, 'callchart call to end');
    assert.ok(st.srtp, `SRTP in use: ${JSON.stringify(st)}`);
    assert.equal(st.srtp.authFailed, 0, `baresip's SRTP authenticated (${JSON.stringify(st.srtp)})`);
    assert.ok(st.receive.packetsReceived > 50, `SRTP from baresip received: ${JSON.stringify(st.receive)}`);
    const heard = await heardBy(bob);
    const r440 = toneRatio(heard, 8000, 440);
    const r1500 = toneRatio(heard, 8000, 1500);
    assert.ok(r440 > 0.5, `baresip heard 440 Hz: share ${r440.toFixed(2)} over ${heard.length / 8} ms`);
    assert.ok(r1500 < 0.05, `baresip did not hear its own 1500 Hz: share ${r1500.toFixed(3)}`);
  } catch (err) {
    withDiagnostics(err, [bob]);
  } finally {
    await e?.close();
    await bob.stop();
  }
});
