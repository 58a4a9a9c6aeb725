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

/** Earlier pairs an RTP session keeps for keys that may come back. */
const PAIRS_KEPT = 4;

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
   * `prev`: the pairs these keys replace, latest first. A side whose suite and key one of them had
   * keeps that context (a re-INVITE repeating a key, or a forked call returning to a branch's keys,
   * keeps ROC and replay state: a fresh context would restart the ROC, and once the sequence
   * numbers had wrapped, repeat packet indices under the same key); a new key starts afresh.
   */
  constructor(keys: SrtpKeys, prev: readonly SrtpPair[] = []) {
    this.txKey = Buffer.from(keys.localKey);
    this.rxKey = Buffer.from(keys.remoteKey);
    const fits = (ctx: SrtpContext, old: Buffer, key: Buffer): boolean => ctx.suite === keys.suite && old.equals(key);
    this.tx = prev.find((p) => fits(p.tx, p.txKey, this.txKey))?.tx ?? new SrtpContext(keys.suite, this.txKey);
    const rxFrom = prev.find((p) => fits(p.rx, p.rxKey, this.rxKey));
    this.rx = rxFrom?.rx ?? new SrtpContext(keys.suite, this.rxKey);
    if (rxFrom) {
      this.authFailed = rxFrom.authFailed;
      this.replayed = rxFrom.replayed;
      this.malformed = rxFrom.malformed;
    }
  }

  /** The pairs to keep after `current` is replaced, latest first (a few: a forked call's branches). */
  static retire(current: SrtpPair | null, before: readonly SrtpPair[]): readonly SrtpPair[] {
    return current ? [current, ...before.filter((p) => p !== current)].slice(0, PAIRS_KEPT) : before;
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
