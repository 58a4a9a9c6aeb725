// Model-based tests for the branches of a forked outbound INVITE (machines/sipInviteForks.machine.ts).
// Paths come from the machine (test/helpers/model.ts) and every state reached is checked against a
// state oracle; then every sequence of up to five responses (and random longer ones) is run on a
// real actor and its effects compared with a second oracle, written from RFC 3261 §13.2.2.4 as plain
// code with no reference to the machine: the first 2xx is confirmed, the winner's retransmissions
// ACKed again, every other 2xx ACKed and sent one BYE, early dialogs dropped by the final response.
// Early media (RFC 3960 §3, RFC 3261 §13.2.1) has its own alphabet of 18x with and without an
// answer, 2xx with and without SDP and early dialogs ending: media goes to the answer of the branch
// the call followed last among those that answered; the winner's 2xx takes it to its early dialog's
// answer, else to its own SDP (§13.2.1: the first answer in a dialog is the one); a 2xx with
// neither makes no call (`abandon`: ACKed, sent a BYE, the call fails). An offer/answer completed
// later in an early dialog (our early UPDATE's 200, or the callee's UPDATE offer with our answer,
// which media then takes along) makes that its answer: media there follows it at once, media
// coming back there later goes to it. A branch whose answer we refuse (RFC 3261 §15) gets a BYE in
// its early dialog and is gone: its 1xx are then no news, its 2xx a late one's (ACK, BYE); once no
// branch rings, the INVITE's final response (a non-2xx, or that 2xx) fails the call for the refusal.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { assign, createActor, createMachine, enqueueActions, type EventObject } from 'xstate';
import { runModel } from '../helpers/model.js';
import { Rng } from '../helpers/prng.js';
import { sipInviteForksMachine, type SipInviteForksContext, type SipInviteForksEvent } from '../../machines/sipInviteForks.machine.js';

// (Each 2xx with SDP: one without an answer anywhere makes no call, the media alphabet's concern.)
const alphabet: SipInviteForksEvent[] = [
  { type: 'PROVISIONAL', tag: 'A' },
  { type: 'PROVISIONAL', tag: 'B' },
  { type: 'ANSWER', tag: 'A', answer: 'a' },
  { type: 'ANSWER', tag: 'B', answer: 'b' },
  { type: 'ANSWER', tag: 'C', answer: 'c' },
  { type: 'REFUSED', tag: 'A', reason: 'ra' },
  { type: 'REFUSED', tag: 'B', reason: 'rb' },
  { type: 'FAILED', status: 487 },
  { type: 'REISSUED' },
];

/**
 * Early media: answers in reliable 18x (a2: a second SDP in A's dialog, no answer), 2xx with or
 * without SDP (b3 after B's early answer: none either), early dialogs ending, a new offer/answer
 * done in an early dialog (a4, b4; a6 the callee's offer, which our answer l6 answered).
 */
const mediaAlphabet: SipInviteForksEvent[] = [
  { type: 'PROVISIONAL', tag: 'A' },
  { type: 'PROVISIONAL', tag: 'A', answer: 'a1' },
  { type: 'PROVISIONAL', tag: 'A', answer: 'a2' },
  { type: 'PROVISIONAL', tag: 'B' },
  { type: 'PROVISIONAL', tag: 'B', answer: 'b1' },
  { type: 'ANSWER', tag: 'A' },
  { type: 'ANSWER', tag: 'A', answer: 'a3' },
  { type: 'ANSWER', tag: 'B' },
  { type: 'ANSWER', tag: 'B', answer: 'b3' },
  { type: 'ANSWER', tag: 'C' },
  { type: 'ANSWER', tag: 'C', answer: 'c1' },
  { type: 'EARLY_ENDED', tag: 'A' },
  { type: 'EARLY_ENDED', tag: 'B' },
  { type: 'EARLY_SESSION', tag: 'A', sdp: 'a4' },
  { type: 'EARLY_SESSION', tag: 'B', sdp: 'b4' },
  { type: 'EARLY_SESSION', tag: 'A', sdp: 'a6', local: 'l6' },
  { type: 'REFUSED', tag: 'B', reason: 'rb' },
  { type: 'FAILED', status: 487 },
  { type: 'REISSUED' },
];

/** Where each event leads (undefined: stay). */
function stateOracle(from: string, e: EventObject, snap: { context: SipInviteForksContext }): string | undefined {
  const ctx = snap.context;
  const ev = e as SipInviteForksEvent;
  if (from === 'calling' && ev.type === 'ANSWER') {
    // A refused branch's 2xx ends the INVITE only when no other branch rings (and only its first).
    if (!ctx.refused.some((r) => r.tag === ev.tag)) return 'answered';
    return ctx.early.length > 0 || ctx.late.includes(ev.tag) ? undefined : 'failed';
  }
  if (from === 'calling' && ev.type === 'FAILED') return 'failed';
  if (from === 'failed' && ev.type === 'REISSUED') return 'calling';
  return undefined;
}

/** The wire effects §13.2.2.4 asks for, as text, for a sequence of responses. */
function effectsOracle(events: SipInviteForksEvent[]): string[] {
  const out: string[] = [];
  let phase: 'calling' | 'answered' | 'failed' = 'calling';
  let early: string[] = [];
  let winner: string | undefined;
  // The winner confirmed as the call (not abandoned): its dialog's media.
  let live: string | undefined;
  const byed = new Set<string>();
  // Branches refused (BYE in their early dialog), with why; the latest refusal.
  let refused = new Map<string, string>();
  let lastRefusal: string | undefined;
  const refuseCall = (status?: number) => {
    if (early.length === 0 && lastRefusal !== undefined) out.push(`refuse-call ${lastRefusal}${status !== undefined ? ` ${status}` : ''}`);
  };
  // Early media: the branches newest-followed last, each early dialog's first answer, where media goes.
  let recent: string[] = [];
  let answers = new Map<string, string>();
  let media: string | undefined;
  const mediaToLatest = () => {
    const to = [...recent].reverse().find((t) => answers.has(t));
    if (to !== media && to !== undefined) out.push(`media ${to} ${answers.get(to)} branch`);
    media = to;
  };
  for (const ev of events) {
    if (ev.type === 'REISSUED') {
      if (phase === 'failed') {
        phase = 'calling';
        refused = new Map();
        lastRefusal = undefined;
      }
    } else if (ev.type === 'REFUSED') {
      // §15: only an early dialog that exists and has no answer yet (§13.2.1: the first is the one).
      if (phase !== 'calling' || !early.includes(ev.tag) || answers.has(ev.tag)) continue;
      out.push(`bye-early ${ev.tag}`);
      refused.set(ev.tag, ev.reason);
      lastRefusal = ev.reason;
      early = early.filter((t) => t !== ev.tag);
      recent = recent.filter((t) => t !== ev.tag);
    } else if (ev.type === 'FAILED') {
      if (phase !== 'calling') continue;
      if (early.length) out.push(`drop ${early.join(',')}`);
      refuseCall(ev.status);
      early = [];
      recent = [];
      answers = new Map();
      media = undefined;
      phase = 'failed';
    } else if (ev.type === 'EARLY_ENDED') {
      if (phase !== 'calling' || !early.includes(ev.tag)) continue;
      early = early.filter((t) => t !== ev.tag);
      recent = recent.filter((t) => t !== ev.tag);
      answers.delete(ev.tag);
      mediaToLatest();
    } else if (ev.type === 'EARLY_SESSION') {
      // The latest offer/answer of a dialog is its session: where media is, media follows it (the
      // same peer, a newer description); elsewhere it is what media comes back to. The callee's
      // offer goes with our answer to it, wherever media takes it.
      const session = ev.local !== undefined ? `${ev.sdp}/${ev.local}` : ev.sdp;
      if (phase === 'answered' && ev.tag === live) out.push(`media ${ev.tag} ${session} same`);
      if (phase !== 'calling' || !early.includes(ev.tag)) continue;
      answers.set(ev.tag, session);
      if (media === ev.tag) out.push(`media ${ev.tag} ${session} same`);
      else mediaToLatest();
    } else if (ev.type === 'PROVISIONAL') {
      if (phase !== 'calling' || refused.has(ev.tag)) continue;
      out.push(`early ${ev.tag} ${early.includes(ev.tag) ? 'again' : 'new'}`);
      if (!early.includes(ev.tag)) early.push(ev.tag);
      recent = [...recent.filter((t) => t !== ev.tag), ev.tag];
      if (ev.answer !== undefined && !answers.has(ev.tag)) answers.set(ev.tag, ev.answer);
      mediaToLatest();
    } else if (phase === 'calling' && refused.has(ev.tag)) {
      // A refused branch's 2xx: never the call. Its first is ACKed and sent a BYE, again only ACKed.
      out.push(`ack-late ${ev.tag}`);
      if (byed.has(ev.tag)) continue;
      out.push(`bye-late ${ev.tag}`);
      byed.add(ev.tag);
      if (early.length === 0) {
        refuseCall();
        phase = 'failed';
        recent = [];
        answers = new Map();
        media = undefined;
      }
    } else if (phase === 'calling') {
      winner = ev.tag;
      // §13.2.1: the answer its early dialog gave is the dialog's answer (the 2xx's SDP is then
      // ignored); else the 2xx's SDP; else there is none: the call cannot be made.
      const sdp = answers.get(ev.tag) ?? ev.answer;
      if (sdp === undefined) out.push(`abandon ${ev.tag}`);
      else {
        if (media !== ev.tag) out.push(`media ${ev.tag} ${sdp} branch`);
        // A session that was the callee's offer (offer/our answer) goes with the confirmation.
        const early = answers.get(ev.tag);
        out.push(`confirm ${ev.tag}${early?.includes('/') ? ` offer ${early.split('/')[0]}` : ''}`);
        live = ev.tag;
      }
      const losers = early.filter((t) => t !== ev.tag);
      if (losers.length) out.push(`drop ${losers.join(',')}`);
      early = [];
      recent = [];
      answers = new Map();
      phase = 'answered';
    } else if (phase === 'answered' && ev.tag === winner) {
      out.push(`ack ${ev.tag}`);
    } else {
      out.push(`ack-late ${ev.tag}`);
      if (!byed.has(ev.tag)) out.push(`bye-late ${ev.tag}`);
      byed.add(ev.tag);
    }
  }
  return out;
}

function run(machine: typeof sipInviteForksMachine, events: SipInviteForksEvent[]): string[] {
  const out: string[] = [];
  const actor = createActor(
    machine.provide({
      actions: {
        earlyDialog: (_, p) => out.push(`early ${p.tag} ${p.created ? 'new' : 'again'}`),
        confirm: (_, p) => out.push(`confirm ${p.tag}${p.peerOffer !== undefined ? ` offer ${p.peerOffer}` : ''}`),
        abandon: (_, p) => out.push(`abandon ${p.tag}`),
        mediaFollows: (_, p) => out.push(`media ${p.tag} ${p.sdp}${p.local !== undefined ? `/${p.local}` : ''} ${p.branch ? 'branch' : 'same'}`),
        dropEarly: (_, p) => out.push(`drop ${p.tags.join(',')}`),
        ackAgain: (_, p) => out.push(`ack ${p.tag}`),
        ackLate: (_, p) => out.push(`ack-late ${p.tag}`),
        byeLate: (_, p) => out.push(`bye-late ${p.tag}`),
        byeEarly: (_, p) => out.push(`bye-early ${p.tag}`),
        refuseCall: (_, p) => out.push(`refuse-call ${p.reason}${p.status !== undefined ? ` ${p.status}` : ''}`),
      },
    }),
  );
  actor.start();
  for (const e of events) actor.send(e);
  actor.stop();
  return out;
}

/** Every sequence up to `len` events, then `random` longer ones: the first disagreement, if any. */
function compare(machine: typeof sipInviteForksMachine, len: number, random: number, events = alphabet): string | undefined {
  const seqs: SipInviteForksEvent[][] = [[]];
  for (let i = 0; i < len; i++) for (const s of seqs.splice(0)) for (const e of events) seqs.push([...s, e]);
  const rnd = new Rng(16);
  for (let i = 0; i < random; i++) seqs.push(Array.from({ length: 6 + Math.floor(rnd.next() * 6) }, () => events[Math.floor(rnd.next() * events.length)]!));
  for (const seq of seqs) {
    const want = effectsOracle(seq);
    const got = run(machine, seq);
    if (JSON.stringify(want) !== JSON.stringify(got)) {
      const sdpOf = (e: SipInviteForksEvent) => ('answer' in e && e.answer ? `:${e.answer}` : 'sdp' in e ? `:${e.sdp}` : '');
      const label = seq.map((e) => ('tag' in e ? `${e.type}(${e.tag}${sdpOf(e)})` : e.type)).join(' → ');
      return `${label}: expected ${JSON.stringify(want)}, got ${JSON.stringify(got)}`;
    }
  }
  return undefined;
}

describe('sipInviteForks machine', () => {
  test('model paths against a state oracle', async () => {
    const r = await runModel({ machine: sipInviteForksMachine, events: alphabet, oracle: stateOracle, states: { answered: () => {}, failed: () => {} } });
    assert.ok(r.paths >= 3, `paths: ${r.paths}`);
  });

  test('every response sequence up to 5 (and 300 longer ones) has the effects RFC 3261 §13.2.2.4 asks for', () => {
    assert.equal(compare(sipInviteForksMachine, 5, 300), undefined);
  });

  test('the oracle catches a planted bug (a late 2xx of a new branch taken for a retransmission: no BYE)', () => {
    const cfg = sipInviteForksMachine.config;
    const answered = cfg.states!.answered!;
    const on = answered.on as { ANSWER: unknown[] };
    const buggy = createMachine(
      { ...cfg, states: { ...cfg.states, answered: { ...answered, on: { ...on, ANSWER: [on.ANSWER[0], { actions: { type: 'ackLate', params: ({ event }: { event: { tag: string } }) => ({ tag: event.tag }) } }] } } } } as typeof cfg,
      sipInviteForksMachine.implementations as never,
    ) as unknown as typeof sipInviteForksMachine;
    const miss = compare(buggy, 3, 0);
    assert.match(miss ?? '', /ANSWER\(A:a\) → ANSWER\(B:b\).*bye-late B/);
  });

  test('early media: every sequence up to 4 of the media alphabet (and 1500 longer ones) sends media where RFC 3960 §3 and §13.2.1 say', () => {
    assert.equal(compare(sipInviteForksMachine, 4, 1500, mediaAlphabet), undefined);
  });

  /** The machine with the media action of the winning 2xx's transition replaced by `media` (media then the winner's). */
  function winnerMedia(media: (a: { context: SipInviteForksContext; event: SipInviteForksEvent; enqueue: (a: unknown) => void }) => void) {
    const cfg = sipInviteForksMachine.config;
    const calling = cfg.states!.calling!;
    const on = calling.on as { ANSWER: Array<{ actions: unknown[] }> };
    // (The last two: a 2xx without an answer, and the winner's; refused branches' come first.)
    const refusedOnes = on.ANSWER.slice(0, -2);
    const [answerless, answered] = on.ANSWER.slice(-2) as [unknown, { actions: unknown[] }];
    // (Media is then the winner's, as in the machine: only where it is sent changes.)
    const actions = [answered.actions[0], enqueueActions(media as never), assign({ media: ({ event }: { event: { tag: string } }) => event.tag }), ...answered.actions.slice(2)];
    return createMachine(
      { ...cfg, states: { ...cfg.states, calling: { ...calling, on: { ...on, ANSWER: [...refusedOnes, answerless, { ...answered, actions }] } } } } as typeof cfg,
      sipInviteForksMachine.implementations as never,
    ) as unknown as typeof sipInviteForksMachine;
  }

  test('the media oracle catches a planted bug (a winning 2xx without SDP leaves media on the branch it was following)', () => {
    // Only a 2xx's own SDP moves media (when its branch gave no early answer): the winner's early answer is forgotten.
    const buggy = winnerMedia(({ context, event, enqueue }) => {
      const early = context.answers.some((a) => event.type === 'ANSWER' && a.tag === event.tag);
      if (event.type === 'ANSWER' && !early && event.answer !== undefined) enqueue({ type: 'mediaFollows', params: { tag: event.tag, sdp: event.answer, branch: true } });
    });
    const miss = compare(buggy, 3, 0, mediaAlphabet);
    assert.match(miss ?? '', /ANSWER\((A|B)\).*expected .*"media (A|B) (a1|b1) branch"/);
  });

  test('the media oracle catches a planted bug (the winner\'s 2xx SDP taken over its early dialog\'s answer, §13.2.1)', () => {
    const buggy = winnerMedia(({ context, event, enqueue }) => {
      if (event.type !== 'ANSWER') return;
      const branch = context.media !== event.tag;
      const sdp = event.answer ?? (branch ? context.answers.find((a) => a.tag === event.tag)?.sdp : undefined);
      if (sdp !== undefined) enqueue({ type: 'mediaFollows', params: { tag: event.tag, sdp, branch } });
    });
    const miss = compare(buggy, 3, 0, mediaAlphabet);
    assert.match(miss ?? '', /PROVISIONAL\((A|B):(a1|b1)\).*ANSWER\((A:a3|B:b3)\): expected .*got .*"media (A|B) (a3|b3)/);
  });

  test('the media oracle catches a planted bug (a 2xx with no answer in it or its early dialog confirmed as a call)', () => {
    const buggy = sipInviteForksMachine.provide({ guards: { noAnswer: () => false } });
    const miss = compare(buggy, 3, 0, mediaAlphabet);
    assert.match(miss ?? '', /ANSWER\((A|B|C)\): expected .*"abandon (A|B|C)".*got .*"confirm (A|B|C)"/);
  });

  test('the media oracle catches a planted bug (a branch\'s answer kept from its reliable 18x only, a later early offer/answer forgotten)', () => {
    const buggy = sipInviteForksMachine.provide({ actions: { setAnswer: () => {} } });
    const miss = compare(buggy, 4, 0, mediaAlphabet);
    assert.match(miss ?? '', /EARLY_SESSION\((A:a4|B:b4)\).*expected .*"media (A|B) (a4|b4) (same|branch)"/);
  });

  test('the media oracle catches a planted bug (the callee\'s offer kept as a branch\'s session without our answer to it)', () => {
    const buggy = sipInviteForksMachine.provide({
      actions: {
        setAnswer: assign(({ context }, p: { tag: string; sdp: string }) => ({ answers: [...context.answers.filter((a) => a.tag !== p.tag), { tag: p.tag, sdp: p.sdp }] })),
      },
    });
    const miss = compare(buggy, 4, 0, mediaAlphabet);
    assert.match(miss ?? '', /EARLY_SESSION\(A:a6\).*expected .*"media A a6\/l6 branch"/);
  });

  test('the oracle catches a planted bug (a refused branch\'s early dialog left ringing: no BYE)', () => {
    const buggy = sipInviteForksMachine.provide({ guards: { unanswered: () => false } });
    const miss = compare(buggy, 2, 0);
    assert.match(miss ?? '', /PROVISIONAL\((A|B)\) → REFUSED\((A|B)\): expected \["early (A|B) new","bye-early (A|B)"\]/);
  });

  test('the oracle catches a planted bug (a refused branch taken back: its 1xx a new early dialog, its 2xx the call)', () => {
    const buggy = sipInviteForksMachine.provide({ guards: { isRefused: () => false } });
    const miss = compare(buggy, 3, 0);
    assert.match(miss ?? '', /REFUSED\((A|B)\) → (PROVISIONAL\((A|B)\): expected \["early (A|B) new","bye-early (A|B)"\]|ANSWER\((A|B):(a|b)\): expected .*"ack-late (A|B)","bye-late (A|B)")/);
  });

  test('the oracle catches a planted bug (the call failed with the final response\'s status, not for the refusal)', () => {
    const buggy = sipInviteForksMachine.provide({ guards: { allRefused: () => false } });
    const miss = compare(buggy, 3, 0);
    assert.match(miss ?? '', /REFUSED\((A|B)\) → FAILED: expected .*"refuse-call (ra|rb) 487"/);
  });

  test('a lone branch refused: BYE in its early dialog, its 1xx ignored, the 487 fails the call for the refusal', () => {
    const seq: SipInviteForksEvent[] = [
      { type: 'PROVISIONAL', tag: 'A' },
      { type: 'REFUSED', tag: 'A', reason: 'no codec' },
      { type: 'PROVISIONAL', tag: 'A' },
      { type: 'FAILED', status: 487 },
    ];
    assert.deepEqual(run(sipInviteForksMachine, seq), ['early A new', 'bye-early A', 'refuse-call no codec 487']);
    // Its 2xx instead (it crossed our BYE): ACKed, sent a BYE, and the call fails all the same.
    assert.deepEqual(run(sipInviteForksMachine, [seq[0]!, seq[1]!, { type: 'ANSWER', tag: 'A', answer: 'a' }, { type: 'ANSWER', tag: 'A', answer: 'a' }]), [
      'early A new', 'bye-early A', 'ack-late A', 'bye-late A', 'refuse-call no codec', 'ack-late A',
    ]);
  });

  test('A refused while B rings with an answer: A gets a BYE, media stays with B, B wins; A\'s late 2xx ACKed and sent a BYE', () => {
    const seq: SipInviteForksEvent[] = [
      { type: 'PROVISIONAL', tag: 'B', answer: 'b1' },
      { type: 'PROVISIONAL', tag: 'A' },
      { type: 'REFUSED', tag: 'A', reason: 'no codec' },
      { type: 'ANSWER', tag: 'A', answer: 'a3' },
      { type: 'ANSWER', tag: 'B' },
    ];
    assert.deepEqual(run(sipInviteForksMachine, seq), ['early B new', 'media B b1 branch', 'early A new', 'bye-early A', 'ack-late A', 'bye-late A', 'confirm B']);
    // A refusal of a branch that has its answer already is none (§13.2.1: a later SDP is no answer).
    assert.deepEqual(run(sipInviteForksMachine, [seq[0]!, { type: 'REFUSED', tag: 'B', reason: 'x' }, seq[4]!]), ['early B new', 'media B b1 branch', 'confirm B']);
  });

  test('A\'s early answer replaced by its early UPDATE\'s (media there follows it), B answers, A rings again: media back to A\'s latest; a late one after the 2xx moves the winner\'s media', () => {
    const seq: SipInviteForksEvent[] = [
      { type: 'PROVISIONAL', tag: 'A', answer: 'a1' },
      { type: 'EARLY_SESSION', tag: 'A', sdp: 'a4' },
      { type: 'PROVISIONAL', tag: 'B', answer: 'b1' },
      { type: 'PROVISIONAL', tag: 'A' },
      { type: 'ANSWER', tag: 'A', answer: 'a3' },
      { type: 'EARLY_SESSION', tag: 'A', sdp: 'a5' },
      { type: 'EARLY_SESSION', tag: 'B', sdp: 'b4' },
    ];
    assert.deepEqual(run(sipInviteForksMachine, seq), [
      'early A new', 'media A a1 branch', 'media A a4 same', 'early B new', 'media B b1 branch', 'early A again', 'media A a4 branch', 'confirm A', 'drop B', 'media A a5 same',
    ]);
  });

  test('the callee\'s early UPDATE offer in A answered while media follows B: kept with our answer; A\'s 200 without SDP takes media to both', () => {
    const seq: SipInviteForksEvent[] = [
      { type: 'PROVISIONAL', tag: 'A', answer: 'a1' },
      { type: 'PROVISIONAL', tag: 'B', answer: 'b1' },
      { type: 'EARLY_SESSION', tag: 'A', sdp: 'a6', local: 'l6' },
      { type: 'ANSWER', tag: 'A', answer: 'a3' },
    ];
    assert.deepEqual(run(sipInviteForksMachine, seq), ['early A new', 'media A a1 branch', 'early B new', 'media B b1 branch', 'media A a6/l6 branch', 'confirm A offer a6', 'drop B']);
    assert.deepEqual(run(sipInviteForksMachine, [seq[0]!, seq[2]!, { type: 'ANSWER', tag: 'A' }]), ['early A new', 'media A a1 branch', 'media A a6/l6 same', 'confirm A offer a6']);
  });

  test('a 2xx without SDP from a branch that never answered (A did): abandoned, A dropped, no media moves; a later 2xx of A is a late one', () => {
    const seq: SipInviteForksEvent[] = [
      { type: 'PROVISIONAL', tag: 'A', answer: 'a1' },
      { type: 'PROVISIONAL', tag: 'B' },
      { type: 'ANSWER', tag: 'B' },
      { type: 'ANSWER', tag: 'B' },
      { type: 'ANSWER', tag: 'A', answer: 'a1' },
    ];
    assert.deepEqual(run(sipInviteForksMachine, seq), ['early A new', 'media A a1 branch', 'early B new', 'abandon B', 'drop A', 'ack B', 'ack-late A', 'bye-late A']);
  });

  test('the winner\'s 2xx SDP after its early answer is ignored: media to the early answer, or nowhere new', () => {
    const seq: SipInviteForksEvent[] = [
      { type: 'PROVISIONAL', tag: 'A', answer: 'a1' },
      { type: 'PROVISIONAL', tag: 'B', answer: 'b1' },
      { type: 'ANSWER', tag: 'A', answer: 'a3' },
    ];
    assert.deepEqual(run(sipInviteForksMachine, seq), ['early A new', 'media A a1 branch', 'early B new', 'media B b1 branch', 'media A a1 branch', 'confirm A', 'drop B']);
    assert.deepEqual(run(sipInviteForksMachine, [seq[0]!, seq[2]!]), ['early A new', 'media A a1 branch', 'confirm A']);
  });

  test('183 with an answer from A, from B, then A\'s 200 without SDP: media to A, to B, back to A (its early answer)', () => {
    const seq: SipInviteForksEvent[] = [
      { type: 'PROVISIONAL', tag: 'A', answer: 'a1' },
      { type: 'PROVISIONAL', tag: 'B', answer: 'b1' },
      { type: 'PROVISIONAL', tag: 'B', answer: 'b2' },
      { type: 'ANSWER', tag: 'A' },
    ];
    assert.deepEqual(run(sipInviteForksMachine, seq), ['early A new', 'media A a1 branch', 'early B new', 'media B b1 branch', 'early B again', 'media A a1 branch', 'confirm A', 'drop B']);
  });

  test('the followed branch\'s early dialog ends: media back to the branch followed before it that answered', () => {
    const seq: SipInviteForksEvent[] = [
      { type: 'PROVISIONAL', tag: 'A', answer: 'a1' },
      { type: 'PROVISIONAL', tag: 'B', answer: 'b1' },
      { type: 'EARLY_ENDED', tag: 'B' },
      { type: 'EARLY_ENDED', tag: 'B' },
      { type: 'ANSWER', tag: 'A', answer: 'a1' },
    ];
    assert.deepEqual(run(sipInviteForksMachine, seq), ['early A new', 'media A a1 branch', 'early B new', 'media B b1 branch', 'media A a1 branch', 'confirm A']);
  });

  test('two branches ring, B answers, A answers later: B is the call, A ACKed and sent one BYE', () => {
    const seq: SipInviteForksEvent[] = [
      { type: 'PROVISIONAL', tag: 'A' },
      { type: 'PROVISIONAL', tag: 'B' },
      { type: 'PROVISIONAL', tag: 'A' },
      { type: 'ANSWER', tag: 'B', answer: 'b' },
      { type: 'ANSWER', tag: 'B', answer: 'b' },
      { type: 'ANSWER', tag: 'A', answer: 'a' },
      { type: 'ANSWER', tag: 'A', answer: 'a' },
    ];
    assert.deepEqual(run(sipInviteForksMachine, seq), ['early A new', 'early B new', 'early A again', 'media B b branch', 'confirm B', 'drop A', 'ack B', 'ack-late A', 'bye-late A', 'ack-late A']);
  });
});
