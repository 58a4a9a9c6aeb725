// Model-based tests of the session timer machine (RFC 4028): generated paths drive the real actor
// through its real (simulated) clocks; an independent oracle, written from §7 and §10 apart from the
// machine, checks every reachable state × event; a planted bug is caught. Timings are checked on
// a SimulatedClock against the RFC's arithmetic.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createActor, createMachine, SimulatedClock, type EventObject } from 'xstate';
import { sipSessionTimerMachine, type SipSessionTimerEvent } from '../../machines/sipSessionTimer.machine.js';
import { runModel } from '../helpers/model.js';

const input = { role: 'uac' as const, minSE: 90 };

const events: SipSessionTimerEvent[] = [
  { type: 'OFFER', interval: 100 },
  { type: 'TOO_BRIEF', minSE: 300 },
  { type: 'TOO_BRIEF', minSE: 50 },
  { type: 'AGREE', interval: 120, refresher: 'local', useUpdate: true },
  { type: 'AGREE', interval: 120, refresher: 'remote', useUpdate: false },
  { type: 'AGREE', interval: 90, refresher: 'local', useUpdate: false },
  { type: 'DISARM' },
  { type: 'REFRESH.FAILED', status: 491 },
  { type: 'REFRESH.FAILED', status: 500 },
  { type: 'REFRESH.FAILED', status: 422, minSE: 600 },
  { type: 'REFRESH.FAILED', status: 422, minSE: 60 },
  { type: 'STOP' },
];

type Snap = { context: { interval: number; retried: boolean } };

/**
 * RFC 4028 as rules: the refresher refreshes at half the interval, the other side expires the
 * session; a 2xx with Session-Expires (AGREE) restarts either, one without (DISARM) ends it; a 491
 * to our refresh is retried after the glare delay, any other failure lets the session run out.
 */
function oracle(from: string, ev: EventObject, snap: { context: { interval: number } }): string | undefined {
  if (from === 'expired' || from === 'stopped') return undefined;
  if (ev.type === 'STOP') return 'stopped';
  const agreed = () => ((ev as { refresher?: string }).refresher === 'local' ? 'running.refreshDue' : 'running.watching');
  if (from === 'idle') {
    if (ev.type === 'OFFER') return 'offering';
    if (ev.type === 'AGREE') return agreed();
    return undefined;
  }
  if (from === 'offering') {
    if (ev.type === 'AGREE') return agreed();
    if (ev.type === 'DISARM') return 'idle';
    return undefined; // a 422 retries in place (or is ignored)
  }
  // running.*
  if (ev.type === 'AGREE') return agreed();
  if (ev.type === 'DISARM') return 'idle';
  const after = ev.type.startsWith('xstate.after.') ? ev.type.split('.')[2] : undefined;
  switch (from) {
    case 'running.refreshDue':
      return after === 'refresh' ? 'running.refreshing' : undefined;
    case 'running.refreshing':
      if (ev.type === 'REFRESH.FAILED') {
        const f = ev as unknown as { status: number; minSE?: number };
        if (f.status === 491) return 'running.glare';
        // A 422 asks for a longer interval: the refresh goes again with it (only if it is longer).
        return f.status === 422 && (f.minSE ?? 0) > snap.context.interval ? 'running.raised' : 'running.lapsing';
      }
      return undefined;
    case 'running.glare':
      return after === 'glare' ? 'running.refreshing' : undefined;
    case 'running.raised':
      return after === 'raised' ? 'running.refreshing' : undefined;
    case 'running.lapsing':
      return after === 'lapse' ? 'expired' : undefined;
    case 'running.watching':
      return after === 'expiry' ? 'expired' : undefined;
  }
  return undefined;
}

function run(machine: typeof sipSessionTimerMachine) {
  const wire: Array<{ type: string; params?: Record<string, unknown> }> = [];
  const m = machine.provide({
    actions: {
      resendInvite: (_, p) => void wire.push({ type: 'resendInvite', params: p }),
      sendRefresh: (_, p) => void wire.push({ type: 'sendRefresh', params: p }),
      expire: (_, p) => void wire.push({ type: 'expire', params: p }),
    },
    // Constant delays for the traversal (the interval varies); the arithmetic is tested below.
    delays: { refresh: 1000, expiry: 2000, lapse: 500, glare: 100, raised: 0 },
  });
  return runModel({
    machine: m,
    input,
    events: events as EventObject[],
    oracle: oracle as never,
    makeActor: (clock) => {
      wire.length = 0;
      return createActor(m, { input, clock });
    },
    states: {
      offering: (s) => {
        const resent = wire.filter((w) => w.type === 'resendInvite');
        assert.ok(resent.length <= 1, '§7.3: the INVITE goes again once at most');
        if (resent.length) assert.equal(resent[0]!.params!.interval, 300, 'with the 422 Min-SE as its Session-Expires');
        assert.equal((s as Snap).context.retried, resent.length === 1);
      },
      'running.refreshing': (s) => {
        const last = wire.at(-1)!;
        assert.equal(last.type, 'sendRefresh');
        assert.equal(last.params!.method, s.context.useUpdate ? 'UPDATE' : 'INVITE', 'UPDATE when the peer allows it, else re-INVITE');
      },
      'running.refreshDue': (s) => assert.equal(s.context.refresher, 'local', 'only the refresher refreshes'),
      'running.watching': (s) => assert.equal(s.context.refresher, 'remote', 'only the other side expires the session'),
      'running.glare': () => {},
      'running.raised': (s) => assert.ok(s.context.interval >= 600, 'the 422 raised the interval'),
      'running.lapsing': () => {},
      idle: () => {},
      expired: () => assert.equal(wire.at(-1)?.type, 'expire'),
      stopped: () => assert.notEqual(wire.at(-1)?.type, 'expire'),
    },
  });
}

test('session timer: generated paths drive the real actor; an RFC 4028 oracle checks every transition', async () => {
  const r = await run(sipSessionTimerMachine);
  for (const s of ['idle', 'offering', 'running.refreshDue', 'running.refreshing', 'running.glare', 'running.raised', 'running.lapsing', 'running.watching', 'expired', 'stopped']) {
    assert.ok(r.statesCovered.has(s), `state ${s} never reached`);
  }
});

test('session timer: the model tests catch a planted bug (the refresher waits for expiry instead of refreshing)', async () => {
  const cfg = sipSessionTimerMachine.config;
  const running = cfg.states!.running!;
  const buggy = createMachine(
    { ...cfg, states: { ...cfg.states, running: { ...running, states: { ...running.states, start: { always: { target: 'watching' } } } } } } as typeof cfg,
    sipSessionTimerMachine.implementations as never,
  ) as unknown as typeof sipSessionTimerMachine;
  await assert.rejects(run(buggy), /expected running\.refreshDue, machine went to running\.watching|only the other side expires the session/);
});

function clocked(role: 'uac' | 'uas' = 'uac') {
  const clock = new SimulatedClock();
  const wire: string[] = [];
  const m = sipSessionTimerMachine.provide({
    actions: {
      sendRefresh: (_, p) => void wire.push(`refresh ${p.method} ${p.interval}`),
      expire: () => void wire.push('expire'),
      resendInvite: (_, p) => void wire.push(`invite ${p.interval} ${p.minSE}`),
    },
  });
  const actor = createActor(m, { input: { role, minSE: 90 }, clock }).start();
  return { clock, wire, actor };
}

test('refresher: refreshes at half the interval; the 2xx to the refresh restarts the clock', () => {
  const { clock, wire, actor } = clocked();
  actor.send({ type: 'AGREE', interval: 1800, refresher: 'local', useUpdate: true });
  clock.increment(899_999);
  assert.deepEqual(wire, []);
  clock.increment(1);
  assert.deepEqual(wire, ['refresh UPDATE 1800']);
  actor.send({ type: 'AGREE', interval: 1800, refresher: 'local', useUpdate: true });
  clock.increment(899_999);
  assert.equal(wire.length, 1);
  clock.increment(1);
  assert.deepEqual(wire, ['refresh UPDATE 1800', 'refresh UPDATE 1800']);
});

test('non-refresher: BYE at the interval less min(32 s, a third); a refresh received restarts the clock', () => {
  for (const [interval, byeAt] of [[1800, 1768_000], [90, 60_000]] as const) {
    const { clock, wire, actor } = clocked('uas');
    actor.send({ type: 'AGREE', interval, refresher: 'remote', useUpdate: false });
    clock.increment(byeAt - 1);
    actor.send({ type: 'AGREE', interval, refresher: 'remote', useUpdate: false }); // the peer refreshed
    clock.increment(byeAt - 1);
    assert.deepEqual(wire, [], `${interval}: refreshed in time`);
    clock.increment(1);
    assert.deepEqual(wire, ['expire'], `${interval}: expires ${byeAt} ms after the last refresh`);
    assert.equal(actor.getSnapshot().status, 'done');
  }
});

test('a failed refresh lets the session run to the expiry the peer applies; 491 retries after glare', () => {
  const { clock, wire, actor } = clocked();
  actor.send({ type: 'AGREE', interval: 90, refresher: 'local', useUpdate: true });
  clock.increment(45_000);
  actor.send({ type: 'REFRESH.FAILED', status: 491 });
  clock.increment(2_000); // the default glare delay (the runtime provides a random one)
  assert.deepEqual(wire, ['refresh UPDATE 90', 'refresh UPDATE 90']);
  actor.send({ type: 'REFRESH.FAILED', status: 500 });
  clock.increment(14_999);
  assert.equal(wire.length, 2);
  clock.increment(1);
  assert.deepEqual(wire.at(-1), 'expire');
});

test('a refresh answered 422 goes again with the larger interval, and that interval is kept', () => {
  const { clock, wire, actor } = clocked();
  actor.send({ type: 'AGREE', interval: 90, refresher: 'local', useUpdate: true });
  clock.increment(45_000);
  actor.send({ type: 'REFRESH.FAILED', status: 422, minSE: 300 });
  clock.increment(0);
  assert.deepEqual(wire, ['refresh UPDATE 90', 'refresh UPDATE 300']);
  actor.send({ type: 'REFRESH.FAILED', status: 422, minSE: 300 }); // not larger: no loop
  assert.ok(actor.getSnapshot().matches({ running: 'lapsing' }));
});

test('422: the INVITE goes again once, with the larger interval; a 2xx without Session-Expires disarms', () => {
  const { clock, wire, actor } = clocked();
  actor.send({ type: 'OFFER', interval: 90 });
  actor.send({ type: 'TOO_BRIEF', minSE: 600 });
  actor.send({ type: 'TOO_BRIEF', minSE: 1200 });
  assert.deepEqual(wire, ['invite 600 600']);
  assert.equal(actor.getSnapshot().context.minSE, 600);
  actor.send({ type: 'DISARM' });
  clock.increment(10_000_000);
  assert.deepEqual(wire, ['invite 600 600']);
  assert.ok(actor.getSnapshot().matches('idle'));
});
