// Who may use a playback record, and how much a server keeps. The HTTP layer authenticates a
// socket and hands its principal over (ConnectionContext); this file only decides.
//
// With authentication off every socket has principal undefined and sees and drives everything, as
// MoosicBox does: its remote control works by every client of one server sharing sessions.
import type { PlayerRecord } from './store.js';

/** Who owns a session, audio zone or connection registration, and who else may use it. */
export interface Acl {
  /** The principal that created it; undefined when it was created while authentication was off. */
  owner?: string;
  /** Principals the owner shared it with; `*` = every authenticated principal. */
  sharedWith?: string[];
}

export const EVERYONE = '*';

/**
 * May this principal see and drive the record? Authentication off (principal undefined) and records
 * created while it was off (no owner) keep today's shared behaviour.
 */
export function mayUse(acl: Acl, principal: string | undefined): boolean {
  if (principal === undefined || acl.owner === undefined || acl.owner === principal) return true;
  return acl.sharedWith?.some((p) => p === principal || p === EVERYONE) ?? false;
}

/** Only an authenticated owner changes who a record is shared with. */
export function mayShare(acl: Acl, principal: string | undefined): boolean {
  return principal !== undefined && acl.owner === principal;
}

/** The ACL of a record created now by `principal`. */
export function aclFor(principal: string | undefined): Acl {
  return principal === undefined ? {} : { owner: principal };
}

/** ACL fields to persist beside a record (none when unowned and unshared). */
export function aclFields(acl: Acl): Acl {
  return {
    ...(acl.owner !== undefined ? { owner: acl.owner } : {}),
    ...(acl.sharedWith?.length ? { sharedWith: [...acl.sharedWith] } : {}),
  };
}

/**
 * Players after a REGISTER_CONNECTION / REGISTER_PLAYERS, as new objects so nothing changes until
 * the caller has checked the result against the limits. Known outputs are renamed, new ones numbered.
 */
export function mergePlayers(list: readonly PlayerRecord[], players: ReadonlyArray<{ audioOutputId: string; name: string }>, nextId: () => number): PlayerRecord[] {
  const out = list.map((p) => ({ ...p }));
  for (const p of players) {
    const existing = out.find((x) => x.audioOutputId === p.audioOutputId);
    if (existing) existing.name = p.name;
    else out.push({ playerId: nextId(), audioOutputId: p.audioOutputId, name: p.name, playing: false });
  }
  return out;
}

/** Caps on what one server keeps; a request past one gets LIMIT_EXCEEDED. */
export interface PlaybackLimits {
  /** Live sessions (default 1 000). */
  sessions: number;
  /** Audio zones (default 1 000). */
  audioZones: number;
  /**
   * Registered connections kept (default 1 000). Registrations outlive their socket; past the cap
   * the oldest one without a live socket is forgotten, and only when all are live is one refused.
   */
  connections: number;
  /** Players on one registered connection (default 64). */
  playersPerConnection: number;
  /** JSON size of every session's playlist together, in characters (default 64 Mi). */
  storedPlaylistSize: number;
  /**
   * With authentication on, what one principal may own of the above, so that one client (or one
   * leaked token) cannot fill a cap for everyone: sessions (default 100), audio zones (default
   * 100), registered connections (default 100; its oldest without a live socket makes room) and
   * playlist characters (default 8 Mi). A shared user's playlist edits count against the owner.
   */
  sessionsPerPrincipal: number;
  audioZonesPerPrincipal: number;
  connectionsPerPrincipal: number;
  storedPlaylistSizePerPrincipal: number;
}

export const defaultPlaybackLimits: PlaybackLimits = {
  sessions: 1_000,
  audioZones: 1_000,
  connections: 1_000,
  playersPerConnection: 64,
  storedPlaylistSize: 64 * 1024 * 1024,
  sessionsPerPrincipal: 100,
  audioZonesPerPrincipal: 100,
  connectionsPerPrincipal: 100,
  storedPlaylistSizePerPrincipal: 8 * 1024 * 1024,
};

/** How many of `records` `principal` owns (authentication off: nobody owns anything). */
export function ownedBy(records: Iterable<Acl>, principal: string | undefined): number {
  if (principal === undefined) return 0;
  let n = 0;
  for (const r of records) if (r.owner === principal) n++;
  return n;
}
