// Model-based tests of the registrar's binding machine and the outbound registration client:
// generated paths drive the real actors; independent oracles (RFC 3261 §10.2/§10.3 as rules, written
// apart from the machines) check every state × event; each suite catches a planted bug.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createActor, createMachine, SimulatedClock, type EventObject } from 'xstate';
import { sipRegistrationMachine, type SipRegistrationEvent } from '../../machines/sipRegistration.machine.js';
import { sipRegistrationClientMachine, type SipRegistrationClientEvent } from '../../machines/sipRegistrationClient.machine.js';
import { runModel } from '../helpers/model.js';

const clone = (v: unknown): unknown =>
  Array.isArray(v) ? v.map(clone) : v && typeof v === 'object' ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k, clone(x)])) : v;

// ---- the binding ------------------------------------------------------------------------------

const bindingInput = { aor: 'sip:alice@example.com', contact: 'sip:alice@192.0.2.1', callId: 'c1', cseq: 5, expires: 60, at: 1000 };
const bindingEvents: SipRegistrationEvent[] = [
  { type: 'REGISTER.REFRESH', callId: 'c1', cseq: 9, expires: 120, at: 2000 },
  { type: 'REGISTER.REFRESH', callId: 'c1', cseq: 3, expires: 120, at: 2000 },
  { type: 'REGISTER.REFRESH', callId: 'c1', cseq: 9, expires: 0, at: 2000 },
  { type: 'REGISTER.REFRESH', callId: 'c2', cseq: 1, expires: 300, at: 3000 },
  { type: 'REGISTER.REFRESH', callId: 'c2', cseq: 1, expires: 0, at: 3000 },
  { type: 'REGISTER.REMOVE_ALL', callId: 'c1', cseq: 2 },
  { type: 'REGISTER.REMOVE_ALL', callId: 'c1', cseq: 10 },
  { type: 'EVICT' },
];

/** §10.3 steps 6-7: another Call-ID always counts; the same one only with a higher CSeq. */
function bindingOracle(from: string, ev: EventObject, snap: { context: { callId: string; cseq: number } }): string | undefined {
  if (from !== 'bound') return undefined;
  if (ev.type.startsWith('xstate.after.')) return 'expired';
  if (ev.type === 'EVICT') return 'evicted';
  const e = ev as unknown as { callId: string; cseq: number; expires?: number };
  const newer = e.callId !== snap.context.callId || e.cseq > snap.context.cseq;
  if (!newer) return undefined;
  if (ev.type === 'REGISTER.REMOVE_ALL') return 'unregistered';
  return e.expires === 0 ? 'unregistered' : 'bound';
}

function runBinding(machine: typeof sipRegistrationMachine) {
  const said: Array<{ state: string; expires: number }> = [];
  // A constant expiry for the traversal (a refresh changes the granted time); the real delay is tested below.
  const m = machine.provide({ actions: { announce: (_, p) => void said.push(p) }, delays: { expiry: 1000 } });
  return runModel({
    machine: m,
    input: bindingInput,
    events: bindingEvents as EventObject[],
    oracle: bindingOracle as never,
    makeActor: (clock) => {
      said.length = 0;
      return createActor(m, { input: bindingInput, clock });
    },
    states: {
      bound: (s) => {
        assert.equal(said.at(-1)?.state, 'bound');
        assert.equal(said.at(-1)?.expires, s.context.expires);
        assert.equal(s.context.expiresAt, s.context.at + s.context.expires * 1000);
        assert.ok(s.context.expires > 0, 'a bound binding has time left');
      },
      expired: () => assert.equal(said.at(-1)?.state, 'expired'),
      unregistered: () => assert.equal(said.at(-1)?.state, 'unregistered'),
      evicted: () => assert.equal(said.at(-1)?.state, 'evicted'),
    },
  });
}

test('registration binding: generated paths drive the real actor; an oracle checks every transition', async () => {
  const r = await runBinding(sipRegistrationMachine);
  for (const s of ['bound', 'expired', 'unregistered', 'evicted']) assert.ok(r.statesCovered.has(s), `state ${s} never reached`);
});

test('registration binding: expires after the granted seconds, a refresh restarts the clock', () => {
  const clock = new SimulatedClock();
  const a = createActor(sipRegistrationMachine, { input: bindingInput, clock }).start();
  clock.increment(59_000);
  a.send({ type: 'REGISTER.REFRESH', callId: 'c1', cseq: 6, expires: 60, at: 60_000 });
  clock.increment(59_000);
  assert.ok(a.getSnapshot().matches('bound'), 'refreshed: 60 s from the refresh');
  clock.increment(1_000);
  assert.ok(a.getSnapshot().matches('expired'));
});

test('registration binding: each in-order REGISTER replaces the Path (RFC 3327), a stale one keeps it', () => {
  const a = createActor(sipRegistrationMachine, { input: { ...bindingInput, path: ['<sip:edge1@192.0.2.9;lr>'] } }).start();
  assert.deepEqual(a.getSnapshot().context.path, ['<sip:edge1@192.0.2.9;lr>']);
  a.send({ type: 'REGISTER.REFRESH', callId: 'c1', cseq: 6, expires: 60, at: 2000, path: ['<sip:edge2@192.0.2.10;lr>', '<sip:core@192.0.2.11;lr>'] });
  assert.deepEqual(a.getSnapshot().context.path, ['<sip:edge2@192.0.2.10;lr>', '<sip:core@192.0.2.11;lr>'], 'another edge proxy');
  a.send({ type: 'REGISTER.REFRESH', callId: 'c1', cseq: 4, expires: 60, at: 3000 });
  assert.equal(a.getSnapshot().context.path?.length, 2, 'out of order: unchanged');
  a.send({ type: 'REGISTER.REFRESH', callId: 'c1', cseq: 7, expires: 60, at: 4000 });
  assert.equal(a.getSnapshot().context.path, undefined, 'no Path now: straight to the contact');
  a.stop();
});

test('the binding model tests catch a planted bug (an out-of-order REGISTER that still refreshes)', async () => {
  const cfg = clone(sipRegistrationMachine.config) as { states: { bound: { on: Record<string, Array<Record<string, unknown>>> } } };
  delete cfg.states.bound.on['REGISTER.REFRESH']![1]!.guard;
  const buggy = createMachine(cfg as never, sipRegistrationMachine.implementations as never) as unknown as typeof sipRegistrationMachine;
  await assert.rejects(runBinding(buggy), /oracle: bound --REGISTER.REFRESH|a bound binding has time left/);
});

// ---- the client -------------------------------------------------------------------------------

const clientInput = { expires: 100, retryBaseMs: 1000, retryMaxMs: 8000 };
const clientEvents: SipRegistrationClientEvent[] = [
  { type: 'START' },
  { type: 'STOP' },
  { type: 'RESPONSE', status: 200, expires: 50 },
  { type: 'RESPONSE', status: 200 },
  { type: 'RESPONSE', status: 401, challenged: true },
  { type: 'RESPONSE', status: 407, challenged: false },
  { type: 'RESPONSE', status: 423, minExpires: 200 },
  { type: 'RESPONSE', status: 503, retryAfter: 3 },
  { type: 'RESPONSE', status: 500 },
  { type: 'TIMEOUT' },
];

/** §10.2 as rules: challenges answered twice per attempt, 423 raises the expiry, failures back off, STOP unregisters. */
function clientOracle(from: string, ev: EventObject, snap: { context: { authTries: number; expires: number } }): string | undefined {
  const e = ev as unknown as { status: number; challenged?: boolean; minExpires?: number };
  const answerable = ev.type === 'RESPONSE' && (e.status === 401 || e.status === 407) && e.challenged === true && snap.context.authTries < 2;
  switch (from) {
    case 'idle':
      return ev.type === 'START' ? 'registering' : ev.type === 'STOP' ? 'stopped' : undefined;
    case 'registering':
      if (ev.type === 'STOP') return 'unregistering';
      if (ev.type === 'TIMEOUT') return 'retrying';
      if (ev.type !== 'RESPONSE') return undefined;
      if (e.status < 300) return 'registered';
      if (answerable) return 'registering';
      if (e.status === 423 && (e.minExpires ?? 0) > snap.context.expires) return 'registering';
      return 'retrying';
    case 'registered':
      if (ev.type === 'STOP') return 'unregistering';
      return ev.type.startsWith('xstate.after.') && ev.type.endsWith('.registered') ? 'registering' : undefined;
    case 'retrying':
      if (ev.type === 'STOP') return 'stopped';
      return ev.type.startsWith('xstate.after.') && ev.type.endsWith('.retrying') ? 'registering' : undefined;
    case 'unregistering':
      if (ev.type === 'TIMEOUT') return 'stopped';
      if (ev.type !== 'RESPONSE') return undefined;
      return answerable ? 'unregistering' : 'stopped';
    default:
      return undefined;
  }
}

function runClient(machine: typeof sipRegistrationClientMachine) {
  const sent: number[] = [];
  const m = machine.provide({ actions: { sendRegister: (_, p) => void sent.push(p.expires) }, delays: { refresh: 10_000, retry: 10_000 } });
  return runModel({
    machine: m,
    input: clientInput,
    events: clientEvents as EventObject[],
    oracle: clientOracle as never,
    limit: 5000,
    // What decides the next step: the expiry asked for, challenges answered, failures (past 4 the
    // back-off is capped, so more change nothing). Granted time and last status are outputs.
    serializeState: ((s: { value: unknown; context: { failures: number; expires: number; authTries: number }; status: string }) =>
      JSON.stringify([s.value, s.context.expires, Math.min(s.context.authTries, 3), Math.min(s.context.failures, 4), s.status])) as never,
    makeActor: (clock) => {
      sent.length = 0;
      return createActor(m, { input: clientInput, clock });
    },
    states: {
      registering: (s) => assert.equal(sent.at(-1), s.context.expires, 'each attempt sends the current expiry'),
      unregistering: () => assert.equal(sent.at(-1), 0, 'unregister is Expires: 0'),
      registered: (s) => {
        assert.ok(s.context.granted > 0);
        assert.equal(s.context.failures, 0);
      },
      stopped: (s) => assert.equal(s.status, 'done'),
      retrying: (s) => {
        assert.ok(s.context.retryDelayMs >= 1000 && s.context.retryDelayMs <= 8000, `back-off ${s.context.retryDelayMs}`);
        assert.ok(s.context.failures > 0);
      },
    },
  });
}

test('registration client: generated paths drive the real actor; an oracle checks every transition', async () => {
  const r = await runClient(sipRegistrationClientMachine);
  for (const s of ['registering', 'registered', 'retrying', 'unregistering', 'stopped']) assert.ok(r.statesCovered.has(s), `state ${s} never reached`);
});

test('registration client: refresh before expiry; back-off doubles to its cap, Retry-After wins', () => {
  const clock = new SimulatedClock();
  const sent: number[] = [];
  const a = createActor(sipRegistrationClientMachine.provide({ actions: { sendRegister: (_, p) => void sent.push(p.expires) } }), { input: clientInput, clock }).start();
  a.send({ type: 'START' });
  a.send({ type: 'RESPONSE', status: 200, expires: 50 });
  clock.increment(24_999);
  assert.equal(sent.length, 1);
  clock.increment(1);
  assert.equal(sent.length, 2, 'a short grant is refreshed at half its time');
  a.send({ type: 'RESPONSE', status: 200, expires: 3600 });
  clock.increment(3570_000);
  assert.equal(sent.length, 3, 'a long one 30 s before it ends');
  const delays: number[] = [];
  for (let i = 0; i < 5; i++) {
    a.send({ type: 'TIMEOUT' });
    delays.push(a.getSnapshot().context.retryDelayMs);
    clock.increment(a.getSnapshot().context.retryDelayMs);
  }
  assert.deepEqual(delays, [1000, 2000, 4000, 8000, 8000]);
  a.send({ type: 'RESPONSE', status: 503, retryAfter: 3 });
  assert.equal(a.getSnapshot().context.retryDelayMs, 3000);
});

test('the client model tests catch a planted bug (challenges answered without limit)', async () => {
  const cfg = clone(sipRegistrationClientMachine.config) as { states: { registering: { on: { RESPONSE: Array<Record<string, unknown>> } } } };
  cfg.states.registering.on.RESPONSE[1]!.guard = ({ event }: { event: { status: number; challenged?: boolean } }) => (event.status === 401 || event.status === 407) && event.challenged === true;
  const buggy = createMachine(cfg as never, sipRegistrationClientMachine.implementations as never) as unknown as typeof sipRegistrationClientMachine;
  await assert.rejects(runClient(buggy), /expected retrying, machine went to registering/);
});
