// The life of one call leg, whatever carries it (inbound-call WebSocket, SIP, jambonz).
// Pure statechart: every wire effect is a named action the transport adapter provides with
// `.provide()`; the defaults do nothing, so the machine runs (and is model-tested) on its own.
import { assign, setup } from 'xstate';

export type CallDirection = 'inbound' | 'outbound';
export type CallTransport = 'ws' | 'sip' | 'jambonz' | 'test';

/** Why a call ended. `code` carries the SIP-style status where one applies. */
export type CallEndReason =
  | 'local-hangup'
  | 'remote-hangup'
  | 'rejected'
  | 'cancelled'
  | 'timeout'
  | 'failed'
  | 'redirected';

export interface CallEnd {
  reason: CallEndReason;
  code?: number;
  detail?: string;
}

export type DtmfSource = 'ws' | 'rfc4733' | 'sip-info' | 'inband' | 'api';

export interface CallInput {
  callId: string;
  direction: CallDirection;
  transport: CallTransport;
  from?: string;
  to?: string;
}

export interface CallContext extends CallInput {
  end?: CallEnd;
  /** Last provisional status seen/sent while ringing (180, 183). */
  progress?: number;
  heldBy?: 'local' | 'remote';
  media: 'none' | 'started' | 'stopped';
  dtmf: string;
}

export type CallEvent =
  // set-up
  | { type: 'CALL.INCOMING' } // an inbound call is offered to the app (INVITE received, WS session announced)
  | { type: 'CALL.DIAL' } // an outbound call attempt is sent (INVITE sent)
  | { type: 'CALL.PROGRESS'; code: number; earlyMedia?: boolean } // 180/183 sent or received
  | { type: 'CALL.ANSWER' } // local side answers an inbound call
  | { type: 'CALL.ANSWERED' } // remote side answered an outbound call
  | { type: 'CALL.REJECT'; code: number; reason?: string } // local side refuses an inbound call
  | { type: 'CALL.REJECTED'; code: number; reason?: string } // remote refused an outbound call
  | { type: 'CALL.REDIRECT'; code: number; contacts: string[] } // local 3xx, or remote 3xx on outbound
  | { type: 'CALL.CANCEL' } // local side abandons an outbound call before answer
  | { type: 'CALL.CANCELLED' } // remote side abandons an inbound call before answer
  // established
  | { type: 'CALL.HOLD'; by: 'local' | 'remote' }
  | { type: 'CALL.RESUME' }
  | { type: 'CALL.HANGUP'; detail?: string } // local hangup
  | { type: 'CALL.REMOTE_HANGUP'; detail?: string } // the other side hung up / went away
  | { type: 'CALL.FAILED'; code?: number; reason: string } // transport or protocol failure
  | { type: 'DTMF'; digit: string; source: DtmfSource; durationMs?: number }
  | { type: 'MEDIA.STARTED' }
  | { type: 'MEDIA.STOPPED' }
  // timers (armed and cleared by the startTimer/stopTimer actions the runtime provides)
  | { type: 'CALL.RING_TIMEOUT' } // rang for CallDelays.ringTimeout without an answer
  | { type: 'CALL.MAX_DURATION' }; // answered for CallDelays.maxDuration

/**
 * The call's two timers. They are runtime timers behind named actions rather than `after`
 * transitions: XState's scheduler keys each delayed event by actor session id, which gives every
 * call's scheduler objects new hidden classes; for two timers every call arms and a short call
 * clears at once that was ~10 µs of a call's ~90 µs of actor work (docs/architecture.md, "Timers").
 */
export type CallTimer = 'ring' | 'duration';

export interface CallDelays {
  /** How long a call may ring before it ends with reason `timeout`. */
  ringTimeout: number;
  /** Longest an answered call may last before it ends with reason `timeout`. */
  maxDuration: number;
}

export const defaultCallDelays: CallDelays = {
  ringTimeout: 60_000,
  maxDuration: 4 * 60 * 60 * 1000,
};

export const callMachine = setup({
  types: {
    context: {} as CallContext,
    events: {} as CallEvent,
    input: {} as CallInput,
    output: {} as CallEnd,
  },
  actions: {
    // Wire effects, provided by the transport adapter.
    announceIncoming: () => {},
    sendDial: () => {},
    sendProgress: (_: unknown, _params: { code: number }) => {},
    sendAnswer: () => {},
    sendReject: (_: unknown, _params: { code: number; reason?: string }) => {},
    sendRedirect: (_: unknown, _params: { code: number; contacts: string[] }) => {},
    sendCancel: () => {},
    sendHangup: () => {},
    sendHold: () => {},
    sendResume: () => {},
    // Timers: arm one to send CALL.RING_TIMEOUT / CALL.MAX_DURATION after its CallDelays time.
    startTimer: (_: unknown, _params: { timer: CallTimer }) => {},
    stopTimer: (_: unknown, _params: { timer: CallTimer }) => {},
    // Notifications for the app / observers.
    notifyDtmf: (_: unknown, _params: { digit: string; source: DtmfSource }) => {},
    notifyEnded: () => {},
    // Bookkeeping.
    setEnd: assign((_, params: CallEnd) => ({ end: params })),
  },
  guards: {
    isInbound: ({ context }) => context.direction === 'inbound',
    isOutbound: ({ context }) => context.direction === 'outbound',
    isValidDigit: ({ event }) => event.type === 'DTMF' && /^[0-9*#A-D]$/.test(event.digit),
    heldLocally: ({ context }) => context.heldBy === 'local',
    holdIsLocal: ({ event }) => event.type === 'CALL.HOLD' && event.by === 'local',
  },
}).createMachine({
  id: 'call',
  context: ({ input }) => ({ ...input, media: 'none', dtmf: '' }),
  initial: 'created',
  output: ({ context }) => context.end ?? { reason: 'failed', detail: 'ended without reason' },
  // Failures and media changes can arrive in any live state.
  on: {
    'CALL.FAILED': {
      target: '.ended',
      actions: assign({ end: ({ event }) => ({ reason: 'failed' as const, code: event.code, detail: event.reason }) }),
    },
    'MEDIA.STARTED': { actions: assign({ media: 'started' }) },
    'MEDIA.STOPPED': { actions: assign({ media: 'stopped' }) },
  },
  states: {
    created: {
      on: {
        'CALL.INCOMING': { guard: 'isInbound', target: 'ringing', actions: 'announceIncoming' },
        'CALL.DIAL': { guard: 'isOutbound', target: 'ringing', actions: 'sendDial' },
        'CALL.REMOTE_HANGUP': { target: 'ended', actions: { type: 'setEnd', params: { reason: 'remote-hangup', detail: 'before offer' } as CallEnd } },
        'CALL.HANGUP': { target: 'ended', actions: { type: 'setEnd', params: { reason: 'local-hangup', detail: 'before offer' } as CallEnd } },
      },
    },
    ringing: {
      entry: { type: 'startTimer', params: { timer: 'ring' } },
      exit: { type: 'stopTimer', params: { timer: 'ring' } },
      on: {
        'CALL.RING_TIMEOUT': [
          {
            guard: 'isInbound',
            target: 'ended',
            actions: [
              { type: 'sendReject', params: { code: 480, reason: 'Ring timeout' } },
              { type: 'setEnd', params: { reason: 'timeout', code: 480, detail: 'ring timeout' } as CallEnd },
            ],
          },
          { target: 'ended', actions: ['sendCancel', { type: 'setEnd', params: { reason: 'timeout', code: 408, detail: 'ring timeout' } as CallEnd }] },
        ],
        'CALL.PROGRESS': [
          {
            guard: 'isInbound',
            actions: [
              assign({ progress: ({ event }) => event.code }),
              { type: 'sendProgress', params: ({ event }) => ({ code: event.code }) },
            ],
          },
          { actions: assign({ progress: ({ event }) => event.code }) },
        ],
        'CALL.ANSWER': { guard: 'isInbound', target: 'active', actions: 'sendAnswer' },
        'CALL.ANSWERED': { guard: 'isOutbound', target: 'active' },
        'CALL.REJECT': {
          guard: 'isInbound',
          target: 'ended',
          actions: [
            { type: 'sendReject', params: ({ event }) => ({ code: event.code, reason: event.reason }) },
            assign({ end: ({ event }) => ({ reason: 'rejected' as const, code: event.code, detail: event.reason }) }),
          ],
        },
        'CALL.REJECTED': {
          guard: 'isOutbound',
          target: 'ended',
          actions: assign({ end: ({ event }) => ({ reason: 'rejected' as const, code: event.code, detail: event.reason }) }),
        },
        'CALL.REDIRECT': [
          {
            guard: 'isInbound',
            target: 'ended',
            actions: [
              { type: 'sendRedirect', params: ({ event }) => ({ code: event.code, contacts: event.contacts }) },
              assign({ end: ({ event }) => ({ reason: 'redirected' as const, code: event.code, detail: event.contacts.join(', ') }) }),
            ],
          },
          {
            target: 'ended',
            actions: assign({ end: ({ event }) => ({ reason: 'redirected' as const, code: event.code, detail: event.contacts.join(', ') }) }),
          },
        ],
        'CALL.CANCEL': {
          guard: 'isOutbound',
          target: 'ended',
          actions: ['sendCancel', { type: 'setEnd', params: { reason: 'cancelled', code: 487, detail: 'cancelled locally' } as CallEnd }],
        },
        'CALL.CANCELLED': {
          guard: 'isInbound',
          target: 'ended',
          actions: { type: 'setEnd', params: { reason: 'cancelled', code: 487, detail: 'cancelled by caller' } as CallEnd },
        },
        // A local hangup while ringing is a reject (inbound) or a cancel (outbound).
        'CALL.HANGUP': [
          {
            guard: 'isInbound',
            target: 'ended',
            actions: [
              { type: 'sendReject', params: { code: 603, reason: 'Decline' } },
              { type: 'setEnd', params: { reason: 'local-hangup', code: 603, detail: 'hung up while ringing' } as CallEnd },
            ],
          },
          { target: 'ended', actions: ['sendCancel', { type: 'setEnd', params: { reason: 'cancelled', code: 487, detail: 'hung up while ringing' } as CallEnd }] },
        ],
        'CALL.REMOTE_HANGUP': {
          target: 'ended',
          actions: assign({ end: ({ event }) => ({ reason: 'remote-hangup' as const, detail: event.detail ?? 'gone while ringing' }) }),
        },
      },
    },
    active: {
      initial: 'talking',
      entry: { type: 'startTimer', params: { timer: 'duration' } },
      exit: { type: 'stopTimer', params: { timer: 'duration' } },
      on: {
        'CALL.MAX_DURATION': {
          target: 'ended',
          actions: ['sendHangup', { type: 'setEnd', params: { reason: 'timeout', detail: 'maximum call duration' } as CallEnd }],
        },
        'CALL.HANGUP': {
          target: 'ended',
          actions: ['sendHangup', assign({ end: ({ event }) => ({ reason: 'local-hangup' as const, detail: event.detail }) })],
        },
        'CALL.REMOTE_HANGUP': {
          target: 'ended',
          actions: assign({ end: ({ event }) => ({ reason: 'remote-hangup' as const, detail: event.detail }) }),
        },
        DTMF: {
          guard: 'isValidDigit',
          actions: [
            assign({ dtmf: ({ context, event }) => (context.dtmf + event.digit).slice(-64) }),
            { type: 'notifyDtmf', params: ({ event }) => ({ digit: event.digit, source: event.source }) },
          ],
        },
      },
      states: {
        talking: {
          on: {
            'CALL.HOLD': [
              { guard: 'holdIsLocal', target: 'held', actions: ['sendHold', assign({ heldBy: 'local' })] },
              { target: 'held', actions: assign({ heldBy: 'remote' }) },
            ],
          },
        },
        held: {
          on: {
            'CALL.RESUME': [
              { guard: 'heldLocally', target: 'talking', actions: ['sendResume', assign({ heldBy: undefined })] },
              { target: 'talking', actions: assign({ heldBy: undefined }) },
            ],
          },
        },
      },
    },
    ended: {
      type: 'final',
      entry: 'notifyEnded',
    },
  },
});

export type CallMachine = typeof callMachine;
