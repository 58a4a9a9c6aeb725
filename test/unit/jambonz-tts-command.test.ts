// commandTts: a local command per phrase (sox stands in for espeak-ng here), placeholders
// substituted without a shell, results cached by phrase, failures reported.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { commandTts } from '../../src/jambonz/feature-server/index.js';
import { parseWav } from '../../src/media/codecs/wav.js';

const haveSox = (() => {
  try {
    return statSync('/usr/bin/sox').isFile();
  } catch {
    return false;
  }
})();

test('commandTts writes one WAV per phrase and caches it', { skip: !haveSox && 'sox not installed' }, async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'cc-tts-'));
  const tts = commandTts(['sox', '-n', '-r', '8000', '-b', '16', '-c', '1', '{file}', 'synth', '0.2', 'sine', '440'], { dir });
  const a = await tts.synthesize('hello; rm -rf /', {});
  assert.equal(path.dirname(a), dir);
  assert.equal(parseWav(readFileSync(a)).sampleRate, 8000);
  const mtime = statSync(a).mtimeMs;
  assert.equal(await tts.synthesize('hello; rm -rf /', {}), a, 'the same phrase is cached');
  assert.equal(statSync(a).mtimeMs, mtime);
  assert.notEqual(await tts.synthesize('other', { voice: 'x' }), a);
});

test('commandTts: a command that fails or never writes {file} is refused', async () => {
  assert.throws(() => commandTts(['espeak-ng', '{text}']), /\{file\}/);
  const tts = commandTts(['/nonexistent/tts-binary', '{file}'], { dir: mkdtempSync(path.join(os.tmpdir(), 'cc-tts-')) });
  await assert.rejects(tts.synthesize('x', {}), /tts command failed/);
});
