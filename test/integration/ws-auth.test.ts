// Authentication on the WebSocket/HTTP port over real loopback sockets (issue 13, finding 7): with
// `security.auth` every WebSocket route and every HTTP route but /status needs a bearer token, a
// signed URL or HTTP Basic; failures are 401 on the upgrade and never reach a route. Also room
// ownership and sharing, and GET /rooms behind auth.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import http from 'node:http';
import WebSocket from 'ws';
import { createEngine, type Engine } from '../../src/engine.js';
import { counterService } from '../../src/rooms/index.js';
import { mintToken, signUrl } from '../../src/http/auth.js';
import { TestClient } from '../helpers/ws-client.js';

const SECRET = 'test-secret-0123456789abcdef';
const USERS = { jambonz: 'hook-password' };

/** Every WebSocket route the engine serves, with the subprotocol its clients offer. */
const WS_ROUTES: Array<{ path: string; protocol?: string }> = [
  { path: '/' },
  { path: '/rooms/lobby' },
  { path: '/playback' },
  { path: '/hook', protocol: 'ws.jambonz.org' },
  { path: '/recording', protocol: 'audio.jambonz.org' },
];

let engine: Engine;
let open: Engine;
let dir: string;

function make(auth: boolean): Engine {
  const e = createEngine({
    host: '127.0.0.1',
    wsPort: 0,
    sipPort: false,
    inboundCall: { offerDelayMs: 60_000 },
    rooms: { service: counterService },
    playback: {},
    jambonz: { recordingsDir: dir },
    ...(auth ? { security: { auth: { secret: SECRET, users: USERS } } } : {}),
  });
  e.jambonz.hook('/hook', (s) => s.reply([{ verb: 'pause', length: 1 }]));
  e.jambonz.audio('/recording');
  return e;
}

before(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'callchart-auth-'));
  engine = make(true);
  open = make(false);
  await engine.listen();
  await open.listen();
});

after(async () => {
  await engine.close();
  await open.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

type Outcome = { opened: true; protocol: string } | { opened: false; status: number; wwwAuthenticate: string[] };

/** Try an upgrade; close the socket again if it opened. */
function attempt(url: string, protocol?: string, options: WebSocket.ClientOptions = {}): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, protocol ? [protocol] : [], options);
    ws.once('open', () => {
      resolve({ opened: true, protocol: ws.protocol });
      ws.close();
    });
    ws.once('unexpected-response', (_req, res) => {
      const h = res.headers['www-authenticate'];
      resolve({ opened: false, status: res.statusCode ?? 0, wwwAuthenticate: h === undefined ? [] : Array.isArray(h) ? h : [h] });
      res.resume();
      ws.terminate();
    });
    ws.once('error', (err) => reject(err));
  });
}

function get(port: number, p: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string; headers: http.IncomingHttpHeaders }> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path: p, headers }, (res) => {
        let body = '';
        res.on('data', (d) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }));
      })
      .on('error', reject);
  });
}

/**
 * ws's `auth: 'user:password'` option, exactly what jambonz's ws-requestor passes (ws sends it as
 * `Authorization: Basic …`); @types/ws does not declare it.
 */
const wsAuth = (userPw: string) => ({ auth: userPw }) as WebSocket.ClientOptions;
const basic = (user: string, pw: string) => `Basic ${Buffer.from(`${user}:${pw}`).toString('base64')}`;

test('auth off (the default): every route opens without credentials', async () => {
  for (const r of WS_ROUTES) {
    const o = await attempt(`ws://127.0.0.1:${open.wsPort}${r.path}`, r.protocol);
    assert.equal(o.opened, true, r.path);
  }
  assert.equal((await get(open.wsPort, '/rooms')).status, 200);
});

test('auth on: no credentials → 401 with Bearer and Basic challenges on every WebSocket route; nothing reaches a route', async () => {
  const callsBefore = engine.calls.size;
  for (const r of WS_ROUTES) {
    const o = await attempt(`ws://127.0.0.1:${engine.wsPort}${r.path}`, r.protocol);
    assert.equal(o.opened, false, `${r.path} refused`);
    if (o.opened) continue;
    assert.equal(o.status, 401, r.path);
    // Node's client joins the two WWW-Authenticate lines into one value.
    const challenges = o.wwwAuthenticate.join(', ');
    assert.match(challenges, /Bearer realm="callchart"/, r.path);
    assert.match(challenges, /Basic realm="callchart", charset="UTF-8"/, r.path);
  }
  assert.equal(engine.calls.size, callsBefore, 'the inbound-call route never ran');
  assert.deepEqual(engine.rooms!.rooms(), [], 'no room was created');
});

test('auth on: a bearer header, a ?token= query, a signed URL and HTTP Basic each open every WebSocket route', async () => {
  const token = mintToken(SECRET, { sub: 'alice' });
  for (const r of WS_ROUTES) {
    const base = `ws://127.0.0.1:${engine.wsPort}${r.path}`;
    const viaHeader = await attempt(base, r.protocol, { headers: { authorization: `Bearer ${token}` } });
    assert.deepEqual(viaHeader, { opened: true, protocol: r.protocol ?? '' }, `${r.path} bearer header`);
    const viaQuery = await attempt(`${base}?token=${encodeURIComponent(token)}`, r.protocol);
    assert.equal(viaQuery.opened, true, `${r.path} ?token=`);
    const viaSigned = await attempt(signUrl(SECRET, base, { sub: 'alice', ttlSeconds: 60 }), r.protocol);
    assert.equal(viaSigned.opened, true, `${r.path} signed URL`);
    // jambonz passes the application's username/password as ws's `auth` option.
    const viaBasic = await attempt(base, r.protocol, wsAuth('jambonz:hook-password'));
    assert.equal(viaBasic.opened, true, `${r.path} basic`);
  }
  const viaEngine = await attempt(engine.auth!.signUrl(`ws://127.0.0.1:${engine.wsPort}/playback`, { sub: 'alice' }));
  assert.equal(viaEngine.opened, true, 'engine.auth.signUrl mints the same URLs');
});

test('auth on: wrong, expired, tampered and out-of-scope credentials are refused 401', async () => {
  const base = `ws://127.0.0.1:${engine.wsPort}`;
  const refused = async (o: Promise<Outcome>, what: string) => {
    const r = await o;
    assert.deepEqual(r.opened ? r : { opened: false, status: r.status }, { opened: false, status: 401 }, what);
  };
  const past = Math.floor(Date.now() / 1000) - 7200;
  await refused(attempt(`${base}/hook`, 'ws.jambonz.org', wsAuth('jambonz:wrong')), 'wrong password');
  await refused(attempt(`${base}/hook`, 'ws.jambonz.org', wsAuth('mallory:hook-password')), 'unknown user');
  await refused(attempt(`${base}/`, undefined, { headers: { authorization: `Bearer ${mintToken(SECRET, { sub: 'alice', now: past })}` } }), 'expired token');
  await refused(attempt(`${base}/`, undefined, { headers: { authorization: `Bearer ${mintToken('another-secret-0123456789', { sub: 'alice' })}` } }), 'token of another secret');
  const t = mintToken(SECRET, { sub: 'alice' });
  const forged = `${t.split('.')[0]}.${Buffer.from(JSON.stringify({ sub: 'root', exp: 9e9 })).toString('base64url')}.${t.split('.')[2]}`;
  await refused(attempt(`${base}/?token=${forged}`), 'payload swapped under a valid MAC');
  await refused(attempt(`${base}/?token=${mintToken(SECRET, { sub: 'alice', scope: '/rooms/a' })}`), 'token scoped to another path');
  const signed = signUrl(SECRET, `${base}/rooms/a`, { sub: 'alice' });
  await refused(attempt(signed.replace('/rooms/a', '/rooms/b')), 'signed URL moved to another path');
  await refused(attempt(signed.replace('cc_sub=alice', 'cc_sub=bob')), 'signed URL with another principal');
  await refused(attempt(`${signed}&extra=1`), 'signed URL with an added parameter');
  await refused(attempt(signUrl(SECRET, `${base}/rooms/a`, { sub: 'alice', now: past })), 'expired signed URL');
  await refused(attempt(`${base}/`, undefined, { headers: { authorization: 'Digest foo' } }), 'unknown scheme');
});

test('auth on: GET /rooms needs credentials, GET /status never does', async () => {
  const anon = await get(engine.wsPort, '/rooms');
  assert.equal(anon.status, 401);
  assert.match(String(anon.headers['www-authenticate']), /Bearer realm="callchart"/);
  const ok = await get(engine.wsPort, '/rooms', { authorization: `Bearer ${mintToken(SECRET, { sub: 'alice' })}` });
  assert.equal(ok.status, 200);
  assert.equal((await get(engine.wsPort, '/rooms', { authorization: basic('jambonz', 'hook-password') })).status, 200);
  assert.equal((await get(engine.wsPort, '/status')).status, 200);
});

test('room ownership: the creator owns the room; another principal joins only once shared, or with a URL signed for that room', async () => {
  const url = (sub: string, room: string) => `ws://127.0.0.1:${engine.wsPort}/rooms/${room}?token=${mintToken(SECRET, { sub })}`;
  const list = async (sub: string) => JSON.parse((await get(engine.wsPort, '/rooms', { authorization: `Bearer ${mintToken(SECRET, { sub })}` })).body) as Array<{ roomId: string; owner?: string }>;
  const alice = new TestClient(url('alice', 'secret-room'));
  await alice.opened();
  await waitFor(() => engine.rooms!.rooms().some((r) => r.roomId === 'secret-room'));

  const bob = new TestClient(url('bob', 'secret-room'));
  assert.deepEqual(await bob.waitClose(), { code: 1008, reason: 'forbidden: this room is not shared with you' });
  assert.deepEqual(await list('bob'), [], "bob does not see alice's room");
  assert.deepEqual((await list('alice')).filter((r) => r.roomId === 'secret-room').map((r) => r.owner), ['alice']);

  // Bob's messages never reached the room; alice's do.
  alice.send('increment');
  assert.equal(await alice.text(), 'new value: 1');

  assert.equal(engine.rooms!.share('secret-room', 'bob'), true);
  assert.equal(engine.rooms!.share('no-such-room', 'bob'), false);
  const bob2 = new TestClient(url('bob', 'secret-room'));
  await bob2.opened();
  bob2.send('increment');
  assert.equal(await bob2.text(), 'new value: 2');
  assert.equal(await alice.text(), 'new value: 2');
  assert.deepEqual((await list('bob')).map((r) => r.roomId), ['secret-room']);

  // A capability URL: signed by the server for this room's path, it admits carol without a share.
  const carol = new TestClient(signUrl(SECRET, `ws://127.0.0.1:${engine.wsPort}/rooms/secret-room`, { sub: 'carol', ttlSeconds: 60 }));
  await carol.opened();
  // …but a token scoped elsewhere, or to every room, is no invitation.
  const dave = new TestClient(`ws://127.0.0.1:${engine.wsPort}/rooms/secret-room?token=${mintToken(SECRET, { sub: 'dave', scope: '/rooms' })}`);
  assert.equal((await dave.waitClose()).code, 1008);

  assert.equal(engine.rooms!.unshare('secret-room', 'bob'), true);
  const bob3 = new TestClient(url('bob', 'secret-room'));
  assert.equal((await bob3.waitClose()).code, 1008, 'unshared: bob cannot join again');
  for (const c of [alice, bob2, carol]) c.close();
});

async function waitFor(cond: () => boolean): Promise<void> {
  for (let i = 0; i < 300 && !cond(); i++) await new Promise((r) => setTimeout(r, 10));
  assert.ok(cond(), 'condition never met');
}

test('wrong Basic passwords are throttled per address (429 without checking); tokens and other addresses are unaffected', async () => {
  const e = createEngine({ host: '127.0.0.1', wsPort: 0, sipPort: false, inboundCall: false, rooms: { service: counterService }, security: { auth: { secret: SECRET, users: USERS, maxPasswordFailures: 3 } } });
  await e.listen();
  const from = (localAddress: string, authorization: string) =>
    new Promise<number>((resolve, reject) => {
      http.get({ host: '127.0.0.1', port: e.wsPort, path: '/rooms', localAddress, headers: { authorization } }, (res) => (res.resume(), resolve(res.statusCode ?? 0))).on('error', reject);
    });
  try {
    for (let i = 0; i < 3; i++) assert.equal(await from('127.0.0.9', basic('jambonz', `guess-${i}`)), 401);
    assert.equal(await from('127.0.0.9', basic('jambonz', 'hook-password')), 429, 'locked: even the right password is not checked');
    assert.equal(await from('127.0.0.10', basic('jambonz', 'hook-password')), 200, 'another address is not locked');
    assert.equal(await from('127.0.0.9', `Bearer ${mintToken(SECRET, { sub: 'alice' })}`), 200, 'a token cannot be guessed, so it is not locked out');
    const ws = await attempt(`ws://127.0.0.1:${e.wsPort}/rooms/x`, undefined, { ...wsAuth('jambonz:hook-password'), localAddress: '127.0.0.9' });
    assert.deepEqual(ws.opened ? ws : { opened: false, status: ws.status }, { opened: false, status: 429 }, 'the WebSocket upgrade is throttled too');
  } finally {
    await e.close();
  }
});
