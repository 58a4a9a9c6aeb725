// Model-based test of the drain statechart: generated paths drive the real actor; an independent
// oracle (the rules of a rolling-restart drain, written apart from the machine) checks every
// state × event, and the announcements each state owes are checked on the real actor.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createActor, createMachine, type EventObject } from 'xstate';
import { drainMachine, type DrainEvent } from '../../machines/drain.machine.js';
import { runModel } from '../helpers/model.js';

const events: DrainEvent[] = [
  { type: 'DRAIN' },
  { type: 'DRAIN', exitWhenIdle: true },
  { type: 'RESUME' },
  { type: 'CALLS.CHANGED', live: 0 },
  { type: 'CALLS.CHANGED', live: 1 },
  { type: 'CALLS.CHANGED', live: 2 },
];

/** Where each event leads, from the spec: open takes calls; a drain waits for zero calls, then is idle. */
function oracle(from: string, ev: EventObject, snap: { context: { live: number } }): string | undefined {
  const liveAfter = ev.type === 'CALLS.CHANGED' ? (ev as unknown as { live: number }).live : snap.context.live;
  switch (from) {
    case 'open':
      if (ev.type === 'DRAIN') return liveAfter === 0 ? 'idle' : 'draining';
      return undefined;
    case 'draining':
      if (ev.type === 'RESUME') return 'open';
      return liveAfter === 0 ? 'idle' : undefined;
    case 'idle':
      if (ev.type === 'RESUME') return 'open';
      if (ev.type === 'CALLS.CHANGED' && liveAfter > 0) return 'draining';
      return undefined;
    default:
      return undefined;
  }
}

function run(machine: typeof drainMachine) {
  const said: string[] = [];
  let exitAsked = false;
  const m = machine.provide({
    actions: {
      announceDraining: () => void said.push('draining'),
      announceIdle: (_, p) => {
        said.push('idle');
        exitAsked = p.exitWhenIdle;
      },
      announceOpen: () => void said.push('open'),
    },
  });
  return runModel({
    machine: m,
    events: events as EventObject[],
    oracle: oracle as never,
    makeActor: (clock) => {
      said.length = 0;
      exitAsked = false;
      return createActor(m, { clock });
    },
    states: {
      open: (s) => assert.equal(s.context.exitWhenIdle, false, 'an open engine never exits by itself'),
      draining: (s) => {
        assert.ok(s.context.live > 0, 'draining means calls are still live');
        assert.equal(said.at(-1), 'draining');
      },
      idle: (s) => {
        assert.equal(s.context.live, 0);
        assert.equal(said.at(-1), 'idle', 'idle is announced on every entry');
        assert.equal(exitAsked, s.context.exitWhenIdle);
      },
    },
    afterPath: (sent, snap) => {
      // Exit-when-idle holds iff some DRAIN since the last RESUME asked for it.
      const lastResume = sent.map((e) => e.type).lastIndexOf('RESUME');
      const asked = sent.slice(lastResume + 1).some((e) => e.type === 'DRAIN' && (e as { exitWhenIdle?: boolean }).exitWhenIdle === true);
      if (!snap.matches('open')) assert.equal(snap.context.exitWhenIdle, asked, sent.map((e) => JSON.stringify(e)).join(' > '));
    },
  });
}

test('drain machine: generated paths drive the real actor; an oracle checks every transition', async () => {
  const r = await run(drainMachine);
  for (const s of ['open', 'draining', 'idle']) assert.ok(r.statesCovered.has(s), `state ${s} never reached`);
});

test('drain machine: a drain with live calls is idle (and asks to exit) only when the last one ends', () => {
  const idle: boolean[] = [];
  const a = createActor(drainMachine.provide({ actions: { announceIdle: (_, p) => void idle.push(p.exitWhenIdle) } })).start();
  a.send({ type: 'CALLS.CHANGED', live: 2 });
  a.send({ type: 'DRAIN', exitWhenIdle: true });
  assert.ok(a.getSnapshot().matches('draining'));
  a.send({ type: 'CALLS.CHANGED', live: 1 });
  assert.deepEqual(idle, []);
  a.send({ type: 'CALLS.CHANGED', live: 0 });
  assert.ok(a.getSnapshot().matches('idle'));
  assert.deepEqual(idle, [true]);
});

test('the drain model tests catch a planted bug (draining that never notices the last call ending)', async () => {
  const clone = (v: unknown): unknown =>
    Array.isArray(v) ? v.map(clone) : v && typeof v === 'object' ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k, clone(x)])) : v;
  const cfg = clone(drainMachine.config) as { states: { draining: Record<string, unknown> } };
  delete cfg.states.draining.always;
  const buggy = createMachine(cfg as never, drainMachine.implementations as never) as unknown as typeof drainMachine;
  await assert.rejects(run(buggy), /draining means calls are still live|expected idle/);
});
