// SIPp calls callchart (callchart is the UAS). Each test starts an in-process engine on ephemeral
// ports, runs one SIPp scenario against it in the foreground and asserts both sides: SIPp's verdict
// (exit code and CSV stats) and the events the callchart call emitted.
// Needs `sipp` (apt-get install sip-tester); fails loudly without it. Run: npm run test:interop.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { runSipp, describeSipp, scenarioPath, requireSipp, assertNoCallSoonAfterLastBye, type SippOptions, type SippResult } from './helpers/sipp.js';
import { startEngine, eventually, within, type TestEngine, type CallRecord, type TestEngineOptions, type SipCall } from './helpers/engine.js';
import { sleep } from './helpers/procs.js';

before(() => {
  requireSipp();
});

let current: TestEngine | undefined;
after(async () => {
  await current?.close();
});

async function withEngine<T>(opts: TestEngineOptions, fn: (e: TestEngine) => Promise<T>): Promise<T> {
  const e = await startEngine(opts);
  current = e;
  try {
    return await fn(e);
  } finally {
    current = undefined;
    await e.close();
  }
}

function sipp(e: TestEngine, o: Omit<SippOptions, 'remote'>): Promise<SippResult> {
  return runSipp({ timeoutMs: 30_000, ...o, remote: `127.0.0.1:${e.sipPort}` });
}

function assertAllOk(r: SippResult, calls: number): void {
  const why = describeSipp(r);
  assert.equal(r.exitCode, 0, why);
  assert.ok(r.stats, why);
  assert.equal(r.stats.failedCalls, 0, why);
  assert.equal(r.stats.successfulCalls, calls, why);
  assert.equal(r.stats.currentCalls, 0, why);
}

const ended = (rec: CallRecord, ms = 10_000) => within(rec.end, ms, `callchart call ${rec.call.id} to end (states: ${rec.states.join(' > ')})`);

test('SIPp built-in uac: 20 calls at 10 cps, all succeed', { timeout: 60_000 }, async () => {
  await withEngine({}, async (e) => {
    const r = await sipp(e, { scenario: 'uac', calls: 20, rate: 10 });
    assertAllOk(r, 20);
    assert.equal(e.incoming.length, 20, 'callchart saw every INVITE as one call');
    for (const rec of e.incoming) {
      const end = await ended(rec);
      assert.equal(end.reason, 'remote-hangup', `call ${rec.call.id}: ${JSON.stringify(end)}`);
      assert.equal(rec.call.transport, 'sip');
    }
  });
});

test('SIPp with 10% packet loss (transaction-matched scenario): all 20 calls complete, none left 5 s after the last BYE', { timeout: 120_000 }, async () => {
  await withEngine({}, async (e) => {
    // uac-loss.xml matches each response to its transaction (SIPp's built-in uac took the engine's
    // retransmitted 200 for the INVITE as the BYE's answer and stopped, so the engine never saw a
    // BYE and ended the call 64*T1 later). Receives still get Timer B's 32 s.
    const r = await sipp(e, { scenario: scenarioPath('uac-loss'), calls: 20, rate: 10, lost: 10, recvTimeoutMs: 32_000, timeoutMs: 90_000, traceMessages: true });
    assertAllOk(r, 20);
    assert.ok(r.stats!.retransmissions > 0, `SIPp retransmitted under loss: ${describeSipp(r)}`);
    await assertNoCallSoonAfterLastBye(r, () => {
      const engine = e.engine;
      return engine.calls.size + (engine.sip?.liveLegs ?? 0);
    });
  });
});

test('reject: callchart answers 486 Busy Here, SIPp ACKs it', { timeout: 30_000 }, async () => {
  await withEngine({ decide: () => ({ action: 'reject', code: 486, reason: 'Busy Here' }) }, async (e) => {
    const r = await sipp(e, { scenario: scenarioPath('uac-reject-486') });
    assertAllOk(r, 1);
    assert.equal(r.stats!.retransmissions, 0, `486 was retransmitted: the ACK did not match the INVITE transaction\n${describeSipp(r)}`);
    const end = await ended(e.incoming[0]!);
    assert.equal(end.reason, 'rejected');
    assert.equal(end.code, 486);
  });
});

test('cancel: SIPp CANCELs while callchart rings → 200 (CANCEL) + 487, call ends cancelled', { timeout: 30_000 }, async () => {
  await withEngine(
    {
      decide: (rec) => {
        setImmediate(() => rec.call.progress(180));
        return { action: 'defer' };
      },
    },
    async (e) => {
      const r = await sipp(e, { scenario: scenarioPath('uac-cancel') });
      assertAllOk(r, 1);
      const end = await ended(e.incoming[0]!);
      assert.equal(end.reason, 'cancelled', JSON.stringify(end));
    },
  );
});

test('BYE from the server: callchart hangs up an answered call, SIPp answers the BYE', { timeout: 30_000 }, async () => {
  await withEngine({}, async (e) => {
    const run = sipp(e, { scenario: scenarioPath('uac-bye-from-server') });
    const rec = await e.nthIncoming(0);
    await eventually(() => rec.call.isActive, 10_000, 'callchart call to become active');
    await sleep(300);
    rec.call.hangup();
    const r = await run;
    assertAllOk(r, 1);
    const end = await ended(rec);
    assert.equal(end.reason, 'local-hangup');
  });
});

test('hold/resume: re-INVITE sendonly → 200 recvonly (active.held), re-INVITE sendrecv → 200 sendrecv', { timeout: 30_000 }, async () => {
  await withEngine({}, async (e) => {
    const r = await sipp(e, { scenario: scenarioPath('uac-hold-resume') });
    assertAllOk(r, 1);
    const rec = e.incoming[0]!;
    await ended(rec);
    const held = rec.states.indexOf('active.held');
    assert.ok(held >= 0, `never held; states: ${rec.states.join(' > ')}`);
    assert.ok(
      rec.states.slice(held + 1).some((s) => s.startsWith('active.') && s !== 'active.held'),
      `not resumed after hold; states: ${rec.states.join(' > ')}`,
    );
    assert.equal((await rec.end).reason, 'remote-hangup');
  });
});

test("INFO application/dtmf-relay Signal=5 → 200, call emits dtmf '5' from sip-info", { timeout: 30_000 }, async () => {
  await withEngine({}, async (e) => {
    const r = await sipp(e, { scenario: scenarioPath('uac-info-dtmf') });
    assertAllOk(r, 1);
    const rec = e.incoming[0]!;
    await ended(rec);
    assert.deepEqual(rec.dtmf, [{ digit: '5', source: 'sip-info' }]);
  });
});

test('REFER: callchart transfers the caller, SIPp answers 202 and NOTIFYs 100 then 200', { timeout: 30_000 }, async () => {
  await withEngine({}, async (e) => {
    const run = sipp(e, { scenario: scenarioPath('uac-refer') });
    const rec = await e.nthIncoming(0);
    await eventually(() => rec.call.isActive, 10_000, 'callchart call to become active');
    const transfer = (rec.call as unknown as Partial<SipCall>).transfer;
    assert.equal(typeof transfer, 'function', 'call.transfer(uri) is missing (SIP UA contract)');
    await transfer!.call(rec.call, 'sip:transfer-target@127.0.0.1');
    const r = await run;
    assertAllOk(r, 1);
    const end = await ended(rec);
    assert.ok(['local-hangup', 'remote-hangup'].includes(end.reason), JSON.stringify(end));
  });
});

test('OPTIONS out of dialog → 200 with Allow (INVITE, ACK, BYE, CANCEL); no call offered', { timeout: 30_000 }, async () => {
  await withEngine({}, async (e) => {
    const r = await sipp(e, { scenario: scenarioPath('uac-options') });
    assertAllOk(r, 1);
    assert.equal(e.incoming.length, 0);
  });
});

test('unknown method FOO → 501 (or 405) with Allow', { timeout: 30_000 }, async () => {
  await withEngine({}, async (e) => {
    const r = await sipp(e, { scenario: scenarioPath('uac-unknown-method') });
    assertAllOk(r, 1);
    assert.equal(e.incoming.length, 0);
  });
});

test('INVITE with Max-Forwards: 0 → 483 Too Many Hops; no call offered', { timeout: 30_000 }, async () => {
  await withEngine({}, async (e) => {
    const r = await sipp(e, { scenario: scenarioPath('uac-max-forwards-0') });
    assertAllOk(r, 1);
    assert.equal(r.stats!.retransmissions, 0, `483 was retransmitted: the ACK did not match\n${describeSipp(r)}`);
    assert.equal(e.incoming.length, 0);
  });
});

test("RTP from pcap: PCMA audio reaches the call, RFC 4733 event → dtmf '1' from rfc4733", { timeout: 40_000 }, async () => {
  await withEngine({}, async (e) => {
    const r = await sipp(e, { scenario: scenarioPath('uac-pcap-g711a-dtmf'), timeoutMs: 30_000 });
    assertAllOk(r, 1);
    const rec = e.incoming[0]!;
    await ended(rec);
    assert.ok(rec.audioFrames > 100, `callchart emitted ${rec.audioFrames} audio frames for 7 s of PCMA`);
    assert.deepEqual(
      rec.dtmf.filter((d) => d.source === 'rfc4733'),
      [{ digit: '1', source: 'rfc4733' }],
      `dtmf seen: ${JSON.stringify(rec.dtmf)}`,
    );
  });
});
