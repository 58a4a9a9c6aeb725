// Model-based tests for the REFER we receive (machines/sipReferee.machine.ts). Paths come from the
// machine (test/helpers/model.ts) and every state reached is checked against an oracle written from
// RFC 3515 for every sample event; then the wire effects of the paths that matter: the 202 comes
// before the first NOTIFY, exactly one final response, exactly one terminating NOTIFY.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createActor, createMachine, type EventObject } from 'xstate';
import { runModel } from '../helpers/model.js';
import { sipRefereeMachine, type SipRefereeEvent } from '../../machines/sipReferee.machine.js';

const input = { target: 'sip:carol@example.com' };
const events: SipRefereeEvent[] = [
  { type: 'ACCEPT' },
  { type: 'REJECT', status: 486 },
  { type: 'DECISION.TIMER' },
  { type: 'TARGET.PROGRESS', status: 180 },
  { type: 'TARGET.ANSWERED' },
  { type: 'TARGET.FAILED', status: 486 },
  { type: 'DIALOG.ENDED' },
];

/** RFC 3515 as plain code: where each event leads. */
function oracle(from: string, e: EventObject): string | undefined {
  const ev = e as SipRefereeEvent;
  if (from === 'deciding') {
    if (ev.type === 'ACCEPT') return 'calling';
    if (ev.type === 'REJECT' || ev.type === 'DECISION.TIMER' || ev.type === 'DIALOG.ENDED') return 'done';
    return undefined; // the new call's events cannot come before there is one
  }
  if (from === 'calling') {
    if (ev.type === 'TARGET.ANSWERED' || ev.type === 'TARGET.FAILED' || ev.type === 'DIALOG.ENDED') return 'done';
    return undefined; // progress stays; a late decision changes nothing
  }
  return undefined;
}

type Logged = { type: string; params?: { status?: number; final?: boolean } };

function spied(machine = sipRefereeMachine) {
  const log: Logged[] = [];
  const names = ['respond', 'dial', 'notify', 'startTimer', 'stopTimer'];
  const actions = Object.fromEntries(names.map((n) => [n, (_: unknown, params: Logged['params']) => log.push(params === undefined ? { type: n } : { type: n, params })]));
  const actor = createActor(machine.provide({ actions: actions as never }), { input });
  actor.start();
  const send = (...evs: SipRefereeEvent[]) => evs.forEach((e) => actor.send(e));
  return { actor, log, send, wire: () => log.filter((l) => l.type === 'respond' || l.type === 'notify' || l.type === 'dial') };
}

describe('sipReferee machine', () => {
  test('model paths against an RFC 3515 oracle', async () => {
    const r = await runModel({ machine: sipRefereeMachine, input, events, oracle, states: { done: () => {} } });
    assert.ok(r.paths >= 2, `paths: ${r.paths}`);
  });

  test('the oracle catches a planted bug (a decision timer that accepts)', async () => {
    const cfg = sipRefereeMachine.config;
    const deciding = cfg.states!.deciding!;
    const buggy = createMachine(
      { ...cfg, states: { ...cfg.states, deciding: { ...deciding, on: { ...(deciding.on as object), 'DECISION.TIMER': 'calling' } } } } as typeof cfg,
      sipRefereeMachine.implementations as never,
    );
    await assert.rejects(runModel({ machine: buggy, input, events, oracle, states: { done: () => {} } }), /oracle: deciding --DECISION.TIMER--> expected done/);
  });

  test('accepted: 202, then NOTIFY 100 (active), the call, progress, and one terminating NOTIFY', () => {
    const s = spied();
    s.send({ type: 'ACCEPT' }, { type: 'TARGET.PROGRESS', status: 180 }, { type: 'TARGET.ANSWERED' }, { type: 'TARGET.FAILED', status: 487 });
    assert.deepEqual(s.wire(), [
      { type: 'respond', params: { status: 202, reason: 'Accepted' } },
      { type: 'notify', params: { status: 100, final: false } },
      { type: 'dial' },
      { type: 'notify', params: { status: 180, final: false } },
      { type: 'notify', params: { status: 200, final: true } },
    ]);
    assert.equal(s.actor.getSnapshot().status, 'done');
  });

  test('refused, undecided or orphaned: one final response, no NOTIFY, the timer stopped', () => {
    for (const [ev, status] of [[{ type: 'REJECT', status: 486 }, 486], [{ type: 'DECISION.TIMER' }, 603], [{ type: 'DIALOG.ENDED' }, 603]] as const) {
      const s = spied();
      s.send(ev as SipRefereeEvent, { type: 'ACCEPT' });
      assert.deepEqual(s.wire().map((l) => [l.type, l.params?.status]), [['respond', status]], ev.type);
      assert.deepEqual(s.log.filter((l) => l.type.endsWith('Timer')).map((l) => l.type), ['startTimer', 'stopTimer']);
    }
  });

  test('a dialog that ends while the target is called sends no more NOTIFYs', () => {
    const s = spied();
    s.send({ type: 'ACCEPT' }, { type: 'DIALOG.ENDED' }, { type: 'TARGET.ANSWERED' });
    assert.equal(s.wire().filter((l) => l.type === 'notify').length, 1, 'only the 100 Trying');
  });
});
