// One HTTP server carries every WebSocket protocol and the small HTTP endpoints on the WS port.
// Protocols register routes; the server only matches paths and hands sockets over, so each
// protocol module stays ignorant of the others. Everything a route should never have to think
// about happens here, before a socket reaches it: connection caps and the handshake deadline
// (connection-guard.ts), the Origin allow-list, credentials (auth.ts) and subprotocol choice.
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import type { Logger } from 'pino';
import { AuthThrottle } from '../auth-throttle.js';
import { Authenticator, type AuthOptions, type Credential } from './auth.js';
import { ConnectionGuard, ThrottledLog, peerAddress, type ConnectionLimits, type ConnectionStats } from './connection-guard.js';
import { WS_CLOSE } from './close-codes.js';

export type RouteParams = Record<string, string>;

/** Who is on the other end of an accepted WebSocket, as the HTTP layer established it. */
export interface ConnectionContext {
  /**
   * The authenticated principal (a user or app name) when the route requires credentials;
   * undefined when authentication is off for this route.
   */
  principal: string | undefined;
  /** The peer's IP address as the socket reports it. */
  remoteAddress: string;
  /** How the principal proved itself, and the path its credential was issued for (if any). */
  credential?: Credential;
}

export interface WsRoute {
  /** Short name used in logs. */
  readonly name: string;
  /** Return params when this route owns the path, null otherwise. */
  match(url: URL, req: IncomingMessage): RouteParams | null;
  /** Largest accepted frame in bytes; bigger frames close the socket with 1009. */
  readonly maxPayload?: number;
  /**
   * WebSocket subprotocols this route speaks (e.g. 'ws.jambonz.org'), in preference order. The
   * first one the client offers is selected; none = no subprotocol is ever selected (an offered
   * one is not echoed back).
   */
  readonly protocols?: readonly string[];
  /**
   * Refuse the upgrade (HTTP 400 naming the expected subprotocols) when the client offers none of
   * `protocols`, instead of upgrading without one. jambonz routes need this: a client that does
   * not speak the protocol must learn so before it sends anything.
   */
  readonly requireProtocol?: boolean;
  onConnection(ws: WebSocket, req: IncomingMessage, params: RouteParams, ctx: ConnectionContext): void;
}

export interface HttpRoute {
  readonly name: string;
  /**
   * Served without the server's credentials (`security.auth`), like `GET /status`: health probes,
   * and routes that check their own (POST /admin/drain's bearer token).
   */
  readonly public?: boolean;
  match(method: string, url: URL): boolean;
  handle(req: IncomingMessage, res: ServerResponse, url: URL, ctx: ConnectionContext): void;
}

/** Hardening of the WebSocket/HTTP port. Caps and the deadline are on by default, auth is off. */
export interface HttpSecurityOptions extends ConnectionLimits {
  /**
   * Browser origins allowed to open WebSockets (e.g. `https://app.example.com`); an upgrade whose
   * Origin is not listed gets 403. Unset (default): any Origin.
   */
  allowedOrigins?: readonly string[];
  /** With `allowedOrigins`, also refuse upgrades that carry no Origin (non-browser clients). Default false. */
  requireOrigin?: boolean;
  /** Require credentials on every WebSocket route and every HTTP route but `GET /status`. */
  auth?: AuthOptions;
}

export interface HttpServerOptions {
  host: string;
  port: number;
  logger: Logger;
  security?: HttpSecurityOptions;
}

const STATUS_TEXT: Record<number, string> = { 400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found', 429: 'Too Many Requests' };

/** Answer a refused upgrade on the raw socket and release it once written. */
function refuseUpgrade(socket: Duplex, status: number, reason: string, headers: Array<[string, string]> = []): void {
  const body = `${reason}\n`;
  const lines = [
    `HTTP/1.1 ${status} ${STATUS_TEXT[status] ?? 'Error'}`,
    'Connection: close',
    'Content-Type: text/plain; charset=utf-8',
    `Content-Length: ${Buffer.byteLength(body)}`,
    ...headers.map(([k, v]) => `${k}: ${v}`),
  ];
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  socket.end(`${lines.join('\r\n')}\r\n\r\n${body}`, () => socket.destroy());
}

function normalizeOrigin(o: string): string {
  try {
    const u = new URL(o);
    return u.origin === 'null' ? o.toLowerCase() : u.origin;
  } catch {
    return o.toLowerCase();
  }
}

export class HttpServer {
  readonly server: http.Server;
  /** Credentials checker (undefined when authentication is off). */
  readonly auth: Authenticator | undefined;
  private readonly wsRoutes: WsRoute[] = [];
  private readonly httpRoutes: HttpRoute[] = [];
  private readonly wssByRoute = new Map<WsRoute, WebSocketServer>();
  private readonly wsErrorListeners = new Map<WsRoute, (err: Error) => void>();
  /**
   * Each route's open WebSockets and the one close listener that forgets them. Not ws's own
   * client tracking: that is a closure and its scope per connection (~100 B of a live call).
   */
  private readonly wsOpen = new Map<WsRoute, { sockets: Set<WebSocket>; onClose: (this: WebSocket) => void }>();
  private readonly log: Logger;
  private readonly guard: ConnectionGuard;
  private readonly origins: Set<string> | undefined;
  private readonly requireOrigin: boolean;
  private readonly originLog: ThrottledLog;
  private readonly authLog: ThrottledLog;
  /** Wrong Basic passwords per source address: a password must not be guessable at line rate. */
  private readonly guesses: AuthThrottle;

  constructor(private readonly opts: HttpServerOptions) {
    this.log = opts.logger.child({ component: 'http' });
    const sec = opts.security ?? {};
    this.guard = new ConnectionGuard(sec, this.log);
    this.auth = sec.auth ? new Authenticator(sec.auth) : undefined;
    this.origins = sec.allowedOrigins ? new Set(sec.allowedOrigins.map(normalizeOrigin)) : undefined;
    this.requireOrigin = sec.requireOrigin ?? false;
    this.originLog = new ThrottledLog(this.log);
    this.authLog = new ThrottledLog(this.log);
    this.guesses = new AuthThrottle({ maxFailures: sec.auth?.maxPasswordFailures ?? 20 });
    // Node's own timers back up the guard's on later requests of a keep-alive socket.
    const headersTimeout = this.guard.handshakeTimeoutMs;
    this.server = http.createServer({ headersTimeout, requestTimeout: Math.max(headersTimeout, 30_000) }, (req, res) => this.onRequest(req, res));
    this.guard.attach(this.server);
    this.server.on('upgrade', (req, socket, head) => this.onUpgrade(req, socket, head));
    this.server.on('clientError', (_err, socket) => {
      if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n', () => socket.destroy());
      else socket.destroy();
    });
  }

  addWsRoute(route: WsRoute): void {
    const protocols = route.protocols ?? [];
    const wss = new WebSocketServer({
      noServer: true,
      maxPayload: route.maxPayload ?? 64 * 1024,
      perMessageDeflate: false,
      clientTracking: false,
      // Always decide: left undefined, ws would echo the first subprotocol offered, whatever it is.
      handleProtocols: (offered) => {
        for (const p of protocols) if (offered.has(p)) return p;
        return false;
      },
    });
    this.wssByRoute.set(route, wss);
    // One error listener per route, not a closure per connection (which would also keep the
    // upgrade request alive for the connection's life through its scope).
    const log = this.log;
    this.wsErrorListeners.set(route, (err: Error) => log.debug({ err, route: route.name }, 'websocket error'));
    const sockets = new Set<WebSocket>();
    this.wsOpen.set(route, {
      sockets,
      onClose(this: WebSocket) {
        sockets.delete(this);
      },
    });
    this.wsRoutes.push(route);
  }

  addHttpRoute(route: HttpRoute): void {
    this.httpRoutes.push(route);
  }

  get port(): number {
    const addr = this.server.address();
    return typeof addr === 'object' && addr ? addr.port : this.opts.port;
  }

  /** Open WebSocket connections per route name (for /metrics). */
  wsConnectionCounts(): Array<[route: string, open: number]> {
    return this.wsRoutes.map((r) => [r.name, this.wsOpen.get(r)?.sockets.size ?? 0]);
  }

  /** Open sockets, and those refused or timed out since start. */
  connectionStats(): ConnectionStats {
    return this.guard.stats();
  }

  listen(): Promise<void> {
    return new Promise((resolve, reject) => {
      const onError = (err: Error) => reject(err);
      this.server.once('error', onError);
      this.server.listen(this.opts.port, this.opts.host, () => {
        this.server.off('error', onError);
        this.log.info({ host: this.opts.host, port: this.port, auth: this.auth !== undefined }, 'websocket/http listening');
        resolve();
      });
    });
  }

  async close(): Promise<void> {
    for (const [route, wss] of this.wssByRoute) {
      for (const ws of this.wsOpen.get(route)?.sockets ?? []) ws.terminate();
      wss.close();
    }
    await new Promise<void>((resolve) => {
      if (!this.server.listening) return resolve();
      this.server.close(() => resolve());
      this.server.closeAllConnections?.();
    });
  }

  private parseUrl(req: IncomingMessage): URL | null {
    try {
      return new URL(req.url ?? '/', 'http://localhost');
    } catch {
      return null;
    }
  }

  /** Credentials for this request (ok with no credential when auth is off or the path is open). */
  private authenticate(
    req: IncomingMessage,
    url: URL,
    kind: 'upgrade' | 'http',
  ): { ok: true; ctx: ConnectionContext } | { ok: false; status: 401 | 429; reason: string; challenges: string[] } {
    const remoteAddress = peerAddress(req.socket);
    if (!this.auth) return { ok: true, ctx: { principal: undefined, remoteAddress } };
    if (this.guesses.locked(remoteAddress) && /^\s*basic\s/i.test(req.headers.authorization ?? '')) {
      this.authLog.warn({ ip: remoteAddress, path: url.pathname, kind }, 'request refused: too many wrong passwords from this address');
      return { ok: false, status: 429, reason: 'too many failed logins: try again later', challenges: [] };
    }
    const d = this.auth.authenticate(req, url);
    if (!d.ok) {
      if (d.passwordGuess) this.guesses.failed(remoteAddress);
      this.authLog.warn({ ip: remoteAddress, path: url.pathname, kind, reason: d.reason }, 'request refused: authentication failed');
      return { ok: false, status: 401, reason: d.reason, challenges: d.challenges };
    }
    const c = d.credential;
    return { ok: true, ctx: { principal: c?.principal, remoteAddress, ...(c ? { credential: c } : {}) } };
  }

  private onRequest(req: IncomingMessage, res: ServerResponse): void {
    if (!this.guard.accepts(req.socket)) {
      req.socket.destroy();
      return;
    }
    this.guard.request(req.socket as Socket, res);
    const url = this.parseUrl(req);
    if (!url) {
      res.writeHead(400, { 'content-type': 'text/plain' }).end('bad request\n');
      return;
    }
    // Liveness belongs to the server, not to any one protocol mounted on it; it is never behind auth.
    if (req.method === 'GET' && url.pathname === '/status') {
      res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' }).end('ok');
      return;
    }
    const route = this.httpRoutes.find((r) => r.match(req.method ?? 'GET', url));
    const a = route?.public ? ({ ok: true, ctx: { principal: undefined, remoteAddress: peerAddress(req.socket) } } as const) : this.authenticate(req, url, 'http');
    if (!a.ok) {
      const headers = a.status === 429 ? { 'retry-after': '60' } : { 'www-authenticate': a.challenges };
      res.writeHead(a.status, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store', ...headers }).end(`${a.reason}\n`);
      return;
    }
    if (!route) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
      return;
    }
    try {
      route.handle(req, res, url, a.ctx);
    } catch (err) {
      this.log.error({ err, route: route.name }, 'http route failed');
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
      res.end('internal error\n');
    }
  }

  private onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    if (!this.guard.accepts(req.socket)) {
      socket.destroy();
      return;
    }
    // The handshake is complete: from here every path either upgrades or answers and closes.
    this.guard.upgraded(req.socket);
    const url = this.parseUrl(req);
    if (!url) return refuseUpgrade(socket, 400, 'bad request');
    if (this.origins) {
      const origin = req.headers.origin;
      const allowed = origin === undefined ? !this.requireOrigin : this.origins.has(normalizeOrigin(origin));
      if (!allowed) {
        this.originLog.warn({ ip: peerAddress(req.socket), path: url.pathname, origin: origin?.slice(0, 200) ?? null }, 'upgrade refused: origin not allowed');
        return refuseUpgrade(socket, 403, origin === undefined ? 'an Origin header is required' : 'origin not allowed');
      }
    }
    const a = this.authenticate(req, url, 'upgrade');
    if (!a.ok) {
      const headers: Array<[string, string]> = a.status === 429 ? [['Retry-After', '60']] : a.challenges.map((c) => ['WWW-Authenticate', c]);
      return refuseUpgrade(socket, a.status, a.reason, headers);
    }
    let matched: { route: WsRoute; params: RouteParams } | null = null;
    for (const route of this.wsRoutes) {
      const params = route.match(url, req);
      if (params) {
        matched = { route, params };
        break;
      }
    }
    if (!matched) return refuseUpgrade(socket, 404, 'not found');
    const { route, params } = matched;
    if (route.requireProtocol && route.protocols?.length) {
      const offered = (req.headers['sec-websocket-protocol'] ?? '').split(',').map((p) => p.trim());
      if (!route.protocols.some((p) => offered.includes(p))) {
        const reason = `unsupported WebSocket subprotocol: expected ${route.protocols.join(' or ')}`;
        this.log.warn({ route: route.name, path: url.pathname, offered: offered.filter(Boolean).slice(0, 8) }, reason);
        return refuseUpgrade(socket, 400, reason);
      }
    }
    const wss = this.wssByRoute.get(route)!;
    const ctx = a.ctx;
    wss.handleUpgrade(req, socket, head, (ws) => {
      ws.on('error', this.wsErrorListeners.get(route)!);
      const open = this.wsOpen.get(route)!;
      open.sockets.add(ws);
      ws.on('close', open.onClose);
      try {
        route.onConnection(ws, req, params, ctx);
      } catch (err) {
        this.log.error({ err, route: route.name }, 'websocket route failed');
        ws.close(WS_CLOSE.internal, 'internal error');
      }
    });
  }
}
