// Hardening of the WebSocket/HTTP port over real loopback sockets (issue 13, finding 6 and the
// transport half of 7): connection caps, the handshake deadline, the Origin allow-list,
// subprotocol negotiation, and frame-rate limits on the jambonz routes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import WebSocket from 'ws';
import { HttpServer, type HttpSecurityOptions, type WsRoute } from '../../src/http/server.js';
import { DEFAULT_CONNECTION_LIMITS } from '../../src/http/connection-guard.js';
import { silentLogger } from '../../src/logger.js';
import { createEngine } from '../../src/engine.js';
import { JambonzSim, newCallSid } from '../helpers/jambonz-sim.js';
import { TestClient } from '../helpers/ws-client.js';
import { sleep } from '../helpers/wait.js';


/** Echo route without subprotocols, and one that speaks `good.proto`. */
const echo: WsRoute = {
  name: 'echo',
  match: (url) => (url.pathname === '/echo' ? {} : null),
  onConnection(ws) {
    ws.on('message', (d, isBinary) => ws.send(d, { binary: isBinary }));
  },
};
const proto: WsRoute = { ...echo, name: 'proto', protocols: ['good.proto'], match: (url) => (url.pathname === '/proto' ? {} : null) };

async function server(security?: HttpSecurityOptions): Promise<HttpServer> {
  const srv = new HttpServer({ host: '127.0.0.1', port: 0, logger: silentLogger(), ...(security ? { security } : {}) });
  srv.addWsRoute(echo);
  srv.addWsRoute(proto);
  await srv.listen();
  return srv;
}

function upgradeRequest(pathname: string, extra: string[] = []): string {
  return [
    `GET ${pathname} HTTP/1.1`,
    'Host: 127.0.0.1',
    'Upgrade: websocket',
    'Connection: Upgrade',
    `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}`,
    'Sec-WebSocket-Version: 13',
    ...extra,
  ].join('\r\n') + '\r\n\r\n';
}

/** Send raw bytes, read the response head; the socket is destroyed afterwards. */
function rawExchange(port: number, request: string): Promise<{ status: number; headers: Record<string, string>; body: string }> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1', () => s.write(request));
    let buf = '';
    const t = setTimeout(() => {
      s.destroy();
      reject(new Error(`no response head: ${JSON.stringify(buf)}`));
    }, 5000);
    s.on('data', (d) => {
      buf += d.toString('latin1');
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      clearTimeout(t);
      const [statusLine, ...lines] = buf.slice(0, end).split('\r\n');
      const headers: Record<string, string> = {};
      for (const l of lines) {
        const i = l.indexOf(':');
        headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
      }
      s.destroy();
      resolve({ status: Number(statusLine!.split(' ')[1]), headers, body: buf.slice(end + 4) });
    });
    s.on('error', reject);
  });
}

/** Open a WebSocket; resolves with the socket, or with the HTTP status that refused it. */
function open(url: string, opts: WebSocket.ClientOptions = {}, protocols?: string[]): Promise<{ ws: WebSocket } | { status: number }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, protocols, opts);
    ws.once('open', () => resolve({ ws }));
    ws.once('unexpected-response', (_req, res) => {
      res.resume();
      resolve({ status: res.statusCode ?? 0 });
      ws.terminate();
    });
    ws.once('error', (err) => reject(err));
  });
}

const openFds = () => fs.readdirSync('/proc/self/fd').length;

test('1000 half-open upgrades: a global cap refuses the surplus with 503, the handshake deadline closes the rest, every descriptor is released', async () => {
  const cap = 50;
  const srv = await server({ maxConnections: cap, maxConnectionsPerIp: 0, handshakeTimeoutMs: 1000 });
  const fdsBefore = openFds();
  let peak = 0;
  // (`?.`: so that against a server without the guard this test fails on its assertions, not here.)
  const sampler = setInterval(() => (peak = Math.max(peak, srv.connectionStats?.().open ?? 0)), 1);
  try {
    const N = 1000;
    const outcomes: Array<Promise<{ refused: boolean; closed: boolean }>> = [];
    const sockets: net.Socket[] = [];
    for (let batch = 0; batch < N / 100; batch++) {
      const connected: Array<Promise<void>> = [];
      for (let i = 0; i < 100; i++) {
        const s = net.connect(srv.port, '127.0.0.1');
        sockets.push(s);
        let data = '';
        s.on('data', (d) => (data += d.toString('latin1')));
        s.on('error', () => {});
        connected.push(new Promise((r) => s.once('connect', () => r()).once('close', () => r())));
        // Headers that never end: the upgrade stays half-open until the server acts.
        s.once('connect', () => s.write('GET /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n'));
        outcomes.push(
          new Promise((resolve) => {
            const t = setTimeout(() => resolve({ refused: data.startsWith('HTTP/1.1 503'), closed: false }), 20_000);
            s.once('close', () => {
              clearTimeout(t);
              resolve({ refused: data.startsWith('HTTP/1.1 503'), closed: true });
            });
          }),
        );
      }
      await Promise.all(connected);
    }
    const results = await Promise.all(outcomes);
    const stillOpen = results.filter((r) => !r.closed).length;
    const refused = results.filter((r) => r.refused).length;
    assert.equal(stillOpen, 0, `every half-open upgrade was closed by the server (${stillOpen} still open after 20 s)`);
    assert.ok(refused >= N / 2, `most connections beyond the cap were refused with 503 (${refused})`);
    assert.ok(peak <= cap, `never more than ${cap} sockets open at once (peak ${peak})`);
    // The server's side of a socket closes a moment after the client saw it go.
    for (let i = 0; i < 200 && srv.connectionStats().open > 0; i++) await sleep(10);
    const stats = srv.connectionStats();
    assert.equal(stats.refused, refused);
    assert.equal(stats.refused + stats.timedOut, N, 'every socket was either refused or timed out');
    assert.equal(stats.open, 0);
    for (const s of sockets) s.destroy();
    await sleep(50);
    assert.ok(openFds() <= fdsBefore + 5, `file descriptors released (${fdsBefore} before, ${openFds()} after)`);
  } finally {
    clearInterval(sampler);
    await srv.close();
  }
});

test('per-IP cap: the address at its cap gets 503, another address is still served, a closed socket frees its slot', async () => {
  const srv = await server({ maxConnectionsPerIp: 3 });
  const url = `ws://127.0.0.1:${srv.port}/echo`;
  try {
    const first: WebSocket[] = [];
    for (let i = 0; i < 3; i++) {
      const r = await open(url, { localAddress: '127.0.0.1' });
      assert.ok('ws' in r, `connection ${i + 1} of 3 accepted`);
      first.push(r.ws);
    }
    assert.deepEqual(await open(url, { localAddress: '127.0.0.1' }), { status: 503 });
    const other = await open(url, { localAddress: '127.0.0.2' });
    assert.ok('ws' in other, 'a second address has its own allowance');
    other.ws.close();
    first[0]!.close();
    await new Promise((r) => first[0]!.once('close', r));
    for (let i = 0; i < 100 && srv.connectionStats().open > 2; i++) await sleep(10);
    const again = await open(url, { localAddress: '127.0.0.1' });
    assert.ok('ws' in again, 'the freed slot is usable');
    again.ws.close();
    for (const ws of first) ws.close();
  } finally {
    await srv.close();
  }
});

test('defaults admit a bench-sized load: 1000 WebSockets from one loopback address', async () => {
  assert.ok(DEFAULT_CONNECTION_LIMITS.maxConnectionsPerIp >= 1000 && DEFAULT_CONNECTION_LIMITS.maxConnections >= 1000);
  const srv = await server();
  const url = `ws://127.0.0.1:${srv.port}/echo`;
  const sockets: WebSocket[] = [];
  try {
    for (let batch = 0; batch < 10; batch++) {
      const opened = await Promise.all(Array.from({ length: 100 }, () => open(url)));
      for (const r of opened) {
        assert.ok('ws' in r, `refused with ${'status' in r ? r.status : '?'}`);
        sockets.push(r.ws);
      }
    }
    assert.equal(srv.connectionStats().open, 1000);
    assert.equal(srv.connectionStats().refused, 0);
  } finally {
    for (const ws of sockets) ws.terminate();
    await srv.close();
  }
});

test('handshake deadline: silent and half-sent handshakes are closed, an upgraded idle WebSocket is not', async () => {
  assert.ok(DEFAULT_CONNECTION_LIMITS.handshakeTimeoutMs <= 10_000, 'the default deadline is at most 10 s');
  const srv = await server({ handshakeTimeoutMs: 300 });
  try {
    const closedBy = (send: string) =>
      new Promise<boolean>((resolve) => {
        const s = net.connect(srv.port, '127.0.0.1', () => send && s.write(send));
        s.on('error', () => {});
        const t = setTimeout(() => {
          s.destroy();
          resolve(false);
        }, 5000);
        s.once('close', () => {
          clearTimeout(t);
          resolve(true);
        });
      });
    const live = await open(`ws://127.0.0.1:${srv.port}/echo`);
    assert.ok('ws' in live);
    assert.equal(await closedBy(''), true, 'a socket that sends nothing is closed');
    assert.equal(await closedBy('GET /echo HTTP/1.1\r\nHost: x\r\n'), true, 'a handshake that never ends is closed');
    assert.equal(srv.connectionStats().timedOut, 2);
    // The upgraded socket outlived several deadlines and still echoes.
    live.ws.send('still here');
    const echoed = await new Promise<Buffer>((r) => live.ws.once('message', (d) => r(d as Buffer)));
    assert.equal(echoed.toString(), 'still here');
    live.ws.close();
  } finally {
    await srv.close();
  }
});

test('Origin allow-list: a listed origin and non-browser clients pass, any other origin gets 403 (and a missing one too with requireOrigin)', async () => {
  const srv = await server({ allowedOrigins: ['https://app.example.com'] });
  const strict = await server({ allowedOrigins: ['https://app.example.com'], requireOrigin: true });
  try {
    const req = (port: number, origin?: string) => rawExchange(port, upgradeRequest('/echo', origin ? [`Origin: ${origin}`] : []));
    assert.equal((await req(srv.port, 'https://evil.example.com')).status, 403);
    assert.equal((await req(srv.port, 'null')).status, 403);
    assert.equal((await req(srv.port, 'https://app.example.com')).status, 101);
    assert.equal((await req(srv.port, 'HTTPS://APP.EXAMPLE.COM:443')).status, 101, 'origins compare in their serialised form');
    assert.equal((await req(srv.port)).status, 101, 'no Origin: a non-browser client');
    assert.equal((await req(strict.port)).status, 403);
    assert.equal((await req(strict.port, 'https://app.example.com')).status, 101);
  } finally {
    await srv.close();
    await strict.close();
  }
});

test('subprotocols: a route that declares none never echoes an offered one; a route that declares some picks its own', async () => {
  const srv = await server();
  try {
    const none = await rawExchange(srv.port, upgradeRequest('/echo', ['Sec-WebSocket-Protocol: evil']));
    assert.equal(none.status, 101);
    assert.equal(none.headers['sec-websocket-protocol'], undefined, 'the offered "evil" is not echoed');
    const some = await rawExchange(srv.port, upgradeRequest('/proto', ['Sec-WebSocket-Protocol: evil, good.proto']));
    assert.equal(some.status, 101);
    assert.equal(some.headers['sec-websocket-protocol'], 'good.proto');
    const wrong = await rawExchange(srv.port, upgradeRequest('/proto', ['Sec-WebSocket-Protocol: evil']));
    assert.equal(wrong.headers['sec-websocket-protocol'], undefined);
  } finally {
    await srv.close();
  }
});

test('rate limits: a flooding jambonz hook socket and a flooding audio socket are closed 1008 "rate limit exceeded"', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'callchart-rate-'));
  const engine = createEngine({ host: '127.0.0.1', wsPort: 0, sipPort: false, inboundCall: false, jambonz: { recordingsDir: dir } });
  engine.jambonz.hook('/hook', (s) => s.reply([{ verb: 'pause', length: 1 }]));
  engine.jambonz.audio('/recording');
  await engine.listen();
  try {
    const sim = await JambonzSim.connect(`ws://127.0.0.1:${engine.wsPort}/hook`);
    const callSid = newCallSid();
    for (let i = 0; i < 2000 && sim.client.ws.readyState === WebSocket.OPEN; i++) sim.verbStatus(callSid, `v${i}`, 'say', 'begin');
    assert.deepEqual(await sim.waitClose(5000), { code: 1008, reason: 'rate limit exceeded' });

    const audio = new TestClient(`ws://127.0.0.1:${engine.wsPort}/recording`, 'audio.jambonz.org');
    await audio.opened();
    audio.send({ callSid: newCallSid(), sampleRate: 16000, mixType: 'mono' });
    const frame = Buffer.alloc(640);
    for (let i = 0; i < 2000 && audio.ws.readyState === WebSocket.OPEN; i++) audio.send(frame);
    assert.deepEqual(await audio.waitClose(5000), { code: 1008, reason: 'rate limit exceeded' });

    // A sender at the nominal pace (50 frames/s) is not touched.
    const calm = new TestClient(`ws://127.0.0.1:${engine.wsPort}/recording`, 'audio.jambonz.org');
    await calm.opened();
    calm.send({ callSid: newCallSid(), sampleRate: 16000, mixType: 'mono' });
    for (let i = 0; i < 25; i++) {
      calm.send(frame);
      await sleep(20);
    }
    assert.equal(calm.closed, undefined);
    calm.close();
    await calm.waitClose();
  } finally {
    await engine.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
