// The verb stack of one call that callchart runs as a jambonz feature-server (jambonz-feature-server
// lib/session/call-session.js): the application's verbs run one at a time; a verb with an
// actionHook waits for the app's reply, whose verbs replace what was left (an empty reply lets the
// stack go on); a `redirect` command replaces the stack (or appends, with queueCommand); when the
// stack runs dry the call is hung up, as jambonz does. Pure statechart: the adapter runs each verb
// (`startVerb`/`killVerb`), sends hooks (`requestHook`), and reports back with VERB.DONE / VERB.FAILED
// / HOOK.REPLY; `ackTimeout` is jambonz's wait for an ack (RESPONSE_TIMEOUT_MS), after which the
// call is hung up with an error (`reportError` then `hangupCall`).
import { assign, setup } from 'xstate';

/** A verb as validated (`{ verb: name, …props }`). The machine reads only `verb`. */
export interface ExecVerb {
  verb: string;
  [prop: string]: unknown;
}

export interface VerbExecutorContext {
  queue: ExecVerb[];
  current: ExecVerb | undefined;
  /** Sequence number of the running verb: a VERB.DONE for an older (killed) verb is stale. */
  seq: number;
  endReason: VerbExecutorEndReason | undefined;
}

export type VerbExecutorEndReason = 'stack-empty' | 'call-ended' | 'app-gone' | 'ack-timeout';

export type VerbExecutorEvent =
  /** The app's verbs: an ack's data or a `command redirect` (queue: `queueCommand`). */
  | { type: 'APP.VERBS'; verbs: ExecVerb[]; queue?: boolean }
  /** The running verb is over; `hook`: it has an actionHook to report (the adapter sent it). */
  | { type: 'VERB.DONE'; seq: number; hook?: boolean }
  | { type: 'VERB.FAILED'; seq: number; error: string }
  /** The ack of the hook the last verb sent (its verbs, possibly none). */
  | { type: 'HOOK.REPLY'; verbs: ExecVerb[] }
  | { type: 'CALL.ENDED' }
  /** The app's socket is gone for good (not reachable, or closed and not back). */
  | { type: 'APP.GONE'; error: string };

export interface VerbExecutorOutput {
  reason: VerbExecutorEndReason;
}

export const jambonzVerbExecutorMachine = setup({
  types: {
    context: {} as VerbExecutorContext,
    events: {} as VerbExecutorEvent,
    output: {} as VerbExecutorOutput,
  },
  actions: {
    startVerb: (_, _params: { verb: ExecVerb; seq: number }) => {},
    killVerb: (_, _params: { verb: ExecVerb; seq: number }) => {},
    /** `jambonz:error` to the app (when it is there) and a log line. */
    reportError: (_, _params: { error: string }) => {},
    hangupCall: () => {},
    replaceQueue: assign({ queue: ({ event }) => ('verbs' in event ? event.verbs : []) }),
    appendQueue: assign({ queue: ({ context, event }) => (event.type === 'APP.VERBS' ? [...context.queue, ...event.verbs] : context.queue) }),
  },
  guards: {
    stackEmpty: ({ context }) => context.queue.length === 0,
    isCurrent: ({ context, event }) => 'seq' in event && event.seq === context.seq,
    wantsHook: ({ context, event }) => event.type === 'VERB.DONE' && event.seq === context.seq && event.hook === true,
    queued: ({ event }) => event.type === 'APP.VERBS' && event.queue === true,
    hasVerbs: ({ event }) => event.type === 'HOOK.REPLY' && event.verbs.length > 0,
  },
  delays: {
    // jambonz's RESPONSE_TIMEOUT_MS default; the adapter provides its own.
    ackTimeout: 5000,
  },
}).createMachine({
  id: 'jambonzVerbExecutor',
  initial: 'awaitingApp',
  context: { queue: [], current: undefined, seq: 0, endReason: undefined },
  output: ({ context }) => ({ reason: context.endReason ?? 'call-ended' }),
  on: {
    'CALL.ENDED': { target: '.ended', actions: assign({ endReason: 'call-ended' as const }) },
    'APP.GONE': {
      target: '.ended',
      actions: [{ type: 'reportError', params: ({ event }) => ({ error: event.error }) }, 'hangupCall', assign({ endReason: 'app-gone' as const })],
    },
  },
  states: {
    // session:new sent; its ack brings the first verbs.
    awaitingApp: {
      on: { 'APP.VERBS': { target: 'next', actions: 'replaceQueue' } },
      after: { ackTimeout: 'timedOut' },
    },
    next: {
      always: [
        { guard: 'stackEmpty', target: 'ended', actions: ['hangupCall', assign({ endReason: 'stack-empty' as const, current: undefined })] },
        {
          target: 'running',
          actions: assign({ current: ({ context }) => context.queue[0], queue: ({ context }) => context.queue.slice(1), seq: ({ context }) => context.seq + 1 }),
        },
      ],
    },
    running: {
      entry: { type: 'startVerb', params: ({ context }) => ({ verb: context.current!, seq: context.seq }) },
      on: {
        'VERB.DONE': [{ guard: 'wantsHook', target: 'hooking' }, { guard: 'isCurrent', target: 'next' }],
        'VERB.FAILED': { guard: 'isCurrent', target: 'next', actions: { type: 'reportError', params: ({ event }) => ({ error: event.error }) } },
        'APP.VERBS': [
          { guard: 'queued', actions: 'appendQueue' },
          { target: 'next', actions: [{ type: 'killVerb', params: ({ context }) => ({ verb: context.current!, seq: context.seq }) }, 'replaceQueue'] },
        ],
        'CALL.ENDED': {
          target: 'ended',
          actions: [{ type: 'killVerb', params: ({ context }) => ({ verb: context.current!, seq: context.seq }) }, assign({ endReason: 'call-ended' as const })],
        },
      },
    },
    // The verb's actionHook was sent; the stack waits for its ack.
    hooking: {
      on: {
        'HOOK.REPLY': [{ guard: 'hasVerbs', target: 'next', actions: 'replaceQueue' }, { target: 'next' }],
        'APP.VERBS': [{ guard: 'queued', actions: 'appendQueue' }, { target: 'next', actions: 'replaceQueue' }],
      },
      after: { ackTimeout: 'timedOut' },
    },
    timedOut: {
      always: {
        target: 'ended',
        actions: [{ type: 'reportError', params: { error: 'no ack from the application within the ack timeout' } }, 'hangupCall', assign({ endReason: 'ack-timeout' as const })],
      },
    },
    ended: { type: 'final' },
  },
});

export type JambonzVerbExecutorMachine = typeof jambonzVerbExecutorMachine;
