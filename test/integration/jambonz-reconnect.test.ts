// session:reconnect may not take over a live jambonz session (issue 13, finding 7): refused while
// the original socket is open, and with auth on refused from any credentials but the original's.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import pino from 'pino';
import type WebSocket from 'ws';
import { createEngine, type EngineOptions } from '../../src/engine.js';
import { mintToken } from '../../src/http/auth.js';
import type { JambonzHookHandler, JambonzHookOptions, JambonzSession } from '../../src/jambonz/index.js';
import { JambonzSim, newCallSid } from '../helpers/jambonz-sim.js';

interface LogLine {
  level: number;
  msg: string;
  [k: string]: unknown;
}

const SECRET = 'reconnect-secret-0123456789';
/** ws's `auth` option, as jambonz's ws-requestor passes the application's username/password. */
const jambonzAuth = { auth: 'jambonz:app-password' } as WebSocket.ClientOptions;

async function start(handler: JambonzHookHandler, opts: JambonzHookOptions = {}, engineOpts: EngineOptions = {}) {
  const logs: LogLine[] = [];
  const stream = new Writable({
    write(chunk, _enc, cb) {
      for (const line of String(chunk).split('\n')) if (line) logs.push(JSON.parse(line) as LogLine);
      cb();
    },
  });
  const engine = createEngine({ host: '127.0.0.1', wsPort: 0, sipPort: false, inboundCall: false, logger: pino({ level: 'debug' }, stream), ...engineOpts });
  engine.jambonz.hook('/hook', handler, opts);
  await engine.listen();
  return { engine, logs, url: `ws://127.0.0.1:${engine.wsPort}/hook` };
}

async function until(cond: () => boolean, timeoutMs = 3000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** A session that gathers a digit and reads it back, counting reconnects. */
function app(sessions: JambonzSession[], reconnects: { n: number }): JambonzHookHandler {
  return (s) => {
    sessions.push(s);
    s.on('reconnect', () => reconnects.n++);
    s.on('/next', (d) => s.reply([{ verb: 'say', text: `digit ${d.digits ?? ''}` }]));
    s.reply([{ verb: 'gather', actionHook: '/next', input: ['digits'] }]);
  };
}

test('session:reconnect while the original socket is open is refused (1008); the live call and its socket are untouched', async () => {
  const sessions: JambonzSession[] = [];
  const reconnects = { n: 0 };
  const { engine, logs, url } = await start(app(sessions, reconnects), { reconnectProbeMs: 200 });
  try {
    const sim1 = await JambonzSim.connect(url);
    const callSid = newCallSid();
    await sim1.ack(sim1.sessionNew(callSid));
    sim1.callStatus(callSid, 'in-progress');
    const call = engine.calls.get(callSid)!;
    await until(() => call.state === 'active.talking');

    const intruder = await JambonzSim.connect(url);
    const m = intruder.reconnect(callSid);
    const closed = await intruder.waitClose();
    assert.equal(closed.code, 1008);
    assert.equal(closed.reason, 'session:reconnect refused: the session is live on another socket');
    assert.equal(intruder.pending().filter((x) => (x as { msgid?: string }).msgid === m).length, 0, 'no ack for the intruder');
    assert.ok(logs.some((l) => l.msg === 'session:reconnect refused' && l.why === 'the session is live on another socket'));

    // The original answered the liveness ping, so it keeps its session past the probe window.
    await new Promise((r) => setTimeout(r, 400));
    assert.equal(sim1.client.closed, undefined);
    assert.deepEqual((await sim1.ack(sim1.gatherDigits(callSid, '/next', '4'))).data, [{ verb: 'say', text: 'digit 4' }]);
    assert.equal(reconnects.n, 0);
    assert.equal(sessions[0]!.state, 'live.executing');
    assert.equal(call.state, 'active.talking');
    sim1.callStatus(callSid, 'completed');
    await sessions[0]!.waitForClose();
    sim1.close();
  } finally {
    await engine.close();
  }
});

test('an original socket that died silently: the refused reconnect pings it, no pong closes it, and jambonz\'s retry resumes the session', async () => {
  const sessions: JambonzSession[] = [];
  const reconnects = { n: 0 };
  const { engine, url } = await start(app(sessions, reconnects), { reconnectProbeMs: 200, reconnectGraceMs: 5000 });
  try {
    // A peer that never answers pings stands in for a connection lost without a FIN.
    const dead = await JambonzSim.connect(url, 'ws.jambonz.org', { autoPong: false });
    const callSid = newCallSid();
    await dead.ack(dead.sessionNew(callSid));
    dead.callStatus(callSid, 'in-progress');
    await until(() => engine.calls.get(callSid)?.state === 'active.talking');

    const first = await JambonzSim.connect(url);
    first.reconnect(callSid);
    assert.equal((await first.waitClose()).code, 1008);
    await dead.waitClose();
    await until(() => sessions[0]!.state === 'disconnected', 2000, 'session disconnected');

    const retry = await JambonzSim.connect(url);
    await retry.ack(retry.reconnect(callSid));
    assert.equal(reconnects.n, 1);
    assert.deepEqual((await retry.ack(retry.gatherDigits(callSid, '/next', '9'))).data, [{ verb: 'say', text: 'digit 9' }]);
    retry.callStatus(callSid, 'completed');
    await sessions[0]!.waitForClose();
    retry.close();
  } finally {
    await engine.close();
  }
});

test('auth on: only the original credentials may reconnect a session, even after its socket is gone', async () => {
  const sessions: JambonzSession[] = [];
  const reconnects = { n: 0 };
  const { engine, url } = await start(app(sessions, reconnects), { reconnectGraceMs: 5000 }, { security: { auth: { secret: SECRET, users: { jambonz: 'app-password' } } } });
  try {
    const sim1 = await JambonzSim.connect(url, 'ws.jambonz.org', jambonzAuth);
    const callSid = newCallSid();
    await sim1.ack(sim1.sessionNew(callSid));
    sim1.drop();
    await until(() => sessions[0]?.state === 'disconnected', 2000, 'session disconnected');

    // Valid credentials, but another principal's: the session is not theirs.
    const other = await JambonzSim.connect(`${url}?token=${mintToken(SECRET, { sub: 'mallory' })}`);
    other.reconnect(callSid);
    assert.deepEqual(await other.waitClose(), { code: 1008, reason: 'session:reconnect refused: not the credentials of the original socket' });
    assert.equal(sessions[0]!.state, 'disconnected', 'the session still waits for its own app');

    const sim2 = await JambonzSim.connect(url, 'ws.jambonz.org', jambonzAuth);
    await sim2.ack(sim2.reconnect(callSid));
    assert.equal(reconnects.n, 1);
    sim2.callStatus(callSid, 'completed');
    await sessions[0]!.waitForClose();
    sim2.close();
  } finally {
    await engine.close();
  }
});
