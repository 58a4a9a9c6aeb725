// Model-based tests for the media-stream statechart (call.stream → bot): generated paths drive the
// real actor (timers on a SimulatedClock); an independent oracle checks every state × event, and
// a separate simulation of the spec checks each finished path's reason and fallback.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createActor, createMachine, SimulatedClock, type EventObject } from 'xstate';
import {
  mediaStreamMachine,
  type MediaStreamContext,
  type MediaStreamEvent,
  type MediaStreamInput,
  type MediaStreamOutput,
} from '../../machines/mediaStream.machine.js';
import { runModel } from '../helpers/model.js';

const CONNECT_MS = 5000;
const RECONNECT_MS = 100;
const STOP_MS = 1000;
// A constant reconnect delay here (the model helper resolves delays once, from the initial
// context); the backoff itself is checked by the last test.
const machine = mediaStreamMachine.provide({ delays: { connectTimeout: CONNECT_MS, reconnectDelay: RECONNECT_MS, stopTimeout: STOP_MS } });

const base = { streamSid: 'MZ1', callId: 'call-1', url: 'ws://bot.test/' };
const hangupOne: MediaStreamInput = { ...base, maxReconnects: 1, fallback: 'hangup' };
const continueNone: MediaStreamInput = { ...base, maxReconnects: 0, fallback: 'continue' };

const events: MediaStreamEvent[] = [
  { type: 'SOCKET.OPEN' },
  { type: 'SOCKET.CLOSED', code: 1006 },
  { type: 'SOCKET.CLOSED', code: 1000 },
  { type: 'MARK.QUEUED' },
  { type: 'MARK.DONE', count: 1 },
  { type: 'CALL.ENDED' },
  { type: 'APP.STOP' },
];

const isAfter = (t: string, delay: string) => t.startsWith('xstate.after.') && t.includes(delay);

/** The spec, written apart from the machine: where `ev` leads from `from`. */
function oracle(from: string, ev: EventObject, snap: { context: MediaStreamContext }): string | undefined {
  const t = ev.type;
  const code = (ev as { code?: number }).code;
  const lost = snap.context.reconnects < snap.context.maxReconnects ? 'reconnecting' : 'stopped';
  switch (from) {
    case 'connecting':
      if (t === 'SOCKET.OPEN') return 'streaming';
      if (t === 'SOCKET.CLOSED' || isAfter(t, 'connectTimeout')) return lost;
      return t === 'CALL.ENDED' || t === 'APP.STOP' ? 'stopped' : undefined;
    case 'streaming':
      if (t === 'SOCKET.CLOSED') return code === 1000 ? 'stopped' : lost;
      return t === 'CALL.ENDED' || t === 'APP.STOP' ? 'stopping' : undefined;
    case 'reconnecting':
      if (isAfter(t, 'reconnectDelay')) return 'connecting';
      return t === 'CALL.ENDED' || t === 'APP.STOP' ? 'stopped' : undefined;
    case 'stopping':
      return t === 'SOCKET.CLOSED' || isAfter(t, 'stopTimeout') ? 'stopped' : undefined;
    default:
      return undefined;
  }
}

/** Replays a path's events by the spec: how the stream ends and whether the call was hung up. */
function simulate(sent: EventObject[], input: MediaStreamInput): { reason?: string; hangups: number; reconnects: number } {
  let state = 'connecting';
  let reconnects = 0;
  let reason: string | undefined;
  let hangups = 0;
  const gone = (r: string) => {
    reason ??= r;
    if (input.fallback === 'hangup') hangups++;
    state = 'stopped';
  };
  for (const ev of sent) {
    const t = ev.type;
    const code = (ev as { code?: number }).code;
    if (state === 'stopped') break;
    const lose = () => (reconnects < input.maxReconnects ? ((reconnects++, (state = 'reconnecting'))) : gone('bot-gone'));
    if (state === 'connecting') {
      if (t === 'SOCKET.OPEN') state = 'streaming';
      else if (t === 'SOCKET.CLOSED' || isAfter(t, 'connectTimeout')) lose();
      else if (t === 'CALL.ENDED' || t === 'APP.STOP') ((reason ??= t === 'CALL.ENDED' ? 'call-ended' : 'stopped'), (state = 'stopped'));
    } else if (state === 'streaming') {
      if (t === 'SOCKET.CLOSED') code === 1000 ? gone('bot-closed') : lose();
      else if (t === 'CALL.ENDED' || t === 'APP.STOP') ((reason ??= t === 'CALL.ENDED' ? 'call-ended' : 'stopped'), (state = 'stopping'));
    } else if (state === 'reconnecting') {
      if (isAfter(t, 'reconnectDelay')) state = 'connecting';
      else if (t === 'CALL.ENDED' || t === 'APP.STOP') ((reason ??= t === 'CALL.ENDED' ? 'call-ended' : 'stopped'), (state = 'stopped'));
    } else if (state === 'stopping') {
      if (t === 'SOCKET.CLOSED' || isAfter(t, 'stopTimeout')) state = 'stopped';
    }
  }
  return { reason, hangups, reconnects };
}

function run(m: typeof machine, input: MediaStreamInput) {
  const effects: string[] = [];
  const named = ['openSocket', 'startMedia', 'stopMedia', 'sendStop', 'dropSocket', 'hangupCall', 'notifyStopped'] as const;
  const provided = m.provide({ actions: Object.fromEntries(named.map((n) => [n, () => void effects.push(n)])) as never });
  const count = (n: string) => effects.filter((e) => e === n).length;
  return runModel({
    machine: provided,
    input,
    events: events as EventObject[],
    oracle: oracle as never,
    serializeState: ((s: { value: unknown; context: MediaStreamContext }) =>
      JSON.stringify([s.value, s.context.reconnects, Math.min(s.context.pendingMarks, 1), s.context.reason])) as never,
    makeActor: (clock) => {
      effects.length = 0;
      return createActor(provided, { input, clock });
    },
    states: {
      connecting: () => assert.equal(effects.at(-1), 'openSocket', 'connecting opens a socket'),
      streaming: (s) => {
        assert.equal(count('startMedia'), s.context.connections, 'start is sent once per connection');
        assert.equal(count('startMedia') - count('stopMedia'), 1, 'media runs while streaming');
      },
      reconnecting: (s) => {
        assert.ok(s.context.reconnects <= input.maxReconnects, 'no more reconnects than allowed');
        assert.equal(count('startMedia'), count('stopMedia'), 'no media while reconnecting');
        assert.equal(s.context.pendingMarks, 0, 'marks die with their connection');
      },
      stopping: () => {
        assert.equal(count('sendStop'), 1, 'stop is sent once');
        assert.equal(count('startMedia'), count('stopMedia'));
      },
      stopped: (s) => {
        assert.equal(s.status, 'done');
        assert.equal(count('notifyStopped'), 1);
        assert.equal(count('startMedia'), count('stopMedia'), 'media never outlives the stream');
        assert.ok(count('openSocket') <= input.maxReconnects + 1, 'one connect plus the allowed reconnects');
      },
    },
    afterPath: (sent, snap) => {
      if (snap.status !== 'done') return;
      const out = snap.output as MediaStreamOutput;
      const want = simulate(sent, input);
      assert.equal(out.reason, want.reason, `reason after ${sent.map((e) => e.type).join(' > ')}`);
      assert.equal(count('hangupCall'), want.hangups, `hangups after ${sent.map((e) => e.type).join(' > ')}`);
      assert.equal(out.reconnects, want.reconnects);
      assert.equal(out.fallback, want.reason === 'bot-gone' || want.reason === 'bot-closed' ? input.fallback : undefined);
    },
  });
}

test('media stream machine (1 reconnect, fallback hangup): generated paths drive the real actor; an oracle checks every transition', async () => {
  const r = await run(machine, hangupOne);
  for (const s of ['connecting', 'streaming', 'reconnecting', 'stopping', 'stopped']) assert.ok(r.statesCovered.has(s), `state ${s} never reached`);
  assert.ok(r.paths >= 10, `only ${r.paths} paths`);
});

test('media stream machine (no reconnect, fallback continue): a lost bot stops the stream and leaves the call alone', async () => {
  const r = await run(machine, continueNone);
  assert.ok(!r.statesCovered.has('reconnecting'));
  for (const s of ['connecting', 'streaming', 'stopping', 'stopped']) assert.ok(r.statesCovered.has(s), `state ${s} never reached`);
});

test('media stream machine: reconnect backoff doubles per attempt (named delay), then the fallback', () => {
  const clock = new SimulatedClock();
  const hangups: number[] = [];
  const m = mediaStreamMachine.provide({ actions: { hangupCall: () => void hangups.push(clock.now()) } });
  const actor = createActor(m, { input: { ...base, maxReconnects: 3, fallback: 'hangup' }, clock }).start();
  actor.send({ type: 'SOCKET.OPEN' });
  actor.send({ type: 'MARK.QUEUED' });
  assert.equal(actor.getSnapshot().context.pendingMarks, 1);
  actor.send({ type: 'SOCKET.CLOSED', code: 1006 });
  assert.equal(actor.getSnapshot().context.pendingMarks, 0);
  for (const wait of [250, 500, 1000]) {
    assert.ok(actor.getSnapshot().matches('reconnecting'));
    clock.increment(wait - 1);
    assert.ok(actor.getSnapshot().matches('reconnecting'), `still waiting before ${wait} ms`);
    clock.increment(1);
    assert.ok(actor.getSnapshot().matches('connecting'));
    actor.send({ type: 'SOCKET.CLOSED', code: 1006 });
  }
  assert.equal(actor.getSnapshot().status, 'done');
  assert.deepEqual(actor.getSnapshot().output, { streamSid: 'MZ1', callId: 'call-1', reason: 'bot-gone', reconnects: 3, connections: 1, fallback: 'hangup', lastCloseCode: 1006 });
  assert.equal(hangups.length, 1);
});

test('the media stream model tests catch a planted bug (a bot that closes cleanly gets reconnected)', async () => {
  const clone = (v: unknown): unknown =>
    Array.isArray(v) ? v.map(clone) : v && typeof v === 'object' ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k, clone(x)])) : v;
  const cfg = clone(machine.config) as { states: { streaming: { on: Record<string, unknown[]> } } };
  cfg.states.streaming.on['SOCKET.CLOSED'] = cfg.states.streaming.on['SOCKET.CLOSED']!.slice(1);
  const buggy = createMachine(cfg as never, machine.implementations as never) as unknown as typeof machine;
  await assert.rejects(run(buggy, hangupOne), /oracle: streaming --SOCKET\.CLOSED--> expected stopped, machine went to reconnecting/);
});
