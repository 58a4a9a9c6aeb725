import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  linearToUlaw, ulawToLinear, linearToAlaw, alawToLinear, ulawEncode, ulawDecode, alawEncode, alawDecode,
  encodeG711, pcmToL16BE, l16BEToPcm, pcmToLE, leToPcm, downsample16to8, upsample8to16, resampleLinear,
} from '../../src/media/codecs/g711.js';

test('μ-law reference values', () => {
  assert.equal(ulawToLinear(0xff), 0);
  assert.equal(ulawToLinear(0x80), 32124);
  assert.equal(ulawToLinear(0x00), -32124);
  assert.equal(ulawToLinear(0x7f), 0);
  assert.equal(ulawToLinear(0xfe), 8);   // smallest step above zero
  assert.equal(ulawToLinear(0xf0), 120); // end of segment 0
  assert.equal(ulawToLinear(0xef), 132); // start of segment 1
  assert.equal(linearToUlaw(0), 0xff);
  assert.equal(linearToUlaw(32124), 0x80);
  assert.equal(linearToUlaw(32767), 0x80, 'clips');
  assert.equal(linearToUlaw(-32768), 0x00, 'clips');
});

test('A-law reference values', () => {
  assert.equal(alawToLinear(0xd5), 8);
  assert.equal(alawToLinear(0x55), -8);
  assert.equal(alawToLinear(0xaa), 32256);
  assert.equal(alawToLinear(0x2a), -32256);
  assert.equal(linearToAlaw(0), 0xd5);
  assert.equal(linearToAlaw(8), 0xd5);
  assert.equal(linearToAlaw(-8), 0x55);
  assert.equal(linearToAlaw(32767), 0xaa);
  assert.equal(linearToAlaw(-32768), 0x2a);
});

test('every code decodes and re-encodes to itself (except μ-law negative zero)', () => {
  for (let c = 0; c < 256; c++) {
    if (c !== 0x7f) assert.equal(linearToUlaw(ulawToLinear(c)), c, `ulaw ${c}`);
    assert.equal(linearToAlaw(alawToLinear(c)), c, `alaw ${c}`);
  }
});

test('companding is monotonic and error stays within half a step', () => {
  let prevU = -Infinity;
  let prevA = -Infinity;
  for (let s = -32768; s <= 32767; s += 7) {
    const u = ulawToLinear(linearToUlaw(s));
    const a = alawToLinear(linearToAlaw(s));
    assert.ok(u >= prevU && a >= prevA, `monotonic at ${s}`);
    prevU = u; prevA = a;
    if (Math.abs(s) < 30000) {
      assert.ok(Math.abs(u - s) <= Math.max(4, Math.abs(s) / 16 + 8), `ulaw error at ${s}: ${u}`);
      assert.ok(Math.abs(a - s) <= Math.max(8, Math.abs(s) / 16 + 8), `alaw error at ${s}: ${a}`);
    }
  }
});

test('buffer encode/decode and in-place encode after an RTP header', () => {
  const pcm = Int16Array.from([0, 1000, -1000, 32000, -32000]);
  assert.deepEqual([...ulawDecode(ulawEncode(pcm))], [...pcm].map((s) => ulawToLinear(linearToUlaw(s))));
  assert.deepEqual([...alawDecode(alawEncode(pcm))], [...pcm].map((s) => alawToLinear(linearToAlaw(s))));
  const out = Buffer.alloc(12 + pcm.length, 0xee);
  assert.equal(encodeG711('PCMU', pcm, out, 12), pcm.length);
  assert.equal(out[11], 0xee);
  assert.equal(out[12], 0xff);
});

test('L16 byte orders', () => {
  const pcm = Int16Array.from([1, -2, 0x1234, -32768]);
  const be = pcmToL16BE(pcm);
  assert.deepEqual([...be.subarray(0, 4)], [0x00, 0x01, 0xff, 0xfe]);
  assert.deepEqual([...l16BEToPcm(be)], [...pcm]);
  const le = pcmToLE(pcm);
  assert.deepEqual([...le.subarray(4, 6)], [0x34, 0x12]);
  assert.deepEqual([...leToPcm(le)], [...pcm]);
});

test('2:1 resampling keeps a low tone and halves/doubles the length', () => {
  const n = 320;
  const in16 = Int16Array.from({ length: n }, (_, i) => Math.round(10000 * Math.sin((2 * Math.PI * 400 * i) / 16000)));
  const d = downsample16to8(in16);
  assert.equal(d.length, 160);
  for (let i = 1; i < 159; i++) {
    const expect = 10000 * Math.sin((2 * Math.PI * 400 * i) / 8000);
    assert.ok(Math.abs(d[i]! - expect) < 400, `down ${i}: ${d[i]} vs ${expect}`);
  }
  const u = upsample8to16(d);
  assert.equal(u.length, 320);
  assert.equal(u[0], d[0]);
  assert.equal(u[2], d[1]);
  assert.equal(u[1], (d[0]! + d[1]!) >> 1);
  assert.equal(resampleLinear(d, 8000, 8000), d);
  assert.equal(resampleLinear(Int16Array.from({ length: 441 }), 44100, 8000).length, 80);
});
