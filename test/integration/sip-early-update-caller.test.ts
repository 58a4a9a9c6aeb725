// As the caller, the callee's UPDATE offer in the early dialog (RFC 3311 §5.1/§5.2 with RFC 3262),
// from a raw SIP callee on loopback: once its reliable 183 answered our INVITE's offer and our
// PRACK got its 200, the UPDATE is answered in its 200 and that branch's early session is the new
// offer/answer: RTP goes to the offer's address at once, and a 2xx without SDP keeps it there.
// Before the PRACK's 200: 500 with Retry-After; while our own early UPDATE is out: 491; no codec in
// common (or, with `srtp: 'required'`, no SDES line): 488, media stays. A forked call: the UPDATE of
// a branch the call does not follow now moves nothing until that branch wins.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { loopbackEngines } from '../helpers/loopback-engines.js';
import type { RawSip } from '../helpers/raw-sip.js';
import { sleep, waitFor } from '../helpers/wait.js';
import { early183 as reliable183, hangUp, placeCall, reply, respond as respondAs, rtpSink as newSink, sendFrames, sizesAt, toTag } from '../helpers/sip-branch-callee.js';
import type { SipRequest, SipResponse } from '../../src/sip/codec/message.js';
import type { Call, Engine, EngineOptions } from '../../src/index.js';

const LO = '127.0.0.1';
const engines = loopbackEngines(30400, 20);
const closers: Array<() => void> = [];
after(async () => {
  for (const c of closers.splice(0)) c();
  await engines.closeAll();
});
const placed = (o: EngineOptions = {}) => placeCall(engines, closers, o);
const rtpSink = () => newSink(closers);

/** The callee's SDP: RTP to `port` in PCMU (0) or PCMA (8), its o= session at `version`. */
const sdp = (tag: string, port: number, pt: 0 | 8, version = 1) =>
  `v=0\no=${tag} 7 ${version} IN IP4 ${LO}\ns=-\nc=IN IP4 ${LO}\nt=0 0\nm=audio ${port} RTP/AVP ${pt}\na=rtpmap:${pt} ${pt ? 'PCMA' : 'PCMU'}/8000\na=sendrecv\n`;

/** An offer in G.729 only (with telephone-event): none of the engine's codecs. */
const g729 = (tag: string, port: number, version: number) =>
  `v=0\no=${tag} 7 ${version} IN IP4 ${LO}\ns=-\nc=IN IP4 ${LO}\nt=0 0\nm=audio ${port} RTP/AVP 18 101\na=rtpmap:18 G729/8000\na=rtpmap:101 telephone-event/8000\na=sendrecv\n`;

/** An SDES SDP (PCMU): one a=crypto line of `suite` with this tag and a key of the callee's own. */
const srtpSdp = (tag: string, port: number, version: number, cryptoTag: number, suite: 32 | 80, profile = 'RTP/SAVP') =>
  `v=0\no=${tag} 7 ${version} IN IP4 ${LO}\ns=-\nc=IN IP4 ${LO}\nt=0 0\nm=audio ${port} ${profile} 0\na=rtpmap:0 PCMU/8000\n` +
  `a=crypto:${cryptoTag} AES_CM_128_HMAC_SHA1_${suite} inline:${randomBytes(30).toString('base64')}\na=sendrecv\n`;

const ALLOW = 'Allow: INVITE, ACK, BYE, CANCEL, PRACK, UPDATE';

/** A response to the engine's INVITE from the branch `tag`, which allows UPDATE; `rseq` makes it reliable. */
const respond = (sip: RawSip, engine: Engine, invite: SipRequest, status: number, tag: string, o: { body?: string; rseq?: number } = {}) =>
  respondAs(sip, engine, invite, status, tag, { ...o, headers: [ALLOW] });

/** The callee's UPDATE in branch `tag`'s early dialog, with an SDP offer; resolves with the engine's final response. */
async function calleeUpdate(sip: RawSip, engine: Engine, invite: SipRequest, tag: string, cseq: number, body: string): Promise<SipResponse> {
  const h = invite.headers;
  const target = /<([^>]+)>/.exec(h.get('Contact') ?? '')?.[1] ?? `sip:callchart@${LO}:${engine.sipPort}`;
  const lines = [
    `UPDATE ${target} SIP/2.0`,
    `Via: SIP/2.0/UDP ${LO}:${sip.port};branch=z9hG4bK${Math.random().toString(36).slice(2)};rport`,
    'Max-Forwards: 70',
    `From: ${h.get('To')};tag=${tag}`,
    `To: ${h.get('From')}`,
    `Call-ID: ${h.get('Call-ID')}`,
    `CSeq: ${cseq} UPDATE`,
    `Contact: <sip:${tag}@${LO}:${sip.port}>`,
    'Content-Type: application/sdp',
    `Content-Length: ${Buffer.byteLength(body.replace(/\n/g, '\r\n'))}`,
  ];
  sip.send(`${lines.join('\n')}\n\n${body}`, engine.sipPort!);
  return sip.response((r) => r.headers.get('CSeq') === `${cseq} UPDATE` && r.status >= 200);
}

/** Branch `tag`'s reliable 183 with `body`, and the engine's PRACK of it answered 200. */
async function early183(sip: RawSip, engine: Engine, invite: SipRequest, tag: string, body: string): Promise<void> {
  await reliable183(sip, engine, invite, tag, body, { headers: [ALLOW] });
  // (The engine counts the early offer/answer done once that 200 is in.)
  await sleep(50);
}

/** The 200 to the INVITE from `tag` (without SDP unless `body`): ACKed, the call answered. */
async function answer(sip: RawSip, engine: Engine, invite: SipRequest, call: Call, tag: string, body?: string): Promise<void> {
  respond(sip, engine, invite, 200, tag, body !== undefined ? { body } : {});
  assert.equal(toTag(await sip.request((r) => r.method === 'ACK')), tag);
  await waitFor(() => call.isActive, 'answered');
}

const origin = (body: string) => /^o=\S+ (\S+) (\d+) /m.exec(body);

test('the callee\'s early UPDATE offer after its reliable 183 and our PRACK: 200 with our answer, RTP to the new port at once; its 200 without SDP keeps it there', { timeout: 20_000 }, async () => {
  const { engine, sip, call, invite } = await placed();
  const A1 = await rtpSink();
  const A2 = await rtpSink();
  await early183(sip, engine, invite, 'only', sdp('a', A1.port, 0));
  let got = await sendFrames(call, { A1, A2 });
  assert.ok(got.A1!.length >= 1, `the 183's early media: ${JSON.stringify(got)}`);

  const res = await calleeUpdate(sip, engine, invite, 'only', 10, sdp('a', A2.port, 8, 2));
  assert.equal(res.status, 200);
  assert.match(res.headers.get('Content-Type') ?? '', /application\/sdp/);
  const body = res.body.toString();
  const ourPort = /^m=audio (\d+) /m.exec(invite.body.toString())![1];
  assert.match(body, new RegExp(`^m=audio ${ourPort} RTP/AVP 8\\b`, 'm'), 'our answer: our RTP port, the offer\'s codec');
  const [oInvite, oAnswer] = [origin(invite.body.toString()), origin(body)];
  assert.ok(oInvite && oAnswer);
  assert.equal(oAnswer[1], oInvite[1], 'the same o= session as our INVITE\'s offer');
  assert.ok(Number(oAnswer[2]) > Number(oInvite[2]), 'a newer o= version');
  got = await sendFrames(call, { A1, A2 });
  assert.ok(got.A2!.length >= 1 && got.A2!.every((pt) => pt === 8), `RTP follows the UPDATE's offer, PCMA: ${JSON.stringify(got)}`);
  assert.equal(got.A1!.length, 0);

  await answer(sip, engine, invite, call, 'only');
  got = await sendFrames(call, { A1, A2 });
  assert.ok(got.A2!.length >= 1 && got.A2!.every((pt) => pt === 8), `answered: the UPDATE's session: ${JSON.stringify(got)}`);
  assert.equal(got.A1!.length, 0);
  assert.equal(call.state, 'active.talking', 'a sendrecv offer holds nothing');
  await hangUp(sip, engine, call);
});

test('the callee\'s early UPDATE offer that puts us on hold (sendonly, then inactive): answered recvonly/inactive while ringing, and the call is answered held (remote); its UPDATE back to sendrecv resumes it', { timeout: 20_000 }, async () => {
  for (const dir of ['sendonly', 'inactive'] as const) {
    const { engine, sip, call, invite } = await placed();
    const A1 = await rtpSink();
    await early183(sip, engine, invite, `hold-${dir}`, sdp('a', A1.port, 0));
    const res = await calleeUpdate(sip, engine, invite, `hold-${dir}`, 10, sdp('a', A1.port, 0, 2).replace('a=sendrecv', `a=${dir}`));
    assert.equal(res.status, 200);
    assert.match(res.body.toString(), new RegExp(`^a=${dir === 'sendonly' ? 'recvonly' : 'inactive'}`, 'm'), 'our answer mirrors the hold');
    await answer(sip, engine, invite, call, `hold-${dir}`);
    await waitFor(() => call.state === 'active.held', `held once answered (${dir})`);
    const resumed = await calleeUpdate(sip, engine, invite, `hold-${dir}`, 11, sdp('a', A1.port, 0, 3));
    assert.equal(resumed.status, 200);
    await waitFor(() => call.state === 'active.talking', `resumed (${dir})`);
    await hangUp(sip, engine, call);
  }
});

test('the callee\'s early UPDATE offer before our PRACK got its 200: 500 with Retry-After (media stays); after it: answered, and the 2xx\'s SDP ignored', { timeout: 20_000 }, async () => {
  const { engine, sip, call, invite } = await placed();
  const A1 = await rtpSink();
  const A2 = await rtpSink();
  respond(sip, engine, invite, 183, 'only', { body: sdp('a', A1.port, 0), rseq: 1 });
  const prack = await sip.request((r) => r.method === 'PRACK');
  const refused = await calleeUpdate(sip, engine, invite, 'only', 10, sdp('a', A2.port, 0, 2));
  assert.equal(refused.status, 500);
  assert.match(refused.headers.get('Retry-After') ?? '', /^\d+$/);
  let got = await sendFrames(call, { A1, A2 });
  assert.ok(got.A1!.length >= 1 && got.A2!.length === 0, `media stays on the 183's answer: ${JSON.stringify(got)}`);
  reply(sip, engine, prack);
  await sleep(50);
  const ok = await calleeUpdate(sip, engine, invite, 'only', 11, sdp('a', A2.port, 0, 2));
  assert.equal(ok.status, 200);
  got = await sendFrames(call, { A1, A2 });
  assert.ok(got.A2!.length >= 1 && got.A1!.length === 0, JSON.stringify(got));
  // §13.2.1: a 2xx's SDP after its dialog answered early is ignored (here it repeats the 183's).
  await answer(sip, engine, invite, call, 'only', sdp('a', A1.port, 0));
  got = await sendFrames(call, { A1, A2 });
  assert.ok(got.A2!.length >= 1 && got.A1!.length === 0, `the UPDATE's session still: ${JSON.stringify(got)}`);
  await hangUp(sip, engine, call);
});

test('the callee\'s early UPDATE with no codec in common: 488, media stays; its next offer in PCMA is answered', { timeout: 20_000 }, async () => {
  const { engine, sip, call, invite } = await placed();
  const A1 = await rtpSink();
  const A2 = await rtpSink();
  await early183(sip, engine, invite, 'only', sdp('a', A1.port, 0));
  const refused = await calleeUpdate(sip, engine, invite, 'only', 10, g729('a', A2.port, 2));
  assert.equal(refused.status, 488);
  let got = await sendFrames(call, { A1, A2 });
  assert.ok(got.A1!.length >= 1 && got.A1!.every((pt) => pt === 0), `media stays: ${JSON.stringify(got)}`);
  assert.equal(got.A2!.length, 0);
  assert.equal((await calleeUpdate(sip, engine, invite, 'only', 11, sdp('a', A2.port, 8, 3))).status, 200);
  got = await sendFrames(call, { A1, A2 });
  assert.ok(got.A2!.length >= 1 && got.A2!.every((pt) => pt === 8), JSON.stringify(got));
  await answer(sip, engine, invite, call, 'only');
  got = await sendFrames(call, { A1, A2 });
  assert.ok(got.A2!.length >= 1 && got.A1!.length === 0, JSON.stringify(got));
  await hangUp(sip, engine, call);
});

test('the callee\'s early UPDATE offer while ours is out (call.update() while ringing): 491; ours answered goes on', { timeout: 20_000 }, async () => {
  const { engine, sip, call, invite } = await placed();
  const A1 = await rtpSink();
  const A2 = await rtpSink();
  const A3 = await rtpSink();
  await early183(sip, engine, invite, 'only', sdp('a', A1.port, 0));
  const done = call.update();
  const ours = await sip.request((r) => r.method === 'UPDATE');
  assert.equal((await calleeUpdate(sip, engine, invite, 'only', 10, sdp('a', A3.port, 0, 2))).status, 491);
  reply(sip, engine, ours, 200, sdp('a', A2.port, 0, 3));
  assert.equal((await done).remote.port, A2.port);
  const got = await sendFrames(call, { A1, A2, A3 });
  assert.ok(got.A2!.length >= 1 && got.A1!.length === 0 && got.A3!.length === 0, JSON.stringify(got));
  await answer(sip, engine, invite, call, 'only');
  await hangUp(sip, engine, call);
});

test('a forked call: A\'s early UPDATE answered while media follows B moves nothing; A\'s 200 without SDP takes RTP to A\'s UPDATE offer', { timeout: 20_000 }, async () => {
  const { engine, sip, call, invite } = await placed();
  const A1 = await rtpSink();
  const A2 = await rtpSink();
  const B = await rtpSink();
  await early183(sip, engine, invite, 'branchA', sdp('a', A1.port, 0));
  await early183(sip, engine, invite, 'branchB', sdp('b', B.port, 0));
  const res = await calleeUpdate(sip, engine, invite, 'branchA', 10, sdp('a', A2.port, 8, 2));
  assert.equal(res.status, 200);
  assert.match(res.headers.get('To') ?? '', /;tag=/);
  assert.match(res.body.toString(), /^m=audio \d+ RTP\/AVP 8\b/m);
  let got = await sendFrames(call, { A1, A2, B });
  assert.ok(got.B!.length >= 1 && got.B!.every((pt) => pt === 0), `B, followed last, keeps the media: ${JSON.stringify(got)}`);
  assert.deepEqual([got.A1, got.A2], [[], []]);
  await answer(sip, engine, invite, call, 'branchA');
  got = await sendFrames(call, { A1, A2, B });
  assert.ok(got.A2!.length >= 1 && got.A2!.every((pt) => pt === 8), `A won: its UPDATE's session, PCMA: ${JSON.stringify(got)}`);
  assert.deepEqual([got.A1, got.B], [[], []]);
  await hangUp(sip, engine, call);
});

test('SRTP required: the callee\'s early UPDATE offer with another suite and tag is answered (SRTP to the new port); one in the clear gets 488', { timeout: 20_000 }, async () => {
  const { engine, sip, call, invite } = await placed({ sip: { srtp: 'required' } });
  const A1 = await rtpSink();
  const A2 = await rtpSink();
  const A3 = await rtpSink();
  // (Our INVITE offered tag 1 …_80 and tag 2 …_32; the 183 picks tag 1.)
  await early183(sip, engine, invite, 'only', srtpSdp('a', A1.port, 1, 1, 80));
  let got = await sizesAt(call, { A1, A2, A3 });
  assert.ok(got.A1!.length >= 1 && got.A1!.every((n) => n === 182), `SRTP to A1 (…_80): ${JSON.stringify(got)}`);
  const res = await calleeUpdate(sip, engine, invite, 'only', 10, srtpSdp('a', A2.port, 2, 7, 32));
  assert.equal(res.status, 200);
  assert.match(res.body.toString(), /^m=audio \d+ RTP\/SAVP 0/m);
  assert.match(res.body.toString(), /^a=crypto:7 AES_CM_128_HMAC_SHA1_32 inline:/m, 'our answer picks the offer\'s line, with its tag');
  got = await sizesAt(call, { A1, A2, A3 });
  assert.ok(got.A2!.length >= 1 && got.A2!.every((n) => n === 176), `SRTP to A2 (…_32): ${JSON.stringify(got)}`);
  assert.equal(got.A1!.length, 0);
  assert.equal((await calleeUpdate(sip, engine, invite, 'only', 11, sdp('a', A3.port, 0, 3))).status, 488);
  assert.ok(!call.isEnded);
  got = await sizesAt(call, { A1, A2, A3 });
  assert.ok(got.A2!.length >= 1 && got.A2!.every((n) => n === 176), `media stays: ${JSON.stringify(got)}`);
  assert.equal(A3.sizes.length, 0, 'nothing ever in the clear');
  await answer(sip, engine, invite, call, 'only');
  got = await sizesAt(call, { A1, A2, A3 });
  assert.ok(got.A2!.length >= 1 && got.A2!.every((n) => n === 176), JSON.stringify(got));
  await hangUp(sip, engine, call);
});
