// Model-based tests for the room statechart: generated paths drive the real actor (SimulatedClock
// for the grace period and the service timer) and every reached state is checked on the actor.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createActor, SimulatedClock, type EventObject } from 'xstate';
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
