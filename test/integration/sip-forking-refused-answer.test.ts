// As the caller, a branch whose only early answer we refuse (RFC 3261 §15, §13.2.2.4; RFC 3262 §4):
// its reliable 183's SDP has none of our codecs, so that early dialog would ring on without media.
// The 183 is PRACKed all the same (RFC 3262 §4 asks for one), then its early dialog gets a BYE
// built from that dialog's state (To tag, remote target, Route from its Record-Route, its next
// CSeq). A lone branch: its 487 (ACKed by the transaction) fails the call at once for the refused
// answer, well before the ring timeout. Two branches: the call rings on with the other, whose 2xx
// wins and gets the media; the refused branch's 2xx (crossing our BYE) is ACKed and sent a BYE.
// A raw SIP callee on loopback plays the branches.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { loopbackEngines } from '../helpers/loopback-engines.js';
import { waitFor } from '../helpers/wait.js';
import { early183, hangUp, placeCall, reply, respond, rtpSink, sendFrames, toTag } from '../helpers/sip-branch-callee.js';
import { formatUri } from '../../src/sip/codec/uri.js';

const LO = '127.0.0.1';
const engines = loopbackEngines(50500, 20);
const closers: Array<() => void> = [];
after(async () => {
  for (const c of closers.splice(0)) c();
  await engines.closeAll();
});

const ALLOW = 'Allow: INVITE, ACK, BYE, CANCEL, PRACK, UPDATE, INFO';
/** An answer with only G.729: none of our codecs (PCMU, PCMA). */
const g729 = (port: number) => `v=0\no=x 7 1 IN IP4 ${LO}\ns=-\nc=IN IP4 ${LO}\nt=0 0\nm=audio ${port} RTP/AVP 18\na=rtpmap:18 G729/8000\na=sendrecv\n`;
const pcmu = (port: number) => `v=0\no=b 7 1 IN IP4 ${LO}\ns=-\nc=IN IP4 ${LO}\nt=0 0\nm=audio ${port} RTP/AVP 0\na=rtpmap:0 PCMU/8000\na=sendrecv\n`;
const cseqOf = (h: { get(n: string): string | undefined }) => h.get('CSeq');

test('a lone branch whose reliable 183 answer has no codec of ours: PRACK, BYE in its early dialog, its 487 ACKed, the call fails for the refused answer at once', { timeout: 20_000 }, async () => {
  const { engine, sip, call, invite } = await placeCall(engines, closers, { ringTimeoutMs: 15_000 });
  const A = await rtpSink(closers);
  const started = Date.now();
  // Through a proxy that record-routes (here the callee's own socket): the BYE must carry its Route.
  const proxy = `<sip:proxy@${LO}:${sip.port};lr>`;
  respond(sip, engine, invite, 183, 'branchA', { body: g729(A.port), rseq: 1, headers: [ALLOW, `Record-Route: ${proxy}`] });
  const prack = await sip.request((r) => r.method === 'PRACK');
  assert.equal(toTag(prack), 'branchA');
  assert.equal(cseqOf(prack.headers), '2 PRACK');
  reply(sip, engine, prack);
  const bye = await sip.request((r) => r.method === 'BYE');
  // §12.2.1.1 in A's early dialog: its To tag, its Contact as Request-URI, its route set, its next CSeq.
  assert.equal(toTag(bye), 'branchA');
  assert.equal(formatUri(bye.uri), `sip:branchA@${LO}:${sip.port}`);
  assert.deepEqual(bye.headers.getAll('Route'), [proxy]);
  assert.equal(cseqOf(bye.headers), '3 BYE');
  assert.equal(bye.headers.get('Call-ID'), invite.headers.get('Call-ID'));
  assert.ok(!call.isEnded, 'the call waits for the INVITE\'s final response');
  reply(sip, engine, bye);
  // The callee ends the INVITE for that early dialog (§15): 487, ACKed hop by hop.
  respond(sip, engine, invite, 487, 'branchA');
  const ack = await sip.request((r) => r.method === 'ACK');
  assert.equal(cseqOf(ack.headers), '1 ACK');
  assert.equal(toTag(ack), 'branchA');
  const end = await call.waitForEnd();
  assert.equal(end.reason, 'failed', JSON.stringify(end));
  assert.equal(end.code, 488, JSON.stringify(end));
  assert.match(end.detail ?? '', /answer refused: no codec in common/);
  assert.ok(Date.now() - started < 5_000, 'ended by the 487, not the ring timeout');
  assert.equal(sip.requests.filter((r) => r.method === 'CANCEL' || r.method === 'BYE').length, 0, 'no CANCEL, no other BYE');
  assert.equal(A.pts.length, 0, 'no media ever went to the refused answer');
});

test('two branches: A\'s reliable 183 refused (BYE to A), B answers: A\'s crossing 2xx is ACKed and sent a BYE, B\'s 2xx wins and media goes to B', { timeout: 20_000 }, async () => {
  const { engine, sip, call, invite } = await placeCall(engines, closers);
  const A = await rtpSink(closers);
  const B = await rtpSink(closers);
  await early183(sip, engine, invite, 'branchB', pcmu(B.port), { headers: [ALLOW] });
  respond(sip, engine, invite, 183, 'branchA', { body: g729(A.port), rseq: 1, headers: [ALLOW] });
  const prack = await sip.request((r) => r.method === 'PRACK' && toTag(r) === 'branchA');
  reply(sip, engine, prack);
  const bye = await sip.request((r) => r.method === 'BYE');
  assert.equal(toTag(bye), 'branchA');
  assert.equal(formatUri(bye.uri), `sip:branchA@${LO}:${sip.port}`);
  // A's own sequence: the INVITE's 1, its PRACK 2, this BYE 3 (B's PRACK took B's 2).
  assert.equal(cseqOf(bye.headers), '3 BYE');
  assert.deepEqual(bye.headers.getAll('Route'), []);
  reply(sip, engine, bye);
  assert.ok(!call.isEnded && !call.isActive, 'still ringing, with B');
  // Media while ringing goes to B's early answer, never to A's refused one.
  const ringing = await sendFrames(call, { A, B });
  assert.deepEqual(ringing.A, []);
  assert.ok(ringing.B.length > 0, 'early media to B');
  // A's 200 had crossed our BYE: it is no call, ACKed and ended with a BYE in a dialog of its own.
  respond(sip, engine, invite, 200, 'branchA', { body: g729(A.port), headers: [ALLOW] });
  assert.equal(toTag(await sip.request((r) => r.method === 'ACK')), 'branchA');
  const late = await sip.request((r) => r.method === 'BYE');
  assert.equal(toTag(late), 'branchA');
  reply(sip, engine, late);
  assert.ok(!call.isEnded, 'the call rings on with B');
  respond(sip, engine, invite, 200, 'branchB', { body: pcmu(B.port), headers: [ALLOW] });
  assert.equal(toTag(await sip.request((r) => r.method === 'ACK')), 'branchB');
  await waitFor(() => call.isActive, 'answered by B');
  const answered = await sendFrames(call, { A, B });
  assert.deepEqual(answered.A, []);
  assert.ok(answered.B.length > 0 && answered.B.every((pt) => pt === 0), 'PCMU to B');
  await hangUp(sip, engine, call);
});
