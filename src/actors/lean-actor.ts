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
