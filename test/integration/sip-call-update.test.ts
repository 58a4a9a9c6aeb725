// call.update() on loopback: a new offer of ours (RFC 3261 §14.1, RFC 3311). A raw peer answers a
// codec change on a new port after a 491, and the RTP the engine sends then arrives there with the
// new payload type; a 500 with Retry-After is retried after it; as the caller, an UPDATE in the
// early dialog once the 183's answer was PRACKed moves media for good; two engines refresh the
// session by UPDATE (o= version up) and move codec by re-INVITE; a callee without the codec refuses
// it (488) and the call goes on; a peer's re-offer of another codec moves our media too; options
// the call cannot honour throw before anything is sent.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { CallUpdateError, type Call } from '../../src/index.js';
import { createResponse, serialize, type SipRequest } from '../../src/sip/codec/message.js';
import { CallManager } from '../../src/call/manager.js';
import { Supervisor } from '../../src/actors/supervisor.js';
import { silentLogger } from '../../src/logger.js';
import { loopbackEngines } from '../helpers/loopback-engines.js';
import { traced } from '../helpers/sip-trace.js';
import { RawSip, request } from '../helpers/raw-sip.js';
import { waitFor } from '../helpers/wait.js';

const LO = '127.0.0.1';
const engines = loopbackEngines(45200, 40);
const cleanup: Array<() => unknown> = [];
after(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
  await engines.closeAll();
});

const sdp = (port: number, pts: string, version = 1, extra = '') =>
  `v=0\no=raw 1 ${version} IN IP4 ${LO}\ns=-\nc=IN IP4 ${LO}\nt=0 0\nm=audio ${port} RTP/AVP ${pts}\na=rtpmap:0 PCMU/8000\na=rtpmap:8 PCMA/8000\n${extra}`;

async function udp(): Promise<{ sock: dgram.Socket; port: number; pts: number[] }> {
  const sock = dgram.createSocket('udp4');
  await new Promise<void>((r) => sock.bind(0, LO, () => r()));
  const pts: number[] = [];
  sock.on('message', (m) => m.length >= 12 && pts.push(m[1]! & 0x7f));
  cleanup.push(() => sock.close());
  return { sock, port: sock.address().port, pts };
}

function reply(c: RawSip, port: number, req: SipRequest, status: number, reason: string, body?: string): void {
  const res = createResponse(req, status, reason, { toTag: 'peer1', ...(body ? { body, contentType: 'application/sdp' } : {}) });
  c.sock.send(serialize(res), port, LO);
}

/** A raw peer calls the engine (offering PCMU and PCMA at `rtpPort`), ACKs the 200 and waits until the call talks. */
async function rawCallTalking(e: Awaited<ReturnType<typeof engines.start>>, rtpPort: number) {
  const port = e.sipPort!;
  const c = await new RawSip().open();
  cleanup.push(() => c.close());
  const callId = `upd-${Math.random().toString(36).slice(2)}@x`;
  const incoming = new Promise<Call>((r) => e.once('call', r));
  c.send(request('INVITE', port, c.port, { 'Content-Type': 'application/sdp', 'Call-ID': callId }, sdp(rtpPort, '0 8')), port);
  const ok = await c.response((r) => r.status === 200 && r.headers.get('CSeq') === '1 INVITE');
  const to = ok.headers.get('To')!;
  c.send(request('ACK', port, c.port, { 'Call-ID': callId, CSeq: '1 ACK', To: to }), port);
  const call = await incoming;
  await waitFor(() => call.state === 'active.talking', 'talking');
  return { port, c, callId, ok, to, call };
}

const versionOf = (body: string) => Number(/^o=\S+ \S+ (\d+)/m.exec(body)?.[1]);
const frame = Buffer.alloc(320, 0x11);

test('a codec change answered on a new port after a 491: the retry is answered and media follows the answer', async () => {
  const e = await engines.start({ onIncomingCall: () => ({ action: 'accept' }) });
  const first = await udp();
  const moved = await udp();
  const { port, c, ok, call } = await rawCallTalking(e, first.port);
  assert.match(ok.body.toString(), /m=audio \d+ RTP\/AVP 0\b/, 'PCMU first');
  call.sendAudio(frame);
  await waitFor(() => first.pts.length > 0, 'RTP before the update');
  assert.equal(first.pts[0], 0, 'PCMU before the update');

  const done = call.update({ codecs: ['PCMA'] });
  const offer = await c.request((r) => r.method === 'INVITE');
  assert.match(offer.body.toString(), /m=audio \d+ RTP\/AVP 8\r?\n/, 'the offer lists PCMA only (no telephone-event was agreed)');
  assert.ok(versionOf(offer.body.toString()) > versionOf(ok.body.toString()), 'o= version up');
  reply(c, port, offer, 491, 'Request Pending');
  const again = await c.request((r) => r.method === 'INVITE', 4000);
  assert.notEqual(again.headers.get('CSeq'), offer.headers.get('CSeq'));
  assert.match(again.body.toString(), /RTP\/AVP 8\r?\n/, 'the retry offers the same codecs');
  reply(c, port, again, 200, 'OK', sdp(moved.port, '8', 2));
  const result = await done;
  assert.deepEqual(result, { method: 'INVITE', status: 200, codec: 'PCMA', remote: { address: LO, port: moved.port } });
  await c.request((r) => r.method === 'ACK');
  const before = first.pts.length;
  for (let i = 0; i < 3; i++) call.sendAudio(frame);
  await waitFor(() => moved.pts.length >= 3, 'RTP at the new port');
  assert.deepEqual(moved.pts.slice(0, 3), [8, 8, 8], 'PCMA after the update');
  assert.equal(first.pts.length, before, 'nothing more to the old port');
  assert.equal(call.state, 'active.talking');
  call.hangup();
  const bye = await c.request((r) => r.method === 'BYE');
  reply(c, port, bye, 200, 'OK');
  await call.waitForEnd();
});

test('a peer\'s re-offer may move us to another codec: answered PCMA, and our RTP follows as payload type 8', async () => {
  const e = await engines.start({ onIncomingCall: () => ({ action: 'accept' }) });
  const first = await udp();
  const moved = await udp();
  const { port, c, callId, to, call } = await rawCallTalking(e, first.port);
  c.send(request('INVITE', port, c.port, { 'Content-Type': 'application/sdp', 'Call-ID': callId, CSeq: '2 INVITE', To: to }, sdp(moved.port, '8', 2)), port);
  const answer = await c.response((r) => r.status === 200 && r.headers.get('CSeq') === '2 INVITE');
  assert.match(answer.body.toString(), /m=audio \d+ RTP\/AVP 8\r?\n/, 'answered PCMA');
  c.send(request('ACK', port, c.port, { 'Call-ID': callId, CSeq: '2 ACK', To: to }), port);
  for (let i = 0; i < 3; i++) call.sendAudio(frame);
  await waitFor(() => moved.pts.length >= 3, 'RTP at the re-offer\'s port');
  assert.deepEqual(moved.pts.slice(0, 3), [8, 8, 8], 'PCMA after the re-offer');
  call.hangup();
  const bye = await c.request((r) => r.method === 'BYE');
  reply(c, port, bye, 200, 'OK');
  await call.waitForEnd();
});

test('as the caller: a 500 with Retry-After: 1 is retried after that second (not the 2.1–4 s glare wait)', async () => {
  const e = await engines.start();
  const media = await udp();
  const c = await new RawSip().open();
  cleanup.push(() => c.close());
  const call = await e.call(`sip:peer@${LO}:${c.port}`);
  const invite = await c.request((r) => r.method === 'INVITE');
  const contact: [string, string] = ['Contact', `<sip:peer@${LO}:${c.port}>`];
  c.sock.send(serialize(createResponse(invite, 200, 'OK', { toTag: 'peer1', headers: [contact, ['Allow', 'INVITE, ACK, BYE, UPDATE']], body: sdp(media.port, '0'), contentType: 'application/sdp' })), e.sipPort!, LO);
  await c.request((r) => r.method === 'ACK');
  await waitFor(() => call.state === 'active.talking', 'answered');
  const done = call.update({ method: 'UPDATE' });
  const first = await c.request((r) => r.method === 'UPDATE');
  const t0 = Date.now();
  c.sock.send(serialize(createResponse(first, 500, 'Server Internal Error', { headers: [['Retry-After', '1']] })), e.sipPort!, LO);
  const again = await c.request((r) => r.method === 'UPDATE', 4000);
  const waited = Date.now() - t0;
  assert.ok(waited >= 900 && waited < 2000, `retried after ${waited} ms`);
  assert.notEqual(again.headers.get('CSeq'), first.headers.get('CSeq'));
  c.sock.send(serialize(createResponse(again, 200, 'OK', { headers: [contact], body: sdp(media.port, '0', 2), contentType: 'application/sdp' })), e.sipPort!, LO);
  assert.equal((await done).status, 200);
  call.hangup();
  const bye = await c.request((r) => r.method === 'BYE');
  c.sock.send(serialize(createResponse(bye, 200, 'OK')), e.sipPort!, LO);
  await call.waitForEnd();
});

test('as the caller in the early dialog: an UPDATE once the reliable 183 with the answer was PRACKed, retried after a 500 with Retry-After; the 2xx repeating the old answer does not undo it', async () => {
  const e = await engines.start();
  const early = await udp();
  const moved = await udp();
  const c = await new RawSip().open();
  cleanup.push(() => c.close());
  const port = e.sipPort!;
  const call = await e.call(`sip:peer@${LO}:${c.port}`);
  const invite = await c.request((r) => r.method === 'INVITE');
  assert.match(invite.headers.get('Supported') ?? '', /100rel/);
  const contact: [string, string] = ['Contact', `<sip:peer@${LO}:${c.port}>`];
  const answer = sdp(early.port, '0');
  c.sock.send(
    serialize(createResponse(invite, 183, 'Session Progress', { toTag: 'peer1', headers: [contact, ['Require', '100rel'], ['RSeq', '1'], ['Allow', 'INVITE, ACK, BYE, CANCEL, PRACK, UPDATE']], body: answer, contentType: 'application/sdp' })),
    port,
    LO,
  );
  const prack = await c.request((r) => r.method === 'PRACK');
  await waitFor(() => call.state === 'ringing', 'ringing');
  assert.throws(() => call.update(), /early offer\/answer is not done/, 'not before the PRACK is answered');
  assert.throws(() => call.update({ method: 'INVITE' }), /re-INVITE cannot go in an early dialog/);
  c.sock.send(serialize(createResponse(prack, 200, 'OK', { headers: [contact] })), port, LO);
  // The 200 to the PRACK is in once the machine says so (polled: the 200 travels on loopback).
  let done: Promise<unknown> | undefined;
  await waitFor(() => {
    try {
      done = call.update({ codecs: ['PCMA'] });
      return true;
    } catch {
      return false;
    }
  }, 'the early offer/answer done');
  // §5.2: a callee busy with an offer of its own answers 500 with Retry-After: tried again after it.
  const busy = await c.request((r) => r.method === 'UPDATE');
  c.sock.send(serialize(createResponse(busy, 500, 'Server Internal Error', { headers: [['Retry-After', '1']] })), port, LO);
  const update = await c.request((r) => r.method === 'UPDATE', 3000);
  assert.notEqual(update.headers.get('CSeq'), busy.headers.get('CSeq'));
  assert.match(update.headers.get('To') ?? '', /tag=peer1/, 'in the early dialog');
  assert.match(update.body.toString(), /RTP\/AVP 8\r?\n/, 'offers PCMA');
  assert.equal(update.headers.get('Session-Expires'), undefined, 'no session timer in the early dialog');
  c.sock.send(serialize(createResponse(update, 200, 'OK', { headers: [contact], body: sdp(moved.port, '8', 2), contentType: 'application/sdp' })), port, LO);
  assert.deepEqual(await done, { method: 'UPDATE', status: 200, codec: 'PCMA', remote: { address: LO, port: moved.port } });
  assert.equal(call.state, 'ringing');
  // The callee's 2xx repeats the 183's answer (o= version 1): §13.2.1 has it ignored.
  c.sock.send(serialize(createResponse(invite, 200, 'OK', { toTag: 'peer1', headers: [contact], body: answer, contentType: 'application/sdp' })), port, LO);
  await waitFor(() => call.state === 'active.talking', 'answered');
  for (let i = 0; i < 3; i++) call.sendAudio(frame);
  await waitFor(() => moved.pts.length >= 3, 'RTP at the UPDATE answer\'s port');
  assert.deepEqual(moved.pts.slice(0, 3), [8, 8, 8], 'PCMA');
  assert.equal(early.pts.length, 0, 'nothing to the 183\'s port');
  call.hangup();
  const bye = await c.request((r) => r.method === 'BYE');
  c.sock.send(serialize(createResponse(bye, 200, 'OK')), port, LO);
  await call.waitForEnd();
});

test('two engines: a session refresh by UPDATE (same codec, o= version up), then a codec change by re-INVITE', async () => {
  const ta = traced();
  const tb = traced();
  const inbound: Call[] = [];
  const b = await engines.start({ onIncomingCall: (call) => (inbound.push(call), { action: 'accept' }), sip: { trace: tb.hook } });
  const a = await engines.start({ sip: { holdMethod: 'UPDATE', trace: ta.hook } });
  const call = await a.call(`sip:upd@${LO}:${b.sipPort}`);
  await waitFor(() => call.state === 'active.talking', 'answered');
  const refreshed = await call.update();
  assert.equal(refreshed.method, 'UPDATE', 'holdMethod UPDATE toward a peer that allows it');
  assert.equal(refreshed.codec, 'PCMU');
  const reqs = (m: string) => ta.sent.filter((x): x is SipRequest => x.kind === 'request' && x.method === m);
  const [invite] = reqs('INVITE');
  const [update] = reqs('UPDATE');
  assert.ok(update, 'an UPDATE went');
  assert.match(update.body.toString(), /RTP\/AVP 0 101/, 'the codec in use');
  assert.ok(versionOf(update.body.toString()) > versionOf(invite!.body.toString()), 'o= version up');

  const changed = await call.update({ codecs: ['PCMA'], method: 'INVITE' });
  assert.equal(changed.method, 'INVITE');
  assert.equal(changed.codec, 'PCMA');
  assert.equal(reqs('INVITE').length, 2, 'the re-INVITE');
  const answer = tb.sent.find((m) => m.kind === 'response' && m.status === 200 && /^2 INVITE|^\d+ INVITE/.test(m.headers.get('CSeq') ?? '') && m.headers.get('CSeq') !== '1 INVITE');
  assert.match(answer!.body.toString(), /RTP\/AVP 8\b/, 'the callee answers PCMA');
  assert.equal(inbound[0]!.state, 'active.talking');
  call.hangup();
  await waitFor(() => call.isEnded && inbound[0]!.isEnded, 'hung up');
});

test('a callee without the codec refuses it (488): CallUpdateError, and the call goes on with its media', async () => {
  const b = await engines.start({ onIncomingCall: () => ({ action: 'accept' }), sip: { codecs: ['PCMU'] } });
  const a = await engines.start();
  const call = await a.call(`sip:upd@${LO}:${b.sipPort}`);
  await waitFor(() => call.state === 'active.talking', 'answered');
  await assert.rejects(call.update({ codecs: ['PCMA'] }), (err: unknown) => err instanceof CallUpdateError && err.status === 488);
  assert.equal(call.state, 'active.talking');
  const again = await call.update({ codecs: ['PCMA', 'PCMU'] });
  assert.equal(again.codec, 'PCMU', 'the callee picks the one it has');
  call.hangup();
  await waitFor(() => call.isEnded, 'hung up');
});

test('queued behind a hold; pending updates fail with status 0 when the call ends first', async () => {
  const b = await engines.start({ onIncomingCall: () => ({ action: 'accept' }) });
  const a = await engines.start();
  const call = await a.call(`sip:upd@${LO}:${b.sipPort}`);
  await waitFor(() => call.state === 'active.talking', 'answered');
  call.hold();
  const r1 = call.update({ codecs: ['PCMA'] });
  const r2 = call.update();
  assert.equal((await r1).codec, 'PCMA', 'after the hold');
  assert.equal((await r2).codec, 'PCMA', 'a refresh keeps the codec now in use');
  assert.equal(call.state, 'active.held');
  const r3 = call.update();
  const r4 = call.update();
  call.hangup();
  // The call is over for the app at once (its BYE waits for the re-INVITE in flight, §15).
  for (const s of await Promise.allSettled([r3, r4])) {
    assert.ok(s.status === 'rejected' && s.reason instanceof CallUpdateError && s.reason.status === 0, 'an update the call outlived');
  }
  await waitFor(() => call.isEnded, 'hung up');
});

test('options the call cannot honour throw; a non-SIP call cannot update', async () => {
  const e = await engines.start({ onIncomingCall: () => ({ action: 'accept' }) });
  const port = e.sipPort!;
  const c = await new RawSip().open();
  cleanup.push(() => c.close());
  const callId = `upd-${Math.random().toString(36).slice(2)}@x`;
  const incoming = new Promise<Call>((r) => e.once('call', r));
  c.send(request('INVITE', port, c.port, { 'Content-Type': 'application/sdp', 'Call-ID': callId, Allow: 'INVITE, ACK, BYE, CANCEL' }, sdp(9, '0')), port);
  const ok = await c.response((r) => r.status === 200 && r.headers.get('CSeq') === '1 INVITE');
  c.send(request('ACK', port, c.port, { 'Call-ID': callId, CSeq: '1 ACK', To: ok.headers.get('To')! }), port);
  const call = await incoming;
  await waitFor(() => call.state === 'active.talking', 'talking');
  assert.throws(() => call.update({ method: 'UPDATE' }), /does not allow UPDATE/);
  assert.throws(() => call.update({ codecs: ['G729' as 'PCMU'] }), RangeError);
  assert.throws(() => call.update({ codecs: [] }), RangeError);
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(c.requests.filter((r) => r.method === 'INVITE' || r.method === 'UPDATE').length, 0, 'nothing sent');

  const calls = new CallManager({ supervisor: new Supervisor({ logger: silentLogger() }), logger: silentLogger(), ringTimeoutMs: 60_000, maxDurationMs: 60_000 });
  const ws = calls.create({ direction: 'inbound', transport: 'ws', wire: { sendAnswer: () => {}, sendHangup: () => {} }, group: 'g' });
  ws.actor.send({ type: 'CALL.INCOMING' });
  ws.answer();
  assert.throws(() => ws.update(), /transport ws cannot update/);
  ws.hangup();
});
