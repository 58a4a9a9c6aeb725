// What the statechart viewer knows about the watched actors: one record per actor (kind, machine,
// state, status, the last N events), each machine's definition once, and stopped actors for a
// while after they stop. Fed by xstate inspection events; read by the viewer's HTTP server.
//
// Memory is bounded: N events per actor, and at most `maxStopped` stopped actors kept for at most
// `keepStoppedMs`. Work per inspection event is O(1) and copies only the event's summary line;
// contexts are copied (bounded) only when a browser looks at that actor.
import type { AnyActorLogic, InspectionEvent } from 'xstate';
import { stateToString } from '../actors/state.js';
import { activeStateIds, describeMachine, isStateMachine, type ViewerNode } from './definition.js';
import { summarizeEvent, toJsonSafe, type JsonValue } from './summary.js';

export type ActorStatus = 'active' | 'done' | 'error' | 'stopped';

/** One line of the actor list. */
export interface ActorRow {
  id: string;
  kind: string;
  /** The machine's id (its definition is sent once under this key); null for non-machine logic. */
  machine: string | null;
  state: string;
  status: ActorStatus;
  startedAt: number;
  stoppedAt?: number;
}

/** One event an actor received. */
export interface EventRow {
  seq: number;
  /** Epoch ms. */
  t: number;
  type: string;
  /** The sending actor's id, when another actor sent it. */
  from?: string;
  /** The other fields of the event, as one short JSON line. */
  summary: string;
  /** The actor's state after this event, when the event changed it. */
  to?: string;
}

/** The selected actor, as the viewer draws it. */
export interface ActorDetail extends ActorRow {
  /** State node ids active now (ancestors included), for highlighting. */
  active: string[];
  context: JsonValue;
  output?: JsonValue;
  error?: string;
}

export interface RegistryOptions {
  /** Events kept per actor (default 200). */
  eventsPerActor?: number;
  /** How long a stopped actor stays listed (default 120 s). */
  keepStoppedMs?: number;
  /** Stopped actors kept at most (default 500). */
  maxStopped?: number;
  now?: () => number;
}

/** What the supervisor attaches to one watched actor. */
export interface ActorWatch {
  inspect: (event: InspectionEvent) => void;
  /** The actor left the supervisor (done, crashed or stopped). */
  exit(): void;
}

interface ActorRecord extends ActorRow {
  value: unknown;
  snapshot: { context?: unknown; output?: unknown; error?: unknown } | undefined;
  events: EventRow[];
  seq: number;
  /** Bumped on every change; a browser re-sends the detail when it moved. */
  version: number;
}

export class ActorRegistry {
  private readonly actors = new Map<string, ActorRecord>();
  private readonly definitions = new Map<string, ViewerNode>();
  /** Machine config object → definition key (`provide()`d copies share their config). */
  private readonly machineKeys = new WeakMap<object, string>();
  private readonly stopped: ActorRecord[] = [];
  private readonly changed = new Set<string>();
  private readonly removed = new Set<string>();
  /** Whether anyone reads changes (no browser: nothing is queued for one). */
  tracking = false;
  private readonly eventsPerActor: number;
  private readonly keepStoppedMs: number;
  private readonly maxStopped: number;
  private readonly now: () => number;

  constructor(o: RegistryOptions = {}) {
    this.eventsPerActor = Math.max(1, o.eventsPerActor ?? 200);
    this.keepStoppedMs = o.keepStoppedMs ?? 120_000;
    this.maxStopped = o.maxStopped ?? 500;
    this.now = o.now ?? Date.now;
  }

  get size(): number {
    return this.actors.size;
  }

  /** Start recording one actor; the returned watch is handed to its createActor `inspect`. */
  watch(kind: string, id: string, logic: AnyActorLogic): ActorWatch {
    const machine = this.machineKey(logic);
    const rec: ActorRecord = { id, kind, machine, state: '', status: 'active', startedAt: this.now(), value: undefined, snapshot: undefined, events: [], seq: 0, version: 0 };
    this.removed.delete(id); // forgotten and respawned within one flush: the new one stays
    this.actors.set(id, rec);
    this.touch(rec);
    return {
      inspect: (ev) => this.onInspection(rec, ev),
      exit: () => {
        if (rec.stoppedAt !== undefined) return;
        if (rec.status === 'active') rec.status = 'stopped';
        rec.stoppedAt = this.now();
        this.touch(rec);
        this.stopped.push(rec);
        this.sweep();
      },
    };
  }

  definition(machine: string): ViewerNode | undefined {
    return this.definitions.get(machine);
  }

  row(id: string): ActorRow | undefined {
    const r = this.actors.get(id);
    return r && toRow(r);
  }

  rows(): ActorRow[] {
    return [...this.actors.values()].map(toRow);
  }

  version(id: string): number | undefined {
    return this.actors.get(id)?.version;
  }

  detail(id: string): ActorDetail | undefined {
    const r = this.actors.get(id);
    if (!r) return undefined;
    const def = r.machine !== null ? this.definitions.get(r.machine) : undefined;
    const d: ActorDetail = { ...toRow(r), active: def ? activeStateIds(def, r.value) : [], context: toJsonSafe(r.snapshot?.context ?? null) };
    if (r.status === 'done' && r.snapshot?.output !== undefined) d.output = toJsonSafe(r.snapshot.output);
    if (r.status === 'error') d.error = String(r.snapshot?.error instanceof Error ? r.snapshot.error.message : r.snapshot?.error);
    return d;
  }

  /** Events of `id` with seq greater than `after`, oldest first. */
  eventsAfter(id: string, after: number): EventRow[] {
    const r = this.actors.get(id);
    if (!r) return [];
    const ev = r.events;
    // Rows are in seq order; most calls want the last few.
    let i = ev.length;
    while (i > 0 && ev[i - 1]!.seq > after) i--;
    return ev.slice(i);
  }

  /** Rows changed and ids forgotten since the last call. */
  takeChanges(): { rows: ActorRow[]; removed: string[] } {
    const rows: ActorRow[] = [];
    for (const id of this.changed) {
      const r = this.actors.get(id);
      if (r) rows.push(toRow(r));
    }
    const removed = [...this.removed];
    this.changed.clear();
    this.removed.clear();
    return { rows, removed };
  }

  /** Forget stopped actors past their time or beyond the cap. */
  sweep(): void {
    const cutoff = this.now() - this.keepStoppedMs;
    while (this.stopped.length && (this.stopped.length > this.maxStopped || this.stopped[0]!.stoppedAt! <= cutoff)) {
      const rec = this.stopped.shift()!;
      if (this.actors.get(rec.id) !== rec) continue; // the id was reused by a newer actor
      this.actors.delete(rec.id);
      if (this.tracking) {
        this.changed.delete(rec.id);
        this.removed.add(rec.id);
      }
    }
  }

  clear(): void {
    this.actors.clear();
    this.stopped.length = 0;
    this.changed.clear();
    this.removed.clear();
  }

  private machineKey(logic: AnyActorLogic): string | null {
    if (!isStateMachine(logic)) return null;
    const known = this.machineKeys.get(logic.config);
    if (known !== undefined) return known;
    // Two different machines with one id get distinct keys, so neither is drawn as the other.
    let key = logic.id;
    for (let n = 2; this.definitions.has(key); n++) key = `${logic.id}~${n}`;
    this.definitions.set(key, describeMachine(logic));
    this.machineKeys.set(logic.config, key);
    return key;
  }

  private touch(rec: ActorRecord): void {
    rec.version++;
    if (this.tracking) this.changed.add(rec.id);
  }

  private onInspection(rec: ActorRecord, ev: InspectionEvent): void {
    // The root actor only: invoked/spawned children share its inspection observer.
    if (ev.actorRef.sessionId !== ev.rootId) return;
    if (ev.type === '@xstate.event') {
      const row: EventRow = { seq: ++rec.seq, t: this.now(), type: ev.event.type, summary: summarizeEvent(ev.event) };
      const from = (ev.sourceRef as { id?: string } | undefined)?.id;
      if (from !== undefined && ev.sourceRef !== ev.actorRef) row.from = from;
      rec.events.push(row);
      if (rec.events.length > this.eventsPerActor) rec.events.shift();
      this.touchDetail(rec);
    } else if (ev.type === '@xstate.snapshot') {
      const snap = ev.snapshot as { value?: unknown; status?: string; context?: unknown; output?: unknown; error?: unknown };
      rec.snapshot = snap;
      const status = snap.status === 'done' || snap.status === 'error' ? snap.status : rec.status;
      const state = snap.value === undefined ? rec.state : stateToString(snap.value);
      rec.value = snap.value;
      if (state !== rec.state || status !== rec.status) {
        if (state !== rec.state) {
          const last = rec.events[rec.events.length - 1];
          if (last && last.type === ev.event.type && last.to === undefined) last.to = state;
        }
        rec.state = state;
        rec.status = status;
        this.touch(rec);
      } else {
        this.touchDetail(rec);
      }
    }
  }

  /** A change the list does not show (an event, a context change): the detail moves, the row not. */
  private touchDetail(rec: ActorRecord): void {
    rec.version++;
  }
}

function toRow(r: ActorRecord): ActorRow {
  const row: ActorRow = { id: r.id, kind: r.kind, machine: r.machine, state: r.state, status: r.status, startedAt: r.startedAt };
  if (r.stoppedAt !== undefined) row.stoppedAt = r.stoppedAt;
  return row;
}
