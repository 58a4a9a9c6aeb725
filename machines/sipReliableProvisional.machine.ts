// Reliable provisional responses (RFC 3262) of one INVITE, from either side.
//
// UAS (`uas`): each 18x goes with `Require: 100rel` and the next RSeq, and is retransmitted at
// T1, doubling, until a PRACK names it (RAck: its RSeq, the INVITE's CSeq, INVITE); the PRACK gets
// 200, any other gets 481 (§3). One reliable provisional is outstanding at a time: an 18x asked
// for meanwhile is queued (the latest wins) and goes once the outstanding one is PRACKed. Our 2xx
// waits for that PRACK too (`unacked.answer.held`): §3 requires it when the provisional carried
// SDP and allows it always, and it keeps the answer behind the early dialog's only handshake.
// After 64*T1 without a PRACK the INVITE is rejected with a 5xx (§3, `failed`). A non-2xx final
// (a refusal, a CANCEL's 487) ends the retransmissions. An INVITE without an offer gets ours in
// the first reliable 18x (RFC 3261 §13.3.1: the first reliable non-failure message; the PRACK
// carries the answer), and then the 2xx carries no SDP. An INVITE with an offer gets our answer in
// the first reliable 183 (early media, RFC 3262 §5: the caller hears us before the answer); the
// 2xx repeats that same answer (RFC 3261 §13.2.1: the caller takes the first and ignores the rest).
// An UPDATE with an offer in the early dialog (RFC 3311 §5.2) is answered in its 200 once the
// INVITE's offer/answer is done (our answer went in a reliable 183, or our offer's PRACK answered
// it); while our offer in an 18x awaits its PRACK it gets 491, while the INVITE's offer has no
// answer yet 500 with Retry-After. After it the 2xx carries the latest answer (the runtime's bytes).
// A PRACK may carry a new offer once the INVITE's offer/answer is done (RFC 3262 §5, RFC 6337
// §3.1: the 18x it names, or an earlier one, carried our answer; or our offer's PRACK answered it):
// the PRACK's 200 carries our answer (`acceptPrack`'s `offer`; media follows it as for an UPDATE).
// An offer in the PRACK of a 18x while the INVITE's offer is still unanswered breaks §5: that PRACK
// gets 500 with Retry-After and acknowledges nothing (the 18x stays outstanding, PRACK it again).
// Once the PRACK of the 18x that carried our answer (or of the one with our offer, carrying its
// answer) got our 200 (`answerAcked`), we may send an UPDATE with an offer of ours in the early
// dialog (RFC 3311 §5.1, call.update() while ringing); while it awaits its answer (`localOffer` on
// the event: the INVITE session machine holds that) an UPDATE or PRACK offer of the caller's gets 491.
//
// UAC (`uac`): a reliable 18x is PRACKed only when its RSeq is one more than the last in-order one
// of its early dialog (the first one of a dialog sets the sequence); a retransmission or an
// out-of-order one is neither PRACKed nor processed further (§4). Each early dialog (To tag, a
// forked INVITE has several) keeps its own sequence. The early offer/answer of a dialog is done
// once the reliable 18x that carried the answer to our offer was PRACKed and that PRACK got a 2xx
// (context `earlyOfferAnswer`): only then may we send an UPDATE with a new offer in that early
// dialog (RFC 3311 §5.1), and only then is the callee's UPDATE offer in it answered
// (`answerBranchUpdate`: that branch's early session becomes the new offer/answer); before, 500
// with Retry-After; while our own early UPDATE's offer awaits its answer, 491 (§5.2).
//
// Pure: the retransmission delay is arithmetic on the context; the wire effects are named actions.
import { and, assign, setup, stateIn } from 'xstate';

export interface SipReliableProvisionalInput {
  role: 'uac' | 'uas';
  /** §17.1.1.1 T1 (ms). */
  t1: number;
  /** UAS: the RSeq of our first reliable provisional (§3: chosen at random in 1..2**31-1 by the runtime). */
  firstRSeq?: number;
  /** UAS: the CSeq number of the INVITE (a PRACK's RAck must name it). */
  inviteCSeq?: number;
  /** UAS: the INVITE had no offer: the first reliable 18x carries ours. */
  delayedOffer?: boolean;
}

export interface SipReliableProvisionalContext {
  role: 'uac' | 'uas';
  t1: number;
  inviteCSeq: number;
  delayedOffer: boolean;
  /** UAS: our offer went in a reliable 18x (the 2xx then carries no SDP). */
  offered: boolean;
  /** UAS: our answer to the INVITE's offer went in a reliable 183 (early media). */
  earlyAnswer: boolean;
  /**
   * UAS: the PRACK of the 18x that carried our answer (or our offer, its PRACK the answer) got our
   * 200: the early offer/answer is done both ways, and an UPDATE offer of ours may go (RFC 3311 §5.1).
   */
  answerAcked: boolean;
  /** UAS: the RSeq the next reliable provisional takes. */
  nextRSeq: number;
  /** UAS: the provisional awaiting its PRACK. */
  pending?: { status: number; rseq: number; offer: boolean; answer: boolean };
  /** UAS: an 18x asked for while one was outstanding (the latest wins). */
  queued?: number;
  /** UAS: the retransmission schedule: the next interval, and time since the first send (ms). */
  interval: number;
  elapsed: number;
  /** UAC: the last in-order RSeq per early dialog (To tag). */
  acked: Record<string, number>;
  /**
   * UAC: per early dialog, the RSeq of the reliable 18x that carried the answer to our offer, and
   * whether its PRACK got a 2xx (the early offer/answer is done: an UPDATE offer may go).
   */
  earlyOfferAnswer: Record<string, { rseq: number; done: boolean }>;
}

export type SipReliableProvisionalEvent =
  // UAS
  /** Send this 18x reliably (now, or once the outstanding one is PRACKed). */
  | { type: 'PROVISIONAL'; status: number }
  /**
   * A PRACK arrived with this RAck. `sdp`: it carries SDP: the answer to the offer in the 18x it
   * names, else a new offer (RFC 3262 §5). `localOffer`: an offer of ours (an early UPDATE) awaits its answer.
   */
  | { type: 'PRACK'; rseq: number; cseq: number; method: string; sdp?: boolean; localOffer?: boolean }
  /** The app answered: our 2xx goes now, or once the outstanding provisional is PRACKed. */
  | { type: 'ANSWER' }
  /** A non-2xx final response went (refusal, 487 after CANCEL): nothing more is retransmitted. */
  | { type: 'FINAL' }
  /**
   * An UPDATE with an SDP offer arrived in the early dialog (UAS: before our final response; UAC:
   * before the INVITE's 2xx); `localOffer` as for PRACK. `tag`: UAC, the early dialog (its From tag).
   */
  | { type: 'UPDATE.OFFER'; localOffer?: boolean; tag?: string }
  // UAC
  /** A reliable 18x (Require: 100rel, RSeq) of the early dialog `tag`, to our INVITE of CSeq `cseq`. */
  /** `answer`: it carries the answer to our INVITE's offer. */
  | { type: 'RELIABLE'; tag: string; rseq: number; cseq: number; status: number; answer?: boolean }
  /** The final response to our PRACK of the reliable 18x `rseq` of early dialog `tag`. */
  | { type: 'PRACK.ANSWERED'; tag: string; rseq: number; status: number };

/** The timer's 64*T1 budget (§3), measured from the first send. */
const budget = (c: SipReliableProvisionalContext) => 64 * c.t1;
/** The next wait: the doubled interval, cut to what is left of the budget. */
const nextWait = (c: SipReliableProvisionalContext) => Math.min(c.interval, budget(c) - c.elapsed);

/**
 * The next reliable 18x: the next RSeq; our offer if the INVITE had none and none went yet; our
 * answer if the INVITE had an offer, this is a 183 (early media) and no answer went yet.
 */
const pend = (c: SipReliableProvisionalContext, status: number) => {
  const offer = c.delayedOffer && !c.offered;
  const answer = !c.delayedOffer && !c.earlyAnswer && status === 183;
  return {
    pending: { status, rseq: c.nextRSeq, offer, answer },
    nextRSeq: c.nextRSeq + 1,
    offered: c.offered || offer,
    earlyAnswer: c.earlyAnswer || answer,
  };
};
const answerParams = ({ context }: { context: SipReliableProvisionalContext }) => ({ sdp: !context.offered });
/** `answer`: the PRACK carries the answer to our 18x's offer; `offer`: it carries a new offer of the caller's. */
const acceptPrack = {
  type: 'acceptPrack' as const,
  params: ({ context, event }: { context: SipReliableProvisionalContext; event: SipReliableProvisionalEvent }) => {
    const answer = context.pending?.offer ?? false;
    return { answer, offer: !answer && event.type === 'PRACK' && event.sdp === true };
  },
};

export const sipReliableProvisionalMachine = setup({
  types: {
    input: {} as SipReliableProvisionalInput,
    context: {} as SipReliableProvisionalContext,
    events: {} as SipReliableProvisionalEvent,
  },
  actions: {
    // Wire effects, provided by the SIP user agent.
    /**
     * UAS: send the 18x with Require: 100rel and this RSeq; with our SDP offer when `offer`, our
     * SDP answer when `answer` (early media starts with it).
     */
    sendProvisional: (_, _params: { status: number; rseq: number; offer: boolean; answer: boolean }) => {},
    /** UAS: send the outstanding 18x again (the same bytes). */
    retransmit: (_, _params: { rseq: number }) => {},
    /**
     * UAS: 200 to the PRACK that matched; `answer`: it carries the answer to the offer in that 18x;
     * `offer`: it carries a new offer, answered in that 200 (488 when nothing in it is acceptable).
     */
    acceptPrack: (_, _params: { answer: boolean; offer: boolean }) => {},
    /**
     * UAS: refuse a matching PRACK's offer, acknowledging nothing: 500 with Retry-After (the
     * INVITE's offer has no answer yet) or 491 (our UPDATE's offer awaits its answer).
     */
    refusePrackOffer: (_, _params: { status: 491 | 500 }) => {},
    /** UAS: 481 to a PRACK that matches no outstanding provisional (§3). */
    rejectPrack: () => {},
    /**
     * UAS: our 2xx to the INVITE may go as far as PRACKs go (the runtime passes it to the INVITE
     * session machine, which holds it while our early UPDATE's offer is out); `sdp`: with our SDP
     * (the answer, repeated if a 183 carried it; none after our offer in an 18x).
     */
    sendAnswer: (_, _params: { sdp: boolean }) => {},
    /** UAS: 200 to the early UPDATE with our answer to its offer (media follows its address). */
    answerUpdate: () => {},
    /** Refuse the early UPDATE's offer: 491 (our offer is out) or 500 with Retry-After (the early offer/answer is not done). */
    refuseUpdate: (_, _params: { status: 491 | 500 }) => {},
    /** UAS: no PRACK within 64*T1: reject the INVITE with a 5xx (§3). */
    giveUp: () => {},
    /**
     * UAC: 200 to the callee's early UPDATE with our answer to its offer (488 when nothing in it is
     * acceptable): the offer/answer is early dialog `tag`'s session now (media there follows it).
     */
    answerBranchUpdate: (_, _params: { tag: string }) => {},
    /** UAC: PRACK this provisional (RAck: rseq cseq INVITE) in its early dialog. */
    sendPrack: (_, _params: { tag: string; rseq: number; cseq: number; status: number }) => {},
    // Bookkeeping.
    setPending: assign(({ context }, p: { status: number }) => pend(context, p.status)),
    takeQueued: assign(({ context }) => ({ ...pend(context, context.queued!), queued: undefined })),
    queue: assign((_, p: { status: number }) => ({ queued: p.status })),
    clear: assign({ pending: undefined, queued: undefined }),
    // Before `clear`/`takeQueued`: the PRACK that matched acknowledged the 18x with our answer or offer.
    ackAnswer: assign(({ context }) => ({ answerAcked: context.answerAcked || context.pending?.answer === true || context.pending?.offer === true })),
    arm: assign(({ context }) => ({ interval: context.t1, elapsed: 0 })),
    step: assign(({ context }) => ({ elapsed: context.elapsed + nextWait(context), interval: context.interval * 2 })),
    record: assign(({ context }, p: { tag: string; rseq: number }) => ({ acked: { ...context.acked, [p.tag]: p.rseq } })),
    recordAnswer: assign(({ context }, p: { tag: string; rseq: number }) => ({ earlyOfferAnswer: { ...context.earlyOfferAnswer, [p.tag]: { rseq: p.rseq, done: false } } })),
    answerPracked: assign(({ context }, p: { tag: string }) => ({
      earlyOfferAnswer: { ...context.earlyOfferAnswer, [p.tag]: { rseq: context.earlyOfferAnswer[p.tag]!.rseq, done: true } },
    })),
  },
  guards: {
    isUas: ({ context }) => context.role === 'uas',
    // §3: the RAck names the outstanding provisional: its RSeq, the INVITE's CSeq and method.
    prackMatches: ({ context, event }) =>
      event.type === 'PRACK' && context.pending !== undefined && event.rseq === context.pending.rseq && event.cseq === context.inviteCSeq && event.method === 'INVITE',
    hasQueued: ({ context }) => context.queued !== undefined,
    // RFC 3262 §5: SDP in a PRACK is the answer to the offer in the 18x it names, else a new offer.
    prackOffer: ({ context, event }) => event.type === 'PRACK' && event.sdp === true && context.pending?.offer !== true,
    // RFC 3311 §5.2: our offer (in a reliable 18x) has no answer yet: its PRACK brings it.
    ourOfferOut: ({ context, event }) => context.pending?.offer === true || ('localOffer' in event && event.localOffer === true),
    localOfferOut: ({ event }) => 'localOffer' in event && event.localOffer === true,
    // …and the early offer/answer is not done: the INVITE's offer has no answer (no reliable 183
    // carried it), or (no offer in the INVITE) ours has not gone yet.
    offerAnswerOpen: ({ context }) => !(context.delayedOffer ? context.offered : context.earlyAnswer),
    answerHeld: stateIn('#sipReliableProvisional.uas.unacked.answer.held'),
    // The wait that just ended used up the 64*T1 budget.
    exhausted: ({ context }) => context.elapsed + nextWait(context) >= budget(context),
    carriesAnswer: ({ event }) => event.type === 'RELIABLE' && event.answer === true,
    // UAC: the early offer/answer of the UPDATE's dialog is done (its answer's PRACK got a 2xx).
    branchOfferAnswerDone: ({ context, event }) => event.type === 'UPDATE.OFFER' && event.tag !== undefined && context.earlyOfferAnswer[event.tag]?.done === true,
    // The 2xx to the PRACK of the 18x that carried the answer (not of a later one).
    answerPracked: ({ context, event }) =>
      event.type === 'PRACK.ANSWERED' && event.status >= 200 && event.status < 300 && context.earlyOfferAnswer[event.tag]?.rseq === event.rseq,
    // §4: the first reliable provisional of a dialog, or the next in its sequence.
    inOrder: ({ context, event }) => {
      if (event.type !== 'RELIABLE') return false;
      const last = context.acked[event.tag];
      return last === undefined || event.rseq === last + 1;
    },
  },
  delays: {
    retransmit: ({ context }) => nextWait(context),
  },
}).createMachine({
  id: 'sipReliableProvisional',
  context: ({ input }) => ({
    role: input.role,
    t1: input.t1,
    inviteCSeq: input.inviteCSeq ?? 0,
    delayedOffer: input.delayedOffer ?? false,
    offered: false,
    earlyAnswer: false,
    answerAcked: false,
    nextRSeq: input.firstRSeq ?? 1,
    interval: input.t1,
    elapsed: 0,
    acked: {},
    earlyOfferAnswer: {},
  }),
  initial: 'start',
  states: {
    start: { always: [{ guard: 'isUas', target: 'uas' }, { target: 'uac' }] },
    uas: {
      initial: 'idle',
      on: {
        // Whatever is not the outstanding provisional's PRACK (handled in `unacked`) gets 481.
        PRACK: { actions: 'rejectPrack' },
        // Before our final response (idle, unacked): once it went, the UPDATE is the confirmed dialog's.
        'UPDATE.OFFER': [
          { guard: 'ourOfferOut', actions: { type: 'refuseUpdate', params: { status: 491 } } },
          { guard: 'offerAnswerOpen', actions: { type: 'refuseUpdate', params: { status: 500 } } },
          { actions: 'answerUpdate' },
        ],
      },
      states: {
        idle: {
          on: {
            PROVISIONAL: { target: 'unacked', actions: { type: 'setPending', params: ({ event }) => ({ status: event.status }) } },
            ANSWER: { target: 'done', actions: { type: 'sendAnswer', params: answerParams } },
            FINAL: 'done',
          },
        },
        unacked: {
          type: 'parallel',
          entry: ['arm', { type: 'sendProvisional', params: ({ context }) => ({ ...context.pending! }) }],
          on: {
            PRACK: [
              // A new offer before the INVITE's has its answer: refused whole, the 18x stays outstanding.
              { guard: and(['prackMatches', 'prackOffer', 'offerAnswerOpen']), actions: { type: 'refusePrackOffer', params: { status: 500 } } },
              // RFC 3311 §5.2's glare rule, for an offer in a PRACK while our UPDATE's awaits its answer.
              { guard: and(['prackMatches', 'prackOffer', 'localOfferOut']), actions: { type: 'refusePrackOffer', params: { status: 491 } } },
              { guard: and(['prackMatches', 'answerHeld']), target: 'done', actions: [acceptPrack, 'ackAnswer', 'clear', { type: 'sendAnswer', params: answerParams }] },
              { guard: and(['prackMatches', 'hasQueued']), target: 'unacked', reenter: true, actions: [acceptPrack, 'ackAnswer', 'takeQueued'] },
              { guard: 'prackMatches', target: 'idle', actions: [acceptPrack, 'ackAnswer', 'clear'] },
              { actions: 'rejectPrack' },
            ],
            PROVISIONAL: { actions: { type: 'queue', params: ({ event }) => ({ status: event.status }) } },
            FINAL: { target: 'done', actions: 'clear' },
          },
          states: {
            retransmit: {
              initial: 'waiting',
              states: {
                waiting: {
                  after: {
                    retransmit: [
                      { guard: 'exhausted', target: '#sipReliableProvisional.uas.failed', actions: ['giveUp', 'clear'] },
                      { target: 'waiting', reenter: true, actions: ['step', { type: 'retransmit', params: ({ context }) => ({ rseq: context.pending!.rseq }) }] },
                    ],
                  },
                },
              },
            },
            answer: {
              initial: 'none',
              states: { none: { on: { ANSWER: 'held' } }, held: {} },
            },
          },
        },
        /** The INVITE has its final response (or our 2xx went): PRACKs now match nothing. */
        done: { on: { 'UPDATE.OFFER': {} } },
        /** No PRACK came within 64*T1: the INVITE was rejected. */
        failed: { on: { 'UPDATE.OFFER': {} } },
      },
    },
    uac: {
      on: {
        RELIABLE: [
          {
            guard: and(['inOrder', 'carriesAnswer']),
            actions: [
              { type: 'record', params: ({ event }) => ({ tag: event.tag, rseq: event.rseq }) },
              { type: 'recordAnswer', params: ({ event }) => ({ tag: event.tag, rseq: event.rseq }) },
              { type: 'sendPrack', params: ({ event }) => ({ tag: event.tag, rseq: event.rseq, cseq: event.cseq, status: event.status }) },
            ],
          },
          {
            guard: 'inOrder',
            actions: [
              { type: 'record', params: ({ event }) => ({ tag: event.tag, rseq: event.rseq }) },
              { type: 'sendPrack', params: ({ event }) => ({ tag: event.tag, rseq: event.rseq, cseq: event.cseq, status: event.status }) },
            ],
          },
        ],
        'PRACK.ANSWERED': { guard: 'answerPracked', actions: { type: 'answerPracked', params: ({ event }) => ({ tag: event.tag }) } },
        // RFC 3311 §5.2 as the caller (the runtime sends it only while the dialog is early).
        'UPDATE.OFFER': [
          { guard: 'localOfferOut', actions: { type: 'refuseUpdate', params: { status: 491 } } },
          { guard: 'branchOfferAnswerDone', actions: { type: 'answerBranchUpdate', params: ({ event }) => ({ tag: event.tag! }) } },
          { actions: { type: 'refuseUpdate', params: { status: 500 } } },
        ],
      },
    },
  },
});

export type SipReliableProvisionalMachine = typeof sipReliableProvisionalMachine;
