// A forked outbound INVITE (RFC 3261 §12.1.2, §13.2.2.4) on loopback: a raw SIP socket plays a
// forking proxy and answers the engine's INVITE from several branches (To tags). The first 2xx
// is the call (its SDP, its dialog for the BYE); a 2xx from another branch later is ACKed in its
// own dialog and sent a BYE; retransmissions of either get an ACK again and nothing more. So is a
// 2xx that comes after another branch's refusal, once the call is over and its leg forgotten.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { loopbackEngines } from '../helpers/loopback-engines.js';
import { RawSip } from '../helpers/raw-sip.js';
import { sleep, waitFor } from '../helpers/wait.js';
import type { SipRequest } from '../../src/sip/codec/message.js';
import type { Call, Engine } from '../../src/index.js';

const engines = loopbackEngines(28000, 40);
after(() => engines.closeAll());

/** A UDP socket standing for a branch's RTP port: counts what arrives. */
async function rtpSink(): Promise<{ sock: dgram.Socket; port: number; packets: () => number }> {
  const sock = dgram.createSocket('udp4');
  let n = 0;
  sock.on('message', () => n++);
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
  return { sock, port: sock.address().port, packets: () => n };
}

const sdp = (rtpPort: number) => `v=0\no=- 1 1 IN IP4 127.0.0.1\ns=-\nc=IN IP4 127.0.0.1\nt=0 0\nm=audio ${rtpPort} RTP/AVP 0\na=rtpmap:0 PCMU/8000\na=sendrecv\n`;

/** A response to the engine's INVITE from one branch (To tag), sent from the raw socket. */
function respond(sip: RawSip, engine: Engine, invite: SipRequest, status: number, reason: string, tag: string, body = ''): void {
  const h = invite.headers;
  const lines = [
    `SIP/2.0 ${status} ${reason}`,
    ...h.getAll('Via').map((v) => `Via: ${v}`),
    `From: ${h.get('From')}`,
    `To: ${h.get('To')};tag=${tag}`,
    `Call-ID: ${h.get('Call-ID')}`,
    `CSeq: ${h.get('CSeq')}`,
    `Contact: <sip:${tag}@127.0.0.1:${sip.port}>`,
    ...(body ? ['Content-Type: application/sdp'] : []),
    `Content-Length: ${Buffer.byteLength(body.replace(/\n/g, '\r\n'))}`,
  ];
  sip.send(`${lines.join('\n')}\n\n${body}`, engine.sipPort!);
}

/** 200 OK to a request the engine sent (its BYE), so its transaction stops retransmitting. */
function ok(sip: RawSip, engine: Engine, req: SipRequest): void {
  const h = req.headers;
  const lines = ['SIP/2.0 200 OK', ...h.getAll('Via').map((v) => `Via: ${v}`), `From: ${h.get('From')}`, `To: ${h.get('To')}`, `Call-ID: ${h.get('Call-ID')}`, `CSeq: ${h.get('CSeq')}`, 'Content-Length: 0'];
  sip.send(`${lines.join('\n')}\n\n`, engine.sipPort!);
}

const toTag = (r: SipRequest) => /;tag=([^;>\s]+)/.exec(r.headers.get('To') ?? '')?.[1];

async function placed(): Promise<{ engine: Engine; sip: RawSip; call: Call; invite: SipRequest }> {
  const engine = await engines.start();
  const sip = await new RawSip().open();
  const call = await engine.call(`sip:bob@127.0.0.1:${sip.port}`);
  const invite = await sip.request((r) => r.method === 'INVITE');
  return { engine, sip, call, invite };
}

test('two branches ring, B answers first, A later: one call with B, A ACKed and sent a BYE', { timeout: 20_000 }, async () => {
  const { engine, sip, call, invite } = await placed();
  const rtpA = await rtpSink();
  const rtpB = await rtpSink();
  const states: string[] = [];
  call.on('state', (s: string) => states.push(s));
  let answered = 0;
  call.on('answered', () => answered++);
  respond(sip, engine, invite, 180, 'Ringing', 'branchA');
  respond(sip, engine, invite, 180, 'Ringing', 'branchB');
  respond(sip, engine, invite, 200, 'OK', 'branchB', sdp(rtpB.port));
  const ackB = await sip.request((r) => r.method === 'ACK');
  assert.equal(toTag(ackB), 'branchB');
  assert.equal(ackB.uri.kind === 'sip' && ackB.uri.user, 'branchB', 'ACK to the winner’s Contact');
  respond(sip, engine, invite, 200, 'OK', 'branchA', sdp(rtpA.port));
  const ackA = await sip.request((r) => r.method === 'ACK');
  assert.equal(toTag(ackA), 'branchA');
  assert.equal(ackA.headers.get('CSeq'), invite.headers.get('CSeq')!.replace('INVITE', 'ACK'), 'ACK carries the INVITE CSeq');
  const byeA = await sip.request((r) => r.method === 'BYE');
  assert.equal(toTag(byeA), 'branchA');
  assert.equal(byeA.uri.kind === 'sip' && byeA.uri.user, 'branchA', 'BYE to the late branch’s Contact');
  assert.equal(byeA.headers.get('CSeq'), `${Number.parseInt(invite.headers.get('CSeq')!, 10) + 1} BYE`);
  ok(sip, engine, byeA);
  // Retransmissions of either 2xx: an ACK again, no second BYE.
  respond(sip, engine, invite, 200, 'OK', 'branchB', sdp(rtpB.port));
  respond(sip, engine, invite, 200, 'OK', 'branchA', sdp(rtpA.port));
  const again = [await sip.request((r) => r.method === 'ACK'), await sip.request((r) => r.method === 'ACK')];
  assert.deepEqual(again.map(toTag).sort(), ['branchA', 'branchB']);
  await assert.rejects(sip.request((r) => r.method === 'BYE', 400), /no matching SIP request/);
  // One call, answered once, media to the winner's SDP only.
  assert.equal(answered, 1);
  assert.ok(call.isActive, call.state);
  const frame = Buffer.alloc(320);
  for (let i = 0; i < 5; i++) call.sendAudio(frame);
  await sleep(200);
  assert.ok(rtpB.packets() >= 1, 'RTP goes to the winner');
  assert.equal(rtpA.packets(), 0, 'nothing to the late branch');
  // The hangup's BYE is in the winner's dialog.
  call.hangup();
  const byeB = await sip.request((r) => r.method === 'BYE');
  assert.equal(toTag(byeB), 'branchB');
  assert.ok(!states.includes('ended') || states.indexOf('ended') === states.length - 1);
  sip.close();
  rtpA.sock.close();
  rtpB.sock.close();
});

test('a 2xx from a branch that never sent a 1xx wins over the ringing one', { timeout: 20_000 }, async () => {
  const { engine, sip, call, invite } = await placed();
  const rtpC = await rtpSink();
  respond(sip, engine, invite, 180, 'Ringing', 'branchA');
  respond(sip, engine, invite, 183, 'Session Progress', 'branchB');
  respond(sip, engine, invite, 200, 'OK', 'branchC', sdp(rtpC.port));
  const ack = await sip.request((r) => r.method === 'ACK');
  assert.equal(toTag(ack), 'branchC');
  await waitFor(() => call.isActive, 'answered');
  call.hangup();
  const bye = await sip.request((r) => r.method === 'BYE');
  assert.equal(toTag(bye), 'branchC', 'the call’s dialog is the 2xx’s, not an early one');
  assert.equal(bye.uri.kind === 'sip' && bye.uri.user, 'branchC');
  sip.close();
  rtpC.sock.close();
});

test('branch A refuses (486), branch B answers after it: the call stays rejected, B ACKed and sent one BYE', { timeout: 20_000 }, async () => {
  const { engine, sip, call, invite } = await placed();
  let answered = 0;
  call.on('answered', () => answered++);
  respond(sip, engine, invite, 180, 'Ringing', 'branchA');
  respond(sip, engine, invite, 486, 'Busy Here', 'branchA');
  const ack486 = await sip.request((r) => r.method === 'ACK');
  assert.equal(toTag(ack486), 'branchA', 'the transaction ACKs the 486');
  const end = await call.waitForEnd();
  assert.equal(end.reason, 'rejected', JSON.stringify(end));
  // The leg is forgotten on the next turn: B answers past that.
  await sleep(50);
  respond(sip, engine, invite, 200, 'OK', 'branchB', sdp(9));
  const ackB = await sip.request((r) => r.method === 'ACK');
  assert.equal(toTag(ackB), 'branchB');
  assert.equal(ackB.uri.kind === 'sip' && ackB.uri.user, 'branchB', 'ACK to B’s Contact');
  const byeB = await sip.request((r) => r.method === 'BYE');
  assert.equal(toTag(byeB), 'branchB');
  assert.equal(byeB.uri.kind === 'sip' && byeB.uri.user, 'branchB', 'BYE to B’s Contact');
  ok(sip, engine, byeB);
  // B's 2xx again (our ACK lost): another ACK, no second BYE.
  respond(sip, engine, invite, 200, 'OK', 'branchB', sdp(9));
  assert.equal(toTag(await sip.request((r) => r.method === 'ACK')), 'branchB');
  await assert.rejects(sip.request((r) => r.method === 'BYE', 400), /no matching SIP request/);
  assert.equal(answered, 0, 'the app never heard of B');
  assert.equal(engine.sip?.liveLegs, 0, 'no leg kept');
  sip.close();
});
