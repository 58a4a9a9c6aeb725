// Where a clustered room keeps what its service saves (`ctx.save(state)`): one string per room,
// `<prefix>room-state:<roomId>`, written only while this node still holds `lease:room:<roomId>`
// with the token it opened the room under (a node that lost the room cannot overwrite the new
// owner's state). A node taking the room over after its owner died loads it and hands it to the
// service's `created`. A room that ends by itself drops its state; one closed by its node's
// shutdown keeps it for the node its clients reconnect to.
import type { Logger } from 'pino';
import type { RoomStateStore } from '../rooms/types.js';
import type { KeyedHome } from './home.js';
import type { ClusterStore } from './store.js';

export const roomStateKey = (roomId: string) => `room-state:${roomId}`;

export function createRoomStateStore(store: ClusterStore, home: KeyedHome, logger: Logger): RoomStateStore {
  const log = logger.child({ component: 'room-state' });
  // Per room, writes are chained so they land in the order they were made.
  const chains = new Map<string, Promise<void>>();
  const enqueue = (roomId: string, what: string, write: () => Promise<boolean>) => {
    const next = (chains.get(roomId) ?? Promise.resolve())
      .then(write)
      .then(
        (landed) => {
          if (!landed) log.warn({ roomId, what }, 'room state write fenced off: another node holds the room');
        },
        (err: Error) => log.warn({ roomId, what, err: err.message }, 'room state write failed'),
      )
      .finally(() => {
        if (chains.get(roomId) === next) chains.delete(roomId);
      });
    chains.set(roomId, next);
  };
  return {
    async load(roomId) {
      await store.ensureConnected();
      return (await store.redis.get(store.prefix + roomStateKey(roomId))) ?? undefined;
    },
    save(roomId, token, state) {
      enqueue(roomId, 'save', () => store.fencedSet(home.leaseKey(roomId), { node: home.nodeId, token }, roomStateKey(roomId), state));
    },
    drop(roomId, token) {
      enqueue(roomId, 'drop', () => store.fencedDel(home.leaseKey(roomId), { node: home.nodeId, token }, roomStateKey(roomId)));
    },
  };
}
