// An offer in a PRACK as the callee (RFC 3262 §5, RFC 6337 §3.1), from a raw SIP peer on loopback:
// after our reliable 183 carried the answer, a PRACK with a new offer gets our answer in its 200,
// media moves to its address, and the 2xx to the INVITE carries that latest answer. An offer in the
// PRACK of a 180 while the INVITE's offer is unanswered gets 500 with Retry-After and acknowledges
// nothing (a plain PRACK of the same 180 then gets 200); a non-SDP body gets 415; an offer with
// nothing acceptable gets 488 and leaves the session as it was. After our offer in the reliable 180
// of an INVITE without one (answered in its PRACK), the PRACK of a later 183 may offer anew too.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { loopbackEngines } from '../helpers/loopback-engines.js';
import type { RawSip } from '../helpers/raw-sip.js';
import { earlyDialog, origin, rawSdp, SDPH } from '../helpers/sip-early-dialog.js';

const LO = '127.0.0.1';
const engines = loopbackEngines(29600, 20);
const raws: RawSip[] = [];
after(async () => {
  for (const r of raws.splice(0)) r.close();
  await engines.closeAll();
});

const sdp = rawSdp;

test('offer in a PRACK after our answer in a reliable 183: answered in the PRACK’s 200, media moves, the 2xx carries that answer', async () => {
  const { c, invite, send, reply, offered, remote } = await earlyDialog(engines, raws, 'poff');
  invite({ ...SDPH, Require: '100rel' }, sdp(27990, 1));
  const ringing = await c.response((r) => r.status === 180);
  const to = ringing.headers.get('To')!;
  send('PRACK', 2, to, { RAck: `${ringing.headers.get('RSeq')} 1 INVITE` });
  assert.equal((await reply(2, 'PRACK')).status, 200);

  const call = await offered();
  call.progress(183);
  const early = await c.response((r) => r.status === 183);
  assert.match(early.body.toString(), /^m=audio \d+ RTP\/AVP 0/m, 'the 183 carries our answer');
  assert.deepEqual(remote(), { address: LO, port: 27990 });
  send('PRACK', 3, to, { RAck: `${early.headers.get('RSeq')} 1 INVITE`, ...SDPH }, sdp(27994, 2));
  const pracked = await reply(3, 'PRACK');
  assert.equal(pracked.status, 200);
  assert.match(pracked.headers.get('Content-Type') ?? '', /application\/sdp/);
  assert.match(pracked.body.toString(), /^m=audio \d+ RTP\/AVP 0/m, 'our answer in the PRACK’s 200');
  const [o183, oPrack] = [origin(early.body.toString()), origin(pracked.body.toString())];
  assert.ok(o183 && oPrack);
  assert.equal(oPrack[1], o183[1], 'the same o= session');
  assert.ok(Number(oPrack[2]) > Number(o183[2]), 'a newer o= version');
  assert.deepEqual(remote(), { address: LO, port: 27994 }, 'media follows the PRACK’s offer');

  call.answer();
  const ok = await c.response((r) => r.status === 200 && r.headers.get('CSeq') === '1 INVITE');
  assert.equal(ok.body.toString(), pracked.body.toString(), 'the 2xx carries the answer the PRACK got');
  send('ACK', 1, ok.headers.get('To')!);
  send('BYE', 4, ok.headers.get('To')!);
  assert.equal((await reply(4, 'BYE')).status, 200);
});

test('offer in a PRACK refused: 500 before the INVITE’s offer is answered (the 180 stays outstanding), 415 for a non-SDP body, 488 for nothing acceptable', async () => {
  const { c, invite, send, reply, offered, remote } = await earlyDialog(engines, raws, 'poff-bad');
  invite({ ...SDPH, Require: '100rel' }, sdp(27990, 1));
  const ringing = await c.response((r) => r.status === 180);
  assert.equal(ringing.body.length, 0, 'a 180 carries no answer');
  const to = ringing.headers.get('To')!;
  const rack = { RAck: `${ringing.headers.get('RSeq')} 1 INVITE` };
  send('PRACK', 2, to, { ...rack, ...SDPH }, sdp(27994, 2));
  const refused = await reply(2, 'PRACK');
  assert.equal(refused.status, 500, 'RFC 3262 §5: no offer in a PRACK while the INVITE’s is unanswered');
  assert.match(refused.headers.get('Retry-After') ?? '', /^\d+$/);
  send('PRACK', 3, to, { ...rack, 'Content-Type': 'text/plain' }, 'hello\n');
  const unsupported = await reply(3, 'PRACK');
  assert.equal(unsupported.status, 415);
  assert.equal(unsupported.headers.get('Accept'), 'application/sdp');
  send('PRACK', 4, to, rack);
  assert.equal((await reply(4, 'PRACK')).status, 200, 'the refused PRACKs acknowledged nothing: the 180 was still outstanding');

  const call = await offered();
  call.progress(183);
  const early = await c.response((r) => r.status === 183);
  send('PRACK', 5, to, { RAck: `${early.headers.get('RSeq')} 1 INVITE`, ...SDPH }, sdp(27996, 2, '98', 'X-NONE/8000'));
  assert.equal((await reply(5, 'PRACK')).status, 488, 'nothing in the offer is acceptable');
  assert.deepEqual(remote(), { address: LO, port: 27990 }, 'the session stays as it was');

  call.answer();
  const ok = await c.response((r) => r.status === 200 && r.headers.get('CSeq') === '1 INVITE');
  assert.equal(ok.body.toString(), early.body.toString(), 'the 2xx repeats the 183’s answer');
  send('ACK', 1, ok.headers.get('To')!);
  send('BYE', 6, ok.headers.get('To')!);
  assert.equal((await reply(6, 'BYE')).status, 200);
});

test('INVITE without an offer: ours in the reliable 180, the answer in its PRACK; the PRACK of the 183 then offers anew and gets our answer; the 2xx has no SDP', async () => {
  const { c, invite, send, reply, offered, remote } = await earlyDialog(engines, raws, 'poff-late');
  invite({ Require: '100rel' });
  const ringing = await c.response((r) => r.status === 180);
  assert.match(ringing.body.toString(), /^m=audio \d+ RTP\/AVP/m, 'the 180 carries our offer');
  const to = ringing.headers.get('To')!;
  send('PRACK', 2, to, { RAck: `${ringing.headers.get('RSeq')} 1 INVITE`, ...SDPH }, sdp(27992, 1));
  const answered = await reply(2, 'PRACK');
  assert.equal(answered.status, 200);
  assert.equal(answered.body.length, 0, 'that PRACK carried the answer: its 200 has none');
  assert.deepEqual(remote(), { address: LO, port: 27992 });

  const call = await offered();
  call.progress(183);
  const early = await c.response((r) => r.status === 183);
  assert.equal(early.body.length, 0, 'the offer/answer is done: the 183 carries no SDP');
  send('PRACK', 3, to, { RAck: `${early.headers.get('RSeq')} 1 INVITE`, ...SDPH }, sdp(27998, 2));
  const pracked = await reply(3, 'PRACK');
  assert.equal(pracked.status, 200);
  assert.match(pracked.body.toString(), /^m=audio \d+ RTP\/AVP 0/m, 'our answer in the PRACK’s 200');
  assert.deepEqual(remote(), { address: LO, port: 27998 });

  call.answer();
  const ok = await c.response((r) => r.status === 200 && r.headers.get('CSeq') === '1 INVITE');
  assert.equal(ok.body.length, 0, 'no SDP in the 2xx');
  send('ACK', 1, ok.headers.get('To')!);
  send('BYE', 4, ok.headers.get('To')!);
  assert.equal((await reply(4, 'BYE')).status, 200);
});
