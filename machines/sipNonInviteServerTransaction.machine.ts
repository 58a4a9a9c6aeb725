// Non-INVITE server transaction, RFC 3261 §17.2.2. It never retransmits on its own: the
// client's Timer E drives retransmission, and this machine answers each retransmitted request
// with the latest response it has, or stays silent while the TU is still thinking (Trying).
import { assign, setup } from 'xstate';
import type { SipTimerConfig } from './sipTimers.js';

export type NonInviteServerTransactionInput = SipTimerConfig;

export type NonInviteServerTransactionEvent =
  | { type: 'REQUEST.RECEIVED'; request: unknown }
  | { type: 'REQUEST.RETRANSMITTED' }
  | { type: 'TU.RESPONSE'; status: number; response?: unknown }
  | { type: 'TRANSPORT.ERROR'; error?: unknown };

export type NonInviteServerTransactionOutcome = 'final-response' | 'transport-error';

export interface NonInviteServerTransactionOutput {
  outcome: NonInviteServerTransactionOutcome;
  status?: number;
  /** Responses resent because the request was retransmitted. */
  retransmissions: number;
}

export interface NonInviteServerTransactionContext extends SipTimerConfig {
  lastResponse?: { status: number; response: unknown };
  /** Responses resent to answer a retransmitted request. */
  retransmissions: number;
  /** Retransmitted requests kept from the TU. */
  absorbed: number;
  finalStatus?: number;
  outcome?: NonInviteServerTransactionOutcome;
}

interface ResponseParams {
  status: number;
  response: unknown;
}

export const sipNonInviteServerTransactionMachine = setup({
  types: {
    input: {} as NonInviteServerTransactionInput,
    context: {} as NonInviteServerTransactionContext,
    events: {} as NonInviteServerTransactionEvent,
    output: {} as NonInviteServerTransactionOutput,
  },
  actions: {
    passToTU: (_, _params: { request: unknown }) => {},
    transmitResponse: (_, _params: ResponseParams & { retransmission: boolean }) => {},
    notifyTransportError: (_, _params: { error: unknown }) => {},
    recordResponse: assign((_, params: ResponseParams) => ({ lastResponse: { status: params.status, response: params.response } })),
    countRetransmission: assign(({ context }) => ({ retransmissions: context.retransmissions + 1 })),
    countAbsorbed: assign(({ context }) => ({ absorbed: context.absorbed + 1 })),
    recordFinal: assign((_, params: { status: number }) => ({ finalStatus: params.status, outcome: 'final-response' as const })),
    recordOutcome: assign((_, params: { outcome: NonInviteServerTransactionOutcome }) => ({ outcome: params.outcome })),
  },
  guards: {
    provisional: ({ event }) => event.type === 'TU.RESPONSE' && event.status >= 100 && event.status < 200,
    final: ({ event }) => event.type === 'TU.RESPONSE' && event.status >= 200 && event.status < 700,
  },
  delays: {
    // Long enough to outlive every retransmission of the client's Timer E (64*T1) on UDP.
    timerJ: ({ context }) => (context.reliable ? 0 : 64 * context.t1),
  },
}).createMachine({
  id: 'sipNonInviteServerTransaction',
  context: ({ input }) => ({
    t1: input.t1,
    t2: input.t2,
    t4: input.t4,
    reliable: input.reliable,
    retransmissions: 0,
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
        'REQUEST.RECEIVED': {
          target: 'trying',
          actions: { type: 'passToTU', params: ({ event }) => ({ request: event.request }) },
        },
      },
    },
    trying: {
      on: {
        // Nothing to resend yet; the TU already has the request.
        'REQUEST.RETRANSMITTED': { actions: 'countAbsorbed' },
        'TU.RESPONSE': [
          {
            guard: 'provisional',
            target: 'proceeding',
            actions: [
              { type: 'transmitResponse', params: ({ event }) => ({ status: event.status, response: event.response, retransmission: false }) },
              { type: 'recordResponse', params: ({ event }) => ({ status: event.status, response: event.response }) },
            ],
          },
          {
            guard: 'final',
            target: 'completed',
            actions: [
              { type: 'transmitResponse', params: ({ event }) => ({ status: event.status, response: event.response, retransmission: false }) },
              { type: 'recordResponse', params: ({ event }) => ({ status: event.status, response: event.response }) },
              { type: 'recordFinal', params: ({ event }) => ({ status: event.status }) },
            ],
          },
        ],
      },
    },
    proceeding: {
      on: {
        'REQUEST.RETRANSMITTED': {
          actions: [
            { type: 'transmitResponse', params: ({ context }) => ({ ...context.lastResponse!, retransmission: true }) },
            'countRetransmission',
            'countAbsorbed',
          ],
        },
        'TU.RESPONSE': [
          {
            guard: 'provisional',
            actions: [
              { type: 'transmitResponse', params: ({ event }) => ({ status: event.status, response: event.response, retransmission: false }) },
              { type: 'recordResponse', params: ({ event }) => ({ status: event.status, response: event.response }) },
            ],
          },
          {
            guard: 'final',
            target: 'completed',
            actions: [
              { type: 'transmitResponse', params: ({ event }) => ({ status: event.status, response: event.response, retransmission: false }) },
              { type: 'recordResponse', params: ({ event }) => ({ status: event.status, response: event.response }) },
              { type: 'recordFinal', params: ({ event }) => ({ status: event.status }) },
            ],
          },
        ],
        'TRANSPORT.ERROR': {
          target: 'terminated',
          actions: [
            { type: 'notifyTransportError', params: ({ event }) => ({ error: event.error }) },
            { type: 'recordOutcome', params: { outcome: 'transport-error' } },
          ],
        },
      },
    },
    completed: {
      after: { timerJ: 'terminated' },
      on: {
        'REQUEST.RETRANSMITTED': {
          actions: [
            { type: 'transmitResponse', params: ({ context }) => ({ ...context.lastResponse!, retransmission: true }) },
            'countRetransmission',
            'countAbsorbed',
          ],
        },
        // Later TU responses are discarded: the final one is already on the wire.
        'TRANSPORT.ERROR': {
          target: 'terminated',
          actions: [
            { type: 'notifyTransportError', params: ({ event }) => ({ error: event.error }) },
            { type: 'recordOutcome', params: { outcome: 'transport-error' } },
          ],
        },
      },
    },
    terminated: { type: 'final' },
  },
});

export type SipNonInviteServerTransactionMachine = typeof sipNonInviteServerTransactionMachine;
