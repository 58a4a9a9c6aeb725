// One jambonz `sip:refer` verb (jambonz-feature-server lib/tasks/sip_refer.js): REFER the caller
// to `referTo` in its dialog and follow the NOTIFY sipfrags. A refused REFER reports its status to
// the actionHook (`refer_status`); an accepted one (its NOTIFYs prove the 202) waits for a final
// sipfrag and reports `refer_status: 202` with `final_referred_call_status`. Every NOTIFY is also an
// `eventHook` notification (`transfer-status`). Pure statechart: the adapter sends the REFER
// (`sendRefer`) and reports REFER.REFUSED / NOTIFY / CALL.ENDED / KILL; `notifyEvent` is the
// eventHook.
import { assign, setup } from 'xstate';

export type ReferEndReason = 'refused' | 'final' | 'call-ended' | 'killed';

export interface ReferContext {
  referStatus: number | undefined;
  finalStatus: number | undefined;
  reason: ReferEndReason | undefined;
}

export type ReferEvent =
  /** The REFER's own final response, ≥ 300. */
  | { type: 'REFER.REFUSED'; code: number }
  /** A NOTIFY's sipfrag status line (100, 180, 200, 486…). */
  | { type: 'NOTIFY'; code: number }
  | { type: 'CALL.ENDED' }
  | { type: 'KILL' };

export interface ReferOutput {
  reason: ReferEndReason;
  referStatus: number | undefined;
  finalStatus: number | undefined;
}

export const jambonzReferMachine = setup({
  types: {
    context: {} as ReferContext,
    events: {} as ReferEvent,
    output: {} as ReferOutput,
  },
  actions: {
    sendRefer: () => {},
    notifyEvent: (_, _params: { code: number }) => {},
    setReason: assign((_, p: { reason: ReferEndReason }) => ({ reason: p.reason })),
  },
  guards: {
    isFinal: ({ event }) => event.type === 'NOTIFY' && event.code >= 200,
  },
}).createMachine({
  id: 'jambonzRefer',
  context: { referStatus: undefined, finalStatus: undefined, reason: undefined },
  initial: 'referring',
  output: ({ context }) => ({ reason: context.reason ?? 'killed', referStatus: context.referStatus, finalStatus: context.finalStatus }),
  on: {
    'CALL.ENDED': { target: '.done', actions: { type: 'setReason', params: { reason: 'call-ended' } } },
    KILL: { target: '.done', actions: { type: 'setReason', params: { reason: 'killed' } } },
  },
  states: {
    // REFER sent, no answer yet.
    referring: {
      entry: 'sendRefer',
      on: {
        'REFER.REFUSED': {
          target: 'done',
          actions: [assign({ referStatus: ({ event }) => event.code }), { type: 'setReason', params: { reason: 'refused' } }],
        },
        NOTIFY: [
          {
            guard: 'isFinal',
            target: 'done',
            actions: [
              { type: 'notifyEvent', params: ({ event }) => ({ code: event.code }) },
              assign({ referStatus: 202, finalStatus: ({ event }) => event.code }),
              { type: 'setReason', params: { reason: 'final' } },
            ],
          },
          { target: 'accepted', actions: [{ type: 'notifyEvent', params: ({ event }) => ({ code: event.code }) }, assign({ referStatus: 202 })] },
        ],
      },
    },
    // The transferee is trying the target: NOTIFYs until a final one.
    accepted: {
      on: {
        NOTIFY: [
          {
            guard: 'isFinal',
            target: 'done',
            actions: [
              { type: 'notifyEvent', params: ({ event }) => ({ code: event.code }) },
              assign({ finalStatus: ({ event }) => event.code }),
              { type: 'setReason', params: { reason: 'final' } },
            ],
          },
          { actions: { type: 'notifyEvent', params: ({ event }) => ({ code: event.code }) } },
        ],
      },
    },
    done: { type: 'final' },
  },
});

export type JambonzReferMachine = typeof jambonzReferMachine;
