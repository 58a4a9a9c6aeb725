// RTP fixed header codec (RFC 3550 §5.1) and sequence/timestamp arithmetic.
// The parse path can fill a caller-owned object so the receive loop allocates nothing per
// packet; the payload is a view into the datagram, never a copy.

export const RTP_VERSION = 2;
export const RTP_HEADER_SIZE = 12;

export interface RtpHeader {
  marker: boolean;
  payloadType: number;
  sequenceNumber: number;
  timestamp: number;
  ssrc: number;
  /** Contributing sources, at most 15. */
  csrc?: readonly number[];
  /** RFC 3550 §5.3.1 header extension; data length must be a multiple of 4. */
  extension?: { profile: number; data: Buffer } | null;
  /** Pad the packet so its total length is a multiple of this (e.g. 4 for SRTP-style alignment). */
  padTo?: number;
}

export interface RtpPacket {
  version: number;
  padding: boolean;
  extension: boolean;
  marker: boolean;
  payloadType: number;
  sequenceNumber: number;
  timestamp: number;
  ssrc: number;
  csrc: number[];
  extensionProfile: number;
  /** View of the extension words (without the 4-byte extension header); empty when absent. */
  extensionData: Buffer;
  /** View of the payload with padding removed. */
  payload: Buffer;
  paddingLength: number;
}

const EMPTY: Buffer = Buffer.alloc(0);

export function createRtpPacket(): RtpPacket {
  return {
    version: RTP_VERSION,
    padding: false,
    extension: false,
    marker: false,
    payloadType: 0,
    sequenceNumber: 0,
    timestamp: 0,
    ssrc: 0,
    csrc: [],
    extensionProfile: 0,
    extensionData: EMPTY,
    payload: EMPTY,
    paddingLength: 0,
  };
}

/**
 * Parse into `out` (reused across packets by the receive loop). Returns false for anything that
 * is not a well-formed RTP v2 packet: short buffer, wrong version, CSRC/extension running past the
 * end, or a padding count that is zero or larger than what follows the header. `len` (default
 * the whole buffer) parses buf[0, len) only: an SRTP packet decrypted in place, without its tag.
 */
export function parseRtpInto(buf: Buffer, out: RtpPacket, len = buf.length): boolean {
  if (len > buf.length) return false;
  if (len < RTP_HEADER_SIZE) return false;
  const b0 = buf[0]!;
  const version = b0 >>> 6;
  if (version !== RTP_VERSION) return false;
  const padding = (b0 & 0x20) !== 0;
  const hasExt = (b0 & 0x10) !== 0;
  const cc = b0 & 0x0f;
  const b1 = buf[1]!;

  let offset = RTP_HEADER_SIZE + cc * 4;
  if (offset > len) return false;

  let extProfile = 0;
  let extData = EMPTY;
  if (hasExt) {
    if (offset + 4 > len) return false;
    extProfile = buf.readUInt16BE(offset);
    const words = buf.readUInt16BE(offset + 2);
    const extEnd = offset + 4 + words * 4;
    if (extEnd > len) return false;
    extData = buf.subarray(offset + 4, extEnd);
    offset = extEnd;
  }

  let end = len;
  let padLen = 0;
  if (padding) {
    padLen = buf[len - 1]!;
    // A zero pad count is meaningless (the count byte itself is padding), and a count reaching
    // into the header means the packet is corrupt or encrypted with the wrong context.
    if (padLen === 0 || offset + padLen > len) return false;
    end = len - padLen;
  }

  out.version = version;
  out.padding = padding;
  out.extension = hasExt;
  out.marker = (b1 & 0x80) !== 0;
  out.payloadType = b1 & 0x7f;
  out.sequenceNumber = buf.readUInt16BE(2);
  out.timestamp = buf.readUInt32BE(4);
  out.ssrc = buf.readUInt32BE(8);
  // Resizing an array is a generic store even when the length is unchanged: skip it (cc is 0 almost always).
  if (out.csrc.length !== cc) out.csrc.length = cc;
  for (let i = 0; i < cc; i++) out.csrc[i] = buf.readUInt32BE(RTP_HEADER_SIZE + i * 4);
  out.extensionProfile = extProfile;
  out.extensionData = extData;
  out.payload = buf.subarray(offset, end);
  out.paddingLength = padLen;
  return true;
}

export function parseRtp(buf: Buffer): RtpPacket | null {
  const pkt = createRtpPacket();
  return parseRtpInto(buf, pkt) ? pkt : null;
}

/** Bytes needed to serialise `header` + a payload of `payloadLength` bytes. */
export function rtpPacketSize(header: RtpHeader, payloadLength: number): number {
  const cc = header.csrc ? header.csrc.length : 0;
  const ext = header.extension ? 4 + header.extension.data.length : 0;
  const base = RTP_HEADER_SIZE + cc * 4 + ext + payloadLength;
  const padTo = header.padTo ?? 0;
  if (padTo > 1 && base % padTo !== 0) return base + (padTo - (base % padTo));
  return base;
}

/**
 * Serialise into `out` when given (must be large enough) or into a fresh buffer. Returns the view
 * of exactly the packet bytes.
 */
export function writeRtp(header: RtpHeader, payload: Uint8Array, out?: Buffer): Buffer {
  const cc = header.csrc ? header.csrc.length : 0;
  if (cc > 15) throw new RangeError('RTP allows at most 15 CSRCs');
  const ext = header.extension ?? null;
  if (ext && ext.data.length % 4 !== 0) throw new RangeError('RTP header extension length must be a multiple of 4');
  const size = rtpPacketSize(header, payload.length);
  const unpadded = RTP_HEADER_SIZE + cc * 4 + (ext ? 4 + ext.data.length : 0) + payload.length;
  const padLen = size - unpadded;
  if (padLen > 255) throw new RangeError('RTP padding longer than 255 bytes');
  const buf = out ?? Buffer.allocUnsafe(size);
  if (buf.length < size) throw new RangeError(`RTP output buffer too small: need ${size}, have ${buf.length}`);

  buf[0] = (RTP_VERSION << 6) | (padLen > 0 ? 0x20 : 0) | (ext ? 0x10 : 0) | cc;
  buf[1] = (header.marker ? 0x80 : 0) | (header.payloadType & 0x7f);
  buf.writeUInt16BE(header.sequenceNumber & 0xffff, 2);
  buf.writeUInt32BE(header.timestamp >>> 0, 4);
  buf.writeUInt32BE(header.ssrc >>> 0, 8);
  let off = RTP_HEADER_SIZE;
  for (let i = 0; i < cc; i++, off += 4) buf.writeUInt32BE(header.csrc![i]! >>> 0, off);
  if (ext) {
    buf.writeUInt16BE(ext.profile & 0xffff, off);
    buf.writeUInt16BE(ext.data.length / 4, off + 2);
    ext.data.copy(buf, off + 4);
    off += 4 + ext.data.length;
  }
  buf.set(payload, off);
  off += payload.length;
  if (padLen > 0) {
    buf.fill(0, off, off + padLen - 1);
    buf[off + padLen - 1] = padLen;
  }
  return buf.length === size ? buf : buf.subarray(0, size);
}

/**
 * Fast path for the common case (no CSRC/extension/padding): writes the 12-byte header at the
 * start of `out`. The caller places the payload at offset 12.
 */
export function writeRtpHeader(
  out: Buffer,
  marker: boolean,
  payloadType: number,
  sequenceNumber: number,
  timestamp: number,
  ssrc: number,
): void {
  out[0] = RTP_VERSION << 6;
  out[1] = (marker ? 0x80 : 0) | (payloadType & 0x7f);
  out.writeUInt16BE(sequenceNumber & 0xffff, 2);
  out.writeUInt32BE(timestamp >>> 0, 4);
  out.writeUInt32BE(ssrc >>> 0, 8);
}

// ---- sequence numbers and timestamps -------------------------------------------------------

export const SEQ_MOD = 0x10000;

/** Signed distance a − b in 16-bit sequence space, in [-32768, 32767]. */
export function seqDelta(a: number, b: number): number {
  return (((a - b) & 0xffff) << 16) >> 16;
}

/** True when `a` comes after `b` taking 16-bit wrap into account. */
export function seqNewer(a: number, b: number): boolean {
  return seqDelta(a, b) > 0;
}

export function seqNext(seq: number, n = 1): number {
  return (seq + n) & 0xffff;
}

/**
 * Extend a 16-bit sequence number to the extended (cycles × 65536 + seq) value closest to
 * `reference`, the highest extended sequence seen so far. Works for packets slightly before or
 * after the reference, which is what a reorder window needs.
 */
export function extendSeq(reference: number, seq: number): number {
  const cand = reference + seqDelta(seq, reference & 0xffff);
  return cand < 0 ? cand + SEQ_MOD : cand;
}

/** Signed distance a − b in 32-bit RTP timestamp space. */
export function tsDelta(a: number, b: number): number {
  return (a - b) | 0;
}

export function tsNewer(a: number, b: number): boolean {
  return tsDelta(a, b) > 0;
}

export function tsAdd(ts: number, n: number): number {
  return (ts + n) >>> 0;
}
