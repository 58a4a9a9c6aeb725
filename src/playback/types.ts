// The playback routes' public surface (options, stats, the routes object) and the records the
// adapter keeps per session and per socket.
import type { WebSocket } from 'ws';
import type { Logger } from 'pino';
import type { PlaybackSessionMachine } from '../../machines/playbackSession.machine.js';
import type { SupervisedActor, Supervisor } from '../actors/supervisor.js';
import type { WsRoute } from '../http/server.js';
import type { TokenBucket } from '../http/rate-limit.js';
import type { PlaybackStore } from './store.js';
import type { Acl, PlaybackLimits } from './policy.js';
import type { PlaybackPlayer, PlaybackPlayerOptions, PlaybackPlayerOutput, PlaybackTrackSource } from './players.js';

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
  /** Per-connection frame rate (default 100/s, burst 200); `false` disables it. */
  rateLimit?: { messagesPerSecond: number; burst: number } | false;
  /** Per-connection bytes of text frames (default 1 MiB/s, burst 4 MiB); `false` disables it. */
  byteRate?: { bytesPerSecond: number; burst: number } | false;
  /** Caps on what the server keeps (sessions, zones, registrations, playlist size); see policy.ts. */
  limits?: Partial<PlaybackLimits>;
  /** Where the engine's players (calls, rooms) find a track's WAV file (docs/playback.md). */
  tracks?: PlaybackTrackSource;
}

/** Events an app publishes to playback clients. */
export type PlaybackPublishEvent =
  | { type: 'DOWNLOAD_EVENT'; payload: unknown; except?: string }
  | { type: 'SCAN_EVENT'; payload: unknown; except?: string }
  | { type: 'AUDIO_ZONE_WITH_SESSIONS'; to?: string }
  | { type: 'SESSIONS'; to?: string }
  | { type: 'CONNECTIONS'; to?: string };

/** A record to share through the engine API (the SHARE_* frames' targets). */
export type PlaybackShareTarget =
  | { kind: 'SESSION'; sessionId: number }
  | { kind: 'AUDIO_ZONE'; audioZoneId: number }
  | { kind: 'CONNECTION'; connectionId: string };

/** Failures that were contained (logged, counted) instead of reaching a client or the process. */
export interface PlaybackStats {
  /** Saves that failed: the state could not be built or the store could not write it. */
  saveErrors: number;
  /** Session snapshots that could not be taken or encoded (left out of a save or an answer). */
  snapshotErrors: number;
  /** Outbound frames that could not be encoded (not sent). */
  encodeErrors: number;
  /** Stored entries refused on start (an unreadable file counts once). */
  restoreErrors: number;
  /** Requests refused by ownership: someone else's record, or a connection id a live socket holds. */
  refused: number;
}

export interface PlaybackRoutes {
  wsRoute: WsRoute;
  /** Send an event to clients; returns how many connections it was sent to. */
  publish(event: PlaybackPublishEvent): number;
  /**
   * Set who else may use a record (replaces its list; `*` = every authenticated principal), as its
   * owner's SHARE_* frame would. Returns false when there is no such record.
   */
  share(target: PlaybackShareTarget, principals: string[]): boolean;
  /** Resolves once persisted state has been restored. */
  ready: Promise<void>;
  /**
   * Register a call or room as a player of the engine's connection (`engine.attachPlayer()` builds
   * the output): sessions that target it play their tracks into it.
   */
  attach(output: PlaybackPlayerOutput, opts?: PlaybackPlayerOptions): PlaybackPlayer;
  /** Live connection ids. */
  connections(): string[];
  readonly stats: Readonly<PlaybackStats>;
  close(): Promise<void>;
}

export type SessionActor = SupervisedActor<PlaybackSessionMachine>;

export interface SessionEntry {
  actor: SessionActor;
  acl: Acl;
  /** JSON size of the playlist's tracks, counted against `limits.storedPlaylistSize`. */
  size: number;
  /** The last snapshot that persisted cleanly: saved again if a later one cannot be taken. */
  lastPersisted?: unknown;
}

export interface LiveConnection {
  id: string;
  ws: WebSocket;
  /** Authenticated principal; undefined while authentication is off. */
  principal: string | undefined;
  lastSeen: number;
  log: Logger;
  /** Connection id this socket registered with REGISTER_CONNECTION. */
  registeredAs?: string;
  bucket?: TokenBucket;
  /** Bytes of frames, against one client flooding large playlists at the allowed frame rate. */
  bytes?: TokenBucket;
}
