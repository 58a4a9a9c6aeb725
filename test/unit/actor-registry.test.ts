// ActorRegistry: a machine provided once for all its actors, each action reaching its own actor's
// wire by id, and no wire kept once its actor has left the supervisor.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setup } from 'xstate';
import { ActorRegistry } from '../../src/actors/registry.js';
import { LimitExceededError, Supervisor } from '../../src/actors/supervisor.js';
import { silentLogger } from '../../src/logger.js';
import { PlaybackRuntime } from '../../src/media/runtimes/playback.js';
import { RecordingRuntime } from '../../src/media/runtimes/recording.js';
import { memoryLegPair } from '../../src/media/leg.js';

const pinger = setup({
  types: { events: {} as { type: 'PING' } | { type: 'FINISH' } },
  actions: { ping: () => {} },
}).createMachine({
  initial: 'idle',
  states: {
    idle: { on: { PING: { actions: 'ping' }, FINISH: 'done' } },
    done: { type: 'final' },
  },
});

test('provides once, routes each action to its own wire, forgets wires of gone actors', () => {
  const sup = new Supervisor({ logger: silentLogger(), limits: { pinger: 2 } });
  let provided = 0;
  const reg = new ActorRegistry<typeof pinger, { pings: number }>(sup, (wireOf) => {
    provided++;
    return pinger.provide({ actions: { ping: ({ self }) => void (wireOf(self.id)!.pings++) } });
  });
  const a = { pings: 0 };
  const b = { pings: 0 };
  let exits = 0;
  const actorA = reg.spawn(a, { kind: 'pinger', id: 'a', onExit: () => exits++ });
  reg.spawn(b, { kind: 'pinger', id: 'b' });
  assert.equal(provided, 1);
  actorA.ref.send({ type: 'PING' });
  actorA.ref.send({ type: 'PING' });
  sup.get('b')!.ref.send({ type: 'PING' });
  assert.deepEqual([a.pings, b.pings], [2, 1]);
  assert.equal(reg.size, 2);

  assert.throws(() => reg.spawn({ pings: 0 }, { kind: 'pinger', id: 'a' }), /already registered/);
  assert.throws(() => reg.spawn({ pings: 0 }, { kind: 'pinger', id: 'c' }), LimitExceededError);
  assert.equal(reg.wire('c'), undefined, 'a refused spawn leaves nothing registered');

  actorA.ref.send({ type: 'FINISH' });
  assert.equal(reg.wire('a'), undefined, 'done actor: wire forgotten');
  assert.equal(exits, 1, "the caller's onExit still runs");
  sup.stop('b');
  assert.equal(reg.size, 0, 'stopped actor: wire forgotten');
});

test('playback and recording runtimes: one machine for every stream, nothing left after stop', async () => {
  const sup = new Supervisor({ logger: silentLogger() });
  const playback = new PlaybackRuntime({ supervisor: sup, logger: silentLogger() });
  const recording = new RecordingRuntime({ supervisor: sup, logger: silentLogger() });
  const machine = playback.machine;
  const [legA, legB] = memoryLegPair();
  const s1 = playback.start(legA);
  const s2 = playback.start(legB);
  assert.equal(playback.machine, machine);
  assert.equal(playback.active, 2);
  assert.equal(typeof (s1 as unknown as Record<string, unknown>)._settle, 'undefined', 'no _-prefixed methods on the handle');
  const done = s1.close();
  assert.ok((await done).closedBy);
  sup.stop(s2.id);
  assert.equal(playback.active, 0);
  assert.ok(await s2.done, 'a stopped stream still resolves done');

  const rec = recording.record(legA, { path: '/dev/null' });
  assert.equal(recording.active, 1);
  sup.stop(rec.id);
  assert.equal(recording.active, 0);
  assert.equal((await rec.done).reason, 'error');
});
