// One jambonz `listen` / `stream` verb (jambonz-feature-server lib/tasks/listen.js): open an
// `audio.jambonz.org` socket to the verb's url, send the metadata frame, stream the caller's audio
// as L16 until the app closes the socket, `maxLength` passes, the `finishOnKey` is pressed or the
// verb is killed; the app's `listen:status` command pauses and resumes the audio in between
// (listen.js `updateListen`: mod_audio_fork sends nothing while paused; the socket stays open).
// Pure statechart: the adapter reports SOCKET.*, DTMF, PAUSE and RESUME and provides
// `sendMetadata`, `startStreaming`, `holdStreaming`, `stopStreaming` and `reportFailure`;
// `maxLength` is a named delay (the verb's maxLength seconds, running through pauses).
import { assign, setup } from 'xstate';

export type ListenEndReason = 'app-closed' | 'max-length' | 'finish-key' | 'killed' | 'connect-failed';

export interface ListenInput {
  /** Milliseconds of streaming at most. */
  maxLengthMs: number;
  finishOnKey?: string;
}

export interface ListenContext {
  maxLengthMs: number;
  finishOnKey: string | undefined;
  endReason: ListenEndReason | undefined;
}

export type ListenEvent =
  | { type: 'SOCKET.OPEN' }
  | { type: 'SOCKET.FAILED'; error: string }
  | { type: 'SOCKET.CLOSED' }
  | { type: 'DTMF'; digit: string }
  /** listen:status pause / resume. */
  | { type: 'PAUSE' }
  | { type: 'RESUME' }
  | { type: 'KILL' };

export interface ListenOutput {
  reason: ListenEndReason;
}

export const jambonzListenMachine = setup({
  types: {
    context: {} as ListenContext,
    events: {} as ListenEvent,
    input: {} as ListenInput,
    output: {} as ListenOutput,
  },
  actions: {
    sendMetadata: () => {},
    startStreaming: () => {},
    /** Paused: no audio goes to the socket until startStreaming again. */
    holdStreaming: () => {},
    stopStreaming: (_, _params: { reason: ListenEndReason }) => {},
    reportFailure: (_, _params: { error: string }) => {},
  },
  delays: {
    maxLength: ({ context }) => context.maxLengthMs,
  },
  guards: {
    isFinishKey: ({ context, event }) => event.type === 'DTMF' && context.finishOnKey !== undefined && event.digit === context.finishOnKey,
  },
}).createMachine({
  id: 'jambonzListen',
  context: ({ input }) => ({ maxLengthMs: input.maxLengthMs, finishOnKey: input.finishOnKey, endReason: undefined }),
  initial: 'connecting',
  output: ({ context }) => ({ reason: context.endReason ?? 'killed' }),
  states: {
    connecting: {
      on: {
        'SOCKET.OPEN': 'streaming',
        'SOCKET.FAILED': {
          target: 'failed',
          actions: [{ type: 'reportFailure', params: ({ event }) => ({ error: event.error }) }, assign({ endReason: 'connect-failed' as const })],
        },
        KILL: { target: 'done', actions: assign({ endReason: 'killed' as const }) },
      },
    },
    streaming: {
      entry: 'sendMetadata',
      initial: 'flowing',
      states: {
        flowing: { entry: 'startStreaming', exit: 'holdStreaming', on: { PAUSE: 'paused' } },
        paused: { on: { RESUME: 'flowing' } },
      },
      after: { maxLength: { target: 'done', actions: assign({ endReason: 'max-length' as const }) } },
      on: {
        'SOCKET.CLOSED': { target: 'done', actions: assign({ endReason: 'app-closed' as const }) },
        DTMF: { guard: 'isFinishKey', target: 'done', actions: assign({ endReason: 'finish-key' as const }) },
        KILL: { target: 'done', actions: assign({ endReason: 'killed' as const }) },
      },
    },
    done: {
      type: 'final',
      entry: { type: 'stopStreaming', params: ({ context }) => ({ reason: context.endReason ?? 'killed' }) },
    },
    failed: { type: 'final' },
  },
});

export type JambonzListenMachine = typeof jambonzListenMachine;
