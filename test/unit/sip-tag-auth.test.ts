// Self-authenticating From tags (src/sip/ua/tag-auth.ts) and the bounded cache of dialogs a
// forgotten INVITE's 2xx ended (src/sip/ua/stray-2xx.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SIGNED_TAG_LENGTH, TagSigner } from '../../src/sip/ua/tag-auth.js';
import { EndedDialogs, MAX_ENDED_BRANCHES } from '../../src/sip/ua/stray-2xx.js';

test('a signed tag is a short lowercase-hex token that verifies for its Call-ID only', () => {
  const s = new TagSigner();
  const callId = 'a84b4c76e66710@pc33.example.com';
  const tag = s.sign(callId);
  assert.equal(tag.length, SIGNED_TAG_LENGTH);
  assert.match(tag, /^[0-9a-f]{28}$/);
  assert.ok(s.verify(tag, callId));
  assert.ok(!s.verify(tag, `${callId}x`), 'another Call-ID');
  assert.notEqual(s.sign(callId), tag, 'a fresh random part each time');
});

test('a tag from another secret, altered, truncated, upper-cased or foreign does not verify', () => {
  const s = new TagSigner();
  const callId = 'c1@h';
  const tag = s.sign(callId);
  assert.ok(!new TagSigner().verify(tag, callId), 'another engine’s secret');
  for (let i = 0; i < tag.length; i++) {
    const c = tag[i] === '0' ? '1' : '0';
    assert.ok(!s.verify(tag.slice(0, i) + c + tag.slice(i + 1), callId), `character ${i} changed`);
  }
  assert.ok(!s.verify(tag.slice(0, -1), callId));
  assert.ok(!s.verify(`${tag}0`, callId));
  assert.ok(!s.verify(tag.toUpperCase(), callId));
  assert.ok(!s.verify('', callId));
  assert.ok(!s.verify('a1', callId));
  assert.ok(!s.verify('é'.repeat(SIGNED_TAG_LENGTH), callId));
});

test('a given secret verifies across signers (and a short one is refused)', () => {
  const secret = Buffer.alloc(32, 7);
  assert.ok(new TagSigner(secret).verify(new TagSigner(secret).sign('x@y'), 'x@y'));
  assert.throws(() => new TagSigner(Buffer.alloc(8)), /at least 16 bytes/);
});

test('EndedDialogs: a dialog gets its BYE once per TTL, a Call-ID a few, and at most `max` Call-IDs are kept', () => {
  const k = new EndedDialogs(3, 1000);
  assert.ok(k.add('a', 't1', 0));
  assert.ok(!k.add('a', 't1', 500), 'the same dialog again');
  assert.ok(k.add('a', 't2', 500), 'another branch of the same call');
  for (let i = 3; i <= MAX_ENDED_BRANCHES; i++) assert.ok(k.add('a', `t${i}`, 500));
  assert.ok(!k.add('a', 'made-up', 500), 'no more BYEs for that Call-ID');
  assert.ok(k.add('a', 't1', 1000), 'expired');
  for (const key of ['b', 'c', 'd']) assert.ok(k.add(key, 't', 1100));
  assert.equal(k.size, 3, 'the oldest dropped');
  assert.ok(k.add('a', 't1', 1200), 'evicted, so new again');
  assert.ok(!k.add('d', 't', 1200));
  assert.ok(k.add('e', 't', 5000));
  assert.equal(k.size, 1, 'expired entries swept');
});
