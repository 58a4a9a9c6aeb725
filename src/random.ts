// Cryptographically random bytes for per-call identifiers (SIP tags and branches, RTP SSRC,
// sequence and timestamp), drawn from a pooled buffer. Each randomBytes() call crosses into C++
// and costs microseconds whatever its size; at thousands of calls/s the handful of 4-12 byte draws
// per call added up. The pool is refilled from the same CSPRNG in 4 KB blocks (node's own
// randomUUID() caches entropy the same way) and every byte is handed out once.
import { randomFillSync } from 'node:crypto';

const POOL_SIZE = 4096;
const pool = Buffer.alloc(POOL_SIZE);
let offset = POOL_SIZE;

function take(n: number): number {
  if (offset + n > POOL_SIZE) {
    randomFillSync(pool);
    offset = 0;
  }
  const at = offset;
  offset += n;
  return at;
}

/** `bytes` random bytes as lowercase hex (2 chars per byte). */
export function randomHex(bytes: number): string {
  const at = take(bytes);
  return pool.toString('hex', at, at + bytes);
}

/** A random unsigned 32-bit integer. */
export function randomUint32(): number {
  return pool.readUInt32BE(take(4));
}

/** A random unsigned 16-bit integer. */
export function randomUint16(): number {
  return pool.readUInt16BE(take(2));
}

const HEX = Buffer.from('0123456789abcdef', 'latin1');
const uuidText = Buffer.alloc(36);

/**
 * A random (version 4) UUID as one flat string. node:crypto's randomUUID() builds its result with
 * `+` and returns a cons string, which V8 flattens into a second copy behind it once the id is
 * hashed as a table key; a call keeps its id for life, so the id is written into a buffer and read
 * out as one 36-character string (−60 B per live call in `npm run bench -- inbound-heap`).
 */
export function randomUuid(): string {
  const at = take(16);
  let j = 0;
  for (let i = 0; i < 16; i++) {
    if (i === 4 || i === 6 || i === 8 || i === 10) uuidText[j++] = 0x2d;
    let b = pool[at + i];
    if (i === 6) b = (b & 0x0f) | 0x40; // version 4
    else if (i === 8) b = (b & 0x3f) | 0x80; // RFC 9562 variant
    uuidText[j++] = HEX[b >> 4];
    uuidText[j++] = HEX[b & 15];
  }
  return uuidText.toString('latin1', 0, 36);
}
