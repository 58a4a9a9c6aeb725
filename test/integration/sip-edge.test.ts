// The SIP edge against a hostile network (issue 13, findings 2, 4, 5), over real UDP on loopback:
// responses go to the source and nowhere else, answers are never bigger than the request that
// caused them nor carry an injected header, a source over its rate gets 503 then silence while
// another source is served, the allow-list drops strangers, scanners get silence; in one engine and
// behind the SIP worker router alike. Every test fails on fe89b32.
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { createEngine, type Engine, type EngineOptions } from '../../src/index.js';
import { SipWorkers } from '../../src/sip/workers/router.js';
import { silentLogger } from '../../src/logger.js';
import type { SipResponse } from '../../src/sip/codec/message.js';
import { RawSip, request } from '../helpers/raw-sip.js';

const engines: Engine[] = [];
after(async () => {
  await Promise.all(engines.map((e) => e.close()));
});

let rtpBase = 36000;
async function start(o: EngineOptions = {}): Promise<Engine> {
  const range = `${rtpBase}-${rtpBase + 99}`;
  rtpBase += 100;
  const engine = createEngine({
    host: '127.0.0.1',
    wsPort: 0,
    sipPort: 0,
    rtpPorts: range,
    inboundCall: false,
    onIncomingCall: () => ({ action: 'reject', code: 486 }),
    ...o,
  });
  engines.push(engine);
  await engine.listen();
  return engine;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const byCallId = (id: string) => (r: SipResponse) => r.headers.get('Call-ID') === id;

/** A UDP socket that only counts what reaches it (a third party, or an attacker's own port). */
async function counter(address: string): Promise<{ sock: dgram.Socket; port: number; bytes: () => number; datagrams: Buffer[] }> {
  const sock = dgram.createSocket('udp4');
  await new Promise<void>((r) => sock.bind(0, address, () => r()));
  const datagrams: Buffer[] = [];
  sock.on('message', (b) => datagrams.push(b));
  return { sock, port: sock.address().port, bytes: () => datagrams.reduce((n, b) => n + b.length, 0), datagrams };
}

function hostileOptions(port: number, clientPort: number, fields: { from?: string; callId?: string }): Buffer {
  return Buffer.from(
    [
      `OPTIONS sip:callchart@127.0.0.1:${port} SIP/2.0`,
      `Via: SIP/2.0/UDP 127.0.0.1:${clientPort};branch=z9hG4bK${Math.random().toString(36).slice(2)};rport`,
      'Max-Forwards: 70',
      `From: ${fields.from ?? '<sip:a@127.0.0.1>'};tag=1`,
      `To: <sip:callchart@127.0.0.1:${port}>`,
      `Call-ID: ${fields.callId ?? `h-${Math.random().toString(36).slice(2)}`}`,
      'CSeq: 1 OPTIONS',
      'Content-Length: 0',
      '',
      '',
    ].join('\r\n'),
    'latin1',
  );
}

describe('responses go to the source (finding 2)', () => {
  test('a Via naming a third party (maddr=, received=) sends it nothing; the source gets the answers', async () => {
    const e = await start();
    const port = e.sipPort!;
    const third = await counter('127.0.0.3');
    // No rport: the answers go to the source address at the Via's port, so the "victim's" port on
    // the source address (127.0.0.1) has a socket of ours waiting too.
    const ownAtPort = dgram.createSocket('udp4');
    const ownGot: Buffer[] = [];
    ownAtPort.on('message', (b) => ownGot.push(b));
    const c = await new RawSip().open();
    try {
      await new Promise<void>((r) => ownAtPort.bind(third.port, '127.0.0.1', () => r()));
      const vias = [
        `SIP/2.0/UDP 127.0.0.1:${third.port};branch=z9hG4bKmaddr1;maddr=127.0.0.3`,
        `SIP/2.0/UDP 127.0.0.1:${third.port};branch=z9hG4bKrecv1;received=127.0.0.3`,
      ];
      for (const via of vias) c.send(request('INVITE', port, c.port, { Via: via }), port);
      await sleep(1500);
      assert.equal(third.bytes(), 0, 'the third party got nothing');
      assert.ok(ownGot.some((b) => /^SIP\/2\.0 486/.test(b.toString())), 'the 486 went to the source address');
    } finally {
      third.sock.close();
      ownAtPort.close();
      c.close();
    }
  });
});

describe('answers are clean and never bigger than the request (finding 4)', () => {
  test('hostile OPTIONS: no injected header, no amplification, invalid UTF-8 echoed byte for byte', async () => {
    const e = await start();
    const port = e.sipPort!;
    const c = await counter('127.0.0.1');
    try {
      const display = `"${'\xff'.repeat(6000)}" <sip:a@127.0.0.1>`;
      const requests = [
        hostileOptions(port, c.port, { from: display }),
        hostileOptions(port, c.port, { callId: `x${'\xff'.repeat(6000)}` }),
        hostileOptions(port, c.port, { callId: `x${'\xff'.repeat(20_000)}` }),
        hostileOptions(port, c.port, { callId: 'x\rContact: <sip:evil@198.51.100.66>' }),
        hostileOptions(port, c.port, { from: '"a\0b" <sip:a@127.0.0.1>' }),
      ];
      for (const r of requests) c.sock.send(r, port, '127.0.0.1');
      await sleep(1000);
      const bytesIn = requests.reduce((n, r) => n + r.length, 0);
      assert.ok(c.bytes() <= bytesIn, `${c.bytes()} bytes answered to ${bytesIn}`);
      assert.ok(!c.datagrams.some((d) => d.includes('\rContact: <sip:evil')), 'no injected header came back');
      assert.ok(!c.datagrams.some((d) => d.includes(0)), 'no NUL came back');
      const ok = c.datagrams.find((d) => d.toString('latin1').startsWith('SIP/2.0 200'));
      assert.ok(ok, 'the OPTIONS with a latin1 display name is answered');
      assert.ok(ok.includes(Buffer.from(`From: ${display};tag=1\r\n`, 'latin1')), 'its From came back as the same bytes');
      const bad = c.datagrams.find((d) => d.toString('latin1').startsWith('SIP/2.0 400'));
      assert.ok(bad, 'invalid UTF-8 in Call-ID: 400');
      assert.ok(c.datagrams.length >= 2);
    } finally {
      c.sock.close();
    }
  });
});

describe('per-source admission (finding 5)', () => {
  test('over its INVITE rate a source gets 503 + Retry-After, then silence; another source is served', async () => {
    const e = await start({ sip: { rateLimits: { invite: { rate: 0.01, burst: 2 }, replies: { rate: 0.01, burst: 2 } } } });
    const port = e.sipPort!;
    const flooder = await new RawSip().open('127.0.0.1');
    const other = await new RawSip().open('127.0.0.2');
    try {
      const ids = Array.from({ length: 6 }, (_, i) => `flood-${i}`);
      for (const id of ids) flooder.send(request('INVITE', port, flooder.port, { 'Call-ID': id }), port);
      await sleep(800);
      const finals = ids.map((id) => flooder.got.find((r) => byCallId(id)(r) && r.status >= 200)?.status);
      assert.deepEqual(finals, [486, 486, 503, 503, undefined, undefined]);
      const r503 = flooder.got.find((r) => r.status === 503)!;
      assert.equal(r503.headers.get('Retry-After'), '5');
      other.send(request('INVITE', port, other.port, { 'Call-ID': 'other-1' }), port);
      const answer = await other.response((r) => byCallId('other-1')(r) && r.status >= 200);
      assert.equal(answer.status, 486, 'the second source is served');
      const stats = e.sip!.transport.admission!.stats;
      assert.equal(stats.refused.invite, 2);
      assert.equal(stats.silenced.invite, 2);
    } finally {
      flooder.close();
      other.close();
    }
  });

  test('the allow-list drops strangers silently and counts them', async () => {
    const e = await start({ sip: { allow: ['127.0.0.2/32', '10.0.0.0/8'] } });
    const port = e.sipPort!;
    const stranger = await new RawSip().open('127.0.0.1');
    const friend = await new RawSip().open('127.0.0.2');
    try {
      stranger.send(request('OPTIONS', port, stranger.port), port);
      friend.send(request('OPTIONS', port, friend.port), port);
      assert.equal((await friend.response()).status, 200);
      await sleep(300);
      assert.equal(stranger.got.length, 0);
      assert.equal(e.sip!.transport.admission!.stats.notAllowed, 1);
    } finally {
      stranger.close();
      friend.close();
    }
  });

  test('a known scanner gets silence', async () => {
    const e = await start();
    const port = e.sipPort!;
    const c = await new RawSip().open();
    try {
      c.send(request('OPTIONS', port, c.port, { 'User-Agent': 'friendly-scanner' }), port);
      c.send(request('OPTIONS', port, c.port, { 'Call-ID': 'not-a-scanner' }), port);
      assert.equal((await c.response(byCallId('not-a-scanner'))).status, 200);
      await sleep(200);
      assert.equal(c.got.length, 0, 'the scanner got nothing');
      assert.equal(e.sip!.transport.stats.scanners, 1);
    } finally {
      c.close();
    }
  });

  test('behind the worker router: one budget per source whatever the thread, and the allow-list', async () => {
    const workers = new SipWorkers({
      threads: 2,
      host: '127.0.0.1',
      port: 0,
      rtpPorts: '36800-36999',
      logger: silentLogger(),
      logLevel: 'silent',
      app: { module: new URL('../helpers/sip-worker-app.ts', import.meta.url).href, export: 'acceptAll', options: { reject: 486 } },
      allow: ['127.0.0.1', '127.0.0.2'],
      rateLimits: { invite: { rate: 0.01, burst: 4 }, replies: { rate: 0.01, burst: 100 } },
    });
    await workers.start();
    const port = workers.port;
    const c = await new RawSip().open('127.0.0.1');
    const stranger = await new RawSip().open('127.0.0.3');
    try {
      const ids = Array.from({ length: 12 }, (_, i) => `router-${i}@127.0.0.1`);
      for (const id of ids) c.send(request('INVITE', port, c.port, { 'Call-ID': id }), port);
      stranger.send(request('OPTIONS', port, stranger.port), port);
      await sleep(1500);
      const finals = ids.map((id) => c.got.find((r) => byCallId(id)(r) && r.status >= 200)?.status);
      assert.deepEqual(finals.filter((s) => s === 486).length, 4, `finals: ${finals.join(',')}`);
      assert.deepEqual(finals.filter((s) => s === 503).length, 8);
      assert.ok(workers.routed.every((n) => n > 0), `both threads took calls: ${workers.routed.join(' / ')}`);
      assert.equal(stranger.got.length, 0);
      assert.equal(workers.admission!.stats.refused.invite, 8);
      assert.equal(workers.admission!.stats.notAllowed, 1);
    } finally {
      c.close();
      stranger.close();
      await workers.close();
    }
  });
});
