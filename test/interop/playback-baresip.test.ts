// Issue 17 must-hold: a MoosicBox client plays a WAV into a live call. baresip calls callchart;
// the call is attached as a MoosicBox player (engine.attachPlayer); a MoosicBox client written
// from the protocol (test/helpers/moosicbox-client.ts) finds the player in CONNECTIONS, creates a
// session of two generated WAV tracks (700 Hz, 1100 Hz), plays track 1, pauses, then plays track 2.
// What baresip heard (its sndfile recording) is measured: 700 Hz for about as long as the session
// played it (the pause stopped it; a pause that did not would give ~1.8 s more), then 1100 Hz,
// and never baresip's own 1 kHz.
// Needs `baresip` (apt-get install baresip-core). Run: npm run test:interop.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { heardBy, withDiagnostics } from './helpers/baresip-audio.js';
import { startBaresip, requireBaresip } from './helpers/baresip.js';
import { startEngine, eventually, within, type TestEngine } from './helpers/engine.js';
import { sleep } from './helpers/procs.js';
import { encodeWav, generateTone, toneRatio } from '../../src/media/index.js';
import { MoosicBoxClient } from '../helpers/moosicbox-client.js';

before(() => {
  requireBaresip();
});

const root = mkdtempSync(path.join(tmpdir(), 'callchart-playback-baresip-'));
after(() => rmSync(root, { recursive: true, force: true }));

/** Milliseconds of `samples` (8 kHz) in 100 ms windows where `hz` carries most of the energy. */
function msOfTone(samples: Int16Array, hz: number): number {
  let ms = 0;
  for (let i = 0; i + 800 <= samples.length; i += 800) if (toneRatio(samples.subarray(i, i + 800), 8000, hz) > 0.5) ms += 100;
  return ms;
}

test('a MoosicBox client plays a WAV into a live baresip call; pause stops it; the next track follows', { timeout: 60_000 }, async () => {
  writeFileSync(path.join(root, '1.wav'), encodeWav(generateTone([700], 10_000, { amplitude: 12_000 })));
  writeFileSync(path.join(root, '2.wav'), encodeWav(generateTone([1100], 5_000, { amplitude: 12_000 })));
  const bob = await startBaresip({ sineHz: 1000, recordTo: path.join(root, 'bob'), timeoutMs: 60_000 });
  let e: TestEngine | undefined;
  let mb: MoosicBoxClient | undefined;
  try {
    // Fixed RTP ports of this helper's range (47100-47199): 47150-47199 here.
    e = await startEngine({ rtpPorts: '47150-47199', playback: { tracks: { dir: root } } });
    const dialed = await bob.dial(`sip:moh@127.0.0.1:${e.sipPort}`);
    assert.ok(dialed.ok, dialed.data);
    const rec = await e.nthIncoming(0);
    await eventually(() => rec.call.isActive, 5000, 'callchart answered');
    await bob.waitFor((ev) => ev.type === 'CALL_ESTABLISHED', 10_000, 'CALL_ESTABLISHED');
    const player = e.engine.attachPlayer(rec.call, { name: 'baresip on hold', zone: 'hold' });

    mb = await MoosicBoxClient.connect(e.engine.wsPort);
    const players = await mb.playersOf('callchart');
    const p = players.find((x) => x.name === 'baresip on hold');
    assert.ok(p, `the call is listed as a player: ${JSON.stringify(players)}`);
    const target = { type: 'CONNECTION_OUTPUT' as const, connectionId: 'callchart', outputId: p.audioOutputId };
    const sessionId = await mb.createSession('music on hold', [1, 2]);

    mb.update(sessionId, target, { play: true, position: 0, seek: 0 });
    await eventually(() => player.stream?.state === 'active.playing', 3000, 'the player plays track 1');
    await sleep(1500);
    mb.update(sessionId, target, { playing: false });
    await eventually(() => player.stream?.state === 'active.paused', 1000, 'the player pauses');
    await sleep(1800);
    mb.update(sessionId, target, { play: true, position: 1, seek: 0 });
    await eventually(() => player.stream?.state === 'active.playing', 3000, 'the player plays track 2');
    await sleep(1200);

    await bob.hangup();
    await bob.waitFor((ev) => ev.type === 'CALL_CLOSED', 5000, 'CALL_CLOSED');
    await within(rec.end, 5000, 'callchart call to end');
    const heard = await heardBy(bob);
    const ms700 = msOfTone(heard, 700);
    const ms1100 = msOfTone(heard, 1100);
    // Played 1.5 s of track 1; a pause that let it run on would add the 1.8 s of the pause.
    assert.ok(ms700 >= 1000 && ms700 <= 2200, `baresip heard track 1 (700 Hz) for ${ms700} ms (played ~1500 ms before the pause)`);
    assert.ok(ms1100 >= 700, `baresip heard track 2 (1100 Hz) for ${ms1100} ms after the pause`);
    const r1k = toneRatio(heard, 8000, 1000);
    assert.ok(r1k < 0.05, `baresip did not hear its own 1 kHz: share ${r1k.toFixed(3)}`);
    // 700 Hz comes before 1100 Hz: the first 1100 Hz window follows the last 700 Hz one.
    const first1100 = firstWindow(heard, 1100);
    const last700 = lastWindow(heard, 700);
    assert.ok(first1100 > last700, `track 2 after track 1 (700 Hz ends at window ${last700}, 1100 Hz starts at ${first1100})`);
    assert.equal(player.stream?.state ?? 'closed', 'closed', 'the call ending closed the player');
  } catch (err) {
    withDiagnostics(err, [bob]);
  } finally {
    mb?.close();
    await e?.close();
    await bob.stop();
  }
});

function firstWindow(s: Int16Array, hz: number): number {
  for (let i = 0, w = 0; i + 800 <= s.length; i += 800, w++) if (toneRatio(s.subarray(i, i + 800), 8000, hz) > 0.5) return w;
  return -1;
}

function lastWindow(s: Int16Array, hz: number): number {
  let last = -1;
  for (let i = 0, w = 0; i + 800 <= s.length; i += 800, w++) if (toneRatio(s.subarray(i, i + 800), 8000, hz) > 0.5) last = w;
  return last;
}
