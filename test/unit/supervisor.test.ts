import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setup, fromCallback } from 'xstate';
import { Supervisor, LimitExceededError } from '../../src/actors/supervisor.js';
import { silentLogger } from '../../src/logger.js';

const toggle = setup({
  types: { events: {} as { type: 'GO' } | { type: 'BOOM' } | { type: 'FINISH' } },
  actions: {
    explode: () => {
      throw new Error('boom');
    },
  },
}).createMachine({
  initial: 'idle',
  output: { done: true },
  states: {
    idle: { on: { GO: 'busy', BOOM: { actions: 'explode' }, FINISH: 'done' } },
    busy: { on: { GO: 'idle' } },
    done: { type: 'final' },
  },
});

test('spawns root actors, tracks them by kind and group, stops a group', () => {
  const sup = new Supervisor({ logger: silentLogger() });
  for (let i = 0; i < 3; i++) sup.spawn(toggle, { kind: 'call', id: `a${i}`, group: 'conn-a' });
  sup.spawn(toggle, { kind: 'room', id: 'r1', group: 'conn-b' });
  assert.equal(sup.count('call'), 3);
  assert.equal(sup.count(), 4);
  assert.equal(sup.get('a1')?.ref.getSnapshot().value, 'idle');
  assert.equal(sup.get('a1')?.ref._parent, undefined, 'supervised actors must be root actors');
  sup.stopGroup('conn-a');
  assert.equal(sup.count('call'), 0);
  assert.equal(sup.count('room'), 1);
  assert.equal(sup.metrics.stopped.call, 3);
  assert.throws(() => sup.spawn(toggle, { kind: 'room', id: 'r1' }), /already in use/);
});

test('limits refuse the next actor with a clear error and count refusals', () => {
  const sup = new Supervisor({ logger: silentLogger(), limits: { call: 2 } });
  sup.spawn(toggle, { kind: 'call', id: '1' });
  sup.spawn(toggle, { kind: 'call', id: '2' });
  assert.throws(() => sup.spawn(toggle, { kind: 'call', id: '3' }), (e: unknown) => e instanceof LimitExceededError && e.limit === 2);
  assert.equal(sup.metrics.refused.call, 1);
  sup.stop('1');
  sup.spawn(toggle, { kind: 'call', id: '3' });
  assert.equal(sup.count('call'), 2);
});

test('a crash ends only that actor: hook called, counted, others keep running, process survives', () => {
  const sup = new Supervisor({ logger: silentLogger() });
  const crashes: unknown[] = [];
  const exits: string[] = [];
  const a = sup.spawn(toggle, { kind: 'call', id: 'a', onCrash: (e) => crashes.push(e), onExit: () => exits.push('a') });
  const b = sup.spawn(toggle, { kind: 'call', id: 'b' });
  a.ref.send({ type: 'BOOM' });
  assert.equal(crashes.length, 1);
  assert.match(String(crashes[0]), /boom/);
  assert.equal(sup.metrics.crashed.call, 1);
  assert.equal(sup.get('a'), undefined);
  assert.deepEqual(exits, ['a']);
  b.ref.send({ type: 'GO' });
  assert.equal(b.ref.getSnapshot().value, 'busy');
});

test('a finished actor leaves the registry with its output', () => {
  const sup = new Supervisor({ logger: silentLogger() });
  let output: unknown;
  const a = sup.spawn(toggle, { kind: 'call', id: 'a', onDone: (o) => (output = o) });
  a.ref.send({ type: 'FINISH' });
  assert.deepEqual(output, { done: true });
  assert.equal(sup.count(), 0);
  assert.equal(sup.metrics.completed.call, 1);
});

test('errors from invoked/callback actors inside a supervised actor are contained', () => {
  const sup = new Supervisor({ logger: silentLogger() });
  const failing = setup({
    actors: {
      worker: fromCallback(() => {
        throw new Error('worker failed');
      }),
    },
  }).createMachine({ invoke: { src: 'worker' } });
  let crashed = false;
  sup.spawn(failing, { kind: 'call', id: 'x', onCrash: () => (crashed = true) });
  assert.equal(crashed, true);
  assert.equal(sup.count(), 0);
});
