// A server transaction's machine stepped without an actor (TransactionLayer.onRequest): most live
// one step, and an actor for one step would cost ten times the pure transitions.
import { createActor, type AnyEventObject, type AnyMachineSnapshot, type AnyStateMachine } from 'xstate';
import type { SipTimerConfig } from '../../../machines/sipTimers.js';
import { inertScope } from '../../actors/inert-scope.js';

type Actions = Array<{ type: string; params: unknown }>;

export interface PureStepper {
  /** The machine's initial snapshot for this layer's timers (immutable, shared). */
  initial: AnyMachineSnapshot;
  step(snap: AnyMachineSnapshot, event: AnyEventObject): [AnyMachineSnapshot, Actions];
}

/** `value` with every occurrence of `from` replaced by `to` (plain objects and arrays copied on the way). */
function substitute(value: unknown, from: unknown, to: unknown): unknown {
  if (value === from) return to;
  if (Array.isArray(value)) return value.map((v) => substitute(v, from, to));
  if (value && typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = substitute(v, from, to);
    return out;
  }
  return value;
}

/** The parts of a step that must not differ between two runs whose payload differs only in `p`. */
function shape(snap: AnyMachineSnapshot, actions: Actions, p: unknown): string {
  return JSON.stringify([snap.value, snap.status, snap.context, actions], (_, v: unknown) => (v === p ? '<payload>' : v));
}

/**
 * xstate's transition()/initialTransition() build a throwaway actor per call; this keeps one inert
 * scope per machine and calls the machine's transition with it, collecting the actions to run.
 */
export function pureStepper(logic: AnyStateMachine, input: SipTimerConfig): PureStepper {
  const self = createActor(logic, { input });
  let collected: Actions = [];
  const scope = inertScope(self, (a) => {
    collected.push(a);
  });
  const run = (snap: AnyMachineSnapshot, event: AnyEventObject): [AnyMachineSnapshot, Actions] => {
    const actions: Actions = (collected = []);
    return [logic.transition(snap, event, scope), actions];
  };
  const initial = logic.getInitialSnapshot(scope, input);
  // Every transaction starts with the same transition, idle --REQUEST.RECEIVED--> (no guard, and
  // the request is not kept in context): its result is computed once and reused, with the actual
  // request put into the params of its actions. Checked here: two different requests give the
  // same snapshot, so the memo is the machine's own answer.
  const [received, receivedActions] = run(initial, { type: 'REQUEST.RECEIVED', request: 1 });
  const [check] = run(initial, { type: 'REQUEST.RECEIVED', request: 2 });
  const memo = JSON.stringify([received.value, received.context]) === JSON.stringify([check.value, check.context]);
  // The TU's answer in that same step (TU.RESPONSE from `received`: a BYE's 200, an INVITE's 2xx
  // or 180) is the machine's too, per status, computed once: its snapshot and actions with the
  // response object put where the machine put it (context.lastResponse, transmitResponse's params).
  // Kept only when two runs with different responses differ in nothing else.
  const answers = new Map<number, { snap: AnyMachineSnapshot; actions: Actions; p: object } | null>();
  const answer = (status: number) => {
    let a = answers.get(status);
    if (a === undefined) {
      const p1 = { placeholder: 1 };
      const p2 = { placeholder: 2 };
      const [s1, a1] = run(received, { type: 'TU.RESPONSE', status, response: p1 });
      const [s2, a2] = run(received, { type: 'TU.RESPONSE', status, response: p2 });
      a = shape(s1, a1, p1) === shape(s2, a2, p2) ? { snap: s1, actions: a1, p: p1 } : null;
      answers.set(status, a);
    }
    return a;
  };
  return {
    initial,
    step(snap, event) {
      if (memo && snap === initial && event.type === 'REQUEST.RECEIVED') {
        const actions = receivedActions.map((a) =>
          a.params && typeof a.params === 'object' && 'request' in a.params ? { type: a.type, params: { ...a.params, request: (event as { request?: unknown }).request } } : a,
        );
        return [received, actions];
      }
      if (memo && snap === received && event.type === 'TU.RESPONSE' && typeof event.status === 'number' && Object.keys(event).length === 3 && 'response' in event) {
        const a = answer(event.status);
        if (a) {
          const r = (event as unknown as { response: unknown }).response;
          const next = { ...a.snap, context: substitute(a.snap.context, a.p, r) } as AnyMachineSnapshot;
          return [next, a.actions.map((x) => ({ type: x.type, params: substitute(x.params, a.p, r) }))];
        }
      }
      return run(snap, event);
    },
  };
}
