// Where playback state survives a restart: sessions (as actor snapshots), audio zones and
// registered connections. The default is one JSON file written atomically (tmp + rename) so a
// crash mid-write leaves the previous file intact; writes are debounced so a burst of seeks costs
// one write.
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';

export interface PlayerRecord {
  playerId: number;
  audioOutputId: string;
  name: string;
  playing: boolean;
}

export interface ConnectionRecord {
  connectionId: string;
  name: string;
  players: PlayerRecord[];
}

export interface AudioZoneRecord {
  id: number;
  name: string;
  players: PlayerRecord[];
}

export interface PersistedSession {
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
  /** The last saved state, or undefined when nothing was saved yet. */
  load(): Promise<PlaybackState | undefined>;
  /** Record the current state; a store may write it later (flush() forces the write). */
  save(state: PlaybackState): Promise<void>;
  flush?(): Promise<void>;
}

export function emptyPlaybackState(): PlaybackState {
  return { version: 1, nextSessionId: 1, nextAudioZoneId: 1, nextPlayerId: 1, sessions: [], audioZones: [], connections: [] };
}

function isState(v: unknown): v is PlaybackState {
  if (typeof v !== 'object' || v === null) return false;
  const s = v as Record<string, unknown>;
  return (
    s.version === 1 &&
    Number.isInteger(s.nextSessionId) &&
    Number.isInteger(s.nextAudioZoneId) &&
    Number.isInteger(s.nextPlayerId) &&
    Array.isArray(s.sessions) &&
    Array.isArray(s.audioZones) &&
    Array.isArray(s.connections)
  );
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
      saves++;
      state = JSON.stringify(s);
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
    const body = JSON.stringify(state);
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
      (err) => settled.forEach((w) => w.reject(err)),
    );
    return chain;
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
        throw new PlaybackStoreError(`${file} is not valid JSON`, { cause: err });
      }
      if (!isState(json)) throw new PlaybackStoreError(`${file} is not a playback state (version 1)`);
      return json;
    },
    save(state) {
      pending = state;
      const done = new Promise<void>((resolve, reject) => waiters.push({ resolve, reject }));
      if (!timer) timer = setTimeout(() => void writeNow().catch(() => {}), debounceMs);
      return done;
    },
    async flush() {
      await writeNow();
    },
  };
}
