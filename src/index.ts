// Public API of callchart: exactly the names README.md lists under "API" (test/unit/public-api.test.ts
// holds the two equal). Lower-level pieces live behind subpaths: `callchart/machines` (the
// statecharts) and `callchart/media` (codecs, RTP sessions, ports, playback/recording runtimes).
// Engine internals (CallManager, HttpServer, SipUserAgent, RoomRuntime…) are not exported.

// Engine
export { createEngine, Engine, type EngineOptions, type EngineEvents } from './engine.js';
export { Supervisor, LimitExceededError, type SupervisorOptions } from './actors/supervisor.js';
export type { InspectOptions } from './inspect/index.js';
export { demoApp, type DemoAppOptions, type DemoRegistrar } from './demo.js';
export { createLogger, silentLogger, type Logger, type LogLevel } from './logger.js';
export {
  installProcessGuard,
  ProcessGuard,
  type ProcessGuardOptions,
  type ProcessGuardMetrics,
  type ProcessGuardExitReason,
} from './process-guard.js';

// The call handle
export { METRICS_CONTENT_TYPE, type EngineMetricsOptions } from './metrics/engine-metrics.js';
export { DrainingError, type DrainOptions, type DrainStatus } from './drain/drain.js';
export type { Health } from './drain/routes.js';
export { ClusterStore, dispatcherList, type ClusterOptions, type ClusterHealth, type ClusterMemberState, type ClusterNodeRecord } from './cluster/index.js';
export type { ClusterNodeStatus } from '../machines/clusterMember.machine.js';
export {
  Call,
  type IncomingCallDecision,
  type IncomingCallHook,
  type CallEvents,
  type CallInfo,
  type CallPlaySource,
  type CallPlayOptions,
  type CallRecordOptions,
  type CallRecordChannels,
  type CallMediaStats,
  type CallTransferOptions,
  type CallSipHeader,
  type CallSipInvite,
  type CallSipRequestOptions,
  type CallSipResponse,
} from './call/call.js';
export type { CallEnd, CallEndReason, CallDirection, CallTransport, DtmfSource } from '../machines/call.machine.js';
export { CallUpdateError, type CallUpdateOptions, type CallUpdateResult } from './call/update.js';

// SIP
export type { SipAuthOptions, OutboundCallOptions } from './sip/ua/user-agent.js';
export type { SipSessionTimerOptions } from './sip/ua/session-timer.js';
export type { ReliableProvisionalMode } from './sip/ua/prack.js';
export { REFER_DECISION_MS, type ReferRequest } from './sip/ua/referee.js';
export type { OutboundBinding, RegistrarOptions, Registration, Registrations } from './sip/registrar/registrar.js';
export { RegistrationClient, type RegisterOptions, type RegistrationStateInfo, type RegistrationClientEvents } from './sip/registrar/client.js';
export { FlowFailedError, type ConnectOptions } from './sip/registrar/connect.js';
export { SipWorkers, type SipWorkersOptions, type SipWorkerApp, type SipWorkerStats } from './sip/workers/router.js';
export type { SipWorkersStreamOptions } from './sip/workers/stream-relay.js';
export type { SipRelayedStreamStats } from './sip/transport/relayed-stream.js';

// HTTP/WebSocket routes and their security
export type { WsRoute, HttpRoute, RouteParams, ConnectionContext, HttpSecurityOptions } from './http/server.js';
export { mintToken, signUrl, type AuthOptions, type AuthMethod, type Credential, type MintOptions, type RouteAuthPolicy } from './http/auth.js';
export type { ConnectionLimits, ConnectionStats } from './http/connection-guard.js';

// Media on calls
export type { MediaLeg, PayloadPath, AudioListener } from './media/leg.js';
export { startEcho, type Echo, type EchoMode, type EchoOptions } from './media/mixing/echo.js';
export { bridge, type Bridge, type BridgeOptions, type BridgeStats, type BridgeStopReason } from './media/mixing/bridge.js';
export { MixerRoom, type MixerOptions, type MixerLegStats, type MixerLegOptions, type MixerTalkOptions } from './media/mixing/mixer.js';
export type { MediaServices } from './media/call-media.js';
export type { PlaybackStream, PlaybackStreamEvents, PlayRequest, ItemFinished, PlaybackSource } from './media/runtimes/playback.js';
export type { RecordingHandle, RecordingEvents, RecordingOutput, RecordingStopReason } from './media/runtimes/recording.js';
export type { RtpSessionStats } from './media/rtp/session.js';
export type { WsLegStats } from './media/ws-leg.js';
export type { JitterBufferOptions, JitterBufferStats } from './media/jitter/jitter-buffer.js';
export { onLegAudio, type PlayoutPath } from './media/jitter/playout.js';
export type { StrictRtpMode } from './media/rtp/latch.js';
export { l16BEToPcm, pcmToL16BE, downsample16to8, upsample8to16 } from './media/codecs/g711.js';

// Voice bots: calls streamed in Twilio's Media Streams format (call.stream), and the bot side (engine.mediaStreams)
export type { CallStreamOptions, MediaStreamRuntimeOptions } from './streams/runtime.js';
export type { MediaStream, MediaStreamEvents, MediaStreamStats, MediaStreamSummary } from './streams/stream.js';
export type { MediaStreamsSession, MediaStreamsSessionEvents, MediaStreamsHandler, MediaStreamsRouteOptions } from './streams/route.js';
export type { StreamTrack, MediaTrack, StartInfo, MediaFormat } from './streams/protocol.js';
export type { MediaStreamFallback, MediaStreamEndReason } from '../machines/mediaStream.machine.js';

// Rooms and MoosicBox-compatible playback sessions
export { createRoomsRoutes, counterService, type RoomsRoutes, type RoomsRoutesOptions } from './rooms/index.js';
export type { RoomService, RoomContext, RoomClient, RoomServiceFactory } from './rooms/index.js';
export { Room, CONTROL_PREFIX } from './rooms/index.js';
export type { RoomJoin } from './cluster/room-cascade.js';
export type {
  RoomJoinOptions,
  RoomJoinLegOptions,
  RoomMemberInfo,
  RoomEvents,
  RoomLeaveReason,
  RoomMediaOptions,
  RoomEnd,
  RoomControlErrorCode,
} from './rooms/index.js';
export type { RoomMember, RoomMemberKind } from '../machines/room.machine.js';
export {
  createPlaybackRoutes,
  createFileStore,
  createMemoryStore,
  type PlaybackRoutes,
  type PlaybackRoutesOptions,
  type PlaybackStore,
  type PlaybackPlayer,
  type PlaybackPlayerOptions,
  type PlaybackPlayerOutput,
  type PlaybackTrackSource,
} from './playback/index.js';
export type { PlaybackQuality, PlaybackTarget } from '../machines/playbackSession.machine.js';

// jambonz: hook routes (ws.jambonz.org), audio routes (audio.jambonz.org), verbs and protocol types.
export type { JambonzService, JambonzServiceOptions } from './jambonz/index.js';
export type { JambonzHookHandler, JambonzHookOptions, JambonzSession } from './jambonz/hook-types.js';
export type { JambonzAudioHandler, JambonzAudioOptions, JambonzAudioStream } from './jambonz/audio-types.js';
export type { JambonzAppOptions, JambonzTtsProvider, JambonzSttProvider, JambonzSttOptions, JambonzSttEvents, JambonzSttSession, JambonzFeatureServer, CommandTtsOptions } from './jambonz/feature-server/index.js';
export { commandTts } from './jambonz/feature-server/index.js';
export { verbs, validateVerbs, isJambonzVerbName, JambonzVerbs, JambonzVerbError } from './jambonz/verbs.js';
export {
  JAMBONZ_WS_SUBPROTOCOL,
  JambonzAckTimeoutError,
  JambonzCommandError,
  type JambonzAck,
  type JambonzCommand,
  type JambonzInbound,
  type JambonzInboundType,
  type JambonzCallInfo,
  type JambonzCallStatus,
  type JambonzCallStatusMessage,
  type JambonzCommandName,
  type JambonzCommandData,
  type JambonzHookData,
  type JambonzSessionNewMessage,
  type JambonzVerbHookMessage,
  type JambonzInboundMessage,
  type JambonzOutboundMessage,
} from './jambonz/protocol.js';
export type { JambonzSessionEnd, JambonzSessionEndReason } from '../machines/jambonzSession.machine.js';
// Logs and SIP traces: the CLI's logger, the SIP trace hook and the HEP v3 exporter/codec.
export { createCliLogger, type LogFormat, type CliLoggerOptions } from './logging/format.js';
export { sipTraceLogger, combineTraceHooks } from './logging/sip-trace.js';
export { HepExporter, type HepExporterOptions, type HepExporterStats } from './logging/hep-exporter.js';
export { encodeHep3, decodeHep3, type HepMessage, type HepDecodeResult } from './logging/hep.js';
export type { SipTraceHook, SipTraceRecord } from './sip/transport/udp.js';
// SIP over TCP/TLS and RFC 3263 (EngineOptions.sip.tls, streamLimits, resolver).
export type { SipTlsOptions, SipStreamLimits } from './sip/transport/stream.js';
export type { SipDnsResolver } from './sip/resolve/rfc3263.js';

// Everything generated from the verb specifications: JambonzVerb, JambonzVerbName, the verb tables,
// and one Jambonz<Name>Verb / Jambonz<Name>Props type per verb and nested schema.
export * from './jambonz/verb-types.generated.js';
