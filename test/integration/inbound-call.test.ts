// The inbound-call WebSocket protocol end to end over real sockets on loopback.
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { createEngine, demoApp, type Engine, type EngineOptions, type Call } from '../../src/index.js';
import { TestClient } from '../helpers/ws-client.js';

const engines: Engine[] = [];
after(async () => {
  await Promise.all(engines.map((e) => e.close()));
});

async function start(o: EngineOptions = {}): Promise<{ engine: Engine; url: string }> {
  const engine = createEngine({
    host: '127.0.0.1',
    wsPort: 0,
    sipPort: false,
    inboundCall: { offerDelayMs: 20, ...(typeof o.inboundCall === 'object' ? o.inboundCall : {}) },
    onIncomingCall: demoApp({ answerDelayMs: 50, hangupAfterMs: 400 }),
    ...o,
  });
  engines.push(engine);
  await engine.listen();
  return { engine, url: `ws://127.0.0.1:${engine.wsPort}/` };
}

async function connectAnswered(url: string): Promise<{ c: TestClient; sessionId: string }> {
  const c = new TestClient(url);
  await c.opened();
  const inc = await c.json('incoming_call');
  await c.json('answer');
  return { c, sessionId: inc.sessionId };
}

describe('inbound-call protocol', () => {
  test('incoming_call -> answer -> echo in order -> dtmf -> server hangup -> close', async () => {
    const { engine, url } = await start();
    const calls: Call[] = [];
    const digits: string[] = [];
    engine.on('call', (call) => {
      calls.push(call);
      call.on('dtmf', (d) => digits.push(d));
    });
    const c = new TestClient(url);
    await c.opened();
    const t0 = Date.now();
    const inc = await c.json();
    assert.equal(inc.event, 'incoming_call');
    assert.match(inc.sessionId, /^[0-9a-f-]{36}$/);
    const ans = await c.json();
    assert.equal(ans.event, 'answer');
    assert.ok(Date.now() - t0 >= 40, 'answer came before the configured ring time');

    const frames = Array.from({ length: 100 }, (_, i) => Buffer.alloc(320, i));
    for (const f of frames) c.send(f);
    for (let i = 0; i < frames.length; i++) {
      const got = await c.next((f) => f.kind === 'binary');
      assert.ok(got.kind === 'binary' && got.data.equals(frames[i]!), `frame ${i} not echoed in order/unchanged`);
    }
    c.send({ event: 'dtmf', sessionId: inc.sessionId, digit: '7' });
    c.send({ event: 'dtmf', sessionId: inc.sessionId, digit: '#' });
    const hang = await c.json('hangup', 3000);
    assert.equal(hang.sessionId, inc.sessionId);
    const closed = await c.waitClose();
    assert.equal(closed.code, 1000);
    assert.deepEqual(digits, ['7', '#']);
    assert.equal(calls.length, 1);
    assert.equal(calls[0]!.end?.reason, 'local-hangup');
    assert.equal(engine.calls.size, 0);
    assert.equal(engine.supervisor.count('call'), 0);
  });

  test('client hangup ends the call as a remote hangup and the server closes', async () => {
    const { engine, url } = await start();
    const ended = new Promise<Call>((resolve) => engine.on('call', (call) => call.once('ended', () => resolve(call))));
    const { c, sessionId } = await connectAnswered(url);
    c.send({ event: 'hangup', sessionId });
    const closed = await c.waitClose();
    assert.equal(closed.code, 1000);
    const call = await ended;
    assert.equal(call.end?.reason, 'remote-hangup');
  });

  test('closing the socket while ringing ends the call and frees the actor', async () => {
    const { engine, url } = await start({ onIncomingCall: () => ({ action: 'defer' }) });
    const ended = new Promise<Call>((resolve) => engine.on('call', (call) => call.once('ended', () => resolve(call))));
    const c = new TestClient(url);
    await c.opened();
    await c.json('incoming_call');
    c.close();
    const call = await ended;
    assert.equal(call.end?.reason, 'remote-hangup');
    assert.equal(engine.supervisor.count('call'), 0);
  });

  test('bad input gets an error frame and the call goes on', async () => {
    const { url } = await start({ onIncomingCall: demoApp({ answerDelayMs: 300, hangupAfterMs: 5000 }) });
    const c = new TestClient(url);
    await c.opened();
    const { sessionId } = await c.json('incoming_call');
    const cases: Array<[string | Buffer, RegExp]> = [
      [Buffer.alloc(320), /audio before answer/],
      ['not json', /not valid JSON/],
      ['[1,2]', /JSON object/],
      [JSON.stringify({ sessionId }), /missing field event/],
      [JSON.stringify({ event: 'fax', sessionId }), /unknown event: fax/],
      // A 20 000-deep array as the event used to overflow the stack in String(ev) and kill the process.
      [`{"event":${'['.repeat(20_000)}${']'.repeat(20_000)},"sessionId":"x"}`, /event must be a string/],
      [JSON.stringify({ event: 'dtmf', digit: '1' }), /missing field sessionId/],
      [JSON.stringify({ event: 'dtmf', sessionId }), /missing field digit/],
      [JSON.stringify({ event: 'dtmf', sessionId, digit: 'X' }), /invalid digit/],
      [JSON.stringify({ event: 'dtmf', sessionId, digit: '12' }), /invalid digit/],
      [JSON.stringify({ event: 'dtmf', sessionId: 'someone-else', digit: '1' }), /unknown sessionId/],
      [JSON.stringify({ event: 'dtmf', sessionId, digit: '1' }), /dtmf before answer/],
    ];
    for (const [input, want] of cases) {
      c.send(input);
      const err = await c.json('error');
      assert.match(err.reason, want, `input ${String(input).slice(0, 40)}`);
    }
    await c.json('answer');
    c.send(Buffer.from('still alive'));
    const echo = await c.next((f) => f.kind === 'binary');
    assert.ok(echo.kind === 'binary' && echo.data.toString() === 'still alive');
    c.close();
  });

  test('oversized frames close with 1009 and floods with 1008, without disturbing another call', async () => {
    const { url } = await start({
      inboundCall: { offerDelayMs: 20, maxPayload: 4096, textRate: { perSecond: 5, burst: 10 } },
      onIncomingCall: demoApp({ answerDelayMs: 0, hangupAfterMs: 10_000 }),
    });
    const bystander = await connectAnswered(url);
    const big = await connectAnswered(url);
    big.c.send(Buffer.alloc(8192));
    assert.equal((await big.c.waitClose()).code, 1009);

    const flood = await connectAnswered(url);
    for (let i = 0; i < 50; i++) flood.c.send({ event: 'dtmf', sessionId: flood.sessionId, digit: '1' });
    const fc = await flood.c.waitClose();
    assert.equal(fc.code, 1008);
    assert.match(fc.reason, /rate limit/);

    bystander.c.send(Buffer.from('ok'));
    const echo = await bystander.c.next((f) => f.kind === 'binary');
    assert.ok(echo.kind === 'binary' && echo.data.toString() === 'ok');
    bystander.c.close();
  });

  test('the app decides: reject, accept at once, async decision, hang up on a digit, hook failure', async () => {
    const { engine, url } = await start({
      onIncomingCall: async (call) => {
        if (calls === 0) return { action: 'reject', code: 486, reason: 'Busy Here' };
        if (calls === 1) {
          call.on('dtmf', (d) => d === '9' && call.hangup('pressed 9'));
          return { action: 'accept' };
        }
        if (calls === 2) {
          await new Promise((r) => setTimeout(r, 30));
          setTimeout(() => call.reject(603, 'Decline'), 10);
          return { action: 'defer' };
        }
        throw new Error('app bug');
      },
    });
    let calls = -1;
    engine.on('call', () => calls++);

    const a = new TestClient(url);
    await a.opened();
    await a.json('incoming_call');
    const rej = await a.json('hangup');
    assert.equal(rej.code, 486);
    assert.equal(rej.reason, 'Busy Here');
    assert.equal((await a.waitClose()).code, 1000);

    const b = await connectAnswered(url);
    b.c.send({ event: 'dtmf', sessionId: b.sessionId, digit: '9' });
    await b.c.json('hangup');
    await b.c.waitClose();

    const d = new TestClient(url);
    await d.opened();
    await d.json('incoming_call');
    assert.equal((await d.json('hangup')).code, 603);

    const e = new TestClient(url);
    await e.opened();
    await e.json('incoming_call');
    const fail = await e.json('hangup');
    assert.equal(fail.code, 500);
  });

  test('a crashing call ends alone (1011) while another call keeps echoing', async () => {
    const { engine, url } = await start({ onIncomingCall: demoApp({ answerDelayMs: 0, hangupAfterMs: 10_000 }) });
    engine.on('call', (call) =>
      call.on('dtmf', (d) => {
        if (d === '0') throw new Error('handler bug');
      }),
    );
    const healthy = await connectAnswered(url);
    const victim = await connectAnswered(url);
    victim.c.send({ event: 'dtmf', sessionId: victim.sessionId, digit: '0' });
    const closed = await victim.c.waitClose();
    assert.equal(closed.code, 1011);
    assert.equal(engine.supervisor.metrics.crashed.call, 1);
    healthy.c.send(Buffer.from('x'));
    const echo = await healthy.c.next((f) => f.kind === 'binary');
    assert.ok(echo.kind === 'binary');
    assert.equal(engine.calls.size, 1);
    healthy.c.close();
  });

  test("an app whose audio listener throws ends only that call (1011); the server keeps serving", async () => {
    const { engine, url } = await start({ onIncomingCall: demoApp({ answerDelayMs: 0, hangupAfterMs: 10_000 }) });
    engine.on('call', (call) =>
      call.on('audio', (frame) => {
        if (frame.toString() === 'boom') throw new Error('listener bug');
      }),
    );
    const healthy = await connectAnswered(url);
    const victim = await connectAnswered(url);
    victim.c.send(Buffer.from('boom'));
    const closed = await victim.c.waitClose();
    assert.equal(closed.code, 1011);
    healthy.c.send(Buffer.from('x'));
    const echo = await healthy.c.next((f) => f.kind === 'binary');
    assert.ok(echo.kind === 'binary');
    healthy.c.close();
  });

  test('over the call limit a new connection is refused with a reason and 1013', async () => {
    const { url } = await start({ maxCalls: 2, onIncomingCall: () => ({ action: 'defer' }) });
    const a = new TestClient(url);
    const b = new TestClient(url);
    await Promise.all([a.opened(), b.opened()]);
    const c = new TestClient(url);
    await c.opened();
    const err = await c.json('error');
    assert.match(err.reason, /limit of 2 concurrent calls/);
    assert.equal((await c.waitClose()).code, 1013);
    a.close();
    b.close();
  });

  test('200 concurrent calls each get their own echo', async () => {
    const { engine, url } = await start({ onIncomingCall: demoApp({ answerDelayMs: 0, hangupAfterMs: 60_000 }) });
    const clients = await Promise.all(Array.from({ length: 200 }, () => connectAnswered(url)));
    assert.equal(engine.calls.size, 200);
    clients.forEach(({ c }, i) => {
      for (let k = 0; k < 5; k++) c.send(Buffer.from(`${i}:${k}`));
    });
    for (const [i, { c }] of clients.entries()) {
      for (let k = 0; k < 5; k++) {
        const f = await c.next((f) => f.kind === 'binary');
        assert.equal(f.kind === 'binary' && f.data.toString(), `${i}:${k}`);
      }
    }
    await Promise.all(clients.map(({ c, sessionId }) => (c.send({ event: 'hangup', sessionId }), c.waitClose())));
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(engine.calls.size, 0);
    assert.equal(engine.supervisor.count(), 0);
  });

  test('graceful shutdown hangs up live calls before closing', async () => {
    const { engine, url } = await start({ onIncomingCall: demoApp({ answerDelayMs: 0, hangupAfterMs: 60_000 }) });
    const { c } = await connectAnswered(url);
    const closing = engine.close();
    const hang = await c.json('hangup');
    assert.equal(hang.event, 'hangup');
    await closing;
    assert.equal((await c.waitClose()).code, 1000);
  });
});
