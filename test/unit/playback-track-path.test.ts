// Track ids become file paths only inside the configured directory: clients never name paths.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { trackPath } from '../../src/playback/players.js';

test('trackPath: { dir } maps safe ids to <dir>/<id>.wav and refuses everything else', () => {
  const dir = '/srv/music';
  assert.equal(trackPath({ dir }, { trackId: 7 }), path.join(dir, '7.wav'));
  assert.equal(trackPath({ dir }, { trackId: 'hold_music-2.v1' }), path.join(dir, 'hold_music-2.v1.wav'));
  for (const trackId of ['../etc/passwd', '..', '.hidden', 'a/b', 'a\\b', '', 'x'.repeat(200), -1, 1.5, Number.MAX_SAFE_INTEGER + 2]) {
    assert.equal(trackPath({ dir }, { trackId }), undefined, `refused: ${JSON.stringify(trackId)}`);
  }
  assert.equal(trackPath({ dir }, {}), undefined, 'no trackId');
  assert.equal(trackPath({ dir }, { trackId: 1, path: '/etc/passwd' }), path.join(dir, '1.wav'), 'other track fields are ignored');
  assert.equal(trackPath(undefined, { trackId: 1 }), undefined, 'no track source configured');
});

test('trackPath: a function source decides itself', () => {
  const source = (t: { trackId?: number | string }) => (t.trackId === 3 ? '/lib/three.wav' : undefined);
  assert.equal(trackPath(source, { trackId: 3 }), '/lib/three.wav');
  assert.equal(trackPath(source, { trackId: 4 }), undefined);
});
