// HTTP for the fuzz suite: structured requests with hostile bodies and headers on every path the
// WebSocket port serves, raw mutated request bytes over TCP, and the health check that every
// fuzz batch ends with (alive, GET /status, SIP OPTIONS, a real call, a legitimate client per route,
// nothing fatal or uncaught in the child's logs).
import http from 'node:http';
import net from 'node:net';
import type { Rng } from './prng.js';
import { jsonText, mutateJson, randomJson, randomString, deepArrayText } from './fuzz-gen.js';
import type { EngineChild } from './engine-child.js';
import { sipCallWorks, sipOptions } from './fuzz-sip.js';
import { legitWs, type WsRouteName } from './fuzz-ws.js';

const PATHS = ['/status', '/rooms', '/', '/playback', '/hook', '/recording', '/rooms/x', '/rooms/', '/nope', '/status/', '//status', '/%', '/rooms?limit=-1', '/' + 'a'.repeat(8000)];
const METHODS = ['GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'HEAD', 'TRACE', 'PROPFIND', 'X'];

export interface HttpFuzzStats {
  requests: number;
  raw: number;
  statuses: Record<string, number>;
  /** Requests that got neither a response nor a close within the time allowed. */
  hung: number;
}

export const newHttpStats = (): HttpFuzzStats => ({ requests: 0, raw: 0, statuses: {}, hung: 0 });

function request(port: number, o: { method: string; path: string; headers: Record<string, string>; body?: string | Buffer; localAddress?: string }): Promise<string> {
  return new Promise((resolve) => {
    let done = false;
    const finish = (what: string) => {
      if (!done) {
        done = true;
        clearTimeout(timer);
        resolve(what);
      }
    };
    let req: http.ClientRequest;
    try {
      req = http.request({ host: '127.0.0.1', port, method: o.method, path: o.path, headers: o.headers, localAddress: o.localAddress, agent: false }, (res) => {
        res.resume();
        res.on('end', () => finish(String(res.statusCode)));
        res.on('error', () => finish(String(res.statusCode)));
      });
    } catch (err) {
      // The client library refused to send it (invalid header characters): not the server's doing.
      resolve(`client:${(err as NodeJS.ErrnoException).code ?? 'error'}`);
      return;
    }
    const timer = setTimeout(() => {
      req.destroy();
      finish('hung');
    }, 5000);
    req.on('error', (err: NodeJS.ErrnoException) => finish(`error:${err.code ?? 'unknown'}`));
    if (o.body !== undefined) req.end(o.body);
    else req.end();
  });
}

function rawRequest(port: number, bytes: Buffer, localAddress: string): Promise<string> {
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port, localAddress });
    let got = '';
    const timer = setTimeout(() => {
      s.destroy();
      resolve(got ? got : 'silent');
    }, 1500);
    s.on('data', (d) => {
      if (!got) got = /^HTTP\/1\.1 (\d{3})/.exec(d.toString('latin1'))?.[1] ?? 'bytes';
    });
    s.on('error', () => {});
    s.on('close', () => {
      clearTimeout(timer);
      resolve(got || 'closed');
    });
    s.on('connect', () => s.end(bytes));
  });
}

function body(rng: Rng): { body: string | Buffer; type: string } {
  const k = rng.int(6);
  if (k === 0) return { body: deepArrayText(rng.range(1000, 20_000)), type: 'application/json' };
  if (k === 1) return { body: rng.bytes(rng.size(100_000)), type: rng.pick(['application/octet-stream', 'application/json', 'text/plain']) };
  if (k === 2) return { body: jsonText(rng, mutateJson(rng, { roomId: 'x', name: 'y', type: 'CREATE_SESSION', payload: { tracks: [1] } })), type: 'application/json' };
  if (k === 3) return { body: 'x'.repeat(1 + rng.size(1_000_000)), type: 'application/json' };
  return { body: jsonText(rng, randomJson(rng, 5)), type: rng.pick(['application/json', 'application/x-www-form-urlencoded', '']) };
}

function rawBytes(rng: Rng, port: number): Buffer {
  const path = rng.pick(PATHS);
  let s = `${rng.pick(METHODS)} ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n`;
  if (rng.chance(0.3)) s += 'Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n';
  if (rng.chance(0.3)) s += `Sec-WebSocket-Protocol: ${rng.pick(['ws.jambonz.org', 'audio.jambonz.org', 'evil', ''])}\r\n`;
  if (rng.chance(0.3)) s += `Content-Length: ${rng.pick(['-1', '99999999999', 'x', '5', '0'])}\r\n`;
  if (rng.chance(0.2)) s += 'Transfer-Encoding: chunked\r\n';
  if (rng.chance(0.2)) s += `X-Big: ${'b'.repeat(1 + rng.size(100_000))}\r\n`;
  s += '\r\n';
  if (rng.chance(0.3)) s += rng.pick(['ffffffff\r\n', '0\r\n\r\n', '{"a":1}', '\0\0\0']);
  const b = Buffer.from(s, 'latin1');
  for (let n = rng.chance(0.5) ? rng.size(16) : 0; n > 0; n--) b[rng.int(b.length)]! ^= 1 << rng.int(8);
  return rng.chance(0.1) ? b.subarray(0, rng.int(b.length)) : b;
}

/** `count` hostile HTTP requests (structured and raw), four at a time. */
export async function httpBatch(rng: Rng, port: number, count: number, stats: HttpFuzzStats): Promise<void> {
  let next = 0;
  const worker = async (w: number) => {
    for (;;) {
      const i = next++;
      if (i >= count) return;
      const r = rng.fork();
      const localAddress = `127.0.3.${1 + ((w * 13 + i) % 50)}`;
      let outcome: string;
      if (r.chance(0.3)) {
        stats.raw++;
        outcome = await rawRequest(port, rawBytes(r, port), localAddress);
      } else {
        stats.requests++;
        const method = r.pick(METHODS);
        const headers: Record<string, string> = {};
        for (let n = r.size(30); n > 0; n--) headers[`x-${r.token(r.range(1, 12))}`] = randomString(r, 40).replace(/[^\x20-\x7e]/g, '');
        if (r.chance(0.2)) headers.cookie = 'c'.repeat(1 + r.size(20_000));
        const b = method === 'GET' || method === 'HEAD' ? undefined : body(r);
        if (b) headers['content-type'] = b.type;
        outcome = await request(port, { method, path: r.pick(PATHS), headers, ...(b ? { body: b.body } : {}), localAddress });
      }
      if (outcome === 'hung') stats.hung++;
      stats.statuses[outcome] = (stats.statuses[outcome] ?? 0) + 1;
    }
  };
  await Promise.all([0, 1, 2, 3].map(worker));
}

/** GET /status and GET /rooms as a legitimate client: problems, if any. */
export async function legitHttp(port: number): Promise<string[]> {
  const problems: string[] = [];
  try {
    const s = await fetch(`http://127.0.0.1:${port}/status`, { signal: AbortSignal.timeout(3000) });
    if (s.status !== 200) problems.push(`GET /status answered ${s.status}`);
    await s.text();
    const r = await fetch(`http://127.0.0.1:${port}/rooms`, { signal: AbortSignal.timeout(3000) });
    const text = await r.text();
    if (r.status !== 200) problems.push(`GET /rooms answered ${r.status}`);
    else if (!text.startsWith('[') && !text.startsWith('{')) problems.push(`GET /rooms is not JSON: ${text.slice(0, 80)}`);
  } catch (err) {
    problems.push(`HTTP: ${(err as Error).message}`);
  }
  return problems;
}

export interface HealthOptions {
  /** WebSocket routes whose legitimate client must work (default: all five). */
  routes?: readonly WsRouteName[];
  /** Also place a whole SIP call (default true when SIP is on). */
  sipCall?: boolean;
}

/** Everything that must still hold after a batch; returns the problems (empty = healthy). */
export async function health(child: EngineChild, o: HealthOptions = {}): Promise<string[]> {
  if (!child.alive()) return [`the engine exited (code ${child.exit?.code}, signal ${child.exit?.signal})`, ...child.alarms.slice(0, 10)];
  const problems = await legitHttp(child.wsPort);
  if (child.sipPort) {
    const opt = await sipOptions(child.sipPort, '127.0.0.1', 3000);
    if (opt.status !== 200) problems.push(`SIP OPTIONS answered ${opt.status ?? 'nothing'}`);
    if (o.sipCall !== false) {
      const call = await sipCallWorks(child.sipPort);
      if (call) problems.push(`SIP call: ${call}`);
    }
  }
  const routes = o.routes ?? ['inbound', 'rooms', 'playback', 'hook', 'recording'];
  for (const p of await Promise.all(routes.map((r) => legitWs(child.wsPort, r)))) if (p) problems.push(p);
  if (!child.alive()) problems.push(`the engine exited (code ${child.exit?.code}, signal ${child.exit?.signal})`);
  problems.push(...child.alarms.slice(0, 10).map((a) => `logged: ${a.slice(0, 400)}`));
  return problems;
}
