// Media with baresip: what callchart plays and bridges is checked where a real softphone heard it.
// baresip records its calls with the sndfile module (`dump-*-dec.wav` = what it heard), and the
// test measures the frequencies in that file. Each baresip sends its own ausine tone, at a
// frequency different from what it should hear, so "hears itself" cannot pass for "hears us".
// Needs `baresip` (apt-get install baresip-core). Run: npm run test:interop.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { heardBy, withDiagnostics, assertHearEachOther } from './helpers/baresip-audio.js';
import { startBaresip, requireBaresip } from './helpers/baresip.js';
import { startEngine, eventually, within, type TestEngine } from './helpers/engine.js';
import { sleep } from './helpers/procs.js';
import { toneRatio } from '../../src/media/index.js';
import { rtpStats } from '../helpers/call-stats.js';

before(() => {
  requireBaresip();
});

const root = mkdtempSync(path.join(tmpdir(), 'callchart-media-baresip-'));
after(() => rmSync(root, { recursive: true, force: true }));

test('baresip calls callchart; callchart plays 440 Hz; baresip\'s recording holds 440 Hz, not its own 1 kHz', { timeout: 60_000 }, async () => {
  const bob = await startBaresip({ sineHz: 1000, recordTo: path.join(root, 'bob'), timeoutMs: 60_000 });
  let e: TestEngine | undefined;
  try {
    e = await startEngine({ rtpPorts: '30000-30099' });
    const dialed = await bob.dial(`sip:tone@127.0.0.1:${e.sipPort}`);
    assert.ok(dialed.ok, dialed.data);
    const rec = await e.nthIncoming(0);
    await eventually(() => rec.call.isActive, 5000, 'callchart answered');
    await bob.waitFor((ev) => ev.type === 'CALL_ESTABLISHED', 10_000, 'CALL_ESTABLISHED');
    const out = await within(rec.call.play({ kind: 'tone', frequencies: [440], durationMs: 2500, amplitude: 10_000 }).done, 10_000, 'tone to finish');
    assert.equal(out.played, 1);
    await bob.hangup();
    await bob.waitFor((ev) => ev.type === 'CALL_CLOSED', 5000, 'CALL_CLOSED');
    await within(rec.end, 5000, 'callchart call to end');
    const heard = await heardBy(bob);
    const r440 = toneRatio(heard, 8000, 440);
    const r1k = toneRatio(heard, 8000, 1000);
    assert.ok(r440 > 0.5, `baresip heard 440 Hz: share ${r440.toFixed(2)} over ${heard.length / 8} ms`);
    assert.ok(r1k < 0.05, `baresip did not hear its own 1 kHz: share ${r1k.toFixed(3)}`);
    assert.ok(rtpStats(rec.call).packetsSent > 100);
  } catch (err) {
    withDiagnostics(err, [bob]);
  } finally {
    await e?.close();
    await bob.stop();
  }
});

test('bridge: baresip A (500 Hz) calls callchart, callchart dials baresip B (1500 Hz, PCMA only) and bridges them; each hears the other', { timeout: 60_000 }, async () => {
  const alice = await startBaresip({ user: 'alice', sineHz: 500, recordTo: path.join(root, 'alice'), timeoutMs: 60_000 });
  const bob = await startBaresip({ user: 'bob', sineHz: 1500, codecs: ['PCMA'], recordTo: path.join(root, 'bob-bridge'), timeoutMs: 60_000 });
  let e: TestEngine | undefined;
  try {
    e = await startEngine({ rtpPorts: '30100-30199' });
    const dialed = await alice.dial(`sip:bob@127.0.0.1:${e.sipPort}`);
    assert.ok(dialed.ok, dialed.data);
    const inbound = await e.nthIncoming(0);
    await eventually(() => inbound.call.isActive, 5000, 'callchart answered alice');
    const outbound = await e.dial(bob.uri, { from: 'sip:callchart@127.0.0.1' });
    await eventually(() => outbound.call.isActive, 10_000, `bob answered (states: ${outbound.states.join(' > ')})`);
    // Whoever hangs up, the other leg follows.
    inbound.call.once('ended', () => outbound.call.hangup('peer hung up'));
    outbound.call.once('ended', () => inbound.call.hangup('peer hung up'));

    const br = e.engine.bridge(inbound.call, outbound.call);
    assert.equal(br.stats().mode, 'pcm', 'PCMU (alice) ↔ PCMA (bob) is transcoded');
    assert.equal(inbound.call.actor.getSnapshot().context.media, 'started');
    await sleep(2500);
    const st = br.stats();
    assert.ok(st.aToB > 50 && st.bToA > 50, JSON.stringify(st));
    await alice.hangup();
    await alice.waitFor((ev) => ev.type === 'CALL_CLOSED', 5000, 'alice CALL_CLOSED');
    await bob.waitFor((ev) => ev.type === 'CALL_CLOSED', 5000, 'bob CALL_CLOSED (callchart hung up the other leg)');
    await within(outbound.end, 5000, 'outbound call to end');
    assert.equal(br.active, false);

    await assertHearEachOther(alice, bob);
  } catch (err) {
    withDiagnostics(err, [alice, bob]);
  } finally {
    await e?.close();
    await alice.stop();
    await bob.stop();
  }
});
