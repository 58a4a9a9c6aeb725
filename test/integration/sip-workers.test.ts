// SIP served by worker threads behind the Call-ID router (src/sip/workers/router.ts), over real UDP on
// loopback: whole calls complete (so every message of a call reached the thread holding it),
// replies leave from the SIP port, both threads take calls, and start/close leave nothing behind.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { SipWorkers, type SipWorkerApp } from '../../src/sip/workers/router.js';
import { silentLogger } from '../../src/logger.js';
import { callIdHash, type SipRequest, type SipResponse } from '../../src/sip/codec/message.js';
import { RawSip, request } from '../helpers/raw-sip.js';

const appModule = new URL('../helpers/sip-worker-app.ts', import.meta.url).href;
const sdp = 'v=0\no=- 1 1 IN IP4 127.0.0.1\ns=-\nc=IN IP4 127.0.0.1\nt=0 0\nm=audio 40030 RTP/AVP 0\n';
const toTagOf = (res: SipResponse) => /tag=([^;>\s]+)/.exec(res.headers.get('To')!)![1]!;
const withCallId = (id: string) => (r: SipResponse) => r.headers.get('Call-ID') === id;

function pool(app: SipWorkerApp, rtpPorts = '34400-34599'): SipWorkers {
  return new SipWorkers({ threads: 2, host: '127.0.0.1', port: 0, rtpPorts, logger: silentLogger(), logLevel: 'silent', app });
}

/** True when nothing holds the UDP port any more (a plain bind, without SO_REUSEADDR, succeeds). */
function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = dgram.createSocket('udp4');
    s.once('error', () => resolve(false));
    s.bind(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

describe('SIP worker threads', () => {
  test('whole calls complete across two workers, answered from the SIP port', async () => {
    const workers = pool({ module: appModule, export: 'acceptAll' });
    await workers.start();
    const port = workers.port;
    assert.ok(port > 0);
    const c = await new RawSip().open();
    try {
      for (let i = 0; i < 24; i++) {
        const callId = `worker-call-${i}@127.0.0.1`;
        const invite = request('INVITE', port, c.port, { 'Content-Type': 'application/sdp', 'Call-ID': callId }, sdp);
        c.send(invite, port);
        const ok = await c.response((r) => withCallId(callId)(r) && r.status === 200);
        assert.match(ok.body.toString(), /m=audio \d+ RTP\/AVP 0/);
        c.send(invite, port); // a retransmission lands on the same thread: absorbed, no second call
        const tag = toTagOf(ok);
        const to = `<sip:callchart@127.0.0.1:${port}>;tag=${tag}`;
        c.send(request('ACK', port, c.port, { 'Call-ID': callId, To: to }), port);
        c.send(request('BYE', port, c.port, { 'Call-ID': callId, CSeq: '2 BYE', To: to }), port);
        // A BYE that reached the other thread would be 481: 200 means the dialog was found.
        const bye = await c.response((r) => withCallId(callId)(r) && r.headers.get('CSeq') === '2 BYE');
        assert.equal(bye.status, 200, `BYE of ${callId}`);
      }
      assert.ok(c.fromPorts.length > 0);
      assert.ok(
        c.fromPorts.every((p) => p === port),
        `every reply leaves from the SIP port ${port} (got ${[...new Set(c.fromPorts)].join(', ')})`,
      );
      assert.ok(
        workers.routed.every((n) => n > 0),
        `both threads took calls: ${workers.routed.join(' / ')}`,
      );
      // A thread forgets an ended leg on its next turn, so the last BYE's 200 can beat it here.
      let stats = await workers.stats();
      for (let tries = 0; tries < 40 && stats.some((s) => s.liveCalls + s.liveLegs > 0); tries++) {
        await new Promise((r) => setTimeout(r, 50));
        stats = await workers.stats();
      }
      assert.deepEqual(
        stats.map((s) => [s.index, s.liveCalls, s.liveLegs]),
        [
          [0, 0, 0],
          [1, 0, 0],
        ],
        'every call ended and was forgotten in its thread',
      );
      assert.deepEqual(
        stats.map((s) => s.transport.received),
        workers.routed,
        'each thread received exactly what the router handed it',
      );
      // Bad input through the router is answered by the thread it lands on, with the reason; a
      // datagram without a Call-ID (unanswerable, RFC 3261 §8.2.6) is dropped and harms nothing.
      c.got.length = 0;
      c.send(request('OPTIONS', port, c.port, { 'Max-Forwards': 'lots' }), port);
      const bad = await c.response();
      assert.equal(bad.status, 400);
      assert.match(bad.reason, /Max-Forwards/i);
      c.send(request('OPTIONS', port, c.port, { 'Call-ID': '' }), port);
      c.send('\x00\x01garbage\r\n\r\n', port);
      c.send(request('OPTIONS', port, c.port), port);
      assert.equal((await c.response()).status, 200);
      assert.equal(c.got.length, 0, 'nothing answered the datagrams without a Call-ID');
    } finally {
      c.close();
      await workers.close();
    }
    assert.equal(await portIsFree(port), true, 'router and workers released the port');
  });

  test('start() fails with the reason when the app module has no such factory; the factory gets its options and engine', async () => {
    const workers = pool({ module: appModule, export: 'notAFactory' }, '34600-34799');
    await assert.rejects(workers.start(), /no function export "notAFactory"/);
    const rejecting = pool({ module: appModule, export: 'acceptAll', options: { reject: 486 } }, '34800-34999');
    await rejecting.start();
    const c = await new RawSip().open();
    try {
      c.send(request('INVITE', rejecting.port, c.port, { 'Content-Type': 'application/sdp' }, sdp), rejecting.port);
      assert.equal((await c.response((r) => r.status >= 200)).status, 486, 'the options reach the factory');
    } finally {
      c.close();
      await rejecting.close();
    }
    const naming = pool({ module: appModule, export: 'namesItsEngine' }, '35000-35199');
    await naming.start();
    const d = await new RawSip().open();
    try {
      d.send(request('INVITE', naming.port, d.port, { 'Content-Type': 'application/sdp' }, sdp), naming.port);
      const res = await d.response((r) => r.status >= 200);
      assert.equal(res.status, 480);
      assert.equal(res.reason, `engine on ${naming.port}`, "the factory gets its worker's engine");
    } finally {
      d.close();
      await naming.close();
    }
  });

  test('a worker thread that dies is reported once as an error event', async () => {
    const workers = pool({ module: appModule, export: 'crashesOnRequest' }, '35200-35399');
    await workers.start();
    const errors: Error[] = [];
    const first = new Promise<Error>((resolve) => workers.on('error', (err) => (errors.push(err), resolve(err))));
    const c = await new RawSip().open();
    try {
      const from = { 'Content-Type': 'application/sdp', From: `<sip:crash@127.0.0.1:${c.port}>;tag=c1` };
      c.send(request('INVITE', workers.port, c.port, from, sdp), workers.port);
      const err = await Promise.race([first, new Promise<never>((_, reject) => setTimeout(() => reject(new Error('no error event')), 5000))]);
      assert.match(err.message, /app bug in a worker|exited unexpectedly/);
      await new Promise((r) => setTimeout(r, 200));
      assert.equal(errors.length, 1, 'reported once although the thread both threw and exited');
    } finally {
      c.close();
      await workers.close();
    }
  });

  test('outbound calls from both threads: each thread picks Call-IDs the router sends back to it, so every 2xx reaches its call and is ACKed, none is ended as a stranger', async () => {
    const c = await new RawSip().open();
    const workers = pool({ module: appModule, export: 'dialsOut', options: { target: `sip:bob@127.0.0.1:${c.port}`, calls: 6 } }, '35400-35599');
    await workers.start();
    try {
      const invites = new Map<string, SipRequest>();
      while (invites.size < 12) {
        const inv = await c.request((r) => r.method === 'INVITE' && !invites.has(r.headers.get('Call-ID')!), 5000);
        invites.set(inv.headers.get('Call-ID')!, inv);
      }
      // Worker i is the i-th thread started (thread ids grow); the router picks by Call-ID hash.
      const threads = [...new Set([...invites.values()].map((r) => Number(r.headers.get('X-Thread'))))].sort((a, b) => a - b);
      assert.equal(threads.length, 2, 'both threads placed calls');
      const routedTo = (id: string) => callIdHash(Buffer.from(`SIP/2.0 200 OK\r\nCall-ID: ${id}\r\n\r\n`)) % 2;
      const elsewhere = [...invites].filter(([id, r]) => threads[routedTo(id)] !== Number(r.headers.get('X-Thread'))).map(([id]) => id);
      // Random Call-IDs would send half of the responses to the other thread (a 408 for that call).
      assert.deepEqual(elsewhere, [], 'every Call-ID is routed back to the thread that placed the call');
      for (const [id, inv] of invites) {
        const h = inv.headers;
        const body = sdp.replace(/\n/g, '\r\n');
        const lines = ['SIP/2.0 200 OK', ...h.getAll('Via').map((v) => `Via: ${v}`), `From: ${h.get('From')}`, `To: ${h.get('To')};tag=b-${id.slice(0, 8)}`, `Call-ID: ${id}`, `CSeq: ${h.get('CSeq')}`, `Contact: <sip:bob@127.0.0.1:${c.port}>`, 'Content-Type: application/sdp', `Content-Length: ${body.length}`];
        c.send(`${lines.join('\n')}\n\n${sdp}`, workers.port);
      }
      for (const id of invites.keys()) await c.request((r) => r.method === 'ACK' && r.headers.get('Call-ID') === id, 5000);
      await new Promise((r) => setTimeout(r, 300));
      assert.ok(!c.requests.some((r) => r.method === 'BYE'), 'no call ended as a stranger: each 2xx found its call');
    } finally {
      await workers.close();
      c.close();
    }
  });
});
