// Conference rooms of calls across a cluster: a room's audio mix lives on the node holding its
// lease (`lease:room:<id>`, the same lease the rooms WebSocket route takes). A call that lands
// on another node (Kamailio hashed its Call-ID there) joins through `engine.joinRoom(id, call)`:
// that node places a SIP call to the owner, the owner puts the incoming leg into its room, and the
// caller's call is bridged to that leg. The caller's dialog stays where the proxy put it (no REFER
// the caller's phone must honour, no route change behind Kamailio); the price is one more RTP hop.
//
// The inter-node INVITE is addressed `sip:ccroom-<joinKey>-<roomId>@<owner sip>`. `joinKey` is a
// random 128-bit key each node publishes (ClusterMember.joinKey) in its Redis record: only cluster members read Redis, so
// an INVITE carrying the owner's key came from one of them. Anything else for `ccroom-` is refused
// with 403 before an app sees it.
import type { Logger } from 'pino';
import type { Call, IncomingCallDecision } from '../call/call.js';
import type { Bridge } from '../media/mixing/bridge.js';
import type { Room } from '../rooms/room.js';
import type { RoomJoinOptions, RoomMemberInfo } from '../rooms/types.js';
import type { ClusterMember } from './member.js';
import type { KeyedHome } from './home.js';

/** How long the owner has to answer the inter-node leg before the join fails. */
export const CASCADE_ANSWER_MS = 5000;

const CASCADE_USER = /^sips?:ccroom-([0-9a-f]{32})-([A-Za-z0-9_.-]{1,64})@/;

/** What `engine.joinRoom()` resolves with. */
export interface RoomJoin {
  readonly roomId: string;
  /** The node whose room holds the call: this node, or the owner the call's audio is relayed to. */
  readonly node: string | undefined;
  /** The member as the room holds it when the room is on this node (a remote room lists its members on its owner). */
  readonly member: RoomMemberInfo | undefined;
  /** Resolves when the call is out of the room: it ended, was kicked, the room ended or its owner went. */
  readonly left: Promise<void>;
  /** Take the call out of the room; the call stays up. */
  leave(): void;
}

/** What the cascade needs of the engine. */
export interface CascadeHost {
  room(id: string): Room;
  call(target: string, opts: { headers?: Record<string, string> }): Promise<Call>;
  bridge(a: Call, b: Call, opts: { onStop?: () => void }): Bridge;
}

export interface RoomCascadeOptions {
  member: ClusterMember;
  home: KeyedHome;
  host: CascadeHost;
  logger: Logger;
}

export class RoomCascade {
  private readonly log: Logger;

  constructor(private readonly o: RoomCascadeOptions) {
    this.log = o.logger.child({ component: 'room-cascade', nodeId: o.member.nodeId });
  }

  /** An inbound call addressed to a room here by another node (never offered to the app). */
  isCascadeLeg(call: Call): boolean {
    return call.transport === 'sip' && call.direction === 'inbound' && CASCADE_USER.test(call.to ?? '');
  }

  /** Owner side: answer a peer's leg into the room, or refuse it. */
  offer(call: Call): IncomingCallDecision {
    const m = CASCADE_USER.exec(call.to ?? '');
    if (!m || m[1] !== this.o.member.joinKey) {
      this.log.warn({ callId: call.id, to: call.to }, 'room leg with a wrong key refused');
      return { action: 'reject', code: 403, reason: 'Forbidden' };
    }
    const roomId = m[2]!;
    let room: Room;
    try {
      room = this.o.host.room(roomId);
    } catch (err) {
      this.log.warn({ roomId, err: (err as Error).message }, 'room leg refused: no room');
      return { action: 'reject', code: 480, reason: 'Room Unavailable' };
    }
    void room.join(call).then(
      (member) => {
        this.log.info({ roomId, callId: call.id, member: member.id }, 'peer leg joined the room');
        // Out of the room (kicked, room ended) → hang up, so the origin node learns it.
        const onLeft = (m2: RoomMemberInfo) => {
          if (m2.id !== member.id) return;
          room.off('left', onLeft);
          if (!call.isEnded) call.hangup('left the room');
        };
        room.on('left', onLeft);
        room.once('ended', () => {
          if (!call.isEnded) call.hangup('room ended');
        });
      },
      (err: Error) => {
        this.log.warn({ roomId, err: err.message }, 'peer leg could not join');
        if (!call.isEnded) call.hangup('join failed');
      },
    );
    return { action: 'accept' };
  }

  /** Origin side: put `call` into room `roomId` wherever the room lives. */
  async join(roomId: string, call: Call, opts: RoomJoinOptions): Promise<RoomJoin> {
    const holder = await this.o.home.claim(roomId);
    if (holder.node === this.o.member.nodeId) return this.joinHere(roomId, call, opts);
    const rec = await this.o.member.store.node(holder.node).catch(() => undefined);
    if (!rec?.sip || !rec.joinKey || rec.status === 'draining') {
      throw new Error(`room ${roomId} lives on node ${holder.node}, which is unavailable: retry once its lease expires`);
    }
    if (opts.muted || opts.deaf) throw new Error(`room ${roomId} lives on node ${holder.node}: join muted/deaf there (not relayed)`);
    const leg = await this.o.host.call(`sip:ccroom-${rec.joinKey}-${roomId}@${rec.sip}`, { headers: { 'X-Callchart-Node': this.o.member.nodeId } });
    await answeredOrFail(leg, roomId, holder.node);
    if (call.isEnded) {
      leg.hangup('caller gone');
      throw new Error(`call ${call.id} ended while joining room ${roomId}`);
    }
    let done!: () => void;
    const left = new Promise<void>((r) => (done = r));
    let bridge: Bridge | undefined;
    const end = () => {
      bridge?.stop();
      if (!leg.isEnded) leg.hangup('left the room');
      done();
    };
    leg.once('ended', end);
    call.once('ended', end);
    try {
      bridge = this.o.host.bridge(call, leg, { onStop: end });
    } catch (err) {
      end();
      throw err;
    }
    this.log.info({ roomId, callId: call.id, owner: holder.node, leg: leg.id }, 'call joined a room on another node');
    return { roomId, node: holder.node, member: undefined, left, leave: end };
  }

  private async joinHere(roomId: string, call: Call, opts: RoomJoinOptions): Promise<RoomJoin> {
    let room: Room;
    try {
      room = this.o.host.room(roomId);
    } catch (err) {
      this.o.home.released(roomId);
      throw err;
    }
    const member = await room.join(call, opts);
    return localJoin(room, member, this.o.member.nodeId);
  }
}

/** A join into a room on this node (clustered or not). */
export function localJoin(room: Room, member: RoomMemberInfo, node: string | undefined): RoomJoin {
  let done!: () => void;
  const left = new Promise<void>((r) => (done = r));
  const onLeft = (m: RoomMemberInfo) => {
    if (m.id !== member.id) return;
    off();
  };
  const off = () => {
    room.off('left', onLeft);
    room.off('ended', off);
    done();
  };
  room.on('left', onLeft);
  room.once('ended', off);
  return {
    roomId: room.id,
    node,
    member,
    left,
    leave: () => void room.kick(member.id),
  };
}

function answeredOrFail(leg: Call, roomId: string, node: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      cleanup();
      leg.hangup('room owner did not answer');
      reject(new Error(`room ${roomId}: node ${node} did not answer within ${CASCADE_ANSWER_MS} ms`));
    }, CASCADE_ANSWER_MS);
    const cleanup = () => {
      clearTimeout(timer);
      leg.off('answered', onAnswered);
      leg.off('ended', onEnded);
    };
    const onAnswered = () => {
      cleanup();
      resolve();
    };
    const onEnded = () => {
      cleanup();
      const e = leg.end;
      reject(new Error(`room ${roomId}: node ${node} refused the leg (${e?.code ?? ''} ${e?.reason ?? 'ended'})`));
    };
    if (leg.isActive) return onAnswered();
    leg.once('answered', onAnswered);
    leg.once('ended', onEnded);
  });
}
