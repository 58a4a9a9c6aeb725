// The feature-server's `dial` verb to several targets at once (simultaneous ringing) over real
// loopback sockets: a caller engine calls an engine with `jambonzApp`; the app dials two callee
// engines (bob, carol). Checked: both ring; the first to answer is bridged (the caller hears its
// tone) and the other is CANCELled; when both answer together exactly one stays up; when every
// leg refuses, the actionHook carries the last refusal; more targets than the limit are refused.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { encodeWav } from '../../src/media/codecs/wav.js';
import { generateTone, toneRatio } from '../../src/media/codecs/tones.js';
import type { JambonzHookData, JambonzSession } from '../../src/jambonz/index.js';
import type { Call } from '../../src/call/call.js';
import type { Engine } from '../../src/index.js';
import { loopbackEngines } from '../helpers/loopback-engines.js';
import { sleep, waitFor } from '../helpers/wait.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'cc-jfs-dial-many-'));
const toneCarol = path.join(dir, 'carol.wav');
writeFileSync(toneCarol, encodeWav(generateTone([1200], 3000, { amplitude: 8000 }), { sampleRate: 8000 }));

// RTP ports from 47000 (this helper's range; the interop test's 47060-47099 never runs beside it),
// 10 per engine; each test starts over at 47000 once the one before closed its engines.
let engines = loopbackEngines(47000, 10);

interface Callee {
  engine: Engine;
  calls: Call[];
}

async function callee(decide: (c: Call) => void): Promise<Callee> {
  const calls: Call[] = [];
  const engine = await engines.start({
    wsPort: false,
    onIncomingCall: (c) => {
      calls.push(c);
      setImmediate(() => decide(c));
      return { action: 'defer' };
    },
  });
  return { engine, calls };
}

/** Feature-server whose app dials every callee at once; the actionHook's reply hangs up. */
async function rig(callees: Callee[], extra: Record<string, unknown> = {}): Promise<{ caller: Engine; fs: Engine; hooks: JambonzHookData[]; errors: string[] }> {
  const hooks: JambonzHookData[] = [];
  const errors: string[] = [];
  const target = callees.map((c, i) => ({ type: 'sip', sipUri: `sip:u${i}@127.0.0.1:${c.engine.sipPort}` }));
  const fs = await engines.start({
    wsPort: 0,
    logger: pino({ level: 'silent' }),
    jambonzApp: {
      handler: (s: JambonzSession) => {
        s.on('jambonz:error', (d) => void errors.push(String((d as { msg?: unknown }).msg)));
        s.on('/dialed', (d) => {
          hooks.push(d);
          s.reply([{ verb: 'hangup' }]);
        });
        s.reply([{ verb: 'dial', actionHook: '/dialed', answerOnBridge: true, target, ...extra }] as never);
      },
    },
  });
  const caller = await engines.start({ wsPort: false });
  return { caller, fs, hooks, errors };
}

test('dial two targets: both ring, the first to answer is bridged (the caller hears it), the other is CANCELled; actionHook completed', async (t) => {
  engines = loopbackEngines(47000, 10);
  t.after(() => engines.closeAll());
  let answerCarol!: () => void;
  const bob = await callee(() => {});
  const carol = await callee((c) => void (answerCarol = () => c.answer()));
  const r = await rig([bob, carol]);
  const a = await r.caller.call(`sip:app@127.0.0.1:${r.fs.sipPort}`);
  await waitFor(() => bob.calls.length === 1 && carol.calls.length === 1 && answerCarol !== undefined, 'both legs ring');
  await sleep(200);
  assert.equal(a.isActive, false, 'answerOnBridge: the caller rings while the legs do');
  const heard: Buffer[] = [];
  a.on('audio', (f) => void heard.push(Buffer.from(f)));
  answerCarol();
  await waitFor(() => a.isActive, 'the caller is answered once carol answers');
  const bobEnd = await bob.calls[0]!.waitForEnd();
  assert.equal(bobEnd.reason, 'cancelled', "bob's ringing leg is CANCELled");
  carol.calls[0]!.play(toneCarol);
  await sleep(1200);
  const b = Buffer.concat(heard);
  const pcm = new Int16Array(b.buffer, b.byteOffset, b.byteLength >> 1);
  assert.ok(toneRatio(pcm, 8000, 1200) > 0.5, `the caller hears carol (ratio ${toneRatio(pcm, 8000, 1200).toFixed(2)})`);
  carol.calls[0]!.hangup();
  await a.waitForEnd();
  assert.equal(r.hooks.length, 1);
  assert.equal(r.hooks[0]!.dial_call_status, 'completed');
  assert.equal(r.hooks[0]!.dial_sip_status, 200);
  assert.deepEqual(r.errors, []);
});

test('dial two targets that answer together: one is bridged, the other is hung up (CANCEL, or BYE when its 200 crossed)', async (t) => {
  engines = loopbackEngines(47000, 10);
  t.after(() => engines.closeAll());
  const bob = await callee((c) => c.answer());
  const carol = await callee((c) => c.answer());
  const r = await rig([bob, carol]);
  const a = await r.caller.call(`sip:app@127.0.0.1:${r.fs.sipPort}`);
  await waitFor(() => a.isActive, 'the caller is answered');
  const legs = [bob.calls[0]!, carol.calls[0]!];
  await waitFor(() => legs.filter((c) => c.isEnded).length === 1, 'exactly one leg hung up');
  await sleep(300);
  const up = legs.filter((c) => c.isActive);
  assert.equal(up.length, 1, 'the winner stays up');
  up[0]!.hangup();
  await a.waitForEnd();
  assert.equal(r.hooks[0]!.dial_call_status, 'completed');
});

test('dial two targets that both refuse: the actionHook gets the last refusal; more than 10 targets are refused with jambonz:error', async (t) => {
  engines = loopbackEngines(47000, 10);
  t.after(() => engines.closeAll());
  const bob = await callee((c) => c.reject(486, 'Busy Here'));
  const carol = await callee((c) => void setTimeout(() => c.reject(404, 'Not Found'), 300));
  const r = await rig([bob, carol], { answerOnBridge: false });
  const a = await r.caller.call(`sip:app@127.0.0.1:${r.fs.sipPort}`);
  await a.waitForEnd();
  assert.equal(r.hooks.length, 1);
  assert.equal(r.hooks[0]!.dial_call_status, 'failed');
  assert.equal(r.hooks[0]!.dial_sip_status, 404);

  const many = await rig(Array.from({ length: 11 }, () => bob));
  const a2 = await many.caller.call(`sip:app@127.0.0.1:${many.fs.sipPort}`);
  await a2.waitForEnd();
  await waitFor(() => many.errors.length > 0, 'jambonz:error');
  assert.match(many.errors[0]!, /11 targets: give 1 to 10/);
});
