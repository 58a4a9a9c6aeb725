// One owner per keyed object across the cluster (a room, the playback space, a jambonz session):
// the object lives on the node holding its Redis lease (`lease:<kind>:<id>`, with a fencing token,
// renewed by the holder's heartbeat, released when the object ends). A WebSocket reaching another
// node is proxied to the owner's WebSocket address, so every client of one object reaches the one
// live copy whichever node it hit. When the owner dies its lease expires (TTL) and the next
// connection takes the object on a live node. One service per node, one `KeyedHome` per kind.
import type { IncomingMessage } from 'node:http';
import { WebSocket, type RawData } from 'ws';
import type { Logger } from 'pino';
import type { ClusterMember } from './member.js';
import { WS_CLOSE } from '../http/close-codes.js';

/** Set by a node proxying a connection (to its node id): the owner never proxies it on. */
export const HOME_PROXY_HEADER = 'x-callchart-proxied-by';

export type Placement =
  /** Serve here: this node holds the lease (token 0: Redis unreachable, degraded, unhomed). */
  | { kind: 'here'; token: number }
  /** Another node holds it: proxy to its WebSocket address. */
  | { kind: 'remote'; node: string; ws: string }
  /** The holder is gone (its lease not yet expired) or the request was already proxied once. */
  | { kind: 'retry'; reason: string };

/** Where an object someone else created lives (`locate`): nobody holding it is an answer too. */
export type Location = Placement | { kind: 'none' };

/** Homing of one kind of object (rooms, playback, jambonz sessions). */
export interface KeyedHome {
  readonly kind: string;
  /** This node's id (a lease held by it is "here"). */
  readonly nodeId: string;
  /** Take the lease if free (this node then owns the object), else say where the owner is. */
  place(id: string, req: IncomingMessage): Promise<Placement>;
  /** Who holds the lease, without taking it (for objects only their creator may start). */
  locate(id: string, req: IncomingMessage): Promise<Location>;
  /** Take the lease for an object created here; resolves with the holder's token (0 when Redis is unreachable). */
  claim(id: string): Promise<{ node: string; token: number }>;
  /** Bridge the client's socket to the owner; `pending` are frames received while placing. */
  proxy(client: WebSocket, req: IncomingMessage, ws: string, pending: Array<[RawData, boolean]>): void;
  /** The object ended here: free its lease. */
  released(id: string): void;
  /** The lease value `<node> <token>` a fenced write compares against (store.ts). */
  leaseKey(id: string): string;
}

/** Close codes a peer may send (1005/1006/1015 are reserved for "none received"/abnormal/TLS). */
function sendable(code: number): number {
  return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) || (code >= 3000 && code <= 4999) ? code : WS_CLOSE.internal;
}

function closeQuietly(ws: WebSocket, code: number, reason: string): void {
  if (ws.readyState === WebSocket.OPEN || ws.readyState === WebSocket.CONNECTING) {
    try {
      ws.close(sendable(code), Buffer.byteLength(reason) > 120 ? reason.slice(0, 100) : reason);
    } catch {
      ws.terminate();
    }
  }
}

export interface ProxySocketOptions {
  client: WebSocket;
  req: IncomingMessage;
  /** The owner's `host:port`. */
  target: string;
  /** Frames received before the proxy was set up, sent first. */
  pending: Array<[RawData, boolean]>;
  /** This node's id (the proxy header). */
  via: string;
  kind: string;
  log: Logger;
}

/** Bridge `client` to the same path on `target`, both ways, closing each side with the other. */
export function proxySocket(o: ProxySocketOptions): void {
  const { client, req, target, kind, log } = o;
  const headers: Record<string, string> = { [HOME_PROXY_HEADER]: o.via };
  if (req.headers.authorization) headers.authorization = req.headers.authorization;
  // The owner's route may require the subprotocol the client was accepted with (jambonz).
  const protocols = client.protocol ? [client.protocol] : [];
  const up = new WebSocket(`ws://${target}${req.url ?? '/'}`, protocols, { headers, perMessageDeflate: false });
  const queue = [...o.pending];
  client.on('message', (d, binary) => {
    if (up.readyState === WebSocket.OPEN) up.send(d, { binary });
    else queue.push([d, binary]);
  });
  up.on('open', () => {
    for (const [d, binary] of queue.splice(0)) up.send(d, { binary });
  });
  up.on('message', (d, binary) => {
    if (client.readyState === WebSocket.OPEN) client.send(d, { binary });
  });
  up.on('close', (code, reason) => closeQuietly(client, code, reason.toString()));
  up.on('unexpected-response', (_r, res) => {
    log.warn({ target, status: res.statusCode }, 'owner refused the proxied connection');
    closeQuietly(client, WS_CLOSE.tryAgainLater, `${kind} owner refused the connection`);
    up.terminate();
  });
  up.on('error', (err) => {
    log.warn({ target, err: err.message }, 'owner unreachable');
    closeQuietly(client, WS_CLOSE.tryAgainLater, `${kind} owner unreachable: retry`);
  });
  client.on('close', (code, reason) => closeQuietly(up, code, reason.toString()));
}

export class HomeService {
  private readonly log: Logger;
  private readonly kinds = new Set<string>();

  constructor(
    private readonly member: ClusterMember,
    logger: Logger,
  ) {
    this.log = logger.child({ component: 'cluster-home', nodeId: member.nodeId });
  }

  /** Home objects of `kind`; `liveIds` lists those live here (their leases are renewed with each heartbeat). */
  kind(kind: string, liveIds: () => string[]): KeyedHome {
    if (this.kinds.has(kind)) throw new Error(`cluster home kind already registered: ${kind}`);
    this.kinds.add(kind);
    const member = this.member;
    const log = this.log.child({ kind });
    const leaseKey = (id: string) => `${kind}:${id}`;
    member.holdLeases(() => liveIds().map(leaseKey));

    /** The holder's WebSocket address, or why there is none to proxy to. */
    const whereIs = async (holder: { node: string; token: number }, req: IncomingMessage): Promise<Placement> => {
      if (holder.node === member.nodeId) return { kind: 'here', token: holder.token };
      if (req.headers[HOME_PROXY_HEADER] !== undefined) return { kind: 'retry', reason: `${kind} moved: retry` };
      const rec = await member.store.node(holder.node).catch(() => undefined);
      // The owner is gone (or leaving): its lease expires within the TTL, then a retry lands here or elsewhere.
      if (!rec?.ws || rec.status === 'draining') return { kind: 'retry', reason: `${kind} owner unavailable: retry shortly` };
      return { kind: 'remote', node: holder.node, ws: rec.ws };
    };

    return {
      kind,
      nodeId: member.nodeId,
      leaseKey,
      async place(id, req) {
        let holder: { node: string; token: number };
        try {
          holder = await member.store.acquireLease(leaseKey(id), member.nodeId, member.leaseTtlMs);
        } catch (err) {
          // Redis unreachable: the caller decides whether to serve unhomed (docs/scaling.md).
          log.warn({ id, err: (err as Error).message }, 'lease unavailable');
          return { kind: 'here', token: 0 };
        }
        return whereIs(holder, req);
      },

      async locate(id, req) {
        let holder: { node: string; token: number } | undefined;
        try {
          holder = await member.store.leaseHolder(leaseKey(id));
        } catch (err) {
          log.warn({ id, err: (err as Error).message }, 'lease lookup failed');
          return { kind: 'none' };
        }
        return holder ? whereIs(holder, req) : { kind: 'none' };
      },

      async claim(id) {
        try {
          return await member.store.acquireLease(leaseKey(id), member.nodeId, member.leaseTtlMs);
        } catch (err) {
          log.warn({ id, err: (err as Error).message }, 'lease unavailable: object not homed');
          return { node: member.nodeId, token: 0 };
        }
      },

      proxy(client, req, target, pending) {
        proxySocket({ client, req, target, pending, via: member.nodeId, kind, log });
      },

      released(id) {
        member.store.releaseLease(leaseKey(id), member.nodeId).catch((err: Error) => log.debug({ id, err: err.message }, 'lease release failed (it expires)'));
      },
    };
  }
}
