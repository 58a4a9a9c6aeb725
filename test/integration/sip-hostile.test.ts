// The SIP user agent on a hostile network (issue 13, findings 2, 4 and 5), over real UDP on
// loopback. A "third party" is a socket on another loopback address (127.0.0.3) that the sender
// names in its INVITE (Via maddr/received, Contact, Record-Route) but never sends from: nothing
// callchart sends may reach it. An INVITE never ACKed must buy a bounded number of bytes, and
// unanswered INVITEs are capped.
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { createEngine, type Engine, type EngineOptions, type Call } from '../../src/index.js';
import { createResponse, serialize, type SipResponse } from '../../src/sip/codec/message.js';
import { UNCONFIRMED_2XX_RETRANSMITS } from '../../src/sip/ua/user-agent.js';
import { DEFAULT_FINAL_RETRANSMITS } from '../../src/sip/transactions/layer.js';
import { RawSip, request } from '../helpers/raw-sip.js';

const engines: Engine[] = [];
const sockets: RawSip[] = [];
after(async () => {
  for (const s of sockets) s.close();
  await Promise.all(engines.map((e) => e.close()));
});

// Short timers: 64*T1 is 1.28 s; T2/T1 is 8 as with the RFC defaults, so counts are the same.
const timers = { t1: 20, t2: 160, t4: 200 };
let rtpBase = 38000;
async function start(o: EngineOptions = {}): Promise<Engine> {
  const range = `${rtpBase}-${rtpBase + 99}`;
  rtpBase += 100;
  const engine = createEngine({ host: '127.0.0.1', wsPort: 0, sipPort: 0, rtpPorts: range, inboundCall: false, ...o, sip: { timers, ...o.sip } });
  engines.push(engine);
  await engine.listen();
  return engine;
}
async function raw(address = '127.0.0.1'): Promise<RawSip> {
  const s = await new RawSip().open(address);
  sockets.push(s);
  return s;
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const sdp = (port: number, address = '127.0.0.1') =>
  `v=0\no=- 1 1 IN IP4 ${address}\ns=-\nc=IN IP4 ${address}\nt=0 0\nm=audio ${port} RTP/AVP 0\n`;
const toTagOf = (res: SipResponse) => /tag=([^;>\s]+)/.exec(res.headers.get('To')!)![1]!;
const wireSize = (text: string) => Buffer.byteLength(text.replace(/\n/g, '\r\n'));
/** Long enough for 64*T1 of 2xx retransmissions and then a BYE's own 64*T1. */
const WHOLE_EXCHANGE_MS = 2 * 64 * timers.t1 + 600;

function firstCall(e: Engine): Promise<Call> {
  return new Promise((r) => e.once('call', r));
}

describe('SIP no reflection: the UA sends only to addresses the peer has shown it owns', () => {
  test('an INVITE naming a third party in Via maddr and Contact, never ACKed: nothing reaches the third party, the call ends without BYE', async () => {
    const e = await start({ onIncomingCall: () => ({ action: 'accept' }) });
    const port = e.sipPort!;
    const c = await raw();
    // The third party listens on the same port as the caller, so an honoured maddr would reach it.
    const third = await new RawSip().open('127.0.0.3', c.port);
    sockets.push(third);
    const callP = firstCall(e);
    c.send(
      request('INVITE', port, c.port, {
        Via: `SIP/2.0/UDP 127.0.0.1:${c.port};branch=z9hG4bKmaddr1;maddr=127.0.0.3`,
        'Call-ID': 'reflect-maddr@x',
        Contact: `<sip:victim@127.0.0.3:${third.port}>`,
        'Content-Type': 'application/sdp',
      }, sdp(40100)),
      port,
    );
    const call = await callP;
    const end = await call.waitForEnd();
    await sleep(WHOLE_EXCHANGE_MS);
    assert.equal(third.datagrams, 0, `the third party got ${third.datagrams} datagrams (${third.bytes} B)`);
    assert.ok(c.got.some((r) => r.status === 200), 'the 200 went to the INVITE\'s source instead');
    assert.equal(c.requests.length, 0, 'no BYE to a peer that never proved it receives us');
    assert.deepEqual([end.reason, end.code, end.detail], ['failed', 408, 'no ACK received']);
  });

  test('a client-supplied received= on a Via naming the source does not redirect responses', async () => {
    const e = await start({ onIncomingCall: () => ({ action: 'reject', code: 486 }) });
    const port = e.sipPort!;
    const c = await raw();
    const third = await raw('127.0.0.3');
    c.send(request('OPTIONS', port, c.port, { Via: `SIP/2.0/UDP 127.0.0.1:${c.port};branch=z9hG4bKrecv1;received=127.0.0.3` }), port);
    assert.equal((await c.response()).status, 200);
    c.send(request('INVITE', port, c.port, { Via: `SIP/2.0/UDP 127.0.0.1:${c.port};branch=z9hG4bKrecv2;received=127.0.0.3`, 'Content-Type': 'application/sdp' }, sdp(40102)), port);
    assert.equal((await c.response((r) => r.status >= 200)).status, 486);
    await sleep(8 * timers.t1); // Timer G retransmissions of the 486 follow the first one
    assert.equal(third.datagrams, 0);
  });

  test('after the ACK, the BYE goes to the INVITE\'s source; the Contact on a third address stays the Request-URI', async () => {
    const e = await start({ onIncomingCall: () => ({ action: 'accept' }) });
    const port = e.sipPort!;
    const c = await raw();
    const third = await raw('127.0.0.3');
    const callP = firstCall(e);
    const callId = 'reflect-contact@x';
    c.send(request('INVITE', port, c.port, { 'Call-ID': callId, Contact: `<sip:victim@127.0.0.3:${third.port}>`, 'Content-Type': 'application/sdp' }, sdp(40104)), port);
    const ok = await c.response((r) => r.status === 200);
    c.send(request('ACK', port, c.port, { 'Call-ID': callId, To: `<sip:callchart@127.0.0.1:${port}>;tag=${toTagOf(ok)}` }), port);
    const call = await callP;
    await sleep(50);
    call.hangup();
    const bye = await c.request((r) => r.method === 'BYE');
    assert.equal(bye.uri.kind === 'sip' && bye.uri.host, '127.0.0.3', 'the Request-URI is still the remote target');
    c.sock.send(serialize(createResponse(bye, 200)), port, '127.0.0.1');
    await sleep(10 * timers.t1);
    assert.equal(third.datagrams, 0);
  });

  test('Record-Route: a first hop on a third address is not used as the next hop (Route kept); one naming the source is', async () => {
    const e = await start({ onIncomingCall: () => ({ action: 'accept' }) });
    const port = e.sipPort!;
    const c = await raw();
    const third = await raw('127.0.0.3');
    for (const [callId, rr] of [
      ['rr-third@x', `<sip:127.0.0.3:${third.port};lr>`],
      ['rr-source@x', `<sip:127.0.0.1:${c.port};lr>`],
    ] as const) {
      const callP = firstCall(e);
      c.send(request('INVITE', port, c.port, { 'Call-ID': callId, 'Record-Route': rr, Contact: `<sip:victim@127.0.0.3:${third.port}>`, 'Content-Type': 'application/sdp' }, sdp(40106)), port);
      const ok = await c.response((r) => r.status === 200 && r.headers.get('Call-ID') === callId);
      assert.equal(ok.headers.get('Record-Route'), rr, 'the 200 echoes the Record-Route');
      c.send(request('ACK', port, c.port, { 'Call-ID': callId, To: `<sip:callchart@127.0.0.1:${port}>;tag=${toTagOf(ok)}` }), port);
      const call = await callP;
      await sleep(30);
      call.hangup();
      const bye = await c.request((r) => r.method === 'BYE' && r.headers.get('Call-ID') === callId);
      assert.equal(bye.headers.get('Route'), rr, 'the route set is in the BYE as RFC 3261 §12.2.1.1 says');
      c.sock.send(serialize(createResponse(bye, 200)), port, '127.0.0.1');
    }
    await sleep(10 * timers.t1);
    assert.equal(third.datagrams, 0);
  });

  test('a Contact on the source\'s IP but another port is used as given (non-symmetric phones keep working)', async () => {
    const e = await start({ onIncomingCall: () => ({ action: 'accept' }) });
    const port = e.sipPort!;
    const c = await raw();
    const listener = await raw(); // same IP, the port the Contact names
    const callP = firstCall(e);
    c.send(request('INVITE', port, c.port, { 'Call-ID': 'other-port@x', Contact: `<sip:alice@127.0.0.1:${listener.port}>`, 'Content-Type': 'application/sdp' }, sdp(40108)), port);
    const ok = await c.response((r) => r.status === 200);
    c.send(request('ACK', port, c.port, { 'Call-ID': 'other-port@x', To: `<sip:callchart@127.0.0.1:${port}>;tag=${toTagOf(ok)}` }), port);
    const call = await callP;
    await sleep(30);
    call.hangup();
    const bye = await listener.request((r) => r.method === 'BYE');
    listener.sock.send(serialize(createResponse(bye, 200)), port, '127.0.0.1');
  });

  test('UAC: a 200 whose Contact names a third address gets its ACK and BYE at the address that answered', async () => {
    const e = await start();
    const uas = await raw();
    const third = await raw('127.0.0.3');
    const call = await e.call(`sip:bob@127.0.0.1:${uas.port}`);
    const invite = await uas.request((r) => r.method === 'INVITE');
    const ok = createResponse(invite, 200, 'OK', { toTag: 'uas1', headers: [['Contact', `<sip:bob@127.0.0.3:${third.port}>`]], body: sdp(40110).replace(/\n/g, '\r\n'), contentType: 'application/sdp' });
    uas.sock.send(serialize(ok), e.sipPort!, '127.0.0.1');
    const ack = await uas.request((r) => r.method === 'ACK');
    assert.equal(ack.uri.kind === 'sip' && ack.uri.host, '127.0.0.3');
    await new Promise<void>((r) => (call.isActive ? r() : call.once('answered', () => r())));
    call.hangup();
    const bye = await uas.request((r) => r.method === 'BYE');
    uas.sock.send(serialize(createResponse(bye, 200)), e.sipPort!, '127.0.0.1');
    assert.equal((await call.waitForEnd()).reason, 'local-hangup');
    assert.equal(third.datagrams, 0);
  });
});

describe('SIP retransmission budgets: an INVITE never ACKed buys little', () => {
  test('the 2xx is retransmitted UNCONFIRMED_2XX_RETRANSMITS times, no BYE follows, and everything the call held is released', async () => {
    const e = await start({ onIncomingCall: () => ({ action: 'accept' }) });
    const port = e.sipPort!;
    const c = await raw();
    const invite = request('INVITE', port, c.port, { 'Call-ID': 'never-acked@x', 'Content-Type': 'application/sdp' }, sdp(40112));
    const callP = firstCall(e);
    c.send(invite, port);
    const call = await callP;
    const pendingWhileUnacked = e.sip!.pendingInviteCount;
    await call.waitForEnd();
    await sleep(WHOLE_EXCHANGE_MS);
    const ratio = c.bytes / wireSize(invite);
    assert.ok(ratio < 8, `bytes out / bytes in = ${ratio.toFixed(2)} (${c.bytes} B for ${wireSize(invite)} B)`);
    assert.equal(c.got.filter((r) => r.status === 200).length, 1 + UNCONFIRMED_2XX_RETRANSMITS);
    assert.equal(c.requests.length, 0, 'no BYE');
    assert.equal(e.sip!.stats.byesWithheld, 1);
    assert.equal(pendingWhileUnacked, 1, 'answered, not ACKed: still pending');
    // What the INVITE held is gone: call, dialog, leg, RTP pair, pending slot.
    assert.equal(e.calls.size, 0);
    assert.equal(e.sip!.liveLegs, 0);
    assert.equal(e.supervisor.count('dialog'), 0);
    assert.equal(e.ports.allocated, 0);
    assert.equal(e.sip!.pendingInviteCount, 0);
  });

  test('a rejected INVITE never ACKed: the 486 is sent 1 + DEFAULT_FINAL_RETRANSMITS times, not until Timer H', async () => {
    const e = await start({ onIncomingCall: () => ({ action: 'reject', code: 486 }) });
    const port = e.sipPort!;
    const c = await raw();
    c.send(request('INVITE', port, c.port, { 'Call-ID': 'rejected-never-acked@x', 'Content-Type': 'application/sdp' }, sdp(40120)), port);
    await sleep(WHOLE_EXCHANGE_MS);
    assert.equal(c.got.filter((r) => r.status === 486).length, 1 + DEFAULT_FINAL_RETRANSMITS);
  });

  test('an app hanging up before the ACK: the BYE waits for it (§15), and never goes if it never comes', async () => {
    const e = await start({
      onIncomingCall: (call) => {
        call.once('answered', () => call.hangup('at once'));
        return { action: 'accept' };
      },
    });
    const port = e.sipPort!;
    const c = await raw();
    c.send(request('INVITE', port, c.port, { 'Call-ID': 'hangup-early-1@x', 'Content-Type': 'application/sdp' }, sdp(40114)), port);
    const ok = await c.response((r) => r.status === 200);
    await sleep(3 * timers.t1);
    assert.equal(c.requests.length, 0, 'no BYE before the ACK');
    c.send(request('ACK', port, c.port, { 'Call-ID': 'hangup-early-1@x', To: `<sip:callchart@127.0.0.1:${port}>;tag=${toTagOf(ok)}` }), port);
    const bye = await c.request((r) => r.method === 'BYE');
    c.sock.send(serialize(createResponse(bye, 200)), port, '127.0.0.1');

    const quiet = await raw();
    quiet.send(request('INVITE', port, quiet.port, { 'Call-ID': 'hangup-early-2@x', 'Content-Type': 'application/sdp' }, sdp(40116)), port);
    await sleep(WHOLE_EXCHANGE_MS);
    assert.equal(quiet.requests.length, 0, 'never ACKed: no BYE at all');
    assert.equal(quiet.got.filter((r) => r.status === 200).length, 1 + UNCONFIRMED_2XX_RETRANSMITS);
    assert.equal(e.sip!.liveLegs, 0);
  });

  test('a peer that proved itself (RTP to our port) but whose ACKs are lost gets RFC 3261 §13.3.1.4: 2xx until 64*T1, then BYE', async () => {
    const e = await start({ onIncomingCall: () => ({ action: 'accept' }) });
    const port = e.sipPort!;
    const c = await raw();
    const media = dgram.createSocket('udp4');
    await new Promise<void>((r) => media.bind(0, '127.0.0.1', () => r()));
    try {
      c.send(request('INVITE', port, c.port, { 'Call-ID': 'proven@x', 'Content-Type': 'application/sdp' }, sdp(media.address().port)), port);
      const ok = await c.response((r) => r.status === 200);
      const ourRtp = Number(/m=audio (\d+)/.exec(ok.body.toString())![1]);
      // A few PCMU packets from the address our SDP answer was sent to (its c=/m= line).
      for (let seq = 0; seq < 5; seq++) {
        const pkt = Buffer.alloc(12 + 160, 0xff);
        pkt[0] = 0x80;
        pkt[1] = 0;
        pkt.writeUInt16BE(seq, 2);
        pkt.writeUInt32BE(seq * 160, 4);
        pkt.writeUInt32BE(0x1234, 8);
        media.send(pkt, ourRtp, '127.0.0.1');
        await sleep(20);
      }
      const bye = await c.request((r) => r.method === 'BYE', WHOLE_EXCHANGE_MS);
      c.sock.send(serialize(createResponse(bye, 200)), port, '127.0.0.1');
      assert.ok(c.got.filter((r) => r.status === 200).length > 1 + UNCONFIRMED_2XX_RETRANSMITS, 'the full 64*T1 of retransmissions');
    } finally {
      media.close();
    }
  });
});

describe('SIP pending-INVITE cap', () => {
  test('beyond maxPendingInvites an INVITE gets one 503 with Retry-After, before any call or RTP port; a settled INVITE frees its slot', async () => {
    const held: Call[] = [];
    const e = await start({ sip: { maxPendingInvites: 2, maxPendingInvitesPerSource: 2 }, onIncomingCall: (call) => (held.push(call), { action: 'defer' }) });
    const port = e.sipPort!;
    const c = await raw();
    for (const id of ['p1@x', 'p2@x']) {
      c.send(request('INVITE', port, c.port, { 'Call-ID': id, 'Content-Type': 'application/sdp' }, sdp(40118)), port);
      await c.response((r) => r.status === 180 && r.headers.get('Call-ID') === id);
    }
    const allocated = e.ports.allocated;
    c.send(request('INVITE', port, c.port, { 'Call-ID': 'p3@x', 'Content-Type': 'application/sdp' }, sdp(40118)), port);
    const refused = await c.response((r) => r.headers.get('Call-ID') === 'p3@x');
    assert.equal(refused.status, 503);
    assert.ok(Number(refused.headers.get('Retry-After')) > 0);
    assert.equal(e.calls.size, 2);
    assert.equal(e.ports.allocated, allocated, 'no RTP port for the refused INVITE');
    assert.equal(e.sip!.stats.invitesRejectedPending, 1);
    assert.equal(e.sip!.pendingInviteCount, 2);
    await sleep(10 * timers.t1);
    assert.equal(c.got.filter((r) => r.headers.get('Call-ID') === 'p3@x').length, 0, 'sent once, statelessly: no Timer G copies');

    held[0]!.reject(486);
    const r486 = await c.response((r) => r.status === 486);
    c.send(request('ACK', port, c.port, { 'Call-ID': 'p1@x', To: `<sip:callchart@127.0.0.1:${port}>;tag=${toTagOf(r486)}` }), port);
    c.send(request('INVITE', port, c.port, { 'Call-ID': 'p4@x', 'Content-Type': 'application/sdp' }, sdp(40118)), port);
    assert.equal((await c.response((r) => r.headers.get('Call-ID') === 'p4@x')).status, 180);
    for (const call of held.slice(1)) call.reject(486);
  });

  test('one source holds at most maxPendingInvitesPerSource of them: a flooder cannot take the slots of other callers', async () => {
    const held: Call[] = [];
    const e = await start({ sip: { maxPendingInvites: 4, maxPendingInvitesPerSource: 2 }, onIncomingCall: (call) => (held.push(call), { action: 'defer' }) });
    const port = e.sipPort!;
    const flooder = await raw('127.0.0.1');
    const caller = await raw('127.0.0.2');
    const statuses: number[] = [];
    for (const id of ['f1@x', 'f2@x', 'f3@x']) {
      flooder.send(request('INVITE', port, flooder.port, { 'Call-ID': id, 'Content-Type': 'application/sdp' }, sdp(40118)), port);
      statuses.push((await flooder.response((r) => r.status !== 100 && r.headers.get('Call-ID') === id)).status);
    }
    assert.deepEqual(statuses, [180, 180, 503]);
    assert.equal(e.sip!.stats.invitesRejectedPendingSource, 1);
    for (const id of ['c1@x', 'c2@x']) {
      caller.send(request('INVITE', port, caller.port, { 'Call-ID': id, 'Content-Type': 'application/sdp', Via: `SIP/2.0/UDP 127.0.0.2:${caller.port};branch=z9hG4bK${id.slice(0, 2)}src;rport` }, sdp(40120, '127.0.0.2')), port);
      assert.equal((await caller.response((r) => r.status !== 100 && r.headers.get('Call-ID') === id)).status, 180, `${id} from another source`);
    }
    assert.equal(e.sip!.pendingInviteCount, 4);
    for (const call of held) call.reject(486);
  });
});

