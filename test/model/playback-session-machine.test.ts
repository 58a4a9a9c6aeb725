// Model-based tests for the playback-session statechart, including restore-from-snapshot timers.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createActor, SimulatedClock, type EventObject } from 'xstate';
import { playbackSessionMachine, type PlaybackSessionEvent } from '../../machines/playbackSession.machine.js';
import { runModel } from '../helpers/model.js';

const PAUSE_MS = 60_000;
const machine = playbackSessionMachine.provide({ delays: { pauseTimeout: PAUSE_MS } });

const events: PlaybackSessionEvent[] = [
  { type: 'SESSION.UPDATE', patch: { play: true } },
  { type: 'SESSION.UPDATE', patch: { playing: true, seek: 10 } },
  { type: 'SESSION.UPDATE', patch: { playing: false } },
  { type: 'SESSION.UPDATE', patch: { stop: true, play: true } },
  { type: 'SESSION.UPDATE', patch: { volume: 1.5 } },
  { type: 'SESSION.DELETE' },
  { type: 'SESSION.RESTORED' },
];

/** The session spec, written apart from the machine. */
function oracle(from: string, ev: EventObject): string | undefined {
  if (from === 'deleted') return undefined;
  if (ev.type === 'SESSION.DELETE') return 'deleted';
  if (ev.type.includes('pauseTimeout')) return from === 'paused' ? 'stopped' : undefined;
  if (ev.type !== 'SESSION.UPDATE') return undefined;
  const p = (ev as Extract<PlaybackSessionEvent, { type: 'SESSION.UPDATE' }>).patch;
  if (p.stop) return 'stopped';
  if (p.play === true || p.playing === true) return 'playing';
  if ((p.playing === false || p.play === false) && from === 'playing') return 'paused';
  return undefined;
}

test('playback session machine: generated paths drive the real actor; an oracle checks every transition', async () => {
  let autoStops = 0;
  const provided = machine.provide({ actions: { notifyAutoStopped: () => void autoStops++ } });
  const input = { sessionId: 7, name: 'Kitchen' };
  const result = await runModel({
    machine: provided,
    input,
    events: events as EventObject[],
    oracle: (from, ev) => oracle(from, ev),
    // Simple paths, so the pause timeout is taken even where a stop reaches the same state first.
    simple: true,
    serializeState: ((s: { value: unknown; context: { seek: number | null } }) => JSON.stringify([s.value, s.context.seek])) as never,
    makeActor: (clock) => createActor(provided, { input, clock }),
    states: {
      stopped: (s) => assert.ok(s.context.seek === null || s.context.seek === 0),
      playing: (s) => assert.equal(s.status, 'active'),
      paused: (s) => assert.equal(s.status, 'active'),
      deleted: (s) => {
        assert.equal(s.status, 'done');
        assert.deepEqual(s.output, { sessionId: 7 });
      },
    },
    afterPath: (sent, snap) => {
      if (snap.context.volume !== null) assert.ok(snap.context.volume >= 0 && snap.context.volume <= 1, 'volume clamped');
      assert.equal(snap.context.sessionId, 7);
      void sent;
    },
  });
  for (const s of ['stopped', 'playing', 'paused', 'deleted']) assert.ok(result.statesCovered.has(s), `state ${s} never reached`);
  assert.ok(autoStops > 0, 'pause timeout never exercised');
});

test('playback session machine: a restored paused session re-arms its timer on SESSION.RESTORED (xstate#5331)', () => {
  const first = createActor(machine, { input: { sessionId: 1, name: 's' } }).start();
  first.send({ type: 'SESSION.UPDATE', patch: { play: true, seek: 42 } });
  first.send({ type: 'SESSION.UPDATE', patch: { playing: false } });
  const persisted = JSON.parse(JSON.stringify(first.getPersistedSnapshot()));
  first.stop();

  // Without the event the restored actor never times out: delayed events are not persisted.
  const clockA = new SimulatedClock();
  const bare = createActor(machine, { input: { sessionId: 1, name: 's' }, snapshot: persisted as never, clock: clockA }).start();
  clockA.increment(PAUSE_MS * 2);
  assert.equal(bare.getSnapshot().value, 'paused');
  bare.stop();

  const clockB = new SimulatedClock();
  const restored = createActor(machine, { input: { sessionId: 1, name: 's' }, snapshot: persisted as never, clock: clockB }).start();
  restored.send({ type: 'SESSION.RESTORED' });
  assert.equal(restored.getSnapshot().value, 'paused');
  assert.equal(restored.getSnapshot().context.seek, 42);
  clockB.increment(PAUSE_MS - 1);
  assert.equal(restored.getSnapshot().value, 'paused');
  clockB.increment(1);
  assert.equal(restored.getSnapshot().value, 'stopped');
  assert.equal(restored.getSnapshot().context.seek, 0);
  restored.stop();
});

test('playback session machine: patches merge, stop wins over play, target is kept typed', () => {
  const a = createActor(machine, { input: { sessionId: 3, name: 'x' } }).start();
  a.send({ type: 'SESSION.UPDATE', patch: { target: { type: 'ROOM', roomId: 'lobby' }, volume: 0.4, position: 2, profile: 'p' } });
  a.send({ type: 'SESSION.UPDATE', patch: { stop: true, play: true } });
  const s = a.getSnapshot();
  assert.equal(s.value, 'stopped');
  assert.deepEqual(s.context.target, { type: 'ROOM', roomId: 'lobby' });
  assert.equal(s.context.volume, 0.4);
  assert.equal(s.context.position, 2);
  a.send({ type: 'SESSION.UPDATE', patch: { volume: -3 } });
  assert.equal(a.getSnapshot().context.volume, 0);
  a.stop();
});
