// Scenarios of the RFC 3261 §12 dialog machine (machines/sipDialog.machine.ts) written out step
// by step, beside its model-based run (sip-dialog.test.ts): route sets, stale requests, forked
// INVITEs' early dialogs, as a reader would trace them.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createActor } from 'xstate';
import { sipDialogMachine } from '../../machines/sipDialog.machine.js';
import { RR_18X, RR_FORK, uacInput, uasInput } from '../helpers/sip-dialog-inputs.js';

describe('SIP dialog: scenarios', () => {
  test('UAC: early route set replaced by the 2xx one, then a stale request gets 500 and changes nothing', () => {
    const rejected: unknown[] = [];
    const sent: unknown[] = [];
    const actor = createActor(
      sipDialogMachine.provide({ actions: { rejectRequest: (_, p) => rejected.push(p), sendRequest: (_, p) => sent.push(p) } }),
      { input: uacInput },
    );
    actor.start();
    actor.send({ type: 'DIALOG.EARLY', remoteTag: 'x', remoteTarget: 'sip:bob@a', recordRoute: RR_18X });
    assert.deepEqual(actor.getSnapshot().context.routeSet, [...RR_18X].reverse());
    actor.send({ type: 'DIALOG.CONFIRMED', remoteTag: 'x', remoteTarget: 'sip:bob@b' });
    assert.ok(actor.getSnapshot().matches({ live: 'confirmed' }));
    assert.deepEqual(actor.getSnapshot().context.routeSet, [], 'a 2xx without Record-Route means no route set');
    actor.send({ type: 'REQUEST.RECEIVED', method: 'INVITE', cseq: 7, contact: 'sip:bob@c' });
    actor.send({ type: 'REQUEST.RECEIVED', method: 'INFO', cseq: 7 });
    actor.send({ type: 'REQUEST.RECEIVED', method: 'INFO', cseq: 6 });
    assert.deepEqual(rejected.map((r) => (r as { cseq: number }).cseq), [7, 6]);
    assert.equal(actor.getSnapshot().context.remoteCSeq, 7);
    assert.equal(actor.getSnapshot().context.remoteTarget, 'sip:bob@c');
    actor.send({ type: 'REQUEST.SEND', method: 'INFO' });
    actor.send({ type: 'REQUEST.SEND', method: 'BYE' });
    assert.deepEqual(sent.map((s) => (s as { cseq: number; method: string }).cseq), [314160, 314161]);
    assert.deepEqual(actor.getSnapshot().output, { reason: 'local-bye' });
  });

  test('UAC, forked INVITE: the early dialog follows the latest branch; the 2xx of a third one confirms it afresh', () => {
    const actor = createActor(sipDialogMachine, { input: uacInput });
    actor.start();
    actor.send({ type: 'DIALOG.EARLY', remoteTag: 'A', remoteTarget: 'sip:bob@a', recordRoute: RR_18X });
    actor.send({ type: 'DIALOG.EARLY', remoteTag: 'A', remoteTarget: 'sip:bob@a2' });
    assert.deepEqual([actor.getSnapshot().context.remoteTarget, actor.getSnapshot().context.routeSet], ['sip:bob@a', [...RR_18X].reverse()], 'same branch: unchanged');
    actor.send({ type: 'DIALOG.EARLY', remoteTag: 'B' });
    const b = actor.getSnapshot().context;
    assert.deepEqual([b.remoteTag, b.remoteTarget, b.routeSet], ['B', undefined, []], 'nothing of branch A carries over');
    actor.send({ type: 'DIALOG.CONFIRMED', remoteTag: 'C', remoteTarget: 'sip:carol@c', recordRoute: RR_FORK });
    const c = actor.getSnapshot();
    assert.ok(c.matches({ live: 'confirmed' }));
    assert.deepEqual([c.context.remoteTag, c.context.remoteTarget, c.context.routeSet], ['C', 'sip:carol@c', RR_FORK]);
    actor.send({ type: 'DIALOG.CONFIRMED', remoteTag: 'D', remoteTarget: 'sip:dave@d' });
    assert.equal(actor.getSnapshot().context.remoteTag, 'C', 'a confirmed dialog is never re-established');
  });

  test('UAC, forked INVITE: each branch\'s early dialog counts its own CSeq from the INVITE\'s; the winner\'s goes on', () => {
    const sent: Array<{ method: string; cseq: number; remoteTag?: string }> = [];
    const actor = createActor(sipDialogMachine.provide({ actions: { sendRequest: (_, p) => sent.push(p) } }), { input: { ...uacInput, localCSeq: 7 } });
    actor.start();
    const prack = () => actor.send({ type: 'REQUEST.SEND', method: 'PRACK' });
    actor.send({ type: 'DIALOG.EARLY', remoteTag: 'A', remoteTarget: 'sip:bob@a' });
    prack();
    actor.send({ type: 'DIALOG.EARLY', remoteTag: 'B', remoteTarget: 'sip:bob@b' });
    prack();
    prack();
    actor.send({ type: 'DIALOG.EARLY', remoteTag: 'A', remoteTarget: 'sip:bob@a' });
    prack();
    actor.send({ type: 'DIALOG.CONFIRMED', remoteTag: 'B', remoteTarget: 'sip:bob@b' });
    actor.send({ type: 'REQUEST.SEND', method: 'BYE' });
    assert.deepEqual(
      sent.map((p) => [p.method, p.remoteTag, p.cseq]),
      [
        ['PRACK', 'A', 8],
        ['PRACK', 'B', 8],
        ['PRACK', 'B', 9],
        ['PRACK', 'A', 9],
        ['BYE', 'B', 10],
      ],
    );
    // A 2xx from a branch that sent no 1xx: its dialog's first request follows the INVITE's CSeq.
    const unseen = createActor(sipDialogMachine.provide({ actions: { sendRequest: (_, p) => sent.push(p) } }), { input: { ...uacInput, localCSeq: 7 } });
    unseen.start();
    unseen.send({ type: 'DIALOG.EARLY', remoteTag: 'A' });
    unseen.send({ type: 'REQUEST.SEND', method: 'PRACK' });
    unseen.send({ type: 'DIALOG.CONFIRMED', remoteTag: 'C' });
    unseen.send({ type: 'REQUEST.SEND', method: 'BYE' });
    assert.deepEqual(sent.at(-1)?.cseq, 8);
  });

  test('UAC, forked INVITE: a 481 to the PRACK of branch A leaves the dialog following branch B; B\'s own 481 ends it', () => {
    const actor = createActor(sipDialogMachine, { input: uacInput });
    actor.start();
    actor.send({ type: 'DIALOG.EARLY', remoteTag: 'A', remoteTarget: 'sip:bob@a' });
    actor.send({ type: 'DIALOG.EARLY', remoteTag: 'B', remoteTarget: 'sip:bob@b' });
    actor.send({ type: 'RESPONSE.RECEIVED', method: 'PRACK', status: 481, remoteTag: 'A' });
    actor.send({ type: 'RESPONSE.RECEIVED', method: 'PRACK', status: 408, remoteTag: 'A' });
    assert.ok(actor.getSnapshot().matches({ live: 'early' }));
    assert.equal(actor.getSnapshot().context.remoteTag, 'B');
    actor.send({ type: 'RESPONSE.RECEIVED', method: 'PRACK', status: 481, remoteTag: 'B' });
    assert.deepEqual(actor.getSnapshot().output, { reason: 'call-does-not-exist', status: 481 });
  });

  test('UAC, forked INVITE: a 481 to the PRACK of the branch followed now falls back to the other branch, which goes on with its own CSeq', () => {
    const sent: Array<{ method: string; cseq: number; remoteTag?: string; remoteTarget?: string }> = [];
    const actor = createActor(sipDialogMachine.provide({ actions: { sendRequest: (_, p) => sent.push(p) } }), { input: { ...uacInput, localCSeq: 1 } });
    actor.start();
    actor.send({ type: 'DIALOG.EARLY', remoteTag: 'A', remoteTarget: 'sip:bob@a', recordRoute: RR_18X });
    actor.send({ type: 'REQUEST.SEND', method: 'PRACK' });
    actor.send({ type: 'DIALOG.EARLY', remoteTag: 'B', remoteTarget: 'sip:bob@b' });
    actor.send({ type: 'REQUEST.SEND', method: 'PRACK' });
    actor.send({ type: 'RESPONSE.RECEIVED', method: 'PRACK', status: 481, remoteTag: 'B' });
    const c = actor.getSnapshot();
    assert.ok(c.matches({ live: 'early' }), 'branch A rang: the call goes on');
    assert.deepEqual([c.context.remoteTag, c.context.remoteTarget, c.context.routeSet, c.context.branches], ['A', 'sip:bob@a', [...RR_18X].reverse(), []]);
    actor.send({ type: 'REQUEST.SEND', method: 'UPDATE' });
    assert.deepEqual(sent.map((p) => [p.method, p.remoteTag, p.cseq]), [['PRACK', 'A', 2], ['PRACK', 'B', 2], ['UPDATE', 'A', 3]]);
    actor.send({ type: 'RESPONSE.RECEIVED', method: 'UPDATE', status: 408, remoteTag: 'A' });
    assert.deepEqual(actor.getSnapshot().output, { reason: 'request-timeout', status: 408 }, 'no branch left: the dialog ends');
  });

  test('UAS: empty local CSeq starts at 1; the callee cannot BYE an early dialog; a non-2xx final ends it', () => {
    const sent: Array<{ method: string; cseq: number }> = [];
    const actor = createActor(sipDialogMachine.provide({ actions: { sendRequest: (_, p) => sent.push(p) } }), { input: uasInput });
    actor.start();
    actor.send({ type: 'DIALOG.EARLY', remoteTag: '1928301774', remoteTarget: 'sip:alice@pc33', recordRoute: RR_18X });
    assert.deepEqual(actor.getSnapshot().context.routeSet, RR_18X, 'UAS keeps Record-Route order');
    actor.send({ type: 'REQUEST.SEND', method: 'UPDATE' });
    actor.send({ type: 'REQUEST.SEND', method: 'BYE' });
    assert.ok(actor.getSnapshot().matches({ live: 'early' }));
    assert.deepEqual(sent, [{ ...sent[0]!, method: 'UPDATE', cseq: 1 }]);
    assert.equal(actor.getSnapshot().context.secure, true);
    actor.send({ type: 'DIALOG.REJECTED', status: 480 });
    assert.deepEqual(actor.getSnapshot().output, { reason: 'rejected', status: 480 });
  });
});
