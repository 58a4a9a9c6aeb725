// SIPp asks callchart for a session timer (RFC 4028): its INVITE carries Session-Expires and
// Supported: timer, and the scenario (scenarios/uac-session-timer.xml) fails unless the 200 carries
// Session-Expires with the refresher it asked for and Require: timer, and unless the 200 to its
// refresh UPDATE carries Session-Expires again.
// Needs `sipp` (apt-get install sip-tester); fails loudly without it. Run: npm run test:interop.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { runSipp, describeSipp, scenarioPath, requireSipp } from './helpers/sipp.js';
import { startEngine, within } from './helpers/engine.js';

before(() => {
  requireSipp();
});

test('SIPp uac with Session-Expires: the 2xx and the 2xx to its refresh UPDATE carry it', { timeout: 30_000 }, async () => {
  const e = await startEngine({ rtpPorts: '47300-47339' });
  try {
    const r = await runSipp({ timeoutMs: 20_000, scenario: scenarioPath('uac-session-timer'), remote: `127.0.0.1:${e.sipPort}` });
    const why = describeSipp(r);
    assert.equal(r.exitCode, 0, why);
    assert.equal(r.stats?.successfulCalls, 1, why);
    assert.equal(r.stats?.failedCalls, 0, why);
    const rec = e.incoming[0]!;
    const end = await within(rec.end, 10_000, 'the call to end');
    assert.equal(end.reason, 'remote-hangup', 'ended by SIPp\'s BYE, not by the session timer');
    assert.equal(e.engine.sip!.stats.sessionTimersExpired, 0);
  } finally {
    await e.close();
  }
});
