// The contract between the rooms adapter and an app's room service.
import type { RoomMemberKind, RoomShutdownPolicy } from '../../machines/room.machine.js';

export type { RoomMemberKind, RoomShutdownPolicy };

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
}

/** App logic for one room. Every hook is optional; one instance lives as long as its room. */
export interface RoomService {
  created?(roomId: string, ctx: RoomContext): void;
  connect?(client: RoomClient): void;
  disconnect?(client: RoomClient): void;
  message?(client: RoomClient, text: string): void;
  binary?(client: RoomClient, bytes: Uint8Array): void;
  timer?(): void;
}

export type RoomServiceFactory = (roomId: string) => RoomService;

/** A frame encoded once and written to many members. */
export interface RoomFrame {
  readonly data: Buffer;
  readonly binary: boolean;
}

/**
 * Extension point for members that are not WebSockets. A conference leg from the media plane will
 * implement this (kind 'call-leg') and join through `RoomRuntime.addMember`, so services keep
 * addressing every member by its room-scoped id whatever carries it.
 */
export interface RoomMemberTransport {
  readonly kind: RoomMemberKind;
  send(frame: RoomFrame): void;
  close(code: number, reason: string): void;
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
  clients: number;
  /** The principal that created the room (auth on only). */
  owner?: string;
}
