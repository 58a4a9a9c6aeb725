// The statechart viewer (--inspect) on loopback: its event stream carries a real SIP call's and
// dialog's definitions, snapshots and events; it binds 127.0.0.1 by default, refuses foreign
// Host names without a token and everything without the token when one is set; the filter keeps
// actors out; the Stately bridge streams Stately's format to its own page.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import os from 'node:os';
import { spawnSync } from 'node:child_process';
import { createEngine, type Engine, type EngineOptions, type Call } from '../../src/index.js';
import type { InspectOptions } from '../../src/inspect/index.js';
import type { ViewerMessage } from '../../src/inspect/server.js';
import { openSse, get } from '../helpers/sse.js';
import { RawCall } from '../helpers/raw-call.js';

const engines: Engine[] = [];
const sockets: Array<{ close(): void }> = [];
after(async () => {
  // Sockets first (a failed test leaves its SIP client or event stream open), then the engines.
  for (const s of sockets) s.close();
  await Promise.all(engines.map((e) => e.close()));
});
/** Closed after the tests even when one fails half-way. */
function track<T extends { close(): void }>(s: T): T {
  sockets.push(s);
  return s;
}

let rtpBase = 36000;
async function start(inspect: InspectOptions | boolean, o: EngineOptions = {}): Promise<Engine> {
  const range = `${rtpBase}-${rtpBase + 99}`;
  rtpBase += 100;
  const engine = createEngine({ host: '127.0.0.1', wsPort: false, sipPort: 0, rtpPorts: range, inboundCall: false, inspect, ...o });
  engines.push(engine);
  await engine.listen();
  return engine;
}

type Msg = ViewerMessage;
const isActor = (id: string, pred: (a: Extract<Msg, { type: 'actor' }>['actor']) => boolean) => (m: Msg) => m.type === 'actor' && m.actor.id === id && pred(m.actor);

test('the viewer streams a SIP call and its dialog: definitions once, snapshots and events as they happen', async () => {
  const e = await start({ port: 0 }, { onIncomingCall: () => ({ action: 'defer' }) });
  assert.match(e.inspectUrl!, /^http:\/\/127\.0\.0\.1:\d+\/inspect$/);
  const base = e.inspectUrl!.replace(/\/inspect$/, '');
  const list = track(await openSse<Msg>(`${base}/inspect/events`));
  assert.equal(list.status, 200);
  await list.next((m) => m.type === 'hello');

  const incoming = new Promise<Call>((r) => e.once('call', r));
  const sip = track(await RawCall.invite(e.sipPort!, '+15550001111'));
  const call = await incoming;
  await sip.ringing();
  // The list announces the call (and its dialog) as they start.
  await list.next((m) => m.type === 'actors' && m.rows.some((r) => r.id === call.id && r.kind === 'call' && r.state === 'ringing'));
  const dialogId = `dlg-${sip.sipCallId}`;
  await list.next((m) => m.type === 'actors' && m.rows.some((r) => r.id === dialogId && r.kind === 'dialog'));

  const one = track(await openSse<Msg>(`${base}/inspect/events?actor=${encodeURIComponent(call.id)}`));
  const def = (await one.next((m) => m.type === 'definition')) as Extract<Msg, { type: 'definition' }>;
  assert.equal(def.machine, 'call');
  assert.deepEqual(def.definition.states.map((s) => s.key), ['created', 'ringing', 'active', 'ended']);
  const ringing = def.definition.states.find((s) => s.key === 'ringing')!;
  assert.ok(ringing.transitions.some((t) => t.event === 'CALL.ANSWER' && t.targets[0] === 'call.active' && t.guard === 'isInbound'));
  const r = await one.next(isActor(call.id, (a) => a.state === 'ringing'));
  assert.ok(r.type === 'actor' && r.actor.active.includes('call.ringing'));
  // The caller's number is in the call's context: shown to the viewer, which is loopback-only here.
  assert.ok(r.type === 'actor' && JSON.stringify(r.actor.context).includes('+15550001111'));

  call.answer();
  await sip.answered();
  const a = await one.next(isActor(call.id, (x) => x.state === 'active.talking'));
  assert.ok(a.type === 'actor' && a.actor.active.includes('call.active') && a.actor.active.includes('call.active.talking'));
  await one.next((m) => m.type === 'events' && m.events.some((ev) => ev.type === 'CALL.ANSWER' && ev.to === 'active.talking'));

  const dlg = track(await openSse<Msg>(`${base}/inspect/events?actor=${encodeURIComponent(dialogId)}`));
  const dDef = (await dlg.next((m) => m.type === 'definition')) as Extract<Msg, { type: 'definition' }>;
  assert.equal(dDef.machine, 'sipDialog');
  await dlg.next(isActor(dialogId, (x) => x.state === 'live.confirmed' && x.active.includes('sipDialog.live.confirmed')));

  await sip.bye();
  const ended = await one.next(isActor(call.id, (x) => x.state === 'ended'));
  assert.ok(ended.type === 'actor' && ended.actor.status === 'done' && ended.actor.active.includes('call.ended'));
  await one.next((m) => m.type === 'events' && m.events.some((ev) => ev.type === 'CALL.REMOTE_HANGUP' && ev.to === 'ended'));
  // A stopped actor stays listed (greyed) for a while rather than vanishing.
  await list.next((m) => m.type === 'actors' && m.rows.some((x) => x.id === call.id && x.status === 'done'));
  await new Promise((res) => setTimeout(res, 300));
  assert.ok(!list.messages.some((m) => m.type === 'actors' && m.removed.includes(call.id)));
  // Definitions are sent once per machine and stream, not with every snapshot; the list stream
  // (nothing selected) carries none.
  assert.equal(one.messages.filter((m) => m.type === 'definition').length, 1);
  assert.equal(list.messages.filter((m) => m.type === 'definition').length, 0);
  for (const c of [list, one, dlg]) c.close();
  sip.close();
});

test('the viewer binds 127.0.0.1 by default and answers only to loopback Host names without a token', async () => {
  // Only the port is given (an ephemeral one, so the test never meets a busy 8080): the address is the default.
  const e = await start({ port: 0 });
  const port = Number(new URL(e.inspectUrl!).port);
  const lan = Object.values(os.networkInterfaces())
    .flat()
    .find((i) => i && i.family === 'IPv4' && !i.internal)?.address;
  if (lan) {
    // Not reachable on the machine's other addresses.
    const err = await new Promise<NodeJS.ErrnoException | undefined>((resolve) => {
      const s = net.connect(port, lan);
      s.once('connect', () => (s.destroy(), resolve(undefined)));
      s.once('error', (x) => resolve(x));
    });
    assert.equal(err?.code, 'ECONNREFUSED', `the viewer answered on ${lan}`);
  }
  const ok = await get(`http://127.0.0.1:${port}/inspect`);
  assert.equal(ok.status, 200);
  assert.match(String(ok.headers['content-type']), /text\/html/);
  assert.match(String(ok.headers['content-security-policy']), /default-src 'none'; script-src 'self'/);
  assert.match(ok.body, /<script src="\/inspect\/viewer\.js">/);
  assert.ok(!/https?:\/\//.test(ok.body.replace(/http:\/\/www\.w3\.org[^"]*/g, '')), 'the page references no external URL');
  for (const asset of ['/inspect/viewer.js', '/inspect/viewer.css', '/inspect/elk.js']) assert.equal((await get(`http://127.0.0.1:${port}${asset}`)).status, 200, asset);
  const root = await get(`http://127.0.0.1:${port}/`);
  assert.equal(root.status, 302);
  assert.equal(root.headers.location, '/inspect');
  // DNS rebinding: a page at attacker.example whose name resolves to 127.0.0.1.
  const rebound = await get(`http://127.0.0.1:${port}/inspect/events`, { Host: `attacker.example:${port}` });
  assert.equal(rebound.status, 421);
  assert.equal((await get(`http://127.0.0.1:${port}/inspect`, { Host: `localhost:${port}` })).status, 200);
});

test('with a token every request needs it (cookie from /inspect?token=, or Bearer)', async () => {
  const token = 'test-token-0123456789abcdef';
  const e = await start({ port: 0, token });
  const base = e.inspectUrl!.replace(/\/inspect$/, '');
  const port = new URL(base).port;
  assert.equal((await get(`${base}/inspect`)).status, 401);
  assert.equal((await get(`${base}/inspect/events`)).status, 401);
  assert.equal((await get(`${base}/inspect/viewer.js`)).status, 401);
  assert.equal((await get(`${base}/inspect?token=wrong-token-0123456789`)).status, 401);
  assert.equal((await get(`${base}/inspect/events`, { Authorization: 'Bearer wrong-token-0123456789' })).status, 401);
  const login = await get(`${base}/inspect?token=${token}`);
  assert.equal(login.status, 303);
  assert.equal(login.headers.location, '/inspect', 'the token leaves the address bar');
  const cookie = String(login.headers['set-cookie']?.[0]);
  assert.match(cookie, new RegExp(`^callchart_inspect_${port}=`));
  assert.match(cookie, /HttpOnly/);
  assert.match(cookie, /SameSite=Strict/);
  const cookieHeader = cookie.split(';')[0]!;
  assert.equal((await get(`${base}/inspect`, { Cookie: cookieHeader })).status, 200);
  const s = track(await openSse<Msg>(`${base}/inspect/events`, { Cookie: cookieHeader }));
  assert.equal(s.status, 200);
  await s.next((m) => m.type === 'hello');
  s.close();
  const b = track(await openSse<Msg>(`${base}/inspect/events`, { Authorization: `Bearer ${token}` }));
  assert.equal(b.status, 200);
  b.close();
  // With a token, any Host name is fine (the token is what protects it).
  assert.equal((await get(`${base}/inspect`, { Host: 'callchart.lan', Authorization: `Bearer ${token}` })).status, 200);
});

test('binding the viewer off loopback needs a token; a short token is refused', async () => {
  const noToken = createEngine({ wsPort: false, sipPort: false, inspect: { port: 0, host: '0.0.0.0' } });
  await assert.rejects(noToken.listen(), /binding it to 0\.0\.0\.0 needs a token/);
  await noToken.close();
  const short = createEngine({ wsPort: false, sipPort: false, inspect: { port: 0, token: 'short' } });
  await assert.rejects(short.listen(), /at least 16 characters/);
  await short.close();
});

test('the inspect filter keeps unwatched actors out of the viewer', async () => {
  const e = await start({ port: 0, filter: 'no-such-call-prefix' }, { onIncomingCall: () => ({ action: 'accept' }) });
  const base = e.inspectUrl!.replace(/\/inspect$/, '');
  const list = track(await openSse<Msg>(`${base}/inspect/events`));
  const sip = track(await RawCall.invite(e.sipPort!));
  await sip.answered();
  await sip.bye();
  await new Promise((r) => setTimeout(r, 300));
  assert.ok(!list.messages.some((m) => (m.type === 'actors' && m.rows.length > 0) || (m.type === 'hello' && m.actors.length > 0)));
  list.close();
  sip.close();
  const calls = await start({ port: 0, filter: 'call' }, { onIncomingCall: () => ({ action: 'accept' }) });
  const l2 = track(await openSse<Msg>(`${calls.inspectUrl!}/events`));
  const s2 = track(await RawCall.invite(calls.sipPort!));
  await s2.answered();
  await l2.next((m) => m.type === 'actors' && m.rows.some((r) => r.kind === 'call'));
  await s2.bye();
  await new Promise((r) => setTimeout(r, 300));
  const kinds = new Set(l2.messages.flatMap((m) => (m.type === 'actors' ? m.rows.map((r) => r.kind) : [])));
  assert.deepEqual([...kinds], ['call']);
  l2.close();
  s2.close();
});

test('the Stately option serves its bridge page (framing stately.ai, posting to that origin only) and streams Stately events', async () => {
  const e = await start({ port: 0, stately: true }, { onIncomingCall: () => ({ action: 'accept' }) });
  const base = e.inspectUrl!.replace(/\/inspect$/, '');
  const page = await get(`${base}/inspect/stately`);
  assert.equal(page.status, 200);
  assert.match(page.body, /<iframe id="stately" src="https:\/\/stately\.ai\/inspect" data-origin="https:\/\/stately\.ai"/);
  assert.match(page.body, /needs internet/);
  assert.match(String(page.headers['content-security-policy']), /frame-src https:\/\/stately\.ai/);
  const bridge = await get(`${base}/inspect/stately.js`);
  assert.ok(!bridge.body.includes("'*'"), 'the bridge never posts to any origin');
  const hello = track(await openSse<Msg>(`${base}/inspect/events`));
  assert.ok((await hello.next((m) => m.type === 'hello')).type === 'hello' && (hello.messages[0] as Extract<Msg, { type: 'hello' }>).stately);
  hello.close();
  const s = track(await openSse<{ type: string; event?: { type: string }; definition?: string }>(`${base}/inspect/stately/events`));
  const sip = track(await RawCall.invite(e.sipPort!));
  await sip.answered();
  // Stately's format: an actor event carrying the machine's config, then its events.
  await s.next((m) => m.type === '@xstate.actor' && typeof m.definition === 'string' && m.definition.includes('"id":"call"'));
  await s.next((m) => m.type === '@xstate.event' && m.event?.type === 'CALL.ANSWER');
  await sip.bye();
  s.close();
  sip.close();
  // Without the option there is no bridge.
  const plain = await start({ port: 0 });
  assert.equal((await get(`${plain.inspectUrl!}/stately`)).status, 404);
});

test('npm pack ships the viewer assets', () => {
  const r = spawnSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const files = (JSON.parse(r.stdout) as Array<{ files: Array<{ path: string }> }>)[0]!.files.map((f) => f.path);
  for (const f of ['assets/inspect/index.html', 'assets/inspect/viewer.js', 'assets/inspect/viewer.css', 'assets/inspect/stately.js']) assert.ok(files.includes(f), `${f} is not in the package`);
});
