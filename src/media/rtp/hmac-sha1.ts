// HMAC-SHA1 (RFC 2104 over FIPS 180-4 SHA-1) for SRTP's per-packet tag, in plain JS. Node's
// createHmac() costs a native object, a key schedule and a digest Buffer per call, ~6 µs for a
// 172-byte packet; here the key's inner and outer pad blocks are hashed once per context and a
// packet costs only its own compressions, with no allocation. RFC 2202 vectors in the unit tests.

const W = new Int32Array(80);

/** SHA-1 compression of the 64-byte block at `buf[off]` into `h` (5 words). */
function compress(h: Int32Array, buf: Uint8Array, off: number): void {
  for (let i = 0; i < 16; i++) {
    const o = off + i * 4;
    W[i] = (buf[o]! << 24) | (buf[o + 1]! << 16) | (buf[o + 2]! << 8) | buf[o + 3]!;
  }
  for (let i = 16; i < 80; i++) {
    const x = W[i - 3]! ^ W[i - 8]! ^ W[i - 14]! ^ W[i - 16]!;
    W[i] = (x << 1) | (x >>> 31);
  }
  let a = h[0]!;
  let b = h[1]!;
  let c = h[2]!;
  let d = h[3]!;
  let e = h[4]!;
  // Four loops of 20 rounds, one per round function: no branch per round.
  let i = 0;
  for (; i < 20; i++) {
    const t = (((a << 5) | (a >>> 27)) + ((b & c) | (~b & d)) + e + 0x5a827999 + W[i]!) | 0;
    e = d;
    d = c;
    c = (b << 30) | (b >>> 2);
    b = a;
    a = t;
  }
  for (; i < 40; i++) {
    const t = (((a << 5) | (a >>> 27)) + (b ^ c ^ d) + e + 0x6ed9eba1 + W[i]!) | 0;
    e = d;
    d = c;
    c = (b << 30) | (b >>> 2);
    b = a;
    a = t;
  }
  for (; i < 60; i++) {
    const t = (((a << 5) | (a >>> 27)) + ((b & c) | (b & d) | (c & d)) + e - 0x70e44324 + W[i]!) | 0;
    e = d;
    d = c;
    c = (b << 30) | (b >>> 2);
    b = a;
    a = t;
  }
  for (; i < 80; i++) {
    const t = (((a << 5) | (a >>> 27)) + (b ^ c ^ d) + e - 0x359d3e2a + W[i]!) | 0;
    e = d;
    d = c;
    c = (b << 30) | (b >>> 2);
    b = a;
    a = t;
  }
  h[0] = (h[0]! + a) | 0;
  h[1] = (h[1]! + b) | 0;
  h[2] = (h[2]! + c) | 0;
  h[3] = (h[3]! + d) | 0;
  h[4] = (h[4]! + e) | 0;
}

/** TypedArray.prototype.set costs a builtin call with checks; for five words a copy is cheaper. */
function copy5(from: Int32Array, at: number, to: Int32Array): void {
  to[0] = from[at]!;
  to[1] = from[at + 1]!;
  to[2] = from[at + 2]!;
  to[3] = from[at + 3]!;
  to[4] = from[at + 4]!;
}

const IV = [0x67452301, 0xefcdab89 | 0, 0x98badcfe | 0, 0x10325476, 0xc3d2e1f0 | 0];

/** One HMAC-SHA1 key: `mac()` writes the 20-byte tag of (data ‖ extra) without allocating. */
// The running hash and the message tail are scratch shared by every key of the process (mac()
// runs to completion before another starts): an echo server has hundreds of keys, and per-key
// scratch was cache lines to fetch cold for every packet (docs/architecture.md, SRTP).
const H = new Int32Array(5);
/** Tail of the message plus padding: at most two blocks. */
const TAIL = new Uint8Array(128);

export class HmacSha1 {
  /** SHA-1 state after (K ⊕ ipad) in [0, 5) and after (K ⊕ opad) in [5, 10): one object per key. */
  private readonly keyState = new Int32Array(10);

  constructor(key: Uint8Array) {
    if (key.length > 64) throw new RangeError('HMAC-SHA1 keys over 64 bytes are not used by SRTP');
    const pad = new Uint8Array(64);
    const state = new Int32Array(5);
    for (const [at, byte] of [
      [0, 0x36],
      [5, 0x5c],
    ] as const) {
      pad.fill(byte);
      for (let i = 0; i < key.length; i++) pad[i] = key[i]! ^ byte;
      state.set(IV);
      compress(state, pad, 0);
      this.keyState.set(state, at);
    }
  }

  /**
   * HMAC(key, data[0, length) ‖ extra) into out[outOff, outOff + 20). `extra` is SRTP's ROC
   * (4 bytes, or none).
   */
  mac(data: Uint8Array, length: number, extra: Uint8Array | undefined, out: Uint8Array, outOff: number): void {
    const h = H;
    copy5(this.keyState, 0, h);
    const extraLen = extra ? extra.length : 0;
    const total = length + extraLen;
    // Whole blocks straight from data.
    const whole = length & ~63;
    for (let off = 0; off < whole; off += 64) compress(h, data, off);
    // The rest of data, then extra, then padding, in the tail buffer.
    const tail = TAIL;
    let n = 0;
    for (let i = whole; i < length; i++) tail[n++] = data[i]!;
    for (let i = 0; i < extraLen; i++) tail[n++] = extra![i]!;
    this.finish(h, tail, n, 64 + total);
    // Outer hash: (K ⊕ opad) already compressed; then the 20-byte inner digest.
    for (let i = 0; i < 5; i++) {
      const v = h[i]!;
      tail[i * 4] = v >>> 24;
      tail[i * 4 + 1] = (v >>> 16) & 0xff;
      tail[i * 4 + 2] = (v >>> 8) & 0xff;
      tail[i * 4 + 3] = v & 0xff;
    }
    copy5(this.keyState, 5, h);
    this.finish(h, tail, 20, 64 + 20);
    for (let i = 0; i < 5; i++) {
      const v = h[i]!;
      const o = outOff + i * 4;
      out[o] = v >>> 24;
      out[o + 1] = (v >>> 16) & 0xff;
      out[o + 2] = (v >>> 8) & 0xff;
      out[o + 3] = v & 0xff;
    }
  }

  /** Pad `tail[0, n)` (n < 64 + 64) for a message of `msgLen` bytes in all and compress it. */
  private finish(h: Int32Array, tail: Uint8Array, n: number, msgLen: number): void {
    // n may reach 63 + 4 (data rest plus extra): more than a block spills into the next.
    let i = n;
    tail[i++] = 0x80;
    const blocks = i + 8 <= 64 ? 1 : 2;
    const end = blocks * 64;
    while (i < end - 8) tail[i++] = 0;
    const bits = msgLen * 8;
    // Messages here are far below 2^32 bits: the high word is 0.
    tail[end - 8] = 0;
    tail[end - 7] = 0;
    tail[end - 6] = 0;
    tail[end - 5] = 0;
    tail[end - 4] = bits >>> 24;
    tail[end - 3] = (bits >>> 16) & 0xff;
    tail[end - 2] = (bits >>> 8) & 0xff;
    tail[end - 1] = bits & 0xff;
    compress(h, tail, 0);
    if (blocks === 2) compress(h, tail, 64);
  }
}
