// Rooms over WebSocket: `/rooms/:roomId` joins (and on first join creates) a room actor running
// the app's room service; `GET /rooms` lists rooms (`GET /status` is the HTTP server's own).
//
// With authentication on, a room belongs to the principal whose connection created it. Another
// principal gets in only when the room is shared with it (`share(roomId, principal)`) or when its
// credential was issued for this room's own path (a signed URL or scoped token: a capability URL
// the app hands out). `GET /rooms` then lists only the rooms the caller may join.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { WebSocket, type RawData } from 'ws';
import type { Logger } from 'pino';
import { roomMachine, type RoomEnd, type RoomMachine, type RoomInput } from '../../machines/room.machine.js';
import { LimitExceededError, type Supervisor } from '../actors/supervisor.js';
import { ActorRegistry } from '../actors/registry.js';
import type { ConnectionContext, HttpRoute, RouteParams, WsRoute } from '../http/server.js';
import { DEFAULT_FRAME_RATES, FrameGate, RATE_LIMIT_CLOSE } from '../http/rate-limit.js';
import { RoomRuntime, closeReason } from './runtime.js';
import type { Room } from './room.js';
import { CONTROL_PREFIX, handleControl } from './control.js';
import type { MediaServices } from '../media/call-media.js';
import type {
  RoomFrame,
  RoomMediaOptions,
  RoomMemberTransport,
  RoomRateLimit,
  RoomServiceFactory,
  RoomShutdown,
  RoomSummary,
  RoomStateStore,
} from './types.js';
import { WS_CLOSE } from '../http/close-codes.js';
import type { KeyedHome, Placement } from '../cluster/home.js';

export const ROOM_ID_PATTERN = /^[A-Za-z0-9_.-]{1,64}$/;

export interface RoomsRoutesOptions {
  supervisor: Supervisor;
  logger: Logger;
  /** The app's room service (default: none, for rooms that only carry calls and control messages). */
  service?: RoomServiceFactory;
  /** Conference settings of rooms that carry call legs: join/leave tones, talker detection. */
  conference?: RoomMediaOptions;
  /** @internal The engine's media runtimes (pacer, recording): rooms without them cannot carry calls. */
  media?: MediaServices;
  /** Path prefix of room URLs (default `/rooms`). */
  prefix?: string;
  shutdown?: RoomShutdown;
  /** 0 or absent = unlimited. */
  maxClientsPerRoom?: number;
  /** Largest accepted frame in bytes (default 64 KiB); bigger frames close with 1009. */
  maxPayload?: number;
  /** Per-client frame rate; `false` disables it. */
  rateLimit?: RoomRateLimit | false;
  /** A member whose unsent backlog grows past this is closed (1008) instead of buffering forever. */
  maxBufferedBytes?: number;
  /**
   * Clustered engines: where a room not live here lives (src/cluster/home.ts): here (this
   * node took its lease) or on its owner, to which the WebSocket is proxied.
   */
  home?: KeyedHome;
  /** @internal Clustered: where homed rooms keep the state their service saves (src/cluster/room-store.ts). */
  state?: RoomStateStore;
}

/** A room opened on this node after it took the room's lease (token > 0: Redis answered). */
interface Homed {
  token: number;
  saved: string | undefined;
}

export interface RoomsRoutes {
  wsRoute: WsRoute;
  httpRoutes: HttpRoute[];
  /** Every live room; with a principal, only those it may join (owned or shared with it). */
  rooms(principal?: string): RoomSummary[];
  /**
   * Let `principal` join a live room it does not own (auth on). False when there is no such room:
   * a room's grants end with it, so an app invites into a room that does not exist yet with a
   * capability URL (`engine.auth.signUrl('/rooms/<id>', { sub })`) instead.
   */
  share(roomId: string, principal: string): boolean;
  /** Withdraw a share (members already in stay). False when there is no such room or share. */
  unshare(roomId: string, principal: string): boolean;
  /**
   * The live room `roomId`, created (with no owner) when there is none: what `engine.room(id)`
   * returns. Throws on a bad id, when the routes are closing, or at the supervisor's room limit.
   */
  room(roomId: string): Room;
  close(): Promise<void>;
}

const NO_SERVICE: RoomServiceFactory = () => ({});

const DEFAULT_RATE: RoomRateLimit = { messagesPerSecond: DEFAULT_FRAME_RATES.rooms.any.perSecond, burst: DEFAULT_FRAME_RATES.rooms.any.burst };

class WsMember implements RoomMemberTransport {
  readonly kind = 'websocket' as const;
  constructor(
    private readonly ws: WebSocket,
    private readonly maxBuffered: number,
  ) {}

  send(frame: RoomFrame): void {
    if (this.ws.readyState !== WebSocket.OPEN) return;
    if (this.ws.bufferedAmount > this.maxBuffered) {
      this.ws.close(WS_CLOSE.policy, 'slow consumer');
      return;
    }
    this.ws.send(frame.data, { binary: frame.binary });
  }

  close(code: number, reason: string): void {
    if (this.ws.readyState === WebSocket.OPEN || this.ws.readyState === WebSocket.CONNECTING) this.ws.close(code, reason);
  }
}

function rawToBuffer(data: RawData): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (Array.isArray(data)) return Buffer.concat(data);
  return Buffer.from(data);
}

function validateOptions(opts: RoomsRoutesOptions): { prefix: string; input: Omit<RoomInput, 'roomId'> } {
  const prefix = (opts.prefix ?? '/rooms').replace(/\/+$/, '');
  if (!prefix.startsWith('/') || prefix.length < 2) throw new TypeError(`rooms prefix must start with "/": ${opts.prefix}`);
  const shutdown = opts.shutdown ?? { policy: 'after', seconds: 30 };
  if (!['never', 'immediately', 'after'].includes(shutdown.policy)) throw new TypeError(`unknown shutdown policy: ${shutdown.policy}`);
  const seconds = shutdown.seconds ?? 30;
  if (!Number.isFinite(seconds) || seconds < 0) throw new TypeError(`shutdown seconds must be >= 0: ${seconds}`);
  const maxMembers = opts.maxClientsPerRoom ?? 0;
  if (!Number.isInteger(maxMembers) || maxMembers < 0) throw new TypeError(`maxClientsPerRoom must be a non-negative integer`);
  return { prefix, input: { policy: shutdown.policy, graceMs: Math.round(seconds * 1000), maxMembers } };
}

export function createRoomsRoutes(opts: RoomsRoutesOptions): RoomsRoutes {
  const { prefix, input } = validateOptions(opts);
  const { supervisor } = opts;
  const log = opts.logger.child({ component: 'rooms' });
  const rate = opts.rateLimit === false ? undefined : (opts.rateLimit ?? DEFAULT_RATE);
  const maxBuffered = opts.maxBufferedBytes ?? 16 * 1024 * 1024;
  const rooms = new Map<string, RoomRuntime>();
  let closing = false;

  const actorId = (roomId: string) => `room:${roomId}`;

  // One provided machine for every room (an ActorRegistry): `provide()` rebuilds the whole
  // state-node tree, which per room would cost tens of KB of heap. The actions find their room's
  // runtime by the actor's id; once the actor is gone, late actions find nothing.
  const registry = new ActorRegistry<RoomMachine, RoomRuntime>(
    supervisor,
    (roomOf) =>
      roomMachine.provide({
        actions: {
          serviceCreated: ({ self, context }) => {
            const r = roomOf(self.id);
            r?.service.created?.(context.roomId, r, r.saved);
          },
          serviceConnect: ({ self }, { member }) => roomOf(self.id)?.connected(member),
          serviceDisconnect: ({ self }, { member, kicked }) => roomOf(self.id)?.disconnected(member, kicked ?? false),
          memberChanged: ({ self }, { member }) => roomOf(self.id)?.changed(member),
          evictMember: ({ self }, { member, detail }) => roomOf(self.id)?.evict(member, detail),
          serviceTimer: ({ self }) => roomOf(self.id)?.service.timer?.(),
          rejectMember: ({ self }, { memberId }) => roomOf(self.id)?.reject(memberId, WS_CLOSE.tryAgainLater, 'room full'),
          escalateFailure: (_, { reason, error }) => {
            throw error instanceof Error ? error : new Error(reason);
          },
        },
      }) as unknown as RoomMachine,
  );

  function openRoom(roomId: string, owner: string | undefined, homed?: Homed): RoomRuntime {
    const service = (opts.service ?? NO_SERVICE)(roomId);
    const runtime = new RoomRuntime(roomId, service, log, opts.media ? { services: opts.media, options: opts.conference ?? {} } : undefined);
    runtime.owner = owner;
    const store = opts.state;
    if (homed && store) {
      runtime.saved = homed.saved;
      runtime.persist = (state) => store.save(roomId, homed.token, state);
    }
    rooms.set(roomId, runtime);
    try {
      const actor = registry.spawn(runtime, {
        kind: 'room',
        id: actorId(roomId),
        input: { roomId, ...input },
        bindings: { roomId },
        // The supervisor calls onExit before onCrash, so the members are closed a microtask later,
        // once it is known whether the room failed (1011) or simply ended.
        onCrash: (err) => {
          runtime.failure = err ?? new Error('room failed');
        },
        onDone: (output) => {
          runtime.endInfo = output as RoomEnd;
          runtime.log.info({ end: output }, 'room ended');
        },
        onExit: () => {
          if (rooms.get(roomId) === runtime) rooms.delete(roomId);
          // Ended by itself (idle, empty): its state goes with it. A node shutting down keeps it
          // for the node its clients reconnect to.
          if (homed && !closing) opts.state?.drop(roomId, homed.token);
          opts.home?.released(roomId);
          runtime.retire();
          queueMicrotask(() => {
            if (runtime.failure !== undefined) {
              const f = runtime.failure;
              runtime.closeMembers(WS_CLOSE.internal, `room failed: ${f instanceof Error ? f.message : String(f)}`);
            } else {
              runtime.closeMembers(runtime.endCode, runtime.endReason);
            }
          });
        },
      });
      runtime.attach(actor);
      // created() may already have failed the actor during start.
      if (actor.ref.getSnapshot().status !== 'active') rooms.delete(roomId);
      runtime.log.info('room created');
    } catch (err) {
      rooms.delete(roomId);
      throw err;
    }
    return runtime;
  }

  /** Owner, shared with, or holding a credential issued for this very room. */
  function mayJoin(runtime: RoomRuntime, principal: string, ctx: ConnectionContext): boolean {
    return runtime.owner === undefined || runtime.owner === principal || runtime.shared.has(principal) || ctx.credential?.scope === `${prefix}/${runtime.roomId}`;
  }

  /**
   * Clustered: ask where a room not live here belongs before creating it. Frames that arrive while
   * Redis answers are held and handed on (to the room here, or to the proxy).
   */
  function placeThenConnect(home: KeyedHome, ws: WebSocket, req: IncomingMessage, params: RouteParams, ctx: ConnectionContext): void {
    const roomId = params.roomId ?? '';
    const pending: Array<[RawData, boolean]> = [];
    const hold = (d: RawData, binary: boolean) => void pending.push([d, binary]);
    ws.on('message', hold);
    // Taken here with Redis answering: the room comes back with what its last owner saved.
    const withSaved = async (where: Placement): Promise<[Placement, Homed | undefined]> => {
      if (where.kind !== 'here' || where.token === 0 || !opts.state) return [where, undefined];
      const saved = await opts.state.load(roomId).catch((err: Error) => {
        log.warn({ roomId, err: err.message }, 'saved room state unreadable: the room starts empty');
        return undefined;
      });
      return [where, { token: where.token, saved }];
    };
    void home.place(roomId, req).then(withSaved).then(
      ([where, homed]) => {
        ws.off('message', hold);
        if (ws.readyState !== WebSocket.OPEN) return;
        if (where.kind === 'remote') return home.proxy(ws, req, where.ws, pending);
        if (where.kind === 'retry') return ws.close(WS_CLOSE.tryAgainLater, where.reason);
        onConnection(ws, req, params, ctx, true, homed);
        for (const [d, binary] of pending) ws.emit('message', d, binary);
      },
      (err: unknown) => {
        log.error({ err, roomId }, 'room placement failed');
        ws.close(WS_CLOSE.tryAgainLater, 'room placement failed: retry');
      },
    );
  }

  function onConnection(ws: WebSocket, req: IncomingMessage, params: RouteParams, ctx: ConnectionContext, placed = false, homed?: Homed): void {
    const roomId = params.roomId ?? '';
    const principal = ctx.principal;
    if (closing) {
      ws.close(WS_CLOSE.goingAway, 'server shutting down');
      return;
    }
    if (!ROOM_ID_PATTERN.test(roomId)) {
      ws.close(WS_CLOSE.policy, 'invalid room id: expected 1-64 of A-Z a-z 0-9 _ . -');
      return;
    }
    let runtime = rooms.get(roomId);
    if (!runtime && opts.home && !placed) return placeThenConnect(opts.home, ws, req, params, ctx);
    if (runtime && principal !== undefined && !mayJoin(runtime, principal, ctx)) {
      log.warn({ roomId, principal, owner: runtime.owner }, 'join refused: room not shared with this principal');
      ws.close(WS_CLOSE.policy, 'forbidden: this room is not shared with you');
      return;
    }
    if (!runtime) {
      try {
        runtime = openRoom(roomId, principal, homed);
      } catch (err) {
        if (err instanceof LimitExceededError) {
          ws.close(WS_CLOSE.tryAgainLater, 'too many rooms');
        } else {
          log.error({ err, roomId }, 'room could not be created');
          ws.close(WS_CLOSE.internal, closeReason(`room could not be created: ${err instanceof Error ? err.message : String(err)}`));
        }
        return;
      }
    }
    if (runtime.ended) {
      ws.close(WS_CLOSE.internal, 'room failed while starting');
      return;
    }
    const room = runtime;
    const client = room.addMember(new WsMember(ws, maxBuffered));
    if (!room.client(client.id)) return; // refused (room full) or the room failed in connect()
    const gate = new FrameGate({ any: rate ? { perSecond: rate.messagesPerSecond, burst: rate.burst } : false });

    ws.on('message', (data, isBinary) => {
      if (!gate.allow(isBinary)) {
        if (ws.readyState === WebSocket.OPEN) room.log.warn({ clientId: client.id }, 'client exceeded rate limit');
        ws.close(RATE_LIMIT_CLOSE.code, RATE_LIMIT_CLOSE.reason);
        return;
      }
      const buf = rawToBuffer(data);
      if (isBinary) return room.onBinary(client, buf);
      const text = buf.toString('utf8');
      if (text.startsWith(CONTROL_PREFIX)) {
        // To the room, not its service. Moderating (mute/deaf/kick) takes the room's owner when it has one.
        const reply = handleControl(room, client.id, text, room.owner === undefined || room.owner === principal);
        if (ws.readyState === WebSocket.OPEN) ws.send(reply.data, { binary: false });
        return;
      }
      room.onText(client, text);
    });
    ws.on('close', () => room.removeMember(client.id));
  }

  const wsRoute: WsRoute = {
    name: 'rooms',
    maxPayload: opts.maxPayload ?? 64 * 1024,
    match(url) {
      if (!url.pathname.startsWith(prefix + '/')) return null;
      const raw = url.pathname.slice(prefix.length + 1);
      let roomId: string;
      try {
        roomId = decodeURIComponent(raw);
      } catch {
        roomId = raw;
      }
      // Bad ids still match so the client is told why (close 1008) instead of getting a bare 404.
      return { roomId };
    },
    onConnection: (ws, req, params, ctx) => onConnection(ws, req, params, ctx),
  };

  const list = (principal?: string): RoomSummary[] =>
    [...rooms.values()]
      .filter((r) => principal === undefined || r.owner === undefined || r.owner === principal || r.shared.has(principal))
      .map((r) => ({ roomId: r.roomId, clients: r.size, ...(r.owner !== undefined ? { owner: r.owner } : {}) }));

  const sendText = (res: ServerResponse, status: number, type: string, body: string) => {
    res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' }).end(body);
  };

  const httpRoutes: HttpRoute[] = [
    {
      name: 'rooms-list',
      match: (method, url) => method === 'GET' && (url.pathname === prefix || url.pathname === prefix + '/'),
      handle: (_req, res, _url, ctx) => sendText(res, 200, 'application/json', JSON.stringify(list(ctx.principal))),
    },
  ];

  return {
    wsRoute,
    httpRoutes,
    rooms: list,
    share(roomId, principal) {
      const r = rooms.get(roomId);
      if (!r || r.ended) return false;
      r.shared.add(principal);
      return true;
    },
    unshare(roomId, principal) {
      return rooms.get(roomId)?.shared.delete(principal) ?? false;
    },
    room(roomId) {
      if (!ROOM_ID_PATTERN.test(roomId)) throw new RangeError(`invalid room id ${JSON.stringify(roomId)}: expected 1-64 of A-Z a-z 0-9 _ . -`);
      if (closing) throw new Error('rooms are shutting down');
      const live = rooms.get(roomId);
      if (live && !live.ended) return live.handle;
      // Clustered, a room opened here for calls is not leased: calls are node-local (docs/rooms.md).
      const runtime = openRoom(roomId, undefined);
      if (runtime.ended) throw new Error(`room ${roomId} failed while starting`);
      return runtime.handle;
    },
    async close() {
      closing = true;
      for (const runtime of [...rooms.values()]) {
        runtime.endCode = 1001;
        runtime.endReason = 'server shutting down';
        supervisor.stop(actorId(runtime.roomId));
      }
      rooms.clear();
    },
  };
}
