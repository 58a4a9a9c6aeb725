// Model-based test of the jambonz listen statechart: generated paths drive the real actor (its
// maxLength timer included); an independent oracle (listen.js's ends, written apart from the
// machine) checks every reachable state × event; the metadata goes once, audio flows only while
// not paused (listen:status), and streaming always stops.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createActor, createMachine, type EventObject } from 'xstate';
import { jambonzListenMachine, type ListenEvent, type ListenEndReason } from '../../machines/jambonzListen.machine.js';
import { runModel } from '../helpers/model.js';

const events: ListenEvent[] = [
  { type: 'SOCKET.OPEN' },
  { type: 'SOCKET.FAILED', error: 'refused' },
  { type: 'SOCKET.CLOSED' },
  { type: 'DTMF', digit: '1' },
  { type: 'DTMF', digit: '#' },
  { type: 'PAUSE' },
  { type: 'RESUME' },
  { type: 'KILL' },
];
const input = { maxLengthMs: 60_000, finishOnKey: '#' };

function oracle(from: string, ev: EventObject): string | undefined {
  const e = ev as ListenEvent;
  if (from === 'connecting') {
    if (e.type === 'SOCKET.OPEN') return 'streaming.flowing';
    if (e.type === 'SOCKET.FAILED') return 'failed';
    if (e.type === 'KILL') return 'done';
    return undefined;
  }
  if (from.startsWith('streaming')) {
    if (e.type === 'SOCKET.CLOSED' || e.type === 'KILL' || ev.type.endsWith('.streaming')) return 'done';
    if (e.type === 'DTMF' && e.digit === '#') return 'done';
    // listen.js updateListen: pause only what flows, resume only what is paused.
    if (from === 'streaming.flowing' && e.type === 'PAUSE') return 'streaming.paused';
    if (from === 'streaming.paused' && e.type === 'RESUME') return 'streaming.flowing';
  }
  return undefined;
}

function run(machine: typeof jambonzListenMachine) {
  let log: string[] = [];
  // The metadata frame goes first, once; then audio starts and holds alternate, ending with `last`.
  const audioLog = (last: 'start' | 'hold'): void => {
    assert.equal(log[0], 'meta');
    assert.equal(log.filter((l) => l === 'meta').length, 1);
    log.slice(1).forEach((l, i) => assert.equal(l, i % 2 === 0 ? 'start' : 'hold', `audio log ${log.join(',')}`));
    assert.equal(log.at(-1), last, last === 'hold' ? 'audio still flows while paused' : 'audio not flowing');
  };
  let stopped: ListenEndReason[] = [];
  const m = machine.provide({
    actions: {
      sendMetadata: () => void log.push('meta'),
      startStreaming: () => void log.push('start'),
      holdStreaming: () => void log.push('hold'),
      stopStreaming: (_, p) => void stopped.push(p.reason),
      reportFailure: () => void log.push('failure'),
    },
  });
  return runModel({
    machine: m,
    input,
    events: events as EventObject[],
    oracle: oracle as never,
    makeActor: (clock) => {
      log = [];
      stopped = [];
      return createActor(m, { clock, input });
    },
    states: {
      connecting: () => assert.deepEqual(log, []),
      'streaming.flowing': () => audioLog('start'),
      'streaming.paused': () => audioLog('hold'),
      done: (s) => {
        assert.equal(stopped.length, 1, 'stopped exactly once');
        assert.equal(stopped[0], s.context.endReason);
      },
      failed: () => {
        assert.deepEqual(log, ['failure']);
        assert.deepEqual(stopped, []);
      },
    },
  });
}

test('listen machine: generated paths drive the real actor; an oracle checks every transition', async () => {
  const r = await run(jambonzListenMachine);
  for (const s of ['connecting', 'streaming.flowing', 'streaming.paused', 'done', 'failed']) assert.ok(r.statesCovered.has(s), `state ${s} never reached`);
});

test('the listen model tests catch a planted bug (the finish key ignored while streaming)', async () => {
  const clone = (v: unknown): unknown =>
    Array.isArray(v) ? v.map(clone) : v && typeof v === 'object' ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k, clone(x)])) : v;
  const cfg = clone(jambonzListenMachine.config) as { states: { streaming: { on: Record<string, unknown> } } };
  delete cfg.states.streaming.on.DTMF;
  const buggy = createMachine(cfg as never, jambonzListenMachine.implementations as never) as unknown as typeof jambonzListenMachine;
  await assert.rejects(run(buggy), /oracle/);
});

test('the listen model tests catch a planted bug (a pause that keeps the audio flowing)', async () => {
  const clone = (v: unknown): unknown =>
    Array.isArray(v) ? v.map(clone) : v && typeof v === 'object' ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k, clone(x)])) : v;
  const cfg = clone(jambonzListenMachine.config) as { states: { streaming: { states: { flowing: Record<string, unknown> } } } };
  delete cfg.states.streaming.states.flowing.exit;
  const buggy = createMachine(cfg as never, jambonzListenMachine.implementations as never) as unknown as typeof jambonzListenMachine;
  await assert.rejects(run(buggy), /audio still flows while paused/);
});
