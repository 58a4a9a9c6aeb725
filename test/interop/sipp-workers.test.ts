// SIPp calls callchart's SIP worker threads (SipWorkers: a Call-ID router on the main thread, one
// engine per worker). SIPp's verdict says every call completed; the router's and the threads'
// counters say both threads carried calls and forgot every one. With 10 % loss, retransmissions
// go through the router to the thread that holds the transaction.
// Needs `sipp` (apt-get install sip-tester); fails loudly without it. Run: npm run test:interop.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { runSipp, describeSipp, requireSipp, scenarioPath, assertNoCallSoonAfterLastBye, type SippResult } from './helpers/sipp.js';
import { SipWorkers } from '../../src/sip/workers/router.js';
import { silentLogger } from '../../src/logger.js';
import { sleep } from './helpers/procs.js';

before(() => {
  requireSipp();
});

const demo = new URL('../../src/demo.ts', import.meta.url).href;

async function withWorkers(rtpPorts: string, fn: (w: SipWorkers) => Promise<void>): Promise<void> {
  const w = new SipWorkers({ threads: 2, host: '127.0.0.1', port: 0, rtpPorts, logger: silentLogger(), logLevel: 'silent', app: { module: demo, export: 'demoApp' } });
  await w.start();
  try {
    await fn(w);
  } finally {
    await w.close();
  }
}

async function assertAllOkAndForgotten(w: SipWorkers, r: SippResult, calls: number, settleMs = 2000): Promise<void> {
  const why = describeSipp(r);
  assert.equal(r.exitCode, 0, why);
  assert.equal(r.stats?.failedCalls, 0, why);
  assert.equal(r.stats?.successfulCalls, calls, why);
  assert.ok(w.routed.every((n) => n > 0), `both threads took calls: ${w.routed.join(' / ')}`);
  // A thread forgets an ended leg on its next turn: give the last BYE that turn (or, under loss,
  // the RFC 3261 timers that end a call whose last messages were dropped).
  const t0 = Date.now();
  let stats = await w.stats();
  while (Date.now() - t0 < settleMs && stats.some((s) => s.liveCalls + s.liveLegs > 0)) {
    await sleep(50);
    stats = await w.stats();
  }
  if (Date.now() - t0 > 2000) process.stderr.write(`# threads settled after ${Date.now() - t0} ms\n`);
  assert.deepEqual(stats.map((s) => s.liveCalls + s.liveLegs), [0, 0], 'no call or dialog left in any thread');
}

test('SIPp built-in uac → 2 SIP worker threads: 200 calls at 100 cps, all succeed', { timeout: 60_000 }, async () => {
  await withWorkers('36000-36999', async (w) => {
    const r = await runSipp({ scenario: 'uac', calls: 200, rate: 100, timeoutMs: 30_000, remote: `127.0.0.1:${w.port}` });
    await assertAllOkAndForgotten(w, r, 200);
  });
});

test('SIPp with 10% loss (transaction-matched scenario) → 2 SIP worker threads: all 20 calls complete, none left 5 s after the last BYE', { timeout: 120_000 }, async () => {
  await withWorkers('37000-37999', async (w) => {
    // uac-loss.xml: see sipp-uas.test.ts. Retransmissions go through the router to the thread that
    // holds the transaction; every thread must have forgotten every call soon after the last BYE.
    const r = await runSipp({ scenario: scenarioPath('uac-loss'), calls: 20, rate: 10, lost: 10, recvTimeoutMs: 32_000, timeoutMs: 90_000, traceMessages: true, remote: `127.0.0.1:${w.port}` });
    assert.ok((r.stats?.retransmissions ?? 0) > 0, `SIPp retransmitted under loss: ${describeSipp(r)}`);
    await assertNoCallSoonAfterLastBye(r, async () => (await w.stats()).reduce((n, s) => n + s.liveCalls + s.liveLegs, 0));
    await assertAllOkAndForgotten(w, r, 20);
  });
});
