// One playback stream into one call leg: what is queued, what plays, whether it is paused, and
// what happened to each item. The per-frame sample pump lives in the runtime
// (src/media/runtimes/playback.ts); this chart only decides, and the runtime reports back.
//
// The runtime's effects are named actions with no-op defaults (provided once per runtime,
// dispatching by actor id); item loading is bounded by the named delay `loadTimeout`.
import { assign, setup } from 'xstate';

/** What an item plays. Files are WAV (PCM 8/16-bit, A-law, μ-law, any rate; converted to 8 kHz mono). */
export type PlaybackSource =
  | { kind: 'file'; path: string }
  | { kind: 'tone'; frequencies: number[]; durationMs: number; amplitude?: number }
  | { kind: 'silence'; durationMs: number };

export interface PlaybackItem {
  /** Unique within the stream (the runtime assigns one when the app does not). */
  id: string;
  source: PlaybackSource;
}

export type PlaybackItemEndReason = 'ended' | 'skipped' | 'stopped' | 'failed';

export interface PlaybackInput {
  legId: string;
  /** Items queued beyond this are refused (default 32). */
  maxQueue?: number;
  /** Initial gain 0..2 (default 1). */
  gain?: number;
}

export interface PlaybackContext {
  legId: string;
  maxQueue: number;
  queue: PlaybackItem[];
  current: PlaybackItem | null;
  /** Position in the current item as last set (seek) or reported by the runtime. */
  positionMs: number;
  /** Length of the current item once loaded. */
  durationMs: number | null;
  gain: number;
  played: number;
  skipped: number;
  failed: number;
  lastError: { itemId: string; message: string } | null;
  closedBy: 'app' | 'leg' | null;
}

export interface PlaybackOutput {
  played: number;
  skipped: number;
  failed: number;
  closedBy: 'app' | 'leg';
}

export type PlaybackEvent =
  // from the application
  | { type: 'PLAYBACK.PLAY'; items: PlaybackItem[] } // enqueue (starts at once when idle)
  | { type: 'PLAYBACK.PAUSE' }
  | { type: 'PLAYBACK.RESUME' }
  | { type: 'PLAYBACK.SEEK'; positionMs: number }
  | { type: 'PLAYBACK.VOLUME'; gain: number }
  | { type: 'PLAYBACK.SKIP' } // end the current item, go on with the queue
  | { type: 'PLAYBACK.STOP' } // end the current item and clear the queue; the stream stays usable
  | { type: 'PLAYBACK.CLOSE' }
  // from the media runtime
  | { type: 'MEDIA.ITEM_STARTED'; itemId: string; durationMs: number }
  | { type: 'MEDIA.ITEM_ENDED'; itemId: string; positionMs: number }
  | { type: 'MEDIA.ITEM_FAILED'; itemId: string; error: string }
  | { type: 'MEDIA.POSITION'; itemId: string; positionMs: number }
  | { type: 'MEDIA.LEG_CLOSED' };

export interface PlaybackDelays {
  /** Longest an item may take to load (file read + decode) before it is failed. */
  loadTimeout: number;
}

export const defaultPlaybackDelays: PlaybackDelays = { loadTimeout: 5000 };

export interface ItemFinished {
  itemId: string;
  reason: PlaybackItemEndReason;
  positionMs: number;
  error?: string;
}

const clampGain = (g: number) => (Number.isFinite(g) ? Math.min(2, Math.max(0, g)) : 1);

export const playbackMachine = setup({
  types: {
    context: {} as PlaybackContext,
    events: {} as PlaybackEvent,
    input: {} as PlaybackInput,
    output: {} as PlaybackOutput,
  },
  actions: {
    // Runtime effects (the sample pump).
    startItem: (_: unknown, _params: { item: PlaybackItem; positionMs: number; gain: number }) => {},
    pauseOutput: () => {},
    resumeOutput: () => {},
    seekOutput: (_: unknown, _params: { positionMs: number }) => {},
    setGain: (_: unknown, _params: { gain: number }) => {},
    stopOutput: () => {},
    // Notifications for the application.
    notifyItemFinished: (_: unknown, _params: ItemFinished) => {},
    notifyDrained: () => {},
    notifyRefused: (_: unknown, _params: { itemIds: string[] }) => {},
    /** Queued items dropped unplayed by PLAYBACK.STOP. */
    notifyCleared: (_: unknown, _params: { itemIds: string[] }) => {},
    // Bookkeeping.
    enqueue: assign(({ context, event }) => {
      if (event.type !== 'PLAYBACK.PLAY') return {};
      const room = Math.max(0, context.maxQueue - context.queue.length);
      return { queue: [...context.queue, ...event.items.slice(0, room)] };
    }),
    takeNext: assign(({ context }) => ({
      current: context.queue[0] ?? null,
      queue: context.queue.slice(1),
      positionMs: 0,
      durationMs: null,
    })),
    clearCurrent: assign({ current: null, positionMs: 0, durationMs: null }),
    clearQueue: assign({ queue: [] }),
  },
  guards: {
    queueEmpty: ({ context }) => context.queue.length === 0,
    notLoaded: ({ context }) => context.durationMs === null,
    hasItems: ({ event }) => event.type === 'PLAYBACK.PLAY' && event.items.length > 0,
    overflows: ({ context, event }) =>
      event.type === 'PLAYBACK.PLAY' && context.queue.length + event.items.length > context.maxQueue,
    isCurrent: ({ context, event }) =>
      'itemId' in event && context.current !== null && event.itemId === context.current.id,
  },
  delays: {
    loadTimeout: defaultPlaybackDelays.loadTimeout,
  },
}).createMachine({
  id: 'playback',
  context: ({ input }) => ({
    legId: input.legId,
    maxQueue: input.maxQueue ?? 32,
    queue: [],
    current: null,
    positionMs: 0,
    durationMs: null,
    gain: clampGain(input.gain ?? 1),
    played: 0,
    skipped: 0,
    failed: 0,
    lastError: null,
    closedBy: null,
  }),
  initial: 'idle',
  output: ({ context }) => ({
    played: context.played,
    skipped: context.skipped,
    failed: context.failed,
    closedBy: context.closedBy ?? 'app',
  }),
  on: {
    'PLAYBACK.PLAY': [
      {
        guard: 'overflows',
        actions: [
          { type: 'notifyRefused', params: ({ context, event }) => ({ itemIds: event.items.slice(Math.max(0, context.maxQueue - context.queue.length)).map((i) => i.id) }) },
          'enqueue',
        ],
      },
      { actions: 'enqueue' },
    ],
    'PLAYBACK.VOLUME': {
      actions: [assign({ gain: ({ event }) => clampGain(event.gain) }), { type: 'setGain', params: ({ context }) => ({ gain: context.gain }) }],
    },
    'PLAYBACK.CLOSE': { target: '.closed', actions: assign({ closedBy: 'app' }) },
    'MEDIA.LEG_CLOSED': { target: '.closed', actions: assign({ closedBy: 'leg' }) },
  },
  states: {
    idle: {
      on: {
        // Re-declared here so an enqueue in idle also starts playing.
        'PLAYBACK.PLAY': [
          {
            guard: 'overflows',
            target: 'next',
            actions: [
              { type: 'notifyRefused', params: ({ context, event }) => ({ itemIds: event.items.slice(Math.max(0, context.maxQueue - context.queue.length)).map((i) => i.id) }) },
              'enqueue',
            ],
          },
          { guard: 'hasItems', target: 'next', actions: 'enqueue' },
        ],
      },
    },
    /** Transient: start the next queued item, or report the queue drained. */
    next: {
      always: [
        { guard: 'queueEmpty', target: 'idle', actions: 'notifyDrained' },
        { target: 'active', actions: 'takeNext' },
      ],
    },
    active: {
      initial: 'loading',
      entry: { type: 'startItem', params: ({ context }) => ({ item: context.current!, positionMs: context.positionMs, gain: context.gain }) },
      exit: 'stopOutput',
      on: {
        'PLAYBACK.SEEK': {
          actions: [
            assign({ positionMs: ({ event }) => Math.max(0, Math.floor(event.positionMs)) }),
            { type: 'seekOutput', params: ({ context }) => ({ positionMs: context.positionMs }) },
          ],
        },
        'PLAYBACK.SKIP': {
          target: 'next',
          actions: [
            { type: 'notifyItemFinished', params: ({ context }) => ({ itemId: context.current!.id, reason: 'skipped' as const, positionMs: context.positionMs }) },
            assign({ skipped: ({ context }) => context.skipped + 1 }),
            'clearCurrent',
          ],
        },
        'PLAYBACK.STOP': {
          target: 'idle',
          actions: [
            { type: 'notifyItemFinished', params: ({ context }) => ({ itemId: context.current!.id, reason: 'stopped' as const, positionMs: context.positionMs }) },
            { type: 'notifyCleared', params: ({ context }) => ({ itemIds: context.queue.map((i) => i.id) }) },
            'clearCurrent',
            'clearQueue',
          ],
        },
        'PLAYBACK.CLOSE': {
          target: 'closed',
          actions: [
            { type: 'notifyItemFinished', params: ({ context }) => ({ itemId: context.current!.id, reason: 'stopped' as const, positionMs: context.positionMs }) },
            assign({ closedBy: 'app' }),
            'clearCurrent',
          ],
        },
        'MEDIA.LEG_CLOSED': {
          target: 'closed',
          actions: [
            { type: 'notifyItemFinished', params: ({ context }) => ({ itemId: context.current!.id, reason: 'stopped' as const, positionMs: context.positionMs }) },
            assign({ closedBy: 'leg' }),
            'clearCurrent',
          ],
        },
        'MEDIA.ITEM_ENDED': {
          guard: 'isCurrent',
          target: 'next',
          actions: [
            { type: 'notifyItemFinished', params: ({ context, event }) => ({ itemId: context.current!.id, reason: 'ended' as const, positionMs: event.positionMs }) },
            assign({ played: ({ context }) => context.played + 1 }),
            'clearCurrent',
          ],
        },
        'MEDIA.ITEM_FAILED': {
          guard: 'isCurrent',
          target: 'next',
          actions: [
            { type: 'notifyItemFinished', params: ({ context, event }) => ({ itemId: context.current!.id, reason: 'failed' as const, positionMs: context.positionMs, error: event.error }) },
            assign({
              failed: ({ context }) => context.failed + 1,
              lastError: ({ context, event }) => ({ itemId: context.current!.id, message: event.error }),
            }),
            'clearCurrent',
          ],
        },
        'MEDIA.POSITION': { guard: 'isCurrent', actions: assign({ positionMs: ({ event }) => event.positionMs }) },
        'MEDIA.ITEM_STARTED': { guard: 'isCurrent', actions: assign({ durationMs: ({ event }) => event.durationMs }) },
      },
      states: {
        loading: {
          after: {
            loadTimeout: {
              target: '#playback.next',
              actions: [
                { type: 'notifyItemFinished', params: ({ context }) => ({ itemId: context.current!.id, reason: 'failed' as const, positionMs: context.positionMs, error: 'load timeout' }) },
                assign({
                  failed: ({ context }) => context.failed + 1,
                  lastError: ({ context }) => ({ itemId: context.current!.id, message: 'load timeout' }),
                }),
                'clearCurrent',
              ],
            },
          },
          on: {
            'MEDIA.ITEM_STARTED': { guard: 'isCurrent', target: 'playing', actions: assign({ durationMs: ({ event }) => event.durationMs }) },
            'PLAYBACK.PAUSE': { target: 'paused', actions: 'pauseOutput' },
          },
        },
        playing: {
          on: {
            'PLAYBACK.PAUSE': { target: 'paused', actions: 'pauseOutput' },
          },
        },
        paused: {
          on: {
            // Resuming before the item loaded goes back to waiting for it.
            'PLAYBACK.RESUME': [
              { guard: 'notLoaded', target: 'loading', actions: 'resumeOutput' },
              { target: 'playing', actions: 'resumeOutput' },
            ],
          },
        },
      },
    },
    closed: { type: 'final' },
  },
});

export type PlaybackMachine = typeof playbackMachine;
