// SIPp calls callchart over TCP (`-t t1`: every call on one connection): 100 calls, all clean,
// every response and SIPp's ACK/BYE carried on that one connection. Issue 16 "Must hold".
// Needs `sipp`; run under the lock: npm run test:interop.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { runSipp, describeSipp, requireSipp } from './helpers/sipp.js';
import { startEngine, within, type TestEngine } from './helpers/engine.js';

before(() => {
  requireSipp();
});

let engine: TestEngine | undefined;
after(async () => {
  await engine?.close();
});

test('SIPp built-in uac over TCP (-t t1): 100 calls at 50 cps, all succeed', { timeout: 120_000 }, async () => {
  engine = await startEngine({ sip: { tcpPort: 0 }, rtpPorts: '31000-31499' });
  const e = engine;
  const tcpPort = e.engine.sipTcpPort;
  assert.ok(tcpPort, 'the engine listens on TCP');
  const r = await runSipp({ scenario: 'uac', calls: 100, rate: 50, timeoutMs: 60_000, remote: `127.0.0.1:${tcpPort}`, extraArgs: ['-t', 't1'] });
  const why = describeSipp(r);
  assert.equal(r.exitCode, 0, why);
  assert.ok(r.stats, why);
  assert.equal(r.stats.successfulCalls, 100, why);
  assert.equal(r.stats.failedCalls, 0, why);
  assert.equal(r.stats.retransmissions, 0, `no retransmissions over TCP\n${why}`);
  assert.equal(e.incoming.length, 100, 'callchart saw every INVITE as one call');
  for (const rec of e.incoming) {
    const end = await within(rec.end, 10_000, `call ${rec.call.id} to end`);
    assert.equal(end.reason, 'remote-hangup', `call ${rec.call.id}: ${JSON.stringify(end)}`);
  }
  const udp = e.engine.sip!.transport.stats;
  assert.equal(udp.sendErrors, 0, 'every message found its connection');
});
