// One named jambonz conference on the feature-server (jambonz-feature-server
// lib/tasks/conference.js): who is in it, who waits for it to start, and when it ends. A caller
// whose `startConferenceOnEnter` is not false starts the conference (or joins it when it runs);
// one with `startConferenceOnEnter: false` waits until someone starts it (the waiters then all
// join). `maxParticipants` (> 1, the value the last member set, as `conference set max_members`)
// refuses a join once the conference holds that many. A member with `endConferenceOnExit`
// leaving ends the conference: everyone else is removed (`endFor`); the last member leaving ends
// it too. States: `idle` (no conference, nobody waiting), `waiting` (waiters only), `started`.
// Pure statechart: `admit`, `refuse` and `endFor` are the adapter's (room join, jambonz:error,
// kick + actionHook).
import { assign, enqueueActions, setup } from 'xstate';

export interface ConferenceMember {
  callSid: string;
  /** `endConferenceOnExit`: this member leaving ends the conference for all. */
  endsOnExit: boolean;
}

export interface ConferenceContext {
  members: ConferenceMember[];
  /** Callers waiting for a start (`startConferenceOnEnter: false`), in arrival order. */
  waiters: ConferenceMember[];
  /** 0 = unlimited; else the maxParticipants the last admitted member gave. */
  max: number;
}

export type ConferenceEvent =
  /** A `conference` verb for this name: `starts` = startConferenceOnEnter is not false. */
  | { type: 'JOIN'; callSid: string; starts: boolean; endsOnExit: boolean; maxParticipants?: number }
  /** A member or waiter went: hangup, its verb killed (redirect), or it left on its own. */
  | { type: 'LEAVE'; callSid: string };

/** conference.js only sets max_members for `maxParticipants > 1`. */
const limitOf = (e: ConferenceEvent, prev: number): number =>
  e.type === 'JOIN' && typeof e.maxParticipants === 'number' && e.maxParticipants > 1 ? Math.floor(e.maxParticipants) : prev;

const memberOf = (e: ConferenceEvent): ConferenceMember =>
  e.type === 'JOIN' ? { callSid: e.callSid, endsOnExit: e.endsOnExit } : { callSid: '', endsOnExit: false };

const known = (c: ConferenceContext, sid: string): boolean => c.members.some((m) => m.callSid === sid) || c.waiters.some((m) => m.callSid === sid);

export const jambonzConferenceMachine = setup({
  types: {
    context: {} as ConferenceContext,
    events: {} as ConferenceEvent,
  },
  actions: {
    /** Put this call into the conference's room; `starts`: it started the conference. */
    admit: (_, _params: { callSid: string; starts: boolean }) => {},
    /** The conference is full: this call does not join (its verb fails). */
    refuse: (_, _params: { callSid: string; reason: string }) => {},
    /** The conference ended: these members are taken out (their verbs end, their calls stay up). */
    endFor: (_, _params: { callSids: string[]; by: string }) => {},
  },
  guards: {
    isNew: ({ context, event }) => event.type === 'JOIN' && !known(context, event.callSid),
    startsIt: ({ context, event }) => event.type === 'JOIN' && event.starts && !known(context, event.callSid),
    full: ({ context, event }) => event.type === 'JOIN' && !known(context, event.callSid) && context.max > 0 && context.members.length >= context.max,
    isWaiter: ({ context, event }) => event.type === 'LEAVE' && context.waiters.some((m) => m.callSid === event.callSid),
    lastWaiterLeaves: ({ context, event }) => event.type === 'LEAVE' && context.waiters.length === 1 && context.waiters[0]!.callSid === event.callSid,
    endsIt: ({ context, event }) =>
      event.type === 'LEAVE' && context.members.some((m) => m.callSid === event.callSid && (m.endsOnExit || context.members.length === 1)),
    isMember: ({ context, event }) => event.type === 'LEAVE' && context.members.some((m) => m.callSid === event.callSid),
  },
}).createMachine({
  id: 'jambonzConference',
  context: { members: [], waiters: [], max: 0 },
  initial: 'idle',
  states: {
    idle: {
      on: {
        JOIN: [
          {
            guard: 'startsIt',
            target: 'started',
            actions: [
              { type: 'admit', params: ({ event }) => ({ callSid: event.callSid, starts: true }) },
              assign({ members: ({ event }) => [memberOf(event)], max: ({ event }) => limitOf(event, 0) }),
            ],
          },
          { guard: 'isNew', target: 'waiting', actions: assign({ waiters: ({ event }) => [memberOf(event)] }) },
        ],
      },
    },
    waiting: {
      on: {
        JOIN: [
          {
            // The starter comes in first, then every waiter in arrival order up to the limit the
            // starter set; waiters past it are refused.
            guard: 'startsIt',
            target: 'started',
            actions: [
              enqueueActions(({ context, event, enqueue }) => {
                if (event.type !== 'JOIN') return;
                const max = limitOf(event, 0);
                const seats = max > 0 ? max - 1 : context.waiters.length;
                enqueue({ type: 'admit', params: { callSid: event.callSid, starts: true } });
                context.waiters.forEach((w, i) => {
                  if (i < seats) enqueue({ type: 'admit', params: { callSid: w.callSid, starts: false } });
                  else enqueue({ type: 'refuse', params: { callSid: w.callSid, reason: 'full' } });
                });
                enqueue.assign({ members: [memberOf(event), ...context.waiters.slice(0, seats)], waiters: [], max });
              }),
            ],
          },
          { guard: 'isNew', actions: assign({ waiters: ({ context, event }) => [...context.waiters, memberOf(event)] }) },
        ],
        LEAVE: [
          { guard: 'lastWaiterLeaves', target: 'idle', actions: assign({ waiters: [] }) },
          { guard: 'isWaiter', actions: assign({ waiters: ({ context, event }) => context.waiters.filter((m) => m.callSid !== event.callSid) }) },
        ],
      },
    },
    started: {
      on: {
        JOIN: [
          { guard: 'full', actions: { type: 'refuse', params: ({ event }) => ({ callSid: event.callSid, reason: 'full' }) } },
          {
            guard: 'isNew',
            actions: [
              { type: 'admit', params: ({ event }) => ({ callSid: event.callSid, starts: false }) },
              assign({ members: ({ context, event }) => [...context.members, memberOf(event)], max: ({ context, event }) => limitOf(event, context.max) }),
            ],
          },
        ],
        LEAVE: [
          {
            guard: 'endsIt',
            target: 'idle',
            actions: [
              { type: 'endFor', params: ({ context, event }) => ({ callSids: context.members.map((m) => m.callSid).filter((s) => s !== event.callSid), by: event.callSid }) },
              assign({ members: [], waiters: [], max: 0 }),
            ],
          },
          { guard: 'isMember', actions: assign({ members: ({ context, event }) => context.members.filter((m) => m.callSid !== event.callSid) }) },
        ],
      },
    },
  },
});

export type JambonzConferenceMachine = typeof jambonzConferenceMachine;
