// Reliable provisional responses (RFC 3262) against SIPp, both ways: a SIPp caller that requires
// 100rel PRACKs callchart's reliable 180 and gets the 200 only after the PRACK's
// (scenarios/uac-100rel.xml); a SIPp callee that sends its 180 reliably (twice: a retransmission)
// gets exactly one PRACK from callchart with the right RAck (scenarios/peer-uas-100rel.xml); and a
// callchart without 100rel refuses the SIPp caller that requires it with 420 (uac-100rel-420.xml).
// Needs `sipp` (apt-get install sip-tester); fails loudly without it. Run: npm run test:interop.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { runSipp, startSippUas, describeSipp, scenarioPath, requireSipp } from './helpers/sipp.js';
import { startEngine, eventually, within } from './helpers/engine.js';
import { sleep } from './helpers/procs.js';

before(() => {
  requireSipp();
});

test('SIPp uac with Require: 100rel: reliable 180 with RSeq, PRACK answered 200, then the 2xx', { timeout: 30_000 }, async () => {
  const e = await startEngine({
    rtpPorts: '27100-27139',
    decide: (rec) => {
      // Ringing first (the reliable 180), answered while its PRACK may still be on its way.
      setTimeout(() => rec.call.answer(), 20);
      return { action: 'defer' };
    },
  });
  try {
    const r = await runSipp({ timeoutMs: 20_000, scenario: scenarioPath('uac-100rel'), remote: `127.0.0.1:${e.sipPort}` });
    const why = describeSipp(r);
    assert.equal(r.exitCode, 0, why);
    assert.equal(r.stats?.successfulCalls, 1, why);
    assert.equal(r.stats?.failedCalls, 0, why);
    const end = await within(e.incoming[0]!.end, 10_000, 'the call to end');
    assert.equal(end.reason, 'remote-hangup');
    assert.ok(e.incoming[0]!.answered);
  } finally {
    await e.close();
  }
});

test('SIPp uac requiring 100rel of a callchart with reliableProvisionals off: 420 naming 100rel', { timeout: 30_000 }, async () => {
  const e = await startEngine({ rtpPorts: '27140-27179', sip: { reliableProvisionals: 'off' } });
  try {
    const r = await runSipp({ timeoutMs: 20_000, scenario: scenarioPath('uac-100rel-420'), remote: `127.0.0.1:${e.sipPort}` });
    const why = describeSipp(r);
    assert.equal(r.exitCode, 0, why);
    assert.equal(r.stats?.successfulCalls, 1, why);
    assert.equal(r.stats?.retransmissions, 0, `the 420 was retransmitted: its ACK did not match\n${why}`);
    assert.equal(e.incoming.length, 0, 'no call reached the app');
  } finally {
    await e.close();
  }
});

test('engine.call() → SIPp uas sending a reliable 180 (twice): one PRACK with RAck 1 1 INVITE, answered, hung up', { timeout: 30_000 }, async () => {
  const uas = await startSippUas({ timeoutMs: 30_000, scenario: scenarioPath('peer-uas-100rel'), calls: 1, traceMessages: true });
  const e = await startEngine({ rtpPorts: '27180-27219' });
  try {
    const rec = await e.dial(`sip:service@127.0.0.1:${uas.port}`);
    try {
      await eventually(() => rec.call.isActive, 10_000, `call answered (states: ${rec.states.join(' > ')})`);
    } catch (err) {
      // SIPp's side of the exchange says which message went astray.
      const r = await uas.stop();
      throw new Error(`${(err as Error).message}; states now: ${rec.states.join(' > ')}\n${describeSipp(r)}\n--- SIPp messages ---\n${r.messages ?? ''}`);
    }
    assert.ok(rec.states.some((s) => s.startsWith('ringing')), `rang first: ${rec.states.join(' > ')}`);
    await sleep(300); // a second PRACK would reach SIPp now and fail its call
    rec.call.hangup();
    const end = await within(rec.end, 10_000, 'outbound call to end');
    assert.equal(end.reason, 'local-hangup', JSON.stringify(end));
    await uas.waitForStats((s) => s.successfulCalls + s.failedCalls >= 1 && s.currentCalls === 0, 10_000);
    const r = await uas.stop();
    const why = describeSipp(r);
    assert.equal(r.stats?.failedCalls, 0, why);
    assert.equal(r.stats?.successfulCalls, 1, why);
  } finally {
    await e.close();
    await uas.stop();
  }
});
