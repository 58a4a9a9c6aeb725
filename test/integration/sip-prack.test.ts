// Reliable provisional responses (RFC 3262) on loopback: two engines with 100rel both ways (the
// caller's PRACK, the callee's RSeq, the 2xx after the PRACK's 200, audio on the answered call;
// early media: our answer in a reliable 183, the tone heard before the 2xx),
// and a raw SIP peer for what a peer may get wrong: no PRACK (retransmissions at T1 doubling, then
// 504 at 64*T1), a PRACK naming nothing (481), and the 420/421 refusals.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Call } from '../../src/index.js';
import { parseWav, readWavFile, toneRatio } from '../../src/media/index.js';
import { parseMessage, type SipMessage } from '../../src/sip/codec/message.js';
import { loopbackEngines } from '../helpers/loopback-engines.js';
import { RawSip, request } from '../helpers/raw-sip.js';
import { waitFor } from '../helpers/wait.js';

const LO = '127.0.0.1';
const engines = loopbackEngines(27000, 40);
const raws: RawSip[] = [];
const dir = mkdtempSync(join(tmpdir(), 'callchart-prack-'));
after(async () => {
  for (const r of raws.splice(0)) r.close();
  await engines.closeAll();
  rmSync(dir, { recursive: true, force: true });
});

const SDP = `v=0\no=raw 1 1 IN IP4 ${LO}\ns=-\nc=IN IP4 ${LO}\nt=0 0\nm=audio 27990 RTP/AVP 0\na=rtpmap:0 PCMU/8000\n`;

interface Sent {
  at: number;
  msg: SipMessage;
}

/** Every SIP message an engine sent, parsed, with when it went. */
function traced(): { sent: Sent[]; hook: (r: { direction: 'in' | 'out'; bytes: Buffer }) => void } {
  const sent: Sent[] = [];
  return {
    sent,
    hook: (r) => {
      if (r.direction !== 'out') return;
      const p = parseMessage(Buffer.from(r.bytes));
      if (p.ok) sent.push({ at: Date.now(), msg: p.message });
    },
  };
}

const isReq = (s: Sent, method: string) => s.msg.kind === 'request' && s.msg.method === method;
const isRes = (s: Sent, status: number, cseqMethod: string) => s.msg.kind === 'response' && s.msg.status === status && (s.msg.headers.get('CSeq') ?? '').endsWith(cseqMethod);

async function rawPeer(): Promise<RawSip> {
  const c = await new RawSip().open();
  raws.push(c);
  return c;
}

test('two engines, 100rel both ways: reliable 180 with RSeq, PRACK with RAck, the 2xx after its 200, audio flows', async () => {
  const ta = traced();
  const tb = traced();
  const b = await engines.start({
    // Ringing first (the reliable 180), answered a moment later, with a 440 Hz tone for the caller.
    onIncomingCall: (call) => {
      setTimeout(() => {
        call.answer();
        call.play({ kind: 'tone', frequencies: [440], durationMs: 1500 });
      }, 300);
      return { action: 'defer' };
    },
    sip: { trace: tb.hook },
  });
  const a = await engines.start({ sip: { reliableProvisionals: 'required', trace: ta.hook } });
  const call: Call = await a.call(`sip:prack@${LO}:${b.sipPort}`);
  await waitFor(() => call.state === 'active.talking', 'answered', 5000);
  const rec = call.record(join(dir, 'a-hears-440.wav'));

  const invite = ta.sent.find((s) => isReq(s, 'INVITE'))!;
  assert.equal(invite.msg.headers.get('Require'), '100rel', "the caller's INVITE requires 100rel");
  const ringing = tb.sent.filter((s) => isRes(s, 180, 'INVITE'));
  assert.ok(ringing.length >= 1);
  assert.equal(ringing[0]!.msg.headers.get('Require'), '100rel');
  const rseq = Number(ringing[0]!.msg.headers.get('RSeq'));
  assert.ok(rseq >= 1 && rseq < 2 ** 31, `RSeq ${rseq}`);
  const pracks = ta.sent.filter((s) => isReq(s, 'PRACK'));
  assert.equal(pracks.length, 1, 'one PRACK (a retransmitted 180 is not PRACKed again)');
  assert.equal(pracks[0]!.msg.headers.get('RAck'), `${rseq} 1 INVITE`);
  assert.equal(pracks[0]!.msg.headers.get('CSeq'), '2 PRACK', 'in the early dialog, the next CSeq');
  const prackOk = tb.sent.find((s) => isRes(s, 200, 'PRACK'));
  assert.ok(prackOk, 'the callee answered the PRACK 200');
  const ok = tb.sent.find((s) => isRes(s, 200, 'INVITE'))!;
  assert.ok(ok.at >= prackOk.at, 'the 2xx went after the PRACK was answered');
  assert.match(ok.msg.headers.getAll('Supported').join(', '), /100rel/);

  await new Promise((r) => setTimeout(r, 1300));
  const out = await rec.stop();
  const info = parseWav(readFileSync(out.path));
  assert.equal(info.sampleRate, 8000);
  const s = readWavFile(out.path);
  assert.ok(s.length >= 8000 * 0.9, `${s.length} samples recorded`);
  assert.ok(toneRatio(s, 8000, 440) > 0.8, `440 Hz share ${toneRatio(s, 8000, 440).toFixed(2)}`);
  call.hangup();
  await waitFor(() => call.isEnded, 'hung up');
});

test("a caller that only supports 100rel gets today's unreliable 180 from the default UAS", async () => {
  const tb = traced();
  const b = await engines.start({
    onIncomingCall: (call) => {
      setTimeout(() => call.answer(), 100);
      return { action: 'defer' };
    },
    sip: { trace: tb.hook },
  });
  const a = await engines.start();
  const call = await a.call(`sip:plain@${LO}:${b.sipPort}`);
  await waitFor(() => call.state === 'active.talking', 'answered');
  const ringing = tb.sent.find((s) => isRes(s, 180, 'INVITE'))!;
  assert.equal(ringing.msg.headers.get('RSeq'), undefined);
  assert.equal(ringing.msg.headers.get('Require'), undefined);
  call.hangup();
  await waitFor(() => call.isEnded, 'hung up');
});

test('early media, two engines with the default 100rel: a plain 180, then a reliable 183 with the answer; the caller hears the tone before the 2xx, which repeats the answer', async () => {
  const tb = traced();
  let answerAt = 0;
  const b = await engines.start({
    onIncomingCall: (call) => {
      // The caller only supports 100rel: the 180 is plain; the 183 asked for later goes reliably.
      setTimeout(() => {
        call.progress(183);
        call.play({ kind: 'tone', frequencies: [440], durationMs: 3000 });
      }, 100);
      setTimeout(() => {
        answerAt = Date.now();
        call.answer();
      }, 1100);
      return { action: 'defer' };
    },
    sip: { trace: tb.hook },
  });
  const ta = traced();
  const a = await engines.start({ sip: { trace: ta.hook } });
  const call: Call = await a.call(`sip:early@${LO}:${b.sipPort}`);
  const early: Int16Array[] = [];
  call.on('audio', (f) => {
    if (!call.isActive) early.push(new Int16Array(f.buffer.slice(f.byteOffset, f.byteOffset + f.byteLength)));
  });
  await waitFor(() => call.state === 'active.talking', 'answered', 5000);

  const ringing = tb.sent.find((s) => isRes(s, 180, 'INVITE'))!;
  assert.equal(ringing.msg.headers.get('Require'), undefined, 'the 180 is plain');
  assert.equal(ringing.msg.body.length, 0, 'the 180 has no SDP');
  const progress = tb.sent.filter((s) => isRes(s, 183, 'INVITE'));
  assert.ok(progress.length >= 1, 'a 183 went');
  assert.equal(progress[0]!.msg.headers.get('Require'), '100rel');
  const rseq = Number(progress[0]!.msg.headers.get('RSeq'));
  assert.ok(rseq >= 1, 'with an RSeq');
  const answer = progress[0]!.msg.body.toString('utf8');
  assert.match(answer, /^m=audio \d+ RTP\/AVP/m, 'the 183 carries our SDP answer');
  assert.deepEqual(ta.sent.filter((s) => isReq(s, 'PRACK')).map((s) => s.msg.headers.get('RAck')), [`${rseq} 1 INVITE`], 'the caller PRACKed the 183');
  const ok = tb.sent.find((s) => isRes(s, 200, 'INVITE'))!;
  assert.equal(ok.msg.body.toString('utf8'), answer, 'the 2xx repeats the answer');
  assert.ok(ok.at >= answerAt, 'the 2xx went when the callee answered');

  // The caller heard the tone before the answer (20 ms frames for ~1 s).
  const samples = Int16Array.from(early.flatMap((f) => Array.from(f)));
  assert.ok(samples.length >= 8000 * 0.5, `${samples.length} samples of early media`);
  assert.ok(toneRatio(samples, 8000, 440) > 0.8, `440 Hz share ${toneRatio(samples, 8000, 440).toFixed(2)}`);
  call.hangup();
  await waitFor(() => call.isEnded, 'hung up');
});

test('no PRACK: the reliable 180 is retransmitted at T1 doubling and the INVITE gets 504 at 64*T1', async () => {
  const t1 = 40;
  const e = await engines.start({ onIncomingCall: () => ({ action: 'defer' }), sip: { timers: { t1 } } });
  const c = await rawPeer();
  const port = e.sipPort!;
  const t0 = Date.now();
  c.send(request('INVITE', port, c.port, { 'Content-Type': 'application/sdp', Require: '100rel', Supported: '100rel' }, SDP), port);
  const final = await c.response((r) => r.status >= 200, 64 * t1 + 3000);
  const took = Date.now() - t0;
  assert.equal(final.status, 504);
  assert.ok(took >= 64 * t1 - 20, `504 after ${took} ms, not before 64*T1`);
  const ringing = c.got.filter((r) => r.status === 180);
  // Sent at 0, then T1, 3T1, 7T1, 15T1, 31T1, 63T1: seven in all (all with the same RSeq).
  assert.equal(ringing.length, 7, `180 sent ${ringing.length} times`);
  assert.equal(new Set(ringing.map((r) => r.headers.get('RSeq'))).size, 1);
  assert.equal(e.sip!.pendingInviteCount, 0);
});

test('a PRACK that names nothing outstanding gets 481; the right one 200, then the 2xx', async () => {
  const e = await engines.start({
    onIncomingCall: (call) => {
      setTimeout(() => call.answer(), 50);
      return { action: 'defer' };
    },
  });
  const c = await rawPeer();
  const port = e.sipPort!;
  const callId = `prack-${Math.random().toString(36).slice(2)}@x`;
  c.send(request('INVITE', port, c.port, { 'Content-Type': 'application/sdp', 'Call-ID': callId, Require: '100rel' }, SDP), port);
  const ringing = await c.response((r) => r.status === 180);
  const rseq = Number(ringing.headers.get('RSeq'));
  const to = ringing.headers.get('To')!;
  await new Promise((r) => setTimeout(r, 150)); // answered meanwhile: the 2xx waits for the PRACK
  assert.equal(c.got.filter((r) => r.status === 200).length, 0, 'no 2xx before the PRACK');
  const prack = (n: number, rack: string) => request('PRACK', port, c.port, { 'Call-ID': callId, CSeq: `${n} PRACK`, To: to, RAck: rack });
  c.send(prack(2, `${rseq + 1} 1 INVITE`), port);
  assert.equal((await c.response((r) => r.headers.get('CSeq') === '2 PRACK')).status, 481);
  c.send(prack(3, `${rseq} 1 INVITE`), port);
  assert.equal((await c.response((r) => r.headers.get('CSeq') === '3 PRACK')).status, 200);
  const ok = await c.response((r) => r.status === 200 && r.headers.get('CSeq') === '1 INVITE');
  c.send(request('ACK', port, c.port, { 'Call-ID': callId, CSeq: '1 ACK', To: ok.headers.get('To')! }), port);
  c.send(request('BYE', port, c.port, { 'Call-ID': callId, CSeq: '4 BYE', To: ok.headers.get('To')! }), port);
  assert.equal((await c.response((r) => r.headers.get('CSeq') === '4 BYE')).status, 200);
});

test('an INVITE without an offer: ours goes in the reliable 180, the answer in the PRACK, the 2xx has no SDP', async () => {
  const e = await engines.start({
    onIncomingCall: (call) => {
      setTimeout(() => call.answer(), 30);
      return { action: 'defer' };
    },
  });
  const c = await rawPeer();
  const port = e.sipPort!;
  const callId = `late-${Math.random().toString(36).slice(2)}@x`;
  c.send(request('INVITE', port, c.port, { 'Call-ID': callId, Require: '100rel' }), port);
  const ringing = await c.response((r) => r.status === 180);
  assert.match(ringing.headers.get('Content-Type') ?? '', /application\/sdp/);
  assert.match(ringing.body.toString(), /m=audio \d+ RTP\/AVP/, 'the 180 carries our offer');
  const to = ringing.headers.get('To')!;
  const answer = SDP.replace('27990', '27992');
  c.send(request('PRACK', port, c.port, { 'Call-ID': callId, CSeq: '2 PRACK', To: to, RAck: `${ringing.headers.get('RSeq')} 1 INVITE`, 'Content-Type': 'application/sdp' }, answer), port);
  assert.equal((await c.response((r) => r.headers.get('CSeq') === '2 PRACK')).status, 200);
  const ok = await c.response((r) => r.status === 200 && r.headers.get('CSeq') === '1 INVITE');
  assert.equal(ok.body.length, 0, 'no SDP in the 2xx: the offer/answer is done');
  c.send(request('ACK', port, c.port, { 'Call-ID': callId, CSeq: '1 ACK', To: ok.headers.get('To')! }), port);
  const leg = e.sip!.legs.byCall(callId)!;
  assert.deepEqual(leg.sdp?.remote, { address: LO, port: 27992 }, 'the PRACK\'s answer set where media goes');
  c.send(request('BYE', port, c.port, { 'Call-ID': callId, CSeq: '3 BYE', To: ok.headers.get('To')! }), port);
  assert.equal((await c.response((r) => r.headers.get('CSeq') === '3 BYE')).status, 200);
});

test('answered while the 2xx waits for the PRACK: a CANCEL gets 487 and ends the call; a hangup refuses the INVITE 480', async () => {
  const calls: Call[] = [];
  const e = await engines.start({
    onIncomingCall: (call) => {
      calls.push(call);
      setTimeout(() => call.answer(), 30);
      return { action: 'defer' };
    },
  });
  const c = await rawPeer();
  const port = e.sipPort!;
  // The caller never PRACKs, and CANCELs once the call is answered on our side.
  const invite = request('INVITE', port, c.port, { 'Content-Type': 'application/sdp', Require: '100rel' }, SDP);
  c.send(invite, port);
  await c.response((r) => r.status === 180);
  await waitFor(() => calls[0]?.isActive === true, 'answered by the app');
  const head = invite.split('\n\n')[0]!.split('\n');
  const keep = (name: string) => head.find((l) => l.startsWith(`${name}:`))!;
  const cancel = ['CANCEL ' + head[0]!.split(' ')[1] + ' SIP/2.0', keep('Via'), keep('From'), keep('To'), keep('Call-ID'), 'CSeq: 1 CANCEL', 'Max-Forwards: 70', 'Content-Length: 0', '', ''].join('\n');
  c.send(cancel, port);
  assert.equal((await c.response((r) => (r.headers.get('CSeq') ?? '').endsWith('CANCEL'))).status, 200);
  assert.equal((await c.response((r) => r.status >= 200 && r.headers.get('CSeq') === '1 INVITE')).status, 487);
  await waitFor(() => calls[0]!.isEnded, 'the call ended');
  assert.equal(calls[0]!.end?.reason, 'remote-hangup');
  assert.equal(c.got.filter((r) => r.status === 200 && r.headers.get('CSeq') === '1 INVITE').length, 0, 'no 2xx went');

  // Answered, then hung up by the app before any PRACK: the INVITE is refused (no BYE on an early dialog).
  calls.length = 0;
  c.send(request('INVITE', port, c.port, { 'Content-Type': 'application/sdp', Require: '100rel' }, SDP), port);
  await c.response((r) => r.status === 180);
  await waitFor(() => calls[0]?.isActive === true, 'answered by the app');
  calls[0]!.hangup();
  assert.equal((await c.response((r) => r.status >= 200 && r.headers.get('CSeq') === '1 INVITE')).status, 480);
  await waitFor(() => calls[0]!.isEnded, 'the call ended');
  assert.equal(c.requests.filter((r) => r.method === 'BYE').length, 0);
});

test('Require: 100rel with reliableProvisionals off gets 420 Unsupported: 100rel; required gets 421 from a caller without it', async () => {
  const off = await engines.start({ onIncomingCall: () => ({ action: 'accept' }), sip: { reliableProvisionals: 'off' } });
  const c = await rawPeer();
  c.send(request('INVITE', off.sipPort!, c.port, { 'Content-Type': 'application/sdp', Require: '100rel' }, SDP), off.sipPort!);
  const r420 = await c.response((r) => r.status >= 200);
  assert.equal(r420.status, 420);
  assert.equal(r420.headers.get('Unsupported'), '100rel');
  const req = await engines.start({ onIncomingCall: () => ({ action: 'accept' }), sip: { reliableProvisionals: 'required' } });
  c.send(request('INVITE', req.sipPort!, c.port, { 'Content-Type': 'application/sdp' }, SDP), req.sipPort!);
  const r421 = await c.response((r) => r.status >= 200);
  assert.equal(r421.status, 421);
  assert.equal(r421.headers.get('Require'), '100rel');
});
