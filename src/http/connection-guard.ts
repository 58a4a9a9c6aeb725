// Connection hardening for the WebSocket/HTTP port, applied to raw sockets before HTTP parsing
// matters: a global and a per-IP cap on open sockets (pending handshakes included), and a deadline
// by which an idle socket must have sent a complete request or upgrade. Without these, a client
// holding half-open upgrades kept one file descriptor each for as long as Node's 60 s header
// timeout (checked every 30 s) allowed.
import type http from 'node:http';
import type { Socket } from 'node:net';
import type { Logger } from 'pino';

export interface ConnectionLimits {
  /** Open sockets on the port, upgraded WebSockets and pending handshakes alike (default 10 000; 0 = no cap). */
  maxConnections?: number;
  /**
   * Open sockets from one IP address (default 5 000; 0 = no cap). Half the global cap: one source
   * cannot fill the port alone, while a jambonz feature-server (one socket per call, one more per
   * listen) or a reverse proxy, which concentrate many callers on one address, are not cut off.
   */
  maxConnectionsPerIp?: number;
  /**
   * How long a socket may sit without a complete request (headers of an upgrade or of an HTTP
   * request), from connect and again after each HTTP response on a keep-alive socket (default
   * 5000 ms). Legitimate clients send their handshake at once; jambonz gives up after 1.5 s.
   */
  handshakeTimeoutMs?: number;
}

export const DEFAULT_CONNECTION_LIMITS: Required<ConnectionLimits> = {
  maxConnections: 10_000,
  maxConnectionsPerIp: 5_000,
  handshakeTimeoutMs: 5_000,
};

export interface ConnectionStats {
  /** Sockets open now. */
  open: number;
  /** Sockets refused at connect because a cap was reached (since start). */
  refused: number;
  /** Sockets closed because they did not complete a request in time (since start). */
  timedOut: number;
}

/** Logs the first event at once, then at most one line per interval carrying the count. */
export class ThrottledLog {
  private last = 0;
  private suppressed = 0;
  constructor(
    private readonly log: Logger,
    private readonly intervalMs = 10_000,
  ) {}

  warn(obj: Record<string, unknown>, msg: string): void {
    const now = Date.now();
    if (now - this.last < this.intervalMs) {
      this.suppressed++;
      return;
    }
    this.log.warn({ ...obj, ...(this.suppressed ? { suppressed: this.suppressed } : {}) }, msg);
    this.last = now;
    this.suppressed = 0;
  }
}

interface Tracked {
  ip: string;
  timer: NodeJS.Timeout | undefined;
  /** HTTP requests received and not yet answered on this socket. */
  inflight: number;
}

/** `::ffff:10.0.0.1` and `10.0.0.1` are one peer. */
export function peerAddress(socket: Socket): string {
  const a = socket.remoteAddress ?? '';
  return a.startsWith('::ffff:') && a.includes('.') ? a.slice(7) : a;
}

function checkLimit(name: string, v: number): number {
  if (!Number.isInteger(v) || v < 0) throw new TypeError(`${name} must be a non-negative integer, got ${v}`);
  return v;
}

export class ConnectionGuard {
  private readonly limits: Required<ConnectionLimits>;
  /** Each open socket: its tracking, or once upgraded (never idle-policed again) just its peer's IP. */
  private readonly sockets = new Map<Socket, Tracked | string>();
  private readonly perIp = new Map<string, number>();
  private refused = 0;
  private timedOut = 0;
  private readonly refusedLog: ThrottledLog;
  private readonly timeoutLog: ThrottledLog;

  constructor(limits: ConnectionLimits, log: Logger) {
    const l = { ...DEFAULT_CONNECTION_LIMITS, ...stripUndefined(limits) };
    this.limits = {
      maxConnections: checkLimit('maxConnections', l.maxConnections),
      maxConnectionsPerIp: checkLimit('maxConnectionsPerIp', l.maxConnectionsPerIp),
      handshakeTimeoutMs: l.handshakeTimeoutMs,
    };
    if (!Number.isFinite(l.handshakeTimeoutMs) || l.handshakeTimeoutMs <= 0) throw new TypeError(`handshakeTimeoutMs must be > 0, got ${l.handshakeTimeoutMs}`);
    this.refusedLog = new ThrottledLog(log);
    this.timeoutLog = new ThrottledLog(log);
  }

  get handshakeTimeoutMs(): number {
    return this.limits.handshakeTimeoutMs;
  }

  stats(): ConnectionStats {
    return { open: this.sockets.size, refused: this.refused, timedOut: this.timedOut };
  }

  /** Count and police every socket the server accepts. */
  attach(server: http.Server): void {
    server.on('connection', (socket: Socket) => this.onConnection(socket));
  }

  private onConnection(socket: Socket): void {
    const ip = peerAddress(socket);
    if (!ip || socket.destroyed) {
      socket.destroy();
      return;
    }
    const { maxConnections, maxConnectionsPerIp } = this.limits;
    const fromIp = this.perIp.get(ip) ?? 0;
    const over = maxConnections > 0 && this.sockets.size >= maxConnections ? 'server' : maxConnectionsPerIp > 0 && fromIp >= maxConnectionsPerIp ? 'per-ip' : undefined;
    if (over) {
      this.refused++;
      this.refusedLog.warn({ ip, cap: over, open: this.sockets.size, fromIp, limit: over === 'server' ? maxConnections : maxConnectionsPerIp }, 'connection refused: too many connections');
      const body = over === 'server' ? 'too many connections\n' : 'too many connections from your address\n';
      // Answer before reading anything, then let go of the descriptor as soon as it is written.
      socket.end(
        `HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nRetry-After: 5\r\nContent-Type: text/plain\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
        () => socket.destroy(),
      );
      // A peer that never reads cannot hold the socket open either.
      setTimeout(() => socket.destroy(), 1000).unref();
      return;
    }
    const t: Tracked = { ip, timer: undefined, inflight: 0 };
    this.sockets.set(socket, t);
    this.perIp.set(ip, fromIp + 1);
    this.arm(socket, t);
    // One listener for every socket (`this` is the socket): a live connection holds no closure here.
    socket.on('close', this.onSocketClose);
  }

  private readonly onSocketClose = socketCloseListener(this);

  /** @internal a tracked socket closed. */
  closed(socket: Socket): void {
    const t = this.sockets.get(socket);
    if (t === undefined) return;
    if (typeof t !== 'string') clearTimeout(t.timer);
    const ip = typeof t === 'string' ? t : t.ip;
    this.sockets.delete(socket);
    const n = (this.perIp.get(ip) ?? 1) - 1;
    if (n <= 0) this.perIp.delete(ip);
    else this.perIp.set(ip, n);
  }

  private arm(socket: Socket, t: Tracked): void {
    clearTimeout(t.timer);
    t.timer = setTimeout(() => {
      this.timedOut++;
      this.timeoutLog.warn({ ip: t.ip, timeoutMs: this.limits.handshakeTimeoutMs }, 'connection closed: no complete request in time');
      socket.destroy();
    }, this.limits.handshakeTimeoutMs);
  }

  /** False for sockets refused at connect (their requests must not reach a route). */
  accepts(socket: Socket): boolean {
    return this.sockets.has(socket);
  }

  /** The socket upgraded to a WebSocket (or was handed over): it is no longer idle-policed. */
  upgraded(socket: Socket): void {
    const t = this.sockets.get(socket);
    if (t === undefined || typeof t === 'string') return;
    clearTimeout(t.timer);
    // The IP alone from now on: a live WebSocket holds no tracking object here.
    this.sockets.set(socket, t.ip);
  }

  /** An HTTP request arrived; the deadline restarts once the socket has answered everything. */
  request(socket: Socket, res: http.ServerResponse): void {
    const t = this.sockets.get(socket);
    if (t === undefined || typeof t === 'string') return;
    clearTimeout(t.timer);
    t.timer = undefined;
    t.inflight++;
    res.once('close', () => {
      t.inflight--;
      if (t.inflight === 0 && !socket.destroyed && this.sockets.has(socket)) this.arm(socket, t);
    });
  }
}

function socketCloseListener(guard: ConnectionGuard): (this: Socket) => void {
  return function (this: Socket) {
    guard.closed(this);
  };
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
