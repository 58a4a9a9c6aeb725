// LeanActor: observers and emitted-event listeners made on first use must behave as XState's own,
// and one actor's subscribers must never reach another's (they start from one shared empty set).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createActor, emit, enqueueActions, raise, setup, spawnChild, stopChild } from 'xstate';
import { LeanActor, createLeanActor, leanSnapshot } from '../../src/actors/lean-actor.js';

const machine = setup({ types: { events: {} as { type: 'GO' }, emitted: {} as { type: 'went'; n: number } } }).createMachine({
  initial: 'idle',
  states: {
    idle: { on: { GO: { target: 'gone', actions: emit({ type: 'went', n: 1 }) } } },
    gone: { type: 'final' },
  },
});

test('subscribers and emitted-event listeners of one actor reach that actor only', () => {
  const a = createLeanActor(machine).start();
  const b = createLeanActor(machine).start();
  assert.equal(a instanceof LeanActor, true);
  const seen: string[] = [];
  const sub = a.subscribe({ next: (s) => seen.push(`a:${String(s.value)}`), complete: () => seen.push('a:complete') });
  a.on('went', (e) => seen.push(`a:went:${e.n}`));
  b.on('*', (e) => seen.push(`b:${e.type}`));
  b.send({ type: 'GO' });
  assert.deepEqual(seen, ['b:went']);
  a.send({ type: 'GO' });
  assert.deepEqual(seen, ['b:went', 'a:went:1', 'a:gone', 'a:complete']);
  sub.unsubscribe();
  // A new actor after those still starts with nobody listening.
  const c = createLeanActor(machine).start();
  c.send({ type: 'GO' });
  assert.equal(seen.length, 4);
});

test('an actor nobody subscribed to stops, completes and reports like createActor', () => {
  const lean = createLeanActor(machine).start();
  const plain = createActor(machine).start();
  lean.send({ type: 'GO' });
  plain.send({ type: 'GO' });
  assert.equal(lean.getSnapshot().status, plain.getSnapshot().status);
  // Subscribing after completion calls complete at once, as XState does.
  let completed = 0;
  lean.subscribe({ complete: () => completed++ });
  assert.equal(completed, 1);
  const stopped = createLeanActor(machine).start();
  stopped.stop();
  assert.equal(stopped.getSnapshot().status, 'stopped');
});

const tagged = setup({ types: { events: {} as { type: 'NEXT' } | { type: 'OUT' } | { type: 'BACK' } } }).createMachine({
  initial: 'plain',
  states: {
    plain: { on: { NEXT: 'work' } },
    work: {
      initial: 'a',
      states: { a: { tags: ['busy'], on: { NEXT: 'b' } }, b: { on: { NEXT: 'a' } }, hist: { type: 'history' } },
      on: { OUT: 'away' },
    },
    away: { on: { BACK: 'work.hist' } },
  },
});

test('leanSnapshot shares empty tags and history, and a machine with tags and history runs as before', () => {
  const lean = createLeanActor(tagged).start();
  const plain = createActor(tagged).start();
  const seen: string[] = [];
  lean.subscribe((s) => {
    leanSnapshot(s);
    seen.push(`${JSON.stringify(s.value)}:${s.hasTag('busy')}`);
  });
  leanSnapshot(lean.getSnapshot());
  const first = lean.getSnapshot();
  for (const type of ['NEXT', 'NEXT', 'OUT', 'BACK', 'NEXT', 'OUT', 'BACK'] as const) {
    lean.send({ type });
    plain.send({ type });
    assert.deepEqual(lean.getSnapshot().value, plain.getSnapshot().value, type);
    assert.equal(lean.getSnapshot().hasTag('busy'), plain.getSnapshot().hasTag('busy'), type);
  }
  // History came back to b, then to a: the shared empty history was replaced, never written.
  assert.deepEqual(seen, ['{"work":"a"}:true', '{"work":"b"}:false', '"away":false', '{"work":"b"}:false', '{"work":"a"}:true', '"away":false', '{"work":"a"}:true']);
  const second = createLeanActor(tagged).start();
  leanSnapshot(second.getSnapshot());
  assert.equal(second.getSnapshot().tags, first.tags, 'one shared empty tag set');
  assert.throws(() => (first.tags as Set<string>).add('x'), /read-only/);
});

test('leanSnapshot leaves a frozen (shared, remembered) snapshot alone', () => {
  const snap = Object.freeze({ ...createActor(tagged).start().getSnapshot() });
  assert.doesNotThrow(() => leanSnapshot(snap));
  assert.equal(snap.tags.size, 0);
});

// A machine that uses every part of the actor scope: entry actions run before start (deferred),
// raise, emit, spawnChild/stopChild, an invoked child, enqueueActions and custom actions.
const child = setup({}).createMachine({ initial: 'on', states: { on: {} } });
const busy = setup({
  types: { events: {} as { type: 'SPAWN' } | { type: 'KILL' } | { type: 'PING' } | { type: 'INNER' }, emitted: {} as { type: 'pinged'; n: number } },
  actors: { child },
  actions: {
    note: (_, params: { what: string }) => void trail.push(`${label}:${params.what}`),
  },
}).createMachine({
  initial: 'idle',
  entry: [{ type: 'note', params: { what: 'entry' } }],
  invoke: { id: 'kept', src: 'child' },
  states: {
    idle: {
      on: {
        SPAWN: { actions: [spawnChild('child', { id: 'temp' }), { type: 'note', params: { what: 'spawned' } }] },
        KILL: { actions: [stopChild('temp'), { type: 'note', params: { what: 'killed' } }] },
        PING: { actions: [raise({ type: 'INNER' }), emit({ type: 'pinged', n: 1 })] },
        INNER: {
          target: 'pinged',
          actions: enqueueActions(({ enqueue }) => {
            enqueue({ type: 'note', params: { what: 'inner' } });
            enqueue.emit({ type: 'pinged', n: 2 });
          }),
        },
      },
    },
    pinged: { entry: { type: 'note', params: { what: 'pinged' } } },
  },
});
let label = '';
const trail: string[] = [];

test('the lean actor scope runs actions, emits, defers and stops children exactly as XState does', () => {
  const run = (make: typeof createActor, name: string): string[] => {
    label = name;
    trail.length = 0;
    const inspected: string[] = [];
    const actor = make(busy, { inspect: (e) => void (e.type === '@xstate.action' && inspected.push(`${name}:action:${(e as { action: { type: string } }).action.type}`)) });
    actor.on('*', (e) => trail.push(`${name}:emitted:${e.type}:${e.n}`));
    trail.push(`${name}:before start`);
    actor.start();
    actor.send({ type: 'SPAWN' });
    assert.ok((actor.getSnapshot().children as Record<string, unknown>).temp, `${name}: child spawned`);
    actor.send({ type: 'KILL' });
    assert.equal((actor.getSnapshot().children as Record<string, unknown>).temp, undefined, `${name}: child stopped`);
    actor.send({ type: 'PING' });
    assert.deepEqual(actor.getSnapshot().value, 'pinged');
    actor.stop();
    return [...trail, ...inspected].map((s) => s.slice(name.length + 1));
  };
  const plain = run(createActor, 'plain');
  const lean = run(createLeanActor as typeof createActor, 'lean');
  assert.deepEqual(lean, plain);
  // The entry action ran at start, not in the constructor, for both.
  assert.deepEqual(plain.slice(0, 2), ['before start', 'entry']);
  assert.ok(plain.includes('emitted:pinged:1') && plain.includes('emitted:pinged:2'));
});

test('a lean actor keeps no action executor once a step is over', () => {
  const actor = createLeanActor(busy).start();
  actor.send({ type: 'PING' });
  const scope = (actor as unknown as { _actorScope: { executor: unknown; self: unknown } })._actorScope;
  assert.equal(scope.self, actor);
  // No closures of its own (XState's scope has four per actor), and no step's executor left behind.
  assert.deepEqual(Object.entries(scope).filter(([, v]) => typeof v === 'function').map(([k]) => k), []);
  assert.equal(scope.executor, undefined);
  assert.equal(actor.getSnapshot().value, 'pinged');
});

const parent = setup({
  types: { events: {} as { type: 'SPAWN' } | { type: 'STOP' } },
  actors: { child: setup({}).createMachine({ initial: 'on', states: { on: {} } }) },
}).createMachine({
  initial: 'idle',
  states: {
    idle: { on: { SPAWN: { target: 'busy', actions: spawnChild('child', { id: 'kid' }) } } },
    busy: { on: { STOP: { target: 'idle', actions: stopChild('kid') } } },
  },
});

test('leanSnapshot shares empty children, and children spawn and stop on top of it as before', () => {
  const a = createLeanActor(parent).start();
  const b = createLeanActor(parent).start();
  const seen: string[] = [];
  a.subscribe((s) => {
    leanSnapshot(s);
    seen.push(`${String(s.value)}:${Object.keys(s.children).join(',')}`);
  });
  leanSnapshot(a.getSnapshot());
  leanSnapshot(b.getSnapshot());
  const empty = a.getSnapshot().children;
  assert.equal(b.getSnapshot().children, empty, 'one shared empty children object');
  assert.ok(Object.isFrozen(empty));
  for (const type of ['SPAWN', 'STOP', 'SPAWN'] as const) a.send({ type });
  assert.deepEqual(seen, ['busy:kid', 'idle:', 'busy:kid']);
  assert.equal(a.getSnapshot().children.kid?.getSnapshot().status, 'active');
  assert.deepEqual(Object.keys(empty), [], 'the shared empty was never written');
  assert.deepEqual(Object.keys(b.getSnapshot().children), []);
  a.stop();
  b.stop();
});

test('leanSnapshot shares equal state values, frozen, and the machine moves on from them', () => {
  const a = createLeanActor(tagged).start();
  const b = createLeanActor(tagged).start();
  for (const actor of [a, b]) {
    actor.subscribe((s) => leanSnapshot(s));
    actor.send({ type: 'NEXT' });
  }
  const va = a.getSnapshot().value;
  assert.deepEqual(va, { work: 'a' });
  assert.equal(b.getSnapshot().value, va, 'one shared value object');
  assert.ok(Object.isFrozen(va));
  b.send({ type: 'NEXT' });
  assert.deepEqual(b.getSnapshot().value, { work: 'b' });
  assert.ok(b.getSnapshot().matches({ work: 'b' }));
  assert.deepEqual(a.getSnapshot().value, { work: 'a' }, 'the shared value was never written');
  a.stop();
  b.stop();
});

test('an idle lean actor shares one empty deferred list, and deferred effects still run in order', () => {
  const ran: string[] = [];
  const m = setup({ types: { events: {} as { type: 'GO' } } }).createMachine({
    initial: 'a',
    entry: () => ran.push('entry'),
    states: { a: { on: { GO: { target: 'b', actions: () => ran.push('go') } } }, b: { entry: () => ran.push('b') } },
  });
  const a = createLeanActor(m).start();
  const b = createLeanActor(m).start();
  type WithDeferred = { _deferred: unknown[] };
  const shared = (a as unknown as WithDeferred)._deferred;
  assert.equal((b as unknown as WithDeferred)._deferred, shared);
  a.send({ type: 'GO' });
  assert.deepEqual(ran, ['entry', 'entry', 'go', 'b']);
  assert.equal(shared.length, 0, 'nothing was ever queued on the shared list');
  a.stop();
  b.stop();
});
