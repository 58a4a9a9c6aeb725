// Public API of callchart.
export { createEngine, Engine, type EngineOptions, type EngineEvents } from './engine.js';
export { METRICS_CONTENT_TYPE, type EngineMetricsOptions } from './metrics/engine-metrics.js';
export { DrainingError, type DrainOptions, type DrainStatus } from './drain/drain.js';
export type { Health } from './drain/routes.js';
export {
  Call,
  type CallWire,
  type IncomingCallDecision,
  type IncomingCallHook,
  type CallEvents,
  type CallInfo,
  type CallPlaySource,
  type CallPlayOptions,
  type CallRecordOptions,
  type CallMediaStats,
} from './call/call.js';
export { CallManager } from './call/manager.js';
export { Supervisor, LimitExceededError, type SupervisorOptions, type SpawnOptions, type SupervisedActor } from './actors/supervisor.js';
export { HttpServer, type WsRoute, type HttpRoute, type RouteParams, type ConnectionContext, type HttpSecurityOptions } from './http/server.js';
export { Authenticator, mintToken, signUrl, type AuthOptions, type AuthMethod, type Credential, type MintOptions, type RouteAuthPolicy } from './http/auth.js';
export type { ConnectionLimits, ConnectionStats } from './http/connection-guard.js';
export { demoApp, type DemoAppOptions } from './demo.js';
export { createLogger, silentLogger, type Logger, type LogLevel } from './logger.js';
export { installProcessGuard, ProcessGuard, type ProcessGuardOptions, type ProcessGuardMetrics, type ProcessGuardExitReason } from './process-guard.js';
export type { InspectOptions } from './inspect/index.js';
export { SipUserAgent, type SipAuthOptions, type OutboundCallOptions } from './sip/ua/user-agent.js';
export { SipWorkers, type SipWorkersOptions, type SipWorkerApp, type SipWorkerStats } from './sip/workers/router.js';
// Media plane: codecs and RTP sessions, and the media actors that play, record, bridge and mix.
export * from './media/index.js';
export { MediaServices, type MediaServicesOptions } from './media/call-media.js';
// Rooms and MoosicBox-compatible playback sessions.
export { createRoomsRoutes, counterService, RoomRuntime, type RoomsRoutes, type RoomsRoutesOptions } from './rooms/index.js';
export type { RoomService, RoomContext, RoomClient, RoomServiceFactory } from './rooms/index.js';
export { createPlaybackRoutes, createFileStore, createMemoryStore, type PlaybackRoutes, type PlaybackRoutesOptions, type PlaybackStore } from './playback/index.js';
export * from '../machines/index.js';
// jambonz application protocol: hook routes (ws.jambonz.org) and audio routes (audio.jambonz.org).
export * from './jambonz/index.js';
