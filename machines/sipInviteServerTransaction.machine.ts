// INVITE server transaction, RFC 3261 §17.2.1 with the RFC 6026 "Accepted" state.
//
// Why "Accepted": in plain RFC 3261 the transaction ends when the TU sends a 2xx, so INVITE
// retransmissions arriving afterwards look like new requests and reach the TU again. RFC 6026
// keeps the transaction for Timer L (64*T1) to absorb them, while the TU (not this machine)
// keeps retransmitting its 2xx until the ACK arrives.
import { assign, setup } from 'xstate';
import type { SipTimerConfig } from './sipTimers.js';

export type InviteServerTransactionInput = SipTimerConfig;

export type InviteServerTransactionEvent =
  /** The transport delivered a new INVITE; the transaction is created around it. */
  | { type: 'REQUEST.RECEIVED'; request: unknown }
  | { type: 'REQUEST.RETRANSMITTED' }
  | { type: 'TU.RESPONSE'; status: number; response?: unknown }
  | { type: 'ACK.RECEIVED'; request?: unknown }
  | { type: 'TRANSPORT.ERROR'; error?: unknown };

export type InviteServerTransactionOutcome = 'confirmed' | 'accepted' | 'timeout' | 'transport-error';

export interface InviteServerTransactionOutput {
  outcome: InviteServerTransactionOutcome;
  /** The final status the TU sent, when it sent one. */
  status?: number;
  retransmissions: number;
}

export interface InviteServerTransactionContext extends SipTimerConfig {
  /** The latest response sent, replayed when the INVITE is retransmitted (or Timer G fires). */
  lastResponse?: { status: number; response: unknown };
  /** Final-response retransmissions caused by Timer G (0 on reliable transports). */
  retransmissions: number;
  /** Current Timer G interval: T1, doubling, capped at T2. */
  timerG: number;
  /** Offset from the first final transmission of the latest retransmission, by timer accounting. */
  lastRetransmitAt: number;
  /** Retransmitted INVITEs (and duplicate ACKs) that did not reach the TU. */
  absorbed: number;
  /** Whether the 100 Trying was generated here because the TU was silent for 200 ms. */
  autoTrying: boolean;
  finalStatus?: number;
  outcome?: InviteServerTransactionOutcome;
}

interface ResponseParams {
  status: number;
  response: unknown;
}

export const sipInviteServerTransactionMachine = setup({
  types: {
    input: {} as InviteServerTransactionInput,
    context: {} as InviteServerTransactionContext,
    events: {} as InviteServerTransactionEvent,
    output: {} as InviteServerTransactionOutput,
  },
  actions: {
    passToTU: (_, _params: { request: unknown; method: 'INVITE' | 'ACK' }) => {},
    /**
     * `response` is undefined for the 100 Trying the transaction generates itself; the runtime
     * builds it from the INVITE (§8.2.6, without a To tag).
     */
    transmitResponse: (_, _params: ResponseParams & { retransmission: boolean }) => {},
    notifyTimeout: () => {},
    notifyTransportError: (_, _params: { error: unknown }) => {},
    recordResponse: assign((_, params: ResponseParams) => ({ lastResponse: { status: params.status, response: params.response } })),
    recordAutoTrying: assign({ autoTrying: true, lastResponse: { status: 100, response: undefined } }),
    backOffTimerG: assign(({ context }) => ({
      retransmissions: context.retransmissions + 1,
      lastRetransmitAt: context.lastRetransmitAt + context.timerG,
      timerG: Math.min(context.timerG * 2, context.t2),
    })),
    countAbsorbed: assign(({ context }) => ({ absorbed: context.absorbed + 1 })),
    recordFinal: assign((_, params: { status: number }) => ({ finalStatus: params.status })),
    recordOutcome: assign((_, params: { outcome: InviteServerTransactionOutcome }) => ({ outcome: params.outcome })),
  },
  guards: {
    hasResponse: ({ context }) => context.lastResponse !== undefined,
    reliableTransport: ({ context }) => context.reliable,
    // The runtime's budget of Timer G copies (finalRetransmits) is spent: wait for ACK or Timer H.
    retransmissionsSpent: ({ context }) => context.finalRetransmits !== undefined && context.retransmissions >= context.finalRetransmits,
    provisional: ({ event }) => event.type === 'TU.RESPONSE' && event.status >= 100 && event.status < 200,
    success: ({ event }) => event.type === 'TU.RESPONSE' && event.status >= 200 && event.status < 300,
    failure: ({ event }) => event.type === 'TU.RESPONSE' && event.status >= 300 && event.status < 700,
  },
  delays: {
    // §17.2.1: quench the client's Timer A quickly unless the TU answers within 200 ms.
    trying100: 200,
    timerG: ({ context }) => context.timerG,
    timerH: ({ context }) => 64 * context.t1,
    timerI: ({ context }) => (context.reliable ? 0 : context.t4),
    timerL: ({ context }) => 64 * context.t1,
  },
}).createMachine({
  id: 'sipInviteServerTransaction',
  context: ({ input }) => ({
    t1: input.t1,
    t2: input.t2,
    t4: input.t4,
    reliable: input.reliable,
    ...(input.finalRetransmits !== undefined ? { finalRetransmits: input.finalRetransmits } : {}),
    retransmissions: 0,
    timerG: input.t1,
    lastRetransmitAt: 0,
    absorbed: 0,
    autoTrying: false,
  }),
  initial: 'idle',
  output: ({ context }) => ({
    outcome: context.outcome ?? 'confirmed',
    status: context.finalStatus,
    retransmissions: context.retransmissions,
  }),
  states: {
    idle: {
      on: {
        // The request goes to the TU and is not kept: nothing here is rebuilt from it, and
        // holding it would keep every parsed INVITE alive for the 64*T1 linger.
        'REQUEST.RECEIVED': {
          target: 'proceeding',
          actions: { type: 'passToTU', params: ({ event }) => ({ request: event.request, method: 'INVITE' as const }) },
        },
      },
    },
    proceeding: {
      initial: 'awaitingTU',
      on: {
        'REQUEST.RETRANSMITTED': [
          {
            guard: 'hasResponse',
            actions: [
              { type: 'transmitResponse', params: ({ context }) => ({ ...context.lastResponse!, retransmission: true }) },
              'countAbsorbed',
            ],
          },
          // Nothing sent yet: swallow it; the 100 Trying is at most 200 ms away.
          { actions: 'countAbsorbed' },
        ],
        'TU.RESPONSE': [
          {
            guard: 'provisional',
            target: '.responded',
            actions: [
              { type: 'transmitResponse', params: ({ event }) => ({ status: event.status, response: event.response, retransmission: false }) },
              { type: 'recordResponse', params: ({ event }) => ({ status: event.status, response: event.response }) },
            ],
          },
          {
            guard: 'success',
            target: 'accepted',
            actions: [
              { type: 'transmitResponse', params: ({ event }) => ({ status: event.status, response: event.response, retransmission: false }) },
              { type: 'recordResponse', params: ({ event }) => ({ status: event.status, response: event.response }) },
              { type: 'recordFinal', params: ({ event }) => ({ status: event.status }) },
            ],
          },
          {
            guard: 'failure',
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
      states: {
        awaitingTU: {
          after: {
            trying100: {
              target: 'responded',
              actions: [{ type: 'transmitResponse', params: { status: 100, response: undefined, retransmission: false } }, 'recordAutoTrying'],
            },
          },
        },
        responded: {},
      },
    },
    completed: {
      initial: 'retransmitting',
      // Timer H on the parent: Timer G's re-entries of the child must not push the deadline back.
      after: {
        timerH: { target: 'terminated', actions: ['notifyTimeout', { type: 'recordOutcome', params: { outcome: 'timeout' } }] },
      },
      on: {
        'REQUEST.RETRANSMITTED': {
          actions: [{ type: 'transmitResponse', params: ({ context }) => ({ ...context.lastResponse!, retransmission: true }) }, 'countAbsorbed'],
        },
        'ACK.RECEIVED': { target: 'confirmed', actions: { type: 'recordOutcome', params: { outcome: 'confirmed' } } },
        'TRANSPORT.ERROR': {
          target: 'terminated',
          actions: [
            { type: 'notifyTransportError', params: ({ event }) => ({ error: event.error }) },
            { type: 'recordOutcome', params: { outcome: 'transport-error' } },
          ],
        },
      },
      states: {
        retransmitting: {
          always: [
            { guard: 'reliableTransport', target: 'waiting' },
            { guard: 'retransmissionsSpent', target: 'waiting' },
          ],
          after: {
            timerG: {
              target: 'retransmitting',
              reenter: true,
              actions: [{ type: 'transmitResponse', params: ({ context }) => ({ ...context.lastResponse!, retransmission: true }) }, 'backOffTimerG'],
            },
          },
        },
        waiting: {},
      },
    },
    confirmed: {
      // Only soaks up ACK retransmissions (Timer I); nothing is sent from here.
      after: { timerI: 'terminated' },
      on: {
        'ACK.RECEIVED': { actions: 'countAbsorbed' },
        'REQUEST.RETRANSMITTED': { actions: 'countAbsorbed' },
      },
    },
    accepted: {
      after: { timerL: { target: 'terminated', actions: { type: 'recordOutcome', params: { outcome: 'accepted' } } } },
      on: {
        // RFC 6026 §8.7: absorbed, the TU's own 2xx retransmissions already cover the client.
        'REQUEST.RETRANSMITTED': { actions: 'countAbsorbed' },
        // The TU retransmits its 2xx through the transaction while waiting for the ACK.
        'TU.RESPONSE': {
          guard: 'success',
          actions: [
            { type: 'transmitResponse', params: ({ event }) => ({ status: event.status, response: event.response, retransmission: true }) },
            { type: 'recordResponse', params: ({ event }) => ({ status: event.status, response: event.response }) },
          ],
        },
        // The ACK for a 2xx is the TU's (dialog's) business, not the transaction's.
        'ACK.RECEIVED': { actions: { type: 'passToTU', params: ({ event }) => ({ request: event.request, method: 'ACK' as const }) } },
        // A failed 2xx send is the TU's problem to report; the absorption window stays open.
        'TRANSPORT.ERROR': { actions: { type: 'notifyTransportError', params: ({ event }) => ({ error: event.error }) } },
      },
    },
    terminated: { type: 'final' },
  },
});

export type SipInviteServerTransactionMachine = typeof sipInviteServerTransactionMachine;
