// tapSent(): the tapped leg is the base leg in every way a consumer can see — its writes still go
// out, its jitter-buffered playout path is the base's own (not dropped, not made early) — and the
// `sent` leg hears each frame written.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tapSent } from '../../src/media/sent-tap.js';
import type { MediaLeg } from '../../src/media/leg.js';

test('the tapped leg passes the playout path through, lazily, and copies writes to the sent leg', () => {
  let made = 0;
  const written: Int16Array[] = [];
  const playout = { marker: true };
  const base = {
    id: 'leg-1',
    closed: false,
    onAudio: () => () => {},
    write: (f: Int16Array) => (written.push(f), true),
    onClose: () => () => {},
    close: async () => {},
    get playout() {
      made++;
      return playout;
    },
  } as unknown as MediaLeg;
  const { leg, sent } = tapSent(base);
  assert.equal(made, 0, 'tapping does not create the playout path');
  assert.equal(leg.playout, playout as never);
  assert.equal(made, 1);
  const heard: Int16Array[] = [];
  sent.onAudio((f) => heard.push(f));
  const frame = new Int16Array(160).fill(7);
  assert.equal(leg.write(frame), true);
  assert.deepEqual(written, [frame]);
  assert.deepEqual(heard, [frame]);
});

test('a base leg without a playout path gives a tapped leg without one', () => {
  const base = { id: 'l', closed: false, onAudio: () => () => {}, write: () => true, onClose: () => () => {}, close: async () => {} } as MediaLeg;
  assert.equal('playout' in tapSent(base).leg, false);
});
