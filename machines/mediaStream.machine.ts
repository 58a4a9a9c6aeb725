// One Twilio-format media stream from a call to a bot (`call.stream(url)`): the WebSocket's life
// from the first connect to the last close, the reconnect policy, and what the call does when the
// bot is gone.
//
//   connecting ──open──► streaming ──call ended / stop()──► stopping ──closed──► stopped
//       │  ▲                 │
//       │  └─reconnecting◄───┤ socket lost (not a clean close by the bot), attempts left
//       └────────────────────┴──► botGone (no attempts left, or the bot closed cleanly)
//                                   └─ fallback: hang the call up, or let it continue ─► stopped
//
// What the chart does not own: audio. 50 frames/s each way never become actor events (see
// docs/architecture.md, "Fast paths stay out of XState"); the adapter (src/streams/stream.ts)
// moves them and reports counters. Every effect is a named action, every timer a named delay.
import { assign, setup } from 'xstate';

export type MediaStreamFallback = 'hangup' | 'continue';

export type MediaStreamEndReason =
  /** The call ended (its media leg closed). */
  | 'call-ended'
  /** The application called `stream.stop()`. */
  | 'stopped'
  /** The bot closed the socket with a normal close (1000/1001): it is done with the call. */
  | 'bot-closed'
  /** The bot could not be reached or was lost, and no reconnect attempt was left. */
  | 'bot-gone';

export interface MediaStreamInput {
  streamSid: string;
  callId: string;
  url: string;
  /** Reconnects allowed after a lost socket (0: none). */
  maxReconnects: number;
  fallback: MediaStreamFallback;
}

export interface MediaStreamContext extends MediaStreamInput {
  /** Reconnects made so far. */
  reconnects: number;
  /** Connections that reached `streaming`. */
  connections: number;
  reason: MediaStreamEndReason | null;
  /** Close code of the last socket (or 1006 when it never opened). */
  lastCloseCode: number | null;
  /** Marks of the bot waiting for their audio to play. */
  pendingMarks: number;
}

export interface MediaStreamOutput {
  streamSid: string;
  callId: string;
  reason: MediaStreamEndReason;
  reconnects: number;
  connections: number;
  /** The fallback the call followed (only when the bot was gone). */
  fallback?: MediaStreamFallback;
  lastCloseCode?: number;
}

export type MediaStreamEvent =
  // from the socket
  | { type: 'SOCKET.OPEN' }
  | { type: 'SOCKET.CLOSED'; code: number }
  // the bot's marks (bookkeeping; the audio itself stays in the adapter)
  | { type: 'MARK.QUEUED' }
  | { type: 'MARK.DONE'; count: number }
  // how a stream ends from this side
  | { type: 'CALL.ENDED' }
  | { type: 'APP.STOP' };

export interface MediaStreamDelays {
  /** Longest a connect (TCP + WebSocket handshake) may take before it counts as failed. */
  connectTimeout: number;
  /** Wait before reconnect n (1-based): doubles each time from the base. */
  reconnectDelay: number;
  /** Longest the closing handshake may take once `stop` is sent. */
  stopTimeout: number;
}

export const defaultMediaStreamDelays: MediaStreamDelays = { connectTimeout: 5000, reconnectDelay: 250, stopTimeout: 1000 };

/** Normal closures: the bot meant to end the stream, so it is not reconnected. */
const CLEAN_CLOSE = new Set([1000, 1001]);

export const mediaStreamMachine = setup({
  types: {
    context: {} as MediaStreamContext,
    events: {} as MediaStreamEvent,
    input: {} as MediaStreamInput,
    output: {} as MediaStreamOutput,
  },
  actions: {
    /** Open the WebSocket to the bot; the adapter answers SOCKET.OPEN or SOCKET.CLOSED. */
    openSocket: () => {},
    /** Send `connected` + `start`, start moving audio both ways. */
    startMedia: () => {},
    /** Stop moving audio (the socket is gone or going); queued bot audio is dropped. */
    stopMedia: () => {},
    /** Send `stop` and close the socket (1000). */
    sendStop: () => {},
    /** Drop the socket without a handshake (connect timed out, close handshake too slow). */
    dropSocket: () => {},
    /** The bot is gone and the fallback is `hangup`: hang the call up. */
    hangupCall: () => {},
    /** Tell the application the stream is over (`stream.done`). */
    notifyStopped: () => {},
    setReason: assign(({ context }, params: { reason: MediaStreamEndReason }) => ({ reason: context.reason ?? params.reason })),
    setCloseCode: assign(({ context, event }) => ({ lastCloseCode: event.type === 'SOCKET.CLOSED' ? event.code : context.lastCloseCode })),
    countReconnect: assign(({ context }) => ({ reconnects: context.reconnects + 1 })),
    countConnection: assign(({ context }) => ({ connections: context.connections + 1 })),
    markQueued: assign(({ context }) => ({ pendingMarks: context.pendingMarks + 1 })),
    marksDone: assign(({ context, event }) => ({ pendingMarks: Math.max(0, context.pendingMarks - (event.type === 'MARK.DONE' ? event.count : 0)) })),
    marksDropped: assign({ pendingMarks: 0 }),
  },
  guards: {
    canReconnect: ({ context }) => context.reconnects < context.maxReconnects,
    cleanClose: ({ event }) => event.type === 'SOCKET.CLOSED' && CLEAN_CLOSE.has(event.code),
    fallbackHangup: ({ context }) => context.fallback === 'hangup',
  },
  delays: {
    connectTimeout: defaultMediaStreamDelays.connectTimeout,
    // Exponential backoff, capped at 16 times the base: 250, 500, 1000, 2000, 4000, 4000… ms.
    reconnectDelay: ({ context }) => defaultMediaStreamDelays.reconnectDelay * 2 ** Math.min(context.reconnects - 1, 4),
    stopTimeout: defaultMediaStreamDelays.stopTimeout,
  },
}).createMachine({
  id: 'mediaStream',
  context: ({ input }) => ({ ...input, reconnects: 0, connections: 0, reason: null, lastCloseCode: null, pendingMarks: 0 }),
  initial: 'connecting',
  output: ({ context }) => ({
    streamSid: context.streamSid,
    callId: context.callId,
    reason: context.reason ?? 'stopped',
    reconnects: context.reconnects,
    connections: context.connections,
    ...(context.reason === 'bot-gone' || context.reason === 'bot-closed' ? { fallback: context.fallback } : {}),
    ...(context.lastCloseCode !== null ? { lastCloseCode: context.lastCloseCode } : {}),
  }),
  states: {
    connecting: {
      entry: 'openSocket',
      after: {
        connectTimeout: [
          { guard: 'canReconnect', target: 'reconnecting', actions: ['dropSocket', 'countReconnect'] },
          { target: 'botGone', actions: ['dropSocket', { type: 'setReason', params: { reason: 'bot-gone' } }] },
        ],
      },
      on: {
        'SOCKET.OPEN': { target: 'streaming', actions: 'countConnection' },
        'SOCKET.CLOSED': [
          { guard: 'canReconnect', target: 'reconnecting', actions: ['setCloseCode', 'countReconnect'] },
          { target: 'botGone', actions: ['setCloseCode', { type: 'setReason', params: { reason: 'bot-gone' } }] },
        ],
        'CALL.ENDED': { target: 'stopped', actions: ['dropSocket', { type: 'setReason', params: { reason: 'call-ended' } }] },
        'APP.STOP': { target: 'stopped', actions: ['dropSocket', { type: 'setReason', params: { reason: 'stopped' } }] },
      },
    },
    streaming: {
      entry: 'startMedia',
      exit: ['stopMedia', 'marksDropped'],
      on: {
        'SOCKET.CLOSED': [
          { guard: 'cleanClose', target: 'botGone', actions: ['setCloseCode', { type: 'setReason', params: { reason: 'bot-closed' } }] },
          { guard: 'canReconnect', target: 'reconnecting', actions: ['setCloseCode', 'countReconnect'] },
          { target: 'botGone', actions: ['setCloseCode', { type: 'setReason', params: { reason: 'bot-gone' } }] },
        ],
        'MARK.QUEUED': { actions: 'markQueued' },
        'MARK.DONE': { actions: 'marksDone' },
        'CALL.ENDED': { target: 'stopping', actions: { type: 'setReason', params: { reason: 'call-ended' } } },
        'APP.STOP': { target: 'stopping', actions: { type: 'setReason', params: { reason: 'stopped' } } },
      },
    },
    reconnecting: {
      after: { reconnectDelay: { target: 'connecting' } },
      on: {
        'CALL.ENDED': { target: 'stopped', actions: { type: 'setReason', params: { reason: 'call-ended' } } },
        'APP.STOP': { target: 'stopped', actions: { type: 'setReason', params: { reason: 'stopped' } } },
      },
    },
    stopping: {
      entry: 'sendStop',
      after: { stopTimeout: { target: 'stopped', actions: 'dropSocket' } },
      on: { 'SOCKET.CLOSED': { target: 'stopped', actions: 'setCloseCode' } },
    },
    /** Transient: the call follows its fallback. */
    botGone: {
      always: [{ guard: 'fallbackHangup', target: 'stopped', actions: 'hangupCall' }, { target: 'stopped' }],
    },
    stopped: { type: 'final', entry: 'notifyStopped' },
  },
});

export type MediaStreamMachine = typeof mediaStreamMachine;
