// Whether the engine takes new calls: `open`, or `draining` for a rolling restart (new inbound
// calls refused — SIP 503 + Retry-After, WebSocket 1013 — while live calls finish), then `idle`
// once the last live call has ended. Pure statechart: the engine sends CALLS.CHANGED with the live
// call count and provides `announceDraining` / `announceIdle` (the latter closes the engine when
// the drain asked for it: the CLI then exits 0).
import { assign, setup } from 'xstate';

export interface DrainContext {
  /** Live calls, as last reported. */
  live: number;
  /** Close the engine once idle (the CLI then exits). */
  exitWhenIdle: boolean;
}

export type DrainEvent =
  | { type: 'DRAIN'; exitWhenIdle?: boolean }
  /** Take new calls again (a drain called off before the restart). */
  | { type: 'RESUME' }
  | { type: 'CALLS.CHANGED'; live: number };

export const drainMachine = setup({
  types: {
    context: {} as DrainContext,
    events: {} as DrainEvent,
  },
  actions: {
    announceDraining: (_, _params: { live: number }) => {},
    announceIdle: (_, _params: { exitWhenIdle: boolean }) => {},
    announceOpen: () => {},
  },
  guards: {
    noCalls: ({ context }) => context.live === 0,
  },
}).createMachine({
  id: 'drain',
  initial: 'open',
  context: { live: 0, exitWhenIdle: false },
  on: {
    'CALLS.CHANGED': { actions: assign({ live: ({ event }) => Math.max(0, event.live) }) },
  },
  states: {
    open: {
      on: {
        DRAIN: {
          target: 'draining',
          actions: assign({ exitWhenIdle: ({ event }) => event.exitWhenIdle ?? false }),
        },
      },
    },
    draining: {
      entry: { type: 'announceDraining', params: ({ context }) => ({ live: context.live }) },
      always: { guard: 'noCalls', target: 'idle' },
      on: {
        // A second drain may add exit-when-idle; it never takes it back.
        DRAIN: { actions: assign({ exitWhenIdle: ({ context, event }) => context.exitWhenIdle || (event.exitWhenIdle ?? false) }) },
        RESUME: { target: 'open', actions: [assign({ exitWhenIdle: false }), 'announceOpen'] },
      },
    },
    idle: {
      entry: { type: 'announceIdle', params: ({ context }) => ({ exitWhenIdle: context.exitWhenIdle }) },
      on: {
        // An outbound call the application still places while idle: draining again until it ends.
        'CALLS.CHANGED': {
          guard: ({ event }) => event.live > 0,
          target: 'draining',
          actions: assign({ live: ({ event }) => event.live }),
        },
        // Asked again (now with exit-when-idle): idle is re-entered, so it is announced again.
        DRAIN: {
          target: 'idle',
          reenter: true,
          actions: assign({ exitWhenIdle: ({ context, event }) => context.exitWhenIdle || (event.exitWhenIdle ?? false) }),
        },
        RESUME: { target: 'open', actions: [assign({ exitWhenIdle: false }), 'announceOpen'] },
      },
    },
  },
});

export type DrainMachine = typeof drainMachine;
