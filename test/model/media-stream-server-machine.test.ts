// Model-based tests for the bot-side media-stream statechart (engine.mediaStreams): generated paths
// drive the real actor (the start deadline on a SimulatedClock); an independent oracle checks every
// state × event; a planted bug must be caught.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createActor, createMachine, type EventObject } from 'xstate';
import { mediaStreamServerMachine, type MediaStreamServerEvent, type MediaStreamServerOutput } from '../../machines/mediaStreamServer.machine.js';
import { runModel } from '../helpers/model.js';

const START_MS = 10_000;
const machine = mediaStreamServerMachine.provide({ delays: { startTimeout: START_MS } });

const events: MediaStreamServerEvent[] = [
  { type: 'MSG.CONNECTED' },
  { type: 'MSG.START' },
  { type: 'MSG.EARLY', what: 'media' },
  { type: 'MSG.STOP' },
  { type: 'SOCKET.CLOSED' },
  { type: 'ENGINE.SHUTDOWN' },
];

/** The spec, apart from the machine. */
function oracle(from: string, ev: EventObject, snap: { context: { connected: boolean } }): string | undefined {
  const t = ev.type;
  switch (from) {
    case 'awaitingStart':
      if (t === 'MSG.START') return 'streaming';
      if (t === 'MSG.CONNECTED') return snap.context.connected ? 'refused' : undefined;
      if (t === 'MSG.EARLY' || t === 'MSG.STOP' || t.includes('startTimeout')) return 'refused';
      return t === 'SOCKET.CLOSED' || t === 'ENGINE.SHUTDOWN' ? 'closed' : undefined;
    case 'streaming':
      if (t === 'MSG.STOP') return 'stopped';
      return t === 'SOCKET.CLOSED' || t === 'ENGINE.SHUTDOWN' ? 'closed' : undefined;
    case 'stopped':
      return t === 'SOCKET.CLOSED' || t === 'ENGINE.SHUTDOWN' ? 'closed' : undefined;
    default:
      return undefined;
  }
}

function run(m: typeof machine) {
  const effects: string[] = [];
  const named = ['openSession', 'refuse', 'closeSocket', 'notifyClosed'] as const;
  const provided = m.provide({ actions: Object.fromEntries(named.map((n) => [n, () => void effects.push(n)])) as never });
  const count = (n: string) => effects.filter((e) => e === n).length;
  return runModel({
    machine: provided,
    events: events as EventObject[],
    oracle: oracle as never,
    makeActor: (clock) => {
      effects.length = 0;
      return createActor(provided, { clock });
    },
    states: {
      awaitingStart: () => assert.equal(count('openSession'), 0, 'no session before start'),
      streaming: () => assert.equal(count('openSession'), 1, 'one session per connection'),
      stopped: (s) => assert.equal(s.context.stopped, true),
      refused: (s) => {
        const out = s.output as MediaStreamServerOutput;
        assert.equal(out.reason, 'refused');
        assert.ok(out.refusal && out.refusal.length > 0, 'a refusal says why');
        assert.equal(count('refuse'), 1);
        assert.equal(count('openSession'), 0, 'a refused connection never reaches the handler');
      },
      closed: (s) => {
        assert.equal(count('notifyClosed'), 1);
        assert.equal(count('refuse'), 0);
        const out = s.output as MediaStreamServerOutput;
        assert.equal(out.reason === 'shutdown', count('closeSocket') === 1, 'shutdown closes the socket, a peer close does not');
      },
    },
  });
}

test('media stream server machine: generated paths drive the real actor; an oracle checks every transition', async () => {
  const r = await run(machine);
  for (const s of ['awaitingStart', 'streaming', 'stopped', 'refused', 'closed']) assert.ok(r.statesCovered.has(s), `state ${s} never reached`);
});

test('the media stream server model tests catch a planted bug (audio before start is let through)', async () => {
  const clone = (v: unknown): unknown =>
    Array.isArray(v) ? v.map(clone) : v && typeof v === 'object' ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k, clone(x)])) : v;
  const cfg = clone(machine.config) as { states: { awaitingStart: { on: Record<string, unknown> } } };
  delete cfg.states.awaitingStart.on['MSG.EARLY'];
  const buggy = createMachine(cfg as never, machine.implementations as never) as unknown as typeof machine;
  await assert.rejects(run(buggy), /oracle: awaitingStart --MSG\.EARLY--> expected refused/);
});
