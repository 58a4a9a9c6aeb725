// Model-based tests for the jambonz session statechart: generated paths drive the real actor (ack
// timeout and reconnect grace on a SimulatedClock); an independent oracle checks every state ×
// event; a second oracle, written apart from the machine, says which commands wait while the
// socket is down and which go out on the reconnect (checked on every generated path and on seeded
// random walks); a third, the reply oracle, says from the events alone which hook is acked with
// which verbs (several hooks may wait at once, each on its own msgid and deadline); directed tests
// pin the ack/redirect decisions; planted bugs must be caught.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { assign, createActor, createMachine, enqueueActions, SimulatedClock, type EventObject } from 'xstate';
import {
  jambonzSessionMachine,
  type JambonzSessionContext,
  type JambonzSessionEnd,
  type JambonzSessionEvent,
} from '../../machines/jambonzSession.machine.js';
import { runModel } from '../helpers/model.js';
import { Rng } from '../helpers/prng.js';

const ACK_MS = 4000;
const GRACE_MS = 30_000;
const machine = jambonzSessionMachine.provide({ delays: { ackTimeout: ACK_MS, reconnectGrace: GRACE_MS } });
// A small queue bound, so the generated paths and the walks reach it.
const MAX_QUEUED = 2;
const input = { callSid: 'c1', maxQueued: MAX_QUEUED };
const SAY = [{ verb: 'say', text: 'hi' }];
const BYE = [{ verb: 'hangup' }];
/** The msgids of hooks and redirects in the sample events (the reply oracle's concern). */
const REPLY_IDS = new Set(['m-hook', 'm-hook2', 'm-redir']);

const events: JambonzSessionEvent[] = [
  { type: 'SESSION.NEW', msgid: 'm-new' },
  { type: 'SESSION.REDIRECT', msgid: 'm-redir', hook: '/r' },
  { type: 'SESSION.RECONNECT', msgid: 'm-rec' },
  { type: 'HOOK.RECEIVED', msgid: 'm-hook', hook: '/h' },
  { type: 'HOOK.RECEIVED', msgid: 'm-hook2', hook: '/h2' },
  { type: 'APP.ACK', verbs: SAY },
  { type: 'APP.ACK', verbs: BYE, msgid: 'm-hook2' },
  { type: 'REPLY.TIMEOUT', msgid: 'm-hook' },
  { type: 'APP.FAILED', verbs: [{ verb: 'hangup' }] },
  { type: 'APP.COMMAND', command: 'redirect', data: SAY },
  { type: 'APP.COMMAND', command: 'mute:status', data: { mute_status: 'mute' } },
  { type: 'APP.HANGUP' },
  { type: 'COMMAND.UNSENT', command: { command: 'dtmf', data: { dtmf: { digit: '1' } }, queue: false } },
  { type: 'CALL.ENDED' },
  { type: 'CALL.STATUS', status: 'in-progress' },
  { type: 'CALL.STATUS', status: 'completed' },
  { type: 'SOCKET.CLOSED', code: 1006 },
  { type: 'SOCKET.CLOSED', code: 1000 },
  { type: 'SESSION.CLOSE' },
];

/** The session protocol, written apart from the machine. */
function oracle(from: string, ev: EventObject, snap: { context: JambonzSessionContext }): string | undefined {
  // The app's first failure answers like a reply (its error verbs); any later one changes nothing.
  if (ev.type === 'APP.FAILED') return snap.context.appFailed ? undefined : oracle(from, { type: 'APP.ACK' }, snap);
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
    if (t.startsWith('xstate.after.reconnectGrace') || ends || t === 'CALL.ENDED') return 'closed';
    return undefined;
  }
  // live.*
  if (ends || (e.type === 'SOCKET.CLOSED' && e.code === 1000)) return 'closed';
  if (e.type === 'SOCKET.CLOSED') return 'disconnected';
  if (t.startsWith('xstate.after.ackTimeout')) return t.endsWith(`.${from}`) && from !== 'live.executing' ? 'live.executing' : undefined;
  const redirect = e.type === 'APP.COMMAND' && e.command === 'redirect';
  switch (from) {
    case 'live.awaitingApp':
      return t === 'APP.ACK' || t === 'APP.HANGUP' || redirect ? 'live.executing' : undefined;
    case 'live.executing':
      return t === 'HOOK.RECEIVED' || t === 'SESSION.REDIRECT' ? 'live.awaitingReply' : undefined;
    case 'live.awaitingReply': {
      // Back to executing once the last waiting hook is answered or timed out.
      const named = e.type === 'APP.ACK' ? (e.msgid ?? ctx.replies[0]?.msgid) : e.type === 'REPLY.TIMEOUT' ? e.msgid : undefined;
      return ctx.replies.length === 1 && named === ctx.replies[0]!.msgid ? 'live.executing' : undefined;
    }
    default:
      return undefined;
  }
}

type Effect = { name: string; params?: Record<string, unknown> };
type Params = { command: string; data: unknown; queue: boolean };

const TERMINAL = new Set(['completed', 'failed', 'busy', 'no-answer']);
const HANGUP_PARAMS: Params = { command: 'call:status', data: { call_status: 'completed' }, queue: false };

/**
 * The queue, from the events alone: while the socket is down (a drop, not a normal close) every
 * app command but a redirect waits, the oldest dropped beyond MAX_QUEUED; a command the route
 * could not write waits too; a reconnect sends what waited, in order; an end drops it. Time is
 * tracked as the clock moves, since the grace runs out whatever delays advanced it.
 */
function expectedQueue(sent: readonly EventObject[]): { flushes: Params[][]; full: number; droppedAtEnd: number } {
  let phase: 'new' | 'live' | 'down' | 'over' = 'new';
  let q: Params[] = [];
  let downFor = 0;
  const out = { flushes: [] as Params[][], full: 0, droppedAtEnd: 0 };
  const push = (p: Params) => {
    q.push(p);
    if (q.length > MAX_QUEUED) {
      q.shift();
      out.full++;
    }
  };
  const end = () => {
    out.droppedAtEnd += q.length;
    q = [];
    phase = 'over';
  };
  for (const ev of sent) {
    const e = ev as JambonzSessionEvent;
    const t = ev.type;
    const ends = (e.type === 'CALL.STATUS' && TERMINAL.has(e.status)) || t === 'SESSION.CLOSE';
    if (phase === 'new') {
      if (t === 'SESSION.NEW') phase = 'live';
      else if (t === 'SOCKET.CLOSED' || t === 'SESSION.CLOSE') phase = 'over';
    } else if (phase === 'live') {
      if (ends || (e.type === 'SOCKET.CLOSED' && e.code === 1000)) end();
      else if (e.type === 'SOCKET.CLOSED') {
        phase = 'down';
        downFor = 0;
      } else if (e.type === 'COMMAND.UNSENT') push(e.command as Params);
    } else if (phase === 'down') {
      if (t.startsWith('xstate.after.')) downFor += t.includes('reconnectGrace') ? GRACE_MS : ACK_MS;
      if (ends || t === 'CALL.ENDED' || downFor >= GRACE_MS) end();
      else if (t === 'SESSION.RECONNECT') {
        if (q.length) out.flushes.push(q);
        q = [];
        phase = 'live';
      } else if (e.type === 'APP.COMMAND' && e.command !== 'redirect') push({ command: e.command, data: e.data, queue: e.queue ?? false });
      else if (e.type === 'APP.HANGUP') push(HANGUP_PARAMS);
      else if (e.type === 'COMMAND.UNSENT') push(e.command as Params);
    }
  }
  return out;
}

/** The machine's queue effects agree with expectedQueue for this event sequence. */
function checkQueue(sent: readonly EventObject[], effects: readonly Effect[]): ReturnType<typeof expectedQueue> {
  const want = expectedQueue(sent);
  const path = sent.map((e) => e.type).join(' > ');
  const flushed = effects.filter((e) => e.name === 'sendQueued').map((e) => e.params!.commands);
  assert.deepEqual(flushed, want.flushes, `queued commands flushed wrongly: ${path}`);
  assert.equal(effects.filter((e) => e.name === 'noteQueueFull').length, want.full, `queue bound: ${path}`);
  return want;
}

type ReplyEffect = [name: string, arg: unknown];

/**
 * The reply oracle, from the events alone: which hook/redirect is acked, with which verbs, which
 * gets the fallback, which named reply is late and which unnamed reply becomes a redirect. Hooks
 * wait side by side (none supersedes another); a reply names its hook or takes the oldest; a drop
 * abandons the hooks in flight; a reply given while the socket is down is held and, once the
 * session start is acked, sent as a redirect after the reconnect.
 */
function expectedReplies(sent: readonly EventObject[]): ReplyEffect[] {
  let phase: 'new' | 'start' | 'live' | 'down' | 'over' = 'new';
  let startAcked = false;
  let failed = false;
  let replies: string[] = [];
  let held: unknown = null;
  let downFor = 0;
  const out: ReplyEffect[] = [];
  for (const ev of sent) {
    let e = ev as JambonzSessionEvent;
    const t = ev.type;
    if (phase === 'over') break;
    if (e.type === 'APP.FAILED') {
      if (failed) continue;
      failed = true;
      e = { type: 'APP.ACK', verbs: e.verbs };
    }
    const ends = (e.type === 'CALL.STATUS' && TERMINAL.has(e.status)) || t === 'SESSION.CLOSE';
    if (phase === 'new') {
      if (t === 'SESSION.NEW') phase = 'start';
      else if (t === 'SOCKET.CLOSED' || t === 'SESSION.CLOSE') phase = 'over';
      continue;
    }
    if (phase === 'down') {
      if (t.startsWith('xstate.after.')) downFor += t.includes('reconnectGrace') ? GRACE_MS : ACK_MS;
      if (ends || t === 'CALL.ENDED' || downFor >= GRACE_MS) phase = 'over';
      else if (e.type === 'APP.ACK') held = e.verbs;
      else if (e.type === 'APP.COMMAND' && e.command === 'redirect') held = e.data;
      else if (t === 'SESSION.RECONNECT') {
        if (!startAcked) {
          phase = held !== null ? 'live' : 'start';
          startAcked = held !== null;
        } else {
          if (held !== null) out.push(['redirect', held]);
          phase = 'live';
        }
        held = null;
      }
      continue;
    }
    // start / live: a socket is up.
    if (ends || (e.type === 'SOCKET.CLOSED' && e.code === 1000)) {
      phase = 'over';
      continue;
    }
    if (e.type === 'SOCKET.CLOSED') {
      phase = 'down';
      downFor = 0;
      replies = [];
      continue;
    }
    if (phase === 'start') {
      if (e.type === 'HOOK.RECEIVED' || e.type === 'SESSION.REDIRECT') out.push(['ack', [e.msgid, []]]);
      // Time moves by at least the ack timeout at once: the session start's deadline passes.
      const answers = e.type === 'APP.ACK' || e.type === 'APP.HANGUP' || (e.type === 'APP.COMMAND' && e.command === 'redirect') || t.startsWith('xstate.after.');
      if (answers) {
        phase = 'live';
        startAcked = true;
      }
      continue;
    }
    if (t.startsWith('xstate.after.')) {
      // Every waiting hook arrived at least an ack timeout ago now: each gets its fallback, oldest first.
      for (const r of replies) out.push(['fallback', r]);
      replies = [];
    } else if ((e.type === 'HOOK.RECEIVED' || e.type === 'SESSION.REDIRECT') && !replies.includes(e.msgid)) replies.push(e.msgid);
    else if (e.type === 'APP.ACK') {
      const target = e.msgid === undefined ? replies[0] : replies.find((r) => r === e.msgid);
      if (target !== undefined) {
        out.push(['ack', [target, e.verbs]]);
        replies = replies.filter((r) => r !== target);
      } else if (e.msgid !== undefined) out.push(['late', e.msgid]);
      else out.push(['redirect', e.verbs]);
    } else if (e.type === 'REPLY.TIMEOUT' && replies.includes(e.msgid)) {
      out.push(['fallback', e.msgid]);
      replies = replies.filter((r) => r !== e.msgid);
    }
  }
  return out;
}

/** The machine's reply effects (acks of hooks/redirects, fallbacks, late notes, redirects) agree with expectedReplies. */
function checkReplies(sent: readonly EventObject[], effects: readonly Effect[]): void {
  const got: ReplyEffect[] = [];
  for (const ef of effects) {
    const p = ef.params ?? {};
    if (ef.name === 'sendAck' && REPLY_IDS.has(p.msgid as string)) got.push(['ack', [p.msgid, p.verbs]]);
    else if (ef.name === 'sendFallbackAck' && REPLY_IDS.has(p.msgid as string)) got.push(['fallback', p.msgid]);
    else if (ef.name === 'noteLateReply') got.push(['late', p.msgid]);
    else if (ef.name === 'sendRedirect') got.push(['redirect', p.verbs]);
  }
  assert.deepEqual(got, expectedReplies(sent), `replies: ${sent.map((e) => ('msgid' in e ? `${e.type}(${String(e.msgid)})` : e.type)).join(' > ')}`);
}

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
      sendQueued: rec('sendQueued'),
      noteQueueFull: rec('noteQueueFull'),
      notifyAckTimeout: rec('notifyAckTimeout'),
      noteLateReply: rec('noteLateReply'),
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
      JSON.stringify([s.value, s.status, s.context.pending?.kind ?? null, s.context.replies.map((r) => r.msgid), s.context.sessionAcked, s.context.held !== null, s.context.queued.length, s.context.appFailed])) as never,
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
      'live.executing': (s) => {
        assert.equal(s.context.pending, null);
        assert.deepEqual(s.context.replies, []);
      },
      'live.awaitingReply': (s) => {
        assert.ok(s.context.replies.length > 0);
        // Every waiting hook was handed to the app.
        for (const r of s.context.replies) assert.ok(effects.some((e) => (e.name === 'deliverHook' || e.name === 'deliverRedirect') && e.params!.msgid === r.msgid));
      },
      disconnected: (s) => {
        assert.ok(effects.some((e) => e.name === 'noteDisconnected'));
        assert.ok(s.context.pending === null || s.context.pending.kind === 'session', 'only the session start survives a drop');
        assert.deepEqual(s.context.replies, [], 'hooks in flight die with the socket');
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
      checkQueue(sent, effects);
      checkReplies(sent, effects);
      if (snap.status === 'done') {
        const out = snap.output as JambonzSessionEnd;
        assert.ok(['call-ended', 'socket-closed', 'reconnect-timeout', 'local-close'].includes(out.reason));
      }
    },
  });
}

test('jambonz session machine: generated paths drive the real actor; an oracle checks every transition', async () => {
  const result = await run(machine);
  for (const s of ['new', 'live.awaitingApp', 'live.executing', 'live.awaitingReply', 'disconnected', 'closed']) {
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

test('the app failing answers the pending message once with the error verbs; a second failure sends nothing', () => {
  const { effects, actor } = actorWith();
  const ERR = [{ verb: 'hangup' }];
  actor.send({ type: 'SESSION.NEW', msgid: 'm1' });
  actor.send({ type: 'APP.FAILED', verbs: ERR });
  actor.send({ type: 'HOOK.RECEIVED', msgid: 'h1', hook: '/g' });
  actor.send({ type: 'APP.FAILED', verbs: ERR });
  assert.deepEqual(
    effects.filter((e) => e.name === 'sendAck').map((e) => e.params),
    [{ msgid: 'm1', verbs: ERR }],
  );
  assert.ok(actor.getSnapshot().matches({ live: 'awaitingReply' }), 'the hook still waits for the app (or the fallback ack)');
});

test('the jambonz session model catches a planted bug (every app failure answers)', async () => {
  const on = machine.config.on as Record<string, Record<string, unknown>>;
  const plain = createMachine(
    { ...machine.config, on: { ...on, 'APP.FAILED': { ...on['APP.FAILED'], guard: undefined } } } as never,
    machine.implementations as never,
  ) as unknown as typeof machine;
  await assert.rejects(run(plain), /oracle: live\.\w+ --APP\.FAILED--> expected/);
});

test('the jambonz session model catches a planted bug (reconnect dropped while disconnected)', async () => {
  const clone = (v: unknown): unknown =>
    Array.isArray(v) ? v.map(clone) : v && typeof v === 'object' ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k, clone(x)])) : v;
  const cfg = clone(machine.config) as { states: { disconnected: { on: Record<string, unknown> } } };
  delete cfg.states.disconnected.on['SESSION.RECONNECT'];
  const buggy = createMachine(cfg as never, machine.implementations as never) as unknown as typeof machine;
  await assert.rejects(run(buggy), /oracle: disconnected --SESSION\.RECONNECT--> expected live\.(executing|awaitingApp)/);
});

/**
 * Seeded random walks on the real actor, weighted towards drops and reconnects so that queues
 * fill, flush and die: the queue oracle checks every walk, and after every step nothing but an
 * ack-free reconnect flush may have gone out while the socket was down.
 */
function walk(base: typeof machine, seed: number, walks = 300, steps = 30): { flushed: number; dropped: number } {
  const rng = new Rng(seed);
  const pool: JambonzSessionEvent[] = [
    ...events,
    { type: 'SOCKET.CLOSED', code: 1006 },
    { type: 'SOCKET.CLOSED', code: 1006 },
    { type: 'SESSION.RECONNECT', msgid: 'm-rec2' },
    { type: 'SESSION.RECONNECT', msgid: 'm-rec3' },
    { type: 'APP.HANGUP' },
  ];
  const afters = [
    { type: 'xstate.after.ackTimeout', ms: ACK_MS },
    { type: 'xstate.after.reconnectGrace', ms: GRACE_MS },
  ];
  let flushed = 0;
  let dropped = 0;
  for (let w = 0; w < walks; w++) {
    const effects: Effect[] = [];
    const clock = new SimulatedClock();
    const actor = createActor(withEffects(base, effects), { input, clock }).start();
    const start: JambonzSessionEvent = { type: 'SESSION.NEW', msgid: 'm-new' };
    const sent: EventObject[] = [start];
    actor.send(start);
    for (let i = 0; i < steps && actor.getSnapshot().status === 'active'; i++) {
      const down = actor.getSnapshot().matches('disconnected');
      const before = effects.length;
      if (rng.chance(0.1)) {
        const a = afters[rng.int(afters.length)]!;
        sent.push({ type: a.type });
        clock.increment(a.ms);
      } else {
        const ev = pool[rng.int(pool.length)]!;
        sent.push(ev);
        actor.send(ev);
      }
      if (down && actor.getSnapshot().matches('disconnected')) {
        const wrote = effects.slice(before).filter((e) => e.name.startsWith('send'));
        assert.deepEqual(wrote, [], `wrote into a dead socket: ${sent.map((e) => e.type).join(' > ')}`);
      }
    }
    const want = checkQueue(sent, effects);
    checkReplies(sent, effects);
    flushed += want.flushes.length;
    dropped += want.droppedAtEnd;
    actor.stop();
  }
  return { flushed, dropped };
}

test('queued commands: flushed in order on reconnect, dropped on end (random walks, queue oracle)', () => {
  const { flushed, dropped } = walk(machine, 14);
  assert.ok(flushed >= 20, `only ${flushed} walks flushed a queue`);
  assert.ok(dropped >= 10, `only ${dropped} queued commands were dropped by an end`);
});

test('commands given while disconnected go out after the reconnect ack and the held reply, oldest dropped beyond the bound', () => {
  const { effects, actor } = actorWith();
  actor.send({ type: 'SESSION.NEW', msgid: 'm1' });
  actor.send({ type: 'APP.ACK', verbs: [] });
  actor.send({ type: 'SOCKET.CLOSED', code: 1006 });
  actor.send({ type: 'APP.COMMAND', command: 'mute:status', data: { mute_status: 'mute' } });
  actor.send({ type: 'APP.COMMAND', command: 'redirect', data: SAY });
  actor.send({ type: 'APP.COMMAND', command: 'dtmf', data: { dtmf: { digit: '5' } } });
  actor.send({ type: 'APP.HANGUP' });
  assert.equal(effects.filter((e) => e.name === 'sendCommand').length, 0, 'nothing sent into a dead socket');
  assert.deepEqual(effects.at(-1), { name: 'noteQueueFull', params: { dropped: 'mute:status' } });
  actor.send({ type: 'SESSION.RECONNECT', msgid: 'r1' });
  assert.deepEqual(
    effects.slice(-4).map((e) => [e.name, e.params]),
    [
      ['sendAck', { msgid: 'r1', verbs: [] }],
      ['sendRedirect', { verbs: SAY, queue: false }],
      ['sendQueued', { commands: [{ command: 'dtmf', data: { dtmf: { digit: '5' } }, queue: false }, HANGUP_PARAMS] }],
      ['noteReconnected', undefined],
    ],
  );
  assert.deepEqual(actor.getSnapshot().context.queued, []);
});

test('a call ended while jambonz is away closes the session and its queue goes with it', () => {
  const { effects, clock, actor } = actorWith();
  actor.send({ type: 'SESSION.NEW', msgid: 'm1' });
  actor.send({ type: 'SOCKET.CLOSED', code: 1006 });
  actor.send({ type: 'APP.HANGUP' });
  actor.send({ type: 'CALL.ENDED' });
  assert.equal(actor.getSnapshot().status, 'done');
  assert.deepEqual(actor.getSnapshot().output, { reason: 'local-close' });
  clock.increment(GRACE_MS);
  assert.ok(!effects.some((e) => e.name === 'sendQueued' || e.name === 'sendCommand'));
});

test('a hangup before the session start is acked is the ack: a hangup verb', () => {
  const { effects, actor } = actorWith();
  actor.send({ type: 'SESSION.NEW', msgid: 'm1' });
  actor.send({ type: 'APP.HANGUP' });
  assert.deepEqual(effects.at(-1), { name: 'sendAck', params: { msgid: 'm1', verbs: [{ verb: 'hangup' }] } });
  actor.send({ type: 'APP.HANGUP' });
  assert.deepEqual(effects.at(-1), { name: 'sendCommand', params: HANGUP_PARAMS });
});

test('the queue oracle catches a planted bug (the queue forgotten on reconnect)', async () => {
  const buggy = machine.provide({
    actions: { resumeAfterReconnect: assign({ queued: [], reconnects: ({ context }) => context.reconnects + 1 }) as never },
  });
  assert.throws(() => walk(buggy, 14), /queued commands flushed wrongly/);
});

test('two hooks waiting at once: each is acked with its own reply (in order, or by msgid); a named late reply is dropped, not a redirect', () => {
  const { effects, clock, actor } = actorWith();
  actor.send({ type: 'SESSION.NEW', msgid: 'm1' });
  actor.send({ type: 'APP.ACK', verbs: [] });
  actor.send({ type: 'HOOK.RECEIVED', msgid: 'h1', hook: '/a' });
  actor.send({ type: 'HOOK.RECEIVED', msgid: 'h2', hook: '/b' });
  assert.deepEqual(effects.filter((e) => e.name === 'sendAck').length, 1, 'the second hook does not ack the first');
  actor.send({ type: 'APP.ACK', verbs: SAY });
  actor.send({ type: 'APP.ACK', verbs: BYE });
  assert.deepEqual(
    effects.filter((e) => e.name === 'sendAck').slice(1).map((e) => e.params),
    [{ msgid: 'h1', verbs: SAY }, { msgid: 'h2', verbs: BYE }],
  );
  assert.ok(actor.getSnapshot().matches({ live: 'executing' }));
  // Out of order by msgid; the first hook's deadline passes before its reply.
  actor.send({ type: 'HOOK.RECEIVED', msgid: 'h3', hook: '/c' });
  clock.increment(1000);
  actor.send({ type: 'HOOK.RECEIVED', msgid: 'h4', hook: '/d' });
  actor.send({ type: 'APP.ACK', verbs: BYE, msgid: 'h4' });
  clock.increment(ACK_MS - 1000);
  assert.deepEqual(effects.filter((e) => e.name === 'sendFallbackAck').map((e) => e.params), [{ msgid: 'h3', kind: 'hook' }]);
  actor.send({ type: 'APP.ACK', verbs: SAY, msgid: 'h3' });
  assert.deepEqual(effects.at(-1), { name: 'noteLateReply', params: { msgid: 'h3' } });
  assert.ok(!effects.some((e) => e.name === 'sendRedirect'), 'no late reply became a redirect');
  clock.increment(ACK_MS);
  assert.equal(effects.filter((e) => e.name === 'sendFallbackAck').length, 1, 'h4 was answered: its deadline was cancelled');
});

test('the reply oracle catches a planted bug (a newer hook supersedes the one waiting)', () => {
  const buggy = machine.provide({
    actions: {
      takeReply: enqueueActions(({ event: ev, enqueue }) => {
        const event = ev as JambonzSessionEvent;
        if (event.type !== 'HOOK.RECEIVED' && event.type !== 'SESSION.REDIRECT') return;
        const kind = event.type === 'HOOK.RECEIVED' ? ('hook' as const) : ('redirect' as const);
        enqueue.assign({ replies: [{ msgid: event.msgid, kind, hook: event.hook }] });
        enqueue({ type: kind === 'hook' ? 'deliverHook' : 'deliverRedirect', params: { msgid: event.msgid, hook: event.hook } });
      }) as never,
    },
  });
  assert.throws(() => walk(buggy, 14), /replies: /);
});
