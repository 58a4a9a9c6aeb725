// The plain-JS HMAC-SHA1 behind SRTP's tags: RFC 2202's test vectors, and agreement with Node's
// createHmac for every length around the block edges, with and without SRTP's 4-byte ROC suffix.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac, randomBytes } from 'node:crypto';
import { HmacSha1 } from '../../src/media/rtp/hmac-sha1.js';

function tag(key: Uint8Array, data: Uint8Array, extra?: Uint8Array): string {
  const out = Buffer.alloc(24);
  new HmacSha1(key).mac(data, data.length, extra, out, 2);
  return out.subarray(2, 22).toString('hex');
}

test('RFC 2202 §3 test cases 1-6 (keys up to 64 bytes)', () => {
  const cases: Array<[Buffer, Buffer, string]> = [
    [Buffer.alloc(20, 0x0b), Buffer.from('Hi There'), 'b617318655057264e28bc0b6fb378c8ef146be00'],
    [Buffer.from('Jefe'), Buffer.from('what do ya want for nothing?'), 'effcdf6ae5eb2fa2d27416d5f184df9c259a7c79'],
    [Buffer.alloc(20, 0xaa), Buffer.alloc(50, 0xdd), '125d7342b9ac11cd91a39af48aa17b4f63f175d3'],
    [Buffer.from('0102030405060708090a0b0c0d0e0f10111213141516171819', 'hex'), Buffer.alloc(50, 0xcd), '4c9007f4026250c6bc8414f9bf50c86c2d7235da'],
    [Buffer.alloc(20, 0x0c), Buffer.from('Test With Truncation'), '4c1a03424b55e07fe7f27be1d58bb9324a9a5a04'],
  ];
  for (const [key, data, want] of cases) assert.equal(tag(key, data), want);
});

test('agrees with createHmac for every length 0-300, with and without a 4-byte suffix', () => {
  const key = randomBytes(20);
  const h = new HmacSha1(key);
  const out = Buffer.alloc(20);
  for (let n = 0; n <= 300; n++) {
    const data = randomBytes(n + 7); // longer buffer: only the first n bytes count
    const roc = randomBytes(4);
    h.mac(data, n, roc, out, 0);
    assert.equal(out.toString('hex'), createHmac('sha1', key).update(data.subarray(0, n)).update(roc).digest('hex'), `length ${n} + roc`);
    h.mac(data, n, undefined, out, 0);
    assert.equal(out.toString('hex'), createHmac('sha1', key).update(data.subarray(0, n)).digest('hex'), `length ${n}`);
  }
});
