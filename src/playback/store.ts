// Where playback state survives a restart: sessions (as actor snapshots), audio zones and
// registered connections. The default is one JSON file written atomically (tmp + rename) so a
// crash mid-write leaves the previous file intact; writes are debounced so a burst of seeks costs
// one write.
//
// What comes back from load() is only as trustworthy as the disk: the routes validate every entry
// (persisted.ts) before using it, and nothing here may throw out of a timer.
import { copyFile, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Acl } from './policy.js';

export interface PlayerRecord {
  playerId: number;
  audioOutputId: string;
  name: string;
  playing: boolean;
}

/** Records carry their owner and share list (absent: created while authentication was off). */
export interface ConnectionRecord extends Acl {
  connectionId: string;
  name: string;
  players: PlayerRecord[];
}

export interface AudioZoneRecord extends Acl {
  id: number;
  name: string;
  players: PlayerRecord[];
}

export interface PersistedSession extends Acl {
  sessionId: number;
  /** `actor.getPersistedSnapshot()` of the session's actor. */
  snapshot: unknown;
}

export interface PlaybackState {
  version: 1;
  nextSessionId: number;
  nextAudioZoneId: number;
  nextPlayerId: number;
  sessions: PersistedSession[];
  audioZones: AudioZoneRecord[];
  connections: ConnectionRecord[];
}

export interface PlaybackStore {
  /**
   * The last saved state, or undefined when nothing was saved yet. Treated as untrusted: entries
   * that fail validation are skipped (and logged) by the routes.
   */
  load(): Promise<PlaybackState | undefined>;
  /** Record the current state; a store may write it later (flush() forces the write). */
  save(state: PlaybackState): Promise<void>;
  flush?(): Promise<void>;
  /**
   * Keep a copy of what load() returned, because part of it was refused and the next save will
   * drop it; resolves with where the copy went.
   */
  preserve?(): Promise<string | undefined>;
}

export function emptyPlaybackState(): PlaybackState {
  return { version: 1, nextSessionId: 1, nextAudioZoneId: 1, nextPlayerId: 1, sessions: [], audioZones: [], connections: [] };
}


/** In-memory store: survives a routes restart within one process (tests, embedding). */
export function createMemoryStore(initial?: PlaybackState): PlaybackStore & { readonly saves: number; peek(): PlaybackState | undefined } {
  let state: string | undefined = initial ? JSON.stringify(initial) : undefined;
  let saves = 0;
  return {
    get saves() {
      return saves;
    },
    peek: () => (state ? (JSON.parse(state) as PlaybackState) : undefined),
    async load() {
      return state ? (JSON.parse(state) as PlaybackState) : undefined;
    },
    async save(s) {
      state = JSON.stringify(s);
      saves++;
    },
  };
}

export interface FileStoreOptions {
  dir: string;
  fileName?: string;
  /** Coalesce saves within this window into one write (default 100 ms). */
  debounceMs?: number;
}

export class PlaybackStoreError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'PlaybackStoreError';
  }
}

export function createFileStore(opts: FileStoreOptions): PlaybackStore & { flush(): Promise<void>; readonly file: string } {
  const file = path.join(opts.dir, opts.fileName ?? 'playback.json');
  const debounceMs = opts.debounceMs ?? 100;
  let pending: PlaybackState | undefined;
  let timer: NodeJS.Timeout | undefined;
  let seq = 0;
  // Writes are chained so renames land in the order the states were saved.
  let chain: Promise<void> = Promise.resolve();
  let waiters: Array<{ resolve: () => void; reject: (e: unknown) => void }> = [];

  const writeNow = (): Promise<void> => {
    if (timer) clearTimeout(timer);
    timer = undefined;
    const state = pending;
    const settled = waiters;
    pending = undefined;
    waiters = [];
    if (!state) return chain;
    // Runs from a timer: a state that cannot be serialised fails its savers, never the process.
    let body: string;
    try {
      body = JSON.stringify(state);
    } catch (err) {
      const failure = new PlaybackStoreError('playback state could not be serialised; not written', { cause: err });
      settled.forEach((w) => w.reject(failure));
      return Promise.reject(failure);
    }
    const tmp = `${file}.${process.pid}.${++seq}.tmp`;
    chain = chain
      .catch(() => {})
      .then(async () => {
        await mkdir(opts.dir, { recursive: true });
        await writeFile(tmp, body);
        await rename(tmp, file);
      });
    chain.then(
      () => settled.forEach((w) => w.resolve()),
      (err) => settled.forEach((w) => w.reject(new PlaybackStoreError(`cannot write ${file}`, { cause: err }))),
    );
    return chain;
  };

  const stamp = () => new Date().toISOString().replace(/[:.]/g, '-');
  /** Keep an unreadable file for the operator instead of overwriting it with the next save. */
  const setAside = async (): Promise<string | undefined> => {
    const aside = `${file}.corrupt-${stamp()}`;
    try {
      await rename(file, aside);
      return aside;
    } catch {
      return undefined;
    }
  };

  return {
    file,
    async load() {
      let text: string;
      try {
        text = await readFile(file, 'utf8');
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
        throw new PlaybackStoreError(`cannot read ${file}`, { cause: err });
      }
      let json: unknown;
      try {
        json = JSON.parse(text);
      } catch (err) {
        const aside = await setAside();
        throw new PlaybackStoreError(`${file} is not valid JSON${aside ? ` (kept as ${aside})` : ''}`, { cause: err });
      }
      if (typeof json !== 'object' || json === null || Array.isArray(json) || (json as { version?: unknown }).version !== 1) {
        const aside = await setAside();
        throw new PlaybackStoreError(`${file} is not a playback state (version 1)${aside ? ` (kept as ${aside})` : ''}`);
      }
      // Entry by entry validation is the routes' (they know the session machine).
      return json as PlaybackState;
    },
    save(state) {
      pending = state;
      const done = new Promise<void>((resolve, reject) => waiters.push({ resolve, reject }));
      // Failures reach every saver through `done`; the timer itself must never throw.
      if (!timer) timer = setTimeout(() => void writeNow().catch(() => {}), debounceMs);
      return done;
    },
    async flush() {
      await writeNow();
    },
    async preserve() {
      const copy = `${file}.rejected-${stamp()}`;
      try {
        await copyFile(file, copy);
        return copy;
      } catch {
        return undefined;
      }
    },
  };
}
