// The supervisor owns every actor the engine runs.
//
// Design (see docs/architecture.md): actors are ROOT actors kept in a Map registry, not children of
// one parent machine. In xstate 5.33 spawning/stopping the n-th child under a single parent is O(n)
// (statelyai/xstate#4990), which made 10k calls under one parent take ~14 s to spawn; root actors in a
// Map keep spawn and stop O(1) however many calls are live. Grouping (all actors of one WebSocket
// connection, say) is a Set of ids per group, so a disconnect stops exactly its own actors.
//
// Every root actor gets an error observer: an unobserved actor error would be rethrown and crash Node.
// A crash ends only that actor: it is logged, its span is failed, it is counted, and the spawner's
// onCrash hook turns it into a clean end of that one call/room on the wire.
import { createLeanActor, leanSnapshot } from './lean-actor.js';
import { createActor, fromTransition, type SnapshotFrom, type AnyActorLogic, type AnyActorRef, type Actor, type EventObject, type InputFrom, type InspectionEvent, type Observer } from 'xstate';
import type { Logger } from 'pino';
import { getTracer, startActorSpan, failSpan, isSpanContextValid, type Span, type Tracer } from '../telemetry.js';
import { stateToString } from './state.js';

export type ActorKind = 'call' | 'dialog' | 'transaction' | 'recording' | 'playback' | 'room' | 'session' | (string & {});

export class LimitExceededError extends Error {
  readonly code = 'LIMIT_EXCEEDED';
  constructor(readonly kind: string, readonly limit: number) {
    super(`too many ${kind}s: limit of ${limit} concurrent ${kind}s reached`);
    this.name = 'LimitExceededError';
  }
}

export interface SpawnOptions<TLogic extends AnyActorLogic> {
  kind: ActorKind;
  id: string;
  input?: InputFrom<TLogic>;
  /** Extra ids for the actor's child logger and span (e.g. callId, roomId, connectionId). */
  bindings?: Record<string, string | number>;
  /** Group this actor belongs to (e.g. a connection id); stopGroup() stops all of them. */
  group?: string;
  /** Trace this actor with its own span (calls and dialogs; not per-transaction actors). */
  traced?: boolean;
  /**
   * Join the supervisor's one XState actor system instead of making one of its own (a root
   * actor's system is ~1.9 KB of maps and closures held for its life). Only for machines without
   * delayed transitions (`after`): XState cancels a stopping actor's delayed events by scanning
   * every scheduled event of its system. An inspected actor always gets its own system.
   */
  sharedSystem?: boolean;
  /** Restore from a persisted snapshot instead of starting fresh. */
  snapshot?: unknown;
  /** Every snapshot the actor emits (one subscription per actor: spawners hook in here). */
  onSnapshot?: (snapshot: SnapshotFrom<TLogic>) => void;
  onDone?: (output: unknown) => void;
  onCrash?: (err: unknown) => void;
  /** Called once when the actor leaves the registry for any reason. */
  onExit?: () => void;
}

export interface SupervisedActor<TLogic extends AnyActorLogic = AnyActorLogic> {
  readonly kind: ActorKind;
  readonly id: string;
  readonly ref: Actor<TLogic>;
  readonly logger: Logger;
  readonly span: Span | undefined;
  /** One info line with the actor's ids, without making its child logger (which lives as long as the actor). */
  info(obj: object, msg: string): void;
}

export interface SupervisorOptions {
  logger: Logger;
  tracer?: Tracer;
  /** Maximum live actors per kind; spawn() beyond it throws LimitExceededError. */
  limits?: Partial<Record<string, number>>;
  /**
   * Inspection (the statechart viewer): asked once per spawned actor for an inspection observer;
   * an actor it declines gets none, so nothing about it is inspected or serialised.
   */
  inspector?: ActorInspector;
}

export interface ActorInspector {
  watch(kind: string, id: string, logic: AnyActorLogic): { inspect: (event: InspectionEvent) => void; exit(): void } | undefined;
}

export interface SupervisorMetrics {
  spawned: Record<string, number>;
  completed: Record<string, number>;
  stopped: Record<string, number>;
  crashed: Record<string, number>;
  refused: Record<string, number>;
}

type HostEvent = { type: 'supervisor.stop'; actor: AnyActorRef } | { type: string; actorId: string; error: unknown } | EventObject;
/**
 * The shared system's parent: it stops its children when asked, and hands the supervisor the
 * errors XState relays to a parent (its children have no observer of their own to tell).
 */
function hostLogic(sup: Supervisor) {
  return fromTransition((n: number, event: HostEvent, scope) => {
    if (event.type === 'supervisor.stop' && 'actor' in event) scope.stopChild(event.actor as AnyActorRef);
    else if ('actorId' in event && event.type.startsWith('xstate.error.actor.')) sup.childFailed(event.actorId, event.error);
    return n;
  }, 0);
}
type HostLogic = ReturnType<typeof hostLogic>;

/** Told when an actor leaves the registry, before its spawner's onExit (the ActorRegistry's wire table). */
export interface ActorExitHook {
  released(id: string): void;
}

/** What a traced, inspected or debug-logged actor keeps besides its entry (most actors: nothing). */
interface EntryTrace {
  span: Span | undefined;
  inspectExit: (() => void) | undefined;
  /** The state last reported to the span or the debug log. */
  lastState: string | undefined;
}

function bump(rec: Record<string, number>, key: string): void {
  rec[key] = (rec[key] ?? 0) + 1;
}

/**
 * One live actor: its registry entry and its observer. A class with prototype methods, not an
 * object of closures: a live call holds this one object whatever it observes (closures per actor
 * were most of the supervisor's share of a call's heap). The spawner's hooks are called as
 * methods of its options object, so a spawner can pass a class instance and allocate no closure
 * either.
 */
class Entry implements SupervisedActor, Observer<unknown> {
  closed = false;
  private child: Logger | undefined = undefined;
  private trace: EntryTrace | undefined;

  constructor(
    readonly sup: Supervisor,
    readonly opts: SpawnOptions<AnyActorLogic>,
    readonly ref: Actor<AnyActorLogic>,
    span: Span | undefined,
    readonly exitHook: ActorExitHook | undefined,
    inspectExit: (() => void) | undefined,
    /** The shared system's parent, for an actor that joined it (sharedSystem). */
    readonly host: Actor<HostLogic> | undefined,
  ) {
    this.trace = span || inspectExit ? { span, inspectExit, lastState: undefined } : undefined;
  }

  get span(): Span | undefined {
    return this.trace?.span;
  }
  /** Told when the actor leaves the registry (only for inspected actors). */
  get inspectExit(): (() => void) | undefined {
    return this.trace?.inspectExit;
  }

  get kind(): ActorKind {
    return this.opts.kind;
  }
  get id(): string {
    return this.opts.id;
  }
  get group(): string | undefined {
    return this.opts.group;
  }

  /** Built on first use: most actors never log, and a pino child with bindings costs ~1.4 KB per live actor. */
  get logger(): Logger {
    return (this.child ??= this.sup.baseLogger.child({ kind: this.opts.kind, id: this.opts.id, ...this.opts.bindings }));
  }

  /** One info line with the actor's ids: through its child logger if it exists, else without making it. */
  info(obj: object, msg: string): void {
    if (this.child) this.child.info(obj, msg);
    else this.sup.baseLogger.info({ kind: this.opts.kind, id: this.opts.id, ...this.opts.bindings, ...obj }, msg);
  }

  next(snap: unknown): void {
    // Released but not stopped yet (a stop is queued behind the event being processed).
    if (this.closed) return;
    leanSnapshot(snap);
    this.opts.onSnapshot?.(snap);
    // Without an OpenTelemetry SDK (or for an unsampled trace) the span records nothing: do not
    // format every state for it.
    const span = this.span?.isRecording() ? this.span : undefined;
    const debugOn = this.sup.baseLogger.isLevelEnabled('debug');
    if (!span && !debugOn) return;
    const s = (snap as { value?: unknown }).value;
    if (s === undefined) return;
    const state = stateToString(s);
    if (state === this.trace?.lastState) return;
    (this.trace ??= { span: undefined, inspectExit: undefined, lastState: undefined }).lastState = state;
    span?.addEvent('state', { 'callchart.state': state });
    if (debugOn) this.logger.debug({ state }, 'state');
  }
  error(err: unknown): void {
    this.sup.crashed(this, err);
  }
  complete(): void {
    this.sup.completed(this);
  }
}

export class Supervisor {
  private readonly entries = new Map<string, Entry>();
  /** Members of each group: one id as a string (most groups: a call and nothing else), more as a Set. */
  private readonly groups = new Map<string, string | Set<string>>();
  private readonly live = new Map<string, number>();
  private hostRef: Actor<HostLogic> | undefined;
  /** @internal the parent of every actor's child logger. */
  readonly baseLogger: Logger;
  private readonly tracer: Tracer;
  readonly metrics: SupervisorMetrics = { spawned: {}, completed: {}, stopped: {}, crashed: {}, refused: {} };

  constructor(private readonly opts: SupervisorOptions) {
    this.baseLogger = opts.logger;
    this.tracer = opts.tracer ?? getTracer();
  }

  /** Live actors of a kind (or all kinds). */
  count(kind?: string): number {
    if (kind === undefined) return this.entries.size;
    return this.live.get(kind) ?? 0;
  }

  limit(kind: string): number | undefined {
    return this.opts.limits?.[kind];
  }

  /** Throws LimitExceededError when one more actor of this kind would break the limit. */
  checkLimit(kind: string): void {
    const limit = this.opts.limits?.[kind];
    if (limit !== undefined && this.count(kind) >= limit) {
      bump(this.metrics.refused, kind);
      throw new LimitExceededError(kind, limit);
    }
  }

  get<TLogic extends AnyActorLogic = AnyActorLogic>(id: string): SupervisedActor<TLogic> | undefined {
    return this.entries.get(id) as SupervisedActor<TLogic> | undefined;
  }

  list(kind?: string): SupervisedActor[] {
    const all = [...this.entries.values()];
    return kind === undefined ? all : all.filter((e) => e.kind === kind);
  }

  /**
   * Create, register and start a root actor. The hooks in `opts` are called as its methods
   * (`opts.onDone(…)`), so `opts` may be a class instance; `exit` (the ActorRegistry) is told
   * before `opts.onExit`.
   */
  spawn<TLogic extends AnyActorLogic>(logic: TLogic, opts: SpawnOptions<TLogic>, exit?: ActorExitHook): SupervisedActor<TLogic> {
    if (this.entries.has(opts.id)) throw new Error(`actor id already in use: ${opts.id}`);
    this.checkLimit(opts.kind);
    const span = opts.traced ? this.startSpan(opts) : undefined;
    const watch = this.opts.inspector?.watch(opts.kind, opts.id, logic);
    const host = opts.sharedSystem && !watch ? this.host() : undefined;
    const ref = createLeanActor(logic, {
      id: opts.id,
      input: opts.input,
      ...(host ? { parent: host } : {}),
      ...(opts.snapshot !== undefined ? { snapshot: opts.snapshot as never } : {}),
      ...(watch ? { inspect: watch.inspect } : {}),
    }) as Actor<TLogic>;

    const entry = new Entry(this, opts as SpawnOptions<AnyActorLogic>, ref as Actor<AnyActorLogic>, span, exit, watch?.exit, host);
    this.entries.set(opts.id, entry);
    this.live.set(opts.kind, (this.live.get(opts.kind) ?? 0) + 1);
    const group = opts.group;
    if (group !== undefined) {
      const members = this.groups.get(group);
      // An actor named like its group (a call: its media actors join its id) is the group's
      // implicit member (stopGroup finds it in `entries`): no table entry for a group of one.
      if (members === undefined) {
        if (group !== opts.id) this.groups.set(group, opts.id);
      } else if (typeof members === 'string') this.groups.set(group, new Set([members, opts.id]));
      else members.add(opts.id);
    }
    bump(this.metrics.spawned, opts.kind);
    // An actor of the shared system is observed through the system's one inspection observer
    // (inspected()) and its parent (childFailed()): a subscription is an observer object and three
    // bound functions (~190 B) per actor. Others subscribe; the subscription is not kept (its
    // unsubscribe closure was ~130 B more): a released entry ignores what its actor still reports,
    // and the actor drops its observers when it stops, completes or fails.
    if (!host) ref.subscribe(entry as Observer<ReturnType<typeof ref.getSnapshot>>);
    ref.start();
    leanSnapshot(ref.getSnapshot());
    // XState builds `options` as `{ ...defaults, ...options }`, and on Node 20's V8 every property
    // added to a spread clone makes a map of its own: ~450 B of hidden classes per live actor. The
    // same properties copied by Object.assign share one map (XState reads only `devTools` after start).
    // The input is dropped from the copy: XState read it for the first snapshot and the init event.
    const options = Object.assign({}, ref.options) as { input?: unknown };
    options.input = undefined;
    (ref as { options: object }).options = options;
    return entry as unknown as SupervisedActor<TLogic>;
  }

  /** The parent of the actors that share one system (made with the first of them). */
  private host(): Actor<HostLogic> {
    if (!this.hostRef) {
      this.hostRef = createActor(hostLogic(this), { id: 'supervisor' });
      this.hostRef.system.inspect({ next: (ev: InspectionEvent) => this.inspected(ev) });
      this.hostRef.start();
    }
    return this.hostRef;
  }

  /**
   * Every inspection event of the shared system: an actor's new snapshot goes to its entry as an
   * observer's would (`next` while active and for the done snapshot, then `complete`).
   */
  private inspected(ev: InspectionEvent): void {
    if (ev.type !== '@xstate.snapshot') return;
    const ref = ev.actorRef as AnyActorRef;
    const entry = this.entries.get(ref.id);
    if (!entry || entry.ref !== ref) return;
    const status = (ev.snapshot as { status?: string }).status;
    if (status !== 'active' && status !== 'done') return;
    entry.next(ev.snapshot);
    if (status === 'done') entry.complete();
  }

  /** @internal a shared-system actor failed (its error, relayed to the host). */
  childFailed(id: string, err: unknown): void {
    const entry = this.entries.get(id);
    if (entry?.host) this.crashed(entry, err);
  }

  /**
   * The actor's span. Without an OpenTelemetry SDK the API hands out one shared no-op span with an
   * invalid context: keep none then (nothing to record, nothing to propagate).
   */
  private startSpan(opts: SpawnOptions<AnyActorLogic>): Span | undefined {
    const span = startActorSpan(this.tracer, opts.kind, opts.id, opts.bindings);
    return span.isRecording() || isSpanContextValid(span.spanContext()) ? span : undefined;
  }

  /** Stop one actor (no-op when it is already gone). */
  stop(id: string): void {
    const entry = this.entries.get(id);
    if (!entry || entry.closed) return;
    bump(this.metrics.stopped, entry.kind);
    this.release(entry);
    // An actor in the shared system has the host as its parent: only the parent may stop it.
    if (entry.host) entry.host.send({ type: 'supervisor.stop', actor: entry.ref });
    else entry.ref.stop();
    entry.span?.end();
  }

  /** Stop every actor of a group (e.g. on WebSocket disconnect). */
  stopGroup(group: string): void {
    // The actor named like its group first (normally the first spawned), then the other members.
    if (this.entries.get(group)?.group === group) this.stop(group);
    const members = this.groups.get(group);
    if (members === undefined) return;
    if (typeof members === 'string') this.stop(members);
    else for (const id of [...members]) this.stop(id);
    this.groups.delete(group);
  }

  stopAll(): void {
    for (const id of [...this.entries.keys()]) this.stop(id);
  }

  private release(entry: Entry): void {
    if (entry.closed) return;
    entry.closed = true;
    this.entries.delete(entry.id);
    this.live.set(entry.kind, (this.live.get(entry.kind) ?? 1) - 1);
    const group = entry.group;
    if (group !== undefined) {
      const members = this.groups.get(group);
      if (members === entry.id) this.groups.delete(group);
      else if (typeof members === 'object') {
        members.delete(entry.id);
        if (members.size === 0) this.groups.delete(group);
      }
    }
    entry.inspectExit?.();
    try {
      entry.exitHook?.released(entry.id);
      entry.opts.onExit?.();
    } catch (err) {
      entry.logger.error({ err }, 'onExit hook failed');
    }
  }

  /** @internal the actor completed (its observer's `complete`). */
  completed(entry: Entry): void {
    if (entry.closed) return;
    bump(this.metrics.completed, entry.kind);
    const snap = entry.ref.getSnapshot() as { output?: unknown };
    entry.span?.end();
    // onDone runs before release() so onExit can tell a normal finish from an outside stop.
    try {
      entry.opts.onDone?.(snap.output);
    } catch (err) {
      entry.logger.error({ err }, 'onDone hook failed');
    }
    this.release(entry);
  }

  /** @internal the actor failed (its observer's `error`). */
  crashed(entry: Entry, err: unknown): void {
    if (entry.closed) return;
    bump(this.metrics.crashed, entry.kind);
    entry.logger.error({ err }, `${entry.kind} actor crashed`);
    if (entry.span) {
      failSpan(entry.span, err);
      entry.span.end();
    }
    this.release(entry);
    try {
      entry.opts.onCrash?.(err);
    } catch (hookErr) {
      entry.logger.error({ err: hookErr }, 'onCrash hook failed');
    }
  }
}
