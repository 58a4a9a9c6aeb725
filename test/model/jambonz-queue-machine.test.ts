// Model-based test of the jambonz queue statechart: generated paths drive the real actor; an
// independent oracle (enqueue.js/dequeue.js rules, written apart from the machine, from the
// member and waiter counts) checks every reachable state × event; every state keeps its invariant
// (members by priority, never members and waiters at once); each connect pairs the member the
// rules name with the right dequeuer, and nobody is connected twice.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createActor, createMachine, type EventObject } from 'xstate';
import { jambonzQueueMachine, type QueueContext, type QueueEvent } from '../../machines/jambonzQueue.machine.js';
import { runModel } from '../helpers/model.js';

const events: QueueEvent[] = [
  { type: 'JOIN', callSid: 'a', priority: 5 },
  { type: 'JOIN', callSid: 'b', priority: 1 },
  { type: 'LEAVE', callSid: 'a' },
  { type: 'DEQUEUE', by: 'x' },
  { type: 'DEQUEUE', by: 'x', target: 'a' },
  { type: 'DEQUEUE', by: 'y' },
  { type: 'CANCEL', by: 'x' },
];

function oracle(from: string, ev: EventObject, snap: { context: QueueContext }): string | undefined {
  const e = ev as QueueEvent;
  const { members, waiters } = snap.context;
  if (from === 'empty') {
    if (e.type === 'JOIN') return 'holding';
    if (e.type === 'DEQUEUE' && e.target === undefined) return 'waiting';
    return undefined;
  }
  if (from === 'holding') {
    if (e.type === 'LEAVE' && members.length === 1 && members[0]!.callSid === e.callSid) return 'empty';
    if (e.type === 'DEQUEUE' && members.length === 1 && (e.target === undefined || members[0]!.callSid === e.target)) return 'empty';
    return undefined;
  }
  if (from === 'waiting') {
    if (e.type === 'JOIN' && waiters.length === 1) return 'empty';
    if (e.type === 'CANCEL' && waiters.length === 1 && waiters[0] === e.by) return 'empty';
  }
  return undefined;
}

function run(machine: typeof jambonzQueueMachine) {
  let connects: Array<{ member: string; by: string }> = [];
  const m = machine.provide({
    actions: {
      connect: (_, p) => void connects.push(p),
      notFound: () => {},
    },
  });
  const sortedByPriority = (c: QueueContext) => c.members.every((x, i) => i === 0 || c.members[i - 1]!.priority <= x.priority);
  return runModel({
    machine: m,
    events: events as EventObject[],
    oracle: oracle as never,
    makeActor: (clock) => {
      connects = [];
      return createActor(m, { clock });
    },
    afterPath: (sent) => {
      // Replay the spec on the events: who is queued, who waits, who is connected to whom.
      let members: Array<{ callSid: string; priority: number }> = [];
      let waiters: string[] = [];
      const want: Array<{ member: string; by: string }> = [];
      for (const ev of sent as QueueEvent[]) {
        if (ev.type === 'JOIN') {
          if (waiters.length) want.push({ member: ev.callSid, by: waiters.shift()! });
          else if (!members.some((x) => x.callSid === ev.callSid)) members = [...members, { callSid: ev.callSid, priority: ev.priority }].sort((p, q) => p.priority - q.priority);
        } else if (ev.type === 'LEAVE') members = members.filter((x) => x.callSid !== ev.callSid);
        else if (ev.type === 'CANCEL') waiters = waiters.filter((w) => w !== ev.by);
        else if (ev.type === 'DEQUEUE') {
          const hit = ev.target === undefined ? members[0] : members.find((x) => x.callSid === ev.target);
          if (hit) {
            want.push({ member: hit.callSid, by: ev.by });
            members = members.filter((x) => x !== hit);
          } else if (ev.target === undefined && !waiters.includes(ev.by)) waiters.push(ev.by);
        }
      }
      assert.deepEqual(connects, want, `connects for ${sent.map((e) => JSON.stringify(e)).join(' ')}`);
    },
    states: {
      empty: (s) => assert.deepEqual(s.context, { members: [], waiters: [] }),
      holding: (s) => {
        assert.ok(s.context.members.length > 0 && s.context.waiters.length === 0);
        assert.ok(sortedByPriority(s.context), 'members by priority');
      },
      waiting: (s) => assert.ok(s.context.waiters.length > 0 && s.context.members.length === 0),
    },
  });
}

test('queue machine: generated paths drive the real actor; an oracle checks every transition; connects follow the rules', async () => {
  const r = await run(jambonzQueueMachine);
  for (const s of ['empty', 'holding', 'waiting']) assert.ok(r.statesCovered.has(s), `state ${s} never reached`);
});

test('the queue model tests catch a planted bug (a dequeue of the last member leaves the queue holding)', async () => {
  const clone = (v: unknown): unknown =>
    Array.isArray(v) ? v.map(clone) : v && typeof v === 'object' ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k, clone(x)])) : v;
  const cfg = clone(jambonzQueueMachine.config) as { states: { holding: { on: { DEQUEUE: unknown[] } } } };
  cfg.states.holding.on.DEQUEUE = cfg.states.holding.on.DEQUEUE.slice(1);
  const buggy = createMachine(cfg as never, jambonzQueueMachine.implementations as never) as unknown as typeof jambonzQueueMachine;
  await assert.rejects(run(buggy), /oracle|holding/);
});
