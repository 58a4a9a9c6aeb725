// One way to run many actors of one machine: the machine's named actions are provided ONCE, and
// each action finds the wire of the actor it runs for by the actor's id.
//
// `machine.provide()` rebuilds the machine's whole state-node tree (tens of KB, tens of µs), so
// providing per actor costs every call, room or session that much; a Map lookup by id costs
// nothing. The registry also ties each wire's life to its actor's: the entry is removed whenever
// the actor leaves the supervisor (done, crashed or stopped), so no table keeps a dead id.
import type { AnyActorLogic } from 'xstate';
import type { ActorExitHook, SpawnOptions, SupervisedActor, Supervisor } from './supervisor.js';

/**
 * `wireOf(id)` for the action implementations: the wire registered for the actor whose action
 * runs, or undefined once that actor is gone (a late timer, an action after stop).
 */
export type WireLookup<TWire> = (actorId: string) => TWire | undefined;

export class ActorRegistry<TLogic extends AnyActorLogic, TWire> implements ActorExitHook {
  /** The machine with its implementations, provided once for every actor of this registry. */
  readonly logic: TLogic;
  private readonly wires = new Map<string, TWire>();

  /**
   * `provide(wireOf)` returns the machine with its actions (and delays, guards…) implemented
   * over `wireOf`: typically `machine.provide({ actions: { x: ({ self }) => wireOf(self.id)?.x() } })`.
   */
  constructor(
    private readonly supervisor: Supervisor,
    provide: (wireOf: WireLookup<TWire>) => TLogic,
  ) {
    this.logic = provide((id) => this.wires.get(id));
  }

  /** Live actors of this registry. */
  get size(): number {
    return this.wires.size;
  }

  /** The wires of the live actors. */
  values(): IterableIterator<TWire> {
    return this.wires.values();
  }

  /** The wire of a live actor. */
  wire(actorId: string): TWire | undefined {
    return this.wires.get(actorId);
  }

  /**
   * Register `wire` under `opts.id` and spawn the actor under the supervisor (which may throw, e.g.
   * LimitExceededError: then nothing stays registered). The wire is forgotten when the actor
   * leaves the supervisor, before the caller's own `onExit` runs.
   */
  spawn(wire: TWire, opts: SpawnOptions<TLogic>): SupervisedActor<TLogic> {
    if (this.wires.has(opts.id)) throw new Error(`actor id already registered: ${opts.id}`);
    this.wires.set(opts.id, wire);
    try {
      // `opts` goes through as it is (it may be a class instance whose hooks are methods).
      return this.supervisor.spawn(this.logic, opts, this);
    } catch (err) {
      this.wires.delete(opts.id);
      throw err;
    }
  }

  /** @internal the supervisor's exit hook: the actor left, its wire goes (before the spawner's onExit). */
  released(id: string): void {
    this.wires.delete(id);
  }
}
