// The caller's early offer/answer in the reliable provisional machine
// (machines/sipReliableProvisional.machine.ts, UAC): per early dialog, done once the reliable 18x
// that carried the answer to our offer was PRACKed and that PRACK got a 2xx; only then may an
// UPDATE with a new offer of ours go in that dialog (RFC 3311 §5.1, call.update() while ringing),
// and only then is the callee's UPDATE offer in that dialog answered (§5.2: before, 500 with
// Retry-After; while our own offer is out, 491).
//
// A reference written from that rule runs beside the real actor over seeded random sequences of
// reliable 18x (in order or not, with or without the answer, two forked dialogs) and PRACK final
// responses, and the callee's UPDATE offers; `earlyOfferAnswer` and each UPDATE's verdict must agree
// after every step. Planted bugs (any PRACK's 2xx counts, not only the one of the 18x with the
// answer; an UPDATE answered once the answer came, before its PRACK's 2xx; no glare) show the
// comparison catches them.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createActor } from 'xstate';
import { sipReliableProvisionalMachine, type SipReliableProvisionalEvent } from '../../machines/sipReliableProvisional.machine.js';

type Early = Record<string, { rseq: number; done: boolean }>;

/** The rule as plain code: the early offer/answer after each event, and each UPDATE's verdict. */
function reference(events: SipReliableProvisionalEvent[]): Array<{ early: Early; verdict?: string }> {
  const acked: Record<string, number> = {};
  const early: Early = {};
  const out: Array<{ early: Early; verdict?: string }> = [];
  for (const ev of events) {
    if (ev.type === 'UPDATE.OFFER') {
      const verdict = ev.localOffer ? '491' : early[ev.tag!]?.done ? `answer ${ev.tag}` : '500';
      out.push({ early: structuredClone(early), verdict });
      continue;
    }
    if (ev.type === 'RELIABLE') {
      const last = acked[ev.tag];
      if (last === undefined || ev.rseq === last + 1) {
        acked[ev.tag] = ev.rseq; // PRACKed
        if (ev.answer) early[ev.tag] = { rseq: ev.rseq, done: false };
      }
    } else if (ev.type === 'PRACK.ANSWERED' && ev.status >= 200 && ev.status < 300 && early[ev.tag]?.rseq === ev.rseq) {
      early[ev.tag] = { rseq: ev.rseq, done: true };
    }
    out.push({ early: structuredClone(early) });
  }
  return out;
}

function runs(machine = sipReliableProvisionalMachine, n = 1000): void {
  let seed = 3262;
  const rnd = (k: number) => ((seed = (seed * 1103515245 + 12345) % 2 ** 31), Math.floor(seed / 65536) % k);
  for (let run = 0; run < n; run++) {
    const events: SipReliableProvisionalEvent[] = [];
    for (let j = 0, len = 1 + rnd(10); j < len; j++) {
      const tag = rnd(2) ? 'a' : 'b';
      const rseq = 1 + rnd(3);
      const k = rnd(5);
      events.push(
        k < 2
          ? { type: 'RELIABLE', tag, rseq, cseq: 1, status: 183, ...(rnd(2) ? { answer: true } : {}) }
          : k < 4
            ? { type: 'PRACK.ANSWERED', tag, rseq, status: rnd(3) ? 200 : 481 }
            : { type: 'UPDATE.OFFER', tag, ...(rnd(4) ? {} : { localOffer: true }) },
      );
    }
    let verdict: string | undefined;
    const actor = createActor(
      machine.provide({
        actions: {
          sendPrack: () => {},
          answerBranchUpdate: (_, p) => void (verdict = `answer ${p.tag}`),
          refuseUpdate: (_, p) => void (verdict = String(p.status)),
        },
      }),
      { input: { role: 'uac', t1: 500 } },
    ).start();
    const want = reference(events);
    events.forEach((ev, i) => {
      verdict = undefined;
      actor.send(ev);
      const got = { early: actor.getSnapshot().context.earlyOfferAnswer, ...(verdict !== undefined ? { verdict } : {}) };
      assert.deepEqual(got, want[i], `after ${JSON.stringify(events.slice(0, i + 1))}`);
    });
    actor.stop();
  }
}

describe('sipReliableProvisional machine (UAC): the early offer/answer an UPDATE offer waits for', () => {
  test('1000 seeded random sequences agree with the reference after every step', () => {
    runs();
  });

  test('the comparison catches a planted bug (a later 18x’s PRACK 2xx taken for the answer’s)', () => {
    const buggy = sipReliableProvisionalMachine.provide({
      guards: { answerPracked: ({ context, event }) => event.type === 'PRACK.ANSWERED' && event.status < 300 && context.earlyOfferAnswer[event.tag] !== undefined },
    });
    assert.throws(() => runs(buggy, 300), /after/);
  });

  test('the comparison catches a planted bug (the callee’s UPDATE offer answered once the answer came, before its PRACK’s 2xx)', () => {
    const buggy = sipReliableProvisionalMachine.provide({
      guards: { branchOfferAnswerDone: ({ context, event }) => event.type === 'UPDATE.OFFER' && context.earlyOfferAnswer[event.tag!] !== undefined },
    });
    assert.throws(() => runs(buggy, 300), /after/);
  });

  test('the comparison catches a planted bug (the callee’s UPDATE offer answered while ours is out: no glare)', () => {
    const buggy = sipReliableProvisionalMachine.provide({ guards: { localOfferOut: () => false } });
    assert.throws(() => runs(buggy, 300), /after/);
  });

  test('named path: answer in 183 (RSeq 1), PRACK 481 → not done; a retransmitted 183 changes nothing; PRACK 200 → done', () => {
    const actor = createActor(sipReliableProvisionalMachine, { input: { role: 'uac', t1: 500 } }).start();
    actor.send({ type: 'RELIABLE', tag: 'a', rseq: 1, cseq: 1, status: 183, answer: true });
    actor.send({ type: 'PRACK.ANSWERED', tag: 'a', rseq: 1, status: 481 });
    assert.deepEqual(actor.getSnapshot().context.earlyOfferAnswer, { a: { rseq: 1, done: false } });
    actor.send({ type: 'RELIABLE', tag: 'a', rseq: 1, cseq: 1, status: 183, answer: true });
    actor.send({ type: 'PRACK.ANSWERED', tag: 'b', rseq: 1, status: 200 });
    actor.send({ type: 'PRACK.ANSWERED', tag: 'a', rseq: 1, status: 200 });
    assert.deepEqual(actor.getSnapshot().context.earlyOfferAnswer, { a: { rseq: 1, done: true } });
  });
});
