// The two SRTP contexts of one RTP session (ours to send, the peer's to receive) and what the
// receive side dropped. Kept out of session.ts so the per-packet path there stays one call.
import { SrtpContext, SRTP_MALFORMED, SRTP_REPLAYED, type SrtpSuite } from './srtp.js';

export interface SrtpKeys {
  suite: SrtpSuite;
  /** Our key||salt (30 bytes): protects what we send. */
  localKey: Uint8Array;
  /** The peer's key||salt: authenticates and decrypts what we receive. */
  remoteKey: Uint8Array;
}

export class SrtpPair {
  readonly tx: SrtpContext;
  readonly rx: SrtpContext;
  authFailed = 0;
  replayed = 0;
  /** Too short to be SRTP/SRTCP (e.g. a plain RTCP packet some peers send before their SRTCP). */
  malformed = 0;
  private readonly txKey: Buffer;
  private readonly rxKey: Buffer;

  /**
   * `prev`: the pair these keys replace. A side whose suite and key are unchanged keeps its
   * context (a re-INVITE repeating a key keeps ROC and replay state); a new key starts afresh.
   */
  constructor(keys: SrtpKeys, prev?: SrtpPair) {
    this.txKey = Buffer.from(keys.localKey);
    this.rxKey = Buffer.from(keys.remoteKey);
    const same = (ctx: SrtpContext | undefined, old: Buffer | undefined, key: Buffer): boolean =>
      ctx !== undefined && ctx.suite === keys.suite && old !== undefined && old.equals(key);
    this.tx = prev && same(prev.tx, prev.txKey, this.txKey) ? prev.tx : new SrtpContext(keys.suite, this.txKey);
    this.rx = prev && same(prev.rx, prev.rxKey, this.rxKey) ? prev.rx : new SrtpContext(keys.suite, this.rxKey);
    if (prev && this.rx === prev.rx) {
      this.authFailed = prev.authFailed;
      this.replayed = prev.replayed;
      this.malformed = prev.malformed;
    }
  }

  get suite(): SrtpSuite {
    return this.tx.suite;
  }

  /** Counts a dropped packet; true for the session's first (worth one log line). */
  dropped(reason: number): boolean {
    if (reason === SRTP_REPLAYED) this.replayed++;
    else if (reason === SRTP_MALFORMED) this.malformed++;
    else this.authFailed++;
    return this.authFailed + this.replayed + this.malformed === 1;
  }

  stats(): { suite: SrtpSuite; authFailed: number; replayed: number; malformed: number } {
    return { suite: this.suite, authFailed: this.authFailed, replayed: this.replayed, malformed: this.malformed };
  }
}
