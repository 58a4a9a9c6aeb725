// Stored playback state is input too: a data file may be corrupt (a disk, an editor) or written by
// someone hostile, and restoring it runs in the engine's start. Every entry is checked with the
// same bounds the wire applies; a bad entry is skipped with a reason, the rest is kept, and
// nothing here throws.
import { z } from 'zod';
import type { PlaybackSessionContext } from '../../machines/playbackSession.machine.js';
import {
  nameSchema,
  playbackTargetSchema,
  playlistSchema,
  principalSchema,
  principalsSchema,
  profileSchema,
  qualitySchema,
} from './wire.js';
import type { PlaybackLimits } from './policy.js';
import { emptyPlaybackState, type AudioZoneRecord, type ConnectionRecord, type PersistedSession, type PlaybackState, type PlayerRecord } from './store.js';

const u64 = z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER);
const aclShape = { owner: principalSchema.optional(), sharedWith: principalsSchema.optional() };

const playerRecordSchema = z.object({
  playerId: u64,
  audioOutputId: z.string().min(1).max(256),
  name: nameSchema,
  playing: z.boolean(),
});

const contextSchema = z.object({
  sessionId: u64,
  name: nameSchema,
  active: z.boolean(),
  position: z.number().int().min(0).max(65_535).nullable(),
  seek: z.number().finite().nonnegative().nullable(),
  volume: z.number().min(0).max(1).nullable(),
  target: playbackTargetSchema.nullable(),
  profile: profileSchema.nullable(),
  quality: qualitySchema.nullable(),
  playlist: playlistSchema,
});

/** The states a live session can be restored into (`deleted` is final and never saved). */
const sessionEntrySchema = z.object({
  sessionId: u64,
  snapshot: z.object({
    status: z.literal('active'),
    value: z.enum(['stopped', 'playing', 'paused']),
    context: contextSchema,
  }),
  ...aclShape,
});

const zoneSchema = z.object({ id: u64, name: nameSchema, players: z.array(playerRecordSchema), ...aclShape });
const connectionSchema = z.object({
  connectionId: z.string().min(1).max(256),
  name: nameSchema,
  players: z.array(playerRecordSchema),
  ...aclShape,
});

const counter = (v: unknown) => (typeof v === 'number' && Number.isSafeInteger(v) && v >= 1 ? v : 1);

function issue(err: z.ZodError): string {
  const i = err.issues[0];
  const text = i ? `${i.path.join('.') || '(entry)'}: ${i.message}` : 'invalid';
  return text.length > 200 ? text.slice(0, 197) + '...' : text;
}

/** Drop the optional ACL fields zod left undefined, so records compare and persist cleanly. */
function withAcl<T extends object>(rec: T & { owner?: string | undefined; sharedWith?: string[] | undefined }): T {
  const { owner, sharedWith, ...rest } = rec;
  return { ...rest, ...(owner !== undefined ? { owner } : {}), ...(sharedWith?.length ? { sharedWith } : {}) } as T;
}

export interface SanitizedState {
  state: PlaybackState;
  /** One line per skipped entry (or unusable section), for the log. */
  problems: string[];
}

/** Validate a loaded state entry by entry; what is bad is skipped, the rest is returned. */
export function sanitizeState(raw: unknown, limits: PlaybackLimits): SanitizedState {
  const problems: string[] = [];
  const state = emptyPlaybackState();
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw) || (raw as { version?: unknown }).version !== 1) {
    return { state, problems: ['not a playback state (version 1)'] };
  }
  const src = raw as Record<string, unknown>;
  const list = (key: string): unknown[] => {
    const v = src[key];
    if (v === undefined) return [];
    if (!Array.isArray(v)) {
      problems.push(`${key}: not an array`);
      return [];
    }
    return v;
  };

  const sessionIds = new Set<number>();
  for (const [i, entry] of list('sessions').entries()) {
    const r = sessionEntrySchema.safeParse(entry);
    if (!r.success) problems.push(`sessions.${i}: ${issue(r.error)}`);
    else if (r.data.snapshot.context.sessionId !== r.data.sessionId) problems.push(`sessions.${i}: sessionId differs from its snapshot's`);
    else if (sessionIds.has(r.data.sessionId)) problems.push(`sessions.${i}: duplicate session ${r.data.sessionId}`);
    else if (sessionIds.size >= limits.sessions) problems.push(`sessions.${i}: more than ${limits.sessions} sessions`);
    else {
      sessionIds.add(r.data.sessionId);
      const { value, context } = r.data.snapshot;
      // Only the validated parts go back to XState: no stored `children` or `historyValue`.
      const snapshot = { status: 'active', value, context: context as PlaybackSessionContext, children: {}, historyValue: {} };
      state.sessions.push(withAcl<PersistedSession>({ sessionId: r.data.sessionId, snapshot, owner: r.data.owner, sharedWith: r.data.sharedWith }));
    }
  }

  const zoneIds = new Set<number>();
  for (const [i, entry] of list('audioZones').entries()) {
    const r = zoneSchema.safeParse(entry);
    if (!r.success) problems.push(`audioZones.${i}: ${issue(r.error)}`);
    else if (zoneIds.has(r.data.id) || zoneIds.size >= limits.audioZones) problems.push(`audioZones.${i}: duplicate or over the limit`);
    else if (r.data.players.length > limits.playersPerConnection) problems.push(`audioZones.${i}: too many players`);
    else {
      zoneIds.add(r.data.id);
      state.audioZones.push(withAcl<AudioZoneRecord>(r.data));
    }
  }

  const connIds = new Set<string>();
  let maxPlayerId = 0;
  for (const [i, entry] of list('connections').entries()) {
    const r = connectionSchema.safeParse(entry);
    if (!r.success) problems.push(`connections.${i}: ${issue(r.error)}`);
    else if (connIds.has(r.data.connectionId) || connIds.size >= limits.connections) problems.push(`connections.${i}: duplicate or over the limit`);
    else if (r.data.players.length > limits.playersPerConnection) problems.push(`connections.${i}: too many players`);
    else {
      connIds.add(r.data.connectionId);
      for (const p of r.data.players as PlayerRecord[]) maxPlayerId = Math.max(maxPlayerId, p.playerId);
      state.connections.push(withAcl<ConnectionRecord>(r.data));
    }
  }

  // Counters never hand out an id that is already taken, whatever the file says.
  state.nextSessionId = Math.max(counter(src.nextSessionId), ...[...sessionIds].map((id) => id + 1));
  state.nextAudioZoneId = Math.max(counter(src.nextAudioZoneId), ...[...zoneIds].map((id) => id + 1));
  state.nextPlayerId = Math.max(counter(src.nextPlayerId), maxPlayerId + 1);
  return { state, problems };
}
