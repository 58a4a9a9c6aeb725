// MoosicBox's WebSocket protocol as JSON shapes: inbound validation (zod) and outbound frames.
// Field names and nesting follow MoosicBox's serde models (docs/playback.md lists the sources).
import { z } from 'zod';
import type { SnapshotFrom } from 'xstate';
import type {
  PlaybackSessionMachine,
  PlaybackTarget,
  PlaylistTrack,
  SessionPatch,
  SessionPlaylist,
} from '../../machines/playbackSession.machine.js';
import { refineJson, type JsonBounds } from './bounded-json.js';

const u64 = z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER);
const name = z.string().max(256);
/** serde's Option<T> accepts both a missing field and null. */
const opt = <T extends z.ZodType>(s: T) => s.nullish().transform((v) => v ?? undefined);

export const playbackTargetSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('AUDIO_ZONE'), audioZoneId: u64 }),
  z.object({ type: z.literal('CONNECTION_OUTPUT'), connectionId: z.string().max(256), outputId: z.string().max(256) }),
  // Not in MoosicBox: playback into a call leg or a room, bound by the media plane later.
  z.object({ type: z.literal('CALL_LEG'), callId: z.string().min(1).max(256) }),
  z.object({ type: z.literal('ROOM'), roomId: z.string().min(1).max(64) }),
]);

/**
 * Bounds on one track. Tracks are stored as the client sent them (MoosicBox puts a whole `ApiTrack`
 * there, ~1 KB, at most three levels deep), then persisted and broadcast, so they are bounded here.
 */
export const TRACK_BOUNDS: JsonBounds = {
  maxDepth: 8,
  maxStringLength: 4096,
  maxObjectKeys: 128,
  maxArrayLength: 1024,
  maxSize: 16 * 1024,
  // `__proto__` is harmless in JSON.parse output but a trap for any later merge; `xstate$$type` and
  // objects shaped like an actor ref are rewritten by XState when the session's context is persisted
  // or restored (persistContext/reviveContext), which would corrupt the track or drop the session.
  forbiddenKeys: new Set(['__proto__', 'xstate$$type']),
  checkObject: (o) =>
    Object.hasOwn(o, 'sessionId') && Object.hasOwn(o, 'send') && Object.hasOwn(o, 'ref')
      ? 'an object with "sessionId", "send" and "ref" together is reserved (XState reads it as an actor reference)'
      : undefined,
};

/** Bounds on a whole playlist: at most this many tracks and this much JSON (the default frame size). */
export const PLAYLIST_LIMITS = { maxTracks: 10_000, maxSize: 1024 * 1024 } as const;

/** A playlist's tracks: JSON objects within TRACK_BOUNDS, together within PLAYLIST_LIMITS. */
export const tracksSchema = z
  .array(z.unknown())
  .max(PLAYLIST_LIMITS.maxTracks)
  .superRefine((tracks, ctx) => {
    let total = 2;
    for (let i = 0; i < tracks.length; i++) {
      const t = tracks[i];
      if (typeof t !== 'object' || t === null || Array.isArray(t)) {
        ctx.addIssue({ code: 'custom', message: 'a track must be a JSON object', path: [i] });
        return;
      }
      const id = (t as Record<string, unknown>).trackId;
      if (id !== undefined && typeof id !== 'number' && typeof id !== 'string') {
        ctx.addIssue({ code: 'custom', message: 'trackId must be a number or a string', path: [i, 'trackId'] });
        return;
      }
      const size = refineJson(t, TRACK_BOUNDS, ctx, [i]);
      if (size === undefined) return;
      total += size + 1;
      if (total > PLAYLIST_LIMITS.maxSize) {
        ctx.addIssue({ code: 'custom', message: `playlist larger than ${PLAYLIST_LIMITS.maxSize} characters of JSON`, path: [i] });
        return;
      }
    }
  })
  .transform((t) => t as PlaylistTrack[]);

export const playlistSchema = z.object({ sessionPlaylistId: u64, tracks: tracksSchema });
export const qualitySchema = z.object({ format: z.string().min(1).max(32) });
export const profileSchema = z.string().max(256);
export const nameSchema = name;

export const createSessionSchema = z.object({
  name,
  audioZoneId: opt(u64),
  playlist: z.object({ tracks: z.array(u64).max(10_000) }),
});

export const updateSessionSchema = z.object({
  sessionId: u64,
  profile: profileSchema,
  playbackTarget: playbackTargetSchema,
  play: opt(z.boolean()),
  stop: opt(z.boolean()),
  name: opt(name),
  active: opt(z.boolean()),
  playing: opt(z.boolean()),
  position: opt(z.number().int().min(0).max(65_535)),
  seek: opt(z.number().finite().nonnegative()),
  volume: opt(z.number().min(0).max(1)),
  playlist: opt(playlistSchema),
  quality: opt(qualitySchema),
});

export const deleteSessionSchema = z.object({ sessionId: u64 });

export const registerPlayerSchema = z.object({
  audioOutputId: z.string().min(1).max(256),
  name,
});

export const registerConnectionSchema = z.object({
  connectionId: z.string().min(1).max(256),
  name,
  players: z.array(registerPlayerSchema).max(64),
});

export const registerPlayersSchema = z.array(registerPlayerSchema).max(64);

export const createAudioZoneSchema = z.object({ name });

export const setSeekSchema = z.object({
  sessionId: u64,
  profile: profileSchema,
  playbackTarget: playbackTargetSchema,
  seek: u64,
});

// callchart extension: who else may see and use a session, audio zone or connection registration
// (only meaningful with authentication on; see docs/playback.md "Ownership and sharing").
/** A principal as the HTTP layer names it (a user or app name; generous, it comes from config). */
export const principalSchema = z.string().min(1).max(1024);
export const principalsSchema = z
  .array(principalSchema)
  .max(64)
  .transform((list) => [...new Set(list)]);
export const shareSessionSchema = z.object({ sessionId: u64, principals: principalsSchema });
export const shareAudioZoneSchema = z.object({ audioZoneId: u64, principals: principalsSchema });
export const shareConnectionSchema = z.object({ connectionId: z.string().min(1).max(256), principals: principalsSchema });

/** Inbound message types and the schema of their `payload` (null: no payload). */
export const inboundSchemas = {
  PING: null,
  GET_CONNECTION_ID: null,
  GET_SESSIONS: null,
  CREATE_SESSION: createSessionSchema,
  UPDATE_SESSION: updateSessionSchema,
  DELETE_SESSION: deleteSessionSchema,
  REGISTER_CONNECTION: registerConnectionSchema,
  REGISTER_PLAYERS: registerPlayersSchema,
  CREATE_AUDIO_ZONE: createAudioZoneSchema,
  SET_SEEK: setSeekSchema,
  SHARE_SESSION: shareSessionSchema,
  SHARE_AUDIO_ZONE: shareAudioZoneSchema,
  SHARE_CONNECTION: shareConnectionSchema,
} as const;

type Schemas = typeof inboundSchemas;
export type InboundType = keyof Schemas;

export type InboundMessage = {
  [K in InboundType]: Schemas[K] extends z.ZodType ? { type: K; payload: z.output<Schemas[K]> } : { type: K };
}[InboundType];

export type UpdateSessionPayload = z.output<typeof updateSessionSchema>;
export type SetSeekPayload = z.output<typeof setSeekSchema>;
export type RegisterPlayer = z.output<typeof registerPlayerSchema>;

export type PlaybackErrorCode =
  | 'BAD_JSON'
  | 'UNKNOWN_TYPE'
  | 'INVALID_PAYLOAD'
  | 'NOT_FOUND'
  | 'FORBIDDEN'
  | 'CONFLICT'
  | 'LIMIT_EXCEEDED'
  | 'INTERNAL';

export class PlaybackWireError extends Error {
  constructor(
    readonly code: PlaybackErrorCode,
    message: string,
    readonly request: string | null,
  ) {
    super(message);
    this.name = 'PlaybackWireError';
  }
}

function describeIssues(err: z.ZodError): string {
  const text = err.issues.map((i) => `${i.path.length ? i.path.join('.') : '(payload)'}: ${i.message}`).join('; ');
  return text.length > 300 ? text.slice(0, 297) + '...' : text;
}

/** Parse one text frame; throws PlaybackWireError with the code the client gets back. */
export function parseInbound(text: string): InboundMessage {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new PlaybackWireError('BAD_JSON', `not JSON: ${(err as Error).message}`, null);
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw new PlaybackWireError('BAD_JSON', 'message must be a JSON object', null);
  }
  const obj = json as Record<string, unknown>;
  if (typeof obj.type !== 'string') throw new PlaybackWireError('UNKNOWN_TYPE', 'message has no string "type"', null);
  const type = obj.type;
  if (!Object.hasOwn(inboundSchemas, type)) throw new PlaybackWireError('UNKNOWN_TYPE', `unknown message type: ${type.slice(0, 64)}`, type.slice(0, 64));
  const schema = inboundSchemas[type as InboundType];
  if (schema === null) return { type } as InboundMessage;
  if (!('payload' in obj)) throw new PlaybackWireError('INVALID_PAYLOAD', `${type} needs a "payload"`, type);
  const parsed = (schema as z.ZodType).safeParse(obj.payload);
  if (!parsed.success) throw new PlaybackWireError('INVALID_PAYLOAD', describeIssues(parsed.error), type);
  return { type, payload: parsed.data } as InboundMessage;
}

export function patchFromUpdate(p: UpdateSessionPayload): SessionPatch {
  const patch: SessionPatch = { profile: p.profile, target: p.playbackTarget };
  if (p.play !== undefined) patch.play = p.play;
  if (p.stop !== undefined) patch.stop = p.stop;
  if (p.name !== undefined) patch.name = p.name;
  if (p.active !== undefined) patch.active = p.active;
  if (p.playing !== undefined) patch.playing = p.playing;
  if (p.position !== undefined) patch.position = p.position;
  if (p.seek !== undefined) patch.seek = p.seek;
  if (p.volume !== undefined) patch.volume = p.volume;
  if (p.playlist !== undefined) patch.playlist = p.playlist;
  if (p.quality !== undefined) patch.quality = p.quality;
  return patch;
}

// ---- outbound ----------------------------------------------------------------------------------

export interface ApiPlayer {
  playerId: number;
  audioOutputId: string;
  name: string;
  playing: boolean;
}

export interface ApiConnection {
  connectionId: string;
  name: string;
  alive: boolean;
  players: ApiPlayer[];
}

export interface ApiSession {
  sessionId: number;
  name: string;
  active: boolean;
  playing: boolean;
  position: number | null;
  seek: number | null;
  volume: number | null;
  playbackTarget: PlaybackTarget | null;
  playlist: SessionPlaylist;
}

export interface ApiUpdateSession {
  sessionId: number;
  profile: string;
  playbackTarget: PlaybackTarget;
  play?: boolean;
  stop?: boolean;
  name?: string;
  active?: boolean;
  playing?: boolean;
  position?: number;
  seek?: number;
  volume?: number;
  playlist?: SessionPlaylist;
  quality?: { format: string };
}

export interface ApiAudioZoneWithSession {
  id: number;
  sessionId: number;
  name: string;
  players: ApiPlayer[];
}

/** Answer to a SHARE_* request: the list the record is now shared with. */
export type ApiShared =
  | { kind: 'SESSION'; sessionId: number; principals: string[] }
  | { kind: 'AUDIO_ZONE'; audioZoneId: number; principals: string[] }
  | { kind: 'CONNECTION'; connectionId: string; principals: string[] };

export type OutboundFrame =
  | { type: 'CONNECTION_ID'; connectionId: string }
  | { type: 'SESSIONS'; payload: ApiSession[] }
  | { type: 'SESSION_UPDATED'; payload: ApiUpdateSession }
  | { type: 'AUDIO_ZONE_WITH_SESSIONS'; payload: ApiAudioZoneWithSession[] }
  | { type: 'DOWNLOAD_EVENT'; payload: unknown }
  | { type: 'SCAN_EVENT'; payload: unknown }
  | { type: 'CONNECTIONS'; payload: ApiConnection[] }
  | { type: 'SET_SEEK'; payload: SetSeekPayload }
  | { type: 'SHARED'; payload: ApiShared }
  | { type: 'ERROR'; payload: { code: PlaybackErrorCode; reason: string; request: string | null } };

type SessionSnapshot = SnapshotFrom<PlaybackSessionMachine>;

export function toApiSession(snap: SessionSnapshot): ApiSession {
  const c = snap.context;
  return {
    sessionId: c.sessionId,
    name: c.name,
    active: c.active,
    playing: snap.value === 'playing',
    position: c.position,
    seek: c.seek,
    volume: c.volume,
    playbackTarget: c.target,
    playlist: c.playlist,
  };
}

/** SESSION_UPDATED echoes the fields the patch carried, with the values the actor settled on. */
export function toApiUpdate(p: UpdateSessionPayload, snap: SessionSnapshot): ApiUpdateSession {
  const c = snap.context;
  const out: ApiUpdateSession = { sessionId: c.sessionId, profile: p.profile, playbackTarget: c.target ?? p.playbackTarget };
  if (p.play !== undefined) out.play = p.play;
  if (p.stop !== undefined) out.stop = p.stop;
  if (p.name !== undefined) out.name = c.name;
  if (p.active !== undefined) out.active = c.active;
  if (p.playing !== undefined || p.play !== undefined || p.stop !== undefined) out.playing = snap.value === 'playing';
  if (p.position !== undefined && c.position !== null) out.position = c.position;
  if ((p.seek !== undefined || p.stop === true) && c.seek !== null) out.seek = c.seek;
  if (p.volume !== undefined && c.volume !== null) out.volume = c.volume;
  if (p.playlist !== undefined) out.playlist = c.playlist;
  if (p.quality !== undefined && c.quality) out.quality = c.quality;
  return out;
}
