export {
  createPlaybackRoutes,
  type PlaybackRoutes,
  type PlaybackRoutesOptions,
  type PlaybackPublishEvent,
  type PlaybackShareTarget,
  type PlaybackStats,
} from './routes.js';
export { defaultPlaybackLimits, mayUse, type Acl, type PlaybackLimits } from './policy.js';
export { checkJson, type JsonBounds, type JsonCheck } from './bounded-json.js';
export { sanitizeState } from './persisted.js';
export {
  createFileStore,
  createMemoryStore,
  emptyPlaybackState,
  PlaybackStoreError,
  type PlaybackStore,
  type PlaybackState,
  type FileStoreOptions,
  type AudioZoneRecord,
  type ConnectionRecord,
  type PlayerRecord,
  type PersistedSession,
} from './store.js';
export {
  parseInbound,
  PlaybackWireError,
  inboundSchemas,
  toApiSession,
  TRACK_BOUNDS,
  PLAYLIST_LIMITS,
  type OutboundFrame,
  type InboundMessage,
  type PlaybackErrorCode,
} from './wire.js';
export type * from './wire.js';
export {
  ENGINE_CONNECTION_ID,
  type PlaybackPlayer,
  type PlaybackPlayerOptions,
  type PlaybackPlayerOutput,
  type PlaybackTrackSource,
} from './players.js';
