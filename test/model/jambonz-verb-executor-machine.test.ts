// Model-based test of the jambonz verb executor: generated paths drive the real actor; an
// independent oracle (jambonz's call-session rules, written apart from the machine) checks every
// reachable state × event; the effects each state owes are checked on the real actor.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createActor, createMachine, type EventObject } from 'xstate';
import { jambonzVerbExecutorMachine, type ExecVerb, type VerbExecutorEvent, type VerbExecutorContext } from '../../machines/jambonzVerbExecutor.machine.js';
import { runModel } from '../helpers/model.js';

const say: ExecVerb = { verb: 'say', text: 'a' };
const pause: ExecVerb = { verb: 'pause', length: 1 };
const events: VerbExecutorEvent[] = [
  { type: 'APP.VERBS', verbs: [say, pause] },
  { type: 'APP.VERBS', verbs: [] },
  { type: 'APP.VERBS', verbs: [pause], queue: true },
  { type: 'VERB.DONE', seq: 1 },
  { type: 'VERB.DONE', seq: 2 },
  { type: 'VERB.DONE', seq: 2, hook: true },
  { type: 'VERB.FAILED', seq: 1, error: 'bad' },
  { type: 'HOOK.REPLY', verbs: [] },
  { type: 'HOOK.REPLY', verbs: [say] },
  { type: 'CALL.ENDED' },
  { type: 'APP.GONE', error: 'closed' },
];

/** jambonz's rules: the next verb runs while there is one; a dry stack, a lost app or a missed ack end the call. */
function oracle(from: string, ev: EventObject, snap: { context: VerbExecutorContext }): string | undefined {
  const c = snap.context;
  const e = ev as VerbExecutorEvent;
  if (e.type === 'CALL.ENDED' || e.type === 'APP.GONE') return 'ended';
  const afterReplace = (verbs: ExecVerb[]): string => (verbs.length ? 'running' : 'ended');
  switch (from) {
    case 'awaitingApp':
      if (ev.type.endsWith('.awaitingApp')) return 'ended';
      if (e.type === 'APP.VERBS') return afterReplace(e.verbs);
      return undefined;
    case 'running':
      if ((e.type === 'VERB.DONE' || e.type === 'VERB.FAILED') && e.seq === c.seq) {
        if (e.type === 'VERB.DONE' && e.hook) return 'hooking';
        return afterReplace(c.queue);
      }
      if (e.type === 'APP.VERBS') return e.queue ? undefined : afterReplace(e.verbs);
      return undefined;
    case 'hooking':
      if (ev.type.endsWith('.hooking')) return 'ended';
      if (e.type === 'HOOK.REPLY') return afterReplace(e.verbs.length ? e.verbs : c.queue);
      if (e.type === 'APP.VERBS') return e.queue ? undefined : afterReplace(e.verbs);
      return undefined;
    default:
      return undefined;
  }
}

function run(machine: typeof jambonzVerbExecutorMachine) {
  let started: Array<{ verb: ExecVerb; seq: number }> = [];
  let hangups = 0;
  let errors: string[] = [];
  const m = machine.provide({
    actions: {
      startVerb: (_, p) => void started.push(p),
      hangupCall: () => void hangups++,
      reportError: (_, p) => void errors.push(p.error),
    },
  });
  return runModel({
    machine: m,
    events: events as EventObject[],
    oracle: oracle as never,
    // Bounded: seq and queue grow without end; past 3 / 2 they add no behaviour the sample events can tell apart.
    serializeState: (s) => JSON.stringify([s.value, Math.min(s.context.queue.length, 2), Math.min(s.context.seq, 3), s.context.endReason]),
    makeActor: (clock) => {
      started = [];
      hangups = 0;
      errors = [];
      return createActor(m, { clock });
    },
    states: {
      running: (s) => {
        const last = started.at(-1);
        assert.ok(last, 'a running verb was started');
        assert.equal(last.seq, s.context.seq, 'the verb running is the last one started');
        assert.deepEqual(last.verb, s.context.current);
        assert.equal(hangups, 0, 'no hangup while verbs run');
      },
      awaitingApp: () => assert.deepEqual(started, [], 'nothing runs before the app answers'),
      hooking: () => assert.equal(hangups, 0),
      ended: (s) => {
        const r = s.context.endReason;
        assert.equal(hangups, r === 'call-ended' ? 0 : 1, `hangup owed for ${r}`);
        if (r === 'ack-timeout' || r === 'app-gone') assert.ok(errors.length > 0, 'an error is reported before the hangup');
      },
    },
  });
}

test('verb executor: generated paths drive the real actor; an oracle checks every transition', async () => {
  const r = await run(jambonzVerbExecutorMachine);
  for (const s of ['awaitingApp', 'running', 'hooking', 'ended']) assert.ok(r.statesCovered.has(s), `state ${s} never reached`);
});

test('verb executor: a replaced verb is killed, a stale VERB.DONE is ignored, an empty hook reply goes on with the stack', () => {
  const killed: number[] = [];
  const a = createActor(jambonzVerbExecutorMachine.provide({ actions: { killVerb: (_, p) => void killed.push(p.seq) } })).start();
  a.send({ type: 'APP.VERBS', verbs: [say, pause] });
  assert.equal(a.getSnapshot().context.seq, 1);
  a.send({ type: 'APP.VERBS', verbs: [pause, say] });
  assert.deepEqual(killed, [1]);
  a.send({ type: 'VERB.DONE', seq: 1 });
  assert.equal(a.getSnapshot().context.current?.verb, 'pause', 'the killed verb’s late DONE does not advance the stack');
  a.send({ type: 'VERB.DONE', seq: 2, hook: true });
  assert.ok(a.getSnapshot().matches('hooking'));
  a.send({ type: 'HOOK.REPLY', verbs: [] });
  assert.equal(a.getSnapshot().context.current?.verb, 'say');
  assert.equal(a.getSnapshot().status, 'active');
});

test('the verb executor model tests catch a planted bug (a stale VERB.DONE advances the stack)', async () => {
  const clone = (v: unknown): unknown =>
    Array.isArray(v) ? v.map(clone) : v && typeof v === 'object' ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k, clone(x)])) : v;
  const cfg = clone(jambonzVerbExecutorMachine.config) as { states: { running: { on: Record<string, unknown> } } };
  cfg.states.running.on['VERB.DONE'] = [{ guard: 'wantsHook', target: 'hooking' }, { target: 'next' }];
  const buggy = createMachine(cfg as never, jambonzVerbExecutorMachine.implementations as never) as unknown as typeof jambonzVerbExecutorMachine;
  await assert.rejects(run(buggy), /oracle|the verb running/);
});
