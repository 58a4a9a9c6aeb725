// Model-based tests for the recording statechart: generated paths drive the real actor (max
// duration on a SimulatedClock); an independent oracle checks every state × event.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createActor, createMachine, SimulatedClock, type EventObject } from 'xstate';
import { recordingMachine, type RecordingEvent, type RecordingOutput } from '../../machines/recording.machine.js';
import { runModel } from '../helpers/model.js';

const MAX_MS = 10_000;
const machine = recordingMachine.provide({ delays: { maxDuration: MAX_MS } });
const input = { recordingId: 'r1', path: '/tmp/r1.wav', mode: 'single' as const, legIds: ['leg-1'] };

const events: RecordingEvent[] = [
  { type: 'RECORDING.START' },
  { type: 'RECORDING.PAUSE' },
  { type: 'RECORDING.RESUME' },
  { type: 'RECORDING.STOP' },
  { type: 'MEDIA.WRITER_READY' },
  { type: 'MEDIA.WRITER_FAILED', error: 'EACCES' },
  { type: 'MEDIA.FINALIZED', durationMs: 1234, bytes: 19788 },
  { type: 'MEDIA.LEG_CLOSED' },
];

/** The recording life cycle, written apart from the machine. */
function oracle(from: string, ev: EventObject): string | undefined {
  const t = ev.type;
  const ends = t === 'RECORDING.STOP' || t === 'MEDIA.LEG_CLOSED';
  switch (from) {
    case 'idle':
      if (t === 'RECORDING.START') return 'opening';
      return ends ? 'done' : undefined;
    case 'opening':
      if (t === 'MEDIA.WRITER_READY') return 'active.recording';
      if (t === 'MEDIA.WRITER_FAILED') return 'failed';
      return ends ? 'closing' : undefined;
    case 'closing':
      if (t === 'MEDIA.WRITER_READY') return 'stopping';
      return t === 'MEDIA.WRITER_FAILED' ? 'failed' : undefined;
    case 'active.recording':
    case 'active.paused':
      if (ends || t.includes('maxDuration')) return 'stopping';
      if (t === 'MEDIA.WRITER_FAILED') return 'failed';
      if (from === 'active.recording' && t === 'RECORDING.PAUSE') return 'active.paused';
      if (from === 'active.paused' && t === 'RECORDING.RESUME') return 'active.recording';
      return undefined;
    case 'stopping':
      if (t === 'MEDIA.FINALIZED') return 'done';
      return t === 'MEDIA.WRITER_FAILED' ? 'failed' : undefined;
    default:
      return undefined;
  }
}

function run(base: typeof machine) {
  const effects: string[] = [];
  const m = base.provide({
    actions: {
      openWriter: () => void effects.push('open'),
      startCapture: () => void effects.push('start'),
      pauseCapture: () => void effects.push('pause'),
      resumeCapture: () => void effects.push('resume'),
      finalize: () => void effects.push('finalize'),
      abort: () => void effects.push('abort'),
      notifyFinished: () => void effects.push('finished'),
    },
  });
  return runModel({
    machine: m,
    input,
    events: events as EventObject[],
    oracle,
    serializeState: ((s: { value: unknown; context: { reason: string | null } }) => JSON.stringify([s.value, s.context.reason])) as never,
    makeActor: (clock) => {
      effects.length = 0;
      return createActor(m, { input, clock });
    },
    states: {
      idle: () => assert.deepEqual(effects, []),
      opening: () => assert.equal(effects.at(-1), 'open'),
      closing: () => assert.ok(effects.includes('open') && !effects.includes('start'), 'closing before capture started'),
      'active.recording': () => assert.ok(effects.includes('start')),
      'active.paused': () => assert.equal(effects.at(-1), 'pause'),
      stopping: () => assert.equal(effects.filter((e) => e === 'finalize').length, 1, 'finalize runs once'),
      done: (s) => {
        assert.equal(s.status, 'done');
        assert.equal(effects.filter((e) => e === 'finished').length, 1);
      },
      failed: (s) => {
        assert.equal(s.status, 'done');
        assert.equal((s.output as RecordingOutput).reason, 'error');
        assert.equal((s.output as RecordingOutput).error, 'EACCES');
        assert.ok(effects.includes('abort'), 'effects.includes(\'abort\')');
      },
    },
    afterPath: (sent, snap) => {
      if (!snap.matches('done')) return;
      const out = snap.output as RecordingOutput;
      const first = sent.find((e) => e.type === 'RECORDING.STOP' || e.type === 'MEDIA.LEG_CLOSED' || e.type.includes('maxDuration'))!;
      const want = first.type === 'RECORDING.STOP' ? 'stopped' : first.type === 'MEDIA.LEG_CLOSED' ? 'leg-closed' : 'max-duration';
      assert.equal(out.reason, want, `reason after ${sent.map((e) => e.type).join(' > ')}`);
      assert.equal(out.path, input.path);
      const wrote = sent.some((e) => e.type === 'MEDIA.FINALIZED');
      assert.deepEqual([out.durationMs, out.bytes], wrote ? [1234, 19788] : [0, 0]);
      // A file that was opened is always finalised (never left to the writer's last flush).
      if (sent.some((e) => e.type === 'MEDIA.WRITER_READY')) assert.ok(effects.includes('finalize'));
    },
  });
}

test('recording machine: generated paths drive the real actor; an oracle checks every transition', async () => {
  const result = await run(machine);
  for (const s of ['idle', 'opening', 'closing', 'active.recording', 'active.paused', 'stopping', 'done', 'failed']) {
    assert.ok(result.statesCovered.has(s), `state ${s} never reached`);
  }
  assert.ok(result.paths >= 8, `only ${result.paths} paths`);
});

test('recording machine: the maximum duration also runs while paused', () => {
  const clock = new SimulatedClock();
  const actor = createActor(machine, { input, clock }).start();
  actor.send({ type: 'RECORDING.START' });
  actor.send({ type: 'MEDIA.WRITER_READY' });
  actor.send({ type: 'RECORDING.PAUSE' });
  clock.increment(MAX_MS - 1);
  assert.ok(actor.getSnapshot().matches({ active: 'paused' }), 'actor.getSnapshot().matches({ active: \'paused\' })');
  clock.increment(1);
  assert.ok(actor.getSnapshot().matches('stopping'), 'actor.getSnapshot().matches(\'stopping\')');
  actor.send({ type: 'MEDIA.FINALIZED', durationMs: 500, bytes: 8044 });
  assert.deepEqual(actor.getSnapshot().output, { path: input.path, reason: 'max-duration', durationMs: 500, bytes: 8044 });
});

test('the recording model tests catch a planted bug (a dropped call that leaves the file open)', async () => {
  const clone = (v: unknown): unknown =>
    Array.isArray(v) ? v.map(clone) : v && typeof v === 'object' ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k, clone(x)])) : v;
  const cfg = clone(machine.config) as { states: { active: { on: Record<string, unknown> } } };
  delete cfg.states.active.on['MEDIA.LEG_CLOSED'];
  const buggy = createMachine(cfg as never, machine.implementations as never) as unknown as typeof machine;
  await assert.rejects(run(buggy), /oracle: active\.(recording|paused) --MEDIA\.LEG_CLOSED--> expected stopping/);
});
