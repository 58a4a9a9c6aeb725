// The playback protocol's requests: what each inbound message does to sessions, audio zones and
// connection registrations, with the ownership checks of policy.ts. The route (routes.ts) owns
// the state and the sockets and hands them in as a RequestContext.
import type { PlaybackTarget, SessionPlaylist } from '../../machines/playbackSession.machine.js';
import { patchFromUpdate, toApiUpdate, type ApiShared, type InboundMessage, type OutboundFrame, type PlaybackErrorCode, type RegisterPlayer } from './wire.js';
import type { AudioZoneRecord, ConnectionRecord, PlayerRecord } from './store.js';
import { aclFields, aclFor, mayShare, mayUse, mergePlayers, ownedBy, type Acl, type PlaybackLimits } from './policy.js';
import type { FanOutOptions } from './views.js';
import { ENGINE_CONNECTION_ID } from './players.js';
import type { LiveConnection, PlaybackStats, SessionActor, SessionEntry } from './types.js';

/** Tracks are bounded at the edge (depth ≤ 9 with the array), so stringify cannot recurse too far. */
export const playlistSize = (p: SessionPlaylist) => JSON.stringify(p.tracks).length;
const OWN_PLAYLISTS_OVER = "this principal's stored playlists are over their size limit";
const sameTarget = (a: PlaybackTarget | null, b: PlaybackTarget) => a !== null && JSON.stringify(a) === JSON.stringify(b);

/** A new session's input, or a persisted snapshot to restore. */
export type SpawnInit = { input: { sessionId: number; name: string; target: PlaybackTarget | null; playlist: SessionPlaylist } } | { snapshot: unknown };

/** The route's state and outbound paths, as the request handler uses them. */
export interface RequestContext {
  readonly limits: PlaybackLimits;
  readonly stats: PlaybackStats;
  readonly live: Map<string, LiveConnection>;
  readonly sessions: Map<number, SessionEntry>;
  readonly zones: Map<number, AudioZoneRecord>;
  readonly registered: Map<string, ConnectionRecord>;
  readonly counters: { nextSessionId: number; nextAudioZoneId: number; nextPlayerId: number };
  /** JSON size of every live session's playlist, against `limits.storedPlaylistSize`. */
  playlistTotal: number;
  aliveIds(): Set<string>;
  encode(frame: OutboundFrame): string | undefined;
  sendText(conn: LiveConnection, text: string | undefined): void;
  sendTo(conn: LiveConnection, frame: OutboundFrame): void;
  sendError(conn: LiveConnection, code: PlaybackErrorCode, reason: string, request: string | null): void;
  refuse(conn: LiveConnection, code: PlaybackErrorCode, reason: string, request: string): void;
  fanOut(build: (principal: string | undefined) => string | undefined, o?: FanOutOptions): number;
  sessionsText(principal: string | undefined): string | undefined;
  broadcastSessions(except?: string): void;
  broadcastConnections(except?: string): void;
  persist(): void;
  spawnSession(sessionId: number, init: SpawnInit, acl: Acl, size: number): SessionEntry | undefined;
  forget(sessionId: number, actor: SessionActor): void;
  /** A client sought: the engine's players serving the session follow (players.ts). */
  seekPlayers(sessionId: number, seconds: number): void;
  /** Why `principal` may not target one of the engine's players (players.ts), or undefined. */
  playerRefusal(target: PlaybackTarget, principal: string | undefined): string | undefined;
}

export function setShares(acl: Acl, principals: string[]): void {
  if (principals.length) acl.sharedWith = principals;
  else delete acl.sharedWith;
}

/** The handler of one validated inbound message from `conn`. */
export function createRequestHandler(ctx: RequestContext): (conn: LiveConnection, msg: InboundMessage) => void {
  const { limits, stats, live, sessions, zones, registered, counters } = ctx;
  const { aliveIds, encode, sendText, sendTo, sendError, refuse, fanOut, sessionsText, broadcastSessions, broadcastConnections, persist, spawnSession, forget } = ctx;

  const upsertPlayers = (list: PlayerRecord[], players: RegisterPlayer[]) => mergePlayers(list, players, () => counters.nextPlayerId++);

  /** A session this client may use, or undefined (absent and someone else's look the same). */
  function findSession(conn: LiveConnection, sessionId: number): SessionEntry | undefined {
    const e = sessions.get(sessionId);
    if (e && !mayUse(e.acl, conn.principal)) {
      stats.refused++;
      conn.log.info({ principal: conn.principal, sessionId }, 'playback session of another principal refused');
      return undefined;
    }
    return e;
  }

  /** A target naming someone else's zone or registration is refused as if it did not exist. */
  function targetRefusal(target: PlaybackTarget, principal: string | undefined): string | undefined {
    if (target.type === 'AUDIO_ZONE') {
      const z = zones.get(target.audioZoneId);
      if (z && !mayUse(z, principal)) return `no audio zone ${target.audioZoneId}`;
    } else if (target.type === 'CONNECTION_OUTPUT') {
      const c = registered.get(target.connectionId);
      if (c && !mayUse(c, principal)) return `no connection ${target.connectionId}`;
    }
    return ctx.playerRefusal(target, principal);
  }

  /** Sessions' ACLs, for counting what a principal owns. */
  function* sessionAcls(): Iterable<Acl> {
    for (const e of sessions.values()) yield e.acl;
  }

  /** JSON size of the playlists `owner` owns (undefined: nobody's share is counted). */
  function playlistsOf(owner: string | undefined): number {
    if (owner === undefined) return 0;
    let n = 0;
    for (const e of sessions.values()) if (e.acl.owner === owner) n += e.size;
    return n;
  }

  /** The live socket holding a connection id: its registration, or its own server-given id. */
  const holderOf = (connectionId: string) => [...live.values()].find((c) => c.registeredAs === connectionId || c.id === connectionId);

  /**
   * Room for one more registration of `who`: past its own cap, or the server's, forget the oldest
   * registration without a live socket (its own, for its cap); the reason when there is none.
   */
  function roomForRegistration(who: string | undefined): string | undefined {
    const mine = ownedBy(registered.values(), who) >= limits.connectionsPerPrincipal;
    if (!mine && registered.size < limits.connections) return undefined;
    const alive = aliveIds();
    for (const [id, rec] of registered) {
      if (!alive.has(id) && (!mine || rec.owner === who)) {
        registered.delete(id);
        return undefined;
      }
    }
    return mine ? `too many connections for one principal: limit of ${limits.connectionsPerPrincipal} reached` : `too many connections: limit of ${limits.connections} reached`;
  }

  /** SHARE_*: only the owner changes the list; others get NOT_FOUND or FORBIDDEN. */
  function shareFrom(conn: LiveConnection, acl: Acl | undefined, what: string, request: string, principals: string[], shared: ApiShared): boolean {
    if (!acl || !mayUse(acl, conn.principal)) {
      if (acl) stats.refused++;
      sendError(conn, 'NOT_FOUND', `no ${what}`, request);
      return false;
    }
    if (!mayShare(acl, conn.principal)) {
      const reason =
        conn.principal === undefined ? 'sharing needs authentication: with it off every client already shares everything' : `only the owner may share ${what}`;
      refuse(conn, 'FORBIDDEN', reason, request);
      return false;
    }
    setShares(acl, principals);
    sendTo(conn, { type: 'SHARED', payload: shared });
    persist();
    return true;
  }

  function handle(conn: LiveConnection, msg: InboundMessage): void {
    const who = conn.principal;
    switch (msg.type) {
      case 'PING':
        return;
      case 'GET_CONNECTION_ID':
        sendTo(conn, { type: 'CONNECTION_ID', connectionId: conn.id });
        sendText(conn, sessionsText(who));
        return;
      case 'GET_SESSIONS':
        sendText(conn, sessionsText(who));
        return;
      case 'CREATE_SESSION': {
        const p = msg.payload;
        if (sessions.size >= limits.sessions) return sendError(conn, 'LIMIT_EXCEEDED', `too many sessions: limit of ${limits.sessions} reached`, msg.type);
        if (ownedBy(sessionAcls(), who) >= limits.sessionsPerPrincipal) {
          return sendError(conn, 'LIMIT_EXCEEDED', `too many sessions for one principal: limit of ${limits.sessionsPerPrincipal} reached`, msg.type);
        }
        const target: PlaybackTarget | null = p.audioZoneId !== undefined ? { type: 'AUDIO_ZONE', audioZoneId: p.audioZoneId } : null;
        const refusal = target && targetRefusal(target, who);
        if (refusal) return refuse(conn, 'NOT_FOUND', refusal, msg.type);
        const sessionId = counters.nextSessionId;
        const playlist = { sessionPlaylistId: sessionId, tracks: p.playlist.tracks.map((trackId) => ({ trackId })) };
        const size = playlistSize(playlist);
        if (ctx.playlistTotal + size > limits.storedPlaylistSize) return sendError(conn, 'LIMIT_EXCEEDED', 'stored playlists are over their size limit', msg.type);
        if (who !== undefined && playlistsOf(who) + size > limits.storedPlaylistSizePerPrincipal) return sendError(conn, 'LIMIT_EXCEEDED', OWN_PLAYLISTS_OVER, msg.type);
        counters.nextSessionId++;
        spawnSession(sessionId, { input: { sessionId, name: p.name, target, playlist } }, aclFor(who), size);
        conn.log.debug({ sessionId }, 'session created');
        broadcastSessions();
        persist();
        return;
      }
      case 'UPDATE_SESSION': {
        const p = msg.payload;
        const e = findSession(conn, p.sessionId);
        if (!e) return sendError(conn, 'NOT_FOUND', `no session ${p.sessionId}`, msg.type);
        const current = e.actor.ref.getSnapshot().context.target;
        const refusal = sameTarget(current, p.playbackTarget) ? undefined : targetRefusal(p.playbackTarget, who);
        if (refusal) return refuse(conn, 'NOT_FOUND', refusal, msg.type);
        const size = p.playlist ? playlistSize(p.playlist) : e.size;
        if (ctx.playlistTotal - e.size + size > limits.storedPlaylistSize) return sendError(conn, 'LIMIT_EXCEEDED', 'stored playlists are over their size limit', msg.type);
        const owner = e.acl.owner;
        if (owner !== undefined && size > e.size && playlistsOf(owner) - e.size + size > limits.storedPlaylistSizePerPrincipal) {
          return sendError(conn, 'LIMIT_EXCEEDED', OWN_PLAYLISTS_OVER, msg.type);
        }
        e.actor.ref.send({ type: 'SESSION.UPDATE', patch: patchFromUpdate(p) });
        const snap = e.actor.ref.getSnapshot();
        if (snap.status !== 'active') return sendError(conn, 'INTERNAL', `session ${p.sessionId} failed`, msg.type);
        ctx.playlistTotal += size - e.size;
        e.size = size;
        if (p.seek !== undefined) ctx.seekPlayers(p.sessionId, p.seek);
        const text = encode({ type: 'SESSION_UPDATED', payload: toApiUpdate(p, snap) });
        fanOut(() => text, { except: conn.id, only: (c) => mayUse(e.acl, c.principal) });
        persist();
        return;
      }
      case 'DELETE_SESSION': {
        const { sessionId } = msg.payload;
        const e = findSession(conn, sessionId);
        if (!e) return sendError(conn, 'NOT_FOUND', `no session ${sessionId}`, msg.type);
        e.actor.ref.send({ type: 'SESSION.DELETE' });
        forget(sessionId, e.actor);
        broadcastSessions();
        persist();
        return;
      }
      case 'REGISTER_CONNECTION': {
        const p = msg.payload;
        // Always, authentication or not: a registration a live socket holds is that socket's.
        if (p.connectionId === ENGINE_CONNECTION_ID) return refuse(conn, 'CONFLICT', `connection id ${p.connectionId} is the engine's own`, msg.type);
        const holder = holderOf(p.connectionId);
        if (holder && holder !== conn) return refuse(conn, 'CONFLICT', `connection id ${p.connectionId} is held by another live connection`, msg.type);
        const prev = registered.get(p.connectionId);
        if (prev && !mayUse(prev, who)) return refuse(conn, 'CONFLICT', `connection id ${p.connectionId} is registered by another principal`, msg.type);
        const players = upsertPlayers(prev?.players ?? [], p.players);
        if (players.length > limits.playersPerConnection) return sendError(conn, 'LIMIT_EXCEEDED', `more than ${limits.playersPerConnection} players`, msg.type);
        const full = prev ? undefined : roomForRegistration(who);
        if (full) return sendError(conn, 'LIMIT_EXCEEDED', full, msg.type);
        registered.set(p.connectionId, { connectionId: p.connectionId, name: p.name, players, ...aclFields(prev ?? aclFor(who)) });
        conn.registeredAs = p.connectionId;
        broadcastConnections();
        persist();
        return;
      }
      case 'REGISTER_PLAYERS': {
        const rec = registered.get(conn.registeredAs ?? conn.id);
        if (!rec || !mayUse(rec, who)) return sendError(conn, 'NOT_FOUND', 'connection not registered: send REGISTER_CONNECTION first', msg.type);
        const players = upsertPlayers(rec.players, msg.payload);
        if (players.length > limits.playersPerConnection) return sendError(conn, 'LIMIT_EXCEEDED', `more than ${limits.playersPerConnection} players`, msg.type);
        rec.players = players;
        broadcastConnections();
        persist();
        return;
      }
      case 'CREATE_AUDIO_ZONE': {
        if (zones.size >= limits.audioZones) return sendError(conn, 'LIMIT_EXCEEDED', `too many audio zones: limit of ${limits.audioZones} reached`, msg.type);
        if (ownedBy(zones.values(), who) >= limits.audioZonesPerPrincipal) {
          return sendError(conn, 'LIMIT_EXCEEDED', `too many audio zones for one principal: limit of ${limits.audioZonesPerPrincipal} reached`, msg.type);
        }
        const id = counters.nextAudioZoneId++;
        zones.set(id, { id, name: msg.payload.name, players: [], ...aclFor(who) });
        broadcastSessions();
        broadcastConnections(conn.id);
        persist();
        return;
      }
      case 'SET_SEEK': {
        const e = sessions.get(msg.payload.sessionId);
        // Without authentication seeks are relayed as MoosicBox does, known session or not.
        if (who !== undefined && !findSession(conn, msg.payload.sessionId)) return sendError(conn, 'NOT_FOUND', `no session ${msg.payload.sessionId}`, msg.type);
        const text = encode({ type: 'SET_SEEK', payload: msg.payload });
        fanOut(() => text, { except: conn.id, ...(e ? { only: (c: LiveConnection) => mayUse(e.acl, c.principal) } : {}) });
        return;
      }
      case 'SHARE_SESSION': {
        const { sessionId, principals } = msg.payload;
        if (shareFrom(conn, sessions.get(sessionId)?.acl, `session ${sessionId}`, msg.type, principals, { kind: 'SESSION', sessionId, principals })) {
          broadcastSessions(conn.id);
        }
        return;
      }
      case 'SHARE_AUDIO_ZONE': {
        const { audioZoneId, principals } = msg.payload;
        shareFrom(conn, zones.get(audioZoneId), `audio zone ${audioZoneId}`, msg.type, principals, { kind: 'AUDIO_ZONE', audioZoneId, principals });
        return;
      }
      case 'SHARE_CONNECTION': {
        const { connectionId, principals } = msg.payload;
        if (shareFrom(conn, registered.get(connectionId), `connection ${connectionId}`, msg.type, principals, { kind: 'CONNECTION', connectionId, principals })) {
          broadcastConnections(conn.id);
        }
        return;
      }
    }
  }

  return handle;
}
