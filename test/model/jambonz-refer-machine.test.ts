// Model-based test of the jambonz sip:refer statechart: generated paths drive the real actor; an
// independent oracle (sip_refer.js's rules, written apart from the machine) checks every reachable
// state × event; the REFER goes once, every NOTIFY reaches the eventHook, and the outcome is what
// the actionHook must carry (refer_status, final_referred_call_status).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createActor, createMachine, type EventObject } from 'xstate';
import { jambonzReferMachine, type ReferEvent } from '../../machines/jambonzRefer.machine.js';
import { runModel } from '../helpers/model.js';

const events: ReferEvent[] = [
  { type: 'REFER.REFUSED', code: 403 },
  { type: 'NOTIFY', code: 100 },
  { type: 'NOTIFY', code: 180 },
  { type: 'NOTIFY', code: 200 },
  { type: 'NOTIFY', code: 486 },
  { type: 'CALL.ENDED' },
  { type: 'KILL' },
];

function oracle(from: string, ev: EventObject): string | undefined {
  const e = ev as ReferEvent;
  if (e.type === 'CALL.ENDED' || e.type === 'KILL') return 'done';
  if (from === 'referring') {
    if (e.type === 'REFER.REFUSED') return 'done';
    if (e.type === 'NOTIFY') return e.code >= 200 ? 'done' : 'accepted';
  }
  if (from === 'accepted' && e.type === 'NOTIFY' && e.code >= 200) return 'done';
  return undefined;
}

function run(machine: typeof jambonzReferMachine) {
  let log: string[] = [];
  const m = machine.provide({
    actions: {
      sendRefer: () => void log.push('refer'),
      notifyEvent: (_, p) => void log.push(`event:${p.code}`),
    },
  });
  return runModel({
    machine: m,
    events: events as EventObject[],
    oracle: oracle as never,
    makeActor: (clock) => {
      log = [];
      return createActor(m, { clock });
    },
    afterPath: (sent, snap) => {
      const notifies = sent.filter((e): e is Extract<ReferEvent, { type: 'NOTIFY' }> => e.type === 'NOTIFY');
      assert.deepEqual(log, ['refer', ...notifies.map((n) => `event:${n.code}`)], 'one REFER; every NOTIFY to the eventHook');
      if (snap.status !== 'done') return;
      const last = sent[sent.length - 1] as ReferEvent;
      const o = snap.output!;
      if (last.type === 'REFER.REFUSED') assert.deepEqual(o, { reason: 'refused', referStatus: last.code, finalStatus: undefined });
      else if (last.type === 'NOTIFY') assert.deepEqual(o, { reason: 'final', referStatus: 202, finalStatus: last.code });
      else assert.equal(o.reason, last.type === 'KILL' ? 'killed' : 'call-ended');
    },
    states: {
      referring: () => assert.deepEqual(log, ['refer']),
      accepted: (s) => assert.equal(s.context.referStatus, 202, 'a NOTIFY proves the REFER was accepted'),
      done: () => {},
    },
  });
}

test('sip:refer machine: generated paths drive the real actor; an oracle checks every transition', async () => {
  const r = await run(jambonzReferMachine);
  for (const s of ['referring', 'accepted', 'done']) assert.ok(r.statesCovered.has(s), `state ${s} never reached`);
});

test('the sip:refer model tests catch a planted bug (a final NOTIFY right after the REFER is taken as provisional)', async () => {
  const clone = (v: unknown): unknown =>
    Array.isArray(v) ? v.map(clone) : v && typeof v === 'object' ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k, clone(x)])) : v;
  const cfg = clone(jambonzReferMachine.config) as { states: { referring: { on: { NOTIFY: unknown[] } } } };
  cfg.states.referring.on.NOTIFY = cfg.states.referring.on.NOTIFY.slice(1);
  const buggy = createMachine(cfg as never, jambonzReferMachine.implementations as never) as unknown as typeof jambonzReferMachine;
  await assert.rejects(run(buggy), /oracle/);
});
