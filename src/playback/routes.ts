// Playback sessions over WebSocket, wire-compatible with MoosicBox's `/ws` protocol.
//
// Each session is a playback-session actor under the supervisor. This module only translates:
// wire message -> validated event -> actor, then actor snapshot -> wire frame -> recipients.
// Where MoosicBox silently drops bad input, the sender gets a typed ERROR frame and stays connected.
//
// Hostile input is bounded at the edge (wire.ts) and nothing stored can take the process down:
// saves, snapshots and frame encoding are caught, logged and counted (`stats`). With
// authentication on, sessions, audio zones and connection registrations belong to the principal
// that created them (policy.ts); every answer and broadcast is cut to what its recipient may see.
// What each request does is in requests.ts; this file holds the state, sockets and persistence.
import { randomUuid } from '../random.js';
import { WebSocket, type RawData } from 'ws';
import { playbackSessionMachine, type PlaybackSessionMachine, type PlaybackTarget, type SessionPlaylist } from '../../machines/playbackSession.machine.js';
import { LimitExceededError } from '../actors/supervisor.js';
import { ActorRegistry } from '../actors/registry.js';
import type { WsRoute } from '../http/server.js';
import { DEFAULT_FRAME_RATES, RATE_LIMIT_CLOSE, TokenBucket } from '../http/rate-limit.js';
import { PlaybackWireError, parseInbound, patchFromUpdate, toApiUpdate, type InboundMessage, type OutboundFrame, type PlaybackErrorCode, type UpdateSessionPayload } from './wire.js';
import type { AudioZoneRecord, ConnectionRecord, PersistedSession, PlaybackState } from './store.js';
import { sanitizeState } from './persisted.js';
import { createRequestHandler, playlistSize, setShares, type SpawnInit } from './requests.js';
import { aclFields, defaultPlaybackLimits, mayUse, type Acl, type PlaybackLimits } from './policy.js';
import { audioZonesView, connectionsView, sendEach, sessionsView, type FanOutOptions, type ViewSource } from './views.js';
import type { LiveConnection, PlaybackRoutes, PlaybackRoutesOptions, PlaybackShareTarget, PlaybackStats, SessionActor, SessionEntry } from './types.js';
import { WS_CLOSE } from '../http/close-codes.js';
import { PlaybackPlayers } from './players.js';

export type { PlaybackPublishEvent, PlaybackRoutes, PlaybackRoutesOptions, PlaybackShareTarget, PlaybackStats } from './types.js';
export { toApiSession } from './wire.js';

/** What a session's actions reach through the registry: its entry, once it is live. */
interface SessionSlot {
  entry: SessionEntry | undefined;
}

const DEFAULT_TARGET: PlaybackTarget = { type: 'AUDIO_ZONE', audioZoneId: 0 };
let instances = 0;


const frameBytes = (data: RawData): number => (Array.isArray(data) ? data.reduce((n, b) => n + b.length, 0) : data.byteLength);

export function createPlaybackRoutes(opts: PlaybackRoutesOptions): PlaybackRoutes {
  const { supervisor, store } = opts;
  const routePath = opts.path ?? '/playback';
  const heartbeatMs = opts.heartbeatMs ?? 5_000;
  const silenceTimeoutMs = opts.silenceTimeoutMs ?? 10_000;
  if (!(heartbeatMs > 0) || !(silenceTimeoutMs > 0)) throw new TypeError('heartbeatMs and silenceTimeoutMs must be > 0');
  const defaults = DEFAULT_FRAME_RATES.playback;
  const rate = opts.rateLimit === false ? undefined : (opts.rateLimit ?? { messagesPerSecond: defaults.any.perSecond, burst: defaults.any.burst });
  const byteRate = opts.byteRate === false ? undefined : (opts.byteRate ?? { bytesPerSecond: defaults.bytes.perSecond, burst: defaults.bytes.burst });
  if (byteRate && !(byteRate.bytesPerSecond > 0 && byteRate.burst >= (opts.maxPayload ?? 1024 * 1024))) {
    throw new TypeError('playback.byteRate: bytesPerSecond must be > 0 and burst at least maxPayload (one frame must fit)');
  }
  const limits: PlaybackLimits = { ...defaultPlaybackLimits, ...opts.limits };
  const log = opts.logger.child({ component: 'playback' });
  const tag = `playback${++instances}`;
  const stats: PlaybackStats = { saveErrors: 0, snapshotErrors: 0, encodeErrors: 0, restoreErrors: 0, refused: 0 };

  // Provided once for every session (an ActorRegistry): the action finds its session's entry by
  // the actor's id. The slot is filled once the spawned actor is known to be live.
  const registry = new ActorRegistry<PlaybackSessionMachine, SessionSlot>(
    supervisor,
    (slotOf) =>
      playbackSessionMachine.provide({
        ...(opts.pauseTimeoutMs !== undefined ? { delays: { pauseTimeout: opts.pauseTimeoutMs } } : {}),
        actions: {
          // Runs inside the actor's timer: a failure here must not crash the session.
          notifyAutoStopped: ({ self, context }) => {
            try {
              const entry = slotOf(self.id)?.entry;
              const text = encode({
                type: 'SESSION_UPDATED',
                payload: { sessionId: context.sessionId, profile: context.profile ?? '', playbackTarget: context.target ?? DEFAULT_TARGET, stop: true, playing: false, seek: context.seek ?? 0 },
              });
              if (entry) fanOut(() => text, { only: (c) => mayUse(entry.acl, c.principal) });
              persist();
            } catch (err) {
              log.error({ err, sessionId: context.sessionId }, 'announcing an auto-stopped session failed');
            }
          },
        },
      }) as PlaybackSessionMachine,
  );

  const live = new Map<string, LiveConnection>();
  const sessions = new Map<number, SessionEntry>();
  const zones = new Map<number, AudioZoneRecord>();
  const registered = new Map<string, ConnectionRecord>();
  const counters = { nextSessionId: 1, nextAudioZoneId: 1, nextPlayerId: 1 };
  let playlistTotal = 0;
  let heartbeat: NodeJS.Timeout | undefined;
  let closed = false;
  let loaded = false;

  // ---- outbound ------------------------------------------------------------------------------

  /** A frame that cannot be encoded is logged and counted, and not sent. */
  function encode(frame: OutboundFrame): string | undefined {
    try {
      return JSON.stringify(frame);
    } catch (err) {
      stats.encodeErrors++;
      log.error({ err, frame: frame.type }, 'playback frame could not be encoded; not sent');
      return undefined;
    }
  }

  function sendText(conn: LiveConnection, text: string | undefined): void {
    if (text !== undefined && conn.ws.readyState === WebSocket.OPEN) conn.ws.send(text);
  }

  const sendTo = (conn: LiveConnection, frame: OutboundFrame) => sendText(conn, encode(frame));

  const fanOut = (build: (principal: string | undefined) => string | undefined, o: FanOutOptions = {}) => sendEach(live.values(), build, sendText, o);

  function sendError(conn: LiveConnection, code: PlaybackErrorCode, reason: string, request: string | null): void {
    sendTo(conn, { type: 'ERROR', payload: { code, reason, request } });
  }

  /** An ownership refusal: counted, and logged with who asked. */
  function refuse(conn: LiveConnection, code: PlaybackErrorCode, reason: string, request: string): void {
    stats.refused++;
    conn.log.info({ principal: conn.principal, request, reason }, 'playback request refused');
    sendError(conn, code, reason, request);
  }

  function snapshotFailed(sessionId: number, err: unknown): void {
    stats.snapshotErrors++;
    log.error({ err, sessionId }, 'playback session snapshot failed; left out');
  }

  const aliveIds = () => new Set([...live.values()].map((c) => c.registeredAs).filter((x): x is string => !!x));
  // Clients see the engine's own players (calls and rooms) as one more, always live, connection.
  const view: ViewSource = {
    sessions,
    zones,
    registered,
    engineConnection: (principal) => players.connection(principal),
    playerVisible: (playerId, principal) => players.visible(playerId, principal),
    alive: aliveIds,
    encode,
    snapshotFailed,
  };
  const sessionsText = (principal: string | undefined) => sessionsView(view, principal);
  const connectionsText = (principal: string | undefined) => connectionsView(view, principal);
  const audioZonesText = (principal: string | undefined) => audioZonesView(view, principal);

  const broadcastSessions = (except?: string) => fanOut(sessionsText, except !== undefined ? { except } : {});
  const broadcastConnections = (except?: string) => fanOut(connectionsText, except !== undefined ? { except } : {});

  // ---- the engine's players (calls and rooms) -----------------------------------------------

  const players = new PlaybackPlayers(
    {
      log,
      zones,
      nextPlayerId: () => counters.nextPlayerId++,
      createZone(name) {
        if (zones.size >= limits.audioZones) throw new LimitExceededError('audio zone', limits.audioZones);
        const zone: AudioZoneRecord = { id: counters.nextAudioZoneId++, name, players: [] };
        zones.set(zone.id, zone);
        return zone;
      },
      sessionSnapshots: () => [...sessions.values()].map((e) => e.actor.ref.getSnapshot()),
      sessionOwner: (sessionId) => sessions.get(sessionId)?.acl.owner,
      session: (sessionId) => sessions.get(sessionId)?.actor.ref.getSnapshot(),
      updateSession: (sessionId, patch) => updateAsPlayer(sessionId, patch),
      changed({ zones: zonesChanged }) {
        broadcastConnections();
        if (zonesChanged) broadcastSessions();
        persist();
      },
    },
    opts.tracks,
  );

  /** The engine, as the player of a session, moves it on (next track, end of playlist). */
  function updateAsPlayer(sessionId: number, patch: { position?: number; seek?: number; stop?: boolean }): void {
    const e = sessions.get(sessionId);
    const before = e?.actor.ref.getSnapshot().context;
    if (!e || !before?.target) return;
    const update: UpdateSessionPayload = { sessionId, profile: before.profile ?? '', playbackTarget: before.target, ...patch } as UpdateSessionPayload;
    e.actor.ref.send({ type: 'SESSION.UPDATE', patch: patchFromUpdate(update) });
    const snap = e.actor.ref.getSnapshot();
    if (snap.status !== 'active') return;
    const text = encode({ type: 'SESSION_UPDATED', payload: toApiUpdate(update, snap) });
    fanOut(() => text, { only: (c) => mayUse(e.acl, c.principal) });
    persist();
  }

  // ---- persistence ---------------------------------------------------------------------------

  let saveQueued = false;

  function snapshotState(): PlaybackState {
    const saved: PersistedSession[] = [];
    for (const [sessionId, e] of sessions) {
      try {
        e.lastPersisted = e.actor.ref.getPersistedSnapshot();
      } catch (err) {
        snapshotFailed(sessionId, err);
      }
      if (e.lastPersisted !== undefined) saved.push({ sessionId, snapshot: e.lastPersisted, ...aclFields(e.acl) });
    }
    const audioZones = [...zones.values()].map((z) => players.persistedZone(z));
    return { version: 1, ...counters, sessions: saved, audioZones, connections: [...registered.values()] };
  }

  function saveFailed(err: unknown): void {
    stats.saveErrors++;
    log.error({ err }, 'saving playback state failed');
  }

  /** Coalesce all changes of one tick into one save (the file store debounces writes further). */
  function persist(): void {
    if (!store || saveQueued || !loaded || closed) return;
    saveQueued = true;
    queueMicrotask(() => {
      saveQueued = false;
      try {
        store.save(snapshotState()).catch(saveFailed);
      } catch (err) {
        saveFailed(err);
      }
    });
  }

  // ---- sessions ------------------------------------------------------------------------------

  function spawnSession(sessionId: number, init: SpawnInit, acl: Acl, size: number): SessionEntry | undefined {
    let spawned: SessionActor | undefined;
    const slot: SessionSlot = { entry: undefined };
    const actor = (spawned = registry.spawn(slot, {
      kind: 'session',
      id: `${tag}:session:${sessionId}`,
      bindings: { sessionId },
      ...('input' in init ? { input: init.input } : { input: { sessionId, name: '' }, snapshot: init.snapshot }),
      // May run inside spawn() (an actor that fails at once), before `spawned` is set.
      onExit: () => spawned && forget(sessionId, spawned),
      onCrash: () => {
        if (closed) return;
        broadcastSessions();
        persist();
      },
    }));
    if (actor.ref.getSnapshot().status !== 'active') return undefined;
    // Every snapshot of the session drives the players it targets (players.ts).
    actor.ref.subscribe({
      next: (snap) => {
        try {
          players.sync(snap);
        } catch (err) {
          log.error({ err, sessionId }, 'driving playback players failed');
        }
      },
      error: () => {},
    });
    const entry: SessionEntry = { actor, acl, size };
    slot.entry = entry;
    sessions.set(sessionId, entry);
    playlistTotal += size;
    return entry;
  }

  function forget(sessionId: number, actor: SessionActor): void {
    const e = sessions.get(sessionId);
    if (e?.actor !== actor) return;
    sessions.delete(sessionId);
    playlistTotal -= e.size;
  }

  function restore(state: PlaybackState): void {
    Object.assign(counters, { nextSessionId: state.nextSessionId, nextAudioZoneId: state.nextAudioZoneId, nextPlayerId: state.nextPlayerId });
    for (const z of state.audioZones) zones.set(z.id, z);
    for (const c of state.connections) registered.set(c.connectionId, c);
    for (const s of state.sessions) {
      try {
        const snap = s.snapshot as { context: { playlist: SessionPlaylist } };
        const size = playlistSize(snap.context.playlist);
        if (playlistTotal + size > limits.storedPlaylistSize) throw new Error('stored playlists exceed limits.storedPlaylistSize');
        const e = spawnSession(s.sessionId, { snapshot: s.snapshot }, aclFields(s), size);
        // Timers are not part of a persisted snapshot: re-arm them.
        e?.actor.ref.send({ type: 'SESSION.RESTORED' });
      } catch (err) {
        stats.restoreErrors++;
        log.error({ err, sessionId: s.sessionId }, 'could not restore playback session; dropped');
      }
    }
    log.info({ sessions: sessions.size, audioZones: zones.size, connections: registered.size }, 'playback state restored');
  }

  // A corrupt or hostile data file never stops the start: what cannot be read is logged, counted
  // and skipped (a copy is kept by stores that can), the rest is restored.
  const ready = (async () => {
    if (!store) return;
    let raw: PlaybackState | undefined;
    try {
      raw = await store.load();
    } catch (err) {
      stats.restoreErrors++;
      log.error({ err }, 'playback state could not be loaded; starting empty');
      return;
    }
    if (raw === undefined || closed) return;
    try {
      const { state, problems } = sanitizeState(raw, limits);
      if (problems.length) {
        stats.restoreErrors += problems.length;
        const copy = await store.preserve?.().catch(() => undefined);
        log.error({ problems: problems.slice(0, 20), skipped: problems.length, copy }, 'stored playback entries refused; the rest is restored');
      }
      restore(state);
    } catch (err) {
      stats.restoreErrors++;
      log.error({ err }, 'playback state could not be restored; starting empty');
    }
  })().finally(() => {
    loaded = true;
  });

  const handle = createRequestHandler({
    limits,
    stats,
    live,
    sessions,
    zones,
    registered,
    counters,
    get playlistTotal() {
      return playlistTotal;
    },
    set playlistTotal(v) {
      playlistTotal = v;
    },
    aliveIds,
    encode,
    sendText,
    sendTo,
    sendError,
    refuse,
    fanOut,
    sessionsText,
    broadcastSessions,
    broadcastConnections,
    persist,
    spawnSession,
    forget,
    seekPlayers: (sessionId, seconds) => players.seek(sessionId, seconds),
    playerRefusal: (target, principal) => players.refusal(target, principal),
  });

  function onFrame(conn: LiveConnection, data: RawData, isBinary: boolean): void {
    conn.lastSeen = Date.now();
    if ((conn.bucket && !conn.bucket.take()) || (conn.bytes && !conn.bytes.take(frameBytes(data)))) {
      conn.log.warn('playback client exceeded rate limit');
      conn.ws.close(RATE_LIMIT_CLOSE.code, RATE_LIMIT_CLOSE.reason);
      return;
    }
    if (isBinary) return sendError(conn, 'INVALID_PAYLOAD', 'binary frames are not part of this protocol', null);
    const text = Buffer.isBuffer(data) ? data.toString('utf8') : Array.isArray(data) ? Buffer.concat(data).toString('utf8') : Buffer.from(data).toString('utf8');
    let msg: InboundMessage;
    try {
      msg = parseInbound(text);
    } catch (err) {
      if (err instanceof PlaybackWireError) {
        conn.log.debug({ code: err.code, reason: err.message }, 'rejected playback message');
        return sendError(conn, err.code, err.message, err.request);
      }
      throw err;
    }
    try {
      handle(conn, msg);
    } catch (err) {
      if (err instanceof LimitExceededError) return sendError(conn, 'LIMIT_EXCEEDED', err.message, msg.type);
      conn.log.error({ err, request: msg.type }, 'playback message failed');
      sendError(conn, 'INTERNAL', 'internal error', msg.type);
    }
  }

  // ---- heartbeat -----------------------------------------------------------------------------

  function tick(): void {
    const now = Date.now();
    for (const conn of live.values()) {
      if (now - conn.lastSeen > silenceTimeoutMs) {
        conn.log.info({ silentMs: now - conn.lastSeen }, 'dropping silent playback client');
        conn.ws.terminate();
      } else if (conn.ws.readyState === WebSocket.OPEN) {
        conn.ws.ping();
      }
    }
  }

  function ensureHeartbeat(): void {
    if (!heartbeat && live.size > 0) heartbeat = setInterval(tick, heartbeatMs);
    else if (heartbeat && live.size === 0) {
      clearInterval(heartbeat);
      heartbeat = undefined;
    }
  }

  // ---- connections ---------------------------------------------------------------------------

  function onConnection(ws: WebSocket, principal: string | undefined): void {
    if (closed) {
      ws.close(WS_CLOSE.goingAway, 'server shutting down');
      return;
    }
    const id = randomUuid();
    const conn: LiveConnection = {
      id,
      ws,
      principal,
      lastSeen: Date.now(),
      log: log.child({ connectionId: id }),
      ...(rate ? { bucket: new TokenBucket({ perSecond: rate.messagesPerSecond, burst: rate.burst }) } : {}),
      ...(byteRate ? { bytes: new TokenBucket({ perSecond: byteRate.bytesPerSecond, burst: byteRate.burst }) } : {}),
    };
    live.set(id, conn);
    ensureHeartbeat();
    conn.log.debug({ principal }, 'playback client connected');
    ws.on('pong', () => {
      conn.lastSeen = Date.now();
    });
    ws.on('message', (data, isBinary) => {
      const run = () => {
        if (!live.has(id)) return;
        try {
          onFrame(conn, data, isBinary);
        } catch (err) {
          conn.log.error({ err }, 'playback frame failed');
        }
      };
      // Until persisted sessions are back, frames wait (in order) rather than see an empty world.
      if (loaded) run();
      else void ready.then(run);
    });
    ws.on('close', () => {
      if (!live.delete(id)) return;
      ensureHeartbeat();
      conn.log.debug('playback client disconnected');
      if (!closed) broadcastConnections();
    });
  }

  const wsRoute: WsRoute = {
    name: 'playback',
    maxPayload: opts.maxPayload ?? 1024 * 1024,
    match: (url) => (url.pathname === routePath ? {} : null),
    onConnection: (ws, _req, _params, ctx) => onConnection(ws, ctx?.principal),
  };

  function share(target: PlaybackShareTarget, principals: string[]): boolean {
    const list = [...new Set(principals)];
    const acl = target.kind === 'SESSION' ? sessions.get(target.sessionId)?.acl : target.kind === 'AUDIO_ZONE' ? zones.get(target.audioZoneId) : registered.get(target.connectionId);
    if (!acl) return false;
    setShares(acl, list);
    if (target.kind === 'SESSION') broadcastSessions();
    if (target.kind === 'CONNECTION') broadcastConnections();
    persist();
    return true;
  }

  return {
    wsRoute,
    ready,
    stats,
    share,
    attach: (output, o) => players.attach(output, o),
    connections: () => [...live.keys()],
    publish(event) {
      switch (event.type) {
        case 'DOWNLOAD_EVENT':
        case 'SCAN_EVENT': {
          const text = encode({ type: event.type, payload: event.payload });
          return fanOut(() => text, event.except !== undefined ? { except: event.except } : {});
        }
        default: {
          const build = event.type === 'SESSIONS' ? sessionsText : event.type === 'CONNECTIONS' ? connectionsText : audioZonesText;
          if (event.to === undefined) return fanOut(build);
          const conn = live.get(event.to);
          if (!conn) return 0;
          sendText(conn, build(conn.principal));
          return 1;
        }
      }
    },
    async close() {
      if (closed) return;
      await ready;
      let state: PlaybackState | undefined;
      try {
        state = store ? snapshotState() : undefined;
      } catch (err) {
        saveFailed(err);
      }
      closed = true;
      players.close();
      if (heartbeat) clearInterval(heartbeat);
      heartbeat = undefined;
      for (const conn of live.values()) conn.ws.close(WS_CLOSE.goingAway, 'server shutting down');
      live.clear();
      if (store && state) await Promise.all([store.save(state), store.flush?.()]).catch(saveFailed);
      for (const e of [...sessions.values()]) supervisor.stop(e.actor.id);
      sessions.clear();
    },
  };
}
