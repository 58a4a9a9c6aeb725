// Conference rooms of calls on loopback: engine A places three real SIP calls to engine B, whose
// app puts every inbound call into room "conf". Each of A's calls plays its own tone and keeps what
// it hears, so the mix is checked by frequency where the far end receives it: each leg hears the
// other two and never itself; mute, deaf and kick change exactly that; talker events follow the
// tones; the rooms WebSocket API lists and mutes the call legs; the room mix is recorded.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Call, Engine, Room, RoomMemberInfo } from '../../src/index.js';
import { decodeWavTo8kMono, meanSquare, toneRatio } from '../../src/media/index.js';
import { loopbackEngines } from '../helpers/loopback-engines.js';
import { sleep, waitFor } from '../helpers/wait.js';
import { TestClient } from '../helpers/ws-client.js';

const engines = loopbackEngines(42000, 100);
const dir = mkdtempSync(path.join(tmpdir(), 'callchart-conf-'));
after(async () => {
  await engines.closeAll();
  rmSync(dir, { recursive: true, force: true });
});

const FREQS = [500, 1100, 1700] as const;

interface Party {
  call: Call;
  hz: number;
  heard: number[];
}

/** Engine B: every inbound call answered and joined to room "conf". */
async function conferenceEngine(conference: { tones?: boolean } = { tones: false }): Promise<{ engine: Engine; room: () => Room }> {
  let engine!: Engine;
  engine = await engines.start({
    rooms: { conference, shutdown: { policy: 'never' } },
    onIncomingCall: (call) => {
      call.answer();
      void engine.room('conf').join(call).catch(() => {});
      return { action: 'defer' };
    },
  });
  return { engine, room: () => engine.room('conf') };
}

async function dialParties(a: Engine, b: Engine, n = 3): Promise<Party[]> {
  const parties: Party[] = [];
  for (let i = 0; i < n; i++) {
    const call = await a.call(`sip:conf@127.0.0.1:${b.sipPort}`);
    const p: Party = { call, hz: FREQS[i]!, heard: [] };
    await new Promise<void>((resolve, reject) => {
      call.once('answered', () => resolve());
      call.once('ended', (e) => reject(new Error(`call ${i} ended before answer: ${JSON.stringify(e)}`)));
    });
    call.media!.onAudio((f) => {
      for (let k = 0; k < f.length; k++) p.heard.push(f[k]!);
    });
    call.play({ kind: 'tone', frequencies: [p.hz], durationMs: 60_000, amplitude: 6000 }, { keepOpen: true });
    parties.push(p);
  }
  return parties;
}

/** What each party hears over the next `ms` (after the mix has settled). */
async function listen(parties: Party[], ms = 1200): Promise<Int16Array[]> {
  await sleep(200);
  for (const p of parties) p.heard.length = 0;
  await sleep(ms);
  return parties.map((p) => Int16Array.from(p.heard));
}

const ratios = (s: Int16Array) => FREQS.map((hz) => toneRatio(s, 8000, hz));

function assertHears(heard: Int16Array, who: string, hears: number[], notHears: number[]): void {
  const r = Object.fromEntries(FREQS.map((hz, i) => [hz, ratios(heard)[i]!.toFixed(3)]));
  assert.ok(heard.length > 4000, `${who} received ${heard.length} samples`);
  for (const hz of hears) assert.ok(toneRatio(heard, 8000, hz) > 0.2, `${who} should hear ${hz} Hz: ratios ${JSON.stringify(r)}`);
  for (const hz of notHears) assert.ok(toneRatio(heard, 8000, hz) < 0.02, `${who} must not hear ${hz} Hz: ratios ${JSON.stringify(r)}`);
}

test('three calls in one room: each hears the other two and not itself; mute, deaf and kick; talker events', { timeout: 30_000 }, async () => {
  const a = await engines.start();
  const b = await conferenceEngine();
  const room = b.room();
  const talking = new Map<number, boolean>();
  room.on('talking', (m, on) => void talking.set(m.id, on));
  const left: Array<[number, string]> = [];
  const leftCallIds: Array<string | undefined> = [];
  room.on('left', (m, reason) => {
    left.push([m.id, reason]);
    leftCallIds.push(m.callId);
  });
  const parties = await dialParties(a, b.engine);
  await waitFor(() => room.members().length === 3, 'three call legs in the room');
  const members = room.members();
  assert.deepEqual(members.map((m) => [m.kind, m.muted, m.deaf]), Array(3).fill(['call-leg', false, false]));
  // Member i carries the engine-B side of party i's call (joined in dial order).
  const ids = members.map((m) => m.id);

  let heard = await listen(parties);
  for (let i = 0; i < 3; i++) assertHears(heard[i]!, `party ${i}`, FREQS.filter((_, j) => j !== i), [FREQS[i]!]);
  // Talker detection: every leg sends a loud tone, so every member is talking.
  for (const id of ids) assert.equal(talking.get(id), true, `member ${id} reported talking (${JSON.stringify([...talking])})`);

  // Mute party 0: the others no longer hear 500 Hz; party 0 still hears both others.
  assert.equal(room.mute(ids[0]!), true);
  assert.equal(room.member(ids[0]!)?.muted, true);
  assert.equal(talking.get(ids[0]!), false, 'a muted member stops talking at once');
  heard = await listen(parties);
  assertHears(heard[0]!, 'muted party 0', [1100, 1700], [500]);
  assertHears(heard[1]!, 'party 1 (0 muted)', [1700], [500, 1100]);
  assertHears(heard[2]!, 'party 2 (0 muted)', [1100], [500, 1700]);
  room.unmute(ids[0]!);

  // Deafen party 1: it hears silence, the others still hear it.
  assert.equal(room.deafen(ids[1]!), true);
  heard = await listen(parties);
  assert.ok(meanSquare(heard[1]!) < 100, `deaf party 1 hears silence (mean square ${meanSquare(heard[1]!)})`);
  assertHears(heard[0]!, 'party 0 (1 deaf)', [1100, 1700], [500]);
  room.undeafen(ids[1]!);

  // Kick party 2: out of the mix, its call stays up; the other two hear only each other.
  assert.equal(room.kick(ids[2]!, 'test'), true);
  assert.deepEqual(left, [[ids[2]!, 'kicked']]);
  assert.equal(leftCallIds[0], members[2]!.callId, 'the left event still names the call');
  assert.equal(typeof leftCallIds[0], 'string');
  assert.equal(room.members().length, 2);
  assert.ok(parties[2]!.call.isActive, 'a kicked call stays up');
  heard = await listen(parties);
  assertHears(heard[0]!, 'party 0 (2 kicked)', [1100], [500, 1700]);
  assertHears(heard[1]!, 'party 1 (2 kicked)', [500], [1100, 1700]);
  assert.ok(heard[2]!.length < 800, `kicked party 2 gets no more mix (${heard[2]!.length} samples)`);
  assert.equal(room.kick(ids[2]!), false, 'kicking a non-member is refused');

  // Hanging up leaves the room by itself.
  parties[0]!.call.hangup();
  await waitFor(() => room.members().length === 1, 'the hung-up call left the room');
  assert.deepEqual(left[1], [ids[0]!, 'left']);
  assert.equal(leftCallIds[1], members[0]!.callId);
  for (const p of parties) p.call.hangup();
  await waitFor(() => room.members().length === 0, 'room empty');
});

test('the rooms WebSocket API lists call legs and mutes them; bad control messages get documented errors', { timeout: 30_000 }, async () => {
  const a = await engines.start();
  const b = await conferenceEngine();
  const parties = await dialParties(a, b.engine, 2);
  const room = b.room();
  await waitFor(() => room.members().length === 2, 'two call legs');
  const ws = new TestClient(`ws://127.0.0.1:${b.engine.wsPort}/rooms/conf`);
  await ws.opened();
  ws.send({ type: 'room.members', ref: 'm1' });
  const list = await ws.json('room.members');
  assert.equal(list.ref, 'm1');
  const legs = (list.members as RoomMemberInfo[]).filter((m) => m.kind === 'call-leg');
  assert.equal(legs.length, 2);
  assert.ok(legs.every((m) => typeof m.callId === 'string' && m.muted === false));
  assert.ok((list.members as RoomMemberInfo[]).some((m) => m.id === list.you && m.kind === 'websocket'));

  ws.send({ type: 'room.subscribe' });
  assert.equal((await ws.json('room.ok')).request, 'room.subscribe');
  ws.send({ type: 'room.mute', member: legs[0]!.id, muted: true, ref: 'x' });
  const ok = await ws.json('room.ok');
  assert.deepEqual([ok.ref, ok.request, ok.member.id, ok.member.muted], ['x', 'room.mute', legs[0]!.id, true]);
  const ev = await ws.json('room.member');
  assert.equal(ev.member.muted, true);
  assert.equal(room.member(legs[0]!.id)?.muted, true, 'the statechart holds the mute');
  const heard = await listen(parties);
  assertHears(heard[1]!, 'party 1 (0 muted over WS)', [], [500]);
  assertHears(heard[0]!, 'party 0 (muted over WS)', [1100], [500]);

  const errors: Array<[object | string, string]> = [
    ['{"type":"room.mute", nope', 'bad-json'],
    [{ type: 'room.dance' }, 'unknown-type'],
    [{ type: 'room.mute', member: legs[0]!.id }, 'bad-request'],
    [{ type: 'room.mute', member: -1, muted: true }, 'bad-request'],
    [{ type: 'room.mute', member: legs[0]!.id, muted: 'yes' }, 'bad-request'],
    [{ type: 'room.kick', member: 999 }, 'no-such-member'],
  ];
  for (const [msg, code] of errors) {
    ws.send(msg);
    const err = await ws.json('room.error');
    assert.equal(err.code, code, `${JSON.stringify(msg)} → ${JSON.stringify(err)}`);
    assert.equal(typeof err.message, 'string');
  }
  // Still connected, and a kick of a call leg over the wire works.
  ws.send({ type: 'room.kick', member: legs[1]!.id });
  assert.equal((await ws.json('room.ok')).request, 'room.kick');
  const gone = await ws.json('room.left');
  assert.deepEqual([gone.member.id, gone.reason], [legs[1]!.id, 'kicked']);
  ws.close();
  for (const p of parties) p.call.hangup();
});

test('room mix recording and join tones: the WAV holds both parties and the join beeps', { timeout: 30_000 }, async () => {
  const a = await engines.start();
  const b = await conferenceEngine({ tones: true });
  const room = b.room();
  const file = path.join(dir, 'room-mix.wav');
  const rec = room.record(file);
  const parties = await dialParties(a, b.engine, 2);
  await waitFor(() => room.members().length === 2, 'two call legs');
  await sleep(1200);
  rec.stop();
  const out = await rec.done;
  assert.equal(out.reason, 'stopped');
  const mix = decodeWavTo8kMono(readFileSync(file));
  assert.ok(mix.length > 8000, `mix has ${mix.length} samples`);
  assert.ok(toneRatio(mix, 8000, 500) > 0.15 && toneRatio(mix, 8000, 1100) > 0.15, `both parties in the mix: ${ratios(mix).map((r) => r.toFixed(3))}`);
  // Join tones (80 ms at 587 Hz, then 80 ms at 880 Hz) show in some 80 ms window of the mix. Two
  // joins close together overlap their beeps, so the two beep frequencies are counted together.
  let beep = 0;
  for (let off = 0; off + 640 <= mix.length; off += 160) {
    const w = mix.subarray(off, off + 640);
    beep = Math.max(beep, toneRatio(w, 8000, 587) + toneRatio(w, 8000, 880));
  }
  assert.ok(beep > 0.15, `join beeps in the mix (best 80 ms window: ${beep.toFixed(3)})`);
  for (const p of parties) p.call.hangup();
  await waitFor(() => room.members().length === 0, 'room empty');
  room.close();
  assert.ok(room.ended || (await new Promise<boolean>((r) => room.once('ended', () => r(true)))));
});

test('examples/conference.ts: three callers in room "conf" each hear the other two; the rooms API lists them', { timeout: 40_000 }, async () => {
  const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
  const env = { ...process.env, CALLCHART_SIP_PORT: '0', CALLCHART_WS_PORT: '0', CALLCHART_RTP_PORTS: '42500-42599' };
  const proc = spawn(process.execPath, ['--import', 'tsx', 'examples/conference.ts'], { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout.on('data', (d) => (out += d));
  proc.stderr.on('data', (d) => (out += d));
  const exited = new Promise<number | null>((r) => proc.on('exit', (code) => r(code)));
  try {
    await waitFor(() => /"msg":"example ready"/.test(out) || proc.exitCode !== null, 'the example to start', 20_000);
    const sipPort = Number(/"sipPort":(\d+)/.exec(out)?.[1]);
    const wsPort = Number(/"wsPort":(\d+)/.exec(out)?.[1]);
    assert.ok(sipPort > 0 && wsPort > 0, out);
    const a = await engines.start();
    const parties = await dialParties(a, { sipPort } as Engine);
    await waitFor(() => (out.match(/"msg":"example: joined"/g) ?? []).length === 3, `three joins in the example's log: ${out}`, 15_000);
    const heard = await listen(parties);
    for (let i = 0; i < 3; i++) assertHears(heard[i]!, `party ${i}`, FREQS.filter((_, j) => j !== i), [FREQS[i]!]);
    assert.match(out, /"talking":true[^\n]*"msg":"example: talking"/);
    const ws = new TestClient(`ws://127.0.0.1:${wsPort}/rooms/conf`);
    await ws.opened();
    ws.send({ type: 'room.members' });
    const list = await ws.json('room.members');
    assert.equal((list.members as RoomMemberInfo[]).filter((m) => m.kind === 'call-leg').length, 3);
    ws.close();
    for (const p of parties) p.call.hangup();
    // Three call legs leave (the WebSocket client's own leave, without a callId, is not counted).
    await waitFor(() => (out.match(/"callId":"[^"]+","reason":"left","msg":"example: left"/g) ?? []).length === 3, `three call legs left: ${out}`, 15_000);
  } finally {
    proc.kill('SIGTERM');
    assert.equal(await exited, 0, out.slice(-2000));
  }
});
