// The callee's answer held while its own early offer is out (machines/sipInviteSession.machine.ts,
// `invite.answerHeld`): RFC 3311 §5.1 and RFC 3261 §13.3.1.4 let our 2xx to the INVITE carry only
// the session agreed, so an ANSWER while ringing with our UPDATE's offer awaiting its final
// response waits for it; the 2xx then goes right after that update is reported done (the runtime
// has moved its answer SDP to the UPDATE's offer on a 2xx by then). A 491 or a 500 with Retry-After
// takes the offer off the wire to wait out the glare timer: the held answer goes then, and the
// retry follows. Offers queued behind the first go before it. A refusal of the INVITE (CANCEL's
// 487, a hangup's 480) drops it.
//
// A reference model written from those rules as plain code runs beside the real actor over seeded
// random UAS event sequences and the machine's generated shortest paths; effects (offers, updates
// done, answers sent, glare timers, in order) and states must agree after every step. Planted bugs
// (an answer never held; one held for good) show the comparison catches both ways of getting it wrong.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createActor } from 'xstate';
import { stateToString } from '../../src/actors/state.js';
import { runModel } from '../helpers/model.js';
import { sipInviteSessionMachine, type SipInviteSessionEvent, type SipInviteSessionInput } from '../../machines/sipInviteSession.machine.js';

const input: SipInviteSessionInput = { role: 'uas', t1: 1, t2: 64, unconfirmedLimit: 2 };

type Invite = 'offering' | 'offeringRinging' | 'waiting' | 'ringing' | 'answerHeld' | 'answered' | 'rejected';

/** The rules as plain code (no hold/resume, no hangup: the runtime refuses the INVITE instead). */
class Reference {
  ended = false;
  invite: Invite = 'offering';
  region: 'idle' | 'inFlight' | 'glare' = 'idle';
  cur: number | undefined;
  updates: number[] = [];
  held: { sdp: boolean } | undefined;
  readonly effects: string[] = [];

  private answer(sdp: boolean): void {
    this.effects.push(sdp ? 'answer sdp' : 'answer nosdp');
  }
  private send(): void {
    this.effects.push(`send update#${this.cur}`);
  }
  private done(ids: readonly number[], status: number): void {
    if (ids.length) this.effects.push(`done ${ids.join(',')}:${status}`);
  }
  private beforeFinal(): boolean {
    return ['offering', 'offeringRinging', 'waiting', 'ringing', 'answerHeld'].includes(this.invite);
  }

  step(ev: SipInviteSessionEvent): void {
    if (this.ended) return;
    switch (ev.type) {
      case 'RINGING':
        if (this.invite === 'offering') this.invite = 'offeringRinging';
        else if (this.invite === 'waiting') this.invite = 'ringing';
        break;
      case 'OFFER.END':
        if (this.invite === 'offering') this.invite = 'waiting';
        else if (this.invite === 'offeringRinging') this.invite = 'ringing';
        break;
      case 'ANSWER': {
        const sdp = ev.sdp !== false;
        if (this.invite === 'ringing' && this.region === 'inFlight') ((this.invite = 'answerHeld'), (this.held = { sdp }));
        else if (this.invite !== 'answerHeld' && this.beforeFinal()) this.answer(sdp);
        break;
      }
      case '2XX.SENT':
        if (this.beforeFinal()) ((this.invite = 'answered'), (this.held = undefined));
        break;
      case 'INVITE.REFUSED':
        if (this.beforeFinal()) ((this.invite = 'rejected'), (this.held = undefined));
        break;
      case 'REOFFER':
        if (this.region === 'idle') ((this.region = 'inFlight'), (this.cur = ev.id), this.send());
        else this.updates.push(ev.id);
        break;
      case 'REINVITE.DONE':
        if (this.region !== 'inFlight') break;
        if (ev.status === 491 || (ev.status === 500 && ev.retryAfter !== undefined && ev.retryAfter <= 10)) {
          this.region = 'glare';
          this.effects.push('glare timer');
        } else {
          this.done([this.cur!], ev.status);
          if (this.updates.length) ((this.cur = this.updates.shift()), this.send());
          else ((this.region = 'idle'), (this.cur = undefined));
        }
        break;
      case 'GLARE.TIMER':
        if (this.region === 'glare') ((this.region = 'inFlight'), this.send());
        break;
      case 'SESSION.END':
        this.ended = true;
        return;
    }
    // No offer of ours on the wire any more: the held answer goes, after the update's report.
    if (this.invite === 'answerHeld' && this.region !== 'inFlight') {
      this.answer(this.held!.sdp);
      this.held = undefined;
      this.invite = 'ringing';
    }
  }

  state(): string {
    return this.ended ? 'ended' : `${this.invite}/${this.region}/${this.held ? (this.held.sdp ? 'held sdp' : 'held nosdp') : '-'}`;
  }
}

/** The real actor, its effects logged in the reference's words. */
function spied(machine = sipInviteSessionMachine) {
  const effects: string[] = [];
  const actor = createActor(
    machine.provide({
      actions: {
        sendAnswer: (_, p: { sdp: boolean }) => void effects.push(p.sdp ? 'answer sdp' : 'answer nosdp'),
        sendReinvite: (_, p: { update?: number }) => void effects.push(`send update#${p.update}`),
        updateDone: (_, p: { ids: readonly number[]; status: number }) => void (p.ids.length && effects.push(`done ${p.ids.join(',')}:${p.status}`)),
        startTimer: (_, p: { timer: string }) => void (p.timer === 'glare' && effects.push('glare timer')),
        stopTimer: () => {},
      },
    }),
    { input },
  ).start();
  const state = () => {
    const snap = actor.getSnapshot();
    const v = snap.value as { active?: { invite: string; reinvite: string } };
    if (!v.active) return stateToString(snap.value);
    const h = snap.context.heldAnswer;
    return `${v.active.invite}/${v.active.reinvite}/${h ? (h.sdp ? 'held sdp' : 'held nosdp') : '-'}`;
  };
  return { actor, effects, state };
}

const label = (e: SipInviteSessionEvent) => e.type + ('id' in e ? `#${e.id}` : 'status' in e ? `:${e.status}` : 'sdp' in e ? ':nosdp' : '');

/** Drive both with the same events; true when the answer was held at some step. */
function compare(events: SipInviteSessionEvent[], machine = sipInviteSessionMachine): boolean {
  const s = spied(machine);
  const ref = new Reference();
  let held = false;
  for (const [i, ev] of events.entries()) {
    s.actor.send(ev);
    ref.step(ev);
    const at = `after ${events.slice(0, i + 1).map(label).join(' ')}`;
    assert.deepEqual(s.effects, ref.effects, `effects ${at}`);
    assert.equal(s.state(), ref.state(), `state ${at}`);
    held ||= ref.invite === 'answerHeld';
  }
  s.actor.stop();
  return held;
}

/** Random UAS sequences, weighted toward a ringing call with an update out when the app answers. */
function randomRuns(machine = sipInviteSessionMachine, n = 1500): number {
  let held = 0;
  let seed = 3261;
  const rnd = (k: number) => ((seed = (seed * 1103515245 + 12345) % 2 ** 31), Math.floor(seed / 65536) % k);
  for (let run = 0; run < n; run++) {
    let id = 0;
    const events: SipInviteSessionEvent[] = rnd(4) ? [{ type: 'RINGING' }, { type: 'OFFER.END' }] : [];
    for (let j = 0, len = 2 + rnd(10); j < len; j++) {
      const k = rnd(12);
      events.push(
        k < 2 ? { type: 'REOFFER', id: ++id }
        : k < 4 ? (rnd(4) ? { type: 'ANSWER' } : { type: 'ANSWER', sdp: false })
        : k === 4 ? { type: 'REINVITE.DONE', status: 200 }
        : k === 5 ? { type: 'REINVITE.DONE', status: 491 }
        : k === 6 ? [{ type: 'REINVITE.DONE', status: 488 } as const, { type: 'REINVITE.DONE', status: 408 } as const, { type: 'REINVITE.DONE', status: 500, retryAfter: 2 } as const][rnd(3)]!
        : k === 7 ? { type: 'GLARE.TIMER' }
        : k === 8 ? { type: '2XX.SENT' }
        : k === 9 ? (rnd(3) ? { type: 'INVITE.REFUSED' } : { type: 'SESSION.END' })
        : rnd(2) ? { type: 'RINGING' } : { type: 'OFFER.END' },
      );
    }
    if (compare(events, machine)) held++;
  }
  return held;
}

describe('sipInviteSession machine: the callee’s answer held while its early offer is out (RFC 3311 §5.1)', () => {
  test('1500 seeded random sequences agree with the reference (effects in order, states, every step)', () => {
    const held = randomRuns();
    assert.ok(held > 100, `runs with a held answer: ${held}`);
  });

  test('the generated shortest paths agree with the reference', async () => {
    const events: SipInviteSessionEvent[] = [
      { type: 'RINGING' },
      { type: 'OFFER.END' },
      { type: 'REOFFER', id: 1 },
      { type: 'REOFFER', id: 2 },
      { type: 'ANSWER' },
      { type: 'ANSWER', sdp: false },
      { type: 'REINVITE.DONE', status: 200 },
      { type: 'REINVITE.DONE', status: 488 },
      { type: 'REINVITE.DONE', status: 491 },
      { type: 'GLARE.TIMER' },
      { type: '2XX.SENT' },
      { type: 'INVITE.REFUSED' },
    ];
    let held = 0;
    const r = await runModel({
      machine: sipInviteSessionMachine,
      input,
      events,
      states: {},
      // Queues that differ only past the first entry count as one (the random runs go deeper).
      serializeState: (snap) => JSON.stringify([snap.value, { ...snap.context, updates: snap.context.updates.slice(0, 1) }]),
      afterPath: (sent) => void (compare(sent as SipInviteSessionEvent[]) && held++),
    });
    assert.ok(r.paths > 40, `paths: ${r.paths}`);
    assert.ok(held > 5, `paths through a held answer: ${held}`);
  });

  test('the comparison catches planted bugs: an answer never held (the 2xx goes beside our offer), and one never released', () => {
    const never = sipInviteSessionMachine.provide({ guards: { offerOut: () => false } });
    assert.throws(() => randomRuns(never, 300), /effects after|state after/);
    const forever = sipInviteSessionMachine.provide({ guards: { offerOut: () => true } });
    assert.throws(() => randomRuns(forever, 300), /effects after|state after/);
  });

  const ringing: SipInviteSessionEvent[] = [{ type: 'RINGING' }, { type: 'OFFER.END' }];

  test('named path: the held 2xx goes after the UPDATE’s 2xx is reported (so it carries that offer); after a 488 the same, the update refused', () => {
    for (const status of [200, 488]) {
      const s = spied();
      for (const ev of [...ringing, { type: 'REOFFER', id: 1 } as const, { type: 'ANSWER' } as const]) s.actor.send(ev);
      assert.deepEqual(s.effects, ['send update#1']);
      assert.equal(s.state(), 'answerHeld/inFlight/held sdp');
      s.actor.send({ type: 'REINVITE.DONE', status });
      assert.deepEqual(s.effects, ['send update#1', `done 1:${status}`, 'answer sdp']);
      s.actor.send({ type: '2XX.SENT' });
      assert.equal(s.state(), 'answered/idle/-');
    }
  });

  test('named path: a 491 releases the held answer at once; the retry goes after the glare timer', () => {
    const s = spied();
    for (const ev of [...ringing, { type: 'REOFFER', id: 1 } as const, { type: 'ANSWER', sdp: false } as const]) s.actor.send(ev);
    s.actor.send({ type: 'REINVITE.DONE', status: 491 });
    assert.deepEqual(s.effects, ['send update#1', 'glare timer', 'answer nosdp']);
    s.actor.send({ type: '2XX.SENT' });
    s.actor.send({ type: 'GLARE.TIMER' });
    s.actor.send({ type: 'REINVITE.DONE', status: 200 });
    assert.deepEqual(s.effects.slice(3), ['send update#1', 'done 1:200']);
  });

  test('named path: an update queued behind the first goes before the held answer; a refused INVITE sends nothing held', () => {
    const s = spied();
    for (const ev of [...ringing, { type: 'REOFFER', id: 1 } as const, { type: 'REOFFER', id: 2 } as const, { type: 'ANSWER' } as const]) s.actor.send(ev);
    s.actor.send({ type: 'REINVITE.DONE', status: 200 });
    assert.equal(s.state(), 'answerHeld/inFlight/held sdp');
    s.actor.send({ type: 'REINVITE.DONE', status: 200 });
    assert.deepEqual(s.effects, ['send update#1', 'done 1:200', 'send update#2', 'done 2:200', 'answer sdp']);

    const c = spied();
    for (const ev of [...ringing, { type: 'REOFFER', id: 1 } as const, { type: 'ANSWER' } as const, { type: 'INVITE.REFUSED' } as const]) c.actor.send(ev);
    c.actor.send({ type: 'REINVITE.DONE', status: 200 });
    assert.deepEqual(c.effects, ['send update#1', 'done 1:200']);
    assert.equal(c.state(), 'rejected/idle/-');
  });
});
