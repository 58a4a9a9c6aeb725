// gather with speech input on the feature-server: the caller (another engine's UAC) plays a tone
// into a real SIP/RTP call; the feature-server feeds the caller's audio to the configured
// recogniser (a test recogniser here, written against the public JambonzSttProvider interface: it
// "recognises" a loud tone after 0.5 s); the app's actionHook gets jambonz's `speechDetected` with
// the transcript. Also: a digit outranks speech, a recogniser failure is `reason: 'error'`, and
// with no recogniser a speech-only gather is reported with jambonz:error and skipped.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { encodeWav } from '../../src/media/codecs/wav.js';
import type { JambonzSttProvider, JambonzSttOptions } from '../../src/index.js';
import { loopbackEngines } from '../helpers/loopback-engines.js';
import { waitFor } from '../helpers/wait.js';
import { rawJambonzApp } from '../helpers/jambonz-fs-app.js';

const HANGUP = [{ verb: 'hangup' }];

const dir = mkdtempSync(path.join(os.tmpdir(), 'cc-jfs-speech-'));
const tone = path.join(dir, 'tone.wav');
{
  const s = new Int16Array(8000 * 3);
  for (let i = 0; i < s.length; i++) s[i] = Math.round(8000 * Math.sin((2 * Math.PI * 600 * i) / 8000));
  writeFileSync(tone, encodeWav(s, { sampleRate: 8000 }));
}
const engines = loopbackEngines(48700, 60);
after(async () => {
  await engines.closeAll();
  rmSync(dir, { recursive: true, force: true });
});

interface Recorded {
  started: JambonzSttOptions[];
  frames: number;
  stopped: number;
}

/** Loud audio for 10 frames → speechStarted, for 25 → the transcript (or an error with `fail`). */
function toneRecogniser(rec: Recorded, fail = false): JambonzSttProvider {
  return {
    start(opts, ev) {
      rec.started.push(opts);
      let loud = 0;
      return {
        write(frame) {
          rec.frames++;
          let sum = 0;
          for (let i = 0; i + 1 < frame.length; i += 2) sum += frame.readInt16LE(i) ** 2;
          if (Math.sqrt(sum / (frame.length / 2)) < 1000) return;
          loud++;
          if (loud === 10) ev.speechStarted();
          if (loud === 25) {
            if (fail) ev.error(new Error('vendor unreachable'));
            else ev.final({ transcript: 'tone heard', confidence: 0.87 });
          }
        },
        stop() {
          rec.stopped++;
        },
      };
    },
  };
}

async function callWithTone(fsPort: number, opts: { dtmf?: string } = {}) {
  const caller = await engines.start({ wsPort: false });
  const call = await caller.call(`sip:app@127.0.0.1:${fsPort}`);
  await waitFor(() => call.isActive, 'the feature-server answers for the gather');
  if (opts.dtmf) call.sendDtmf(opts.dtmf);
  else call.play(tone);
  return call;
}

test('speech: the caller’s audio reaches the recogniser; the actionHook gets speechDetected with the transcript', async () => {
  const rec: Recorded = { started: [], frames: 0, stopped: 0 };
  const app = await rawJambonzApp([{ verb: 'gather', input: ['speech'], actionHook: '/speech', timeout: 10, recognizer: { vendor: 'custom', language: 'de-DE', hints: ['ja', 'nein'] } }]);
  const fs = await engines.start({ wsPort: false, jambonzApp: { url: app.url, stt: toneRecogniser(rec) } });
  const call = await callWithTone(fs.sipPort!);
  const end = await call.waitForEnd();
  assert.equal(end.reason, 'remote-hangup', 'the app hung up after the hook');
  const hook = app.got.find((m) => m.type === 'verb:hook');
  assert.ok(hook, 'the actionHook was sent');
  assert.equal(hook.hook, '/speech');
  assert.equal(hook.data.reason, 'speechDetected');
  assert.deepEqual(hook.data.speech, { language_code: 'de-DE', channel_tag: 1, is_final: true, alternatives: [{ transcript: 'tone heard', confidence: 0.87 }] });
  assert.deepEqual(rec.started, [{ vendor: 'custom', language: 'de-DE', hints: ['ja', 'nein'] }]);
  assert.ok(rec.frames >= 25, `the recogniser heard the call (${rec.frames} frames)`);
  assert.equal(rec.stopped, 1, 'stopped once the transcript was in');
});

test('speech + digits: a digit first wins (the recogniser is stopped); a recogniser failure is reason "error"', async () => {
  const rec: Recorded = { started: [], frames: 0, stopped: 0 };
  const app = await rawJambonzApp([{ verb: 'gather', input: ['speech', 'digits'], numDigits: 1, actionHook: '/in', timeout: 10 }], HANGUP);
  const fs = await engines.start({ wsPort: false, jambonzApp: { url: app.url, stt: toneRecogniser(rec) } });
  const call = await callWithTone(fs.sipPort!, { dtmf: '7' });
  await call.waitForEnd();
  const hook = app.got.find((m) => m.type === 'verb:hook');
  assert.equal(hook?.data.reason, 'dtmfDetected');
  assert.equal(hook?.data.digits, '7');
  assert.equal(hook?.data.speech, undefined);
  assert.equal(rec.started[0]?.language, 'en-US', 'jambonz’s default language');
  assert.ok(rec.stopped >= 1);

  const failing: Recorded = { started: [], frames: 0, stopped: 0 };
  const app2 = await rawJambonzApp([{ verb: 'gather', input: ['speech'], actionHook: '/in', timeout: 10 }], HANGUP);
  const fs2 = await engines.start({ wsPort: false, jambonzApp: { url: app2.url, stt: toneRecogniser(failing, true) } });
  const call2 = await callWithTone(fs2.sipPort!);
  await call2.waitForEnd();
  const hook2 = app2.got.find((m) => m.type === 'verb:hook');
  assert.equal(hook2?.data.reason, 'error');
  assert.equal(hook2?.data.details, 'vendor unreachable');
  assert.ok(app2.got.some((m) => m.type === 'jambonz:error' && /recogniser failed/.test(String(m.data.msg))), 'the failure is reported too');
});

test('no recogniser: a speech-only gather is reported with jambonz:error and skipped; speech + digits collects digits', async () => {
  const app = await rawJambonzApp([{ verb: 'gather', input: ['speech'], actionHook: '/in', timeout: 10 }, { verb: 'hangup' }], HANGUP);
  const fs = await engines.start({ wsPort: false, jambonzApp: { url: app.url } });
  const caller = await engines.start({ wsPort: false });
  const call = await caller.call(`sip:app@127.0.0.1:${fs.sipPort!}`);
  const end = await call.waitForEnd();
  assert.equal(end.code, 603, 'skipped to the hangup, which declines the ringing call');
  const errors = app.got.filter((m) => m.type === 'jambonz:error').map((m) => String(m.data.msg));
  assert.equal(errors.length, 1, errors.join(' | '));
  assert.match(errors[0]!, /speech recogniser/);

  const app2 = await rawJambonzApp([{ verb: 'gather', input: ['speech', 'digits'], numDigits: 1, actionHook: '/in', timeout: 10 }], HANGUP);
  const fs2 = await engines.start({ wsPort: false, jambonzApp: { url: app2.url } });
  const call2 = await callWithTone(fs2.sipPort!, { dtmf: '3' });
  await call2.waitForEnd();
  assert.equal(app2.got.find((m) => m.type === 'verb:hook')?.data.digits, '3');
  assert.ok(app2.got.some((m) => m.type === 'jambonz:error' && /collecting digits only/.test(String(m.data.msg))));
});
