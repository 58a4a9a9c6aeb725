// Health and drain over real loopback sockets: GET /health, engine.drain(), POST /admin/drain, and
// what a peer sees while the engine drains (SIP 503 + Retry-After for new INVITEs and OPTIONS,
// WebSocket close 1013 for new calls) while a live call carries on and ends normally.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { spawn } from 'node:child_process';
import dgram from 'node:dgram';
import WebSocket from 'ws';
import { createEngine, type Engine, type Call } from '../../src/index.js';
import { RawCall } from '../helpers/raw-call.js';
import { RawSip, request } from '../helpers/raw-sip.js';
import { sample } from '../helpers/prom.js';
import { loopbackEngines } from '../helpers/loopback-engines.js';

const loopback = loopbackEngines(36900, 50, { onIncomingCall: () => ({ action: 'accept' }) });
const start = loopback.start;
after(() => loopback.closeAll());

const version = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
const TOKEN = 'admin-token-0123456789';

async function getHealth(e: Engine): Promise<{ status: number; body: Record<string, unknown> & { calls: Record<string, number> } }> {
  const res = await fetch(`http://127.0.0.1:${e.wsPort}/health`);
  assert.match(res.headers.get('content-type') ?? '', /application\/json/);
  return { status: res.status, body: (await res.json()) as never };
}

const until = async (cond: () => boolean, ms = 3000): Promise<void> => {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
};

test('GET /health: open, live calls by transport, version, uptime; public even with auth on', async () => {
  const e = await start({ security: { auth: { secret: 'health-secret-0123456789' } } });
  const h = await getHealth(e);
  assert.equal(h.status, 200);
  assert.equal(h.body.status, 'open');
  assert.equal(h.body.version, version);
  assert.equal(typeof h.body.uptimeSeconds, 'number');
  assert.deepEqual(h.body.calls, { sip: 0, ws: 0, jambonz: 0, total: 0 });
  // The rest of the port still wants credentials.
  assert.equal((await fetch(`http://127.0.0.1:${e.wsPort}/metrics`)).status, 401);
  const c = await RawCall.invite(e.sipPort!);
  await c.answered();
  const live = await getHealth(e);
  assert.equal(live.body.calls.sip, 1);
  assert.equal(live.body.calls.total, 1);
  await c.bye();
  c.close();
});

test('draining: new INVITE and OPTIONS get 503 + Retry-After, the live call goes on and ends, then idle', async () => {
  const e = await start({ drain: { retryAfterS: 17 } });
  const port = e.sipPort!;
  const live = await RawCall.invite(port);
  await live.answered();
  const events: string[] = [];
  e.on('draining', () => events.push('draining'));
  e.on('idle', () => events.push('idle'));
  let drained = false;
  const done = e.drain().then(() => (drained = true));
  assert.equal(e.status, 'draining');
  const h = await getHealth(e);
  assert.equal(h.status, 503);
  assert.equal(h.body.status, 'draining');
  assert.equal(h.body.idle, false);
  assert.equal(h.body.calls.sip, 1);

  const r = await new RawSip().open();
  r.send(request('INVITE', port, r.port, { 'Call-ID': 'drain-new@x' }), port);
  const refused = await r.response((x) => x.status >= 200);
  assert.equal(refused.status, 503);
  assert.equal(refused.headers.get('Retry-After'), '17');
  assert.match(refused.headers.get('To') ?? '', /tag=/);
  r.send(request('OPTIONS', port, r.port), port);
  const opt = await r.response((x) => x.headers.get('CSeq')?.endsWith('OPTIONS') === true);
  assert.equal(opt.status, 503);
  assert.equal(opt.headers.get('Retry-After'), '17');
  r.close();
  assert.equal(e.calls.size, 1, 'no call was created for the refused INVITE');

  // The live call's in-dialog BYE passes the edge and ends it.
  assert.equal(drained, false);
  await live.bye();
  live.close();
  await done;
  assert.deepEqual(events, ['draining', 'idle']);
  const idle = await getHealth(e);
  assert.equal(idle.body.status, 'draining');
  assert.equal(idle.body.idle, true);
  const text = await e.metrics();
  assert.equal(sample(text, 'callchart_sip_refused_total', { reason: 'draining' }), 1);
  assert.equal(sample(text, 'callchart_draining'), 1);

  // Called off: calls are taken again.
  e.resume();
  assert.equal((await getHealth(e)).status, 200);
  const again = await RawCall.invite(port);
  await again.answered();
  await again.bye();
  again.close();
});

test('a retransmitted INVITE of a call that rang before the drain is absorbed, not refused', async () => {
  let ringing: Call | undefined;
  const e = await start({ onIncomingCall: (call) => void (ringing = call) });
  const port = e.sipPort!;
  const c = await new RawSip().open();
  const invite = request('INVITE', port, c.port, { 'Call-ID': 'drain-retx@x' });
  c.send(invite, port);
  await c.response((x) => x.status === 180);
  void e.drain();
  c.send(invite, port);
  await new Promise((r) => setTimeout(r, 150));
  assert.equal(c.got.filter((x) => x.status === 503).length, 0, 'no 503 for the retransmission');
  ringing!.answer();
  assert.equal((await c.response((x) => x.status === 200)).status, 200);
  ringing!.hangup();
  c.close();
});

test('draining: a new WebSocket call is closed with 1013', async () => {
  const e = await start({ inboundCall: {} });
  void e.drain();
  const ws = new WebSocket(`ws://127.0.0.1:${e.wsPort}/`);
  const [code, reason] = await new Promise<[number, string]>((resolve) => ws.on('close', (c, r) => resolve([c, r.toString()])));
  assert.equal(code, 1013);
  assert.match(reason, /draining/);
  assert.equal(sample(await e.metrics(), 'callchart_calls_refused_draining_total'), 1);
});

test('drain({ exitWhenIdle }) closes the engine when the last call ends', async () => {
  const e = await start();
  const c = await RawCall.invite(e.sipPort!);
  await c.answered();
  const closed = new Promise<void>((r) => e.once('closed', () => r()));
  void e.drain({ exitWhenIdle: true });
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(e.status, 'draining');
  await c.bye();
  c.close();
  await closed;
});

test('POST /admin/drain: 404 without adminToken; 401 without the bearer; 202 drains with it', async () => {
  const plain = await start();
  assert.equal((await fetch(`http://127.0.0.1:${plain.wsPort}/admin/drain`, { method: 'POST' })).status, 404);
  assert.throws(() => createEngine({ wsPort: false, sipPort: false, adminToken: 'short' }), /at least 16/);

  const e = await start({ adminToken: TOKEN, security: { auth: { secret: 'other-secret-0123456789' } } });
  const url = `http://127.0.0.1:${e.wsPort}/admin/drain?exitWhenIdle=false`;
  assert.equal((await fetch(url, { method: 'POST' })).status, 401);
  assert.equal((await fetch(url, { method: 'POST', headers: { authorization: 'Bearer wrong-token-0123456789' } })).status, 401);
  assert.equal((await fetch(`http://127.0.0.1:${e.wsPort}/admin/drain`, { headers: { authorization: `Bearer ${TOKEN}` } })).status, 401, 'GET is no admin route: the server auth applies');
  assert.equal(e.status, 'open');
  const ok = await fetch(url, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}` } });
  assert.equal(ok.status, 202);
  assert.equal(((await ok.json()) as { status: string }).status, 'draining');
  assert.equal(e.status, 'draining');
  const resumed = await fetch(`http://127.0.0.1:${e.wsPort}/admin/resume`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}` } });
  assert.equal(resumed.status, 202);
  assert.equal(e.status, 'open');
});

test('callchart serve: SIGUSR1 drains; the process exits 0 when its last call ends', { timeout: 30_000 }, async () => {
  // A free UDP port picked here: the CLI's --sip-port 0 has meant "off".
  const probe = dgram.createSocket('udp4');
  await new Promise<void>((r) => probe.bind(0, '127.0.0.1', () => r()));
  const sipPort = probe.address().port;
  await new Promise<void>((r) => probe.close(() => r()));
  const p = spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts', 'serve', '--ws-port', '0', '--host', '127.0.0.1', '--sip-port', String(sipPort), '--rtp-ports', '37900-37999', '--metrics-port', '0'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  p.stdout.on('data', (d) => (out += d));
  const exited = new Promise<number | null>((r) => p.on('exit', r));
  await until(() => out.includes('callchart ready'), 15_000);
  // The demo app answers SIP calls at once.
  const c = await RawCall.invite(sipPort);
  await c.answered();
  p.kill('SIGUSR1');
  await until(() => out.includes('draining'), 5000);
  const r = await new RawSip().open();
  r.send(request('INVITE', sipPort, r.port, { 'Call-ID': 'cli-drain@x' }), sipPort);
  assert.equal((await r.response((x) => x.status >= 200)).status, 503);
  r.close();
  let gone = false;
  void exited.then(() => (gone = true));
  await new Promise((res) => setTimeout(res, 200));
  assert.equal(gone, false, 'still serving the live call');
  await c.bye();
  c.close();
  assert.equal(await exited, 0);
});
