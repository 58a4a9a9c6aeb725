// LeanActor: observers and emitted-event listeners made on first use must behave as XState's own,
// and one actor's subscribers must never reach another's (they start from one shared empty set).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createActor, emit, setup } from 'xstate';
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
