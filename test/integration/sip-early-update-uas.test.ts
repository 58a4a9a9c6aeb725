// An UPDATE with an offer sent by us as the callee in the early dialog (RFC 3311 §5.1 with RFC
// 3262), to a raw SIP peer on loopback: `call.update()` on a ringing inbound call throws until the
// PRACK of our reliable 183 with the answer has come; then the UPDATE goes with our new offer, the
// caller's answer moves media, and the 2xx to the INVITE carries our latest SDP. While our offer is
// out an UPDATE offer of the caller's gets 491; our UPDATE's 491 is retried; a 488 rejects the
// promise and media stays; a caller whose Allow lacks UPDATE is never sent one. An answer() while
// our UPDATE is out (RFC 3311 §5.1) holds the 2xx until the UPDATE's final response: it then carries
// the UPDATE's offer (200) or the earlier SDP (488; a 491 releases it at once, the retry follows);
// a CANCEL or hangup meanwhile sends no 2xx; an answer held for a PRACK first is held again after it.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { CallUpdateError } from '../../src/index.js';
import { createResponse, serialize, type SipRequest } from '../../src/sip/codec/message.js';
import { loopbackEngines } from '../helpers/loopback-engines.js';
import type { RawSip } from '../helpers/raw-sip.js';
import { earlyDialog, origin, SDPH } from '../helpers/sip-early-dialog.js';
import { waitFor } from '../helpers/wait.js';

const LO = '127.0.0.1';
const engines = loopbackEngines(29700, 20);
const raws: RawSip[] = [];
after(async () => {
  for (const r of raws.splice(0)) r.close();
  await engines.closeAll();
});

const sdp = (port: number, version: number, pts = '0') =>
  `v=0\no=raw 1 ${version} IN IP4 ${LO}\ns=-\nc=IN IP4 ${LO}\nt=0 0\nm=audio ${port} RTP/AVP ${pts}\na=rtpmap:0 PCMU/8000\na=rtpmap:8 PCMA/8000\n`;
const ALLOW = 'INVITE, ACK, CANCEL, BYE, PRACK, UPDATE';

/**
 * A raw caller (offer at port 27990, 100rel required) whose call the app defers; the app's 183
 * with our answer goes and is PRACKed when `prack183` (the 180 is PRACKed first either way).
 */
async function ringingCall(tag: string, allow = ALLOW, prack183 = true) {
  const { c, port, invite, send, reply, offered, remote } = await earlyDialog(engines, raws, tag, { sip: { codecs: ['PCMU', 'PCMA'] } });
  const respond = (req: SipRequest, status: number, reason: string, body?: string) =>
    c.sock.send(serialize(createResponse(req, status, reason, body ? { body, contentType: 'application/sdp' } : {})), port, LO);
  const inviteText = invite({ Require: '100rel', Allow: allow, ...SDPH }, sdp(27990, 1, '0 8'));
  const ringing = await c.response((r) => r.status === 180);
  const to = ringing.headers.get('To')!;
  const call = await offered();
  // The 180 carried no answer: nothing to update yet (a caller without UPDATE is refused first).
  const notYet = allow === ALLOW ? /early offer\/answer is not done/ : /does not allow UPDATE/;
  assert.throws(() => call.update(), notYet);
  send('PRACK', 2, to, { RAck: `${ringing.headers.get('RSeq')} 1 INVITE` });
  assert.equal((await reply(2, 'PRACK')).status, 200);
  call.progress(183);
  const early = await c.response((r) => r.status === 183);
  assert.match(early.body.toString(), /^m=audio \d+ RTP\/AVP 0/m, 'the 183 carries our answer');
  if (prack183) {
    assert.throws(() => call.update(), notYet, 'not before the 183’s PRACK');
    send('PRACK', 3, to, { RAck: `${early.headers.get('RSeq')} 1 INVITE` });
    assert.equal((await reply(3, 'PRACK')).status, 200);
  }
  // A CANCEL of the INVITE (§9.1: its Via, From, To, Call-ID and CSeq number).
  const cancel = () => {
    const head = inviteText.split('\n\n')[0]!.split('\n');
    const keep = (name: string) => head.find((l) => l.startsWith(`${name}:`))!;
    c.send([`CANCEL ${head[0]!.split(' ')[1]} SIP/2.0`, keep('Via'), keep('From'), keep('To'), keep('Call-ID'), 'CSeq: 1 CANCEL', 'Max-Forwards: 70', 'Content-Length: 0', '', ''].join('\n'), port);
  };
  return { c, call, to, early, send, reply, respond, remote, cancel };
}

test('call.update() while an inbound call rings: an UPDATE with our offer after the 183’s PRACK, media follows the answer, the 2xx carries our latest SDP', async () => {
  const { c, call, to, early, send, reply, respond, remote } = await ringingCall('uupd');
  const done = call.update({ codecs: ['PCMA'] });
  const upd = await c.request((r) => r.method === 'UPDATE');
  assert.equal(upd.headers.get('Content-Type'), 'application/sdp');
  const offer = upd.body.toString();
  assert.match(offer, /^m=audio \d+ RTP\/AVP 8\b/m, 'our offer names the asked codec');
  const [oEarly, oUpd] = [origin(early.body.toString()), origin(offer)];
  assert.ok(oEarly && oUpd);
  assert.equal(oUpd[1], oEarly[1], 'the same o= session');
  assert.ok(Number(oUpd[2]) > Number(oEarly[2]), 'a newer o= version');
  // Glare while our offer is out (RFC 3311 §5.2): the caller's UPDATE offer gets 491.
  send('UPDATE', 4, to, SDPH, sdp(27996, 2));
  assert.equal((await reply(4, 'UPDATE')).status, 491);
  respond(upd, 200, 'OK', sdp(27994, 3, '8'));
  const r = await done;
  assert.deepEqual(r, { method: 'UPDATE', status: 200, codec: 'PCMA', remote: { address: LO, port: 27994 } });
  assert.deepEqual(remote(), { address: LO, port: 27994 }, 'media follows the answer');

  call.answer();
  const ok = await c.response((x) => x.status === 200 && x.headers.get('CSeq') === '1 INVITE');
  assert.equal(ok.body.toString(), offer, 'the 2xx carries our latest SDP');
  send('ACK', 1, ok.headers.get('To')!);
  send('BYE', 5, ok.headers.get('To')!);
  assert.equal((await reply(5, 'BYE')).status, 200);
});

test('call.update() while ringing: a 491 is retried after the glare delay; a 488 rejects it (media stays); no UPDATE toward a caller whose Allow lacks it, nor as a re-INVITE', async () => {
  const { c, call, respond, remote } = await ringingCall('uupd-488');
  // RFC 3261 §14.1 (RFC 3311 §5.1 alike): the callee, not owning the Call-ID, retries within 0–2 s.
  const retried = call.update();
  const first = await c.request((r) => r.method === 'UPDATE');
  respond(first, 491, 'Request Pending');
  const again = await c.request((r) => r.method === 'UPDATE', 4000);
  assert.notEqual(again.headers.get('CSeq'), first.headers.get('CSeq'), 'a new UPDATE, not a retransmission');
  respond(again, 200, 'OK', sdp(27994, 2));
  assert.equal((await retried).remote.port, 27994);
  const refused = call.update();
  const upd = await c.request((r) => r.method === 'UPDATE');
  respond(upd, 488, 'Not Acceptable Here');
  await assert.rejects(refused, (err: unknown) => err instanceof CallUpdateError && err.status === 488);
  assert.deepEqual(remote(), { address: LO, port: 27994 }, 'media stays where the last answer put it');
  assert.throws(() => call.update({ method: 'INVITE' }), /re-INVITE cannot go in an early dialog/);
  call.hangup();

  const other = await ringingCall('uupd-noallow', 'INVITE, ACK, CANCEL, BYE, PRACK');
  assert.throws(() => other.call.update(), /does not allow UPDATE/);
  other.call.hangup();
});

/** The 200 to the INVITE, if one came (it stays in the peer's inbox for a later `response`). */
const inviteOk = (c: RawSip) => c.got.find((x) => x.status === 200 && x.headers.get('CSeq') === '1 INVITE');

/** A ringing call whose app asks for PCMA by an early UPDATE and answers in the same tick; returns once the UPDATE is out and no 2xx went for `ms`. */
async function answerDuringUpdate(tag: string, ms = 300) {
  const ringing = await ringingCall(tag);
  const done = ringing.call.update({ codecs: ['PCMA'] });
  done.catch(() => {}); // (each test asserts it; a failing step must not leave it unhandled)
  ringing.call.answer();
  const upd = await ringing.c.request((r) => r.method === 'UPDATE');
  await new Promise((r) => setTimeout(r, ms));
  assert.equal(inviteOk(ringing.c), undefined, 'no 200 to the INVITE while our UPDATE awaits its answer');
  return { ...ringing, done, upd };
}

/** Our held UPDATE gets its 200 (PCMA): the 2xx to the INVITE goes then, with the UPDATE's offer; the call is ACKed and ended. */
async function agreedThenAnswered(h: Pick<Awaited<ReturnType<typeof answerDuringUpdate>>, 'c' | 'send' | 'reply' | 'respond' | 'done' | 'upd'>): Promise<void> {
  const { c, send, reply, respond, done, upd } = h;
  respond(upd, 200, 'OK', sdp(27994, 3, '8'));
  const ok = await c.response((x) => x.status === 200 && x.headers.get('CSeq') === '1 INVITE');
  assert.equal(ok.body.toString(), upd.body.toString(), 'the 2xx carries the offer the UPDATE agreed');
  assert.equal((await done).codec, 'PCMA');
  send('ACK', 1, ok.headers.get('To')!);
  send('BYE', 5, ok.headers.get('To')!);
  assert.equal((await reply(5, 'BYE')).status, 200);
}

test('call.answer() while our early UPDATE is out: the 2xx to the INVITE waits for the UPDATE’s 200 and carries the UPDATE’s offer (RFC 3311 §5.1)', async () => {
  await agreedThenAnswered(await answerDuringUpdate('uupd-held'));
});

test('call.answer() while our early UPDATE is out: after a 488 to the UPDATE the held 2xx carries the SDP agreed before it', async () => {
  const { c, early, send, reply, respond, done: refused, upd } = await answerDuringUpdate('uupd-held-488');
  respond(upd, 488, 'Not Acceptable Here');
  await assert.rejects(refused, (err: unknown) => err instanceof CallUpdateError && err.status === 488);
  const ok = await c.response((x) => x.status === 200 && x.headers.get('CSeq') === '1 INVITE');
  assert.equal(ok.body.toString(), early.body.toString(), 'the 2xx carries the answer of our 183, not the refused offer');
  send('ACK', 1, ok.headers.get('To')!);
  send('BYE', 5, ok.headers.get('To')!);
  assert.equal((await reply(5, 'BYE')).status, 200);
});

test('call.answer() while our early UPDATE is out: a 491 takes the offer off the wire, so the held 2xx goes then with the earlier SDP and the retried UPDATE follows in the confirmed dialog', async () => {
  const { c, early, send, reply, respond, done, upd: first } = await answerDuringUpdate('uupd-held-491', 200);
  respond(first, 491, 'Request Pending');
  const ok = await c.response((x) => x.status === 200 && x.headers.get('CSeq') === '1 INVITE');
  assert.equal(ok.body.toString(), early.body.toString(), 'the 2xx carries the answer of our 183');
  send('ACK', 1, ok.headers.get('To')!);
  // RFC 3261 §14.1: the callee retries within 0–2 s; the dialog is confirmed by then.
  const again = await c.request((r) => r.method === 'UPDATE', 4000);
  assert.notEqual(again.headers.get('CSeq'), first.headers.get('CSeq'), 'a new UPDATE, not a retransmission');
  assert.match(again.body.toString(), /^m=audio \d+ RTP\/AVP 8\b/m, 'the same wish: PCMA');
  respond(again, 200, 'OK', sdp(27994, 3, '8'));
  assert.deepEqual(await done, { method: 'UPDATE', status: 200, codec: 'PCMA', remote: { address: LO, port: 27994 } });
  send('BYE', 5, ok.headers.get('To')!);
  assert.equal((await reply(5, 'BYE')).status, 200);
});

test('call.answer() while our early UPDATE is out: a CANCEL (487) or the app’s hangup (480) ends the call and the held 2xx never goes', async () => {
  for (const end of ['cancel', 'hangup'] as const) {
    const { c, call, respond, cancel } = await ringingCall(`uupd-held-${end}`);
    const done = call.update();
    done.catch(() => {}); // (asserted below)
    call.answer();
    const upd = await c.request((r) => r.method === 'UPDATE');
    if (end === 'cancel') cancel();
    else call.hangup();
    const final = await c.response((x) => x.status >= 200 && x.headers.get('CSeq') === '1 INVITE');
    assert.equal(final.status, end === 'cancel' ? 487 : 480);
    respond(upd, 200, 'OK', sdp(27994, 3));
    await assert.rejects(done, (err: unknown) => err instanceof CallUpdateError && err.status === 0);
    await waitFor(() => call.isEnded, 'the call ended');
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(inviteOk(c), undefined, 'no 200 to the INVITE');
    assert.equal(c.requests.filter((r) => r.method === 'BYE').length, 0, 'no BYE on a dialog never confirmed');
  }
});

test('call.answer() held for a PRACK, then call.update(): the PRACK releases the answer to the session machine, which holds it until the UPDATE’s 200 (both gates, in turn)', async () => {
  const { c, call, to, send, reply, respond } = await ringingCall('uupd-held-prack');
  call.progress(183); // a second reliable 183 (no SDP: the answer went), outstanding until its PRACK
  const again = await c.response((r) => r.status === 183);
  assert.equal(again.body.length, 0);
  call.answer(); // held by the reliable provisional machine (RFC 3262 §3)
  const done = call.update({ codecs: ['PCMA'] });
  done.catch(() => {}); // (asserted below)
  const upd = await c.request((r) => r.method === 'UPDATE');
  send('PRACK', 4, to, { RAck: `${again.headers.get('RSeq')} 1 INVITE` });
  assert.equal((await reply(4, 'PRACK')).status, 200);
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(inviteOk(c), undefined, 'the PRACK came, but our UPDATE still awaits its answer: no 200 to the INVITE');
  await agreedThenAnswered({ c, send, reply, respond, done, upd });
});
