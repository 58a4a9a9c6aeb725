// The life of one room: who is in it, when it closes, and the one timer its service may arm.
// Message fan-out deliberately does NOT pass through here: the adapter calls the service directly
// for every frame (see docs/rooms.md). The statechart owns what changes rarely and must be right:
// membership, the shutdown policy, the service timer and failure.
import { assign, setup } from 'xstate';

export type RoomShutdownPolicy = 'never' | 'immediately' | 'after';

/**
 * What a member is carried by. Only WebSocket clients exist today; a call leg joining a conference
 * through the media plane will be another kind, so the statechart never assumes a socket.
 */
export type RoomMemberKind = 'websocket' | 'call-leg' | (string & {});

export interface RoomMember {
  id: number;
  kind: RoomMemberKind;
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
  | { type: 'TIMER.SET'; ms: number }
  | { type: 'TIMER.CLEAR' }
  | { type: 'SERVICE.FAILED'; reason: string; error?: unknown }
  | { type: 'ROOM.CLOSE'; detail?: string };

export const defaultRoomGraceMs = 30_000;

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
    serviceDisconnect: (_: unknown, _params: { member: RoomMember }) => {},
    serviceTimer: () => {},
    /** Refuse a member because the room is full (adapter closes its transport). */
    rejectMember: (_: unknown, _params: { memberId: number }) => {},
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
      members: ({ context, event }) =>
        event.type === 'CLIENT.DISCONNECTED' ? context.members.filter((m) => m.id !== event.member.id) : context.members,
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
    isMember: ({ context, event }) =>
      event.type === 'CLIENT.DISCONNECTED' && context.members.some((m) => m.id === event.member.id),
    isLastMember: ({ context, event }) =>
      event.type === 'CLIENT.DISCONNECTED' && context.members.length === 1 && context.members[0]!.id === event.member.id,
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
