// Model-based test of the jambonz gather (DTMF and speech) statechart: generated paths drive the real actor
// through its real timers; an independent oracle (gather.js's rules, written apart from the
// machine) checks every reachable state × event; the result and the effects are checked per state.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createActor, createMachine, SimulatedClock, type EventObject } from 'xstate';
import { jambonzGatherMachine, gatherHookReason, type GatherContext, type GatherEvent, type GatherInput, type GatherOutput } from '../../machines/jambonzGather.machine.js';
import { runModel } from '../helpers/model.js';

const SPEECH = { language_code: 'en-US', channel_tag: 1, is_final: true as const, alternatives: [{ transcript: 'yes please', confidence: 0.9 }] };
const dtmfEvents: GatherEvent[] = [{ type: 'DTMF', digit: '1' }, { type: 'DTMF', digit: '#' }, { type: 'PROMPT.DONE' }, { type: 'KILL' }];
const speechEvents: GatherEvent[] = [...dtmfEvents, { type: 'SPEECH.STARTED' }, { type: 'SPEECH', speech: SPEECH }, { type: 'SPEECH.FAILED', error: 'vendor down' }];

/**
 * gather.js: the finish key or the digit count ends it; the prompt's end starts the timer; bargein
 * stops the prompt. Speech: the recogniser counts until the first digit (DTMF outranks speech); its
 * final transcript or its failure ends the gather; speech over the prompt stops it when `bargein`.
 */
const oracleFor = (input: GatherInput) => (from: string, ev: EventObject, snap: { context: GatherContext }): string | undefined => {
  const c = snap.context;
  const e = ev as GatherEvent;
  const listening = input.speech === true && c.digits === '';
  if (e.type === 'KILL') return 'ended';
  if (e.type === 'SPEECH' || e.type === 'SPEECH.FAILED') return listening ? 'resolved' : undefined;
  if (e.type === 'SPEECH.STARTED') return from === 'prompting' && input.speechBargein ? 'waiting' : undefined;
  if (e.type === 'DTMF') {
    if (input.acceptDigits === false) return undefined;
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
};

function run(machine: typeof jambonzGatherMachine, input: GatherInput) {
  let finished: GatherOutput[] = [];
  let stops = 0;
  let speechStops = 0;
  const m = machine.provide({
    actions: {
      finish: (_, p) => void finished.push(p),
      stopPrompt: () => void stops++,
      stopSpeech: () => void speechStops++,
    },
  });
  return runModel({
    machine: m,
    input,
    events: (input.speech ? speechEvents : dtmfEvents) as EventObject[],
    oracle: oracleFor(input) as never,
    makeActor: (clock) => {
      finished = [];
      stops = 0;
      speechStops = 0;
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
        if (input.speech) assert.ok(speechStops > 0, 'a digit stopped the recogniser');
      },
      resolved: (s) => {
        assert.equal(finished.length, 1, 'the actionHook result is given exactly once');
        const out = finished[0]!;
        assert.equal(out.digits, s.context.digits);
        if (out.reason === 'dtmf-num-digits') assert.ok(out.digits.length === input.numDigits || out.digits.length === input.maxDigits);
        if (out.reason === 'dtmf-interdigit-timeout') assert.ok(out.digits.length >= (input.minDigits ?? 1));
        const want = { timeout: 'timeout', speech: 'speechDetected', 'stt-error': 'error' }[out.reason as string] ?? 'dtmfDetected';
        assert.equal(gatherHookReason(out), want);
        if (out.reason === 'speech') assert.deepEqual(out.speech, SPEECH, 'the transcript reaches the actionHook');
        else assert.equal(out.speech, undefined);
        if (out.reason === 'stt-error') assert.equal(out.error, 'vendor down');
        if (input.speech) assert.ok(speechStops > 0, 'the recogniser is stopped when the gather ends');
      },
      ended: () => {
        assert.equal(finished.length, 0, 'a killed gather reports nothing');
        if (input.speech) assert.ok(speechStops > 0, 'a killed gather stops the recogniser');
      },
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
const speechAndDigits: GatherInput = { numDigits: 2, finishOnKey: '#', timeoutMs: 5000, interDigitTimeoutMs: 0, hasPrompt: true, bargein: true, speech: true, speechBargein: true };
const speechOnly: GatherInput = { timeoutMs: 5000, interDigitTimeoutMs: 0, hasPrompt: true, bargein: false, speech: true, acceptDigits: false, speechBargein: false };

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

test('gather machine: speech and digits — a transcript, a recogniser failure, a digit first, speech over the prompt', async () => {
  const r = await run(jambonzGatherMachine, speechAndDigits);
  for (const s of ['prompting', 'waiting', 'collecting', 'resolved', 'ended']) assert.ok(r.statesCovered.has(s), `state ${s} never reached`);
});

test('gather machine: speech only — digits are ignored, speech does not stop the prompt without bargein', async () => {
  const r = await run(jambonzGatherMachine, speechOnly);
  assert.ok(!r.statesCovered.has('collecting'), 'no digit is ever collected');
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

test('the gather model tests catch a planted bug (a late transcript accepted after a digit stopped the recogniser)', async () => {
  const clone = (v: unknown): unknown =>
    Array.isArray(v) ? v.map(clone) : v && typeof v === 'object' ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k, clone(x)])) : v;
  const cfg = clone(jambonzGatherMachine.config) as { on: { SPEECH: { guard?: unknown } } };
  delete cfg.on.SPEECH.guard;
  const buggy = createMachine(cfg as never, jambonzGatherMachine.implementations as never) as unknown as typeof jambonzGatherMachine;
  await assert.rejects(run(buggy, speechAndDigits), /oracle|transcript|speech/);
});

test('the gather model tests catch a planted bug (the finish key counted as a digit while waiting)', async () => {
  const clone = (v: unknown): unknown =>
    Array.isArray(v) ? v.map(clone) : v && typeof v === 'object' ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k, clone(x)])) : v;
  const cfg = clone(jambonzGatherMachine.config) as { states: { waiting: { on: { DTMF: unknown[] } } } };
  cfg.states.waiting.on.DTMF.splice(1, 1);
  const buggy = createMachine(cfg as never, jambonzGatherMachine.implementations as never) as unknown as typeof jambonzGatherMachine;
  await assert.rejects(run(buggy, withPrompt), /oracle|digits/);
});
