// The statechart viewer's HTTP server: the page at /inspect, its script and style (shipped in
// assets/inspect/, read once at start), the layout library (elkjs, served from node_modules), and
// the live data as Server-Sent Events on /inspect/events. Nothing is fetched from anywhere else,
// so the page works with the network unplugged.
//
// Access: bound to 127.0.0.1 unless told otherwise. Without a token only requests whose Host names
// a loopback address are served, which stops DNS rebinding (a web page whose own name resolves to
// 127.0.0.1 reading call data through the visitor's browser). With a token every request needs it,
// as an HttpOnly SameSite=Strict cookie set by visiting /inspect?token=… or as a Bearer header.
// SSE, not WebSocket: a cross-origin page cannot read an event stream without CORS headers (none
// are sent), while a WebSocket would need an Origin check of its own.
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync, existsSync, createReadStream } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import type { AnyActorLogic, InspectionEvent } from 'xstate';
import type { Logger } from 'pino';
import { ActorRegistry, type ActorRow, type ActorDetail, type EventRow, type ActorWatch } from './registry.js';
import type { ViewerNode } from './definition.js';
import { DEFAULT_INSPECT_HOST, DEFAULT_INSPECT_PORT, isLoopbackHost, toInspectFilter, type InspectOptions, type InspectorHandle } from './index.js';
import type { StatelyBridge } from './stately.js';

/** What the page receives, one JSON object per SSE message. */
export type ViewerMessage =
  | { type: 'hello'; now: number; actors: ActorRow[]; stately: boolean; filter: string | null; eventsPerActor: number }
  | { type: 'actors'; rows: ActorRow[]; removed: string[] }
  | { type: 'definition'; machine: string; definition: ViewerNode }
  | { type: 'actor'; actor: ActorDetail }
  | { type: 'events'; id: string; events: EventRow[] }
  | { type: 'gone'; id: string };

const FLUSH_MS = 100;
const HEARTBEAT_MS = 15_000;
const MAX_STREAMS = 16;
/** A browser that falls this far behind is dropped rather than buffered without bound. */
const MAX_BUFFERED = 8 * 1024 * 1024;
const STATELY_APP = 'https://stately.ai/inspect';

const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

interface Stream {
  res: ServerResponse;
  selected: string | undefined;
  /** Last event seq and detail version sent for the selected actor. */
  seq: number;
  version: number;
  machines: Set<string>;
  gone: boolean;
}

/** The shipped assets: next to src/ when run from source, next to dist/ when built. */
function assetsDir(): string {
  const here = path.dirname(fileURLToPath(import.meta.url));
  for (const up of ['../..', '../../..']) {
    const dir = path.resolve(here, up, 'assets/inspect');
    if (existsSync(path.join(dir, 'viewer.js'))) return dir;
  }
  throw new Error(`the statechart viewer's assets (assets/inspect) are missing next to ${here}`);
}

function digest(s: string): Buffer {
  return createHash('sha256').update(s).digest();
}

export class InspectorServer implements InspectorHandle {
  readonly registry: ActorRegistry;
  private readonly server: http.Server;
  private readonly log: Logger;
  private readonly host: string;
  private readonly wantedPort: number;
  private readonly filter: (kind: string, id: string) => boolean;
  private readonly tokenDigest: Buffer | undefined;
  private readonly assets: Record<string, { type: string; body: Buffer }>;
  private readonly elkPath: string;
  private readonly streams = new Set<Stream>();
  private stately: StatelyBridge | undefined;
  private timer: NodeJS.Timeout | undefined;
  private sweepTimer: NodeJS.Timeout | undefined;
  private sinceHeartbeat = 0;

  constructor(private readonly o: InspectOptions, logger: Logger) {
    this.log = logger.child({ component: 'inspector' });
    this.host = o.host ?? DEFAULT_INSPECT_HOST;
    this.wantedPort = o.port ?? DEFAULT_INSPECT_PORT;
    this.filter = toInspectFilter(o.filter);
    this.tokenDigest = o.token !== undefined ? digest(o.token) : undefined;
    this.registry = new ActorRegistry({ eventsPerActor: o.eventsPerActor, keepStoppedMs: o.keepStoppedMs, maxStopped: o.maxStopped });
    const dir = assetsDir();
    const read = (f: string, type: string) => ({ type, body: readFileSync(path.join(dir, f)) });
    this.assets = {
      '/inspect': read('index.html', 'text/html; charset=utf-8'),
      '/inspect/viewer.js': read('viewer.js', 'text/javascript; charset=utf-8'),
      '/inspect/viewer.css': read('viewer.css', 'text/css; charset=utf-8'),
      '/inspect/stately.js': read('stately.js', 'text/javascript; charset=utf-8'),
    };
    // elkjs's single-file build (layout in the page, no worker needed); resolved where npm put it.
    this.elkPath = createRequire(import.meta.url).resolve('elkjs/lib/elk.bundled.js');
    this.server = http.createServer((req, res) => this.onRequest(req, res));
    this.server.maxConnections = 64;
    this.server.on('clientError', (_err, socket) => socket.destroy());
  }

  get port(): number {
    const a = this.server.address();
    return typeof a === 'object' && a ? a.port : this.wantedPort;
  }

  get url(): string {
    const h = this.host.includes(':') ? `[${this.host}]` : this.host;
    return `http://${h === '0.0.0.0' || h === '[::]' ? '127.0.0.1' : h}:${this.port}/inspect`;
  }

  async listen(): Promise<void> {
    if (this.o.stately) {
      const { StatelyBridge, statelyPage } = await import('./stately.js');
      this.stately = new StatelyBridge(this.o.statelyUrl ?? STATELY_APP);
      this.assets['/inspect/stately'] = { type: 'text/html; charset=utf-8', body: Buffer.from(statelyPage(this.stately.appUrl)) };
    }
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.wantedPort, this.host, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    this.sweepTimer = setInterval(() => this.registry.sweep(), 5000).unref();
    this.log.info({ url: this.url, token: this.tokenDigest ? 'required' : 'none', stately: !!this.stately }, 'statechart viewer listening: open the URL in a browser');
  }

  watch(kind: string, id: string, logic: AnyActorLogic): ActorWatch | undefined {
    if (!this.filter(kind, id)) return undefined;
    const w = this.registry.watch(kind, id, logic);
    const stately = this.stately;
    if (!stately) return w;
    return {
      inspect: (ev: InspectionEvent) => {
        w.inspect(ev);
        stately.inspect(ev);
      },
      exit: w.exit,
    };
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    clearInterval(this.sweepTimer);
    this.timer = undefined;
    for (const s of this.streams) s.res.end();
    this.streams.clear();
    this.stately?.close();
    await new Promise<void>((resolve) => {
      if (!this.server.listening) return resolve();
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
    this.registry.clear();
  }

  // --- HTTP ---------------------------------------------------------------------------------

  private onRequest(req: IncomingMessage, res: ServerResponse): void {
    res.setHeader('X-Content-Type-Options', 'nosniff');
    res.setHeader('Referrer-Policy', 'no-referrer');
    res.setHeader('Cache-Control', 'no-store');
    let url: URL;
    try {
      url = new URL(req.url ?? '/', 'http://inspector.invalid');
    } catch {
      return this.plain(res, 400, 'bad request URL');
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('Allow', 'GET, HEAD');
      return this.plain(res, 405, 'method not allowed');
    }
    const access = this.access(req, url);
    if (access === 'bad-host') return this.plain(res, 421, 'this inspector answers only to a loopback Host (localhost, 127.0.0.1, [::1]); set a token to reach it by another name');
    if (access === 'set-cookie') {
      res.setHeader('Set-Cookie', `${this.cookieName}=${encodeURIComponent(this.o.token!)}; Path=/; HttpOnly; SameSite=Strict`);
      res.setHeader('Location', '/inspect');
      return this.plain(res, 303, 'token accepted');
    }
    if (access === 'denied') return this.plain(res, 401, 'this inspector needs its token: open /inspect?token=<token> (or send Authorization: Bearer <token>)');
    const p = url.pathname.replace(/\/+$/, '') || '/';
    if (p === '/') {
      res.setHeader('Location', '/inspect');
      return this.plain(res, 302, 'see /inspect');
    }
    if (p === '/inspect/events') return this.openStream(req, res, url);
    if (p === '/inspect/stately/events' && this.stately) return this.openStatelyStream(res);
    if (p === '/inspect/elk.js') {
      res.writeHead(200, { 'Content-Type': 'text/javascript; charset=utf-8', 'Cache-Control': 'private, max-age=3600' });
      if (req.method === 'HEAD') return void res.end();
      createReadStream(this.elkPath).on('error', () => res.destroy()).pipe(res);
      return;
    }
    const asset = this.assets[p];
    if (!asset) return this.plain(res, 404, 'not found');
    const page = asset.type.startsWith('text/html');
    const csp = p === '/inspect/stately' && this.stately ? `${CSP}; frame-src ${this.stately.origin}` : CSP;
    res.writeHead(200, { 'Content-Type': asset.type, 'Content-Length': asset.body.length, ...(page ? { 'Content-Security-Policy': csp, 'X-Frame-Options': 'DENY' } : {}) });
    res.end(req.method === 'HEAD' ? undefined : asset.body);
  }

  private get cookieName(): string {
    // Cookies ignore ports: two engines on one host keep their tokens apart by name.
    return `callchart_inspect_${this.port}`;
  }

  private access(req: IncomingMessage, url: URL): 'ok' | 'bad-host' | 'denied' | 'set-cookie' {
    if (!this.tokenDigest) {
      const host = (req.headers.host ?? '').replace(/:\d+$/, '');
      return isLoopbackHost(host) ? 'ok' : 'bad-host';
    }
    const given = url.searchParams.get('token');
    if (given !== null && url.pathname === '/inspect') return this.tokenOk(given) ? 'set-cookie' : 'denied';
    const auth = req.headers.authorization;
    if (auth?.startsWith('Bearer ') && this.tokenOk(auth.slice(7).trim())) return 'ok';
    for (const part of (req.headers.cookie ?? '').split(';')) {
      const eq = part.indexOf('=');
      if (eq < 0 || part.slice(0, eq).trim() !== this.cookieName) continue;
      let v: string;
      try {
        v = decodeURIComponent(part.slice(eq + 1).trim());
      } catch {
        continue;
      }
      if (this.tokenOk(v)) return 'ok';
    }
    return 'denied';
  }

  private tokenOk(given: string): boolean {
    return timingSafeEqual(digest(given), this.tokenDigest!);
  }

  private plain(res: ServerResponse, status: number, text: string): void {
    res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8' });
    res.end(`${text}\n`);
  }

  // --- the event streams --------------------------------------------------------------------

  private sseHead(res: ServerResponse): void {
    res.writeHead(200, { 'Content-Type': 'text/event-stream; charset=utf-8', 'Cache-Control': 'no-store', 'X-Accel-Buffering': 'no' });
    res.flushHeaders();
  }

  private openStream(req: IncomingMessage, res: ServerResponse, url: URL): void {
    if (this.streams.size >= MAX_STREAMS) return this.plain(res, 503, `at most ${MAX_STREAMS} viewer pages at once`);
    this.sseHead(res);
    if (req.method === 'HEAD') return void res.end();
    const selected = url.searchParams.get('actor') || undefined;
    const s: Stream = { res, selected, seq: 0, version: -1, machines: new Set(), gone: false };
    this.streams.add(s);
    this.registry.tracking = true;
    res.on('close', () => {
      this.streams.delete(s);
      if (!this.streams.size) this.idle();
    });
    this.send(s, {
      type: 'hello',
      now: Date.now(),
      actors: this.registry.rows(),
      stately: !!this.stately,
      filter: typeof this.o.filter === 'string' && this.o.filter ? this.o.filter : null,
      eventsPerActor: this.o.eventsPerActor ?? 200,
    });
    this.sendSelected(s);
    this.timer ??= setInterval(() => this.flush(), FLUSH_MS);
  }

  private openStatelyStream(res: ServerResponse): void {
    if (this.stately!.clientCount >= MAX_STREAMS) return this.plain(res, 503, `at most ${MAX_STREAMS} viewer pages at once`);
    this.sseHead(res);
    this.stately!.attach(res);
  }

  /** No page open: stop the flush timer and stop queueing list changes for nobody. */
  private idle(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    this.registry.tracking = false;
    this.registry.takeChanges();
  }

  private flush(): void {
    const { rows, removed } = this.registry.takeChanges();
    const heartbeat = (this.sinceHeartbeat += FLUSH_MS) >= HEARTBEAT_MS;
    if (heartbeat) this.sinceHeartbeat = 0;
    for (const s of this.streams) {
      if (rows.length || removed.length) this.send(s, { type: 'actors', rows, removed });
      this.sendSelected(s);
      if (heartbeat) s.res.write(': ping\n\n');
    }
  }

  private sendSelected(s: Stream): void {
    const id = s.selected;
    if (id === undefined || s.gone) return;
    const version = this.registry.version(id);
    if (version === undefined) {
      s.gone = true;
      this.send(s, { type: 'gone', id });
      return;
    }
    if (version === s.version) return;
    const detail = this.registry.detail(id)!;
    if (detail.machine !== null && !s.machines.has(detail.machine)) {
      s.machines.add(detail.machine);
      this.send(s, { type: 'definition', machine: detail.machine, definition: this.registry.definition(detail.machine)! });
    }
    const events = this.registry.eventsAfter(id, s.seq);
    if (events.length) {
      s.seq = events[events.length - 1]!.seq;
      this.send(s, { type: 'events', id, events });
    }
    this.send(s, { type: 'actor', actor: detail });
    s.version = version;
  }

  private send(s: Stream, msg: ViewerMessage): void {
    if (s.res.writableLength > MAX_BUFFERED) {
      this.log.warn('a viewer page fell too far behind; closing its stream');
      s.res.destroy();
      return;
    }
    s.res.write(`data: ${JSON.stringify(msg)}\n\n`);
  }
}
