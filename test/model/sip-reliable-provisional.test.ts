// Model-based tests of the reliable provisional machine (RFC 3262): generated paths drive the real
// actor through its real (simulated) retransmission timer; an independent oracle written from §3
// checks every reachable state × event of the UAS side, and a reference implementation of §4
// checks the UAC side over random sequences; planted bugs are caught. The retransmission schedule
// is checked on a SimulatedClock against the RFC's arithmetic.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { assign, createActor, createMachine, SimulatedClock, type EventObject } from 'xstate';
import { sipReliableProvisionalMachine, type SipReliableProvisionalEvent } from '../../machines/sipReliableProvisional.machine.js';
import { runModel } from '../helpers/model.js';

const T1 = 500;
const uasInput = { role: 'uas' as const, t1: T1, firstRSeq: 100, inviteCSeq: 7 };

const uasEvents: SipReliableProvisionalEvent[] = [
  { type: 'PROVISIONAL', status: 180 },
  { type: 'PROVISIONAL', status: 183 },
  { type: 'PRACK', rseq: 100, cseq: 7, method: 'INVITE' },
  { type: 'PRACK', rseq: 101, cseq: 7, method: 'INVITE' },
  { type: 'PRACK', rseq: 100, cseq: 8, method: 'INVITE' },
  { type: 'PRACK', rseq: 100, cseq: 7, method: 'UPDATE' },
  { type: 'ANSWER' },
  { type: 'FINAL' },
  { type: 'UPDATE.OFFER' },
];

type Ctx = { pending?: { status: number; rseq: number }; queued?: number; elapsed: number; interval: number };
const UNACKED = (answer: 'none' | 'held') => `uas.unacked.(retransmit.waiting,answer.${answer})`;

/**
 * §3 as rules, apart from the machine: one reliable provisional outstanding; the PRACK that names
 * it (RSeq, the INVITE's CSeq, INVITE) frees the next one, or the held 2xx; the 2xx waits for it;
 * a non-2xx final ends it; the retransmissions stop at 64*T1, rejecting the INVITE.
 */
function uasOracle(from: string, ev: EventObject, snap: { context: Ctx }): string | undefined {
  const c = snap.context;
  if (from === 'uas.done' || from === 'uas.failed') return undefined;
  if (from === 'uas.idle') {
    if (ev.type === 'PROVISIONAL') return UNACKED('none');
    if (ev.type === 'ANSWER' || ev.type === 'FINAL') return 'uas.done';
    return undefined;
  }
  const held = from === UNACKED('held');
  if (ev.type === 'FINAL') return 'uas.done';
  if (ev.type === 'ANSWER') return UNACKED('held');
  if (ev.type === 'PRACK') {
    const p = ev as unknown as { rseq: number; cseq: number; method: string };
    const matches = p.rseq === c.pending?.rseq && p.cseq === 7 && p.method === 'INVITE';
    if (!matches) return undefined;
    if (held) return 'uas.done';
    return c.queued !== undefined ? UNACKED('none') : 'uas.idle';
  }
  if (ev.type.startsWith('xstate.after.')) {
    // The budget is 64*T1 from the first send, whatever the doubling would say.
    const wait = Math.min(c.interval, 64 * T1 - c.elapsed);
    return c.elapsed + wait >= 64 * T1 ? 'uas.failed' : undefined;
  }
  return undefined;
}

type WireEntry = { type: string; params?: Record<string, unknown> };

/**
 * The machine with every UAS action logged into `wire` (type and params, in order); `delays`
 * replaces the retransmission schedule where a traversal wants a constant one.
 */
function loggedUas(machine: typeof sipReliableProvisionalMachine, delays?: { retransmit: number }) {
  const wire: WireEntry[] = [];
  const log = (type: string) => (_: unknown, params?: unknown) => void wire.push({ type, params: params as Record<string, unknown> });
  const m = machine.provide({
    actions: {
      sendProvisional: log('sendProvisional'),
      retransmit: log('retransmit'),
      acceptPrack: log('acceptPrack'),
      rejectPrack: log('rejectPrack'),
      sendAnswer: log('sendAnswer'),
      giveUp: log('giveUp'),
      answerUpdate: log('answerUpdate'),
      refuseUpdate: log('refuseUpdate'),
    },
    ...(delays ? { delays } : {}),
  });
  return { m, wire };
}

function runUas(machine: typeof sipReliableProvisionalMachine, input: typeof uasInput & { delayedOffer?: boolean } = uasInput) {
  // The actions and (as `event:<type>`) the events the actor received, in order. A constant delay
  // for the traversal (the schedule's arithmetic is in the context; timed below).
  const { m, wire } = loggedUas(machine, { retransmit: T1 });
  return runModel({
    machine: m,
    input,
    events: uasEvents as EventObject[],
    oracle: uasOracle as never,
    makeActor: (clock) => {
      wire.length = 0;
      return createActor(m, {
        input,
        clock,
        inspect: (e) => {
          if (e.type === '@xstate.event' && e.event.type === 'UPDATE.OFFER') wire.push({ type: `event:${e.event.type}` });
          if (e.type === '@xstate.event' && e.event.type === 'FINAL') wire.push({ type: 'event:FINAL' });
        },
      });
    },
    states: {
      'uas.idle': (s) => {
        assert.equal(s.context.pending, undefined);
        assert.ok(!wire.some((w) => w.type === 'sendAnswer'), 'no 2xx yet');
      },
      'uas.unacked': (s) => {
        const sent = wire.filter((w) => w.type === 'sendProvisional');
        assert.deepEqual(sent.at(-1)!.params, s.context.pending, 'the outstanding 18x went with its RSeq');
        // RFC 3261 §13.3.1: an INVITE without an offer gets ours in the first reliable 18x, and only there.
        sent.forEach((w, i) => assert.equal(w.params!.offer, input.delayedOffer === true && i === 0, `offer in 18x #${i + 1}`));
        // RFC 3262 §5 / RFC 3264: an INVITE with an offer gets our answer in the first reliable 183
        // (early media), and in no other 18x (a 180 never; a later 183 need not repeat it).
        const first183 = sent.findIndex((w) => w.params!.status === 183);
        sent.forEach((w, i) => assert.equal(w.params!.answer, input.delayedOffer !== true && i === first183, `answer in 18x #${i + 1}`));
        // RSeqs go up by one, from the first (§3).
        sent.forEach((w, i) => assert.equal(w.params!.rseq, 100 + i));
        const answered = wire.filter((w) => w.type === 'sendAnswer').length;
        assert.equal(answered, 0, 'the 2xx waits for the PRACK');
      },
      'uas.done': () => {
        const answers = wire.filter((w) => w.type === 'sendAnswer');
        assert.ok(answers.length <= 1, 'one 2xx at most');
        // The 2xx carries SDP unless our offer went in a reliable 18x (an answer in a 183 is repeated).
        const offered = input.delayedOffer === true && wire.some((w) => w.type === 'sendProvisional');
        if (answers.length) assert.equal(answers[0]!.params!.sdp, !offered);
      },
      'uas.failed': () => assert.ok(wire.some((w) => w.type === 'giveUp')),
    },
    afterPath: (events) => {
      // Every PRACK got exactly one answer: 200 or 481.
      const pracks = events.filter((e) => e.type === 'PRACK').length;
      assert.equal(wire.filter((w) => w.type === 'acceptPrack' || w.type === 'rejectPrack').length, pracks);
      // Only the PRACK of the 18x that carried our offer carries the answer.
      const accepted = wire.filter((w) => w.type === 'acceptPrack');
      accepted.forEach((w, i) => assert.equal(w.params!.answer, input.delayedOffer === true && i === 0));
      updateOracle(wire);
    },
  });
}

/**
 * RFC 3311 §5.2 for an UPDATE offer in the early dialog, from what went on the wire before it: our
 * offer sent (in an 18x) and not yet answered (its PRACK) → 491; no answer sent to the INVITE's
 * offer and no offer/answer of ours done → 500 (with Retry-After); else answered in its 200. Once
 * the INVITE has its final response (2xx, 5xx for no PRACK, FINAL) the machine leaves it alone.
 */
function updateOracle(wire: Array<{ type: string; params?: Record<string, unknown> }>): void {
  let offerOut = false;
  let answered = false;
  let over = false;
  wire.forEach((w, i) => {
    if (w.type === 'sendProvisional' && w.params!.offer) offerOut = true;
    if (w.type === 'sendProvisional' && w.params!.answer) answered = true;
    if (w.type === 'acceptPrack' && w.params!.answer) [offerOut, answered] = [false, true];
    if (w.type === 'sendAnswer' || w.type === 'giveUp' || w.type === 'event:FINAL') over = true;
    if (w.type !== 'event:UPDATE.OFFER') return;
    const next = wire[i + 1];
    const got = next?.type === 'answerUpdate' ? 200 : next?.type === 'refuseUpdate' ? next.params!.status : undefined;
    const want = over ? undefined : offerOut ? 491 : answered ? 200 : 500;
    assert.equal(got, want, `UPDATE offer #${wire.slice(0, i + 1).filter((x) => x.type === w.type).length}: RFC 3311 §5.2 wants ${String(want)}`);
  });
}

test('reliable provisionals (UAS): generated paths drive the real actor; an RFC 3262 §3 oracle checks every transition', async () => {
  const r = await runUas(sipReliableProvisionalMachine);
  for (const s of ['uas.idle', 'uas.unacked', 'uas.done', 'uas.failed']) assert.ok(r.statesCovered.has(s), `state ${s} never reached`);
});

test('reliable provisionals (UAS), INVITE without an offer: ours in the first reliable 18x, the answer in its PRACK, no SDP in the 2xx', async () => {
  await runUas(sipReliableProvisionalMachine, { ...uasInput, delayedOffer: true });
});

test('reliable provisionals (UAS): the model tests catch a planted bug (the offer goes in every reliable 18x)', async () => {
  const buggy = createMachine(sipReliableProvisionalMachine.config, {
    ...sipReliableProvisionalMachine.implementations,
    actions: {
      ...sipReliableProvisionalMachine.implementations.actions,
      setPending: assign(({ context }, p: { status: number }) => ({
        pending: { status: p.status, rseq: context.nextRSeq, offer: context.delayedOffer, answer: false },
        nextRSeq: context.nextRSeq + 1,
        offered: context.delayedOffer,
      })),
    },
  } as never) as unknown as typeof sipReliableProvisionalMachine;
  await assert.rejects(runUas(buggy, { ...uasInput, delayedOffer: true }), /offer in 18x #\d/);
});

/**
 * RFC 3262 §5 / RFC 3264 §5 with RFC 3261 §13.2.1, by hand: an INVITE with an offer rings (180,
 * no SDP), asks for early media (183 with our answer), is answered while that 183 awaits its PRACK,
 * and its 2xx goes after the PRACK with the same answer (SDP); the PRACK carries no answer.
 */
function earlyMediaScenario(machine: typeof sipReliableProvisionalMachine): void {
  const wire: string[] = [];
  const m = machine.provide({
    actions: {
      sendProvisional: (_, p) => void wire.push(`${p.status} rseq ${p.rseq}${p.answer ? ' +answer' : ''}${p.offer ? ' +offer' : ''}`),
      acceptPrack: (_, p) => void wire.push(`200 PRACK${p.answer ? ' (answer)' : ''}`),
      sendAnswer: (_, p) => void wire.push(`2xx${p.sdp ? ' +sdp' : ''}`),
    },
  });
  const a = createActor(m, { input: uasInput }).start();
  a.send({ type: 'PROVISIONAL', status: 180 });
  a.send({ type: 'PRACK', rseq: 100, cseq: 7, method: 'INVITE' });
  a.send({ type: 'PROVISIONAL', status: 183 });
  assert.equal(a.getSnapshot().context.earlyAnswer, true, 'the answer went (early media)');
  a.send({ type: 'ANSWER' });
  a.send({ type: 'PRACK', rseq: 101, cseq: 7, method: 'INVITE' });
  assert.deepEqual(wire, ['180 rseq 100', '200 PRACK', '183 rseq 101 +answer', '200 PRACK', '2xx +sdp'], 'the 2xx repeats the answer the 183 carried');
}

test('reliable provisionals (UAS), INVITE with an offer: our answer in the first reliable 183, the 2xx repeats it', () => {
  earlyMediaScenario(sipReliableProvisionalMachine);
});

test('reliable provisionals (UAS): the model tests catch a planted bug (the answer goes in the 180 too)', async () => {
  const buggy = createMachine(sipReliableProvisionalMachine.config, {
    ...sipReliableProvisionalMachine.implementations,
    actions: {
      ...sipReliableProvisionalMachine.implementations.actions,
      setPending: assign(({ context }, p: { status: number }) => {
        const answer = !context.delayedOffer && !context.earlyAnswer;
        return { pending: { status: p.status, rseq: context.nextRSeq, offer: false, answer }, nextRSeq: context.nextRSeq + 1, earlyAnswer: context.earlyAnswer || answer };
      }),
    },
  } as never) as unknown as typeof sipReliableProvisionalMachine;
  await assert.rejects(runUas(buggy), /answer in 18x #\d/);
});

test('reliable provisionals (UAS): the model tests catch a planted bug (the 2xx drops the answer a 183 carried)', () => {
  const buggy = createMachine(sipReliableProvisionalMachine.config, {
    ...sipReliableProvisionalMachine.implementations,
    actions: {
      ...sipReliableProvisionalMachine.implementations.actions,
      setPending: assign(({ context }, p: { status: number }) => {
        const answer = !context.delayedOffer && !context.earlyAnswer && p.status === 183;
        // Bug: the answer in the 183 is booked as an offer, so the 2xx would go without SDP.
        return { pending: { status: p.status, rseq: context.nextRSeq, offer: false, answer }, nextRSeq: context.nextRSeq + 1, earlyAnswer: context.earlyAnswer || answer, offered: context.offered || answer };
      }),
    },
  } as never) as unknown as typeof sipReliableProvisionalMachine;
  // (The generated paths reach that 'done' by a FINAL after the 183, the same context: the scenario sees the 2xx.)
  assert.throws(() => earlyMediaScenario(buggy), /2xx/);
});

test('reliable provisionals (UAS): the model tests catch a planted bug (the 2xx does not wait for the PRACK)', async () => {
  const cfg = sipReliableProvisionalMachine.config;
  const uas = cfg.states!.uas!;
  const unacked = uas.states!.unacked!;
  const answer = unacked.states!.answer!;
  const buggy = createMachine(
    {
      ...cfg,
      states: {
        ...cfg.states,
        uas: {
          ...uas,
          states: {
            ...uas.states,
            unacked: {
              ...unacked,
              states: { ...unacked.states, answer: { ...answer, states: { ...answer.states, none: { on: { ANSWER: { target: '#sipReliableProvisional.uas.done', actions: { type: 'sendAnswer', params: { sdp: true } } } } } } } },
            },
          },
        },
      },
    } as typeof cfg,
    sipReliableProvisionalMachine.implementations as never,
  ) as unknown as typeof sipReliableProvisionalMachine;
  await assert.rejects(runUas(buggy), /expected uas\.unacked\.\(retransmit\.waiting,answer\.held\), machine went to uas\.done|the 2xx waits/);
});

/**
 * RFC 3311 §5.2 and RFC 3262 §5 by hand, with the oracle above checking the replies: an UPDATE
 * offer before the 183's answer is 500; after it, its 200 carries our answer (before and after the
 * PRACK, while the 2xx is held); with no offer in the INVITE, 491 while ours awaits its PRACK.
 */
function earlyUpdateScenario(machine: typeof sipReliableProvisionalMachine, delayedOffer: boolean): string[] {
  const { m, wire } = loggedUas(machine);
  const a = createActor(m, { input: { ...uasInput, delayedOffer } }).start();
  const update = () => {
    wire.push({ type: 'event:UPDATE.OFFER' });
    a.send({ type: 'UPDATE.OFFER' });
  };
  update(); // no early dialog yet, nothing answered
  a.send({ type: 'PROVISIONAL', status: 180 });
  update(); // a 180 answers nothing; with a delayed offer ours is in it
  a.send({ type: 'PRACK', rseq: 100, cseq: 7, method: 'INVITE' });
  update(); // the PRACK answered our offer (delayed offer); else the INVITE's offer is still open
  a.send({ type: 'PROVISIONAL', status: 183 });
  update(); // our answer went in the 183
  a.send({ type: 'ANSWER' });
  update(); // the 2xx is held for the PRACK
  a.send({ type: 'PRACK', rseq: 101, cseq: 7, method: 'INVITE' });
  update(); // the 2xx went: the confirmed dialog's, not this machine's
  updateOracle(wire);
  return wire.filter((w) => w.type === 'answerUpdate' || w.type === 'refuseUpdate').map((w) => (w.type === 'answerUpdate' ? '200' : String(w.params!.status)));
}

test('reliable provisionals (UAS): an UPDATE offer in the early dialog (RFC 3311 §5.2): 500 before our answer, 200 after it, 491 while our offer is out', () => {
  assert.deepEqual(earlyUpdateScenario(sipReliableProvisionalMachine, false), ['500', '500', '500', '200', '200']);
  assert.deepEqual(earlyUpdateScenario(sipReliableProvisionalMachine, true), ['500', '491', '200', '200', '200']);
});

/**
 * The generated paths leave out events that change nothing (an UPDATE's reply is one), so the §5.2
 * oracle also runs over seeded random sequences of every UAS event, timeouts included, on the real actor.
 */
function randomUpdates(machine: typeof sipReliableProvisionalMachine, delayedOffer: boolean, n = 400): void {
  let seed = 16;
  const rnd = (k: number) => ((seed = (seed * 1103515245 + 12345) % 2 ** 31), Math.floor(seed / 65536) % k); // (the high bits: the low ones cycle)
  for (let i = 0; i < n; i++) {
    const { m, wire } = loggedUas(machine);
    const clock = new SimulatedClock();
    const a = createActor(m, { input: { ...uasInput, delayedOffer }, clock }).start();
    for (let j = 0, len = 1 + rnd(10); j < len; j++) {
      const k = rnd(uasEvents.length + 1);
      if (k === uasEvents.length) {
        clock.increment(64 * T1); // every retransmission and the 64*T1 budget
        continue;
      }
      const ev = uasEvents[k]!;
      if (ev.type === 'UPDATE.OFFER' || ev.type === 'FINAL') wire.push({ type: `event:${ev.type}` });
      a.send(ev);
    }
    updateOracle(wire);
  }
}

test('reliable provisionals (UAS): UPDATE offers in the early dialog over 800 random event sequences (RFC 3311 §5.2 oracle)', () => {
  randomUpdates(sipReliableProvisionalMachine, false);
  randomUpdates(sipReliableProvisionalMachine, true);
});

for (const [bug, guards] of [
  ['an UPDATE offer answered before the INVITE offer has its answer', { offerAnswerOpen: () => false }],
  ['an UPDATE offer answered while our offer awaits its PRACK', { ourOfferOut: () => false }],
] as const) {
  test(`reliable provisionals (UAS): the model tests catch a planted bug (${bug})`, async () => {
    const buggy = createMachine(sipReliableProvisionalMachine.config, {
      ...sipReliableProvisionalMachine.implementations,
      guards: { ...sipReliableProvisionalMachine.implementations.guards, ...guards },
    } as never) as unknown as typeof sipReliableProvisionalMachine;
    // The random sequences and the scenario each see it.
    const delayed = 'ourOfferOut' in guards;
    assert.throws(() => randomUpdates(buggy, delayed), /RFC 3311 §5\.2 wants/);
    assert.throws(() => earlyUpdateScenario(buggy, delayed), /RFC 3311 §5\.2 wants/);
  });
}

test('reliable provisionals (UAS): retransmitted at T1, 3T1, 7T1 … 63T1; the INVITE rejected at 64*T1', () => {
  const clock = new SimulatedClock();
  const wire: string[] = [];
  const m = sipReliableProvisionalMachine.provide({
    actions: {
      sendProvisional: (_, p) => void wire.push(`send ${p.status} ${p.rseq} @${clock.now()}`),
      retransmit: (_, p) => void wire.push(`again ${p.rseq} @${clock.now()}`),
      giveUp: () => void wire.push(`5xx @${clock.now()}`),
      sendAnswer: () => void wire.push('2xx'),
    },
  });
  const a = createActor(m, { input: uasInput, clock }).start();
  a.send({ type: 'PROVISIONAL', status: 180 });
  a.send({ type: 'ANSWER' });
  for (let t = 0; t < 70 * T1; t += T1 / 2) clock.increment(T1 / 2);
  const expected = ['send 180 100 @0', ...[1, 3, 7, 15, 31, 63].map((k) => `again 100 @${k * T1}`), `5xx @${64 * T1}`];
  assert.deepEqual(wire, expected);
  assert.ok(a.getSnapshot().matches({ uas: 'failed' }));
});

test('reliable provisionals (UAS): a PRACK stops the retransmissions and frees the queued 183; the 2xx waits for its PRACK', () => {
  const clock = new SimulatedClock();
  const wire: string[] = [];
  const m = sipReliableProvisionalMachine.provide({
    actions: {
      sendProvisional: (_, p) => void wire.push(`send ${p.status} ${p.rseq}`),
      retransmit: (_, p) => void wire.push(`again ${p.rseq}`),
      acceptPrack: () => void wire.push('200 PRACK'),
      rejectPrack: () => void wire.push('481 PRACK'),
      sendAnswer: () => void wire.push('2xx'),
    },
  });
  const a = createActor(m, { input: uasInput, clock }).start();
  a.send({ type: 'PROVISIONAL', status: 180 });
  clock.increment(T1);
  a.send({ type: 'PROVISIONAL', status: 183 });
  a.send({ type: 'PRACK', rseq: 101, cseq: 7, method: 'INVITE' }); // names nothing outstanding
  a.send({ type: 'PRACK', rseq: 100, cseq: 7, method: 'INVITE' });
  a.send({ type: 'ANSWER' });
  clock.increment(T1);
  a.send({ type: 'PRACK', rseq: 101, cseq: 7, method: 'INVITE' });
  clock.increment(100 * T1);
  a.send({ type: 'PRACK', rseq: 101, cseq: 7, method: 'INVITE' }); // a late one: nothing outstanding
  assert.deepEqual(wire, ['send 180 100', 'again 100', '481 PRACK', '200 PRACK', 'send 183 101', 'again 101', '200 PRACK', '2xx', '481 PRACK']);
  // Answered while a provisional is outstanding and another queued: the 2xx follows the PRACK, the queued 18x is moot.
  wire.length = 0;
  const b = createActor(m, { input: uasInput, clock }).start();
  b.send({ type: 'PROVISIONAL', status: 180 });
  b.send({ type: 'PROVISIONAL', status: 183 });
  b.send({ type: 'ANSWER' });
  b.send({ type: 'PRACK', rseq: 100, cseq: 7, method: 'INVITE' });
  assert.deepEqual(wire, ['send 180 100', '200 PRACK', '2xx']);
});

// ---- UAC (§4) -------------------------------------------------------------------------------

/** §4, apart from the machine: PRACK the first of a dialog and then only the next RSeq. */
function uacReference(events: Array<{ tag: string; rseq: number }>): string[] {
  const last = new Map<string, number>();
  const out: string[] = [];
  for (const e of events) {
    const l = last.get(e.tag);
    if (l !== undefined && e.rseq !== l + 1) continue;
    last.set(e.tag, e.rseq);
    out.push(`${e.tag}:${e.rseq}`);
  }
  return out;
}

function driveUac(machine: typeof sipReliableProvisionalMachine, events: Array<{ tag: string; rseq: number }>): string[] {
  const pracks: string[] = [];
  const m = machine.provide({ actions: { sendPrack: (_, p) => void pracks.push(`${p.tag}:${p.rseq}`) } });
  const a = createActor(m, { input: { role: 'uac', t1: T1 } }).start();
  for (const e of events) a.send({ type: 'RELIABLE', tag: e.tag, rseq: e.rseq, cseq: 1, status: 183 });
  return pracks;
}

function randomSequences(n: number): Array<Array<{ tag: string; rseq: number }>> {
  let seed = 42;
  const rnd = (k: number) => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff), seed % k);
  return Array.from({ length: n }, () => Array.from({ length: 1 + rnd(8) }, () => ({ tag: rnd(3) === 0 ? 'b' : 'a', rseq: 20 + rnd(5) })));
}

test('reliable provisionals (UAC): PRACKed in order only, per early dialog (against a §4 reference, 500 random sequences)', () => {
  for (const seq of randomSequences(500)) assert.deepEqual(driveUac(sipReliableProvisionalMachine, seq), uacReference(seq), JSON.stringify(seq));
  // The cases by name: a retransmission and a gap are not PRACKed; the next one is.
  assert.deepEqual(driveUac(sipReliableProvisionalMachine, [{ tag: 'a', rseq: 5 }, { tag: 'a', rseq: 5 }, { tag: 'a', rseq: 7 }, { tag: 'a', rseq: 6 }]), ['a:5', 'a:6']);
});

test('reliable provisionals (UAC): the tests catch a planted bug (a retransmission PRACKed again)', () => {
  const buggy = sipReliableProvisionalMachine.provide({
    guards: { inOrder: ({ context, event }) => event.type === 'RELIABLE' && (context.acked[event.tag] === undefined || event.rseq >= context.acked[event.tag]!) },
  });
  assert.throws(() => {
    for (const seq of randomSequences(500)) assert.deepEqual(driveUac(buggy, seq), uacReference(seq));
  }, assert.AssertionError);
});
