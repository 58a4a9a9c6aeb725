// The app's own re-offers (call.update()) in the INVITE session machine's `reinvite` region
// (machines/sipInviteSession.machine.ts): one offer at a time (RFC 3261 §14.1, RFC 3311 §5.1),
// queued in order behind a hold/resume or another update, retried after a 491's glare timer (a
// 500's Retry-After when it names one within 10 s),
// reported done once with their final status, or with 0 when a hangup meant they never went.
//
// A reference model written from those rules as plain code runs beside the real actor over
// seeded random event sequences and over the machine's generated shortest paths; their effects
// (offers sent, updates reported done, BYE) and states must agree step by step. A planted bug
// (queued updates never taken) shows the comparison catches a stranded update.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createActor } from 'xstate';
import { stateToString } from '../../src/actors/state.js';
import { runModel } from '../helpers/model.js';
import {
  sipInviteSessionMachine,
  type SipHoldDirection,
  type SipInviteSessionEvent,
  type SipInviteSessionInput,
} from '../../machines/sipInviteSession.machine.js';

const input: SipInviteSessionInput = { role: 'uac', t1: 1, t2: 64, unconfirmedLimit: 2 };

type Effect = string;

/** The rules as plain code: what each event does to the offer in flight, the queue and the BYE. */
class Reference {
  region: 'idle' | 'inFlight' | 'glare' = 'idle';
  bye: 'none' | 'queued' | 'sent' = 'none';
  cur: { dir?: SipHoldDirection; update?: number } = {};
  queuedDir: SipHoldDirection | undefined;
  updates: number[] = [];
  readonly effects: Effect[] = [];

  private send(): void {
    this.effects.push(`send ${this.cur.update !== undefined ? `update#${this.cur.update}` : this.cur.dir}`);
  }
  private done(ids: readonly number[], status: number): void {
    if (ids.length) this.effects.push(`done ${ids.join(',')}:${status}`);
  }
  private curIds(): number[] {
    return this.cur.update !== undefined ? [this.cur.update] : [];
  }
  private clear(): void {
    this.region = 'idle';
    this.cur = {};
    this.queuedDir = undefined;
    this.updates = [];
  }
  private byeNow(): void {
    this.bye = 'sent';
    this.effects.push('bye');
  }

  step(ev: SipInviteSessionEvent): void {
    switch (ev.type) {
      case 'REINVITE':
        if (this.region === 'idle' && this.bye === 'none') ((this.region = 'inFlight'), (this.cur = { dir: ev.direction }), this.send());
        else if (this.region === 'inFlight') this.queuedDir = ev.direction;
        else if (this.region === 'glare') {
          if (this.cur.update !== undefined) this.queuedDir = ev.direction;
          else this.cur = { dir: ev.direction }; // the latest hold wish is what is retried
        }
        return;
      case 'REOFFER':
        if (this.region === 'idle' && this.bye === 'none') ((this.region = 'inFlight'), (this.cur = { update: ev.id }), this.send());
        else if (this.region === 'idle') this.done([ev.id], 0);
        else this.updates.push(ev.id);
        return;
      case 'REINVITE.DONE':
        if (this.region !== 'inFlight') return;
        if (this.bye === 'queued') {
          this.done(this.curIds(), ev.status);
          this.done(this.updates, 0);
          this.clear();
          this.byeNow();
        } else if (ev.status === 491 || (ev.status === 500 && ev.retryAfter !== undefined && ev.retryAfter <= 10)) {
          this.region = 'glare';
          this.effects.push(`glare timer ${ev.status === 500 ? `${ev.retryAfter! * 1000} ms` : 'random'}`);
        }
        else if (this.queuedDir !== undefined) {
          this.done(this.curIds(), ev.status);
          this.cur = { dir: this.queuedDir };
          this.queuedDir = undefined;
          this.send();
        } else if (this.updates.length) {
          this.done(this.curIds(), ev.status);
          this.cur = { update: this.updates.shift()! };
          this.send();
        } else {
          this.done(this.curIds(), ev.status);
          this.clear();
        }
        return;
      case 'GLARE.TIMER':
        if (this.region === 'glare') ((this.region = 'inFlight'), this.send());
        return;
      case 'HANGUP':
        if (this.region === 'inFlight') {
          this.done(this.updates, 0);
          this.updates = [];
          this.queuedDir = undefined;
          if (this.bye === 'none') this.bye = 'queued';
          return;
        }
        if (this.region === 'glare') {
          this.done(this.curIds(), 0);
          this.done(this.updates, 0);
          this.clear();
        }
        if (this.bye === 'none') this.byeNow();
        return;
    }
  }
}

/** The real actor, its effects logged in the reference's words. */
function spied(machine = sipInviteSessionMachine) {
  const effects: Effect[] = [];
  const actor = createActor(
    machine.provide({
      actions: {
        sendReinvite: (_, p: { direction: SipHoldDirection; update?: number }) => void effects.push(`send ${p.update !== undefined ? `update#${p.update}` : p.direction}`),
        updateDone: (_, p: { ids: readonly number[]; status: number }) => void (p.ids.length && effects.push(`done ${p.ids.join(',')}:${p.status}`)),
        sendBye: () => void effects.push('bye'),
        startTimer: (_, p: { timer: string; ms?: number }) => void (p.timer === 'glare' && effects.push(`glare timer ${p.ms !== undefined ? `${p.ms} ms` : 'random'}`)),
        stopTimer: () => {},
      },
    }),
    { input },
  ).start();
  const region = () => {
    const v = actor.getSnapshot().value as { active?: { reinvite: string; bye: string } };
    return v.active ? `${v.active.reinvite}/${v.active.bye === 'sent' ? 'sent' : v.active.bye}` : stateToString(actor.getSnapshot().value);
  };
  return { actor, effects, region };
}

/** Drive the machine and the reference with the same events; they must agree after every step. */
function compare(events: SipInviteSessionEvent[], machine = sipInviteSessionMachine): void {
  const s = spied(machine);
  const ref = new Reference();
  for (const [i, ev] of events.entries()) {
    s.actor.send(ev);
    ref.step(ev);
    const at = `after ${events.slice(0, i + 1).map((e) => e.type + ('id' in e ? `#${e.id}` : 'status' in e ? `:${e.status}` : '')).join(' ')}`;
    assert.deepEqual(s.effects, ref.effects, `effects ${at}`);
    assert.equal(s.region(), `${ref.region}/${ref.bye}`, `state ${at}`);
  }
  s.actor.stop();
}

/** Random sequences: REOFFER ids count up (the runtime numbers them). */
function randomRuns(machine = sipInviteSessionMachine, n = 1500): void {
  let seed = 3311;
  const rnd = (k: number) => ((seed = (seed * 1103515245 + 12345) % 2 ** 31), Math.floor(seed / 65536) % k);
  for (let run = 0; run < n; run++) {
    let id = 0;
    const events: SipInviteSessionEvent[] = [];
    for (let j = 0, len = 2 + rnd(12); j < len; j++) {
      const k = rnd(9);
      events.push(
        k < 3 ? { type: 'REOFFER', id: ++id }
        : k === 3 ? { type: 'REINVITE', direction: rnd(2) ? 'sendonly' : 'sendrecv' }
        : k === 4 ? { type: 'REINVITE.DONE', status: 200 }
        : k === 5 ? { type: 'REINVITE.DONE', status: 491 }
        : k === 6 ? [{ type: 'REINVITE.DONE', status: 488 } as const, { type: 'REINVITE.DONE', status: 500, retryAfter: 3 } as const, { type: 'REINVITE.DONE', status: 500, retryAfter: 60 } as const, { type: 'REINVITE.DONE', status: 500 } as const][rnd(4)]!
        : k === 7 ? { type: 'GLARE.TIMER' }
        : rnd(3) === 0 ? { type: 'HANGUP' } : { type: 'REINVITE.DONE', status: 200 },
      );
    }
    compare(events, machine);
  }
}

describe('sipInviteSession machine: the app’s re-offers (call.update())', () => {
  test('1500 seeded random sequences agree with the reference (effects and states, every step)', () => {
    randomRuns();
  });

  test('the generated shortest paths agree with the reference', async () => {
    // The queue of updates grows with every REOFFER: states whose queues differ only past the
    // second entry count as one, which keeps the graph finite (the random runs go deeper).
    const events: SipInviteSessionEvent[] = [
      { type: 'REOFFER', id: 1 },
      { type: 'REOFFER', id: 2 },
      { type: 'REINVITE', direction: 'sendonly' },
      { type: 'REINVITE', direction: 'sendrecv' },
      { type: 'REINVITE.DONE', status: 200 },
      { type: 'REINVITE.DONE', status: 488 },
      { type: 'REINVITE.DONE', status: 500, retryAfter: 2 },
      { type: 'REINVITE.DONE', status: 491 },
      { type: 'GLARE.TIMER' },
      { type: 'HANGUP' },
    ];
    const r = await runModel({
      machine: sipInviteSessionMachine,
      input,
      events,
      states: {},
      serializeState: (snap) => JSON.stringify([snap.value, { ...snap.context, updates: snap.context.updates.slice(0, 2) }]),
      afterPath: (sent) => compare(sent as SipInviteSessionEvent[]),
    });
    assert.ok(r.paths > 40, `paths: ${r.paths}`);
  });

  test('the comparison catches a planted bug (queued updates never taken: stranded)', () => {
    const buggy = sipInviteSessionMachine.provide({ guards: { hasQueuedUpdate: () => false } });
    assert.throws(() => randomRuns(buggy, 300), /effects after/);
  });

  test('named path: an update waits for the hold in flight, is retried after a 491, and reports its status once', () => {
    const s = spied();
    s.actor.send({ type: 'REINVITE', direction: 'sendonly' });
    s.actor.send({ type: 'REOFFER', id: 1 });
    assert.deepEqual(s.effects, ['send sendonly']);
    s.actor.send({ type: 'REINVITE.DONE', status: 200 });
    s.actor.send({ type: 'REINVITE.DONE', status: 491 });
    assert.equal(s.region(), 'glare/none');
    s.actor.send({ type: 'REINVITE', direction: 'sendrecv' }); // a resume during the update's glare waits its turn
    s.actor.send({ type: 'GLARE.TIMER' });
    s.actor.send({ type: 'REINVITE.DONE', status: 200 });
    assert.deepEqual(s.effects, ['send sendonly', 'send update#1', 'glare timer random', 'send update#1', 'done 1:200', 'send sendrecv']);
  });

  test('named path: a 500 with Retry-After is retried after that many seconds; without one, or past 10 s, it is the update\'s failure', () => {
    const s = spied();
    s.actor.send({ type: 'REOFFER', id: 1 });
    s.actor.send({ type: 'REINVITE.DONE', status: 500, retryAfter: 4 });
    s.actor.send({ type: 'GLARE.TIMER' });
    s.actor.send({ type: 'REINVITE.DONE', status: 500, retryAfter: 11 });
    s.actor.send({ type: 'REOFFER', id: 2 });
    s.actor.send({ type: 'REINVITE.DONE', status: 500 });
    assert.deepEqual(s.effects, ['send update#1', 'glare timer 4000 ms', 'send update#1', 'done 1:500', 'send update#2', 'done 2:500']);
  });

  test('named path: a refused update reports its status; one asked for after the BYE never goes', () => {
    const s = spied();
    s.actor.send({ type: 'REOFFER', id: 1 });
    s.actor.send({ type: 'REINVITE.DONE', status: 488 });
    s.actor.send({ type: 'HANGUP' });
    s.actor.send({ type: 'REOFFER', id: 2 });
    assert.deepEqual(s.effects, ['send update#1', 'done 1:488', 'bye', 'done 2:0']);
  });
});
