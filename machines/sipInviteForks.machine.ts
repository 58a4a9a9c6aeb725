// The branches of one outbound INVITE that a proxy forked (RFC 3261 §12.1.2, §13.2.2.4; RFC 6026
// §8.4), beside the call's dialog and INVITE session: which early dialogs exist, which branch won,
// and what a 2xx from any other branch gets. The app sees one call whatever the fan-out.
//
// - `calling`: each 1xx with a To tag creates (first time) or updates (again) the early dialog of
//   that tag; the call's dialog follows the latest one (`earlyDialog`). The first 2xx wins
//   (`confirm`: it becomes the call's dialog) and the early dialogs of the other branches are dropped.
//   A non-2xx final ends the transaction: every early dialog is dropped (`failed`).
// - `answered`: the winner's 2xx again is a retransmission (`ackAgain`: its ACK was lost). A 2xx
//   with another To tag is another dialog, which must be constructed, ACKed and ended with a BYE
//   (§13.2.2.4): `ackLate` + `byeLate` the first time, `ackLate` alone for its retransmissions.
// - `failed`: a 2xx after a non-2xx final (a branch that answered as the proxy gave up, a 2xx
//   racing our CANCEL's 487) cannot make a call any more: ACK and BYE as for a late branch. The
//   INVITE sent again (auth retry, 422, RFC 3263 failover) starts over in `calling`.
//
// Responses are opaque (`response: unknown`), as in the transaction machines: the runtime builds
// the ACK and BYE from them. A 2xx without a To tag (RFC 2543) has the tag ''.
import { assign, enqueueActions, setup } from 'xstate';

export type SipInviteForksEvent =
  /** A 101–199 with a To tag. */
  | { type: 'PROVISIONAL'; tag: string; response?: unknown }
  /** A 2xx, through the INVITE transaction (RFC 6026 Accepted) or after it. */
  | { type: 'ANSWER'; tag: string; response?: unknown }
  /** A non-2xx final response. */
  | { type: 'FAILED'; status: number }
  /** The INVITE went out again as a new transaction (credentials, 422, failover). */
  | { type: 'REISSUED' };

export interface SipInviteForksContext {
  /** To tags of the early dialogs, in order of creation. */
  early: string[];
  /** To tag of the 2xx that won. */
  winner?: string;
  /** Branches answered too late: ACKed and sent a BYE. */
  late: string[];
}

/** A response of one branch: its To tag and the message, opaque to the machine. */
export interface SipInviteForksResponse {
  tag: string;
  response: unknown;
}

export const sipInviteForksMachine = setup({
  types: {
    context: {} as SipInviteForksContext,
    events: {} as SipInviteForksEvent,
  },
  actions: {
    /** The call's dialog follows the early dialog of this 1xx; `created`: its first 1xx. */
    earlyDialog: (_, _params: SipInviteForksResponse & { created: boolean }) => {},
    /** The winning 2xx: confirm the call's dialog with it, ACK it, take its answer. */
    confirm: (_, _params: SipInviteForksResponse) => {},
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
  },
  guards: {
    knownEarly: ({ context, event }) => event.type === 'PROVISIONAL' && context.early.includes(event.tag),
    isWinner: ({ context, event }) => event.type === 'ANSWER' && event.tag === context.winner,
    isLate: ({ context, event }) => event.type === 'ANSWER' && context.late.includes(event.tag),
  },
}).createMachine({
  id: 'sipInviteForks',
  context: { early: [], late: [] },
  initial: 'calling',
  states: {
    calling: {
      on: {
        PROVISIONAL: [
          { guard: 'knownEarly', actions: { type: 'earlyDialog', params: ({ event }) => ({ tag: event.tag, response: event.response, created: false }) } },
          {
            actions: [
              { type: 'addEarly', params: ({ event }) => ({ tag: event.tag }) },
              { type: 'earlyDialog', params: ({ event }) => ({ tag: event.tag, response: event.response, created: true }) },
            ],
          },
        ],
        ANSWER: {
          target: 'answered',
          actions: [
            assign({ winner: ({ event }) => event.tag }),
            { type: 'confirm', params: ({ event }) => ({ tag: event.tag, response: event.response }) },
            enqueueActions(({ context, event, enqueue }) => {
              const losers = context.early.filter((t) => t !== event.tag);
              if (losers.length) enqueue({ type: 'dropEarly', params: { tags: losers } });
            }),
            assign({ early: [] }),
          ],
        },
        FAILED: {
          target: 'failed',
          actions: [
            enqueueActions(({ context, enqueue }) => {
              if (context.early.length) enqueue({ type: 'dropEarly', params: { tags: context.early } });
            }),
            assign({ early: [] }),
          ],
        },
      },
    },
    answered: {
      on: {
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
        REISSUED: 'calling',
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
