// Early media on an inbound SIP call (RFC 3262 §5, RFC 3264): a SIPp caller that offers SDP and
// supports 100rel gets the app's 183 reliably with our SDP answer in it, PRACKs it, and gets the
// 200 with the same answer (scenarios/uac-100rel-early-media.xml); the tone the app plays before
// answering reaches the SDP's media address (a UDP socket of this test) between the 183 and the
// answer. A caller without 100rel gets an unreliable 183 with our answer and the tone before the
// answer (scenarios/uac-early-media-unreliable.xml), or with `unreliableEarlyMedia: false` a plain
// 183 without SDP and no media before the answer (scenarios/uac-early-media-no100rel.xml). An UPDATE with a new offer after the PRACK (RFC 3311
// §5.2) gets our answer in its 200, the tone moves to its new media address (a second socket), and
// the 200 to the INVITE carries that latest answer (scenarios/uac-100rel-early-update.xml). So
// does a new offer in the PRACK itself (RFC 3262 §5), answered in the PRACK's 200
// (scenarios/uac-100rel-prack-offer.xml). The app's call.update() while ringing sends an UPDATE to
// a caller that allows it (RFC 3311 §5.1), whose answer moves the early RTP
// (scenarios/uac-100rel-uas-update.xml); an answer() right after it waits for the UPDATE’s 200
// and carries its offer (scenarios/uac-100rel-uas-update-held.xml). As the caller, a SIPp callee's
// UPDATE offer after its reliable 183 and our PRACK (RFC 3311 §5.2) is answered and the early RTP
// moves to its port, where its 200 without SDP keeps it (scenarios/peer-uas-100rel-early-update.xml).
// Needs `sipp` (apt-get install sip-tester); fails loudly without it. Run: npm run test:interop.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { once } from 'node:events';
import { runSipp, describeSipp, scenarioPath, requireSipp, startSippUas } from './helpers/sipp.js';
import { eventually, startEngine, within } from './helpers/engine.js';
import { LOOPBACK } from './helpers/procs.js';

before(() => {
  requireSipp();
});

/** The o= line's session id and version of an SDP body. */
function origin(sdp: string | undefined): { id: string; version: number } | undefined {
  const m = /^o=\S+ (\S+) (\d+) /m.exec(sdp ?? '');
  return m ? { id: m[1]!, version: Number(m[2]) } : undefined;
}

/** A UDP socket standing in for the caller's media address: the arrival time of each RTP packet (PT 0). */
async function rtpSink(): Promise<{ port: number; arrivals: number[]; close(): void }> {
  const sock = dgram.createSocket('udp4');
  const arrivals: number[] = [];
  sock.on('message', (m) => {
    // RTP version 2, payload type 0 (PCMU, the only codec offered); RTCP (PT 200-204) is not counted.
    if (m.length >= 12 && m[0]! >> 6 === 2 && (m[1]! & 0x7f) === 0) arrivals.push(Date.now());
  });
  sock.bind(0, LOOPBACK);
  await once(sock, 'listening');
  return { port: sock.address().port, arrivals, close: () => sock.close() };
}

/** The body of the first message in SIPp's -trace_msg output whose text matches `first` and `also`. */
function traced(messages: string, first: RegExp, also: RegExp): string | undefined {
  for (const chunk of messages.split(/^-{10,}.*$/m)) {
    const at = chunk.search(/^(SIP\/2\.0|[A-Z]+ sip:)/m);
    if (at < 0) continue;
    const msg = chunk.slice(at).replace(/\r\n/g, '\n');
    if (!first.test(msg.split('\n', 1)[0]!) || !also.test(msg)) continue;
    const sep = msg.indexOf('\n\n');
    return sep < 0 ? '' : msg.slice(sep + 2).trim();
  }
  return undefined;
}

/**
 * An engine whose app sends a 183 (early media) at once, plays a tone, and answers `answerAfterMs`
 * later; the times of the `earlyMedia` event and of the answer are recorded.
 */
async function earlyMediaEngine(rtpPorts: string, answerAfterMs: number, sip?: { unreliableEarlyMedia: boolean }) {
  const at = { early: 0, answer: 0 };
  const e = await startEngine({
    rtpPorts,
    ...(sip ? { sip } : {}),
    decide: (rec) => {
      rec.call.once('earlyMedia', () => (at.early = Date.now()));
      // The 183 goes in the INVITE's own step, then a tone plays before the call is answered.
      rec.call.progress(183);
      rec.call.play({ kind: 'tone', frequencies: [440], durationMs: 4000, amplitude: 8000 });
      setTimeout(() => {
        at.answer = Date.now();
        rec.call.answer();
      }, answerAfterMs);
      return { action: 'defer' };
    },
  });
  return { e, at };
}

/** Runs a caller scenario against the engine: one call, SIPp exits 0, the engine's call ends. */
async function runCaller(e: Awaited<ReturnType<typeof startEngine>>, scenario: string, vars: Record<string, number>) {
  const r = await runSipp({ timeoutMs: 20_000, scenario: scenarioPath(scenario), remote: `127.0.0.1:${e.sipPort}`, vars, traceMessages: true });
  const why = `${describeSipp(r)}\n--- SIPp messages ---\n${r.messages}`;
  assert.equal(r.exitCode, 0, why);
  assert.equal(r.stats?.successfulCalls, 1, why);
  assert.equal(r.stats?.failedCalls, 0, why);
  const end = await within(e.incoming[0]!.end, 10_000, 'the call to end');
  return { r, why, end };
}

test('SIPp uac with Supported: 100rel and an offer: reliable 183 with our answer, early RTP, the 200 repeats the answer', { timeout: 30_000 }, async () => {
  const sink = await rtpSink();
  const { e, at } = await earlyMediaEngine('27220-27259', 800);
  try {
    const { r, why, end } = await runCaller(e, 'uac-100rel-early-media', { rtp_port: sink.port });
    assert.equal(end.reason, 'remote-hangup');
    // The 2xx repeats the answer the 183 carried, byte for byte (RFC 3261 §13.2.1: no second answer).
    const early = traced(r.messages, /^SIP\/2\.0 183/, /^CSeq:\s*1 INVITE/m);
    const final = traced(r.messages, /^SIP\/2\.0 200/, /^CSeq:\s*1 INVITE/m);
    assert.ok(early && /^m=audio \d+ RTP\/AVP 0/m.test(early), `the 183 carries an SDP answer: ${String(early)}\n${why}`);
    assert.equal(final, early, 'the 200 carries the same SDP answer as the 183');
    // Media flowed to the SDP's address between the 183 and the answer (20 ms frames for 800 ms).
    assert.ok(at.early > 0 && at.answer > at.early, 'early media started before the answer');
    const before = sink.arrivals.filter((t) => t < at.answer);
    assert.ok(before.length >= 20, `${before.length} RTP packets reached the caller's media address before the answer (want >= 20)`);
    assert.ok(before[0]! >= at.early, 'no RTP before the 183 with the answer');
  } finally {
    sink.close();
    await e.close();
  }
});

test('SIPp uac without 100rel: an unreliable 183 with our answer, early RTP, the 200 repeats the answer', { timeout: 30_000 }, async () => {
  const sink = await rtpSink();
  const { e, at } = await earlyMediaEngine('27340-27379', 800);
  try {
    const { r, why } = await runCaller(e, 'uac-early-media-unreliable', { rtp_port: sink.port });
    const early = traced(r.messages, /^SIP\/2\.0 183/, /^CSeq:\s*1 INVITE/m);
    assert.ok(early && /^m=audio \d+ RTP\/AVP 0/m.test(early), `the 183 carries our SDP answer: ${String(early)}\n${why}`);
    assert.equal(traced(r.messages, /^SIP\/2\.0 200/, /^CSeq:\s*1 INVITE/m), early, 'the 200 repeats the answer the 183 carried');
    assert.ok(at.early > 0 && at.answer > at.early, 'early media started before the answer');
    const before = sink.arrivals.filter((t) => t < at.answer);
    assert.ok(before.length >= 20, `${before.length} RTP packets reached the caller's media address before the answer (want >= 20)`);
  } finally {
    sink.close();
    await e.close();
  }
});

test('SIPp uac without 100rel, unreliableEarlyMedia: false: a plain 183 without SDP, no RTP before the answer, the answer in the 200', { timeout: 30_000 }, async () => {
  const sink = await rtpSink();
  const { e, at } = await earlyMediaEngine('27260-27299', 800, { unreliableEarlyMedia: false });
  try {
    const { r } = await runCaller(e, 'uac-early-media-no100rel', { rtp_port: sink.port });
    assert.equal(traced(r.messages, /^SIP\/2\.0 183/, /^CSeq:\s*1 INVITE/m), '', 'the 183 has no body');
    assert.match(traced(r.messages, /^SIP\/2\.0 200/, /^CSeq:\s*1 INVITE/m) ?? '', /^m=audio \d+ RTP\/AVP 0/m, 'the answer is in the 200');
    assert.equal(at.early, 0, 'no early media without 100rel when it is off');
    assert.ok(at.answer > 0);
    assert.equal(sink.arrivals.filter((t) => t < at.answer).length, 0, 'no RTP before the answer');
    assert.ok(sink.arrivals.length >= 10, `the tone played after the answer (${sink.arrivals.length} packets)`);
  } finally {
    sink.close();
    await e.close();
  }
});

/**
 * A SIPp caller makes a new offer in the early dialog (`by`: the request whose 200 we answer in,
 * e.g. `3 UPDATE`, `2 PRACK`) with a second media port: our answer is a newer version of the 183's
 * session, the 2xx to the INVITE carries it, and the early RTP moves to the new port.
 */
async function earlyReoffer(scenario: string, rtpPorts: string, by: string, what: string): Promise<void> {
  const first = await rtpSink();
  const second = await rtpSink();
  // Long enough for the new offer (right after the first PRACK's 200) and 20 ms frames at its port.
  const { e, at } = await earlyMediaEngine(rtpPorts, 1200);
  try {
    const { r, why, end } = await runCaller(e, scenario, { rtp_port: first.port, rtp_port2: second.port });
    assert.equal(end.reason, 'remote-hangup');
    const early = traced(r.messages, /^SIP\/2\.0 183/, /^CSeq:\s*1 INVITE/m);
    const answered = traced(r.messages, /^SIP\/2\.0 200/, new RegExp(`^CSeq:\\s*${by}`, 'm'));
    const final = traced(r.messages, /^SIP\/2\.0 200/, /^CSeq:\s*1 INVITE/m);
    assert.match(answered ?? '', /^m=audio \d+ RTP\/AVP 0/m, `the ${what}'s 200 carries an answer\n${why}`);
    // RFC 3264 §8: the same session, a newer version; the 2xx carries that latest answer.
    const o183 = origin(early);
    const oNew = origin(answered);
    assert.ok(o183 && oNew, `o= lines in the 183 and the ${what}'s 200\n${why}`);
    assert.equal(oNew.id, o183.id, 'the same SDP session');
    assert.ok(oNew.version > o183.version, `the ${what}'s answer has a newer o= version (${o183.version} -> ${oNew.version})`);
    assert.equal(final, answered, `the 200 to the INVITE carries the answer the ${what} got`);
    // The tone went to the first address, then to the new offer's, before the call was answered.
    const moved = second.arrivals.filter((t) => t < at.answer);
    assert.ok(moved.length >= 20, `${moved.length} RTP packets reached the ${what} offer's media address before the answer (want >= 20)`);
    const movedAt = moved[0]!;
    assert.equal(first.arrivals.filter((t) => t > movedAt + 100).length, 0, 'no RTP to the old address once it moved');
  } finally {
    first.close();
    second.close();
    await e.close();
  }
}

test('SIPp uac: an UPDATE with a new offer in the early dialog gets our answer, the early RTP moves to its port, the 200 carries the latest answer', { timeout: 30_000 }, () =>
  earlyReoffer('uac-100rel-early-update', '27300-27339', '3 UPDATE', 'UPDATE'));

test('SIPp uac: a PRACK with a new offer gets our answer in its 200, the early RTP moves to its port, the 200 to the INVITE carries that answer', { timeout: 30_000 }, () =>
  earlyReoffer('uac-100rel-prack-offer', '29500-29539', '2 PRACK', 'PRACK'));

test('SIPp uac allowing UPDATE: call.update() while ringing sends an UPDATE after the PRACK, the early RTP moves to the answer’s port, the 200 carries our offer', { timeout: 30_000 }, async () => {
  const first = await rtpSink();
  const second = await rtpSink();
  const at = { answer: 0 };
  let updated: Promise<unknown> | undefined;
  const e = await startEngine({
    rtpPorts: '29540-29579',
    decide: (rec) => {
      rec.call.progress(183);
      rec.call.play({ kind: 'tone', frequencies: [440], durationMs: 4000, amplitude: 8000 });
      // The update may go once SIPp's PRACK of the 183 got our 200: try until it no longer throws.
      const poll = setInterval(() => {
        try {
          updated = rec.call.update();
          clearInterval(poll);
        } catch {
          // not yet
        }
      }, 20);
      setTimeout(() => {
        clearInterval(poll);
        at.answer = Date.now();
        rec.call.answer();
      }, 1200);
      return { action: 'defer' };
    },
  });
  try {
    const { r, why, end } = await runCaller(e, 'uac-100rel-uas-update', { rtp_port: first.port, rtp_port2: second.port });
    assert.equal(end.reason, 'remote-hangup');
    assert.ok(updated, 'call.update() went while the call rang');
    assert.deepEqual(await updated, { method: 'UPDATE', status: 200, codec: 'PCMU', remote: { address: LOOPBACK, port: second.port } });
    const early = traced(r.messages, /^SIP\/2\.0 183/, /^CSeq:\s*1 INVITE/m);
    const offer = traced(r.messages, /^UPDATE sip:/, /^CSeq:\s*\d+ UPDATE/m);
    const final = traced(r.messages, /^SIP\/2\.0 200/, /^CSeq:\s*1 INVITE/m);
    const o183 = origin(early);
    const oUpdate = origin(offer);
    assert.ok(o183 && oUpdate, `o= lines in the 183 and our UPDATE\n${why}`);
    assert.equal(oUpdate.id, o183.id, 'the same SDP session');
    assert.ok(oUpdate.version > o183.version, `our UPDATE's offer has a newer o= version (${o183.version} -> ${oUpdate.version})`);
    assert.equal(final, offer, 'the 200 to the INVITE carries our latest SDP (the UPDATE’s offer)');
    const moved = second.arrivals.filter((t) => t < at.answer);
    assert.ok(moved.length >= 20, `${moved.length} RTP packets reached the answer's media address before the 2xx (want >= 20)`);
    const movedAt = moved[0]!;
    assert.equal(first.arrivals.filter((t) => t > movedAt + 100).length, 0, 'no RTP to the old address once it moved');
  } finally {
    first.close();
    second.close();
    await e.close();
  }
});

test('SIPp uac allowing UPDATE: call.answer() right after call.update() while ringing: the 200 to the INVITE waits for the UPDATE’s 200 and carries our offer', { timeout: 30_000 }, async () => {
  const first = await rtpSink();
  const second = await rtpSink();
  let updated: Promise<unknown> | undefined;
  const e = await startEngine({
    rtpPorts: '29580-29599',
    decide: (rec) => {
      rec.call.progress(183);
      // Once SIPp's PRACK of the 183 got our 200 the update may go; the app answers in the same tick.
      const poll = setInterval(() => {
        try {
          updated = rec.call.update();
        } catch {
          return; // not yet
        }
        clearInterval(poll);
        rec.call.answer();
      }, 20);
      setTimeout(() => clearInterval(poll), 5000);
      return { action: 'defer' };
    },
  });
  try {
    // SIPp answers the UPDATE 500 ms late and fails the call on a 200 to the INVITE before it.
    const { r, why, end } = await runCaller(e, 'uac-100rel-uas-update-held', { rtp_port: first.port, rtp_port2: second.port });
    assert.equal(end.reason, 'remote-hangup');
    assert.ok(updated, 'call.update() went while the call rang');
    assert.deepEqual(await updated, { method: 'UPDATE', status: 200, codec: 'PCMU', remote: { address: LOOPBACK, port: second.port } });
    const offer = traced(r.messages, /^UPDATE sip:/, /^CSeq:\s*\d+ UPDATE/m);
    const final = traced(r.messages, /^SIP\/2\.0 200/, /^CSeq:\s*1 INVITE/m);
    assert.ok(offer && /^m=audio \d+ RTP\/AVP 0/m.test(offer), `our UPDATE carries an offer\n${why}`);
    assert.equal(final, offer, 'the 200 to the INVITE carries the offer the UPDATE agreed');
  } finally {
    first.close();
    second.close();
    await e.close();
  }
});

test('engine.call() → SIPp uas whose UPDATE offers a new port after its reliable 183 and our PRACK: answered, the early RTP moves there, its 200 without SDP keeps it', { timeout: 30_000 }, async () => {
  const first = await rtpSink();
  const second = await rtpSink();
  const uas = await startSippUas({
    timeoutMs: 30_000,
    scenario: scenarioPath('peer-uas-100rel-early-update'),
    calls: 1,
    traceMessages: true,
    vars: { rtp_port: first.port, rtp_port2: second.port },
  });
  const e = await startEngine({ rtpPorts: '29660-29699' });
  let frames: NodeJS.Timeout | undefined;
  try {
    const rec = await e.dial(`sip:service@${LOOPBACK}:${uas.port}`);
    // 20 ms frames from the start: early media goes wherever the branch's session says.
    frames = setInterval(() => rec.call.media?.write(new Int16Array(160)), 20);
    try {
      await eventually(() => rec.call.isActive, 10_000, `call answered (states: ${rec.states.join(' > ')})`);
    } catch (err) {
      const r = await uas.stop();
      throw new Error(`${(err as Error).message}\n${describeSipp(r)}\n--- SIPp messages ---\n${r.messages ?? ''}`);
    }
    const answeredAt = Date.now();
    await new Promise((r) => setTimeout(r, 300));
    rec.call.hangup();
    const end = await within(rec.end, 10_000, 'outbound call to end');
    assert.equal(end.reason, 'local-hangup', JSON.stringify(end));
    await uas.waitForStats((st) => st.successfulCalls + st.failedCalls >= 1 && st.currentCalls === 0, 10_000);
    const r = await uas.stop();
    const why = describeSipp(r);
    assert.equal(r.stats?.failedCalls, 0, why);
    assert.equal(r.stats?.successfulCalls, 1, why);
    // Our answer: the INVITE offer's o= session, a newer version.
    const offer = traced(r.messages ?? '', /^INVITE sip:/, /^CSeq:\s*\d+ INVITE/m);
    const answer = traced(r.messages ?? '', /^SIP\/2\.0 200/, /^CSeq:\s*1 UPDATE/m);
    const [oOffer, oAnswer] = [origin(offer), origin(answer)];
    assert.ok(oOffer && oAnswer, `o= lines in our INVITE and our answer to the UPDATE\n${why}`);
    assert.equal(oAnswer.id, oOffer.id, 'the same SDP session');
    assert.ok(oAnswer.version > oOffer.version, `a newer o= version (${oOffer.version} -> ${oAnswer.version})`);
    const early = second.arrivals.filter((t) => t < answeredAt);
    assert.ok(early.length >= 15, `${early.length} RTP packets reached the UPDATE offer's port before the 2xx (want >= 15)`);
    assert.ok(first.arrivals.length >= 5, `early media went to the 183's port first (${first.arrivals.length} packets)`);
    assert.equal(first.arrivals.filter((t) => t > early[0]! + 100).length, 0, 'no RTP to the old port once it moved');
    assert.ok(second.arrivals.filter((t) => t > answeredAt).length >= 5, 'answered: RTP stays at the UPDATE offer\'s port');
  } finally {
    clearInterval(frames);
    first.close();
    second.close();
    await e.close();
    await uas.stop();
  }
});
