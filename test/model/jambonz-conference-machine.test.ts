// Model-based test of the jambonz conference statechart: generated paths drive the real actor; an
// independent oracle (conference.js rules, written apart from the machine, from the member and
// waiter lists) checks every reachable state × event; every state keeps its invariant (nobody
// both waiting and in, no waiters once started); and a replay of the rules on each path's events
// names exactly the admits, refusals and end-of-conference removals the actor performed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createActor, createMachine, type EventObject } from 'xstate';
import { jambonzConferenceMachine, type ConferenceContext, type ConferenceEvent } from '../../machines/jambonzConference.machine.js';
import { runModel } from '../helpers/model.js';

const events: ConferenceEvent[] = [
  { type: 'JOIN', callSid: 'a', starts: true, endsOnExit: false },
  { type: 'JOIN', callSid: 'b', starts: false, endsOnExit: false },
  { type: 'JOIN', callSid: 'w', starts: false, endsOnExit: false },
  { type: 'JOIN', callSid: 'm', starts: true, endsOnExit: true, maxParticipants: 2 },
  { type: 'LEAVE', callSid: 'a' },
  { type: 'LEAVE', callSid: 'b' },
  { type: 'LEAVE', callSid: 'm' },
];

function oracle(from: string, ev: EventObject, snap: { context: ConferenceContext }): string | undefined {
  const e = ev as ConferenceEvent;
  const { members, waiters } = snap.context;
  const there = (sid: string): boolean => members.some((m) => m.callSid === sid) || waiters.some((m) => m.callSid === sid);
  if (from === 'idle') {
    if (e.type === 'JOIN') return e.starts ? 'started' : 'waiting';
    return undefined;
  }
  if (from === 'waiting') {
    if (e.type === 'JOIN' && e.starts && !there(e.callSid)) return 'started';
    if (e.type === 'LEAVE' && waiters.length === 1 && waiters[0]!.callSid === e.callSid) return 'idle';
    return undefined;
  }
  if (from === 'started') {
    const m = e.type === 'LEAVE' ? members.find((x) => x.callSid === e.callSid) : undefined;
    if (m && (m.endsOnExit || members.length === 1)) return 'idle';
  }
  return undefined;
}

type Act = { admit: string; starts: boolean } | { refuse: string } | { endFor: string[]; by: string };

function run(machine: typeof jambonzConferenceMachine) {
  let acts: Act[] = [];
  const m = machine.provide({
    actions: {
      admit: (_, p) => void acts.push({ admit: p.callSid, starts: p.starts }),
      refuse: (_, p) => void acts.push({ refuse: p.callSid }),
      endFor: (_, p) => void acts.push({ endFor: p.callSids, by: p.by }),
    },
  });
  return runModel({
    machine: m,
    events: events as EventObject[],
    oracle: oracle as never,
    makeActor: (clock) => {
      acts = [];
      return createActor(m, { clock });
    },
    afterPath: (sent) => {
      // The rules replayed on the events, with plain lists.
      let members: Array<{ sid: string; ends: boolean }> = [];
      let waiters: string[] = [];
      let max = 0;
      let started = false;
      const want: Act[] = [];
      for (const ev of sent as ConferenceEvent[]) {
        if (ev.type === 'JOIN') {
          if (members.some((x) => x.sid === ev.callSid) || waiters.includes(ev.callSid)) continue;
          const lim = ev.maxParticipants && ev.maxParticipants > 1 ? ev.maxParticipants : undefined;
          if (!started && !ev.starts) waiters.push(ev.callSid);
          else if (!started) {
            started = true;
            max = lim ?? 0;
            want.push({ admit: ev.callSid, starts: true });
            members = [{ sid: ev.callSid, ends: ev.endsOnExit }];
            for (const w of waiters) {
              if (max === 0 || members.length < max) {
                want.push({ admit: w, starts: false });
                members.push({ sid: w, ends: false });
              } else want.push({ refuse: w });
            }
            waiters = [];
          } else if (max > 0 && members.length >= max) want.push({ refuse: ev.callSid });
          else {
            want.push({ admit: ev.callSid, starts: false });
            members.push({ sid: ev.callSid, ends: ev.endsOnExit });
            if (lim) max = lim;
          }
        } else {
          waiters = waiters.filter((w) => w !== ev.callSid);
          const me = members.find((x) => x.sid === ev.callSid);
          if (!me) continue;
          if (me.ends || members.length === 1) {
            want.push({ endFor: members.filter((x) => x !== me).map((x) => x.sid), by: me.sid });
            members = [];
            started = false;
            max = 0;
          } else members = members.filter((x) => x !== me);
        }
      }
      assert.deepEqual(acts, want, `actions for ${sent.map((e) => JSON.stringify(e)).join(' ')}`);
    },
    states: {
      idle: (s) => assert.deepEqual(s.context, { members: [], waiters: [], max: 0 }),
      waiting: (s) => assert.ok(s.context.waiters.length > 0 && s.context.members.length === 0),
      started: (s) => {
        assert.ok(s.context.members.length > 0 && s.context.waiters.length === 0);
        // A later joiner may lower the limit below the head count (set after its join, as FreeSWITCH does).
        assert.ok(s.context.max === 0 || s.context.max > 1, 'a limit is 0 or above 1');
      },
    },
  });
}

test('conference machine: generated paths drive the real actor; an oracle checks every transition; admits/refusals/ends follow conference.js', async () => {
  const r = await run(jambonzConferenceMachine);
  for (const s of ['idle', 'waiting', 'started']) assert.ok(r.statesCovered.has(s), `state ${s} never reached`);
});

test('the conference model tests catch a planted bug (endConferenceOnExit ignored: a moderator leaving keeps the conference up)', async () => {
  const clone = (v: unknown): unknown =>
    Array.isArray(v) ? v.map(clone) : v && typeof v === 'object' ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k, clone(x)])) : v;
  const cfg = clone(jambonzConferenceMachine.config) as { states: { started: { on: { LEAVE: unknown[] } } } };
  cfg.states.started.on.LEAVE = cfg.states.started.on.LEAVE.slice(1);
  const buggy = createMachine(cfg as never, jambonzConferenceMachine.implementations as never) as unknown as typeof jambonzConferenceMachine;
  await assert.rejects(run(buggy), /oracle|idle|actions for/);
});

test('the conference model tests catch a second planted bug (maxParticipants not enforced)', async () => {
  const buggy = jambonzConferenceMachine.provide({ guards: { full: () => false } });
  await assert.rejects(run(buggy), /actions for|limit/);
});
