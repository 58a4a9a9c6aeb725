// Model-based testing helper shared by every machine's tests.
//
// xstate/graph's createTestModel() refuses machines with `after` transitions, but a delayed
// transition is just an event (`xstate.after.<delay>.<state id>`) that the actor's clock raises.
// So the model is built with TestModel directly, the traversal is given those after-events as
// ordinary events, and when a generated path takes one, the real actor's SimulatedClock is advanced
// by the named delay instead. The paths therefore drive the real actor through its real timers.
import assert from 'node:assert/strict';
import { stateToString as valueString } from '../../src/actors/state.js';
import { TestModel } from 'xstate/graph';
import {
  createActor,
  getNextSnapshot,
  SimulatedClock,
  type AnyStateMachine,
  type EventObject,
  type Actor,
  type SnapshotFrom,
  type AnyStateNode,
  type AnyMachineSnapshot,
} from 'xstate';


export interface AfterEvent {
  type: string;
  /** Milliseconds the clock must advance for this delayed transition to fire. */
  delayMs: number;
}

/** Every delayed transition of a machine, with its delay resolved from `delays` implementations. */
export function afterEvents(machine: AnyStateMachine, context?: unknown): AfterEvent[] {
  const out: AfterEvent[] = [];
  const delays = (machine.implementations.delays ?? {}) as Record<string, unknown>;
  const walk = (node: AnyStateNode) => {
    for (const t of node.after) {
      const d = t.delay;
      let ms: number;
      if (typeof d === 'number') ms = d;
      else {
        const impl = delays[d as string];
        ms = typeof impl === 'function' ? (impl as (a: { context: unknown }) => number)({ context }) : Number(impl ?? d);
      }
      if (!out.some((e) => e.type === t.eventType)) out.push({ type: t.eventType, delayMs: ms });
    }
    for (const child of Object.values(node.states)) walk(child as AnyStateNode);
  };
  walk(machine.root);
  return out;
}

export interface ModelRunOptions<TMachine extends AnyStateMachine> {
  machine: TMachine;
  input?: unknown;
  /** Sample events (with data) the traversal may send in any state. */
  events: EventObject[];
  /** Limit the traversal (graph size). */
  limit?: number;
  /** Assertions per state key (e.g. `ended`, `active.held`); run on the REAL actor's snapshot. */
  states: Record<string, (snapshot: SnapshotFrom<TMachine>, actor: Actor<TMachine>) => void>;
  /** Serialize states (default: value + context JSON). */
  serializeState?: (snapshot: SnapshotFrom<TMachine>) => string;
  /** Use simple paths (every acyclic path) instead of shortest paths. */
  simple?: boolean;
  /** Build the actor under test (default: createActor(machine)); the clock must be passed through. */
  makeActor?: (clock: SimulatedClock) => Actor<TMachine>;
  /**
   * Independent oracle: the state the spec says `event` leads to from `from` (a state value
   * string like `active.held`), or undefined for "stay put". Every reachable state is checked
   * against it for EVERY sample event, so a transition the machine drops or misroutes fails even
   * though the paths were generated from the (buggy) machine itself.
   */
  oracle?: (from: string, event: EventObject, snapshot: SnapshotFrom<TMachine>) => string | undefined;
  /** Checked after each path with the events the path sent (after-events included). */
  afterPath?: (events: EventObject[], snapshot: SnapshotFrom<TMachine>) => void;
}

export interface ModelRunResult {
  paths: number;
  steps: number;
  statesCovered: Set<string>;
}

/**
 * Generate paths from the statechart and drive a fresh real actor along each, asserting the
 * actor's state matches the model after every step. Throws on the first mismatch.
 */
export async function runModel<TMachine extends AnyStateMachine>(o: ModelRunOptions<TMachine>): Promise<ModelRunResult> {
  const initialContext = (createActor(o.machine, { input: o.input as never }).getSnapshot() as AnyMachineSnapshot).context;
  const afters = afterEvents(o.machine, initialContext);
  const delayOf = new Map(afters.map((a) => [a.type, a.delayMs]));
  const events = [...o.events, ...afters.map((a) => ({ type: a.type }))];
  const model = new TestModel(o.machine, {
    events: events as never,
    input: o.input as never,
    ...(o.limit ? { limit: o.limit } : {}),
    stateMatcher: ((snap: { matches(k: string): boolean }, key: string) => snap.matches(key)) as never,
    // A done actor ignores further events; the traversal must not pretend otherwise.
    stopWhen: ((snap: { status: string }) => snap.status === 'done') as never,
    serializeState: (o.serializeState ?? ((s: AnyMachineSnapshot) => JSON.stringify([s.value, s.context, s.status]))) as never,
  });
  const paths = o.simple ? model.getSimplePaths() : model.getShortestPaths();
  assert.ok(paths.length > 0, 'model produced no paths');
  const statesCovered = new Set<string>();
  let steps = 0;
  for (const path of paths) {
    const clock = new SimulatedClock();
    const actor = o.makeActor ? o.makeActor(clock) : (createActor(o.machine, { input: o.input as never, clock }) as Actor<TMachine>);
    actor.subscribe({ error: () => {} });
    actor.start();
    const eventExec: Record<string, (step: { event: EventObject }) => void> = {};
    const sent: EventObject[] = [];
    for (const ev of events) {
      eventExec[ev.type] = ({ event }) => {
        steps++;
        sent.push(event);
        const delay = delayOf.get(event.type);
        if (delay !== undefined) clock.increment(delay);
        else actor.send(event as never);
      };
    }
    // Each model state key is checked against the real actor, not the model's snapshot.
    const stateChecks: Record<string, () => void> = {};
    for (const [key, check] of Object.entries(o.states)) {
      stateChecks[key] = () => {
        const snap = actor.getSnapshot() as AnyMachineSnapshot;
        assert.ok(snap.matches(key), `${path.description}: actor is not in "${key}" (value ${JSON.stringify(snap.value)})`);
        statesCovered.add(key);
        check(snap as SnapshotFrom<TMachine>, actor);
      };
    }
    await path.test({ states: stateChecks as never, events: eventExec as never });
    // The final model state must equal the real actor's state.
    const modelValue = JSON.stringify(path.state.value);
    const realValue = JSON.stringify((actor.getSnapshot() as AnyMachineSnapshot).value);
    assert.equal(realValue, modelValue, `${path.description}: actor ended in ${realValue}, model in ${modelValue}`);
    o.afterPath?.(sent, actor.getSnapshot() as SnapshotFrom<TMachine>);
    actor.stop();
  }
  if (o.oracle) {
    const seen = new Map<string, AnyMachineSnapshot>();
    for (const path of paths) {
      for (const step of path.steps) {
        const st = step.state as AnyMachineSnapshot;
        seen.set(JSON.stringify(st.value) + JSON.stringify(st.context), st);
      }
    }
    for (const snap of seen.values()) {
      if (snap.status === 'done') continue;
      const from = valueString(snap.value);
      for (const ev of events) {
        const want: string = o.oracle(from, ev, snap as SnapshotFrom<TMachine>) ?? from;
        const next = getNextSnapshot(o.machine, snap as never, ev as never) as AnyMachineSnapshot;
        const got = valueString(next.value);
        assert.equal(got, want, `oracle: ${from} --${ev.type}${'digit' in ev ? `(${String(ev.digit)})` : ''}${'by' in ev ? `(${String(ev.by)})` : ''}--> expected ${want}, machine went to ${got}`);
      }
    }
  }
  return { paths: paths.length, steps, statesCovered };
}
