// Model-based test of the jambonz dial statechart: generated paths drive the real actor (its ring
// and time-limit timers included) for both answerOnBridge settings; an independent oracle (dial.js
// and single-dialer.js's rules, written apart from the machine) checks every reachable state ×
// event; B is always placed once and, whenever the caller goes or the verb is killed while B lives,
// hung up once; the bridge comes up only after B (and the caller) answered, is down exactly while
// a whisper plays, and comes back up after it; the caller's mute (mute:status) is what the last
// MUTE asked for on whatever bridge is up, the one rebuilt after a whisper included.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createActor, createMachine, type EventObject } from 'xstate';
import { jambonzDialMachine, dialStatusOf, type DialContext, type DialEvent, type DialInput } from '../../machines/jambonzDial.machine.js';
import { runModel } from '../helpers/model.js';

const legEvents = (leg: number): DialEvent[] => [
  { type: 'B.FAILED', leg, error: 'no route' },
  { type: 'B.PROGRESS', leg, code: 180 },
  { type: 'B.ANSWERED', leg },
  { type: 'B.ENDED', leg, code: 486 },
  { type: 'B.ENDED', leg, code: 487 },
  { type: 'B.ENDED', leg, code: 503 },
  { type: 'B.ENDED', leg },
];
const common: DialEvent[] = [
  { type: 'CALLER.ANSWERED' },
  { type: 'CALLER.ENDED' },
  { type: 'KILL' },
  { type: 'WHISPER', to: 'callee', verbs: [{ verb: 'say', text: 'hi' }] },
  { type: 'WHISPER.DONE' },
  { type: 'MUTE', party: 'caller', muted: true },
  { type: 'MUTE', party: 'caller', muted: false },
];
const eventsFor = (targets: number): DialEvent[] => [...legEvents(0), ...(targets > 1 ? [{ type: 'B.ANSWERED', leg: 1 } as DialEvent, { type: 'B.ENDED', leg: 1, code: 486 } as DialEvent, { type: 'B.PROGRESS', leg: 1, code: 180 } as DialEvent] : []), ...common];

/** What dial.js does, from the spec: the state after `ev`, or undefined to stay. */
function oracleFor(input: DialInput) {
  return (from: string, ev: EventObject, snap: { context: DialContext }): string | undefined => {
    const e = ev as DialEvent;
    const { live, winner } = snap.context;
    const leg = 'leg' in e ? e.leg : -1;
    const isTimeout = ev.type.includes('after') && ev.type.endsWith('outdialing');
    const isLimit = ev.type.includes('after') && ev.type.endsWith('bridged');
    if (from.startsWith('outdialing')) {
      if (isTimeout) return 'done';
      if (e.type === 'CALLER.ENDED' || e.type === 'KILL') return 'done';
      if (!live.includes(leg)) return undefined;
      if (e.type === 'B.ANSWERED') return input.answerOnBridge ? 'answeringCaller' : 'bridged.connected';
      // A leg over without answering: the dial is over once no leg is left.
      if (e.type === 'B.ENDED' || e.type === 'B.FAILED') return live.length === 1 ? 'done' : undefined;
      if (e.type === 'B.PROGRESS' && from === 'outdialing.trying') return 'outdialing.ringing';
      return undefined;
    }
    if (from === 'answeringCaller') {
      if (e.type === 'CALLER.ANSWERED') return 'bridged.connected';
      if (e.type === 'B.ENDED' && leg === winner) return 'done';
      if (e.type === 'CALLER.ENDED' || e.type === 'KILL') return 'done';
      return undefined;
    }
    if (from.startsWith('bridged')) {
      if (isLimit && input.timeLimitMs > 0) return 'done';
      if (e.type === 'B.ENDED' && leg === winner) return 'done';
      if (e.type === 'CALLER.ENDED' || e.type === 'KILL') return 'done';
      // dial.js whisper: unbridge, play, bridge again; one at a time.
      if (from === 'bridged.connected' && e.type === 'WHISPER') return 'bridged.whispering';
      if (from === 'bridged.whispering' && e.type === 'WHISPER.DONE') return 'bridged.connected';
    }
    return undefined;
  };
}

function run(machine: typeof jambonzDialMachine, input: DialInput) {
  const targets = input.targets ?? 1;
  let log: string[] = [];
  const m = machine.provide({
    actions: {
      placeCall: (_, p) => void log.push(`place:${p.legs.join(',')}`),
      ringCaller: () => void log.push('ring'),
      answerCaller: () => void log.push('answerA'),
      bridge: (_, p) => void log.push(`bridge:${p.leg}`, `bmute:caller:${p.muted.caller}`),
      applyMute: (_, p) => void log.push(`mute:${p.party}:${p.muted}`),
      unbridge: () => void log.push('unbridge'),
      startWhisper: (_, p) => void log.push(`whisper:${p.to}`),
      stopWhisper: () => void log.push('stopWhisper'),
      hangupB: (_, p) => {
        for (const l of p.legs) log.push(`hangup:${l}`);
      },
    },
  });
  const all = Array.from({ length: targets }, (_, i) => i).join(',');
  // The call-setup log: without rings, the bridge's downs and ups after the first, and whispers.
  const noRing = (): string[] => {
    const setup = log.filter((x) => x !== 'ring' && x !== 'unbridge' && !x.startsWith('whisper') && x !== 'stopWhisper' && !x.startsWith('mute:') && !x.startsWith('bmute:'));
    const first = setup.findIndex((x) => x.startsWith('bridge:'));
    return first < 0 ? setup : setup.filter((x, i) => i <= first || !x.startsWith('bridge:'));
  };
  /** The bridge is down exactly while a whisper plays: bridge/unbridge alternate, each whisper inside a down. */
  const bridgeLog = (): string[] => log.filter((x) => x.startsWith('bridge:') || x === 'unbridge' || x.startsWith('whisper:'));
  return runModel({
    machine: m,
    input,
    events: eventsFor(targets) as EventObject[],
    oracle: oracleFor(input) as never,
    makeActor: (clock) => {
      log = [];
      return createActor(m, { clock, input });
    },
    afterPath: (sent, snap) => {
      // The caller's mute on the bridge that is up: set when it was built, then changed in place.
      if ((snap as { matches(v: unknown): boolean }).matches({ bridged: 'connected' })) {
        const lastMute = (sent as DialEvent[]).filter((e) => e.type === 'MUTE').at(-1) as { muted: boolean } | undefined;
        let from = -1;
        log.forEach((x, i) => void (x.startsWith('bridge:') && (from = i)));
        let effective = log[from + 1] === 'bmute:caller:true';
        for (const x of log.slice(from + 2)) if (x.startsWith('mute:caller:')) effective = x === 'mute:caller:true';
        assert.equal(effective, lastMute?.muted ?? false, `the caller's mute on the live bridge (${sent.map((e) => e.type).join(' ')})`);
      }
      // Replayed from the events: the first leg to answer while every leg still rang wins; every
      // other leg is over by itself or hung up by us; none is left ringing once the dial is done.
      let first: number | undefined;
      const overBySelf = new Set<number>();
      for (const ev of sent as DialEvent[]) {
        if (first === undefined && ev.type === 'B.ANSWERED' && !overBySelf.has(ev.leg)) first = ev.leg;
        if (first === undefined && (ev.type === 'B.ENDED' || ev.type === 'B.FAILED')) overBySelf.add(ev.leg);
        if (ev.type === 'B.ENDED' && ev.leg === first) overBySelf.add(ev.leg);
      }
      const bridged = log.find((x) => x.startsWith('bridge:'));
      if (bridged) assert.equal(bridged, `bridge:${first}`, 'the first leg to answer is the one bridged');
      for (let leg = 0; leg < targets; leg++) {
        const ours = log.filter((x) => x === `hangup:${leg}`).length;
        const lateAnswers = first !== undefined && leg !== first ? (sent as DialEvent[]).filter((e, i) => e.type === 'B.ANSWERED' && e.leg === leg && i > (sent as DialEvent[]).findIndex((x) => x.type === 'B.ANSWERED')).length : 0;
        assert.ok(ours <= 1 + lateAnswers, `leg ${leg} hung up ${ours} times`);
        if (snap.status === 'done' && !overBySelf.has(leg)) assert.ok(ours >= 1, `leg ${leg} is left up after the dial (${sent.map((e) => e.type + ('leg' in e ? String(e.leg) : '')).join(' ')})`);
      }
      if (snap.status === 'done' && targets === 1) {
        const last = sent[sent.length - 1]!.type;
        const byUs = last === 'CALLER.ENDED' || last === 'KILL' || last.startsWith('xstate.after');
        assert.equal(log.filter((x) => x === 'hangup:0').length, byUs ? 1 : 0, `hangupB after ${last}`);
      }
    },
    states: {
      'outdialing.trying': () => assert.deepEqual(noRing().filter((x) => !x.startsWith('hangup')), [`place:${all}`]),
      'outdialing.ringing': () => {
        assert.deepEqual(noRing().filter((x) => !x.startsWith('hangup')), [`place:${all}`]);
        assert.equal(log.filter((x) => x === 'ring').length, input.answerOnBridge ? 1 : 0, 'the caller hears B ring once, only while it rings itself');
      },
      answeringCaller: () => assert.deepEqual(noRing().filter((x) => !x.startsWith('hangup')), [`place:${all}`, 'answerA']),
      'bridged.whispering': (s) => {
        const b = bridgeLog();
        assert.equal(b.at(-1), 'whisper:callee', 'the whisper plays');
        assert.equal(b.at(-2), 'unbridge', 'the bridge is down while the whisper plays');
        assert.equal(log.filter((x) => x === `bridge:${s.context.winner}`).length, log.filter((x) => x === 'stopWhisper').length + 1);
      },
      'bridged.connected': (s) => {
        const b = bridgeLog();
        assert.equal(b.at(-1), `bridge:${s.context.winner}`, 'bridged (again) after each whisper');
        assert.equal(log.filter((x) => x.startsWith('whisper:')).length, log.filter((x) => x === 'stopWhisper').length);
        const want = input.answerOnBridge ? [`place:${all}`, 'answerA', `bridge:${s.context.winner}`] : [`place:${all}`, `bridge:${s.context.winner}`];
        assert.deepEqual(noRing().filter((x) => !x.startsWith('hangup')), want);
        assert.deepEqual(s.context.live, [], 'once bridged no other leg is live');
      },
      done: (s) => {
        assert.equal(log.filter((x) => x.startsWith('place')).length, 1, 'legs placed once');
        if (log.some((x) => x.startsWith('bridge')) || log.includes('answerA')) assert.equal(s.context.status, 'completed');
        assert.ok(s.output, 'done has output');
      },
    },
  });
}

test('dial machine (answerOnBridge, timeLimit): generated paths drive the real actor; an oracle checks every transition', async () => {
  const r = await run(jambonzDialMachine, { answerOnBridge: true, timeoutMs: 60_000, timeLimitMs: 30_000 });
  for (const s of ['outdialing.trying', 'outdialing.ringing', 'answeringCaller', 'bridged.connected', 'bridged.whispering', 'done']) assert.ok(r.statesCovered.has(s), `state ${s} never reached`);
});

test('dial machine (caller answered first, no timeLimit): the same oracle; the bridge has no timer', async () => {
  const r = await run(jambonzDialMachine, { answerOnBridge: false, timeoutMs: 60_000, timeLimitMs: 0 });
  for (const s of ['outdialing.trying', 'outdialing.ringing', 'bridged.connected', 'bridged.whispering', 'done']) assert.ok(r.statesCovered.has(s), `state ${s} never reached`);
  assert.ok(!r.statesCovered.has('answeringCaller'));
});

test('dial machine (two targets rung at once): the first to answer wins, the other is cancelled or hung up; nobody is left ringing', async () => {
  const r = await run(jambonzDialMachine, { answerOnBridge: true, timeoutMs: 60_000, timeLimitMs: 30_000, targets: 2 });
  for (const s of ['outdialing.trying', 'outdialing.ringing', 'answeringCaller', 'bridged.connected', 'done']) assert.ok(r.statesCovered.has(s), `state ${s} never reached`);
});

test('dial outcomes map like single-dialer.js (and the machine reports them)', () => {
  assert.deepEqual(dialStatusOf(487), { status: 'no-answer', sipStatus: 487 });
  assert.deepEqual(dialStatusOf(486), { status: 'busy', sipStatus: 486 });
  assert.deepEqual(dialStatusOf(600), { status: 'busy', sipStatus: 600 });
  assert.deepEqual(dialStatusOf(404), { status: 'failed', sipStatus: 404 });
  assert.deepEqual(dialStatusOf(undefined), { status: 'failed', sipStatus: 500 });
  const a = createActor(jambonzDialMachine, { input: { answerOnBridge: false, timeoutMs: 1000, timeLimitMs: 0 } }).start();
  a.send({ type: 'B.PROGRESS', leg: 0, code: 180 });
  a.send({ type: 'B.ENDED', leg: 0, code: 486 });
  assert.deepEqual(a.getSnapshot().output, { status: 'busy', sipStatus: 486, reason: 'not-answered' });
  const b = createActor(jambonzDialMachine, { input: { answerOnBridge: false, timeoutMs: 1000, timeLimitMs: 0 } }).start();
  b.send({ type: 'B.ANSWERED', leg: 0 });
  b.send({ type: 'B.ENDED', leg: 0 });
  assert.deepEqual(b.getSnapshot().output, { status: 'completed', sipStatus: 200, reason: 'b-ended', winner: 0 });
  // Three legs ring; leg 1 answers: 0 and 2 are cancelled; leg 2 answering anyway gets a BYE.
  const hung: number[][] = [];
  const c = createActor(jambonzDialMachine.provide({ actions: { hangupB: (_, p) => void hung.push(p.legs) } }), { input: { answerOnBridge: false, timeoutMs: 1000, timeLimitMs: 0, targets: 3 } }).start();
  c.send({ type: 'B.ENDED', leg: 0, code: 486 });
  c.send({ type: 'B.ANSWERED', leg: 1 });
  assert.deepEqual(hung, [[2]]);
  c.send({ type: 'B.ANSWERED', leg: 2 });
  assert.deepEqual(hung, [[2], [2]]);
  c.send({ type: 'B.ENDED', leg: 1 });
  assert.deepEqual(c.getSnapshot().output, { status: 'completed', sipStatus: 200, reason: 'b-ended', winner: 1 });
  // Every leg refuses: the last result is the dial's.
  const d = createActor(jambonzDialMachine, { input: { answerOnBridge: false, timeoutMs: 1000, timeLimitMs: 0, targets: 2 } }).start();
  d.send({ type: 'B.ENDED', leg: 1, code: 486 });
  assert.equal(d.getSnapshot().status, 'active');
  d.send({ type: 'B.ENDED', leg: 0, code: 404 });
  assert.deepEqual(d.getSnapshot().output, { status: 'failed', sipStatus: 404, reason: 'not-answered' });
});

test('the dial model tests catch a planted bug (a caller hangup while B rings leaves B ringing)', async () => {
  const clone = (v: unknown): unknown =>
    Array.isArray(v) ? v.map(clone) : v && typeof v === 'object' ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k, clone(x)])) : v;
  const cfg = clone(jambonzDialMachine.config) as { states: { outdialing: { on: Record<string, unknown> } } };
  delete cfg.states.outdialing.on['CALLER.ENDED'];
  const buggy = createMachine(cfg as never, jambonzDialMachine.implementations as never) as unknown as typeof jambonzDialMachine;
  await assert.rejects(run(buggy, { answerOnBridge: true, timeoutMs: 60_000, timeLimitMs: 30_000 }), /oracle/);
});

test('the dial model tests catch a planted bug (simultaneous ringing: the winner does not cancel the other legs)', async () => {
  const clone = (v: unknown): unknown =>
    Array.isArray(v) ? v.map(clone) : v && typeof v === 'object' ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k, clone(x)])) : v;
  const cfg = clone(jambonzDialMachine.config) as { states: { outdialing: { on: { 'B.ANSWERED': { actions: unknown[] } } } } };
  cfg.states.outdialing.on['B.ANSWERED'].actions = cfg.states.outdialing.on['B.ANSWERED'].actions.slice(0, 1);
  const buggy = createMachine(cfg as never, jambonzDialMachine.implementations as never) as unknown as typeof jambonzDialMachine;
  await assert.rejects(run(buggy, { answerOnBridge: false, timeoutMs: 60_000, timeLimitMs: 0, targets: 2 }), /left up|live/);
});

test('the dial model tests catch a planted bug (a whisper played over a live bridge)', async () => {
  const clone = (v: unknown): unknown =>
    Array.isArray(v) ? v.map(clone) : v && typeof v === 'object' ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k, clone(x)])) : v;
  const cfg = clone(jambonzDialMachine.config) as { states: { bridged: { states: { connected: Record<string, unknown> } } } };
  delete cfg.states.bridged.states.connected.exit;
  const buggy = createMachine(cfg as never, jambonzDialMachine.implementations as never) as unknown as typeof jambonzDialMachine;
  await assert.rejects(run(buggy, { answerOnBridge: false, timeoutMs: 60_000, timeLimitMs: 0 }), /the bridge is down while the whisper plays/);
});

/** mute:status around a whisper, checked against dial.js: the muted party stays muted on the bridge rebuilt after it. */
function muteScenario(machine: typeof jambonzDialMachine): void {
  const log: string[] = [];
  const a = createActor(
    machine.provide({
      actions: {
        bridge: (_, p) => void log.push(`bridge caller:${p.muted.caller} callee:${p.muted.callee}`),
        applyMute: (_, p) => void log.push(`mute ${p.party}:${p.muted}`),
      },
    }),
    { input: { answerOnBridge: false, timeoutMs: 60_000, timeLimitMs: 0 } },
  ).start();
  a.send({ type: 'MUTE', party: 'callee', muted: true }); // before the answer: kept for the bridge
  a.send({ type: 'B.ANSWERED', leg: 0 });
  a.send({ type: 'MUTE', party: 'caller', muted: true });
  a.send({ type: 'WHISPER', to: 'callee', verbs: [] });
  a.send({ type: 'WHISPER.DONE' });
  a.send({ type: 'MUTE', party: 'callee', muted: false });
  assert.deepEqual(log, ['mute callee:true', 'bridge caller:false callee:true', 'mute caller:true', 'bridge caller:true callee:true', 'mute callee:false']);
  a.stop();
}

test('mute:status in a dial: a mute asked for before the answer or before a whisper holds on the bridge built after it', () => {
  muteScenario(jambonzDialMachine);
});

test('the dial mute scenario catches a planted bug (the bridge rebuilt after a whisper forgets the caller’s mute)', () => {
  const clone = (v: unknown): unknown =>
    Array.isArray(v) ? v.map(clone) : v && typeof v === 'object' ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k, clone(x)])) : v;
  const cfg = clone(jambonzDialMachine.config) as { states: { bridged: { states: { connected: Record<string, unknown> } } } };
  cfg.states.bridged.states.connected.entry = { type: 'bridge', params: ({ context }: { context: DialContext }) => ({ leg: context.winner ?? 0, muted: { caller: false, callee: false } }) };
  const buggy = createMachine(cfg as never, jambonzDialMachine.implementations as never) as unknown as typeof jambonzDialMachine;
  assert.throws(() => muteScenario(buggy), /deepStrictEqual|Expected values/);
});
