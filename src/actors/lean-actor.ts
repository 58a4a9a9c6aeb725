// An XState `Actor` whose observer set and emitted-event listener table are made on first use.
// XState's constructor gives every actor an empty `Set` and `Map` for these (~365 B of heap per
// live actor with their tables); the supervisor observes its actors through the system's
// inspection observer, so for most actors nobody ever subscribes or listens. Until someone does,
// both point at one shared empty instance, which XState only reads, iterates and clears (a no-op);
// `subscribe` and `on`, the only places that add to them, give the actor its own first.
import { Actor, type ActorOptions, type AnyActorLogic, type Subscription } from 'xstate';

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

interface MachineSnapshotParts {
  tags?: ReadonlySet<string>;
  historyValue?: object;
}

/**
 * A machine snapshot's empty `tags` set (a `Set` with a 120 B table, made for every snapshot) and
 * empty `historyValue` (kept from snapshot to snapshot while no history state changes) replaced
 * by shared read-only empties. Called on each snapshot the supervisor sees, before the next event;
 * a frozen snapshot is left alone.
 */
export function leanSnapshot(snap: unknown): void {
  const s = snap as MachineSnapshotParts;
  // A remembered snapshot shared by many actors (memo-transitions) is frozen: left as it is.
  if (Object.isFrozen(s)) return;
  const tags = s.tags;
  if (tags !== undefined && tags !== NO_TAGS && tags.size === 0) s.tags = NO_TAGS;
  const h = s.historyValue;
  if (h !== undefined && h !== NO_HISTORY && isEmpty(h)) s.historyValue = NO_HISTORY;
}

function isEmpty(o: object): boolean {
  for (const _ in o) return false;
  return true;
}
