// Incoming REFER (RFC 3515), engine to engine over loopback: A calls B and transfers B to C with
// call.transfer(); B's app hears a `refer` event and accepts (B calls C, A hears 100 then 200 in
// NOTIFYs and hangs up) or ignores it (603), and malformed REFERs get 400s from B.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import type { Call, Engine, ReferRequest } from '../../src/index.js';
import { loopbackEngines } from '../helpers/loopback-engines.js';
import { RawSip, request } from '../helpers/raw-sip.js';

const engines = loopbackEngines(36700, 40);
after(() => engines.closeAll());

const waitFor = async (cond: () => boolean, what: string, ms = 5000): Promise<void> => {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
};

/** A calls B; resolves with both ends once answered. */
async function connected(a: Engine, b: Engine, bCalls: Call[]): Promise<{ aCall: Call; bCall: Call }> {
  const aCall = await a.call(`sip:b@127.0.0.1:${b.sipPort}`);
  await new Promise<void>((r) => aCall.once('answered', () => r()));
  await waitFor(() => bCalls.length > 0, 'the call at B');
  return { aCall, bCall: bCalls[bCalls.length - 1]! };
}

test('a REFER the app accepts: the target is called, the referrer hears 100 then 200 and hangs up', async () => {
  const cCalls: Call[] = [];
  const c = await engines.start({ onIncomingCall: (call) => (cCalls.push(call), { action: 'accept' }) });
  const bCalls: Call[] = [];
  const requests: ReferRequest[] = [];
  let placed: Call | undefined;
  const b = await engines.start({
    onIncomingCall: (call) => {
      bCalls.push(call);
      call.on('refer', (r) => {
        requests.push(r);
        void r.accept().then((nc) => (placed = nc));
      });
      return { action: 'accept' };
    },
  });
  const a = await engines.start();
  const { aCall, bCall } = await connected(a, b, bCalls);
  const progress: number[] = [];
  aCall.on('transfer', (s) => progress.push(s));
  const target = `sip:carol@127.0.0.1:${c.sipPort}`;
  aCall.transfer(target);
  await waitFor(() => progress.includes(200), 'the 200 NOTIFY at A');
  assert.deepEqual(progress.filter((s) => s === 100 || s === 200), [100, 200]);
  assert.equal(requests.length, 1);
  assert.equal(requests[0]!.target, target);
  assert.match(requests[0]!.referredBy ?? '', /^<sip:/);
  await waitFor(() => cCalls.length === 1 && placed !== undefined, 'the call to C');
  assert.equal(placed!.isActive, true, 'the new call is answered');
  // A hangs up once the transfer is done (a 2xx NOTIFY): B's first call ends with it.
  assert.equal((await bCall.waitForEnd()).reason, 'remote-hangup');
  await assert.rejects(requests[0]!.accept(), /already decided/);
  placed!.hangup();
  await placed!.waitForEnd();
});

test('without a refer listener the REFER is declined (603); a refused one answers the app’s status', async () => {
  let refuse = false;
  const bCalls: Call[] = [];
  const b = await engines.start({
    onIncomingCall: (call) => {
      bCalls.push(call);
      if (refuse) call.on('refer', (r) => r.reject(486, 'Busy Here'));
      return { action: 'accept' };
    },
  });
  const a = await engines.start();
  for (const [mode, status] of [['none', 603], ['refuse', 486]] as const) {
    refuse = mode === 'refuse';
    const { aCall, bCall } = await connected(a, b, bCalls);
    const progress: number[] = [];
    aCall.on('transfer', (s) => progress.push(s));
    aCall.transfer('sip:nobody@127.0.0.1:9');
    await waitFor(() => progress.length > 0, `the REFER's answer (${mode})`);
    assert.deepEqual(progress, [status]);
    assert.equal(bCall.isActive, true, 'B stays in the call');
    aCall.hangup();
    await bCall.waitForEnd();
  }
  assert.equal(b.supervisor.count('sip-refer'), 0, 'no referee actor left');
});

test('REFERs without one usable Refer-To get 400; a refer with another method gets 501', async () => {
  const bCalls: Call[] = [];
  const b = await engines.start({
    onIncomingCall: (call) => {
      bCalls.push(call);
      call.on('refer', (r) => void r.accept());
      return { action: 'accept' };
    },
  });
  const port = b.sipPort!;
  const c = await new RawSip().open();
  const sdp = 'v=0\no=- 1 1 IN IP4 127.0.0.1\ns=-\nc=IN IP4 127.0.0.1\nt=0 0\nm=audio 40030 RTP/AVP 0\n';
  c.send(request('INVITE', port, c.port, { 'Content-Type': 'application/sdp', 'Call-ID': 'refer-bad@x' }, sdp), port);
  const ok = await c.response((r) => r.status === 200);
  const to = ok.headers.get('To')!;
  c.send(request('ACK', port, c.port, { 'Call-ID': 'refer-bad@x', To: to }), port);
  const cases: Array<[Record<string, string>, number]> = [
    [{}, 400],
    [{ 'Refer-To': 'not a uri' }, 400],
    [{ 'Refer-To': '<tel:+15550001>' }, 400],
    [{ 'Refer-To': '<sip:x@127.0.0.1;method=BYE>' }, 501],
  ];
  let cseq = 2;
  for (const [headers, status] of cases) {
    const seq = cseq++;
    c.send(request('REFER', port, c.port, { 'Call-ID': 'refer-bad@x', To: to, CSeq: `${seq} REFER`, ...headers }), port);
    const res = await c.response((r) => r.headers.get('CSeq') === `${seq} REFER`);
    assert.equal(res.status, status, JSON.stringify(headers));
  }
  assert.equal(b.supervisor.count('sip-refer'), 0);
  assert.equal(bCalls[0]!.isActive, true);
  c.close();
});
