// SIP over UDP (RFC 3261 §18): one datagram = one message. The transport validates at the edge:
// a request that does not parse is answered statelessly (400/413/416/505 with the reason) when
// enough of it was readable, a broken response is dropped, and neither reaches the transaction layer.
import dgram from 'node:dgram';
import { lookup as dnsLookup, type LookupOneOptions } from 'node:dns';
import { EventEmitter } from 'node:events';
import { isIPv4 } from 'node:net';
import type { Logger } from 'pino';
import {
  parseMessage,
  serialize,
  createErrorResponse,
  applyReceivedRport,
  responseDestination,
  type SipMessage,
  type SipRequest,
  type SipResponse,
} from './message.js';
import type { Via } from './headers.js';

export interface Endpoint {
  address: string;
  port: number;
}

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
}

export interface SipTransportOptions {
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
}

export function newTransportStats(): SipTransportStats {
  return { received: 0, sent: 0, rejected: 0, dropped: 0, sendErrors: 0 };
}

// dgram resolves every destination through its lookup function, and dns.lookup answers even an
// IP literal on the next tick: one extra tick and closure per datagram sent. Destinations here are
// almost always addresses already (Via received/rport, SDP), so answer those at once.
function lookupLiteral(
  host: string,
  options: LookupOneOptions,
  cb: (err: NodeJS.ErrnoException | null, address: string, family: number) => void,
): void {
  if (isIPv4(host)) cb(null, host, 4);
  else dnsLookup(host, options, cb);
}

export class SipUdpTransport extends EventEmitter<SipTransportEvents> {
  private socket: dgram.Socket | undefined;
  /** The bound port, read once after bind: Via/Contact ask for it on every message. */
  private boundPort: number | undefined;
  private unsubscribe: (() => void) | undefined;
  private readonly log: Logger;
  readonly stats: SipTransportStats = newTransportStats();

  constructor(private readonly opts: SipTransportOptions) {
    super();
    this.log = opts.logger.child({ component: 'sip-udp' });
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
        socket.on('message', (buf, rinfo) => this.onDatagram(buf, { address: rinfo.address, port: rinfo.port }));
        socket.on('error', (err) => {
          this.log.error({ err }, 'sip socket error');
          this.emit('error', err);
        });
        this.socket = socket;
        this.boundPort = socket.address().port;
        this.unsubscribe = feed?.subscribe((buf, from) => this.onDatagram(buf, from));
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
    if (!s) return Promise.resolve();
    return new Promise((resolve) => s.close(() => resolve()));
  }

  send(msg: SipMessage, to: Endpoint): void {
    this.sendBytes(serialize(msg), to);
  }

  /** Send an already serialized message (transaction retransmissions keep bytes, not objects). */
  sendBytes(buf: Buffer, to: Endpoint): void {
    const s = this.socket;
    if (!s) return;
    this.stats.sent++;
    s.send(buf, to.port, to.address, this.afterSend);
  }

  // One callback for every send (the error carries the address and port) rather than a closure each.
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

  private onDatagram(buf: Buffer, from: Endpoint): void {
    this.stats.received++;
    // Keep-alive CRLFs (RFC 5626) are not messages.
    if (buf.length <= 4 && buf.every((b) => b === 13 || b === 10)) return;
    const parsed = parseMessage(buf, { maxSize: this.opts.maxMessageSize });
    if (!parsed.ok) {
      if (parsed.isResponse) {
        this.stats.dropped++;
        this.log.debug({ from, reason: parsed.reason }, 'dropped malformed response');
        return;
      }
      this.stats.rejected++;
      const res = createErrorResponse(parsed);
      this.log.info({ from, status: parsed.status, reason: parsed.reason }, 'rejected malformed request');
      if (res) this.send(res, from);
      return;
    }
    const msg = parsed.message;
    if (msg.kind === 'request') {
      const via = applyReceivedRport(msg, from.address, from.port);
      this.emit('request', msg, from, via);
    } else {
      this.emit('response', msg, from);
    }
  }
}
