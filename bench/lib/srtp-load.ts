// The media bench's SRTP load side (kind callchart-srtp). A softphone encrypts every packet it
// sends and checks every packet it gets; the bench's load processes doing that inside the measured
// window share this 2-core box with the server under test, and on it they cost about as much CPU
// as the server's own SRTP work (stop 33: load 43–48 % of a core at 250 SRTP calls against 31–36 %
// for plain RTP), so the SRTP ladder measured the load generator as much as the server.
// Light mode (the default) keeps the wire the same — every packet real SRTP, every echo's marker
// read through the server's keystream — and moves the load's own work out of the way:
// - each call's packets for a whole step are encrypted (and tagged) before the step starts;
// - per echo, only the AES block that holds the marker is decrypted, and one echo in AUTH_EVERY
//   per call goes through a full unprotect (tag, replay window, decryption): a server whose tags or
//   keystream were wrong loses those echoes and fails the step.
// MEDIA_BENCH_SRTP_LOAD=full: encrypt and check every packet inside the window, as before.
import { createCipheriv } from 'node:crypto';
import { SrtpContext, deriveSessionKey, estimateRoc, type SrtpSuite } from '../../src/media/rtp/srtp.js';
import { AesCm } from '../../src/media/rtp/aes-cm.js';
import { readMarker, writeMarker } from './rtp-marker.js';

export type SrtpLoadMode = 'light' | 'full';
export const SRTP_LOAD_MODE: SrtpLoadMode = process.env.MEDIA_BENCH_SRTP_LOAD === 'full' ? 'full' : 'light';

/** One echo in this many (per call) is fully authenticated in light mode. */
const AUTH_EVERY = 16;
/** RFC 3711 §4.3.1 labels: RTP encryption key and salt. */
const LABEL_RTP_ENCRYPTION = 0;
const LABEL_RTP_SALT = 2;

export interface CallStart {
  seq: number;
  ts: number;
}

/** SRTP for one load process's calls: prepared sends and checked echoes. */
export class SrtpLoad {
  readonly tag: number;
  /** Echoes dropped by a full unprotect (bad tag, replay, malformed). */
  authFailed = 0;
  private readonly tx: SrtpContext[];
  private readonly rx: SrtpContext[];
  /** Light mode: per call, the server's keystream (for the marker block) and its ROC / s_l. */
  private readonly cm: AesCm[] = [];
  private readonly roc: Int32Array;
  private readonly sl: Int32Array;
  private readonly echoes: Uint32Array;
  /** Light mode: per call, every packet of the step, encrypted, back to back. */
  private readonly prepared: Buffer[] = [];
  private readonly used: Uint32Array;

  constructor(
    readonly mode: SrtpLoadMode,
    suite: SrtpSuite,
    clientKey: Buffer,
    serverKey: Buffer,
    calls: number,
  ) {
    this.tx = Array.from({ length: calls }, () => new SrtpContext(suite, clientKey));
    this.rx = Array.from({ length: calls }, () => new SrtpContext(suite, serverKey));
    this.tag = this.tx[0]?.tagLength ?? 10;
    this.roc = new Int32Array(calls);
    this.sl = new Int32Array(calls).fill(-1);
    this.echoes = new Uint32Array(calls);
    this.used = new Uint32Array(calls);
    if (mode === 'light') {
      const mk = serverKey.subarray(0, 16);
      const ms = serverKey.subarray(16);
      for (let i = 0; i < calls; i++) {
        const aes = createCipheriv('aes-128-ecb', deriveSessionKey(mk, ms, LABEL_RTP_ENCRYPTION, 16), null);
        aes.setAutoPadding(false);
        this.cm.push(new AesCm(aes, deriveSessionKey(mk, ms, LABEL_RTP_SALT, 14)));
      }
    }
  }

  get calls(): number {
    return this.tx.length;
  }

  /**
   * Light mode: encrypt `count` packets per call ahead, as the send loop would make them
   * (`template(i)` is call i's RTP packet of `length` bytes; seq, timestamp and marker are rewritten).
   */
  prepare(starts: CallStart[], template: (i: number) => Buffer, count: number, length: number, frame: number): void {
    if (this.mode !== 'light') return;
    const stride = length + this.tag;
    for (let i = 0; i < starts.length; i++) {
      const s = starts[i]!;
      const t = template(i);
      const all = Buffer.allocUnsafe(count * stride);
      for (let p = 0; p < count; p++) {
        const at = p * stride;
        t.copy(all, at, 0, length);
        const b = all.subarray(at, at + stride);
        const seq = (s.seq + p) & 0xffff;
        b.writeUInt16BE(seq, 2);
        b.writeUInt32BE((s.ts + p * frame) >>> 0, 4);
        writeMarker(b, 12, seq);
        this.tx[i]!.protectRtp(b, length);
      }
      this.prepared[i] = all;
    }
  }

  /**
   * The SRTP bytes of call i's next packet: [buf, offset, length] of a prepared packet, or
   * `b` (seq, timestamp and marker already written) encrypted in place.
   */
  next(i: number, b: Buffer, length: number): [Buffer, number, number] {
    const all = this.prepared[i];
    const stride = length + this.tag;
    if (all) {
      const p = this.used[i]!++;
      if ((p + 1) * stride <= all.length) return [all, p * stride, stride];
    }
    // Full mode, or past the prepared packets (a step that ran long): encrypt now.
    b.fill(0xff, 12 + 4, length);
    return [b, 0, this.tx[i]!.protectRtp(b, length)];
  }

  /** The load marker of call i's echo, or -1 (dropped: not ours, or failed authentication). */
  marker(i: number, msg: Buffer): number {
    if (this.mode === 'full' || ++this.echoes[i]! % AUTH_EVERY === 0) {
      if (this.rx[i]!.unprotectRtp(msg) < 0) {
        this.authFailed++;
        return -1;
      }
      return readMarker(msg, 12);
    }
    if (msg.length < 12 + 4 + this.tag || msg[0] !== 0x80) return -1; // version 2, no padding, CSRC or extension: the server's echo
    const seq = msg.readUInt16BE(2);
    const sl = this.sl[i]!;
    const roc = this.roc[i]!;
    const v = sl < 0 ? 0 : estimateRoc(roc, sl, seq);
    if (v < 0) return -1;
    if (sl < 0 || v > roc || (v === roc && seq > sl)) {
      this.roc[i] = v;
      this.sl[i] = seq;
    }
    this.cm[i]!.rtp(msg.readUInt32BE(8), v, seq, msg, 12, 16);
    return readMarker(msg, 12);
  }
}
