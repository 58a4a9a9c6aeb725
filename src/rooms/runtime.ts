// One live room: its service instance, its members' transports and its statechart actor.
//
// Split of work (docs/rooms.md): the actor decides membership, shutdown and the service timer; this
// runtime calls the service directly for every frame and fans out by writing one pre-encoded buffer
// to each member. Routing each frame through an XState snapshot would cost an object allocation and
// a microtask per frame for no decision the statechart makes.
import type { Logger } from 'pino';
import type { RoomEvent, RoomMachine, RoomMember } from '../../machines/room.machine.js';
import type { SupervisedActor } from '../actors/supervisor.js';
import type {
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
  /** The principal whose connection created the room (undefined when auth is off). */
  owner: string | undefined;
  /** Principals the room is shared with (`RoomsRoutes.share`). */
  readonly shared = new Set<string>();

  constructor(
    readonly roomId: string,
    readonly service: RoomService,
    public log: Logger,
  ) {}

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
  addMember(transport: RoomMemberTransport): RoomClient {
    const client: RoomClient = Object.freeze({ id: this.nextId++, kind: transport.kind });
    this.members.set(client.id, { client, transport });
    this.dispatch({ type: 'CLIENT.CONNECTED', member: client as RoomMember });
    return client;
  }

  removeMember(id: number): void {
    const entry = this.members.get(id);
    if (!entry) return;
    this.members.delete(id);
    this.dispatch({ type: 'CLIENT.DISCONNECTED', member: entry.client as RoomMember });
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

  clients(): RoomClient[] {
    return [...this.members.values()].map((m) => m.client);
  }

  // ---- end -------------------------------------------------------------------------------------

  /** Stop delivering to the service at once; members are closed by `closeMembers` right after. */
  retire(): void {
    this.ended = true;
    this.pending = [];
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
  }
}
