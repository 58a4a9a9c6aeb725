// One live room: its service instance, its members' transports, its statechart actor and (once a
// call leg joins) its audio mix.
//
// Split of work (docs/rooms.md): the actor decides membership, shutdown and the service timer; this
// runtime calls the service directly for every frame and fans out by writing one pre-encoded buffer
// to each member. Routing each frame through an XState snapshot would cost an object allocation and
// a microtask per frame for no decision the statechart makes.
import type { Logger } from 'pino';
import type { RoomEnd, RoomEvent, RoomMachine, RoomMember } from '../../machines/room.machine.js';
import type { SupervisedActor } from '../actors/supervisor.js';
import type { MediaLeg } from '../media/leg.js';
import type { MediaServices } from '../media/call-media.js';
import type { MixerLegStats } from '../media/mixing/mixer.js';
import type { RecordingHandle } from '../media/runtimes/recording.js';
import { RoomAudio } from './audio.js';
import { Room } from './room.js';
import { eventFrame } from './control.js';
import type {
  RoomJoinOptions,
  RoomMediaOptions,
  RoomMemberInfo,
  RoomBroadcastOptions,
  RoomClient,
  RoomContext,
  RoomFrame,
  RoomMemberTransport,
  RoomPayload,
  RoomService,
} from './types.js';

const MAX_TIMER_MS = 2 ** 31 - 1;

export function encodeFrame(data: RoomPayload): RoomFrame {
  if (typeof data === 'string') return { data: Buffer.from(data), binary: false };
  if (data instanceof Uint8Array) {
    return { data: Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength), binary: true };
  }
  throw new TypeError('room payload must be a string or a Uint8Array');
}

/** Close reasons are limited to 123 bytes by RFC 6455. */
export function closeReason(text: string): string {
  const buf = Buffer.from(text);
  return buf.length <= 123 ? text : buf.subarray(0, 120).toString() + '...';
}

interface MemberEntry {
  client: RoomClient;
  transport: RoomMemberTransport;
}

/** A call leg as a room member: no text frames; closing it takes the leg out of the mix only. */
export class CallLegMember implements RoomMemberTransport {
  readonly kind = 'call-leg' as const;
  /** Stops watching the leg for its close (set once the member is admitted). */
  offClose: () => void = () => {};
  constructor(
    readonly leg: MediaLeg,
    readonly callId: string | undefined,
  ) {}

  send(): void {}

  close(): void {
    this.offClose();
  }
}

/** The largest state a room service may `save()`. */
const MAX_SAVED_STATE = 64 * 1024;

export class RoomRuntime implements RoomContext {
  private readonly members = new Map<number, MemberEntry>();
  private nextId = 1;
  private actor: SupervisedActor<RoomMachine> | undefined;
  // Events raised before the supervisor hands back the actor (e.g. setTimer inside created()).
  private pending: RoomEvent[] = [];
  ended = false;
  /** Set when the actor crashed: members are then closed with 1011. */
  failure: unknown = undefined;
  /** Close code/reason for members still present when the room ends without failing. */
  endCode = 1001;
  endReason = 'room closed';
  /** The statechart's output, when it reached a final state (set by the adapter's onDone). */
  endInfo: RoomEnd | undefined;
  /** The state a previous owner saved (clustered), handed to the service's `created`. */
  saved: string | undefined;
  /** Where `save()` writes (clustered rooms homed here); unset: nowhere. */
  persist: ((state: string) => void) | undefined;
  /** The principal whose connection created the room (undefined when auth is off). */
  owner: string | undefined;
  /** Principals the room is shared with (`RoomsRoutes.share`). */
  readonly shared = new Set<string>();
  /** The app's handle (`engine.room(id)`): room events are emitted on it. */
  readonly handle: Room;
  /** WebSocket members that asked for room events (`room.subscribe`). */
  private readonly subscribers = new Set<number>();
  private audio: RoomAudio | undefined;

  constructor(
    readonly roomId: string,
    readonly service: RoomService,
    public log: Logger,
    private readonly media?: { services: MediaServices; options: RoomMediaOptions },
  ) {
    this.handle = new Room(this);
  }

  attach(actor: SupervisedActor<RoomMachine>): void {
    this.actor = actor;
    this.log = actor.logger;
    const queued = this.pending;
    this.pending = [];
    for (const ev of queued) actor.ref.send(ev);
  }

  private dispatch(ev: RoomEvent): void {
    if (this.ended) return;
    if (this.actor) this.actor.ref.send(ev);
    else this.pending.push(ev);
  }

  get size(): number {
    return this.members.size;
  }

  /** Admit a member of any kind; the statechart may still refuse it (room full). */
  addMember(transport: RoomMemberTransport, flags: RoomJoinOptions = {}): RoomClient {
    const client: RoomClient = Object.freeze({ id: this.nextId++, kind: transport.kind });
    this.members.set(client.id, { client, transport });
    this.dispatch({ type: 'CLIENT.CONNECTED', member: { ...client, muted: flags.muted ?? false, deaf: flags.deaf ?? false } });
    return client;
  }

  /** Whether the room can carry call legs (it was created by an engine with media runtimes). */
  get hasMedia(): boolean {
    return this.media !== undefined;
  }

  /**
   * Admit a call leg: the statechart decides (it may refuse: room full), and once admitted the
   * `serviceConnect` action puts the leg into the mix. The leg's close is its leave.
   */
  joinLeg(leg: MediaLeg, opts: RoomJoinOptions & { callId?: string } = {}): RoomMemberInfo {
    if (!this.media) throw new Error(`room ${this.roomId} has no media runtimes: create it with engine.room() to join calls`);
    if (this.ended) throw new Error(`room ${this.roomId} has ended`);
    if (leg.closed) throw new Error(`leg ${leg.id} is closed: cannot join room ${this.roomId}`);
    if (this.hasLeg(leg)) throw new Error(`leg ${leg.id} is already in room ${this.roomId}`);
    const transport = new CallLegMember(leg, opts.callId);
    const client = this.addMember(transport, opts);
    const info = this.memberInfo(client.id);
    if (!this.client(client.id) || !info) throw new Error(`room ${this.roomId} refused leg ${leg.id} (room full or ended)`);
    transport.offClose = leg.onClose(() => this.removeMember(client.id));
    return info;
  }

  /** Whether this leg is in the room's mix already. */
  hasLeg(leg: MediaLeg): boolean {
    for (const e of this.members.values()) if (e.transport instanceof CallLegMember && e.transport.leg === leg) return true;
    return false;
  }

  // ---- decisions of the statechart, applied (named actions) ------------------------------------

  /** The statechart admitted a member: mix a call leg, tell the service, report it. */
  connected(member: RoomMember): void {
    const t = this.members.get(member.id)?.transport;
    if (t instanceof CallLegMember && this.media) {
      this.audio ??= new RoomAudio(this.roomId, this.media.services, this.media.options, (id, talking) => this.talkChanged(id, talking), this.log);
      this.audio.add(member.id, t.leg, { muted: member.muted ?? false, deaf: member.deaf ?? false });
    }
    this.service.connect?.(this.clientOf(member));
    this.report('joined', this.info(member));
  }

  /** The statechart let a member go (it left, or was kicked). */
  disconnected(member: RoomMember, kicked: boolean): void {
    const info = this.info(member);
    // Gone from fan-out before the service hears of it (its broadcast must not reach the leaver).
    this.members.delete(member.id);
    this.audio?.remove(member.id);
    this.subscribers.delete(member.id);
    this.service.disconnect?.(this.clientOf(member));
    this.report('left', info, kicked ? 'kicked' : 'left');
  }

  /**
   * A kicked member: close its transport. The entry stays for `disconnected` (run next in the same
   * transition), and the socket's later close finds it gone, so there is no second disconnect.
   */
  evict(member: RoomMember, detail: string | undefined): void {
    this.members.get(member.id)?.transport.close(1008, closeReason(`kicked${detail ? `: ${detail}` : ''}`));
  }

  /** A member's mute/deaf state changed in the statechart. */
  changed(member: RoomMember): void {
    this.audio?.apply(member.id, { muted: member.muted ?? false, deaf: member.deaf ?? false });
    this.report('member', this.info(member));
  }

  private talkChanged(memberId: number, talking: boolean): void {
    const m = this.snapshotMembers().find((x) => x.id === memberId);
    if (m) this.report('talking', { ...this.info(m), talking }, talking);
  }

  // ---- app and control-protocol requests (the statechart decides) ------------------------------

  /** False when there is no such member (or the room has ended). */
  mute(memberId: number, muted: boolean): boolean {
    if (!this.isMember(memberId)) return false;
    this.dispatch({ type: 'MEMBER.MUTE', memberId, muted });
    return true;
  }

  deafen(memberId: number, deaf: boolean): boolean {
    if (!this.isMember(memberId)) return false;
    this.dispatch({ type: 'MEMBER.DEAF', memberId, deaf });
    return true;
  }

  kick(memberId: number, detail?: string): boolean {
    if (!this.isMember(memberId)) return false;
    this.dispatch({ type: 'MEMBER.KICK', memberId, ...(detail !== undefined ? { detail } : {}) });
    return true;
  }

  subscribe(clientId: number, on: boolean): void {
    if (on) this.subscribers.add(clientId);
    else this.subscribers.delete(clientId);
  }

  /** Members as the statechart holds them, with what the transports and the mix know. */
  membersInfo(): RoomMemberInfo[] {
    return this.snapshotMembers().map((m) => this.info(m));
  }

  memberInfo(id: number): RoomMemberInfo | undefined {
    const m = this.snapshotMembers().find((x) => x.id === id);
    return m && this.info(m);
  }

  /** Record the room mix (needs a room created by an engine: `engine.room(id)`). */
  record(path: string, opts: { flushBytes?: number } = {}): RecordingHandle {
    if (!this.media) throw new Error(`room ${this.roomId} has no media runtimes: create it with engine.room()`);
    if (this.ended) throw new Error(`room ${this.roomId} has ended: cannot record`);
    this.audio ??= new RoomAudio(this.roomId, this.media.services, this.media.options, (id, talking) => this.talkChanged(id, talking), this.log);
    return this.audio.record(path, opts);
  }

  /** Mixer statistics of the room's call legs (empty without any). */
  mixStats(): MixerLegStats[] {
    return this.audio?.stats() ?? [];
  }

  /** End the room now (members are closed with 1001 / unmixed). */
  close(detail?: string): void {
    this.dispatch({ type: 'ROOM.CLOSE', ...(detail !== undefined ? { detail } : {}) });
  }

  private isMember(id: number): boolean {
    return !this.ended && this.snapshotMembers().some((m) => m.id === id);
  }

  private snapshotMembers(): RoomMember[] {
    const snap = this.actor?.ref.getSnapshot();
    return snap && snap.status === 'active' ? snap.context.members : [];
  }

  private clientOf(member: RoomMember): RoomClient {
    return this.members.get(member.id)?.client ?? Object.freeze({ id: member.id, kind: member.kind });
  }

  private info(member: RoomMember): RoomMemberInfo {
    const callId = this.members.get(member.id)?.transport.callId;
    return {
      id: member.id,
      kind: member.kind,
      muted: member.muted ?? false,
      deaf: member.deaf ?? false,
      talking: this.audio?.talking(member.id) ?? false,
      ...(callId !== undefined ? { callId } : {}),
    };
  }

  /** Emit on the app's handle and send to the WebSocket members that subscribed. */
  private report<K extends 'joined' | 'left' | 'member' | 'talking'>(event: K, info: RoomMemberInfo, extra?: unknown): void {
    if (this.subscribers.size > 0) {
      const frame = eventFrame(event, info, extra);
      for (const id of this.subscribers) this.members.get(id)?.transport.send(frame);
    }
    try {
      if (event === 'left') this.handle.emit('left', info, extra as 'left' | 'kicked');
      else if (event === 'talking') this.handle.emit('talking', info, extra as boolean);
      else this.handle.emit(event as 'joined' | 'member', info);
    } catch (err) {
      // A throwing app listener must not take the room's statechart down with it.
      this.log.error({ err, event }, 'room event listener threw');
    }
  }

  removeMember(id: number): void {
    const entry = this.members.get(id);
    if (!entry) return;
    // The `disconnected` action still reads the entry (a call leg's callId); it drops it then.
    this.dispatch({ type: 'CLIENT.DISCONNECTED', member: entry.client as RoomMember });
    this.members.delete(id);
  }

  /** Statechart refused the member: drop it without telling the service it ever joined. */
  reject(id: number, code: number, reason: string): void {
    const entry = this.members.get(id);
    if (!entry) return;
    this.members.delete(id);
    entry.transport.close(code, reason);
  }

  client(id: number): RoomClient | undefined {
    return this.members.get(id)?.client;
  }

  // ---- fast path -------------------------------------------------------------------------------

  onText(client: RoomClient, text: string): void {
    if (this.ended || !this.service.message) return;
    try {
      this.service.message(client, text);
    } catch (err) {
      this.fail('message', err);
    }
  }

  onBinary(client: RoomClient, bytes: Uint8Array): void {
    if (this.ended || !this.service.binary) return;
    try {
      this.service.binary(client, bytes);
    } catch (err) {
      this.fail('binary', err);
    }
  }

  /** Hand a failure seen outside the statechart to the actor, which fails through the supervisor. */
  fail(hook: string, err: unknown): void {
    const msg = err instanceof Error ? err.message : String(err);
    this.dispatch({ type: 'SERVICE.FAILED', reason: `${hook} handler threw: ${msg}`, error: err });
  }

  // ---- RoomContext -----------------------------------------------------------------------------

  send(clientId: number, data: RoomPayload): void {
    const entry = this.members.get(clientId);
    if (entry) entry.transport.send(encodeFrame(data));
  }

  broadcast(data: RoomPayload, opts?: RoomBroadcastOptions): void {
    const frame = encodeFrame(data);
    const except = opts?.except;
    for (const entry of this.members.values()) {
      if (entry.client.id !== except) entry.transport.send(frame);
    }
  }

  setTimer(ms: number): void {
    if (!Number.isFinite(ms) || ms < 0 || ms > MAX_TIMER_MS) throw new RangeError(`timer delay out of range: ${ms}`);
    this.dispatch({ type: 'TIMER.SET', ms });
  }

  clearTimer(): void {
    this.dispatch({ type: 'TIMER.CLEAR' });
  }

  save(state: string): void {
    if (typeof state !== 'string') throw new TypeError('room state must be a string');
    if (Buffer.byteLength(state) > MAX_SAVED_STATE) throw new RangeError(`room state over ${MAX_SAVED_STATE} bytes`);
    if (this.ended) return;
    this.persist?.(state);
  }

  clients(): RoomClient[] {
    return [...this.members.values()].map((m) => m.client);
  }

  // ---- end -------------------------------------------------------------------------------------

  /** Stop delivering to the service at once; members are closed by `closeMembers` right after. */
  retire(): void {
    this.ended = true;
    this.pending = [];
    this.audio?.close();
    this.subscribers.clear();
  }

  /** Close every member still present; called once when the actor has left the supervisor. */
  closeMembers(code: number, reason: string): void {
    this.ended = true;
    const why = closeReason(reason);
    for (const entry of this.members.values()) {
      try {
        entry.transport.close(code, why);
      } catch (err) {
        this.log.debug({ err, clientId: entry.client.id }, 'closing member failed');
      }
    }
    this.members.clear();
    const end: RoomEnd = this.endInfo ?? {
      roomId: this.roomId,
      reason: this.failure !== undefined ? 'failed' : 'closed',
      ...(this.failure !== undefined ? { detail: this.failure instanceof Error ? this.failure.message : String(this.failure) } : {}),
    };
    try {
      this.handle.emit('ended', end);
    } catch (err) {
      this.log.error({ err }, 'room ended listener threw');
    }
  }
}
