// SIP on several threads: one engine per worker thread, each with its own supervisor, call and
// dialog actors, transactions and RTP ports, and a router on the main thread that owns the SIP
// port. XState, parsing and GC of one thread top out at about 1 500 calls/s on this box
// (docs/interop.md); worker threads put the other cores to work without sharing any call state.
//
// The router keeps no call state: it reads each datagram's Call-ID off the bytes
// (`callIdHash`) and hands the datagram to the worker that hash picks, so every request and
// response of a call (and a CANCEL, an ACK, the authenticated retry of an INVITE) meets the same
// actors. Workers send from sockets bound to the same port with SO_REUSEADDR: Linux delivers a
// port's unicast datagrams to the socket bound last, which is the router's, and a worker's
// replies leave from the port its Via and Contact name (RFC 3581 symmetric responses).
//
// TCP and TLS connections cannot be shared that way: the router owns them (stream-relay.ts), frames
// each message, hashes its Call-ID the same way and posts it with its connection id; a thread's
// sends over a stream come back here to be written.
//
// The router is also the SIP edge's admission point (admission.ts: allow-list, per-source rate
// limits, 503s to sources over them): it sees every datagram of every source, so a source's budget
// is the same whatever the thread count. The workers' transports, fed by it, skip that step; they
// parse, apply the parser caps and drop known scanners as a single-threaded engine does.
import { randomBytes } from 'node:crypto';
import dgram from 'node:dgram';
import { EventEmitter } from 'node:events';
import { Worker } from 'node:worker_threads';
import type { Logger } from 'pino';
import type { MetricObjectWithValues, MetricValue } from 'prom-client';
import type { LogLevel } from '../../logger.js';
import type { LogFormat } from '../../logging/format.js';
import { splitPortRange } from '../../media/rtp/ports.js';
import { lookupLiteral } from '../../udp-lookup.js';
import type { SipTimerConfig } from '../../../machines/sipTimers.js';
import { callIdHash, resolveParseLimits, type SipParseLimits } from '../codec/message.js';
import type { RtpLatchOptions } from '../../media/rtp/latch.js';
import { SipAdmission, logRefusals, type SipRateLimits } from '../transport/admission.js';
import type { AudioCodec, SrtpMode } from '../codec/sdp.js';
import type { SipTransportStats } from '../transport/udp.js';
import type { SipAuthOptions } from '../ua/user-agent.js';
import type { ReliableProvisionalMode } from '../ua/prack.js';
import type { SipSessionTimerOptions } from '../ua/session-timer.js';
import type { SipStreamKind } from '../transport/types.js';
import type { SipRelayedStreamStats } from '../transport/relayed-stream.js';
import { SipStreamRouter, type SipWorkersStreamOptions, type StreamFromWorker, type StreamToWorker } from './stream-relay.js';

/**
 * The application each worker runs: a module exporting a factory `(options, engine)` that returns
 * the onIncomingCall hook (e.g. `demoApp` in src/demo.ts); `engine` is that worker's engine (for
 * `engine.call()`). It is imported in every worker, so it must not count on memory shared
 * between calls of different workers.
 */
export interface SipWorkerApp {
  /** Module specifier as `import()` takes it: a file URL or a package name. */
  module: string;
  /** The factory's export name (default `default`). */
  export?: string;
  /** Passed to the factory; must survive structured cloning. */
  options?: unknown;
}

/**
 * `tcpPort`/`tlsPort` (with `tls`) add SIP over TCP/TLS: the router owns those sockets and
 * connections and relays each message to the thread its Call-ID picks (stream-relay.ts).
 */
export interface SipWorkersOptions extends SipWorkersStreamOptions {
  /** Worker threads (≥ 1). */
  threads: number;
  host: string;
  /** The SIP UDP port (0 = a free one, chosen once for router and workers). */
  port: number;
  /** RTP range, cut into one slice per worker. */
  rtpPorts: string;
  app: SipWorkerApp;
  logger: Logger;
  /** Level for the workers' own pino loggers (default the router logger's). */
  logLevel?: LogLevel;
  /**
   * The workers' log format (default JSON), and SIP tracing in every worker: a log line per
   * message (--sip-trace) and/or HEP export (--hep). Plain data: each thread builds its own.
   */
  log?: SipWorkerLogOptions;
  /** Concurrent calls over all workers (each gets its share). */
  maxCalls?: number;
  ringTimeoutMs?: number;
  maxCallDurationMs?: number;
  sip?: {
    timers?: Partial<SipTimerConfig>;
    rtpTimeoutMs?: number;
    codecs?: AudioCodec[];
    /**
     * Digest authentication of inbound INVITEs in every worker. Users as a table (it is cloned
     * to each thread). An INVITE and its authenticated retry share the Call-ID, so they reach the
     * same worker; each thread signs its own nonces and counts failures on its own.
     */
    auth?: Omit<SipAuthOptions, 'users'> & { users: Record<string, string> };
    /** Pending inbound INVITEs over all workers (each gets its share; default 1000 each). */
    maxPendingInvites?: number;
    /** Of those, per source address over all workers (each gets its share). */
    maxPendingInvitesPerSource?: number;
    /** Parser caps, in every worker (and for the router's 503s). */
    parseLimits?: Partial<SipParseLimits>;
    /** Which source each call's RTP is taken from (see EngineOptions.sip.strictRtp). */
    strictRtp?: RtpLatchOptions;
    /** SRTP with SDES keys in every worker (see EngineOptions.sip.srtp). */
    srtp?: SrtpMode;
    /** Session timers (RFC 4028) in every worker (see EngineOptions.sip.sessionTimers). */
    sessionTimers?: SipSessionTimerOptions | false;
    /** Reliable provisional responses (RFC 3262) in every worker (see EngineOptions.sip.reliableProvisionals). */
    reliableProvisionals?: ReliableProvisionalMode;
    /** Early media to callers without 100rel in every worker (see EngineOptions.sip.unreliableEarlyMedia). */
    unreliableEarlyMedia?: boolean;
    /** Hold/resume by re-INVITE or UPDATE in every worker (see EngineOptions.sip.holdMethod). */
    holdMethod?: 'INVITE' | 'UPDATE';
    /** The From-tag secret of every worker (see EngineOptions.sip.tagSecret; default 32 random bytes per start). */
    tagSecret?: Uint8Array;
  };
  /** Only these sources may send SIP (CIDR or address, IPv4/IPv6); see EngineOptions.sip.allow. */
  allow?: string[];
  /** Per-source token buckets, applied by the router; see EngineOptions.sip.rateLimits. */
  rateLimits?: Partial<SipRateLimits> | false;
}

export interface SipWorkerLogOptions {
  format?: LogFormat;
  sipTrace?: boolean;
  hep?: { host: string; port: number; captureId?: number };
}

/** What a worker gets as workerData. */
export interface SipWorkerData {
  index: number;
  /** How many worker threads the router shards Call-IDs over (callIdHash % threads = index). */
  threads: number;
  host: string;
  port: number;
  /** The router's TCP/TLS ports, when it serves them (the thread's Via and Contact name them). */
  streams?: Partial<Record<SipStreamKind, number>>;
  rtpPorts: string;
  logLevel: LogLevel;
  log?: SipWorkerLogOptions;
  maxCalls?: number;
  ringTimeoutMs?: number;
  maxCallDurationMs?: number;
  sip: NonNullable<SipWorkersOptions['sip']>;
  app: SipWorkerApp;
  /**
   * One secret for every thread's INVITE From tags (src/sip/ua/tag-auth.ts): a 2xx that outlives
   * its call verifies whichever thread its Call-ID reaches.
   */
  tagSecret: Uint8Array;
}

/** One worker's health, as `SipWorkers.stats()` reports it. */
export interface SipWorkerStats {
  index: number;
  /** Calls alive in this thread's engine. */
  liveCalls: number;
  /** SIP legs (dialogs) the UA still tracks. */
  liveLegs: number;
  /** V8 heap in use in this thread, bytes (garbage not yet collected included). */
  heapUsedBytes: number;
  /** This thread's SIP transport counters (received = datagrams and stream messages from the router). */
  transport: SipTransportStats;
  /** Its relayed TCP/TLS transports' counters, for the kinds the router serves. */
  streams: Partial<Record<SipStreamKind, SipRelayedStreamStats>>;
}

/** Router → worker. A datagram is the hot path: a bare object, its bytes transferred. */
export type ToWorker =
  | { d: Uint8Array; a: string; p: number }
  | StreamToWorker
  | { type: 'stats'; id: number }
  | { type: 'metrics'; id: number }
  | { type: 'drain' }
  | { type: 'resume' }
  | { type: 'close' };
/** Worker → router. */
export type FromWorker =
  | { type: 'ready' }
  | { type: 'failed'; error: string }
  | { type: 'stats'; id: number; stats: SipWorkerStats }
  | { type: 'metrics'; id: number; metrics: WorkerMetrics }
  /** The thread's live calls by transport, sent when they change (coalesced; at once while draining). */
  | { type: 'calls'; live: number }
  | { type: 'closed' }
  | StreamFromWorker;

/** A worker registry's prom-client JSON (the main thread aggregates them into one /metrics). */
export type WorkerMetrics = MetricObjectWithValues<MetricValue<string>>[];

export interface SipWorkersEvents {
  /** A worker failed to start or died; its share of calls is lost. */
  error: [err: Error];
  /** A worker's live call count changed (see liveCalls). */
  calls: [];
}

const CLOSE_TIMEOUT_MS = 5000;

function spawnWorker(data: SipWorkerData): Worker {
  if (!import.meta.url.endsWith('.ts')) return new Worker(new URL('./thread.js', import.meta.url), { workerData: data });
  // Run from source (tsx: `npm start`, the tests). Node 20 does not apply --import preloads to
  // worker threads, so the worker loads its TypeScript through tsx's API explicitly. tsx is a
  // devDependency; the built package never comes here.
  const entry = new URL('./thread.ts', import.meta.url).href;
  const api = import.meta.resolve('tsx/esm/api');
  const code = `import(${JSON.stringify(api)}).then((tsx) => tsx.tsImport(${JSON.stringify(entry)}, ${JSON.stringify(entry)}))`;
  return new Worker(code, { eval: true, workerData: data });
}

export class SipWorkers extends EventEmitter<SipWorkersEvents> {
  private readonly workers: Worker[] = [];
  private socket: dgram.Socket | undefined;
  private boundPort = 0;
  private closing: Promise<void> | undefined;
  private readonly log: Logger;
  private statsSeq = 0;
  private readonly statsWaiting = new Map<number, (s: SipWorkerStats) => void>();
  private readonly metricsWaiting = new Map<number, (m: WorkerMetrics) => void>();
  private readonly live: number[];
  /** A thread told to drain counts as busy until it reports its calls (so a drain cannot end early). */
  private readonly unreported: boolean[];
  /** Datagrams handed to each worker so far. */
  readonly routed: number[];
  /** Allow-list and per-source rate limits, for all threads (undefined when both are off). */
  readonly admission: SipAdmission | undefined;
  private readonly parseLimits: SipParseLimits;
  private stopRefusalLog: (() => void) | undefined;
  /** TCP/TLS: the connections, relayed to the threads. */
  private readonly streams: SipStreamRouter;

  constructor(private readonly opts: SipWorkersOptions) {
    super();
    if (!Number.isInteger(opts.threads) || opts.threads < 1) throw new RangeError(`threads must be a positive integer, got ${opts.threads}`);
    this.log = opts.logger.child({ component: 'sip-router' });
    this.routed = new Array<number>(opts.threads).fill(0);
    this.live = new Array<number>(opts.threads).fill(0);
    this.unreported = new Array<boolean>(opts.threads).fill(false);
    const admission = new SipAdmission({ allow: opts.allow, rateLimits: opts.rateLimits });
    this.admission = admission.active ? admission : undefined;
    this.parseLimits = resolveParseLimits(opts.sip?.parseLimits);
    this.streams = new SipStreamRouter({
      ...opts,
      logger: opts.logger,
      post: (i, m, transfer) => this.workers[i]?.postMessage(m satisfies ToWorker, transfer),
      routed: this.routed,
      admission: this.admission,
      parseLimits: this.parseLimits,
    });
  }

  get port(): number {
    return this.boundPort;
  }

  /** The bound SIP TCP port, when `tcpPort` is set. */
  get tcpPort(): number | undefined {
    return this.streams.port('tcp');
  }

  /** The bound SIP TLS port, when `tlsPort` is set. */
  get tlsPort(): number | undefined {
    return this.streams.port('tls');
  }

  /** The router's TCP/TLS connection counters (undefined for a kind not served). */
  streamStats(kind: SipStreamKind): ReturnType<SipStreamRouter['stats']> {
    return this.streams.stats(kind);
  }

  get threads(): number {
    return this.opts.threads;
  }

  /** Start the workers, wait until each has bound the port, then bind the router last. */
  async start(): Promise<void> {
    const o = this.opts;
    const port = o.port === 0 ? await freeUdpPort(o.host) : o.port;
    const slices = splitPortRange(o.rtpPorts, o.threads);
    const level = o.logLevel ?? (o.logger.level as LogLevel);
    const tagSecret = o.sip?.tagSecret ?? randomBytes(32);
    try {
      // Streams first: the threads need their ports, and may send over them from the start.
      const streams = await this.streams.listen();
      await Promise.all(
        slices.map((rtpPorts, index) =>
          this.startWorker({
            index,
            threads: o.threads,
            host: o.host,
            port,
            ...(this.streams.active ? { streams } : {}),
            rtpPorts,
            logLevel: level,
            ...(o.log ? { log: o.log } : {}),
            maxCalls: o.maxCalls === undefined ? undefined : Math.ceil(o.maxCalls / o.threads),
            ringTimeoutMs: o.ringTimeoutMs,
            maxCallDurationMs: o.maxCallDurationMs,
            sip: workerSip(o.sip, o.threads),
            app: o.app,
            tagSecret,
          }),
        ),
      );
      this.socket = await this.bindRouter(port);
      if (this.admission) this.stopRefusalLog = logRefusals(this.admission, this.log);
    } catch (err) {
      await this.close();
      throw err;
    }
    this.boundPort = port;
    this.log.info({ host: o.host, port, tcpPort: this.tcpPort, tlsPort: this.tlsPort, threads: o.threads, rtpPorts: slices }, 'sip listening (worker threads)');
  }

  private startWorker(data: SipWorkerData): Promise<void> {
    return new Promise((resolve, reject) => {
      const worker = spawnWorker(data);
      this.workers[data.index] = worker;
      let ready = false;
      worker.on('message', (m: FromWorker) => {
        if (m.type === 'stream-send' || m.type === 'stream-hold') {
          this.streams.fromWorker(data.index, m);
        } else if (m.type === 'ready') {
          ready = true;
          resolve();
        } else if (m.type === 'failed') {
          reject(new Error(`sip worker ${data.index}: ${m.error}`));
        } else if (m.type === 'stats') {
          this.statsWaiting.get(m.id)?.(m.stats);
          this.statsWaiting.delete(m.id);
        } else if (m.type === 'metrics') {
          this.metricsWaiting.get(m.id)?.(m.metrics);
          this.metricsWaiting.delete(m.id);
        } else if (m.type === 'calls') {
          this.live[data.index] = m.live;
          this.unreported[data.index] = false;
          this.emit('calls');
        }
      });
      // A thread that throws also exits: report whichever comes first, once.
      let reported = false;
      const lost = (err: Error) => {
        if (!ready) return reject(err);
        if (reported || this.closing) return;
        reported = true;
        this.log.error({ err, worker: data.index }, 'sip worker lost');
        this.emit('error', err);
      };
      worker.on('error', (err) => lost(err));
      worker.on('exit', (code) => lost(new Error(`sip worker ${data.index} exited${ready ? ' unexpectedly' : ' before it was ready'} with code ${code}`)));
    });
  }

  private bindRouter(port: number): Promise<dgram.Socket> {
    return new Promise((resolve, reject) => {
      const socket = dgram.createSocket({ type: 'udp4', reuseAddr: true, lookup: lookupLiteral });
      socket.once('error', reject);
      socket.bind(port, this.opts.host, () => {
        socket.off('error', reject);
        try {
          socket.setRecvBufferSize(8 * 1024 * 1024);
        } catch {
          /* not fatal: the OS may cap it */
        }
        socket.on('message', this.route);
        socket.on('error', (err) => this.log.error({ err }, 'sip router socket error'));
        resolve(socket);
      });
    });
  }

  // The whole hot path of the router thread: hash, pick, hand over (the bytes move, not copy).
  private readonly route = (buf: Buffer, rinfo: dgram.RemoteInfo): void => {
    const admission = this.admission;
    if (admission) {
      const verdict = admission.check(rinfo.address, buf);
      if (verdict !== 'accept') {
        if (verdict === 'refuse') this.refuse(admission, buf, rinfo);
        return;
      }
    }
    const i = callIdHash(buf) % this.workers.length;
    this.routed[i]!++;
    const owned = buf.byteOffset === 0 && buf.buffer.byteLength === buf.length;
    const d = owned ? buf : new Uint8Array(buf);
    this.workers[i]!.postMessage({ d, a: rinfo.address, p: rinfo.port } satisfies ToWorker, [d.buffer as ArrayBuffer]);
  };

  /** The stateless 503 for a request over its source's rate, from the SIP port itself. */
  private refuse(admission: SipAdmission, buf: Buffer, rinfo: dgram.RemoteInfo): void {
    const r = admission.refusal(buf, { address: rinfo.address, port: rinfo.port }, { limits: this.parseLimits });
    if (r) this.socket?.send(r.bytes, r.to.port, r.to.address);
  }

  /** Each worker's live calls, legs, heap and transport counters (asked of the threads; 2 s bound). */
  stats(): Promise<SipWorkerStats[]> {
    return Promise.all(this.workers.map((w, index) => this.ask(w, index, 'stats', this.statsWaiting)));
  }

  /**
   * Each worker's metrics registry as prom-client JSON (2 s bound), and the router's TCP/TLS
   * connection metrics, for one aggregated /metrics.
   */
  async metrics(): Promise<WorkerMetrics[]> {
    const threads = await Promise.all(this.workers.map((w, index) => this.ask(w, index, 'metrics', this.metricsWaiting)));
    return this.streams.active ? [...threads, await this.streams.metrics()] : threads;
  }

  /** Live calls in all threads, as last reported by them. */
  get liveCalls(): number {
    return this.live.reduce((a, b) => a + b, 0);
  }

  /** Each thread drains its engine (new INVITEs 503, live calls finish), or takes calls again. */
  drain(on: boolean): void {
    for (const w of this.workers) w.postMessage((on ? { type: 'drain' } : { type: 'resume' }) satisfies ToWorker);
  }

  private ask<T>(w: Worker, index: number, type: 'stats' | 'metrics', waiting: Map<number, (v: T) => void>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const id = ++this.statsSeq;
      const timer = setTimeout(() => {
        waiting.delete(id);
        reject(new Error(`sip worker ${index} did not report its ${type} within 2 s`));
      }, 2000);
      waiting.set(id, (v) => {
        clearTimeout(timer);
        resolve(v);
      });
      w.postMessage({ type, id } satisfies ToWorker);
    });
  }

  /** Stop taking datagrams, let each worker hang up its calls and close, then end the threads. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      this.stopRefusalLog?.();
      const s = this.socket;
      this.socket = undefined;
      if (s) await new Promise<void>((r) => s.close(() => r()));
      await Promise.all(this.workers.map((w) => stopWorker(w)));
      // Connections last: the threads' BYEs on closing went out on them (and their 200s came back).
      await this.streams.close();
    })();
    return this.closing;
  }
}

/** A worker's share of the SIP options (the pending-INVITE cap is split like maxCalls). */
function workerSip(sip: SipWorkersOptions['sip'], threads: number): NonNullable<SipWorkersOptions['sip']> {
  const share = (n: number | undefined) => (n === undefined ? undefined : Math.ceil(n / threads));
  return { ...sip, maxPendingInvites: share(sip?.maxPendingInvites), maxPendingInvitesPerSource: share(sip?.maxPendingInvitesPerSource) };
}

function stopWorker(worker: Worker): Promise<void> {
  return new Promise((resolve) => {
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      resolve();
    };
    const timer = setTimeout(() => void worker.terminate().then(finish, finish), CLOSE_TIMEOUT_MS);
    worker.once('exit', finish);
    try {
      worker.postMessage({ type: 'close' } satisfies ToWorker);
    } catch {
      finish(); // already gone
    }
  });
}

/** A UDP port free right now on `host`, for router and workers to share. */
function freeUdpPort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = dgram.createSocket('udp4');
    s.once('error', reject);
    s.bind(0, host, () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}
