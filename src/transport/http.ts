// One HTTP server carries every WebSocket protocol and the small HTTP endpoints on the WS port.
// Protocols register routes; the server only matches paths and hands sockets over, so each
// protocol module stays ignorant of the others.
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import type { Logger } from 'pino';

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
}

export interface WsRoute {
  /** Short name used in logs. */
  readonly name: string;
  /** Return params when this route owns the path, null otherwise. */
  match(url: URL, req: IncomingMessage): RouteParams | null;
  /** Largest accepted frame in bytes; bigger frames close the socket with 1009. */
  readonly maxPayload?: number;
  /** WebSocket subprotocols this route accepts (e.g. 'ws.jambonz.org'); none = any/none. */
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
  match(method: string, url: URL): boolean;
  handle(req: IncomingMessage, res: ServerResponse, url: URL): void;
}

export interface HttpServerOptions {
  host: string;
  port: number;
  logger: Logger;
}

export class HttpServer {
  readonly server: http.Server;
  private readonly wsRoutes: WsRoute[] = [];
  private readonly httpRoutes: HttpRoute[] = [];
  private readonly wssByRoute = new Map<WsRoute, WebSocketServer>();
  private readonly log: Logger;

  constructor(private readonly opts: HttpServerOptions) {
    this.log = opts.logger.child({ component: 'http' });
    this.server = http.createServer((req, res) => this.onRequest(req, res));
    this.server.on('upgrade', (req, socket, head) => this.onUpgrade(req, socket, head));
    this.server.on('clientError', (_err, socket) => {
      if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
      else socket.destroy();
    });
  }

  addWsRoute(route: WsRoute): void {
    const wss = new WebSocketServer({
      noServer: true,
      maxPayload: route.maxPayload ?? 64 * 1024,
      perMessageDeflate: false,
      handleProtocols: route.protocols
        ? (offered) => {
            for (const p of route.protocols!) if (offered.has(p)) return p;
            return false;
          }
        : undefined,
    });
    this.wssByRoute.set(route, wss);
    this.wsRoutes.push(route);
  }

  addHttpRoute(route: HttpRoute): void {
    this.httpRoutes.push(route);
  }

  get port(): number {
    const addr = this.server.address();
    return typeof addr === 'object' && addr ? addr.port : this.opts.port;
  }

  listen(): Promise<void> {
    return new Promise((resolve, reject) => {
      const onError = (err: Error) => reject(err);
      this.server.once('error', onError);
      this.server.listen(this.opts.port, this.opts.host, () => {
        this.server.off('error', onError);
        this.log.info({ host: this.opts.host, port: this.port }, 'websocket/http listening');
        resolve();
      });
    });
  }

  async close(): Promise<void> {
    for (const wss of this.wssByRoute.values()) {
      for (const ws of wss.clients) ws.terminate();
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

  private onRequest(req: IncomingMessage, res: ServerResponse): void {
    const url = this.parseUrl(req);
    if (!url) {
      res.writeHead(400, { 'content-type': 'text/plain' }).end('bad request\n');
      return;
    }
    // Liveness belongs to the server, not to any one protocol mounted on it.
    if (req.method === 'GET' && url.pathname === '/status') {
      res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' }).end('ok');
      return;
    }
    const route = this.httpRoutes.find((r) => r.match(req.method ?? 'GET', url));
    if (!route) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
      return;
    }
    try {
      route.handle(req, res, url);
    } catch (err) {
      this.log.error({ err, route: route.name }, 'http route failed');
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
      res.end('internal error\n');
    }
  }

  private onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const url = this.parseUrl(req);
    let matched: { route: WsRoute; params: RouteParams } | null = null;
    if (url) {
      for (const route of this.wsRoutes) {
        const params = route.match(url, req);
        if (params) {
          matched = { route, params };
          break;
        }
      }
    }
    if (!matched) {
      socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    const { route, params } = matched;
    if (route.requireProtocol && route.protocols?.length) {
      const offered = (req.headers['sec-websocket-protocol'] ?? '').split(',').map((p) => p.trim());
      if (!route.protocols.some((p) => offered.includes(p))) {
        const reason = `unsupported WebSocket subprotocol: expected ${route.protocols.join(' or ')}`;
        this.log.warn({ route: route.name, path: url?.pathname, offered: offered.filter(Boolean) }, reason);
        socket.end(
          `HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Type: text/plain\r\n` +
            `Content-Length: ${Buffer.byteLength(reason) + 1}\r\n\r\n${reason}\n`,
        );
        return;
      }
    }
    const wss = this.wssByRoute.get(route)!;
    wss.handleUpgrade(req, socket, head, (ws) => {
      ws.on('error', (err) => this.log.debug({ err, route: route.name }, 'websocket error'));
      try {
        route.onConnection(ws, req, params, { principal: undefined, remoteAddress: req.socket.remoteAddress ?? '' });
      } catch (err) {
        this.log.error({ err, route: route.name }, 'websocket route failed');
        ws.close(1011, 'internal error');
      }
    });
  }
}
