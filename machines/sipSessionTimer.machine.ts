// The session timer of one SIP dialog (RFC 4028), beside its INVITE session: who refreshes the
// session, how often, and when a session nobody refreshed is over.
//
// - `offering` (UAC): our INVITE asked for a Session-Expires; a 422 (§7.3) raises it to the
//   response's Min-SE and the INVITE goes again, once.
// - `running`: a 2xx to a session refresh request (the INVITE, a re-INVITE or an UPDATE, sent or
//   received) set the interval and the refresher (AGREE; every AGREE restarts the clock, §10).
//   The refresher refreshes at half the interval (§7.4, an UPDATE without a body when the peer
//   allows UPDATE, else a re-INVITE); the other side ends the session with a BYE at the interval
//   less min(32 s, a third of it) when no refresh came (§10). A refresh answered 491 (glare) goes
//   again after the glare delay, one answered 422 goes again with the 422's Min-SE (§7.4); one
//   that failed otherwise leaves the session to its expiry.
// - A 2xx without Session-Expires turns the timer off (DISARM, §7.2).
//
// Pure: the delays are named (`refresh`, `expiry`, `lapse` are arithmetic on the interval;
// `glare` is random and provided by the runtime), the wire effects are named actions.
import { assign, setup } from 'xstate';

export type SessionRefresher = 'local' | 'remote';
export type SessionRefreshMethod = 'UPDATE' | 'INVITE';

export interface SipSessionTimerInput {
  /** Our side of the call: the glare delay (RFC 3261 §14.1) depends on who placed it. */
  role: 'uac' | 'uas';
  /** Our Min-SE, seconds (RFC 4028: at least 90; lower only in tests). */
  minSE: number;
}

export interface SipSessionTimerContext {
  role: 'uac' | 'uas';
  /** Our Min-SE, raised by a 422's (seconds). */
  minSE: number;
  /** Session interval in force (or asked for, while offering), seconds. */
  interval: number;
  refresher: SessionRefresher;
  /** The peer allows UPDATE: refreshes go as UPDATE without a body (RFC 4028 §7.4, RFC 3311). */
  useUpdate: boolean;
  /** The 422 retry of our INVITE was used (§7.3: once). */
  retried: boolean;
}

export type SipSessionTimerEvent =
  /** UAC: our INVITE asks for this Session-Expires (seconds). */
  | { type: 'OFFER'; interval: number }
  /** UAC: 422 Session Interval Too Small to our INVITE, with its Min-SE (seconds). */
  | { type: 'TOO_BRIEF'; minSE: number }
  /** A 2xx to a session refresh request carried Session-Expires: the timer (re)starts. */
  | { type: 'AGREE'; interval: number; refresher: SessionRefresher; useUpdate: boolean }
  /** A 2xx without Session-Expires, or the INVITE failed: no session timer. */
  | { type: 'DISARM' }
  /** Our refresh got a final non-2xx (or 408 on timeout); a 422's Min-SE (seconds) with it. */
  | { type: 'REFRESH.FAILED'; status: number; minSE?: number }
  /** The dialog is over. */
  | { type: 'STOP' };

export const sipSessionTimerMachine = setup({
  types: {
    input: {} as SipSessionTimerInput,
    context: {} as SipSessionTimerContext,
    events: {} as SipSessionTimerEvent,
  },
  actions: {
    /** Send the INVITE again with Session-Expires and Min-SE raised to `interval` (§7.3). */
    resendInvite: (_, _params: { interval: number; minSE: number }) => {},
    /** Send a session refresh (§7.4): Session-Expires `interval`, refresher=uac. */
    sendRefresh: (_, _params: { method: SessionRefreshMethod; interval: number }) => {},
    /** Nobody refreshed the session in time: end it with a BYE (§10). */
    expire: (_, _params: { interval: number }) => {},
    agree: assign((_, p: { interval: number; refresher: SessionRefresher; useUpdate: boolean }) => ({
      interval: p.interval,
      refresher: p.refresher,
      useUpdate: p.useUpdate,
    })),
  },
  guards: {
    // §7.3: one retry, and only to a larger interval (a 422 that asks for less is nonsense).
    canRetry: ({ context, event }) => event.type === 'TOO_BRIEF' && !context.retried && event.minSE > context.interval,
    weRefresh: ({ context }) => context.refresher === 'local',
    glare: ({ event }) => event.type === 'REFRESH.FAILED' && event.status === 491,
    // §7.4 → §7.3: a refresh refused 422 goes again with the larger interval (each 422 must raise it).
    refreshTooBrief: ({ context, event }) => event.type === 'REFRESH.FAILED' && event.status === 422 && (event.minSE ?? 0) > context.interval,
  },
  delays: {
    refresh: ({ context }) => context.interval * 500,
    expiry: ({ context }) => (context.interval - Math.min(32, context.interval / 3)) * 1000,
    // From our failed refresh (at half the interval) to the expiry the peer would apply.
    lapse: ({ context }) => (context.interval / 2 - Math.min(32, context.interval / 3)) * 1000,
    glare: 2000,
    raised: 0,
  },
}).createMachine({
  id: 'sipSessionTimer',
  context: ({ input }) => ({ role: input.role, minSE: input.minSE, interval: 0, refresher: 'remote', useUpdate: false, retried: false }),
  initial: 'idle',
  on: { STOP: '.stopped' },
  states: {
    idle: {
      on: {
        OFFER: { target: 'offering', actions: assign({ interval: ({ event }) => event.interval }) },
        AGREE: { target: 'running', actions: { type: 'agree', params: ({ event }) => event } },
      },
    },
    offering: {
      on: {
        TOO_BRIEF: {
          guard: 'canRetry',
          actions: [
            assign(({ context, event }) => ({ interval: event.minSE, minSE: Math.max(context.minSE, event.minSE), retried: true })),
            { type: 'resendInvite', params: ({ context }) => ({ interval: context.interval, minSE: context.minSE }) },
          ],
        },
        AGREE: { target: 'running', actions: { type: 'agree', params: ({ event }) => event } },
        DISARM: 'idle',
      },
    },
    running: {
      initial: 'start',
      on: {
        AGREE: { target: 'running', reenter: true, actions: { type: 'agree', params: ({ event }) => event } },
        DISARM: 'idle',
      },
      states: {
        start: { always: [{ guard: 'weRefresh', target: 'refreshDue' }, { target: 'watching' }] },
        /** We refresh: at half the interval. */
        refreshDue: { after: { refresh: 'refreshing' } },
        refreshing: {
          entry: { type: 'sendRefresh', params: ({ context }) => ({ method: context.useUpdate ? 'UPDATE' : 'INVITE', interval: context.interval }) },
          on: {
            'REFRESH.FAILED': [
              { guard: 'glare', target: 'glare' },
              {
                guard: 'refreshTooBrief',
                target: 'raised',
                actions: assign(({ context, event }) => ({ interval: event.minSE!, minSE: Math.max(context.minSE, event.minSE!) })),
              },
              { target: 'lapsing' },
            ],
          },
        },
        glare: { after: { glare: 'refreshing' } },
        /**
         * The interval was raised by a 422: the refresh goes again once the raised interval is in
         * force (`raised`, no wait by default; a refresh by re-INVITE reads it from the snapshot).
         */
        raised: { after: { raised: 'refreshing' } },
        /** Our refresh failed: the session lasts until the expiry the peer applies, no longer. */
        lapsing: { after: { lapse: '#sipSessionTimer.expired' } },
        /** The peer refreshes: a refresh must come before the expiry. */
        watching: { after: { expiry: '#sipSessionTimer.expired' } },
      },
    },
    expired: {
      type: 'final',
      entry: { type: 'expire', params: ({ context }) => ({ interval: context.interval }) },
    },
    stopped: { type: 'final' },
  },
});

export type SipSessionTimerMachine = typeof sipSessionTimerMachine;
