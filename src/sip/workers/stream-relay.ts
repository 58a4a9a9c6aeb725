// SIP over TCP and TLS with worker threads: the router's side. A stream cannot be shared between
// threads the way a UDP port is (a TCP connection carries many calls, whose Call-IDs pick
// different threads), so the main thread owns the listening sockets and every connection, with
// the single-threaded transport (src/sip/transport/stream.ts) and all its limits: connections in
// total and per IP, idle timeout, bytes buffered per connection (oversized and never-ending
// messages answered 513 and closed), slow readers, TLS handshake timeout, CRLF keep-alive.
//
// Each framed message passes the router's admission (as datagrams do), its Call-ID is hashed off
// the bytes (callIdHash) and it is posted to that thread with the connection's id, its kind and
// the peer; the thread's relayed transport (src/sip/transport/relayed-stream.ts) sends back by
// message, on the id (sendOn: a connection that is gone is reported back, never reopened) or, with
// none known, to the peer's address (the connection to it reused, or opened: §18.1.1). The only
// state here is transport state: the connections, which threads heard of each, and holds.
import type { Logger } from 'pino';
import { Registry, type MetricObjectWithValues, type MetricValue } from 'prom-client';
import { registerSipStreamMetrics } from '../../metrics/engine-metrics.js';
import { callIdHash, type SipParseLimits } from '../codec/message.js';
import type { SipAdmission } from '../transport/admission.js';
import { SipStreamTransport, type SipStreamLimits, type SipStreamStats, type SipTlsOptions } from '../transport/stream.js';
import type { Endpoint, SipStreamKind } from '../transport/types.js';

/** Router → worker, for streams. A message is the hot path: a bare object, its bytes transferred. */
export type StreamToWorker =
  | { s: Uint8Array; c: number; k: SipStreamKind; a: string; p: number }
  | { type: 'stream-closed'; k: SipStreamKind; c: number }
  | { type: 'stream-failed'; k: SipStreamKind; c?: number; a: string; p: number; reason: string };

/** Worker → router, for streams: bytes to send (transferred), and holds against the idle timeout. */
export type StreamFromWorker =
  | { type: 'stream-send'; k: SipStreamKind; c?: number; a: string; p: number; d: Uint8Array }
  | { type: 'stream-hold'; k: SipStreamKind; a: string; p: number; on: boolean };

/** TCP/TLS options of SipWorkers (the same meaning as EngineOptions.sip's). */
export interface SipWorkersStreamOptions {
  /** SIP over TCP on this port (0 = a free one). */
  tcpPort?: number;
  /** SIP over TLS on this port (needs `tls`; 0 = a free one). */
  tlsPort?: number;
  tls?: SipTlsOptions;
  streamLimits?: Partial<SipStreamLimits>;
}

export interface SipStreamRouterOptions extends SipWorkersStreamOptions {
  host: string;
  logger: Logger;
  threads: number;
  /** Post to worker `index` (with the buffers to transfer). */
  post(index: number, m: StreamToWorker, transfer?: ArrayBuffer[]): void;
  /** Counted per worker, with the datagrams. */
  routed: number[];
  admission: SipAdmission | undefined;
  parseLimits: SipParseLimits;
}

export class SipStreamRouter {
  private readonly transports = new Map<SipStreamKind, SipStreamTransport>();
  /** Holds a thread has on a peer's connection, by "index|kind|address|port". */
  private readonly holds = new Map<string, () => void>();
  private readonly log: Logger;
  private listening = false;
  /** The connection metrics (they live here, not in the threads), merged into the threads' /metrics. */
  private readonly registry = new Registry();

  constructor(private readonly opts: SipStreamRouterOptions) {
    this.log = opts.logger.child({ component: 'sip-router' });
    if (opts.tlsPort !== undefined && !opts.tls) throw new Error('tlsPort needs tls: { cert, key } (PEM)');
    if (this.active) registerSipStreamMetrics([this.registry], () => this.transports.values());
  }

  /** callchart_sip_stream_* as prom-client JSON (none when no stream is served). */
  metrics(): Promise<MetricObjectWithValues<MetricValue<string>>[]> {
    return this.registry.getMetricsAsJSON();
  }

  get active(): boolean {
    return this.opts.tcpPort !== undefined || this.opts.tlsPort !== undefined;
  }

  /**
   * Listen, and return the bound ports (the threads' Via and Contact name them). Done before the
   * threads start, so they can send from the first moment; a message that arrives before a
   * thread's engine listens waits in that thread (thread.ts).
   */
  async listen(): Promise<Partial<Record<SipStreamKind, number>>> {
    const ports: Partial<Record<SipStreamKind, number>> = {};
    for (const [kind, port] of [['tcp', this.opts.tcpPort], ['tls', this.opts.tlsPort]] as const) {
      if (port === undefined) continue;
      // Connections that delivered at least one message: their close is told to the threads.
      const announced = new Set<number>();
      const st = new SipStreamTransport({
        kind,
        host: this.opts.host,
        port,
        logger: this.opts.logger,
        tls: kind === 'tls' ? this.opts.tls : undefined,
        limits: this.opts.streamLimits,
        deliver: (bytes, from, conn) => this.route(kind, st, announced, bytes, from, conn),
        closed: (conn) => {
          if (!announced.delete(conn)) return;
          for (let i = 0; i < this.opts.threads; i++) this.opts.post(i, { type: 'stream-closed', k: kind, c: conn });
        },
      });
      this.transports.set(kind, st);
      await st.listen();
      ports[kind] = st.port;
    }
    this.listening = true;
    return ports;
  }

  /** The bound port of a kind (undefined when not served). */
  port(kind: SipStreamKind): number | undefined {
    return this.transports.get(kind)?.port;
  }

  /** Connection counters of a kind (see SipStreamStats), and the connections open now. */
  stats(kind: SipStreamKind): (SipStreamStats & { open: number }) | undefined {
    const st = this.transports.get(kind);
    return st && { ...st.stats, open: st.openConnections };
  }

  // Per message: admission, hash, hand over.
  private route(kind: SipStreamKind, st: SipStreamTransport, announced: Set<number>, bytes: Buffer, from: Endpoint, conn: number): void {
    const admission = this.opts.admission;
    if (admission) {
      const verdict = admission.check(from.address, bytes);
      if (verdict !== 'accept') {
        if (verdict === 'refuse') {
          const r = admission.refusal(bytes, from, { limits: this.opts.parseLimits });
          if (r) st.sendOn(conn, r.bytes); // on the connection, as a thread would (§18.2.2)
        }
        return;
      }
    }
    const i = callIdHash(bytes) % this.opts.threads;
    this.opts.routed[i]!++;
    announced.add(conn);
    // The framer's bytes may share a pooled slab: only a buffer of their own can be transferred.
    const owned = bytes.byteOffset === 0 && bytes.buffer.byteLength === bytes.length;
    const s = owned ? bytes : new Uint8Array(bytes);
    this.opts.post(i, { s, c: conn, k: kind, a: from.address, p: from.port }, [s.buffer as ArrayBuffer]);
  }

  /** A thread's send or hold. Checked: a bad one is dropped and, for a send, reported back as failed. */
  fromWorker(index: number, m: StreamFromWorker): void {
    if (m.type === 'stream-hold') return this.holdFor(index, m);
    const st = this.transports.get(m.k);
    if (!st || !this.listening) return this.failSend(index, m, `SIP over ${String(m.k).toUpperCase()} is not served`);
    if (!(m.d instanceof Uint8Array)) return this.failSend(index, m, 'no bytes');
    const buf = Buffer.from(m.d.buffer, m.d.byteOffset, m.d.byteLength);
    // On the connection the thread named; one that is gone is not reopened for it (stream.ts sendOn).
    if (m.c !== undefined) {
      if (!st.sendOn(m.c, buf)) this.failSend(index, m, 'connection closed');
      return;
    }
    if (!validPeer(m.a, m.p)) return this.failSend(index, m, 'no valid peer address and port');
    if (!st.sendBytes(buf, { address: m.a, port: m.p, transport: m.k })) this.failSend(index, m, 'no connection (limits, or closing)');
  }

  private failSend(index: number, m: Extract<StreamFromWorker, { type: 'stream-send' }>, reason: string): void {
    this.log.debug({ worker: index, remote: { address: m.a, port: m.p, transport: m.k }, conn: m.c, reason }, 'relayed sip send failed');
    this.opts.post(index, { type: 'stream-failed', k: m.k, ...(m.c !== undefined ? { c: m.c } : {}), a: m.a, p: m.p, reason });
  }

  /** A thread's first hold on a peer's connection takes one here; its last release gives it back. */
  private holdFor(index: number, m: Extract<StreamFromWorker, { type: 'stream-hold' }>): void {
    const st = this.transports.get(m.k);
    if (!st || !validPeer(m.a, m.p)) return;
    const k = `${index}|${m.k}|${m.a}|${m.p}`;
    if (m.on) {
      if (!this.holds.has(k)) this.holds.set(k, st.hold({ address: m.a, port: m.p, transport: m.k }));
    } else {
      this.holds.get(k)?.();
      this.holds.delete(k);
    }
  }

  close(): Promise<void> {
    for (const release of this.holds.values()) release();
    this.holds.clear();
    this.listening = false;
    return Promise.all([...this.transports.values()].map((st) => st.close())).then(() => undefined);
  }
}

function validPeer(address: unknown, port: unknown): boolean {
  return typeof address === 'string' && address.length > 0 && address.length < 256 && Number.isInteger(port) && (port as number) > 0 && (port as number) < 65536;
}
