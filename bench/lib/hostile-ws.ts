// WebSocket and HTTP steps of bench/hostile.ts: the playback crash (finding 1), half-open upgrades
// (finding 6) and cross-client takeovers (finding 7), each returning table rows.
//
// Finding 7 is measured as the server is configured: by default without credentials. Once
// authentication exists, HOSTILE_SERVE_ARGS turns it on and HOSTILE_OWNER_HEADERS /
// HOSTILE_INTRUDER_HEADERS (JSON objects, e.g. {"Authorization":"Bearer …"}) give the owner its
// credentials and the intruder other (or no) credentials.
import net from 'node:net';
import type WebSocket from 'ws';
import type { EngineChild } from '../../test/helpers/engine-child.js';
import { TestClient } from '../../test/helpers/ws-client.js';
import { JambonzSim, newCallSid } from '../../test/helpers/jambonz-sim.js';
import { JambonzAudioSim, simMetadata } from '../../test/helpers/jambonz-audio-sim.js';
import { playbackDeepTrack, WS_ROUTES, WS_ROUTE_NAMES } from '../../test/helpers/fuzz-ws.js';
import { deepArrayText } from '../../test/helpers/fuzz-gen.js';
import { sipCallWorks } from '../../test/helpers/fuzz-sip.js';
import { waitUntil } from '../../test/interop/helpers/procs.js';
import { percentile } from '../table.js';
import type { Row } from './hostile-sip.js';

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const headersFrom = (name: string): Record<string, string> => (process.env[name] ? (JSON.parse(process.env[name]!) as Record<string, string>) : {});
const OWNER: WebSocket.ClientOptions = { headers: headersFrom('HOSTILE_OWNER_HEADERS') };
const INTRUDER: WebSocket.ClientOptions = { headers: headersFrom('HOSTILE_INTRUDER_HEADERS'), localAddress: '127.0.0.8' };
let n = 0;
const uniq = (p: string) => `${p}-${process.pid}-${++n}`;

// ---- finding 1 ---------------------------------------------------------------------------------

/** 6 000 deep (no save yet): what another client's GET_SESSIONS gets, and what SIGTERM does next. */
export async function deepNesting6000(child: EngineChild): Promise<Row[]> {
  await playbackDeepTrack(child.wsPort, 6000, false);
  const probe = new TestClient(`ws://127.0.0.1:${child.wsPort}/playback`);
  let answer = 'no answer';
  try {
    await probe.opened();
    probe.send({ type: 'GET_SESSIONS' });
    const f = await probe.next((x) => x.kind === 'text' && (x.json?.type === 'SESSIONS' || x.json?.type === 'ERROR'), 3000);
    answer = f.kind === 'text' ? (f.json?.type === 'ERROR' ? `ERROR ${f.json.payload?.code}` : String(f.json?.type)) : 'binary';
  } catch (err) {
    answer = (err as Error).message;
  } finally {
    probe.close();
  }
  const rows: Row[] = [['1 crash', '6 000-deep track: GET_SESSIONS from another client answers', `${answer}${child.alive() ? '' : ` (engine died, exit ${child.exit?.code})`}`]];
  if (child.alive()) {
    const st = await child.stop();
    rows.push(['1 crash', '6 000-deep track: SIGTERM afterwards, exit status', `${st.code ?? st.signal} (${child.find(/^uncaught exception/).length} uncaught logged)`]);
  }
  return rows;
}

/** The issue's crash: 20 000 deep, then REGISTER_CONNECTION. */
export async function deepNesting20000(child: EngineChild): Promise<Row[]> {
  await playbackDeepTrack(child.wsPort, 20_000);
  await sleep(1000);
  const alive = child.alive();
  return [
    [
      '1 crash',
      '20 000-deep track + REGISTER_CONNECTION: engine alive',
      alive ? `yes (${child.find(/^uncaught exception/).length} uncaught exceptions logged by the process guard)` : `no (exit ${child.exit?.code ?? child.exit?.signal})`,
    ],
  ];
}

/** Not in the issue, found by the fuzz suite: `{"event": <deep array>}` on the inbound-call route. */
export async function inboundDeepEvent(child: EngineChild): Promise<Row[]> {
  const c = new TestClient(`ws://127.0.0.1:${child.wsPort}/`);
  await c.opened();
  c.send(`{"event":${deepArrayText(20_000)}}`);
  await sleep(1000);
  c.close();
  return [['1b crash (new)', 'inbound-call `/`: {"event": 20 000-deep array}: engine alive', child.alive() ? `yes (${child.find(/^uncaught exception/).length} uncaught logged)` : `no (exit ${child.exit?.code ?? child.exit?.signal})`]];
}

// ---- finding 6 ---------------------------------------------------------------------------------

/** `count` upgrades that never finish their headers, from one address; held for up to `holdS`. */
export async function halfOpen(child: EngineChild, count = 1000, holdS = 20): Promise<Row[]> {
  const partial = `GET /rooms/half HTTP/1.1\r\nHost: 127.0.0.1:${child.wsPort}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n`;
  const sockets: net.Socket[] = [];
  const closedAfter: number[] = [];
  let done = false;
  const t0 = performance.now();
  for (let i = 0; i < count; i++) {
    const s = net.connect({ host: '127.0.0.1', port: child.wsPort, localAddress: '127.0.0.1' });
    s.on('connect', () => s.write(partial));
    s.on('error', () => {});
    s.on('close', () => {
      if (!done) closedAfter.push((performance.now() - t0) / 1000);
    });
    sockets.push(s);
    if (i % 100 === 99) await sleep(50);
  }
  await sleep(1000);
  const heldAt1s = count - closedAfter.length;
  const fds = child.fdCount();
  await waitUntil(() => closedAfter.length >= count || performance.now() - t0 > holdS * 1000, holdS * 1000 + 1000, 'half-open sockets').catch(() => {});
  const stillOpen = count - closedAfter.length;
  done = true;
  for (const s of sockets) s.destroy();
  await sleep(200);
  return [
    ['6 half-open', `${count} unfinished upgrades from one address: open after 1 s`, `${heldAt1s}/${count} (server fds ${fds ?? '?'})`],
    ['6 half-open', `still held after ${holdS} s`, `${stillOpen}/${count}${closedAfter.length ? `; ${closedAfter.length} closed by the server after ${percentile(closedAfter, 50).toFixed(1)} s (median)` : ''}`],
  ];
}

// ---- finding 7 ---------------------------------------------------------------------------------

async function open(url: string, protocols: string[] | undefined, o: WebSocket.ClientOptions): Promise<TestClient | string> {
  const c = new TestClient(url, protocols, o);
  try {
    await c.opened();
    return c;
  } catch (err) {
    c.close();
    return `refused (${(err as Error).message})`;
  }
}

async function rooms(port: number): Promise<Row[]> {
  const room = uniq('owned');
  const a = await open(`ws://127.0.0.1:${port}/rooms/${room}`, undefined, OWNER);
  if (typeof a === 'string') return [['7 ownership', 'rooms: owner could join', a]];
  const b = await open(`ws://127.0.0.1:${port}/rooms/${room}`, undefined, INTRUDER);
  let v = typeof b === 'string' ? `no (intruder ${b})` : 'no';
  if (typeof b !== 'string') {
    b.send('increment');
    const got = await a.text(1500).catch(() => undefined);
    if (got === 'new value: 1') v = 'yes';
    b.close();
  }
  a.close();
  return [['7 ownership', "another client changes a room's state", v]];
}

async function playback(port: number): Promise<Row[]> {
  const url = `ws://127.0.0.1:${port}/playback`;
  const a = await open(url, undefined, OWNER);
  if (typeof a === 'string') return [['7 ownership', 'playback: owner could connect', a]];
  const name = uniq('owner-session');
  const connId = uniq('owner-conn');
  // Broadcasts queue up on both sockets: each question starts from an empty queue.
  const drain = async (c: TestClient) => {
    while (c.pending().length) await c.next();
  };
  const sessionsOf = async (c: TestClient) => {
    await drain(c);
    c.send({ type: 'GET_SESSIONS' });
    const f = await c.next((x) => x.kind === 'text' && (x.json?.type === 'SESSIONS' || x.json?.type === 'ERROR'), 2000);
    return ((f as { json: { payload?: unknown } }).json.payload ?? []) as Array<{ sessionId: number; name: string }>;
  };
  a.send({ type: 'CREATE_SESSION', payload: { name, playlist: { tracks: [1] } } });
  await sleep(100);
  const sessionId = (await sessionsOf(a)).find((s) => s.name === name)?.sessionId;
  a.send({ type: 'REGISTER_CONNECTION', payload: { connectionId: connId, name: 'owner', players: [{ audioOutputId: 'out-1', name: 'owner speaker' }] } });
  await sleep(100);
  const rows: Row[] = [];
  const b = await open(url, undefined, INTRUDER);
  if (typeof b === 'string' || sessionId === undefined) {
    a.close();
    return [['7 ownership', 'playback: intruder', typeof b === 'string' ? b : 'owner session not created']];
  }
  const seen = (await sessionsOf(b)).some((s) => s.sessionId === sessionId);
  rows.push(['7 ownership', "playback: another client's session visible (GET_SESSIONS)", seen ? 'yes' : 'no']);
  await drain(b);
  b.send({ type: 'REGISTER_CONNECTION', payload: { connectionId: uniq('intruder-conn'), name: 'intruder', players: [] } });
  const conns = await b.next((x) => x.kind === 'text' && x.json?.type === 'CONNECTIONS', 1500).catch(() => undefined);
  const leaked = conns?.kind === 'text' && JSON.stringify(conns.json).includes(connId);
  rows.push(['7 ownership', "playback: CONNECTIONS shows another client's connection id", leaked ? 'yes' : 'no']);
  b.send({ type: 'UPDATE_SESSION', payload: { sessionId, profile: 'master', playbackTarget: { type: 'AUDIO_ZONE', audioZoneId: 0 }, name: 'pwned', play: true } });
  await sleep(150);
  rows.push(['7 ownership', "playback: another client renames/plays the owner's session", (await sessionsOf(a)).find((s) => s.sessionId === sessionId)?.name === 'pwned' ? 'yes' : 'no']);
  await drain(a);
  b.send({ type: 'REGISTER_CONNECTION', payload: { connectionId: connId, name: 'intruder', players: [] } });
  const over = await a.next((x) => x.kind === 'text' && x.json?.type === 'CONNECTIONS' && JSON.stringify(x.json).includes(connId), 1500).catch(() => undefined);
  const overwritten = over?.kind === 'text' && (over.json.payload as Array<{ connectionId: string; name: string }>).some((c) => c.connectionId === connId && c.name === 'intruder');
  rows.push(['7 ownership', "playback: another client overwrites the owner's connection registration", overwritten ? 'yes' : 'no']);
  b.send({ type: 'DELETE_SESSION', payload: { sessionId } });
  await sleep(150);
  rows.push(['7 ownership', "playback: another client deletes the owner's session", (await sessionsOf(a)).some((s) => s.sessionId === sessionId) ? 'no' : 'yes']);
  a.close();
  b.close();
  return rows;
}

async function jambonz(port: number): Promise<Row[]> {
  const url = `ws://127.0.0.1:${port}/hook`;
  const a = await JambonzSim.connect(url, 'ws.jambonz.org', OWNER).catch((e: Error) => e.message);
  if (typeof a === 'string') return [['7 ownership', 'jambonz: owner could connect', a]];
  const callSid = newCallSid();
  const first = a.sessionNew(callSid);
  await a.client.next((f) => f.kind === 'text' && f.json?.msgid === first, 3000).catch(() => undefined);
  let v = 'no';
  const b = await JambonzSim.connect(url, 'ws.jambonz.org', INTRUDER).catch((e: Error) => e.message);
  if (typeof b === 'string') v = `no (intruder ${b})`;
  else {
    b.reconnect(callSid);
    await sleep(200);
    const msgid = b.gatherDigits(callSid, '/hook/menu', '2');
    const ack = await b.client.next((f) => f.kind === 'text' && f.json?.msgid === msgid, 2000).catch(() => undefined);
    if (ack?.kind === 'text' && JSON.stringify(ack.json.data ?? []).includes('You pressed 2')) v = `yes (the owner's socket ${a.client.closed ? 'was closed' : 'still open'})`;
    b.client.close();
  }
  a.callStatus(callSid, 'completed');
  await sleep(50);
  a.client.close();
  return [['7 ownership', "jambonz: session:reconnect from another socket takes over a live call", v]];
}

async function handshakes(port: number): Promise<Row[]> {
  const origin: string[] = [];
  const evil: string[] = [];
  for (const route of WS_ROUTE_NAMES) {
    const { path, known } = WS_ROUTES[route];
    const o = await open(`ws://127.0.0.1:${port}${path}`, known.length ? [...known] : undefined, { headers: { ...INTRUDER.headers, Origin: 'http://evil.example' } });
    if (typeof o !== 'string') {
      origin.push(route);
      o.close();
    }
    const e = await open(`ws://127.0.0.1:${port}${path}`, ['evil'], INTRUDER);
    if (typeof e !== 'string') {
      if (e.ws.protocol === 'evil') evil.push(route);
      e.close();
    }
  }
  const r = await fetch(`http://127.0.0.1:${port}/rooms`);
  await r.text();
  return [
    ['7 auth', 'upgrade with Origin http://evil.example accepted on', origin.join(', ') || 'none'],
    ['7 auth', 'subprotocol `evil` echoed by', evil.join(', ') || 'none'],
    ['7 auth', 'GET /rooms without credentials', String(r.status)],
  ];
}

async function floods(port: number): Promise<Row[]> {
  const hook = await JambonzSim.connect(`ws://127.0.0.1:${port}/hook`, 'ws.jambonz.org', INTRUDER).catch((e: Error) => e.message);
  let hookV = 'refused';
  if (typeof hook !== 'string') {
    for (let i = 0; i < 3000; i++) hook.send({ type: 'verb:status', msgid: `m${i}`, call_sid: 'nobody', data: {} });
    await sleep(800);
    hookV = hook.client.closed ? `yes (closed ${hook.client.closed.code})` : 'no (3000 frames in a burst, socket still open)';
    hook.client.close();
  }
  const audio = new JambonzAudioSim(`ws://127.0.0.1:${port}/recording`, 'audio.jambonz.org');
  let audioV = 'refused';
  try {
    await audio.open();
    audio.sendMetadata(simMetadata(newCallSid()));
    const frame = Buffer.alloc(640);
    for (let i = 0; i < 5000 && !audio.closed; i++) audio.sendFrame(frame);
    await sleep(800);
    audioV = audio.closed ? `yes (closed ${audio.closed.code})` : 'no (5000 frames = 100 s of audio in a burst, socket still open)';
    await audio.close();
  } catch {
    /* refused */
  }
  return [
    ['7 rate limits', '/hook rate-limited', hookV],
    ['7 rate limits', '/recording rate-limited', audioV],
  ];
}

export async function crossClient(child: EngineChild): Promise<Row[]> {
  const port = child.wsPort;
  const sip = await sipCallWorks(child.sipPort, '127.0.0.8');
  return [
    ...(await rooms(port)),
    ...(await playback(port)),
    ...(await jambonz(port)),
    ...(await handshakes(port)),
    ...(await floods(port)),
    ['7 auth', 'SIP INVITE from an unknown address answered', sip ? `no (${sip})` : 'yes (200, call completed)'],
  ];
}
