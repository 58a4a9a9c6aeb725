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

test('actors in the shared system: one system for all, stop, crash and finish each end only that actor, and the system keeps serving', () => {
  const sup = new Supervisor({ logger: silentLogger() });
  const crashes: unknown[] = [];
  const done: unknown[] = [];
  const exits: string[] = [];
  const spawn = (id: string) =>
    sup.spawn(toggle, {
      kind: 'call',
      id,
      group: `g-${id}`,
      sharedSystem: true,
      onCrash: (e) => crashes.push(e),
      onDone: (o) => done.push(o),
      onExit: () => exits.push(id),
    });
  const a = spawn('a');
  const b = spawn('b');
  const c = spawn('c');
  assert.equal(a.ref.system, b.ref.system, 'one system for the actors that share it');
  assert.notEqual(sup.spawn(toggle, { kind: 'room', id: 'own' }).ref.system, a.ref.system, 'without sharedSystem an actor has its own');
  // Crash: contained, and the host is still alive for the others.
  a.ref.send({ type: 'BOOM' });
  assert.equal(crashes.length, 1);
  assert.match(String(crashes[0]), /boom/);
  // Finish: the done event XState relays to the parent is ignored, the output reaches onDone.
  b.ref.send({ type: 'FINISH' });
  assert.deepEqual(done, [{ done: true }]);
  // Stop from outside (a root actor's stop() would throw for a parented actor).
  sup.stopGroup('g-c');
  assert.equal(c.ref.getSnapshot().status, 'stopped');
  assert.deepEqual(exits.sort(), ['a', 'b', 'c']);
  assert.equal(sup.count('call'), 0);
  // The shared system still serves new actors after all that.
  const d = spawn('d');
  d.ref.send({ type: 'GO' });
  assert.equal(d.ref.getSnapshot().value, 'busy');
  sup.stop('d');
  assert.equal(d.ref.getSnapshot().status, 'stopped');
  assert.equal(sup.count(), 1);
});

test('a group of one keeps its id, of more a set: stopGroup stops exactly its members either way', () => {
  const sup = new Supervisor({ logger: silentLogger() });
  sup.spawn(toggle, { kind: 'call', id: 'solo', group: 'g1' });
  sup.spawn(toggle, { kind: 'call', id: 'x', group: 'g2' });
  sup.spawn(toggle, { kind: 'call', id: 'y', group: 'g2' });
  sup.stop('x');
  sup.spawn(toggle, { kind: 'call', id: 'z', group: 'g2' });
  sup.stopGroup('g1');
  assert.equal(sup.get('solo'), undefined);
  assert.equal(sup.count(), 2);
  sup.stopGroup('g2');
  assert.equal(sup.count(), 0);
  sup.stopGroup('g2');
});

test('an actor named like its group is stopped with it, first, whether it is alone or joined', () => {
  const sup = new Supervisor({ logger: silentLogger() });
  const stopped: string[] = [];
  const spawn = (id: string, group: string) => sup.spawn(toggle, { kind: 'call', id, group, onExit: () => stopped.push(id) });
  spawn('c1', 'c1');
  spawn('c2', 'c2');
  spawn('rec-c2', 'c2');
  spawn('play-c2', 'c2');
  sup.stop('rec-c2');
  sup.stopGroup('c1');
  assert.deepEqual(stopped, ['rec-c2', 'c1']);
  sup.stopGroup('c2');
  assert.deepEqual(stopped, ['rec-c2', 'c1', 'c2', 'play-c2']);
  assert.equal(sup.count(), 0);
  // Its media actors outlive it (a recording finalising its file): the group still stops them.
  spawn('c3', 'c3');
  spawn('rec-c3', 'c3');
  sup.stop('c3');
  sup.stopGroup('c3');
  assert.equal(sup.count(), 0);
  // Members that joined before it, then it.
  spawn('m', 'c4');
  spawn('c4', 'c4');
  sup.stopGroup('c4');
  assert.equal(sup.count(), 0);
});
