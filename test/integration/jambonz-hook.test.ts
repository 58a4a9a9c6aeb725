// jambonz hook routes over real loopback sockets, driven by a feature-server simulator.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import http from 'node:http';
import pino from 'pino';
import { createEngine } from '../../src/engine.js';
import { JambonzAckTimeoutError, JambonzCommandError, JambonzVerbError, verbs, type JambonzHookHandler, type JambonzHookOptions, type JambonzSession, type JambonzCommandData } from '../../src/jambonz/index.js';
import { JambonzSim, newCallSid, newMsgid } from '../helpers/jambonz-sim.js';
import { TestClient } from '../helpers/ws-client.js';
import { spawn } from 'node:child_process';
import type { Call } from '../../src/call/call.js';
import { ivr, MENU_HOOK, IVR_PATH } from '../../examples/jambonz-ivr.js';

interface LogLine {
  level: number;
  msg: string;
  [k: string]: unknown;
}

async function start(handler: JambonzHookHandler, opts: JambonzHookOptions = {}, path = '/hook') {
  const logs: LogLine[] = [];
  const stream = new Writable({
    write(chunk, _enc, cb) {
      for (const line of String(chunk).split('\n')) if (line) logs.push(JSON.parse(line) as LogLine);
      cb();
    },
  });
  const engine = createEngine({ host: '127.0.0.1', wsPort: 0, sipPort: false, inboundCall: false, logger: pino({ level: 'debug' }, stream) });
  engine.jambonz.hook(path, handler, opts);
  await engine.listen();
  return { engine, logs, url: `ws://127.0.0.1:${engine.wsPort}${path}` };
}

const tick = (ms = 20) => new Promise((r) => setTimeout(r, ms));
async function until(cond: () => boolean, timeoutMs = 3000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await tick(10);
  }
}

test('session:new → ack with verbs; gather digits → branch ack; command redirect; call:status drives the call actor; completed closes', async () => {
  let session: JambonzSession | undefined;
  const { engine } = await start((s) => {
    session = s;
    s.say({ text: 'Welcome' }).gather({ actionHook: '/menu', input: ['digits'], numDigits: 1 }).reply();
    s.on('/menu', (data) => {
      s.data.digits = data.digits;
      s.reply(verbs().say({ text: `You pressed ${data.digits}` }).pause({ length: 1 }));
    });
  });
  try {
    const sim = await JambonzSim.connect(`ws://127.0.0.1:${engine.wsPort}/hook`);
    assert.equal(sim.protocol, 'ws.jambonz.org');
    const callSid = newCallSid();
    const m1 = sim.sessionNew(callSid, { from: '+15551230001', to: '+15551239999' });
    const ack = await sim.ack(m1);
    assert.deepEqual(ack.data, [
      { verb: 'say', text: 'Welcome' },
      { verb: 'gather', actionHook: '/menu', input: ['digits'], numDigits: 1 },
    ]);
    assert.ok(session);
    assert.equal(session.callSid, callSid);
    assert.equal(session.request.from, '+15551230001');
    assert.equal(session.request.sip?.headers?.['user-agent'], 'Twilio Gateway');
    const call = engine.calls.get(callSid)!;
    assert.equal(call.transport, 'jambonz');
    assert.equal(call.direction, 'inbound');
    assert.equal(call.state, 'ringing');

    sim.callStatus(callSid, 'ringing');
    sim.callStatus(callSid, 'in-progress');
    await until(() => call.state === 'active.talking', 2000, 'call answered');
    assert.equal(session.state, 'live.executing');

    const m2 = sim.gatherDigits(callSid, '/menu', '1');
    const ack2 = await sim.ack(m2);
    assert.deepEqual(ack2.data, [{ verb: 'say', text: 'You pressed 1' }, { verb: 'pause', length: 1 }]);
    assert.equal(session.data.digits, '1');

    // Nothing pending now: a reply becomes an unsolicited command redirect.
    session.reply([{ verb: 'say', text: 'One more thing' }]);
    const cmd = await sim.command('redirect');
    assert.deepEqual(cmd.data, [{ verb: 'say', text: 'One more thing' }]);
    assert.equal(cmd.queueCommand, false);
    session.send([{ verb: 'say', text: 'queued' }], { queue: true });
    assert.equal((await sim.command('redirect')).queueCommand, true);

    const closed = session.waitForClose();
    sim.callStatus(callSid, 'completed');
    assert.deepEqual(await closed, { reason: 'call-ended', callStatus: 'completed' });
    assert.equal(call.isEnded, true);
    assert.equal(call.end?.reason, 'remote-hangup');
    assert.equal(session.isClosed, true);
    sim.close(1000);
    await sim.waitClose();
    await until(() => engine.supervisor.count('session') === 0, 2000, 'session actor gone');
  } finally {
    await engine.close();
  }
});

test('reconnect mid-call: a new socket with session:reconnect resumes the same session, state and data intact', async () => {
  const sessions = new Set<JambonzSession>();
  let reconnects = 0;
  const { engine, logs } = await start((s) => {
    sessions.add(s);
    s.data.counter = 1;
    s.locals.greeted = ((s.locals.greeted as number | undefined) ?? 0) + 1;
    s.on('reconnect', () => reconnects++);
    s.on('/next', (d) => {
      s.data.counter = Number(s.data.counter) + 1;
      s.reply([{ verb: 'say', text: `counter ${String(s.data.counter)} digits ${d.digits ?? ''}` }]);
    });
    s.reply([{ verb: 'gather', actionHook: '/next', input: ['digits'] }]);
  }, { reconnectGraceMs: 2000 });
  try {
    const url = `ws://127.0.0.1:${engine.wsPort}/hook`;
    const sim1 = await JambonzSim.connect(url);
    const callSid = newCallSid();
    await sim1.ack(sim1.sessionNew(callSid));
    sim1.callStatus(callSid, 'in-progress');
    await sim1.ack(sim1.gatherDigits(callSid, '/next', '5'));
    const session = [...sessions][0]!;
    const call = engine.calls.get(callSid)!;
    await until(() => call.state === 'active.talking');

    sim1.drop();
    await until(() => session.state === 'disconnected', 2000, 'disconnected');
    // A command while jambonz is away is kept and delivered after the reconnect.
    session.command('mute:status', { mute_status: 'mute' });

    const sim2 = await JambonzSim.connect(url);
    const rm = sim2.reconnect(callSid);
    const rack = await sim2.ack(rm);
    assert.equal(rack.data, undefined, 'the reconnect ack carries no verbs: jambonz keeps running its app');
    assert.deepEqual((await sim2.command('mute:status')).data, { mute_status: 'mute' });
    assert.equal(reconnects, 1);
    assert.equal(sessions.size, 1, 'the handler did not run again');
    assert.equal(call.state, 'active.talking', 'the call actor survived');
    assert.equal(engine.calls.get(callSid), call);

    const ack = await sim2.ack(sim2.gatherDigits(callSid, '/next', '7'));
    assert.deepEqual(ack.data, [{ verb: 'say', text: 'counter 3 digits 7' }]);
    assert.equal(engine.jambonz.locals.greeted, 1);
    assert.ok(logs.some((l) => l.msg === 'jambonz reconnected'));
    sim2.callStatus(callSid, 'completed');
    await session.waitForClose();
    sim2.close();
  } finally {
    await engine.close();
  }
});

test('reconnect before the session:new ack: the app reply acks the session:reconnect instead', async () => {
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const { engine } = await start(async (s) => {
    await gate;
    s.reply([{ verb: 'say', text: 'late but fine' }]);
  }, { ackTimeoutMs: 3000 });
  try {
    const url = `ws://127.0.0.1:${engine.wsPort}/hook`;
    const sim1 = await JambonzSim.connect(url);
    const callSid = newCallSid();
    sim1.sessionNew(callSid);
    await until(() => engine.supervisor.count('session') === 1);
    sim1.drop();
    await tick(50);
    release(); // the app answers while no socket is there
    await tick(20);
    const sim2 = await JambonzSim.connect(url);
    const ack = await sim2.ack(sim2.reconnect(callSid));
    assert.deepEqual(ack.data, [{ verb: 'say', text: 'late but fine' }]);
    sim2.callStatus(callSid, 'completed');
    sim2.close();
  } finally {
    await engine.close();
  }
});

test('a dropped session jambonz never resumes ends after the reconnect grace: call failed', async () => {
  let closedWith: unknown;
  const { engine } = await start((s) => {
    s.on('close', (end) => (closedWith = end));
    s.reply([{ verb: 'pause', length: 5 }]);
  }, { reconnectGraceMs: 150 });
  try {
    const sim = await JambonzSim.connect(`ws://127.0.0.1:${engine.wsPort}/hook`);
    const callSid = newCallSid();
    await sim.ack(sim.sessionNew(callSid));
    const call = engine.calls.get(callSid)!;
    sim.drop();
    const end = await call.waitForEnd();
    assert.equal(end.reason, 'failed');
    assert.match(end.detail ?? '', /did not reconnect within 150 ms/);
    assert.deepEqual(closedWith, { reason: 'reconnect-timeout' });
    assert.equal(engine.supervisor.count('session'), 0);
  } finally {
    await engine.close();
  }
});

test('bad JSON, unknown types and malformed messages are logged; the session carries on', async () => {
  const { engine, logs } = await start((s) => {
    s.reply([{ verb: 'gather', actionHook: '/x', input: ['digits'] }]);
    s.on('/x', (d) => s.reply([{ verb: 'say', text: `got ${d.digits ?? ''}` }]));
  });
  try {
    const sim = await JambonzSim.connect(`ws://127.0.0.1:${engine.wsPort}/hook`);
    const callSid = newCallSid();
    await sim.ack(sim.sessionNew(callSid));
    sim.send('this is not json');
    sim.send({ type: 'no:such-type', msgid: newMsgid(), call_sid: callSid, data: {} });
    // A verb:hook without its hook name: unreadable, but jambonz waits on it, so it is acked.
    const bad = newMsgid();
    sim.send({ type: 'verb:hook', msgid: bad, call_sid: callSid, data: { digits: '1' } });
    const badAck = await sim.ack(bad);
    assert.equal(badAck.data, undefined);
    const ok = await sim.ack(sim.gatherDigits(callSid, '/x', '9'));
    assert.deepEqual(ok.data, [{ verb: 'say', text: 'got 9' }]);
    const warns = logs.filter((l) => l.level === 40 && l.msg === 'bad jambonz message').map((l) => l.reason);
    assert.deepEqual(warns, ['message is not valid JSON', 'unknown type: no:such-type', 'verb:hook: missing field hook (at hook)']);
    assert.equal(engine.supervisor.count('session'), 1);
    assert.deepEqual(sim.pending(), [], 'no reply to the unreadable notifications');
  } finally {
    await engine.close();
  }
});

test('a client without the ws.jambonz.org subprotocol is refused with HTTP 400', async () => {
  const { engine } = await start(() => {});
  try {
    for (const protocols of [undefined, 'audio.jambonz.org']) {
      const c = new TestClient(`ws://127.0.0.1:${engine.wsPort}/hook`, protocols);
      await assert.rejects(c.opened(), /HTTP 400/);
    }
    // The raw response: status 400 and a body naming the expected subprotocol.
    const res = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = http.request({
        host: '127.0.0.1',
        port: engine.wsPort,
        path: '/hook',
        headers: { connection: 'Upgrade', upgrade: 'websocket', 'sec-websocket-version': '13', 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==' },
      });
      req.on('response', (r) => {
        let body = '';
        r.on('data', (d) => (body += d));
        r.on('end', () => resolve({ status: r.statusCode ?? 0, body }));
      });
      req.on('upgrade', () => reject(new Error('upgraded without a subprotocol')));
      req.on('error', reject);
      req.end();
    });
    assert.equal(res.status, 400);
    assert.match(res.body, /ws\.jambonz\.org/);
  } finally {
    await engine.close();
  }
});

test('an invalid verb from the app throws JambonzVerbError with the schema reason and nothing reaches the wire', async () => {
  const errors: unknown[] = [];
  let session!: JambonzSession;
  const { engine } = await start((s) => {
    session = s;
    for (const bad of [[{ verb: 'say', text: 42 }], [{ verb: 'pause' }], [{ verb: 'frobnicate' }]]) {
      try {
        s.reply(bad as never);
      } catch (err) {
        errors.push(err);
      }
    }
  });
  try {
    const sim = await JambonzSim.connect(`ws://127.0.0.1:${engine.wsPort}/hook`);
    const callSid = newCallSid();
    const m = sim.sessionNew(callSid);
    await until(() => errors.length === 3);
    assert.ok(errors.every((e) => e instanceof JambonzVerbError));
    assert.deepEqual(
      (errors as JambonzVerbError[]).map((e) => e.reason),
      ['say: property text has invalid data type, must be one of string,array', 'pause: missing value for length', 'invalid instruction: frobnicate'],
    );
    assert.throws(() => session.command('dtmf', { dtmf: { digit: 'x' } }), (e: unknown) => e instanceof JambonzCommandError && /invalid DTMF digit/.test(e.message));
    assert.throws(() => session.command('call:status', { call_status: 'gone' } as unknown as JambonzCommandData['call:status']), JambonzCommandError);
    assert.throws(() => session.command('whisper', { whisper: [{ verb: 'hangup' } as never] }), /say and play verbs only/);
    await tick(100);
    assert.deepEqual(sim.pending(), [], 'nothing was sent');
    session.reply([{ verb: 'say', text: 'fixed' }]);
    assert.deepEqual((await sim.ack(m)).data, [{ verb: 'say', text: 'fixed' }]);
  } finally {
    await engine.close();
  }
});

test('ack timeout: the fallback ack goes out before jambonz’s 5 s, the app is told, a late reply lands as a redirect', async () => {
  const errors: Error[] = [];
  let session!: JambonzSession;
  const { engine, logs } = await start((s) => {
    session = s;
    s.on('error', (e) => errors.push(e));
  }, { ackTimeoutMs: 300 });
  try {
    const sim = await JambonzSim.connect(`ws://127.0.0.1:${engine.wsPort}/hook`);
    const callSid = newCallSid();
    const t0 = Date.now();
    const m = sim.sessionNew(callSid);
    const ack = await sim.ack(m, 5000);
    const elapsed = Date.now() - t0;
    assert.ok(elapsed >= 280 && elapsed < 5000, `fallback after ${elapsed} ms`);
    assert.deepEqual(ack.data, [{ verb: 'pause', length: 10 }]);
    assert.equal(errors.length, 1);
    assert.ok(errors[0] instanceof JambonzAckTimeoutError);
    assert.equal((errors[0] as JambonzAckTimeoutError).msgid, m);
    assert.ok(logs.some((l) => l.level === 40 && l.msg === 'app did not reply in time: fallback ack sent'));
    session.reply([{ verb: 'say', text: 'sorry I am late' }]);
    assert.deepEqual((await sim.command('redirect')).data, [{ verb: 'say', text: 'sorry I am late' }]);
  } finally {
    await engine.close();
  }
});

test('100 concurrent sessions are all acked with their own verbs', async () => {
  const { engine } = await start((s) => s.reply([{ verb: 'say', text: `hello ${s.callSid}` }]));
  try {
    const url = `ws://127.0.0.1:${engine.wsPort}/hook`;
    const sims = await Promise.all(Array.from({ length: 100 }, () => JambonzSim.connect(url)));
    const sids = sims.map(() => newCallSid());
    const acks = await Promise.all(sims.map((sim, i) => sim.ack(sim.sessionNew(sids[i]!), 10_000)));
    acks.forEach((a, i) => assert.deepEqual(a.data, [{ verb: 'say', text: `hello ${sids[i]}` }]));
    assert.equal(engine.supervisor.count('session'), 100);
    assert.equal(engine.calls.size, 100);
    sims.forEach((s, i) => s.callStatus(sids[i]!, 'completed'));
    await until(() => engine.calls.size === 0, 5000, 'all calls ended');
    sims.forEach((s) => s.close());
  } finally {
    await engine.close();
  }
});

test('a throwing handler ends only its own call cleanly (hangup ack); other sessions are unaffected', async () => {
  const { engine, logs } = await start(async (s) => {
    if (s.request.from === 'bad') throw new Error('app bug');
    await tick(10);
    s.reply([{ verb: 'say', text: 'fine' }]);
    s.on('/boom', () => {
      throw new Error('listener bug');
    });
  });
  try {
    const url = `ws://127.0.0.1:${engine.wsPort}/hook`;
    const [bad, good] = await Promise.all([JambonzSim.connect(url), JambonzSim.connect(url)]);
    const badSid = newCallSid();
    const goodSid = newCallSid();
    const mb = bad.sessionNew(badSid, { from: 'bad' });
    const mg = good.sessionNew(goodSid);
    assert.deepEqual((await bad.ack(mb)).data, [{ verb: 'hangup' }]);
    assert.deepEqual((await good.ack(mg)).data, [{ verb: 'say', text: 'fine' }]);
    assert.ok(logs.some((l) => l.level === 50 && l.msg === 'jambonz app failed' && l.callSid === badSid));
    // A listener that throws: its hook is answered with the error verbs, the session lives on.
    assert.deepEqual((await good.ack(good.verbHook(goodSid, '/boom', {}))).data, [{ verb: 'hangup' }]);
    good.callStatus(goodSid, 'in-progress');
    await until(() => engine.calls.get(goodSid)?.state === 'active.talking');
  } finally {
    await engine.close();
  }
});

test('session.hangup() sends call:status completed and ends the call as a local hangup; outbound calls start answered', async () => {
  let session!: JambonzSession;
  const { engine } = await start((s) => {
    session = s;
    s.reply([{ verb: 'say', text: 'outbound hello' }]);
  });
  try {
    const sim = await JambonzSim.connect(`ws://127.0.0.1:${engine.wsPort}/hook`);
    const callSid = newCallSid();
    await sim.ack(sim.sessionNew(callSid, { direction: 'outbound', call_status: 'in-progress' }));
    const call = engine.calls.get(callSid)!;
    assert.equal(call.direction, 'outbound');
    assert.equal(call.state, 'active.talking');
    session.hangup();
    assert.deepEqual((await sim.command('call:status')).data, { call_status: 'completed' });
    assert.equal(call.end?.reason, 'local-hangup');
    call.sendDtmf('1'); // no longer live: nothing more on the wire
    sim.callStatus(callSid, 'completed');
    await session.waitForClose();
    await tick(50);
    assert.deepEqual(sim.pending(), []);
  } finally {
    await engine.close();
  }
});

test('a call rejected before answer declines through sip:decline (as the session:new ack)', async () => {
  let call: Call | undefined;
  const { engine } = await start((s) => {
    call = s.call;
    s.call.reject(486, 'Busy Here');
  });
  try {
    const sim = await JambonzSim.connect(`ws://127.0.0.1:${engine.wsPort}/hook`);
    const callSid = newCallSid();
    const ack = await sim.ack(sim.sessionNew(callSid));
    assert.deepEqual(ack.data, [{ verb: 'sip:decline', status: 486, reason: 'Busy Here' }]);
    assert.deepEqual(call?.end, { reason: 'rejected', code: 486, detail: 'Busy Here' });
  } finally {
    await engine.close();
  }
});

test('engine.close() ends every session and closes the sockets with 1001', async () => {
  const { engine } = await start((s) => s.reply([{ verb: 'pause', length: 30 }]));
  const url = `ws://127.0.0.1:${engine.wsPort}/hook`;
  const sims = await Promise.all([JambonzSim.connect(url), JambonzSim.connect(url)]);
  const sids = sims.map(() => newCallSid());
  await Promise.all(sims.map((s, i) => s.ack(s.sessionNew(sids[i]!))));
  sims.forEach((s, i) => s.callStatus(sids[i]!, 'in-progress'));
  await until(() => sids.every((sid) => engine.calls.get(sid)?.state === 'active.talking'));
  await engine.close();
  for (const s of sims) {
    assert.equal((await s.waitClose()).code, 1001);
    // The live call was hung up first (call:status completed), then the socket went.
    assert.ok(s.pending().some((m) => (m as { command?: string }).command === 'call:status'));
  }
  assert.equal(engine.supervisor.count('session'), 0);
});

test('examples/jambonz-ivr.ts: greet, gather, branch on 1 / 2 / other, hang up', async () => {
  const { engine } = await start(ivr, {}, IVR_PATH);
  try {
    const url = `ws://127.0.0.1:${engine.wsPort}${IVR_PATH}`;
    const flows: Array<{ digits: string[]; last: (verbs: Array<{ verb: string }>) => void }> = [
      { digits: ['1'], last: (v) => assert.deepEqual(v.map((x) => x.verb), ['say', 'hangup']) },
      { digits: ['2'], last: (v) => assert.deepEqual(v.map((x) => x.verb), ['say', 'dial', 'say', 'hangup']) },
      { digits: ['7', '', '9'], last: (v) => assert.deepEqual(v.map((x) => x.verb), ['say', 'hangup']) },
    ];
    for (const flow of flows) {
      const sim = await JambonzSim.connect(url);
      const callSid = newCallSid();
      const first = await sim.ack(sim.sessionNew(callSid));
      assert.equal(first.data?.[0]?.verb, 'gather');
      assert.match(String((first.data?.[0]?.say as { text: string }).text), /Welcome/);
      sim.callStatus(callSid, 'in-progress');
      let reply = first;
      for (const d of flow.digits) {
        const m = d ? sim.gatherDigits(callSid, MENU_HOOK, d) : sim.verbHook(callSid, MENU_HOOK, { reason: 'timeout' });
        reply = await sim.ack(m);
      }
      flow.last(reply.data ?? []);
      if (flow.digits.length > 1) assert.match(String(reply.data?.[0]?.text), /Goodbye/);
      sim.callStatus(callSid, 'completed');
      sim.close();
    }
  } finally {
    await engine.close();
  }
});

test('examples/jambonz-ivr.ts runs standalone (PORT=0) and answers a session', async () => {
  const proc = spawn(process.execPath, ['--import', 'tsx', 'examples/jambonz-ivr.ts'], { env: { ...process.env, PORT: '0' }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout!.on('data', (d) => (out += d));
  proc.stderr!.on('data', (d) => (out += d));
  try {
    await until(() => /"port":\d+/.test(out), 15_000, `example start: ${out}`);
    const port = Number(/"port":(\d+)/.exec(out)![1]);
    const sim = await JambonzSim.connect(`ws://127.0.0.1:${port}${IVR_PATH}`);
    const callSid = newCallSid();
    const ack = await sim.ack(sim.sessionNew(callSid));
    assert.equal(ack.data?.[0]?.verb, 'gather');
    assert.deepEqual((await sim.ack(sim.gatherDigits(callSid, MENU_HOOK, '1'))).data?.map((v) => v.verb), ['say', 'hangup']);
    sim.callStatus(callSid, 'completed');
    sim.close();
  } finally {
    proc.kill('SIGTERM');
    await new Promise((r) => proc.once('exit', r));
  }
});
