// Model-based tests for the call machine: paths generated from the statechart drive the real actor.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { EventObject } from 'xstate';
import { callMachine, type CallEnd, type CallEvent } from '../../machines/call.machine.js';
import { runModel } from '../helpers/model.js';

const common: CallEvent[] = [
  { type: 'CALL.HANGUP' },
  { type: 'CALL.REMOTE_HANGUP' },
  { type: 'CALL.FAILED', code: 503, reason: 'transport down' },
  { type: 'CALL.HOLD', by: 'local' },
  { type: 'CALL.HOLD', by: 'remote' },
  { type: 'CALL.RESUME' },
  { type: 'DTMF', digit: '5', source: 'ws' },
  { type: 'MEDIA.STARTED' },
  // the runtime's timers (startTimer/stopTimer): each applies only in its own state
  { type: 'CALL.RING_TIMEOUT' },
  { type: 'CALL.MAX_DURATION' },
];

const inboundEvents: CallEvent[] = [
  { type: 'CALL.INCOMING' },
  { type: 'CALL.PROGRESS', code: 180 },
  { type: 'CALL.ANSWER' },
  { type: 'CALL.REJECT', code: 486, reason: 'Busy Here' },
  { type: 'CALL.REDIRECT', code: 302, contacts: ['sip:x@example.com'] },
  { type: 'CALL.CANCELLED' },
  // events that must NOT apply to an inbound call
  { type: 'CALL.DIAL' },
  { type: 'CALL.ANSWERED' },
  ...common,
];

const outboundEvents: CallEvent[] = [
  { type: 'CALL.DIAL' },
  { type: 'CALL.PROGRESS', code: 183 },
  { type: 'CALL.ANSWERED' },
  { type: 'CALL.REJECTED', code: 404, reason: 'Not Found' },
  { type: 'CALL.CANCEL' },
  // events that must NOT apply to an outbound call
  { type: 'CALL.INCOMING' },
  { type: 'CALL.ANSWER' },
  ...common,
];

/** What the end of a call must be, given the event that ended it and where it was. */
function expectedEnd(last: EventObject, phase: 'created' | 'ringing' | 'active', direction: 'inbound' | 'outbound'): Partial<CallEnd> {
  switch (last.type) {
    case 'CALL.HANGUP':
      if (phase !== 'ringing') return { reason: 'local-hangup' };
      return direction === 'inbound' ? { reason: 'local-hangup' } : { reason: 'cancelled', code: 487 };
    case 'CALL.REMOTE_HANGUP':
      return { reason: 'remote-hangup' };
    case 'CALL.FAILED':
      return { reason: 'failed', code: 503 };
    case 'CALL.REJECT':
      return { reason: 'rejected', code: 486 };
    case 'CALL.REJECTED':
      return { reason: 'rejected', code: 404 };
    case 'CALL.REDIRECT':
      return { reason: 'redirected', code: 302 };
    case 'CALL.CANCELLED':
    case 'CALL.CANCEL':
      return { reason: 'cancelled', code: 487 };
    case 'CALL.RING_TIMEOUT':
      return { reason: 'timeout', code: direction === 'inbound' ? 480 : 408 };
    case 'CALL.MAX_DURATION':
      return { reason: 'timeout' };
    default:
      throw new Error(`unexpected final event ${last.type}`);
  }
}

/** The call-leg spec, written independently of the machine: where each event must lead. */
function callOracle(direction: 'inbound' | 'outbound') {
  const inbound = direction === 'inbound';
  return (from: string, ev: EventObject): string | undefined => {
    if (ev.type === 'CALL.FAILED') return 'ended';
    if (from === 'created') {
      if (ev.type === 'CALL.INCOMING') return inbound ? 'ringing' : undefined;
      if (ev.type === 'CALL.DIAL') return inbound ? undefined : 'ringing';
      if (ev.type === 'CALL.HANGUP' || ev.type === 'CALL.REMOTE_HANGUP') return 'ended';
      return undefined;
    }
    if (from === 'ringing') {
      if (ev.type === 'CALL.RING_TIMEOUT') return 'ended';
      if (['CALL.HANGUP', 'CALL.REMOTE_HANGUP'].includes(ev.type)) return 'ended';
      if (inbound && ['CALL.REJECT', 'CALL.REDIRECT', 'CALL.CANCELLED'].includes(ev.type)) return 'ended';
      if (!inbound && ['CALL.REJECTED', 'CALL.REDIRECT', 'CALL.CANCEL'].includes(ev.type)) return 'ended';
      if (ev.type === (inbound ? 'CALL.ANSWER' : 'CALL.ANSWERED')) return 'active.talking';
      return undefined;
    }
    if (from.startsWith('active')) {
      if (['CALL.HANGUP', 'CALL.REMOTE_HANGUP', 'CALL.MAX_DURATION'].includes(ev.type)) return 'ended';
      if (from === 'active.talking' && ev.type === 'CALL.HOLD') return 'active.held';
      if (from === 'active.held' && ev.type === 'CALL.RESUME') return 'active.talking';
      return undefined;
    }
    return undefined;
  };
}

const serializeState = (s: { value: unknown; context: { heldBy?: string; media: string; end?: unknown } }) =>
  JSON.stringify([s.value, s.context.heldBy, s.context.media, s.context.end]);

for (const direction of ['inbound', 'outbound'] as const) {
  test(`call machine (${direction}): every generated path drives the real actor to the modelled state`, async () => {
    const wireCalls: string[] = [];
    // The timers the runtime would have running now (startTimer/stopTimer), per path.
    const armed = new Set<string>();
    const machine = callMachine.provide({
      actions: {
        startTimer: (_, p) => {
          armed.add(p.timer);
        },
        stopTimer: (_, p) => {
          armed.delete(p.timer);
        },
        sendAnswer: () => wireCalls.push('answer'),
        sendReject: () => wireCalls.push('reject'),
        sendCancel: () => wireCalls.push('cancel'),
        sendHangup: () => wireCalls.push('hangup'),
      },
    });
    const result = await runModel({
      machine,
      input: { callId: 'c1', direction, transport: 'test' },
      events: direction === 'inbound' ? inboundEvents : outboundEvents,
      serializeState: serializeState as never,
      oracle: callOracle(direction),
      states: {
        created: (s) => {
          assert.equal(s.context.end, undefined);
          assert.deepEqual([...armed], []);
        },
        ringing: (s) => {
          assert.equal(s.status, 'active');
          assert.deepEqual([...armed], ['ring']);
        },
        'active.talking': (s) => {
          assert.equal(s.context.heldBy, undefined);
          assert.deepEqual([...armed], ['duration']);
        },
        'active.held': (s) => {
          assert.ok(s.context.heldBy === 'local' || s.context.heldBy === 'remote');
          assert.deepEqual([...armed], ['duration']);
        },
        ended: (s) => {
          assert.deepEqual([...armed], [], 'a timer left running after the call ended');
          assert.equal(s.status, 'done');
          assert.ok(s.context.end, 'ended without an end reason');
          assert.deepEqual(s.output, s.context.end);
        },
      },
      afterPath: (events, snap) => {
        armed.clear(); // the next path starts a fresh actor
        if (!snap.matches('ended')) return;
        const has = (t: string) => events.some((e) => e.type === t);
        const phase = has(direction === 'inbound' ? 'CALL.ANSWER' : 'CALL.ANSWERED')
          ? 'active'
          : has(direction === 'inbound' ? 'CALL.INCOMING' : 'CALL.DIAL')
            ? 'ringing'
            : 'created';
        const want = expectedEnd(events[events.length - 1]!, phase, direction);
        for (const [k, v] of Object.entries(want)) {
          assert.equal((snap.context.end as unknown as Record<string, unknown>)[k], v, `end.${k} after ${events.map((e) => e.type).join(' > ')}`);
        }
      },
    });
    // The model must actually reach every state of the chart.
    for (const s of ['ringing', 'active.talking', 'active.held', 'ended']) {
      assert.ok(result.statesCovered.has(s), `state ${s} never reached by the generated paths`);
    }
    assert.ok(result.paths >= 10, `only ${result.paths} paths generated`);
    assert.ok(wireCalls.length > 0);
  });
}

test('call machine: DTMF is recorded only while active, and invalid digits are ignored', async () => {
  const { createActor } = await import('xstate');
  const digits: string[] = [];
  const actor = createActor(
    callMachine.provide({ actions: { notifyDtmf: (_, p) => digits.push(p.digit) } }),
    { input: { callId: 'c', direction: 'inbound', transport: 'test' } },
  ).start();
  actor.send({ type: 'CALL.INCOMING' });
  actor.send({ type: 'DTMF', digit: '1', source: 'ws' }); // ringing: ignored
  actor.send({ type: 'CALL.ANSWER' });
  actor.send({ type: 'DTMF', digit: '2', source: 'ws' });
  actor.send({ type: 'DTMF', digit: 'X', source: 'ws' });
  actor.send({ type: 'DTMF', digit: '#', source: 'rfc4733' });
  assert.deepEqual(digits, ['2', '#']);
  assert.equal(actor.getSnapshot().context.dtmf, '2#');
  actor.stop();
});

test('the model tests catch a planted bug (held calls that can never resume)', async () => {
  const { createMachine } = await import('xstate');
  // Clone plain objects/arrays; keep functions (guards, assigns) by reference.
  const clone = (v: unknown): unknown =>
    Array.isArray(v) ? v.map(clone) : v && typeof v === 'object' ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k, clone(x)])) : v;
  const cfg = clone(callMachine.config) as Record<string, any>;
  // Plant the bug: RESUME in `held` is dropped.
  delete cfg.states.active.states.held.on['CALL.RESUME'];
  const buggy = createMachine(cfg as never, callMachine.implementations as never);
  await assert.rejects(
    runModel({
      machine: buggy as unknown as typeof callMachine,
      input: { callId: 'c1', direction: 'inbound', transport: 'test' },
      events: inboundEvents,
      serializeState: serializeState as never,
      oracle: callOracle('inbound'),
      states: { ended: () => {} },
    }),
    /oracle: active\.held --CALL\.RESUME--> expected active\.talking/,
  );
});
