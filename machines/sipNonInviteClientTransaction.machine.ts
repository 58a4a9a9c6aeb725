// Non-INVITE client transaction, RFC 3261 §17.1.2.
//
// Trying and Proceeding share Timer F (the transaction deadline) and Timer E (retransmission),
// and a provisional response must neither restart F nor reschedule the pending E. Hence the
// parallel `active` state: F sits on `active`, the phase (trying/proceeding) is one region and
// the Timer E loop is another, so moving between phases leaves both timers running.
// Match with `snapshot.matches({ active: { phase: 'trying' } })`.
import { assign, setup, stateIn } from 'xstate';
import type { SipTimerConfig } from './sipTimers.js';

export type NonInviteClientTransactionInput = SipTimerConfig;

export type NonInviteClientTransactionEvent =
  | { type: 'SEND'; request: unknown }
  | { type: 'RESPONSE.RECEIVED'; status: number; response?: unknown }
  | { type: 'TRANSPORT.ERROR'; error?: unknown };

export type NonInviteClientTransactionOutcome = 'final-response' | 'timeout' | 'transport-error';

export interface NonInviteClientTransactionOutput {
  outcome: NonInviteClientTransactionOutcome;
  status?: number;
  retransmissions: number;
}

export interface NonInviteClientTransactionContext extends SipTimerConfig {
  request?: unknown;
  /** Request retransmissions caused by Timer E (0 on reliable transports). */
  retransmissions: number;
  /** Current Timer E interval. */
  timerE: number;
  /** Offset from the first transmission of the latest retransmission, by timer accounting. */
  lastRetransmitAt: number;
  /** Retransmitted finals swallowed in Completed. */
  absorbed: number;
  finalStatus?: number;
  outcome?: NonInviteClientTransactionOutcome;
}

interface ResponseParams {
  status: number;
  response: unknown;
}

export const sipNonInviteClientTransactionMachine = setup({
  types: {
    input: {} as NonInviteClientTransactionInput,
    context: {} as NonInviteClientTransactionContext,
    events: {} as NonInviteClientTransactionEvent,
    output: {} as NonInviteClientTransactionOutput,
  },
  actions: {
    transmitRequest: (_, _params: { request: unknown }) => {},
    retransmitRequest: (_, _params: { request: unknown; attempt: number }) => {},
    passToTU: (_, _params: ResponseParams) => {},
    notifyTimeout: () => {},
    notifyTransportError: (_, _params: { error: unknown }) => {},
    // Trying backs off exponentially up to T2; once a provisional arrived the server is known
    // to be alive, so Proceeding polls at a flat T2 (§17.1.2.2).
    backOffTimerE: assign(({ context }, params: { proceeding: boolean }) => ({
      retransmissions: context.retransmissions + 1,
      lastRetransmitAt: context.lastRetransmitAt + context.timerE,
      timerE: params.proceeding ? context.t2 : Math.min(context.timerE * 2, context.t2),
    })),
    countAbsorbed: assign(({ context }) => ({ absorbed: context.absorbed + 1 })),
    recordFinal: assign((_, params: { status: number }) => ({ finalStatus: params.status, outcome: 'final-response' as const })),
    recordOutcome: assign((_, params: { outcome: NonInviteClientTransactionOutcome }) => ({ outcome: params.outcome })),
  },
  guards: {
    reliableTransport: ({ context }) => context.reliable,
    inProceeding: stateIn('#sipNonInviteClientTransaction.active.phase.proceeding'),
    provisional: ({ event }) => event.type === 'RESPONSE.RECEIVED' && event.status >= 100 && event.status < 200,
    final: ({ event }) => event.type === 'RESPONSE.RECEIVED' && event.status >= 200 && event.status < 700,
  },
  delays: {
    timerE: ({ context }) => context.timerE,
    timerF: ({ context }) => 64 * context.t1,
    timerK: ({ context }) => (context.reliable ? 0 : context.t4),
  },
}).createMachine({
  id: 'sipNonInviteClientTransaction',
  context: ({ input }) => ({
    t1: input.t1,
    t2: input.t2,
    t4: input.t4,
    reliable: input.reliable,
    retransmissions: 0,
    timerE: input.t1,
    lastRetransmitAt: 0,
    absorbed: 0,
  }),
  initial: 'idle',
  output: ({ context }) => ({
    outcome: context.outcome ?? 'final-response',
    status: context.finalStatus,
    retransmissions: context.retransmissions,
  }),
  states: {
    idle: {
      on: {
        SEND: {
          target: 'active',
          actions: [assign({ request: ({ event }) => event.request }), { type: 'transmitRequest', params: ({ event }) => ({ request: event.request }) }],
        },
      },
    },
    active: {
      type: 'parallel',
      after: {
        timerF: { target: 'terminated', actions: ['notifyTimeout', { type: 'recordOutcome', params: { outcome: 'timeout' } }] },
      },
      on: {
        'RESPONSE.RECEIVED': {
          guard: 'final',
          target: 'completed',
          actions: [
            { type: 'passToTU', params: ({ event }) => ({ status: event.status, response: event.response }) },
            { type: 'recordFinal', params: ({ event }) => ({ status: event.status }) },
          ],
        },
        'TRANSPORT.ERROR': {
          target: 'terminated',
          actions: [
            { type: 'notifyTransportError', params: ({ event }) => ({ error: event.error }) },
            { type: 'recordOutcome', params: { outcome: 'transport-error' } },
          ],
        },
      },
      states: {
        phase: {
          initial: 'trying',
          states: {
            trying: {
              on: {
                'RESPONSE.RECEIVED': {
                  guard: 'provisional',
                  target: 'proceeding',
                  actions: { type: 'passToTU', params: ({ event }) => ({ status: event.status, response: event.response }) },
                },
              },
            },
            proceeding: {
              on: {
                'RESPONSE.RECEIVED': {
                  guard: 'provisional',
                  actions: { type: 'passToTU', params: ({ event }) => ({ status: event.status, response: event.response }) },
                },
              },
            },
          },
        },
        retransmit: {
          initial: 'pending',
          states: {
            pending: {
              // Reliable transports never start Timer E; leaving at once cancels it.
              always: { guard: 'reliableTransport', target: 'off' },
              after: {
                timerE: [
                  {
                    guard: 'inProceeding',
                    target: 'pending',
                    reenter: true,
                    actions: [
                      { type: 'retransmitRequest', params: ({ context }) => ({ request: context.request, attempt: context.retransmissions + 1 }) },
                      { type: 'backOffTimerE', params: { proceeding: true } },
                    ],
                  },
                  {
                    target: 'pending',
                    reenter: true,
                    actions: [
                      { type: 'retransmitRequest', params: ({ context }) => ({ request: context.request, attempt: context.retransmissions + 1 }) },
                      { type: 'backOffTimerE', params: { proceeding: false } },
                    ],
                  },
                ],
              },
            },
            off: {},
          },
        },
      },
    },
    completed: {
      // Lingers only to swallow retransmitted finals (Timer K), which the TU must not see twice.
      after: { timerK: 'terminated' },
      on: {
        'RESPONSE.RECEIVED': { actions: 'countAbsorbed' },
      },
    },
    terminated: { type: 'final' },
  },
});

export type SipNonInviteClientTransactionMachine = typeof sipNonInviteClientTransactionMachine;
