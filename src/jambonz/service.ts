// The jambonz service on the engine (`engine.jambonz`): registers hook and audio routes on the
// engine's WebSocket port. Several routes may share the port; `locals` is application state shared
// by every handler.
import type { Logger } from 'pino';
import type { Supervisor } from '../actors/supervisor.js';
import type { CallManager } from '../call/manager.js';
import type { HttpServer } from '../http/server.js';
import type { JambonzContext, JambonzRoute } from './context.js';
import type { KeyedHome } from '../cluster/home.js';
import type { JambonzHookHandler, JambonzHookOptions } from './hook-types.js';
import type { JambonzAudioHandler, JambonzAudioOptions } from './audio-types.js';
import { createHookRoute } from './hook-route.js';
import { createAudioRoute } from './audio-route.js';

export interface JambonzServiceOptions {
  supervisor: Supervisor;
  calls: CallManager;
  logger: Logger;
  http: HttpServer;
  recordingsDir: string;
  /** Defaults applied to every hook route (each `hook()` call may override). */
  hook?: JambonzHookOptions;
  /** Defaults applied to every audio route (each `audio()` call may override). */
  audio?: JambonzAudioOptions;
  /** @internal Clustered engines: where hook sessions live (src/cluster/home.ts, kind `jambonz`). */
  home?: (liveSessions: () => string[]) => KeyedHome;
}

export class JambonzService {
  /** Application state shared by every handler (also reachable as `session.locals`). */
  readonly locals: Record<string, unknown> = {};
  private readonly ctx: JambonzContext;
  private readonly routes: JambonzRoute[] = [];
  private readonly paths = new Set<string>();

  constructor(private readonly opts: JambonzServiceOptions) {
    this.ctx = {
      supervisor: opts.supervisor,
      calls: opts.calls,
      logger: opts.logger.child({ component: 'jambonz' }),
      locals: this.locals,
      recordingsDir: opts.recordingsDir,
    };
    const home = opts.home?.(() => this.routes.flatMap((r) => r.liveSessions?.() ?? []));
    if (home) this.ctx.home = home;
  }

  /** Serve jambonz call-control sessions (`ws.jambonz.org`) on `path`. */
  hook(path: string, handler: JambonzHookHandler, opts: JambonzHookOptions = {}): this {
    this.claim(path);
    const route = createHookRoute(this.ctx, path, handler, { ...this.opts.hook, ...opts });
    this.opts.http.addWsRoute(route);
    this.routes.push(route);
    return this;
  }

  /** Serve jambonz audio streams (`audio.jambonz.org`, from the listen/stream verb) on `path`. */
  audio(path: string, handler: JambonzAudioHandler = () => {}, opts: JambonzAudioOptions = {}): this {
    this.claim(path);
    const route = createAudioRoute(this.ctx, path, handler, { ...this.opts.audio, ...opts });
    this.opts.http.addWsRoute(route);
    this.routes.push(route);
    return this;
  }

  async close(): Promise<void> {
    await Promise.all(this.routes.map((r) => r.close()));
  }

  private claim(path: string): void {
    if (!path.startsWith('/')) throw new Error(`jambonz route path must start with '/': ${path}`);
    if (this.paths.has(path)) throw new Error(`jambonz route already registered: ${path}`);
    this.paths.add(path);
  }
}
