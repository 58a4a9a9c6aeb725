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
import { createActor, type SnapshotFrom, type AnyActorLogic, type Actor, type InputFrom, type InspectionEvent, type Observer } from 'xstate';
import type { Logger } from 'pino';
import { getTracer, startActorSpan, failSpan, type Span, type Tracer } from '../telemetry.js';
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

interface Entry extends SupervisedActor {
  group: string | undefined;
  opts: SpawnOptions<AnyActorLogic>;
  closed: boolean;
  unsubscribe: () => void;
  /** Told when the actor leaves the registry (only for inspected actors). */
  inspectExit: (() => void) | undefined;
}

function bump(rec: Record<string, number>, key: string): void {
  rec[key] = (rec[key] ?? 0) + 1;
}

export class Supervisor {
  private readonly entries = new Map<string, Entry>();
  private readonly groups = new Map<string, Set<string>>();
  private readonly live = new Map<string, number>();
  private readonly log: Logger;
  private readonly tracer: Tracer;
  readonly metrics: SupervisorMetrics = { spawned: {}, completed: {}, stopped: {}, crashed: {}, refused: {} };

  constructor(private readonly opts: SupervisorOptions) {
    this.log = opts.logger;
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

  spawn<TLogic extends AnyActorLogic>(logic: TLogic, opts: SpawnOptions<TLogic>): SupervisedActor<TLogic> {
    if (this.entries.has(opts.id)) throw new Error(`actor id already in use: ${opts.id}`);
    this.checkLimit(opts.kind);
    // The child logger is built on first use: most actors never log on their hot path, and a
    // pino child with bindings costs ~1.4 KB per live actor.
    let logger: Logger | undefined;
    const getLogger = () => (logger ??= this.log.child({ kind: opts.kind, id: opts.id, ...opts.bindings }));
    const debugOn = this.log.isLevelEnabled('debug');
    const span = opts.traced ? startActorSpan(this.tracer, opts.kind, opts.id, opts.bindings) : undefined;
    const watch = this.opts.inspector?.watch(opts.kind, opts.id, logic);
    const ref = createActor(logic, {
      id: opts.id,
      input: opts.input,
      ...(opts.snapshot !== undefined ? { snapshot: opts.snapshot as never } : {}),
      ...(watch ? { inspect: watch.inspect } : {}),
    }) as Actor<TLogic>;

    const entry: Entry = {
      kind: opts.kind,
      id: opts.id,
      ref,
      get logger() {
        return getLogger();
      },
      span,
      group: opts.group,
      opts: opts as SpawnOptions<AnyActorLogic>,
      closed: false,
      unsubscribe: () => {},
      inspectExit: watch?.exit,
    };
    this.entries.set(opts.id, entry);
    this.live.set(opts.kind, (this.live.get(opts.kind) ?? 0) + 1);
    if (opts.group !== undefined) {
      let set = this.groups.get(opts.group);
      if (!set) this.groups.set(opts.group, (set = new Set()));
      set.add(opts.id);
    }
    bump(this.metrics.spawned, opts.kind);

    let lastState: string | undefined;
    // Without an OpenTelemetry SDK (or for an unsampled trace) the span records nothing: do not
    // format every state for it.
    const stateSpan = span?.isRecording() ? span : undefined;
    const observer: Observer<ReturnType<typeof ref.getSnapshot>> = {
      next: (snap) => {
        opts.onSnapshot?.(snap as SnapshotFrom<TLogic>);
        if (!stateSpan && !debugOn) return;
        const s = (snap as { value?: unknown }).value;
        if (s === undefined) return;
        const state = stateToString(s);
        if (state === lastState) return;
        lastState = state;
        stateSpan?.addEvent('state', { 'callchart.state': state });
        if (debugOn) getLogger().debug({ state }, 'state');
      },
      error: (err) => this.onCrash(entry, err),
      complete: () => this.onComplete(entry),
    };
    const sub = ref.subscribe(observer);
    entry.unsubscribe = () => sub.unsubscribe();
    ref.start();
    return entry as unknown as SupervisedActor<TLogic>;
  }

  /** Stop one actor (no-op when it is already gone). */
  stop(id: string): void {
    const entry = this.entries.get(id);
    if (!entry || entry.closed) return;
    bump(this.metrics.stopped, entry.kind);
    this.release(entry);
    entry.ref.stop();
    entry.span?.end();
  }

  /** Stop every actor of a group (e.g. on WebSocket disconnect). */
  stopGroup(group: string): void {
    const ids = this.groups.get(group);
    if (!ids) return;
    for (const id of [...ids]) this.stop(id);
    this.groups.delete(group);
  }

  stopAll(): void {
    for (const id of [...this.entries.keys()]) this.stop(id);
  }

  private release(entry: Entry): void {
    if (entry.closed) return;
    entry.closed = true;
    entry.unsubscribe();
    this.entries.delete(entry.id);
    this.live.set(entry.kind, (this.live.get(entry.kind) ?? 1) - 1);
    if (entry.group !== undefined) {
      const set = this.groups.get(entry.group);
      set?.delete(entry.id);
      if (set && set.size === 0) this.groups.delete(entry.group);
    }
    entry.inspectExit?.();
    try {
      entry.opts.onExit?.();
    } catch (err) {
      entry.logger.error({ err }, 'onExit hook failed');
    }
  }

  private onComplete(entry: Entry): void {
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

  private onCrash(entry: Entry, err: unknown): void {
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
