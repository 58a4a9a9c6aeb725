// The feature-server's `dial` verb over real loopback sockets: a SIP caller (engine A) calls an
// engine with `jambonzApp`; the app (a callchart hook route in a third engine) answers `dial` to a
// callee engine's URI. Checked: the caller rings until the callee answers (answerOnBridge), audio
// crosses the bridge both ways (Goertzel on each side), the actionHook's dial_call_status /
// dial_sip_status for completed, busy, no-answer and timeLimit, the caller's hangup cancels the
// ringing B leg, dtmfHook, and a phone target without a trunk refused with jambonz:error.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { toneRatio } from '../../src/media/codecs/tones.js';
import type { JambonzHookData, JambonzSession } from '../../src/jambonz/index.js';
import type { Call } from '../../src/call/call.js';
import type { Engine } from '../../src/index.js';
import { loopbackEngines } from '../helpers/loopback-engines.js';
import { collectAudio, toneWav } from '../helpers/jambonz-fs-app.js';
import { sleep, waitFor } from '../helpers/wait.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'cc-jfs-dial-'));
const tone = (hz: number): string => toneWav(dir, hz);
const toneA = tone(600);
const toneB = tone(1000);

const engines = loopbackEngines(43000, 40);

const listen = collectAudio;

interface Rig {
  callee: Engine;
  calleeCalls: Call[];
  fs: Engine;
  hooks: Array<{ name: string; data: JambonzHookData }>;
  errors: string[];
  caller: Engine;
}

/** Callee engine (its calls wait: `decide` answers, rejects or ignores each), app, feature-server, caller. */
async function rig(
  dialVerb: (calleeUri: string) => Record<string, unknown>,
  decide: (c: Call) => void,
  after: Array<Record<string, unknown>> = [{ verb: 'hangup' }],
  trunkToCallee = false,
): Promise<Rig> {
  const calleeCalls: Call[] = [];
  const callee = await engines.start({
    wsPort: false,
    onIncomingCall: (c) => {
      calleeCalls.push(c);
      setImmediate(() => decide(c));
      return { action: 'defer' };
    },
  });
  const hooks: Rig['hooks'] = [];
  const errors: string[] = [];
  const app = await engines.start({ sipPort: false });
  app.jambonz.hook('/app', (s: JambonzSession) => {
    s.on('jambonz:error', (d) => void errors.push(String((d as { msg?: unknown }).msg)));
    s.reply([dialVerb(`sip:bob@127.0.0.1:${callee.sipPort}`)] as never);
    s.on('/dialed', (data) => {
      hooks.push({ name: '/dialed', data });
      s.reply(after as never);
    });
    s.on('/dtmf', (data) => {
      hooks.push({ name: '/dtmf', data });
      s.reply();
    });
  });
  const fs = await engines.start({ wsPort: false, jambonzApp: { url: `ws://127.0.0.1:${app.wsPort}/app`, ...(trunkToCallee ? { phoneTrunk: `127.0.0.1:${callee.sipPort}` } : {}) } });
  const caller = await engines.start({ wsPort: false });
  return { callee, calleeCalls, fs, hooks, errors, caller };
}

test('dial answerOnBridge: the caller rings until B answers, each hears the other, B hangs up → actionHook completed/200, the stack goes on', async (t) => {
  t.after(() => engines.closeAll());
  let answerNow!: () => void;
  const r = await rig(
    (uri) => ({ verb: 'dial', actionHook: '/dialed', answerOnBridge: true, callerId: '+15551234', headers: { 'X-Test': 'dial' }, target: [{ type: 'sip', sipUri: uri }] }),
    (c) => void (answerNow = () => c.answer()),
  );
  const a = await r.caller.call(`sip:app@127.0.0.1:${r.fs.sipPort}`);
  await waitFor(() => r.calleeCalls.length === 1 && answerNow !== undefined, 'B is dialled');
  const b = r.calleeCalls[0]!;
  assert.match(b.from ?? '', /^sip:\+15551234@/, 'callerId is the From user');
  await sleep(300);
  assert.equal(a.isActive, false, 'answerOnBridge: the caller is not answered while B rings');
  const heardByA = listen(a);
  answerNow();
  await waitFor(() => a.isActive && b.isActive, 'both legs up');
  const heardByB = listen(b);
  a.play(toneA);
  b.play(toneB);
  await sleep(1500);
  const atA = heardByA();
  const atB = heardByB();
  assert.ok(toneRatio(atA, 8000, 1000) > 0.5, `A hears B's 1 kHz (ratio ${toneRatio(atA, 8000, 1000).toFixed(2)}, ${atA.length} samples)`);
  assert.ok(toneRatio(atB, 8000, 600) > 0.5, `B hears A's 600 Hz (ratio ${toneRatio(atB, 8000, 600).toFixed(2)}, ${atB.length} samples)`);
  b.hangup();
  const end = await a.waitForEnd();
  assert.equal(end.reason, 'remote-hangup', 'the hook reply (hangup) ended the caller');
  const h = r.hooks.find((x) => x.name === '/dialed')?.data as Record<string, unknown>;
  assert.equal(h.dial_call_status, 'completed');
  assert.equal(h.dial_sip_status, 200);
  assert.match(String(h.dial_call_sid), /^[0-9a-f-]{36}$/);
});

test('dial outcomes: busy (486) and ring timeout (no-answer/487, B cancelled) reach the actionHook; the caller stays up for the next verbs', async (t) => {
  t.after(() => engines.closeAll());
  const busy = await rig((uri) => ({ verb: 'dial', actionHook: '/dialed', target: [{ type: 'sip', sipUri: uri }] }), (c) => c.reject(486, 'Busy Here'));
  const a1 = await busy.caller.call(`sip:app@127.0.0.1:${busy.fs.sipPort}`);
  await waitFor(() => a1.isActive, 'without answerOnBridge the caller is answered first');
  await a1.waitForEnd();
  const h1 = busy.hooks[0]?.data as Record<string, unknown>;
  assert.equal(h1.dial_call_status, 'busy');
  assert.equal(h1.dial_sip_status, 486);

  const quiet = await rig((uri) => ({ verb: 'dial', actionHook: '/dialed', timeout: 1, target: [{ type: 'sip', sipUri: uri }] }), () => {});
  const a2 = await quiet.caller.call(`sip:app@127.0.0.1:${quiet.fs.sipPort}`);
  await a2.waitForEnd();
  const h2 = quiet.hooks[0]?.data as Record<string, unknown>;
  assert.equal(h2.dial_call_status, 'no-answer');
  assert.equal(h2.dial_sip_status, 487);
  const bEnd = await quiet.calleeCalls[0]!.waitForEnd();
  assert.equal(bEnd.reason, 'cancelled', 'the ring timeout CANCELs B');
});

test('dial: the caller hanging up cancels the ringing B leg (no actionHook); timeLimit hangs up a bridged B', async (t) => {
  t.after(() => engines.closeAll());
  const r = await rig((uri) => ({ verb: 'dial', actionHook: '/dialed', answerOnBridge: true, target: [{ type: 'sip', sipUri: uri }] }), () => {});
  const a = await r.caller.call(`sip:app@127.0.0.1:${r.fs.sipPort}`);
  await waitFor(() => r.calleeCalls.length === 1, 'B is dialled');
  await sleep(200);
  a.hangup();
  const bEnd = await r.calleeCalls[0]!.waitForEnd();
  assert.equal(bEnd.reason, 'cancelled');
  await sleep(200);
  assert.equal(r.hooks.length, 0, 'no actionHook once the caller is gone');

  const lim = await rig((uri) => ({ verb: 'dial', actionHook: '/dialed', timeLimit: 1, target: [{ type: 'sip', sipUri: uri }] }), (c) => c.answer());
  const a2 = await lim.caller.call(`sip:app@127.0.0.1:${lim.fs.sipPort}`);
  await waitFor(() => lim.calleeCalls[0]?.isActive === true, 'B answered');
  const t0 = Date.now();
  const b2End = await lim.calleeCalls[0]!.waitForEnd();
  assert.equal(b2End.reason, 'remote-hangup', 'B is hung up by the feature-server');
  assert.ok(Date.now() - t0 >= 700, 'after about the time limit');
  await a2.waitForEnd();
  assert.equal((lim.hooks[0]?.data as Record<string, unknown>).dial_call_status, 'completed');
});

test('dial: dtmfHook gets a dtmfCapture match from the caller while bridged; a phone target without a trunk is refused with jambonz:error, with one it goes to the trunk', async (t) => {
  t.after(() => engines.closeAll());
  const r = await rig(
    (uri) => ({ verb: 'dial', actionHook: '/dialed', dtmfCapture: ['*2'], dtmfHook: '/dtmf', target: [{ type: 'sip', sipUri: uri }] }),
    (c) => c.answer(),
  );
  const a = await r.caller.call(`sip:app@127.0.0.1:${r.fs.sipPort}`);
  await waitFor(() => a.isActive && r.calleeCalls[0]?.isActive === true, 'bridged');
  await sleep(200);
  a.sendDtmf('1*2');
  await waitFor(() => r.hooks.some((h) => h.name === '/dtmf'), 'dtmfHook sent');
  assert.equal((r.hooks.find((h) => h.name === '/dtmf')!.data as Record<string, unknown>).dtmf, '*2');
  r.calleeCalls[0]!.hangup();
  await a.waitForEnd();
  assert.equal((r.hooks.find((h) => h.name === '/dialed')!.data as Record<string, unknown>).dial_call_status, 'completed');

  const p = await rig(() => ({ verb: 'dial', actionHook: '/dialed', target: [{ type: 'phone', number: '+15550001' }] }), () => {});
  const a2 = await p.caller.call(`sip:app@127.0.0.1:${p.fs.sipPort}`);
  const end = await a2.waitForEnd();
  assert.equal(end.code, 603, 'the stack ran dry before any answer: declined');
  await waitFor(() => p.errors.length > 0, 'jambonz:error reached the app');
  assert.match(p.errors[0]!, /phone targets need a trunk/);
  assert.equal(p.calleeCalls.length, 0);

  const q = await rig(() => ({ verb: 'dial', actionHook: '/dialed', target: [{ type: 'phone', number: '+15550002' }] }), (c) => c.reject(600, 'Busy Everywhere'), [{ verb: 'hangup' }], true);
  const a3 = await q.caller.call(`sip:app@127.0.0.1:${q.fs.sipPort}`);
  await a3.waitForEnd();
  assert.match(q.calleeCalls[0]?.to ?? '', /^sip:\+15550002@127\.0\.0\.1:/, 'the number went to the trunk');
  assert.equal((q.hooks[0]?.data as Record<string, unknown>).dial_call_status, 'busy');
});
