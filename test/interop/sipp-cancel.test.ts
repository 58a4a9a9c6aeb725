// callchart's outbound call hung up before any provisional (RFC 3261 §9.1), against a SIPp UAS slow
// to respond: the CANCEL waits for the first 1xx and then goes; a 2xx that comes instead is ACKed
// and ended with a BYE. The app sees the call cancelled at once either way. SIPp's scenario fails
// the call unless each message it expects (CANCEL, ACK, BYE) arrives.
// Needs `sipp`; run: npm run test:interop.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { startSippUas, describeSipp, scenarioPath, requireSipp } from './helpers/sipp.js';
import { startEngine, eventually, within } from './helpers/engine.js';

before(() => {
  requireSipp();
});

async function hangUpBeforeAnyResponse(scenario: string, rtpPorts: string, mediaPort: number): Promise<string> {
  const uas = await startSippUas({ scenario: scenarioPath(scenario), calls: 1, timeoutMs: 30_000, mediaPort, traceMessages: true });
  const e = await startEngine({ rtpPorts });
  try {
    const rec = await e.dial(`sip:service@127.0.0.1:${uas.port}`);
    rec.call.hangup();
    // The app's call is over at once, as a cancel; the wire goes on without it.
    const end = await within(rec.end, 100, 'call to end at once');
    assert.equal(end.reason, 'cancelled', JSON.stringify(end));
    await uas.waitForStats((s) => s.successfulCalls + s.failedCalls >= 1 && s.currentCalls === 0, 10_000).catch(async (err: Error) => {
      const r = await uas.stop();
      throw new Error(`${err.message}\n${describeSipp(r)}\n--- SIPp messages ---\n${r.messages ?? ''}`);
    });
    assert.equal(rec.answered, false, 'the app never heard of an answer');
    const r = await uas.stop();
    const why = `${describeSipp(r)}\n--- SIPp messages ---\n${r.messages ?? ''}`;
    assert.equal(r.stats?.failedCalls, 0, why);
    assert.equal(r.stats?.successfulCalls, 1, why);
    await eventually(() => (e.engine.sip?.liveLegs ?? 0) === 0, 5_000, 'no leg left');
    return r.messages ?? '';
  } finally {
    await e.close();
    await uas.stop();
  }
}

test('SIPp UAS rings 300 ms late, the caller hung up at once: CANCEL after the 180, 200 CANCEL, 487 ACKed', { timeout: 40_000 }, async () => {
  const messages = await hangUpBeforeAnyResponse('peer-uas-cancel-before-1xx', '28300-28339', 28340);
  // §9.1: never before the provisional (SIPp's trace lists messages in order).
  const ringing = messages.indexOf('SIP/2.0 180 Ringing');
  const cancel = messages.search(/^CANCEL sip:/m);
  assert.ok(ringing >= 0 && cancel > ringing, `the CANCEL follows the 180\n${messages}`);
});

test('SIPp UAS answers 200 300 ms late, no 1xx, the caller hung up at once: no CANCEL, the 2xx ACKed and sent a BYE', { timeout: 40_000 }, async () => {
  const messages = await hangUpBeforeAnyResponse('peer-uas-answer-after-cancel', '28344-28383', 28384);
  assert.equal(messages.search(/^CANCEL sip:/m), -1, `§9.1: no CANCEL without a provisional\n${messages}`);
});
