// callchart's INVITE forked (RFC 3261 §12.1.2, §13.2.2.4), against SIPp playing the forking proxy:
// 1xx and 2xx from several To tags for one INVITE. SIPp's scenarios check the To tag of every
// ACK and BYE it receives (a wrong one fails the call in SIPp's stats); here: one call, answered
// once, media toward the winner's SDP, and the hangup's BYE in the winner's dialog. With early media
// from two branches, two UDP sockets stand for their RTP ports and read where callchart's RTP goes.
// Needs `sipp`; run: npm run test:interop.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { startSippUas, describeSipp, scenarioPath, requireSipp } from './helpers/sipp.js';
import { startEngine, eventually, within } from './helpers/engine.js';
import { sleep } from './helpers/procs.js';

before(() => {
  requireSipp();
});

async function forked(scenario: string, rtpPorts: string, mediaPort: number, lateAnswerMs: number) {
  const uas = await startSippUas({ scenario: scenarioPath(scenario), calls: 1, timeoutMs: 30_000, mediaPort });
  const e = await startEngine({ rtpPorts });
  try {
    const rec = await e.dial(`sip:service@127.0.0.1:${uas.port}`);
    let answered = 0;
    rec.call.on('answered', () => answered++);
    await eventually(() => rec.call.isActive, 10_000, `call answered (states: ${rec.states.join(' > ')})`);
    // Past the late branch's 2xx, its ACK and BYE (the scenario's pause).
    await sleep(lateAnswerMs);
    assert.ok(rec.call.isActive, `the call lives on: ${rec.call.state}`);
    for (let i = 0; i < 10; i++) rec.call.sendAudio(Buffer.alloc(320));
    await sleep(100);
    const stats = rec.call.stats();
    assert.ok(stats && 'remote' in stats, 'RTP stats');
    assert.equal(stats.remote?.port, mediaPort, `media to the winner's SDP (${JSON.stringify(stats.remote)})`);
    rec.call.hangup();
    const end = await within(rec.end, 10_000, 'call to end');
    assert.equal(end.reason, 'local-hangup', JSON.stringify(end));
    assert.ok(answered <= 1, `answered ${answered} times`);
    const r = await uas.stop();
    assert.equal(r.stats?.failedCalls, 0, describeSipp(r));
    assert.equal(r.stats?.successfulCalls, 1, describeSipp(r));
  } finally {
    await e.close();
    await uas.stop();
  }
}

/**
 * Wait for the call to be answered (or end); when it is not, SIPp is stopped and its messages go
 * into the failure, so a timing-dependent failure shows which side stopped (seen once, stop 39).
 */
async function answeredOrShow(uas: Awaited<ReturnType<typeof startSippUas>>, rec: { call: { isActive: boolean }; states: string[] }): Promise<void> {
  try {
    await eventually(() => rec.call.isActive || rec.states.includes('ended'), 10_000, `call answered (states: ${rec.states.join(' > ')})`);
  } catch (err) {
    const r = await uas.stop();
    throw new Error(`${(err as Error).message}\n${describeSipp(r)}\n--- SIPp messages ---\n${r.messages ?? ''}`);
  }
}

/** Wait for SIPp's one call to end, stop SIPp and check the call ran its scenario through (the messages shown when not). */
async function stopClean(uas: Awaited<ReturnType<typeof startSippUas>>): Promise<void> {
  await uas.waitForStats((s) => s.successfulCalls + s.failedCalls >= 1 && s.currentCalls === 0, 10_000);
  const r = await uas.stop();
  const why = `${describeSipp(r)}\n--- SIPp messages ---\n${r.messages ?? ''}`;
  assert.equal(r.stats?.failedCalls, 0, why);
  assert.equal(r.stats?.successfulCalls, 1, why);
}

test('SIPp forks: 180 from branchA and branchB, 200 from B, 200 from A later → both ACKed, BYE to A, the call is B', { timeout: 40_000 }, async () => {
  await forked('peer-uas-fork', '28100-28139', 28200, 800);
});

test('SIPp forks: 180 from branchA, then 200 from branchC (no 1xx) → the call is C', { timeout: 40_000 }, async () => {
  await forked('peer-uas-fork-unseen', '28140-28179', 28204, 100);
});

test('SIPp forks: 180 from branchA, our CANCEL, 487 from A, then 200 from branchB → B ACKed and sent a BYE at once', { timeout: 40_000 }, async () => {
  const uas = await startSippUas({ scenario: scenarioPath('peer-uas-fork-after-cancel'), calls: 1, timeoutMs: 30_000, mediaPort: 28208, traceMessages: true });
  const e = await startEngine({ rtpPorts: '28210-28249' });
  try {
    const rec = await e.dial(`sip:service@127.0.0.1:${uas.port}`);
    // The 180 came (an outbound call is `ringing` from the dial on; a CANCEL waits for a 1xx).
    await eventually(() => rec.call.actor.getSnapshot().context.progress === 180, 10_000, `180 received (states: ${rec.states.join(' > ')})`);
    rec.call.hangup();
    const end = await within(rec.end, 10_000, 'call to end');
    assert.equal(end.reason, 'cancelled', JSON.stringify(end));
    // SIPp ends its call only once the ACK and the BYE of branchB came, with branchB's To tag.
    await stopClean(uas);
    assert.equal(rec.answered, false, 'the late branch never reached the app');
    assert.equal(e.engine.sip?.liveLegs ?? 0, 0, 'no call left');
  } finally {
    await e.close();
    await uas.stop();
  }
});

test('SIPp forks, both branches reliable (RFC 3262): 180 from branchA and 183 from branchB each PRACKed in its own early dialog (each CSeq 2), B answers', { timeout: 40_000 }, async () => {
  const uas = await startSippUas({ scenario: scenarioPath('peer-uas-fork-100rel'), calls: 1, timeoutMs: 30_000, mediaPort: 28250, traceMessages: true });
  const e = await startEngine({ rtpPorts: '28252-28291' });
  try {
    const rec = await e.dial(`sip:service@127.0.0.1:${uas.port}`);
    await answeredOrShow(uas, rec);
    assert.ok(rec.call.isActive, `answered: ${rec.states.join(' > ')}`);
    await sleep(200);
    rec.call.hangup();
    const end = await within(rec.end, 10_000, 'call to end');
    assert.equal(end.reason, 'local-hangup', JSON.stringify(end));
    await stopClean(uas);
  } finally {
    await e.close();
    await uas.stop();
  }
});

test('SIPp forks, both reliable: branchB (the one followed) answers its PRACK 481 → the call goes on in branchA, which answers; BYE to A with CSeq 3', { timeout: 40_000 }, async () => {
  const uas = await startSippUas({ scenario: scenarioPath('peer-uas-fork-100rel-481'), calls: 1, timeoutMs: 30_000, mediaPort: 28294, traceMessages: true });
  const e = await startEngine({ rtpPorts: '28296-28335' });
  try {
    const rec = await e.dial(`sip:service@127.0.0.1:${uas.port}`);
    await answeredOrShow(uas, rec);
    assert.ok(rec.call.isActive, `answered by branchA after branchB's 481: ${rec.states.join(' > ')} ${JSON.stringify(rec.call.end)}`);
    const stats = rec.call.stats();
    assert.equal(stats && 'remote' in stats ? stats.remote?.port : undefined, 28294, "media toward branchA's SDP");
    rec.call.hangup();
    const end = await within(rec.end, 10_000, 'call to end');
    assert.equal(end.reason, 'local-hangup', JSON.stringify(end));
    await stopClean(uas);
  } finally {
    await e.close();
    await uas.stop();
  }
});

test('SIPp forks, early media from both branches: reliable 183 from A (PCMU), from B (PCMA), then 200 from A without SDP → RTP to A, to B, back to A', { timeout: 40_000 }, async () => {
  // Each branch's RTP port: every packet that arrives, in order, as branch:payload type.
  const arrivals: string[] = [];
  const sink = async (name: string) => {
    const sock = dgram.createSocket('udp4');
    sock.on('message', (m) => m.length >= 12 && arrivals.push(`${name}:${m[1]! & 0x7f}`));
    await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
    return sock;
  };
  const a = await sink('A');
  const b = await sink('B');
  const uas = await startSippUas({
    scenario: scenarioPath('peer-uas-fork-early-media'),
    calls: 1,
    timeoutMs: 30_000,
    mediaPort: 28640,
    traceMessages: true,
    vars: { pa: a.address().port, pb: b.address().port },
  });
  const e = await startEngine({ rtpPorts: '28600-28639' });
  let frames: NodeJS.Timeout | undefined;
  try {
    const rec = await e.dial(`sip:service@127.0.0.1:${uas.port}`);
    // 20 ms frames through the call's media leg from the dial on (early media goes before the answer).
    const frame = new Int16Array(160);
    frames = setInterval(() => rec.call.media?.write(frame), 20);
    await answeredOrShow(uas, rec);
    assert.ok(rec.call.isActive, rec.states.join(' > '));
    await sleep(300);
    clearInterval(frames);
    // The runs of arrivals: A's early media, B's after its 183, A's again once A answered.
    const runs = arrivals.filter((x, i) => x !== arrivals[i - 1]);
    assert.deepEqual(runs, ['A:0', 'B:8', 'A:0'], `arrivals: ${arrivals.join(' ')}`);
    assert.ok(arrivals.filter((x) => x === 'B:8').length >= 10, `B's early media ~500 ms: ${arrivals.join(' ')}`);
    rec.call.hangup();
    const end = await within(rec.end, 10_000, 'call to end');
    assert.equal(end.reason, 'local-hangup', JSON.stringify(end));
    await stopClean(uas);
  } finally {
    clearInterval(frames);
    await e.close();
    await uas.stop();
    a.close();
    b.close();
  }
});

test('SIPp forks, the winner never answered: reliable 183 from A (PCMU), 180 from B, 200 from B without SDP → ACK and BYE to B, the call fails, RTP to A stops', { timeout: 40_000 }, async () => {
  const arrivals: number[] = [];
  const a = dgram.createSocket('udp4');
  a.on('message', (m) => m.length >= 12 && arrivals.push(Date.now()));
  await new Promise<void>((r) => a.bind(0, '127.0.0.1', () => r()));
  const uas = await startSippUas({
    scenario: scenarioPath('peer-uas-fork-no-answer'),
    calls: 1,
    timeoutMs: 30_000,
    mediaPort: 28684,
    traceMessages: true,
    vars: { pa: a.address().port },
  });
  const e = await startEngine({ rtpPorts: '28644-28683' });
  let frames: NodeJS.Timeout | undefined;
  try {
    const rec = await e.dial(`sip:service@127.0.0.1:${uas.port}`);
    const frame = new Int16Array(160);
    frames = setInterval(() => rec.call.media?.write(frame), 20);
    const end = await within(rec.end, 10_000, 'call to end');
    const endedAt = Date.now();
    assert.equal(end.reason, 'failed', JSON.stringify(end));
    assert.match(end.detail ?? '', /2xx without an answer to our offer/);
    assert.equal(rec.answered, false, 'never answered');
    await sleep(300);
    clearInterval(frames);
    assert.ok(arrivals.filter((t) => t < endedAt).length >= 5, `A's early media: ${arrivals.length} packets`);
    assert.equal(arrivals.filter((t) => t > endedAt + 20).length, 0, 'no RTP to the losing branch A once B won');
    await stopClean(uas);
  } finally {
    clearInterval(frames);
    await e.close();
    await uas.stop();
    a.close();
  }
});
