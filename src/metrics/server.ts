// GET /metrics as an HTTP route, and the optional separate metrics listener (`metricsPort`), which
// serves /metrics and /health only: a scrape port kept off the public WebSocket port. It has no
// credentials of its own: bind it where only the scraper reaches it.
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import type { HttpRoute } from '../http/server.js';
import { METRICS_CONTENT_TYPE } from './engine-metrics.js';

export type HttpHandler = (req: IncomingMessage, res: ServerResponse) => void;

/** GET /metrics: the text of `text()`. */
export function metricsHandler(text: () => Promise<string>, log: Logger): HttpHandler {
  return (_req, res) => {
    text().then(
      (body) => res.writeHead(200, { 'content-type': METRICS_CONTENT_TYPE, 'cache-control': 'no-store' }).end(body),
      (err: unknown) => {
        log.error({ err }, 'metrics collection failed');
        if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
        res.end('metrics collection failed\n');
      },
    );
  };
}

/** An HttpRoute for one method and path. */
export function route(name: string, method: string, path: string, handle: HttpHandler, opts: { public?: boolean } = {}): HttpRoute {
  return { name, public: opts.public ?? false, match: (m, url) => m === method && url.pathname === path, handle: (req, res) => handle(req, res) };
}

export interface MetricsServerOptions {
  host: string;
  port: number;
  logger: Logger;
  /** Handlers by `METHOD /path` (e.g. `GET /metrics`). */
  routes: Record<string, HttpHandler>;
}

export class MetricsServer {
  private readonly server: http.Server;
  constructor(private readonly opts: MetricsServerOptions) {
    this.server = http.createServer({ requestTimeout: 10_000, headersTimeout: 5_000 }, (req, res) => {
      const path = (req.url ?? '/').split('?')[0];
      const h = opts.routes[`${req.method ?? 'GET'} ${path}`];
      if (h) h(req, res);
      else res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
    });
  }

  get port(): number {
    const a = this.server.address();
    return typeof a === 'object' && a ? a.port : this.opts.port;
  }

  listen(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.opts.port, this.opts.host, () => {
        this.server.off('error', reject);
        this.opts.logger.info({ host: this.opts.host, port: this.port }, 'metrics listening');
        resolve();
      });
    });
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      if (!this.server.listening) return resolve();
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }
}
