// UPDATE in the early dialog as the callee (RFC 3311 §5.2 with RFC 3262), from a raw SIP peer on
// loopback: an offer before our answer went in a reliable 183 gets 500 with Retry-After, one while
// our offer (in the reliable 180 of an INVITE without one) awaits its PRACK gets 491; once the
// offer/answer is done it is answered in the 200, media moves to its address, and the 2xx to the
// INVITE carries that latest answer (or, after our offer in the 180, no SDP). A bodyless one: 200.
// To a caller without 100rel our answer goes in an unreliable 183, which answers nothing binding: 500.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { loopbackEngines } from '../helpers/loopback-engines.js';
import type { RawSip } from '../helpers/raw-sip.js';
import { earlyDialog, origin, rawSdp, SDPH } from '../helpers/sip-early-dialog.js';

const engines = loopbackEngines(49400, 20);
const raws: RawSip[] = [];
after(async () => {
  for (const r of raws.splice(0)) r.close();
  await engines.closeAll();
});

const sdp = rawSdp;

test('early UPDATE, INVITE with an offer: 500 before our answer, 200 without SDP, then answered after the reliable 183; the 2xx carries the latest answer', async () => {
  const { c, invite, send, reply, offered } = await earlyDialog(engines, raws, 'eupd');

  invite({ ...SDPH, Require: '100rel' }, sdp(27990, 1));
  const ringing = await c.response((r) => r.status === 180);
  assert.equal(ringing.body.length, 0, 'a 180 carries no answer');
  const to = ringing.headers.get('To')!;
  // §5.2: the INVITE's offer has no answer yet.
  send('UPDATE', 2, to, SDPH, sdp(27994, 2));
  const refused = await reply(2, 'UPDATE');
  assert.equal(refused.status, 500);
  assert.match(refused.headers.get('Retry-After') ?? '', /^\d+$/);
  send('UPDATE', 3, to);
  assert.equal((await reply(3, 'UPDATE')).status, 200, 'an UPDATE without SDP is fine in the early dialog');
  send('PRACK', 4, to, { RAck: `${ringing.headers.get('RSeq')} 1 INVITE` });
  assert.equal((await reply(4, 'PRACK')).status, 200);

  const call = await offered();
  call.progress(183);
  const early = await c.response((r) => r.status === 183);
  assert.match(early.body.toString(), /^m=audio \d+ RTP\/AVP 0/m, 'the 183 carries our answer');
  send('UPDATE', 5, to, SDPH, sdp(27994, 2));
  const updated = await reply(5, 'UPDATE');
  assert.equal(updated.status, 200);
  assert.match(updated.headers.get('Content-Type') ?? '', /application\/sdp/);
  const [o183, oUpd] = [origin(early.body.toString()), origin(updated.body.toString())];
  assert.ok(o183 && oUpd);
  assert.equal(oUpd[1], o183[1], 'the same o= session');
  assert.ok(Number(oUpd[2]) > Number(o183[2]), 'a newer o= version');

  call.answer();
  send('PRACK', 6, to, { RAck: `${early.headers.get('RSeq')} 1 INVITE` });
  assert.equal((await reply(6, 'PRACK')).status, 200);
  const ok = await c.response((r) => r.status === 200 && r.headers.get('CSeq') === '1 INVITE');
  assert.equal(ok.body.toString(), updated.body.toString(), 'the 2xx carries the answer the UPDATE got');
  send('ACK', 1, ok.headers.get('To')!);
  send('BYE', 7, ok.headers.get('To')!);
  assert.equal((await reply(7, 'BYE')).status, 200);
});

test('early UPDATE, INVITE without an offer: 491 while our offer in the reliable 180 awaits its PRACK, answered after it; the 2xx has no SDP', async () => {
  const { c, invite, send, reply, offered } = await earlyDialog(engines, raws, 'eupd-late');

  invite({ Require: '100rel' });
  const ringing = await c.response((r) => r.status === 180);
  assert.match(ringing.body.toString(), /^m=audio \d+ RTP\/AVP/m, 'the 180 carries our offer');
  const to = ringing.headers.get('To')!;
  send('UPDATE', 2, to, SDPH, sdp(27996, 1));
  assert.equal((await reply(2, 'UPDATE')).status, 491, 'our offer is out');
  send('PRACK', 3, to, { RAck: `${ringing.headers.get('RSeq')} 1 INVITE`, ...SDPH }, sdp(27992, 1));
  assert.equal((await reply(3, 'PRACK')).status, 200);
  send('UPDATE', 4, to, SDPH, sdp(27996, 2));
  const updated = await reply(4, 'UPDATE');
  assert.equal(updated.status, 200);
  assert.match(updated.body.toString(), /^m=audio \d+ RTP\/AVP 0/m, 'our answer');

  const call = await offered();
  call.answer();
  const ok = await c.response((r) => r.status === 200 && r.headers.get('CSeq') === '1 INVITE');
  assert.equal(ok.body.length, 0, 'no SDP in the 2xx: the offer/answer went in the 180 and its PRACK');
  send('ACK', 1, ok.headers.get('To')!);
  send('BYE', 5, ok.headers.get('To')!);
  assert.equal((await reply(5, 'BYE')).status, 200);
});

test('a caller without 100rel: our answer in an unreliable 183 (early media), an UPDATE offer still gets 500 (nothing binding was answered), the 2xx repeats the answer', async () => {
  const { c, invite, send, reply, offered } = await earlyDialog(engines, raws, 'eupd-unrel');
  invite(SDPH, sdp(27990, 1));
  const call = await offered();
  let early = false;
  call.once('earlyMedia', () => (early = true));
  call.progress(183);
  const progress = await c.response((r) => r.status === 183);
  assert.equal(progress.headers.get('Require'), undefined, 'unreliable');
  assert.equal(progress.headers.get('RSeq'), undefined);
  assert.match(progress.body.toString(), /^m=audio \d+ RTP\/AVP 0/m, 'the 183 carries our answer');
  assert.ok(early, 'the call emitted earlyMedia');
  const to = progress.headers.get('To')!;
  send('UPDATE', 2, to, SDPH, sdp(27994, 2));
  const refused = await reply(2, 'UPDATE');
  assert.equal(refused.status, 500);
  assert.match(refused.headers.get('Retry-After') ?? '', /^\d+$/);
  call.answer();
  const ok = await c.response((r) => r.status === 200 && r.headers.get('CSeq') === '1 INVITE');
  assert.equal(ok.body.toString(), progress.body.toString(), 'the 2xx repeats the answer');
  send('ACK', 1, ok.headers.get('To')!);
  send('BYE', 3, ok.headers.get('To')!);
  assert.equal((await reply(3, 'BYE')).status, 200);
});
