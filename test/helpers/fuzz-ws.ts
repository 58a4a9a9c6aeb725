// WebSocket routes for the fuzz suite and the hostile probe: schema-shaped and random frames on
// every route callchart serves, handshakes with hostile subprotocols and origins, and one
// legitimate client per route that must still work after each batch.
import { randomUUID } from 'node:crypto';
import WebSocket from 'ws';
import type { Rng } from './prng.js';
import { jsonText, mutateJson, randomJson, DEEP, deepArrayText } from './fuzz-gen.js';
import { TestClient } from './ws-client.js';
import { JambonzSim, callInfo, newCallSid, newMsgid } from './jambonz-sim.js';
import { JambonzAudioSim, simFrame, simMetadata } from './jambonz-audio-sim.js';
import { sleep } from './wait.js';

export type WsRouteName = 'inbound' | 'rooms' | 'playback' | 'hook' | 'recording';
export const WS_ROUTE_NAMES: readonly WsRouteName[] = ['inbound', 'rooms', 'playback', 'hook', 'recording'];

/** What each route of `callchart serve` speaks: its path and the subprotocols it knows. */
export const WS_ROUTES: Record<WsRouteName, { path: string; known: readonly string[] }> = {
  inbound: { path: '/', known: [] },
  rooms: { path: '/rooms/fuzz', known: [] },
  playback: { path: '/playback', known: [] },
  hook: { path: '/hook', known: ['ws.jambonz.org'] },
  recording: { path: '/recording', known: ['audio.jambonz.org'] },
};


// ---- messages ----------------------------------------------------------------------------------

type Frame = { data: string | Buffer; binary: boolean; fin?: false };

function playbackTemplate(rng: Rng): unknown {
  const sessionId = rng.range(0, 12);
  const target = rng.pick([
    { type: 'AUDIO_ZONE', audioZoneId: rng.range(0, 3) },
    { type: 'CONNECTION_OUTPUT', connectionId: rng.token(6), outputId: 'out' },
    { type: 'CALL_LEG', callId: rng.token(8) },
    { type: 'ROOM', roomId: 'fuzz' },
  ]);
  return rng.pick([
    () => ({ type: 'PING' }),
    () => ({ type: 'GET_CONNECTION_ID' }),
    () => ({ type: 'GET_SESSIONS' }),
    () => ({ type: 'CREATE_SESSION', payload: { name: `fuzz-${rng.token(4)}`, audioZoneId: rng.range(0, 3), playlist: { tracks: [1, 2, 3] } } }),
    () => ({
      type: 'UPDATE_SESSION',
      payload: {
        sessionId,
        profile: 'master',
        playbackTarget: target,
        play: rng.chance(0.5),
        name: rng.token(5),
        volume: rng.next(),
        position: rng.int(3),
        seek: rng.int(300),
        playlist: { sessionPlaylistId: sessionId, tracks: [{ id: 1, title: 'fuzz', nested: { deep: rng.chance(0.2) ? DEEP : 1 } }] },
        quality: { format: 'FLAC' },
      },
    }),
    () => ({ type: 'DELETE_SESSION', payload: { sessionId } }),
    () => ({ type: 'REGISTER_CONNECTION', payload: { connectionId: rng.token(6), name: 'fuzz', players: [{ audioOutputId: 'out', name: 'speaker' }] } }),
    () => ({ type: 'REGISTER_PLAYERS', payload: [{ audioOutputId: rng.token(4), name: 'p' }] }),
    () => ({ type: 'CREATE_AUDIO_ZONE', payload: { name: rng.token(5) } }),
    () => ({ type: 'SET_SEEK', payload: { sessionId, profile: 'master', playbackTarget: target, seek: rng.int(1000) } }),
  ])();
}

function hookTemplate(rng: Rng, callSids: string[]): unknown {
  const fresh = newCallSid();
  const callSid = callSids.length && rng.chance(0.7) ? rng.pick(callSids) : fresh;
  const msgid = newMsgid();
  const t = rng.int(9);
  if (t === 0 || !callSids.length) {
    callSids.push(fresh);
    return { type: 'session:new', msgid, call_sid: fresh, data: callInfo(fresh) };
  }
  if (t === 1) return { type: 'verb:hook', msgid, call_sid: callSid, hook: rng.pick(['/hook/menu', '/x', '']), data: { ...callInfo(callSid, { call_status: 'in-progress' }), reason: 'dtmfDetected', digits: rng.pick(['1', '2', '#', '']) } };
  if (t === 2) return { type: 'call:status', msgid, call_sid: callSid, data: { ...callInfo(callSid, { call_status: rng.pick(['in-progress', 'completed', 'ringing', 'failed', 'bogus']) }), sip_status: 200 } };
  if (t === 3) return { type: 'session:reconnect', msgid, call_sid: callSid, data: callInfo(callSid) };
  if (t === 4) return { type: 'session:redirect', msgid, call_sid: callSid, hook: '/hook', data: callInfo(callSid) };
  if (t === 5) return { type: 'verb:status', msgid, call_sid: callSid, data: { id: rng.token(4), event: 'finished', name: 'say' } };
  if (t === 6) return { type: 'jambonz:error', msgid, call_sid: callSid, data: { error: randomJson(rng, 2) } };
  if (t === 7) return { type: rng.pick(['llm:event', 'llm:tool-call', 'tts:streaming-event', 'tts:tokens-result', 'dial:confirm', 'queue:status']), msgid, call_sid: callSid, hook: '/hook', data: randomJson(rng, 3) };
  return { type: rng.token(6), msgid, call_sid: callSid };
}

/** One frame for `route`: schema-shaped (mutated or not), random JSON, or raw bytes. */
export function wsFrame(rng: Rng, route: WsRouteName, st: { sessionId?: string; callSids: string[]; sentMetadata: boolean }): Frame {
  const k = rng.int(100);
  if (k < 8) return { data: rng.bytes(rng.size(4096)), binary: true };
  if (k < 16) return { data: jsonText(rng, randomJson(rng, 5)), binary: false };
  // Invalid UTF-8 in a text frame ends the socket (1007), so it is rare enough not to cut every one short.
  if (k < 18) return { data: rng.bytes(1 + rng.size(200)), binary: false };
  let tpl: unknown;
  switch (route) {
    case 'inbound': {
      const sessionId = st.sessionId ?? rng.token(8);
      if (rng.chance(0.4)) return { data: rng.chance(0.8) ? simFrame(rng.int(1000), rng.pick([160, 320, 640])) : rng.bytes(rng.size(2000)), binary: true };
      tpl = rng.chance(0.7) ? { event: 'dtmf', sessionId, digit: rng.pick(['1', '#', 'A', '*']) } : { event: 'hangup', sessionId };
      break;
    }
    case 'rooms':
      if (rng.chance(0.5)) return { data: rng.pick(['increment', 'decrement', ' increment ', '', 'x'.repeat(1 + rng.size(60_000))]), binary: false };
      tpl = { cmd: 'increment', n: 1 };
      break;
    case 'playback':
      tpl = playbackTemplate(rng);
      break;
    case 'hook':
      tpl = hookTemplate(rng, st.callSids);
      break;
    case 'recording':
      if (st.sentMetadata && rng.chance(0.7)) return { data: rng.chance(0.8) ? simFrame(rng.int(1000), rng.pick([640, 320, 4096])) : rng.bytes(rng.size(2000)), binary: true };
      st.sentMetadata = true;
      tpl = simMetadata(newCallSid(), { sampleRate: rng.pick([8000, 16000, 24000, 48000]), mixType: rng.pick(['mono', 'stereo', 'mixed']) });
      break;
  }
  return { data: jsonText(rng, rng.chance(0.6) ? mutateJson(rng, tpl) : tpl), binary: false };
}

// ---- a fuzzing connection ----------------------------------------------------------------------

export interface WsFuzzStats {
  opened: number;
  refused: number;
  frames: number;
  closes: Record<string, number>;
  /** Subprotocols a route selected although it does not speak them (finding 7). */
  badProtocols: string[];
}

export const newWsStats = (): WsFuzzStats => ({ opened: 0, refused: 0, frames: 0, closes: {}, badProtocols: [] });

function offeredProtocols(rng: Rng, route: WsRouteName): string[] {
  const known = WS_ROUTES[route].known;
  // Routes that require their subprotocol get it most of the time, or the fuzz never gets past the handshake.
  if (known.length && rng.chance(0.6)) return [...known];
  return rng.pick([[], [...known], ['evil'], [...known, 'evil'], ['evil', ...known], [rng.token(5)], ['a', 'b', 'c']]);
}

/** Open one socket on `route` with a hostile handshake, send `frames` frames, close or drop. */
export async function fuzzConnection(rng: Rng, port: number, route: WsRouteName, frames: number, stats: WsFuzzStats, localAddress = '127.0.2.1'): Promise<void> {
  const offered = offeredProtocols(rng, route);
  const path = route === 'rooms' ? rng.pick(['/rooms/fuzz', `/rooms/${rng.token(6)}`, '/rooms/' + 'r'.repeat(1 + rng.size(100)), '/rooms/%2e%2e', '/rooms/a%00b']) : WS_ROUTES[route].path + rng.pick(['', '', '?x=1', '?a=%00', '?' + 'q'.repeat(1 + rng.size(2000))]);
  const headers: Record<string, string> = {};
  if (rng.chance(0.5)) headers.Origin = rng.pick(['http://evil.example', 'null', 'file://', `http://${rng.token(30)}.example`]);
  const ws = new WebSocket(`ws://127.0.0.1:${port}${path}`, offered, { headers, localAddress, perMessageDeflate: false, handshakeTimeout: 3000 });
  ws.on('error', () => {});
  const st = { callSids: [] as string[], sentMetadata: false } as { sessionId?: string; callSids: string[]; sentMetadata: boolean };
  ws.on('message', (data, isBinary) => {
    if (isBinary || st.sessionId) return;
    const m = /"sessionId":"([^"]+)"/.exec(data.toString());
    if (m) st.sessionId = m[1];
  });
  const closed = new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)));
  const opened = await new Promise<boolean>((resolve) => {
    ws.once('open', () => resolve(true));
    ws.once('unexpected-response', (_req, res) => {
      res.resume();
      resolve(false);
      ws.terminate();
    });
    ws.once('close', () => resolve(false));
  });
  if (!opened) {
    stats.refused++;
    return;
  }
  stats.opened++;
  if (ws.protocol && !WS_ROUTES[route].known.includes(ws.protocol)) stats.badProtocols.push(`${route}: selected ${JSON.stringify(ws.protocol)} of ${JSON.stringify(offered)}`);
  for (let i = 0; i < frames && ws.readyState === WebSocket.OPEN; i++) {
    const f = wsFrame(rng, route, st);
    try {
      if (rng.chance(0.05) && typeof f.data === 'string' && f.data.length > 2) {
        // A fragmented message: two frames, FIN on the second.
        const cut = rng.int(f.data.length);
        ws.send(f.data.slice(0, cut), { binary: f.binary, fin: false });
        ws.send(f.data.slice(cut), { binary: f.binary, fin: true });
      } else ws.send(f.data, { binary: f.binary });
      stats.frames++;
    } catch {
      break;
    }
    if (ws.bufferedAmount > 256 * 1024 || rng.chance(0.1)) await sleep(2);
  }
  await sleep(rng.range(10, 80));
  if (rng.chance(0.2)) ws.terminate();
  else if (ws.readyState === WebSocket.OPEN) ws.close(rng.pick([1000, 1001, 4000, 3000]));
  const code = await Promise.race([closed, sleep(2000).then(() => -1)]);
  if (code === -1) ws.terminate();
  stats.closes[String(code)] = (stats.closes[String(code)] ?? 0) + 1;
}

/** `connections` fuzzing sockets on `route`, `parallel` at a time. */
export async function wsBatch(rng: Rng, port: number, route: WsRouteName, connections: number, frames: number, stats: WsFuzzStats, parallel = 4): Promise<void> {
  let next = 0;
  const worker = async (w: number) => {
    for (;;) {
      const i = next++;
      if (i >= connections) return;
      await fuzzConnection(rng.fork(), port, route, frames, stats, `127.0.2.${1 + ((w * 7 + i) % 50)}`);
    }
  };
  await Promise.all(Array.from({ length: parallel }, (_, w) => worker(w)));
}

// ---- finding 1: deep nesting in a playback track ------------------------------------------------

/**
 * CREATE_SESSION, then UPDATE_SESSION with one track holding a `depth`-deep nested array, then
 * (when `register`) REGISTER_CONNECTION, which persists: fe89b32 exits 1 (RangeError in XState's
 * persistContext). Returns the frames the sender got back.
 */
export async function playbackDeepTrack(port: number, depth: number, register = true): Promise<string[]> {
  const c = new TestClient(`ws://127.0.0.1:${port}/playback`);
  const got: string[] = [];
  try {
    await c.opened();
    const name = `deep-${randomUUID().slice(0, 8)}`;
    c.send({ type: 'CREATE_SESSION', payload: { name, playlist: { tracks: [] } } });
    const sessions = await c.next((f) => f.kind === 'text' && f.json?.type === 'SESSIONS' && f.json.payload.some((s: { name: string }) => s.name === name), 3000);
    const sessionId = ((sessions as { json: { payload: Array<{ name: string; sessionId: number }> } }).json.payload.find((s) => s.name === name))!.sessionId;
    const update = JSON.stringify({
      type: 'UPDATE_SESSION',
      payload: { sessionId, profile: 'master', playbackTarget: { type: 'AUDIO_ZONE', audioZoneId: 0 }, playlist: { sessionPlaylistId: sessionId, tracks: [{ id: 1, nested: DEEP }] } },
    }).replace(JSON.stringify(DEEP), deepArrayText(depth));
    c.send(update);
    if (register) c.send({ type: 'REGISTER_CONNECTION', payload: { connectionId: `deep-${sessionId}`, name: 'deep', players: [] } });
    await sleep(500);
    for (const f of c.pending()) if (f.kind === 'text') got.push(f.text.slice(0, 200));
  } catch (err) {
    got.push(`error: ${(err as Error).message}`);
  } finally {
    c.close();
  }
  return got;
}

// ---- legitimate clients -------------------------------------------------------------------------

let legitSeq = 0;

async function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let t: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([p, new Promise<never>((_, reject) => (t = setTimeout(() => reject(new Error(`${what}: timed out`)), ms)))]);
  } finally {
    clearTimeout(t);
  }
}

async function legitInbound(port: number): Promise<void> {
  const c = new TestClient(`ws://127.0.0.1:${port}/`);
  try {
    await c.opened();
    const offer = await c.json('incoming_call', 4000);
    c.send({ event: 'dtmf', sessionId: offer.sessionId, digit: '5' });
    c.send({ event: 'hangup', sessionId: offer.sessionId });
    await Promise.race([c.json('hangup', 3000), c.waitClose(3000)]);
  } finally {
    c.close();
  }
}

async function legitRooms(port: number): Promise<void> {
  const c = new TestClient(`ws://127.0.0.1:${port}/rooms/legit-${process.pid}-${++legitSeq}`);
  try {
    await c.opened();
    c.send('increment');
    const t = await c.text(3000);
    if (t !== 'new value: 1') throw new Error(`expected "new value: 1", got ${JSON.stringify(t.slice(0, 80))}`);
  } finally {
    c.close();
  }
}

async function legitPlayback(port: number): Promise<void> {
  const c = new TestClient(`ws://127.0.0.1:${port}/playback`);
  const isAnswer = (type: string) => (f: { kind: string; json?: { type?: string } }) => f.kind === 'text' && (f.json?.type === type || f.json?.type === 'ERROR');
  const expect = async (type: string) => {
    const f = (await c.next(isAnswer(type), 3000)) as { json: { type: string; payload?: unknown } };
    if (f.json.type === 'ERROR') throw new Error(`ERROR ${JSON.stringify(f.json.payload).slice(0, 200)} while waiting for ${type}`);
    return f.json;
  };
  try {
    await c.opened();
    c.send({ type: 'GET_CONNECTION_ID' });
    await expect('CONNECTION_ID');
    await expect('SESSIONS');
    const name = `legit-${process.pid}-${++legitSeq}`;
    c.send({ type: 'CREATE_SESSION', payload: { name, playlist: { tracks: [1, 2] } } });
    let sessionId: number | undefined;
    for (let i = 0; i < 20 && sessionId === undefined; i++) {
      const s = (await expect('SESSIONS')) as { payload: Array<{ name: string; sessionId: number }> };
      sessionId = s.payload.find((x) => x.name === name)?.sessionId;
    }
    if (sessionId === undefined) throw new Error('created session not listed');
    c.send({ type: 'UPDATE_SESSION', payload: { sessionId, profile: 'master', playbackTarget: { type: 'AUDIO_ZONE', audioZoneId: 0 }, play: true, volume: 0.5 } });
    c.send({ type: 'GET_SESSIONS' });
    const s = (await expect('SESSIONS')) as { payload: Array<{ sessionId: number; volume: number | null }> };
    if (s.payload.find((x) => x.sessionId === sessionId)?.volume !== 0.5) throw new Error('update not applied');
    c.send({ type: 'DELETE_SESSION', payload: { sessionId } });
    await expect('SESSIONS');
  } finally {
    c.close();
  }
}

async function legitHook(port: number): Promise<void> {
  const sim = await JambonzSim.connect(`ws://127.0.0.1:${port}/hook`);
  try {
    const callSid = newCallSid();
    const msgid = sim.sessionNew(callSid);
    const ack = await sim.client.next((f) => f.kind === 'text' && f.json?.type === 'ack' && f.json.msgid === msgid, 3000);
    const verbs = (ack as { json: { data?: Array<{ verb: string }> } }).json.data ?? [];
    if (!verbs.some((v) => v.verb === 'gather')) throw new Error(`ack without the demo's gather: ${JSON.stringify(verbs).slice(0, 200)}`);
    sim.callStatus(callSid, 'completed');
    await sleep(20);
  } finally {
    sim.client.close();
  }
}

async function legitRecording(port: number): Promise<void> {
  const sim = new JambonzAudioSim(`ws://127.0.0.1:${port}/recording`);
  await sim.open();
  sim.sendMetadata(simMetadata(newCallSid()));
  await sim.stream(5, { intervalMs: 0 });
  await sleep(50);
  if (sim.closed) throw new Error(`server closed ${sim.closed.code} ${sim.closed.reason}`);
  const closed = await sim.close(1000);
  if (closed.code !== 1000) throw new Error(`closed ${closed.code} ${closed.reason}`);
}

const LEGIT: Record<WsRouteName, (port: number) => Promise<void>> = {
  inbound: legitInbound,
  rooms: legitRooms,
  playback: legitPlayback,
  hook: legitHook,
  recording: legitRecording,
};

/** A fresh legitimate client on `route`: undefined when it worked, else what went wrong. */
export async function legitWs(port: number, route: WsRouteName): Promise<string | undefined> {
  try {
    await withTimeout(LEGIT[route](port), 8000, route);
    return undefined;
  } catch (err) {
    return `${route}: ${(err as Error).message}`;
  }
}
