// A server transaction's machine stepped without an actor (TransactionLayer.onRequest): most live
// one step, and an actor for one step would cost ten times the pure transitions.
import { createActor, type AnyEventObject, type AnyMachineSnapshot, type AnyStateMachine } from 'xstate';
import type { SipTimerConfig } from '../../../machines/sipTimers.js';
import { inertScope } from '../../actors/inert-scope.js';

export interface PureStepper {
  /** The machine's initial snapshot for this layer's timers (immutable, shared). */
  initial: AnyMachineSnapshot;
  step(snap: AnyMachineSnapshot, event: AnyEventObject): [AnyMachineSnapshot, Array<{ type: string; params: unknown }>];
}

/**
 * xstate's transition()/initialTransition() build a throwaway actor per call; this keeps one inert
 * scope per machine and calls the machine's transition with it, collecting the actions to run.
 */
export function pureStepper(logic: AnyStateMachine, input: SipTimerConfig): PureStepper {
  const self = createActor(logic, { input });
  let collected: Array<{ type: string; params: unknown }> = [];
  const scope = inertScope(self, (a) => {
    collected.push(a);
  });
  const run = (snap: AnyMachineSnapshot, event: AnyEventObject): [AnyMachineSnapshot, Array<{ type: string; params: unknown }>] => {
    const actions: Array<{ type: string; params: unknown }> = (collected = []);
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
  return {
    initial,
    step(snap, event) {
      if (memo && snap === initial && event.type === 'REQUEST.RECEIVED') {
        const actions = receivedActions.map((a) =>
          a.params && typeof a.params === 'object' && 'request' in a.params ? { type: a.type, params: { ...a.params, request: (event as { request?: unknown }).request } } : a,
        );
        return [received, actions];
      }
      return run(snap, event);
    },
  };
}
