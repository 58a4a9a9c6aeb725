// Calls and rooms as MoosicBox players. The engine shows itself to playback clients as one
// registered connection (ENGINE_CONNECTION_ID) whose players are the calls and rooms attached with
// `engine.attachPlayer()`; a player can also sit in an audio zone. A session that targets a player
// (its zone, `CONNECTION_OUTPUT { connectionId: "callchart", outputId }`, `CALL_LEG` or `ROOM`)
// drives a playback actor into that call or room.
//
// No play state is kept here: what should play is the session actor's snapshot (state, position,
// seek, volume, playlist), what plays is the playback actor's (current item, paused, gain). Each
// session snapshot is reconciled against each targeted player's playback actor. The current item's
// id carries the session, playlist position and track it was started for, so the playback actor
// alone tells which session a player is serving. A track that ends (or cannot be played) moves the
// session on to the next one, through the session actor, as a MoosicBox player would.
import path from 'node:path';
import type { Logger } from 'pino';
import type { SnapshotFrom } from 'xstate';
import type { PlaybackSessionMachine, PlaybackTarget, PlaylistTrack } from '../../machines/playbackSession.machine.js';
import type { PlaybackStream } from '../media/runtimes/playback.js';
import type { AudioZoneRecord, ConnectionRecord, PlayerRecord } from './store.js';
import { EVERYONE } from './policy.js';

/** The connection id under which the engine's own players (calls, rooms) are listed. */
export const ENGINE_CONNECTION_ID = 'callchart';

/**
 * Where track ids become WAV files: `{ dir }` maps track id `7` to `<dir>/7.wav` (ids are numbers,
 * or strings of letters, digits, `.`, `_`, `-` not starting with a dot); a function decides itself
 * (return undefined for an unknown track). Clients never name paths.
 */
export type PlaybackTrackSource = { dir: string } | ((track: PlaylistTrack) => string | undefined);

/** What a player plays into: a call or a room, seen only through its playback streams. */
export interface PlaybackPlayerOutput {
  readonly kind: 'call' | 'room';
  /** The call id or the room id (what `CALL_LEG { callId }` / `ROOM { roomId }` targets name). */
  readonly id: string;
  /** Open a playback stream into the output that stays open until closed. */
  open(): PlaybackStream;
  /** Called once when the output goes (call ended, room closed). Returns unsubscribe. */
  onGone(cb: () => void): () => void;
  /** Called once when the player is detached: free what `open` needs (a room's mix leg). */
  release?(): void;
}

export interface PlaybackPlayerOptions {
  /** The player's name in `CONNECTIONS` (default `call <id>` / `room <id>`). */
  name?: string;
  /** Put the player in this audio zone: an existing zone's id, or a zone name (created if absent). */
  zone?: number | string;
  /**
   * With authentication on, the principals who see this player and whose sessions play into it
   * (`'*'`: every authenticated principal). Unset: everyone, as without authentication. Sessions
   * created while authentication was off (no owner) still reach it.
   */
  principals?: readonly string[];
}

/** A call or room registered as a MoosicBox player. */
export interface PlaybackPlayer {
  readonly playerId: number;
  /** `call:<callId>` or `room:<roomId>`: the `outputId` of a `CONNECTION_OUTPUT` target. */
  readonly audioOutputId: string;
  readonly connectionId: string;
  readonly audioZoneId: number | undefined;
  /** The playback stream the player drives (undefined until a session first plays into it). */
  readonly stream: PlaybackStream | undefined;
  /** Stop playing, leave the zone and the engine's connection (also done when the output goes). */
  detach(): void;
}

type SessionSnapshot = SnapshotFrom<PlaybackSessionMachine>;

/** What the players need from the playback routes. */
export interface PlayersHost {
  readonly log: Logger;
  readonly zones: Map<number, AudioZoneRecord>;
  nextPlayerId(): number;
  /** Create a zone (unowned) for `attach({ zone: name })`; throws at the zone cap. */
  createZone(name: string): AudioZoneRecord;
  sessionSnapshots(): SessionSnapshot[];
  /** The principal that owns a session (undefined: none, created while authentication was off). */
  sessionOwner(sessionId: number): string | undefined;
  session(sessionId: number): SessionSnapshot | undefined;
  /** Apply a patch to a session as its player (broadcast as SESSION_UPDATED). */
  updateSession(sessionId: number, patch: { position?: number; seek?: number; stop?: boolean }): void;
  changed(what: { zones: boolean }): void;
}

interface Attached {
  record: PlayerRecord;
  /** Who may see it and play into it (PlaybackPlayerOptions.principals); undefined: everyone. */
  principals: readonly string[] | undefined;
  output: PlaybackPlayerOutput;
  zoneId: number | undefined;
  stream: PlaybackStream | undefined;
  offGone: () => void;
}

/** The tag of an item started for a session's playlist position: `mb:<session>:<position>:<track>:`. */
const tagFor = (sessionId: number, position: number, trackId: unknown) => `mb:${sessionId}:${position}:${encodeURIComponent(String(trackId))}:`;
const TAG = /^mb:(\d+):(\d+):/;

/** A playing player writes its position into the session's `seek` at most this often. */
const SEEK_REPORT_MS = 900;

/** May `principal` (undefined: authentication off, or a session with no owner) use a player? */
function allows(a: Attached, principal: string | undefined): boolean {
  return principal === undefined || a.principals === undefined || a.principals.includes(principal) || a.principals.includes(EVERYONE);
}

const SAFE_TRACK_ID = /^[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}$/;

function checkPrincipals(list: readonly string[]): readonly string[] {
  if (!Array.isArray(list) || list.some((p) => typeof p !== 'string' || p.length === 0)) throw new TypeError('attachPlayer: principals must be a list of non-empty strings');
  return [...list];
}

export function trackPath(source: PlaybackTrackSource | undefined, track: PlaylistTrack): string | undefined {
  if (!source) return undefined;
  if (typeof source === 'function') return source(track);
  const id = track.trackId;
  if (typeof id === 'number' ? !Number.isSafeInteger(id) || id < 0 : typeof id !== 'string' || !SAFE_TRACK_ID.test(id)) return undefined;
  return path.join(source.dir, `${String(id)}.wav`);
}

export class PlaybackPlayers {
  readonly #attached = new Map<string, Attached>();
  #seq = 0;
  #closed = false;

  constructor(
    private readonly host: PlayersHost,
    private readonly tracks: PlaybackTrackSource | undefined,
  ) {}

  /**
   * The engine's connection as CONNECTIONS shows it to `principal`: the players it may use
   * (absent while there are none).
   */
  connection(principal: string | undefined): ConnectionRecord | undefined {
    const players = [...this.#attached.values()].filter((a) => allows(a, principal)).map((a) => ({ ...a.record, playing: a.stream?.state === 'active.playing' }));
    return players.length ? { connectionId: ENGINE_CONNECTION_ID, name: 'callchart', players } : undefined;
  }

  /** Whether `principal` sees player `playerId` (any player that is not one of the engine's: yes). */
  visible(playerId: number, principal: string | undefined): boolean {
    for (const a of this.#attached.values()) if (a.record.playerId === playerId) return allows(a, principal);
    return true;
  }

  /**
   * Why `principal` may not name this target, when it names one of the engine's players kept
   * from it: refused as if the player did not exist, like someone else's zone.
   */
  refusal(target: PlaybackTarget, principal: string | undefined): string | undefined {
    if (target.type === 'AUDIO_ZONE') return undefined;
    const a = this.#targeted(target)[0];
    return a && !allows(a, principal) ? `no player ${a.record.audioOutputId}` : undefined;
  }

  /** A zone as it is persisted: without the engine's players (they do not outlive the process). */
  persistedZone(z: AudioZoneRecord): AudioZoneRecord {
    const mine = new Set([...this.#attached.values()].map((a) => a.record.playerId));
    return z.players.some((p) => mine.has(p.playerId)) ? { ...z, players: z.players.filter((p) => !mine.has(p.playerId)) } : z;
  }

  attach(output: PlaybackPlayerOutput, opts: PlaybackPlayerOptions = {}): PlaybackPlayer {
    if (this.#closed) throw new Error('playback routes are closed');
    if (!this.tracks) throw new Error('playback has no track source: give the playback option tracks ({ dir } or a function)');
    const audioOutputId = `${output.kind}:${output.id}`;
    if (this.#attached.has(audioOutputId)) throw new Error(`${output.kind} ${output.id} is already a player`);
    const name = (opts.name ?? `${output.kind} ${output.id}`).slice(0, 256);
    let zone: AudioZoneRecord | undefined;
    if (typeof opts.zone === 'number') {
      zone = this.host.zones.get(opts.zone);
      if (!zone) throw new Error(`no audio zone ${opts.zone}`);
    } else if (typeof opts.zone === 'string') {
      const zoneName = opts.zone;
      zone = [...this.host.zones.values()].find((z) => z.name === zoneName) ?? this.host.createZone(zoneName.slice(0, 256));
    }
    const principals = opts.principals === undefined ? undefined : checkPrincipals(opts.principals);
    const record: PlayerRecord = { playerId: this.host.nextPlayerId(), audioOutputId, name, playing: false };
    const a: Attached = { record, principals, output, zoneId: zone?.id, stream: undefined, offGone: () => {} };
    this.#attached.set(audioOutputId, a);
    zone?.players.push({ ...record });
    a.offGone = output.onGone(() => this.#detach(a));
    this.host.log.info({ audioOutputId, playerId: record.playerId, audioZoneId: a.zoneId }, 'playback player attached');
    this.host.changed({ zones: zone !== undefined });
    // A session may already be playing into the zone.
    for (const snap of this.host.sessionSnapshots()) this.sync(snap);
    const detach = () => this.#detach(a);
    return {
      playerId: record.playerId,
      audioOutputId,
      connectionId: ENGINE_CONNECTION_ID,
      audioZoneId: a.zoneId,
      get stream() {
        return a.stream;
      },
      detach,
    };
  }

  #detach(a: Attached): void {
    if (this.#attached.get(a.record.audioOutputId) !== a) return;
    this.#attached.delete(a.record.audioOutputId);
    a.offGone();
    void a.stream?.close();
    a.output.release?.();
    const zone = a.zoneId !== undefined ? this.host.zones.get(a.zoneId) : undefined;
    if (zone) zone.players = zone.players.filter((p) => p.playerId !== a.record.playerId);
    this.host.log.info({ audioOutputId: a.record.audioOutputId }, 'playback player detached');
    if (!this.#closed) this.host.changed({ zones: zone !== undefined });
  }

  close(): void {
    this.#closed = true;
    for (const a of [...this.#attached.values()]) this.#detach(a);
  }

  /** Players a target reaches. */
  #targeted(target: PlaybackTarget | null): Attached[] {
    if (!target) return [];
    switch (target.type) {
      case 'AUDIO_ZONE': {
        const ids = new Set(this.host.zones.get(target.audioZoneId)?.players.map((p) => p.playerId) ?? []);
        return [...this.#attached.values()].filter((a) => ids.has(a.record.playerId));
      }
      case 'CONNECTION_OUTPUT': {
        const a = target.connectionId === ENGINE_CONNECTION_ID ? this.#attached.get(target.outputId) : undefined;
        return a ? [a] : [];
      }
      case 'CALL_LEG': {
        const a = this.#attached.get(`call:${target.callId}`);
        return a ? [a] : [];
      }
      case 'ROOM': {
        const a = this.#attached.get(`room:${target.roomId}`);
        return a ? [a] : [];
      }
    }
  }

  /** The playback actor's current item id, if the stream is open and an item is current. */
  #currentItem(a: Attached): string | undefined {
    const snap = a.stream?.actor.getSnapshot();
    return snap?.status === 'active' ? (snap.context.current?.id ?? undefined) : undefined;
  }

  #servedSession(a: Attached): number | undefined {
    const m = TAG.exec(this.#currentItem(a) ?? '');
    return m ? Number(m[1]) : undefined;
  }

  /** Reconcile every attached player with one session's snapshot. */
  sync(snap: SessionSnapshot): void {
    if (this.#attached.size === 0) return;
    const sessionId = snap.context.sessionId;
    const live = snap.status === 'active';
    // A player kept from the session's owner is not driven by it, even through a zone both share.
    const owner = this.host.sessionOwner(sessionId);
    const targeted = new Set(live ? this.#targeted(snap.context.target).filter((a) => allows(a, owner)) : []);
    for (const a of this.#attached.values()) {
      if (targeted.has(a)) this.#drive(a, snap);
      else if (this.#servedSession(a) === sessionId) a.stream!.stop();
    }
  }

  /** A client sought (UPDATE_SESSION seek): move the players serving that session. */
  seek(sessionId: number, seconds: number): void {
    for (const a of this.#attached.values()) {
      if (this.#servedSession(a) === sessionId) a.stream!.seek(Math.round(seconds * 1000));
    }
  }

  #drive(a: Attached, snap: SessionSnapshot): void {
    const c = snap.context;
    const served = this.#servedSession(a) === c.sessionId;
    const position = c.position ?? 0;
    const track = c.playlist.tracks[position];
    if (snap.value === 'stopped' || !track) {
      if (served) a.stream!.stop();
      return;
    }
    const tag = tagFor(c.sessionId, position, track.trackId);
    const gain = c.volume ?? 1;
    if (this.#currentItem(a)?.startsWith(tag)) {
      const stream = a.stream!;
      const ps = stream.actor.getSnapshot();
      if (ps.context.gain !== gain) stream.volume(gain);
      const paused = ps.matches({ active: 'paused' });
      if (snap.value === 'playing' && paused) stream.resume();
      else if (snap.value === 'paused' && !paused) stream.pause();
      return;
    }
    // Nothing loaded for this position: a paused session starts it on resume, from its seek.
    if (snap.value !== 'playing') {
      if (served) a.stream!.stop();
      return;
    }
    const file = trackPath(this.tracks, track);
    if (!file) {
      this.host.log.warn({ sessionId: c.sessionId, position, trackId: track.trackId }, 'playback track has no file; skipped');
      if (served) a.stream!.stop();
      this.#advanceLater(c.sessionId, position);
      return;
    }
    const stream = this.#streamOf(a);
    stream.stop();
    if (stream.actor.getSnapshot().context.gain !== gain) stream.volume(gain);
    void stream.play({ id: `${tag}${++this.#seq}`, source: { kind: 'file', path: file } });
    if (c.seek) stream.seek(Math.round(c.seek * 1000));
  }

  #streamOf(a: Attached): PlaybackStream {
    if (a.stream && a.stream.actor.getSnapshot().status === 'active') return a.stream;
    const stream = a.output.open();
    a.stream = stream;
    stream.on('itemFinished', (f) => {
      if (f.reason !== 'ended' && f.reason !== 'failed') return;
      const m = TAG.exec(f.itemId);
      if (m) this.#advanceLater(Number(m[1]), Number(m[2]));
    });
    // The playback actor's position reports (every second while playing) and its pauses go back
    // into the session's `seek`, as a MoosicBox player reports its progress.
    let reported = -1;
    stream.actor.subscribe((ps) => {
      const m = TAG.exec(ps.context.current?.id ?? '');
      const pos = ps.context.positionMs;
      // While paused the position moves only when the pause lands (or a seek): report it exactly.
      if (!m || pos === reported || (!ps.matches({ active: 'paused' }) && Math.abs(pos - reported) < SEEK_REPORT_MS)) return;
      reported = pos;
      this.#reportSeekLater(Number(m[1]), Number(m[2]), pos);
    });
    return stream;
  }

  /** Write a player's position into its session's `seek`, if the session still plays that position. */
  #reportSeekLater(sessionId: number, position: number, positionMs: number): void {
    queueMicrotask(() => {
      const snap = this.host.session(sessionId);
      if (this.#closed || !snap || snap.status !== 'active' || snap.value === 'stopped' || (snap.context.position ?? 0) !== position) return;
      const seconds = positionMs / 1000;
      // A client's own seek the player just followed needs no echo.
      if (snap.context.seek !== null && snap.context.seek !== undefined && Math.abs(snap.context.seek - seconds) < 0.25) return;
      this.host.updateSession(sessionId, { seek: seconds });
    });
  }

  /**
   * The track at `position` is over (ended, failed, no file): the session moves to the next one,
   * or stops after the last. Later, not inside the actor's own transition, and only if the session
   * still plays that position.
   */
  #advanceLater(sessionId: number, position: number): void {
    queueMicrotask(() => {
      const snap = this.host.session(sessionId);
      if (this.#closed || !snap || snap.status !== 'active' || snap.value !== 'playing' || (snap.context.position ?? 0) !== position) return;
      const next = position + 1;
      if (next < snap.context.playlist.tracks.length) this.host.updateSession(sessionId, { position: next, seek: 0 });
      else this.host.updateSession(sessionId, { stop: true });
    });
  }
}
