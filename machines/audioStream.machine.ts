// One jambonz audio stream (the WebSocket a `listen`/`stream` verb opens to the application), from
// its metadata frame to a finalised WAV file. The adapter (src/jambonz/audio.ts) spawns this actor
// once the metadata has been validated, so the chart starts with everything it needs in its input.
//
// What the chart owns: the life cycle (open the writer → stream → finalise exactly once, whatever
// ended the stream: the socket closing — cleanly or not —, the application disconnecting, engine
// shutdown, or the maximum duration), and the bidirectional-audio bookkeeping that decides what
// the application may still expect from jambonz: plays awaiting `playDone`, marks awaiting their
// `mark` event.
//
// What it does not own: audio frames. 50 frames/s per stream never become actor events (see
// docs/architecture.md, "Fast paths stay out of XState"); the adapter counts them and reports the
// totals in STREAM.FINALIZED. Every effect is a named action and the one timer a named delay.
import { assign, setup } from 'xstate';

export type AudioStreamEndReason =
  /** jambonz closed the socket (clean close or an abrupt drop: the file is finalised either way). */
  | 'socket-closed'
  /** The application called `disconnect()`. */
  | 'app-disconnect'
  /** The engine is shutting down. */
  | 'shutdown'
  /** The `maxDuration` delay elapsed while streaming. */
  | 'max-duration'
  /** The WAV writer could not be opened or written. */
  | 'error';

export type AudioMarkEventKind = 'playout' | 'cleared';

export interface AudioStreamInput {
  streamId: string;
  callSid: string;
  /** Write the stream to a WAV file (false: the application only listens). */
  record: boolean;
}

export interface AudioStreamContext extends AudioStreamInput {
  /** The WAV file, once the writer has created it. */
  path: string | null;
  reason: AudioStreamEndReason | null;
  error: string | null;
  frames: number;
  bytes: number;
  durationMs: number;
  /** playAudio requests sent and not yet answered by `playDone` (or cut by killAudio). */
  plays: number;
  /** Marks sent and not yet reported back by jambonz (nor given up with clearMarks). */
  marks: string[];
}

export interface AudioStreamOutput {
  streamId: string;
  callSid: string;
  path: string | null;
  reason: AudioStreamEndReason;
  frames: number;
  bytes: number;
  durationMs: number;
  error?: string;
}

export type AudioStreamEvent =
  // from the writer (runtime)
  | { type: 'WRITER.READY'; path: string }
  | { type: 'WRITER.FAILED'; error: string }
  | { type: 'STREAM.FINALIZED'; frames: number; bytes: number; durationMs: number }
  // bidirectional audio: the application's commands and jambonz's answers
  | { type: 'PLAY.STARTED' }
  | { type: 'PLAY.DONE' }
  | { type: 'PLAY.KILLED' }
  | { type: 'MARK.SENT'; name: string }
  | { type: 'MARK.EVENT'; name: string; event: AudioMarkEventKind }
  | { type: 'MARKS.CLEARED' }
  // how a stream ends
  | { type: 'SOCKET.CLOSED'; code: number }
  | { type: 'APP.DISCONNECT' }
  | { type: 'ENGINE.SHUTDOWN' };

export interface AudioStreamDelays {
  /** Longest a stream may run (wall clock, from the metadata frame). */
  maxDuration: number;
}

export const defaultAudioStreamDelays: AudioStreamDelays = { maxDuration: 4 * 60 * 60 * 1000 };

/** The events that end a stream, and the reason each one records. */
const endings = {
  'SOCKET.CLOSED': 'socket-closed',
  'APP.DISCONNECT': 'app-disconnect',
  'ENGINE.SHUTDOWN': 'shutdown',
} as const satisfies Partial<Record<AudioStreamEvent['type'], AudioStreamEndReason>>;

/** `on` entries for the three endings: go to `target`, remembering the first reason. */
function endTransitions<T extends string>(target: T) {
  return {
    'SOCKET.CLOSED': { target, actions: { type: 'setReason' as const, params: { reason: endings['SOCKET.CLOSED'] } } },
    'APP.DISCONNECT': { target, actions: { type: 'setReason' as const, params: { reason: endings['APP.DISCONNECT'] } } },
    'ENGINE.SHUTDOWN': { target, actions: { type: 'setReason' as const, params: { reason: endings['ENGINE.SHUTDOWN'] } } },
  };
}

export const audioStreamMachine = setup({
  types: {
    context: {} as AudioStreamContext,
    events: {} as AudioStreamEvent,
    input: {} as AudioStreamInput,
    output: {} as AudioStreamOutput,
  },
  actions: {
    /** Create the WAV file; the runtime answers WRITER.READY or WRITER.FAILED. */
    openWriter: () => {},
    /** Stop taking frames, close the writer (header patched) and answer STREAM.FINALIZED. */
    finalize: () => {},
    /** Drop the writer after a failure (close what can be closed). */
    abort: () => {},
    /** Tell the application the stream is over (its `close` event). */
    notifyFinished: () => {},
    setPath: assign(({ context, event }) => ({ path: event.type === 'WRITER.READY' ? event.path : context.path })),
    setReason: assign(({ context }, params: { reason: AudioStreamEndReason }) => ({ reason: context.reason ?? params.reason })),
    setError: assign(({ event }) => ({ error: event.type === 'WRITER.FAILED' ? event.error : null, reason: 'error' as const })),
    playStarted: assign(({ context }) => ({ plays: context.plays + 1 })),
    // A playDone nobody is waiting for (sent by jambonz after a killAudio raced it) is ignored.
    playDone: assign(({ context }) => ({ plays: Math.max(0, context.plays - 1) })),
    playsKilled: assign({ plays: 0 }),
    markSent: assign(({ context, event }) => ({ marks: event.type === 'MARK.SENT' ? [...context.marks, event.name] : context.marks })),
    markReported: assign(({ context, event }) => {
      if (event.type !== 'MARK.EVENT') return {};
      const i = context.marks.indexOf(event.name);
      return i < 0 ? {} : { marks: [...context.marks.slice(0, i), ...context.marks.slice(i + 1)] };
    }),
    marksCleared: assign({ marks: [] as string[] }),
  },
  guards: {
    recording: ({ context }) => context.record,
    lastPlay: ({ context }) => context.plays <= 1,
  },
  delays: {
    maxDuration: defaultAudioStreamDelays.maxDuration,
  },
}).createMachine({
  id: 'audioStream',
  context: ({ input }) => ({ ...input, path: null, reason: null, error: null, frames: 0, bytes: 0, durationMs: 0, plays: 0, marks: [] }),
  initial: 'starting',
  output: ({ context }) => ({
    streamId: context.streamId,
    callSid: context.callSid,
    path: context.path,
    reason: context.reason ?? 'socket-closed',
    frames: context.frames,
    bytes: context.bytes,
    durationMs: context.durationMs,
    ...(context.error !== null ? { error: context.error } : {}),
  }),
  states: {
    /** Transient: a recording route opens a file first, a listen-only route streams at once. */
    starting: {
      always: [{ guard: 'recording', target: 'opening' }, { target: 'streaming' }],
    },
    opening: {
      entry: 'openWriter',
      on: {
        'WRITER.READY': { target: 'streaming', actions: 'setPath' },
        'WRITER.FAILED': { target: 'failed', actions: 'setError' },
        // The file is being created: let that finish, then finalise (a valid, possibly empty WAV).
        ...endTransitions('closing'),
      },
    },
    /** Ended while opening: finalise as soon as the writer exists. */
    closing: {
      on: {
        'WRITER.READY': { target: 'finalizing', actions: 'setPath' },
        'WRITER.FAILED': { target: 'failed', actions: 'setError' },
      },
    },
    streaming: {
      initial: 'idle',
      after: {
        maxDuration: { target: 'finalizing', actions: { type: 'setReason', params: { reason: 'max-duration' } } },
      },
      on: {
        ...endTransitions('finalizing'),
        'WRITER.FAILED': { target: 'failed', actions: 'setError' },
        'MARK.SENT': { actions: 'markSent' },
        'MARK.EVENT': { actions: 'markReported' },
        'MARKS.CLEARED': { actions: 'marksCleared' },
      },
      states: {
        idle: {
          on: { 'PLAY.STARTED': { target: 'playing', actions: 'playStarted' } },
        },
        playing: {
          on: {
            'PLAY.STARTED': { actions: 'playStarted' },
            'PLAY.DONE': [{ guard: 'lastPlay', target: 'idle', actions: 'playDone' }, { actions: 'playDone' }],
            'PLAY.KILLED': { target: 'idle', actions: 'playsKilled' },
          },
        },
      },
    },
    finalizing: {
      entry: 'finalize',
      on: {
        'STREAM.FINALIZED': {
          target: 'done',
          actions: assign(({ event }) => ({ frames: event.frames, bytes: event.bytes, durationMs: event.durationMs })),
        },
        'WRITER.FAILED': { target: 'failed', actions: 'setError' },
      },
    },
    done: { type: 'final', entry: 'notifyFinished' },
    failed: { type: 'final', entry: ['abort', 'notifyFinished'] },
  },
});

export type AudioStreamMachine = typeof audioStreamMachine;
