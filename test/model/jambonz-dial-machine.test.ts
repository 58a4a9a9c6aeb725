// Model-based test of the jambonz dial statechart: generated paths drive the real actor (its ring
// and time-limit timers included) for both answerOnBridge settings; an independent oracle (dial.js
// and single-dialer.js's rules, written apart from the machine) checks every reachable state ×
// event; B is always placed once and, whenever the caller goes or the verb is killed while B lives,
// hung up once; the bridge comes up only after B (and the caller) answered.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createActor, createMachine, type EventObject } from 'xstate';
import { jambonzDialMachine, dialStatusOf, type DialEvent, type DialInput } from '../../machines/jambonzDial.machine.js';
import { runModel } from '../helpers/model.js';

const events: DialEvent[] = [
  { type: 'B.FAILED', error: 'no route' },
  { type: 'B.PROGRESS', code: 180 },
  { type: 'B.ANSWERED' },
  { type: 'B.ENDED', code: 486 },
  { type: 'B.ENDED', code: 487 },
  { type: 'B.ENDED', code: 503 },
  { type: 'B.ENDED' },
  { type: 'CALLER.ANSWERED' },
  { type: 'CALLER.ENDED' },
  { type: 'KILL' },
];

/** What dial.js does, from the spec: the state after `ev`, or undefined to stay. */
function oracleFor(input: DialInput) {
  return (from: string, ev: EventObject): string | undefined => {
    const e = ev as DialEvent;
    const isTimeout = ev.type.includes('after') && ev.type.endsWith('outdialing');
    const isLimit = ev.type.includes('after') && ev.type.endsWith('bridged');
    if (from.startsWith('outdialing')) {
      if (isTimeout) return 'done';
      if (e.type === 'B.ANSWERED') return input.answerOnBridge ? 'answeringCaller' : 'bridged';
      if (e.type === 'B.ENDED' || e.type === 'B.FAILED' || e.type === 'CALLER.ENDED' || e.type === 'KILL') return 'done';
      if (e.type === 'B.PROGRESS' && from === 'outdialing.trying') return 'outdialing.ringing';
      return undefined;
    }
    if (from === 'answeringCaller') {
      if (e.type === 'CALLER.ANSWERED') return 'bridged';
      if (e.type === 'B.ENDED' || e.type === 'CALLER.ENDED' || e.type === 'KILL') return 'done';
      return undefined;
    }
    if (from === 'bridged') {
      if (isLimit && input.timeLimitMs > 0) return 'done';
      if (e.type === 'B.ENDED' || e.type === 'CALLER.ENDED' || e.type === 'KILL') return 'done';
    }
    return undefined;
  };
}

function run(machine: typeof jambonzDialMachine, input: DialInput) {
  let log: string[] = [];
  const m = machine.provide({
    actions: {
      placeCall: () => void log.push('place'),
      ringCaller: () => void log.push('ring'),
      answerCaller: () => void log.push('answerA'),
      bridge: () => void log.push('bridge'),
      hangupB: () => void log.push('hangupB'),
    },
  });
  return runModel({
    machine: m,
    input,
    events: events as EventObject[],
    oracle: oracleFor(input) as never,
    makeActor: (clock) => {
      log = [];
      return createActor(m, { clock, input });
    },
    // B is hung up exactly when this side ends the dial (caller gone, killed, ring timeout, time
    // limit), never when B itself ended or could not be placed.
    afterPath: (sent, snap) => {
      if (snap.status !== 'done') return;
      const last = sent[sent.length - 1]!.type;
      const ours = last === 'CALLER.ENDED' || last === 'KILL' || last.startsWith('xstate.after');
      assert.equal(log.filter((x) => x === 'hangupB').length, ours ? 1 : 0, `hangupB after ${last}`);
    },
    states: {
      'outdialing.trying': () => assert.deepEqual(log, ['place']),
      'outdialing.ringing': () => assert.deepEqual(log, input.answerOnBridge ? ['place', 'ring'] : ['place'], 'the caller hears B ring only while it rings itself'),
      answeringCaller: () => assert.deepEqual(log.filter((x) => x !== 'ring'), ['place', 'answerA']),
      bridged: () => {
        assert.deepEqual(log.filter((x) => x !== 'ring'), input.answerOnBridge ? ['place', 'answerA', 'bridge'] : ['place', 'bridge']);
      },
      done: (s) => {
        assert.equal(log.filter((x) => x === 'place').length, 1, 'B placed once');
        if (log.includes('bridge') || log.includes('answerA')) assert.equal(s.context.status, 'completed');
        assert.ok(s.output, 'done has output');
      },
    },
  });
}

test('dial machine (answerOnBridge, timeLimit): generated paths drive the real actor; an oracle checks every transition', async () => {
  const r = await run(jambonzDialMachine, { answerOnBridge: true, timeoutMs: 60_000, timeLimitMs: 30_000 });
  for (const s of ['outdialing.trying', 'outdialing.ringing', 'answeringCaller', 'bridged', 'done']) assert.ok(r.statesCovered.has(s), `state ${s} never reached`);
});

test('dial machine (caller answered first, no timeLimit): the same oracle; the bridge has no timer', async () => {
  const r = await run(jambonzDialMachine, { answerOnBridge: false, timeoutMs: 60_000, timeLimitMs: 0 });
  for (const s of ['outdialing.trying', 'outdialing.ringing', 'bridged', 'done']) assert.ok(r.statesCovered.has(s), `state ${s} never reached`);
  assert.ok(!r.statesCovered.has('answeringCaller'));
});

test('dial outcomes map like single-dialer.js (and the machine reports them)', () => {
  assert.deepEqual(dialStatusOf(487), { status: 'no-answer', sipStatus: 487 });
  assert.deepEqual(dialStatusOf(486), { status: 'busy', sipStatus: 486 });
  assert.deepEqual(dialStatusOf(600), { status: 'busy', sipStatus: 600 });
  assert.deepEqual(dialStatusOf(404), { status: 'failed', sipStatus: 404 });
  assert.deepEqual(dialStatusOf(undefined), { status: 'failed', sipStatus: 500 });
  const a = createActor(jambonzDialMachine, { input: { answerOnBridge: false, timeoutMs: 1000, timeLimitMs: 0 } }).start();
  a.send({ type: 'B.PROGRESS', code: 180 });
  a.send({ type: 'B.ENDED', code: 486 });
  assert.deepEqual(a.getSnapshot().output, { status: 'busy', sipStatus: 486, reason: 'not-answered' });
  const b = createActor(jambonzDialMachine, { input: { answerOnBridge: false, timeoutMs: 1000, timeLimitMs: 0 } }).start();
  b.send({ type: 'B.ANSWERED' });
  b.send({ type: 'B.ENDED' });
  assert.deepEqual(b.getSnapshot().output, { status: 'completed', sipStatus: 200, reason: 'b-ended' });
});

test('the dial model tests catch a planted bug (a caller hangup while B rings leaves B ringing)', async () => {
  const clone = (v: unknown): unknown =>
    Array.isArray(v) ? v.map(clone) : v && typeof v === 'object' ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k, clone(x)])) : v;
  const cfg = clone(jambonzDialMachine.config) as { states: { outdialing: { on: Record<string, unknown> } } };
  delete cfg.states.outdialing.on['CALLER.ENDED'];
  const buggy = createMachine(cfg as never, jambonzDialMachine.implementations as never) as unknown as typeof jambonzDialMachine;
  await assert.rejects(run(buggy, { answerOnBridge: true, timeoutMs: 60_000, timeLimitMs: 30_000 }), /oracle/);
});
