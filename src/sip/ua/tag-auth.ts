// Self-authenticating From tags for the INVITEs we send (RFC 3261 §13.2.2.4, RFC 6026): a 2xx
// that comes after the call is forgotten still needs its ACK and a BYE, and its From tag is all
// that tells us the INVITE was ours. The tag is a random part (as generateTag's, from the pooled
// CSPRNG) followed by a truncated HMAC-SHA256 of that part and the Call-ID under a secret drawn
// per user agent at start: checking it needs no memory of the call, and nobody without the secret
// can make a tag that passes (so a 2xx we never asked for cannot make us send anything).
//
// Lowercase hex only: a SIP token whatever the case rules of the middleboxes in between, 28
// characters. SIP worker threads share one secret (workers/router.ts), so a late 2xx verifies in
// whichever thread its Call-ID is routed to. After a restart the secret is new: a 2xx to an INVITE
// of the previous process is dropped, as all stray responses were before.
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { randomHex } from '../../random.js';

/** The random part: 8 bytes, as an unsigned tag (generateTag). */
const RANDOM_BYTES = 8;
const RANDOM_CHARS = RANDOM_BYTES * 2;
/** 48 bits of MAC: a forger's guess passes once in 2^48. */
const MAC_CHARS = 12;
export const SIGNED_TAG_LENGTH = RANDOM_CHARS + MAC_CHARS;
const HEX_RE = /^[0-9a-f]+$/;

export class TagSigner {
  private readonly secret: Buffer;

  /** `secret`: at least 16 bytes (default 32 fresh random bytes). */
  constructor(secret?: Uint8Array) {
    if (secret !== undefined && secret.length < 16) throw new Error('tag secret must have at least 16 bytes');
    this.secret = secret ? Buffer.from(secret) : randomBytes(32);
  }

  /** A fresh From tag for an INVITE with this Call-ID. */
  sign(callId: string): string {
    const random = randomHex(RANDOM_BYTES);
    return random + this.mac(random, callId);
  }

  /** Whether `tag` is one sign() made for this Call-ID (constant time in the MAC). */
  verify(tag: string, callId: string): boolean {
    if (tag.length !== SIGNED_TAG_LENGTH || !HEX_RE.test(tag)) return false;
    const expected = Buffer.from(this.mac(tag.slice(0, RANDOM_CHARS), callId), 'latin1');
    return timingSafeEqual(expected, Buffer.from(tag.slice(RANDOM_CHARS), 'latin1'));
  }

  // (The random part has a fixed length, so random + Call-ID is unambiguous without a separator.)
  private mac(random: string, callId: string): string {
    return createHmac('sha256', this.secret).update(random).update(callId).digest('hex').slice(0, MAC_CHARS);
  }
}
