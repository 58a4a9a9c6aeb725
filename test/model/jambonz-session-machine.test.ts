// Model-based tests for the jambonz session statechart: generated paths drive the real actor (ack
// timeout and reconnect grace on a SimulatedClock); an independent oracle checks every state ×
// event; directed tests pin the ack/redirect decisions; a planted bug must be caught.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createActor, createMachine, SimulatedClock, type EventObject } from 'xstate';
import {
  jambonzSessionMachine,
  type JambonzSessionContext,
  type JambonzSessionEnd,
  type JambonzSessionEvent,
} from '../../machines/jambonzSession.machine.js';
import { runModel } from '../helpers/model.js';

const ACK_MS = 4000;
const GRACE_MS = 30_000;
const machine = jambonzSessionMachine.provide({ delays: { ackTimeout: ACK_MS, reconnectGrace: GRACE_MS } });
const input = { callSid: 'c1' };
const SAY = [{ verb: 'say', text: 'hi' }];

const events: JambonzSessionEvent[] = [
  { type: 'SESSION.NEW', msgid: 'm-new' },
  { type: 'SESSION.REDIRECT', msgid: 'm-redir', hook: '/r' },
  { type: 'SESSION.RECONNECT', msgid: 'm-rec' },
  { type: 'HOOK.RECEIVED', msgid: 'm-hook', hook: '/h' },
  { type: 'APP.ACK', verbs: SAY },
  { type: 'APP.COMMAND', command: 'redirect', data: SAY },
  { type: 'APP.COMMAND', command: 'mute:status', data: { mute_status: 'mute' } },
  { type: 'CALL.STATUS', status: 'in-progress' },
  { type: 'CALL.STATUS', status: 'completed' },
  { type: 'SOCKET.CLOSED', code: 1006 },
  { type: 'SOCKET.CLOSED', code: 1000 },
  { type: 'SESSION.CLOSE' },
];

/** The session protocol, written apart from the machine. */
function oracle(from: string, ev: EventObject, snap: { context: JambonzSessionContext }): string | undefined {
  const t = ev.type;
  const e = ev as JambonzSessionEvent;
  const ctx = snap.context;
  const ends = (e.type === 'CALL.STATUS' && e.status === 'completed') || t === 'SESSION.CLOSE';
  if (from === 'new') {
    if (t === 'SESSION.NEW') return 'live.awaitingApp';
    return t === 'SOCKET.CLOSED' || t === 'SESSION.CLOSE' ? 'closed' : undefined;
  }
  if (from === 'disconnected') {
    if (t === 'SESSION.RECONNECT') return !ctx.sessionAcked && ctx.held === null ? 'live.awaitingApp' : 'live.executing';
    if (t.startsWith('xstate.after.reconnectGrace') || ends) return 'closed';
    return undefined;
  }
  // live.*
  if (ends || (e.type === 'SOCKET.CLOSED' && e.code === 1000)) return 'closed';
  if (e.type === 'SOCKET.CLOSED') return 'disconnected';
  if (t.startsWith('xstate.after.ackTimeout')) return t.endsWith(`.${from}`) && from !== 'live.executing' ? 'live.executing' : undefined;
  const redirect = e.type === 'APP.COMMAND' && e.command === 'redirect';
  switch (from) {
    case 'live.awaitingApp':
      return t === 'APP.ACK' || redirect ? 'live.executing' : undefined;
    case 'live.executing':
      if (t === 'HOOK.RECEIVED') return 'live.awaitingHookReply';
      return t === 'SESSION.REDIRECT' ? 'live.redirected' : undefined;
    case 'live.awaitingHookReply':
    case 'live.redirected':
      if (t === 'APP.ACK') return 'live.executing';
      if (t === 'HOOK.RECEIVED') return 'live.awaitingHookReply';
      return t === 'SESSION.REDIRECT' ? 'live.redirected' : undefined;
    default:
      return undefined;
  }
}

type Effect = { name: string; params?: Record<string, unknown> };

function withEffects(base: typeof machine, effects: Effect[]) {
  const rec = (name: string) => (_: unknown, params?: unknown) => void effects.push({ name, params: params as Record<string, unknown> });
  return base.provide({
    actions: {
      startApp: rec('startApp'),
      deliverHook: rec('deliverHook'),
      deliverRedirect: rec('deliverRedirect'),
      sendAck: rec('sendAck'),
      sendFallbackAck: rec('sendFallbackAck'),
      sendRedirect: rec('sendRedirect'),
      sendCommand: rec('sendCommand'),
      notifyAckTimeout: rec('notifyAckTimeout'),
      noteDisconnected: rec('noteDisconnected'),
      noteReconnected: rec('noteReconnected'),
    },
  });
}

function run(base: typeof machine) {
  const effects: Effect[] = [];
  const m = withEffects(base, effects);
  return runModel({
    machine: m,
    input,
    events: events as EventObject[],
    oracle: oracle as never,
    serializeState: ((s: { value: unknown; status: string; context: JambonzSessionContext }) =>
      JSON.stringify([s.value, s.status, s.context.pending?.kind ?? null, s.context.sessionAcked, s.context.held !== null])) as never,
    makeActor: (clock) => {
      effects.length = 0;
      return createActor(m, { input, clock });
    },
    states: {
      new: () => assert.deepEqual(effects, []),
      'live.awaitingApp': (s) => {
        assert.equal(s.context.pending?.kind, 'session');
        assert.equal(s.context.sessionAcked, false);
      },
      'live.executing': (s) => assert.equal(s.context.pending, null),
      'live.awaitingHookReply': (s) => {
        assert.equal(effects.at(-1)?.name, 'deliverHook');
        assert.equal(s.context.pending?.kind, 'hook');
      },
      'live.redirected': (s) => {
        assert.equal(effects.at(-1)?.name, 'deliverRedirect');
        assert.equal(s.context.pending?.kind, 'redirect');
      },
      disconnected: (s) => {
        assert.ok(effects.some((e) => e.name === 'noteDisconnected'));
        assert.ok(s.context.pending === null || s.context.pending.kind === 'session', 'only the session start survives a drop');
      },
      closed: (s) => assert.equal(s.status, 'done'),
    },
    afterPath: (sent, snap) => {
      // Every ack names a message jambonz sent on this path, and no message is acked twice
      // unless jambonz sent it twice.
      const received = sent.filter((e) => 'msgid' in e).map((e) => (e as { msgid: string }).msgid);
      const acked = effects.filter((e) => e.name === 'sendAck' || e.name === 'sendFallbackAck').map((e) => e.params!.msgid as string);
      for (const id of acked) assert.ok(received.includes(id), `acked ${id}, never received`);
      for (const id of new Set(acked)) {
        assert.ok(acked.filter((x) => x === id).length <= received.filter((x) => x === id).length, `${id} acked more often than received: ${sent.map((e) => e.type).join(' > ')}`);
      }
      if (snap.status === 'done') {
        const out = snap.output as JambonzSessionEnd;
        assert.ok(['call-ended', 'socket-closed', 'reconnect-timeout', 'local-close'].includes(out.reason));
      }
    },
  });
}

test('jambonz session machine: generated paths drive the real actor; an oracle checks every transition', async () => {
  const result = await run(machine);
  for (const s of ['new', 'live.awaitingApp', 'live.executing', 'live.awaitingHookReply', 'live.redirected', 'disconnected', 'closed']) {
    assert.ok(result.statesCovered.has(s), `state ${s} never reached`);
  }
  // Paths that are prefixes of longer ones are folded; the oracle still checks every state × event.
  assert.ok(result.paths >= 7 && result.steps >= 20, `only ${result.paths} paths / ${result.steps} steps`);
});

function actorWith() {
  const effects: Effect[] = [];
  const clock = new SimulatedClock();
  const actor = createActor(withEffects(machine, effects), { input, clock }).start();
  return { effects, clock, actor };
}

test('the fallback ack goes out at the ack timeout, not before, and the app is told', () => {
  const { effects, clock, actor } = actorWith();
  actor.send({ type: 'SESSION.NEW', msgid: 'm1' });
  clock.increment(ACK_MS - 1);
  assert.ok(actor.getSnapshot().matches({ live: 'awaitingApp' }));
  clock.increment(1);
  assert.ok(actor.getSnapshot().matches({ live: 'executing' }));
  assert.deepEqual(effects.map((e) => e.name), ['startApp', 'sendFallbackAck', 'notifyAckTimeout']);
  assert.deepEqual(effects[1]!.params, { msgid: 'm1', kind: 'session' });
  // The late reply is a redirect now.
  actor.send({ type: 'APP.ACK', verbs: SAY });
  assert.deepEqual(effects.at(-1), { name: 'sendRedirect', params: { verbs: SAY, queue: false } });
});

test('a reply given while the socket is down acks the session:reconnect (session start not yet acked)', () => {
  const { effects, actor } = actorWith();
  actor.send({ type: 'SESSION.NEW', msgid: 'm1' });
  actor.send({ type: 'SOCKET.CLOSED', code: 1006 });
  actor.send({ type: 'APP.ACK', verbs: SAY });
  assert.equal(effects.filter((e) => e.name === 'sendAck').length, 0, 'nothing sent into a dead socket');
  actor.send({ type: 'SESSION.RECONNECT', msgid: 'm2' });
  assert.ok(actor.getSnapshot().matches({ live: 'executing' }));
  assert.deepEqual(effects.find((e) => e.name === 'sendAck')!.params, { msgid: 'm2', verbs: SAY });
});

test('a hook reply lost to a drop is sent as a redirect after the reconnect ack', () => {
  const { effects, actor } = actorWith();
  actor.send({ type: 'SESSION.NEW', msgid: 'm1' });
  actor.send({ type: 'APP.ACK', verbs: [] });
  actor.send({ type: 'HOOK.RECEIVED', msgid: 'h1', hook: '/g' });
  actor.send({ type: 'SOCKET.CLOSED', code: 1006 });
  actor.send({ type: 'APP.ACK', verbs: SAY });
  actor.send({ type: 'SESSION.RECONNECT', msgid: 'r1' });
  const tail = effects.slice(-3).map((e) => [e.name, e.params]);
  assert.deepEqual(tail, [
    ['sendAck', { msgid: 'r1', verbs: [] }],
    ['sendRedirect', { verbs: SAY, queue: false }],
    ['noteReconnected', undefined],
  ]);
});

test('the jambonz session model catches a planted bug (reconnect dropped while disconnected)', async () => {
  const clone = (v: unknown): unknown =>
    Array.isArray(v) ? v.map(clone) : v && typeof v === 'object' ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k, clone(x)])) : v;
  const cfg = clone(machine.config) as { states: { disconnected: { on: Record<string, unknown> } } };
  delete cfg.states.disconnected.on['SESSION.RECONNECT'];
  const buggy = createMachine(cfg as never, machine.implementations as never) as unknown as typeof machine;
  await assert.rejects(run(buggy), /oracle: disconnected --SESSION\.RECONNECT--> expected live\.(executing|awaitingApp)/);
});
