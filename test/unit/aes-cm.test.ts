import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createCipheriv, randomBytes } from 'node:crypto';
import { AesCm } from '../../src/media/rtp/aes-cm.js';

// The keystream AesCm computes ahead (16 packets per AES update) must equal, for every packet,
// node's AES-128-CTR from that packet's own IV (RFC 3711 §4.1.1), whatever the index pattern.
const key = randomBytes(16);
const salt = randomBytes(14);

function reference(ssrc: number, roc: number, seq: number, n: number): Buffer {
  const iv = Buffer.alloc(16);
  salt.copy(iv);
  iv.writeUInt32BE((iv.readUInt32BE(4) ^ ssrc) >>> 0, 4);
  iv.writeUInt32BE((iv.readUInt32BE(8) ^ roc) >>> 0, 8);
  iv.writeUInt16BE(iv.readUInt16BE(12) ^ seq, 12);
  return createCipheriv('aes-128-ctr', key, iv).update(Buffer.alloc(n));
}

function keystream(cm: AesCm, ssrc: number, roc: number, seq: number, n: number): Buffer {
  const buf = Buffer.alloc(12 + n);
  cm.rtp(ssrc, roc, seq, buf, 12, 12 + n);
  return buf.subarray(12);
}

function newCm(): AesCm {
  const ecb = createCipheriv('aes-128-ecb', key, null);
  ecb.setAutoPadding(false);
  return new AesCm(ecb, salt);
}

describe('AES-CM keystream cache', () => {
  it('equals per-packet AES-CTR for in-order, lost, reordered, resized, wrapping and re-keyed streams', () => {
    const cm = newCm();
    type Step = [ssrc: number, roc: number, seq: number, n: number];
    const steps: Step[] = [];
    for (let s = 0; s < 40; s++) steps.push([0x11223344, 0, s, 160]); // in order, past two refills
    steps.push([0x11223344, 0, 45, 160], [0x11223344, 0, 44, 160], [0x11223344, 0, 60, 160]); // loss, reorder, jump
    steps.push([0x11223344, 0, 61, 240], [0x11223344, 0, 62, 17], [0x11223344, 0, 63, 1]); // larger, smaller, tiny
    steps.push([0x11223344, 0, 64, 1000]); // beyond the cached size
    for (let s = 0xfff8; s <= 0xffff; s++) steps.push([0x11223344, 0, s, 160]); // up to the rollover…
    for (let s = 0; s < 20; s++) steps.push([0x11223344, 1, s, 160]); // …and past it
    steps.push([0x55667788, 1, 20, 160], [0x11223344, 1, 21, 160]); // another SSRC and back
    steps.push([0x11223344, 0xffffffff, 0xffff, 160]); // the largest index
    for (const [ssrc, roc, seq, n] of steps) {
      assert.deepEqual(keystream(cm, ssrc, roc, seq, n), reference(ssrc, roc, seq, n), `ssrc ${ssrc} roc ${roc} seq ${seq} n ${n}`);
    }
  });

  it('a packet crossing the rollover inside one cached run gets ROC + 1', () => {
    const cm = newCm();
    keystream(cm, 7, 3, 0xfffa, 160); // fills 0xfffa … 0x10009 of ROC 3
    assert.deepEqual(keystream(cm, 7, 4, 2, 160), reference(7, 4, 2, 160));
  });

  it('XORs in place: applying the keystream twice gives back the plaintext', () => {
    const cm = newCm();
    const plain = randomBytes(172);
    const buf = Buffer.from(plain);
    cm.rtp(9, 0, 100, buf, 12, 172);
    assert.notDeepEqual(buf, plain);
    const rx = newCm();
    rx.rtp(9, 0, 100, buf, 12, 172);
    assert.deepEqual(buf, plain);
  });
});
