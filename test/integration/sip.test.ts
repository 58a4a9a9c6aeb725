// SIP over real UDP sockets on loopback: callchart's UAS against raw requests and against
// callchart's own UAC (two engines), including a lossy link. Interop with SIPp/baresip is in
// test/interop/.
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { createEngine, type Engine, type EngineOptions, type Call } from '../../src/index.js';
import type { SipResponse } from '../../src/sip/codec/message.js';
import { RawSip, request } from '../helpers/raw-sip.js';
import { stateToString } from '../../src/actors/state.js';

const engines: Engine[] = [];
after(async () => {
  await Promise.all(engines.map((e) => e.close()));
});

let rtpBase = 32000;
async function start(o: EngineOptions = {}): Promise<Engine> {
  const range = `${rtpBase}-${rtpBase + 199}`;
  rtpBase += 200;
  const engine = createEngine({ host: '127.0.0.1', wsPort: 0, sipPort: 0, rtpPorts: range, inboundCall: false, ...o });
  engines.push(engine);
  await engine.listen();
  return engine;
}

describe('SIP UAS edge: every bad or unsupported request gets a clear answer', () => {
  test('OPTIONS 200 with Allow; unknown method 501; known-unsupported 405; Max-Forwards 0 483; unknown dialog 481', async () => {
    const e = await start();
    const c = await new RawSip().open();
    const port = e.sipPort!;
    c.send(request('OPTIONS', port, c.port), port);
    const ok = await c.response();
    assert.equal(ok.status, 200);
    assert.match(ok.headers.getAll('Allow').join(', '), /INVITE.*BYE.*CANCEL.*OPTIONS/);

    c.send(request('FOO', port, c.port), port);
    const r501 = await c.response();
    assert.equal(r501.status, 501);
    assert.ok(r501.headers.get('Allow'));

    c.send(request('SUBSCRIBE', port, c.port), port);
    assert.equal((await c.response()).status, 405);

    c.send(request('OPTIONS', port, c.port, { 'Max-Forwards': '0' }), port);
    assert.equal((await c.response()).status, 483);

    c.send(request('BYE', port, c.port, { To: `<sip:callchart@127.0.0.1:${port}>;tag=nope` }), port);
    assert.equal((await c.response()).status, 481);

    c.send(request('INVITE', port, c.port, { Require: 'foo-ext' }), port);
    const r420 = await c.response();
    assert.equal(r420.status, 420);
    assert.equal(r420.headers.get('Unsupported'), 'foo-ext');
    c.close();
  });

  test('malformed requests get 400 with the reason, a bad version 505, and the responses follow rport', async () => {
    const e = await start();
    const c = await new RawSip().open();
    const port = e.sipPort!;
    c.send(request('OPTIONS', port, c.port, { 'Max-Forwards': 'lots' }), port);
    const bad = await c.response();
    assert.equal(bad.status, 400);
    assert.match(bad.reason, /Max-Forwards/i);
    c.send(request('OPTIONS', port, c.port).replace(/ SIP\/2\.0\n/, ' SIP/7.0\n'), port);
    assert.equal((await c.response()).status, 505);
    // Via says port 1 but rport asks for the source port: the answer must still reach us.
    c.send(request('OPTIONS', port, c.port, { Via: `SIP/2.0/UDP 127.0.0.1:1;branch=z9hG4bKrport1;rport` }), port);
    const viaRes = await c.response();
    assert.match(viaRes.headers.get('Via')!, new RegExp(`rport=${c.port}`));
    assert.match(viaRes.headers.get('Via')!, /received=127\.0\.0\.1/);
    // Garbage never crashes anything: the engine still answers afterwards.
    c.send('\x00\x01garbage\r\n\r\n', port);
    c.send(request('OPTIONS', port, c.port), port);
    assert.equal((await c.response()).status, 200);
    c.close();
  });

  test('an SDP whose media address is no unicast IP gets 488, a media port without room for RTCP 400; no call is left', async () => {
    const e = await start({ onIncomingCall: () => ({ action: 'accept' }) });
    const c = await new RawSip().open();
    const port = e.sipPort!;
    const offer = (addr: string, mport: number) => `v=0\no=- 1 1 IN IP4 127.0.0.1\ns=-\nc=IN IP4 ${addr}\nt=0 0\nm=audio ${mport} RTP/AVP 0\n`;
    for (const [addr, mport, want] of [['239.1.2.3', 40000, 488], ['media.example.com', 40000, 488], ['255.255.255.255', 40000, 488], ['127.0.0.1', 65535, 400]] as const) {
      c.send(request('INVITE', port, c.port, { 'Content-Type': 'application/sdp', 'Call-ID': `bad-media-${addr}-${mport}@x` }, offer(addr, mport)), port);
      const res = await c.response((r) => r.status >= 200);
      assert.equal(res.status, want, `${addr} ${mport}: ${res.status} ${res.reason}`);
    }
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(e.calls.size, 0);
    c.close();
  });

  test('INVITE with unusable SDP gets 488; retransmitted INVITE is absorbed; CANCEL gives 200 + 487', async () => {
    const e = await start({ onIncomingCall: () => ({ action: 'defer' }) });
    const c = await new RawSip().open();
    const port = e.sipPort!;
    const g729 = 'v=0\no=- 1 1 IN IP4 127.0.0.1\ns=-\nc=IN IP4 127.0.0.1\nt=0 0\nm=audio 40000 RTP/AVP 18\na=rtpmap:18 G729/8000\n';
    c.send(request('INVITE', port, c.port, { 'Content-Type': 'application/sdp' }, g729), port);
    assert.equal((await c.response((r) => r.status >= 200)).status, 488);

    const pcmu = 'v=0\no=- 1 1 IN IP4 127.0.0.1\ns=-\nc=IN IP4 127.0.0.1\nt=0 0\nm=audio 40002 RTP/AVP 0 101\na=rtpmap:101 telephone-event/8000\n';
    const invite = request('INVITE', port, c.port, { 'Content-Type': 'application/sdp', 'Call-ID': 'cancel-me@x' }, pcmu);
    c.send(invite, port);
    const ringing = await c.response((r) => r.status === 180);
    assert.ok(ringing.headers.get('To')!.includes('tag='));
    c.send(invite, port); // retransmission: same branch, must not create a second call
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(e.calls.size, 1);
    const cancel = invite.replace(/^INVITE /, 'CANCEL ').replace('CSeq: 1 INVITE', 'CSeq: 1 CANCEL').replace(/Content-Type: application\/sdp\n/, '').replace(/Content-Length: \d+\n\n[\s\S]*$/, 'Content-Length: 0\n\n');
    c.send(cancel, port);
    const r200 = await c.response((r) => r.status === 200 && r.headers.get('CSeq')!.includes('CANCEL'));
    assert.equal(r200.status, 200);
    const r487 = await c.response((r) => r.status === 487);
    assert.equal(r487.headers.get('CSeq'), '1 INVITE');
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(e.calls.size, 0);
    c.close();
  });
});

describe('SIP calls between two callchart engines (UAC ↔ UAS)', () => {
  test('call, DTMF both ways, hold/resume by re-INVITE, BYE from the caller', async () => {
    const callee = await start({ onIncomingCall: () => ({ action: 'accept' }) });
    const caller = await start();
    const incoming = new Promise<Call>((r) => callee.once('call', r));
    const call = await caller.call(`sip:bob@127.0.0.1:${callee.sipPort}`);
    const remote = await incoming;
    await new Promise<void>((r) => call.once('answered', () => r()));
    assert.equal(call.state, 'active.talking');
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(remote.state, 'active.talking');

    const heard: string[] = [];
    remote.on('dtmf', (d, src) => heard.push(`${d}:${src}`));
    call.sendDtmf('1#'); // RFC 4733 over RTP: both sides offered telephone-event
    const deadline = Date.now() + 3000;
    while (heard.length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(heard, ['1:rfc4733', '#:rfc4733']);

    const remoteStates: string[] = [];
    remote.on('state', (s) => remoteStates.push(s));
    call.hold();
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(call.state, 'active.held');
    assert.equal(remote.state, 'active.held');
    call.resume();
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(remote.state, 'active.talking');
    assert.deepEqual(remoteStates, ['active.held', 'active.talking']);

    const remoteEnd = remote.waitForEnd();
    call.hangup();
    assert.equal((await call.waitForEnd()).reason, 'local-hangup');
    assert.equal((await remoteEnd).reason, 'remote-hangup');
  });

  test('the callee rejects with 486, redirects with 302, and a caller cancel reaches the callee', async () => {
    let mode = 'reject';
    const callee = await start({
      onIncomingCall: () =>
        mode === 'reject'
          ? { action: 'reject', code: 486, reason: 'Busy Here' }
          : mode === 'redirect'
            ? { action: 'redirect', contacts: ['sip:elsewhere@127.0.0.1:5999'] }
            : { action: 'defer' },
    });
    const caller = await start();
    const target = `sip:bob@127.0.0.1:${callee.sipPort}`;
    const rejected = await (await caller.call(target)).waitForEnd();
    assert.deepEqual([rejected.reason, rejected.code], ['rejected', 486]);

    mode = 'redirect';
    const redirected = await (await caller.call(target)).waitForEnd();
    assert.equal(redirected.reason, 'redirected');
    assert.equal(redirected.code, 302);
    assert.match(redirected.detail!, /elsewhere/);

    mode = 'defer';
    const incoming = new Promise<Call>((r) => callee.once('call', r));
    const call = await caller.call(target);
    const remote = await incoming;
    for (let i = 0; i < 100 && call.actor.getSnapshot().context.progress !== 180; i++) await new Promise((r) => setTimeout(r, 10));
    assert.equal(call.actor.getSnapshot().context.progress, 180);
    call.hangup();
    assert.equal((await call.waitForEnd()).reason, 'cancelled');
    assert.equal((await remote.waitForEnd()).reason, 'cancelled');
  });

  test('digest authentication: no credentials → rejected 401; right credentials → answered; wrong → 403', async () => {
    const callee = await start({
      onIncomingCall: () => ({ action: 'accept' }),
      sip: { auth: { realm: 'callchart.test', users: { alice: 's3cret' } } },
    });
    const caller = await start();
    const target = `sip:bob@127.0.0.1:${callee.sipPort}`;
    const noCreds = await (await caller.call(target)).waitForEnd();
    assert.deepEqual([noCreds.reason, noCreds.code], ['rejected', 401]);
    const wrong = await (await caller.call(target, { auth: { username: 'alice', password: 'nope' } })).waitForEnd();
    assert.deepEqual([wrong.reason, wrong.code], ['rejected', 403]);
    const good = await caller.call(target, { auth: { username: 'alice', password: 's3cret' } });
    await new Promise<void>((r) => good.once('answered', () => r()));
    good.hangup();
    assert.equal((await good.waitForEnd()).reason, 'local-hangup');
  });

  test('over the call limit an INVITE gets 503 with Retry-After', async () => {
    const callee = await start({ maxCalls: 1, onIncomingCall: () => ({ action: 'defer' }) });
    const caller = await start();
    const target = `sip:bob@127.0.0.1:${callee.sipPort}`;
    const first = await caller.call(target);
    await new Promise((r) => setTimeout(r, 100));
    const second = await (await caller.call(target)).waitForEnd();
    assert.deepEqual([second.reason, second.code], ['rejected', 503]);
    first.hangup();
    await first.waitForEnd();
  });

  test('with 10 % packet loss both ways, 20 calls still set up and tear down', async () => {
    // A lossy relay between the engines: drops 10 % of datagrams in each direction (seeded).
    let seed = 42;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
    const timers = { t1: 50, t2: 400, t4: 500 };
    const callee = await start({ onIncomingCall: () => ({ action: 'accept' }), sip: { timers } });
    const caller = await start({ sip: { timers } });
    const relay = dgram.createSocket('udp4');
    await new Promise<void>((r) => relay.bind(0, '127.0.0.1', () => r()));
    let dropped = 0;
    relay.on('message', (buf, rinfo) => {
      if (rnd() < 0.1) {
        dropped++;
        return;
      }
      // Forward to the callee from the caller, to the caller from the callee.
      const to = rinfo.port === callee.sipPort ? caller.sipPort! : callee.sipPort!;
      relay.send(buf, to, '127.0.0.1');
    });
    // The callee answers the relay (Via/Contact point back at it via received/rport).
    const target = `sip:bob@127.0.0.1:${relay.address().port}`;
    const results = [];
    for (let i = 0; i < 20; i++) {
      const call = await caller.call(target);
      const answered = await Promise.race([
        new Promise<boolean>((r) => call.once('answered', () => r(true))),
        call.waitForEnd().then(() => false),
      ]);
      if (answered) call.hangup();
      results.push({ answered, end: await call.waitForEnd() });
    }
    relay.close();
    assert.ok(dropped > 0, 'the relay dropped nothing');
    const failed = results.filter((r) => !r.answered || r.end.reason !== 'local-hangup');
    assert.deepEqual(failed, [], `calls failed under loss (${dropped} datagrams dropped)`);
  });
});

describe('SIP server transactions after their final response', () => {
  test('a retransmitted BYE gets the same 200 again; a retransmitted INVITE after 200 creates nothing', async () => {
    const e = await start({ onIncomingCall: () => ({ action: 'accept' }) });
    const c = await new RawSip().open();
    const port = e.sipPort!;
    const sdp = 'v=0\no=- 1 1 IN IP4 127.0.0.1\ns=-\nc=IN IP4 127.0.0.1\nt=0 0\nm=audio 40010 RTP/AVP 0\n';
    const invite = request('INVITE', port, c.port, { 'Content-Type': 'application/sdp', 'Call-ID': 'linger@x' }, sdp);
    c.send(invite, port);
    const ok = await c.response((r) => r.status === 200);
    const toTag = /tag=([^;>\s]+)/.exec(ok.headers.get('To')!)![1];
    assert.equal(e.calls.size, 1);
    c.send(invite, port); // retransmission after the 200: absorbed, no second call
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(e.calls.size, 1);
    c.got.length = 0;
    const ack = request('ACK', port, c.port, { 'Call-ID': 'linger@x', To: `<sip:callchart@127.0.0.1:${port}>;tag=${toTag}` });
    c.send(ack, port);
    const bye = request('BYE', port, c.port, { 'Call-ID': 'linger@x', CSeq: '2 BYE', To: `<sip:callchart@127.0.0.1:${port}>;tag=${toTag}` });
    c.send(bye, port);
    const first = await c.response((r) => r.headers.get('CSeq') === '2 BYE');
    assert.equal(first.status, 200);
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(e.calls.size, 0);
    c.send(bye, port); // retransmitted BYE: the same answer, not 481
    const again = await c.response((r) => r.headers.get('CSeq') === '2 BYE');
    assert.equal(again.status, 200);
    assert.equal(e.sip!.transactions.stats.retransmittedRequestsAbsorbed >= 2, true);
    c.close();
  });
});

describe('SIP INVITE answered in the same step (RTP pair from the pool)', () => {
  const sdp = 'v=0\no=- 1 1 IN IP4 127.0.0.1\ns=-\nc=IN IP4 127.0.0.1\nt=0 0\nm=audio 40020 RTP/AVP 0\n';
  const tx = (e: Engine) => e.supervisor.metrics.spawned['transaction'] ?? 0;
  const toTagged = (port: number, tag: string) => `<sip:callchart@127.0.0.1:${port}>;tag=${tag}`;
  const toTagOf = (res: SipResponse) => /tag=([^;>\s]+)/.exec(res.headers.get('To')!)![1]!;
  /**
   * A whole accepted call (INVITE, 200, ACK, BYE), then the wait until its RTP pair, parked when
   * the call ended, has rested 1 s (reuseAfterMs) and is handed out again at once.
   */
  const callAndPark = async (e: Engine, c: RawSip, callId: string) => {
    const port = e.sipPort!;
    c.send(request('INVITE', port, c.port, { 'Content-Type': 'application/sdp', 'Call-ID': callId }, sdp), port);
    const tag = toTagOf(await c.response((r) => r.status === 200));
    c.send(request('ACK', port, c.port, { 'Call-ID': callId, To: toTagged(port, tag) }), port);
    c.send(request('BYE', port, c.port, { 'Call-ID': callId, CSeq: '2 BYE', To: toTagged(port, tag) }), port);
    await c.response((r) => r.headers.get('CSeq') === '2 BYE' && r.status === 200);
    await new Promise((r) => setTimeout(r, 1200));
    assert.ok(e.ports.pooled >= 1, 'the first call parked its pair');
  };

  test('an accepted call needs no transaction actor, yet absorbs a retransmitted INVITE and stops its 2xx on ACK', async () => {
    const e = await start({ onIncomingCall: () => ({ action: 'accept' }) });
    const c = await new RawSip().open();
    const port = e.sipPort!;
    // A first call binds a fresh pair (asynchronously: its INVITE transaction is an actor) and
    // parks it when it ends.
    await callAndPark(e, c, 'pool-1@x');
    assert.equal(tx(e), 1, 'the first INVITE waited for its RTP bind: one transaction actor');

    c.got.length = 0;
    const invite = request('INVITE', port, c.port, { 'Content-Type': 'application/sdp', 'Call-ID': 'pool-2@x' }, sdp);
    c.send(invite, port);
    const ok = await c.response((r) => r.status === 200);
    assert.equal(ok.headers.get('CSeq'), '1 INVITE');
    assert.equal(c.got.length, 0, 'answered in the same step: the 200 went alone, no 180 ahead of it');
    assert.match(ok.body.toString(), /m=audio \d+ RTP\/AVP 0/);
    assert.equal(tx(e), 1, 'answered in the same step: no transaction actor for the second INVITE');
    assert.equal(e.sip!.transactions.lingeringCount >= 1, true, 'the accepted INVITE lingers (Timer L) as a table entry');
    c.send(invite, port); // retransmission: absorbed, no second call, no new 200 from the transaction
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(e.calls.size, 1);
    const toTag = toTagOf(ok);
    c.got.length = 0;
    c.send(request('ACK', port, c.port, { 'Call-ID': 'pool-2@x', To: toTagged(port, toTag) }), port);
    // T1 is 500 ms: without the ACK the UA core would retransmit its 200 by now.
    await new Promise((r) => setTimeout(r, 700));
    assert.equal(c.got.filter((r) => r.status === 200).length, 0, 'ACK stopped the 2xx retransmissions');
    c.send(request('BYE', port, c.port, { 'Call-ID': 'pool-2@x', CSeq: '2 BYE', To: toTagged(port, toTag) }), port);
    assert.equal((await c.response((r) => r.headers.get('CSeq') === '2 BYE')).status, 200);
    c.close();
  });

  /** Every state each dialog actor of `e` passes through, by actor id (a spy on the supervisor). */
  const recordDialogs = (e: Engine): Map<string, string[]> => {
    const seen = new Map<string, string[]>();
    const spawn = e.supervisor.spawn.bind(e.supervisor);
    e.supervisor.spawn = ((logic, opts) => {
      if (opts.kind !== 'dialog') return spawn(logic, opts);
      const states: string[] = [];
      seen.set(opts.id, states);
      const inner = opts.onSnapshot;
      return spawn(logic, {
        ...opts,
        onSnapshot: (snap) => {
          const state = stateToString((snap as { value: unknown }).value);
          if (states[states.length - 1] !== state) states.push(state);
          inner?.(snap);
        },
      });
    }) as typeof e.supervisor.spawn;
    return seen;
  };

  test('the dialog of a call answered in the INVITE\'s step goes straight to confirmed; a later answer shows it early first', async () => {
    let later: Call | undefined;
    const e = await start({
      onIncomingCall: (call) => {
        if (call.from?.includes('bob')) {
          later = call;
          return { action: 'defer' };
        }
        return { action: 'accept' };
      },
    });
    const dialogs = recordDialogs(e);
    const c = await new RawSip().open();
    const port = e.sipPort!;
    for (const [callId, from] of [['now@x', 'alice'], ['later@x', 'bob']] as const) {
      c.send(request('INVITE', port, c.port, { 'Content-Type': 'application/sdp', 'Call-ID': callId, From: `<sip:${from}@127.0.0.1:${c.port}>;tag=${from}` }, sdp), port);
    }
    const ringing = await c.response((r) => r.status === 180 && r.headers.get('Call-ID') === 'later@x');
    assert.match(ringing.headers.get('To')!, /;tag=/, 'a call still ringing when its INVITE\'s step ends gets its 180');
    const okNow = await c.response((r) => r.status === 200 && r.headers.get('Call-ID') === 'now@x');
    // Answered in the INVITE's step, the 200 goes alone: nothing came before it for that call.
    assert.equal(c.got.filter((r) => r.headers.get('Call-ID') === 'now@x').length, 0, 'no 180 ahead of an answer given in the INVITE\'s step');
    // The deferred call's dialog is early until the app answers.
    assert.deepEqual(dialogs.get('dlg-later@x'), ['init', 'live.early']);
    later!.answer();
    const okLater = await c.response((r) => r.status === 200 && r.headers.get('Call-ID') === 'later@x');
    for (const [callId, ok] of [['now@x', okNow], ['later@x', okLater]] as const) {
      c.send(request('ACK', port, c.port, { 'Call-ID': callId, To: toTagged(port, toTagOf(ok)) }), port);
      c.send(request('BYE', port, c.port, { 'Call-ID': callId, CSeq: '2 BYE', To: toTagged(port, toTagOf(ok)) }), port);
      assert.equal((await c.response((r) => r.headers.get('CSeq') === '2 BYE' && r.headers.get('Call-ID') === callId)).status, 200);
    }
    assert.deepEqual(dialogs.get('dlg-now@x'), ['init', 'live.confirmed', 'terminated'], '180 and 200 in one step: no early transition');
    assert.deepEqual(dialogs.get('dlg-later@x'), ['init', 'live.early', 'live.confirmed', 'terminated']);
    // A leg whose dialog ended with the BYE is dropped on the next turn, not kept for 64*T1.
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(e.sip!.liveLegs, 0);
    c.close();
  });

  test('a call rejected in the same step still gets a transaction actor: the 486 is retransmitted until the ACK', async () => {
    let reject = false;
    const e = await start({ onIncomingCall: () => (reject ? { action: 'reject', code: 486 } : { action: 'accept' }) });
    const c = await new RawSip().open();
    const port = e.sipPort!;
    await callAndPark(e, c, 'pool-3@x');
    reject = true;
    const before = tx(e);
    c.got.length = 0;
    c.send(request('INVITE', port, c.port, { 'Content-Type': 'application/sdp', 'Call-ID': 'pool-4@x' }, sdp), port);
    await c.response((r) => r.status === 486);
    assert.equal(tx(e), before + 1, 'Completed needs the actor (Timer G/H)');
    await c.response((r) => r.status === 486, 2000); // Timer G: the same 486 again, no ACK yet
    c.close();
  });
});

describe('SIP call timers (ring timeout, maximum duration)', () => {
  const sdp = 'v=0\no=- 1 1 IN IP4 127.0.0.1\ns=-\nc=IN IP4 127.0.0.1\nt=0 0\nm=audio 40030 RTP/AVP 0\n';
  const toTagOf = (res: SipResponse) => /tag=([^;>\s]+)/.exec(res.headers.get('To')!)![1]!;

  test('a call nobody answers gets 480 when the ring timeout runs out', async () => {
    const e = await start({ ringTimeoutMs: 300, onIncomingCall: () => ({ action: 'defer' }) });
    const calls: Call[] = [];
    e.on('call', (call: Call) => calls.push(call));
    const c = await new RawSip().open();
    const t0 = Date.now();
    c.send(request('INVITE', e.sipPort!, c.port, { 'Content-Type': 'application/sdp', 'Call-ID': 'ring-timeout@x' }, sdp), e.sipPort!);
    await c.response((r) => r.status === 180);
    const final = await c.response((r) => r.status >= 200, 3000);
    assert.equal(final.status, 480);
    assert.ok(Date.now() - t0 >= 250, 'not before the ring timeout');
    const end = await calls[0]!.waitForEnd();
    assert.deepEqual({ reason: end.reason, code: end.code }, { reason: 'timeout', code: 480 });
    c.close();
  });

  test('an answered call is hung up when it reaches the maximum duration; one that ends first just ends', async () => {
    const e = await start({ maxCallDurationMs: 400, onIncomingCall: () => ({ action: 'accept' }) });
    const calls: Call[] = [];
    e.on('call', (call: Call) => calls.push(call));
    const c = await new RawSip().open();
    const port = e.sipPort!;
    for (const callId of ['long@x', 'short@x']) {
      c.send(request('INVITE', port, c.port, { 'Content-Type': 'application/sdp', 'Call-ID': callId }, sdp), port);
      const ok = await c.response((r) => r.status === 200 && r.headers.get('Call-ID') === callId);
      c.send(request('ACK', port, c.port, { 'Call-ID': callId, To: `<sip:callchart@127.0.0.1:${port}>;tag=${toTagOf(ok)}` }), port);
      if (callId === 'short@x') {
        c.send(request('BYE', port, c.port, { 'Call-ID': callId, CSeq: '2 BYE', To: `<sip:callchart@127.0.0.1:${port}>;tag=${toTagOf(ok)}` }), port);
      }
    }
    const [long, short] = calls;
    const shortEnd = await short!.waitForEnd();
    assert.equal(shortEnd.reason, 'remote-hangup');
    const longEnd = await long!.waitForEnd();
    assert.deepEqual({ reason: longEnd.reason, detail: longEnd.detail }, { reason: 'timeout', detail: 'maximum call duration' });
    c.close();
  });
});
