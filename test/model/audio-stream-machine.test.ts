// Model-based tests for the jambonz audio-stream statechart: generated paths drive the real actor
// (max duration on a SimulatedClock); an independent oracle checks every state × event.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createActor, createMachine, SimulatedClock, type EventObject } from 'xstate';
import {
  audioStreamMachine,
  type AudioStreamEvent,
  type AudioStreamInput,
  type AudioStreamOutput,
  type AudioStreamContext,
} from '../../machines/audioStream.machine.js';
import { runModel } from '../helpers/model.js';

const MAX_MS = 60_000;
const machine = audioStreamMachine.provide({ delays: { maxDuration: MAX_MS } });
const recording: AudioStreamInput = { streamId: 's1', callSid: 'call-1', record: true };
const listenOnly: AudioStreamInput = { streamId: 's2', callSid: 'call-2', record: false };
const PATH = '/rec/call-1-1.wav';

const events: AudioStreamEvent[] = [
  { type: 'WRITER.READY', path: PATH },
  { type: 'WRITER.FAILED', error: 'EACCES' },
  { type: 'STREAM.FINALIZED', frames: 50, bytes: 32000, durationMs: 1000 },
  { type: 'PLAY.STARTED' },
  { type: 'PLAY.DONE' },
  { type: 'PLAY.KILLED' },
  { type: 'MARK.SENT', name: 'm1' },
  { type: 'MARK.EVENT', name: 'm1', event: 'playout' },
  { type: 'MARKS.CLEARED' },
  { type: 'SOCKET.CLOSED', code: 1006 },
  { type: 'APP.DISCONNECT' },
  { type: 'ENGINE.SHUTDOWN' },
];

const ENDINGS = new Set(['SOCKET.CLOSED', 'APP.DISCONNECT', 'ENGINE.SHUTDOWN']);

/** The stream life cycle, written apart from the machine. */
function oracle(from: string, ev: EventObject, snap: { context: AudioStreamContext }): string | undefined {
  const t = ev.type;
  const ends = ENDINGS.has(t);
  switch (from) {
    case 'opening':
      if (t === 'WRITER.READY') return 'streaming.idle';
      if (t === 'WRITER.FAILED') return 'failed';
      return ends ? 'closing' : undefined;
    case 'closing':
      if (t === 'WRITER.READY') return 'finalizing';
      return t === 'WRITER.FAILED' ? 'failed' : undefined;
    case 'streaming.idle':
    case 'streaming.playing':
      if (ends || t.includes('maxDuration')) return 'finalizing';
      if (t === 'WRITER.FAILED') return 'failed';
      if (t === 'PLAY.STARTED') return 'streaming.playing';
      if (from === 'streaming.playing' && t === 'PLAY.KILLED') return 'streaming.idle';
      if (from === 'streaming.playing' && t === 'PLAY.DONE') return snap.context.plays <= 1 ? 'streaming.idle' : 'streaming.playing';
      return undefined;
    case 'finalizing':
      if (t === 'STREAM.FINALIZED') return 'done';
      return t === 'WRITER.FAILED' ? 'failed' : undefined;
    default:
      return undefined;
  }
}

function run(base: typeof machine, input: AudioStreamInput) {
  const effects: string[] = [];
  const m = base.provide({
    actions: {
      openWriter: () => void effects.push('open'),
      finalize: () => void effects.push('finalize'),
      abort: () => void effects.push('abort'),
      notifyFinished: () => void effects.push('finished'),
    },
  });
  return runModel({
    machine: m,
    input,
    events: events as EventObject[],
    oracle: oracle as never,
    // The key caps plays at 2 (PLAY.DONE only tells 1 from "more") and marks at 1, so the graph is finite.
    serializeState: ((s: { value: unknown; context: AudioStreamContext }) =>
      JSON.stringify([s.value, s.context.reason, Math.min(s.context.plays, 2), Math.min(s.context.marks.length, 1), s.context.path])) as never,
    makeActor: (clock) => {
      effects.length = 0;
      return createActor(m, { input, clock });
    },
    states: {
      opening: () => assert.deepEqual(effects, ['open']),
      closing: () => assert.ok(effects.includes('open') && !effects.includes('finalize'), 'closing waits for the writer before finalising'),
      'streaming.idle': (s) => {
        assert.equal(effects.includes('open'), input.record, 'the writer is opened exactly when recording');
        assert.equal(s.context.plays, 0);
      },
      'streaming.playing': (s) => assert.ok(s.context.plays >= 1, 'playing means a play is outstanding'),
      finalizing: () => assert.equal(effects.filter((e) => e === 'finalize').length, 1, 'finalize runs once'),
      done: (s) => {
        assert.equal(s.status, 'done');
        assert.equal(effects.filter((e) => e === 'finished').length, 1);
        assert.equal(effects.filter((e) => e === 'finalize').length, 1, 'a finished stream was finalised exactly once');
      },
      failed: (s) => {
        assert.equal(s.status, 'done');
        const out = s.output as AudioStreamOutput;
        assert.equal(out.reason, 'error');
        assert.equal(out.error, 'EACCES');
        assert.ok(effects.includes('abort'), 'a failed stream aborts its writer');
      },
    },
    afterPath: (sent, snap) => {
      if (!snap.matches('done')) return;
      const out = snap.output as AudioStreamOutput;
      const first = sent.find((e) => ENDINGS.has(e.type) || e.type.includes('maxDuration'))!;
      const want =
        first.type === 'SOCKET.CLOSED' ? 'socket-closed' : first.type === 'APP.DISCONNECT' ? 'app-disconnect' : first.type === 'ENGINE.SHUTDOWN' ? 'shutdown' : 'max-duration';
      assert.equal(out.reason, want, `reason after ${sent.map((e) => e.type).join(' > ')}`);
      assert.deepEqual([out.frames, out.bytes, out.durationMs], [50, 32000, 1000]);
      assert.equal(out.path, input.record ? PATH : null);
      assert.equal(out.callSid, input.callSid);
    },
  });
}

test('audio stream machine (recording): generated paths drive the real actor; an oracle checks every transition', async () => {
  const result = await run(machine, recording);
  for (const s of ['opening', 'closing', 'streaming.idle', 'streaming.playing', 'finalizing', 'done', 'failed']) {
    assert.ok(result.statesCovered.has(s), `state ${s} never reached`);
  }
  assert.ok(result.paths >= 10, `only ${result.paths} paths`);
});

test('audio stream machine (listen only): streams at once, never opens a writer, still finalises', async () => {
  const result = await run(machine, listenOnly);
  assert.ok(!result.statesCovered.has('opening') && !result.statesCovered.has('closing'));
  for (const s of ['streaming.idle', 'streaming.playing', 'finalizing', 'done', 'failed']) assert.ok(result.statesCovered.has(s), `state ${s} never reached`);
});

test('audio stream machine: plays, marks and the maximum duration', () => {
  const clock = new SimulatedClock();
  const actor = createActor(machine, { input: recording, clock }).start();
  assert.ok(actor.getSnapshot().matches('opening'));
  actor.send({ type: 'WRITER.READY', path: PATH });
  actor.send({ type: 'PLAY.STARTED' });
  actor.send({ type: 'PLAY.STARTED' });
  actor.send({ type: 'PLAY.DONE' });
  assert.ok(actor.getSnapshot().matches({ streaming: 'playing' }), 'one play is still outstanding');
  actor.send({ type: 'PLAY.DONE' });
  assert.ok(actor.getSnapshot().matches({ streaming: 'idle' }));
  actor.send({ type: 'PLAY.DONE' }); // late playDone after everything: ignored
  assert.equal(actor.getSnapshot().context.plays, 0);
  actor.send({ type: 'MARK.SENT', name: 'a' });
  actor.send({ type: 'MARK.SENT', name: 'b' });
  actor.send({ type: 'MARK.EVENT', name: 'a', event: 'playout' });
  assert.deepEqual(actor.getSnapshot().context.marks, ['b']);
  actor.send({ type: 'MARK.EVENT', name: 'zzz', event: 'cleared' }); // unknown mark: ignored
  actor.send({ type: 'MARKS.CLEARED' });
  assert.deepEqual(actor.getSnapshot().context.marks, []);
  clock.increment(MAX_MS - 1);
  assert.ok(actor.getSnapshot().matches('streaming'));
  clock.increment(1);
  assert.ok(actor.getSnapshot().matches('finalizing'));
  actor.send({ type: 'SOCKET.CLOSED', code: 1000 }); // the first reason wins
  actor.send({ type: 'STREAM.FINALIZED', frames: 3, bytes: 1920, durationMs: 60 });
  assert.deepEqual(actor.getSnapshot().output, {
    streamId: 's1',
    callSid: 'call-1',
    path: PATH,
    reason: 'max-duration',
    frames: 3,
    bytes: 1920,
    durationMs: 60,
  });
});

test('the audio stream model tests catch a planted bug (a dropped socket that leaves the file open)', async () => {
  const clone = (v: unknown): unknown =>
    Array.isArray(v) ? v.map(clone) : v && typeof v === 'object' ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k, clone(x)])) : v;
  const cfg = clone(machine.config) as { states: { streaming: { on: Record<string, unknown> } } };
  delete cfg.states.streaming.on['SOCKET.CLOSED'];
  const buggy = createMachine(cfg as never, machine.implementations as never) as unknown as typeof machine;
  await assert.rejects(run(buggy, recording), /oracle: streaming\.(idle|playing) --SOCKET\.CLOSED--> expected finalizing/);
});
