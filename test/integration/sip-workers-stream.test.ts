// SIP over TCP and TLS with worker threads (src/sip/workers/stream-relay.ts), over real loopback
// connections: the router owns the connections and relays each framed message to the thread its
// Call-ID picks; responses and in-dialog requests come back on the same connection. Many calls on
// ONE connection land on both threads; a connection that closes mid-call leaves nothing behind;
// an oversized or never-ending message is bounded by the router as on the main thread; a thread's
// outbound call over TCP gets a connection the router opens for it.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { SipWorkers, type SipWorkerApp, type SipWorkersOptions } from '../../src/sip/workers/router.js';
import { silentLogger } from '../../src/logger.js';
import { callIdHash, type SipRequest } from '../../src/sip/codec/message.js';
import { RawStream, answerRequests, streamRequest } from '../helpers/raw-stream.js';
import { sleep, waitFor } from '../helpers/wait.js';
import { selfSignedCert } from '../helpers/tls-cert.js';

const appModule = new URL('../helpers/sip-worker-app.ts', import.meta.url).href;
const SDP = 'v=0\no=- 1 1 IN IP4 127.0.0.1\ns=-\nc=IN IP4 127.0.0.1\nt=0 0\nm=audio 40130 RTP/AVP 0\n';
let cert = '';
let key = '';
const open: SipWorkers[] = [];
const streams: RawStream[] = [];

before(() => {
  ({ cert, key } = selfSignedCert());
});

after(async () => {
  for (const s of streams) s.close();
  await Promise.all(open.map((w) => w.close()));
});

async function pool(rtpPorts: string, o: Partial<SipWorkersOptions> = {}, app: SipWorkerApp = { module: appModule, export: 'acceptAll' }): Promise<SipWorkers> {
  const w = new SipWorkers({ threads: 2, host: '127.0.0.1', port: 0, tcpPort: 0, tlsPort: 0, tls: { cert, key }, rtpPorts, logger: silentLogger(), logLevel: 'silent', app, ...o });
  open.push(w);
  await w.start();
  return w;
}

async function connect(port: number, secure = false): Promise<RawStream> {
  const s = await RawStream.connect(port, secure);
  streams.push(s);
  return s;
}

/** One whole call on connection `c`: INVITE, 200 (Contact on the stream), ACK, BYE, 200. */
async function call(c: RawStream, kind: 'TCP' | 'TLS', port: number, id: string): Promise<void> {
  const from = `<sip:alice@127.0.0.1:${c.port}>;tag=a-${id.slice(0, 6)}`;
  c.send(streamRequest(kind, 'INVITE', port, c.port, { 'Call-ID': id, From: from, 'Content-Type': 'application/sdp' }, SDP));
  const ok = await c.response((r) => r.status === 200 && r.headers.get('Call-ID') === id);
  assert.match(ok.headers.get('Contact') ?? '', new RegExp(`:${port};transport=${kind.toLowerCase()}>`), `Contact of ${id} names the stream and its port`);
  assert.match(ok.headers.get('Via') ?? '', new RegExp(`^SIP/2\\.0/${kind} `));
  const to = ok.headers.get('To');
  c.send(streamRequest(kind, 'ACK', port, c.port, { 'Call-ID': id, From: from, To: to, CSeq: '1 ACK' }));
  c.send(streamRequest(kind, 'BYE', port, c.port, { 'Call-ID': id, From: from, To: to, CSeq: '2 BYE' }));
  // A BYE that reached the other thread would be 481: 200 means its dialog was found.
  const bye = await c.response((r) => r.headers.get('CSeq') === '2 BYE' && r.headers.get('Call-ID') === id);
  assert.equal(bye.status, 200, `BYE of ${id}`);
}

async function until(cond: () => Promise<boolean>, what: string, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

/** Both threads' calls and legs, once they have forgotten the ended ones. */
async function settled(w: SipWorkers): Promise<Awaited<ReturnType<SipWorkers['stats']>>> {
  let stats = await w.stats();
  for (let tries = 0; tries < 60 && stats.some((s) => s.liveCalls + s.liveLegs > 0); tries++) {
    await sleep(50);
    stats = await w.stats();
  }
  return stats;
}

describe('SIP over TCP/TLS with worker threads', () => {
  test('calls with many Call-IDs on ONE TCP connection are answered on it, by both threads', async () => {
    const w = await pool('36000-36199');
    const port = w.tcpPort!;
    assert.ok(port > 0 && port !== w.port);
    const c = await connect(port);
    c.socket.write('\r\n\r\n');
    await waitFor(() => c.text === '\r\n', 'a CRLF pong for a CRLFCRLF ping (RFC 5626), from the router');
    const ids = Array.from({ length: 16 }, (_, i) => `ws-tcp-${i}@127.0.0.1`);
    for (const id of ids) await call(c, 'TCP', port, id);
    const byThread = [0, 1].map((t) => ids.filter((id) => callIdHash(Buffer.from(`SIP/2.0 200 OK\r\nCall-ID: ${id}\r\n\r\n`)) % 2 === t).length);
    assert.ok(byThread.every((n) => n > 0), `the Call-IDs pick both threads: ${byThread.join(' / ')}`);
    assert.ok(w.routed.every((n) => n > 0), `both threads took messages: ${w.routed.join(' / ')}`);
    assert.equal(w.streamStats('tcp')?.accepted, 1, 'one connection carried every call');
    assert.equal(w.streamStats('tcp')?.connected, 0, 'the router opened none of its own');
    const stats = await settled(w);
    assert.deepEqual(stats.map((s) => [s.liveCalls, s.liveLegs]), [[0, 0], [0, 0]], 'every call ended and was forgotten');
    assert.deepEqual(stats.map((s) => s.transport.received), w.routed, 'each thread received what the router handed it');
    assert.deepEqual(stats.map((s) => s.streams.tcp?.failed), [0, 0]);
    assert.ok(stats.every((s) => (s.streams.tcp?.received ?? 0) > 0));
  });

  test('the same over ONE TLS connection (self-signed certificate made at test time)', async () => {
    const w = await pool('36200-36399');
    const port = w.tlsPort!;
    const c = await connect(port, true);
    const ids = Array.from({ length: 8 }, (_, i) => `ws-tls-${i}@127.0.0.1`);
    for (const id of ids) await call(c, 'TLS', port, id);
    assert.ok(w.routed.every((n) => n > 0), `both threads took messages: ${w.routed.join(' / ')}`);
    assert.equal(w.streamStats('tls')?.accepted, 1);
    const stats = await settled(w);
    assert.ok(stats.every((s) => (s.streams.tls?.received ?? 0) > 0), 'both threads had TLS traffic');
  });

  test('a connection that closes mid-call: the threads hear of it, the calls end, nothing is left; new connections work', async () => {
    // Calls end by themselves after 400 ms; T1 of 10 ms makes a BYE nobody answers time out fast.
    const w = await pool('36400-36599', { maxCallDurationMs: 400, sip: { timers: { t1: 10 } } });
    const port = w.tcpPort!;
    const c = await connect(port);
    const ids = Array.from({ length: 6 }, (_, i) => `ws-drop-${i}@127.0.0.1`);
    for (const id of ids) {
      const from = `<sip:alice@127.0.0.1:${c.port}>;tag=d${id.length}`;
      c.send(streamRequest('TCP', 'INVITE', port, c.port, { 'Call-ID': id, From: from, 'Content-Type': 'application/sdp' }, SDP));
      const ok = await c.response((r) => r.status === 200 && r.headers.get('Call-ID') === id);
      c.send(streamRequest('TCP', 'ACK', port, c.port, { 'Call-ID': id, From: from, To: ok.headers.get('To'), CSeq: '1 ACK' }));
    }
    await until(async () => (await w.stats()).every((s) => s.liveCalls > 0), 'calls live in both threads');
    c.close();
    await until(async () => (await w.stats()).every((s) => s.streams.tcp?.closed === 1), 'each thread told the connection closed');
    const stats = await settled(w);
    assert.deepEqual(stats.map((s) => [s.liveCalls, s.liveLegs]), [[0, 0], [0, 0]], 'every call ended and was forgotten');
    assert.equal(w.streamStats('tcp')?.open, 0, 'no connection left open (the BYEs found no listener)');
    const again = await connect(port);
    await call(again, 'TCP', port, 'ws-after-drop@127.0.0.1');
  });

  test("a thread's dialog holds its connection open past the router's idle timeout; once the calls are gone it idles out", async () => {
    // T1 of 10 ms: an ended leg lingers 64*T1, then lets its connection go.
    const w = await pool('37000-37199', { streamLimits: { idleTimeoutMs: 300 }, sip: { timers: { t1: 10 } } });
    const port = w.tcpPort!;
    const c = await connect(port);
    const dialogs: { id: string; from: string; to: string | undefined }[] = [];
    for (const id of ['ws-idle-a@127.0.0.1', 'ws-idle-b@127.0.0.1', 'ws-idle-c@127.0.0.1']) {
      const from = `<sip:alice@127.0.0.1:${c.port}>;tag=i${id.slice(8, 9)}`;
      c.send(streamRequest('TCP', 'INVITE', port, c.port, { 'Call-ID': id, From: from, 'Content-Type': 'application/sdp' }, SDP));
      const ok = await c.response((r) => r.status === 200 && r.headers.get('Call-ID') === id);
      c.send(streamRequest('TCP', 'ACK', port, c.port, { 'Call-ID': id, From: from, To: ok.headers.get('To'), CSeq: '1 ACK' }));
      dialogs.push({ id, from, to: ok.headers.get('To') });
    }
    await sleep(900);
    assert.equal(c.socket.destroyed, false, 'the dialogs keep their connection open');
    for (const d of dialogs) {
      c.send(streamRequest('TCP', 'BYE', port, c.port, { 'Call-ID': d.id, From: d.from, To: d.to, CSeq: '2 BYE' }));
      assert.equal((await c.response((r) => r.headers.get('Call-ID') === d.id && r.headers.get('CSeq') === '2 BYE')).status, 200);
    }
    const t0 = performance.now();
    await c.closed;
    assert.ok(performance.now() - t0 < 3000, 'idle-closed once no dialog holds it');
    assert.equal(w.streamStats('tcp')?.idleClosed, 1);
  });

  test('an oversized message gets 513 and its connection closed, a never-ending one too, by the router; calls go on', async () => {
    const w = await pool('36600-36799', { streamLimits: { maxMessageBytes: 8192, maxHeaderBytes: 2048 } });
    const port = w.tcpPort!;
    const good = await connect(port);
    const big = await connect(port);
    big.send(streamRequest('TCP', 'INVITE', port, big.port, { 'Call-ID': 'ws-big@127.0.0.1', 'Content-Type': 'application/sdp' }, 'x'.repeat(10)).replace(/Content-Length: \d+/, 'Content-Length: 100000000'));
    await big.closed;
    assert.match(big.text, /^SIP\/2\.0 513 Message too large\r\n/);
    const endless = await connect(port);
    endless.send(streamRequest('TCP', 'OPTIONS', port, endless.port, { 'Call-ID': 'ws-endless@127.0.0.1' }).replace(/Content-Length: 0\n\n$/, ''));
    for (let i = 0; i < 60 && !endless.socket.destroyed; i++) {
      endless.socket.write(`X-Pad-${i}: ${'p'.repeat(60)}\r\n`);
      await sleep(2);
    }
    await endless.closed;
    assert.match(endless.text, /^SIP\/2\.0 513 Header section too large\r\n/);
    assert.equal(w.streamStats('tcp')?.framingErrors, 2);
    assert.deepEqual(w.routed, [0, 0], 'neither reached a thread');
    for (let i = 0; i < 4; i++) await call(good, 'TCP', port, `ws-after-hostile-${i}@127.0.0.1`);
  });

  test("the router's admission applies to stream messages: an INVITE over the source's rate gets its 503 on the connection and reaches no thread", async () => {
    const w = await pool('37200-37399', { rateLimits: { invite: { rate: 0.001, burst: 2 } } });
    const port = w.tcpPort!;
    const c = await connect(port);
    const from = `<sip:alice@127.0.0.1:${c.port}>;tag=r1`;
    for (let i = 0; i < 3; i++) c.send(streamRequest('TCP', 'INVITE', port, c.port, { 'Call-ID': `ws-rate-${i}@127.0.0.1`, From: from, 'Content-Type': 'application/sdp' }, SDP));
    const refused = await c.response((r) => r.status === 503);
    assert.equal(refused.headers.get('Call-ID'), 'ws-rate-2@127.0.0.1');
    assert.ok(refused.headers.get('Retry-After'));
    for (let i = 0; i < 2; i++) await c.response((r) => r.status === 200 && r.headers.get('Call-ID') === `ws-rate-${i}@127.0.0.1`);
    assert.equal(w.routed.reduce((a, b) => a + b, 0), 2, 'the refused INVITE reached no thread');
  });

  test("outbound calls over TCP from both threads: the router opens one connection, each 2xx reaches its thread's call and is ACKed on it", async () => {
    const got: SipRequest[] = [];
    const sockets = new Set<net.Socket>();
    const server = net.createServer((s) => {
      sockets.add(s);
      s.on('data', answerRequests((b) => s.write(b), got, `<sip:bob@127.0.0.1:${(server.address() as net.AddressInfo).port};transport=tcp>`, SDP.replace(/\n/g, '\r\n')));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    try {
      const target = `sip:bob@127.0.0.1:${(server.address() as net.AddressInfo).port};transport=tcp`;
      const w = await pool('36800-36999', {}, { module: appModule, export: 'dialsOut', options: { target, calls: 4 } });
      await waitFor(() => got.filter((r) => r.method === 'ACK').length === 8, 'an ACK for each of the 8 INVITEs', 8000);
      const invites = got.filter((r) => r.method === 'INVITE');
      assert.equal(invites.length, 8);
      assert.equal(new Set(invites.map((r) => r.headers.get('X-Thread'))).size, 2, 'both threads placed calls');
      assert.ok(invites.every((r) => /^SIP\/2\.0\/TCP 127\.0\.0\.1:\d+;/.test(r.headers.get('Via') ?? '') && r.headers.get('Via')!.includes(`:${w.tcpPort};`)), 'Via names the router\'s TCP port');
      assert.ok(invites.every((r) => /;transport=tcp>/.test(r.headers.get('Contact') ?? '')));
      assert.equal(sockets.size, 1, 'one connection, opened by the router, carried every call');
      assert.equal(w.streamStats('tcp')?.connected, 1);
      await sleep(200);
      assert.ok(!got.some((r) => r.method === 'BYE'), 'no 2xx was a stranger to the thread it reached');
    } finally {
      for (const s of sockets) s.destroy();
      server.close();
    }
  });
});
