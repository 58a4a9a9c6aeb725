// The playback store of a clustered node (src/playback/store.ts's interface, in Redis): the
// playback space's whole state is one JSON value, `<prefix>playback-state:<space>`, written by
// the space's lease holder only (a fenced SET: the write lands only while `lease:playback:<space>`
// still reads this node and its token). A node that takes the space over after its owner died
// loads the last write, so sessions come back with their queue, position and volume.
//
// What comes back is as untrusted as a file: routes.ts validates it entry by entry (persisted.ts).
import type { PlaybackState, PlaybackStore } from '../playback/store.js';
import { PlaybackStoreError } from '../playback/store.js';
import type { ClusterStore } from './store.js';

export interface RedisPlaybackStoreOptions {
  store: ClusterStore;
  /** The space's lease key (KeyedHome.leaseKey) and the holder it must still name. */
  leaseKey: string;
  holder: { node: string; token: number };
  /** The space's id (the route path): the data key is `playback-state:<space>`. */
  space: string;
  /** A write was fenced off: another node holds the space now. */
  onFenced(): void;
}

export const playbackStateKey = (space: string) => `playback-state:${space}`;

export function createRedisPlaybackStore(o: RedisPlaybackStoreOptions): PlaybackStore & { flush(): Promise<void> } {
  const dataKey = playbackStateKey(o.space);
  const redis = o.store.redis;
  const full = o.store.prefix + dataKey;
  // Writes are chained so they land in the order the states were saved.
  let chain: Promise<void> = Promise.resolve();
  const stamp = () => new Date().toISOString().replace(/[:.]/g, '-');

  /** Keep an unreadable value for the operator instead of overwriting it with the next save. */
  const copyTo = async (suffix: string): Promise<string | undefined> => {
    await o.store.ensureConnected();
    const v = await redis.get(full);
    if (v == null) return undefined;
    const aside = `${full}:${suffix}-${stamp()}`;
    await redis.set(aside, v);
    return aside;
  };

  return {
    async load() {
      let text: string | null;
      try {
        await o.store.ensureConnected();
        text = await redis.get(full);
      } catch (err) {
        throw new PlaybackStoreError(`cannot read ${full}`, { cause: err });
      }
      if (text == null) return undefined;
      let json: unknown;
      try {
        json = JSON.parse(text);
      } catch (err) {
        const aside = await copyTo('corrupt').catch(() => undefined);
        throw new PlaybackStoreError(`${full} is not valid JSON${aside ? ` (kept as ${aside})` : ''}`, { cause: err });
      }
      if (typeof json !== 'object' || json === null || Array.isArray(json) || (json as { version?: unknown }).version !== 1) {
        const aside = await copyTo('corrupt').catch(() => undefined);
        throw new PlaybackStoreError(`${full} is not a playback state (version 1)${aside ? ` (kept as ${aside})` : ''}`);
      }
      return json as PlaybackState;
    },
    save(state) {
      let body: string;
      try {
        body = JSON.stringify(state);
      } catch (err) {
        return Promise.reject(new PlaybackStoreError('playback state could not be serialised; not written', { cause: err }));
      }
      const write = chain
        .catch(() => {})
        .then(async () => {
          let ok: boolean;
          try {
            ok = await o.store.fencedSet(o.leaseKey, o.holder, dataKey, body);
          } catch (err) {
            throw new PlaybackStoreError(`cannot write ${full}`, { cause: err });
          }
          if (!ok) {
            o.onFenced();
            throw new PlaybackStoreError(`${full} not written: this node no longer holds the playback space (fenced, token ${o.holder.token})`);
          }
        });
      chain = write;
      return write;
    },
    async flush() {
      await chain;
    },
    async preserve() {
      return copyTo('rejected').catch(() => undefined);
    },
  };
}
