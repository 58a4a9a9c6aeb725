// The record verb on the feature-server: `record { path }` records the call, both sides in stereo
// (caller left), to a WAV under jambonzApp.recordDir until the call ends, while the next verbs run.
// A path that would leave the directory, or no directory at all, is reported and skipped.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { encodeWav, parseWav } from '../../src/media/codecs/wav.js';
import { toneRatio } from '../../src/media/index.js';
import { loopbackEngines } from '../helpers/loopback-engines.js';
import { waitFor } from '../helpers/wait.js';
import { rawJambonzApp } from '../helpers/jambonz-fs-app.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'cc-jfs-record-'));
const recordDir = path.join(dir, 'recordings');
const tone = path.join(dir, 'tone.wav');
{
  const s = new Int16Array(8000 * 3);
  for (let i = 0; i < s.length; i++) s[i] = Math.round(8000 * Math.sin((2 * Math.PI * 700 * i) / 8000));
  writeFileSync(tone, encodeWav(s, { sampleRate: 8000 }));
}
const engines = loopbackEngines(48800, 60);
after(async () => {
  await engines.closeAll();
  rmSync(dir, { recursive: true, force: true });
});

test('record: the call is recorded in stereo under recordDir while the next verbs run', async () => {
  const app = await rawJambonzApp([{ verb: 'record', path: 'calls/one.wav' }, { verb: 'pause', length: 2 }, { verb: 'hangup' }]);
  const fs = await engines.start({ wsPort: false, jambonzApp: { url: app.url, recordDir } });
  const caller = await engines.start({ wsPort: false });
  const call = await caller.call(`sip:app@127.0.0.1:${fs.sipPort!}`);
  await waitFor(() => call.isActive, 'answered by the record verb');
  call.play(tone);
  const end = await call.waitForEnd();
  assert.equal(end.reason, 'remote-hangup', 'the pause ran after record, then the hangup');
  const file = path.join(recordDir, 'calls', 'one.wav');
  await waitFor(() => existsSync(file), 'the WAV written');
  // Finalised when the call ended: read it once its header has the data size.
  let wav: ReturnType<typeof parseWav> | undefined;
  await waitFor(() => {
    try {
      wav = parseWav(readFileSync(file));
      return wav.samples.length > 8000;
    } catch {
      return false;
    }
  }, 'the WAV finalised');
  assert.equal(wav!.channels, 2, 'stereo');
  const left = new Int16Array(wav!.samples.length / 2);
  for (let i = 0; i < left.length; i++) left[i] = wav!.samples[i * 2]!;
  assert.ok(toneRatio(left, 8000, 700) > 0.5, `the caller's 700 Hz on the left (${toneRatio(left, 8000, 700).toFixed(2)})`);
  assert.equal(app.got.filter((m) => m.type === 'jambonz:error').length, 0);
});

test('record: a path leaving recordDir, or no recordDir, is reported with jambonz:error and skipped', async () => {
  const app = await rawJambonzApp([{ verb: 'record', path: '../escape.wav' }, { verb: 'record', path: 'x.mp3' }, { verb: 'hangup' }]);
  const fs = await engines.start({ wsPort: false, jambonzApp: { url: app.url, recordDir } });
  const caller = await engines.start({ wsPort: false });
  const call = await caller.call(`sip:app@127.0.0.1:${fs.sipPort!}`);
  await call.waitForEnd();
  const errors = app.got.filter((m) => m.type === 'jambonz:error').map((m) => String(m.data.msg));
  assert.equal(errors.length, 2, errors.join(' | '));
  for (const e of errors) assert.match(e, /must name a \.wav file inside the recording directory/);
  assert.equal(existsSync(path.join(dir, 'escape.wav')), false);
});
