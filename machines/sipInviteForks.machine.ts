// The branches of one outbound INVITE that a proxy forked (RFC 3261 §12.1.2, §13.2.2.4; RFC 6026
// §8.4), beside the call's dialog and INVITE session: which early dialogs exist, which branch won,
// and what a 2xx from any other branch gets. The app sees one call whatever the fan-out.
//
// - `calling`: each 1xx with a To tag creates (first time) or updates (again) the early dialog of
//   that tag; the call's dialog follows the latest one (`earlyDialog`). The first 2xx wins
//   (`confirm`: it becomes the call's dialog; when its early session was the callee's offer, that
//   offer goes along, so a hold it asked for is the call's once answered) and the early dialogs of
//   the other branches are dropped.
//   A winning 2xx with no answer to our offer, neither its early dialog's nor its own (§13.2.1: the
//   peer's protocol error, or an answer we could not accept), makes no call (`abandon`: its dialog
//   is ACKed and sent a BYE, the call fails) and takes media nowhere.
//   A non-2xx final ends the transaction: every early dialog is dropped (`failed`).
//   A branch whose answer to our offer (in its reliable 18x) we refuse (`REFUSED`: none of our
//   codecs; with SRTP, no acceptable a=crypto) would ring on without media: its early dialog gets
//   a BYE (`byeEarly`, RFC 3261 §15) and the branch is dropped; its later 1xx are no news, its 2xx
//   is ACKed and sent a BYE as a late one's. With other early dialogs the call rings on in them.
//   With none left the INVITE's final response (the 487 the BYE brings, or whatever comes; a 2xx
//   of a refused branch counts) fails the call for that refusal (`refuseCall`), not its own status;
//   the call's ring timeout (its CANCEL) still ends a call whose final response never comes.
//   Only the answer to the INVITE's offer counts: a refused answer to our later early UPDATE, or
//   our 488 to the callee's early offer, leaves the branch its session (as in a confirmed dialog).
// - `answered`: the winner's 2xx again is a retransmission (`ackAgain`: its ACK was lost). A 2xx
//   with another To tag is another dialog, which must be constructed, ACKed and ended with a BYE
//   (§13.2.2.4): `ackLate` + `byeLate` the first time, `ackLate` alone for its retransmissions.
// - `failed`: a 2xx after a non-2xx final (a branch that answered as the proxy gave up, a 2xx
//   racing our CANCEL's 487) cannot make a call any more: ACK and BYE as for a late branch. The
//   INVITE sent again (auth retry, 422, RFC 3263 failover) starts over in `calling`.
//
// Early media (RFC 3960 §3: the UAC renders the early media of the most recent early dialog that
// has any): the answer to our offer in a branch's reliable 18x is that dialog's answer (RFC 3261
// §13.2.1, RFC 3262 §5; a later SDP in a 1xx of the same dialog is none) and is kept per branch
// (`answers`). A later offer/answer completed in that early dialog (`EARLY_SESSION`, RFC 3311: our
// early UPDATE answered, or the callee's UPDATE offer answered by us, `local` then being our
// answer) makes the session its answer: media there follows it at once (the same peer: `branch`
// false), media coming back there later goes to it. Media goes to the answer of the branch the call followed last among those that
// answered (`mediaFollows`): a 1xx of a branch with an answer moves it there, one without leaves it
// where it is (there is nowhere else to send). When that branch's early dialog ends
// (`EARLY_ENDED`: a 481/408 to a request in it, its PRACK) media goes back the same way. The
// winning 2xx takes media to the answer its early dialog gave, even when media was following
// another branch then, and only without one to its own SDP (§13.2.1: the UAC ignores session
// descriptions in later responses once a dialog has its answer). An SDP the runtime cannot accept
// (unparsable; none of our codecs; with SRTP, no acceptable a=crypto) is no answer: it never
// reaches the machine.
//
// Responses are opaque (`response: unknown`), as in the transaction machines: the runtime builds
// the ACK and BYE from them. SDP is opaque text. A 2xx without a To tag (RFC 2543) has the tag ''.
import { and, assign, enqueueActions, setup } from 'xstate';

export type SipInviteForksEvent =
  /** A 101–199 with a To tag. `answer`: the SDP of a reliable 18x (RFC 3262), an answer to our offer. */
  | { type: 'PROVISIONAL'; tag: string; response?: unknown; answer?: string }
  /** A 2xx, through the INVITE transaction (RFC 6026 Accepted) or after it. `answer`: its SDP, if acceptable. */
  | { type: 'ANSWER'; tag: string; response?: unknown; answer?: string }
  /** A 481/408 to a request in this branch's early dialog (its PRACK): that early dialog is over. */
  | { type: 'EARLY_ENDED'; tag: string }
  /**
   * An offer/answer completed in this branch's dialog: its session is now `sdp`, the peer's side
   * (the answer in our UPDATE's 2xx; or its UPDATE's offer, which we answered with `local`).
   */
  | { type: 'EARLY_SESSION'; tag: string; sdp: string; local?: string }
  /**
   * The answer to our offer in this branch's reliable 18x is refused (`reason`: why): its early
   * dialog is ended with a BYE (sent after the 18x's PRACK) and the branch dropped.
   */
  | { type: 'REFUSED'; tag: string; reason: string }
  /** A non-2xx final response. */
  | { type: 'FAILED'; status: number }
  /** The INVITE went out again as a new transaction (credentials, 422, failover). */
  | { type: 'REISSUED' };

export interface SipInviteForksContext {
  /** To tags of the early dialogs, in order of creation. */
  early: string[];
  /**
   * The early dialogs by when the call's dialog last followed each, the one it follows now last
   * (the dialog machine's order: it falls back to the one it left last).
   */
  followed: string[];
  /**
   * Each early dialog's answer to our offer (opaque SDP): its reliable 18x's first, or the answer
   * of an offer/answer completed in it since.
   */
  answers: SipInviteForksAnswer[];
  /** The branch whose answer media goes to now. */
  media?: string;
  /** To tag of the 2xx that won. */
  winner?: string;
  /** Branches answered too late: ACKed and sent a BYE. */
  late: string[];
  /** Branches whose answer we refused, their early dialogs ended with a BYE, in order. */
  refused: SipInviteForksRefusal[];
  /** Set when the call failed for refused answers (every branch that rang refused): why. */
  refusal?: string;
}

/** A branch whose answer to our offer we refused, and why. */
export interface SipInviteForksRefusal {
  tag: string;
  reason: string;
}

/** One early dialog's answer to our offer (or, with `local`, the peer's offer and our answer to it). */
export interface SipInviteForksAnswer {
  tag: string;
  sdp: string;
  local?: string;
}

/** A response of one branch: its To tag and the message, opaque to the machine. */
export interface SipInviteForksResponse {
  tag: string;
  response: unknown;
}

const answerOf = (c: SipInviteForksContext, tag: string): string | undefined => c.answers.find((a) => a.tag === tag)?.sdp;
/** What `mediaFollows` takes of a branch's session: its SDP, and our answer when the offer was the peer's. */
const sessionOf = (c: SipInviteForksContext, tag: string) => {
  const a = c.answers.find((x) => x.tag === tag)!;
  return a.local !== undefined ? { sdp: a.sdp, local: a.local } : { sdp: a.sdp };
};

/** The branch media should go to: the one followed last among those with an answer. */
function mediaBranch(c: SipInviteForksContext): string | undefined {
  for (let i = c.followed.length - 1; i >= 0; i--) if (answerOf(c, c.followed[i]!) !== undefined) return c.followed[i];
  return undefined;
}

/** Why the call fails when every branch that rang was refused, if that is so. */
const callRefusal = (c: SipInviteForksContext): string | undefined => (c.early.length === 0 ? c.refused.at(-1)?.reason : undefined);

const forksSetup = setup({
  types: {
    context: {} as SipInviteForksContext,
    events: {} as SipInviteForksEvent,
  },
  actions: {
    /** The call's dialog follows the early dialog of this 1xx; `created`: its first 1xx. */
    earlyDialog: (_, _params: SipInviteForksResponse & { created: boolean }) => {},
    /**
     * The winning 2xx: confirm the call's dialog with it, ACK it (its media came just before:
     * `mediaFollows`). `peerOffer`: its early dialog's session was the callee's offer (its early
     * UPDATE, which we answered), so the call starts in whatever that offer asked (a hold).
     */
    confirm: (_, _params: SipInviteForksResponse & { peerOffer?: string }) => {},
    /** The winning 2xx brought no answer: confirm its dialog, ACK it, then end it with a BYE; the call fails. */
    abandon: (_, _params: SipInviteForksResponse) => {},
    /**
     * Media goes to this branch's answer (its address, codec, keys). `branch`: another branch than
     * media went to so far (another peer: its SDP is no later version of the one in use). `local`:
     * `sdp` is the peer's offer and this our answer to it (codec and keys as that answer chose).
     */
    mediaFollows: (_, _params: { tag: string; sdp: string; branch: boolean; local?: string }) => {},
    /** End this branch's early dialog with a BYE (§15): its answer was refused. */
    byeEarly: (_, _params: { tag: string }) => {},
    /**
     * The INVITE is over (a non-2xx final, `status`; or a refused branch's 2xx, none) with every
     * branch that rang refused: the call fails for that (`reason`, the latest refusal).
     */
    refuseCall: (_, _params: { reason: string; status?: number }) => {},
    /** Early dialogs that will never be confirmed. */
    dropEarly: (_, _params: { tags: string[] }) => {},
    /** ACK the winner's 2xx again (a retransmission). */
    ackAgain: (_, _params: SipInviteForksResponse) => {},
    /** ACK a 2xx of a losing branch (in its own dialog, built from the 2xx). */
    ackLate: (_, _params: SipInviteForksResponse) => {},
    /** End a losing branch's dialog with a BYE. */
    byeLate: (_, _params: SipInviteForksResponse) => {},
    addEarly: assign(({ context }, params: { tag: string }) => ({ early: [...context.early, params.tag] })),
    addLate: assign(({ context }, params: { tag: string }) => ({ late: [...context.late, params.tag] })),
    // The call's dialog follows this branch now; its first answer is kept (§13.2.1: the only one).
    follow: assign(({ context }, params: { tag: string; answer?: string }) => ({
      followed: [...context.followed.filter((t) => t !== params.tag), params.tag],
      answers: params.answer !== undefined && answerOf(context, params.tag) === undefined ? [...context.answers, { tag: params.tag, sdp: params.answer }] : context.answers,
    })),
    // A newer session of this early dialog (EARLY_SESSION) replaces its answer.
    setAnswer: assign(({ context }, params: { tag: string; sdp: string; local?: string }) => ({
      answers: [
        ...context.answers.filter((a) => a.tag !== params.tag),
        { tag: params.tag, sdp: params.sdp, ...(params.local !== undefined ? { local: params.local } : {}) },
      ],
    })),
    endEarly: assign(({ context }, params: { tag: string }) => ({
      early: context.early.filter((t) => t !== params.tag),
      followed: context.followed.filter((t) => t !== params.tag),
      answers: context.answers.filter((a) => a.tag !== params.tag),
    })),
    clearEarly: assign({ early: [], followed: [], answers: [] }),
    addRefused: assign(({ context }, params: SipInviteForksRefusal) => ({ refused: [...context.refused, params] })),
  },
  guards: {
    knownEarly: ({ context, event }) =>
      (event.type === 'PROVISIONAL' || event.type === 'EARLY_ENDED' || event.type === 'EARLY_SESSION' || event.type === 'REFUSED') && context.early.includes(event.tag),
    // (Refused only while the branch has no answer: a later SDP in its 1xx is none, §13.2.1.)
    unanswered: ({ context, event }) => event.type === 'REFUSED' && answerOf(context, event.tag) === undefined,
    isRefused: ({ context, event }) => (event.type === 'PROVISIONAL' || event.type === 'ANSWER') && context.refused.some((r) => r.tag === event.tag),
    ringing: ({ context }) => context.early.length > 0,
    // Every branch that rang was refused (none rings now): the call fails for that.
    allRefused: ({ context }) => callRefusal(context) !== undefined,
    // (The dialog media goes to now: the branch it follows, or the call's once answered.)
    mediaHere: ({ context, event }) => event.type === 'EARLY_SESSION' && context.media === event.tag,
    isWinner: ({ context, event }) => event.type === 'ANSWER' && event.tag === context.winner,
    isLate: ({ context, event }) => event.type === 'ANSWER' && context.late.includes(event.tag),
    // §13.2.1: the answer to our offer came neither in this branch's early dialog nor in its 2xx.
    noAnswer: ({ context, event }) => event.type === 'ANSWER' && event.answer === undefined && answerOf(context, event.tag) === undefined,
  },
});

// Media to the branch followed last among those that answered, when that changed it.
const mediaToLatest = forksSetup.enqueueActions(({ context, enqueue }) => {
  const tag = mediaBranch(context);
  if (tag === context.media) return;
  enqueue.assign({ media: tag });
  if (tag !== undefined) enqueue({ type: 'mediaFollows', params: { tag, ...sessionOf(context, tag), branch: true } });
});

// A newer session of the dialog media goes to: media follows it (the same peer).
const sessionHere = forksSetup.enqueueActions(({ event, enqueue }) => {
  if (event.type === 'EARLY_SESSION') {
    enqueue({ type: 'mediaFollows', params: { tag: event.tag, sdp: event.sdp, branch: false, ...(event.local !== undefined ? { local: event.local } : {}) } });
  }
});

// A 2xx of a branch no longer in the running: ACKed and sent a BYE in a dialog of its own (§13.2.2.4).
const lateBranch = forksSetup.enqueueActions(({ event, enqueue }) => {
  if (event.type !== 'ANSWER') return;
  const r = { tag: event.tag, response: event.response };
  enqueue({ type: 'addLate', params: { tag: event.tag } });
  enqueue({ type: 'ackLate', params: r });
  enqueue({ type: 'byeLate', params: r });
});

// The early dialogs of the branches that lost the 2xx.
const dropLosers = forksSetup.enqueueActions(({ context, event, enqueue }) => {
  const losers = context.early.filter((t) => event.type !== 'ANSWER' || t !== event.tag);
  if (losers.length) enqueue({ type: 'dropEarly', params: { tags: losers } });
});

export const sipInviteForksMachine = forksSetup.createMachine({
  id: 'sipInviteForks',
  context: { early: [], followed: [], answers: [], late: [], refused: [] },
  initial: 'calling',
  states: {
    calling: {
      on: {
        PROVISIONAL: [
          // (Its early dialog is over: we sent it a BYE.)
          { guard: 'isRefused' },
          {
            guard: 'knownEarly',
            actions: [
              { type: 'earlyDialog', params: ({ event }) => ({ tag: event.tag, response: event.response, created: false }) },
              { type: 'follow', params: ({ event }) => ({ tag: event.tag, answer: event.answer }) },
              mediaToLatest,
            ],
          },
          {
            actions: [
              { type: 'addEarly', params: ({ event }) => ({ tag: event.tag }) },
              { type: 'earlyDialog', params: ({ event }) => ({ tag: event.tag, response: event.response, created: true }) },
              { type: 'follow', params: ({ event }) => ({ tag: event.tag, answer: event.answer }) },
              mediaToLatest,
            ],
          },
        ],
        // (An early dialog never created, or already over, is no news.)
        EARLY_ENDED: { guard: 'knownEarly', actions: [{ type: 'endEarly', params: ({ event }) => ({ tag: event.tag }) }, mediaToLatest] },
        // §15: its early dialog ends with our BYE; media never went there (it had no answer).
        REFUSED: {
          guard: and(['knownEarly', 'unanswered']),
          actions: [
            { type: 'byeEarly', params: ({ event }) => ({ tag: event.tag }) },
            { type: 'addRefused', params: ({ event }) => ({ tag: event.tag, reason: event.reason }) },
            { type: 'endEarly', params: ({ event }) => ({ tag: event.tag }) },
          ],
        },
        EARLY_SESSION: [
          { guard: 'mediaHere', actions: [{ type: 'setAnswer', params: ({ event }) => event }, sessionHere] },
          // Not where media is: kept for when media comes back (or there now, a first usable answer).
          { guard: 'knownEarly', actions: [{ type: 'setAnswer', params: ({ event }) => event }, mediaToLatest] },
        ],
        ANSWER: [
          { guard: and(['isRefused', 'isLate']), actions: { type: 'ackLate', params: ({ event }) => ({ tag: event.tag, response: event.response }) } },
          // A refused branch's 2xx never wins: a late one's. Other branches ring on; with none
          // left, it ends the INVITE (a proxy cancels the rest after a 2xx) and the call fails.
          { guard: and(['isRefused', 'ringing']), actions: lateBranch },
          {
            guard: 'isRefused',
            target: 'failed',
            actions: [
              lateBranch,
              enqueueActions(({ context, enqueue }) => enqueue({ type: 'refuseCall', params: { reason: callRefusal(context)! } })),
              assign({ refusal: ({ context }) => callRefusal(context) }),
            ],
          },
          {
            // It still won: its retransmissions are ACKed again, other branches' 2xx are late.
            guard: 'noAnswer',
            target: 'answered',
            actions: [
              assign({ winner: ({ event }) => event.tag, media: undefined }),
              { type: 'abandon', params: ({ event }) => ({ tag: event.tag, response: event.response }) },
              dropLosers,
              'clearEarly',
            ],
          },
          {
            target: 'answered',
            actions: [
              assign({ winner: ({ event }) => event.tag }),
              // Media first, so the call is answered with it in place: the winner's early answer,
              // else its 2xx's SDP; nothing when media is already there (only an answered branch has it).
              enqueueActions(({ context, event, enqueue }) => {
                const session = answerOf(context, event.tag) !== undefined ? sessionOf(context, event.tag) : event.answer !== undefined ? { sdp: event.answer } : undefined;
                if (session !== undefined && context.media !== event.tag) enqueue({ type: 'mediaFollows', params: { tag: event.tag, ...session, branch: true } });
                enqueue.assign({ media: event.tag });
              }),
              {
                type: 'confirm',
                params: ({ context, event }) => {
                  const a = context.answers.find((x) => x.tag === event.tag);
                  return { tag: event.tag, response: event.response, ...(a?.local !== undefined ? { peerOffer: a.sdp } : {}) };
                },
              },
              dropLosers,
              'clearEarly',
            ],
          },
        ],
        FAILED: [
          {
            // (The 487 our BYE brought, most likely: no early dialog is left to drop.)
            guard: 'allRefused',
            target: 'failed',
            actions: [
              assign({ refusal: ({ context }) => callRefusal(context) }),
              { type: 'refuseCall', params: ({ context, event }) => ({ reason: callRefusal(context)!, status: event.status }) },
            ],
          },
          {
            target: 'failed',
            actions: [
              enqueueActions(({ context, enqueue }) => {
                if (context.early.length) enqueue({ type: 'dropEarly', params: { tags: context.early } });
              }),
              'clearEarly',
              assign({ media: undefined }),
            ],
          },
        ],
      },
    },
    answered: {
      on: {
        // An early UPDATE answered once the dialog was confirmed: the call's session, if its dialog's.
        EARLY_SESSION: { guard: 'mediaHere', actions: sessionHere },
        ANSWER: [
          { guard: 'isWinner', actions: { type: 'ackAgain', params: ({ event }) => ({ tag: event.tag, response: event.response }) } },
          { guard: 'isLate', actions: { type: 'ackLate', params: ({ event }) => ({ tag: event.tag, response: event.response }) } },
          {
            actions: [
              { type: 'addLate', params: ({ event }) => ({ tag: event.tag }) },
              { type: 'ackLate', params: ({ event }) => ({ tag: event.tag, response: event.response }) },
              { type: 'byeLate', params: ({ event }) => ({ tag: event.tag, response: event.response }) },
            ],
          },
        ],
      },
    },
    failed: {
      on: {
        // (A new transaction: its branches start afresh.)
        REISSUED: { target: 'calling', actions: assign({ refused: [], refusal: undefined }) },
        ANSWER: [
          { guard: 'isLate', actions: { type: 'ackLate', params: ({ event }) => ({ tag: event.tag, response: event.response }) } },
          {
            actions: [
              { type: 'addLate', params: ({ event }) => ({ tag: event.tag }) },
              { type: 'ackLate', params: ({ event }) => ({ tag: event.tag, response: event.response }) },
              { type: 'byeLate', params: ({ event }) => ({ tag: event.tag, response: event.response }) },
            ],
          },
        ],
      },
    },
  },
});

export type SipInviteForksMachine = typeof sipInviteForksMachine;
