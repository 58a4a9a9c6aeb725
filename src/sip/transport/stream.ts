// SIP over TCP and TLS (RFC 3261 §18; RFC 5626 §3.5.1 keep-alive). One connection carries many
// messages, framed by stream-framer.ts; each complete message is handed to `deliver`, the same
// admission → parse → transaction pipeline UDP datagrams go through (udp.ts ingest()), with an
// Endpoint that names the connection ({ address, port, transport }). Sending to such an endpoint
// reuses the connection to that address and port (responses go back on the connection their
// request came in on, §18.2.2; in-dialog requests follow the flow); with none open, a new one is
// connected (§18.1.1).
//
// Bounded against hostile peers: connections in total and per IP, bytes buffered per connection
// (the framer's limits: an oversized or never-ending message is answered 400/513 when its head
// allows, logged, and the connection closed), bytes queued for a peer that does not read, an idle
// timeout, and for TLS a handshake timeout. None of these holds call state: a closed connection
// only means the next message to that endpoint opens a new one.
import net from 'node:net';
import tls from 'node:tls';
import type { Logger } from 'pino';
import { createErrorResponse, createResponse, parseMessage, serialize } from '../codec/message.js';
import { StreamFramer, DEFAULT_STREAM_LIMITS, type FramerEvent } from './stream-framer.js';
import type { Endpoint, SipMessageTransport, SipStreamKind } from './types.js';

export interface SipStreamLimits {
  /** Connections open at once, both directions (default 1024). */
  maxConnections: number;
  /** Of those, from or to one IP address (default 64). */
  maxConnectionsPerIp: number;
  /** Largest message (default 65 535). */
  maxMessageBytes: number;
  /** Largest header section (default 16 384); a longer one is a never-ending message. */
  maxHeaderBytes: number;
  /** Bytes queued for a peer that does not read before its connection is dropped (default 1 MiB). */
  maxQueuedBytes: number;
  /**
   * A connection with no traffic for this long is closed (default 300 000 ms; keep-alives count),
   * unless a dialog or a registration binding uses it.
   */
  idleTimeoutMs: number;
  /** A TLS handshake not done within this is abandoned (default 5 000 ms). */
  handshakeTimeoutMs: number;
}

export const DEFAULT_SIP_STREAM_LIMITS: Readonly<SipStreamLimits> = Object.freeze({
  maxConnections: 1024,
  maxConnectionsPerIp: 64,
  maxMessageBytes: DEFAULT_STREAM_LIMITS.maxMessageBytes,
  maxHeaderBytes: DEFAULT_STREAM_LIMITS.maxHeaderBytes,
  maxQueuedBytes: 1024 * 1024,
  idleTimeoutMs: 300_000,
  handshakeTimeoutMs: 5_000,
});

export interface SipTlsOptions {
  /** PEM certificate chain and key (server side; also offered as client certificate). */
  cert: string | Buffer;
  key: string | Buffer;
  /** Trusted CAs for connections we open (default: Node's bundled roots). */
  ca?: string | Buffer | Array<string | Buffer>;
  /** Verify the server's certificate on connections we open (default true). */
  rejectUnauthorized?: boolean;
}

type FrameError = Extract<FramerEvent, { type: 'error' }>;

/**
 * The 400/513 for a message that could not be framed, answered from its head when that has a Via
 * (and, like every stateless error, never much bigger than what was read).
 */
export function frameErrorReply(ev: FrameError): Buffer | undefined {
  // A never-ending head is cut at its last whole line and closed with the empty line, so the
  // headers read so far can be echoed; the body (if any) is never looked at.
  let head = ev.head;
  const end = head.indexOf('\r\n\r\n');
  if (end >= 0) head = head.subarray(0, end + 4);
  else {
    const last = head.lastIndexOf('\r\n');
    if (last < 0) return undefined;
    head = Buffer.concat([head.subarray(0, last + 2), Buffer.from('\r\n')]);
  }
  const parsed = parseMessage(head);
  const res = parsed.ok
    ? parsed.message.kind === 'request'
      ? createResponse(parsed.message, ev.status, ev.reason)
      : undefined
    : createErrorResponse({ ...parsed, status: ev.status, reason: ev.reason });
  if (!res) return undefined;
  const bytes = serialize(res);
  return bytes.length <= ev.head.length + 128 ? bytes : undefined;
}

export interface SipStreamTransportOptions {
  kind: SipStreamKind;
  host: string;
  port: number;
  logger: Logger;
  /** Required for kind 'tls'. */
  tls?: SipTlsOptions;
  limits?: Partial<SipStreamLimits>;
  /**
   * Every complete message, with the endpoint naming its connection and that connection's id (a
   * SIP router hands both to a worker thread, which sends back on the id: sendOn()).
   */
  deliver: (bytes: Buffer, from: Endpoint, conn: number) => void;
  /** A connection that delivered or was opened is gone (its id is never used again). */
  closed?: (conn: number) => void;
}

export interface SipStreamStats {
  accepted: number;
  connected: number;
  /** Connections refused: over the total or per-IP limit. */
  refused: number;
  /** Closed for a message that could not be framed (oversized, never-ending, bad Content-Length). */
  framingErrors: number;
  idleClosed: number;
  /** TLS handshakes that failed or timed out. */
  handshakeFailures: number;
  /** Closed because the peer did not read what we sent. */
  slowReaders: number;
  pings: number;
}

interface Conn {
  id: number;
  socket: net.Socket;
  endpoint: Endpoint;
  framer: StreamFramer;
}

const PONG = Buffer.from('\r\n');

export class SipStreamTransport implements SipMessageTransport {
  readonly kind: SipStreamKind;
  readonly limits: SipStreamLimits;
  readonly stats: SipStreamStats = { accepted: 0, connected: 0, refused: 0, framingErrors: 0, idleClosed: 0, handshakeFailures: 0, slowReaders: 0, pings: 0 };
  private server: net.Server | undefined;
  private boundPort: number | undefined;
  /** Open (or opening) connections by "address|port". */
  private readonly conns = new Map<string, Conn>();
  /** The same connections by id, for sendOn(). */
  private readonly byId = new Map<number, Conn>();
  private nextId = 1;
  /** Every socket counted against the limits, handshaking ones included. */
  private readonly sockets = new Set<net.Socket>();
  private readonly perIp = new Map<string, number>();
  /** Holders (dialogs, registrations) of the connection to "address|port": it is not idle-closed. */
  private readonly holds = new Map<string, number>();
  private readonly log: Logger;

  /** Connections open now (handshaking ones included). */
  get openConnections(): number {
    return this.sockets.size;
  }

  constructor(private readonly opts: SipStreamTransportOptions) {
    this.kind = opts.kind;
    if (opts.kind === 'tls' && !opts.tls) throw new Error('SIP over TLS needs a certificate and key (tls.cert, tls.key)');
    this.limits = { ...DEFAULT_SIP_STREAM_LIMITS, ...opts.limits };
    this.log = opts.logger.child({ component: `sip-${opts.kind}` });
  }

  get port(): number {
    return this.boundPort ?? this.opts.port;
  }

  /** Connections open now (both directions, handshaking ones included). */
  get connectionCount(): number {
    return this.sockets.size;
  }

  listen(): Promise<void> {
    const t = this.opts.tls;
    const server =
      this.kind === 'tls' && t
        ? tls.createServer({ cert: t.cert, key: t.key, handshakeTimeout: this.limits.handshakeTimeoutMs })
        : net.createServer();
    // Limits are applied on the raw socket, before any TLS work is spent on it.
    server.on('connection', (raw: net.Socket) => {
      if (!this.admit(raw)) return;
      this.stats.accepted++;
      if (this.kind === 'tcp') this.attach(raw);
    });
    if (server instanceof tls.Server) {
      server.on('secureConnection', (s: tls.TLSSocket) => this.attach(s));
      server.on('tlsClientError', (err, s) => {
        this.stats.handshakeFailures++;
        this.log.info({ remote: s.remoteAddress, err: err.message }, 'tls handshake failed');
        s.destroy();
      });
    }
    server.on('error', (err) => this.log.error({ err }, 'sip stream server error'));
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.opts.port, this.opts.host, () => {
        server.off('error', reject);
        this.server = server;
        this.boundPort = (server.address() as net.AddressInfo).port;
        this.log.info({ host: this.opts.host, port: this.boundPort }, `sip/${this.kind} listening`);
        resolve();
      });
    });
  }

  close(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    for (const s of this.sockets) s.destroy();
    if (!server) return Promise.resolve();
    return new Promise((resolve) => server.close(() => resolve()));
  }

  connected(to: Endpoint): boolean {
    const conn = this.conns.get(key(to.address, to.port));
    return conn !== undefined && !conn.socket.destroyed;
  }

  hold(to: Endpoint): () => void {
    const k = key(to.address, to.port);
    this.holds.set(k, (this.holds.get(k) ?? 0) + 1);
    this.conns.get(k)?.socket.setTimeout(0);
    let held = true;
    return () => {
      if (!held) return;
      held = false;
      const n = (this.holds.get(k) ?? 1) - 1;
      if (n > 0) return void this.holds.set(k, n);
      this.holds.delete(k);
      this.conns.get(k)?.socket.setTimeout(this.limits.idleTimeoutMs);
    };
  }

  /** Send on the connection to `to`, opening one if none is open. */
  sendBytes(buf: Buffer, to: Endpoint): boolean {
    let conn = this.conns.get(key(to.address, to.port));
    if (!conn) {
      if (!this.server) return false;
      conn = this.connect(to);
      if (!conn) return false;
    }
    return this.write(conn, buf);
  }

  /**
   * Send on connection `id` only (as deliver() named it): false when it is gone. A response
   * belongs on the connection its request came in on (§18.2.2); no new one is opened for it.
   */
  sendOn(id: number, buf: Buffer): boolean {
    const conn = this.byId.get(id);
    return conn !== undefined && this.write(conn, buf);
  }

  private write(conn: Conn, buf: Buffer): boolean {
    const s = conn.socket;
    if (s.destroyed) return false;
    if (s.writableLength > this.limits.maxQueuedBytes) {
      this.stats.slowReaders++;
      this.log.warn({ remote: conn.endpoint }, 'sip peer does not read: connection closed');
      s.destroy();
      return false;
    }
    s.write(buf);
    return true;
  }

  /** Counts a socket against the limits; false (and the socket destroyed) when over one. */
  private admit(s: net.Socket, remoteAddress = s.remoteAddress): boolean {
    const ip = remoteAddress ?? '';
    const n = this.perIp.get(ip) ?? 0;
    if (this.sockets.size >= this.limits.maxConnections || n >= this.limits.maxConnectionsPerIp) {
      this.stats.refused++;
      this.log.warn({ remote: ip, open: this.sockets.size, fromIp: n }, 'sip connection refused: over the connection limit');
      s.destroy();
      return false;
    }
    this.sockets.add(s);
    this.perIp.set(ip, n + 1);
    s.once('close', () => {
      this.sockets.delete(s);
      const left = (this.perIp.get(ip) ?? 1) - 1;
      if (left > 0) this.perIp.set(ip, left);
      else this.perIp.delete(ip);
    });
    return true;
  }

  private connect(to: Endpoint): Conn | undefined {
    const t = this.opts.tls;
    const socket =
      this.kind === 'tls' && t
        ? tls.connect({ host: to.address, port: to.port, cert: t.cert, key: t.key, ca: t.ca, rejectUnauthorized: t.rejectUnauthorized ?? true, servername: net.isIP(to.address) ? undefined : to.address })
        : net.connect({ host: to.address, port: to.port });
    if (!this.admit(socket, to.address)) return undefined;
    this.stats.connected++;
    if (socket instanceof tls.TLSSocket) {
      const timer = setTimeout(() => {
        this.stats.handshakeFailures++;
        this.log.info({ remote: to }, 'tls handshake timed out');
        socket.destroy();
      }, this.limits.handshakeTimeoutMs);
      socket.once('secureConnect', () => clearTimeout(timer));
      socket.once('close', () => clearTimeout(timer));
    }
    return this.attach(socket, { address: to.address, port: to.port, transport: this.kind });
  }

  private attach(socket: net.Socket, endpoint?: Endpoint): Conn {
    const ep: Endpoint = endpoint ?? { address: normalise(socket.remoteAddress ?? ''), port: socket.remotePort ?? 0, transport: this.kind };
    const k = key(ep.address, ep.port);
    const conn: Conn = { id: this.nextId++, socket, endpoint: ep, framer: new StreamFramer({ maxMessageBytes: this.limits.maxMessageBytes, maxHeaderBytes: this.limits.maxHeaderBytes }) };
    this.conns.get(k)?.socket.destroy();
    this.conns.set(k, conn);
    this.byId.set(conn.id, conn);
    socket.setNoDelay(true);
    // Silent dialogs and registrations on a connection are normal: only an unheld one idles out.
    socket.on('timeout', () => {
      this.stats.idleClosed++;
      this.log.debug({ remote: ep }, 'idle sip connection closed');
      socket.destroy();
    });
    socket.setTimeout(this.holds.has(k) ? 0 : this.limits.idleTimeoutMs);
    socket.on('data', (chunk: Buffer) => this.onData(conn, chunk));
    socket.on('error', (err) => this.log.debug({ remote: ep, err: err.message }, 'sip connection error'));
    socket.once('close', () => {
      if (this.conns.get(k) === conn) this.conns.delete(k);
      this.byId.delete(conn.id);
      this.opts.closed?.(conn.id);
    });
    return conn;
  }

  private onData(conn: Conn, chunk: Buffer): void {
    for (const ev of conn.framer.push(chunk)) {
      if (ev.type === 'message') this.opts.deliver(ev.bytes, conn.endpoint, conn.id);
      else if (ev.type === 'ping') {
        this.stats.pings++;
        conn.socket.write(PONG);
      } else if (ev.type === 'error') {
        this.stats.framingErrors++;
        this.log.warn({ remote: conn.endpoint, status: ev.status, reason: ev.reason, buffered: ev.head.length }, 'unframeable sip message: connection closed');
        const reply = frameErrorReply(ev);
        if (reply) conn.socket.write(reply);
        conn.socket.end();
        // A peer that keeps the connection half-open gets it destroyed shortly.
        setTimeout(() => conn.socket.destroy(), 1000).unref();
      }
    }
  }
}

function key(address: string, port: number): string {
  return `${normalise(address)}|${port}`;
}

/** "::ffff:127.0.0.1" (a dual-stack socket's view of an IPv4 peer) is 127.0.0.1. */
function normalise(address: string): string {
  return address.startsWith('::ffff:') && net.isIPv4(address.slice(7)) ? address.slice(7) : address;
}
