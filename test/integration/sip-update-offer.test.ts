// UPDATE carrying an offer from us (RFC 3311, `sip.holdMethod: 'UPDATE'`) on loopback: two engines,
// the caller holds and resumes by UPDATE and the callee answers in the 200 (and shows the hold);
// toward a peer whose Allow does not name UPDATE the same hold goes as a re-INVITE.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import type { Call } from '../../src/index.js';
import { loopbackEngines } from '../helpers/loopback-engines.js';
import { traced } from '../helpers/sip-trace.js';
import { RawSip, request } from '../helpers/raw-sip.js';
import { waitFor } from '../helpers/wait.js';

const LO = '127.0.0.1';
const engines = loopbackEngines(27400, 40);
const raws: RawSip[] = [];
after(async () => {
  for (const r of raws.splice(0)) r.close();
  await engines.closeAll();
});

test('holdMethod UPDATE: hold and resume go as UPDATE with the offer, answered in the 200; no re-INVITE', async () => {
  const ta = traced();
  const tb = traced();
  const inbound: Call[] = [];
  const b = await engines.start({ onIncomingCall: (call) => (inbound.push(call), { action: 'accept' }), sip: { trace: tb.hook } });
  const a = await engines.start({ sip: { holdMethod: 'UPDATE', trace: ta.hook } });
  const call = await a.call(`sip:upd@${LO}:${b.sipPort}`);
  await waitFor(() => call.state === 'active.talking', 'answered');
  call.hold();
  await waitFor(() => inbound[0]?.state === 'active.held', 'the callee shows the hold');
  await waitFor(() => call.state === 'active.held', 'the caller is holding');
  const updates = () => ta.sent.filter((m) => m.kind === 'request' && m.method === 'UPDATE');
  assert.equal(updates().length, 1);
  assert.match(updates()[0]!.body.toString(), /a=sendonly/);
  const answer = tb.sent.find((m) => m.kind === 'response' && m.status === 200 && (m.headers.get('CSeq') ?? '').endsWith('UPDATE'))!;
  assert.match(answer.body.toString(), /a=recvonly/, 'the callee answers the hold offer recvonly');
  call.resume();
  await waitFor(() => inbound[0]?.state === 'active.talking', 'the callee is resumed');
  await waitFor(() => updates().length === 2, 'the resume UPDATE');
  assert.match(updates()[1]!.body.toString(), /a=sendrecv/);
  assert.equal(ta.sent.filter((m) => m.kind === 'request' && m.method === 'INVITE').length, 1, 'only the initial INVITE');
  call.hangup();
  await waitFor(() => call.isEnded, 'hung up');
});

test('holdMethod UPDATE toward a peer whose Allow lacks UPDATE: the hold goes as a re-INVITE', async () => {
  const calls: Call[] = [];
  const e = await engines.start({ onIncomingCall: (call) => (calls.push(call), { action: 'accept' }), sip: { holdMethod: 'UPDATE' } });
  const c = await new RawSip().open();
  raws.push(c);
  const port = e.sipPort!;
  const sdp = `v=0\no=raw 1 1 IN IP4 ${LO}\ns=-\nc=IN IP4 ${LO}\nt=0 0\nm=audio 27490 RTP/AVP 0\na=rtpmap:0 PCMU/8000\n`;
  c.send(request('INVITE', port, c.port, { 'Content-Type': 'application/sdp', Allow: 'INVITE, ACK, BYE, CANCEL' }, sdp), port);
  const ok = await c.response((r) => r.status === 200);
  const callId = ok.headers.get('Call-ID')!;
  c.send(request('ACK', port, c.port, { 'Call-ID': callId, To: ok.headers.get('To')! }), port);
  await waitFor(() => calls[0]?.state === 'active.talking', 'answered');
  calls[0]!.hold();
  const reinvite = await c.request((r) => r.method === 'INVITE' || r.method === 'UPDATE');
  assert.equal(reinvite.method, 'INVITE');
  assert.match(reinvite.body.toString(), /a=sendonly/);
});
