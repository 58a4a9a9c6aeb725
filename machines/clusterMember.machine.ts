// One node's membership of a callchart cluster (docs/scaling.md): the node registers itself in
// the shared store (Redis) with a TTL, keeps the record alive with a heartbeat, and removes it when
// it leaves. A failed registration or heartbeat does not stop the node: it is `degraded` (it keeps
// serving calls that need no shared state) and re-registers every `retryDelay` until the store
// answers again.
//
// Pure statechart: `register`, `heartbeat` and `deregister` are named actions provided from
// src/cluster/member.ts, which answers each with STORE.OK or STORE.FAILED; `heartbeatInterval`
// and `retryDelay` are named delays. `status` (open/draining) lives here so every record the node
// writes says it.
import { assign, setup } from 'xstate';

export type ClusterNodeStatus = 'open' | 'draining';

export interface ClusterMemberContext {
  status: ClusterNodeStatus;
  /** Failed store operations since the last success (reset on recovery). */
  failures: number;
}

export type ClusterMemberEvent =
  /** The engine began draining / took calls again: the record is rewritten at once when live. */
  | { type: 'STATUS'; status: ClusterNodeStatus }
  /** Shutdown: remove the record (best effort), then stop. */
  | { type: 'LEAVE' }
  /** The store operation the last action started succeeded. */
  | { type: 'STORE.OK' }
  /** It failed (Redis unreachable, timed out). */
  | { type: 'STORE.FAILED' };

/** What every store write is given: the status to write. */
export interface ClusterWriteParams {
  status: ClusterNodeStatus;
}

export const clusterMemberMachine = setup({
  types: {
    context: {} as ClusterMemberContext,
    events: {} as ClusterMemberEvent,
  },
  actions: {
    countFailure: assign({ failures: ({ context }) => context.failures + 1 }),
    register: (_, _params: ClusterWriteParams) => {},
    heartbeat: (_, _params: ClusterWriteParams) => {},
    deregister: () => {},
    announceLive: () => {},
    announceDegraded: (_, _params: { failures: number }) => {},
    announceLeft: () => {},
  },
  delays: {
    heartbeatInterval: 1000,
    retryDelay: 1000,
  },
}).createMachine({
  id: 'clusterMember',
  initial: 'joining',
  context: { status: 'open', failures: 0 },
  on: {
    STATUS: { actions: assign({ status: ({ event }) => event.status }) },
    LEAVE: '.leaving',
  },
  states: {
    joining: {
      entry: { type: 'register', params: ({ context }) => ({ status: context.status }) },
      on: {
        'STORE.OK': 'live',
        'STORE.FAILED': { target: 'degraded', actions: 'countFailure' },
      },
    },
    live: {
      entry: [assign({ failures: 0 }), 'announceLive'],
      initial: 'waiting',
      on: {
        // A status change is written now, not at the next beat: dispatchers and peers see a drain at once.
        STATUS: { target: '.beating', reenter: true, actions: assign({ status: ({ event }) => event.status }) },
      },
      states: {
        waiting: {
          after: { heartbeatInterval: 'beating' },
        },
        beating: {
          entry: { type: 'heartbeat', params: ({ context }) => ({ status: context.status }) },
          on: {
            'STORE.OK': 'waiting',
            'STORE.FAILED': { target: '#clusterMember.degraded', actions: 'countFailure' },
          },
        },
      },
    },
    degraded: {
      entry: { type: 'announceDegraded', params: ({ context }) => ({ failures: context.failures }) },
      initial: 'waiting',
      states: {
        waiting: {
          after: { retryDelay: 'retrying' },
        },
        retrying: {
          // Re-register rather than heartbeat: the store may have lost the record (restart, expiry).
          entry: { type: 'register', params: ({ context }) => ({ status: context.status }) },
          on: {
            'STORE.OK': '#clusterMember.live',
            'STORE.FAILED': { target: 'waiting', actions: 'countFailure' },
          },
        },
      },
    },
    leaving: {
      entry: 'deregister',
      on: {
        LEAVE: {},
        // Failed or not, the record's TTL removes it anyway.
        'STORE.OK': 'left',
        'STORE.FAILED': 'left',
      },
    },
    left: {
      type: 'final',
      entry: 'announceLeft',
    },
  },
});

export type ClusterMemberMachine = typeof clusterMemberMachine;
