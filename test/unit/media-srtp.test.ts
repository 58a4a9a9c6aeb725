import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createCipheriv } from 'node:crypto';
import {
  SrtpContext, deriveSessionKey, estimateRoc, formatSdesKey, parseSdesKey,
  SRTP_AUTH_FAILED, SRTP_REPLAYED, SRTP_MALFORMED,
} from '../../src/media/rtp/srtp.js';
import { SrtpPair, type SrtpKeys } from '../../src/media/rtp/srtp-pair.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

// RFC 3711 Appendix B.3 (key derivation) master key and salt; libsrtp's srtp_validate() uses the
// same key for its reference packets below.
const MASTER_KEY = hex('E1F97A0D3E018BE0D64FA32C06DE4139');
const MASTER_SALT = hex('0EC675AD498AFEEBB6960B3AABE6');
const KEY = Buffer.concat([MASTER_KEY, MASTER_SALT]);

// libsrtp test/srtp_driver.c srtp_validate(): SSRC 0xcafebabe, SEQ 0x1234, ROC 0.
const RTP_PLAIN = hex('800f1234decafbadcafebabe' + 'ab'.repeat(16));
const SRTP_80 = hex('800f1234decafbadcafebabe 4e55dc4ce79978d88ca4d215949d2402 b78d6acc99ea179b8dbb');
const RTCP_PLAIN = hex('81c8000bcafebabe' + 'ab'.repeat(16));
const SRTCP_80 = hex('81c8000bcafebabe 7128035be487b9bdbef89041f977a5a8 80000001 993e08cd54d6c1230798');

function rtp(seq: number, ssrc = 0x11223344, payload = Buffer.alloc(160, 0x55)): Buffer {
  const b = Buffer.alloc(12 + payload.length + 10);
  b[0] = 0x80;
  b[1] = 0;
  b.writeUInt16BE(seq, 2);
  b.writeUInt32BE(seq * 160, 4);
  b.writeUInt32BE(ssrc, 8);
  payload.copy(b, 12);
  return b;
}

/** protect → a fresh datagram of the protected length (as the socket would deliver it). */
function send(tx: SrtpContext, seq: number, ssrc?: number, payload?: Buffer<ArrayBuffer>): Buffer {
  const b = rtp(seq, ssrc, payload);
  const n = tx.protectRtp(b, b.length - 10);
  return Buffer.from(b.subarray(0, n));
}

describe('SRTP key derivation (RFC 3711 B.3)', () => {
  it('derives the session encryption key, salt and authentication key', () => {
    assert.equal(deriveSessionKey(MASTER_KEY, MASTER_SALT, 0, 16).toString('hex').toUpperCase(), 'C61E7A93744F39EE10734AFE3FF7A087');
    assert.equal(deriveSessionKey(MASTER_KEY, MASTER_SALT, 2, 14).toString('hex').toUpperCase(), '30CBBC08863D8C85D49DB34A9AE1');
    assert.equal(deriveSessionKey(MASTER_KEY, MASTER_SALT, 1, 20).toString('hex').toUpperCase(), 'CEBE321F6FF7716B6FD4AB49AF256A156D38BAA4');
  });
});

describe('AES-CM keystream (RFC 3711 B.2)', () => {
  it('the counter blocks IV, IV+1, IV+2 encrypt to the listed keystream', () => {
    // Session key 2B7E..., salt F0F1...FD, SSRC 0, ROC 0, SEQ 0: IV = F0F1...FD0000.
    const c = createCipheriv('aes-128-ctr', hex('2B7E151628AED2A6ABF7158809CF4F3C'), hex('F0F1F2F3F4F5F6F7F8F9FAFBFCFD0000'));
    const ks = c.update(Buffer.alloc(48)).toString('hex').toUpperCase();
    assert.equal(ks, 'E03EAD0935C95E80E166B16DD92B4EB4' + 'D23513162B02D0F72A43A2FE4A5F97AB' + '41E95B3BB0A2E8DD477901E4FCA894C0');
  });

  it('SrtpContext builds the same counter blocks (a zero payload encrypts to the keystream)', () => {
    // A context whose derived session key/salt are those of B.2 is not constructible from a
    // master key, so compare the context's CM against node's CTR for a derived key instead.
    const tx = new SrtpContext('AES_CM_128_HMAC_SHA1_80', KEY);
    const plain = Buffer.alloc(12 + 100 + 10);
    plain[0] = 0x80;
    plain.writeUInt16BE(0x1234, 2);
    plain.writeUInt32BE(0xcafebabe, 8);
    tx.protectRtp(plain, 112);
    const sk = deriveSessionKey(MASTER_KEY, MASTER_SALT, 0, 16);
    const salt = deriveSessionKey(MASTER_KEY, MASTER_SALT, 2, 14);
    const iv = Buffer.alloc(16);
    salt.copy(iv);
    iv.writeUInt32BE((iv.readUInt32BE(4) ^ 0xcafebabe) >>> 0, 4);
    iv.writeUInt16BE(iv.readUInt16BE(12) ^ 0x1234, 12);
    const ks = createCipheriv('aes-128-ctr', sk, iv).update(Buffer.alloc(100));
    assert.deepEqual(plain.subarray(12, 112), ks);
  });
});

describe('SRTP packets (libsrtp reference vectors)', () => {
  it('protects RTP to libsrtp’s ciphertext and tag (80-bit)', () => {
    const b = Buffer.alloc(RTP_PLAIN.length + 10);
    RTP_PLAIN.copy(b);
    const n = new SrtpContext('AES_CM_128_HMAC_SHA1_80', KEY).protectRtp(b, RTP_PLAIN.length);
    assert.equal(b.subarray(0, n).toString('hex'), SRTP_80.toString('hex'));
  });

  it('the 32-bit suite carries the first 4 bytes of the same tag', () => {
    const b = Buffer.alloc(RTP_PLAIN.length + 10);
    RTP_PLAIN.copy(b);
    const n = new SrtpContext('AES_CM_128_HMAC_SHA1_32', KEY).protectRtp(b, RTP_PLAIN.length);
    assert.equal(n, RTP_PLAIN.length + 4);
    assert.equal(b.subarray(0, n).toString('hex'), SRTP_80.subarray(0, RTP_PLAIN.length + 4).toString('hex'));
  });

  it('unprotects libsrtp’s packet to the plaintext', () => {
    const rx = new SrtpContext('AES_CM_128_HMAC_SHA1_80', KEY);
    const b = Buffer.from(SRTP_80);
    const n = rx.unprotectRtp(b);
    assert.equal(n, RTP_PLAIN.length);
    assert.deepEqual(b.subarray(0, n), RTP_PLAIN);
  });

  it('protects RTCP to libsrtp’s SRTCP (index 1, E set) and back', () => {
    const out = new SrtpContext('AES_CM_128_HMAC_SHA1_80', KEY).protectRtcp(RTCP_PLAIN);
    assert.equal(out.toString('hex'), SRTCP_80.toString('hex'));
    const back = new SrtpContext('AES_CM_128_HMAC_SHA1_32', KEY).unprotectRtcp(Buffer.from(SRTCP_80));
    assert.ok(Buffer.isBuffer(back));
    assert.deepEqual(back, RTCP_PLAIN);
  });
});

describe('SRTP receive checks', () => {
  it('a tampered payload, header or tag is dropped', () => {
    for (const at of [1, 5, 20, 38 - 1]) {
      const rx = new SrtpContext('AES_CM_128_HMAC_SHA1_80', KEY);
      const b = Buffer.from(SRTP_80);
      b[at]! ^= 0x01;
      assert.equal(rx.unprotectRtp(b), SRTP_AUTH_FAILED, `byte ${at}`);
    }
    const rx = new SrtpContext('AES_CM_128_HMAC_SHA1_80', KEY);
    assert.equal(rx.unprotectRtp(Buffer.from(RTP_PLAIN)), SRTP_AUTH_FAILED, 'plain RTP is not SRTP');
    assert.equal(rx.unprotectRtp(Buffer.alloc(8)), SRTP_MALFORMED);
    const c = Buffer.from(SRTCP_80);
    c[9]! ^= 0x80;
    assert.equal(new SrtpContext('AES_CM_128_HMAC_SHA1_80', KEY).unprotectRtcp(c), SRTP_AUTH_FAILED);
  });

  it('a wrong key fails authentication', () => {
    const other = Buffer.from(KEY);
    other[0]! ^= 1;
    assert.equal(new SrtpContext('AES_CM_128_HMAC_SHA1_80', other).unprotectRtp(Buffer.from(SRTP_80)), SRTP_AUTH_FAILED);
  });

  it('replays are dropped; reordering within 64 packets is accepted; older is dropped', () => {
    const tx = new SrtpContext('AES_CM_128_HMAC_SHA1_80', KEY);
    const rx = new SrtpContext('AES_CM_128_HMAC_SHA1_80', KEY);
    const pkts = Array.from({ length: 100 }, (_, i) => send(tx, 1000 + i));
    assert.ok(rx.unprotectRtp(Buffer.from(pkts[0]!)) > 0);
    assert.equal(rx.unprotectRtp(Buffer.from(pkts[0]!)), SRTP_REPLAYED);
    assert.ok(rx.unprotectRtp(Buffer.from(pkts[80]!)) > 0);
    assert.ok(rx.unprotectRtp(Buffer.from(pkts[30]!)) > 0, '50 behind: inside the window');
    assert.equal(rx.unprotectRtp(Buffer.from(pkts[30]!)), SRTP_REPLAYED);
    assert.equal(rx.unprotectRtp(Buffer.from(pkts[10]!)), SRTP_REPLAYED, '70 behind: outside the window');
    assert.ok(rx.unprotectRtp(Buffer.from(pkts[79]!)) > 0);
    const c = tx.protectRtcp(RTCP_PLAIN);
    assert.ok(Buffer.isBuffer(rx.unprotectRtcp(Buffer.from(c))));
    assert.equal(rx.unprotectRtcp(Buffer.from(c)), SRTP_REPLAYED);
  });

  it('follows the sequence number across a rollover (ROC) in both directions', () => {
    const tx = new SrtpContext('AES_CM_128_HMAC_SHA1_32', KEY);
    const rx = new SrtpContext('AES_CM_128_HMAC_SHA1_32', KEY);
    const payload = Buffer.from('hello srtp rollover');
    let seq = 65530;
    for (let i = 0; i < 20; i++) {
      const p = send(tx, seq, 0x01020304, payload);
      const n = rx.unprotectRtp(p);
      assert.ok(n > 0, `seq ${seq} (i=${i}) → ${n}`);
      assert.deepEqual(p.subarray(12, n), payload);
      seq = (seq + 1) & 0xffff;
    }
    // A late packet from before the wrap still authenticates (ROC - 1).
    const tx2 = new SrtpContext('AES_CM_128_HMAC_SHA1_80', KEY);
    const before = send(tx2, 65535);
    const after = send(tx2, 2);
    const rx3 = new SrtpContext('AES_CM_128_HMAC_SHA1_80', KEY);
    assert.ok(rx3.unprotectRtp(Buffer.from(before)) > 0);
    assert.ok(rx3.unprotectRtp(Buffer.from(after)) > 0, 'after the wrap: ROC + 1');
    assert.ok(rx3.unprotectRtp(Buffer.from(send(new SrtpContext('AES_CM_128_HMAC_SHA1_80', KEY), 65534))) > 0, 'late, from before the wrap: ROC - 1');
  });

  it('keeps separate state per SSRC', () => {
    const a = new SrtpContext('AES_CM_128_HMAC_SHA1_80', KEY);
    const rx = new SrtpContext('AES_CM_128_HMAC_SHA1_80', KEY);
    assert.ok(rx.unprotectRtp(send(a, 5, 1)) > 0);
    assert.ok(rx.unprotectRtp(send(a, 5, 2)) > 0, 'same SEQ, other SSRC: not a replay');
  });

  it('checks replays per SSRC with streams interleaved (the last-stream shortcut never mixes them)', () => {
    const a = new SrtpContext('AES_CM_128_HMAC_SHA1_80', KEY);
    const b = new SrtpContext('AES_CM_128_HMAC_SHA1_80', KEY);
    const rx = new SrtpContext('AES_CM_128_HMAC_SHA1_80', KEY);
    const a1 = send(a, 100, 1);
    const b1 = send(b, 100, 2);
    const a2 = send(a, 101, 1);
    assert.ok(rx.unprotectRtp(Buffer.from(a1)) > 0);
    assert.ok(rx.unprotectRtp(Buffer.from(b1)) > 0);
    assert.equal(rx.unprotectRtp(Buffer.from(a1)), SRTP_REPLAYED, 'A replayed after B');
    assert.ok(rx.unprotectRtp(Buffer.from(a2)) > 0);
    assert.equal(rx.unprotectRtp(Buffer.from(b1)), SRTP_REPLAYED, 'B replayed after A');
    assert.equal(rx.unprotectRtp(Buffer.from(a2)), SRTP_REPLAYED, 'A replayed right after itself');
  });
});

describe('SRTP contexts across key changes (SrtpPair)', () => {
  const suite = 'AES_CM_128_HMAC_SHA1_80' as const;
  const A: SrtpKeys = { suite, localKey: KEY, remoteKey: Buffer.alloc(30, 3) };
  const B: SrtpKeys = { suite, localKey: Buffer.alloc(30, 5), remoteKey: Buffer.alloc(30, 9) };
  const sendOn = (pair: SrtpPair, seq: number) => send(pair.tx, seq);

  it('back on a branch\'s keys (A → B → plain → A), A\'s contexts come back: our ROC goes on past a wrap', () => {
    const peerA = new SrtpContext(suite, KEY); // branch A decrypting what we send under A's keys
    const pairA = new SrtpPair(A);
    for (const seq of [65534, 65535, 0]) assert.ok(peerA.unprotectRtp(sendOn(pairA, seq)) > 0, `seq ${seq}`);
    let before = SrtpPair.retire(pairA, []);
    const pairB = new SrtpPair(B, before);
    assert.notEqual(pairB.tx, pairA.tx);
    before = SrtpPair.retire(null, SrtpPair.retire(pairB, before)); // B, then plain RTP (setSrtp(null))
    const again = new SrtpPair(A, before);
    assert.equal(again.tx, pairA.tx);
    assert.equal(again.rx, pairA.rx);
    assert.ok(peerA.unprotectRtp(sendOn(again, 1)) > 0, 'ROC 1 after the wrap, as A expects');
    // What a fresh context would send: ROC 0 at seq 2, which A reads as ROC 1 and rejects.
    assert.ok(peerA.unprotectRtp(sendOn(new SrtpPair(A), 2)) < 0);
  });

  it('keeps the latest few pairs, each once', () => {
    const pairs = Array.from({ length: 6 }, (_, i) => new SrtpPair({ suite, localKey: Buffer.alloc(30, i), remoteKey: Buffer.alloc(30, 100 + i) }));
    let before: readonly SrtpPair[] = [];
    for (const p of [...pairs, pairs[5]!]) before = SrtpPair.retire(p, before);
    assert.deepEqual(before, [pairs[5], pairs[4], pairs[3], pairs[2]]);
  });
});

describe('ROC estimation (RFC 3711 §3.3.1)', () => {
  it('guesses ROC - 1, ROC, ROC + 1', () => {
    assert.equal(estimateRoc(3, 100, 101), 3);
    assert.equal(estimateRoc(3, 100, 65000), 2);
    assert.equal(estimateRoc(3, 65000, 10), 4);
    assert.equal(estimateRoc(3, 65000, 64000), 3);
    assert.equal(estimateRoc(0, 10, 65000), -1);
  });
});

describe('SDES key parameter (RFC 4568)', () => {
  it('round-trips key||salt and accepts a lifetime, not an MKI', () => {
    const k = formatSdesKey(KEY);
    assert.deepEqual(parseSdesKey(k), KEY);
    assert.deepEqual(parseSdesKey(`${k}|2^31`), KEY);
    assert.equal(parseSdesKey(`${k}|2^31|1:4`), undefined);
    assert.equal(parseSdesKey('inline:AAAA'), undefined);
    assert.equal(parseSdesKey('uri:http://x'), undefined);
  });
});
