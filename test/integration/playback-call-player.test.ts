// A call as a MoosicBox player: one engine calls another over SIP on loopback; the callee's call is
// attached as a player (engine.attachPlayer); a MoosicBox client (written from the protocol) finds
// it in CONNECTIONS, creates a session of two WAV tracks and plays, pauses, resumes, changes the
// volume of it. What the caller hears is measured by frequency (700 Hz track 1, 1100 Hz track 2).
// The baresip version is test/interop/playback-baresip.test.ts.
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Call, Engine, EngineOptions } from '../../src/index.js';
import { encodeWav, generateTone, meanSquare, toneRatio } from '../../src/media/index.js';
import { loopbackEngines } from '../helpers/loopback-engines.js';
import { MoosicBoxClient } from '../helpers/moosicbox-client.js';
import { TestClient } from '../helpers/ws-client.js';
import { sleep, waitFor } from '../helpers/wait.js';

const dir = mkdtempSync(path.join(tmpdir(), 'callchart-playback-player-'));
// Fixed RTP ports of this helper's range (47100-47199): 47100-47149 here.
const engines = loopbackEngines(47100, 25);
after(async () => {
  await engines.closeAll();
  rmSync(dir, { recursive: true, force: true });
});

before(() => {
  writeFileSync(path.join(dir, '1.wav'), encodeWav(generateTone([700], 3000, { amplitude: 12_000 })));
  writeFileSync(path.join(dir, '2.wav'), encodeWav(generateTone([1100], 800, { amplitude: 12_000 })));
});

/** What a call hears, frame by frame, with arrival times. */
function listen(call: Call): { frames: Array<{ t: number; pcm: Int16Array }>; since(t: number): Int16Array } {
  const frames: Array<{ t: number; pcm: Int16Array }> = [];
  call.media!.onAudio((f) => frames.push({ t: Date.now(), pcm: Int16Array.from(f) }));
  return {
    frames,
    since(t0) {
      const got = frames.filter((f) => f.t >= t0);
      const out = new Int16Array(got.length * 160);
      got.forEach((f, i) => out.set(f.pcm.subarray(0, 160), i * 160));
      return out;
    },
  };
}

async function callPair(extra: EngineOptions = {}): Promise<{ callee: Engine; caller: Call; inbound: Call }> {
  const callee = await engines.start({ playback: { tracks: { dir } }, onIncomingCall: () => ({ action: 'accept' }), ...extra });
  const caller = await engines.start();
  const inboundP = new Promise<Call>((resolve) => callee.once('call', (c) => c.once('answered', () => resolve(c))));
  const call = await caller.call(`sip:moh@127.0.0.1:${callee.sipPort}`);
  const inbound = await inboundP;
  await waitFor(() => call.isActive, 'caller sees the answer');
  return { callee, caller: call, inbound };
}

const hears = (pcm: Int16Array, hz: number) => pcm.length >= 1600 && toneRatio(pcm, 8000, hz) > 0.5;
const rms = (pcm: Int16Array) => Math.sqrt(meanSquare(pcm));

test('a MoosicBox client plays WAV tracks into a call: play, pause, resume, volume, next track, end of playlist', { timeout: 30_000 }, async () => {
  const { callee, caller, inbound } = await callPair();
  const heard = listen(caller);
  const player = callee.attachPlayer(inbound, { name: 'caller on hold' });
  assert.equal(player.audioOutputId, `call:${inbound.id}`);
  const mb = await MoosicBoxClient.connect(callee.wsPort);
  try {
    const players = await mb.playersOf('callchart');
    const p = players.find((x) => x.audioOutputId === player.audioOutputId);
    assert.ok(p, JSON.stringify(players));
    assert.equal(p.name, 'caller on hold');
    const target = { type: 'CONNECTION_OUTPUT' as const, connectionId: 'callchart', outputId: p.audioOutputId };
    const sessionId = await mb.createSession('hold music', [1, 2]);

    // Nothing plays before the session is played.
    await sleep(300);
    assert.equal(heard.frames.length, 0, 'silence (no audio) before play');

    let t = Date.now();
    mb.update(sessionId, target, { play: true, position: 0, seek: 0 });
    await sleep(900);
    const first = heard.since(t + 200);
    assert.ok(hears(first, 700), `the caller hears track 1 (700 Hz): share ${toneRatio(first, 8000, 700).toFixed(2)}, ${first.length / 8} ms`);
    assert.equal(player.stream?.state, 'active.playing');

    mb.update(sessionId, target, { playing: false });
    await sleep(150);
    t = Date.now();
    await sleep(600);
    const paused = heard.since(t);
    assert.ok(paused.length < 320 || toneRatio(paused, 8000, 700) < 0.1, `pause stops the track: ${paused.length / 8} ms heard while paused`);
    assert.equal(player.stream?.state, 'active.paused');

    mb.update(sessionId, target, { playing: true, volume: 0.25 });
    await sleep(150);
    t = Date.now();
    await sleep(500);
    const quiet = heard.since(t);
    assert.ok(hears(quiet, 700), 'resumed');
    const ratio = rms(quiet) / rms(first);
    assert.ok(ratio > 0.15 && ratio < 0.35, `volume 0.25 scales the audio: rms ratio ${ratio.toFixed(2)}`);

    // Seek near the end of track 1: the player moves the session on to track 2 (1100 Hz) and says so.
    mb.update(sessionId, target, { seek: 2.5, volume: 1 });
    const next = await mb.updated(sessionId, (u) => u.position === 1, 3000);
    assert.equal(next.seek, 0);
    t = Date.now();
    await sleep(500);
    const second = heard.since(t);
    assert.ok(hears(second, 1100), `track 2 (1100 Hz) follows: share ${toneRatio(second, 8000, 1100).toFixed(2)}`);
    // After the last track the session stops.
    const end = await mb.updated(sessionId, (u) => u.stop === true, 3000);
    assert.equal(end.playing, false);
    assert.equal(player.stream?.state, 'idle');
  } finally {
    mb.close();
    caller.hangup();
  }
  await waitFor(() => inbound.isEnded, 'the callee call ends');
  // The call's end detaches its player.
  const conns = (await fetchConnections(callee)).find((c) => c.connectionId === 'callchart');
  assert.equal(conns, undefined, 'no engine players left');
});

test('the player writes its position into the session: SESSION_UPDATED seek while playing and at a pause', { timeout: 20_000 }, async () => {
  const { callee, caller, inbound } = await callPair();
  const player = callee.attachPlayer(inbound);
  const mb = await MoosicBoxClient.connect(callee.wsPort);
  try {
    const target = { type: 'CONNECTION_OUTPUT' as const, connectionId: 'callchart', outputId: player.audioOutputId };
    const sessionId = await mb.createSession('progress', [1]);
    mb.update(sessionId, target, { play: true, position: 0, seek: 0 });
    // The 3 s track reports about once a second.
    const progress = await mb.updated(sessionId, (u) => typeof u.seek === 'number' && u.seek >= 0.9, 3000);
    assert.ok((progress.seek as number) < 2.5, `progress seek ${String(progress.seek)}`);
    await sleep(300);
    mb.update(sessionId, target, { playing: false });
    const paused = await mb.updated(sessionId, (u) => typeof u.seek === 'number' && (u.seek as number) > (progress.seek as number), 2000);
    const at = player.stream!.positionMs / 1000;
    assert.ok(Math.abs((paused.seek as number) - at) < 0.05, `the pause writes the exact position: ${String(paused.seek)} vs ${at}`);
    // A client that connects later sees where the track stands.
    const late = new TestClient(`ws://127.0.0.1:${callee.wsPort}/playback`);
    try {
      await late.opened();
      late.send({ type: 'GET_CONNECTION_ID' });
      const sessions = (await late.json('SESSIONS')).payload as Array<{ sessionId: number; seek: unknown }>;
      const s = sessions.find((x) => x.sessionId === sessionId);
      assert.ok(s && Math.abs((s.seek as number) - at) < 0.05, JSON.stringify(s));
    } finally {
      late.ws.close();
    }
    // A client seek is followed, not echoed back as a second update.
    let echoes = 0;
    mb.ws.ws.on('message', (raw: unknown) => {
      const m = JSON.parse(String(raw)) as { type: string; payload?: { sessionId?: number; seek?: number } };
      if (m.type === 'SESSION_UPDATED' && m.payload?.sessionId === sessionId && m.payload.seek !== undefined) echoes++;
    });
    mb.update(sessionId, target, { seek: 0.5 });
    await waitFor(() => Math.abs(player.stream!.positionMs - 500) < 25, 'the player follows the seek');
    await sleep(300);
    assert.ok(echoes <= 1, `${echoes} seek updates for one client seek`);
  } finally {
    mb.close();
    caller.hangup();
  }
});

test('a session that targets an audio zone plays into every call in it; a CALL_LEG target reaches one call', { timeout: 30_000 }, async () => {
  const { callee, caller, inbound } = await callPair();
  const heard = listen(caller);
  const player = callee.attachPlayer(inbound, { zone: 'lobby' });
  assert.equal(typeof player.audioZoneId, 'number');
  const mb = await MoosicBoxClient.connect(callee.wsPort);
  try {
    const sessionId = await mb.createSession('zone music', [1], player.audioZoneId);
    const t = Date.now();
    mb.update(sessionId, { type: 'AUDIO_ZONE', audioZoneId: player.audioZoneId! }, { play: true });
    await sleep(700);
    assert.ok(hears(heard.since(t + 200), 700), 'zone target reaches the call');
    // Retargeting the session elsewhere stops this player.
    mb.update(sessionId, { type: 'AUDIO_ZONE', audioZoneId: 999 }, {});
    await waitFor(() => player.stream?.state === 'idle', 'player stopped when no longer targeted');
    const t2 = Date.now();
    mb.update(sessionId, { type: 'CALL_LEG', callId: inbound.id }, { play: true });
    await sleep(600);
    assert.ok(hears(heard.since(t2 + 150), 700), 'CALL_LEG target reaches the call');
    // Unknown tracks are skipped, not fatal: a playlist of one missing track ends the session.
    const s2 = await mb.createSession('missing', [42]);
    mb.update(s2, { type: 'CALL_LEG', callId: inbound.id }, { play: true });
    const end = await mb.updated(s2, (u) => u.stop === true, 3000);
    assert.equal(end.playing, false);
    player.detach();
    assert.equal(player.stream?.state ?? 'closed', 'closed');
  } finally {
    mb.close();
    caller.hangup();
  }
});

test('attachPlayer refuses without playback or tracks, for an unknown zone, twice for one call; clients cannot take the engine connection id', { timeout: 20_000 }, async () => {
  const { callee, caller, inbound } = await callPair();
  try {
    assert.throws(() => callee.attachPlayer(inbound, { zone: 77 }), /no audio zone 77/);
    callee.attachPlayer(inbound);
    assert.throws(() => callee.attachPlayer(inbound), /already a player/);
    const mb = await MoosicBoxClient.connect(callee.wsPort);
    mb.ws.send({ type: 'REGISTER_CONNECTION', payload: { connectionId: 'callchart', name: 'impostor', players: [] } });
    const err = await mb.ws.json('ERROR');
    assert.equal(err.payload.code, 'CONFLICT');
    mb.close();
  } finally {
    caller.hangup();
  }
  const noPlayback = await engines.start();
  assert.throws(() => noPlayback.attachPlayer(inbound), /playback is off/);
  const noTracks = await engines.start({ playback: {} });
  const output = { kind: 'call' as const, id: 'x', open: () => assert.fail('not opened'), onGone: () => () => {} };
  assert.throws(() => noTracks.playback!.attach(output), /no track source/);
});

test('a room as a player: the session plays into the room mix, and a call in the room hears it', { timeout: 20_000 }, async () => {
  const { callee, caller, inbound } = await callPair({ rooms: {} });
  const heard = listen(caller);
  const room = callee.room('conf');
  await room.join(inbound);
  const player = callee.attachPlayer(room, { zone: 'conference' });
  assert.equal(player.audioOutputId, 'room:conf');
  assert.equal(room.members().length, 2, 'the player is one more leg of the mix');
  const mb = await MoosicBoxClient.connect(callee.wsPort);
  try {
    const sessionId = await mb.createSession('room music', [1]);
    const t = Date.now();
    mb.update(sessionId, { type: 'ROOM', roomId: 'conf' }, { play: true });
    await sleep(800);
    const got = heard.since(t + 300);
    assert.ok(hears(got, 700), `the call in the room hears the player: share ${toneRatio(got, 8000, 700).toFixed(2)}`);
    player.detach();
    await waitFor(() => room.members().length === 1, 'detach takes the player leg out of the mix');
  } finally {
    mb.close();
    caller.hangup();
  }
});

async function fetchConnections(e: Engine): Promise<Array<{ connectionId: string }>> {
  const mb = await MoosicBoxClient.connect(e.wsPort, 'late');
  const f = await mb.ws.json('CONNECTIONS');
  mb.close();
  return f.payload;
}
