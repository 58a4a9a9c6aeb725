// The transaction layer's pure stepper (src/sip/transactions/pure-stepper.ts) answers a request's
// first step from memos: REQUEST.RECEIVED from the initial snapshot, and the TU's response in the
// same step per status. Each memo must be the machine's own answer with the actual payload in
// place: compared here with the machine's transition for every status class, both machines.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { assign, createActor, type AnyMachineSnapshot, type AnyStateMachine } from 'xstate';
import { sipInviteServerTransactionMachine } from '../../machines/sipInviteServerTransaction.machine.js';
import { sipNonInviteServerTransactionMachine } from '../../machines/sipNonInviteServerTransaction.machine.js';
import { sipTimerConfig } from '../../machines/sipTimers.js';
import { pureStepper } from '../../src/sip/transactions/pure-stepper.js';
import { inertScope } from '../../src/actors/inert-scope.js';

const noop = () => {};
const actions = { passToTU: noop, transmitResponse: noop, notifyTimeout: noop, notifyTransportError: noop };
const input = { ...sipTimerConfig({}), finalRetransmits: 10 };
const machines: Array<[string, AnyStateMachine]> = [
  ['INVITE', sipInviteServerTransactionMachine.provide({ actions })],
  ['non-INVITE', sipNonInviteServerTransactionMachine.provide({ actions })],
];
const statuses = [100, 180, 183, 200, 202, 302, 486, 487, 503, 603];

/** The machine's own step, with no memo: a fresh scope, the actions it executes collected. */
function machineStep(logic: AnyStateMachine, snap: AnyMachineSnapshot, event: { type: string; [k: string]: unknown }) {
  const got: Array<{ type: string; params: unknown }> = [];
  const scope = inertScope(createActor(logic, { input }), (a) => void got.push({ type: a.type, params: a.params }));
  return [logic.transition(snap, event, scope) as AnyMachineSnapshot, got] as const;
}

const view = (s: AnyMachineSnapshot) => ({ value: s.value, status: s.status, context: s.context });
const effects = (a: ReadonlyArray<{ type: string; params: unknown }>) => a.map(({ type, params }) => ({ type, params }));

describe('pure stepper: the memos are the machine’s answers', () => {
  for (const [name, logic] of machines) {
    test(`${name}: REQUEST.RECEIVED, then TU.RESPONSE of every status class, as the machine steps them`, () => {
      const stepper = pureStepper(logic, input);
      const request = { a: 'request' };
      const [received, ra] = stepper.step(stepper.initial, { type: 'REQUEST.RECEIVED', request });
      const [mReceived, mra] = machineStep(logic, stepper.initial, { type: 'REQUEST.RECEIVED', request });
      assert.deepEqual(view(received), view(mReceived));
      assert.deepEqual(effects(ra), effects(mra));
      for (const status of statuses) {
        const response = { bytes: `response ${status}` };
        const [next, na] = stepper.step(received, { type: 'TU.RESPONSE', status, response });
        const [mNext, mna] = machineStep(logic, mReceived, { type: 'TU.RESPONSE', status, response });
        assert.deepEqual(view(next), view(mNext), `${status}: snapshot`);
        assert.deepEqual(effects(na), effects(mna), `${status}: actions`);
        const last = (next.context as { lastResponse?: { response: unknown } }).lastResponse;
        assert.equal(last?.response, response, `${status}: the actual response object is recorded`);
        // Reused: a second response of the same status shares the memo's state nodes.
        const [again] = stepper.step(received, { type: 'TU.RESPONSE', status, response: { bytes: 'other' } });
        assert.equal((again as { _nodes: unknown })._nodes, (next as { _nodes: unknown })._nodes, `${status}: answered from the memo`);
        // And later steps from a memo's snapshot are the machine's as well.
        const [after] = stepper.step(next, { type: 'REQUEST.RETRANSMITTED' });
        const [mAfter] = machineStep(logic, mNext, { type: 'REQUEST.RETRANSMITTED' });
        assert.deepEqual(view(after), view(mAfter), `${status}: the step after`);
      }
    });
  }

  test('a machine whose answer depends on more than the response gets no memo (planted: a copy of the response in context)', () => {
    const planted = sipNonInviteServerTransactionMachine.provide({
      actions: { ...actions, recordResponse: assign((_, p: { status: number; response: unknown }) => ({ lastResponse: { status: p.status, response: { ...(p.response as object) } } })) },
    });
    const stepper = pureStepper(planted, input);
    const [received] = stepper.step(stepper.initial, { type: 'REQUEST.RECEIVED', request: {} });
    const a = stepper.step(received, { type: 'TU.RESPONSE', status: 200, response: { n: 1 } })[0];
    const b = stepper.step(received, { type: 'TU.RESPONSE', status: 200, response: { n: 2 } })[0];
    assert.deepEqual((a.context as { lastResponse: { response: unknown } }).lastResponse.response, { n: 1 });
    assert.deepEqual((b.context as { lastResponse: { response: unknown } }).lastResponse.response, { n: 2 }, 'not a memo of the first response');
  });
});
