// INVITE client transaction, RFC 3261 §17.1.1 with the RFC 6026 "Accepted" state.
//
// Why "Accepted": under plain RFC 3261 the transaction dies on the first 2xx, so 2xx
// retransmissions and forked 2xx from other branches reach the core with no transaction to
// match, and stacks end up special-casing them. RFC 6026 keeps the transaction alive for
// Timer M (64*T1) so every such 2xx is matched here and handed to the TU, which owns the ACK.
// A 2xx in Completed (after a non-2xx final: a forked branch answering past the 487) goes to the
// TU too: it is another branch's dialog, which the TU ACKs and ends (RFC 3261 §13.2.2.4).
//
// Messages are opaque: the machine only reads `status`. Every wire effect is a named no-op
// action the SIP runtime replaces with `.provide()`.
import { assign, setup } from 'xstate';
import type { SipTimerConfig } from './sipTimers.js';

export type InviteClientTransactionInput = SipTimerConfig;

export type InviteClientTransactionEvent =
  /** The TU hands over the INVITE; the transaction sends it (enters Calling). */
  | { type: 'SEND'; request: unknown }
  | { type: 'RESPONSE.RECEIVED'; status: number; response?: unknown }
  | { type: 'TRANSPORT.ERROR'; error?: unknown };

export type InviteClientTransactionOutcome = 'final-response' | 'timeout' | 'transport-error';

export interface InviteClientTransactionOutput {
  outcome: InviteClientTransactionOutcome;
  /** The final status passed to the TU, when there was one. */
  status?: number;
  retransmissions: number;
}

export interface InviteClientTransactionContext extends SipTimerConfig {
  request?: unknown;
  /** INVITE retransmissions caused by Timer A (0 on reliable transports). */
  retransmissions: number;
  /** Current Timer A interval: T1, then doubled on every firing. */
  timerA: number;
  /**
   * Offset from the first transmission of the latest retransmission, by timer accounting
   * (the sum of the Timer A intervals that fired), so observers can report when without a clock.
   */
  lastRetransmitAt: number;
  /** ACKs sent for the non-2xx final and its retransmissions. */
  acksSent: number;
  finalStatus?: number;
  outcome?: InviteClientTransactionOutcome;
}

interface ResponseParams {
  status: number;
  response: unknown;
}

export const sipInviteClientTransactionMachine = setup({
  types: {
    input: {} as InviteClientTransactionInput,
    context: {} as InviteClientTransactionContext,
    events: {} as InviteClientTransactionEvent,
    output: {} as InviteClientTransactionOutput,
  },
  actions: {
    transmitRequest: (_, _params: { request: unknown }) => {},
    retransmitRequest: (_, _params: { request: unknown; attempt: number }) => {},
    /** ACK for a non-2xx final; it shares the INVITE's branch, hence built by the transaction. */
    sendAck: (_, _params: ResponseParams) => {},
    passToTU: (_, _params: ResponseParams) => {},
    notifyTimeout: () => {},
    notifyTransportError: (_, _params: { error: unknown }) => {},
    backOffTimerA: assign(({ context }) => ({
      retransmissions: context.retransmissions + 1,
      lastRetransmitAt: context.lastRetransmitAt + context.timerA,
      timerA: context.timerA * 2,
    })),
    countAck: assign(({ context }) => ({ acksSent: context.acksSent + 1 })),
    recordFinal: assign((_, params: { status: number }) => ({ finalStatus: params.status, outcome: 'final-response' as const })),
    recordOutcome: assign((_, params: { outcome: InviteClientTransactionOutcome }) => ({ outcome: params.outcome })),
  },
  guards: {
    reliableTransport: ({ context }) => context.reliable,
    provisional: ({ event }) => event.type === 'RESPONSE.RECEIVED' && event.status >= 100 && event.status < 200,
    success: ({ event }) => event.type === 'RESPONSE.RECEIVED' && event.status >= 200 && event.status < 300,
    failure: ({ event }) => event.type === 'RESPONSE.RECEIVED' && event.status >= 300 && event.status < 700,
  },
  delays: {
    timerA: ({ context }) => context.timerA,
    timerB: ({ context }) => 64 * context.t1,
    // "At least 32 s" on UDP so every retransmitted final from the far end (which retransmits
    // for up to 64*T1) still finds this transaction to absorb it and re-ACK.
    timerD: ({ context }) => (context.reliable ? 0 : Math.max(32_000, 64 * context.t1)),
    timerM: ({ context }) => 64 * context.t1,
  },
}).createMachine({
  id: 'sipInviteClientTransaction',
  context: ({ input }) => ({
    t1: input.t1,
    t2: input.t2,
    t4: input.t4,
    reliable: input.reliable,
    retransmissions: 0,
    timerA: input.t1,
    lastRetransmitAt: 0,
    acksSent: 0,
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
        SEND: [
          {
            guard: 'reliableTransport',
            target: 'calling.waiting',
            actions: [assign({ request: ({ event }) => event.request }), { type: 'transmitRequest', params: ({ event }) => ({ request: event.request }) }],
          },
          {
            target: 'calling',
            actions: [assign({ request: ({ event }) => event.request }), { type: 'transmitRequest', params: ({ event }) => ({ request: event.request }) }],
          },
        ],
      },
    },
    calling: {
      initial: 'retransmitting',
      // Timer B lives on the parent so Timer A's re-entries of the child do not restart it.
      after: {
        timerB: { target: 'terminated', actions: ['notifyTimeout', { type: 'recordOutcome', params: { outcome: 'timeout' } }] },
      },
      on: {
        'RESPONSE.RECEIVED': [
          { guard: 'provisional', target: 'proceeding', actions: { type: 'passToTU', params: ({ event }) => ({ status: event.status, response: event.response }) } },
          {
            guard: 'success',
            target: 'accepted',
            actions: [
              { type: 'passToTU', params: ({ event }) => ({ status: event.status, response: event.response }) },
              { type: 'recordFinal', params: ({ event }) => ({ status: event.status }) },
            ],
          },
          {
            guard: 'failure',
            target: 'completed',
            actions: [
              { type: 'sendAck', params: ({ event }) => ({ status: event.status, response: event.response }) },
              'countAck',
              { type: 'passToTU', params: ({ event }) => ({ status: event.status, response: event.response }) },
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
        retransmitting: {
          after: {
            timerA: {
              target: 'retransmitting',
              reenter: true,
              actions: [
                { type: 'retransmitRequest', params: ({ context }) => ({ request: context.request, attempt: context.retransmissions + 1 }) },
                'backOffTimerA',
              ],
            },
          },
        },
        // Reliable transport: the transport layer retransmits, Timer A is never started.
        waiting: {},
      },
    },
    proceeding: {
      // No retransmissions any more: a provisional proves the INVITE arrived.
      on: {
        'RESPONSE.RECEIVED': [
          { guard: 'provisional', actions: { type: 'passToTU', params: ({ event }) => ({ status: event.status, response: event.response }) } },
          {
            guard: 'success',
            target: 'accepted',
            actions: [
              { type: 'passToTU', params: ({ event }) => ({ status: event.status, response: event.response }) },
              { type: 'recordFinal', params: ({ event }) => ({ status: event.status }) },
            ],
          },
          {
            guard: 'failure',
            target: 'completed',
            actions: [
              { type: 'sendAck', params: ({ event }) => ({ status: event.status, response: event.response }) },
              'countAck',
              { type: 'passToTU', params: ({ event }) => ({ status: event.status, response: event.response }) },
              { type: 'recordFinal', params: ({ event }) => ({ status: event.status }) },
            ],
          },
        ],
      },
    },
    completed: {
      after: { timerD: 'terminated' },
      on: {
        'RESPONSE.RECEIVED': [
          // A retransmitted final means our ACK was lost: ACK again, but the TU already knows.
          { guard: 'failure', actions: [{ type: 'sendAck', params: ({ event }) => ({ status: event.status, response: event.response }) }, 'countAck'] },
          // A 2xx after the non-2xx final: another branch of a forked INVITE answered as the proxy
          // gave up (or past our CANCEL's 487). It has the INVITE's branch, so it lands here; the TU
          // must see it to ACK it and end its dialog with a BYE (RFC 3261 §13.2.2.4).
          { guard: 'success', actions: { type: 'passToTU', params: ({ event }) => ({ status: event.status, response: event.response }) } },
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
    accepted: {
      after: { timerM: 'terminated' },
      on: {
        // Retransmitted or forked 2xx: the TU must see each one to ACK it (RFC 6026 §8.4).
        'RESPONSE.RECEIVED': { guard: 'success', actions: { type: 'passToTU', params: ({ event }) => ({ status: event.status, response: event.response }) } },
      },
    },
    terminated: { type: 'final' },
  },
});

export type SipInviteClientTransactionMachine = typeof sipInviteClientTransactionMachine;
