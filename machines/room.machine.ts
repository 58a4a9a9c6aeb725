// The life of one room: who is in it, when it closes, and the one timer its service may arm.
// Message fan-out deliberately does NOT pass through here: the adapter calls the service directly
// for every frame (see docs/rooms.md). The statechart owns what changes rarely and must be right:
// membership (with each member's mute/deaf state), the shutdown policy, the service timer and
// failure. Audio mixing of call legs is likewise outside: the adapter applies what the statechart
// decided (MEMBER.MUTE/DEAF/KICK) to the mixer, which runs on the media clock.
import { assign, setup } from 'xstate';

export type RoomShutdownPolicy = 'never' | 'immediately' | 'after';

/**
 * What a member is carried by: a WebSocket client, or a call leg joined to the room's audio mix
 * (`room.join(call)`). The statechart never assumes a socket.
 */
export type RoomMemberKind = 'websocket' | 'call-leg' | (string & {});

export interface RoomMember {
  id: number;
  kind: RoomMemberKind;
  /** Left out of the mix: the others do not hear it (call legs; a flag only for WebSocket clients). */
  muted?: boolean;
  /** Hears nothing from the room (gets silence). */
  deaf?: boolean;
}

export interface RoomInput {
  roomId: string;
  policy: RoomShutdownPolicy;
  /** Grace period for policy `after`, in ms. */
  graceMs?: number;
  /** 0 = unlimited. */
  maxMembers?: number;
}

export interface RoomMachineContext {
  roomId: string;
  policy: RoomShutdownPolicy;
  graceMs: number;
  maxMembers: number;
  members: RoomMember[];
  /** Delay of the service timer currently armed (read by the `serviceTimer` delay). */
  timerMs: number;
  end?: RoomEnd;
}

export type RoomEndReason = 'empty' | 'grace-expired' | 'closed' | 'failed';

export interface RoomEnd {
  roomId: string;
  reason: RoomEndReason;
  detail?: string;
}

export type RoomEvent =
  | { type: 'CLIENT.CONNECTED'; member: RoomMember }
  | { type: 'CLIENT.DISCONNECTED'; member: RoomMember }
  | { type: 'MEMBER.MUTE'; memberId: number; muted: boolean }
  | { type: 'MEMBER.DEAF'; memberId: number; deaf: boolean }
  /** Remove a member on the room's own decision (the adapter closes its transport). */
  | { type: 'MEMBER.KICK'; memberId: number; detail?: string }
  | { type: 'TIMER.SET'; ms: number }
  | { type: 'TIMER.CLEAR' }
  | { type: 'SERVICE.FAILED'; reason: string; error?: unknown }
  | { type: 'ROOM.CLOSE'; detail?: string };

export const defaultRoomGraceMs = 30_000;

/** The member an event is about (undefined for room-wide events). */
function targetId(event: RoomEvent): number | undefined {
  switch (event.type) {
    case 'CLIENT.DISCONNECTED':
      return event.member.id;
    case 'MEMBER.MUTE':
    case 'MEMBER.DEAF':
    case 'MEMBER.KICK':
      return event.memberId;
    default:
      return undefined;
  }
}

function memberOf(context: RoomMachineContext, event: RoomEvent): RoomMember {
  const id = targetId(event);
  // Only reached behind an isMember guard; the fallback keeps the types total.
  return context.members.find((m) => m.id === id) ?? { id: id ?? 0, kind: 'websocket' };
}

export const roomMachine = setup({
  types: {
    context: {} as RoomMachineContext,
    events: {} as RoomEvent,
    input: {} as RoomInput,
    output: {} as RoomEnd,
  },
  actions: {
    // Calls into the app's room service, provided by the adapter. A throw here fails the actor,
    // which the supervisor turns into a 1011 close of this room only.
    serviceCreated: () => {},
    serviceConnect: (_: unknown, _params: { member: RoomMember }) => {},
    serviceDisconnect: (_: unknown, _params: { member: RoomMember; kicked?: boolean }) => {},
    serviceTimer: () => {},
    /** Refuse a member because the room is full (adapter closes its transport). */
    rejectMember: (_: unknown, _params: { memberId: number }) => {},
    /** A member's mute/deaf state changed: the adapter applies it to the mix and reports it. */
    memberChanged: (_: unknown, _params: { member: RoomMember }) => {},
    /** A member was kicked: the adapter drops its transport (closes the socket, unmixes the leg). */
    evictMember: (_: unknown, _params: { member: RoomMember; detail?: string }) => {},
    /**
     * A service failure seen outside the statechart (in the message fast path) is re-raised here so
     * it fails the actor and flows through the supervisor's one crash path (log, count, onCrash).
     */
    escalateFailure: (_: unknown, _params: { reason: string; error?: unknown }) => {},
    addMember: assign({
      members: ({ context, event }) =>
        event.type === 'CLIENT.CONNECTED' ? [...context.members, event.member] : context.members,
    }),
    removeMember: assign({
      members: ({ context, event }) => {
        const id = targetId(event);
        return event.type === 'CLIENT.DISCONNECTED' || event.type === 'MEMBER.KICK' ? context.members.filter((m) => m.id !== id) : context.members;
      },
    }),
    setMemberFlags: assign({
      members: ({ context, event }) =>
        context.members.map((m) => {
          if (m.id !== targetId(event)) return m;
          if (event.type === 'MEMBER.MUTE') return { ...m, muted: event.muted };
          if (event.type === 'MEMBER.DEAF') return { ...m, deaf: event.deaf };
          return m;
        }),
    }),
    setTimerMs: assign({ timerMs: ({ context, event }) => (event.type === 'TIMER.SET' ? Math.max(0, event.ms) : context.timerMs) }),
    setEnd: assign(({ context }, params: { reason: RoomEndReason; detail?: string }) => ({
      end: { roomId: context.roomId, ...params },
    })),
  },
  guards: {
    isNewMember: ({ context, event }) =>
      event.type === 'CLIENT.CONNECTED' && !context.members.some((m) => m.id === event.member.id),
    isFull: ({ context }) => context.maxMembers > 0 && context.members.length >= context.maxMembers,
    isMember: ({ context, event }) => {
      const id = targetId(event);
      return id !== undefined && context.members.some((m) => m.id === id);
    },
    isLastMember: ({ context, event }) => {
      const id = targetId(event);
      return id !== undefined && context.members.length === 1 && context.members[0]!.id === id;
    },
    closesImmediately: ({ context }) => context.policy === 'immediately',
    closesAfterGrace: ({ context }) => context.policy === 'after',
  },
  delays: {
    gracePeriod: ({ context }) => context.graceMs,
    serviceTimer: ({ context }) => context.timerMs,
  },
}).createMachine({
  id: 'room',
  context: ({ input }) => ({
    roomId: input.roomId,
    policy: input.policy,
    graceMs: input.graceMs ?? defaultRoomGraceMs,
    maxMembers: input.maxMembers ?? 0,
    members: [],
    timerMs: 0,
  }),
  initial: 'live',
  output: ({ context }) => context.end ?? { roomId: context.roomId, reason: 'closed' },
  states: {
    live: {
      type: 'parallel',
      entry: 'serviceCreated',
      on: {
        'SERVICE.FAILED': {
          target: 'failed',
          actions: [
            { type: 'setEnd', params: ({ event }) => ({ reason: 'failed' as const, detail: event.reason }) },
            { type: 'escalateFailure', params: ({ event }) => ({ reason: event.reason, error: event.error }) },
          ],
        },
        'ROOM.CLOSE': {
          target: 'closed',
          actions: { type: 'setEnd', params: ({ event }) => ({ reason: 'closed' as const, detail: event.detail }) },
        },
      },
      states: {
        membership: {
          // The room exists because someone is joining: it waits for that first member.
          initial: 'opening',
          states: {
            opening: {
              on: {
                'CLIENT.CONNECTED': {
                  target: 'occupied',
                  actions: ['addMember', { type: 'serviceConnect', params: ({ event }) => ({ member: event.member }) }],
                },
              },
            },
            occupied: {
              on: {
                'CLIENT.CONNECTED': [
                  { guard: 'isFull', actions: { type: 'rejectMember', params: ({ event }) => ({ memberId: event.member.id }) } },
                  {
                    guard: 'isNewMember',
                    actions: ['addMember', { type: 'serviceConnect', params: ({ event }) => ({ member: event.member }) }],
                  },
                ],
                'CLIENT.DISCONNECTED': [
                  {
                    guard: 'isLastMember',
                    target: 'vacant',
                    actions: ['removeMember', { type: 'serviceDisconnect', params: ({ event }) => ({ member: event.member }) }],
                  },
                  {
                    guard: 'isMember',
                    actions: ['removeMember', { type: 'serviceDisconnect', params: ({ event }) => ({ member: event.member }) }],
                  },
                ],
                // The member is evicted and the service told before the member leaves the context.
                'MEMBER.KICK': [
                  {
                    guard: 'isLastMember',
                    target: 'vacant',
                    actions: [
                      { type: 'evictMember', params: ({ context, event }) => ({ member: memberOf(context, event), detail: event.detail }) },
                      { type: 'serviceDisconnect', params: ({ context, event }) => ({ member: memberOf(context, event), kicked: true }) },
                      'removeMember',
                    ],
                  },
                  {
                    guard: 'isMember',
                    actions: [
                      { type: 'evictMember', params: ({ context, event }) => ({ member: memberOf(context, event), detail: event.detail }) },
                      { type: 'serviceDisconnect', params: ({ context, event }) => ({ member: memberOf(context, event), kicked: true }) },
                      'removeMember',
                    ],
                  },
                ],
                'MEMBER.MUTE': {
                  guard: 'isMember',
                  actions: ['setMemberFlags', { type: 'memberChanged', params: ({ context, event }) => ({ member: memberOf(context, event) }) }],
                },
                'MEMBER.DEAF': {
                  guard: 'isMember',
                  actions: ['setMemberFlags', { type: 'memberChanged', params: ({ context, event }) => ({ member: memberOf(context, event) }) }],
                },
              },
            },
            // Empty: the shutdown policy decides between closing now, after a grace period, or never.
            vacant: {
              always: [
                {
                  guard: 'closesImmediately',
                  target: '#room.closed',
                  actions: { type: 'setEnd', params: { reason: 'empty' } },
                },
                { guard: 'closesAfterGrace', target: 'grace' },
                { target: 'idle' },
              ],
            },
            idle: {
              on: {
                'CLIENT.CONNECTED': {
                  target: 'occupied',
                  actions: ['addMember', { type: 'serviceConnect', params: ({ event }) => ({ member: event.member }) }],
                },
              },
            },
            // A member coming back within the grace period finds the same service instance and state.
            grace: {
              after: {
                gracePeriod: { target: '#room.closed', actions: { type: 'setEnd', params: { reason: 'grace-expired' } } },
              },
              on: {
                'CLIENT.CONNECTED': {
                  target: 'occupied',
                  actions: ['addMember', { type: 'serviceConnect', params: ({ event }) => ({ member: event.member }) }],
                },
              },
            },
          },
        },
        // The service's one replaceable timer: setting it again restarts the countdown.
        timer: {
          initial: 'disarmed',
          states: {
            disarmed: {
              on: { 'TIMER.SET': { target: 'armed', actions: 'setTimerMs' } },
            },
            armed: {
              after: { serviceTimer: { target: 'disarmed', actions: 'serviceTimer' } },
              on: {
                'TIMER.SET': { target: 'armed', reenter: true, actions: 'setTimerMs' },
                'TIMER.CLEAR': { target: 'disarmed' },
              },
            },
          },
        },
      },
    },
    closed: { type: 'final' },
    failed: { type: 'final' },
  },
});

export type RoomMachine = typeof roomMachine;
