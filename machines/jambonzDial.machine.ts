// One jambonz `dial` verb (jambonz-feature-server lib/tasks/dial.js and lib/utils/single-dialer.js):
// place a B leg to every target at once (simultaneous ringing), let the caller hear them ring, and
// when the first answers answer the caller (answerOnBridge) and bridge the two; the other legs are
// CANCELled, and one that answers late gets a BYE. `timeout` is the ring-no-answer timer across
// all legs, `timeLimit` caps the bridged call. The caller hanging up cancels (or hangs up) every
// live leg; the winner hanging up ends the verb and the app's verb stack goes on. When every leg
// fails the dial is over with the last leg's result. The outcome is jambonz's actionHook results:
// `dial_call_status`, `dial_sip_status` and which leg won. Pure statechart: the adapter places,
// cancels and bridges the calls (`placeCall`, `ringCaller`, `answerCaller`, `bridge`, `hangupB`,
// each B action naming its leg) and reports B.* (with the leg) and CALLER.* events; `timeout` and
// `timeLimit` are named delays. The app's `whisper` command (dial.js `whisper`) unbridges the
// two, plays its say/play verbs to one party (`startWhisper`), and bridges them again when they
// are over (WHISPER.DONE); the time limit runs on through it. The app's `mute:status` (dial.js
// `mute`) mutes one party towards the other (MUTE): the wish is kept here, applied to the bridge
// at once and again whenever the two are bridged anew (after a whisper).
import { and, assign, setup } from 'xstate';

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
  /** Legs placed at once, numbered 0…targets-1 (default 1). */
  targets?: number;
}

export interface DialContext extends DialInput {
  status: DialCallStatus;
  sipStatus: number;
  reason: DialEndReason | undefined;
  /** Legs placed and not over (not yet answered, refused, failed or hung up by us). */
  live: number[];
  /** The leg that answered first and is (or was) bridged. */
  winner: number | undefined;
  /** Parties muted towards the other (mute:status). */
  muted: { caller: boolean; callee: boolean };
}

export type DialEvent =
  /** A leg could not be placed at all (bad URI, no route): jambonz reports failed / 500. */
  | { type: 'B.FAILED'; leg: number; error: string }
  | { type: 'B.PROGRESS'; leg: number; code: number }
  | { type: 'B.ANSWERED'; leg: number }
  /** A leg is over; `code` is the final status of a leg that never answered. */
  | { type: 'B.ENDED'; leg: number; code?: number }
  | { type: 'CALLER.ANSWERED' }
  | { type: 'CALLER.ENDED' }
  /** The executor killed the verb (a redirect replaced the stack). */
  | { type: 'KILL' }
  /** The app's whisper command: say/play verbs (opaque here) to one party while unbridged. */
  | { type: 'WHISPER'; to: WhisperParty; verbs: readonly object[] }
  /** The whisper's verbs are over (played, or failed): bridge again. */
  | { type: 'WHISPER.DONE' }
  /** The app's mute:status: what `party` says reaches the other as silence (or again). */
  | { type: 'MUTE'; party: WhisperParty; muted: boolean };

/** Who hears a whisper: the caller (the session's call) or the dialled party (B). */
export type WhisperParty = 'caller' | 'callee';

export interface DialOutput {
  status: DialCallStatus;
  sipStatus: number;
  reason: DialEndReason;
  /** The leg that answered (absent when none did). */
  winner?: number;
}

/** single-dialer.js: 487 is no-answer, 486 and 600 busy, any other refusal failed. */
export function dialStatusOf(code: number | undefined): { status: DialCallStatus; sipStatus: number } {
  if (code === undefined) return { status: 'failed', sipStatus: 500 };
  if (code === 487) return { status: 'no-answer', sipStatus: 487 };
  if (code === 486 || code === 600) return { status: 'busy', sipStatus: code };
  return { status: 'failed', sipStatus: code };
}

const legOf = (e: DialEvent): number => ('leg' in e ? e.leg : -1);

export const jambonzDialMachine = setup({
  types: {
    context: {} as DialContext,
    events: {} as DialEvent,
    input: {} as DialInput,
    output: {} as DialOutput,
  },
  actions: {
    /** Place these legs (all of them, at once, on entry). */
    placeCall: (_, _p: { legs: number[] }) => {},
    /** 180 to the still-ringing caller (answerOnBridge): it hears B ring. */
    ringCaller: () => {},
    answerCaller: () => {},
    /** Bridge the caller and the winning leg, with the parties muted so far. */
    bridge: (_, _p: { leg: number; muted: { caller: boolean; callee: boolean } }) => {},
    /** Mute or unmute one party on the bridge in place (none: the wish waits for the next bridge). */
    applyMute: (_, _p: { party: WhisperParty; muted: boolean }) => {},
    rememberMute: assign(({ context }, p: { party: WhisperParty; muted: boolean }) => ({ muted: { ...context.muted, [p.party]: p.muted } })),
    /** Take the bridge down (for a whisper, or at the end). */
    unbridge: () => {},
    startWhisper: (_, _p: { to: WhisperParty; verbs: readonly object[] }) => {},
    /** Stop a whisper still playing (the dial ends under it). */
    stopWhisper: () => {},
    /** CANCEL these legs while they ring, BYE those answered. */
    hangupB: (_, _p: { legs: number[] }) => {},
    setReason: assign((_, p: { reason: DialEndReason }) => ({ reason: p.reason })),
    dropLive: assign({ live: [] as number[] }),
    /** A leg that is over without answering: out of `live`; its result is the dial's so far (dial.js keeps the last). */
    legOver: assign(({ context, event }) => ({
      live: context.live.filter((l) => l !== legOf(event)),
      ...(event.type === 'B.ENDED' ? dialStatusOf(event.code) : { status: 'failed' as const, sipStatus: 500 }),
    })),
  },
  guards: {
    answerOnBridge: ({ context }) => context.answerOnBridge,
    hasTimeLimit: ({ context }) => context.timeLimitMs > 0,
    isLive: ({ context, event }) => context.live.includes(legOf(event)),
    lastLiveOver: ({ context, event }) => context.live.length === 1 && context.live[0] === legOf(event),
    isWinner: ({ context, event }) => context.winner === legOf(event),
    lateAnswer: ({ context, event }) => event.type === 'B.ANSWERED' && context.winner !== legOf(event),
  },
  delays: {
    timeout: ({ context }) => context.timeoutMs,
    timeLimit: ({ context }) => Math.max(1, context.timeLimitMs),
  },
}).createMachine({
  id: 'jambonzDial',
  context: ({ input }) => ({
    ...input,
    status: 'failed',
    sipStatus: 500,
    reason: undefined,
    live: Array.from({ length: Math.max(1, Math.floor(input.targets ?? 1)) }, (_, i) => i),
    winner: undefined,
    muted: { caller: false, callee: false },
  }),
  initial: 'outdialing',
  on: {
    MUTE: {
      actions: [
        { type: 'rememberMute', params: ({ event }) => ({ party: event.party, muted: event.muted }) },
        { type: 'applyMute', params: ({ event }) => ({ party: event.party, muted: event.muted }) },
      ],
    },
  },
  output: ({ context }) => ({
    status: context.status,
    sipStatus: context.sipStatus,
    reason: context.reason ?? 'killed',
    ...(context.winner !== undefined ? { winner: context.winner } : {}),
  }),
  states: {
    // Every leg is being called; the ring timer runs across trying and ringing.
    outdialing: {
      initial: 'trying',
      entry: { type: 'placeCall', params: ({ context }) => ({ legs: context.live }) },
      after: {
        timeout: { target: 'done', actions: [{ type: 'hangupB', params: ({ context }) => ({ legs: context.live }) }, 'dropLive', assign({ status: 'no-answer' as const, sipStatus: 487 }), { type: 'setReason', params: { reason: 'not-answered' } }] },
      },
      on: {
        // The first leg to answer wins; the others are cancelled.
        'B.ANSWERED': {
          guard: 'isLive',
          target: 'answered',
          actions: [
            assign(({ context, event }) => ({ status: 'completed' as const, sipStatus: 200, winner: event.leg, live: context.live.filter((l) => l !== event.leg) })),
            { type: 'hangupB', params: ({ context }) => ({ legs: context.live }) }, 'dropLive',
          ],
        },
        'B.ENDED': [
          { guard: 'lastLiveOver', target: 'done', actions: ['legOver', { type: 'setReason', params: { reason: 'not-answered' } }] },
          { guard: 'isLive', actions: 'legOver' },
        ],
        'B.FAILED': [
          { guard: 'lastLiveOver', target: 'done', actions: ['legOver', { type: 'setReason', params: { reason: 'not-answered' } }] },
          { guard: 'isLive', actions: 'legOver' },
        ],
        'CALLER.ENDED': { target: 'done', actions: [{ type: 'hangupB', params: ({ context }) => ({ legs: context.live }) }, 'dropLive', { type: 'setReason', params: { reason: 'caller-gone' } }] },
        KILL: { target: 'done', actions: [{ type: 'hangupB', params: ({ context }) => ({ legs: context.live }) }, 'dropLive', { type: 'setReason', params: { reason: 'killed' } }] },
      },
      states: {
        trying: {
          on: {
            'B.PROGRESS': [
              { guard: and(['isLive', 'answerOnBridge']), target: 'ringing', actions: 'ringCaller' },
              { guard: 'isLive', target: 'ringing' },
            ],
          },
        },
        ringing: {},
      },
    },
    answered: {
      always: [{ guard: 'answerOnBridge', target: 'answeringCaller' }, { target: 'bridged' }],
    },
    // The winner is up; the caller gets its 200 OK now (answerOnBridge).
    answeringCaller: {
      entry: 'answerCaller',
      on: {
        'CALLER.ANSWERED': 'bridged',
        'B.ENDED': { guard: 'isWinner', target: 'done', actions: { type: 'setReason', params: { reason: 'b-ended' } } },
        // A cancelled leg that answered anyway (its 200 crossed our CANCEL): BYE.
        'B.ANSWERED': { guard: 'lateAnswer', actions: { type: 'hangupB', params: ({ event }) => ({ legs: [event.leg] }) } },
        'CALLER.ENDED': { target: 'done', actions: [{ type: 'hangupB', params: ({ context }) => ({ legs: context.winner === undefined ? [] : [context.winner] }) }, { type: 'setReason', params: { reason: 'caller-gone' } }] },
        KILL: { target: 'done', actions: [{ type: 'hangupB', params: ({ context }) => ({ legs: context.winner === undefined ? [] : [context.winner] }) }, { type: 'setReason', params: { reason: 'killed' } }] },
      },
    },
    bridged: {
      initial: 'connected',
      states: {
        connected: {
          entry: { type: 'bridge', params: ({ context }) => ({ leg: context.winner ?? 0, muted: context.muted }) },
          exit: 'unbridge',
          on: {
            WHISPER: { target: 'whispering', actions: { type: 'startWhisper', params: ({ event }) => ({ to: event.to, verbs: event.verbs }) } },
          },
        },
        // One whisper at a time: another WHISPER while this one plays is ignored.
        whispering: {
          exit: 'stopWhisper',
          on: { 'WHISPER.DONE': 'connected' },
        },
      },
      after: {
        timeLimit: { guard: 'hasTimeLimit', target: 'done', actions: [{ type: 'hangupB', params: ({ context }) => ({ legs: context.winner === undefined ? [] : [context.winner] }) }, { type: 'setReason', params: { reason: 'time-limit' } }] },
      },
      on: {
        'B.ENDED': { guard: 'isWinner', target: 'done', actions: { type: 'setReason', params: { reason: 'b-ended' } } },
        'B.ANSWERED': { guard: 'lateAnswer', actions: { type: 'hangupB', params: ({ event }) => ({ legs: [event.leg] }) } },
        'CALLER.ENDED': { target: 'done', actions: [{ type: 'hangupB', params: ({ context }) => ({ legs: context.winner === undefined ? [] : [context.winner] }) }, { type: 'setReason', params: { reason: 'caller-gone' } }] },
        KILL: { target: 'done', actions: [{ type: 'hangupB', params: ({ context }) => ({ legs: context.winner === undefined ? [] : [context.winner] }) }, { type: 'setReason', params: { reason: 'killed' } }] },
      },
    },
    done: { type: 'final' },
  },
});

export type JambonzDialMachine = typeof jambonzDialMachine;
