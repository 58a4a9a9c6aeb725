// Model-based tests for the room statechart: generated paths drive the real actor (SimulatedClock
// for the grace period and the service timer) and every reached state is checked on the actor.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createActor, getNextSnapshot, SimulatedClock, type EventObject, type SnapshotFrom } from 'xstate';
import { roomMachine, type RoomEvent, type RoomShutdownPolicy } from '../../machines/room.machine.js';
import { runModel } from '../helpers/model.js';

const m1 = { id: 1, kind: 'websocket' };
const m2 = { id: 2, kind: 'call-leg' };

const events: RoomEvent[] = [
  { type: 'CLIENT.CONNECTED', member: m1 },
  { type: 'CLIENT.CONNECTED', member: m2 },
  { type: 'CLIENT.DISCONNECTED', member: m1 },
  { type: 'CLIENT.DISCONNECTED', member: m2 },
  { type: 'TIMER.SET', ms: 1000 },
  { type: 'TIMER.CLEAR' },
  { type: 'ROOM.CLOSE', detail: 'admin' },
  { type: 'SERVICE.FAILED', reason: 'message handler threw: boom' },
];

const GRACE_MS = 5000;

for (const policy of ['never', 'immediately', 'after'] as RoomShutdownPolicy[]) {
  test(`room machine (policy ${policy}): generated paths drive the real actor to the modelled state`, async () => {
    const calls: string[] = [];
    // The service timer's delay is read from context at run time; the model fixes it to the one
    // value the sample TIMER.SET event uses so the clock can be advanced by exactly that much.
    const machine = roomMachine.provide({
      delays: { serviceTimer: 1000 },
      actions: {
        serviceCreated: () => void calls.push('created'),
        serviceConnect: (_, p) => void calls.push(`connect:${p.member.id}`),
        serviceDisconnect: (_, p) => void calls.push(`disconnect:${p.member.id}`),
        serviceTimer: () => void calls.push('timer'),
        rejectMember: (_, p) => void calls.push(`reject:${p.memberId}`),
        escalateFailure: () => void calls.push('escalate'),
      },
    });
    const input = { roomId: 'r', policy, graceMs: GRACE_MS, maxMembers: 0 };
    const result = await runModel({
      machine,
      input,
      events: events as EventObject[],
      makeActor: (clock) => {
        calls.length = 0;
        return createActor(machine, { input, clock });
      },
      states: {
        'live.membership.opening': (s) => assert.deepEqual(s.context.members, []),
        'live.membership.occupied': (s) => assert.ok(s.context.members.length >= 1),
        'live.membership.idle': (s) => {
          assert.equal(policy, 'never');
          assert.deepEqual(s.context.members, []);
        },
        'live.membership.grace': (s) => {
          assert.equal(policy, 'after');
          assert.deepEqual(s.context.members, []);
        },
        'live.timer.armed': (s) => assert.equal(s.context.timerMs, 1000),
        closed: (s) => {
          assert.equal(s.status, 'done');
          assert.ok(['empty', 'grace-expired', 'closed'].includes(s.output!.reason));
          if (s.output!.reason === 'empty') assert.equal(policy, 'immediately');
          if (s.output!.reason === 'grace-expired') assert.equal(policy, 'after');
        },
        failed: (s) => {
          assert.equal(s.status, 'done');
          assert.deepEqual(s.output, { roomId: 'r', reason: 'failed', detail: 'message handler threw: boom' });
          assert.ok(calls.includes('escalate'));
        },
      },
      afterPath: (sent, snap) => {
        assert.equal(calls[0], 'created');
        // The service saw exactly the joins and leaves the statechart accepted.
        const joined = calls.filter((c) => c.startsWith('connect:')).length;
        const left = calls.filter((c) => c.startsWith('disconnect:')).length;
        if (snap.status === 'active') assert.equal(joined - left, snap.context.members.length);
        // Advancing the clock for the grace period may fire an armed service timer as well.
        const timersFired = sent.filter((e) => e.type.includes('serviceTimer')).length;
        assert.ok(calls.filter((c) => c === 'timer').length >= timersFired);
      },
    });
    const expected = ['live.membership.occupied', 'live.timer.armed', 'closed', 'failed'];
    if (policy === 'never') expected.push('live.membership.idle');
    if (policy === 'after') expected.push('live.membership.grace');
    for (const s of expected) assert.ok(result.statesCovered.has(s), `state ${s} never reached`);
    assert.ok(result.paths >= 8, `only ${result.paths} paths`);
  });
}

test('room machine: the grace period closes the room exactly when it runs out, a rejoin cancels it', () => {
  const clock = new SimulatedClock();
  const actor = createActor(roomMachine, { input: { roomId: 'g', policy: 'after', graceMs: GRACE_MS }, clock }).start();
  actor.send({ type: 'CLIENT.CONNECTED', member: m1 });
  actor.send({ type: 'CLIENT.DISCONNECTED', member: m1 });
  clock.increment(GRACE_MS - 1);
  assert.ok(actor.getSnapshot().matches({ live: { membership: 'grace' } }));
  actor.send({ type: 'CLIENT.CONNECTED', member: m2 });
  clock.increment(GRACE_MS * 2);
  assert.ok(actor.getSnapshot().matches({ live: { membership: 'occupied' } }));
  actor.send({ type: 'CLIENT.DISCONNECTED', member: m2 });
  clock.increment(GRACE_MS);
  assert.equal(actor.getSnapshot().status, 'done');
  assert.deepEqual(actor.getSnapshot().output, { roomId: 'g', reason: 'grace-expired' });
});

test('room machine: a full room rejects without telling the service; TIMER.SET replaces the countdown', () => {
  const clock = new SimulatedClock();
  const log: string[] = [];
  const actor = createActor(
    roomMachine.provide({
      actions: {
        serviceConnect: (_, p) => void log.push(`connect:${p.member.id}`),
        rejectMember: (_, p) => void log.push(`reject:${p.memberId}`),
        serviceTimer: () => void log.push('timer'),
      },
    }),
    { input: { roomId: 'f', policy: 'never', maxMembers: 1 }, clock },
  ).start();
  actor.send({ type: 'CLIENT.CONNECTED', member: m1 });
  actor.send({ type: 'CLIENT.CONNECTED', member: m2 });
  assert.deepEqual(log, ['connect:1', 'reject:2']);
  actor.send({ type: 'TIMER.SET', ms: 100 });
  clock.increment(60);
  actor.send({ type: 'TIMER.SET', ms: 100 });
  clock.increment(60);
  assert.deepEqual(log, ['connect:1', 'reject:2'], 'replaced timer must not fire at the old deadline');
  clock.increment(40);
  assert.deepEqual(log, ['connect:1', 'reject:2', 'timer']);
  actor.stop();
});

// ---- conference members: mute, deaf, kick ------------------------------------------------------

interface Expected {
  members: Map<number, { muted: boolean; deaf: boolean }>;
  calls: string[];
  done: boolean;
}

/**
 * Independent spec of membership as a plain reducer (no XState): who is in, with which flags, and
 * which adapter actions each event must run. Used both as the state oracle and, replayed over each
 * generated path, as the context/actions oracle.
 */
function conferenceSpec(policy: RoomShutdownPolicy, events: EventObject[]): Expected {
  const x: Expected = { members: new Map(), calls: ['created'], done: false };
  for (const ev of events as RoomEvent[]) {
    if (x.done) break;
    switch (ev.type) {
      case 'CLIENT.CONNECTED':
        if (!x.members.has(ev.member.id)) {
          x.members.set(ev.member.id, { muted: ev.member.muted ?? false, deaf: ev.member.deaf ?? false });
          x.calls.push(`connect:${ev.member.id}`);
        }
        break;
      case 'CLIENT.DISCONNECTED':
      case 'MEMBER.KICK': {
        const id = ev.type === 'MEMBER.KICK' ? ev.memberId : ev.member.id;
        if (!x.members.has(id)) break;
        if (ev.type === 'MEMBER.KICK') x.calls.push(`evict:${id}`, `disconnect:${id}:kicked`);
        else x.calls.push(`disconnect:${id}`);
        x.members.delete(id);
        if (x.members.size === 0 && policy === 'immediately') x.done = true;
        break;
      }
      case 'MEMBER.MUTE':
      case 'MEMBER.DEAF': {
        const m = x.members.get(ev.memberId);
        if (!m) break;
        if (ev.type === 'MEMBER.MUTE') m.muted = ev.muted;
        else m.deaf = ev.deaf;
        x.calls.push(`changed:${ev.memberId}:${m.muted}:${m.deaf}`);
        break;
      }
      case 'ROOM.CLOSE':
        x.done = true;
        break;
      default:
        break;
    }
  }
  return x;
}

const legA = { id: 1, kind: 'call-leg', muted: false, deaf: false };
const legB = { id: 2, kind: 'call-leg', muted: true, deaf: false };
const conferenceEvents: RoomEvent[] = [
  { type: 'CLIENT.CONNECTED', member: legA },
  { type: 'CLIENT.CONNECTED', member: legB },
  { type: 'MEMBER.MUTE', memberId: 1, muted: true },
  { type: 'MEMBER.MUTE', memberId: 2, muted: false },
  { type: 'MEMBER.DEAF', memberId: 1, deaf: true },
  { type: 'MEMBER.KICK', memberId: 1, detail: 'mod' },
  { type: 'MEMBER.KICK', memberId: 2 },
  { type: 'CLIENT.DISCONNECTED', member: legA },
  { type: 'ROOM.CLOSE' },
];

/**
 * Every reachable snapshot × every sample event, stepped with getNextSnapshot: the members after
 * the step must be the spec's. Generated paths alone would miss a step that leaves the context
 * unchanged by mistake (it looks like a self-loop, which shortest paths never take).
 */
function checkEveryStep(machine: typeof roomMachine, policy: RoomShutdownPolicy): number {
  const input = { roomId: 'conf', policy, graceMs: GRACE_MS };
  const start = createActor(machine, { input }).getSnapshot();
  const seen = new Set<string>();
  const queue: Array<SnapshotFrom<typeof roomMachine>> = [start];
  let steps = 0;
  while (queue.length > 0 && seen.size < 2000) {
    const snap = queue.shift()!;
    const key = JSON.stringify([snap.value, snap.context.members]);
    if (seen.has(key) || snap.status !== 'active') continue;
    seen.add(key);
    for (const ev of conferenceEvents) {
      const next: SnapshotFrom<typeof roomMachine> = getNextSnapshot(machine, snap, ev);
      const x = conferenceSpec(policy, [...snap.context.members.map((m) => ({ type: 'CLIENT.CONNECTED', member: m })), ev]);
      steps++;
      if (next.status !== 'active') {
        assert.ok(x.done, `step: ${JSON.stringify(snap.context.members)} --${ev.type}--> room ended, spec goes on`);
        continue;
      }
      const got: unknown[] = next.context.members.map((m) => [m.id, m.muted ?? false, m.deaf ?? false]);
      const want = [...x.members].map(([id, f]) => [id, f.muted, f.deaf]);
      assert.deepEqual(got, want, `step: ${JSON.stringify(snap.context.members)} --${JSON.stringify(ev)}--> members`);
      queue.push(next);
    }
  }
  return steps;
}

function runConference(machine: typeof roomMachine, policy: RoomShutdownPolicy) {
  checkEveryStep(machine, policy);
  const calls: string[] = [];
  const provided = machine.provide({
    actions: {
      serviceCreated: () => void calls.push('created'),
      serviceConnect: (_, p) => void calls.push(`connect:${p.member.id}`),
      serviceDisconnect: (_, p) => void calls.push(`disconnect:${p.member.id}${p.kicked ? ':kicked' : ''}`),
      memberChanged: (_, p) => void calls.push(`changed:${p.member.id}:${p.member.muted ?? false}:${p.member.deaf ?? false}`),
      evictMember: (_, p) => void calls.push(`evict:${p.member.id}`),
    },
  });
  const input = { roomId: 'conf', policy, graceMs: GRACE_MS };
  const membership = (v: unknown): string => {
    const live = (v as { live?: { membership?: string } }).live;
    return live?.membership ?? String(v);
  };
  return runModel({
    machine: provided,
    input,
    events: conferenceEvents as EventObject[],
    makeActor: (clock) => {
      calls.length = 0;
      return createActor(provided, { input, clock });
    },
    states: {},
    // State oracle: where membership goes, from the spec's own count of members.
    oracle: (from, event, snap) => {
      if (event.type.startsWith('xstate.after')) return undefined;
      const before = new Map(snap.context.members.map((m) => [m.id, m]));
      const x = conferenceSpec(policy, [
        ...[...before.values()].map((m) => ({ type: 'CLIENT.CONNECTED', member: m })),
        event,
      ]);
      if (event.type === 'ROOM.CLOSE') return 'closed';
      if (event.type === 'SERVICE.FAILED') return 'failed';
      if (x.done) return 'closed';
      const now = membership(snap.value);
      let next = now;
      if (x.members.size > 0) next = 'occupied';
      else if (before.size > 0) next = policy === 'never' ? 'idle' : 'grace';
      return from.replace(`membership.${now}`, `membership.${next}`);
    },
    afterPath: (sent, snap) => {
      const x = conferenceSpec(policy, sent);
      assert.deepEqual(calls, x.calls, `actions for ${sent.map((e) => e.type).join(' ')}`);
      if (snap.status === 'active') {
        const got = snap.context.members.map((m) => [m.id, m.muted ?? false, m.deaf ?? false]);
        const want = [...x.members].map(([id, f]) => [id, f.muted, f.deaf]);
        assert.deepEqual(got, want, `members after ${sent.map((e) => e.type).join(' ')}`);
      } else assert.ok(x.done, 'the room ended where the spec says it goes on');
    },
  });
}

for (const policy of ['immediately', 'never'] as RoomShutdownPolicy[]) {
  test(`room machine (conference, policy ${policy}): mute, deaf and kick follow an independent spec`, async () => {
    const result = await runConference(roomMachine, policy);
    assert.ok(result.paths >= 10, `only ${result.paths} paths`);
  });
}

test('the conference model tests catch a planted bug (a kick that leaves the member in the room)', async () => {
  const { createMachine } = await import('xstate');
  const clone = (v: unknown): unknown =>
    Array.isArray(v) ? v.map(clone) : v && typeof v === 'object' ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k, clone(x)])) : v;
  const cfg = clone(roomMachine.config) as { states: { live: { states: { membership: { states: { occupied: { on: Record<string, unknown[]> } } } } } } };
  // Plant the bug: the non-last kick evicts and tells the service, but forgets removeMember.
  const kick = cfg.states.live.states.membership.states.occupied.on['MEMBER.KICK'] as Array<{ actions: unknown[] }>;
  kick[1]!.actions = kick[1]!.actions.filter((a) => a !== 'removeMember');
  const buggy = createMachine(cfg as never, roomMachine.implementations as never) as unknown as typeof roomMachine;
  await assert.rejects(async () => runConference(buggy, 'never'), /step: .*MEMBER\.KICK.*--> members/);
});
