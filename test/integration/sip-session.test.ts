// The INVITE session rules on the wire (machines/sipInviteSession.machine.ts): a raw SIP peer on
// loopback calls the engine and holds back its answers, and the test reads what the engine sends.
// BYE during our re-INVITE waits for its final response and ACK (§14.1/§15); BYE before the ACK
// of our 2xx waits for that ACK (§15); a 491 to our re-INVITE is retried after the glare timer.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createEngine, type Engine, type Call } from '../../src/index.js';
import { createResponse, serialize, type SipRequest } from '../../src/sip/codec/message.js';
import { RawSip, request } from '../helpers/raw-sip.js';
import { sleep, waitFor } from '../helpers/wait.js';

const LO = '127.0.0.1';
const cleanup: Array<() => unknown> = [];
after(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});


const SDP = `v=0\no=raw 1 1 IN IP4 ${LO}\ns=-\nc=IN IP4 ${LO}\nt=0 0\nm=audio 40300 RTP/AVP 0\na=rtpmap:0 PCMU/8000\n`;

let engine: Engine;
async function theEngine(): Promise<Engine> {
  if (engine) return engine;
  engine = createEngine({ host: LO, wsPort: 0, sipPort: 0, rtpPorts: '44700-44739', inboundCall: false, onIncomingCall: () => ({ action: 'accept' }) });
  await engine.listen();
  cleanup.push(() => engine.close());
  return engine;
}

/** A raw peer's call into the engine, answered; `ack: false` leaves the 200 unACKed. */
async function callIn(ack = true): Promise<{ c: RawSip; call: Call; port: number; callId: string; to: string }> {
  const e = await theEngine();
  const port = e.sipPort!;
  const c = await new RawSip().open();
  cleanup.push(() => c.close());
  const callId = `session-${Math.random().toString(36).slice(2)}@x`;
  const incoming = new Promise<Call>((r) => e.once('call', r));
  c.send(request('INVITE', port, c.port, { 'Content-Type': 'application/sdp', 'Call-ID': callId }, SDP), port);
  const ok = await c.response((r) => r.status === 200 && r.headers.get('CSeq') === '1 INVITE');
  const to = ok.headers.get('To')!;
  if (ack) c.send(request('ACK', port, c.port, { 'Call-ID': callId, CSeq: '1 ACK', To: to }), port);
  return { c, call: await incoming, port, callId, to };
}

/** Answer a request the engine sent us. */
function reply(c: RawSip, port: number, req: SipRequest, status: number, body?: string): void {
  const res = createResponse(req, status, status === 200 ? 'OK' : 'Request Pending', {
    toTag: 'a1peer',
    ...(body ? { body, contentType: 'application/sdp' } : {}),
  });
  c.sock.send(serialize(res), port, LO);
}

const methods = (c: RawSip) => c.requests.map((r) => r.method);

test('BYE during our re-INVITE waits until its 200 is ACKed; the resume asked for meanwhile is not sent', async () => {
  const { c, call, port } = await callIn();
  await waitFor(() => call.state === 'active.talking', 'talking');
  call.hold();
  const reinvite = await c.request((r) => r.method === 'INVITE');
  assert.match(reinvite.body.toString(), /a=sendonly/);
  call.resume();
  call.hangup();
  await sleep(300);
  assert.deepEqual(methods(c), [], 'nothing while the re-INVITE is unanswered');
  reply(c, port, reinvite, 200, SDP.replace('1 1 IN', '1 2 IN'));
  await waitFor(() => methods(c).includes('BYE'), 'the BYE');
  assert.deepEqual(methods(c), ['ACK', 'BYE'], 'ACK of the re-INVITE first, then the BYE, and no second re-INVITE');
  const bye = c.requests.find((r) => r.method === 'BYE')!;
  reply(c, port, bye, 200);
  assert.equal((await call.waitForEnd()).reason, 'local-hangup');
});

test('BYE before the ACK of our 200 waits for that ACK', async () => {
  const { c, call, port, callId, to } = await callIn(false);
  await waitFor(() => call.state === 'active.talking', 'talking');
  call.hangup();
  await sleep(300);
  assert.ok(!methods(c).includes('BYE'), 'no BYE before the ACK (§15)');
  c.send(request('ACK', port, c.port, { 'Call-ID': callId, CSeq: '1 ACK', To: to }), port);
  const bye = await c.request((r) => r.method === 'BYE');
  reply(c, port, bye, 200);
  assert.equal((await call.waitForEnd()).reason, 'local-hangup');
});

test('a 491 to our re-INVITE (glare) is followed by the same offer after at most 2 s', async () => {
  const { c, call, port, callId, to } = await callIn();
  await waitFor(() => call.state === 'active.talking', 'talking');
  call.hold();
  const first = await c.request((r) => r.method === 'INVITE');
  const t0 = Date.now();
  reply(c, port, first, 491);
  // The engine answered the INVITE (it is not the Call-ID's owner): it waits 0 to 2 s (§14.1).
  const again = await c.request((r) => r.method === 'INVITE', 4000);
  assert.ok(Date.now() - t0 <= 2500, `retried after ${Date.now() - t0} ms`);
  assert.match(again.body.toString(), /a=sendonly/);
  assert.notEqual(again.headers.get('CSeq'), first.headers.get('CSeq'));
  reply(c, port, again, 200, SDP.replace('a=rtpmap', 'a=recvonly\na=rtpmap'));
  // The callee ACKs the 2xx to its own re-INVITE (it has no INVITE of its own to copy From from).
  const ackCSeq = again.headers.get('CSeq')!.replace('INVITE', 'ACK');
  await c.request((r) => r.method === 'ACK' && r.headers.get('CSeq') === ackCSeq);
  await waitFor(() => call.state === 'active.held', 'held');
  c.send(request('BYE', port, c.port, { 'Call-ID': callId, CSeq: '2 BYE', To: to }), port);
  await c.response((r) => r.headers.get('CSeq') === '2 BYE' && r.status === 200);
  assert.equal((await call.waitForEnd()).reason, 'remote-hangup');
});
