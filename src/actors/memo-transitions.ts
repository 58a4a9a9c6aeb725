// Transitions of a pure machine remembered per (snapshot, event type), for machines that run one
// actor per call with the same start every time (the INVITE session). XState recomputes every
// transition from scratch (state-node sets, exit/entry sets, a new snapshot), which is most of such
// an actor's cost; a machine whose context depends on its input alone reaches the same few
// snapshots in every call, so the machine's own answer is computed once and reused.
//
// Only answers that cannot differ between actors are reused:
// - from a canonical snapshot (the machine's initial one, or one this memo produced from a
//   canonical snapshot): shared by every actor, frozen, never built per call;
// - for an event with no payload (`{ type }` alone): the answer depends on the snapshot and the type;
// - whose step executed only the machine's provided actions (no raise, spawn, delayed send: those
//   are bound to the actor that ran them). Each reuse executes the same actions, with the same
//   params and context, through the actor's own executor (so `self` is that actor).
// Every other step (an event with a payload, a snapshot reached from one) runs the machine as usual.
// test/model/sip-invite-session.test.ts runs every model path through both and compares.
import { createActor, type AnyActorScope, type AnyMachineSnapshot, type AnyStateMachine, type EventObject, type Snapshot } from 'xstate';
import { inertScope } from './inert-scope.js';

interface RecordedAction {
  type: string;
  params: unknown;
  exec: ((info: unknown, params: unknown) => void) | undefined;
  context: unknown;
}

/** A step's answer: the next (canonical) snapshot and the actions it executed, or null: not reusable. */
type Step = { next: AnyMachineSnapshot; actions: RecordedAction[] } | null;

interface ExecutableAction {
  type: string;
  params: unknown;
  exec: ((info: unknown, params: unknown) => void) | undefined;
  info: { context: unknown; event: EventObject; self: unknown; system: unknown };
}

export interface MemoizedStart {
  /** What to pass as `snapshot` to createActor: restored as the shared canonical start. */
  persisted: Snapshot<unknown>;
}

function payloadFree(event: EventObject): boolean {
  for (const k in event) if (k !== 'type') return false;
  return true;
}

function freezeDeep<T>(o: T): T {
  if (o && typeof o === 'object' && !Object.isFrozen(o)) {
    Object.freeze(o);
    for (const v of Object.values(o)) freezeDeep(v);
  }
  return o;
}

/** Shared by every actor: the snapshot object and what it carries are frozen (its state nodes and machine are not data). */
function freezeSnapshot(s: AnyMachineSnapshot): AnyMachineSnapshot {
  freezeDeep(s.context);
  freezeDeep(s.value);
  Object.freeze(s.children);
  return Object.freeze(s);
}

/**
 * `machine` as a logic that reuses its payload-free transitions from canonical snapshots (the
 * machine itself is not changed). `start(input, key)` gives the canonical initial snapshot for an
 * input (`key` names the input), or undefined when the machine's start has effects: actors of that
 * input then start afresh and are never memoized.
 */
export function memoizeTransitions<M extends AnyStateMachine>(
  machine: M,
  /** Which events' answers may be reused (tests plant a wrong rule here). */
  reusable: (event: EventObject) => boolean = payloadFree,
): { logic: M; start(input: unknown, key: string): MemoizedStart | undefined; readonly reused: number } {
  const steps = new WeakMap<AnyMachineSnapshot, Map<string, Step>>();
  const restored = new WeakMap<object, AnyMachineSnapshot>();
  const starts = new Map<string, MemoizedStart | null>();
  let reused = 0;
  const logic = Object.create(machine) as M;
  const transition = machine.transition.bind(machine) as (s: AnyMachineSnapshot, e: EventObject, scope: AnyActorScope) => AnyMachineSnapshot;
  const restore = machine.restoreSnapshot.bind(machine) as (s: Snapshot<unknown>, scope: AnyActorScope) => AnyMachineSnapshot;

  const canonical = (s: AnyMachineSnapshot): AnyMachineSnapshot => {
    if (!steps.has(s)) steps.set(freezeSnapshot(s), new Map());
    return s;
  };

  const m = logic as unknown as {
    transition: (s: AnyMachineSnapshot, e: EventObject, scope: AnyActorScope) => AnyMachineSnapshot;
    restoreSnapshot: (s: Snapshot<unknown>, scope: AnyActorScope) => AnyMachineSnapshot;
  };
  m.transition = (snapshot, event, scope) => {
    const table = steps.get(snapshot);
    if (table === undefined || !reusable(event)) return transition(snapshot, event, scope);
    const step = table.get(event.type);
    if (step === null) return transition(snapshot, event, scope);
    if (step !== undefined) {
      reused++;
      for (const a of step.actions) {
        (scope.actionExecutor as (a: ExecutableAction) => void)({
          type: a.type,
          params: a.params,
          exec: a.exec,
          info: { context: a.context, event, self: scope.self, system: scope.system },
        });
      }
      return step.next;
    }
    // First time: the machine decides (its effects run for this actor as they come) and its
    // answer is kept if no step of it was bound to this actor.
    const actions: RecordedAction[] = [];
    let own = true;
    const executor = scope.actionExecutor as (a: ExecutableAction) => void;
    (scope as { actionExecutor: unknown }).actionExecutor = (a: ExecutableAction) => {
      if (a.type.startsWith('xstate.')) own = false;
      actions.push({ type: a.type, params: a.params, exec: a.exec, context: a.info.context });
      executor(a);
    };
    let next: AnyMachineSnapshot;
    try {
      next = transition(snapshot, event, scope);
    } finally {
      (scope as { actionExecutor: unknown }).actionExecutor = executor;
    }
    table.set(event.type, own ? { next: canonical(next), actions } : null);
    return next;
  };
  // The canonical start's persisted form restores as the canonical snapshot itself.
  m.restoreSnapshot = (persisted, scope) => restored.get(persisted) ?? restore(persisted, scope);

  return {
    logic,
    /** How many steps were answered from the memo (tests check it is used). */
    get reused() {
      return reused;
    },
    start(input, key) {
      let s = starts.get(key);
      if (s === undefined) {
        const probe = createActor(logic as AnyStateMachine, { input });
        let effects = 0;
        const scope = inertScope(probe, () => {
          effects++;
        });
        const initial = logic.getInitialSnapshot(scope, input) as AnyMachineSnapshot;
        s = null;
        if (effects === 0 && initial.status === 'active') {
          const persisted = freezeDeep(logic.getPersistedSnapshot(initial) as Snapshot<unknown>);
          restored.set(persisted, canonical(initial));
          s = { persisted };
        }
        starts.set(key, s);
      }
      return s ?? undefined;
    },
  };
}
