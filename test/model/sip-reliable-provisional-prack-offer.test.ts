// An offer in a PRACK, as the callee (RFC 3262 §5, RFC 6337 §3.1), in the reliable provisional
// machine (machines/sipReliableProvisional.machine.ts, UAS). SDP in the PRACK of the 18x that
// carried our offer is the answer to it; any other SDP in a PRACK is a new offer, answered in the
// PRACK's 200 once the INVITE's offer/answer is done, else the PRACK gets 500 and the 18x stays
// outstanding. A PRACK that names no outstanding 18x gets 481.
//
// A reference written from those rules (plain code, no XState) runs beside the real actor over
// seeded random sequences of 18x, PRACKs (matching or not, with or without SDP), the app's answer
// and a non-2xx final, for INVITEs with and without an offer; the outcome of every PRACK must
// agree. A planted bug (an offer in a PRACK answered before the INVITE's offer is) is caught.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createActor } from 'xstate';
import { sipReliableProvisionalMachine, type SipReliableProvisionalEvent } from '../../machines/sipReliableProvisional.machine.js';

const FIRST = 100;
const CSEQ = 7;

/** What one PRACK got: 481, 500 (offer refused, nothing acknowledged), or 200 plain / with the answer to ours / with our answer. */
type Outcome = '481' | '500' | '200' | '200+their-answer' | '200+our-answer';

/** The rules as plain code: the outcome of each PRACK in `events`. */
function reference(events: SipReliableProvisionalEvent[], delayedOffer: boolean): Outcome[] {
  let phase = 'idle' as 'idle' | 'unacked' | 'done';
  let next = FIRST;
  let outstanding: { rseq: number; ourOffer: boolean } | undefined;
  let queued: number | undefined;
  let held = false;
  let offerSent = false; // our offer went (INVITE without one)
  let answerSent = false; // our answer to the INVITE's offer went in a reliable 183
  let ourOfferAnswered = false; // the PRACK of the 18x with our offer came
  const out: Outcome[] = [];
  const send = (status: number) => {
    const ourOffer = delayedOffer && !offerSent;
    if (ourOffer) offerSent = true;
    if (!delayedOffer && status === 183) answerSent = true;
    outstanding = { rseq: next++, ourOffer };
    phase = 'unacked';
  };
  for (const ev of events) {
    if (ev.type === 'PROVISIONAL') {
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
        continue;
      }
      const sdp = ev.sdp === true;
      if (outstanding!.ourOffer) {
        ourOfferAnswered = true;
        out.push('200+their-answer');
      } else if (sdp && !(delayedOffer ? ourOfferAnswered : answerSent)) {
        out.push('500');
        continue; // acknowledged nothing
      } else out.push(sdp ? '200+our-answer' : '200');
      outstanding = undefined;
      if (held) phase = 'done';
      else if (queued !== undefined) {
        const q = queued;
        queued = undefined;
        send(q);
      } else phase = 'idle';
    }
  }
  return out;
}

/** The real actor, its PRACK outcomes read off the actions it ran. */
function actual(machine: typeof sipReliableProvisionalMachine, events: SipReliableProvisionalEvent[], delayedOffer: boolean): Outcome[] {
  const out: Outcome[] = [];
  const nop = () => {};
  const actor = createActor(
    machine.provide({
      actions: {
        sendProvisional: nop,
        retransmit: nop,
        sendAnswer: nop,
        giveUp: nop,
        answerUpdate: nop,
        refuseUpdate: nop,
        rejectPrack: () => void out.push('481'),
        refusePrackOffer: () => void out.push('500'),
        acceptPrack: (_, p: { answer: boolean; offer: boolean }) => void out.push(p.answer ? '200+their-answer' : p.offer ? '200+our-answer' : '200'),
      },
    }),
    { input: { role: 'uas', t1: 500, firstRSeq: FIRST, inviteCSeq: CSEQ, delayedOffer } },
  ).start();
  for (const ev of events) actor.send(ev);
  actor.stop();
  return out;
}

function randomEvents(rnd: (k: number) => number): SipReliableProvisionalEvent[] {
  const events: SipReliableProvisionalEvent[] = [];
  for (let j = 0, len = 1 + rnd(12); j < len; j++) {
    const k = rnd(10);
    if (k < 3) events.push({ type: 'PROVISIONAL', status: rnd(2) ? 180 : 183 });
    else if (k < 8) {
      // Mostly a RAck naming one of the first RSeqs; sometimes another CSeq.
      const ev: SipReliableProvisionalEvent = { type: 'PRACK', rseq: FIRST + rnd(3), cseq: rnd(8) ? CSEQ : CSEQ + 1, method: 'INVITE' };
      events.push(rnd(2) ? { ...ev, sdp: true } : ev);
    } else if (k < 9) events.push({ type: 'ANSWER' });
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
  test('1000 seeded random sequences: every PRACK’s outcome agrees with the reference', () => {
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
    assert.deepEqual(actual(sipReliableProvisionalMachine, events, false), ['500', '200', '200+our-answer', '481']);
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
