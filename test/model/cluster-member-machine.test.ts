// Model-based test of the cluster membership statechart: generated paths drive the real actor
// (heartbeat and retry delays on a simulated clock); an independent oracle (the membership rules,
// written apart from the machine) checks every state × event, and each state's store writes are
// checked on the real actor.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createActor, createMachine, type EventObject } from 'xstate';
import { clusterMemberMachine, type ClusterMemberEvent, type ClusterNodeStatus } from '../../machines/clusterMember.machine.js';
import { runModel } from '../helpers/model.js';

const events: ClusterMemberEvent[] = [
  { type: 'STATUS', status: 'draining' },
  { type: 'STATUS', status: 'open' },
  { type: 'LEAVE' },
  { type: 'STORE.OK' },
  { type: 'STORE.FAILED' },
];
const HEARTBEAT = 'xstate.after.heartbeatInterval.clusterMember.live.waiting';
const RETRY = 'xstate.after.retryDelay.clusterMember.degraded.waiting';

/**
 * The rules: a node joins by writing its record; while its record is being written the answer
 * decides (ok → live and waiting for the next beat, failure → degraded); live beats after the
 * heartbeat interval and rewrites at once on a status change; degraded re-registers after the
 * retry delay; leaving waits for the removal's answer, whatever it is; LEAVE wins everywhere.
 */
function oracle(from: string, ev: EventObject): string | undefined {
  if (from === 'left') return undefined;
  if (ev.type === 'LEAVE') return 'leaving';
  switch (from) {
    case 'joining':
      if (ev.type === 'STORE.OK') return 'live.waiting';
      if (ev.type === 'STORE.FAILED') return 'degraded.waiting';
      return undefined;
    case 'live.waiting':
      if (ev.type === HEARTBEAT || ev.type === 'STATUS') return 'live.beating';
      return undefined;
    case 'live.beating':
      if (ev.type === 'STORE.OK') return 'live.waiting';
      if (ev.type === 'STORE.FAILED') return 'degraded.waiting';
      return undefined;
    case 'degraded.waiting':
      if (ev.type === RETRY) return 'degraded.retrying';
      return undefined;
    case 'degraded.retrying':
      if (ev.type === 'STORE.OK') return 'live.waiting';
      if (ev.type === 'STORE.FAILED') return 'degraded.waiting';
      return undefined;
    case 'leaving':
      if (ev.type === 'STORE.OK' || ev.type === 'STORE.FAILED') return 'left';
      return undefined;
    default:
      return undefined;
  }
}

function run(machine: typeof clusterMemberMachine) {
  const writes: Array<{ op: string; status?: ClusterNodeStatus }> = [];
  const said: string[] = [];
  const m = machine.provide({
    actions: {
      register: (_, p) => void writes.push({ op: 'register', status: p.status }),
      heartbeat: (_, p) => void writes.push({ op: 'heartbeat', status: p.status }),
      deregister: () => void writes.push({ op: 'deregister' }),
      announceLive: () => void said.push('live'),
      announceDegraded: () => void said.push('degraded'),
      announceLeft: () => void said.push('left'),
    },
  });
  /** The status the node should be writing: the last STATUS sent on the path (open at start). */
  let expectStatus: () => ClusterNodeStatus = () => 'open';
  return runModel({
    machine: m,
    events: events as EventObject[],
    oracle: oracle as never,
    // The failure count grows without bound; whether it is zero is what the states depend on.
    serializeState: (s) => JSON.stringify([s.value, s.context.status, s.context.failures > 0, s.status]),
    makeActor: (clock) => {
      writes.length = 0;
      said.length = 0;
      return createActor(m, { clock });
    },
    states: {
      joining: () => assert.deepEqual(writes.at(-1), { op: 'register', status: 'open' }),
      'live.waiting': (s) => {
        assert.equal(s.context.failures, 0, 'a live node has no failures counted');
        assert.equal(said.filter((x) => x !== 'left').at(-1), 'live');
      },
      'live.beating': (s) => {
        assert.equal(writes.at(-1)?.op, 'heartbeat');
        assert.equal(writes.at(-1)?.status, s.context.status, 'the beat writes the current status');
      },
      'degraded.waiting': (s) => {
        assert.ok(s.context.failures > 0);
        assert.equal(said.at(-1), 'degraded');
      },
      'degraded.retrying': (s) => {
        assert.equal(writes.at(-1)?.op, 'register', 'degraded retries by re-registering');
        assert.equal(writes.at(-1)?.status, s.context.status);
      },
      leaving: () => assert.equal(writes.at(-1)?.op, 'deregister'),
      left: () => {
        assert.equal(said.at(-1), 'left');
        assert.equal(writes.filter((w) => w.op === 'deregister').length, 1, 'the record is removed once');
      },
    },
    afterPath: (sent, snap) => {
      const last = sent.filter((e) => e.type === 'STATUS').at(-1) as { status?: ClusterNodeStatus } | undefined;
      expectStatus = () => last?.status ?? 'open';
      assert.equal(snap.context.status, expectStatus(), sent.map((e) => JSON.stringify(e)).join(' > '));
    },
  });
}

test('cluster member machine: generated paths drive the real actor; an oracle checks every transition', async () => {
  const r = await run(clusterMemberMachine);
  for (const s of ['joining', 'live.waiting', 'live.beating', 'degraded.waiting', 'degraded.retrying', 'leaving', 'left']) {
    assert.ok(r.statesCovered.has(s), `state ${s} never reached`);
  }
});

test('cluster member machine: a drain while live is written at once, not at the next beat', () => {
  const writes: string[] = [];
  const a = createActor(clusterMemberMachine.provide({ actions: { heartbeat: (_, p) => void writes.push(p.status) } })).start();
  a.send({ type: 'STORE.OK' });
  assert.ok(a.getSnapshot().matches({ live: 'waiting' }));
  a.send({ type: 'STATUS', status: 'draining' });
  assert.deepEqual(writes, ['draining']);
  // Redis down, then back: the re-registration says draining too.
  const regs: string[] = [];
  const b = createActor(clusterMemberMachine.provide({ actions: { register: (_, p) => void regs.push(p.status) } })).start();
  b.send({ type: 'STORE.FAILED' });
  b.send({ type: 'STATUS', status: 'draining' });
  assert.ok(b.getSnapshot().matches({ degraded: 'waiting' }));
  assert.equal(b.getSnapshot().context.status, 'draining');
});

test('the cluster member model tests catch a planted bug (a failed beat that leaves the node live)', async () => {
  const clone = (v: unknown): unknown =>
    Array.isArray(v) ? v.map(clone) : v && typeof v === 'object' ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k, clone(x)])) : v;
  const cfg = clone(clusterMemberMachine.config) as { states: { live: { states: { beating: { on: Record<string, unknown> } } } } };
  cfg.states.live.states.beating.on['STORE.FAILED'] = 'waiting';
  const buggy = createMachine(cfg as never, clusterMemberMachine.implementations as never) as unknown as typeof clusterMemberMachine;
  await assert.rejects(run(buggy), /oracle: live\.beating --STORE\.FAILED--> expected degraded\.waiting/);
});
