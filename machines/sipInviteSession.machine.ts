// The INVITE session of one SIP call leg, beside its dialog (machines/sipDialog.machine.ts): the
// rules of RFC 3261 that span transactions, which the leg's adapter used to keep in flags.
//
// Parallel regions, each one rule:
// - `invite` (UAS): while the app is asked about the call in the INVITE's own step (`offering`),
//   our 180 and the early dialog it makes wait: an answer or refusal in that same step goes out
//   alone (no 180 ahead of it) and takes the dialog straight from init to confirmed (or
//   terminated); otherwise the 180 goes and the dialog becomes early when the step ends. A 183 the
//   app sent in the step stands in for the 180 (no 180 after early media). Our answer in an
//   unreliable 183 (early media to a caller without 100rel) is context `earlyAnswer`: media may
//   flow before the 2xx, which carries the answer again; it counts only before our final response.
//   The app's answer (ANSWER, after the reliable provisional machine's PRACK gate) sends our 2xx at
//   once, except while ringing with an offer of ours out (call.update()'s UPDATE in the early
//   dialog, `reinvite.inFlight`): RFC 3311 §5.1 / RFC 3261 §13.3.1.4 let the 2xx carry only the
//   session agreed, so it is held (`answerHeld`, context `heldAnswer`) until that offer's final
//   response, and then carries the UPDATE's offer (a 2xx) or the SDP agreed before (a failure).
// - `invite` (UAC): §9.1 CANCEL only after a provisional response (queued until one comes); a
//   2xx that races our CANCEL still ends the call with a BYE, and so does a 2xx that makes no
//   session (INVITE.UNUSABLE: no answer to our offer), failing the call; §22.2 one retry with credentials.
//   The call ends at once when hung up, but a CANCEL (queued or sent) leaves our INVITE pending:
//   SESSION.END then only marks `callEnded`, and the session ends itself with the INVITE's
//   outcome (a final response, or Timer B as INVITE.TIMEOUT; a 2xx once its BYE went). A call
//   whose every branch's answer was refused fails with INVITE.FAILED (sipInviteForks) as by Timer B.
// - `ack` (UAS): §13.3.1.4 our 2xx is retransmitted (T1 doubling to T2) until its ACK, for at
//   most 64*T1, and only `unconfirmedLimit` times to a peer that never proved it receives us.
// - `reinvite`: §14.1 one re-INVITE at a time; a hold/resume asked for meanwhile is queued (the
//   latest wish wins); a 491 (glare) retries the same offer after the runtime's glare timer, a
//   500 with Retry-After (a peer busy with its own offer, §14.2, RFC 3311 §5.2) after the 0–10 s
//   it names (the timer is the runtime's either way). The
//   app's own re-offers (call.update(), numbered by the runtime) share it: each is queued in
//   order, goes alone, is retried on 491 like a hold, and is reported done (`updateDone`) with
//   its final status, or status 0 when it never went (a hangup dropped it).
// - `bye`: §15 a hangup's BYE waits for our re-INVITE to finish and for the ACK of our 2xx; it is
//   withheld entirely when the 2xx went unACKed to a peer that never confirmed its address.
// - `remoteHold`: whether the peer's last offer put us on hold.
//
// The timers are the runtime's (startTimer/stopTimer actions, fired back as ACK.TIMER and
// GLARE.TIMER), as in call.machine: the machine does the arithmetic, never reads a clock.
import { and, assign, not, or, raise, setup, stateIn } from 'xstate';

export type SipSessionRole = 'uac' | 'uas';
export type SipHoldDirection = 'sendonly' | 'sendrecv';
export type SipSessionTimer = 'ack2xx' | 'glare';

export interface SipInviteSessionInput {
  role: SipSessionRole;
  /** §17.1.1.1 T1 and T2 (ms). */
  t1: number;
  t2: number;
  /** 2xx retransmissions allowed toward a peer that has not confirmed its address. */
  unconfirmedLimit: number;
  /** UAS: the initial INVITE's offer already put us on hold (recvonly / inactive). */
  heldByRemote?: boolean;
}

export interface SipInviteSessionContext {
  role: SipSessionRole;
  t1: number;
  t2: number;
  unconfirmedLimit: number;
  heldAtStart: boolean;
  /** The 2xx retransmission schedule: current interval, time since the first 2xx, retransmissions sent. */
  ack: { interval: number; elapsed: number; sent: number };
  /** Direction of the re-INVITE in flight (or waiting out a glare). */
  reinvite?: SipHoldDirection;
  /** The hold/resume asked for while one was in flight. */
  queued?: SipHoldDirection;
  /** The wait a 500's Retry-After asked for before the retry (ms); unset after a 491. */
  retryAfterMs?: number;
  /** The app's re-offer in flight (or waiting out a glare), by the runtime's number. */
  update?: number;
  /** The app's re-offers asked for while another offer was in flight, oldest first. */
  updates: number[];
  /** UAS: our answer went in an unreliable 183 before our final response (early media without 100rel). */
  earlyAnswer: boolean;
  /** UAC: the call is over while our cancelled INVITE awaits its outcome (the session outlives it). */
  callEnded: boolean;
  /** UAS: the app's answer, held while our early offer is out (`invite.answerHeld`); `sdp`: its 2xx carries SDP. */
  heldAnswer?: { sdp: boolean };
}

export type SipInviteSessionEvent =
  // UAS INVITE
  /** The call rings: our 180 goes and the dialog becomes early (at once, or when the offering step ends). */
  | { type: 'RINGING' }
  /** We sent another provisional (a 183) with the dialog's tag. */
  | { type: 'PROGRESS.SENT' }
  /** That 183 went unreliably with our SDP answer (a caller without 100rel): early media. */
  | { type: 'EARLY_ANSWER.SENT' }
  /** The INVITE's own step (the app was asked about the call) is over. */
  | { type: 'OFFER.END' }
  /** We refused the INVITE (non-2xx final; our 2xx is 2XX.SENT). */
  | { type: 'INVITE.REFUSED' }
  /**
   * The app answered (past the reliable provisional machine's PRACK gate): our 2xx goes, now or
   * once our early offer has its final response. `sdp: false`: our offer went in a reliable 18x,
   * so the 2xx carries no SDP (absent: it carries our answer).
   */
  | { type: 'ANSWER'; sdp?: false }
  // UAC INVITE
  | { type: 'DIAL' }
  | { type: 'INVITE.PROVISIONAL'; status: number }
  | { type: 'INVITE.ANSWERED' }
  /**
   * A 2xx that makes no session (RFC 3261 §13.2.1: no answer to our offer in it or in its early
   * dialog, or none we can accept), confirmed and ACKed by the runtime: its dialog gets a BYE and
   * the call fails, never answered.
   */
  | { type: 'INVITE.UNUSABLE'; reason: string }
  /** A non-2xx final; `retryable`: a 401/407 whose challenge the runtime can answer. */
  | { type: 'INVITE.REJECTED'; status: number; reason?: string; contacts?: string[]; retryable: boolean }
  | { type: 'CANCEL' }
  /** No final response to our INVITE (Timer B, or a transport error) and no target left to try. */
  | { type: 'INVITE.TIMEOUT'; status: number; reason: string }
  /**
   * The INVITE ended (its final response, or a 2xx the runtime ACKed and ended with a BYE) with
   * every branch's answer to our offer refused, their early dialogs ended with our BYE (RFC 3261
   * §15): the call fails for that (`status`: 488), not for the final response's own status.
   */
  | { type: 'INVITE.FAILED'; status: number; reason: string }
  /** Raised by the machine itself when it retries with credentials. */
  | { type: 'AUTH.RETRIED' }
  // UAS 2xx reliability
  | { type: '2XX.SENT' }
  | { type: 'ACK.RECEIVED' }
  /** The runtime's retransmission timer; `confirmed`: the peer has proved it receives us. */
  | { type: 'ACK.TIMER'; confirmed: boolean }
  // re-INVITE
  | { type: 'REINVITE'; direction: SipHoldDirection }
  /** The app asks for a new offer of its own (call.update()), numbered `id` by the runtime. */
  | { type: 'REOFFER'; id: number }
  /**
   * Final response (or timeout: 408) to our re-INVITE or UPDATE offer; 0 when the dialog would not
   * send it. `retryAfter`: the response's Retry-After (seconds).
   */
  | { type: 'REINVITE.DONE'; status: number; retryAfter?: number }
  | { type: 'GLARE.TIMER' }
  /** An offer from the peer (initial or re-INVITE). */
  | { type: 'REMOTE.OFFER'; hold: boolean }
  // BYE
  | { type: 'HANGUP' }
  | { type: 'SESSION.END' };

const reinviteTarget = { target: 'inFlight' as const, reenter: true };

// The app's re-offer in flight is over with the event's status (a hangup's: 0); those queued never go.
const updateFinished = {
  type: 'updateDone' as const,
  params: ({ context, event }: { context: SipInviteSessionContext; event: SipInviteSessionEvent }) => ({
    ids: context.update !== undefined ? [context.update] : [],
    status: event.type === 'REINVITE.DONE' ? event.status : 0,
  }),
};
// The INVITE awaits our final response (UAS).
const beforeFinal = or(['offering', 'offeringRinging', 'offeringEarly', 'waiting', 'ringing', 'answerHeld'].map((s) => stateIn(`#sipInviteSession.active.invite.${s}`)));
const answerSdp = ({ event }: { event: SipInviteSessionEvent }) => ({ sdp: !(event.type === 'ANSWER' && event.sdp === false) });

const queuedUpdatesDropped = { type: 'updateDone' as const, params: ({ context }: { context: SipInviteSessionContext }) => ({ ids: context.updates, status: 0 }) };

export const sipInviteSessionMachine = setup({
  types: {
    input: {} as SipInviteSessionInput,
    context: {} as SipInviteSessionContext,
    events: {} as SipInviteSessionEvent,
  },
  actions: {
    // Wire effects, provided by the SIP user agent.
    /** Send our 180 Ringing. */
    sendRinging: () => {},
    /** UAS: send our 2xx to the INVITE; `sdp`: with our latest agreed SDP. */
    sendAnswer: (_, _params: { sdp: boolean }) => {},
    /** Tell the dialog it is early (our 180 or 183 went out). */
    dialogEarly: () => {},
    sendInvite: () => {},
    retryWithAuth: () => {},
    sendCancel: () => {},
    notifyProgress: (_, _params: { status: number }) => {},
    notifyAnswered: () => {},
    notifyRejected: (_, _params: { status: number; reason?: string; contacts?: string[] }) => {},
    notifyFailed: (_, _params: { status?: number; reason: string }) => {},
    retransmit2xx: () => {},
    /** The 2xx never got its ACK; `confirmed` decides between a BYE and a silent end. */
    ackTimedOut: (_, _params: { confirmed: boolean }) => {},
    /** `update`: the app's re-offer of that number, not a hold/resume. */
    sendReinvite: (_, _params: { direction: SipHoldDirection; update?: number }) => {},
    /** The app's re-offers `ids` are over: their final status, 0 when never sent (ids may be empty). */
    updateDone: (_, _params: { ids: readonly number[]; status: number }) => {},
    sendBye: () => {},
    notifyRemoteHold: () => {},
    notifyRemoteResume: () => {},
    startTimer: (_, _params: { timer: SipSessionTimer; ms?: number }) => {},
    stopTimer: (_, _params: { timer: SipSessionTimer }) => {},
    // Bookkeeping.
    armAck: assign(({ context }) => ({ ack: { interval: context.t1, elapsed: 0, sent: 0 } })),
    stepAck: assign(({ context }) => ({
      ack: { interval: Math.min(context.ack.interval * 2, context.t2), elapsed: context.ack.elapsed + context.ack.interval, sent: context.ack.sent + 1 },
    })),
    startReinvite: assign((_, params: { direction: SipHoldDirection }) => ({ reinvite: params.direction })),
    queueReinvite: assign((_, params: { direction: SipHoldDirection }) => ({ queued: params.direction })),
    takeQueued: assign(({ context }) => ({ reinvite: context.queued, queued: undefined, update: undefined })),
    startUpdate: assign((_, params: { id: number }) => ({ update: params.id })),
    queueUpdate: assign(({ context }, params: { id: number }) => ({ updates: [...context.updates, params.id] })),
    takeUpdate: assign(({ context }) => ({ update: context.updates[0], updates: context.updates.slice(1), reinvite: undefined })),
    clearReinvite: assign({ reinvite: undefined, queued: undefined, update: undefined, updates: [] }),
    dropQueued: assign({ queued: undefined, updates: [] }),
    markEarlyAnswer: assign({ earlyAnswer: true }),
    markCallEnded: assign({ callEnded: true }),
    holdAnswer: assign((_, params: { sdp: boolean }) => ({ heldAnswer: { sdp: params.sdp } })),
    releaseAnswer: assign({ heldAnswer: undefined }),
  },
  guards: {
    canRetryAuth: and([({ event }) => event.type === 'INVITE.REJECTED' && event.retryable, stateIn('#sipInviteSession.active.auth.untried')]),
    // The schedule is over: 64*T1 since the first 2xx, or the unconfirmed peer had its share.
    ackGiveUp: ({ context, event }) =>
      event.type === 'ACK.TIMER' &&
      (context.ack.elapsed + context.ack.interval >= 64 * context.t1 || (!event.confirmed && context.ack.sent >= context.unconfirmedLimit)),
    confirmedPeer: ({ event }) => event.type === 'ACK.TIMER' && event.confirmed,
    // A 491, or a 500 whose Retry-After is within the 10 s a busy peer may ask for (§14.2).
    glare: ({ event }) =>
      event.type === 'REINVITE.DONE' && (event.status === 491 || (event.status === 500 && event.retryAfter !== undefined && event.retryAfter <= 10)),
    hasQueued: ({ context }) => context.queued !== undefined,
    hasQueuedUpdate: ({ context }) => context.updates.length > 0,
    updating: ({ context }) => context.update !== undefined,
    heldAtStart: ({ context }) => context.heldAtStart,
    isUas: ({ context }) => context.role === 'uas',
    // An offer of ours is on the wire, awaiting its final response (not one waiting out a glare).
    offerOut: stateIn('#sipInviteSession.active.reinvite.inFlight'),
    // What a BYE must wait for.
    byeMustWait: or([stateIn('#sipInviteSession.active.reinvite.inFlight'), stateIn('#sipInviteSession.active.ack.awaiting')]),
    byeWithheld: stateIn('#sipInviteSession.active.ack.abandoned'),
    byeQueued: stateIn('#sipInviteSession.active.bye.queued'),
    noBye: stateIn('#sipInviteSession.active.bye.none'),
    isHold: ({ event }) => event.type === 'REMOTE.OFFER' && event.hold,
    // §9.1: our INVITE was cancelled (or will be, after a provisional) and has no final response yet.
    cancelPending: or([stateIn('#sipInviteSession.active.invite.cancelQueued'), stateIn('#sipInviteSession.active.invite.cancelling')]),
    inviting: or([stateIn('#sipInviteSession.active.invite.calling'), stateIn('#sipInviteSession.active.invite.proceeding')]),
    // SESSION.END while a CANCEL is pending: the session outlives the call (the same states, named apart).
    outlivesCall: or([stateIn('#sipInviteSession.active.invite.cancelQueued'), stateIn('#sipInviteSession.active.invite.cancelling')]),
    callEnded: ({ context }) => context.callEnded,
    byeSent: stateIn('#sipInviteSession.active.bye.sent'),
  },
}).createMachine({
  id: 'sipInviteSession',
  context: ({ input }) => ({
    role: input.role,
    t1: input.t1,
    t2: input.t2,
    unconfirmedLimit: input.unconfirmedLimit,
    heldAtStart: input.heldByRemote ?? false,
    ack: { interval: input.t1, elapsed: 0, sent: 0 },
    earlyAnswer: false,
    callEnded: false,
    updates: [],
  }),
  initial: 'active',
  states: {
    active: {
      type: 'parallel',
      on: {
        'SESSION.END': [
          // The call is over but our INVITE is not: the CANCEL still waits for a provisional, or a
          // 2xx may still come and need its ACK and BYE.
          { guard: 'outlivesCall', actions: 'markCallEnded' },
          { target: '#sipInviteSession.ended' },
        ],
      },
      states: {
        invite: {
          initial: 'idle',
          states: {
            // A UAS session starts with the INVITE's offering step.
            idle: { always: { guard: 'isUas', target: 'offering' }, on: { DIAL: { target: 'calling', actions: 'sendInvite' } } },
            offering: {
              on: { RINGING: 'offeringRinging', 'OFFER.END': 'waiting', '2XX.SENT': 'answered', 'INVITE.REFUSED': 'rejected' },
            },
            offeringRinging: {
              on: {
                'OFFER.END': { target: 'ringing', actions: ['sendRinging', 'dialogEarly'] },
                'PROGRESS.SENT': 'offeringEarly',
                '2XX.SENT': 'answered',
                'INVITE.REFUSED': 'rejected',
              },
            },
            // A 183 went out during the step: it made the early dialog, and no 180 follows it.
            offeringEarly: {
              on: { 'OFFER.END': { target: 'ringing', actions: 'dialogEarly' }, '2XX.SENT': 'answered', 'INVITE.REFUSED': 'rejected' },
            },
            waiting: {
              on: { RINGING: { target: 'ringing', actions: ['sendRinging', 'dialogEarly'] }, '2XX.SENT': 'answered', 'INVITE.REFUSED': 'rejected' },
            },
            ringing: {
              on: {
                // Our early UPDATE's offer is out (only here: the early dialog it needs came with RINGING).
                ANSWER: { guard: 'offerOut', target: 'answerHeld', actions: { type: 'holdAnswer', params: answerSdp } },
                '2XX.SENT': 'answered',
                'INVITE.REFUSED': 'rejected',
              },
            },
            // RFC 3311 §5.1: the 2xx waits for our offer's final response; by then the runtime's
            // answer SDP is the UPDATE's offer (a 2xx to it) or still the one agreed before.
            // Released as soon as no offer is on the wire, so also when a 491 (or a 500 with
            // Retry-After) sends the UPDATE to wait out its glare timer: the 2xx then goes with the
            // SDP agreed before and the retry follows it in the confirmed dialog (an UPDATE is as
            // valid there). Waiting for the retry instead would hold the caller's 2xx for a random
            // 0–2 s (up to 10 s after a 500) for no rule's sake. Offers the app queued behind the
            // first go in turn before it (each is on the wire as soon as the one before is done).
            // A CANCEL or hangup meanwhile refuses the INVITE (the runtime's 487/480): nothing held goes.
            answerHeld: {
              always: {
                guard: not('offerOut'),
                target: 'ringing',
                actions: [{ type: 'sendAnswer', params: ({ context }) => ({ sdp: context.heldAnswer?.sdp ?? true }) }, 'releaseAnswer'],
              },
              on: {
                ANSWER: {}, // (held already)
                '2XX.SENT': { target: 'answered', actions: 'releaseAnswer' },
                'INVITE.REFUSED': { target: 'rejected', actions: 'releaseAnswer' },
              },
            },
            calling: {
              on: {
                'INVITE.PROVISIONAL': { target: 'proceeding', actions: { type: 'notifyProgress', params: ({ event }) => ({ status: event.status }) } },
                CANCEL: 'cancelQueued', // §9.1: not before a provisional
                'INVITE.REJECTED': { guard: 'canRetryAuth', target: 'calling', reenter: true, actions: ['retryWithAuth', raise({ type: 'AUTH.RETRIED' })] },
              },
            },
            proceeding: {
              on: {
                'INVITE.PROVISIONAL': { actions: { type: 'notifyProgress', params: ({ event }) => ({ status: event.status }) } },
                CANCEL: { target: 'cancelling', actions: 'sendCancel' },
                'INVITE.REJECTED': { guard: 'canRetryAuth', target: 'calling', actions: ['retryWithAuth', raise({ type: 'AUTH.RETRIED' })] },
              },
            },
            cancelQueued: {
              on: { 'INVITE.PROVISIONAL': { target: 'cancelling', actions: 'sendCancel' } },
            },
            cancelling: {},
            // A 2xx that beat our CANCEL, once its BYE went: nothing more for a call already over.
            answered: { always: { guard: and(['callEnded', 'byeSent']), target: '#sipInviteSession.ended' } },
            rejected: { always: { guard: 'callEnded', target: '#sipInviteSession.ended' } },
          },
          on: {
            // Only while the INVITE awaits our final response (UAS); after it a 183 is no more.
            'EARLY_ANSWER.SENT': { guard: beforeFinal, actions: 'markEarlyAnswer' },
            // The app's answer, unless held above; once our final response went, nothing.
            ANSWER: { guard: beforeFinal, actions: { type: 'sendAnswer', params: answerSdp } },
            // Final responses: a 2xx after our CANCEL still creates the dialog; it is ended with a BYE.
            'INVITE.ANSWERED': [
              { guard: 'cancelPending', target: '.answered', actions: raise({ type: 'HANGUP' }) },
              { guard: 'inviting', target: '.answered', actions: 'notifyAnswered' },
            ],
            // A 2xx without a usable answer: a dialog all the same, ended with a BYE; a live call fails.
            'INVITE.UNUSABLE': [
              { guard: 'cancelPending', target: '.answered', actions: raise({ type: 'HANGUP' }) },
              {
                guard: 'inviting',
                target: '.answered',
                actions: [{ type: 'notifyFailed', params: ({ event }) => ({ reason: event.reason }) }, raise({ type: 'HANGUP' })],
              },
            ],
            // (A retry with credentials is taken by calling/proceeding themselves.)
            'INVITE.REJECTED': [
              // (The 487 of our CANCEL, or any final, for a call already over: nobody to tell.)
              { guard: and(['cancelPending', 'callEnded']), target: '.rejected' },
              {
                guard: or(['inviting', 'cancelPending']),
                target: '.rejected',
                actions: { type: 'notifyRejected', params: ({ event }) => ({ status: event.status, reason: event.reason, contacts: event.contacts }) },
              },
            ],
            // Timer B: the INVITE (and a CANCEL of it) is given up on (§9.1, §17.1.1.2).
            'INVITE.TIMEOUT': [
              { guard: 'cancelPending', target: '.rejected' },
              { guard: 'inviting', target: '.rejected', actions: { type: 'notifyFailed', params: ({ event }) => ({ status: event.status, reason: event.reason }) } },
            ],
            // Every branch's answer refused (sipInviteForks): failed as by Timer B, with why.
            'INVITE.FAILED': [
              { guard: 'cancelPending', target: '.rejected' },
              { guard: 'inviting', target: '.rejected', actions: { type: 'notifyFailed', params: ({ event }) => ({ status: event.status, reason: event.reason }) } },
            ],
          },
        },
        auth: {
          initial: 'untried',
          states: { untried: { on: { 'AUTH.RETRIED': 'tried' } }, tried: {} },
        },
        ack: {
          initial: 'idle',
          // (Per state, not on the region: re-entering a region re-enters every region beside it.)
          states: {
            idle: { on: { '2XX.SENT': 'awaiting' } },
            awaiting: {
              entry: ['armAck', { type: 'startTimer', params: ({ context }) => ({ timer: 'ack2xx', ms: context.ack.interval }) }],
              exit: { type: 'stopTimer', params: { timer: 'ack2xx' } },
              on: {
                '2XX.SENT': { target: 'awaiting', reenter: true },
                'ACK.RECEIVED': 'acked',
                'ACK.TIMER': [
                  { guard: and(['ackGiveUp', 'confirmedPeer']), target: 'timedOut', actions: { type: 'ackTimedOut', params: { confirmed: true } } },
                  { guard: 'ackGiveUp', target: 'abandoned', actions: { type: 'ackTimedOut', params: { confirmed: false } } },
                  {
                    actions: ['stepAck', 'retransmit2xx', { type: 'startTimer', params: ({ context }) => ({ timer: 'ack2xx', ms: context.ack.interval }) }],
                  },
                ],
              },
            },
            acked: { on: { '2XX.SENT': 'awaiting' } },
            /** Given up on a confirmed peer: the session ends with a BYE. */
            timedOut: { on: { '2XX.SENT': 'awaiting' } },
            /** Given up on a peer that never confirmed its address: no BYE toward it. */
            abandoned: {},
          },
        },
        reinvite: {
          initial: 'idle',
          states: {
            idle: {
              on: {
                REINVITE: {
                  guard: 'noBye',
                  target: 'inFlight',
                  actions: [{ type: 'startReinvite', params: ({ event }) => ({ direction: event.direction }) }],
                },
                REOFFER: [
                  { guard: 'noBye', target: 'inFlight', actions: { type: 'startUpdate', params: ({ event }) => ({ id: event.id }) } },
                  { actions: { type: 'updateDone', params: ({ event }) => ({ ids: [event.id], status: 0 }) } },
                ],
              },
            },
            inFlight: {
              entry: {
                type: 'sendReinvite',
                params: ({ context }) => ({ direction: context.reinvite ?? 'sendrecv', ...(context.update !== undefined ? { update: context.update } : {}) }),
              },
              on: {
                REINVITE: { actions: { type: 'queueReinvite', params: ({ event }) => ({ direction: event.direction }) } },
                REOFFER: { actions: { type: 'queueUpdate', params: ({ event }) => ({ id: event.id }) } },
                'REINVITE.DONE': [
                  // A BYE waiting for this re-INVITE goes now (bye region); nothing more is sent.
                  { guard: 'byeQueued', target: 'idle', actions: [updateFinished, queuedUpdatesDropped, 'clearReinvite'] },
                  {
                    guard: 'glare',
                    target: 'glare',
                    actions: assign({ retryAfterMs: ({ event }) => (event.status === 500 && event.retryAfter !== undefined ? event.retryAfter * 1000 : undefined) }),
                  },
                  // A queued hold/resume goes before queued updates (each update offers the hold state of its time).
                  { guard: 'hasQueued', ...reinviteTarget, actions: [updateFinished, 'takeQueued'] },
                  { guard: 'hasQueuedUpdate', ...reinviteTarget, actions: [updateFinished, 'takeUpdate'] },
                  { target: 'idle', actions: [updateFinished, 'clearReinvite'] },
                ],
                HANGUP: { actions: [queuedUpdatesDropped, 'dropQueued'] },
              },
            },
            // §14.1: after a 491 the same offer is sent again once the glare timer runs out (after a
            // 500, once its Retry-After has passed).
            glare: {
              entry: {
                type: 'startTimer',
                params: ({ context }) => (context.retryAfterMs !== undefined ? { timer: 'glare' as const, ms: context.retryAfterMs } : { timer: 'glare' as const }),
              },
              exit: { type: 'stopTimer', params: { timer: 'glare' } },
              on: {
                // The retry is a hold/resume: the latest wish replaces it; it is an update: the wish waits its turn.
                REINVITE: [
                  { guard: 'updating', actions: { type: 'queueReinvite', params: ({ event }) => ({ direction: event.direction }) } },
                  { actions: { type: 'startReinvite', params: ({ event }) => ({ direction: event.direction }) } },
                ],
                REOFFER: { actions: { type: 'queueUpdate', params: ({ event }) => ({ id: event.id }) } },
                'GLARE.TIMER': 'inFlight',
                HANGUP: { target: 'idle', actions: [updateFinished, queuedUpdatesDropped, 'clearReinvite'] },
              },
            },
          },
        },
        bye: {
          initial: 'none',
          states: {
            none: {
              on: {
                HANGUP: [{ guard: 'byeWithheld', target: 'withheld' }, { guard: 'byeMustWait', target: 'queued' }, { target: 'sent', actions: 'sendBye' }],
              },
            },
            queued: {
              always: [{ guard: 'byeWithheld', target: 'withheld' }, { guard: not('byeMustWait'), target: 'sent', actions: 'sendBye' }],
            },
            sent: {},
            withheld: {},
          },
        },
        remoteHold: {
          initial: 'start',
          states: {
            start: { always: [{ guard: 'heldAtStart', target: 'held' }, { target: 'notHeld' }] },
            notHeld: { on: { 'REMOTE.OFFER': { guard: 'isHold', target: 'held', actions: 'notifyRemoteHold' } } },
            held: { on: { 'REMOTE.OFFER': { guard: not('isHold'), target: 'notHeld', actions: 'notifyRemoteResume' } } },
          },
        },
      },
    },
    ended: { type: 'final' },
  },
});

export type SipInviteSessionMachine = typeof sipInviteSessionMachine;
