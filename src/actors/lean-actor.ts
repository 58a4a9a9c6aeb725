// An XState `Actor` whose observer set and emitted-event listener table are made on first use.
// XState's constructor gives every actor an empty `Set` and `Map` for these (~365 B of heap per
// live actor with their tables); the supervisor observes its actors through the system's
// inspection observer, so for most actors nobody ever subscribes or listens. Until someone does,
// both point at one shared empty instance, which XState only reads, iterates and clears (a no-op);
// `subscribe` and `on`, the only places that add to them, give the actor its own first.
// Its actor scope (what XState hands the machine on each step) is a `LeanScope` whose methods
// live on a prototype, instead of XState's object of four closures per actor (~300 B).
import { Actor, type ActorOptions, type AnyActorLogic, type Subscription } from 'xstate';

/** Never added to: `defer` and the action executor replace it on the actor before adding. */
const NO_DEFERRED: Array<() => void> = [];
/** Never added to: `subscribe`/`on` replace it on the actor before adding. */
const NO_OBSERVERS: ReadonlySet<never> = new Set<never>();
const NO_LISTENERS: ReadonlyMap<never, never> = new Map<never, never>();

/** The two private fields of XState's Actor this class manages. */
interface Tables {
  observers: ReadonlySet<unknown>;
  eventListeners: ReadonlyMap<unknown, unknown>;
}

export class LeanActor<TLogic extends AnyActorLogic> extends Actor<TLogic> {
  constructor(logic: TLogic, options?: ActorOptions<TLogic>) {
    super(logic, options);
    const t = this as unknown as Tables;
    t.observers = NO_OBSERVERS;
    t.eventListeners = NO_LISTENERS;
    // The initial state was computed in super() with XState's scope; every later step uses this.
    (this as unknown as Internals)._actorScope = new LeanScope(this as unknown as Internals);
  }

  override start(): this {
    super.start();
    // Deferred effects only come from a step (this scope's defer/actionExecutor), which makes the
    // actor its own array again: an idle actor shares one empty one (XState only shifts and clears it).
    const self = this as unknown as Internals;
    if (self._deferred.length === 0) self._deferred = NO_DEFERRED;
    return this;
  }

  override subscribe(observerOrNext?: unknown, error?: unknown, complete?: unknown): Subscription {
    const t = this as unknown as Tables;
    if (t.observers === NO_OBSERVERS) t.observers = new Set();
    return (Actor.prototype.subscribe as (this: Actor<TLogic>, ...a: unknown[]) => Subscription).call(this, observerOrNext, error, complete);
  }

  // `never` for the handler's argument: accepts XState's generic handler type (it is only passed on).
  override on(type: string, handler: (emitted: never) => void): Subscription {
    const t = this as unknown as Tables;
    if (t.eventListeners === NO_LISTENERS) t.eventListeners = new Map();
    return (Actor.prototype.on as (this: Actor<TLogic>, ...a: unknown[]) => Subscription).call(this, type, handler);
  }
}

// ---- the actor scope ----------------------------------------------------------------------

/** The parts of XState's Actor (5.33) a scope uses; private there, so typed here. */
interface Internals {
  id: string;
  sessionId: string;
  logger: unknown;
  system: { _sendInspectionEvent(event: unknown): void };
  eventListeners: ReadonlyMap<string, ReadonlySet<(event: unknown) => void>>;
  _deferred: Array<() => void>;
  _processingStatus: number;
  _actorScope: unknown;
}
interface Child {
  id: string;
  _parent: unknown;
  _stop(): void;
}
interface ExecutableAction {
  type: string;
  params: unknown;
  info: unknown;
  exec?: (info: unknown, params: unknown) => void;
}
type ActionExecutor = (action: ExecutableAction) => void;

/** XState's `ProcessingStatus.Running`. */
const RUNNING = 1;
/** Executors made by `LeanScope.actionExecutor`: assigning one back means "no override". */
const OWN_EXECUTORS = new WeakSet<ActionExecutor>();

/**
 * What XState's Actor constructor builds as `_actorScope`, with the same behaviour, but two fields
 * per actor: `self`, and the action executor a microstep puts in place while it collects actions.
 * XState reads `actionExecutor` into a local and calls it unbound, so the getter hands out a
 * closure per step (made only while a transition runs, garbage after it); writing that closure
 * back, as the microstep's `finally` does, clears the override.
 */
class LeanScope {
  private executor: ActionExecutor | undefined = undefined;

  constructor(readonly self: Internals) {}

  get id(): string {
    return this.self.id;
  }
  get sessionId(): string {
    return this.self.sessionId;
  }
  get logger(): unknown {
    return this.self.logger;
  }
  get system(): Internals['system'] {
    return this.self.system;
  }

  defer(fn: () => void): void {
    deferOn(this.self, fn);
  }

  stopChild(child: Child): void {
    if (child._parent !== this.self) throw new Error(`Cannot stop child actor ${child.id} of ${this.self.id} because it is not a child`);
    child._stop();
  }

  emit(event: { type: string }): void {
    const table = this.self.eventListeners;
    const listeners = table.get(event.type);
    const wildcard = table.get('*');
    if (!listeners && !wildcard) return;
    // Copied first, as XState does: a handler may add or remove listeners.
    const all = [...(listeners ?? []), ...(wildcard ?? [])];
    for (const handler of all) {
      try {
        handler(event);
      } catch (err) {
        reportUnhandledError(err);
      }
    }
  }

  get actionExecutor(): ActionExecutor {
    if (this.executor) return this.executor;
    const self = this.self;
    const own: ActionExecutor = (action) => {
      const exec = (): void => {
        self.system._sendInspectionEvent({ type: '@xstate.action', actorRef: self, action: { type: action.type, params: action.params } });
        action.exec?.(action.info, action.params);
      };
      if (self._processingStatus === RUNNING) exec();
      else deferOn(self, exec);
    };
    OWN_EXECUTORS.add(own);
    return own;
  }

  set actionExecutor(fn: ActionExecutor | undefined) {
    this.executor = fn === undefined || OWN_EXECUTORS.has(fn) ? undefined : fn;
  }
}

function deferOn(self: Internals, fn: () => void): void {
  if (self._deferred === NO_DEFERRED) self._deferred = [fn];
  else self._deferred.push(fn);
}

/** As XState reports an error thrown by an emitted-event handler: on a later turn, uncaught. */
function reportUnhandledError(err: unknown): void {
  setTimeout(() => {
    throw err;
  });
}

/** `createActor` for a LeanActor. */
export function createLeanActor<TLogic extends AnyActorLogic>(logic: TLogic, options?: ActorOptions<TLogic>): Actor<TLogic> {
  return new LeanActor(logic, options);
}

/** Shared by every snapshot without tags: adding to it throws (XState never does). */
class NoTags extends Set<string> {
  override add(): this {
    throw new Error('the shared empty tag set is read-only');
  }
}
const NO_TAGS: ReadonlySet<string> = new NoTags();
/** Shared by every snapshot without history: frozen (XState copies a history value to change it). */
const NO_HISTORY: Readonly<Record<string, never>> = Object.freeze({});
/** Shared by every snapshot without children: frozen (XState spawns and stops on a copy). */
const NO_CHILDREN: Readonly<Record<string, never>> = Object.freeze({});

/**
 * State values met so far, by their JSON: a snapshot's `value` object (~56 B, made afresh on each
 * transition and kept by an idle actor) is swapped for the first equal one, frozen. Bounded: past
 * the cap, values are left alone.
 */
const VALUES = new Map<string, object>();
const MAX_VALUES = 1024;

interface MachineSnapshotParts {
  value?: unknown;
  tags?: ReadonlySet<string>;
  historyValue?: object;
  children?: object;
}

/**
 * A machine snapshot's empty `tags` set (a `Set` with a 120 B table, made for every snapshot),
 * empty `historyValue` and empty `children` (each kept from snapshot to snapshot while unchanged;
 * 56 B apiece) replaced by shared read-only empties, and its state `value` by a shared frozen
 * equal one (XState makes a new value per transition and never writes one it made). Called on
 * each snapshot the supervisor sees, before the next event; a frozen snapshot is left alone.
 */
export function leanSnapshot(snap: unknown): void {
  const s = snap as MachineSnapshotParts;
  // A remembered snapshot shared by many actors (memo-transitions) is frozen: left as it is.
  if (Object.isFrozen(s)) return;
  const tags = s.tags;
  if (tags !== undefined && tags !== NO_TAGS && tags.size === 0) s.tags = NO_TAGS;
  const h = s.historyValue;
  if (h !== undefined && h !== NO_HISTORY && isEmpty(h)) s.historyValue = NO_HISTORY;
  const c = s.children;
  if (c !== undefined && c !== NO_CHILDREN && isEmpty(c)) s.children = NO_CHILDREN;
  const v = s.value;
  if (typeof v === 'object' && v !== null && !Object.isFrozen(v)) {
    const key = JSON.stringify(v);
    const known = VALUES.get(key);
    if (known !== undefined) s.value = known;
    else if (VALUES.size < MAX_VALUES) VALUES.set(key, deepFreeze(v));
  }
}

function deepFreeze(o: object): object {
  for (const v of Object.values(o)) if (typeof v === 'object' && v !== null) deepFreeze(v);
  return Object.freeze(o);
}

function isEmpty(o: object): boolean {
  for (const _ in o) return false;
  return true;
}
