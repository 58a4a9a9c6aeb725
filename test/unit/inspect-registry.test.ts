// The viewer's data side without sockets: machine definitions as JSON, active state ids, bounded
// payload copies, and the registry's bounds (events per actor, stopped actors kept for a while).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createActor } from 'xstate';
import { callMachine, sipNonInviteClientTransactionMachine } from '../../machines/index.js';
import { describeMachine, activeStateIds, eventLabel } from '../../src/inspect/definition.js';
import { toJsonSafe, summarizeEvent } from '../../src/inspect/summary.js';
import { ActorRegistry } from '../../src/inspect/registry.js';
import { inspectAccessProblem, isLoopbackHost } from '../../src/inspect/index.js';

const input = { callId: 'c1', direction: 'inbound' as const, transport: 'test' as const, from: '+15550001111', to: '100' };

test('a machine definition lists nested states and transitions with targets, guards and actions', () => {
  const def = describeMachine(callMachine);
  assert.equal(def.id, 'call');
  assert.equal(def.initial, 'created');
  const active = def.states.find((s) => s.key === 'active')!;
  assert.equal(active.type, 'compound');
  assert.equal(active.initial, 'talking');
  assert.deepEqual(active.states.map((s) => s.id), ['call.active.talking', 'call.active.held']);
  const answer = def.states.find((s) => s.key === 'ringing')!.transitions.find((t) => t.event === 'CALL.ANSWER')!;
  assert.deepEqual(answer, { event: 'CALL.ANSWER', label: 'CALL.ANSWER', targets: ['call.active'], actions: ['sendAnswer'], guard: 'isInbound' });
  assert.equal(def.states.find((s) => s.key === 'ended')!.type, 'final');
  // JSON all the way down (no StateNode objects or functions).
  assert.deepEqual(JSON.parse(JSON.stringify(def)), def);
  // Parallel regions and delayed transitions.
  const tx = describeMachine(sipNonInviteClientTransactionMachine);
  const par = tx.states.find((s) => s.type === 'parallel')!;
  assert.deepEqual(par.states.map((s) => s.key), ['phase', 'retransmit']);
  assert.ok(par.transitions.some((t) => t.label === 'after timerF'));
  assert.equal(eventLabel('xstate.after.500.x.y'), 'after 500 ms');
  assert.equal(eventLabel(''), 'always');
});

test('active state ids follow the snapshot value, ancestors and parallel regions included', () => {
  const def = describeMachine(callMachine);
  assert.deepEqual(activeStateIds(def, 'ringing'), ['call', 'call.ringing']);
  assert.deepEqual(activeStateIds(def, { active: 'held' }), ['call', 'call.active', 'call.active.held']);
  const tx = describeMachine(sipNonInviteClientTransactionMachine);
  const ids = activeStateIds(tx, { active: { phase: 'trying', retransmit: 'pending' } });
  assert.deepEqual(ids.sort(), ['sipNonInviteClientTransaction', 'sipNonInviteClientTransaction.active', 'sipNonInviteClientTransaction.active.phase', 'sipNonInviteClientTransaction.active.phase.trying', 'sipNonInviteClientTransaction.active.retransmit', 'sipNonInviteClientTransaction.active.retransmit.pending'].sort());
});

test('payload copies are bounded and JSON-safe: buffers, typed arrays, cycles, actor refs, classes', () => {
  const cyclic: Record<string, unknown> = { a: 1 };
  cyclic.self = cyclic;
  const actor = createActor(callMachine, { input });
  class Socket {
    fd = 3;
  }
  const v = toJsonSafe({ buf: Buffer.alloc(172), pcm: new Int16Array(160), cyclic, actor, sock: new Socket(), when: new Date(0), big: 'x'.repeat(5000), n: NaN, list: Array.from({ length: 100 }, (_, i) => i) });
  const s = JSON.stringify(v);
  assert.match(s, /\[Buffer 172 B\]/);
  assert.match(s, /\[Int16Array 160\]/);
  assert.match(s, /\[circular\]/);
  assert.match(s, /\[Socket\]/);
  assert.match(s, /\[actor /);
  assert.match(s, /1970-01-01T00:00:00.000Z/);
  assert.ok(s.length < 2000, `copy is ${s.length} chars`);
  assert.equal(summarizeEvent({ type: 'CALL.ANSWER' }), '');
  assert.equal(summarizeEvent({ type: 'DTMF', digit: '5', source: 'ws' }), '{"digit":"5","source":"ws"}');
  assert.ok(summarizeEvent({ type: 'X', payload: 'y'.repeat(10_000) }).length <= 241);
});

function runCall(reg: ActorRegistry, id: string) {
  const w = reg.watch('call', id, callMachine);
  const a = createActor(callMachine, { id, input: { ...input, callId: id }, inspect: w.inspect });
  a.start();
  return { a, w };
}

test('the registry records state, status and events of the root actor, definitions once per machine', () => {
  const reg = new ActorRegistry();
  const { a, w } = runCall(reg, 'c1');
  runCall(reg, 'c2');
  a.send({ type: 'CALL.INCOMING' });
  a.send({ type: 'DTMF', digit: '1', source: 'ws' }); // ignored in ringing: logged, no state change
  a.send({ type: 'CALL.ANSWER' });
  assert.equal(reg.row('c1')!.state, 'active.talking');
  const events = reg.eventsAfter('c1', 0);
  assert.deepEqual(
    events.map((e) => [e.type, e.to]),
    [
      ['xstate.init', 'created'],
      ['CALL.INCOMING', 'ringing'],
      ['DTMF', undefined],
      ['CALL.ANSWER', 'active.talking'],
    ],
  );
  assert.deepEqual(reg.eventsAfter('c1', events[2]!.seq).map((e) => e.type), ['CALL.ANSWER']);
  const d = reg.detail('c1')!;
  assert.deepEqual(d.active, ['call', 'call.active', 'call.active.talking']);
  assert.equal((d.context as { from: string }).from, '+15550001111');
  assert.ok(reg.definition('call'));
  assert.equal(reg.definition('call~2'), undefined, 'a provide()d copy or a second actor reuses the definition');
  reg.watch('call', 'c3', callMachine.provide({ actions: { sendAnswer: () => {} } }));
  assert.equal(reg.definition('call~2'), undefined);
  a.send({ type: 'CALL.HANGUP' });
  assert.equal(reg.row('c1')!.status, 'done');
  w.exit();
  assert.equal(reg.row('c1')!.status, 'done');
  assert.ok(reg.row('c1')!.stoppedAt !== undefined);
});

test('the registry keeps the last N events per actor and forgets stopped actors after a while, and beyond a cap', () => {
  let now = 1_000;
  const reg = new ActorRegistry({ eventsPerActor: 5, keepStoppedMs: 10_000, maxStopped: 3, now: () => now });
  const { a, w } = runCall(reg, 'c1');
  for (let i = 0; i < 20; i++) a.send({ type: 'DTMF', digit: '1', source: 'ws' });
  const ev = reg.eventsAfter('c1', 0);
  assert.equal(ev.length, 5);
  assert.equal(ev[4]!.seq, 21);
  reg.tracking = true;
  w.exit();
  assert.equal(reg.row('c1')!.status, 'stopped');
  now += 9_000;
  reg.sweep();
  assert.ok(reg.row('c1'), 'still listed before keepStoppedMs');
  now += 2_000;
  reg.sweep();
  assert.equal(reg.row('c1'), undefined);
  assert.deepEqual(reg.takeChanges().removed, ['c1']);
  // Beyond maxStopped the oldest stopped actors go first.
  for (const id of ['s1', 's2', 's3', 's4', 's5']) runCall(reg, id).w.exit();
  assert.deepEqual(reg.rows().map((r) => r.id), ['s3', 's4', 's5']);
  // A live actor is never swept.
  runCall(reg, 'live');
  now += 60_000;
  reg.sweep();
  assert.deepEqual(reg.rows().map((r) => r.id), ['live']);
});

test('events of invoked children stay out of the parent actor\'s log', async () => {
  const { setup, fromCallback } = await import('xstate');
  const m = setup({ actors: { child: fromCallback(({ sendBack }) => sendBack({ type: 'PING' })) } }).createMachine({
    id: 'parent',
    invoke: { src: 'child', id: 'kid' },
    on: { PING: { actions: () => {} } },
  });
  const reg = new ActorRegistry();
  const w = reg.watch('test', 'p1', m);
  createActor(m, { id: 'p1', inspect: w.inspect }).start();
  assert.deepEqual(reg.eventsAfter('p1', 0).map((e) => [e.type, e.from]), [['xstate.init', undefined], ['PING', 'kid']]);
  assert.equal(reg.rows().length, 1);
});

test('access rules: loopback names, token length, non-loopback needs a token', () => {
  for (const h of ['127.0.0.1', '127.1.2.3', 'localhost', 'app.localhost', '::1', '[::1]']) assert.ok(isLoopbackHost(h), h);
  for (const h of ['0.0.0.0', '::', '192.168.1.2', 'example.com', '128.0.0.1']) assert.ok(!isLoopbackHost(h), h);
  assert.equal(inspectAccessProblem('127.0.0.1', undefined), undefined);
  assert.match(inspectAccessProblem('0.0.0.0', undefined)!, /needs a token/);
  assert.equal(inspectAccessProblem('0.0.0.0', 'x'.repeat(16)), undefined);
  assert.match(inspectAccessProblem('127.0.0.1', 'short')!, /at least 16/);
});
