// SIPp makes 20 calls to callchart (`sipp -sn uac -m 20`); GET /metrics must then say 20: 20 calls
// ended by the far end, 20 INVITEs, 20 BYEs, 20 setup-time samples, nothing left active.
// Needs `sipp` (apt-get install sip-tester). Run: npm run test:interop.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { runSipp, describeSipp, requireSipp } from './helpers/sipp.js';
import { startEngine, eventually, type TestEngine } from './helpers/engine.js';
import { sample } from '../helpers/prom.js';

before(() => {
  requireSipp();
});

let e: TestEngine | undefined;
after(async () => {
  await e?.close();
});

test('SIPp uac ×20 → /metrics counts 20 calls, 20 INVITEs, 20 BYEs', { timeout: 60_000 }, async () => {
  e = await startEngine();
  const r = await runSipp({ scenario: 'uac', calls: 20, rate: 10, remote: `127.0.0.1:${e.sipPort}`, timeoutMs: 30_000 });
  const why = describeSipp(r);
  assert.equal(r.exitCode, 0, why);
  assert.equal(r.stats?.successfulCalls, 20, why);
  await eventually(() => e!.engine.calls.size === 0, 5000, 'every call ended');
  const res = await fetch(`http://127.0.0.1:${e.engine.wsPort}/metrics`);
  assert.equal(res.status, 200);
  const text = await res.text();
  const sip = { transport: 'sip', direction: 'inbound' };
  assert.equal(sample(text, 'callchart_calls_total', { ...sip, reason: 'remote-hangup' }), 20, text);
  assert.equal(sample(text, 'callchart_calls_active', sip), 0);
  assert.equal(sample(text, 'callchart_call_setup_seconds_count', sip), 20);
  assert.equal(sample(text, 'callchart_sip_requests_total', { direction: 'in', method: 'INVITE' }), 20);
  assert.equal(sample(text, 'callchart_sip_requests_total', { direction: 'in', method: 'BYE' }), 20);
  assert.equal(sample(text, 'callchart_sip_requests_total', { direction: 'in', method: 'ACK' }), 20);
  assert.equal(sample(text, 'callchart_actors_spawned_total', { kind: 'call' }), 20);
});
