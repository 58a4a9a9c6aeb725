// One named jambonz call queue on the feature-server (jambonz-feature-server lib/tasks/enqueue.js
// and dequeue.js): `enqueue` puts a call in (ordered by priority, then arrival), `leave` or a
// hangup takes it out, `dequeue` takes the first member (or a given call_sid) and connects it to
// the dequeuing call; a dequeue that finds the queue empty waits for the next member. A queue
// never holds members and waiting dequeuers at once: `empty`, `holding` (members) or `waiting`
// (dequeuers). Pure statechart: `connect` (bridge member and dequeuer) and `notFound` (a dequeue
// of a call_sid that is not queued) are the adapter's.
import { assign, setup } from 'xstate';

export interface QueueMember {
  callSid: string;
  /** Lower is served first (jambonz `priority`, default 999). */
  priority: number;
}

export interface QueueContext {
  members: QueueMember[];
  /** call_sids of dequeuers waiting for a member, in arrival order. */
  waiters: string[];
}

export type QueueEvent =
  | { type: 'JOIN'; callSid: string; priority: number }
  /** The member left: `leave` verb, hangup, its enqueue killed. */
  | { type: 'LEAVE'; callSid: string }
  /** `by` wants a member: `target` a given call_sid, else the first. */
  | { type: 'DEQUEUE'; by: string; target?: string }
  /** A waiting dequeuer gave up (its timeout, hangup, kill). */
  | { type: 'CANCEL'; by: string };

const insert = (members: QueueMember[], m: QueueMember): QueueMember[] => {
  const i = members.findIndex((x) => x.priority > m.priority);
  return i < 0 ? [...members, m] : [...members.slice(0, i), m, ...members.slice(i)];
};

const pick = (members: QueueMember[], target: string | undefined): QueueMember | undefined =>
  target === undefined ? members[0] : members.find((m) => m.callSid === target);

export const jambonzQueueMachine = setup({
  types: {
    context: {} as QueueContext,
    events: {} as QueueEvent,
  },
  actions: {
    connect: (_, _params: { member: string; by: string }) => {},
    notFound: (_, _params: { by: string; target: string }) => {},
  },
  guards: {
    newMember: ({ context, event }) => event.type === 'JOIN' && !context.members.some((m) => m.callSid === event.callSid),
    isMember: ({ context, event }) => event.type === 'LEAVE' && context.members.some((m) => m.callSid === event.callSid),
    lastMemberLeaves: ({ context, event }) => event.type === 'LEAVE' && context.members.length === 1 && context.members[0]!.callSid === event.callSid,
    found: ({ context, event }) => event.type === 'DEQUEUE' && pick(context.members, event.target) !== undefined,
    takesLast: ({ context, event }) => event.type === 'DEQUEUE' && context.members.length === 1 && pick(context.members, event.target) !== undefined,
    hasTarget: ({ event }) => event.type === 'DEQUEUE' && event.target !== undefined,
    isWaiter: ({ context, event }) => event.type === 'CANCEL' && context.waiters.includes(event.by),
    lastWaiterCancels: ({ context, event }) => event.type === 'CANCEL' && context.waiters.length === 1 && context.waiters[0] === event.by,
    lastWaiterServed: ({ context }) => context.waiters.length === 1,
  },
}).createMachine({
  id: 'jambonzQueue',
  context: { members: [], waiters: [] },
  initial: 'empty',
  states: {
    empty: {
      on: {
        JOIN: { target: 'holding', actions: [assign({ members: ({ event }) => [{ callSid: event.callSid, priority: event.priority }] })] },
        DEQUEUE: [
          // A given call_sid that is not queued is not waited for (dequeue.js reports it at once).
          { guard: 'hasTarget', actions: { type: 'notFound', params: ({ event }) => ({ by: event.by, target: event.target! }) } },
          { target: 'waiting', actions: assign({ waiters: ({ event }) => [event.by] }) },
        ],
      },
    },
    holding: {
      on: {
        JOIN: { guard: 'newMember', actions: [assign({ members: ({ context, event }) => insert(context.members, { callSid: event.callSid, priority: event.priority }) })] },
        LEAVE: [
          { guard: 'lastMemberLeaves', target: 'empty', actions: assign({ members: [] }) },
          { guard: 'isMember', actions: [assign({ members: ({ context, event }) => context.members.filter((m) => m.callSid !== event.callSid) })] },
        ],
        DEQUEUE: [
          {
            guard: 'takesLast',
            target: 'empty',
            actions: [{ type: 'connect', params: ({ context, event }) => ({ member: pick(context.members, event.target)!.callSid, by: event.by }) }, assign({ members: [] })],
          },
          {
            guard: 'found',
            actions: [
              { type: 'connect', params: ({ context, event }) => ({ member: pick(context.members, event.target)!.callSid, by: event.by }) },
              assign({ members: ({ context, event }) => context.members.filter((m) => m !== pick(context.members, event.target)) }),
            ],
          },
          { actions: { type: 'notFound', params: ({ event }) => ({ by: event.by, target: event.target ?? '' }) } },
        ],
      },
    },
    waiting: {
      on: {
        // The newcomer goes straight to the dequeuer that waited longest.
        JOIN: [
          {
            guard: 'lastWaiterServed',
            target: 'empty',
            actions: [{ type: 'connect', params: ({ context, event }) => ({ member: event.callSid, by: context.waiters[0]! }) }, assign({ waiters: [] })],
          },
          {
            actions: [
              { type: 'connect', params: ({ context, event }) => ({ member: event.callSid, by: context.waiters[0]! }) },
              assign({ waiters: ({ context }) => context.waiters.slice(1) }),
            ],
          },
        ],
        DEQUEUE: [
          { guard: 'hasTarget', actions: { type: 'notFound', params: ({ event }) => ({ by: event.by, target: event.target! }) } },
          { actions: assign({ waiters: ({ context, event }) => (context.waiters.includes(event.by) ? context.waiters : [...context.waiters, event.by]) }) },
        ],
        CANCEL: [
          { guard: 'lastWaiterCancels', target: 'empty', actions: assign({ waiters: [] }) },
          { guard: 'isWaiter', actions: assign({ waiters: ({ context, event }) => context.waiters.filter((w) => w !== event.by) }) },
        ],
      },
    },
  },
});

export type JambonzQueueMachine = typeof jambonzQueueMachine;
