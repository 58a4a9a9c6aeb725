// callchart calls SIPp (callchart is the UAC, through engine.call()). SIPp runs in the background as
// a UAS (built-in `uas`, or one of our peer-uas-*.xml scenarios) and its CSV stats say whether it
// counted the call as successful.
// Needs `sipp` (apt-get install sip-tester); fails loudly without it. Run: npm run test:interop.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { startSippUas, describeSipp, scenarioPath, requireSipp, type SippUas } from './helpers/sipp.js';
import { startEngine, eventually, within, type TestEngine } from './helpers/engine.js';
import { freeUdpPort, sleep } from './helpers/procs.js';

before(() => {
  requireSipp();
});

async function both<T>(uasOpts: Parameters<typeof startSippUas>[0], fn: (e: TestEngine, uas: SippUas) => Promise<T>): Promise<T> {
  const uas = await startSippUas({ timeoutMs: 60_000, ...uasOpts });
  let e: TestEngine | undefined;
  try {
    e = await startEngine();
    return await fn(e, uas);
  } finally {
    await e?.close();
    await uas.stop();
  }
}

test('engine.call() → SIPp uas: answered, hung up by callchart, SIPp counts a successful call', { timeout: 30_000 }, async () => {
  await both({}, async (e, uas) => {
    const rec = await e.dial(`sip:service@127.0.0.1:${uas.port}`, { from: 'sip:callchart@127.0.0.1' });
    await eventually(() => rec.answered || rec.call.isActive, 10_000, `call answered (states: ${rec.states.join(' > ')})`);
    await sleep(200);
    rec.call.hangup();
    const end = await within(rec.end, 10_000, 'outbound call to end');
    assert.equal(end.reason, 'local-hangup', JSON.stringify(end));
    const stats = await uas.waitForStats((s) => s.successfulCalls >= 1 && s.currentCalls === 0, 10_000);
    assert.equal(stats.failedCalls, 0);
    const r = await uas.stop();
    assert.equal(r.stats?.failedCalls, 0, describeSipp(r));
    assert.equal(r.stats?.successfulCalls, 1, describeSipp(r));
  });
});

test('engine.call() ×5 in a row → SIPp uas counts 5 successful calls', { timeout: 60_000 }, async () => {
  await both({}, async (e, uas) => {
    for (let i = 0; i < 5; i++) {
      const rec = await e.dial(`sip:service@127.0.0.1:${uas.port}`);
      await eventually(() => rec.call.isActive, 10_000, `call ${i + 1} answered`);
      rec.call.hangup();
      await within(rec.end, 10_000, `call ${i + 1} to end`);
    }
    await uas.waitForStats((s) => s.successfulCalls >= 5 && s.currentCalls === 0, 10_000);
    const r = await uas.stop();
    assert.equal(r.stats?.failedCalls, 0, describeSipp(r));
    assert.equal(r.stats?.successfulCalls, 5, describeSipp(r));
  });
});

test('engine.call() → SIPp answers 180 then 486: call ends rejected 486 and SIPp gets its ACK', { timeout: 30_000 }, async () => {
  await both({ scenario: scenarioPath('peer-uas-486'), calls: 1 }, async (e, uas) => {
    const rec = await e.dial(`sip:service@127.0.0.1:${uas.port}`);
    const end = await within(rec.end, 10_000, 'rejected call to end');
    assert.equal(end.reason, 'rejected', JSON.stringify(end));
    assert.equal(end.code, 486);
    const r = await uas.stop();
    assert.equal(r.exitCode, 0, describeSipp(r));
    assert.equal(r.stats?.successfulCalls, 1, describeSipp(r));
  });
});

test('engine.call() → SIPp answers then sends BYE: call ends remote-hangup', { timeout: 30_000 }, async () => {
  await both({ scenario: scenarioPath('peer-uas-bye'), calls: 1 }, async (e, uas) => {
    const rec = await e.dial(`sip:service@127.0.0.1:${uas.port}`);
    const end = await within(rec.end, 10_000, 'call to end by the far end');
    assert.ok(rec.states.some((s) => s.startsWith('active')), `never answered: ${rec.states.join(' > ')}`);
    assert.equal(end.reason, 'remote-hangup', JSON.stringify(end));
    const r = await uas.stop();
    assert.equal(r.exitCode, 0, describeSipp(r));
    assert.equal(r.stats?.successfulCalls, 1, describeSipp(r));
  });
});

test('engine.call() → SIPp dialog peer: callchart holds and resumes (re-INVITE sendonly / sendrecv)', { timeout: 30_000 }, async () => {
  await both({ scenario: scenarioPath('peer-uas-dialog'), calls: 1, vars: { rtp_port: await freeUdpPort() } }, async (e, uas) => {
    const rec = await e.dial(`sip:service@127.0.0.1:${uas.port}`);
    await eventually(() => rec.call.isActive, 10_000, 'call answered');
    rec.call.hold();
    await eventually(() => rec.call.state === 'active.held', 5000, `held (states: ${rec.states.join(' > ')})`);
    rec.call.resume();
    await eventually(() => rec.call.isActive && rec.call.state !== 'active.held', 5000, `resumed (states: ${rec.states.join(' > ')})`);
    rec.call.hangup();
    await within(rec.end, 10_000, 'call to end');
    const r = await uas.stop();
    assert.equal(r.exitCode, 0, describeSipp(r));
    assert.equal(r.stats?.successfulCalls, 1, describeSipp(r));
  });
});
