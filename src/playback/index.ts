export { createPlaybackRoutes, toApiSession, type PlaybackRoutes, type PlaybackRoutesOptions, type PlaybackPublishEvent } from './routes.js';
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
export { parseInbound, PlaybackWireError, inboundSchemas, type OutboundFrame, type InboundMessage, type PlaybackErrorCode } from './wire.js';
export type * from './wire.js';
