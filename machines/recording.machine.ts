// One recording of a call leg (or of two legs, mixed or as stereo) into a WAV file. The runtime
// (src/media/runtimes/recording.ts) owns the writer and the frame path; this chart owns the life
// cycle: open → record ⇄ pause → finalise, with the maximum duration as the named delay
// `maxDuration` and a dropped call (leg closed) finalising the file like a stop.
import { assign, setup } from 'xstate';

export type RecordingMode = 'single' | 'mixed' | 'stereo';

export type RecordingStopReason = 'stopped' | 'max-duration' | 'leg-closed' | 'error';

export interface RecordingInput {
  recordingId: string;
  path: string;
  mode: RecordingMode;
  legIds: string[];
}

export interface RecordingContext extends RecordingInput {
  reason: RecordingStopReason | null;
  durationMs: number;
  bytes: number;
  error: string | null;
}

export interface RecordingOutput {
  path: string;
  reason: RecordingStopReason;
  durationMs: number;
  bytes: number;
  error?: string;
}

export type RecordingEvent =
  // from the application
  | { type: 'RECORDING.START' }
  | { type: 'RECORDING.PAUSE' }
  | { type: 'RECORDING.RESUME' }
  | { type: 'RECORDING.STOP' }
  // from the media runtime
  | { type: 'MEDIA.WRITER_READY' }
  | { type: 'MEDIA.WRITER_FAILED'; error: string }
  | { type: 'MEDIA.FINALIZED'; durationMs: number; bytes: number }
  | { type: 'MEDIA.LEG_CLOSED' };

export interface RecordingDelays {
  /** Longest a recording may run, wall clock from the start (pauses included). */
  maxDuration: number;
}

export const defaultRecordingDelays: RecordingDelays = { maxDuration: 60 * 60 * 1000 };

export const recordingMachine = setup({
  types: {
    context: {} as RecordingContext,
    events: {} as RecordingEvent,
    input: {} as RecordingInput,
    output: {} as RecordingOutput,
  },
  actions: {
    // Runtime effects.
    openWriter: () => {},
    startCapture: () => {},
    pauseCapture: () => {},
    resumeCapture: () => {},
    /** Stop capturing, flush and close the writer; the runtime answers MEDIA.FINALIZED. */
    finalize: () => {},
    /** Drop the writer after a failure (close what can be closed). */
    abort: () => {},
    // Notifications.
    notifyFinished: () => {},
    setReason: assign((_, params: { reason: RecordingStopReason }) => ({ reason: params.reason })),
  },
  delays: {
    maxDuration: defaultRecordingDelays.maxDuration,
  },
}).createMachine({
  id: 'recording',
  context: ({ input }) => ({ ...input, reason: null, durationMs: 0, bytes: 0, error: null }),
  initial: 'idle',
  output: ({ context }) => ({
    path: context.path,
    reason: context.reason ?? 'stopped',
    durationMs: context.durationMs,
    bytes: context.bytes,
    ...(context.error !== null ? { error: context.error } : {}),
  }),
  states: {
    idle: {
      on: {
        'RECORDING.START': { target: 'opening', actions: 'openWriter' },
        'RECORDING.STOP': { target: 'done', actions: { type: 'setReason', params: { reason: 'stopped' } } },
        'MEDIA.LEG_CLOSED': { target: 'done', actions: { type: 'setReason', params: { reason: 'leg-closed' } } },
      },
    },
    opening: {
      on: {
        'MEDIA.WRITER_READY': { target: 'active', actions: 'startCapture' },
        'MEDIA.WRITER_FAILED': { target: 'failed', actions: assign({ error: ({ event }) => event.error }) },
        // The writer is being opened: let it finish, then finalise (an empty but valid file).
        'RECORDING.STOP': { target: 'closing', actions: { type: 'setReason', params: { reason: 'stopped' } } },
        'MEDIA.LEG_CLOSED': { target: 'closing', actions: { type: 'setReason', params: { reason: 'leg-closed' } } },
      },
    },
    /** Stop requested while opening: finalise as soon as the writer exists. */
    closing: {
      on: {
        'MEDIA.WRITER_READY': 'stopping',
        'MEDIA.WRITER_FAILED': { target: 'failed', actions: assign({ error: ({ event }) => event.error }) },
      },
    },
    active: {
      initial: 'recording',
      after: {
        maxDuration: { target: 'stopping', actions: { type: 'setReason', params: { reason: 'max-duration' } } },
      },
      on: {
        'RECORDING.STOP': { target: 'stopping', actions: { type: 'setReason', params: { reason: 'stopped' } } },
        'MEDIA.LEG_CLOSED': { target: 'stopping', actions: { type: 'setReason', params: { reason: 'leg-closed' } } },
        'MEDIA.WRITER_FAILED': {
          target: 'failed',
          actions: [assign({ error: ({ event }) => event.error }), { type: 'setReason', params: { reason: 'error' } }],
        },
      },
      states: {
        recording: {
          on: { 'RECORDING.PAUSE': { target: 'paused', actions: 'pauseCapture' } },
        },
        paused: {
          on: { 'RECORDING.RESUME': { target: 'recording', actions: 'resumeCapture' } },
        },
      },
    },
    stopping: {
      entry: 'finalize',
      on: {
        'MEDIA.FINALIZED': {
          target: 'done',
          actions: assign({ durationMs: ({ event }) => event.durationMs, bytes: ({ event }) => event.bytes }),
        },
        'MEDIA.WRITER_FAILED': {
          target: 'failed',
          actions: [assign({ error: ({ event }) => event.error }), { type: 'setReason', params: { reason: 'error' } }],
        },
      },
    },
    done: { type: 'final', entry: 'notifyFinished' },
    failed: {
      type: 'final',
      entry: ['abort', assign({ reason: 'error' }), 'notifyFinished'],
    },
  },
});

export type RecordingMachine = typeof recordingMachine;
