// call.update() against SIPp (callchart is the UAC): SIPp answers the INVITE with PCMU and an Allow
// naming UPDATE, refuses the first UPDATE with 491, and answers the retry with PCMA on another port
// (peer-uas-update.xml checks both offers list PCMA alone). The update resolves with PCMA and that
// port, and the RTP callchart sends next arrives there as payload type 8.
// Needs `sipp` (apt-get install sip-tester); fails loudly without it. Run: npm run test:interop.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { startSippUas, describeSipp, scenarioPath, requireSipp } from './helpers/sipp.js';
import { startEngine, eventually, within } from './helpers/engine.js';

before(() => {
  requireSipp();
});

test('call.update({ method: UPDATE, codecs: [PCMA] }) → SIPp: 491, retried, answered on a new port; media follows', { timeout: 40_000 }, async () => {
  const media = dgram.createSocket('udp4');
  await new Promise<void>((r) => media.bind(0, '127.0.0.1', () => r()));
  const pts: number[] = [];
  media.on('message', (m) => m.length >= 12 && pts.push(m[1]! & 0x7f));
  const newport = media.address().port;
  const uas = await startSippUas({ scenario: scenarioPath('peer-uas-update'), calls: 1, timeoutMs: 30_000, vars: { newport } });
  const e = await startEngine();
  try {
    const rec = await e.dial(`sip:service@127.0.0.1:${uas.port}`);
    await eventually(() => rec.call.isActive, 10_000, 'answered');
    const result = await within(rec.call.update({ method: 'UPDATE', codecs: ['PCMA'] }), 10_000, 'the update answered');
    assert.deepEqual(result, { method: 'UPDATE', status: 200, codec: 'PCMA', remote: { address: '127.0.0.1', port: newport } });
    const frame = Buffer.alloc(320, 0x11);
    for (let i = 0; i < 3; i++) rec.call.sendAudio(frame);
    await eventually(() => pts.length >= 3, 5_000, 'RTP at the answer’s port');
    assert.deepEqual(pts.slice(0, 3), [8, 8, 8], 'PCMA');
    rec.call.hangup();
    await within(rec.end, 10_000, 'call to end');
    const r = await uas.stop();
    assert.equal(r.stats?.failedCalls, 0, describeSipp(r));
    assert.equal(r.stats?.successfulCalls, 1, describeSipp(r));
  } finally {
    await e.close();
    await uas.stop();
    media.close();
  }
});
