// As the caller of a forked INVITE, requests the callee sends in its early dialogs (RFC 3261
// §12.1.2, §12.2.2; RFC 3311): every branch's early dialog keeps its own remote CSeq, so the
// UPDATE of a branch the call does not follow now is checked against that branch's sequence only,
// never the followed one's, and does not move the followed one's either. A request from a To tag
// no early dialog has gets 481. The branch that wins keeps its sequence in the confirmed dialog, and
// a BYE from any other tag (a losing branch's) gets 481 instead of ending the call.
// A raw SIP callee on loopback answers as two branches with reliable 183s.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { loopbackEngines } from '../helpers/loopback-engines.js';
import type { RawSip } from '../helpers/raw-sip.js';
import { waitFor } from '../helpers/wait.js';
import { early183, hangUp, placeCall, respond, rtpSink, toTag } from '../helpers/sip-branch-callee.js';
import type { SipRequest, SipResponse } from '../../src/sip/codec/message.js';
import type { Engine } from '../../src/index.js';

const LO = '127.0.0.1';
const engines = loopbackEngines(50400, 20);
const closers: Array<() => void> = [];
after(async () => {
  for (const c of closers.splice(0)) c();
  await engines.closeAll();
});

const ALLOW = 'Allow: INVITE, ACK, BYE, CANCEL, PRACK, UPDATE, INFO';

const sdp = (tag: string, port: number) => `v=0\no=${tag} 7 1 IN IP4 ${LO}\ns=-\nc=IN IP4 ${LO}\nt=0 0\nm=audio ${port} RTP/AVP 0\na=rtpmap:0 PCMU/8000\na=sendrecv\n`;

/**
 * A request without body from the callee in branch `tag`'s dialog (its From tag), numbered `cseq`
 * of that branch's own sequence; resolves with the engine's final response to it.
 */
async function calleeRequest(sip: RawSip, engine: Engine, invite: SipRequest, method: 'UPDATE' | 'INFO' | 'BYE', tag: string, cseq: number): Promise<number> {
  const h = invite.headers;
  const target = /<([^>]+)>/.exec(h.get('Contact') ?? '')?.[1] ?? `sip:callchart@${LO}:${engine.sipPort}`;
  const branch = `z9hG4bK${Math.random().toString(36).slice(2)}`;
  const lines = [
    `${method} ${target} SIP/2.0`,
    `Via: SIP/2.0/UDP ${LO}:${sip.port};branch=${branch};rport`,
    'Max-Forwards: 70',
    `From: ${h.get('To')};tag=${tag}`,
    `To: ${h.get('From')}`,
    `Call-ID: ${h.get('Call-ID')}`,
    `CSeq: ${cseq} ${method}`,
    `Contact: <sip:${tag}@${LO}:${sip.port}>`,
    'Content-Length: 0',
  ];
  sip.send(`${lines.join('\n')}\n\n`, engine.sipPort!);
  const res: SipResponse = await sip.response((r) => r.status >= 200 && (r.headers.get('Via') ?? '').includes(branch));
  return res.status;
}

test('a forked call: the UPDATE of the branch not followed is checked against its own CSeq sequence; an unknown To tag gets 481; the winner keeps its sequence', { timeout: 20_000 }, async () => {
  const { engine, sip, call, invite } = await placeCall(engines, closers);
  const A = await rtpSink(closers);
  const B = await rtpSink(closers);
  await early183(sip, engine, invite, 'branchA', sdp('a', A.port), { headers: [ALLOW] });
  await early183(sip, engine, invite, 'branchB', sdp('b', B.port), { headers: [ALLOW] });
  // The call follows B (its 183 came last). B's UPDATE starts B's remote sequence at 20.
  assert.equal(await calleeRequest(sip, engine, invite, 'UPDATE', 'branchB', 20), 200);
  // A's own sequence: 10 is its first request, in order though below B's 20; 10 again is stale.
  assert.equal(await calleeRequest(sip, engine, invite, 'UPDATE', 'branchA', 10), 200, "A's first request, below B's last CSeq");
  assert.equal(await calleeRequest(sip, engine, invite, 'UPDATE', 'branchA', 10), 500, "A's CSeq again: out of order in A's dialog");
  assert.equal(await calleeRequest(sip, engine, invite, 'UPDATE', 'branchA', 30), 200);
  // …and A's 30 did not move B's sequence.
  assert.equal(await calleeRequest(sip, engine, invite, 'UPDATE', 'branchB', 21), 200, "B's next CSeq, below A's last");
  // A To tag (their From tag) no early dialog has: 481, whatever its CSeq.
  assert.equal(await calleeRequest(sip, engine, invite, 'UPDATE', 'branchZ', 100), 481);
  assert.equal(await calleeRequest(sip, engine, invite, 'INFO', 'branchZ', 101), 481);
  assert.ok(!call.isEnded, 'the refused requests ended nothing');

  // A wins: its sequence goes on in the confirmed dialog (30 was its last).
  respond(sip, engine, invite, 200, 'branchA', { headers: [ALLOW] });
  assert.equal(toTag(await sip.request((r) => r.method === 'ACK')), 'branchA');
  await waitFor(() => call.isActive, 'answered');
  assert.equal(await calleeRequest(sip, engine, invite, 'INFO', 'branchA', 30), 500, "A's last CSeq again, confirmed");
  assert.equal(await calleeRequest(sip, engine, invite, 'INFO', 'branchA', 31), 200);
  // B's early dialog is over with the 2xx of A.
  assert.equal(await calleeRequest(sip, engine, invite, 'INFO', 'branchB', 22), 481);
  // Nor does B's BYE (or any other tag's) end A's call: 481, and the call goes on.
  assert.equal(await calleeRequest(sip, engine, invite, 'BYE', 'branchB', 23), 481);
  assert.equal(await calleeRequest(sip, engine, invite, 'BYE', 'branchZ', 102), 481);
  assert.ok(call.isActive, 'the call of A is still up');
  await hangUp(sip, engine, call);
});
