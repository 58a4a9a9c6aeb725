// createEngine(): the embedding API. One engine = one supervisor, one HTTP/WebSocket server carrying
// every WebSocket protocol, and (as they land) the SIP and RTP transports.
import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import { Supervisor } from './actors/supervisor.js';
import { CallManager } from './call/manager.js';
import { HttpServer } from './http/server.js';
import type { Authenticator } from './http/auth.js';
import { createInboundCallRoute } from './inbound-call/route.js';
import { createLogger, silentLogger } from './logger.js';
import { startInspector, type InspectOptions, type InspectorHandle } from './inspect/index.js';
import type { Call } from './call/call.js';
import type { SipUserAgent, OutboundCallOptions } from './sip/ua/user-agent.js';
import { createSipUserAgent } from './engine-sip.js';
import type { Registration, Registrations } from './sip/registrar/registrar.js';
import type { RegisterOptions, RegistrationClient } from './sip/registrar/client.js';
import { connectCall, type ConnectOptions } from './sip/registrar/connect.js';
import { PortAllocator } from './media/rtp/ports.js';
import { createRoomsRoutes, Room, type RoomsRoutes } from './rooms/index.js';
import { createPlaybackRoutes, type PlaybackPlayer, type PlaybackPlayerOptions, type PlaybackRoutes } from './playback/index.js';
import { callPlayerOutput, roomPlayerOutput } from './playback/outputs.js';
import { defaultCallDelays } from '../machines/call.machine.js';
import { MediaServices, bridgeCalls } from './media/call-media.js';
import type { Bridge, BridgeOptions } from './media/mixing/bridge.js';
import os from 'node:os';
import path from 'node:path';
import { JambonzService } from './jambonz/index.js';
import { JambonzFeatureServer, type JambonzAppOptions } from './jambonz/feature-server/index.js';
import { EngineMetrics } from './metrics/engine-metrics.js';
import { MetricsServer, metricsHandler, route } from './metrics/server.js';
import type { Registry } from 'prom-client';
import { EngineDrain, type DrainOptions, type DrainStatus } from './drain/drain.js';
import { adminHandler, health, healthHandler, type Health } from './drain/routes.js';
import type { EnginePeers } from './drain/peers.js';
import { MediaStreamRuntime, registerMediaStreams } from './streams/runtime.js';
import { createMediaStreamsRoute, type MediaStreamsHandler, type MediaStreamsRouteOptions } from './streams/route.js';
import { ClusterMember } from './cluster/member.js';
import { HomeService } from './cluster/home.js';
import { createHomedPlayback } from './cluster/playback-home.js';
import { createRoomStateStore } from './cluster/room-store.js';
import { RoomCascade, localJoin, type RoomJoin } from './cluster/room-cascade.js';
import type { RoomJoinOptions } from './rooms/types.js';
import type { EngineAddresses, EngineEvents, EngineOptions, ResolvedEngineOptions } from './engine-options.js';
import { disablePretenuring } from './v8-pretenuring.js';
export type { EngineAddresses, EngineEvents, EngineOptions, ResolvedEngineOptions } from './engine-options.js';

export class Engine extends EventEmitter<EngineEvents> {
  readonly logger: Logger;
  readonly supervisor: Supervisor;
  readonly calls: CallManager;
  readonly http: HttpServer;
  readonly options: ResolvedEngineOptions;
  /** The SIP user agent (undefined when sipPort is false). */
  readonly sip: SipUserAgent | undefined;
  /** RTP port allocator over `rtpPorts`. */
  readonly ports: PortAllocator;
  /** Rooms service (when enabled). */
  readonly rooms: RoomsRoutes | undefined;
  /** Playback sessions service (when enabled). */
  readonly playback: PlaybackRoutes | undefined;
  /** jambonz application protocol: `jambonz.hook(path, handler)`, `jambonz.audio(path, handler)`. */
  readonly jambonz: JambonzService;
  /** The jambonz feature-server role (with `jambonzApp`): live sessions in `featureServer.size`. */
  readonly featureServer: JambonzFeatureServer | undefined;
  /** Media runtimes for calls: `media.playback` (PlaybackRuntime), `media.recording` (RecordingRuntime). */
  readonly media: MediaServices;
  /** Media streams of calls to bots (`call.stream(url)`). */
  readonly streams: MediaStreamRuntime;
  /** Credentials of the WebSocket/HTTP port (`security.auth`): `auth.signUrl()`, `auth.token()`. */
  readonly auth: Authenticator | undefined;
  /** This node's cluster membership (when `cluster` is given). */
  readonly cluster: ClusterMember | undefined;
  private readonly prom: EngineMetrics | undefined;
  private readonly drainer: EngineDrain;
  private readonly cascade: RoomCascade | undefined;
  private peers: EnginePeers | undefined;
  private readonly startedAt = Date.now();
  private metricsServer: MetricsServer | undefined;
  private readonly metricsPortOption: number | false;
  private inspector: InspectorHandle | undefined;
  private readonly inspectOptions: InspectOptions | undefined;
  private closing: Promise<void> | undefined;
  /** Options that add WebSocket/HTTP routes; with no wsPort, listen() warns that they go unserved. */
  private readonly unservedRoutes: string[];
  private readonly closers: Array<() => Promise<void> | void> = [];

  constructor(opts: EngineOptions = {}) {
    super();
    this.logger = opts.logger ?? (opts.logLevel ? createLogger(opts.logLevel) : silentLogger());
    if (!opts.v8Pretenuring && disablePretenuring()) this.logger.debug('V8 allocation-site pretenuring turned off for this process');
    this.options = {
      host: opts.host ?? '0.0.0.0',
      wsPort: opts.wsPort ?? false,
      sipPort: opts.sipPort ?? false,
      rtpPorts: opts.rtpPorts ?? '20000-29999',
      maxCalls: opts.maxCalls ?? 10_000,
    };
    // The viewer starts in listen(); the supervisor asks it about each actor once it is up. Without
    // `inspect` the supervisor has no inspector at all and no actor gets an inspection observer.
    this.inspectOptions = opts.inspect === true ? {} : opts.inspect || undefined;
    this.supervisor = new Supervisor({
      logger: this.logger,
      limits: { call: this.options.maxCalls },
      ...(this.inspectOptions ? { inspector: { watch: (kind, id, logic) => this.inspector?.watch(kind, id, logic) } } : {}),
    });

    this.media = new MediaServices({
      supervisor: this.supervisor,
      logger: this.logger,
      playback: opts.media?.fileCacheSamples !== undefined ? { fileCacheSamples: opts.media.fileCacheSamples } : {},
      recording: opts.media?.maxRecordingMs !== undefined ? { maxDurationMs: opts.media.maxRecordingMs } : {},
      ...(opts.media?.jitterBuffer !== undefined ? { jitterBuffer: opts.media.jitterBuffer } : {}),
    });
    this.streams = new MediaStreamRuntime(this.supervisor, this.logger, this.media.pacer, opts.streams);
    registerMediaStreams(this.media, this.streams);
    this.calls = new CallManager({
      supervisor: this.supervisor,
      logger: this.logger,
      ringTimeoutMs: opts.ringTimeoutMs ?? defaultCallDelays.ringTimeout,
      maxDurationMs: opts.maxCallDurationMs ?? defaultCallDelays.maxDuration,
      onIncomingCall: (call) => {
        // A peer node's leg into a room homed here (src/cluster/room-cascade.ts): never the app's.
        if (this.cascade?.isCascadeLeg(call)) return this.cascade.offer(call);
        if (!opts.jambonzApp || call.transport !== 'sip') return opts.onIncomingCall?.(call);
        this.featureServer!.take(call);
        return { action: 'defer' };
      },
      admit: (o) => this.drainer.admit(o),
      onCall: (call) => {
        this.calls.driverOf(call)?.attachServices(this.media);
        this.drainer.callsMoved();
        if (!this.cascade?.isCascadeLeg(call)) this.emit('call', call);
      },
      onAnswered: (call) => this.prom?.answered(call),
      onEnded: (call, end) => {
        this.prom?.ended(call, end);
        this.drainer.callsMoved();
      },
    });

    this.unservedRoutes = (['inboundCall', 'rooms', 'playback', 'routes'] as const).filter((k) => opts[k]);
    this.ports = new PortAllocator({ range: this.options.rtpPorts, host: this.options.host, logger: this.logger });
    this.sip = createSipUserAgent(opts.sip, {
      host: this.options.host,
      port: this.options.sipPort,
      logger: this.logger,
      supervisor: this.supervisor,
      calls: this.calls,
      allocator: this.ports,
    });

    this.drainer = new EngineDrain({
      supervisor: this.supervisor,
      calls: this.calls,
      sip: this.sip,
      logger: this.logger,
      retryAfterS: opts.drain?.retryAfterS,
      onDraining: () => {
        this.cluster?.setStatus('draining');
        this.emit('draining');
      },
      onIdle: (exit) => {
        this.emit('idle');
        if (exit) setImmediate(() => void this.close());
      },
    });
    this.cluster = opts.cluster
      ? new ClusterMember({
          cluster: opts.cluster,
          supervisor: this.supervisor,
          logger: this.logger,
          host: this.options.host,
          ports: () => ({ sip: this.sip?.port || undefined, ws: this.options.wsPort !== false ? this.http.port || undefined : undefined }),
          liveCalls: () => this.calls.size,
        })
      : undefined;
    this.http = new HttpServer({ host: this.options.host, port: this.options.wsPort || 0, logger: this.logger, security: opts.security });
    this.auth = this.http.auth;
    for (const r of opts.routes?.http ?? []) this.http.addHttpRoute(r);
    // Clustered, a room lives on one node: the lease holder (src/cluster/home.ts).
    const homes = this.cluster ? new HomeService(this.cluster, this.logger) : undefined;
    const home = homes && opts.rooms ? homes.kind('room', () => this.rooms?.rooms().map((r) => r.roomId) ?? []) : undefined;
    this.rooms = opts.rooms
      ? createRoomsRoutes({
          ...opts.rooms,
          supervisor: this.supervisor,
          logger: this.logger,
          media: this.media,
          ...(home && this.cluster ? { home, state: createRoomStateStore(this.cluster.store, home, this.logger) } : {}),
        })
      : undefined;
    // Clustered, a call joins a room on another node through a SIP leg to the owner.
    this.cascade =
      home && this.cluster && this.sip
        ? new RoomCascade({
            member: this.cluster,
            home,
            host: { room: (id) => this.room(id), call: (t, o) => this.call(t, o), bridge: (a, b, o) => this.bridge(a, b, { onStop: o.onStop }) },
            logger: this.logger,
          })
        : undefined;
    // Clustered, the playback space lives on its lease holder with its state in Redis (src/cluster/playback-home.ts).
    const playbackOpts = opts.playback ? { ...opts.playback, supervisor: this.supervisor, logger: this.logger } : undefined;
    this.playback = !playbackOpts
      ? undefined
      : homes && this.cluster
        ? createHomedPlayback({ member: this.cluster, homes, routes: playbackOpts, logger: this.logger })
        : createPlaybackRoutes(playbackOpts);
    if (this.rooms) {
      for (const r of this.rooms.httpRoutes) this.http.addHttpRoute(r); // GET /rooms
      this.http.addWsRoute(this.rooms.wsRoute);
      const rooms = this.rooms;
      this.onClose(() => rooms.close());
    }
    if (this.playback) {
      this.http.addWsRoute(this.playback.wsRoute);
      const playback = this.playback;
      this.onClose(() => playback.close());
    }
    this.jambonz = new JambonzService({
      supervisor: this.supervisor,
      calls: this.calls,
      logger: this.logger,
      http: this.http,
      recordingsDir: opts.jambonz?.recordingsDir ?? path.join(os.tmpdir(), 'callchart-recordings'),
      hook: opts.jambonz?.hook,
      audio: opts.jambonz?.audio,
      // Clustered, a hook session lives on the node that took session:new (src/cluster/home.ts).
      ...(homes ? { home: (live: () => string[]) => homes.kind('jambonz', live) } : {}),
    });
    const jambonz = this.jambonz;
    this.onClose(() => jambonz.close());
    this.featureServer = opts.jambonzApp ? this.createFeatureServer(opts.jambonzApp) : undefined;
    for (const r of opts.routes?.ws ?? []) this.http.addWsRoute(r);
    const drainer = this.drainer;
    this.prom =
      opts.metrics === false
        ? undefined
        : new EngineMetrics({ supervisor: this.supervisor, calls: this.calls, http: this.http, sip: this.sip, drain: { draining: () => drainer.status === 'draining', refused: drainer.refused } }, opts.metrics);
    this.http.addHttpRoute(route('health', 'GET', '/health', healthHandler(() => this.health()), { public: true }));
    if (opts.adminToken !== undefined) {
      if (opts.adminToken.length < 16) throw new RangeError('adminToken must be at least 16 characters');
      const admin = { drain: (exit: boolean) => void this.drain({ exitWhenIdle: exit }), resume: () => this.resume(), health: () => this.health() };
      this.http.addHttpRoute(route('admin-drain', 'POST', '/admin/drain', adminHandler(opts.adminToken, 'drain', admin), { public: true }));
      this.http.addHttpRoute(route('admin-resume', 'POST', '/admin/resume', adminHandler(opts.adminToken, 'resume', admin), { public: true }));
    }
    this.metricsPortOption = opts.metricsPort ?? false;
    if (this.prom) this.http.addHttpRoute(route('metrics', 'GET', '/metrics', metricsHandler(() => this.metrics(), this.logger)));
    if (opts.inboundCall) {
      this.http.addWsRoute(createInboundCallRoute(this.calls, this.logger, opts.inboundCall === true ? {} : opts.inboundCall));
    }
  }

  /** The bound WebSocket/HTTP port (useful with wsPort 0); 0 when there is no listener. */
  get wsPort(): number {
    return this.http.port;
  }

  /**
   * What this engine has bound, once `listen()` resolved: the WebSocket/HTTP and SIP UDP
   * addresses (absent when off) and the statechart viewer's URL. RTP ports are taken per call
   * from `rtpPorts`.
   */
  get addresses(): EngineAddresses {
    const host = this.options.host;
    return {
      ...(this.options.wsPort !== false && this.http.port ? { http: { host, port: this.http.port } } : {}),
      ...(this.sip?.port ? { sip: { host, port: this.sip.port } } : {}),
      ...(this.inspector ? { inspect: this.inspector.url } : {}),
    };
  }

  /** The statechart viewer's page (when `inspect` is on and the engine listens). */
  get inspectUrl(): string | undefined {
    return this.inspector?.url;
  }

  /**
   * Stop taking new inbound calls (SIP 503 + Retry-After, WebSocket 1013, jambonz decline 503);
   * live calls finish. Resolves once the last live call has ended; with `exitWhenIdle` the engine
   * then closes (the CLI exits 0). Outbound calls placed by the application still go.
   */
  drain(o: DrainOptions = {}): Promise<void> {
    this.peers?.drain(true);
    return this.drainer.drain(o);
  }

  /** Call a drain off: take new calls again. */
  resume(): void {
    this.peers?.drain(false);
    this.drainer.resume();
    if (this.drainer.status === 'open') this.cluster?.setStatus('open');
  }

  /**
   * @internal The CLI's SIP worker threads: their calls count in /health and in drain, drain and
   * resume reach them, and their metrics are merged into /metrics.
   */
  attachPeers(peers: EnginePeers): void {
    this.peers = peers;
    this.drainer.countRemote(() => peers.liveCalls);
    peers.onCallsChanged(() => this.drainer.remoteChanged());
    if (this.drainer.status === 'draining') peers.drain(true);
  }

  /** `open`, or `draining` (from drain() until the engine closes or resume()). */
  get status(): DrainStatus {
    return this.drainer.status;
  }

  /** What `GET /health` answers. */
  health(): Health {
    const h = health(this.drainer.status, this.drainer.idle, this.calls.list(), this.startedAt, this.peers?.liveCalls ?? 0);
    return this.cluster ? { ...h, cluster: this.cluster.health() } : h;
  }

  /** The Prometheus text of this engine's metrics (what `GET /metrics` serves). */
  metrics(): Promise<string> {
    if (!this.prom) return Promise.reject(new Error('metrics are off (metrics: false)'));
    const prom = this.prom;
    return this.peers ? this.peers.metrics().then((others) => prom.textWith(others)) : prom.text();
  }

  /** This engine's own prom-client Registry (not the global one): add your metrics to it, or merge it. */
  get metricsRegistry(): Registry | undefined {
    return this.prom?.registry;
  }

  /** The bound port of the separate metrics listener (`metricsPort`), once listening. */
  get metricsPort(): number | undefined {
    return this.metricsServer?.port;
  }

  private createFeatureServer(app: JambonzAppOptions): JambonzFeatureServer {
    let url: () => string;
    if ('handler' in app) {
      const hookPath = app.path ?? '/jambonz-app';
      this.jambonz.hook(hookPath, app.handler, app.hookOptions);
      url = () => {
        if (!this.wsPort) throw new Error('jambonzApp.handler needs a WebSocket port (wsPort)');
        return `ws://127.0.0.1:${this.wsPort}${hookPath}`;
      };
    } else {
      if (!/^wss?:\/\//i.test(app.url)) throw new Error(`jambonzApp.url must be a ws:// or wss:// URL: ${app.url}`);
      url = () => app.url;
    }
    const fs = new JambonzFeatureServer({
      supervisor: this.supervisor,
      logger: this.logger,
      url,
      localSipAddress: () => (this.sip?.port ? `${this.options.host}:${this.sip.port}` : undefined),
      ackTimeoutMs: app.ackTimeoutMs,
      accountSid: app.accountSid,
      applicationSid: app.applicationSid,
      tts: app.tts,
      stt: app.stt,
      recordDir: app.recordDir,
      maxReconnects: app.maxReconnects,
      headers: app.headers,
      phoneTrunk: app.phoneTrunk,
      placeCall: (target, o) => this.call(target, o),
      bridge: (a, b) => this.bridge(a, b),
      room: this.rooms ? (id) => this.room(id) : undefined,
    });
    this.onClose(() => fs.close());
    return fs;
  }

  /** The bound SIP UDP port (useful with sipPort 0). */
  get sipPort(): number | undefined {
    return this.sip?.port;
  }

  /** The bound SIP TCP port, when `sip.tcpPort` is set. */
  get sipTcpPort(): number | undefined {
    return this.sip?.transport.stream('tcp')?.port;
  }

  /** The bound SIP TLS port, when `sip.tlsPort` is set. */
  get sipTlsPort(): number | undefined {
    return this.sip?.transport.stream('tls')?.port;
  }

  /**
   * Place an outbound SIP call. Resolves once the INVITE is on its way with the call handle;
   * listen for `answered` / `ended` on it.
   */
  call(target: string, options: OutboundCallOptions = {}): Promise<Call> {
    if (!this.sip) return Promise.reject(new Error('SIP is off: give createEngine() a sipPort (0 = an ephemeral port)'));
    return this.sip.call(target, options);
  }

  /**
   * Bridge two calls' media, any pair of SIP and WebSocket calls: each hears the other. Same-codec
   * RTP legs relay the G.711 bytes; PCMU ↔ PCMA and WebSocket legs go through 8 kHz PCM (every leg
   * is 8 kHz: nothing is resampled). Both call actors get MEDIA.STARTED now and
   * MEDIA.STOPPED when the bridge stops (`bridge.stop()`, or either call ending).
   */
  bridge(a: Call, b: Call, opts: Omit<BridgeOptions, 'notify'> = {}): Bridge {
    return bridgeCalls(a, b, { jitter: this.media.jitterBuffer, ...opts });
  }

  /**
   * Make a call or a room a MoosicBox player of the `/playback` route (needs the `playback` option
   * with a `tracks` source): it is listed under the engine's connection (`callchart`), in audio
   * zone `zone` if given (a zone id, or a name: created when absent), and a playback session that
   * targets it drives its audio: play, pause, seek, volume, next track (docs/playback.md "Calls and
   * rooms as players"). It leaves when the call ends or the room closes, or on `detach()`.
   */
  attachPlayer(target: Call | Room, opts: PlaybackPlayerOptions = {}): PlaybackPlayer {
    if (!this.playback) throw new Error('playback is off: give createEngine() a playback option ({ tracks: { dir } })');
    return this.playback.attach(target instanceof Room ? roomPlayerOutput(target, this.media) : callPlayerOutput(target), opts);
  }

  /**
   * The live room `id` (created when there is none; needs the `rooms` option): put calls into its
   * audio mix with `room.join(call)`, mute/deafen/kick members, record the mix, and listen for
   * `joined` / `left` / `talking` (docs/rooms.md "Conference rooms of calls").
   */
  room(id: string): Room {
    if (!this.rooms) throw new Error('rooms are off: give createEngine() a rooms option (rooms: {} for conference rooms only)');
    return this.rooms.room(id);
  }

  /**
   * Put a call into conference room `id` wherever that room lives. On one node it is
   * `engine.room(id).join(call, opts)`. Clustered, the room's mix lives on the node holding its
   * lease: a call that landed elsewhere is relayed there over a SIP leg between the nodes, so calls
   * on any node meet in one room (docs/scaling.md "Rooms of calls across nodes").
   */
  async joinRoom(id: string, call: Call, opts: RoomJoinOptions = {}): Promise<RoomJoin> {
    if (!this.rooms) throw new Error('rooms are off: give createEngine() a rooms option (rooms: {} for conference rooms only)');
    if (this.cascade) return this.cascade.join(id, call, opts);
    const room = this.room(id);
    return localJoin(room, await room.join(call, opts), this.cluster?.nodeId);
  }

  /**
   * The registrar's location service: `registrations.lookup(call.to)` gives the live bindings of
   * a registered AOR (empty when SIP or the registrar is off, or nobody is registered there).
   */
  get registrations(): Registrations {
    return this.sip?.registrar ?? NO_REGISTRATIONS;
  }

  /**
   * Keep a contact of ours registered at a registrar (a provider, a PBX): refreshed before
   * expiry, challenges answered, retried with back-off, unregistered by `stop()` and on close.
   * Calls to it arrive as ordinary inbound calls.
   */
  register(options: RegisterOptions): Promise<RegistrationClient> {
    if (!this.sip) return Promise.reject(new Error('SIP is off: give createEngine() a sipPort (0 = an ephemeral port)'));
    return this.sip.register(options);
  }

  /**
   * Connect an inbound call to a target (a registered binding or a SIP URI) as a B2BUA: a new
   * outbound call to the target; when it answers, `call` is answered and the two are bridged.
   * Either side ending ends the other; a refusal is passed back to the caller. Resolves with the
   * outbound call.
   */
  connect(call: Call, target: string | Registration, options: ConnectOptions = {}): Promise<Call> {
    return connectCall(
      {
        call: (t, o) => this.call(t, o),
        bridge: (a, b) => this.bridge(a, b),
        flowOpen: (e) => (e.transport ? (this.sip?.transport.stream(e.transport)?.connected?.(e) ?? false) : false),
        bindings: (aor) => this.registrations.lookup(aor),
        flowFailed: (r) => this.sip?.registrar?.flowFailed(r),
      },
      call,
      target,
      options,
    );
  }

  /**
   * Serve the bot side of Twilio Media Streams on `path` (WebSocket port): each connection's
   * `start` hands the handler a session with the caller's audio as events and `send` / `mark` /
   * `clear` back. Point `call.stream()` (or Twilio) at it to run a bot inside callchart.
   */
  mediaStreams(path: string, handler: MediaStreamsHandler, opts: MediaStreamsRouteOptions = {}): void {
    const route = createMediaStreamsRoute(path, handler, this.supervisor, this.logger, opts);
    this.http.addWsRoute(route);
    this.onClose(() => route.close());
  }

  /** Register something to close on shutdown (transports, stores). Closed in reverse order. */
  onClose(fn: () => Promise<void> | void): void {
    this.closers.push(fn);
  }

  async listen(): Promise<this> {
    if (this.inspectOptions && !this.inspector) this.inspector = await startInspector(this.inspectOptions, this.logger);
    try {
      // Persisted playback sessions are restored before the first client can ask for them.
      await this.playback?.ready;
      if (this.options.wsPort !== false) await this.http.listen();
      else if (this.unservedRoutes.length) {
        this.logger.warn({ routes: this.unservedRoutes }, 'WebSocket/HTTP routes are configured but no wsPort is: nothing serves them');
      }
      if (this.sip) {
        try {
          await this.sip.listen();
        } catch (err) {
          await this.http.close();
          throw err;
        }
      }
      if (this.prom && this.metricsPortOption !== false && !this.metricsServer) {
        const routes = { 'GET /metrics': metricsHandler(() => this.metrics(), this.logger), 'GET /health': healthHandler(() => this.health()) };
        const server = new MetricsServer({ host: this.options.host, port: this.metricsPortOption, logger: this.logger, routes });
        try {
          await server.listen();
        } catch (err) {
          await this.http.close();
          await this.sip?.close();
          throw err;
        }
        this.metricsServer = server;
      }
    } catch (err) {
      await this.inspector?.close();
      this.inspector = undefined;
      throw err;
    }
    // Registered only once every listener is bound: a node in Redis is a node that answers.
    this.cluster?.start();
    this.emit('listening');
    return this;
  }

  /**
   * Graceful shutdown: every live call gets a hangup on its own transport, then sockets close.
   * Idempotent; concurrent callers share one shutdown.
   */
  close(): Promise<void> {
    this.closing ??= (async () => {
      this.logger.info({ liveCalls: this.calls.size }, 'shutting down');
      // Out of the cluster first, so dispatchers and peers stop sending here while calls end.
      await this.cluster?.leave();
      this.calls.hangupAll();
      // Let hangup frames reach the wire before the sockets are torn down.
      await new Promise((r) => setTimeout(r, 50));
      // Recordings of those calls finalise their files (bounded) before actors are stopped.
      await this.media.drain();
      // Streams to bots send their `stop` (most ended with their call already).
      await this.streams.close();
      for (const fn of [...this.closers].reverse()) {
        try {
          await fn();
        } catch (err) {
          this.logger.error({ err }, 'close hook failed');
        }
      }
      await this.http.close();
      await this.metricsServer?.close();
      await this.sip?.close();
      this.supervisor.stopAll();
      await this.ports.close();
      await this.inspector?.close();
      this.emit('closed');
    })();
    return this.closing;
  }
}

const NO_REGISTRATIONS: Registrations = { lookup: () => [], list: () => [], size: 0 };

export function createEngine(opts: EngineOptions = {}): Engine {
  return new Engine(opts);
}
