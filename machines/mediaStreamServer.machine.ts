// One platform connection on `engine.mediaStreams(path, handler)` (the bot's side of Twilio Media
// Streams): from the socket's open to its close.
//
//   awaitingStart ──start──► streaming ──stop──► stopped ──closed──► closed
//        │ (media before start, a second connected, no start in time)      ▲
//        └──► refused (close 1008)                           socket closed ┘
//
// Audio (`media` messages, 50/s) never becomes an actor event: the adapter (src/streams/route.ts)
// hands it to the session while the chart is in `streaming`. Effects are named actions, the start
// deadline a named delay.
import { assign, setup } from 'xstate';

export type MediaStreamServerEndReason = 'closed' | 'refused' | 'shutdown';

export interface MediaStreamServerContext {
  connected: boolean;
  /** Why the connection was refused (close reason), when it was. */
  refusal: string | null;
  reason: MediaStreamServerEndReason | null;
  /** The platform sent `stop`. */
  stopped: boolean;
}

export interface MediaStreamServerOutput {
  reason: MediaStreamServerEndReason;
  refusal?: string;
  /** The platform sent `stop` before the socket closed. */
  stopped: boolean;
}

export type MediaStreamServerEvent =
  | { type: 'MSG.CONNECTED' }
  | { type: 'MSG.START' }
  /** Anything else the platform sends before `start` (media, mark, dtmf, stop, garbage, binary). */
  | { type: 'MSG.EARLY'; what: string }
  | { type: 'MSG.STOP' }
  | { type: 'SOCKET.CLOSED' }
  | { type: 'ENGINE.SHUTDOWN' };

export const defaultMediaStreamServerDelays = { startTimeout: 10_000 };

export const mediaStreamServerMachine = setup({
  types: {
    context: {} as MediaStreamServerContext,
    events: {} as MediaStreamServerEvent,
    output: {} as MediaStreamServerOutput,
  },
  actions: {
    /** Build the session and call the route's handler. */
    openSession: () => {},
    /** Close the socket with 1008 and the refusal as reason. */
    refuse: () => {},
    /** Close the socket with 1001 (engine shutdown). */
    closeSocket: () => {},
    /** Tell the session it is over (`close` event). */
    notifyClosed: () => {},
    setConnected: assign({ connected: true }),
    setRefusal: assign((_, params: { refusal: string }) => ({ refusal: params.refusal })),
    setEarlyRefusal: assign(({ event }) => ({ refusal: event.type === 'MSG.EARLY' ? `${event.what} before start` : 'protocol error' })),
    setReason: assign(({ context }, params: { reason: MediaStreamServerEndReason }) => ({ reason: context.reason ?? params.reason })),
  },
  guards: {
    connectedAlready: ({ context }) => context.connected,
  },
  delays: defaultMediaStreamServerDelays,
}).createMachine({
  id: 'mediaStreamServer',
  context: { connected: false, refusal: null, reason: null, stopped: false },
  initial: 'awaitingStart',
  output: ({ context }) => ({
    reason: context.reason ?? 'closed',
    stopped: context.stopped,
    ...(context.refusal !== null ? { refusal: context.refusal } : {}),
  }),
  states: {
    awaitingStart: {
      after: { startTimeout: { target: 'refused', actions: { type: 'setRefusal', params: { refusal: 'no start in time' } } } },
      on: {
        'MSG.CONNECTED': [
          { guard: 'connectedAlready', target: 'refused', actions: { type: 'setRefusal', params: { refusal: 'connected twice' } } },
          { actions: 'setConnected' },
        ],
        'MSG.START': { target: 'streaming' },
        'MSG.EARLY': { target: 'refused', actions: 'setEarlyRefusal' },
        'MSG.STOP': { target: 'refused', actions: { type: 'setRefusal', params: { refusal: 'stop before start' } } },
        'SOCKET.CLOSED': { target: 'closed' },
        'ENGINE.SHUTDOWN': { target: 'closed', actions: ['closeSocket', { type: 'setReason', params: { reason: 'shutdown' } }] },
      },
    },
    streaming: {
      entry: 'openSession',
      on: {
        'MSG.STOP': { target: 'stopped', actions: assign({ stopped: true }) },
        'SOCKET.CLOSED': { target: 'closed' },
        'ENGINE.SHUTDOWN': { target: 'closed', actions: ['closeSocket', { type: 'setReason', params: { reason: 'shutdown' } }] },
      },
    },
    /** The platform said `stop`: nothing more is expected but the close. */
    stopped: {
      on: {
        'SOCKET.CLOSED': { target: 'closed' },
        'ENGINE.SHUTDOWN': { target: 'closed', actions: ['closeSocket', { type: 'setReason', params: { reason: 'shutdown' } }] },
      },
    },
    refused: {
      type: 'final',
      entry: ['refuse', { type: 'setReason', params: { reason: 'refused' } }, 'notifyClosed'],
    },
    closed: { type: 'final', entry: 'notifyClosed' },
  },
});

export type MediaStreamServerMachine = typeof mediaStreamServerMachine;
