// Public API of callchart.
export { createEngine, Engine, type EngineOptions, type EngineEvents } from './engine.js';
export { Call, type CallWire, type IncomingCallDecision, type IncomingCallHook, type CallEvents, type CallInfo } from './call.js';
export { CallManager } from './calls.js';
export { Supervisor, LimitExceededError, type SupervisorOptions, type SpawnOptions, type SupervisedActor } from './supervisor.js';
export { HttpServer, type WsRoute, type HttpRoute, type RouteParams } from './transport/http.js';
export { demoApp, type DemoAppOptions } from './demo.js';
export { createLogger, silentLogger, type Logger, type LogLevel } from './logger.js';
export type { InspectOptions } from './inspect.js';
export { SipUserAgent, type SipAuthOptions, type OutboundCallOptions } from './sip/ua.js';
export * from '../machines/index.js';
