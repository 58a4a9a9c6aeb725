// baresip ⇄ callchart: a real softphone calls callchart and is called by it. baresip runs headless
// (helpers/baresip.ts: no sound card, ctrl_tcp control, ausine tone as its microphone); the test
// asserts call events on both sides.
// Needs `baresip` (apt-get install baresip-core); fails loudly without it. Run: npm run test:interop.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { startBaresip, requireBaresip, type Baresip } from './helpers/baresip.js';
import { startEngine, eventually, within, type TestEngine } from './helpers/engine.js';
import { sleep } from './helpers/procs.js';

before(() => {
  requireBaresip();
});

async function both<T>(fn: (e: TestEngine, bob: Baresip) => Promise<T>): Promise<T> {
  const bob = await startBaresip({ autoAnswer: true, sineHz: 440, timeoutMs: 60_000 });
  let e: TestEngine | undefined;
  try {
    e = await startEngine();
    return await fn(e, bob);
  } catch (err) {
    if (err instanceof Error) err.message += `\n--- baresip log (tail) ---\n${bob.log().slice(-2500)}`;
    throw err;
  } finally {
    await e?.close();
    await bob.stop();
  }
}

test('baresip calls callchart: answered, audio flows, baresip hangs up', { timeout: 30_000 }, async () => {
  await both(async (e, bob) => {
    const dialed = await bob.dial(`sip:service@127.0.0.1:${e.sipPort}`);
    assert.ok(dialed.ok, `dial refused: ${dialed.data}`);
    const rec = await e.nthIncoming(0);
    assert.equal(rec.call.transport, 'sip');
    assert.equal(rec.call.direction, 'inbound');
    await bob.waitFor((ev) => ev.type === 'CALL_ESTABLISHED' && ev.direction === 'outgoing', 10_000, 'CALL_ESTABLISHED');
    await eventually(() => rec.call.isActive, 5000, `callchart call active (states: ${rec.states.join(' > ')})`);
    await sleep(1000); // ~50 RTP packets of baresip's 440 Hz tone
    assert.ok(rec.audioFrames > 10, `callchart got ${rec.audioFrames} audio frames from baresip in 1 s`);
    await bob.hangup();
    await bob.waitFor((ev) => ev.type === 'CALL_CLOSED', 5000, 'CALL_CLOSED');
    const end = await within(rec.end, 5000, 'callchart call to end');
    assert.equal(end.reason, 'remote-hangup', JSON.stringify(end));
  });
});

test('callchart calls baresip (auto-answer): answered, callchart hangs up, baresip sees the call close', { timeout: 30_000 }, async () => {
  await both(async (e, bob) => {
    const rec = await e.dial(bob.uri, { from: 'sip:callchart@127.0.0.1' });
    assert.equal(rec.call.direction, 'outbound');
    await bob.waitFor((ev) => ev.type === 'CALL_ESTABLISHED' && ev.direction === 'incoming', 10_000, 'incoming CALL_ESTABLISHED');
    await eventually(() => rec.answered || rec.call.isActive, 5000, `callchart call answered (states: ${rec.states.join(' > ')})`);
    await sleep(500);
    rec.call.hangup();
    const closed = await bob.waitFor((ev) => ev.type === 'CALL_CLOSED', 5000, 'CALL_CLOSED');
    assert.equal(closed.direction, 'incoming');
    const end = await within(rec.end, 5000, 'callchart call to end');
    assert.equal(end.reason, 'local-hangup', JSON.stringify(end));
  });
});
