// Prometheus metrics of one engine (GET /metrics, engine.metrics()). One prom-client Registry per
// engine, never the global one, so two engines in one process keep separate numbers.
//
// Cost: nothing here runs per packet or per SIP message. Most metrics are read at scrape time, in
// prom-client collect() callbacks, from counters the engine keeps anyway (supervisor, transport,
// admission, transactions, UA, connection guard). Per call, a few label increments and histogram
// observations run once when the call is answered and once when it ends (RTP stats included, as
// the call froze them). prom-client's default process metrics (event-loop lag, GC, heap) start on
// the first scrape, so an embedder that never scrapes pays nothing for them.
import { AggregatorRegistry, Counter, Gauge, Histogram, Registry, collectDefaultMetrics, type MetricObjectWithValues, type MetricValue } from 'prom-client';
import type { Supervisor } from '../actors/supervisor.js';
import type { CallManager } from '../call/manager.js';
import type { Call } from '../call/call.js';
import type { CallEnd } from '../../machines/call.machine.js';
import type { HttpServer } from '../http/server.js';
import type { SipUserAgent } from '../sip/ua/user-agent.js';
import type { SipStreamStats } from '../sip/transport/stream.js';
import { SIP_METHODS, SIP_STATUS_CLASSES, type SipWireCounts } from './sip-wire.js';

export interface EngineMetricsSources {
  supervisor: Supervisor;
  calls: CallManager;
  http: HttpServer;
  sip: SipUserAgent | undefined;
  /** The engine's drain: whether it drains, and the new calls it refused (SIP INVITEs at the edge, calls of any transport). */
  drain?: { draining: () => boolean; refused: { readonly sip: number; readonly calls: number } };
}

export interface EngineMetricsOptions {
  /** prom-client's default process metrics (event-loop lag, GC, heap, CPU); default true. */
  defaultMetrics?: boolean;
  /** Labels put on every series (e.g. `{ instance: 'a' }`). */
  labels?: Record<string, string>;
}

/** Prometheus text exposition content type (for embedders serving `engine.metrics()` themselves). */
export const METRICS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

const CALL_LABELS = ['transport', 'direction'] as const;

export class EngineMetrics {
  readonly registry = new Registry();
  private defaultsStarted: boolean;
  private readonly callsTotal;
  private readonly setupSeconds;
  private readonly durationSeconds;
  private readonly rtpPackets;
  private readonly rtpLost;
  private readonly jitterMs;
  private readonly lossPercent;
  private readonly mos;

  constructor(
    private readonly src: EngineMetricsSources,
    opts: EngineMetricsOptions = {},
  ) {
    const registers = [this.registry];
    if (opts.labels) this.registry.setDefaultLabels(opts.labels);
    this.defaultsStarted = opts.defaultMetrics === false;

    // ---- calls ------------------------------------------------------------------------------
    new Gauge({
      name: 'callchart_calls_active',
      help: 'Live calls (set up, ringing or answered) by transport and direction',
      labelNames: CALL_LABELS,
      registers,
      collect() {
        this.reset();
        for (const c of src.calls.list()) this.inc({ transport: c.transport, direction: c.direction });
      },
    });
    this.callsTotal = new Counter({
      name: 'callchart_calls_total',
      help: 'Calls ended, by transport, direction and end reason',
      labelNames: [...CALL_LABELS, 'reason'],
      registers,
    });
    this.setupSeconds = new Histogram({
      name: 'callchart_call_setup_seconds',
      help: 'From call creation to answer (inbound: offer to answer; outbound: INVITE sent to 2xx)',
      labelNames: CALL_LABELS,
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 30, 60],
      registers,
    });
    this.durationSeconds = new Histogram({
      name: 'callchart_call_duration_seconds',
      help: 'Talk time of answered calls (answer to end)',
      labelNames: CALL_LABELS,
      buckets: [1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600],
      registers,
    });

    // ---- RTP, at call end from the call's frozen statistics -------------------------------------
    this.rtpPackets = new Counter({ name: 'callchart_rtp_packets_total', help: 'RTP packets of ended calls, by direction', labelNames: ['direction'], registers });
    this.rtpLost = new Counter({ name: 'callchart_rtp_packets_lost_total', help: 'RTP packets lost on receive (RFC 3550 A.3) of ended calls', registers });
    this.jitterMs = new Histogram({
      name: 'callchart_rtp_jitter_ms',
      help: 'Interarrival jitter (RFC 3550) of each ended call with RTP, at its end',
      buckets: [1, 2, 5, 10, 20, 30, 50, 100, 200],
      registers,
    });
    this.lossPercent = new Histogram({
      name: 'callchart_rtp_loss_percent',
      help: 'Receive packet loss of each ended call with RTP, percent',
      buckets: [0, 0.5, 1, 2, 5, 10, 20, 50],
      registers,
    });
    this.mos = new Histogram({
      name: 'callchart_rtp_mos',
      help: 'Estimated MOS (ITU-T G.107 E-model) of each ended call with RTP',
      buckets: [1, 1.5, 2, 2.5, 3, 3.5, 4, 4.2, 4.4],
      registers,
    });

    // ---- actors ------------------------------------------------------------------------------
    const kinds = () => new Set([...Object.keys(src.supervisor.metrics.spawned), ...Object.keys(src.supervisor.metrics.refused)]);
    new Gauge({
      name: 'callchart_actors_live',
      help: 'Live actors by kind (call, dialog, transaction, room, session, playback, recording…)',
      labelNames: ['kind'],
      registers,
      collect() {
        this.reset();
        for (const kind of kinds()) this.set({ kind }, src.supervisor.count(kind));
      },
    });
    const supervisorCounter = (name: string, help: string, field: 'spawned' | 'crashed' | 'refused') =>
      new Counter({
        name,
        help,
        labelNames: ['kind'],
        registers,
        collect() {
          this.reset();
          for (const [kind, n] of Object.entries(src.supervisor.metrics[field])) this.inc({ kind }, n);
        },
      });
    supervisorCounter('callchart_actors_spawned_total', 'Actors started, by kind', 'spawned');
    supervisorCounter('callchart_actors_crashed_total', 'Actors that crashed (each ended only its own call/room), by kind', 'crashed');
    supervisorCounter('callchart_actors_refused_total', 'Actors refused because their kind was at its limit (e.g. maxCalls), by kind', 'refused');

    // ---- WebSocket / HTTP ----------------------------------------------------------------------
    new Gauge({
      name: 'callchart_ws_connections',
      help: 'Open WebSocket connections per route',
      labelNames: ['route'],
      registers,
      collect() {
        this.reset();
        for (const [route, n] of src.http.wsConnectionCounts()) this.set({ route }, n);
      },
    });
    new Counter({
      name: 'callchart_http_connections_refused_total',
      help: 'HTTP/WebSocket sockets refused at connect (connection caps) or closed for a slow handshake',
      labelNames: ['reason'],
      registers,
      collect() {
        this.reset();
        const s = src.http.connectionStats();
        this.inc({ reason: 'limit' }, s.refused);
        this.inc({ reason: 'handshake-timeout' }, s.timedOut);
      },
    });

    const drain = src.drain;
    if (drain) {
      new Gauge({
        name: 'callchart_draining',
        help: '1 while the engine drains (new inbound calls refused), else 0',
        registers,
        collect() {
          this.set(drain.draining() ? 1 : 0);
        },
      });
      new Counter({
        name: 'callchart_calls_refused_draining_total',
        help: 'New inbound calls refused while draining (SIP INVITEs answered 503 at the edge are in callchart_sip_refused_total)',
        registers,
        collect() {
          this.reset();
          this.inc(drain.refused.calls);
        },
      });
    }

    if (src.sip) this.sipMetrics(src.sip, registers);
  }

  private sipMetrics(sip: SipUserAgent, registers: Registry[]): void {
    const wire = (): SipWireCounts => sip.transport.wire;
    const drain = this.src.drain;
    new Counter({
      name: 'callchart_sip_requests_total',
      help: 'SIP requests received (parsed) and sent (retransmissions included), by method',
      labelNames: ['direction', 'method'],
      registers,
      collect() {
        this.reset();
        const w = wire();
        SIP_METHODS.forEach((method, i) => {
          if (w.requestsIn[i]) this.inc({ direction: 'in', method }, w.requestsIn[i]);
          if (w.requestsOut[i]) this.inc({ direction: 'out', method }, w.requestsOut[i]);
        });
      },
    });
    new Counter({
      name: 'callchart_sip_responses_total',
      help: 'SIP responses received (parsed) and sent (retransmissions and stateless refusals included), by status class',
      labelNames: ['direction', 'class'],
      registers,
      collect() {
        this.reset();
        const w = wire();
        SIP_STATUS_CLASSES.forEach((cls, i) => {
          this.inc({ direction: 'in', class: cls }, w.responsesIn[i]);
          this.inc({ direction: 'out', class: cls }, w.responsesOut[i]);
        });
      },
    });
    new Counter({
      name: 'callchart_sip_retransmissions_total',
      help: 'SIP retransmissions sent (request: client transactions; response: server transactions; 2xx: the UA core) and received requests absorbed',
      labelNames: ['kind'],
      registers,
      collect() {
        this.reset();
        const t = sip.transactions.stats;
        this.inc({ kind: 'request' }, t.requestsRetransmitted);
        this.inc({ kind: 'response' }, t.responsesRetransmitted);
        this.inc({ kind: '2xx' }, sip.stats.retransmitted2xx);
        this.inc({ kind: 'absorbed' }, t.retransmittedRequestsAbsorbed);
      },
    });
    new Counter({
      name: 'callchart_sip_session_timer_total',
      help: 'Session timers (RFC 4028): refreshes sent, calls ended because no refresh came, requests refused with 422',
      labelNames: ['event'],
      registers,
      collect() {
        this.reset();
        this.inc({ event: 'refresh-sent' }, sip.stats.sessionRefreshesSent);
        this.inc({ event: 'expired' }, sip.stats.sessionTimersExpired);
        this.inc({ event: 'interval-too-small' }, sip.stats.sessionIntervalsTooSmall);
      },
    });
    // RFC 6026: a 2xx to an INVITE that matches no transaction or call (a late branch's, or junk).
    new Counter({
      name: 'callchart_sip_forgotten_2xx_ended_total',
      help: 'Dialogs of a 2xx to an INVITE of ours already forgotten (its From tag verified): ACKed and sent a BYE, one per branch',
      registers,
      collect() {
        this.reset();
        this.inc(sip.stats.forgotten2xxEnded);
      },
    });
    new Counter({
      name: 'callchart_sip_stray_2xx_dropped_total',
      help: 'SIP 2xx to INVITE matching no transaction or call whose From tag is not ours, or malformed: dropped unanswered',
      registers,
      collect() {
        this.reset();
        this.inc(sip.stats.stray2xxDropped);
      },
    });
    new Counter({
      name: 'callchart_sip_transactions_total',
      help: 'SIP transactions created, by role',
      labelNames: ['role'],
      registers,
      collect() {
        this.reset();
        this.inc({ role: 'server' }, sip.transactions.stats.serverCreated);
        this.inc({ role: 'client' }, sip.transactions.stats.clientCreated);
      },
    });
    if (sip.streams.length > 0) registerSipStreamMetrics(registers, () => sip.streams);
    new Counter({
      name: 'callchart_sip_transaction_timeouts_total',
      help: 'SIP transactions that timed out (Timer B/F/H)',
      registers,
      collect() {
        this.reset();
        this.inc(sip.transactions.stats.timeouts);
      },
    });
    new Counter({
      name: 'callchart_sip_refused_total',
      help: 'SIP datagrams and requests refused at the edge or by a limit, by reason (silent drops included)',
      labelNames: ['reason'],
      registers,
      collect() {
        this.reset();
        const a = sip.transport.admission?.stats;
        const t = sip.transport.stats;
        const s = sip.stats;
        const add = (reason: string, n: number) => this.inc({ reason }, n);
        if (a) {
          add('rate-limit-invite', a.refused.invite + a.silenced.invite);
          add('rate-limit-register', a.refused.register + a.silenced.register);
          add('rate-limit-options', a.refused.options + a.silenced.options);
          add('rate-limit-datagrams', a.overBudget);
          add('not-allowed', a.notAllowed);
        }
        add('malformed', t.rejected);
        add('scanner', t.scanners);
        add('pending-invites', s.invitesRejectedPending);
        add('pending-invites-per-source', s.invitesRejectedPendingSource);
        add('max-calls', s.callsRejectedBusy);
        add('auth-throttled', s.authThrottled);
        if (drain) add('draining', drain.refused.sip);
      },
    });
  }

  /** @internal a call answered (the call manager's hook, once per call): its set-up time. */
  answered(call: Call): void {
    this.setupSeconds.observe({ transport: call.transport, direction: call.direction }, ((call.answeredAt ?? Date.now()) - call.createdAt) / 1000);
  }

  /** @internal a call ended (the call manager's hook, once per call): its reason, talk time and RTP figures. */
  ended(call: Call, end: CallEnd): void {
    const labels = { transport: call.transport, direction: call.direction };
    this.callsTotal.inc({ ...labels, reason: end.reason });
    if (call.answeredAt !== undefined) this.durationSeconds.observe(labels, (Date.now() - call.answeredAt) / 1000);
    const st = call.stats();
    if (!st || st.kind !== 'rtp') return;
    this.rtpPackets.inc({ direction: 'sent' }, st.packetsSent);
    this.rtpPackets.inc({ direction: 'received' }, st.receive.packetsReceived);
    this.rtpLost.inc(Math.max(0, st.receive.cumulativeLost));
    // A call that never received RTP has no jitter, loss or MOS worth a sample.
    if (st.receive.packetsReceived === 0) return;
    this.jitterMs.observe(st.receive.jitterMs);
    this.lossPercent.observe(Math.max(0, st.receive.lossPercent));
    this.mos.observe(st.mos);
  }

  /** The Prometheus text exposition of every metric of this engine. */
  text(): Promise<string> {
    this.startDefaults();
    return this.registry.metrics();
  }

  /**
   * This engine's metrics merged with other registries' JSON (the SIP worker threads'): counters,
   * gauges and histograms of the same name and labels are summed. One process: the defaults
   * (event loop, GC, memory) come from this registry only.
   */
  async textWith(others: readonly MetricObjectWithValues<MetricValue<string>>[][]): Promise<string> {
    this.startDefaults();
    const own = await this.registry.getMetricsAsJSON();
    return AggregatorRegistry.aggregate([own, ...others]).metrics();
  }

  private startDefaults(): void {
    if (this.defaultsStarted) return;
    this.defaultsStarted = true;
    collectDefaultMetrics({ register: this.registry });
  }
}

/** What the stream metrics read of a TCP/TLS transport (stream.ts; the SIP router's too). */
export interface SipStreamMetricsSource {
  readonly kind: string;
  readonly openConnections: number;
  readonly stats: SipStreamStats;
}

/**
 * callchart_sip_stream_connections and callchart_sip_stream_events_total, read at scrape time: an
 * engine's own streams, or the SIP router's (src/sip/workers/stream-relay.ts) when worker threads
 * serve TCP/TLS, whose connections live on the main thread.
 */
export function registerSipStreamMetrics(registers: Registry[], streams: () => Iterable<SipStreamMetricsSource>): void {
  new Gauge({
    name: 'callchart_sip_stream_connections',
    help: 'SIP over TCP/TLS connections open now (handshaking ones included), by transport',
    labelNames: ['transport'],
    registers,
    collect() {
      this.reset();
      for (const st of streams()) this.set({ transport: st.kind }, st.openConnections);
    },
  });
  new Counter({
    name: 'callchart_sip_stream_events_total',
    help: 'SIP over TCP/TLS connection events, by transport: accepted, connected (ours), refused (limits), framing-error, idle-closed, handshake-failure, slow-reader, ping',
    labelNames: ['transport', 'event'],
    registers,
    collect() {
      this.reset();
      for (const st of streams()) {
        const s = st.stats;
        const add = (event: string, n: number) => this.inc({ transport: st.kind, event }, n);
        add('accepted', s.accepted);
        add('connected', s.connected);
        add('refused', s.refused);
        add('framing-error', s.framingErrors);
        add('idle-closed', s.idleClosed);
        add('handshake-failure', s.handshakeFailures);
        add('slow-reader', s.slowReaders);
        add('ping', s.pings);
      }
    },
  });
}
