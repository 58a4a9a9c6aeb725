// Model-based tests for the playback (media) statechart: generated paths drive the real actor
// (the load timeout on a SimulatedClock), and an independent oracle checks every state × event.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createActor, createMachine, type EventObject } from 'xstate';
import { playbackMachine, type ItemFinished, type PlaybackEvent, type PlaybackItem } from '../../machines/playback.machine.js';
import { runModel } from '../helpers/model.js';

const LOAD_MS = 3000;
const machine = playbackMachine.provide({ delays: { loadTimeout: LOAD_MS } });
const item = (id: string): PlaybackItem => ({ id, source: { kind: 'tone', frequencies: [440], durationMs: 1000 } });

const events: PlaybackEvent[] = [
  { type: 'PLAYBACK.PLAY', items: [item('a')] },
  { type: 'PLAYBACK.PLAY', items: [item('b'), item('c')] },
  { type: 'PLAYBACK.PAUSE' },
  { type: 'PLAYBACK.RESUME' },
  { type: 'PLAYBACK.SEEK', positionMs: 1500 },
  { type: 'PLAYBACK.VOLUME', gain: 3 },
  { type: 'PLAYBACK.SKIP' },
  { type: 'PLAYBACK.STOP' },
  { type: 'PLAYBACK.CLOSE' },
  { type: 'MEDIA.ITEM_STARTED', itemId: 'a', durationMs: 1000 },
  { type: 'MEDIA.ITEM_STARTED', itemId: 'b', durationMs: 1000 },
  { type: 'MEDIA.ITEM_ENDED', itemId: 'a', positionMs: 1000 },
  { type: 'MEDIA.ITEM_ENDED', itemId: 'b', positionMs: 1000 },
  { type: 'MEDIA.ITEM_FAILED', itemId: 'a', error: 'ENOENT' },
  { type: 'MEDIA.POSITION', itemId: 'a', positionMs: 400 },
  { type: 'MEDIA.LEG_CLOSED' },
];

interface Snap {
  value: unknown;
  context: { queue: PlaybackItem[]; current: PlaybackItem | null; durationMs: number | null; maxQueue: number; gain: number; played: number; skipped: number; failed: number; positionMs: number };
}

/** The playback spec, written apart from the machine. */
function oracle(from: string, ev: EventObject, snap: Snap): string | undefined {
  if (from === 'closed') return undefined;
  if (ev.type === 'PLAYBACK.CLOSE' || ev.type === 'MEDIA.LEG_CLOSED') return 'closed';
  const ctx = snap.context;
  const next = () => (ctx.queue.length > 0 ? 'active.loading' : 'idle');
  if (from === 'idle') return ev.type === 'PLAYBACK.PLAY' ? 'active.loading' : undefined;
  const isCurrent = 'itemId' in ev && ctx.current?.id === (ev as { itemId: string }).itemId;
  if (ev.type === 'PLAYBACK.SKIP') return next();
  if (ev.type === 'PLAYBACK.STOP') return 'idle';
  if ((ev.type === 'MEDIA.ITEM_ENDED' || ev.type === 'MEDIA.ITEM_FAILED') && isCurrent) return next();
  if (from === 'active.loading') {
    if (ev.type.includes('loadTimeout')) return next();
    if (ev.type === 'MEDIA.ITEM_STARTED' && isCurrent) return 'active.playing';
    if (ev.type === 'PLAYBACK.PAUSE') return 'active.paused';
  }
  if (from === 'active.playing' && ev.type === 'PLAYBACK.PAUSE') return 'active.paused';
  if (from === 'active.paused' && ev.type === 'PLAYBACK.RESUME') return ctx.durationMs === null ? 'active.loading' : 'active.playing';
  return undefined;
}

const serializeState = (s: Snap) =>
  JSON.stringify([s.value, s.context.current?.id ?? null, s.context.queue.map((i) => i.id), s.context.durationMs !== null]);

interface Log {
  finished: ItemFinished[];
  starts: string[];
  drained: number;
}

function run(base: typeof machine, log: Log) {
  const m = base.provide({
    actions: {
      notifyItemFinished: (_, p) => void log.finished.push(p),
      startItem: (_, p) => void log.starts.push(p.item.id),
      notifyDrained: () => void log.drained++,
    },
  });
  const input = { legId: 'leg-1', maxQueue: 2 };
  return runModel({
    machine: m,
    input,
    events: events as EventObject[],
    oracle: (from, ev, snap) => oracle(from, ev, snap as unknown as Snap),
    serializeState: serializeState as never,
    makeActor: (clock) => {
      log.finished.length = 0;
      log.starts.length = 0;
      log.drained = 0;
      return createActor(m, { input, clock });
    },
    states: {
      idle: (s) => assert.equal(s.context.current, null),
      'active.loading': (s) => assert.ok(s.context.current, 'loading without a current item'),
      'active.playing': (s) => assert.notEqual(s.context.durationMs, null),
      'active.paused': (s) => assert.ok(s.context.current),
      closed: (s) => {
        assert.equal(s.status, 'done');
        assert.ok(s.output && (s.output.closedBy === 'app' || s.output.closedBy === 'leg'), 's.output && (s.output.closedBy === \'app\' || s.output.closedBy === \'leg\')');
      },
    },
    afterPath: (sent, snap) => {
      const c = snap.context;
      assert.ok(c.queue.length <= c.maxQueue, 'queue above its limit');
      assert.ok(c.gain >= 0 && c.gain <= 2, 'gain clamped to 0..2');
      // Every item that left the current slot was reported exactly once, with a matching counter.
      const by = (r: string) => log.finished.filter((f) => f.reason === r).length;
      assert.equal(by('ended'), c.played);
      assert.equal(by('skipped'), c.skipped);
      assert.equal(by('failed') - log.finished.filter((f) => f.error === 'queue full').length, c.failed);
      // Every started item finishes exactly once (the current one is still running); refused
      // items are reported without ever starting.
      const startedFinished = log.finished.filter((f) => f.error !== 'queue full').length;
      assert.equal(startedFinished + (c.current ? 1 : 0), log.starts.length, `starts ${log.starts.join(',')} vs finished ${log.finished.map((f) => f.itemId).join(',')}`);
      if (snap.matches('idle') && sent.length && log.finished.length && !sent.some((e) => e.type === 'PLAYBACK.STOP')) {
        assert.ok(log.drained > 0, 'queue emptied without a drained notification');
      }
    },
  });
}

test('playback machine: generated paths drive the real actor; an oracle checks every transition', async () => {
  const result = await run(machine, { finished: [], starts: [], drained: 0 });
  for (const s of ['idle', 'active.loading', 'active.playing', 'active.paused', 'closed']) {
    assert.ok(result.statesCovered.has(s), `state ${s} never reached`);
  }
  assert.ok(result.paths >= 10, `only ${result.paths} paths`);
});

test('playback machine: stale runtime events for another item are ignored; seek and volume are bookkept', () => {
  const finished: ItemFinished[] = [];
  const seeks: number[] = [];
  const gains: number[] = [];
  const actor = createActor(
    machine.provide({
      actions: {
        notifyItemFinished: (_, p) => void finished.push(p),
        seekOutput: (_, p) => void seeks.push(p.positionMs),
        setGain: (_, p) => void gains.push(p.gain),
      },
    }),
    { input: { legId: 'l' } },
  ).start();
  actor.send({ type: 'PLAYBACK.PLAY', items: [item('a'), item('b')] });
  actor.send({ type: 'MEDIA.ITEM_STARTED', itemId: 'a', durationMs: 2000 });
  actor.send({ type: 'PLAYBACK.SEEK', positionMs: -5 });
  actor.send({ type: 'PLAYBACK.SEEK', positionMs: 1200.7 });
  actor.send({ type: 'PLAYBACK.VOLUME', gain: -1 });
  actor.send({ type: 'PLAYBACK.VOLUME', gain: 1.5 });
  actor.send({ type: 'MEDIA.ITEM_ENDED', itemId: 'b', positionMs: 9 }); // stale: b is not playing
  assert.equal(actor.getSnapshot().context.current?.id, 'a');
  assert.deepEqual(seeks, [0, 1200]);
  assert.deepEqual(gains, [0, 1.5]);
  actor.send({ type: 'MEDIA.ITEM_ENDED', itemId: 'a', positionMs: 2000 });
  assert.equal(actor.getSnapshot().context.current?.id, 'b');
  assert.equal(actor.getSnapshot().context.positionMs, 0, 'position resets for the next item');
  actor.send({ type: 'MEDIA.LEG_CLOSED' });
  assert.deepEqual(finished.map((f) => [f.itemId, f.reason]), [['a', 'ended'], ['b', 'stopped']]);
  assert.deepEqual(actor.getSnapshot().output, { played: 1, skipped: 0, failed: 0, closedBy: 'leg' });
});

test('the playback model tests catch a planted bug (a paused stream that never resumes)', async () => {
  const clone = (v: unknown): unknown =>
    Array.isArray(v) ? v.map(clone) : v && typeof v === 'object' ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k, clone(x)])) : v;
  const cfg = clone(machine.config) as { states: { active: { states: { paused: { on: Record<string, unknown> } } } } };
  delete cfg.states.active.states.paused.on['PLAYBACK.RESUME'];
  const buggy = createMachine(cfg as never, machine.implementations as never) as unknown as typeof machine;
  await assert.rejects(
    run(buggy, { finished: [], starts: [], drained: 0 }),
    /oracle: active\.paused --PLAYBACK\.RESUME--> expected active\.(playing|loading)/,
  );
});
