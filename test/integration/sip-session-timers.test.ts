// Session timers (RFC 4028) and UPDATE refreshes (RFC 3311) on loopback: two engines (one refreshes
// the other by UPDATE, a 422 is retried with the larger interval) and a raw SIP peer (that never
// refreshes and gets a BYE at expiry, that makes the engine the refresher, that answers its UPDATE
// with 491). Intervals of a few seconds through the test-only `minSE` below RFC 4028's 90 s.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import type { Call, Engine } from '../../src/index.js';
import { createResponse, parseMessage, serialize, type SipRequest } from '../../src/sip/codec/message.js';
import { loopbackEngines } from '../helpers/loopback-engines.js';
import { RawSip, request } from '../helpers/raw-sip.js';
import { sleep, waitFor } from '../helpers/wait.js';

const LO = '127.0.0.1';
const engines = loopbackEngines(36900, 20);
const raws: RawSip[] = [];
after(async () => {
  for (const r of raws.splice(0)) r.close();
  await engines.closeAll();
});

const SDP = `v=0\no=raw 1 1 IN IP4 ${LO}\ns=-\nc=IN IP4 ${LO}\nt=0 0\nm=audio 40500 RTP/AVP 0\na=rtpmap:0 PCMU/8000\n`;

/** Every SIP message an engine sent, parsed, for reading what went on the wire. */
function traced(): { sent: Array<{ method?: string; status?: number; headers: Map<string, string> }>; hook: (r: { direction: 'in' | 'out'; bytes: Buffer }) => void } {
  const sent: Array<{ method?: string; status?: number; headers: Map<string, string> }> = [];
  return {
    sent,
    hook: (r) => {
      if (r.direction !== 'out') return;
      const p = parseMessage(Buffer.from(r.bytes));
      if (!p.ok) return;
      const m = p.message;
      const headers = new Map<string, string>();
      for (const name of ['Session-Expires', 'Min-SE', 'Require', 'Supported', 'CSeq']) {
        // All of a header's lines (our INVITE has `Supported: 100rel` and `Supported: timer`).
        const v = m.headers.getAll(name);
        if (v.length) headers.set(name, v.join(', '));
      }
      sent.push(m.kind === 'request' ? { method: m.method, headers } : { status: m.status, headers });
    },
  };
}

async function rawPeer(): Promise<RawSip> {
  const c = await new RawSip().open();
  raws.push(c);
  return c;
}

/** The raw peer calls `e` with `extra` headers; the 200 is ACKed. */
async function callIn(e: Engine, c: RawSip, extra: Record<string, string>) {
  const port = e.sipPort!;
  const callId = `st-${Math.random().toString(36).slice(2)}@x`;
  const incoming = new Promise<Call>((r) => e.once('call', r));
  c.send(request('INVITE', port, c.port, { 'Content-Type': 'application/sdp', 'Call-ID': callId, ...extra }, SDP), port);
  const ok = await c.response((r) => r.status === 200 && r.headers.get('CSeq') === '1 INVITE');
  const to = ok.headers.get('To')!;
  c.send(request('ACK', port, c.port, { 'Call-ID': callId, CSeq: '1 ACK', To: to }), port);
  return { ok, call: await incoming, port, callId, to };
}

function reply(c: RawSip, port: number, req: SipRequest, status: number, headers: Array<readonly [string, string]> = [], body?: string): void {
  const res = createResponse(req, status, undefined, { headers, ...(body ? { body, contentType: 'application/sdp' } : {}) });
  c.sock.send(serialize(res), port, LO);
}

test('two engines: the caller refreshes by UPDATE at half the interval and the call stays up past its expiry', async () => {
  const ta = traced();
  const tb = traced();
  const b = await engines.start({ onIncomingCall: () => ({ action: 'accept' }), sip: { sessionTimers: { minSE: 2 }, trace: tb.hook } });
  const a = await engines.start({ sip: { sessionTimers: { expires: 3, minSE: 2 }, trace: ta.hook } });
  const call = await a.call(`sip:echo@${LO}:${b.sipPort}`);
  await waitFor(() => call.state === 'active.talking', 'answered');
  const invite = ta.sent.find((m) => m.method === 'INVITE')!;
  assert.equal(invite.headers.get('Session-Expires'), '3;refresher=uac');
  assert.match(invite.headers.get('Supported') ?? '', /timer/);
  const ok = tb.sent.find((m) => m.status === 200 && m.headers.get('CSeq') === '1 INVITE')!;
  assert.equal(ok.headers.get('Session-Expires'), '3;refresher=uac', 'the callee lets the caller refresh');
  assert.equal(ok.headers.get('Require'), 'timer');
  // Three intervals: without the refreshes the callee would have sent its BYE at 2 s.
  await sleep(6500);
  assert.equal(call.state, 'active.talking');
  const updates = ta.sent.filter((m) => m.method === 'UPDATE');
  assert.ok(updates.length >= 3, `UPDATE every 1.5 s (got ${updates.length})`);
  assert.equal(updates[0]!.headers.get('Session-Expires'), '3;refresher=uac');
  assert.ok(tb.sent.some((m) => m.status === 200 && /UPDATE/.test(m.headers.get('CSeq') ?? '') && m.headers.get('Session-Expires') === '3;refresher=uac'));
  assert.equal(b.sip!.stats.sessionTimersExpired, 0);
  assert.equal(ta.sent.filter((m) => m.method === 'BYE').length + tb.sent.filter((m) => m.method === 'BYE').length, 0);
  // The caller stops refreshing (its timer actor stopped from inside): the callee's BYE ends the call.
  const leg = [...a.sip!.legs.values()][0]!;
  leg.timer!.send({ type: 'STOP' });
  const stoppedAt = Date.now();
  await waitFor(() => call.isEnded, 'the callee ended the unrefreshed call', 3500);
  assert.ok(Date.now() - stoppedAt < 2100, 'within 2 s of the last refresh');
  assert.equal(b.sip!.stats.sessionTimersExpired, 1);
  assert.ok(tb.sent.some((m) => m.method === 'BYE'));
});

test('two engines: a 422 is retried once with the callee\'s Min-SE, and that interval is used', async () => {
  const ta = traced();
  const b = await engines.start({ onIncomingCall: () => ({ action: 'accept' }), sip: { sessionTimers: { minSE: 4 } } });
  const a = await engines.start({ sip: { sessionTimers: { expires: 2, minSE: 1 }, trace: ta.hook } });
  const call = await a.call(`sip:echo@${LO}:${b.sipPort}`);
  await waitFor(() => call.state === 'active.talking', 'answered after the retry');
  const invites = ta.sent.filter((m) => m.method === 'INVITE');
  assert.deepEqual(
    invites.map((m) => [m.headers.get('CSeq'), m.headers.get('Session-Expires'), m.headers.get('Min-SE')]),
    [
      ['1 INVITE', '2;refresher=uac', '1'],
      ['2 INVITE', '4;refresher=uac', '4'],
    ],
  );
  assert.equal(b.sip!.stats.sessionIntervalsTooSmall, 1);
  await waitFor(() => ta.sent.some((m) => m.method === 'UPDATE'), 'a refresh at 2 s', 4000);
  assert.equal(ta.sent.find((m) => m.method === 'UPDATE')!.headers.get('Session-Expires'), '4;refresher=uac');
  call.hangup();
  await waitFor(() => call.isEnded, 'hung up');
});

test('a peer that never refreshes gets a BYE at the interval less a third of it', async () => {
  const e = await engines.start({ onIncomingCall: () => ({ action: 'accept' }), sip: { sessionTimers: { minSE: 2 } } });
  const c = await rawPeer();
  const started = Date.now();
  const { ok, call } = await callIn(e, c, { 'Session-Expires': '3;refresher=uac', Supported: 'timer' });
  assert.equal(ok.headers.get('Session-Expires'), '3;refresher=uac');
  assert.equal(ok.headers.get('Require'), 'timer');
  const bye = await c.request((r) => r.method === 'BYE', 5000);
  const at = Date.now() - started;
  assert.ok(at >= 1800 && at < 3000, `BYE at 3 - min(32, 1) = 2 s, got ${at} ms`);
  reply(c, e.sipPort!, bye, 200);
  await waitFor(() => call.isEnded, 'ended');
  assert.equal(e.sip!.stats.sessionTimersExpired, 1);
});

test('a Session-Expires below our Min-SE gets 422 naming it; Require: timer is accepted', async () => {
  const e = await engines.start({ onIncomingCall: () => ({ action: 'accept' }) });
  const c = await rawPeer();
  const port = e.sipPort!;
  c.send(request('INVITE', port, c.port, { 'Content-Type': 'application/sdp', 'Session-Expires': '60', Supported: 'timer', Require: 'timer' }, SDP), port);
  const res = await c.response((r) => r.status >= 200);
  assert.equal(res.status, 422);
  assert.equal(res.headers.get('Min-SE'), '90', 'the RFC 4028 default');
});

test('the engine as refresher: UPDATE when the peer allows it, retried after a 491; re-INVITE when it does not', async () => {
  const e = await engines.start({ onIncomingCall: () => ({ action: 'accept' }), sip: { sessionTimers: { minSE: 1 } } });
  // refresher=uas: the engine (the UAS) refreshes, at 1 s.
  const c = await rawPeer();
  const { port } = await callIn(e, c, { 'Session-Expires': '2;refresher=uas', Supported: 'timer', Allow: 'INVITE, ACK, BYE, CANCEL, UPDATE' });
  const first = await c.request((r) => r.method === 'UPDATE', 3000);
  assert.equal(first.headers.get('Session-Expires'), '2;refresher=uac', 'the refresher is this request\'s UAC');
  assert.equal(first.body.length, 0, 'a refresh UPDATE has no body');
  reply(c, port, first, 491);
  const again = await c.request((r) => r.method === 'UPDATE', 3000); // glare: 0-2 s for the callee
  reply(c, port, again, 200, [['Session-Expires', '2;refresher=uac']]);
  await c.request((r) => r.method === 'UPDATE', 3000); // and the next one a second later
  assert.equal(e.sip!.stats.sessionTimersExpired, 0);

  // A refresh answered 422 goes again at once with the 422's Min-SE as its interval.
  const r = await rawPeer();
  await callIn(e, r, { 'Session-Expires': '2;refresher=uas', Supported: 'timer', Allow: 'INVITE, ACK, BYE, CANCEL, UPDATE' });
  const tooBrief = await r.request((m) => m.method === 'UPDATE', 3000);
  const refusedAt = Date.now();
  reply(r, port, tooBrief, 422, [['Min-SE', '4']]);
  const raised = await r.request((m) => m.method === 'UPDATE', 1000);
  assert.ok(Date.now() - refusedAt < 500, 'sent again at once');
  assert.equal(raised.headers.get('Session-Expires'), '4;refresher=uac');
  assert.equal(raised.headers.get('Min-SE'), '4');

  // A peer whose Allow has no UPDATE is refreshed by re-INVITE, with our current SDP.
  const d = await rawPeer();
  await callIn(e, d, { 'Session-Expires': '2;refresher=uas', Supported: 'timer', Allow: 'INVITE, ACK, BYE, CANCEL' });
  const reinvite = await d.request((r) => r.method === 'INVITE', 3000);
  assert.match(reinvite.body.toString(), /a=sendrecv/);
  assert.equal(reinvite.headers.get('Session-Expires'), '2;refresher=uac');
  assert.equal(d.requests.filter((r) => r.method === 'UPDATE').length, 0);
});
