// SIP over UDP (RFC 3261 §18): one datagram = one message. The transport is the edge: a datagram
// first passes per-source admission (allow-list, rate limits: admission.ts), then the parser; a
// request that does not parse is answered statelessly (400/416/505/513 with the reason) when enough
// of it was readable and the answer is no bigger than the request allows, a broken response is
// dropped, a known scanner gets silence, and none of these reach the transaction layer.
import dgram from 'node:dgram';
import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import {
  parseMessage,
  serialize,
  createErrorResponse,
  applyReceivedRport,
  responseDestination,
  resolveParseLimits,
  type ParseOptions,
  type SipMessage,
  type SipParseLimits,
  type SipRequest,
  type SipResponse,
} from '../codec/message.js';
import type { Via } from '../codec/headers.js';
import { sipCallId } from '../../logging/sip-trace.js';
import { lookupLiteral } from '../../udp-lookup.js';
import { SipAdmission, isScannerRequest, logRefusals, type SipAdmissionOptions } from './admission.js';
import { SipWireCounts } from '../../metrics/sip-wire.js';

import type { Endpoint, SipMessageTransport, SipStreamKind } from './types.js';
export type { Endpoint } from './types.js';

export interface SipTransportEvents {
  /** `topVia`: the request's top Via as parsed and stamped with received/rport, when it had one. */
  request: [req: SipRequest, from: Endpoint, topVia: Via | undefined];
  response: [res: SipResponse, from: Endpoint];
  error: [err: Error];
}

/**
 * Datagrams handed over from elsewhere (a SIP router thread) rather than read from our own
 * socket. `subscribe` is called once the socket is bound; the function it returns stops delivery.
 */
export interface DatagramFeed {
  subscribe(deliver: (buf: Buffer, from: Endpoint) => void): () => void;
  /**
   * For a feed that gets only some Call-IDs (a router sharding by Call-ID): whether the
   * responses to a request with this Call-ID would come here. The requests we start (INVITE,
   * REGISTER) take a Call-ID it owns.
   */
  owns?(callId: string): boolean;
}

/** One SIP datagram as it crossed the socket, for --sip-trace and HEP export (src/logging/). */
export interface SipTraceRecord {
  direction: 'in' | 'out';
  /** Our side: the advertised host (loopback when bound to any) and the bound port. */
  local: Endpoint;
  remote: Endpoint;
  /** The datagram as sent or received (not a copy: read it before returning). */
  bytes: Buffer;
  /** Wall clock, ms since the epoch. */
  time: number;
}

export type SipTraceHook = (record: SipTraceRecord) => void;
/**
 * A check on each parsed request before the transaction layer sees it; true when the gate answered
 * (or dropped) the request itself. Installed only while needed (the engine's drain), so it costs
 * nothing otherwise.
 */
export type SipRequestGate = (req: SipRequest, topVia: Via | undefined, from: Endpoint) => boolean;

/** What the edge checks before a datagram reaches the transaction layer. */
export interface SipEdgeOptions {
  /**
   * Allow-list and per-source rate limits (admission.ts; defaults on). false: none. Ignored with a
   * `feed`: the router that feeds this transport applies them, once for all threads.
   */
  admission?: SipAdmissionOptions | false;
  /** Parser caps (parse.ts DEFAULT_PARSE_LIMITS for the missing ones). */
  parseLimits?: Partial<SipParseLimits>;
  /** Drop requests from known scanner User-Agents without an answer (default true). */
  dropScanners?: boolean;
  /**
   * Called with every datagram sent, and every one received that passed admission (keep-alive
   * CRLFs aside), before it is parsed: a trace shows what a parser refused too.
   */
  trace?: SipTraceHook;
}

/**
 * An error response may exceed its request by at most this many bytes (full header names for
 * compact ones, a reason phrase); a bigger one is not sent. Without the cap, one short compact
 * Via line listing many elements comes back as many full Via lines.
 */
export const ERROR_REPLY_SLACK = 128;

export interface SipTransportOptions extends SipEdgeOptions {
  host: string;
  port: number;
  logger: Logger;
  /**
   * Share the port with a router that receives for us: bind with SO_REUSEADDR (the router binds
   * last, so Linux hands it the port's datagrams) and take ours from this feed.
   */
  feed?: DatagramFeed;
  /** Largest datagram accepted (default 65535). */
  maxMessageSize?: number;
}

export interface SipTransportStats {
  received: number;
  sent: number;
  rejected: number;
  dropped: number;
  /** Datagrams the OS refused to send (logged at warn). */
  sendErrors: number;
  /** Requests from known scanners, dropped without an answer. */
  scanners: number;
  /** Error responses not sent because they would have been bigger than their request allows. */
  withheld: number;
}

export function newTransportStats(): SipTransportStats {
  return { received: 0, sent: 0, rejected: 0, dropped: 0, sendErrors: 0, scanners: 0, withheld: 0 };
}

/**
 * The UDP transport, and the hub every transport's messages pass through: stream transports
 * (stream.ts) attached with attachStream() hand their framed messages to ingest(), so admission,
 * parse errors, tracing, metrics and the drain gate are the same for all; and sendBytes() sends an
 * Endpoint that names a stream over that stream.
 */
export class SipUdpTransport extends EventEmitter<SipTransportEvents> implements SipMessageTransport {
  readonly kind = 'udp' as const;
  private readonly streams = new Map<SipStreamKind, SipMessageTransport>();
  private socket: dgram.Socket | undefined;
  /** The bound port, read once after bind: Via/Contact ask for it on every message. */
  private boundPort: number | undefined;
  private unsubscribe: (() => void) | undefined;
  private stopRefusalLog: (() => void) | undefined;
  private readonly log: Logger;
  private readonly parseOptions: ParseOptions;
  private readonly dropScanners: boolean;
  /** Set from the options; may be replaced while running (undefined: no tracing, no cost). */
  trace: SipTraceHook | undefined;
  readonly stats: SipTransportStats = newTransportStats();
  /** Messages in and out by method and status class (read by /metrics at scrape time). */
  readonly wire = new SipWireCounts();
  /** See SipRequestGate (src/drain/drain.ts sets it while draining). */
  gate: SipRequestGate | undefined;
  /** Allow-list and rate limits on our own socket (undefined when off, or when a router feeds us). */
  readonly admission: SipAdmission | undefined;

  constructor(private readonly opts: SipTransportOptions) {
    super();
    this.log = opts.logger.child({ component: 'sip-udp' });
    this.parseOptions = { maxSize: opts.maxMessageSize, limits: resolveParseLimits(opts.parseLimits) };
    this.dropScanners = opts.dropScanners ?? true;
    this.trace = opts.trace;
    const admission = opts.feed || opts.admission === false ? undefined : new SipAdmission(opts.admission);
    this.admission = admission?.active ? admission : undefined;
  }

  get port(): number {
    return this.boundPort ?? this.opts.port;
  }

  /** The address to put in Via/Contact/SDP: the bound host, or loopback when bound to any. */
  get advertisedHost(): string {
    const h = this.opts.host;
    return h === '0.0.0.0' || h === '::' ? '127.0.0.1' : h;
  }

  listen(): Promise<void> {
    return new Promise((resolve, reject) => {
      const feed = this.opts.feed;
      const socket = dgram.createSocket({ type: 'udp4', reuseAddr: feed !== undefined, lookup: lookupLiteral });
      socket.once('error', reject);
      socket.bind(this.opts.port, this.opts.host, () => {
        socket.off('error', reject);
        // Big buffers: a burst of INVITEs at thousands of calls/s must not overflow the kernel queue.
        try {
          socket.setRecvBufferSize(8 * 1024 * 1024);
          socket.setSendBufferSize(8 * 1024 * 1024);
        } catch {
          /* not fatal: the OS may cap it */
        }
        socket.on('message', (buf, rinfo) => this.ingest(buf, { address: rinfo.address, port: rinfo.port }));
        socket.on('error', (err) => {
          this.log.error({ err }, 'sip socket error');
          this.emit('error', err);
        });
        this.socket = socket;
        this.boundPort = socket.address().port;
        this.unsubscribe = feed?.subscribe((buf, from) => this.ingest(buf, from));
        if (this.admission) this.stopRefusalLog = logRefusals(this.admission, this.log);
        this.log.info({ host: this.opts.host, port: this.port }, 'sip/udp listening');
        resolve();
      });
    });
  }

  close(): Promise<void> {
    const s = this.socket;
    this.socket = undefined;
    this.boundPort = undefined;
    this.unsubscribe?.();
    this.unsubscribe = undefined;
    this.stopRefusalLog?.();
    this.stopRefusalLog = undefined;
    if (!s) return Promise.resolve();
    return new Promise((resolve) => s.close(() => resolve()));
  }

  /** Route messages for `kind` endpoints through `transport` (its listen/close stay its owner's). */
  attachStream(kind: SipStreamKind, transport: SipMessageTransport): void {
    this.streams.set(kind, transport);
  }

  /** The attached stream transport of a kind, if any. */
  stream(kind: SipStreamKind): SipMessageTransport | undefined {
    return this.streams.get(kind);
  }

  send(msg: SipMessage, to: Endpoint): void {
    this.sendBytes(serialize(msg), to);
  }

  /** Send an already serialized message (transaction retransmissions keep bytes, not objects). */
  sendBytes(buf: Buffer, to: Endpoint): void {
    const s = this.socket;
    if (!s) return;
    this.stats.sent++;
    if (this.trace) this.traced('out', buf, to);
    this.wire.sent(buf);
    if (to.transport === undefined) s.send(buf, to.port, to.address, this.afterSend);
    else if (this.streams.get(to.transport)?.sendBytes(buf, to) !== true) this.stats.sendErrors++;
  }

  // One callback for every send (the error carries the address and port) rather than a closure each;
  // so this line has no Call-ID: a closure per datagram to carry one would cost every send.
  private readonly afterSend = (err: Error | null): void => {
    if (err) {
      this.stats.sendErrors++;
      this.log.warn({ err }, 'sip send failed');
    }
  };

  /** Send a response where §18.2.2 / RFC 3581 say it goes (received/rport of the top Via). */
  sendResponse(res: SipResponse, fallback?: Endpoint): void {
    const dest = responseDestination(res);
    const to = dest ? { address: dest.host, port: dest.port } : fallback;
    if (!to) {
      this.stats.dropped++;
      return;
    }
    this.send(res, to);
  }

  private traced(direction: 'in' | 'out', bytes: Buffer, remote: Endpoint): void {
    try {
      const port = remote.transport ? (this.streams.get(remote.transport)?.port ?? this.port) : this.port;
      this.trace?.({ direction, local: { address: this.advertisedHost, port, ...(remote.transport ? { transport: remote.transport } : {}) }, remote, bytes, time: Date.now() });
    } catch (err) {
      // A broken trace sink must not take SIP down with it.
      this.log.warn({ err }, 'sip trace hook failed');
    }
  }

  /** One message in: a UDP datagram, or a message a stream transport framed (`from.transport` set). */
  ingest(buf: Buffer, from: Endpoint): void {
    this.stats.received++;
    const admission = this.admission;
    if (admission) {
      const verdict = admission.check(from.address, buf);
      if (verdict !== 'accept') {
        if (verdict === 'refuse') {
          const r = admission.refusal(buf, from, this.parseOptions);
          // Over a stream the refusal goes back on the connection (§18.2.2).
          if (r) this.sendBytes(r.bytes, from.transport ? from : r.to);
        }
        return;
      }
    }
    // Keep-alive CRLFs (RFC 5626) are not messages.
    if (buf.length <= 4 && buf.every((b) => b === 13 || b === 10)) return;
    if (this.trace) this.traced('in', buf, from);
    const parsed = parseMessage(buf, this.parseOptions);
    if (!parsed.ok) {
      if (parsed.isResponse) {
        this.stats.dropped++;
        if (this.log.isLevelEnabled('debug')) this.log.debug({ from, callId: sipCallId(buf), reason: parsed.reason }, 'dropped malformed response');
        return;
      }
      this.stats.rejected++;
      const res = createErrorResponse(parsed);
      // The Call-ID as far as it is readable, so the line can be matched with the peer's trace.
      this.log.info({ from, callId: sipCallId(buf), status: parsed.status, reason: parsed.reason }, 'rejected malformed request');
      if (!res) return;
      // Statelessly, to the source: never much bigger than what came in (no amplification).
      const bytes = serialize(res);
      if (bytes.length > buf.length + ERROR_REPLY_SLACK) this.stats.withheld++;
      else this.sendBytes(bytes, from);
      return;
    }
    const msg = parsed.message;
    this.wire.received(buf);
    if (msg.kind === 'request') {
      if (this.dropScanners && isScannerRequest(msg)) {
        this.stats.scanners++;
        return;
      }
      const via = applyReceivedRport(msg, from.address, from.port);
      if (this.gate?.(msg, via, from)) return;
      this.emit('request', msg, from, via);
    } else {
      this.emit('response', msg, from);
    }
  }
}
