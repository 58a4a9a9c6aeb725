// One owner per room across the cluster: a room lives on the node holding its Redis lease
// (`lease:room:<id>`, with a fencing token, renewed by the holder's heartbeat, released when the
// room ends). A WebSocket reaching another node is proxied to the owner's WebSocket address, so
// every client of one room id is in one room whichever node it hit. When the owner dies its lease
// expires (TTL) and the next connection creates the room on a live node.
import type { IncomingMessage } from 'node:http';
import { WebSocket, type RawData } from 'ws';
import type { Logger } from 'pino';
import type { ClusterMember } from './member.js';
import { WS_CLOSE } from '../http/close-codes.js';

/** Set by a node proxying a room connection (to its node id): the owner never proxies it on. */
export const ROOM_PROXY_HEADER = 'x-callchart-proxied-by';

export type RoomPlacement =
  /** Serve here: this node holds the lease (or Redis is unreachable: degraded, unhomed). */
  | { kind: 'here'; token: number }
  /** Another node holds it: proxy to its WebSocket address. */
  | { kind: 'remote'; node: string; ws: string }
  /** The holder is gone (its lease not yet expired) or the request was already proxied once. */
  | { kind: 'retry'; reason: string };

/** What src/rooms/routes.ts asks before creating a room that is not live on this node. */
export interface RoomsHome {
  place(roomId: string, req: IncomingMessage): Promise<RoomPlacement>;
  /** Bridge the client's socket to the owner; `pending` are frames received while placing. */
  proxy(client: WebSocket, req: IncomingMessage, ws: string, pending: Array<[RawData, boolean]>): void;
  /** The room ended here: free its lease. */
  released(roomId: string): void;
}

const leaseKey = (roomId: string) => `room:${roomId}`;

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

export function createRoomsHome(member: ClusterMember, roomIds: () => string[], logger: Logger): RoomsHome {
  const log = logger.child({ component: 'rooms-home', nodeId: member.nodeId });
  member.holdLeases(() => roomIds().map(leaseKey));
  return {
    async place(roomId, req) {
      let holder: { node: string; token: number };
      try {
        holder = await member.store.acquireLease(leaseKey(roomId), member.nodeId, member.leaseTtlMs);
      } catch (err) {
        // Redis unreachable: serve here rather than refuse (two nodes may then each hold a room of
        // this id until Redis returns; docs/scaling.md).
        log.warn({ roomId, err: (err as Error).message }, 'room lease unavailable: serving the room here, unhomed');
        return { kind: 'here', token: 0 };
      }
      if (holder.node === member.nodeId) return { kind: 'here', token: holder.token };
      if (req.headers[ROOM_PROXY_HEADER] !== undefined) return { kind: 'retry', reason: 'room moved: retry' };
      const rec = await member.store.node(holder.node).catch(() => undefined);
      if (!rec?.ws || rec.status === 'draining') {
        // The owner is gone (or leaving): its lease expires within the TTL, then a retry lands here or elsewhere.
        return { kind: 'retry', reason: 'room owner unavailable: retry shortly' };
      }
      return { kind: 'remote', node: holder.node, ws: rec.ws };
    },

    proxy(client, req, target, pending) {
      const headers: Record<string, string> = { [ROOM_PROXY_HEADER]: member.nodeId };
      if (req.headers.authorization) headers.authorization = req.headers.authorization;
      const up = new WebSocket(`ws://${target}${req.url ?? '/'}`, { headers, perMessageDeflate: false });
      const queue = [...pending];
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
        log.warn({ target, status: res.statusCode }, 'room owner refused the proxied connection');
        closeQuietly(client, WS_CLOSE.tryAgainLater, 'room owner refused the connection');
        up.terminate();
      });
      up.on('error', (err) => {
        log.warn({ target, err: err.message }, 'room owner unreachable');
        closeQuietly(client, WS_CLOSE.tryAgainLater, 'room owner unreachable: retry');
      });
      client.on('close', (code, reason) => closeQuietly(up, code, reason.toString()));
    },

    released(roomId) {
      member.store.releaseLease(leaseKey(roomId), member.nodeId).catch((err: Error) => log.debug({ roomId, err: err.message }, 'room lease release failed (it expires)'));
    },
  };
}
