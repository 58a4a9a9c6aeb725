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
