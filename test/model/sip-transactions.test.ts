// Model-based tests for the four RFC 3261 §17 transaction machines.
//
// Why not plain createTestModel(machine): xstate/graph refuses machines with `after`
// transitions, and these machines are mostly timers. So each machine is wrapped in a "timed"
// logic built on xstate's pure transition(): it keeps the delayed events the machine schedules
// (with their resolved delays) and cancels, and offers as the next timer event only the one that
// is really due first. TestModel (the class createTestModel builds) traverses that logic, and
// every path drives a fresh REAL actor on a SimulatedClock: timer events become
// clock.increment(ms), everything else actor.send(). After each step the actor must agree with
// the model (state, context, time), and independent RFC checks run against what the actor did
// (action log with clock times), plus a transition oracle written from the RFC figures.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { TestModel } from 'xstate/graph';
import {
  createActor,
  createMachine,
  initialTransition,
  SimulatedClock,
  transition,
  type AnyActorLogic,
  type AnyMachineSnapshot,
  type AnyStateMachine,
  type EventObject,
} from 'xstate';
import {
  sipInviteClientTransactionMachine as ict,
  sipInviteServerTransactionMachine as ist,
  sipNonInviteClientTransactionMachine as nict,
  sipNonInviteServerTransactionMachine as nist,
} from '../../machines/index.js';
import { defaultSipTimers, sipTimerConfig, type SipTimerConfig } from '../../machines/sipTimers.js';

// ---------------------------------------------------------------------------------------------
// Timed model harness

interface PendingTimer {
  id: string;
  type: string;
  due: number;
}

interface TimedSnapshot {
  snap: AnyMachineSnapshot;
  now: number;
  timers: PendingTimer[];
  status: 'active' | 'done' | 'error' | 'stopped';
  output: unknown;
  error: unknown;
}

type TimerEvent = EventObject & { afterMs: number };

const isTimerEvent = (e: EventObject): e is TimerEvent => e.type.startsWith('xstate.after.');
/** `xstate.after.timerA.sipInviteClientTransaction.calling.retransmitting` → `timerA`. */
const timerName = (type: string): string => type.split('.')[2]!;

function timedLogic(machine: AnyStateMachine, input: unknown) {
  const schedule = (timers: PendingTimer[], actions: Array<{ type: string; params?: unknown }>, now: number): PendingTimer[] => {
    let next = [...timers];
    for (const a of actions) {
      const p = a.params as { sendId?: string; id?: string; delay?: unknown; event?: EventObject } | undefined;
      if (a.type === 'xstate.cancel') next = next.filter((t) => t.id !== p!.sendId);
      if (a.type === 'xstate.raise' && typeof p?.delay === 'number') {
        next = next.filter((t) => t.id !== p.id);
        next.push({ id: p.id!, type: p.event!.type, due: now + p.delay });
      }
    }
    return next;
  };
  const wrap = (snap: AnyMachineSnapshot, now: number, timers: PendingTimer[]): TimedSnapshot => ({
    snap,
    now,
    // A done actor is stopped, and stopping cancels whatever it had scheduled.
    timers: snap.status === 'active' ? timers : [],
    status: snap.status,
    output: snap.output,
    error: snap.error,
  });
  return {
    config: machine.config,
    getInitialSnapshot: () => {
      const [snap, actions] = initialTransition(machine as AnyActorLogic, input as never);
      return wrap(snap as AnyMachineSnapshot, 0, schedule([], actions as never, 0));
    },
    transition: (ts: TimedSnapshot, event: EventObject): TimedSnapshot => {
      if (ts.status !== 'active') return ts;
      let { now, timers } = ts;
      if (isTimerEvent(event)) {
        const due = timers.find((t) => t.type === event.type);
        if (!due) return ts;
        now = due.due;
        timers = timers.filter((t) => t !== due);
      }
      const [snap, actions] = transition(machine as AnyActorLogic, ts.snap as never, event as never);
      return wrap(snap as AnyMachineSnapshot, now, schedule(timers, actions as never, now));
    },
    getPersistedSnapshot: (ts: TimedSnapshot) => ts,
  };
}

/** The timer that fires next, as a model event carrying how far the clock must move. */
function nextTimerEvents(ts: TimedSnapshot): TimerEvent[] {
  if (ts.status !== 'active' || ts.timers.length === 0) return [];
  const first = Math.min(...ts.timers.map((t) => t.due));
  const due = ts.timers.filter((t) => t.due === first);
  // Simultaneous timers would make the real firing order an accident of the clock's sort.
  assert.equal(due.length, 1, `timers due at the same instant: ${due.map((t) => t.type).join(', ')}`);
  return [{ type: due[0]!.type, afterMs: first - ts.now }];
}

interface LogEntry {
  action: string;
  at: number;
  params: Record<string, unknown>;
}

interface PathRun {
  log: LogEntry[];
  /** Events actually applied, with the clock time they were applied at. */
  events: Array<{ event: EventObject; at: number; live: boolean }>;
  /** When each RFC state was (first, per visit) entered. */
  enteredAt: Map<string, number>;
  now: number;
}

interface MachineSpec {
  name: string;
  machine: AnyStateMachine;
  /** Non-assign actions, spied on the real actor. */
  effects: string[];
  samples: (ts: TimedSnapshot) => EventObject[];
  /** RFC state name of a snapshot (the figures' boxes). */
  rfcState: (snap: AnyMachineSnapshot) => string;
  /** The RFC figure as a transition table: next RFC state for an event, undefined = stay. */
  oracle: (from: string, event: EventObject, cfg: SipTimerConfig) => string | undefined;
  /** One-shot timers: which RFC state's entry they count from, and their value. */
  deadlines: (cfg: SipTimerConfig) => Record<string, { from: string; ms: number }>;
  /** Independent RFC checks run on the real actor after every step. */
  check: (run: PathRun, snap: AnyMachineSnapshot, cfg: SipTimerConfig) => void;
  /** Context counters that grow with absorbed duplicates; the traversal stops them at 2 to keep the graph finite. */
  capped: string[];
}

interface ModelReport {
  paths: number;
  steps: number;
  rfcStates: Set<string>;
  timers: Set<string>;
}

function modelFor(spec: MachineSpec, cfg: SipTimerConfig) {
  const logic = timedLogic(spec.machine, cfg);
  return new TestModel(logic as never, {
    events: ((ts: TimedSnapshot) => (ts.status === 'active' ? [...spec.samples(ts), ...nextTimerEvents(ts)] : [])) as never,
    // Absorbing one more duplicate only bumps a counter; past two, the graph would never close.
    filterEvents: ((ts: TimedSnapshot, ev: EventObject) => {
      const ctx = logic.transition(ts, ev).snap.context as Record<string, unknown>;
      return spec.capped.every((k) => typeof ctx[k] !== 'number' || (ctx[k] as number) <= 2);
    }) as never,
    serializeState: ((ts: TimedSnapshot) => {
      const ctx = ts.snap.context as Record<string, unknown>;
      const timers = ts.timers.map((t) => `${t.type}@${t.due - ts.now}`).sort();
      return JSON.stringify([ts.snap.value, ctx, timers, ts.status]);
    }) as never,
    stateMatcher: ((ts: TimedSnapshot, key: string) => key === '*' || spec.rfcState(ts.snap) === key) as never,
  });
}

async function runModel(spec: MachineSpec, cfg: SipTimerConfig, kind: 'shortest' | 'simple'): Promise<ModelReport> {
  const model = modelFor(spec, cfg);
  const paths = kind === 'shortest' ? model.getShortestPaths() : model.getSimplePaths();
  assert.ok(paths.length > 0, 'no paths generated');
  const report: ModelReport = { paths: paths.length, steps: 0, rfcStates: new Set(), timers: new Set() };
  const deadlines = spec.deadlines(cfg);

  for (const path of paths) {
    const clock = new SimulatedClock();
    const run: PathRun = { log: [], events: [], enteredAt: new Map(), now: 0 };
    const spies = Object.fromEntries(
      spec.effects.map((name) => [name, (_: unknown, params: unknown) => run.log.push({ action: name, at: clock.now(), params: (params ?? {}) as Record<string, unknown> })]),
    );
    const actor = createActor(spec.machine.provide({ actions: spies as never }), { input: cfg as never, clock });
    actor.start();
    let rfc = spec.rfcState(actor.getSnapshot());
    run.enteredAt.set(rfc, 0);
    const trail = path.steps.map((s) => s.event.type.replace(/^xstate\.after\.(\w+)\..*$/, '⏱$1')).join(' → ');

    const exec = (step: { event: EventObject; state: TimedSnapshot }) => {
      report.steps++;
      const before = rfc;
      const live = actor.getSnapshot().status === 'active';
      if (isTimerEvent(step.event)) {
        clock.increment(step.event.afterMs);
        report.timers.add(timerName(step.event.type));
      } else {
        actor.send(step.event as never);
      }
      run.now = clock.now();
      run.events.push({ event: step.event, at: clock.now(), live });
      const snap = actor.getSnapshot();
      rfc = spec.rfcState(snap);
      if (rfc !== before) run.enteredAt.set(rfc, clock.now());
      // The real actor, on a real (simulated) clock, must be where the model says.
      assert.deepEqual(snap.value, step.state.snap.value, `${trail}: value`);
      assert.deepEqual(snap.context, step.state.snap.context, `${trail}: context`);
      assert.equal(snap.status, step.state.status, `${trail}: status`);
      assert.equal(clock.now(), step.state.now, `${trail}: clock`);
      if (isTimerEvent(step.event)) {
        const d = deadlines[timerName(step.event.type)];
        if (d) assert.equal(clock.now() - run.enteredAt.get(d.from)!, d.ms, `${trail}: ${timerName(step.event.type)} must fire ${d.ms} ms after entering ${d.from}`);
      }
    };
    const events = Object.fromEntries(
      [...new Set(path.steps.map((s) => s.event.type))].map((type) => [type, exec]),
    );
    const check = () => {
      const snap = actor.getSnapshot();
      report.rfcStates.add(spec.rfcState(snap));
      spec.check(run, snap, cfg);
    };
    try {
      await path.test({ states: { '*': check } as never, events: events as never });
    } catch (err) {
      (err as Error).message = `[${spec.name}] ${trail}\n${(err as Error).message.split('\nPath:')[0]}`;
      throw err;
    }
    actor.stop();
  }

  // Oracle: every reachable state, every event the model may send there, against the RFC figure.
  for (const path of paths) {
    for (const step of path.steps) {
      const ts = step.state as TimedSnapshot;
      if (ts.status !== 'active') continue;
      const from = spec.rfcState(ts.snap);
      for (const ev of [...spec.samples(ts), ...nextTimerEvents(ts)]) {
        const want = spec.oracle(from, ev, cfg) ?? from;
        const got = spec.rfcState(logic_next(spec.machine, ts, ev));
        assert.equal(got, want, `[${spec.name}] oracle: ${from} --${ev.type}${'status' in ev ? ` ${String(ev.status)}` : ''}--> expected ${want}, machine went to ${got}`);
      }
    }
  }
  return report;
}

function logic_next(machine: AnyStateMachine, ts: TimedSnapshot, ev: EventObject): AnyMachineSnapshot {
  return transition(machine as AnyActorLogic, ts.snap as never, ev as never)[0] as AnyMachineSnapshot;
}

// ---------------------------------------------------------------------------------------------
// Shared RFC helpers (written from RFC 3261 §17, independently of the machines)

const cls = (status: number) => (status < 200 ? '1xx' : status < 300 ? '2xx' : 'final');
const count = (run: PathRun, action: string, pred: (p: Record<string, unknown>) => boolean = () => true) =>
  run.log.filter((l) => l.action === action && pred(l.params)).length;
const timesOf = (run: PathRun, action: string, pred: (p: Record<string, unknown>) => boolean = () => true) =>
  run.log.filter((l) => l.action === action && pred(l.params)).map((l) => l.at);
const firstEventAt = (run: PathRun, type: string) => run.events.find((e) => e.event.type === type)?.at;

/** Times of Timer A/G style retransmissions: start at `start`, first interval T1, doubling, optional cap. */
function backoffSchedule(start: number, t1: number, cap: number | undefined, n: number): number[] {
  const out: number[] = [];
  let at = start;
  let interval = t1;
  for (let i = 0; i < n; i++) {
    at += interval;
    out.push(at);
    interval = cap === undefined ? interval * 2 : Math.min(interval * 2, cap);
  }
  return out;
}

const responses = (statuses: number[]) => statuses.map((status) => ({ type: 'RESPONSE.RECEIVED', status, response: `R${status}` }));
const tuResponses = (statuses: number[]) => statuses.map((status) => ({ type: 'TU.RESPONSE', status, response: `R${status}` }));

// ---------------------------------------------------------------------------------------------
// INVITE client transaction (§17.1.1, Figure 5 + RFC 6026)

const ictSpec: MachineSpec = {
  name: 'INVITE client',
  machine: ict,
  effects: ['transmitRequest', 'retransmitRequest', 'sendAck', 'passToTU', 'notifyTimeout', 'notifyTransportError'],
  samples: () => [{ type: 'SEND', request: 'INVITE' }, ...responses([100, 180, 200, 486]), { type: 'TRANSPORT.ERROR', error: 'ECONNREFUSED' }],
  rfcState: (s) => (s.status === 'done' ? 'terminated' : typeof s.value === 'string' ? s.value : Object.keys(s.value)[0]!),
  oracle: (from, ev) => {
    const status = (ev as { status?: number }).status;
    const timer = isTimerEvent(ev) ? timerName(ev.type) : undefined;
    switch (from) {
      case 'idle':
        return ev.type === 'SEND' ? 'calling' : undefined;
      case 'calling':
        if (timer === 'timerA') return 'calling';
        if (timer === 'timerB' || ev.type === 'TRANSPORT.ERROR') return 'terminated';
        if (status !== undefined) return { '1xx': 'proceeding', '2xx': 'accepted', final: 'completed' }[cls(status)];
        return undefined;
      case 'proceeding':
        if (status !== undefined) return { '1xx': 'proceeding', '2xx': 'accepted', final: 'completed' }[cls(status)];
        return undefined;
      case 'completed':
        return timer === 'timerD' || ev.type === 'TRANSPORT.ERROR' ? 'terminated' : undefined;
      case 'accepted':
        return timer === 'timerM' ? 'terminated' : undefined;
    }
    return undefined;
  },
  deadlines: (cfg) => ({
    timerB: { from: 'calling', ms: 64 * cfg.t1 },
    timerD: { from: 'completed', ms: cfg.reliable ? 0 : 32_000 },
    timerM: { from: 'accepted', ms: 64 * cfg.t1 },
  }),
  capped: ['acksSent'],
  check: (run, snap, cfg) => {
    const sentAt = firstEventAt(run, 'SEND');
    const ctx = snap.context as { retransmissions: number; acksSent: number };
    assert.equal(count(run, 'transmitRequest'), sentAt === undefined ? 0 : 1, 'the INVITE is transmitted exactly once by the TU request');
    // Timer A: T1, 2T1, 4T1… after the first send, only while Calling, never on reliable transports.
    const retransmits = timesOf(run, 'retransmitRequest');
    if (cfg.reliable) assert.deepEqual(retransmits, [], 'no Timer A on a reliable transport');
    else assert.deepEqual(retransmits, backoffSchedule(sentAt ?? 0, cfg.t1, undefined, retransmits.length), 'Timer A schedule');
    assert.equal(ctx.retransmissions, retransmits.length, 'context counts retransmissions');
    const leftCalling = run.events.find((e) => ['RESPONSE.RECEIVED', 'TRANSPORT.ERROR'].includes(e.event.type))?.at;
    if (leftCalling !== undefined) assert.ok(retransmits.every((t) => t <= leftCalling), 'no retransmission after a response');
    // ACK: only for 300-699, once per received non-2xx final (retransmissions included).
    assert.ok(run.log.filter((l) => l.action === 'sendAck').every((l) => (l.params.status as number) >= 300), 'ACK only for non-2xx');
    assert.equal(ctx.acksSent, count(run, 'sendAck'));
    // The TU sees a non-2xx final once, but every 2xx the live transaction receives once the
    // INVITE went, before or after a non-2xx final (§13.2.2.4: the TU ACKs each, and sends a BYE
    // to one that follows a failure).
    assert.ok(count(run, 'passToTU', (p) => (p.status as number) >= 300) <= 1, 'retransmitted non-2xx absorbed');
    const sent = run.events.findIndex((e) => e.event.type === 'SEND' && e.live);
    const got2xx = sent < 0 ? 0 : run.events.slice(sent).filter((e) => e.live && e.event.type === 'RESPONSE.RECEIVED' && cls((e.event as EventObject & { status: number }).status) === '2xx').length;
    assert.equal(count(run, 'passToTU', (p) => cls(p.status as number) === '2xx'), got2xx, 'every 2xx reaches the TU');
    for (const t of timesOf(run, 'notifyTimeout')) assert.equal(t - sentAt!, 64 * cfg.t1, 'Timer B = 64*T1');
    if (snap.status === 'done') {
      const out = snap.output as { outcome: string; status?: number };
      if (count(run, 'notifyTimeout')) assert.equal(out.outcome, 'timeout');
      else if (count(run, 'notifyTransportError')) assert.equal(out.outcome, 'transport-error');
      else assert.equal(out.outcome, 'final-response');
    }
  },
};

// ---------------------------------------------------------------------------------------------
// Non-INVITE client transaction (§17.1.2, Figure 6)

const nictPhase = (s: AnyMachineSnapshot) => {
  if (s.status === 'done') return 'terminated';
  if (typeof s.value === 'string') return s.value;
  return (s.value as { active: { phase: string } }).active.phase;
};

/**
 * Timer E fire times per the RFC, replayed over the events of a run: the interval doubles up
 * to T2 while Trying, and a firing that happens in Proceeding resets it to T2.
 */
function timerESchedule(run: PathRun, cfg: SipTimerConfig): number[] {
  const out: number[] = [];
  let proceeding = false;
  let next: number | undefined;
  let interval = cfg.t1;
  for (const { event, at } of run.events) {
    if (event.type === 'SEND') next = at + cfg.t1;
    if (event.type === 'RESPONSE.RECEIVED' && (event as EventObject & { status: number }).status < 200) proceeding = true;
    if (isTimerEvent(event) && timerName(event.type) === 'timerE') {
      out.push(next!);
      interval = proceeding ? cfg.t2 : Math.min(interval * 2, cfg.t2);
      next = next! + interval;
    }
  }
  return out;
}

const nictSpec: MachineSpec = {
  name: 'non-INVITE client',
  machine: nict,
  effects: ['transmitRequest', 'retransmitRequest', 'passToTU', 'notifyTimeout', 'notifyTransportError'],
  samples: () => [{ type: 'SEND', request: 'OPTIONS' }, ...responses([100, 180, 200, 404]), { type: 'TRANSPORT.ERROR', error: 'EHOSTUNREACH' }],
  rfcState: nictPhase,
  oracle: (from, ev) => {
    const status = (ev as { status?: number }).status;
    const timer = isTimerEvent(ev) ? timerName(ev.type) : undefined;
    switch (from) {
      case 'idle':
        return ev.type === 'SEND' ? 'trying' : undefined;
      case 'trying':
      case 'proceeding':
        if (timer === 'timerE') return from;
        if (timer === 'timerF' || ev.type === 'TRANSPORT.ERROR') return 'terminated';
        if (status !== undefined) return cls(status) === '1xx' ? 'proceeding' : 'completed';
        return undefined;
      case 'completed':
        return timer === 'timerK' ? 'terminated' : undefined;
    }
    return undefined;
  },
  deadlines: (cfg) => ({
    // F runs from the request being sent, through Trying and Proceeding.
    timerF: { from: 'trying', ms: 64 * cfg.t1 },
    timerK: { from: 'completed', ms: cfg.reliable ? 0 : cfg.t4 },
  }),
  capped: ['absorbed'],
  check: (run, snap, cfg) => {
    const sentAt = firstEventAt(run, 'SEND');
    const ctx = snap.context as { retransmissions: number };
    assert.equal(count(run, 'transmitRequest'), sentAt === undefined ? 0 : 1);
    const retransmits = timesOf(run, 'retransmitRequest');
    if (cfg.reliable) assert.deepEqual(retransmits, [], 'no Timer E on a reliable transport');
    else assert.deepEqual(retransmits, timerESchedule(run, cfg), 'Timer E schedule');
    assert.equal(ctx.retransmissions, retransmits.length);
    const finalAt = run.events.find((e) => e.event.type === 'RESPONSE.RECEIVED' && ((e.event as EventObject & { status: number }).status >= 200))?.at;
    if (finalAt !== undefined) assert.ok(retransmits.every((t) => t <= finalAt), 'no retransmission after a final response');
    assert.ok(count(run, 'passToTU', (p) => (p.status as number) >= 200) <= 1, 'retransmitted finals absorbed');
    for (const t of timesOf(run, 'notifyTimeout')) assert.equal(t - sentAt!, 64 * cfg.t1, 'Timer F = 64*T1');
  },
};

// ---------------------------------------------------------------------------------------------
// INVITE server transaction (§17.2.1, Figure 7 + RFC 6026)

const istSpec: MachineSpec = {
  name: 'INVITE server',
  machine: ist,
  effects: ['passToTU', 'transmitResponse', 'notifyTimeout', 'notifyTransportError'],
  samples: () => [
    { type: 'REQUEST.RECEIVED', request: 'INVITE' },
    { type: 'REQUEST.RETRANSMITTED' },
    ...tuResponses([180, 200, 486]),
    { type: 'ACK.RECEIVED', request: 'ACK' },
    { type: 'TRANSPORT.ERROR', error: 'EPIPE' },
  ],
  rfcState: (s) => (s.status === 'done' ? 'terminated' : typeof s.value === 'string' ? s.value : Object.keys(s.value)[0]!),
  oracle: (from, ev) => {
    const status = (ev as { status?: number }).status;
    const timer = isTimerEvent(ev) ? timerName(ev.type) : undefined;
    switch (from) {
      case 'idle':
        return ev.type === 'REQUEST.RECEIVED' ? 'proceeding' : undefined;
      case 'proceeding':
        if (ev.type === 'TRANSPORT.ERROR') return 'terminated';
        if (ev.type === 'TU.RESPONSE') return { '1xx': 'proceeding', '2xx': 'accepted', final: 'completed' }[cls(status!)];
        return undefined;
      case 'completed':
        if (ev.type === 'ACK.RECEIVED') return 'confirmed';
        if (timer === 'timerH' || ev.type === 'TRANSPORT.ERROR') return 'terminated';
        return undefined;
      case 'confirmed':
        return timer === 'timerI' ? 'terminated' : undefined;
      case 'accepted':
        return timer === 'timerL' ? 'terminated' : undefined;
    }
    return undefined;
  },
  deadlines: (cfg) => ({
    trying100: { from: 'proceeding', ms: 200 },
    timerH: { from: 'completed', ms: 64 * cfg.t1 },
    timerI: { from: 'confirmed', ms: cfg.reliable ? 0 : cfg.t4 },
    timerL: { from: 'accepted', ms: 64 * cfg.t1 },
  }),
  capped: ['absorbed'],
  check: (run, snap, cfg) => {
    const receivedAt = firstEventAt(run, 'REQUEST.RECEIVED');
    assert.equal(count(run, 'passToTU', (p) => p.method === 'INVITE'), receivedAt === undefined ? 0 : 1, 'INVITE reaches the TU once, retransmissions absorbed');
    // 100 Trying: generated by the transaction exactly when the TU stayed silent for 200 ms.
    const tuFirst = run.events.find((e) => e.event.type === 'TU.RESPONSE')?.at;
    const auto = timesOf(run, 'transmitResponse', (p) => p.status === 100 && p.response === undefined && p.retransmission === false);
    const due = receivedAt === undefined ? undefined : receivedAt + 200;
    const shouldHave = due !== undefined && run.now >= due && (tuFirst === undefined || tuFirst >= due) && run.events.some((e) => e.at >= due);
    assert.deepEqual(auto, shouldHave ? [due] : [], '100 Trying at 200 ms iff the TU had not answered');
    // Timer G: non-2xx final resent at T1, 2T1 … capped at T2, from the time it was first sent.
    const finalSentAt = run.log.find((l) => l.action === 'transmitResponse' && (l.params.status as number) >= 300 && l.params.retransmission === false)?.at;
    const ctx = snap.context as { retransmissions: number };
    const gFires = run.events.filter((e) => isTimerEvent(e.event) && timerName(e.event.type) === 'timerG').map((e) => e.at);
    if (cfg.reliable) assert.deepEqual(gFires, [], 'no Timer G on a reliable transport');
    else if (finalSentAt !== undefined) assert.deepEqual(gFires, backoffSchedule(finalSentAt, cfg.t1, cfg.t2, gFires.length), 'Timer G schedule');
    assert.equal(ctx.retransmissions, gFires.length);
    if (cfg.finalRetransmits !== undefined) assert.ok(gFires.length <= cfg.finalRetransmits, `Timer G fired ${gFires.length} times, budget ${cfg.finalRetransmits}`);
    // Every response resent (retransmitted request or Timer G) repeats the latest one sent.
    let last: unknown;
    for (const l of run.log.filter((x) => x.action === 'transmitResponse')) {
      if (l.params.retransmission === true && (l.params.status as number) < 200) assert.equal(l.params.status, (last as { status: number }).status);
      last = l.params;
    }
    // ACK for a 2xx belongs to the TU (RFC 6026); an ACK for a non-2xx does not reach it.
    if (count(run, 'transmitResponse', (p) => (p.status as number) >= 300)) assert.equal(count(run, 'passToTU', (p) => p.method === 'ACK'), 0);
  },
};

// ---------------------------------------------------------------------------------------------
// Non-INVITE server transaction (§17.2.2, Figure 8)

const nistSpec: MachineSpec = {
  name: 'non-INVITE server',
  machine: nist,
  effects: ['passToTU', 'transmitResponse', 'notifyTransportError'],
  samples: () => [
    { type: 'REQUEST.RECEIVED', request: 'OPTIONS' },
    { type: 'REQUEST.RETRANSMITTED' },
    ...tuResponses([100, 200, 404]),
    { type: 'TRANSPORT.ERROR', error: 'EPIPE' },
  ],
  rfcState: (s) => (s.status === 'done' ? 'terminated' : (s.value as string)),
  oracle: (from, ev) => {
    const status = (ev as { status?: number }).status;
    const timer = isTimerEvent(ev) ? timerName(ev.type) : undefined;
    switch (from) {
      case 'idle':
        return ev.type === 'REQUEST.RECEIVED' ? 'trying' : undefined;
      case 'trying':
        return ev.type === 'TU.RESPONSE' ? (cls(status!) === '1xx' ? 'proceeding' : 'completed') : undefined;
      case 'proceeding':
        if (ev.type === 'TRANSPORT.ERROR') return 'terminated';
        return ev.type === 'TU.RESPONSE' ? (cls(status!) === '1xx' ? 'proceeding' : 'completed') : undefined;
      case 'completed':
        return timer === 'timerJ' || ev.type === 'TRANSPORT.ERROR' ? 'terminated' : undefined;
    }
    return undefined;
  },
  deadlines: (cfg) => ({ timerJ: { from: 'completed', ms: cfg.reliable ? 0 : 64 * cfg.t1 } }),
  capped: ['absorbed', 'retransmissions'],
  check: (run, snap) => {
    const receivedAt = firstEventAt(run, 'REQUEST.RECEIVED');
    assert.equal(count(run, 'passToTU'), receivedAt === undefined ? 0 : 1, 'request reaches the TU once');
    // In Trying nothing is sent for a retransmitted request; later, the latest response is resent.
    let last: Record<string, unknown> | undefined;
    let finalSent = false;
    for (const l of run.log.filter((x) => x.action === 'transmitResponse')) {
      if (l.params.retransmission === true) assert.equal(l.params.status, last?.status, 'resends the latest response');
      else assert.ok(!finalSent, 'no new response after the final one');
      if ((l.params.status as number) >= 200) finalSent = true;
      last = l.params;
    }
    assert.equal((snap.context as { retransmissions: number }).retransmissions, count(run, 'transmitResponse', (p) => p.retransmission === true));
  },
};

// ---------------------------------------------------------------------------------------------
// Model runs

const configs: Array<[string, SipTimerConfig]> = [
  ['UDP', sipTimerConfig()],
  ['TCP', sipTimerConfig({ reliable: true })],
  ['UDP with finalRetransmits 2', sipTimerConfig({ finalRetransmits: 2 })],
];

for (const spec of [ictSpec, nictSpec, istSpec, nistSpec]) {
  describe(`${spec.name} transaction: model-based`, () => {
    for (const [label, cfg] of configs) {
      test(`${label}: shortest paths to every state drive the real actor`, async (t) => {
        const r = await runModel(spec, cfg, 'shortest');
        t.diagnostic(`${r.paths} paths, ${r.steps} steps, timers fired: ${[...r.timers].join(' ')}`);
        assert.ok(r.paths >= 5, `only ${r.paths} paths`);
        assert.ok(r.rfcStates.has('terminated'));
      });
    }
    test('TCP: every simple path drives the real actor', async (t) => {
      const r = await runModel(spec, configs[1]![1], 'simple');
      t.diagnostic(`${r.paths} paths, ${r.steps} steps`);
      assert.ok(r.paths >= 5);
    });
  });
}

/**
 * Every sequence of up to `len` sample events (no timers) on a real actor of `machine`, with the
 * spec's independent RFC checks after each step: the first one that fails, if any. Unlike the
 * model's paths, this also sends the events that change nothing in the machine's state.
 */
function exhaustiveChecks(spec: MachineSpec, machine: AnyStateMachine, cfg: SipTimerConfig, len: number): string | undefined {
  const samples = spec.samples(undefined as never);
  let seqs: EventObject[][] = [[]];
  for (let i = 0; i < len; i++) seqs = seqs.flatMap((q) => samples.map((e) => [...q, e]));
  for (const seq of seqs) {
    const run: PathRun = { log: [], events: [], enteredAt: new Map([['idle', 0]]), now: 0 };
    const spies = Object.fromEntries(spec.effects.map((n) => [n, (_: unknown, params: unknown) => run.log.push({ action: n, at: 0, params: (params ?? {}) as Record<string, unknown> })]));
    const actor = createActor(machine.provide({ actions: spies as never }), { input: cfg as never, clock: new SimulatedClock() });
    actor.start();
    try {
      for (const event of seq) {
        const live = actor.getSnapshot().status === 'active';
        actor.send(event as never);
        run.events.push({ event, at: 0, live });
        spec.check(run, actor.getSnapshot(), cfg);
      }
    } catch (err) {
      return `${seq.map((e) => ('status' in e ? String(e.status) : e.type)).join(' → ')}: ${(err as Error).message}`;
    } finally {
      actor.stop();
    }
  }
  return undefined;
}

test('INVITE client: every sequence of up to 4 events (no-op ones too) passes the RFC checks', () => {
  for (const [, cfg] of configs.slice(0, 2)) assert.equal(exhaustiveChecks(ictSpec, ict, cfg, 4), undefined);
});

test('INVITE client: the checks catch a planted bug (a 2xx after the non-2xx final dropped in Completed)', () => {
  const cfg = ict.config;
  const completed = cfg.states!.completed!;
  const on = completed.on as { 'RESPONSE.RECEIVED': unknown[] };
  const buggy = createMachine(
    { ...cfg, states: { ...cfg.states, completed: { ...completed, on: { ...on, 'RESPONSE.RECEIVED': [on['RESPONSE.RECEIVED'][0]] } } } } as typeof cfg,
    ict.implementations as never,
  );
  assert.match(exhaustiveChecks(ictSpec, buggy, defaultSipTimers, 4) ?? '', /486 → 200: every 2xx reaches the TU/);
});

test('INVITE client: a 2xx after the 487 (another branch) goes to the TU; the transaction ACKs only the 487', () => {
  const h = harness(ict, ['sendAck', 'passToTU']);
  h.actor.send({ type: 'SEND', request: 'INVITE' });
  h.actor.send({ type: 'RESPONSE.RECEIVED', status: 180, response: 'A180' });
  h.actor.send({ type: 'RESPONSE.RECEIVED', status: 487, response: 'A487' });
  h.actor.send({ type: 'RESPONSE.RECEIVED', status: 200, response: 'B200' });
  h.actor.send({ type: 'RESPONSE.RECEIVED', status: 200, response: 'B200' });
  assert.deepEqual(h.log.filter((l) => l.action === 'passToTU').map((l) => l.params.response), ['A180', 'A487', 'B200', 'B200']);
  assert.deepEqual(h.log.filter((l) => l.action === 'sendAck').map((l) => l.params.response), ['A487']);
  assert.ok(h.actor.getSnapshot().matches('completed'));
  assert.deepEqual(h.actor.getSnapshot().output, undefined);
});

test('model coverage: every RFC state and every timer is exercised', async () => {
  const expect: Array<[MachineSpec, string[], string[]]> = [
    [ictSpec, ['idle', 'calling', 'proceeding', 'completed', 'accepted', 'terminated'], ['timerA', 'timerB', 'timerD', 'timerM']],
    [nictSpec, ['idle', 'trying', 'proceeding', 'completed', 'terminated'], ['timerE', 'timerF', 'timerK']],
    [istSpec, ['idle', 'proceeding', 'completed', 'confirmed', 'accepted', 'terminated'], ['trying100', 'timerG', 'timerH', 'timerI', 'timerL']],
    [nistSpec, ['idle', 'trying', 'proceeding', 'completed', 'terminated'], ['timerJ']],
  ];
  for (const [spec, states, timers] of expect) {
    const r = await runModel(spec, defaultSipTimers, 'shortest');
    assert.deepEqual([...r.rfcStates].sort(), [...states].sort(), `${spec.name} states`);
    for (const t of timers) assert.ok(r.timers.has(t), `${spec.name}: ${t} never fired`);
  }
});

// ---------------------------------------------------------------------------------------------
// Explicit timelines (what a bench or an interop trace would show)

function harness(machine: AnyStateMachine, effects: string[], cfg: SipTimerConfig = defaultSipTimers) {
  const clock = new SimulatedClock();
  const log: LogEntry[] = [];
  const spies = Object.fromEntries(effects.map((n) => [n, (_: unknown, params: unknown) => log.push({ action: n, at: clock.now(), params: (params ?? {}) as Record<string, unknown> })]));
  const actor = createActor(machine.provide({ actions: spies as never }), { input: cfg as never, clock });
  actor.start();
  const at = (action: string) => log.filter((l) => l.action === action).map((l) => l.at);
  /** Advance in 100 ms ticks so every timer sees the clock pass it exactly. */
  const advance = (ms: number) => {
    for (let i = 0; i < ms; i += 100) clock.increment(Math.min(100, ms - i));
  };
  return { clock, log, actor, at, advance };
}

test('INVITE client on UDP: retransmits at 0.5, 1.5, 3.5, 7.5, 15.5, 31.5 s, then Timer B times out at 32 s', () => {
  const h = harness(ict, ['transmitRequest', 'retransmitRequest', 'notifyTimeout', 'passToTU']);
  h.actor.send({ type: 'SEND', request: 'INVITE' });
  h.advance(40_000);
  assert.deepEqual(h.at('retransmitRequest'), [500, 1_500, 3_500, 7_500, 15_500, 31_500]);
  assert.deepEqual(h.at('notifyTimeout'), [32_000]);
  assert.deepEqual(h.actor.getSnapshot().output, { outcome: 'timeout', status: undefined, retransmissions: 6 });
});

test('INVITE client: a 180 stops retransmission; a 486 is ACKed, its retransmission re-ACKed, and Timer D ends it 32 s later', () => {
  const h = harness(ict, ['transmitRequest', 'retransmitRequest', 'sendAck', 'passToTU']);
  h.actor.send({ type: 'SEND', request: 'INVITE' });
  h.advance(1_000);
  h.actor.send({ type: 'RESPONSE.RECEIVED', status: 180 });
  h.advance(10_000);
  assert.deepEqual(h.at('retransmitRequest'), [500]);
  h.actor.send({ type: 'RESPONSE.RECEIVED', status: 486 });
  h.actor.send({ type: 'RESPONSE.RECEIVED', status: 486 });
  assert.equal(h.at('sendAck').length, 2);
  assert.deepEqual(h.log.filter((l) => l.action === 'passToTU').map((l) => l.params.status), [180, 486]);
  h.advance(31_900);
  assert.ok(h.actor.getSnapshot().matches('completed'));
  h.advance(100);
  assert.equal(h.actor.getSnapshot().status, 'done');
  assert.equal((h.actor.getSnapshot().context as { retransmissions: number }).retransmissions, 1);
});

test('INVITE client on TCP: no retransmission at all, and forked 2xx all reach the TU until Timer M', () => {
  const h = harness(ict, ['retransmitRequest', 'passToTU'], sipTimerConfig({ reliable: true }));
  h.actor.send({ type: 'SEND', request: 'INVITE' });
  h.advance(5_000);
  h.actor.send({ type: 'RESPONSE.RECEIVED', status: 200, response: 'leg1' });
  h.actor.send({ type: 'RESPONSE.RECEIVED', status: 200, response: 'leg2' });
  assert.deepEqual(h.at('retransmitRequest'), []);
  assert.deepEqual(h.log.filter((l) => l.action === 'passToTU').map((l) => l.params.response), ['leg1', 'leg2']);
  assert.equal((h.actor.getSnapshot().context as { retransmissions: number }).retransmissions, 0);
  h.advance(32_000);
  assert.deepEqual(h.actor.getSnapshot().output, { outcome: 'final-response', status: 200, retransmissions: 0 });
});

test('non-INVITE client on UDP: Timer E doubles to T2 (0.5, 1.5, 3.5, 7.5, 11.5 …), flat T2 once proceeding, Timer F at 32 s', () => {
  const h = harness(nict, ['retransmitRequest', 'notifyTimeout']);
  h.actor.send({ type: 'SEND', request: 'OPTIONS' });
  h.advance(12_000);
  assert.deepEqual(h.at('retransmitRequest'), [500, 1_500, 3_500, 7_500, 11_500]);
  h.actor.send({ type: 'RESPONSE.RECEIVED', status: 100 });
  h.advance(30_000);
  assert.deepEqual(h.at('retransmitRequest'), [500, 1_500, 3_500, 7_500, 11_500, 15_500, 19_500, 23_500, 27_500, 31_500]);
  assert.deepEqual(h.at('notifyTimeout'), [32_000]);
});

test('non-INVITE client: a provisional at 1.2 s neither restarts Timer F nor reschedules the pending Timer E', () => {
  const h = harness(nict, ['retransmitRequest', 'notifyTimeout']);
  h.actor.send({ type: 'SEND', request: 'OPTIONS' });
  h.advance(1_200);
  h.actor.send({ type: 'RESPONSE.RECEIVED', status: 100 });
  h.advance(31_000);
  // E pending since 0.5 s (1 s interval) fires at 1.5 s, then every T2.
  assert.deepEqual(h.at('retransmitRequest').slice(0, 3), [500, 1_500, 5_500]);
  assert.deepEqual(h.at('notifyTimeout'), [32_000]);
});

test('INVITE server: 100 Trying at 200 ms when the TU is silent, resent on INVITE retransmission; none when the TU answers first', () => {
  const h = harness(ist, ['passToTU', 'transmitResponse']);
  h.actor.send({ type: 'REQUEST.RECEIVED', request: 'INVITE' });
  h.actor.send({ type: 'REQUEST.RETRANSMITTED' }); // before anything was sent: swallowed
  h.advance(200);
  h.actor.send({ type: 'REQUEST.RETRANSMITTED' });
  const sent = h.log.filter((l) => l.action === 'transmitResponse').map((l) => [l.at, l.params.status, l.params.retransmission]);
  assert.deepEqual(sent, [
    [200, 100, false],
    [200, 100, true],
  ]);
  assert.equal(h.log.filter((l) => l.action === 'passToTU').length, 1, 'retransmissions never reach the TU');

  const quick = harness(ist, ['transmitResponse']);
  quick.actor.send({ type: 'REQUEST.RECEIVED', request: 'INVITE' });
  quick.advance(150);
  quick.actor.send({ type: 'TU.RESPONSE', status: 180, response: 'ringing' });
  quick.advance(1_000);
  assert.deepEqual(quick.log.map((l) => l.params.status), [180]);
});

test('INVITE server on UDP: non-2xx resent by Timer G at 0.5, 1.5, 3.5, 7.5, 11.5 … s until Timer H (32 s)', () => {
  const h = harness(ist, ['transmitResponse', 'notifyTimeout']);
  h.actor.send({ type: 'REQUEST.RECEIVED', request: 'INVITE' });
  h.actor.send({ type: 'TU.RESPONSE', status: 486, response: 'busy' });
  h.advance(40_000);
  const resent = h.log.filter((l) => l.action === 'transmitResponse' && l.params.retransmission).map((l) => l.at);
  assert.deepEqual(resent, [500, 1_500, 3_500, 7_500, 11_500, 15_500, 19_500, 23_500, 27_500, 31_500]);
  assert.deepEqual(h.at('notifyTimeout'), [32_000]);
  assert.deepEqual(h.actor.getSnapshot().output, { outcome: 'timeout', status: 486, retransmissions: 10 });
});

test('INVITE server with finalRetransmits: Timer G stops after the budget, a retransmitted INVITE is still answered, Timer H unchanged', () => {
  const h = harness(ist, ['transmitResponse', 'notifyTimeout'], sipTimerConfig({ finalRetransmits: 4 }));
  h.actor.send({ type: 'REQUEST.RECEIVED', request: 'INVITE' });
  h.actor.send({ type: 'TU.RESPONSE', status: 486, response: 'busy' });
  h.advance(20_000);
  h.actor.send({ type: 'REQUEST.RETRANSMITTED' });
  h.advance(20_000);
  const resent = h.log.filter((l) => l.action === 'transmitResponse' && l.params.retransmission).map((l) => l.at);
  assert.deepEqual(resent, [500, 1_500, 3_500, 7_500, 20_000]);
  assert.deepEqual(h.at('notifyTimeout'), [32_000]);
  assert.deepEqual(h.actor.getSnapshot().output, { outcome: 'timeout', status: 486, retransmissions: 4 });
});

test('INVITE server: ACK stops Timer G, and Confirmed absorbs ACK copies for T4', () => {
  const h = harness(ist, ['transmitResponse', 'passToTU']);
  h.actor.send({ type: 'REQUEST.RECEIVED', request: 'INVITE' });
  h.actor.send({ type: 'TU.RESPONSE', status: 603, response: 'decline' });
  h.advance(1_000);
  h.actor.send({ type: 'ACK.RECEIVED' });
  h.actor.send({ type: 'ACK.RECEIVED' });
  h.advance(4_900);
  assert.ok(h.actor.getSnapshot().matches('confirmed'));
  h.advance(100);
  assert.equal(h.actor.getSnapshot().status, 'done');
  assert.equal(h.log.filter((l) => l.action === 'transmitResponse' && l.params.retransmission).length, 1, 'only the 0.5 s copy');
  assert.equal(h.log.filter((l) => l.action === 'passToTU').length, 1, 'ACK for a non-2xx stays in the transaction');
  assert.equal((h.actor.getSnapshot().context as { absorbed: number }).absorbed, 1);
});

test('non-INVITE server: retransmitted requests answered with the latest response, never passed to the TU; Timer J 32 s on UDP', () => {
  const h = harness(nist, ['passToTU', 'transmitResponse']);
  h.actor.send({ type: 'REQUEST.RECEIVED', request: 'REGISTER' });
  h.actor.send({ type: 'REQUEST.RETRANSMITTED' });
  h.actor.send({ type: 'TU.RESPONSE', status: 200, response: 'ok' });
  h.actor.send({ type: 'REQUEST.RETRANSMITTED' });
  h.actor.send({ type: 'TU.RESPONSE', status: 500, response: 'late' }); // ignored: final already sent
  assert.deepEqual(
    h.log.filter((l) => l.action === 'transmitResponse').map((l) => [l.params.status, l.params.retransmission]),
    [
      [200, false],
      [200, true],
    ],
  );
  assert.equal(h.log.filter((l) => l.action === 'passToTU').length, 1);
  h.advance(31_900);
  assert.ok(h.actor.getSnapshot().matches('completed'));
  h.advance(100);
  assert.equal(h.actor.getSnapshot().status, 'done');
});
