// callchart's pooled random identifiers: the formats peers and logs rely on.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomHex, randomUuid } from '../../src/random.js';

test('randomUuid: RFC 9562 version 4 text, lowercase, distinct', () => {
  const seen = new Set<string>();
  // Several pool refills (4 KiB / 16 B = 256 ids per block), so the refill path is walked too.
  for (let i = 0; i < 2000; i++) {
    const id = randomUuid();
    assert.match(id, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    seen.add(id);
  }
  assert.equal(seen.size, 2000);
});

test('randomHex: two hex digits per byte', () => {
  assert.match(randomHex(12), /^[0-9a-f]{24}$/);
});
