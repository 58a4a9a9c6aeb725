// A REFER we received (RFC 3515): the far end asks us to call a target. One actor per REFER, beside
// the dialog it came in: the app decides, the REFER is answered, and the implicit subscription
// reports the new call's progress to the referrer in NOTIFYs until it ends.
//
// - `deciding`: the app was told (a `refer` event on the call). It accepts (202, a NOTIFY
//   "100 Trying", and the target is dialled) or refuses (our final response); no decision within
//   the runtime's decision timer is a 603, as is the dialog ending meanwhile.
// - `calling`: each provisional of the new call is a NOTIFY (active); its answer or its failure is
//   the last NOTIFY (terminated); the dialog ending stops the subscription with nothing more sent.
//
// The timer is the runtime's (startTimer/stopTimer, fired back as DECISION.TIMER): the machine
// never reads a clock.
import { setup } from 'xstate';

export interface SipRefereeInput {
  /** The Refer-To URI, already checked by the runtime. */
  target: string;
}

export interface SipRefereeContext {
  target: string;
}

export type SipRefereeEvent =
  | { type: 'ACCEPT' }
  | { type: 'REJECT'; status: number; reason?: string }
  | { type: 'DECISION.TIMER' }
  /** The new call's provisional response (18x). */
  | { type: 'TARGET.PROGRESS'; status: number }
  | { type: 'TARGET.ANSWERED' }
  /** The new call ended before it was answered (its final status, or 503 when it had none). */
  | { type: 'TARGET.FAILED'; status: number }
  /** The dialog the REFER came in is over (BYE either way, or the call ended). */
  | { type: 'DIALOG.ENDED' };

export const sipRefereeMachine = setup({
  types: {
    input: {} as SipRefereeInput,
    context: {} as SipRefereeContext,
    events: {} as SipRefereeEvent,
  },
  actions: {
    // Wire effects, provided by the SIP user agent.
    /** Answer the REFER (202 when accepted). */
    respond: (_, _params: { status: number; reason?: string }) => {},
    /** Place the call to the target. */
    dial: () => {},
    /** A NOTIFY with a message/sipfrag status line; `final`: Subscription-State terminated. */
    notify: (_, _params: { status: number; final: boolean }) => {},
    startTimer: () => {},
    stopTimer: () => {},
  },
}).createMachine({
  id: 'sipReferee',
  context: ({ input }) => ({ target: input.target }),
  initial: 'deciding',
  states: {
    deciding: {
      entry: 'startTimer',
      exit: 'stopTimer',
      on: {
        ACCEPT: {
          target: 'calling',
          actions: [
            { type: 'respond', params: { status: 202, reason: 'Accepted' } },
            { type: 'notify', params: { status: 100, final: false } },
            'dial',
          ],
        },
        REJECT: { target: 'done', actions: { type: 'respond', params: ({ event }) => ({ status: event.status, reason: event.reason }) } },
        'DECISION.TIMER': { target: 'done', actions: { type: 'respond', params: { status: 603, reason: 'Decline' } } },
        'DIALOG.ENDED': { target: 'done', actions: { type: 'respond', params: { status: 603, reason: 'Decline' } } },
      },
    },
    calling: {
      on: {
        'TARGET.PROGRESS': { actions: { type: 'notify', params: ({ event }) => ({ status: event.status, final: false }) } },
        'TARGET.ANSWERED': { target: 'done', actions: { type: 'notify', params: { status: 200, final: true } } },
        'TARGET.FAILED': { target: 'done', actions: { type: 'notify', params: ({ event }) => ({ status: event.status, final: true }) } },
        'DIALOG.ENDED': 'done',
      },
    },
    done: { type: 'final' },
  },
});

export type SipRefereeMachine = typeof sipRefereeMachine;
