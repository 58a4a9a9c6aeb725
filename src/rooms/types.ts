// The contract between the rooms adapter and an app's room service.
import type { RoomEnd, RoomMemberKind, RoomShutdownPolicy } from '../../machines/room.machine.js';

export type { RoomEnd, RoomMemberKind, RoomShutdownPolicy };

/** A member of a room as its service sees it. Ids are scoped to the room, sequential from 1. */
export interface RoomClient {
  readonly id: number;
  readonly kind: RoomMemberKind;
}

export type RoomPayload = string | Uint8Array;

export interface RoomBroadcastOptions {
  /** Leave this client out (broadcast otherwise includes the sender). */
  except?: number;
}

/** What a service can do to its room. One per room, handed over in `created`. */
export interface RoomContext {
  readonly roomId: string;
  send(clientId: number, data: RoomPayload): void;
  broadcast(data: RoomPayload, opts?: RoomBroadcastOptions): void;
  /** Arm the room's single timer; setting it again replaces the previous one. */
  setTimer(ms: number): void;
  clearTimer(): void;
  clients(): RoomClient[];
  /**
   * Keep the room's state (any string up to 64 KiB, e.g. JSON) for whoever opens this room next
   * after this node is gone: clustered, a fenced write to Redis that a node taking the room over
   * hands to `created` (docs/scaling.md); on a single node it is not kept anywhere.
   */
  save(state: string): void;
}

/** App logic for one room. Every hook is optional; one instance lives as long as its room. */
export interface RoomService {
  /** `saved`: the last `ctx.save()` of this room on a node that went away (clustered only). */
  created?(roomId: string, ctx: RoomContext, saved?: string): void;
  connect?(client: RoomClient): void;
  disconnect?(client: RoomClient): void;
  message?(client: RoomClient, text: string): void;
  binary?(client: RoomClient, bytes: Uint8Array): void;
  timer?(): void;
}

export type RoomServiceFactory = (roomId: string) => RoomService;

/** Where a homed room's `ctx.save()` goes (clustered: src/cluster/room-store.ts). */
export interface RoomStateStore {
  /** The last state saved for the room, if any. */
  load(roomId: string): Promise<string | undefined>;
  /** Write it while `token` still holds the room's lease (fenced); later writes land after earlier ones. */
  save(roomId: string, token: number, state: string): void;
  /** The room ended by itself: forget its state (fenced too). */
  drop(roomId: string, token: number): void;
}

/** A frame encoded once and written to many members. */
export interface RoomFrame {
  readonly data: Buffer;
  readonly binary: boolean;
}

/**
 * What carries a member: a WebSocket, or a call leg in the room's audio mix (`room.join(call)`).
 * Services address every member by its room-scoped id whatever carries it.
 */
export interface RoomMemberTransport {
  readonly kind: RoomMemberKind;
  /** The call of a call-leg member. */
  readonly callId?: string;
  send(frame: RoomFrame): void;
  close(code: number, reason: string): void;
}

/** A member as `room.members()` and the `room.members` control message list it. */
export interface RoomMemberInfo {
  id: number;
  kind: RoomMemberKind;
  /** The others do not hear it (call legs; only a flag for WebSocket clients). */
  muted: boolean;
  /** It hears nothing from the room. */
  deaf: boolean;
  /** Speaking now (call legs, talker detection on). */
  talking: boolean;
  /** The call of a call-leg member. */
  callId?: string;
}

export interface RoomJoinOptions {
  /** Join muted: the others do not hear this leg until `unmute`. */
  muted?: boolean;
  /** Join deaf: this leg hears silence until `undeafen`. */
  deaf?: boolean;
}

/** Why a member left: it went (socket closed, call ended) or the room removed it (`kick`). */
export type RoomLeaveReason = 'left' | 'kicked';

/** Events of a room handle (`engine.room(id).on(...)`). */
export interface RoomEvents {
  joined: [member: RoomMemberInfo];
  left: [member: RoomMemberInfo, reason: RoomLeaveReason];
  /** A member's mute/deaf state changed. */
  member: [member: RoomMemberInfo];
  /** Talker detection: a call leg started (true) or stopped (false) speaking. */
  talking: [member: RoomMemberInfo, talking: boolean];
  ended: [end: RoomEnd];
}

/** Media settings of a room, fixed when the room is created. */
export interface RoomMediaOptions {
  /** Short beeps into the mix when a call leg joins (rising) or leaves (falling). Default true. */
  tones?: boolean;
  /**
   * Talker detection on call legs: a frame louder than `thresholdRms` (0–32767, default 300 ≈
   * −41 dBFS) starts "talking", `hangMs` (default 500) of quieter frames end it; `false` = off.
   */
  talk?: { thresholdRms?: number; hangMs?: number } | false;
}

export interface RoomShutdown {
  policy: RoomShutdownPolicy;
  /** Grace period for policy `after` (fractions allowed). */
  seconds?: number;
}

export interface RoomRateLimit {
  /** Sustained frames per second per client. */
  messagesPerSecond: number;
  /** Frames a client may send in one burst above the sustained rate. */
  burst: number;
}

export interface RoomSummary {
  roomId: string;
  /** Members of every kind (WebSocket clients and call legs). */
  clients: number;
  /** The principal that created the room (auth on only). */
  owner?: string;
}
