// SRTP and SRTCP (RFC 3711) for the two SDES suites RFC 4568 names: AES_CM_128_HMAC_SHA1_80 and
// AES_CM_128_HMAC_SHA1_32. A pure codec: keys in, packets transformed in place, no sockets.
//
// One SrtpContext per direction and master key (ours for sending, the peer's for receiving).
// Per packet it reuses one AES-128-ECB cipher (aes-cm.ts builds the counter blocks, for several
// packets ahead, and encrypts them in one update(): AES-CM without a createCipheriv per packet) and one HMAC-SHA1 key
// (hmac-sha1.ts: node:crypto has no reusable HMAC, and createHmac per packet cost more than the AES).

import { createCipheriv, type Cipher } from 'node:crypto';
import { HmacSha1 } from './hmac-sha1.js';
import { AesCm } from './aes-cm.js';

export type SrtpSuite = 'AES_CM_128_HMAC_SHA1_80' | 'AES_CM_128_HMAC_SHA1_32';
export const SRTP_SUITES: readonly SrtpSuite[] = ['AES_CM_128_HMAC_SHA1_80', 'AES_CM_128_HMAC_SHA1_32'];

export const SRTP_MASTER_KEY_LENGTH = 16;
export const SRTP_MASTER_SALT_LENGTH = 14;
/** Most an SRTP packet grows over its RTP packet (the 80-bit tag; no MKI). */
export const SRTP_MAX_TRAILER = 10;
/** What SRTCP adds to an RTCP packet: E flag + 31-bit index, and the 80-bit tag. */
export const SRTCP_TRAILER = 4 + 10;

/** unprotect results below zero: why a packet was dropped. */
export const SRTP_MALFORMED = -1;
export const SRTP_AUTH_FAILED = -2;
export const SRTP_REPLAYED = -3;

/** RFC 3711 §4.3.1 key derivation labels. */
const LABEL_RTP_ENCRYPTION = 0;
const LABEL_RTP_AUTH = 1;
const LABEL_RTP_SALT = 2;
const LABEL_RTCP_ENCRYPTION = 3;
const LABEL_RTCP_AUTH = 4;
const LABEL_RTCP_SALT = 5;

/** Replay window (RFC 3711 §3.3.2: at least 64). */
const REPLAY_WINDOW = 64;
/** Receive streams (SSRCs) remembered per context; a new one past this evicts the oldest. */
const MAX_STREAMS = 8;

export function tagLength(suite: SrtpSuite): number {
  return suite === 'AES_CM_128_HMAC_SHA1_32' ? 4 : 10;
}

/**
 * The AES-CM PRF of RFC 3711 §4.3.1 with key_derivation_rate 0 (r = 0): `length` bytes of
 * session key material for `label` from the master key and salt.
 */
export function deriveSessionKey(masterKey: Uint8Array, masterSalt: Uint8Array, label: number, length: number): Buffer {
  // x = key_id XOR master_salt, key_id = label || r (48 bits of r = 0): label lands on byte 7 of
  // the 14-byte salt; the IV is x * 2^16.
  const iv = Buffer.alloc(16);
  iv.set(masterSalt.subarray(0, SRTP_MASTER_SALT_LENGTH), 0);
  iv[7]! ^= label;
  const c = createCipheriv('aes-128-ctr', masterKey, iv);
  return c.update(Buffer.alloc(length));
}

interface StreamState {
  /** Rollover counter (§3.3.1). */
  roc: number;
  /** Highest sequence number authenticated (s_l). */
  seq: number;
  /** Replay window: the packet index last seen in each slot (index mod 64), -1 when none. */
  seen: Float64Array;
  /** Highest packet index authenticated. */
  top: number;
}

function newStream(seq: number): StreamState {
  return { roc: 0, seq, seen: new Float64Array(REPLAY_WINDOW).fill(-1), top: -1 };
}

function replayed(s: StreamState, index: number): boolean {
  if (index > s.top) return false;
  if (s.top - index >= REPLAY_WINDOW) return true; // too old to tell: treated as a replay (§3.3.2)
  return s.seen[index % REPLAY_WINDOW] === index;
}

function remember(s: StreamState, index: number): void {
  s.seen[index % REPLAY_WINDOW] = index;
  if (index > s.top) s.top = index;
}

// Scratch shared by every context (each use completes within one call): hundreds of contexts in
// an echo server each with their own were cold cache lines per packet.
/** The last computed tag (20 bytes). */
const MAC = new Uint8Array(20);
const ROC_BYTES = new Uint8Array(4);

/** One direction of one SRTP session: protect() for what we send, unprotect() for what we receive. */
export class SrtpContext {
  readonly suite: SrtpSuite;
  readonly tagLength: number;
  private readonly rtpSalt: Buffer;
  private readonly rtpAuth: HmacSha1;
  private readonly rtcpSalt: Buffer;
  private readonly rtcpAuth: HmacSha1;
  private readonly rtpCm: AesCm;
  private readonly rtcpCm: AesCm;

  // send state
  private txRoc = 0;
  private txSeq = -1;
  private txRtcpIndex = 0;

  // receive state, per SSRC
  private readonly streams = new Map<number, StreamState>();
  /** The stream of the last authenticated packet: one SSRC per call, so the Map is rarely needed. */
  private lastSsrc = -1;
  private lastStream: StreamState | undefined;
  private readonly rtcpStreams = new Map<number, StreamState>();

  /** `key` is the SDES inline key: the 16-byte master key followed by the 14-byte master salt. */
  constructor(suite: SrtpSuite, key: Uint8Array) {
    if (key.length !== SRTP_MASTER_KEY_LENGTH + SRTP_MASTER_SALT_LENGTH) throw new RangeError('SRTP key||salt must be 30 bytes');
    this.suite = suite;
    this.tagLength = tagLength(suite);
    const mk = key.subarray(0, SRTP_MASTER_KEY_LENGTH);
    const ms = key.subarray(SRTP_MASTER_KEY_LENGTH);
    this.rtpSalt = deriveSessionKey(mk, ms, LABEL_RTP_SALT, 14);
    this.rtpAuth = new HmacSha1(deriveSessionKey(mk, ms, LABEL_RTP_AUTH, 20));
    this.rtcpSalt = deriveSessionKey(mk, ms, LABEL_RTCP_SALT, 14);
    this.rtcpAuth = new HmacSha1(deriveSessionKey(mk, ms, LABEL_RTCP_AUTH, 20));
    this.rtpCm = new AesCm(ecb(deriveSessionKey(mk, ms, LABEL_RTP_ENCRYPTION, 16)), this.rtpSalt);
    this.rtcpCm = new AesCm(ecb(deriveSessionKey(mk, ms, LABEL_RTCP_ENCRYPTION, 16)), this.rtcpSalt);
  }

  // ---- SRTP -----------------------------------------------------------------------------

  /**
   * Encrypts the RTP packet in buf[0, length) in place and appends the tag; returns the SRTP
   * length (length + tagLength). buf must have room for the tag. The ROC follows the sequence
   * numbers given (one sender per context, sequence numbers in order).
   */
  protectRtp(buf: Buffer, length: number): number {
    const hdr = rtpHeaderLength(buf, length);
    if (hdr < 0) throw new RangeError('not an RTP packet');
    const seq = buf.readUInt16BE(2);
    if (this.txSeq >= 0 && seq < this.txSeq && this.txSeq - seq > 0x8000) this.txRoc = (this.txRoc + 1) >>> 0;
    this.txSeq = seq;
    const ssrc = buf.readUInt32BE(8);
    this.rtpCm.rtp(ssrc, this.txRoc, seq, buf, hdr, length);
    this.rtpAuth.mac(buf, length, this.roc(this.txRoc), MAC, 0);
    // A byte loop: mac.subarray() + set() was an object and a builtin call per packet.
    for (let i = 0; i < this.tagLength; i++) buf[length + i] = MAC[i]!;
    return length + this.tagLength;
  }

  /**
   * Authenticates, replay-checks and decrypts the SRTP packet in buf in place. Returns the RTP
   * length (the plaintext is buf[0, n)), or SRTP_MALFORMED / SRTP_AUTH_FAILED / SRTP_REPLAYED.
   */
  unprotectRtp(buf: Buffer): number {
    const length = buf.length - this.tagLength;
    const hdr = rtpHeaderLength(buf, length);
    if (hdr < 0) return SRTP_MALFORMED;
    const seq = buf.readUInt16BE(2);
    const ssrc = buf.readUInt32BE(8);
    const known = ssrc === this.lastSsrc ? this.lastStream : this.streams.get(ssrc);
    // A stream's first packet sets s_l (§3.3.1) once it authenticates.
    const s = known ?? newStream(seq);
    const v = estimateRoc(s.roc, s.seq, seq);
    if (v < 0) return SRTP_REPLAYED; // before the first rollover: nothing can be that old
    const index = v * 0x10000 + seq;
    if (known && replayed(s, index)) return SRTP_REPLAYED;
    this.rtpAuth.mac(buf, length, this.roc(v), MAC, 0);
    if (!sameTag(MAC, buf, length, this.tagLength)) return SRTP_AUTH_FAILED;
    this.rtpCm.rtp(ssrc, v, seq, buf, hdr, length);
    // §3.3.1 update, after authentication only.
    if (v === s.roc) {
      if (seq > s.seq) s.seq = seq;
    } else if (v === s.roc + 1) {
      s.roc = v;
      s.seq = seq;
    }
    remember(s, index);
    if (!known) this.addStream(this.streams, ssrc, s);
    // Set after addStream: an eviction there never leaves the cache on an evicted stream.
    this.lastSsrc = ssrc;
    this.lastStream = s;
    return length;
  }

  // ---- SRTCP ----------------------------------------------------------------------------

  /**
   * The SRTCP packet for a (compound) RTCP packet: everything after the first header and SSRC
   * encrypted, E flag and index appended, then the 80-bit tag (RFC 4568 §6.2: SRTCP keeps 80
   * bits with the _32 suite too). RTCP is rare: this allocates.
   */
  protectRtcp(rtcp: Uint8Array): Buffer {
    if (rtcp.length < 8) throw new RangeError('not an RTCP packet');
    const out = Buffer.allocUnsafe(rtcp.length + SRTCP_TRAILER);
    out.set(rtcp, 0);
    this.txRtcpIndex = (this.txRtcpIndex + 1) & 0x7fffffff;
    const index = this.txRtcpIndex;
    const ssrc = out.readUInt32BE(4);
    this.rtcpCm.rtcp(ssrc, index, out, 8, rtcp.length);
    out.writeUInt32BE((0x80000000 | index) >>> 0, rtcp.length);
    const authEnd = rtcp.length + 4;
    this.rtcpAuth.mac(out, authEnd, undefined, MAC, 0);
    out.set(MAC.subarray(0, 10), authEnd);
    return out;
  }

  /** The RTCP packet in an SRTCP datagram (decrypted in place), or a negative reason. */
  unprotectRtcp(buf: Buffer): Buffer | number {
    if (buf.length < 8 + SRTCP_TRAILER) return SRTP_MALFORMED;
    const authEnd = buf.length - 10;
    this.rtcpAuth.mac(buf, authEnd, undefined, MAC, 0);
    if (!sameTag(MAC, buf, authEnd, 10)) return SRTP_AUTH_FAILED;
    const word = buf.readUInt32BE(authEnd - 4);
    const encrypted = (word & 0x80000000) !== 0;
    const index = word & 0x7fffffff;
    const ssrc = buf.readUInt32BE(4);
    const known = this.rtcpStreams.get(ssrc);
    const s = known ?? newStream(0);
    if (known && replayed(s, index)) return SRTP_REPLAYED;
    const end = authEnd - 4;
    if (encrypted) this.rtcpCm.rtcp(ssrc, index, buf, 8, end);
    remember(s, index);
    if (!known) this.addStream(this.rtcpStreams, ssrc, s);
    return buf.subarray(0, end);
  }

  // ---- internals ------------------------------------------------------------------------

  /** The ROC as the 4 big-endian bytes HMAC'd after the packet (ROC_BYTES, rewritten). */
  private roc(v: number): Uint8Array {
    const b = ROC_BYTES;
    b[0] = v >>> 24;
    b[1] = (v >>> 16) & 0xff;
    b[2] = (v >>> 8) & 0xff;
    b[3] = v & 0xff;
    return b;
  }

  private addStream(map: Map<number, StreamState>, ssrc: number, s: StreamState): void {
    if (map.size >= MAX_STREAMS) map.delete(map.keys().next().value!);
    map.set(ssrc, s);
  }
}

/** mac[0, n) equals buf[at, at + n), in time independent of where they differ. */
function sameTag(mac: Uint8Array, buf: Uint8Array, at: number, n: number): boolean {
  if (buf.length - at !== n) return false;
  let diff = 0;
  for (let i = 0; i < n; i++) diff |= mac[i]! ^ buf[at + i]!;
  return diff === 0;
}

function ecb(key: Buffer): Cipher {
  const c = createCipheriv('aes-128-ecb', key, null);
  c.setAutoPadding(false);
  return c;
}

/** RTP header length (fixed part, CSRCs, extension) or -1 when the packet is too short for it. */
function rtpHeaderLength(buf: Buffer, length: number): number {
  if (length < 12 || buf[0]! >> 6 !== 2) return -1;
  let h = 12 + 4 * (buf[0]! & 0x0f);
  if (buf[0]! & 0x10) {
    if (length < h + 4) return -1;
    h += 4 + 4 * buf.readUInt16BE(h + 2);
  }
  return h > length ? -1 : h;
}

/** RFC 3711 §3.3.1 / Appendix A: the ROC of a received SEQ given ROC and s_l. May be -1. */
export function estimateRoc(roc: number, sl: number, seq: number): number {
  if (sl < 0x8000) return seq - sl > 0x8000 ? roc - 1 : roc;
  return sl - 0x8000 > seq ? roc + 1 : roc;
}

/** The key||salt of an SDES `inline:` key parameter (RFC 4568 §6.1), or undefined. */
export function parseSdesKey(inline: string): Buffer | undefined {
  // inline:<base64 key||salt>[|lifetime][|MKI:length]; lifetimes are accepted and ignored (keys
  // live for the call), an MKI is not supported.
  const m = /^inline:([A-Za-z0-9+/]+={0,2})(\|[^|]*)?(\|[^|]*)?$/.exec(inline);
  if (!m) return undefined;
  const parts = [m[2], m[3]].filter((p): p is string => p !== undefined).map((p) => p.slice(1));
  if (parts.some((p) => p.includes(':'))) return undefined; // MKI
  if (parts.some((p) => !/^(2\^\d+|\d+)$/.test(p))) return undefined;
  const key = Buffer.from(m[1]!, 'base64');
  return key.length === SRTP_MASTER_KEY_LENGTH + SRTP_MASTER_SALT_LENGTH ? key : undefined;
}

/** The SDES key parameter for a 30-byte key||salt. */
export function formatSdesKey(key: Uint8Array): string {
  return `inline:${Buffer.from(key).toString('base64')}`;
}
