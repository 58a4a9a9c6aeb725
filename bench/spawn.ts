// Time to set up and tear down one call while 100 vs 10 000 other calls are live (target: the
// 10 000 / 100 ratio ≤ 1.5, i.e. per-call cost independent of the number of live calls).
//
// callchart: engine.calls.create() (a root actor in the supervisor's Map registry) → CALL.INCOMING
// → call.hangup() → the call leaves the registry.
// For context, the same life cycle with every call a child of ONE parent machine
// (spawnChild → child events → stopChild), which is O(live children) per spawn and per stop in
// xstate 5 (statelyai/xstate#4990: snapshot.children is copied on every spawn/stop).
import { createActor, setup, spawnChild, stopChild, type AnyActorRef } from 'xstate';
import { createEngine, type Engine } from '../src/engine.js';
import type { Call } from '../src/call/call.js';
import { callMachine } from '../machines/call.machine.js';
import { printTable, percentile, progress, type Cell } from './table.js';

const LOW = 100;
const HIGH = 10_000;
const FALLBACK_HIGH = 5_000;
/** Measured set-up + tear-downs per level (callchart: split over ROUNDS alternating rounds). */
const ITERATIONS = 2000;
const ROUNDS = 2;
const WARMUP = 300;
/** JIT warm-up before anything is measured, so the first level measured is not penalised. */
const PRE_WARMUP = 3000;
/** The one-parent machine is O(n) per operation: fewer iterations, and time-boxed. */
const PARENT_ITERATIONS = 500;
const PARENT_WARMUP = 50;
/** Upper bound for filling one parent machine with children, and for one measured series. */
const FILL_BUDGET_MS = 20_000;
const SERIES_BUDGET_MS = 10_000;
const TARGET_RATIO = 1.5;

const gc = (globalThis as { gc?: () => void }).gc;
const settle = async () => {
  if (gc) {
    gc();
    gc();
  }
  await new Promise((r) => setImmediate(r));
};

interface Series {
  samplesUs: number[];
  truncated: boolean;
}

async function timeSeries(iterations: number, once: () => void | Promise<void>, warmup = WARMUP): Promise<Series> {
  await settle();
  const samplesUs: number[] = [];
  const start = performance.now();
  for (let i = 0; i < warmup + iterations; i++) {
    const t = performance.now();
    const p = once();
    if (p) await p;
    if (i >= warmup) samplesUs.push((performance.now() - t) * 1000);
    if (performance.now() - start > SERIES_BUDGET_MS && samplesUs.length >= 100) {
      return { samplesUs, truncated: true };
    }
  }
  return { samplesUs, truncated: false };
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

// ---------------------------------------------------------------------------------------------
// callchart: root actors in the supervisor registry

function holdCall(engine: Engine): Call {
  const call = engine.calls.create({ direction: 'inbound', transport: 'test', wire: {} });
  call.actor.send({ type: 'CALL.INCOMING' });
  call.answer();
  return call;
}

async function callchartSeries(engine: Engine, live: number, iterations: number, warmup = WARMUP): Promise<Series> {
  return timeSeries(iterations, () => {
    const call = engine.calls.create({ direction: 'inbound', transport: 'test', wire: {} });
    call.actor.send({ type: 'CALL.INCOMING' });
    call.hangup();
    if (engine.calls.get(call.id) !== undefined || engine.calls.size !== live) {
      // Not gone synchronously: wait for it (counted in the sample).
      return call.waitForEnd().then(() => {
        if (engine.calls.get(call.id) !== undefined) throw new Error('ended call still in the registry');
      });
    }
  }, warmup);
}

async function benchCallchart(): Promise<{ low: Series; high: Series; fillMs: number }> {
  const engine = createEngine({ wsPort: 0, host: '127.0.0.1', sipPort: false, maxCalls: HIGH + 1000 });
  const held: Call[] = [];
  for (let i = 0; i < LOW; i++) held.push(holdCall(engine));
  await callchartSeries(engine, LOW, 0, PRE_WARMUP);
  // Alternate the levels so drift (JIT, GC, a busy neighbour) falls on both alike.
  const low: Series = { samplesUs: [], truncated: false };
  const high: Series = { samplesUs: [], truncated: false };
  let fillMs = 0;
  const per = Math.ceil(ITERATIONS / ROUNDS);
  for (let r = 0; r < ROUNDS; r++) {
    progress(`callchart: round ${r + 1}/${ROUNDS}: ${LOW} live calls, ${per} set-up + tear-downs`);
    const l = await callchartSeries(engine, LOW, per);
    const f0 = performance.now();
    while (held.length < HIGH) held.push(holdCall(engine));
    fillMs = performance.now() - f0;
    if (engine.calls.size !== HIGH) throw new Error(`expected ${HIGH} live calls, have ${engine.calls.size}`);
    progress(`callchart: round ${r + 1}/${ROUNDS}: ${HIGH} live calls (filled in ${fillMs.toFixed(0)} ms), ${per} set-up + tear-downs`);
    const h = await callchartSeries(engine, HIGH, per);
    while (held.length > LOW) held.pop()!.hangup();
    if ((engine.calls.size as number) !== LOW) throw new Error(`expected ${LOW} live calls, have ${engine.calls.size}`);
    low.samplesUs.push(...l.samplesUs);
    high.samplesUs.push(...h.samplesUs);
  }
  await engine.close();
  return { low, high, fillMs };
}

// ---------------------------------------------------------------------------------------------
// Context: every call a child of one parent machine

type ParentEvent = { type: 'SPAWN'; id: string } | { type: 'STOP'; id: string };

const parentMachine = setup({
  types: { events: {} as ParentEvent },
  actors: { call: callMachine },
}).createMachine({
  id: 'parent',
  on: {
    SPAWN: {
      actions: spawnChild('call', {
        id: ({ event }: { event: ParentEvent }) => event.id,
        input: ({ event }: { event: ParentEvent }) => ({ callId: event.id, direction: 'inbound' as const, transport: 'test' as const }),
      }),
    },
    STOP: { actions: stopChild(({ event }) => (event as { id: string }).id) },
  },
});

async function benchParent(): Promise<{ low: Series; high: Series; highLevel: number; fillMs: number; fillNote: string }> {
  const parent = createActor(parentMachine);
  parent.subscribe({ error: (err) => progress(`parent machine error: ${String(err)}`) });
  parent.start();
  let n = 0;
  let seq = 0;
  const child = (id: string) => (parent.getSnapshot().children as Record<string, AnyActorRef | undefined>)[id];
  const hold = () => {
    const id = `held-${n++}`;
    parent.send({ type: 'SPAWN', id });
    const c = child(id)!;
    c.send({ type: 'CALL.INCOMING' });
    c.send({ type: 'CALL.ANSWER' });
  };
  const series = async (live: number) => {
    const s = await timeSeries(PARENT_ITERATIONS, () => {
      const id = `c-${seq++}`;
      parent.send({ type: 'SPAWN', id });
      const c = child(id)!;
      c.send({ type: 'CALL.INCOMING' });
      c.send({ type: 'CALL.HANGUP' });
      parent.send({ type: 'STOP', id });
      if (child(id) !== undefined) throw new Error('child not removed');
    }, PARENT_WARMUP);
    const left = Object.keys(parent.getSnapshot().children).length;
    if (left !== live) throw new Error(`expected ${live} live children, have ${left}`);
    return s;
  };

  while (n < LOW) hold();
  progress(`one parent machine: ${LOW} live children, ${PARENT_ITERATIONS} set-up + tear-downs`);
  const low = await series(LOW);

  const f0 = performance.now();
  while (n < FALLBACK_HIGH) hold();
  const halfMs = performance.now() - f0;
  // Filling is O(n²) overall: 5 000 → 10 000 costs about three times 100 → 5 000.
  let highLevel = HIGH;
  let fillNote = '';
  if (halfMs * 4 > FILL_BUDGET_MS) {
    highLevel = FALLBACK_HIGH;
    fillNote = `filling to ${HIGH} children would take ~${((halfMs * 4) / 1000).toFixed(0)} s, so ${FALLBACK_HIGH} were used`;
  } else {
    while (n < HIGH) hold();
  }
  const fillMs = performance.now() - f0;
  progress(`one parent machine: ${highLevel} live children (filled in ${fillMs.toFixed(0)} ms), ${PARENT_ITERATIONS} set-up + tear-downs`);
  const high = await series(highLevel);
  parent.stop();
  return { low, high, highLevel, fillMs, fillNote };
}

// ---------------------------------------------------------------------------------------------

function row(name: string, level: number, s: Series): Cell[] {
  return [name, level, s.samplesUs.length + (s.truncated ? ' (time-boxed)' : ''), mean(s.samplesUs), percentile(s.samplesUs, 50), percentile(s.samplesUs, 99)];
}

async function main(): Promise<void> {
  if (!gc) progress('note: run with --expose-gc for a settled heap between series');
  const cc = await benchCallchart();
  const pm = await benchParent();

  const ccRatio = mean(cc.high.samplesUs) / mean(cc.low.samplesUs);
  const ccRatioP99 = percentile(cc.high.samplesUs, 99) / percentile(cc.low.samplesUs, 99);
  const pmRatio = mean(pm.high.samplesUs) / mean(pm.low.samplesUs);
  const pmRatioP99 = percentile(pm.high.samplesUs, 99) / percentile(pm.low.samplesUs, 99);
  const ccRatioP50 = percentile(cc.high.samplesUs, 50) / percentile(cc.low.samplesUs, 50);
  const pmRatioP50 = percentile(pm.high.samplesUs, 50) / percentile(pm.low.samplesUs, 50);

  printTable(
    'spawn: one call set-up + tear-down (create → CALL.INCOMING → hangup → gone) vs live calls',
    ['actors', 'live calls', 'samples', 'mean µs', 'p50 µs', 'p99 µs'],
    [
      row('callchart (root actors, Map registry)', LOW, cc.low),
      row('callchart (root actors, Map registry)', HIGH, cc.high),
      row('one parent machine (spawnChild/stopChild)', LOW, pm.low),
      row('one parent machine (spawnChild/stopChild)', pm.highLevel, pm.high),
    ],
  );
  printTable(
    `spawn: ratio high / low live calls (target for callchart ≤ ${TARGET_RATIO})`,
    ['actors', 'levels', 'mean ratio', 'p50 ratio', 'p99 ratio', `time to fill to the high level`, 'target (mean)'],
    [
      ['callchart', `${HIGH} / ${LOW}`, ccRatio, ccRatioP50, ccRatioP99, `${(cc.fillMs / 1000).toFixed(2)} s (${LOW}→${HIGH})`, ccRatio <= TARGET_RATIO ? 'MET' : 'NOT MET'],
      ['one parent machine', `${pm.highLevel} / ${LOW}`, pmRatio, pmRatioP50, pmRatioP99, `${(pm.fillMs / 1000).toFixed(2)} s (${LOW}→${pm.highLevel})`, '(context)'],
    ],
  );
  if (pm.fillNote) process.stdout.write(`\nnote: ${pm.fillNote}.\n`);
  process.stdout.write(
    `\n(callchart: ${PRE_WARMUP} warm-up iterations, then ${ROUNDS} alternating rounds of ${Math.ceil(ITERATIONS / ROUNDS)} ` +
      `per level (each after ${WARMUP} unmeasured); one parent machine: ${PARENT_ITERATIONS} per level after ${PARENT_WARMUP} unmeasured, ` +
      `a row marked time-boxed stopped after ${SERIES_BUDGET_MS / 1000} s. Held calls are answered (active); the child machine ` +
      `is the same call machine. Time per sample includes any GC pause it hit.)\n`,
  );
}

main().then(
  () => process.exit(0),
  (err) => {
    process.stderr.write(`spawn bench failed: ${err instanceof Error ? err.stack : String(err)}\n`);
    process.exit(1);
  },
);
