// One jambonz `dial` verb to a single target (jambonz-feature-server lib/tasks/dial.js and
// lib/utils/single-dialer.js): place the B leg, let the caller hear it ring, and when B answers
// answer the caller (answerOnBridge) and bridge the two; `timeout` is the ring-no-answer timer,
// `timeLimit` caps the bridged call. The caller hanging up cancels (or hangs up) B; B hanging up
// ends the verb and the app's verb stack goes on. The outcome is jambonz's actionHook results:
// `dial_call_status` and `dial_sip_status`. Pure statechart: the adapter places, cancels and bridges
// the calls (`placeCall`, `ringCaller`, `answerCaller`, `bridge`, `hangupB`) and reports B.* and
// CALLER.* events; `timeout` and `timeLimit` are named delays.
import { assign, setup } from 'xstate';

/** jambonz's CallStatus values a dial can end with. */
export type DialCallStatus = 'completed' | 'busy' | 'no-answer' | 'failed';

/** Why the dial ended: only `b-ended`, `time-limit`, `not-answered` report to the actionHook. */
export type DialEndReason = 'b-ended' | 'time-limit' | 'not-answered' | 'caller-gone' | 'killed';

export interface DialInput {
  /** The caller rings until B answers, then is answered (else it was answered before dialing). */
  answerOnBridge: boolean;
  /** Ring-no-answer timer (jambonz `timeout` s, default 60). */
  timeoutMs: number;
  /** Longest bridged call; 0 = no limit (jambonz `timeLimit` s). */
  timeLimitMs: number;
}

export interface DialContext extends DialInput {
  status: DialCallStatus;
  sipStatus: number;
  reason: DialEndReason | undefined;
}

export type DialEvent =
  /** B could not be placed at all (bad URI, no route): jambonz reports failed / 500. */
  | { type: 'B.FAILED'; error: string }
  | { type: 'B.PROGRESS'; code: number }
  | { type: 'B.ANSWERED' }
  /** B is over; `code` is the final status of a B that never answered. */
  | { type: 'B.ENDED'; code?: number }
  | { type: 'CALLER.ANSWERED' }
  | { type: 'CALLER.ENDED' }
  /** The executor killed the verb (a redirect replaced the stack). */
  | { type: 'KILL' };

export interface DialOutput {
  status: DialCallStatus;
  sipStatus: number;
  reason: DialEndReason;
}

/** single-dialer.js: 487 is no-answer, 486 and 600 busy, any other refusal failed. */
export function dialStatusOf(code: number | undefined): { status: DialCallStatus; sipStatus: number } {
  if (code === undefined) return { status: 'failed', sipStatus: 500 };
  if (code === 487) return { status: 'no-answer', sipStatus: 487 };
  if (code === 486 || code === 600) return { status: 'busy', sipStatus: code };
  return { status: 'failed', sipStatus: code };
}

export const jambonzDialMachine = setup({
  types: {
    context: {} as DialContext,
    events: {} as DialEvent,
    input: {} as DialInput,
    output: {} as DialOutput,
  },
  actions: {
    placeCall: () => {},
    /** 180 to the still-ringing caller (answerOnBridge): it hears B ring. */
    ringCaller: () => {},
    answerCaller: () => {},
    bridge: () => {},
    /** CANCEL a ringing B, BYE an answered one. */
    hangupB: () => {},
    setReason: assign((_, p: { reason: DialEndReason }) => ({ reason: p.reason })),
  },
  guards: {
    answerOnBridge: ({ context }) => context.answerOnBridge,
    hasTimeLimit: ({ context }) => context.timeLimitMs > 0,
  },
  delays: {
    timeout: ({ context }) => context.timeoutMs,
    timeLimit: ({ context }) => Math.max(1, context.timeLimitMs),
  },
}).createMachine({
  id: 'jambonzDial',
  context: ({ input }) => ({ ...input, status: 'failed', sipStatus: 500, reason: undefined }),
  initial: 'outdialing',
  output: ({ context }) => ({ status: context.status, sipStatus: context.sipStatus, reason: context.reason ?? 'killed' }),
  states: {
    // B is being called; the ring timer runs across trying and ringing.
    outdialing: {
      initial: 'trying',
      entry: 'placeCall',
      after: {
        timeout: { target: 'done', actions: ['hangupB', assign({ status: 'no-answer' as const, sipStatus: 487 }), { type: 'setReason', params: { reason: 'not-answered' } }] },
      },
      on: {
        'B.ANSWERED': { target: 'answered', actions: assign({ status: 'completed' as const, sipStatus: 200 }) },
        'B.ENDED': { target: 'done', actions: [assign(({ event }) => dialStatusOf(event.code)), { type: 'setReason', params: { reason: 'not-answered' } }] },
        'B.FAILED': { target: 'done', actions: [assign({ status: 'failed' as const, sipStatus: 500 }), { type: 'setReason', params: { reason: 'not-answered' } }] },
        'CALLER.ENDED': { target: 'done', actions: ['hangupB', { type: 'setReason', params: { reason: 'caller-gone' } }] },
        KILL: { target: 'done', actions: ['hangupB', { type: 'setReason', params: { reason: 'killed' } }] },
      },
      states: {
        trying: {
          on: {
            'B.PROGRESS': [{ guard: 'answerOnBridge', target: 'ringing', actions: 'ringCaller' }, { target: 'ringing' }],
          },
        },
        ringing: {},
      },
    },
    answered: {
      always: [{ guard: 'answerOnBridge', target: 'answeringCaller' }, { target: 'bridged' }],
    },
    // B is up; the caller gets its 200 OK now (answerOnBridge).
    answeringCaller: {
      entry: 'answerCaller',
      on: {
        'CALLER.ANSWERED': 'bridged',
        'B.ENDED': { target: 'done', actions: { type: 'setReason', params: { reason: 'b-ended' } } },
        'CALLER.ENDED': { target: 'done', actions: ['hangupB', { type: 'setReason', params: { reason: 'caller-gone' } }] },
        KILL: { target: 'done', actions: ['hangupB', { type: 'setReason', params: { reason: 'killed' } }] },
      },
    },
    bridged: {
      entry: 'bridge',
      after: {
        timeLimit: { guard: 'hasTimeLimit', target: 'done', actions: ['hangupB', { type: 'setReason', params: { reason: 'time-limit' } }] },
      },
      on: {
        'B.ENDED': { target: 'done', actions: { type: 'setReason', params: { reason: 'b-ended' } } },
        'CALLER.ENDED': { target: 'done', actions: ['hangupB', { type: 'setReason', params: { reason: 'caller-gone' } }] },
        KILL: { target: 'done', actions: ['hangupB', { type: 'setReason', params: { reason: 'killed' } }] },
      },
    },
    done: { type: 'final' },
  },
});

export type JambonzDialMachine = typeof jambonzDialMachine;
