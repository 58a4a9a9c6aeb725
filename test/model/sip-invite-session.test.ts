// Model-based tests for the INVITE session machine (machines/sipInviteSession.machine.ts): the
// RFC 3261 rules that span transactions and that the SIP leg used to keep in flags.
//
// Paths are generated from the machine (test/helpers/model.ts) and every state reached is checked
// against an oracle written from the RFC (§9.1 CANCEL after a provisional, §13.3.1.4 2xx until
// ACK, §14.1 one re-INVITE at a time and 491 glare, §15 BYE after the ACK, §22.2 one auth retry)
// for every sample event. Named scenarios then check the effects (action log) of the paths the
// issue names: BYE during a re-INVITE, BYE before the ACK, CANCEL racing a 200, re-INVITE glare.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createActor, createMachine, type EventObject, type SnapshotFrom } from 'xstate';
import { stateToString } from '../../src/actors/state.js';
import { runModel } from '../helpers/model.js';
import { initialSessionSnapshots } from '../../src/sip/ua/invite-session.js';
import { memoizeTransitions } from '../../src/actors/memo-transitions.js';
import {
  sipInviteSessionMachine,
  type SipInviteSessionEvent,
  type SipInviteSessionInput,
} from '../../machines/sipInviteSession.machine.js';

type Snap = SnapshotFrom<typeof sipInviteSessionMachine>;

// T1 = 1, T2 = 64: intervals 1, 2, 4 … 32, so the 64*T1 schedule is seven timer events long.
const uacInput: SipInviteSessionInput = { role: 'uac', t1: 1, t2: 64, unconfirmedLimit: 2 };
const uasInput: SipInviteSessionInput = { role: 'uas', t1: 1, t2: 64, unconfirmedLimit: 2 };

const uacEvents: SipInviteSessionEvent[] = [
  { type: 'DIAL' },
  { type: 'INVITE.PROVISIONAL', status: 100 },
  { type: 'INVITE.PROVISIONAL', status: 180 },
  { type: 'INVITE.ANSWERED' },
  { type: 'INVITE.UNUSABLE', reason: '2xx without an answer to our offer' },
  { type: 'INVITE.REJECTED', status: 407, retryable: true },
  { type: 'INVITE.REJECTED', status: 486, retryable: false },
  { type: 'CANCEL' },
  { type: 'INVITE.TIMEOUT', status: 408, reason: 'Timer B' },
  { type: 'INVITE.FAILED', status: 488, reason: 'answer refused: no codec in common' },
  { type: 'HANGUP' },
  { type: 'REINVITE', direction: 'sendonly' },
  { type: 'REINVITE', direction: 'sendrecv' },
  { type: 'REINVITE.DONE', status: 200 },
  { type: 'REINVITE.DONE', status: 491 },
  { type: 'GLARE.TIMER' },
  { type: 'SESSION.END' },
];

const uasEvents: SipInviteSessionEvent[] = [
  { type: 'RINGING' },
  { type: 'PROGRESS.SENT' },
  { type: 'EARLY_ANSWER.SENT' },
  { type: 'OFFER.END' },
  { type: 'ANSWER' },
  { type: 'INVITE.REFUSED' },
  { type: '2XX.SENT' },
  { type: 'ACK.RECEIVED' },
  { type: 'ACK.TIMER', confirmed: true },
  { type: 'ACK.TIMER', confirmed: false },
  { type: 'HANGUP' },
  { type: 'REINVITE', direction: 'sendonly' },
  { type: 'REINVITE.DONE', status: 200 },
  { type: 'REINVITE.DONE', status: 491 },
  { type: 'GLARE.TIMER' },
  { type: 'REMOTE.OFFER', hold: true },
  { type: 'REMOTE.OFFER', hold: false },
  { type: 'SESSION.END' },
];

interface Regions {
  invite: string;
  auth: string;
  ack: string;
  reinvite: string;
  bye: string;
  remoteHold: string;
}

/** The RFC's rules as plain code: the state each event must lead to. */
function oracle(_from: string, e: EventObject, snap: Snap): string | undefined {
  const ev = e as SipInviteSessionEvent;
  const r = { ...(snap.value as { active: Regions }).active };
  const c = snap.context;
  const calling = r.invite === 'calling' || r.invite === 'proceeding';
  const offered = ['offering', 'offeringRinging', 'offeringEarly', 'waiting', 'ringing', 'answerHeld'].includes(r.invite);
  const cancelled = r.invite === 'cancelQueued' || r.invite === 'cancelling';
  // §9.1: a call that ends with its INVITE cancelled (or to be) leaves the session to that INVITE's outcome.
  if (ev.type === 'SESSION.END') return cancelled ? stateToString({ active: r }) : 'ended';
  let hangup = false;
  switch (ev.type) {
    // UAS: the 180 and its early dialog wait for the end of the INVITE's step (offering*); a 183
    // sent in the step stands in for the 180.
    case 'RINGING':
      if (r.invite === 'offering') r.invite = 'offeringRinging';
      else if (r.invite === 'waiting') r.invite = 'ringing';
      break;
    case 'PROGRESS.SENT':
      if (r.invite === 'offeringRinging') r.invite = 'offeringEarly';
      break;
    case 'OFFER.END':
      if (r.invite === 'offering') r.invite = 'waiting';
      else if (r.invite === 'offeringRinging' || r.invite === 'offeringEarly') r.invite = 'ringing';
      break;
    case 'INVITE.REFUSED':
      if (offered) r.invite = 'rejected';
      break;
    // RFC 3311 §5.1: while ringing with an offer of ours out, the app's answer waits for that
    // offer's final response (released below once none is out).
    case 'ANSWER':
      if (r.invite === 'ringing' && r.reinvite === 'inFlight') r.invite = 'answerHeld';
      break;
    case 'DIAL':
      if (r.invite === 'idle') r.invite = 'calling';
      break;
    case 'INVITE.PROVISIONAL': // §9.1: any provisional (100 included) lets a held CANCEL go
      if (r.invite === 'calling') r.invite = 'proceeding';
      else if (r.invite === 'cancelQueued') r.invite = 'cancelling';
      break;
    case 'CANCEL':
      if (r.invite === 'calling') r.invite = 'cancelQueued';
      else if (r.invite === 'proceeding') r.invite = 'cancelling';
      break;
    case 'INVITE.ANSWERED':
      if (calling) r.invite = 'answered';
      if (cancelled) {
        r.invite = 'answered';
        hangup = true; // the 2xx won over our CANCEL: the dialog still needs its BYE
      }
      break;
    case 'INVITE.UNUSABLE': // a 2xx that makes no session (no answer to our offer): its dialog gets a BYE
      if (calling || cancelled) {
        r.invite = 'answered';
        hangup = true;
      }
      break;
    case 'INVITE.REJECTED':
      if (calling && ev.retryable && r.auth === 'untried') {
        r.invite = 'calling';
        r.auth = 'tried';
      } else if (calling || cancelled) r.invite = 'rejected';
      break;
    case 'INVITE.TIMEOUT':
    case 'INVITE.FAILED': // every branch's answer refused: over as by Timer B
      if (calling || cancelled) r.invite = 'rejected';
      break;
    case '2XX.SENT': // (the dialog of an abandoned 2xx is over: no 2xx follows)
      if (offered) r.invite = 'answered';
      if (r.ack !== 'abandoned') r.ack = 'awaiting';
      break;
    case 'ACK.RECEIVED':
      if (r.ack === 'awaiting') r.ack = 'acked';
      break;
    case 'ACK.TIMER':
      if (r.ack === 'awaiting') {
        const over = c.ack.elapsed + c.ack.interval >= 64 * c.t1;
        const unconfirmedDone = !ev.confirmed && c.ack.sent >= c.unconfirmedLimit;
        if (over || unconfirmedDone) r.ack = ev.confirmed ? 'timedOut' : 'abandoned';
      }
      break;
    case 'REINVITE':
      if (r.reinvite === 'idle' && r.bye === 'none') r.reinvite = 'inFlight';
      break;
    case 'REINVITE.DONE':
      if (r.reinvite === 'inFlight') {
        if (r.bye === 'queued') r.reinvite = 'idle';
        else if (ev.status === 491) r.reinvite = 'glare';
        else r.reinvite = c.queued ? 'inFlight' : 'idle';
      }
      break;
    case 'GLARE.TIMER':
      if (r.reinvite === 'glare') r.reinvite = 'inFlight';
      break;
    case 'REMOTE.OFFER':
      r.remoteHold = ev.hold ? 'held' : 'notHeld';
      break;
    case 'HANGUP':
      hangup = true;
      break;
  }
  if (hangup) {
    // §15: the BYE waits for our re-INVITE and for the ACK of our 2xx; none to an unconfirmed peer.
    const busy = r.reinvite === 'inFlight' || r.ack === 'awaiting';
    if (r.reinvite === 'glare') r.reinvite = 'idle';
    if (r.bye === 'none') r.bye = r.ack === 'abandoned' ? 'withheld' : busy ? 'queued' : 'sent';
  }
  if (r.invite === 'answerHeld' && r.reinvite !== 'inFlight') r.invite = 'ringing';
  if (r.bye === 'queued') {
    if (r.ack === 'abandoned') r.bye = 'withheld';
    else if (r.reinvite !== 'inFlight' && r.ack !== 'awaiting') r.bye = 'sent';
  }
  // The call was over: the INVITE's outcome (a final, Timer B, a 2xx once BYEd) ends the session.
  if (c.callEnded && (r.invite === 'rejected' || (r.invite === 'answered' && r.bye === 'sent'))) return 'ended';
  return stateToString({ active: r });
}

type Logged = { type: string; params?: unknown };

const effectNames = [
  'sendRinging', 'dialogEarly', 'sendInvite', 'retryWithAuth', 'sendCancel', 'notifyProgress', 'notifyAnswered', 'notifyRejected', 'notifyFailed', 'retransmit2xx', 'ackTimedOut',
  'sendAnswer', 'sendReinvite', 'sendBye', 'notifyRemoteHold', 'notifyRemoteResume', 'startTimer', 'stopTimer',
] as const;

/** An actor whose effects are logged; `snapshot`: started from it (as the UA does) instead of afresh. */
function spied(input: SipInviteSessionInput, machine = sipInviteSessionMachine, snapshot?: unknown) {
  const log: Logged[] = [];
  const actions = Object.fromEntries(effectNames.map((n) => [n, (_: unknown, params: unknown) => log.push(params === undefined ? { type: n } : { type: n, params })]));
  const actor = createActor(machine.provide({ actions: actions as never }), { input, ...(snapshot ? { snapshot: snapshot as never } : {}) });
  actor.start();
  const did = (type: string) => log.filter((l) => l.type === type);
  const send = (...events: SipInviteSessionEvent[]) => {
    for (const ev of events) actor.send(ev);
  };
  return { actor, log, did, send, at: () => stateToString(actor.getSnapshot().value) };
}

/**
 * Early media without 100rel: our answer in an unreliable 183 counts only while the INVITE awaits
 * our final response (before a 2xx or a refusal, and before the session ended).
 */
function earlyAnswerRule(events: EventObject[], snap: Snap): void {
  const over = (i: number) => events.slice(0, i).some((e) => e.type === '2XX.SENT' || e.type === 'INVITE.REFUSED' || e.type === 'SESSION.END');
  const want = events.some((e, i) => e.type === 'EARLY_ANSWER.SENT' && !over(i));
  assert.equal(snap.context.earlyAnswer, want, 'early media only from a 183 before our final response');
}

/** The shortest paths reach each (state, context) once; random UAS sequences also reach it the wrong way. */
function randomEarlyAnswers(machine: typeof sipInviteSessionMachine, n = 500): void {
  let seed = 183;
  const rnd = (k: number) => ((seed = (seed * 1103515245 + 12345) % 2 ** 31), Math.floor(seed / 65536) % k); // (the high bits: the low ones cycle)
  for (let i = 0; i < n; i++) {
    const a = createActor(machine, { input: uasInput }).start();
    const sent: EventObject[] = [];
    for (let j = 0, len = 1 + rnd(8); j < len; j++) {
      const ev = uasEvents[rnd(uasEvents.length)]!;
      sent.push(ev);
      a.send(ev);
    }
    const snap = a.getSnapshot();
    if (snap.status === 'active') earlyAnswerRule(sent, snap);
    a.stop();
  }
}

describe('sipInviteSession machine: model paths with an RFC oracle', () => {
  test('UAC: INVITE, CANCEL gating, auth retry, re-INVITE queue and glare, BYE', async () => {
    const r = await runModel({ machine: sipInviteSessionMachine, input: uacInput, events: uacEvents, oracle, states: { ended: () => {} } });
    assert.ok(r.paths > 50, `paths: ${r.paths}`);
  });

  test('UAS: 2xx until ACK, BYE after the ACK, re-INVITE, remote hold', async () => {
    const r = await runModel({ machine: sipInviteSessionMachine, input: uasInput, events: uasEvents, oracle, states: { ended: () => {} }, afterPath: earlyAnswerRule });
    assert.ok(r.paths > 50, `paths: ${r.paths}`);
  });

  test('the model tests catch a planted bug (an unreliable 183 after our 2xx counted as early media)', async () => {
    const buggy = sipInviteSessionMachine.provide({ guards: {} });
    const cfg = buggy.config;
    const invite = cfg.states!.active!.states!.invite!;
    const planted = createMachine(
      {
        ...cfg,
        states: {
          ...cfg.states,
          active: {
            ...cfg.states!.active!,
            states: { ...cfg.states!.active!.states, invite: { ...invite, on: { ...invite.on, 'EARLY_ANSWER.SENT': { actions: 'markEarlyAnswer' } } } },
          },
        },
      } as typeof cfg,
      sipInviteSessionMachine.implementations as never,
    ) as unknown as typeof sipInviteSessionMachine;
    assert.throws(() => randomEarlyAnswers(planted), /early media only from a 183 before our final response/);
  });

  test('UAS: early media without 100rel over 500 random event sequences (the rule above)', () => {
    randomEarlyAnswers(sipInviteSessionMachine);
  });

  test('the model tests catch a planted bug (the session ends with the call while its CANCEL waits for a provisional)', async () => {
    const buggy = sipInviteSessionMachine.provide({ guards: { outlivesCall: () => false } });
    await assert.rejects(
      runModel({ machine: buggy, input: uacInput, events: uacEvents, oracle, states: { ended: () => {} } }),
      /oracle: .*invite\.cancel(Queued|ling).*--SESSION\.END--> expected .*invite\.cancel/,
    );
  });

  test('the model tests catch a planted bug (a BYE that does not wait for the re-INVITE)', async () => {
    const buggy = sipInviteSessionMachine.provide({ guards: { byeMustWait: () => false } });
    await assert.rejects(
      runModel({ machine: buggy, input: uacInput, events: uacEvents, oracle, states: { ended: () => {} } }),
      /oracle: .*reinvite\.inFlight.*--(HANGUP|INVITE\.ANSWERED)--> expected .*bye\.queued/,
    );
  });
});

describe('sipInviteSession machine: the named paths and their effects', () => {
  test('BYE during a re-INVITE waits for its final response; a hold asked for meanwhile is dropped', () => {
    const s = spied(uacInput);
    s.send({ type: 'REINVITE', direction: 'sendonly' }, { type: 'HANGUP' }, { type: 'REINVITE', direction: 'sendrecv' });
    assert.deepEqual(s.did('sendReinvite'), [{ type: 'sendReinvite', params: { direction: 'sendonly' } }]);
    assert.equal(s.did('sendBye').length, 0, 'no BYE while our re-INVITE is in flight');
    s.send({ type: 'REINVITE.DONE', status: 200 });
    assert.equal(s.did('sendBye').length, 1);
    assert.equal(s.did('sendReinvite').length, 1, 'the queued direction is not sent after the BYE');
    s.send({ type: 'HANGUP' }, { type: 'REINVITE', direction: 'sendonly' });
    assert.equal(s.did('sendBye').length, 1, 'one BYE');
    assert.equal(s.did('sendReinvite').length, 1, 'no re-INVITE after the BYE');
  });

  test('one re-INVITE at a time: the latest wish is sent after the first completes', () => {
    const s = spied(uacInput);
    s.send({ type: 'REINVITE', direction: 'sendonly' }, { type: 'REINVITE', direction: 'sendrecv' }, { type: 'REINVITE', direction: 'sendonly' });
    assert.equal(s.did('sendReinvite').length, 1);
    s.send({ type: 'REINVITE.DONE', status: 200 });
    assert.deepEqual(s.did('sendReinvite').map((l) => l.params), [{ direction: 'sendonly' }, { direction: 'sendonly' }]);
    s.send({ type: 'REINVITE.DONE', status: 408 });
    assert.match(s.at(), /reinvite\.idle/);
  });

  test('BYE before the ACK: held until the ACK; the 2xx is retransmitted T1, 2T1 … meanwhile', () => {
    const s = spied({ role: 'uas', t1: 500, t2: 4000, unconfirmedLimit: 4 });
    s.send({ type: '2XX.SENT' });
    assert.deepEqual(s.did('startTimer').at(-1)?.params, { timer: 'ack2xx', ms: 500 });
    s.send({ type: 'HANGUP' }, { type: 'ACK.TIMER', confirmed: true }, { type: 'ACK.TIMER', confirmed: true });
    assert.equal(s.did('retransmit2xx').length, 2);
    assert.deepEqual(s.did('startTimer').map((l) => (l.params as { ms: number }).ms), [500, 1000, 2000]);
    assert.equal(s.did('sendBye').length, 0, 'no BYE before the ACK (§15)');
    s.send({ type: 'ACK.RECEIVED' });
    assert.equal(s.did('sendBye').length, 1);
    assert.deepEqual(s.did('stopTimer').at(-1)?.params, { timer: 'ack2xx' });
  });

  test('BYE before an ACK that never comes: sent at 64*T1 to a confirmed peer, withheld from an unconfirmed one', () => {
    const confirmed = spied({ role: 'uas', t1: 500, t2: 4000, unconfirmedLimit: 4 });
    confirmed.send({ type: '2XX.SENT' }, { type: 'HANGUP' });
    let ticks = 0;
    while (confirmed.did('ackTimedOut').length === 0 && ticks < 50) {
      confirmed.send({ type: 'ACK.TIMER', confirmed: true });
      ticks++;
    }
    // At 0.5, 1.5, 3.5, 7.5, 11.5 … 31.5 s: ten retransmissions, then 64*T1 = 32 s is over.
    assert.equal(confirmed.did('retransmit2xx').length, 10);
    assert.deepEqual(confirmed.did('ackTimedOut')[0]?.params, { confirmed: true });
    assert.equal(confirmed.did('sendBye').length, 1);

    const unconfirmed = spied({ role: 'uas', t1: 500, t2: 4000, unconfirmedLimit: 4 });
    unconfirmed.send({ type: '2XX.SENT' }, { type: 'HANGUP' });
    for (let i = 0; i < 5; i++) unconfirmed.send({ type: 'ACK.TIMER', confirmed: false });
    assert.equal(unconfirmed.did('retransmit2xx').length, 4);
    assert.deepEqual(unconfirmed.did('ackTimedOut')[0]?.params, { confirmed: false });
    assert.equal(unconfirmed.did('sendBye').length, 0, 'no BYE toward an address never confirmed');
    unconfirmed.send({ type: 'HANGUP' });
    assert.equal(unconfirmed.did('sendBye').length, 0);
  });

  test('CANCEL racing a 200: held until a provisional, and a 2xx that wins still gets its BYE', () => {
    const early = spied(uacInput);
    early.send({ type: 'DIAL' }, { type: 'CANCEL' });
    assert.equal(early.did('sendCancel').length, 0, '§9.1: no CANCEL before a provisional');
    early.send({ type: 'INVITE.ANSWERED' });
    assert.equal(early.did('notifyAnswered').length, 0);
    assert.equal(early.did('sendCancel').length, 0);
    assert.equal(early.did('sendBye').length, 1, 'the 2xx won: BYE');

    const late = spied(uacInput);
    late.send({ type: 'DIAL' }, { type: 'INVITE.PROVISIONAL', status: 100 }, { type: 'CANCEL' });
    assert.equal(late.did('sendCancel').length, 1);
    assert.equal(late.did('notifyProgress').length, 1, 'the 100 is reported (the runtime drops it)');
    late.send({ type: 'INVITE.ANSWERED' }, { type: 'INVITE.ANSWERED' });
    assert.equal(late.did('sendBye').length, 1);
    assert.equal(late.did('notifyAnswered').length, 0);

    const queued = spied(uacInput);
    queued.send({ type: 'DIAL' }, { type: 'CANCEL' }, { type: 'INVITE.PROVISIONAL', status: 180 });
    assert.equal(queued.did('sendCancel').length, 1, 'the held CANCEL goes with the first provisional');
    queued.send({ type: 'INVITE.REJECTED', status: 487, retryable: false });
    assert.deepEqual(queued.did('notifyRejected')[0]?.params, { status: 487, reason: undefined, contacts: undefined });
    assert.equal(queued.did('sendBye').length, 0);
  });

  test('a 2xx that makes no session (no answer to our offer): the call fails, never answered, and the dialog gets its BYE', () => {
    const s = spied(uacInput);
    s.send({ type: 'DIAL' }, { type: 'INVITE.PROVISIONAL', status: 183 }, { type: 'INVITE.UNUSABLE', reason: '2xx without an answer to our offer' });
    assert.equal(s.did('notifyAnswered').length, 0);
    assert.deepEqual(s.did('notifyFailed').map((l) => l.params), [{ reason: '2xx without an answer to our offer' }]);
    assert.equal(s.did('sendBye').length, 1);
    s.send({ type: 'INVITE.ANSWERED' }, { type: 'INVITE.UNUSABLE', reason: 'again' }, { type: 'HANGUP' });
    assert.deepEqual([s.did('notifyAnswered').length, s.did('notifyFailed').length, s.did('sendBye').length], [0, 1, 1], 'a retransmission changes nothing');
    // A call already hung up (its CANCEL pending): the BYE alone, then the session ends.
    const over = spied(uacInput);
    over.send({ type: 'DIAL' }, { type: 'CANCEL' }, { type: 'SESSION.END' }, { type: 'INVITE.UNUSABLE', reason: 'x' });
    assert.deepEqual([over.did('notifyFailed').length, over.did('sendBye').length, over.actor.getSnapshot().status], [0, 1, 'done']);
  });

  test('a call hung up before any provisional: the session outlives it until the INVITE’s outcome (§9.1)', () => {
    const over = (...events: SipInviteSessionEvent[]) => {
      const s = spied(uacInput);
      s.send({ type: 'DIAL' }, { type: 'CANCEL' }, { type: 'SESSION.END' }, ...events);
      return { ...s, status: s.actor.getSnapshot().status, count: (t: string) => s.did(t).length };
    };
    assert.equal(over().status, 'active', 'the session waits for a provisional');
    // A 180: the CANCEL goes then; its 487 ends the session (the call, over, hears of neither).
    const rang = over({ type: 'INVITE.PROVISIONAL', status: 180 }, { type: 'INVITE.REJECTED', status: 487, retryable: false });
    assert.deepEqual([rang.count('sendCancel'), rang.count('notifyProgress'), rang.count('notifyRejected'), rang.status], [1, 0, 0, 'done']);
    // A 2xx instead: no CANCEL ever (§9.1), a BYE for its dialog, then the end.
    const answered = over({ type: 'INVITE.ANSWERED' });
    assert.deepEqual([answered.count('sendCancel'), answered.count('sendBye'), answered.count('notifyAnswered'), answered.status], [0, 1, 0, 'done']);
    // Nothing: Timer B ends it without a word to the call; a live call's INVITE fails through the session.
    const silent = over({ type: 'INVITE.TIMEOUT', status: 408, reason: 'Timer B' });
    assert.deepEqual([silent.count('sendCancel'), silent.count('notifyFailed'), silent.status], [0, 0, 'done']);
    const live = spied(uacInput);
    live.send({ type: 'DIAL' }, { type: 'INVITE.TIMEOUT', status: 408, reason: 'no response to INVITE' });
    assert.deepEqual(live.did('notifyFailed')[0]?.params, { status: 408, reason: 'no response to INVITE' });
    // Every branch's answer refused: a live call fails with why; a cancelled one ends without a word.
    const refused = spied(uacInput);
    refused.send({ type: 'DIAL' }, { type: 'INVITE.PROVISIONAL', status: 183 }, { type: 'INVITE.FAILED', status: 488, reason: 'answer refused: no codec in common' });
    assert.deepEqual(refused.did('notifyFailed')[0]?.params, { status: 488, reason: 'answer refused: no codec in common' });
    const gone = over({ type: 'INVITE.PROVISIONAL', status: 180 }, { type: 'INVITE.FAILED', status: 488, reason: 'answer refused' });
    assert.deepEqual([gone.count('notifyFailed'), gone.status], [0, 'done']);
  });

  test('re-INVITE glare (491): the offer is tried again after the glare timer; a hangup cancels the retry', () => {
    const s = spied(uasInput);
    s.send({ type: 'REINVITE', direction: 'sendonly' }, { type: 'REINVITE.DONE', status: 491 });
    assert.deepEqual(s.did('startTimer').at(-1)?.params, { timer: 'glare' });
    s.send({ type: 'GLARE.TIMER' });
    assert.deepEqual(s.did('sendReinvite').map((l) => l.params), [{ direction: 'sendonly' }, { direction: 'sendonly' }]);
    s.send({ type: 'REINVITE.DONE', status: 491 }, { type: 'REINVITE', direction: 'sendrecv' }, { type: 'GLARE.TIMER' });
    assert.deepEqual(s.did('sendReinvite').at(-1)?.params, { direction: 'sendrecv' }, 'the latest wish is what is retried');
    s.send({ type: 'REINVITE.DONE', status: 491 }, { type: 'HANGUP' });
    assert.deepEqual(s.did('stopTimer').at(-1)?.params, { timer: 'glare' });
    assert.equal(s.did('sendBye').length, 1, 'a BYE does not wait for a glare retry');
    s.send({ type: 'GLARE.TIMER' });
    assert.equal(s.did('sendReinvite').length, 3);
  });

  test('auth retry once: a second challenge is a rejection', () => {
    const s = spied(uacInput);
    s.send({ type: 'DIAL' }, { type: 'INVITE.REJECTED', status: 401, retryable: true });
    assert.equal(s.did('retryWithAuth').length, 1);
    assert.match(s.at(), /invite\.calling/);
    s.send({ type: 'INVITE.REJECTED', status: 401, retryable: true });
    assert.equal(s.did('retryWithAuth').length, 1);
    assert.equal(s.did('notifyRejected').length, 1);
  });

  test('remote hold follows the peer’s offers, starting from the initial INVITE’s', () => {
    const s = spied({ ...uasInput, heldByRemote: true });
    s.send({ type: 'REMOTE.OFFER', hold: true });
    assert.equal(s.did('notifyRemoteHold').length, 0, 'already held by the initial offer');
    s.send({ type: 'REMOTE.OFFER', hold: false }, { type: 'REMOTE.OFFER', hold: false });
    assert.equal(s.did('notifyRemoteResume').length, 1);
  });

  test('the 180 and its early dialog wait for the end of the INVITE’s step, and an answer in it goes alone', () => {
    const late = spied(uasInput);
    late.send({ type: 'RINGING' });
    assert.equal(late.did('dialogEarly').length, 0, 'held during the step');
    assert.equal(late.did('sendRinging').length, 0, 'no 180 during the step');
    late.send({ type: 'OFFER.END' });
    assert.equal(late.did('sendRinging').length, 1, 'the 180 goes when the step ends unanswered');
    assert.equal(late.did('dialogEarly').length, 1, 'released when the step ends unanswered');
    assert.deepEqual(late.log.filter((l) => l.type === 'sendRinging' || l.type === 'dialogEarly').map((l) => l.type), ['sendRinging', 'dialogEarly']);
    late.send({ type: '2XX.SENT' });
    assert.match(late.at(), /invite\.answered/);

    const quick = spied(uasInput);
    quick.send({ type: 'RINGING' }, { type: '2XX.SENT' }, { type: 'OFFER.END' });
    assert.equal(quick.did('dialogEarly').length, 0, 'answered in the step: straight to confirmed');
    assert.equal(quick.did('sendRinging').length, 0, 'answered in the step: no 180 ahead of the 200');

    const refused = spied(uasInput);
    refused.send({ type: 'RINGING' }, { type: 'INVITE.REFUSED' }, { type: 'OFFER.END' });
    assert.equal(refused.did('sendRinging').length, 0, 'refused in the step: no 180 ahead of the refusal');

    const early = spied(uasInput);
    early.send({ type: 'RINGING' }, { type: 'PROGRESS.SENT' }, { type: 'OFFER.END' });
    assert.equal(early.did('sendRinging').length, 0, 'a 183 sent in the step: no 180 after it');
    assert.equal(early.did('dialogEarly').length, 1, 'the 183 made the dialog early');

    const after = spied(uasInput);
    after.send({ type: 'OFFER.END' }, { type: 'RINGING' });
    assert.equal(after.did('sendRinging').length, 1, 'a call that rings after the step sends its 180 at once');
    assert.equal(after.did('dialogEarly').length, 1, 'a 180 after the step makes the dialog early at once');
    after.send({ type: 'INVITE.REFUSED' });
    assert.match(after.at(), /invite\.rejected/);
  });

  test('SESSION.END stops the timers', () => {
    const s = spied(uasInput);
    s.send({ type: '2XX.SENT' }, { type: 'SESSION.END' });
    assert.equal(s.actor.getSnapshot().status, 'done');
    assert.deepEqual(s.did('stopTimer').at(-1)?.params, { timer: 'ack2xx' });
  });
});

describe('sipInviteSession machine: the UA starts sessions from the cached initial snapshot', () => {
  const heldUas: SipInviteSessionInput = { ...uasInput, heldByRemote: true };
  const startOf = initialSessionSnapshots(sipInviteSessionMachine);

  test('the cached snapshot is the machine’s own initial snapshot, per input', () => {
    for (const input of [uacInput, uasInput, heldUas]) {
      const fresh = createActor(sipInviteSessionMachine, { input }).getSnapshot();
      const restored = createActor(sipInviteSessionMachine, { input, snapshot: startOf(input) as never }).getSnapshot();
      assert.deepEqual(restored.value, fresh.value, input.role);
      assert.deepEqual(restored.context, fresh.context, input.role);
      assert.equal(startOf(input), startOf({ ...input }), 'computed once per input');
    }
    assert.notDeepEqual(startOf(uasInput), startOf(heldUas), 'heldByRemote is part of the key');
  });

  test('a machine whose start has effects gets no cached snapshot', () => {
    for (const input of [uacInput, uasInput, heldUas]) assert.ok(startOf(input), `${input.role}: the real machine's start is pure and cached`);
    let ran = 0;
    const effectful = createMachine({ ...sipInviteSessionMachine.config, entry: () => void ran++ }, sipInviteSessionMachine.implementations);
    assert.equal(initialSessionSnapshots(effectful)(uasInput), undefined);
    assert.equal(ran, 0, 'probing ran no effect');
  });

  /**
   * Every path the model generates, run from both starts with the effects logged: the same
   * effects in the same order and the same snapshot after every event.
   */
  async function sameFromBothStarts(input: SipInviteSessionInput, events: SipInviteSessionEvent[], start = startOf(input)): Promise<number> {
    let compared = 0;
    await runModel({
      machine: sipInviteSessionMachine,
      input,
      events,
      makeActor: (clock) => createActor(sipInviteSessionMachine, { input, clock, ...(start ? { snapshot: start as never } : {}) }),
      oracle,
      states: { ended: () => {} },
      afterPath: (sent) => {
        const fresh = spied(input);
        const restored = spied(input, sipInviteSessionMachine, start);
        assert.deepEqual(restored.log, fresh.log, 'effects of the start');
        for (const ev of sent) {
          fresh.send(ev as SipInviteSessionEvent);
          restored.send(ev as SipInviteSessionEvent);
          assert.deepEqual(restored.log, fresh.log, `effects after ${ev.type}`);
          assert.deepEqual(restored.actor.getSnapshot().value, fresh.actor.getSnapshot().value, `state after ${ev.type}`);
          assert.deepEqual(restored.actor.getSnapshot().context, fresh.actor.getSnapshot().context, `context after ${ev.type}`);
        }
        compared++;
      },
    });
    return compared;
  }

  test('UAC, UAS and a UAS held from the start: every model path behaves the same from both starts', async () => {
    assert.ok((await sameFromBothStarts(uacInput, uacEvents)) > 50);
    assert.ok((await sameFromBothStarts(uasInput, uasEvents)) > 50);
    assert.ok((await sameFromBothStarts(heldUas, uasEvents)) > 50);
  });

  test('the comparison catches a planted bug (a cached start of the wrong input)', async () => {
    await assert.rejects(sameFromBothStarts(uasInput, uasEvents, startOf(heldUas)), /actor ended in|actor is not in|state after|context after|effects/);
  });
});

describe('sipInviteSession machine: the UA reuses its payload-free transitions (memoizeTransitions)', () => {
  const heldUas: SipInviteSessionInput = { ...uasInput, heldByRemote: true };
  const keyOf = (i: SipInviteSessionInput) => JSON.stringify(i);

  /**
   * One memoized logic shared by every path's actor (as the UA shares it by all its calls), its
   * effects logged per actor through `self`: each path runs on it and on a plain actor started
   * afresh, with the same effects (and params) in the same order and the same snapshot after every
   * event; the memo actor is checked against the RFC oracle too.
   */
  async function sameAsTheMachine(runs: Array<[SipInviteSessionInput, SipInviteSessionEvent[]]>, reusable?: (e: EventObject) => boolean) {
    const logs = new Map<string, Logged[]>();
    const actions = Object.fromEntries(
      effectNames.map((n) => [n, ({ self }: { self: { id: string } }, params: unknown) => logs.get(self.id)?.push(params === undefined ? { type: n } : { type: n, params })]),
    );
    const memo = memoizeTransitions(sipInviteSessionMachine.provide({ actions: actions as never }), reusable);
    let seq = 0;
    let compared = 0;
    for (const [input, events] of runs) {
      const start = memo.start(input, keyOf(input));
      assert.ok(start, `${input.role}: the machine's start is pure`);
      const memoActor = (clock?: unknown) => {
        const id = `m${++seq}`;
        logs.set(id, []);
        return createActor(memo.logic, { id, input, snapshot: start.persisted as never, ...(clock ? { clock: clock as never } : {}) });
      };
      await runModel({
        machine: sipInviteSessionMachine,
        input,
        events,
        makeActor: (clock) => memoActor(clock) as never,
        oracle,
        states: { ended: () => {} },
        afterPath: (sent) => {
          const plain = spied(input);
          const m = memoActor().start();
          const log = logs.get(m.id)!;
          for (const ev of sent) {
            plain.send(ev as SipInviteSessionEvent);
            m.send(ev as SipInviteSessionEvent);
            assert.deepEqual(log, plain.log, `effects after ${ev.type}`);
            assert.deepEqual(m.getSnapshot().value, plain.actor.getSnapshot().value, `state after ${ev.type}`);
            assert.deepEqual(m.getSnapshot().context, plain.actor.getSnapshot().context, `context after ${ev.type}`);
            assert.equal(m.getSnapshot().status, plain.actor.getSnapshot().status, `status after ${ev.type}`);
          }
          logs.delete(m.id);
          compared++;
        },
      });
    }
    return { compared, reused: memo.reused };
  }

  test('UAC, UAS and a UAS held from the start: every model path has the machine’s effects and states', async () => {
    const r = await sameAsTheMachine([
      [uacInput, uacEvents],
      [uasInput, uasEvents],
      [heldUas, uasEvents],
    ]);
    assert.ok(r.compared > 150, `paths compared: ${r.compared}`);
    assert.ok(r.reused > 1000, `steps answered from the memo: ${r.reused}`);
  });

  test('a UAS call answered at once is answered from the memo after the first call', () => {
    const memo = memoizeTransitions(sipInviteSessionMachine);
    const start = memo.start(uasInput, keyOf(uasInput))!;
    const call = () => {
      const a = createActor(memo.logic, { input: uasInput, snapshot: start.persisted as never }).start();
      for (const type of ['RINGING', '2XX.SENT', 'OFFER.END', 'ACK.RECEIVED', 'SESSION.END'] as const) a.send({ type });
      return a.getSnapshot();
    };
    const first = call();
    const before = memo.reused;
    const second = call();
    assert.equal(memo.reused - before, 5, 'every step of the second call reused');
    assert.equal(second, first, 'the same (shared, frozen) final snapshot');
    assert.ok(Object.isFrozen(second.context));
  });

  test('the comparison catches a planted bug (a memo that ignores event payloads)', async () => {
    await assert.rejects(sameAsTheMachine([[uasInput, uasEvents]], () => true), /oracle|actor ended in|actor is not in|effects after|state after|context after/);
  });
});
