// A call player kept to some principals (engine.attachPlayer(call, { principals })): with
// authentication on, only they see it in CONNECTIONS (and AUDIO_ZONE_WITH_SESSIONS: the unit test
// test/unit/playback-views.test.ts), only their
// sessions play into it, and another principal naming it as a target is refused as if it did not
// exist. One engine calls another over SIP on loopback; what the caller hears is measured by
// frequency (track 1 is 700 Hz).
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Call } from '../../src/index.js';
import { mintToken } from '../../src/http/auth.js';
import { encodeWav, generateTone, toneRatio } from '../../src/media/index.js';
import { loopbackEngines } from '../helpers/loopback-engines.js';
import { MoosicBoxClient } from '../helpers/moosicbox-client.js';
import { sleep, waitFor } from '../helpers/wait.js';

const SECRET = 'playback-player-principals-secret';
const dir = mkdtempSync(path.join(tmpdir(), 'callchart-player-principals-'));
// Fixed RTP ports of the loopback helper's range (47100-47199): 47150-47169 here.
const engines = loopbackEngines(47150, 10);
after(async () => {
  await engines.closeAll();
  rmSync(dir, { recursive: true, force: true });
});
before(() => writeFileSync(path.join(dir, '1.wav'), encodeWav(generateTone([700], 3000, { amplitude: 12_000 }))));

/** Frames the caller hears, with arrival times. */
function listen(call: Call): (since: number) => Int16Array {
  const frames: Array<{ t: number; pcm: Int16Array }> = [];
  call.media!.onAudio((f) => frames.push({ t: Date.now(), pcm: Int16Array.from(f) }));
  return (t0) => {
    const got = frames.filter((f) => f.t >= t0);
    const out = new Int16Array(got.length * 160);
    got.forEach((f, i) => out.set(f.pcm.subarray(0, 160), i * 160));
    return out;
  };
}
const hears700 = (pcm: Int16Array) => pcm.length >= 1600 && toneRatio(pcm, 8000, 700) > 0.5;

test('a player kept to alice: mallory neither sees it nor plays into it, directly or through a shared zone', { timeout: 30_000 }, async () => {
  const callee = await engines.start({ playback: { tracks: { dir } }, security: { auth: { secret: SECRET } }, onIncomingCall: () => ({ action: 'accept' }) });
  const callerEngine = await engines.start();
  const inboundP = new Promise<Call>((resolve) => callee.once('call', (c) => c.once('answered', () => resolve(c))));
  const caller = await callerEngine.call(`sip:moh@127.0.0.1:${callee.sipPort}`);
  const inbound = await inboundP;
  await waitFor(() => caller.isActive, 'caller sees the answer');
  const heard = listen(caller);
  assert.throws(() => callee.attachPlayer(inbound, { principals: [''] }), /principals must be a list of non-empty strings/);
  const player = callee.attachPlayer(inbound, { zone: 'hold', principals: ['alice'] });
  const alice = await MoosicBoxClient.connect(callee.wsPort, 'alice', mintToken(SECRET, { sub: 'alice' }));
  const mallory = await MoosicBoxClient.connect(callee.wsPort, 'mallory', mintToken(SECRET, { sub: 'mallory' }));
  try {
    // Visibility: alice sees the engine's player, mallory does not see the engine's connection.
    assert.ok((await alice.playersOf('callchart')).some((p) => p.audioOutputId === player.audioOutputId));
    const seen = (await mallory.ws.json('CONNECTIONS')).payload as Array<{ connectionId: string }>;
    assert.ok(!seen.some((c) => c.connectionId === 'callchart'), `mallory's CONNECTIONS: ${JSON.stringify(seen)}`);

    // Naming it directly: refused as if it did not exist, and nothing plays.
    const ms = await mallory.createSession('mallory music', [1]);
    for (const target of [
      { type: 'CONNECTION_OUTPUT' as const, connectionId: 'callchart', outputId: player.audioOutputId },
      { type: 'CALL_LEG' as const, callId: inbound.id },
    ]) {
      mallory.update(ms, target, { play: true });
      const err = await mallory.ws.json('ERROR');
      assert.equal(err.payload?.code ?? err.code, 'NOT_FOUND', JSON.stringify(err));
      assert.match(JSON.stringify(err), new RegExp(`no player ${player.audioOutputId}`));
    }

    // Through the zone (unowned, so mallory may target it): accepted, but the player does not play
    // mallory's session.
    const zone = { type: 'AUDIO_ZONE' as const, audioZoneId: player.audioZoneId! };
    let t = Date.now();
    mallory.update(ms, zone, { play: true });
    await sleep(800);
    const during = heard(t + 100);
    assert.ok(!hears700(during), `mallory's session does not reach the caller (700 Hz share ${toneRatio(during, 8000, 700).toFixed(2)})`);
    assert.notEqual(player.stream?.state, 'active.playing');

    // alice's session through the same zone plays (SESSIONS frames queued before it dropped first).
    alice.ws.discard();
    const as = await alice.createSession('alice music', [1]);
    t = Date.now();
    alice.update(as, zone, { play: true });
    await sleep(900);
    const got = heard(t + 200);
    assert.ok(hears700(got), `alice's session reaches the caller (700 Hz share ${toneRatio(got, 8000, 700).toFixed(2)}, ${got.length / 8} ms)`);
  } finally {
    alice.close();
    mallory.close();
    caller.hangup();
  }
  await waitFor(() => inbound.isEnded, 'the callee call ends');
});
