// Model-based test of the jambonz gather (DTMF) statechart: generated paths drive the real actor
// through its real timers; an independent oracle (gather.js's rules, written apart from the
// machine) checks every reachable state × event; the result and the effects are checked per state.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createActor, createMachine, SimulatedClock, type EventObject } from 'xstate';
import { jambonzGatherMachine, gatherHookReason, type GatherContext, type GatherEvent, type GatherInput, type GatherOutput } from '../../machines/jambonzGather.machine.js';
import { runModel } from '../helpers/model.js';

const events: GatherEvent[] = [{ type: 'DTMF', digit: '1' }, { type: 'DTMF', digit: '#' }, { type: 'PROMPT.DONE' }, { type: 'KILL' }];

/** gather.js: the finish key or the digit count ends it; the prompt's end starts the timer; bargein stops the prompt. */
function oracle(from: string, ev: EventObject, snap: { context: GatherContext }): string | undefined {
  const c = snap.context;
  const e = ev as GatherEvent;
  if (e.type === 'KILL') return 'ended';
  if (e.type === 'DTMF') {
    if (c.finishOnKey !== undefined && e.digit === c.finishOnKey) return 'resolved';
    const n = c.digits.length + 1;
    if (n === c.numDigits || n === c.maxDigits) return 'resolved';
    if (from === 'prompting' && !c.bargein) return 'prompting';
    return 'collecting';
  }
  if (e.type === 'PROMPT.DONE') return from === 'prompting' ? (c.digits ? 'collecting' : 'waiting') : undefined;
  // Timers: each state owns its own.
  if (from === 'waiting' && ev.type.endsWith('.waiting')) return 'resolved';
  if (from === 'collecting' && ev.type.endsWith('.collecting')) return 'resolved';
  return undefined;
}

function run(machine: typeof jambonzGatherMachine, input: GatherInput) {
  let finished: GatherOutput[] = [];
  let stops = 0;
  const m = machine.provide({
    actions: {
      finish: (_, p) => void finished.push(p),
      stopPrompt: () => void stops++,
    },
  });
  return runModel({
    machine: m,
    input,
    events: events as EventObject[],
    oracle: oracle as never,
    makeActor: (clock) => {
      finished = [];
      stops = 0;
      return createActor(m, { clock, input });
    },
    states: {
      prompting: (s) => {
        assert.equal(s.context.prompting, true);
        assert.equal(stops, 0, 'the prompt plays on until a digit barges in');
      },
      waiting: (s) => assert.equal(s.context.digits, ''),
      collecting: (s) => {
        assert.ok(s.context.digits.length > 0);
        if (input.bargein && input.hasPrompt) assert.equal(stops > 0, true, 'a digit during the prompt stopped it');
      },
      resolved: (s) => {
        assert.equal(finished.length, 1, 'the actionHook result is given exactly once');
        const out = finished[0]!;
        assert.equal(out.digits, s.context.digits);
        if (out.reason === 'dtmf-num-digits') assert.ok(out.digits.length === input.numDigits || out.digits.length === input.maxDigits);
        if (out.reason === 'dtmf-interdigit-timeout') assert.ok(out.digits.length >= (input.minDigits ?? 1));
        assert.equal(gatherHookReason(out), out.reason === 'timeout' ? 'timeout' : 'dtmfDetected');
      },
      ended: () => assert.equal(finished.length, 0, 'a killed gather reports nothing'),
    },
    afterPath: (sent, snap) => {
      // The digits are exactly the non-finish-key digits sent before the end.
      let want = '';
      for (const ev of sent) {
        if (ev.type !== 'DTMF') continue;
        const d = (ev as unknown as { digit: string }).digit;
        if (d === input.finishOnKey) break;
        want += d;
        if (want.length === input.numDigits || want.length === input.maxDigits) break;
      }
      if (snap.status === 'done' && snap.matches('resolved')) assert.equal(snap.context.digits, want);
    },
  });
}

const withPrompt: GatherInput = { numDigits: 3, minDigits: 2, finishOnKey: '#', timeoutMs: 5000, interDigitTimeoutMs: 2000, hasPrompt: true, bargein: true };
const noBargein: GatherInput = { maxDigits: 2, finishOnKey: undefined, timeoutMs: 8000, interDigitTimeoutMs: 0, hasPrompt: true, bargein: false };
const noPrompt: GatherInput = { numDigits: 1, timeoutMs: 5000, interDigitTimeoutMs: 0, hasPrompt: false, bargein: true, finishOnKey: '#' };

test('gather machine: generated paths (prompt + bargein, numDigits, minDigits, finishOnKey, interDigitTimeout) drive the real actor', async () => {
  const r = await run(jambonzGatherMachine, withPrompt);
  for (const s of ['prompting', 'waiting', 'collecting', 'resolved', 'ended']) assert.ok(r.statesCovered.has(s), `state ${s} never reached`);
});

test('gather machine: bargein off (digits under the prompt), maxDigits, no finish key', async () => {
  const r = await run(jambonzGatherMachine, noBargein);
  assert.ok(r.statesCovered.has('collecting'));
});

test('gather machine: no prompt, one digit', async () => {
  await run(jambonzGatherMachine, noPrompt);
});

test('gather machine: timer lengths — interDigitTimeout once minDigits are in, timeout before', () => {
  const out: GatherOutput[] = [];
  const m = jambonzGatherMachine.provide({ actions: { finish: (_, p) => void out.push(p) } });
  const clock = new SimulatedClock();
  const a = createActor(m, { clock, input: { ...withPrompt, hasPrompt: false } }).start();
  a.send({ type: 'DTMF', digit: '4' });
  clock.increment(4999); // one digit < minDigits: the 5 s timeout applies
  assert.ok(a.getSnapshot().matches('collecting'));
  a.send({ type: 'DTMF', digit: '2' });
  clock.increment(1999);
  assert.deepEqual(out, []);
  clock.increment(1);
  assert.deepEqual(out, [{ reason: 'dtmf-interdigit-timeout', digits: '42' }]);
});

test('the gather model tests catch a planted bug (the finish key counted as a digit while waiting)', async () => {
  const clone = (v: unknown): unknown =>
    Array.isArray(v) ? v.map(clone) : v && typeof v === 'object' ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k, clone(x)])) : v;
  const cfg = clone(jambonzGatherMachine.config) as { states: { waiting: { on: { DTMF: unknown[] } } } };
  cfg.states.waiting.on.DTMF = cfg.states.waiting.on.DTMF.slice(1);
  const buggy = createMachine(cfg as never, jambonzGatherMachine.implementations as never) as unknown as typeof jambonzGatherMachine;
  await assert.rejects(run(buggy, withPrompt), /oracle|digits/);
});
