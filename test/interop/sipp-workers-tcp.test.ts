// SIPp calls callchart's SIP worker threads over TCP (`-t t1`: every call on ONE connection):
// the router on the main thread owns the connection and relays each message to the thread its
// Call-ID picks (src/sip/workers/stream-relay.ts); the threads' responses go back on it. SIPp's
// verdict says every call completed without a retransmission; the counters say both threads took
// calls, forgot every one, and no send failed.
// Needs `sipp` (apt-get install sip-tester); fails loudly without it. Run: npm run test:interop.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { runSipp, describeSipp, requireSipp } from './helpers/sipp.js';
import { SipWorkers } from '../../src/sip/workers/router.js';
import { silentLogger } from '../../src/logger.js';
import { sleep } from './helpers/procs.js';

before(() => {
  requireSipp();
});

const demo = new URL('../../src/demo.ts', import.meta.url).href;

test('SIPp built-in uac over TCP (-t t1) → 2 SIP worker threads: 100 calls at 50 cps on one connection, all succeed', { timeout: 120_000 }, async () => {
  const w = new SipWorkers({ threads: 2, host: '127.0.0.1', port: 0, tcpPort: 0, rtpPorts: '39500-39999', logger: silentLogger(), logLevel: 'silent', app: { module: demo, export: 'demoApp' } });
  await w.start();
  try {
    const r = await runSipp({ scenario: 'uac', calls: 100, rate: 50, timeoutMs: 60_000, remote: `127.0.0.1:${w.tcpPort}`, extraArgs: ['-t', 't1'] });
    const why = describeSipp(r);
    assert.equal(r.exitCode, 0, why);
    assert.equal(r.stats?.successfulCalls, 100, why);
    assert.equal(r.stats?.failedCalls, 0, why);
    assert.equal(r.stats?.retransmissions, 0, `no retransmissions over TCP\n${why}`);
    assert.equal(w.streamStats('tcp')?.accepted, 1, 'SIPp used one connection');
    assert.ok(w.routed.every((n) => n > 0), `both threads took calls: ${w.routed.join(' / ')}`);
    const t0 = Date.now();
    let stats = await w.stats();
    while (Date.now() - t0 < 2000 && stats.some((s) => s.liveCalls + s.liveLegs > 0)) {
      await sleep(50);
      stats = await w.stats();
    }
    assert.deepEqual(stats.map((s) => s.liveCalls + s.liveLegs), [0, 0], 'no call or dialog left in any thread');
    assert.deepEqual(stats.map((s) => s.streams.tcp?.failed), [0, 0], 'every message found its connection');
    assert.deepEqual(stats.map((s) => s.transport.sendErrors), [0, 0]);
  } finally {
    await w.close();
  }
});
