// An offer in a PRACK, as the callee (RFC 3262 §5, RFC 6337 §3.1), in the reliable provisional
// machine (machines/sipReliableProvisional.machine.ts, UAS). SDP in the PRACK of the 18x that
// carried our offer is the answer to it; any other SDP in a PRACK is a new offer, answered in the
// PRACK's 200 once the INVITE's offer/answer is done, else the PRACK gets 500 and the 18x stays
// outstanding. A PRACK that names no outstanding 18x gets 481. Once the PRACK of the 18x that
// carried our answer (or our offer) got our 200, the early offer/answer is done both ways
// (`answerAcked`): call.update() may send an UPDATE offer of ours (RFC 3311 §5.1); while it is out
// (`localOffer`) a PRACK or UPDATE offer of the caller's gets 491.
//
// A reference written from those rules (plain code, no XState) runs beside the real actor over
// seeded random sequences of 18x, PRACKs (matching or not, with or without SDP), the app's answer
// and a non-2xx final, early UPDATE offers, with and without an offer of ours out, for INVITEs with
// and without an offer; the outcome of every PRACK and UPDATE, and `answerAcked` after every step,
// must agree. Planted bugs are caught.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { assign, createActor } from 'xstate';
import { sipReliableProvisionalMachine, type SipReliableProvisionalEvent } from '../../machines/sipReliableProvisional.machine.js';

const FIRST = 100;
const CSEQ = 7;

/** What one PRACK got: 481, 500 (offer refused, nothing acknowledged), or 200 plain / with the answer to ours / with our answer. */
type Outcome = '481' | '500' | '491' | '200' | '200+their-answer' | '200+our-answer' | 'UPDATE 200' | 'UPDATE 491' | 'UPDATE 500';

/** The rules as plain code: the outcome of each PRACK and early UPDATE offer, and `answerAcked` after each event. */
function reference(events: SipReliableProvisionalEvent[], delayedOffer: boolean): { out: Outcome[]; acked: boolean[] } {
  let phase = 'idle' as 'idle' | 'unacked' | 'done';
  let next = FIRST;
  let outstanding: { rseq: number; ourOffer: boolean; ourAnswer: boolean } | undefined;
  let queued: number | undefined;
  let held = false;
  let offerSent = false; // our offer went (INVITE without one)
  let answerSent = false; // our answer to the INVITE's offer went in a reliable 183
  let ourOfferAnswered = false; // the PRACK of the 18x with our offer came
  let acked = false; // the PRACK of the 18x with our answer or offer got our 200
  const out: Outcome[] = [];
  const ackedAfter: boolean[] = [];
  const done = () => (delayedOffer ? ourOfferAnswered : answerSent);
  const send = (status: number) => {
    const ourOffer = delayedOffer && !offerSent;
    if (ourOffer) offerSent = true;
    const ourAnswer = !delayedOffer && status === 183 && !answerSent;
    if (ourAnswer) answerSent = true;
    outstanding = { rseq: next++, ourOffer, ourAnswer };
    phase = 'unacked';
  };
  for (const ev of events) {
    if (ev.type === 'UPDATE.OFFER') {
      if (phase !== 'done') {
        const ourOut = outstanding?.ourOffer === true || ev.localOffer === true;
        out.push(ourOut ? 'UPDATE 491' : done() ? 'UPDATE 200' : 'UPDATE 500');
      }
    } else if (ev.type === 'PROVISIONAL') {
      if (phase === 'idle') send(ev.status);
      else if (phase === 'unacked') queued = ev.status;
    } else if (ev.type === 'ANSWER') {
      if (phase === 'idle') phase = 'done';
      else if (phase === 'unacked') held = true;
    } else if (ev.type === 'FINAL') {
      if (phase !== 'done') [phase, outstanding, queued] = ['done', undefined, undefined];
    } else if (ev.type === 'PRACK') {
      const matches = phase === 'unacked' && outstanding?.rseq === ev.rseq && ev.cseq === CSEQ && ev.method === 'INVITE';
      if (!matches) {
        out.push('481');
        ackedAfter.push(acked);
        continue;
      }
      const sdp = ev.sdp === true;
      if (outstanding!.ourOffer) {
        ourOfferAnswered = true;
        out.push('200+their-answer');
      } else if (sdp && !done()) {
        out.push('500');
        ackedAfter.push(acked);
        continue; // acknowledged nothing
      } else if (sdp && ev.localOffer === true) {
        out.push('491');
        ackedAfter.push(acked);
        continue;
      } else out.push(sdp ? '200+our-answer' : '200');
      if (outstanding!.ourOffer || outstanding!.ourAnswer) acked = true;
      outstanding = undefined;
      if (held) phase = 'done';
      else if (queued !== undefined) {
        const q = queued;
        queued = undefined;
        send(q);
      } else phase = 'idle';
    }
    ackedAfter.push(acked);
  }
  return { out, acked: ackedAfter };
}

/** The real actor, its PRACK outcomes read off the actions it ran. */
function actual(machine: typeof sipReliableProvisionalMachine, events: SipReliableProvisionalEvent[], delayedOffer: boolean): { out: Outcome[]; acked: boolean[] } {
  const out: Outcome[] = [];
  const acked: boolean[] = [];
  const nop = () => {};
  const actor = createActor(
    machine.provide({
      actions: {
        sendProvisional: nop,
        retransmit: nop,
        sendAnswer: nop,
        giveUp: nop,
        answerUpdate: () => void out.push('UPDATE 200'),
        refuseUpdate: (_, p: { status: 491 | 500 }) => void out.push(`UPDATE ${p.status}`),
        rejectPrack: () => void out.push('481'),
        refusePrackOffer: (_, p: { status: 491 | 500 }) => void out.push(`${p.status}`),
        acceptPrack: (_, p: { answer: boolean; offer: boolean }) => void out.push(p.answer ? '200+their-answer' : p.offer ? '200+our-answer' : '200'),
      },
    }),
    { input: { role: 'uas', t1: 500, firstRSeq: FIRST, inviteCSeq: CSEQ, delayedOffer } },
  ).start();
  for (const ev of events) {
    actor.send(ev);
    acked.push(actor.getSnapshot().context.answerAcked);
  }
  actor.stop();
  return { out, acked };
}

function randomEvents(rnd: (k: number) => number): SipReliableProvisionalEvent[] {
  const events: SipReliableProvisionalEvent[] = [];
  for (let j = 0, len = 1 + rnd(12); j < len; j++) {
    const k = rnd(10);
    if (k < 3) events.push({ type: 'PROVISIONAL', status: rnd(2) ? 180 : 183 });
    else if (k < 8) {
      // Mostly a RAck naming one of the first RSeqs; sometimes another CSeq.
      const ev: SipReliableProvisionalEvent = { type: 'PRACK', rseq: FIRST + rnd(3), cseq: rnd(8) ? CSEQ : CSEQ + 1, method: 'INVITE' };
      events.push(rnd(2) ? { ...ev, sdp: true, ...(rnd(3) ? {} : { localOffer: true }) } : ev);
    } else if (k < 9) events.push(rnd(2) ? { type: 'ANSWER' } : { type: 'UPDATE.OFFER', ...(rnd(3) ? {} : { localOffer: true }) });
    else events.push({ type: 'FINAL' });
  }
  return events;
}

function runs(machine = sipReliableProvisionalMachine, n = 1000): void {
  let seed = 6337;
  const rnd = (k: number) => ((seed = (seed * 1103515245 + 12345) % 2 ** 31), Math.floor(seed / 65536) % k);
  for (let run = 0; run < n; run++) {
    const delayedOffer = rnd(2) === 1;
    const events = randomEvents(rnd);
    assert.deepEqual(actual(machine, events, delayedOffer), reference(events, delayedOffer), `delayedOffer ${delayedOffer}: ${JSON.stringify(events)}`);
  }
}

describe('sipReliableProvisional machine (UAS): an offer in a PRACK (RFC 3262 §5)', () => {
  test('1000 seeded random sequences: every PRACK’s and UPDATE’s outcome, and answerAcked, agree with the reference', () => {
    runs();
  });

  test('the comparison catches a planted bug (an offer in a PRACK answered before the INVITE’s offer is)', () => {
    const buggy = sipReliableProvisionalMachine.provide({ guards: { offerAnswerOpen: () => false } });
    assert.throws(() => runs(buggy, 300), /delayedOffer/);
  });

  test('the comparison catches a planted bug (SDP in a PRACK never taken for an offer: acknowledged whatever the INVITE’s offer)', () => {
    const buggy = sipReliableProvisionalMachine.provide({ guards: { prackOffer: () => false } });
    assert.throws(() => runs(buggy, 300), /delayedOffer/);
  });

  test('the comparison catches a planted bug (any matching PRACK completes the early offer/answer for our UPDATE)', () => {
    const buggy = sipReliableProvisionalMachine.provide({ actions: { ackAnswer: assign({ answerAcked: true }) } });
    assert.throws(() => runs(buggy, 300), /delayedOffer/);
  });

  test('the comparison catches a planted bug (a caller’s offer answered while ours is out: no glare)', () => {
    const buggy = sipReliableProvisionalMachine.provide({ guards: { localOfferOut: () => false } });
    assert.throws(() => runs(buggy, 300), /delayedOffer/);
  });

  test('named path: 180 PRACKed with an offer → 500, still outstanding; PRACKed plain → 200; 183 (our answer) PRACKed with an offer → 200 with our answer; the held 2xx then goes', () => {
    const events: SipReliableProvisionalEvent[] = [
      { type: 'PROVISIONAL', status: 180 },
      { type: 'PRACK', rseq: FIRST, cseq: CSEQ, method: 'INVITE', sdp: true },
      { type: 'PRACK', rseq: FIRST, cseq: CSEQ, method: 'INVITE' },
      { type: 'PROVISIONAL', status: 183 },
      { type: 'ANSWER' },
      { type: 'PRACK', rseq: FIRST + 1, cseq: CSEQ, method: 'INVITE', sdp: true },
      { type: 'PRACK', rseq: FIRST + 1, cseq: CSEQ, method: 'INVITE', sdp: true },
    ];
    assert.deepEqual(actual(sipReliableProvisionalMachine, events, false), {
      out: ['500', '200', '200+our-answer', '481'],
      // Only the 183's PRACK (it carried our answer) completes the early offer/answer.
      acked: [false, false, false, false, false, true, true],
    });
    const sent: string[] = [];
    const actor = createActor(
      sipReliableProvisionalMachine.provide({
        actions: { sendProvisional: () => {}, acceptPrack: () => void sent.push('prack'), sendAnswer: () => void sent.push('2xx'), refusePrackOffer: () => void sent.push('500') },
      }),
      { input: { role: 'uas', t1: 500, firstRSeq: FIRST, inviteCSeq: CSEQ } },
    ).start();
    for (const ev of events.slice(0, 6)) actor.send(ev);
    // The 500'd PRACK left the 180 outstanding; the answer waited for the 183's PRACK, after its 200.
    assert.deepEqual(sent, ['500', 'prack', 'prack', '2xx']);
    assert.deepEqual(actor.getSnapshot().value, { uas: 'done' });
    actor.stop();
  });
});
