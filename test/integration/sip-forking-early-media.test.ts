// Early media of a forked outbound INVITE (RFC 3261 §13.2.2.4, RFC 3262, RFC 3960 §3) on loopback:
// a raw SIP socket plays a forking proxy whose branches (To tags) each send a reliable 183 with
// their own answer, pointing RTP at a UDP socket of their own. callchart's RTP must go where the
// branch the call follows now asked (its address and codec), and once a 2xx wins, to that branch's
// answer: its 2xx's SDP, else the answer its early dialog gave. What arrives at each socket is
// counted and its payload type read.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { loopbackEngines } from '../helpers/loopback-engines.js';
import type { RawSip } from '../helpers/raw-sip.js';
import { sleep, waitFor } from '../helpers/wait.js';
import { early183, hangUp, placeCall, reply, respond, rtpSink as newSink, sendFrames, sizesAt, toTag } from '../helpers/sip-branch-callee.js';
import type { Call, Engine, EngineOptions } from '../../src/index.js';

const engines = loopbackEngines(28400, 40);
const closers: Array<() => void> = [];
after(async () => {
  for (const c of closers.splice(0)) c();
  await engines.closeAll();
});
const placed = (o: EngineOptions = {}) => placeCall(engines, closers, o);
const rtpSink = () => newSink(closers);

/** A branch's answer: RTP to `port`, in PCMU (0) or PCMA (8); its own o= session. */
const sdp = (tag: string, port: number, pt: 0 | 8) =>
  `v=0\no=${tag} ${port} 1 IN IP4 127.0.0.1\ns=-\nc=IN IP4 127.0.0.1\nt=0 0\nm=audio ${port} RTP/AVP ${pt}\na=rtpmap:${pt} ${pt ? 'PCMA' : 'PCMU'}/8000\na=sendrecv\n`;

test('183 from A, then 183 from B, then 200 from A without SDP: RTP goes to A, then to B (its codec), then back to A', { timeout: 20_000 }, async () => {
  const { engine, sip, call, invite } = await placed();
  const A = await rtpSink();
  const B = await rtpSink();
  await early183(sip, engine, invite, 'branchA', sdp('a', A.port, 0));
  let got = await sendFrames(call, { A, B });
  assert.ok(got.A!.length >= 1 && got.A!.every((pt) => pt === 0), `A's early media, PCMU: ${JSON.stringify(got)}`);
  assert.equal(got.B!.length, 0);
  await early183(sip, engine, invite, 'branchB', sdp('b', B.port, 8));
  got = await sendFrames(call, { A, B });
  assert.ok(got.B!.length >= 1 && got.B!.every((pt) => pt === 8), `B's early media, PCMA: ${JSON.stringify(got)}`);
  assert.equal(got.A!.length, 0, 'nothing to A while the call follows B');
  respond(sip, engine, invite, 200, 'branchA');
  assert.equal(toTag(await sip.request((r) => r.method === 'ACK')), 'branchA');
  await waitFor(() => call.isActive, 'answered');
  got = await sendFrames(call, { A, B });
  assert.ok(got.A!.length >= 1 && got.A!.every((pt) => pt === 0), `A won: its early answer, PCMU: ${JSON.stringify(got)}`);
  assert.equal(got.B!.length, 0, 'nothing to the losing branch');
  call.hangup();
  const bye = await sip.request((r) => r.method === 'BYE');
  assert.equal(toTag(bye), 'branchA');
  reply(sip, engine, bye);
});

test('A and B answered early, A rings again, B wins with a 2xx without SDP: RTP to B from its early answer', { timeout: 20_000 }, async () => {
  const { engine, sip, call, invite } = await placed();
  const A = await rtpSink();
  const B = await rtpSink();
  await early183(sip, engine, invite, 'branchA', sdp('a', A.port, 0));
  await early183(sip, engine, invite, 'branchB', sdp('b', B.port, 8));
  // A's 180 (unreliable, no SDP): the call follows A again, and so does the media.
  respond(sip, engine, invite, 180, 'branchA');
  await sleep(50);
  let got = await sendFrames(call, { A, B });
  assert.ok(got.A!.length >= 1 && got.A!.every((pt) => pt === 0), `back to A's early media: ${JSON.stringify(got)}`);
  assert.equal(got.B!.length, 0);
  respond(sip, engine, invite, 200, 'branchB');
  assert.equal(toTag(await sip.request((r) => r.method === 'ACK')), 'branchB');
  await waitFor(() => call.isActive, 'answered');
  got = await sendFrames(call, { A, B });
  assert.ok(got.B!.length >= 1 && got.B!.every((pt) => pt === 8), `B won: its early answer, PCMA: ${JSON.stringify(got)}`);
  assert.equal(got.A!.length, 0);
  await hangUp(sip, engine, call);
});

test('B\'s early dialog ends (481 to its PRACK): RTP goes back to A\'s answer; A\'s 200 with its SDP keeps it there', { timeout: 20_000 }, async () => {
  const { engine, sip, call, invite } = await placed();
  const A = await rtpSink();
  const B = await rtpSink();
  await early183(sip, engine, invite, 'branchA', sdp('a', A.port, 0));
  await early183(sip, engine, invite, 'branchB', sdp('b', B.port, 8), { prackStatus: 481 });
  await sleep(50);
  let got = await sendFrames(call, { A, B });
  assert.ok(got.A!.length >= 1 && got.A!.every((pt) => pt === 0), `B's dialog gone, A's early media: ${JSON.stringify(got)}`);
  assert.equal(got.B!.length, 0);
  respond(sip, engine, invite, 200, 'branchA', { body: sdp('a', A.port, 0) });
  assert.equal(toTag(await sip.request((r) => r.method === 'ACK')), 'branchA');
  await waitFor(() => call.isActive, 'answered');
  got = await sendFrames(call, { A, B });
  assert.ok(got.A!.length >= 1 && got.A!.every((pt) => pt === 0), JSON.stringify(got));
  assert.equal(got.B!.length, 0);
  await hangUp(sip, engine, call);
});

/** An SRTP answer (PCMU; RTP/SAVP, or RTP/AVP to a best-effort offer) picking the offer's crypto line `tag` with a key of the branch's own. */
const srtpSdp = (branch: string, port: number, tag: 1 | 2, profile = 'RTP/SAVP') =>
  `v=0\no=${branch} ${port} 1 IN IP4 127.0.0.1\ns=-\nc=IN IP4 127.0.0.1\nt=0 0\nm=audio ${port} ${profile} 0\na=rtpmap:0 PCMU/8000\n` +
  `a=crypto:${tag} AES_CM_128_HMAC_SHA1_${tag === 1 ? 80 : 32} inline:${randomBytes(30).toString('base64')}\na=sendrecv\n`;

test('SRTP: A picks the 80-bit tag suite, B the 32-bit one: SRTP to B with its suite (not a hang-up), back to A with A\'s on A\'s 2xx', { timeout: 20_000 }, async () => {
  const { engine, sip, call, invite } = await placed({ sip: { srtp: 'required' } });
  const A = await rtpSink();
  const B = await rtpSink();
  // PCMU 160 bytes + 12 of header + the auth tag: 10 bytes (…_80) or 4 (…_32).
  const sizesOf = () => sizesAt(call, { A, B });
  await early183(sip, engine, invite, 'branchA', srtpSdp('a', A.port, 1));
  let got = await sizesOf();
  assert.ok(got.A.length >= 1 && got.A.every((n) => n === 182), JSON.stringify(got));
  await early183(sip, engine, invite, 'branchB', srtpSdp('b', B.port, 2));
  got = await sizesOf();
  assert.ok(got.B.length >= 1 && got.B.every((n) => n === 176), `B's suite: ${JSON.stringify(got)}`);
  assert.equal(got.A.length, 0);
  assert.ok(!call.isEnded, 'B picking another of our offered lines is no SRTP failure');
  respond(sip, engine, invite, 200, 'branchA');
  assert.equal(toTag(await sip.request((r) => r.method === 'ACK')), 'branchA');
  await waitFor(() => call.isActive, 'answered');
  got = await sizesOf();
  assert.ok(got.A.length >= 1 && got.A.every((n) => n === 182), `back to A's suite: ${JSON.stringify(got)}`);
  assert.equal(got.B.length, 0);
  await hangUp(sip, engine, call);
});

test('SRTP optional: A answers with a key, B in the clear: plain RTP to B (not stuck on A), SRTP to A again on A\'s 2xx without SDP', { timeout: 20_000 }, async () => {
  const { engine, sip, call, invite } = await placed({ sip: { srtp: 'optional' } });
  assert.match(invite.body.toString(), /^m=audio \d+ RTP\/AVP /m, 'a best-effort offer: RTP/AVP with a=crypto');
  const A = await rtpSink();
  const B = await rtpSink();
  // PCMU 160 bytes + 12 of header, + 10 of auth tag under AES_CM_128_HMAC_SHA1_80.
  const sizesOf = () => sizesAt(call, { A, B });
  await early183(sip, engine, invite, 'branchA', srtpSdp('a', A.port, 1, 'RTP/AVP'));
  let got = await sizesOf();
  assert.ok(got.A.length >= 1 && got.A.every((n) => n === 182), `A's SRTP: ${JSON.stringify(got)}`);
  await early183(sip, engine, invite, 'branchB', sdp('b', B.port, 0));
  got = await sizesOf();
  assert.ok(got.B.length >= 1 && got.B.every((n) => n === 172), `B's plain RTP: ${JSON.stringify(got)}`);
  assert.equal(got.A.length, 0, 'nothing to A while the call follows B');
  assert.ok(!call.isEnded);
  respond(sip, engine, invite, 200, 'branchA');
  assert.equal(toTag(await sip.request((r) => r.method === 'ACK')), 'branchA');
  await waitFor(() => call.isActive, 'answered');
  got = await sizesOf();
  assert.ok(got.A.length >= 1 && got.A.every((n) => n === 182), `A won: SRTP again: ${JSON.stringify(got)}`);
  assert.equal(got.B.length, 0);
  await hangUp(sip, engine, call);
});

test('a reliable 183 from B with SDP that is no session description is no answer: RTP stays with A; B\'s next reliable 183 with SDP is its answer', { timeout: 20_000 }, async () => {
  const { engine, sip, call, invite } = await placed();
  const A = await rtpSink();
  const B = await rtpSink();
  await early183(sip, engine, invite, 'branchA', sdp('a', A.port, 0));
  await early183(sip, engine, invite, 'branchB', 'v=0\nm=video\nnonsense\n');
  let got = await sendFrames(call, { A, B });
  assert.ok(got.A!.length >= 1 && got.A!.every((pt) => pt === 0), JSON.stringify(got));
  assert.ok(!call.isEnded);
  await early183(sip, engine, invite, 'branchB', sdp('b', B.port, 8), { rseq: 2 });
  got = await sendFrames(call, { A, B });
  assert.ok(got.B!.length >= 1 && got.B!.every((pt) => pt === 8), JSON.stringify(got));
  assert.equal(got.A!.length, 0);
  respond(sip, engine, invite, 200, 'branchA');
  assert.equal(toTag(await sip.request((r) => r.method === 'ACK')), 'branchA');
  await waitFor(() => call.isActive, 'answered');
  got = await sendFrames(call, { A, B });
  assert.ok(got.A!.length >= 1 && got.B!.length === 0, JSON.stringify(got));
  await hangUp(sip, engine, call);
});

// Issue 16's gaps: a 2xx that brings no answer, a 2xx's SDP after its dialog's early answer, and
// (srtp 'required') a branch's early answer without an acceptable a=crypto: refused, that branch's
// early dialog gets a BYE (RFC 3261 §15) and a 2xx of it is a late one's (ACK, BYE).

/** Frames written through `media` after the call ended: what each sink got meanwhile (none, the RTP session closed). */
async function framesAfterEnd(media: Call['media'], sinks: Record<string, { pts: number[] }>): Promise<Record<string, number[]>> {
  const before = Object.fromEntries(Object.entries(sinks).map(([k, s]) => [k, s.pts.length]));
  const frame = new Int16Array(160);
  for (let i = 0; i < 5; i++) {
    try {
      media?.write(frame);
    } catch {
      // (a closed media leg may refuse the frame: that is the point)
    }
  }
  await sleep(200);
  return Object.fromEntries(Object.entries(sinks).map(([k, s]) => [k, s.pts.slice(before[k])]));
}

/** Our BYE in `tag`'s early dialog, its answer refused (RFC 3261 §15): answered 200; the call is not over for it. */
async function earlyBye(sip: RawSip, engine: Engine, call: Call, tag: string): Promise<void> {
  const bye = await sip.request((r) => r.method === 'BYE');
  assert.equal(toTag(bye), tag);
  assert.match(bye.headers.get('CSeq') ?? '', /^\d+ BYE$/);
  reply(sip, engine, bye);
  assert.ok(!call.isEnded, 'a BYE in an early dialog ends that branch only');
}

/** The 2xx made no call: ACKed and sent a BYE in `tag`'s dialog; the call fails without ever being answered. */
async function endedUnanswered(sip: RawSip, engine: Engine, call: Call, tag: string, answered: () => boolean): Promise<{ reason: string; detail?: string }> {
  assert.equal(toTag(await sip.request((r) => r.method === 'ACK')), tag);
  const bye = await sip.request((r) => r.method === 'BYE');
  assert.equal(toTag(bye), tag);
  reply(sip, engine, bye);
  const end = await call.waitForEnd();
  assert.equal(end.reason, 'failed', JSON.stringify(end));
  assert.equal(answered(), false, 'the app never hears the call answered');
  return end;
}

test('A answered in a reliable 183, B (which never answered) wins with a 200 without SDP: ACK and BYE to B, the call fails, no RTP goes on to A', { timeout: 20_000 }, async () => {
  const { engine, sip, call, invite } = await placed();
  const A = await rtpSink();
  let answered = false;
  call.on('answered', () => (answered = true));
  await early183(sip, engine, invite, 'branchA', sdp('a', A.port, 0));
  respond(sip, engine, invite, 180, 'branchB');
  await sleep(50);
  const got = await sendFrames(call, { A });
  assert.ok(got.A!.length >= 1, `A's early media (the call followed B, which has no answer): ${JSON.stringify(got)}`);
  const media = call.media;
  respond(sip, engine, invite, 200, 'branchB');
  const end = await endedUnanswered(sip, engine, call, 'branchB', () => answered);
  assert.match(end.detail ?? '', /2xx without an answer to our offer/);
  assert.deepEqual(await framesAfterEnd(media, { A }), { A: [] }, 'nothing more to the losing branch A');
});

test('one branch: a 200 without SDP after an unreliable 183 with SDP (no answer) is ACKed and sent a BYE; the call fails, no RTP ever', { timeout: 20_000 }, async () => {
  const { engine, sip, call, invite } = await placed();
  const A = await rtpSink();
  let answered = false;
  call.on('answered', () => (answered = true));
  respond(sip, engine, invite, 183, 'only', { body: sdp('a', A.port, 0) });
  await sleep(50);
  const media = call.media;
  respond(sip, engine, invite, 200, 'only');
  const end = await endedUnanswered(sip, engine, call, 'only', () => answered);
  assert.match(end.detail ?? '', /2xx without an answer to our offer/);
  assert.deepEqual(await framesAfterEnd(media, { A }), { A: [] });
  assert.equal(A.pts.length, 0, 'an unreliable 183\'s SDP is no answer: RTP never went there');
});

test('A and B answered early, A wins with a 200 carrying another SDP: ignored (§13.2.1), RTP goes to A\'s early answer', { timeout: 20_000 }, async () => {
  const { engine, sip, call, invite } = await placed();
  const A = await rtpSink();
  const B = await rtpSink();
  const C = await rtpSink();
  await early183(sip, engine, invite, 'branchA', sdp('a', A.port, 0));
  await early183(sip, engine, invite, 'branchB', sdp('b', B.port, 8));
  respond(sip, engine, invite, 200, 'branchA', { body: sdp('c', C.port, 8) });
  assert.equal(toTag(await sip.request((r) => r.method === 'ACK')), 'branchA');
  await waitFor(() => call.isActive, 'answered');
  const got = await sendFrames(call, { A, B, C });
  assert.ok(got.A!.length >= 1 && got.A!.every((pt) => pt === 0), `A's early answer, PCMU: ${JSON.stringify(got)}`);
  assert.deepEqual([got.B, got.C], [[], []], 'nothing to B, nor to the 2xx\'s SDP');
  await hangUp(sip, engine, call);
});

test('one branch: a reliable 183 answered, then the 200 carries a newer version moving RTP elsewhere: ignored, RTP stays on the early answer', { timeout: 20_000 }, async () => {
  const { engine, sip, call, invite } = await placed();
  const A = await rtpSink();
  const C = await rtpSink();
  await early183(sip, engine, invite, 'only', sdp('a', A.port, 0));
  // The same o= session one version up: no repeat of the early answer, a second answer.
  respond(sip, engine, invite, 200, 'only', { body: sdp('a', A.port, 0).replace(/^o=a (\d+) 1 /m, 'o=a $1 2 ').replace(`m=audio ${A.port} RTP/AVP 0\na=rtpmap:0 PCMU`, `m=audio ${C.port} RTP/AVP 8\na=rtpmap:8 PCMA`) });
  assert.equal(toTag(await sip.request((r) => r.method === 'ACK')), 'only');
  await waitFor(() => call.isActive, 'answered');
  const got = await sendFrames(call, { A, C });
  assert.ok(got.A!.length >= 1 && got.A!.every((pt) => pt === 0), `the early answer, PCMU: ${JSON.stringify(got)}`);
  assert.deepEqual(got.C, []);
  await hangUp(sip, engine, call);
});

test('SRTP required: B\'s early answer in the clear is refused (a BYE in B\'s early dialog; the call goes on, SRTP stays with A); A\'s 200 answers the call', { timeout: 20_000 }, async () => {
  const { engine, sip, call, invite } = await placed({ sip: { srtp: 'required' } });
  const A = await rtpSink();
  const B = await rtpSink();
  await early183(sip, engine, invite, 'branchA', srtpSdp('a', A.port, 1));
  await early183(sip, engine, invite, 'branchB', sdp('b', B.port, 0));
  await earlyBye(sip, engine, call, 'branchB');
  await sleep(50);
  assert.ok(!call.isEnded, 'one branch\'s unacceptable answer does not end the forked call');
  let got = await sizesAt(call, { A, B });
  assert.ok(got.A.length >= 1 && got.A.every((n) => n === 182), `SRTP to A still: ${JSON.stringify(got)}`);
  assert.equal(B.sizes.length, 0, 'nothing ever to B in the clear');
  respond(sip, engine, invite, 200, 'branchA');
  assert.equal(toTag(await sip.request((r) => r.method === 'ACK')), 'branchA');
  await waitFor(() => call.isActive, 'answered');
  got = await sizesAt(call, { A, B });
  assert.ok(got.A.length >= 1 && got.A.every((n) => n === 182), JSON.stringify(got));
  assert.equal(B.sizes.length, 0);
  await hangUp(sip, engine, call);
});

test('SRTP required: B, whose only early answer was in the clear, gets a BYE in its early dialog; its 200 crossing it is ACKed and sent a BYE; the call rings on with A, whose 200 answers it', { timeout: 20_000 }, async () => {
  const { engine, sip, call, invite } = await placed({ sip: { srtp: 'required' } });
  const A = await rtpSink();
  const B = await rtpSink();
  await early183(sip, engine, invite, 'branchA', srtpSdp('a', A.port, 1));
  await early183(sip, engine, invite, 'branchB', sdp('b', B.port, 0));
  await earlyBye(sip, engine, call, 'branchB');
  respond(sip, engine, invite, 200, 'branchB');
  assert.equal(toTag(await sip.request((r) => r.method === 'ACK')), 'branchB');
  const late = await sip.request((r) => r.method === 'BYE');
  assert.equal(toTag(late), 'branchB');
  reply(sip, engine, late);
  await sleep(50);
  assert.ok(!call.isEnded && !call.isActive, 'still ringing, with A');
  respond(sip, engine, invite, 200, 'branchA');
  assert.equal(toTag(await sip.request((r) => r.method === 'ACK')), 'branchA');
  await waitFor(() => call.isActive, 'answered by A');
  const got = await sizesAt(call, { A, B });
  assert.ok(got.A.length >= 1 && got.A.every((n) => n === 182), `SRTP to A: ${JSON.stringify(got)}`);
  assert.equal(B.sizes.length, 0, 'nothing ever to B in the clear');
  await hangUp(sip, engine, call);
});

test('SRTP required, one branch: its reliable 183 in the clear moves no media and gets a BYE in its early dialog; its 200 crossing it is ACKed and sent a BYE, the call fails (answer refused: SRTP not negotiated)', { timeout: 20_000 }, async () => {
  const { engine, sip, call, invite } = await placed({ sip: { srtp: 'required' } });
  const A = await rtpSink();
  let answered = false;
  call.on('answered', () => (answered = true));
  await early183(sip, engine, invite, 'only', sdp('a', A.port, 0));
  await earlyBye(sip, engine, call, 'only');
  await sendFrames(call, { A });
  assert.equal(A.sizes.length, 0, 'nothing in the clear');
  assert.ok(!call.isEnded, 'the call waits for the INVITE\'s final response');
  const media = call.media;
  respond(sip, engine, invite, 200, 'only', { body: sdp('a', A.port, 0) });
  const end = await endedUnanswered(sip, engine, call, 'only', () => answered);
  assert.match(end.detail ?? '', /answer refused: SRTP not negotiated/);
  await framesAfterEnd(media, { A });
  assert.equal(A.sizes.length, 0, 'never any RTP in the clear');
});

// An answer whose audio has none of our codecs (telephone-event aside) is refused too: the call's
// media could not go there, so it is never taken, and the branch's early dialog gets a BYE (§15).

/** An answer in G.729 (18) only, with telephone-event: none of the engine's codecs (PCMU, PCMA). */
const g729Sdp = (tag: string, port: number) =>
  `v=0\no=${tag} ${port} 1 IN IP4 127.0.0.1\ns=-\nc=IN IP4 127.0.0.1\nt=0 0\nm=audio ${port} RTP/AVP 18 101\na=rtpmap:18 G729/8000\na=rtpmap:101 telephone-event/8000\na=fmtp:101 0-16\na=sendrecv\n`;

test('B\'s early answer with none of our codecs is refused (a BYE in B\'s early dialog, RTP stays with A); B\'s 200 repeating it is ACKed and sent a BYE; A\'s 200 answers the call', { timeout: 20_000 }, async () => {
  const { engine, sip, call, invite } = await placed();
  const A = await rtpSink();
  const B = await rtpSink();
  await early183(sip, engine, invite, 'branchA', sdp('a', A.port, 0));
  await early183(sip, engine, invite, 'branchB', g729Sdp('b', B.port));
  await earlyBye(sip, engine, call, 'branchB');
  let got = await sendFrames(call, { A, B });
  assert.ok(got.A!.length >= 1 && got.A!.every((pt) => pt === 0), `A's early media still: ${JSON.stringify(got)}`);
  respond(sip, engine, invite, 200, 'branchB', { body: g729Sdp('b', B.port) });
  assert.equal(toTag(await sip.request((r) => r.method === 'ACK')), 'branchB');
  const late = await sip.request((r) => r.method === 'BYE');
  assert.equal(toTag(late), 'branchB');
  reply(sip, engine, late);
  assert.ok(!call.isEnded, 'the call rings on with A');
  respond(sip, engine, invite, 200, 'branchA');
  assert.equal(toTag(await sip.request((r) => r.method === 'ACK')), 'branchA');
  await waitFor(() => call.isActive, 'answered by A');
  got = await sendFrames(call, { A, B });
  assert.ok(got.A!.length >= 1 && got.A!.every((pt) => pt === 0), JSON.stringify(got));
  assert.equal(B.pts.length, 0, 'never anything to B');
  await hangUp(sip, engine, call);
});

test('one branch: a 200 whose SDP has none of our codecs (only telephone-event besides) is ACKed and sent a BYE; the call fails (no codec in common)', { timeout: 20_000 }, async () => {
  const { engine, sip, call, invite } = await placed();
  const A = await rtpSink();
  let answered = false;
  call.on('answered', () => (answered = true));
  respond(sip, engine, invite, 180, 'only');
  await sleep(50);
  const media = call.media;
  respond(sip, engine, invite, 200, 'only', { body: g729Sdp('a', A.port) });
  const end = await endedUnanswered(sip, engine, call, 'only', () => answered);
  assert.match(end.detail ?? '', /no codec in common/);
  await framesAfterEnd(media, { A });
  assert.equal(A.pts.length, 0, 'no RTP ever');
});

test('one branch: its reliable 183 with none of our codecs moves no media and gets a BYE; its 200 crossing it (a PCMA answer, §13.2.1 too late) is ACKed and sent a BYE, the call fails', { timeout: 20_000 }, async () => {
  const { engine, sip, call, invite } = await placed();
  const A = await rtpSink();
  const C = await rtpSink();
  let answered = false;
  call.on('answered', () => (answered = true));
  await early183(sip, engine, invite, 'only', g729Sdp('a', A.port));
  await earlyBye(sip, engine, call, 'only');
  await sendFrames(call, { A });
  const media = call.media;
  respond(sip, engine, invite, 200, 'only', { body: sdp('c', C.port, 8) });
  const end = await endedUnanswered(sip, engine, call, 'only', () => answered);
  assert.match(end.detail ?? '', /answer refused: no codec in common/);
  await framesAfterEnd(media, { A, C });
  assert.equal(A.pts.length + C.pts.length, 0, 'no RTP ever');
});

// A branch's answer is the latest offer/answer of its early dialog: our early UPDATE (RFC 3311)
// answered by that branch's 200 replaces its reliable 183's answer, so media coming back to it
// (RFC 3960 §3) goes where that UPDATE's answer said.

const ALLOW_UPDATE = 'Allow: INVITE, ACK, BYE, CANCEL, PRACK, UPDATE';

/** `sdp()` one o= version up (the same session, a newer description). */
const newer = (body: string) => body.replace(/^(o=\S+ \S+) 1 /m, '$1 2 ');

/** call.update() once the engine has the early offer/answer of the dialog it follows done (its PRACK's 200 is in). */
async function earlyUpdate(call: Call): Promise<{ done: Promise<unknown> }> {
  let done: Promise<unknown> | undefined;
  await waitFor(() => {
    try {
      done = call.update();
      return true;
    } catch {
      return false;
    }
  }, 'the early offer/answer done');
  // (Wrapped: an async function returning the promise itself would wait for the update's answer.)
  return { done: done! };
}

/**
 * Branches A and B (and A's next address) as RTP sinks; A's reliable 183 answered and PRACKed, and
 * our early UPDATE sent into A's dialog (its 200 is the test's to give).
 */
async function aUpdating() {
  const { engine, sip, call, invite } = await placed();
  const A1 = await rtpSink();
  const A2 = await rtpSink();
  const B = await rtpSink();
  respond(sip, engine, invite, 183, 'branchA', { body: sdp('a', A1.port, 0), rseq: 1, headers: [ALLOW_UPDATE] });
  reply(sip, engine, await sip.request((r) => r.method === 'PRACK' && toTag(r) === 'branchA'));
  const { done } = await earlyUpdate(call);
  const update = await sip.request((r) => r.method === 'UPDATE');
  return { engine, sip, call, invite, A1, A2, B, done, update };
}

test('A\'s early UPDATE moves A\'s media; B answers early (media to B); A rings again: media back to A\'s UPDATE answer, not its 183\'s; A\'s 200 keeps it there', { timeout: 20_000 }, async () => {
  const { engine, sip, call, invite, A1, A2, B, done, update } = await aUpdating();
  assert.equal(toTag(update), 'branchA');
  reply(sip, engine, update, 200, newer(sdp('a', A2.port, 8)));
  await done;
  let got = await sendFrames(call, { A1, A2, B });
  assert.ok(got.A2!.length >= 1 && got.A2!.every((pt) => pt === 8), `the UPDATE's answer: ${JSON.stringify(got)}`);
  await early183(sip, engine, invite, 'branchB', sdp('b', B.port, 0));
  got = await sendFrames(call, { A1, A2, B });
  assert.ok(got.B!.length >= 1 && got.A2!.length === 0, `B's early media: ${JSON.stringify(got)}`);
  respond(sip, engine, invite, 180, 'branchA');
  await sleep(50);
  got = await sendFrames(call, { A1, A2, B });
  assert.ok(got.A2!.length >= 1 && got.A2!.every((pt) => pt === 8), `back to A: its UPDATE's answer, PCMA: ${JSON.stringify(got)}`);
  assert.deepEqual([got.A1, got.B], [[], []]);
  respond(sip, engine, invite, 200, 'branchA', { body: sdp('a', A1.port, 0) });
  assert.equal(toTag(await sip.request((r) => r.method === 'ACK')), 'branchA');
  await waitFor(() => call.isActive, 'answered');
  got = await sendFrames(call, { A1, A2, B });
  assert.ok(got.A2!.length >= 1 && got.A2!.every((pt) => pt === 8), `A won: its latest answer: ${JSON.stringify(got)}`);
  assert.equal(A1.pts.length, 0, 'nothing ever to the answer the UPDATE replaced');
  await hangUp(sip, engine, call);
});

test('A\'s early UPDATE answered after B\'s early answer took media: media stays with B; A\'s 200 without SDP takes it to the UPDATE\'s answer', { timeout: 20_000 }, async () => {
  const { engine, sip, call, invite, A1, A2, B, done, update } = await aUpdating();
  await early183(sip, engine, invite, 'branchB', sdp('b', B.port, 0));
  reply(sip, engine, update, 200, newer(sdp('a', A2.port, 8)));
  await done;
  let got = await sendFrames(call, { A1, A2, B });
  assert.ok(got.B!.length >= 1, `B, followed last, keeps the media: ${JSON.stringify(got)}`);
  assert.deepEqual([got.A1, got.A2], [[], []], 'A\'s answer changed, but the call follows B');
  respond(sip, engine, invite, 200, 'branchA');
  assert.equal(toTag(await sip.request((r) => r.method === 'ACK')), 'branchA');
  await waitFor(() => call.isActive, 'answered');
  got = await sendFrames(call, { A1, A2, B });
  assert.ok(got.A2!.length >= 1 && got.A2!.every((pt) => pt === 8), `A won: its UPDATE's answer, PCMA: ${JSON.stringify(got)}`);
  assert.deepEqual([got.A1, got.B], [[], []]);
  await hangUp(sip, engine, call);
});
