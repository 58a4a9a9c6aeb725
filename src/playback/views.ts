// What each client is shown: the SESSIONS, CONNECTIONS and AUDIO_ZONE_WITH_SESSIONS answers, cut
// to the records the recipient's principal may use and encoded so that one bad record is left out
// rather than failing the answer for everyone.
import { toApiSession, type ApiAudioZoneWithSession, type ApiConnection, type ApiSession, type OutboundFrame } from './wire.js';
import type { AudioZoneRecord, ConnectionRecord } from './store.js';
import type { LiveConnection, SessionEntry } from './types.js';
import { mayUse } from './policy.js';

export interface ViewSource {
  sessions: ReadonlyMap<number, SessionEntry>;
  zones: ReadonlyMap<number, AudioZoneRecord>;
  registered: ReadonlyMap<string, ConnectionRecord>;
  /** The engine's own connection (its call and room players) as `principal` may see it. */
  engineConnection(principal: string | undefined): ConnectionRecord | undefined;
  /** Whether `principal` may see a player (the engine's players may be kept from some). */
  playerVisible(playerId: number, principal: string | undefined): boolean;
  /** Connection ids a live socket holds. */
  alive(): Set<string>;
  /** Encode a frame, or log and count the failure and return undefined. */
  encode(frame: OutboundFrame): string | undefined;
  snapshotFailed(sessionId: number, err: unknown): void;
}

/** SESSIONS for one principal. A session that cannot be read or encoded is left out, not the answer. */
export function sessionsView(src: ViewSource, principal: string | undefined): string {
  const items: ApiSession[] = [];
  for (const id of [...src.sessions.keys()].sort((a, b) => a - b)) {
    const e = src.sessions.get(id)!;
    if (!mayUse(e.acl, principal)) continue;
    try {
      items.push(toApiSession(e.actor.ref.getSnapshot()));
    } catch (err) {
      src.snapshotFailed(id, err);
    }
  }
  try {
    return JSON.stringify({ type: 'SESSIONS', payload: items });
  } catch {
    const parts: string[] = [];
    for (const item of items) {
      try {
        parts.push(JSON.stringify(item));
      } catch (err) {
        src.snapshotFailed(item.sessionId, err);
      }
    }
    return `{"type":"SESSIONS","payload":[${parts.join(',')}]}`;
  }
}

export function connectionsView(src: ViewSource, principal: string | undefined): string | undefined {
  const alive = src.alive();
  const payload: ApiConnection[] = [];
  for (const c of src.registered.values()) {
    if (!mayUse(c, principal)) continue;
    payload.push({ connectionId: c.connectionId, name: c.name, alive: alive.has(c.connectionId), players: c.players.map((p) => ({ ...p })) });
  }
  const mine = src.engineConnection(principal);
  // The engine's connection is always live: it is this process.
  if (mine) payload.push({ connectionId: mine.connectionId, name: mine.name, alive: true, players: mine.players });
  return src.encode({ type: 'CONNECTIONS', payload });
}

/** Zones that a session targets, where the principal may use both. */
export function audioZonesView(src: ViewSource, principal: string | undefined): string | undefined {
  const payload: ApiAudioZoneWithSession[] = [];
  for (const e of src.sessions.values()) {
    if (!mayUse(e.acl, principal)) continue;
    const c = e.actor.ref.getSnapshot().context;
    if (c.target?.type !== 'AUDIO_ZONE') continue;
    const zone = src.zones.get(c.target.audioZoneId);
    if (zone && mayUse(zone, principal)) {
      const players = zone.players.filter((p) => src.playerVisible(p.playerId, principal)).map((p) => ({ ...p }));
      payload.push({ id: zone.id, sessionId: c.sessionId, name: zone.name, players });
    }
  }
  return src.encode({ type: 'AUDIO_ZONE_WITH_SESSIONS', payload });
}

export interface FanOutOptions {
  /** A connection id that gets nothing (the sender, usually). */
  except?: string;
  /** Only connections this accepts get the frame. */
  only?: (c: LiveConnection) => boolean;
}

/** Send each connection the text `build` makes for its principal, built once per principal. */
export function sendEach(
  conns: Iterable<LiveConnection>,
  build: (principal: string | undefined) => string | undefined,
  send: (c: LiveConnection, text: string) => void,
  o: FanOutOptions = {},
): number {
  const cache = new Map<string | undefined, string | undefined>();
  let n = 0;
  for (const conn of conns) {
    if (conn.id === o.except || (o.only && !o.only(conn))) continue;
    if (!cache.has(conn.principal)) cache.set(conn.principal, build(conn.principal));
    const text = cache.get(conn.principal);
    if (text === undefined) continue;
    send(conn, text);
    n++;
  }
  return n;
}
