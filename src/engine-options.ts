// The options createEngine() takes, its events and addresses: the engine's configuration surface.
import type { Logger } from 'pino';
import type { HttpRoute, HttpSecurityOptions, WsRoute } from './http/server.js';
import type { InboundCallOptions } from './inbound-call/route.js';
import type { LogLevel } from './logger.js';
import type { InspectOptions } from './inspect/index.js';
import type { Call, IncomingCallHook } from './call/call.js';
import type { SipAuthOptions } from './sip/ua/user-agent.js';
import type { SipSessionTimerOptions } from './sip/ua/session-timer.js';
import type { ReliableProvisionalMode } from './sip/ua/prack.js';
import type { RegistrarOptions } from './sip/registrar/registrar.js';
import type { DatagramFeed, SipTraceHook } from './sip/transport/udp.js';
import type { SipRateLimits } from './sip/transport/admission.js';
import type { SipStreamLimits, SipTlsOptions } from './sip/transport/stream.js';
import type { SipStreamRelay } from './sip/transport/relayed-stream.js';
import type { SipDnsResolver } from './sip/resolve/rfc3263.js';
import type { SipParseLimits } from './sip/codec/parse.js';
import type { SipTimerConfig } from '../machines/sipTimers.js';
import type { RtpLatchOptions } from './media/rtp/latch.js';
import type { JitterBufferOptions } from './media/jitter/jitter-buffer.js';
import type { RoomsRoutesOptions } from './rooms/index.js';
import type { PlaybackRoutesOptions } from './playback/index.js';
import type { AudioCodec, SrtpMode } from './sip/codec/sdp.js';
import type { JambonzHookOptions, JambonzAudioOptions } from './jambonz/index.js';
import type { JambonzAppOptions } from './jambonz/feature-server/index.js';
import type { EngineMetricsOptions } from './metrics/engine-metrics.js';
import type { MediaStreamRuntimeOptions } from './streams/runtime.js';
import type { ClusterOptions } from './cluster/member.js';

export interface EngineOptions {
  /** Address every listener binds (default 0.0.0.0). */
  host?: string;
  /**
   * WebSocket/HTTP port: 0 = an ephemeral port (read `engine.wsPort` after `listen()`). Default
   * `false`: no HTTP/WebSocket listener. An embedded engine binds only the ports it is given.
   */
  wsPort?: number | false;
  /** SIP UDP port: 0 = an ephemeral port (read `engine.sipPort`). Default `false`: no SIP. */
  sipPort?: number | false;
  /** RTP port range, e.g. `20000-29999`. */
  rtpPorts?: string;
  /** A pino logger; otherwise one is built at `logLevel` (default: silent when embedded). */
  logger?: Logger;
  logLevel?: LogLevel;
  /** Concurrent calls allowed; new calls beyond it are refused with a clear reason. */
  maxCalls?: number;
  /**
   * Keep V8's allocation-site pretenuring on. Default false: createEngine turns it off for the
   * whole process, because after a burst of set-ups it sends every audio frame's short-lived
   * objects to old space (docs/architecture.md, "Pretenuring"; measured there).
   */
  v8Pretenuring?: boolean;
  ringTimeoutMs?: number;
  maxCallDurationMs?: number;
  /** The application's decision for each inbound call (accept / reject / redirect / defer). */
  onIncomingCall?: IncomingCallHook;
  /**
   * The simple inbound-call WebSocket protocol (README: "The inbound-call WebSocket protocol") on
   * the WebSocket port at `path` (default `/`); `true` for the defaults. Default `false`: off.
   */
  inboundCall?: InboundCallOptions | boolean;
  /**
   * The statechart viewer: a page at http://127.0.0.1:8080/inspect (own HTTP server, loopback by
   * default) listing the watched actors live. `true` for the defaults. Off by default.
   */
  inspect?: InspectOptions | boolean;
  /** SIP options (the UDP port is `sipPort`). */
  sip?: {
    /** Challenge inbound INVITEs with digest authentication; its users may also REGISTER. */
    auth?: SipAuthOptions;
    /**
     * The registrar (README "Registering softphones"): REGISTERs from `auth.users` are accepted
     * when `auth` is set; expiry bounds and binding caps here. false: REGISTER gets 405.
     */
    registrar?: RegistrarOptions | false;
    /**
     * Inbound INVITEs being set up, ringing or waiting for their ACK, held at most (default 1000);
     * beyond it new INVITEs get 503 + Retry-After before anything is allocated for them.
     */
    maxPendingInvites?: number;
    /** Of those, at most this many from one source address (default half of maxPendingInvites). */
    maxPendingInvitesPerSource?: number;
    /** RFC 3261 timer base values (T1, T2, T4). */
    timers?: Partial<SipTimerConfig>;
    /** Hang up when no RTP arrives for this long (default 60 s; 0 = never). */
    rtpTimeoutMs?: number;
    /**
     * Strict RTP (docs/media.md): which source a call's RTP and RTCP are taken from. Default
     * `{ mode: 'probation' }`: the SDP address at once, other sources (callers behind NAT) after
     * 4 in-sequence packets; `strict` takes the SDP address only; `first` is the old
     * first-source-wins, open to RTP hijack (labs only). `natSources` (default `signalling`): a
     * NAT source must send from the SDP address's host or one the call's SIP came from; `any`
     * for peers whose media comes from a third host.
     */
    strictRtp?: RtpLatchOptions;
    /**
     * SRTP with SDES keys (RFC 3711, RFC 4568 a=crypto, AES_CM_128_HMAC_SHA1_80/_32). `off`
     * (default): plain RTP, RTP/SAVP offers get 488. `optional`: answer offers with a=crypto
     * (RTP/SAVP, or RTP/AVP best-effort), offer a=crypto on RTP/AVP. `required`: offers without
     * usable crypto get 488; outbound calls offer RTP/SAVP and end if the answer has no crypto.
     */
    srtp?: SrtpMode;
    /** Audio codecs offered/accepted, in preference order (default PCMU, PCMA). */
    codecs?: AudioCodec[];
    /**
     * Take inbound datagrams from this feed (a SIP router, see `SipWorkers`) instead of owning
     * the port: the socket is bound with SO_REUSEADDR beside the router's and only sends.
     */
    datagrams?: DatagramFeed;
    /**
     * Take SIP over TCP/TLS from this relay (a SIP router, see `SipWorkers`), which owns the
     * listening sockets and connections, for each kind it serves that `tcpPort`/`tlsPort` do
     * not already give this engine a socket of its own for.
     */
    streamRelay?: SipStreamRelay;
    /**
     * The secret the From tags of our INVITEs are signed with (at least 16 bytes; default 32
     * random bytes drawn at start), so a 2xx that comes after the call is forgotten is known as
     * ours and ended with a BYE. `SipWorkers` gives all its threads one.
     */
    tagSecret?: Uint8Array;
    /**
     * Only these sources may send SIP: CIDR blocks or addresses, IPv4 or IPv6 (e.g.
     * `['10.0.0.0/8', '192.0.2.7']`). Datagrams from elsewhere are dropped without an answer.
     * Default: everyone.
     */
    allow?: string[];
    /**
     * Per-source token buckets (src/sip/admission.ts DEFAULT_RATE_LIMITS: 200 INVITE/s, 50
     * REGISTER/s, 100 OPTIONS/s, 20 000 datagrams/s per source); over them a 503 + Retry-After,
     * then silence. false: none.
     */
    rateLimits?: Partial<SipRateLimits> | false;
    /** Parser caps (src/sip/parse.ts DEFAULT_PARSE_LIMITS); over them, 513. */
    parseLimits?: Partial<SipParseLimits>;
    /**
     * Called with every SIP datagram sent and received (direction, addresses, bytes): e.g.
     * sipTraceLogger(logger) for a log line each, or a HepExporter's hook for Homer.
     */
    trace?: SipTraceHook;
    /** SIP over TCP on this port beside UDP (0 = ephemeral: read `engine.sipTcpPort`). */
    tcpPort?: number;
    /** SIP over TLS on this port (needs `tls`; 0 = ephemeral: read `engine.sipTlsPort`). */
    tlsPort?: number;
    /** Certificate and key (PEM) for SIP over TLS; `ca`/`rejectUnauthorized` for connections we open. */
    tls?: SipTlsOptions;
    /** Limits on TCP/TLS connections (src/sip/transport/stream.ts DEFAULT_SIP_STREAM_LIMITS). */
    streamLimits?: Partial<SipStreamLimits>;
    /** DNS for RFC 3263 lookups of outbound call targets (default: node:dns's Resolver; tests inject one). */
    resolver?: SipDnsResolver;
    /**
     * Session timers (RFC 4028, docs/architecture.md "Session timers"). By default callchart says
     * `Supported: timer`, honours a caller's Session-Expires (422 below `minSE`, 90 s) and refreshes
     * or watches as agreed, but asks for none itself: `expires` (seconds) asks for one in the
     * INVITEs it sends and puts one in its 2xx when the caller asked for none. `minSE` below 90 is
     * for tests only. false: no session timers, not even `Supported: timer`.
     */
    sessionTimers?: SipSessionTimerOptions | false;
    /**
     * Reliable provisional responses (RFC 3262, 100rel/PRACK). 'supported' (default): callchart
     * says `Supported: 100rel`, sends its 18x reliably (RSeq, retransmitted until PRACK, the 2xx
     * after it) when an INVITE requires it, and PRACKs reliable 18x to its own INVITEs. 'required':
     * its INVITEs require 100rel, its 18x are reliable whenever the caller supports it, and an INVITE
     * that does not gets 421. 'off': no 100rel; an INVITE requiring it gets 420.
     */
    reliableProvisionals?: ReliableProvisionalMode;
    /**
     * Early media to a caller without 100rel (true, the default): `call.progress(183)` on an inbound
     * call whose INVITE had an offer sends the 183 unreliably with our SDP answer, media starts, and
     * the 2xx repeats the answer (what many gateways rely on). false: that 183 carries no SDP.
     */
    unreliableEarlyMedia?: boolean;
    /**
     * How `call.hold()`/`call.resume()` send their offer: 'INVITE' (default, a re-INVITE) or
     * 'UPDATE' (RFC 3311, an UPDATE with the SDP offer, answered in its 200) toward a peer whose
     * Allow names UPDATE; a peer that does not still gets a re-INVITE.
     */
    holdMethod?: 'INVITE' | 'UPDATE';
  };
  /** Media runtimes (playback, recording) used by `call.play()` / `call.record()`. */
  media?: {
    /** Longest a call recording may run (default 1 h). */
    maxRecordingMs?: number;
    /** Decoded WAV prompts kept in memory, in samples (default 4 M). */
    fileCacheSamples?: number;
    /**
     * The receive-side jitter buffer that bridges in PCM mode, conference rooms and recordings
     * listen through (docs/media.md "Jitter buffer"): depth bounds, or false for frames as they
     * arrive. Default on (20–200 ms, adaptive). Echo and pass-through relays never buffer.
     */
    jitterBuffer?: JitterBufferOptions | false;
  };
  /** Twilio-format media streams of calls to bots (`call.stream(url)`): connect and reconnect timing. */
  streams?: MediaStreamRuntimeOptions;
  /**
   * Rooms on `/rooms/:roomId` (one service instance per room id) and conference rooms of calls
   * (`engine.room(id)`); off unless given (`rooms: {}` for rooms without a service).
   */
  rooms?: Omit<RoomsRoutesOptions, 'supervisor' | 'logger' | 'media'> | false;
  /**
   * MoosicBox-compatible playback sessions on `/playback`; off unless given (`{}` = in-memory store).
   * With `cluster`, the space lives on one node at a time and its state in Redis: `store` is unused.
   */
  playback?: Omit<PlaybackRoutesOptions, 'supervisor' | 'logger'> | false;
  /**
   * jambonz application protocol defaults. Routes are added with `engine.jambonz.hook(path, fn)`
   * and `engine.jambonz.audio(path, fn)` (before or after `listen()`).
   */
  jambonz?: {
    /** Where audio routes write one WAV per call (default `<tmp>/callchart-recordings`). */
    recordingsDir?: string;
    hook?: JambonzHookOptions;
    audio?: JambonzAudioOptions;
  };
  /**
   * Be the jambonz feature-server for inbound SIP calls (docs/jambonz.md "Feature-server"): each
   * call opens `ws.jambonz.org` to the app (`url`, or an in-process `handler` served on this
   * engine's WebSocket port) and runs the verbs it sends. SIP calls then skip `onIncomingCall`.
   */
  jambonzApp?: JambonzAppOptions;
  /**
   * Prometheus metrics (docs/operations.md): `GET /metrics` on the WS/HTTP port and
   * `engine.metrics()`. On by default; false: neither.
   */
  metrics?: EngineMetricsOptions | false;
  /** A separate listener serving only /metrics and /health (0 = ephemeral; default false: none). */
  metricsPort?: number | false;
  /**
   * Bearer token for `POST /admin/drain` and `POST /admin/resume` (16+ characters). Without one
   * those routes do not exist (404).
   */
  adminToken?: string;
  /** Drain (docs/operations.md): Retry-After of the SIP 503s sent while draining (default 30 s). */
  drain?: { retryAfterS?: number };
  /**
   * Join a cluster coordinated through Redis (docs/scaling.md): the node registers its SIP and
   * WebSocket addresses with a TTL heartbeat once listening, publishes open/draining, and removes
   * itself on close. Redis being down degrades the node (GET /health says so); calls go on.
   * Rooms, the playback space and jambonz hook sessions are homed on one node each (leases).
   */
  cluster?: ClusterOptions;
  /** Extra WebSocket/HTTP routes on the WS port (protocol modules and embedders add theirs). */
  routes?: { ws?: WsRoute[]; http?: HttpRoute[] };
  /**
   * Hardening of the WebSocket/HTTP port: connection caps and handshake deadline (on by default),
   * an Origin allow-list, and `auth` (off by default) to require credentials on every route.
   */
  security?: HttpSecurityOptions;
}

export interface EngineEvents {
  call: [call: Call];
  listening: [];
  closed: [];
  /** drain() began: new inbound calls are refused. */
  draining: [];
  /** Draining and the last live call has ended. */
  idle: [];
}

/** `engine.addresses`: what the engine listens on (absent entries are off). */
export interface EngineAddresses {
  /** WebSocket/HTTP (TCP). */
  http?: { host: string; port: number };
  /** SIP over UDP. */
  sip?: { host: string; port: number };
  /** The statechart viewer's page. */
  inspect?: string;
}

export interface ResolvedEngineOptions {
  host: string;
  wsPort: number | false;
  sipPort: number | false;
  rtpPorts: string;
  maxCalls: number;
}
