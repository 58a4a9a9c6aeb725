// Playback sessions over WebSocket, wire-compatible with MoosicBox's `/ws` protocol.
//
// Each session is a playback-session actor under the supervisor. This module only translates:
// wire message -> validated event -> actor, then actor snapshot -> wire frame -> recipients.
// Where MoosicBox silently drops bad input, the sender gets a typed ERROR frame and stays connected.
import { randomUUID } from 'node:crypto';
import { WebSocket, type RawData } from 'ws';
import type { Logger } from 'pino';
import type { SnapshotFrom } from 'xstate';
import {
  playbackSessionMachine,
  type PlaybackSessionMachine,
  type PlaybackTarget,
} from '../../machines/playbackSession.machine.js';
import { LimitExceededError, type SupervisedActor, type Supervisor } from '../supervisor.js';
import type { WsRoute } from '../transport/http.js';
import { TokenBucket } from '../transport/rate-limit.js';
import {
  PlaybackWireError,
  parseInbound,
  patchFromUpdate,
  type ApiAudioZoneWithSession,
  type ApiConnection,
  type ApiSession,
  type ApiUpdateSession,
  type InboundMessage,
  type OutboundFrame,
  type PlaybackErrorCode,
  type RegisterPlayer,
  type UpdateSessionPayload,
} from './wire.js';
import {
  emptyPlaybackState,
  type AudioZoneRecord,
  type ConnectionRecord,
  type PlaybackState,
  type PlaybackStore,
  type PlayerRecord,
} from './store.js';

export interface PlaybackRoutesOptions {
  supervisor: Supervisor;
  logger: Logger;
  /** Where sessions, zones and connections persist (default: memory only, lost on restart). */
  store?: PlaybackStore;
  /** WebSocket ping interval (default 5 s). */
  heartbeatMs?: number;
  /** A client silent (no frame, no pong) this long is dropped (default 10 s). */
  silenceTimeoutMs?: number;
  /** Route path (default `/playback`). */
  path?: string;
  /** Paused sessions stop after this long (default 30 min). */
  pauseTimeoutMs?: number;
  maxPayload?: number;
  /** Per-connection frame rate; `false` disables it. */
  rateLimit?: { messagesPerSecond: number; burst: number } | false;
}

/** Events an app publishes to playback clients. */
export type PlaybackPublishEvent =
  | { type: 'DOWNLOAD_EVENT'; payload: unknown; except?: string }
  | { type: 'SCAN_EVENT'; payload: unknown; except?: string }
  | { type: 'AUDIO_ZONE_WITH_SESSIONS'; to?: string }
  | { type: 'SESSIONS'; to?: string }
  | { type: 'CONNECTIONS'; to?: string };

export interface PlaybackRoutes {
  wsRoute: WsRoute;
  /** Send an event to clients; returns how many connections it was sent to. */
  publish(event: PlaybackPublishEvent): number;
  /** Resolves once persisted state has been restored. */
  ready: Promise<void>;
  /** Live connection ids. */
  connections(): string[];
  close(): Promise<void>;
}

type SessionActor = SupervisedActor<PlaybackSessionMachine>;
type SessionSnapshot = SnapshotFrom<PlaybackSessionMachine>;

interface LiveConnection {
  id: string;
  ws: WebSocket;
  lastSeen: number;
  log: Logger;
  /** Connection id this socket registered with REGISTER_CONNECTION. */
  registeredAs?: string;
  bucket?: TokenBucket;
}

const DEFAULT_TARGET: PlaybackTarget = { type: 'AUDIO_ZONE', audioZoneId: 0 };
let instances = 0;

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
function toApiUpdate(p: UpdateSessionPayload, snap: SessionSnapshot): ApiUpdateSession {
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

export function createPlaybackRoutes(opts: PlaybackRoutesOptions): PlaybackRoutes {
  const { supervisor, store } = opts;
  const routePath = opts.path ?? '/playback';
  const heartbeatMs = opts.heartbeatMs ?? 5_000;
  const silenceTimeoutMs = opts.silenceTimeoutMs ?? 10_000;
  if (!(heartbeatMs > 0) || !(silenceTimeoutMs > 0)) throw new TypeError('heartbeatMs and silenceTimeoutMs must be > 0');
  const rate = opts.rateLimit === false ? undefined : (opts.rateLimit ?? { messagesPerSecond: 100, burst: 200 });
  const log = opts.logger.child({ component: 'playback' });
  const tag = `playback${++instances}`;

  const logic = (
    opts.pauseTimeoutMs !== undefined
      ? playbackSessionMachine.provide({ delays: { pauseTimeout: opts.pauseTimeoutMs } })
      : playbackSessionMachine
  ) as PlaybackSessionMachine;

  const live = new Map<string, LiveConnection>();
  const sessions = new Map<number, SessionActor>();
  const zones = new Map<number, AudioZoneRecord>();
  const registered = new Map<string, ConnectionRecord>();
  let counters = { nextSessionId: 1, nextAudioZoneId: 1, nextPlayerId: 1 };
  let heartbeat: NodeJS.Timeout | undefined;
  let closed = false;
  let loaded = false;

  // ---- outbound ------------------------------------------------------------------------------

  const encode = (frame: OutboundFrame) => JSON.stringify(frame);

  function sendRaw(conn: LiveConnection, text: string): void {
    if (conn.ws.readyState === WebSocket.OPEN) conn.ws.send(text);
  }

  function sendTo(conn: LiveConnection, frame: OutboundFrame): void {
    sendRaw(conn, encode(frame));
  }

  function sendAll(frame: OutboundFrame, exceptId?: string): number {
    const text = encode(frame);
    let n = 0;
    for (const conn of live.values()) {
      if (conn.id === exceptId) continue;
      sendRaw(conn, text);
      n++;
    }
    return n;
  }

  function sendError(conn: LiveConnection, code: PlaybackErrorCode, reason: string, request: string | null): void {
    sendTo(conn, { type: 'ERROR', payload: { code, reason, request } });
  }

  const sessionsFrame = (): OutboundFrame => ({
    type: 'SESSIONS',
    payload: [...sessions.values()]
      .sort((a, b) => a.ref.getSnapshot().context.sessionId - b.ref.getSnapshot().context.sessionId)
      .map((s) => toApiSession(s.ref.getSnapshot())),
  });

  const aliveIds = () => new Set([...live.values()].map((c) => c.registeredAs).filter((x): x is string => !!x));

  const connectionsFrame = (): OutboundFrame => {
    const alive = aliveIds();
    const payload: ApiConnection[] = [...registered.values()].map((c) => ({
      connectionId: c.connectionId,
      name: c.name,
      alive: alive.has(c.connectionId),
      players: c.players.map((p) => ({ ...p })),
    }));
    return { type: 'CONNECTIONS', payload };
  };

  const audioZonesFrame = (): OutboundFrame => {
    const payload: ApiAudioZoneWithSession[] = [];
    for (const s of sessions.values()) {
      const c = s.ref.getSnapshot().context;
      if (c.target?.type !== 'AUDIO_ZONE') continue;
      const zone = zones.get(c.target.audioZoneId);
      if (zone) payload.push({ id: zone.id, sessionId: c.sessionId, name: zone.name, players: zone.players.map((p) => ({ ...p })) });
    }
    return { type: 'AUDIO_ZONE_WITH_SESSIONS', payload };
  };

  // ---- persistence ---------------------------------------------------------------------------

  let saveQueued = false;

  function snapshotState(): PlaybackState {
    return {
      version: 1,
      ...counters,
      sessions: [...sessions.values()].map((s) => ({
        sessionId: s.ref.getSnapshot().context.sessionId,
        snapshot: s.ref.getPersistedSnapshot(),
      })),
      audioZones: [...zones.values()],
      connections: [...registered.values()],
    };
  }

  /** Coalesce all changes of one tick into one save (the file store debounces writes further). */
  function persist(): void {
    if (!store || saveQueued || !loaded) return;
    saveQueued = true;
    queueMicrotask(() => {
      saveQueued = false;
      store.save(snapshotState()).catch((err) => log.error({ err }, 'saving playback state failed'));
    });
  }

  // ---- sessions ------------------------------------------------------------------------------

  function spawnSession(sessionId: number, init: { input?: { sessionId: number; name: string; target?: PlaybackTarget | null; playlist?: { sessionPlaylistId: number; tracks: Array<Record<string, unknown>> } }; snapshot?: unknown }): SessionActor {
    let actor: SessionActor | undefined;
    const provided = logic.provide({
      actions: {
        notifyAutoStopped: ({ context }) => {
          sendAll({
            type: 'SESSION_UPDATED',
            payload: {
              sessionId: context.sessionId,
              profile: context.profile ?? '',
              playbackTarget: context.target ?? DEFAULT_TARGET,
              stop: true,
              playing: false,
              seek: context.seek ?? 0,
            },
          });
          persist();
        },
      },
    }) as PlaybackSessionMachine;
    actor = supervisor.spawn(provided, {
      kind: 'session',
      id: `${tag}:session:${sessionId}`,
      bindings: { sessionId },
      input: init.input ?? { sessionId, name: '' },
      ...(init.snapshot !== undefined ? { snapshot: init.snapshot } : {}),
      onExit: () => {
        if (sessions.get(sessionId) === actor) sessions.delete(sessionId);
      },
      onCrash: () => {
        if (!closed) {
          sendAll(sessionsFrame());
          persist();
        }
      },
    });
    if (actor.ref.getSnapshot().status === 'active') sessions.set(sessionId, actor);
    return actor;
  }

  function restore(state: PlaybackState): void {
    counters = { nextSessionId: state.nextSessionId, nextAudioZoneId: state.nextAudioZoneId, nextPlayerId: state.nextPlayerId };
    for (const z of state.audioZones) zones.set(z.id, z);
    for (const c of state.connections) registered.set(c.connectionId, c);
    for (const s of state.sessions) {
      try {
        const actor = spawnSession(s.sessionId, { snapshot: s.snapshot });
        // Timers are not part of a persisted snapshot: re-arm them.
        actor.ref.send({ type: 'SESSION.RESTORED' });
      } catch (err) {
        log.error({ err, sessionId: s.sessionId }, 'could not restore playback session; dropped');
      }
    }
    log.info({ sessions: sessions.size, audioZones: zones.size, connections: registered.size }, 'playback state restored');
  }

  const ready = (async () => {
    if (!store) return;
    try {
      const state = await store.load();
      if (state && !closed) restore(state);
    } catch (err) {
      log.error({ err }, 'playback state could not be loaded; starting empty');
    }
  })().finally(() => {
    loaded = true;
  });

  // ---- inbound -------------------------------------------------------------------------------

  function upsertPlayers(list: PlayerRecord[], players: RegisterPlayer[]): PlayerRecord[] {
    const out = [...list];
    for (const p of players) {
      const existing = out.find((x) => x.audioOutputId === p.audioOutputId);
      if (existing) existing.name = p.name;
      else out.push({ playerId: counters.nextPlayerId++, audioOutputId: p.audioOutputId, name: p.name, playing: false });
    }
    return out;
  }

  function handle(conn: LiveConnection, msg: InboundMessage): void {
    switch (msg.type) {
      case 'PING':
        return;
      case 'GET_CONNECTION_ID':
        sendTo(conn, { type: 'CONNECTION_ID', connectionId: conn.id });
        sendTo(conn, sessionsFrame());
        return;
      case 'GET_SESSIONS':
        sendTo(conn, sessionsFrame());
        return;
      case 'CREATE_SESSION': {
        const p = msg.payload;
        const sessionId = counters.nextSessionId++;
        spawnSession(sessionId, {
          input: {
            sessionId,
            name: p.name,
            target: p.audioZoneId !== undefined ? { type: 'AUDIO_ZONE', audioZoneId: p.audioZoneId } : null,
            playlist: { sessionPlaylistId: sessionId, tracks: p.playlist.tracks.map((trackId) => ({ trackId })) },
          },
        });
        conn.log.debug({ sessionId }, 'session created');
        sendAll(sessionsFrame());
        persist();
        return;
      }
      case 'UPDATE_SESSION': {
        const p = msg.payload;
        const actor = sessions.get(p.sessionId);
        if (!actor) return sendError(conn, 'NOT_FOUND', `no session ${p.sessionId}`, msg.type);
        actor.ref.send({ type: 'SESSION.UPDATE', patch: patchFromUpdate(p) });
        const snap = actor.ref.getSnapshot();
        if (snap.status !== 'active') return sendError(conn, 'INTERNAL', `session ${p.sessionId} failed`, msg.type);
        sendAll({ type: 'SESSION_UPDATED', payload: toApiUpdate(p, snap) }, conn.id);
        persist();
        return;
      }
      case 'DELETE_SESSION': {
        const actor = sessions.get(msg.payload.sessionId);
        if (!actor) return sendError(conn, 'NOT_FOUND', `no session ${msg.payload.sessionId}`, msg.type);
        actor.ref.send({ type: 'SESSION.DELETE' });
        sessions.delete(msg.payload.sessionId);
        sendAll(sessionsFrame());
        persist();
        return;
      }
      case 'REGISTER_CONNECTION': {
        const p = msg.payload;
        const prev = registered.get(p.connectionId);
        registered.set(p.connectionId, {
          connectionId: p.connectionId,
          name: p.name,
          players: upsertPlayers(prev?.players ?? [], p.players),
        });
        conn.registeredAs = p.connectionId;
        sendAll(connectionsFrame());
        persist();
        return;
      }
      case 'REGISTER_PLAYERS': {
        const rec = registered.get(conn.registeredAs ?? conn.id);
        if (!rec) return sendError(conn, 'NOT_FOUND', 'connection not registered: send REGISTER_CONNECTION first', msg.type);
        rec.players = upsertPlayers(rec.players, msg.payload);
        sendAll(connectionsFrame());
        persist();
        return;
      }
      case 'CREATE_AUDIO_ZONE': {
        const id = counters.nextAudioZoneId++;
        zones.set(id, { id, name: msg.payload.name, players: [] });
        sendAll(sessionsFrame());
        sendAll(connectionsFrame(), conn.id);
        persist();
        return;
      }
      case 'SET_SEEK':
        sendAll({ type: 'SET_SEEK', payload: msg.payload }, conn.id);
        return;
    }
  }

  function onFrame(conn: LiveConnection, data: RawData, isBinary: boolean): void {
    conn.lastSeen = Date.now();
    if (conn.bucket && !conn.bucket.take()) {
      conn.log.warn('playback client exceeded rate limit');
      conn.ws.close(1008, 'rate limit');
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

  function onConnection(ws: WebSocket): void {
    if (closed) {
      ws.close(1001, 'server shutting down');
      return;
    }
    const id = randomUUID();
    const conn: LiveConnection = {
      id,
      ws,
      lastSeen: Date.now(),
      log: log.child({ connectionId: id }),
      ...(rate ? { bucket: new TokenBucket({ perSecond: rate.messagesPerSecond, burst: rate.burst }) } : {}),
    };
    live.set(id, conn);
    ensureHeartbeat();
    conn.log.debug('playback client connected');
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
      if (!closed) sendAll(connectionsFrame());
    });
  }

  const wsRoute: WsRoute = {
    name: 'playback',
    maxPayload: opts.maxPayload ?? 1024 * 1024,
    match: (url) => (url.pathname === routePath ? {} : null),
    onConnection: (ws) => onConnection(ws),
  };

  return {
    wsRoute,
    ready,
    connections: () => [...live.keys()],
    publish(event) {
      switch (event.type) {
        case 'DOWNLOAD_EVENT':
        case 'SCAN_EVENT':
          return sendAll({ type: event.type, payload: event.payload }, event.except);
        default: {
          const frame = event.type === 'SESSIONS' ? sessionsFrame() : event.type === 'CONNECTIONS' ? connectionsFrame() : audioZonesFrame();
          if (event.to === undefined) return sendAll(frame);
          const conn = live.get(event.to);
          if (!conn) return 0;
          sendTo(conn, frame);
          return 1;
        }
      }
    },
    async close() {
      if (closed) return;
      await ready;
      const state = store ? snapshotState() : undefined;
      closed = true;
      if (heartbeat) clearInterval(heartbeat);
      heartbeat = undefined;
      for (const conn of live.values()) conn.ws.close(1001, 'server shutting down');
      live.clear();
      if (store && state) {
        await store.save(state).catch((err) => log.error({ err }, 'saving playback state failed'));
        await store.flush?.();
      }
      for (const actor of [...sessions.values()]) supervisor.stop(actor.id);
      sessions.clear();
    },
  };
}
