// The playback space homed on one node. The MoosicBox protocol carries every session on every
// socket (SESSIONS lists them all, any client may update any session it may use), so the unit that
// can live on one node is the route's whole space: its sessions, audio zones and registrations.
// The node holding `lease:playback:<path>` runs the playback routes with the Redis store
// (playback-store.ts); a socket reaching another node is proxied to it. When the owner dies its
// lease expires and the next connection starts the space on a live node from the last write.
import type { IncomingMessage } from 'node:http';
import { WebSocket, type RawData } from 'ws';
import type { Logger } from 'pino';
import { createPlaybackRoutes } from '../playback/routes.js';
import type { PlaybackRoutes, PlaybackRoutesOptions, PlaybackStats } from '../playback/types.js';
import type { ConnectionContext, RouteParams, WsRoute } from '../http/server.js';
import { WS_CLOSE } from '../http/close-codes.js';
import type { HomeService } from './home.js';
import type { ClusterMember } from './member.js';
import { createRedisPlaybackStore } from './playback-store.js';

export interface HomedPlaybackOptions {
  member: ClusterMember;
  homes: HomeService;
  /** The routes' options; `store` is replaced by the Redis store. */
  routes: PlaybackRoutesOptions;
  logger: Logger;
}

const NO_STATS: PlaybackStats = { saveErrors: 0, snapshotErrors: 0, encodeErrors: 0, restoreErrors: 0, refused: 0 };

export function createHomedPlayback(o: HomedPlaybackOptions): PlaybackRoutes {
  const space = o.routes.path ?? '/playback';
  const log = o.logger.child({ component: 'playback-home', space });
  /** The routes while this node owns the space. */
  let inner: PlaybackRoutes | undefined;
  let closed = false;
  const home = o.homes.kind('playback', () => (inner ? [space] : []));

  function start(token: number): PlaybackRoutes {
    const holder = { node: o.member.nodeId, token };
    const store = createRedisPlaybackStore({
      store: o.member.store,
      leaseKey: home.leaseKey(space),
      holder,
      space,
      onFenced: () => {
        if (inner !== routes) return;
        // Another node holds the space: drop the copy here; its clients reconnect to the owner.
        log.warn({ token }, 'playback space lease lost (fenced write): closing it here');
        inner = undefined;
        void routes.close();
      },
    });
    const routes = createPlaybackRoutes({ ...o.routes, store });
    log.info({ token }, 'playback space homed here');
    return routes;
  }

  function placeThenConnect(ws: WebSocket, req: IncomingMessage, params: RouteParams, ctx: ConnectionContext): void {
    const pending: Array<[RawData, boolean]> = [];
    const hold = (d: RawData, binary: boolean) => void pending.push([d, binary]);
    ws.on('message', hold);
    void home.place(space, req).then(
      (where) => {
        ws.off('message', hold);
        if (ws.readyState !== WebSocket.OPEN) return;
        if (where.kind === 'remote') return home.proxy(ws, req, where.ws, pending);
        if (where.kind === 'retry') return ws.close(WS_CLOSE.tryAgainLater, where.reason);
        // Without Redis the space's state cannot be read or fenced: no unhomed copy (docs/scaling.md).
        if (where.token === 0) return ws.close(WS_CLOSE.tryAgainLater, 'playback store unavailable: retry');
        if (closed) return ws.close(WS_CLOSE.goingAway, 'server shutting down');
        inner ??= start(where.token);
        inner.wsRoute.onConnection(ws, req, params, ctx);
        for (const [d, binary] of pending) ws.emit('message', d, binary);
      },
      (err: unknown) => {
        log.error({ err }, 'playback placement failed');
        ws.close(WS_CLOSE.tryAgainLater, 'playback placement failed: retry');
      },
    );
  }

  const wsRoute: WsRoute = {
    name: 'playback',
    maxPayload: o.routes.maxPayload ?? 1024 * 1024,
    match: (url) => (url.pathname === space ? {} : null),
    onConnection(ws, req, params, ctx) {
      if (closed) return ws.close(WS_CLOSE.goingAway, 'server shutting down');
      if (inner) return inner.wsRoute.onConnection(ws, req, params, ctx);
      placeThenConnect(ws, req, params, ctx);
    },
  };

  // The last save must land while the lease is still held: the space closes before the node leaves.
  o.member.beforeLeave(async () => {
    closed = true;
    const r = inner;
    inner = undefined;
    await r?.close();
  });

  return {
    wsRoute,
    // Nothing to restore until this node takes the space (the routes then hold frames until loaded).
    ready: Promise.resolve(),
    get stats() {
      return inner?.stats ?? NO_STATS;
    },
    share: (target, principals) => inner?.share(target, principals) ?? false,
    publish: (event) => inner?.publish(event) ?? 0,
    // The space may live on another node than the call: players are node-local only.
    attach: () => {
      throw new Error('playback players (engine.attachPlayer) are not available with a cluster: the playback space may live on another node');
    },
    connections: () => inner?.connections() ?? [],
    async close() {
      closed = true;
      const r = inner;
      inner = undefined;
      await r?.close();
    },
  };
}
