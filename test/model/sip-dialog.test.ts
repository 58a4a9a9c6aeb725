// Model-based tests for the RFC 3261 §12 dialog machine, which has no timers. Two kinds of run
// (runDialogModel): every reachable state, each sample event sent once to a real actor restored
// there; and xstate/graph's simple paths, each driving a fresh real actor that must agree with the
// model (value + context). Actions are spied on, and every step is checked two ways: the event had
// the effect §12 prescribes (judged from the actor's before/after snapshots and action log, not
// from the machine's code), and an oracle written from §12/§15 predicts the state it leads to.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createTestModel } from 'xstate/graph';
import { assign, createActor, createMachine, getNextSnapshot, type SnapshotFrom } from 'xstate';
import {
  sipDialogMachine,
  type SipDialogContext,
  type SipDialogEvent,
  type SipDialogInput,
  type SipDialogOutput,
} from '../../machines/sipDialog.machine.js';
import { RR_18X, RR_2XX, RR_FORK, uacInput, uasInput } from '../helpers/sip-dialog-inputs.js';

type Snap = SnapshotFrom<typeof sipDialogMachine>;

/** Event samples; CSeq values follow the state so that both in-order and stale requests occur. */
function samples(snap: Snap): SipDialogEvent[] {
  const r = snap.context.remoteCSeq;
  // The peer's tag: To tag of Bob's responses for the UAC, From tag of Alice's INVITE for the UAS.
  const peer = snap.context.role === 'uac' ? 'a6c85cf' : '1928301774';
  const aside = snap.context.branches.find((b) => b.remoteTag === 'forked-8')?.remoteCSeq;
  // UAC: requests from the early dialog of branch forked-8 (its UPDATE, numbered below the other
  // branch's 101, then a stale INFO once it has a sequence) and from a To tag no dialog has.
  const otherBranchRequests: SipDialogEvent[] =
    snap.context.role === 'uac'
      ? [
          { type: 'REQUEST.RECEIVED', method: 'UPDATE', cseq: (aside ?? 99) + 1, contact: 'sip:forked@198.51.100.10', remoteTag: 'forked-8' },
          ...(aside !== undefined ? [{ type: 'REQUEST.RECEIVED', method: 'INFO', cseq: aside, remoteTag: 'forked-8' } as const] : []),
          { type: 'REQUEST.RECEIVED', method: 'UPDATE', cseq: 7, remoteTag: 'forked-9' },
          { type: 'BYE.RECEIVED', cseq: 8, remoteTag: 'forked-9' },
          // §15: our BYE in one early dialog (a branch whose answer we refused).
          { type: 'EARLY.BYE', remoteTag: peer },
          { type: 'EARLY.BYE', remoteTag: 'forked-8' },
        ]
      : [];
  return [
    ...otherBranchRequests,
    { type: 'DIALOG.EARLY', remoteTag: peer, remoteTarget: 'sip:bob@192.0.2.4', recordRoute: RR_18X },
    { type: 'DIALOG.CONFIRMED', remoteTag: peer, remoteTarget: 'sip:bob@192.0.2.5', recordRoute: RR_2XX },
    { type: 'DIALOG.CONFIRMED', remoteTag: 'forked-7', remoteTarget: 'sip:bob@198.51.100.9', recordRoute: RR_FORK },
    // A 1xx from another branch of a forked INVITE, without a Contact.
    { type: 'DIALOG.EARLY', remoteTag: 'forked-8', recordRoute: RR_FORK },
    { type: 'DIALOG.REJECTED', status: 486 },
    { type: 'REQUEST.SEND', method: 'INFO', body: 'Signal=5\r\nDuration=160\r\n', contentType: 'application/dtmf-relay' },
    { type: 'REQUEST.SEND', method: 'ACK' },
    { type: 'REQUEST.SEND', method: 'BYE' },
    { type: 'REQUEST.RECEIVED', method: 'UPDATE', cseq: (r ?? 100) + 1, contact: 'sip:peer@203.0.113.7' },
    { type: 'REQUEST.RECEIVED', method: 'INFO', cseq: r ?? 100 },
    { type: 'REQUEST.RECEIVED', method: 'ACK', cseq: r ?? 100 },
    { type: 'REQUEST.RECEIVED', method: 'BYE', cseq: (r ?? 100) + 1 },
    { type: 'RESPONSE.RECEIVED', method: 'INVITE', status: 200, contact: 'sip:peer@203.0.113.8' },
    { type: 'RESPONSE.RECEIVED', method: 'INFO', status: 481 },
    { type: 'RESPONSE.RECEIVED', method: 'INFO', status: 408 },
    // A PRACK's 481 from the early dialog of branch forked-8 (a forked INVITE's other branch).
    { type: 'RESPONSE.RECEIVED', method: 'PRACK', status: 481, remoteTag: 'forked-8' },
    { type: 'REQUEST.SEND', method: 'REFER', headers: [['Refer-To', '<sip:carol@chicago.com>']] },
    { type: 'BYE.RECEIVED', cseq: (r ?? 100) + 1 },
    { type: 'DIALOG.TERMINATE', reason: 'app-shutdown' },
  ];
}

const stateOf = (s: Snap): string => (s.status === 'done' ? 'terminated' : typeof s.value === 'string' ? s.value : Object.values(s.value)[0]!);

/** The response answers a request sent in another dialog than this one (another To tag, UAC). */
const fromOtherDialog = (ev: SipDialogEvent, ctx: SipDialogContext): boolean =>
  ev.type === 'RESPONSE.RECEIVED' && ctx.role === 'uac' && ev.remoteTag !== undefined && ctx.remoteTag !== undefined && ev.remoteTag !== ctx.remoteTag;

/** §12/§13/§15 as a table: the state an event must lead to (undefined = stay). */
const fromOtherTag = (ev: { remoteTag?: string }, ctx: SipDialogContext): boolean =>
  ctx.role === 'uac' && ev.remoteTag !== undefined && ctx.remoteTag !== undefined && ev.remoteTag !== ctx.remoteTag;

function oracle(from: string, ev: SipDialogEvent, ctx: SipDialogContext): string | undefined {
  if (ev.type === 'DIALOG.TERMINATE') return 'terminated';
  if (from === 'init') {
    if (ev.type === 'DIALOG.EARLY') return 'early';
    if (ev.type === 'DIALOG.CONFIRMED') return 'confirmed';
    if (ev.type === 'DIALOG.REJECTED') return 'terminated';
    return undefined;
  }
  const stale = (cseq: number | undefined) => cseq !== undefined && ctx.remoteCSeq !== undefined && cseq <= ctx.remoteCSeq;
  // Only the caller may send BYE on an early dialog (§15).
  const mayBye = from === 'confirmed' || ctx.role === 'uac';
  if (ev.type === 'REQUEST.SEND' && ev.method === 'BYE') return mayBye ? 'terminated' : undefined;
  if (ev.type === 'REQUEST.RECEIVED' && ev.method === 'BYE') return stale(ev.cseq) ? undefined : 'terminated';
  // UAC: a BYE from a tag not the dialog's (a late branch's) is refused.
  if (ev.type === 'BYE.RECEIVED') return stale(ev.cseq) || fromOtherTag(ev, ctx) ? undefined : 'terminated';
  // §12.2.1.2: a 481/408 ends the dialog the request was sent in; another branch's early dialog
  // (a PRACK to a 1xx this dialog no longer follows) is not this one.
  // A UAC's early dialog is one branch's: while another branch rang, the call goes on in that one.
  if (ev.type === 'RESPONSE.RECEIVED' && (ev.status === 481 || ev.status === 408)) {
    return fromOtherDialog(ev, ctx) || (from === 'early' && ctx.branches.length > 0) ? undefined : 'terminated';
  }
  // §15: our BYE ends that early dialog only; the call's dialog falls back to another branch, or
  // with none left has no dialog yet (the INVITE's outcome, or another branch's 1xx, is to come).
  if (ev.type === 'EARLY.BYE') return from === 'early' && ctx.role === 'uac' && ev.remoteTag === ctx.remoteTag && ctx.branches.length === 0 ? 'init' : undefined;
  if (from === 'early') {
    // §13.2.2.4: the winning 2xx confirms the call's dialog, from whichever branch (the forks
    // machine sends no other 2xx); a 1xx of another branch keeps it early.
    if (ev.type === 'DIALOG.CONFIRMED') return 'confirmed';
    if (ev.type === 'DIALOG.REJECTED') return 'terminated';
  }
  return undefined;
}

interface Call {
  action: string;
  params: Record<string, unknown>;
}

function expectedEnd(ev: SipDialogEvent): SipDialogOutput {
  switch (ev.type) {
    case 'DIALOG.REJECTED':
      return { reason: 'rejected', status: ev.status };
    case 'REQUEST.SEND':
      return { reason: 'local-bye' };
    case 'REQUEST.RECEIVED':
    case 'BYE.RECEIVED':
      return { reason: 'remote-bye' };
    case 'RESPONSE.RECEIVED':
      return ev.status === 481 ? { reason: 'call-does-not-exist', status: 481 } : { reason: 'request-timeout', status: 408 };
    case 'DIALOG.TERMINATE':
      return { reason: ev.reason };
    default:
      throw new Error(`${ev.type} cannot end a dialog`);
  }
}

/** The effect §12 prescribes for one event, judged from the actor's snapshots and new actions. */
function checkEffect(ev: SipDialogEvent, before: Snap, after: Snap, calls: Call[], input: SipDialogInput) {
  const b = before.context;
  const a = after.context;
  const of = (name: string) => calls.filter((c) => c.action === name).map((c) => c.params);
  const enteredFrom = stateOf(before);
  if (after.status === 'done' && before.status !== 'done') {
    assert.deepEqual(after.output, expectedEnd(ev), 'output reason');
    assert.deepEqual(of('notifyEnded'), [after.output], 'notifyEnded once, with the output');
  }
  // No dialog yet: only the INVITE's responses (and TERMINATE) do anything, and nothing is sent.
  if (enteredFrom === 'init' && !ev.type.startsWith('DIALOG.')) {
    assert.deepEqual([calls, a], [[], b], `${ev.type} before any dialog exists does nothing`);
    return;
  }
  switch (ev.type) {
    case 'EARLY.BYE': {
      const sent = of('sendEarlyBye');
      const aside = b.branches.find((x) => x.remoteTag === ev.remoteTag);
      const followed = b.remoteTag === ev.remoteTag;
      if (enteredFrom !== 'early' || input.role !== 'uac' || (!aside && !followed)) {
        assert.deepEqual([calls, a], [[], b], 'EARLY.BYE of no early dialog of ours does nothing');
        break;
      }
      // §12.2.1.1 in that early dialog: its tag, target, route set and next local CSeq.
      const d = aside ?? { remoteTag: b.remoteTag, localCSeq: b.localCSeq, remoteTarget: b.remoteTarget, routeSet: b.routeSet };
      assert.equal(sent.length, 1, 'one BYE');
      const p = sent[0]!;
      assert.deepEqual(
        [p.method, p.cseq, p.remoteTag, p.remoteTarget, p.routeSet, p.callId, p.localTag],
        ['BYE', (d.localCSeq ?? 0) + 1, ev.remoteTag, d.remoteTarget, d.routeSet, b.callId, b.localTag],
        "the BYE is that early dialog's",
      );
      assert.deepEqual(of('sendRequest'), [], 'no request of the call\'s dialog');
      if (aside) assert.deepEqual(a, { ...b, branches: b.branches.filter((x) => x !== aside) }, 'a branch set aside is dropped, the followed one untouched');
      else if (b.branches.length > 0) {
        const last = b.branches.at(-1)!;
        assert.deepEqual(
          [a.remoteTag, a.localCSeq, a.remoteCSeq, a.remoteTarget, a.routeSet, a.branches],
          [last.remoteTag, last.localCSeq, last.remoteCSeq, last.remoteTarget, last.routeSet, b.branches.slice(0, -1)],
          'the followed branch ended: the call follows the branch it left last',
        );
      } else {
        assert.deepEqual(
          [a.remoteTag, a.localCSeq, a.remoteCSeq, a.remoteTarget, a.routeSet],
          [undefined, b.inviteCSeq, undefined, undefined, []],
          'the only early dialog ended: no dialog yet, the next counts on from the INVITE\'s CSeq',
        );
      }
      break;
    }
    case 'DIALOG.EARLY':
    case 'DIALOG.CONFIRMED': {
      if (stateOf(after) === enteredFrom) {
        // Early again: a UAC's dialog follows a 1xx of another branch (forked INVITE) and nothing
        // else; a confirmed dialog and a UAS ignore it.
        const switched = ev.type === 'DIALOG.EARLY' && enteredFrom === 'early' && input.role === 'uac' && b.remoteTag !== undefined && ev.remoteTag !== b.remoteTag;
        if (!switched) {
          assert.deepEqual(a, b, `${ev.type} in ${enteredFrom} leaves the dialog untouched`);
          break;
        }
      }
      // §12.1.1/§12.1.2: UAS keeps Record-Route order, UAC reverses it; target is the Contact.
      // §12.2.1.1 for a forked INVITE: every early dialog (To tag) has a local CSeq sequence of its
      // own, starting from the INVITE's; the 2xx's branch keeps its own in the confirmed dialog.
      if (input.role === 'uac') {
        const back = b.branches.find((x) => x.remoteTag === ev.remoteTag);
        const otherTag = b.remoteTag !== undefined && ev.remoteTag !== b.remoteTag;
        if (enteredFrom === 'init' && ev.type === 'DIALOG.EARLY') assert.equal(a.inviteCSeq, b.localCSeq, "the INVITE's CSeq noted");
        if (enteredFrom === 'early' && otherTag) {
          assert.equal(a.localCSeq, back ? back.localCSeq : b.inviteCSeq, "another branch's early dialog: its own local CSeq (the INVITE's at first)");
          assert.equal(a.remoteCSeq, back?.remoteCSeq, "another branch's early dialog: its own remote CSeq (empty at first)");
        }
        if (enteredFrom === 'early' && ev.type === 'DIALOG.EARLY' && otherTag) {
          assert.deepEqual(
            a.branches.at(-1),
            { remoteTag: b.remoteTag, localCSeq: b.localCSeq, remoteCSeq: b.remoteCSeq, remoteTarget: b.remoteTarget, routeSet: b.routeSet },
            'the branch left is set aside',
          );
        }
        if (enteredFrom === 'early' && ev.type === 'DIALOG.CONFIRMED') {
          if (!otherTag) assert.equal(a.localCSeq, b.localCSeq, "the followed branch's CSeq goes on");
          assert.deepEqual(a.branches, [], 'the other early dialogs are over');
        }
      }
      const rr = ev.recordRoute ?? [];
      assert.deepEqual(a.routeSet, input.role === 'uac' ? [...rr].reverse() : rr, 'route set');
      assert.equal(a.remoteTarget, ev.remoteTarget, 'remote target');
      if (input.role === 'uac') assert.equal(a.remoteTag, ev.remoteTag, 'remote tag from the response');
      else assert.equal(a.remoteTag, input.remoteTag, 'UAS keeps the From tag of the request');
      break;
    }
    case 'REQUEST.SEND': {
      const method = ev.method;
      const sent = of('sendRequest');
      if (sent.length === 0) {
        const uasEarlyBye = method === 'BYE' && enteredFrom === 'early' && input.role === 'uas';
        const ackOfNothing = method === 'ACK' && b.localCSeq === undefined;
        assert.ok(uasEarlyBye || ackOfNothing, `${method} must be sent`);
        assert.deepEqual(a, b, 'a refused send leaves the dialog untouched');
        break;
      }
      assert.equal(sent.length, 1);
      const p = sent[0]!;
      assert.equal(p.method, method);
      // §12.2.1.1: the dialog's route set, remote target, Call-ID and tags go into the request.
      assert.deepEqual(p.routeSet, b.routeSet);
      assert.equal(p.remoteTarget, b.remoteTarget);
      assert.deepEqual([p.callId, p.localTag, p.remoteTag], [b.callId, b.localTag, b.remoteTag]);
      // Body, type and extra headers ride on the event to the action, untouched.
      assert.deepEqual([p.body, p.contentType, p.headers], [ev.body, ev.body !== undefined ? ev.contentType : undefined, ev.headers]);
      if (method === 'ACK') {
        assert.equal(p.cseq, b.localCSeq, 'ACK reuses the INVITE CSeq');
        assert.equal(a.localCSeq, b.localCSeq);
      } else {
        // §12.2.1.1: strictly one more than the last, starting at 1 from an empty sequence.
        assert.equal(p.cseq, (b.localCSeq ?? 0) + 1, 'local CSeq + 1');
        assert.equal(a.localCSeq, p.cseq);
      }
      break;
    }
    case 'REQUEST.RECEIVED':
    case 'BYE.RECEIVED': {
      const method = ev.type === 'BYE.RECEIVED' ? 'BYE' : ev.method;
      if (ev.type === 'BYE.RECEIVED' && fromOtherTag(ev, b)) {
        assert.deepEqual([of('rejectRequest'), of('acceptRequest')], [[{ status: 481, reason: 'Call/Transaction Does Not Exist', method, cseq: ev.cseq }], []], "481 to a BYE from another dialog's tag");
        assert.deepEqual(a, b, 'a BYE of another dialog changes nothing');
        break;
      }
      if (ev.type === 'REQUEST.RECEIVED' && input.role === 'uac' && ev.remoteTag !== undefined && b.remoteTag !== undefined && ev.remoteTag !== b.remoteTag) {
        // §12.2.2 per dialog: another branch's early dialog checks and records its own sequence
        // and target; a tag no dialog has gets 481. The dialog followed is untouched either way.
        const branch = b.branches.find((x) => x.remoteTag === ev.remoteTag);
        const stale = branch?.remoteCSeq !== undefined && method !== 'ACK' && ev.cseq <= branch.remoteCSeq;
        if (!branch || stale) {
          const [status, reason] = branch ? [500, 'CSeq out of order'] : [481, 'Call/Transaction Does Not Exist'];
          const why = branch ? "500 to a stale request in another branch's early dialog" : '481 to a request from a tag no dialog has';
          assert.deepEqual([of('rejectRequest'), of('acceptRequest')], [[{ status, reason, method, cseq: ev.cseq }], []], why);
          assert.deepEqual(a, b, 'a refused request of another dialog changes nothing');
        } else {
          assert.deepEqual([of('rejectRequest'), of('acceptRequest')], [[], [{ method, cseq: ev.cseq }]], "a request in order in another branch's early dialog is accepted");
          const updated = { ...branch, remoteCSeq: method === 'ACK' ? branch.remoteCSeq : ev.cseq, remoteTarget: method === 'UPDATE' && ev.contact ? ev.contact : branch.remoteTarget };
          assert.deepEqual(a, { ...b, branches: b.branches.map((x) => (x === branch ? updated : x)) }, 'only that branch\'s early dialog records it');
        }
        break;
      }
      const cseq = ev.cseq!;
      const stale = method !== 'ACK' && b.remoteCSeq !== undefined && cseq <= b.remoteCSeq;
      if (stale) {
        // §12.2.2: lower or equal CSeq → 500, and the dialog state is untouched.
        assert.deepEqual(of('rejectRequest'), [{ status: 500, reason: 'CSeq out of order', method, cseq }]);
        assert.deepEqual(of('acceptRequest'), []);
        assert.deepEqual(a, b);
      } else {
        assert.deepEqual(of('rejectRequest'), []);
        assert.deepEqual(of('acceptRequest'), [{ method, cseq }]);
        assert.equal(a.remoteCSeq, method === 'ACK' ? b.remoteCSeq : cseq, 'remote CSeq recorded');
        const contact = ev.type === 'REQUEST.RECEIVED' ? ev.contact : undefined;
        // Target refresh: an in-order UPDATE/re-INVITE with Contact moves the remote target.
        assert.equal(a.remoteTarget, method === 'UPDATE' && contact ? contact : b.remoteTarget);
      }
      break;
    }
    case 'RESPONSE.RECEIVED': {
      const ends = ev.status === 481 || ev.status === 408;
      if (fromOtherDialog(ev, b)) {
        // …but that branch's early dialog is over, if it was one set aside.
        const branches = ends ? b.branches.filter((x) => x.remoteTag !== ev.remoteTag) : b.branches;
        assert.deepEqual(a, { ...b, branches }, 'a response of another dialog leaves this one untouched');
      } else if (ends && enteredFrom === 'early' && b.branches.length > 0) {
        const last = b.branches.at(-1)!;
        assert.deepEqual(
          [a.remoteTag, a.localCSeq, a.remoteCSeq, a.remoteTarget, a.routeSet, a.branches],
          [last.remoteTag, last.localCSeq, last.remoteCSeq, last.remoteTarget, last.routeSet, b.branches.slice(0, -1)],
          'the followed branch is gone: the call follows the branch it left last',
        );
      }
      if (ev.status === 200 && ev.method === 'INVITE') assert.equal(a.remoteTarget, ev.contact, '2xx to re-INVITE refreshes the target');
      break;
    }
  }
  // Route set is fixed once confirmed (§12.2): nothing after confirmation may change it.
  if (enteredFrom === 'confirmed') assert.deepEqual(a.routeSet, b.routeSet, 'route set frozen in confirmed');
}

type DialogMachine = typeof sipDialogMachine;

/** A real actor of `machine` whose effect actions are logged in `calls`; from `snapshot` if given. */
function spiedActor(machine: DialogMachine, input: SipDialogInput, calls: Call[], snapshot?: Snap) {
  const spy = (action: string) => (_: unknown, params: unknown) => calls.push({ action, params: params as Record<string, unknown> });
  const spied = machine.provide({
    actions: { sendRequest: spy('sendRequest'), sendEarlyBye: spy('sendEarlyBye'), acceptRequest: spy('acceptRequest'), rejectRequest: spy('rejectRequest'), notifyEnded: spy('notifyEnded') },
  });
  return createActor(spied, snapshot ? { input, snapshot } : { input });
}

const label = (ev: SipDialogEvent): string => ev.type + ('method' in ev ? `(${String(ev.method)})` : '') + ('remoteTag' in ev && ev.remoteTag ? `[${ev.remoteTag}]` : '');

/**
 * `states`: breadth-first over every reachable state, each sample event sent once to a real actor
 * restored there, so an event that changes nothing (a refused request) is judged too, and a bug
 * is found at the first step that shows it. `simple`: every acyclic path (xstate/graph) driven on
 * one fresh actor, step by step, the actor agreeing with the model. Its states are a subset of
 * the `states` run's (fewer events, a lower bound), so the one-step checks are not repeated there.
 */
async function runDialogModel(input: SipDialogInput, kind: 'states' | 'simple', opts: { bound?: number; only?: string[] } = {}, machine = sipDialogMachine) {
  const baseLocal = input.localCSeq ?? 0;
  const baseRemote = input.remoteCSeq ?? 100;
  const bound = opts.bound ?? 2;
  // CSeq numbers grow without bound; two in-dialog requests each way cover every rule, and one
  // request in a branch set aside (its stale one is then judged where it changes nothing). A
  // tagged request of the dialog followed is its untagged sample again: judged, not followed.
  const within = (snap: Snap, ev: SipDialogEvent, next: Snap): boolean => {
    if (ev.type === 'REQUEST.RECEIVED' && ev.remoteTag !== undefined && ev.remoteTag === snap.context.remoteTag) return false;
    const c = next.context;
    return (c.localCSeq ?? 0) <= baseLocal + bound && (c.remoteCSeq ?? 0) <= baseRemote + bound && c.branches.every((b) => (b.remoteCSeq ?? 0) <= baseRemote);
  };
  const visited = new Set<string>();
  let steps = 0;
  if (kind === 'states') {
    const key = (snap: Snap) => JSON.stringify([snap.status, snap.value, snap.context]);
    const first = createActor(machine, { input }).getSnapshot();
    const seen = new Set([key(first)]);
    const queue = [first];
    for (let snap = queue.shift(); snap; snap = queue.shift()) {
      const from = stateOf(snap);
      visited.add(from);
      if (snap.status === 'done') continue;
      for (const ev of samples(snap)) {
        const calls: Call[] = [];
        const actor = spiedActor(machine, input, calls, snap);
        actor.start();
        const before = actor.getSnapshot();
        actor.send(ev);
        steps++;
        const after = actor.getSnapshot();
        actor.stop();
        // Oracle first: a wrong state is the plainest finding.
        const want: string = oracle(from, ev, snap.context) ?? from;
        assert.equal(stateOf(after), want, `oracle (${input.role}): ${from} --${label(ev)}--> expected ${want}, machine went to ${stateOf(after)}`);
        checkEffect(ev, before, after, calls, input);
        const k = key(after);
        if (!seen.has(k) && within(snap, ev, after)) {
          seen.add(k);
          queue.push(after);
        }
      }
    }
    return { paths: 0, states: seen.size, steps, visited };
  }
  // (The life-cycle run leaves out the other branches' 1xx and requests: switching back and forth
  // between two early dialogs multiplies the acyclic paths; the `states` runs cover them.)
  const lifeCycle = (e: SipDialogEvent) => opts.only!.includes(e.type) && !((e.type === 'DIALOG.EARLY' || e.type === 'REQUEST.RECEIVED') && e.remoteTag !== undefined);
  const pick = (snap: Snap) => samples(snap).filter((e) => !opts.only || lifeCycle(e));
  const model = createTestModel(machine, {
    input,
    events: pick as never,
    // A done actor ignores events, but the pure traversal would keep applying root handlers.
    stopWhen: (snap) => snap.status === 'done',
    // (xstate/graph also sends every other event type bare; a bare EARLY.BYE ends no branch and
    // would only multiply the paths: the `states` runs judge it with its tags.)
    filterEvents: (snap, ev) => ev.type !== 'EARLY.BYE' && within(snap, ev, getNextSnapshot(machine, snap, ev)),
  });
  const paths = model.getSimplePaths();
  for (const path of paths) {
    const calls: Call[] = [];
    const actor = spiedActor(machine, input, calls);
    actor.start();
    const trail = path.steps.map((s) => label(s.event)).join(' → ');
    const exec = ({ event, state }: { event: SipDialogEvent; state: Snap }) => {
      steps++;
      const before = actor.getSnapshot();
      const mark = calls.length;
      actor.send(event);
      const after = actor.getSnapshot();
      assert.deepEqual(after.value, state.value, `${trail}: value`);
      assert.deepEqual(after.context, state.context, `${trail}: context`);
      checkEffect(event, before, after, calls.slice(mark), input);
    };
    const events = Object.fromEntries(samples(actor.getSnapshot()).map((e) => [e.type, exec]));
    await path.test({
      events: events as never,
      states: {
        init: () => {
          visited.add('init');
          assert.ok(actor.getSnapshot().matches('init'));
        },
        'live.early': () => {
          visited.add('early');
          assert.ok(actor.getSnapshot().matches({ live: 'early' }));
        },
        'live.confirmed': () => {
          visited.add('confirmed');
          assert.ok(actor.getSnapshot().matches({ live: 'confirmed' }));
        },
        terminated: () => {
          visited.add('terminated');
          assert.equal(actor.getSnapshot().status, 'done');
        },
      },
    });
    actor.stop();
  }
  return { paths: paths.length, states: undefined, steps, visited };
}

describe('SIP dialog: model-based', () => {
  for (const [role, input] of [
    ['UAC', uacInput],
    ['UAS', uasInput],
  ] as const) {
    test(`${role}: every reachable state, every sample event`, async (t) => {
      const r = await runDialogModel(input, 'states');
      t.diagnostic(`${r.states} states, ${r.steps} events judged`);
      assert.deepEqual([...r.visited].sort(), ['confirmed', 'early', 'init', 'terminated']);
    });
  }
  // Every acyclic path explodes with all 17 samples; the dialog life cycle with one request
  // each way (in order, then stale) keeps it to a few thousand paths.
  test('UAC and UAS: simple paths over the life-cycle events', async (t) => {
    const only = ['DIALOG.EARLY', 'DIALOG.CONFIRMED', 'DIALOG.REJECTED', 'REQUEST.SEND', 'REQUEST.RECEIVED', 'BYE.RECEIVED'];
    const r = await runDialogModel(uasInput, 'simple', { bound: 1, only });
    const u = await runDialogModel(uacInput, 'simple', { bound: 1, only });
    t.diagnostic(`UAS ${r.paths} paths, ${r.steps} steps; UAC ${u.paths} paths, ${u.steps} steps`);
    t.diagnostic(`${r.paths} paths, ${r.steps} steps`);
    assert.ok(r.paths > 50);
  });
});

test('SIP dialog oracle catches a planted bug (a PRACK\'s 481 from another branch ends the call\'s dialog)', async () => {
  const cfg = sipDialogMachine.config;
  const live = cfg.states!.live!;
  const on = live.on as { 'RESPONSE.RECEIVED': unknown[] };
  const buggy = createMachine(
    { ...cfg, states: { ...cfg.states, live: { ...live, on: { ...on, 'RESPONSE.RECEIVED': on['RESPONSE.RECEIVED'].slice(1) } } } } as typeof cfg,
    sipDialogMachine.implementations as never,
  ) as unknown as typeof sipDialogMachine;
  await assert.rejects(runDialogModel(uacInput, 'states', {}, buggy), /a response of another dialog leaves this one untouched|RESPONSE.RECEIVED\(PRACK\)\[forked-8\]--> expected early, machine went to terminated/);
});

test('SIP dialog oracle catches a planted bug (one local CSeq sequence for every branch of a forked INVITE)', async () => {
  // The branches are set aside as they should be (remote CSeq too), but the local CSeq runs on across them.
  const shared = sipDialogMachine.provide({
    actions: {
      switchBranch: assign(({ context }, params: { remoteTag: string }) => ({
        branches: [
          ...context.branches.filter((x) => x.remoteTag !== params.remoteTag),
          { remoteTag: context.remoteTag!, localCSeq: context.localCSeq, remoteCSeq: context.remoteCSeq, remoteTarget: context.remoteTarget, routeSet: context.routeSet },
        ],
        remoteCSeq: context.branches.find((x) => x.remoteTag === params.remoteTag)?.remoteCSeq,
      })),
    },
  });
  await assert.rejects(runDialogModel(uacInput, 'states', {}, shared), /its own local CSeq/);
});

test('SIP dialog oracle catches a planted bug (a request from another branch\'s early dialog taken as the followed one\'s)', async () => {
  const buggy = sipDialogMachine.provide({ guards: { requestOfOtherBranch: () => false } });
  await assert.rejects(runDialogModel(uacInput, 'states', {}, buggy), /481 to a request from a tag no dialog has|only that branch's early dialog records it/);
});

test('SIP dialog oracle catches a planted bug (a request from a To tag no early dialog has accepted)', async () => {
  const buggy = sipDialogMachine.provide({ guards: { knownBranch: () => true } });
  await assert.rejects(runDialogModel(uacInput, 'states', {}, buggy), /481 to a request from a tag no dialog has/);
});

test('SIP dialog oracle catches a planted bug (a BYE from a late branch\'s tag ends the call\'s dialog)', async () => {
  const buggy = sipDialogMachine.provide({ guards: { byeOfOtherDialog: () => false } });
  await assert.rejects(runDialogModel(uacInput, 'states', {}, buggy), /BYE.RECEIVED\[forked-9\]--> expected (early|confirmed), machine went to terminated/);
});

test('SIP dialog oracle catches a planted bug (one remote CSeq sequence for every branch of a forked INVITE)', async () => {
  const buggy = sipDialogMachine.provide({ guards: { branchOutOfOrder: () => false } });
  await assert.rejects(runDialogModel(uacInput, 'states', {}, buggy), /500 to a stale request in another branch's early dialog/);
});

test('SIP dialog oracle catches a planted bug (a 481 to the followed branch\'s PRACK ends the call though another branch rang)', async () => {
  const buggy = sipDialogMachine.provide({ guards: { otherBranchRang: () => false } });
  await assert.rejects(runDialogModel(uacInput, 'states', {}, buggy), /RESPONSE.RECEIVED\((INFO|PRACK)\)--> expected early, machine went to terminated|EARLY.BYE\[[\w-]+\]--> expected early, machine went to init|the call follows the branch it left last/);
});

test('SIP dialog oracle catches a planted bug (the BYE of a branch set aside sent in the followed early dialog)', async () => {
  const buggy = sipDialogMachine.provide({ guards: { byeFollowed: ({ context, event }) => event.type === 'EARLY.BYE' && context.role === 'uac' && context.remoteTag !== undefined } });
  await assert.rejects(runDialogModel(uacInput, 'states', {}, buggy), /the BYE is that early dialog's|EARLY.BYE\[forked-8\]--> expected early, machine went to init/);
});

test('SIP dialog oracle catches a planted bug (the only early dialog BYE\'d, its tag kept as the call\'s dialog)', async () => {
  const buggy = sipDialogMachine.provide({ actions: { forgetEarly: assign({}) } });
  await assert.rejects(runDialogModel(uacInput, 'states', {}, buggy), /the only early dialog ended: no dialog yet/);
});
