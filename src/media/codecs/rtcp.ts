// RTCP compound packets (RFC 3550 §6.4–6.6): SR, RR, SDES, BYE. RTCP is ~1 packet per 5 s per
// stream, so clarity wins over allocation-avoidance here.

export const RTCP_SR = 200;
export const RTCP_RR = 201;
export const RTCP_SDES = 202;
export const RTCP_BYE = 203;
export const RTCP_APP = 204;

const SDES_END = 0;
const SDES_CNAME = 1;

export interface ReportBlock {
  ssrc: number;
  /** Fraction lost since the previous report, fixed point /256. */
  fractionLost: number;
  /** Cumulative packets lost (signed 24-bit: duplicates can drive it negative). */
  cumulativeLost: number;
  extendedHighestSeq: number;
  /** Interarrival jitter in RTP timestamp units. */
  jitter: number;
  /** Middle 32 bits of the NTP timestamp of the last SR received from this source, 0 if none. */
  lsr: number;
  /** Delay since that SR, in 1/65536 s. */
  dlsr: number;
}

export interface SenderReport {
  type: 'SR';
  ssrc: number;
  ntpSeconds: number;
  ntpFraction: number;
  rtpTimestamp: number;
  packetCount: number;
  octetCount: number;
  reports: ReportBlock[];
}

export interface ReceiverReport {
  type: 'RR';
  ssrc: number;
  reports: ReportBlock[];
}

export interface SdesChunk {
  ssrc: number;
  cname?: string;
  /** Other items by SDES type number (NAME=2, EMAIL=3, …), kept verbatim. */
  items?: Record<number, string>;
}

export interface SourceDescription {
  type: 'SDES';
  chunks: SdesChunk[];
}

export interface Bye {
  type: 'BYE';
  ssrcs: number[];
  reason?: string;
}

/** Anything we do not interpret (APP, RTPFB/PSFB feedback, XR); carried so callers can log it. */
export interface OtherRtcp {
  type: 'OTHER';
  packetType: number;
  count: number;
  body: Buffer;
}

export type RtcpPacket = SenderReport | ReceiverReport | SourceDescription | Bye | OtherRtcp;

// ---- NTP time -------------------------------------------------------------------------------

/** Seconds between the NTP epoch (1900) and the Unix epoch (1970). */
export const NTP_UNIX_OFFSET = 2208988800;

export interface NtpTime {
  seconds: number;
  fraction: number;
}

/** Convert a Unix time in milliseconds (from an injected clock) to a 64-bit NTP timestamp. */
export function ntpFromUnixMs(unixMs: number): NtpTime {
  const totalSec = unixMs / 1000 + NTP_UNIX_OFFSET;
  const seconds = Math.floor(totalSec);
  const fraction = Math.floor((totalSec - seconds) * 0x100000000);
  return { seconds: seconds >>> 0, fraction: Math.min(fraction, 0xffffffff) >>> 0 };
}

/** Inverse of ntpFromUnixMs; assumes NTP era 0 (until 2036). */
export function ntpToUnixMs(ntp: NtpTime): number {
  return (ntp.seconds - NTP_UNIX_OFFSET) * 1000 + (ntp.fraction / 0x100000000) * 1000;
}

/** The "compact" middle 32 bits used by LSR/DLSR: 16.16 fixed point seconds. */
export function ntpMiddle32(ntp: NtpTime): number {
  return (((ntp.seconds & 0xffff) << 16) | (ntp.fraction >>> 16)) >>> 0;
}

/**
 * Round-trip time per RFC 3550 §6.4.1: A − LSR − DLSR, where A is the arrival time of the report
 * in compact NTP. Returns milliseconds, or null when the peer has not seen an SR from us yet
 * (LSR 0) or the result is implausible (clock jump, bogus peer).
 */
export function roundTripMs(arrivalCompact: number, lsr: number, dlsr: number): number | null {
  if (lsr === 0) return null;
  const rtt = (arrivalCompact - lsr - dlsr) >>> 0;
  // Anything over ~1 hour in 16.16 means the subtraction wrapped negative.
  if (rtt > 3600 * 65536) return null;
  return (rtt / 65536) * 1000;
}

// ---- build ----------------------------------------------------------------------------------

function writeHeader(buf: Buffer, off: number, count: number, pt: number, lengthBytes: number): void {
  buf[off] = 0x80 | (count & 0x1f);
  buf[off + 1] = pt;
  buf.writeUInt16BE(lengthBytes / 4 - 1, off + 2);
}

function writeReportBlock(buf: Buffer, off: number, rb: ReportBlock): void {
  buf.writeUInt32BE(rb.ssrc >>> 0, off);
  buf[off + 4] = Math.max(0, Math.min(255, rb.fractionLost | 0));
  // Clamp to the signed 24-bit range, as A.3 asks, before packing.
  const lost = Math.max(-0x800000, Math.min(0x7fffff, rb.cumulativeLost | 0));
  buf.writeUIntBE(lost & 0xffffff, off + 5, 3);
  buf.writeUInt32BE(rb.extendedHighestSeq >>> 0, off + 8);
  buf.writeUInt32BE(Math.max(0, Math.round(rb.jitter)) >>> 0, off + 12);
  buf.writeUInt32BE(rb.lsr >>> 0, off + 16);
  buf.writeUInt32BE(rb.dlsr >>> 0, off + 20);
}

function encodeOne(p: RtcpPacket): Buffer {
  switch (p.type) {
    case 'SR': {
      if (p.reports.length > 31) throw new RangeError('at most 31 report blocks per SR');
      const len = 28 + 24 * p.reports.length;
      const buf = Buffer.alloc(len);
      writeHeader(buf, 0, p.reports.length, RTCP_SR, len);
      buf.writeUInt32BE(p.ssrc >>> 0, 4);
      buf.writeUInt32BE(p.ntpSeconds >>> 0, 8);
      buf.writeUInt32BE(p.ntpFraction >>> 0, 12);
      buf.writeUInt32BE(p.rtpTimestamp >>> 0, 16);
      buf.writeUInt32BE(p.packetCount >>> 0, 20);
      buf.writeUInt32BE(p.octetCount >>> 0, 24);
      p.reports.forEach((rb, i) => writeReportBlock(buf, 28 + 24 * i, rb));
      return buf;
    }
    case 'RR': {
      if (p.reports.length > 31) throw new RangeError('at most 31 report blocks per RR');
      const len = 8 + 24 * p.reports.length;
      const buf = Buffer.alloc(len);
      writeHeader(buf, 0, p.reports.length, RTCP_RR, len);
      buf.writeUInt32BE(p.ssrc >>> 0, 4);
      p.reports.forEach((rb, i) => writeReportBlock(buf, 8 + 24 * i, rb));
      return buf;
    }
    case 'SDES': {
      const parts: Buffer[] = [];
      for (const c of p.chunks) {
        const items: Buffer[] = [];
        const add = (type: number, text: string): void => {
          const t = Buffer.from(text, 'utf8');
          if (t.length > 255) throw new RangeError('SDES item longer than 255 bytes');
          items.push(Buffer.from([type, t.length]), t);
        };
        if (c.cname !== undefined) add(SDES_CNAME, c.cname);
        for (const [k, v] of Object.entries(c.items ?? {})) if (Number(k) !== SDES_CNAME) add(Number(k), v);
        const body = Buffer.concat(items);
        // At least one null terminator, then pad the chunk to a 32-bit boundary.
        const raw = 4 + body.length + 1;
        const chunk = Buffer.alloc(raw + ((4 - (raw % 4)) % 4));
        chunk.writeUInt32BE(c.ssrc >>> 0, 0);
        body.copy(chunk, 4);
        parts.push(chunk);
      }
      const body = Buffer.concat(parts);
      const buf = Buffer.alloc(4 + body.length);
      writeHeader(buf, 0, p.chunks.length, RTCP_SDES, buf.length);
      body.copy(buf, 4);
      return buf;
    }
    case 'BYE': {
      const reason = p.reason ? Buffer.from(p.reason, 'utf8').subarray(0, 255) : null;
      const raw = 4 + 4 * p.ssrcs.length + (reason ? 1 + reason.length : 0);
      const len = raw + ((4 - (raw % 4)) % 4);
      const buf = Buffer.alloc(len);
      writeHeader(buf, 0, p.ssrcs.length, RTCP_BYE, len);
      p.ssrcs.forEach((s, i) => buf.writeUInt32BE(s >>> 0, 4 + 4 * i));
      if (reason) {
        const off = 4 + 4 * p.ssrcs.length;
        buf[off] = reason.length;
        reason.copy(buf, off + 1);
      }
      return buf;
    }
    case 'OTHER': {
      if (p.body.length % 4 !== 0) throw new RangeError('RTCP body must be a multiple of 4 bytes');
      const buf = Buffer.alloc(4 + p.body.length);
      writeHeader(buf, 0, p.count, p.packetType, buf.length);
      p.body.copy(buf, 4);
      return buf;
    }
  }
}

/** Build a compound packet. The first packet must be an SR or RR (RFC 3550 §6.1). */
export function buildRtcpCompound(packets: readonly RtcpPacket[]): Buffer {
  const first = packets[0];
  if (!first || (first.type !== 'SR' && first.type !== 'RR')) {
    throw new Error('RTCP compound packet must start with SR or RR');
  }
  return Buffer.concat(packets.map(encodeOne));
}

// ---- parse ----------------------------------------------------------------------------------

function readReportBlocks(buf: Buffer, off: number, count: number): ReportBlock[] {
  const out: ReportBlock[] = [];
  for (let i = 0; i < count; i++, off += 24) {
    out.push({
      ssrc: buf.readUInt32BE(off),
      fractionLost: buf[off + 4]!,
      cumulativeLost: buf.readIntBE(off + 5, 3),
      extendedHighestSeq: buf.readUInt32BE(off + 8),
      jitter: buf.readUInt32BE(off + 12),
      lsr: buf.readUInt32BE(off + 16),
      dlsr: buf.readUInt32BE(off + 20),
    });
  }
  return out;
}

function parseSdes(body: Buffer, count: number): SdesChunk[] | null {
  const chunks: SdesChunk[] = [];
  let off = 0;
  for (let i = 0; i < count; i++) {
    if (off + 4 > body.length) return null;
    const chunk: SdesChunk = { ssrc: body.readUInt32BE(off) };
    off += 4;
    for (;;) {
      if (off >= body.length) return null;
      const type = body[off]!;
      if (type === SDES_END) {
        off++;
        off += (4 - (off % 4)) % 4;
        break;
      }
      if (off + 2 > body.length) return null;
      const len = body[off + 1]!;
      if (off + 2 + len > body.length) return null;
      const text = body.toString('utf8', off + 2, off + 2 + len);
      if (type === SDES_CNAME) chunk.cname = text;
      else (chunk.items ??= {})[type] = text;
      off += 2 + len;
    }
    chunks.push(chunk);
  }
  return chunks;
}

/**
 * Parse and validate a compound packet per RFC 3550 A.2: version 2 throughout, first packet SR or
 * RR without padding, padding only on the last packet, and lengths adding up exactly to the
 * datagram. Returns null when the datagram fails any of these.
 */
export function parseRtcpCompound(buf: Buffer): RtcpPacket[] | null {
  if (buf.length < 8 || buf.length % 4 !== 0) return null;
  const firstPt = buf[1]!;
  if ((buf[0]! & 0xe0) !== 0x80 || (firstPt !== RTCP_SR && firstPt !== RTCP_RR)) return null;

  const out: RtcpPacket[] = [];
  let off = 0;
  while (off < buf.length) {
    if (off + 4 > buf.length) return null;
    const b0 = buf[off]!;
    if (b0 >>> 6 !== 2) return null;
    const padded = (b0 & 0x20) !== 0;
    const count = b0 & 0x1f;
    const pt = buf[off + 1]!;
    const len = (buf.readUInt16BE(off + 2) + 1) * 4;
    const end = off + len;
    if (end > buf.length) return null;
    if (padded && end !== buf.length) return null;
    let bodyEnd = end;
    if (padded) {
      const pad = buf[end - 1]!;
      if (pad === 0 || pad > len - 4) return null;
      bodyEnd = end - pad;
    }
    const body = buf.subarray(off + 4, bodyEnd);

    switch (pt) {
      case RTCP_SR: {
        if (body.length < 24 + 24 * count) return null;
        out.push({
          type: 'SR',
          ssrc: body.readUInt32BE(0),
          ntpSeconds: body.readUInt32BE(4),
          ntpFraction: body.readUInt32BE(8),
          rtpTimestamp: body.readUInt32BE(12),
          packetCount: body.readUInt32BE(16),
          octetCount: body.readUInt32BE(20),
          reports: readReportBlocks(body, 24, count),
        });
        break;
      }
      case RTCP_RR: {
        if (body.length < 4 + 24 * count) return null;
        out.push({ type: 'RR', ssrc: body.readUInt32BE(0), reports: readReportBlocks(body, 4, count) });
        break;
      }
      case RTCP_SDES: {
        const chunks = parseSdes(body, count);
        if (!chunks) return null;
        out.push({ type: 'SDES', chunks });
        break;
      }
      case RTCP_BYE: {
        if (body.length < 4 * count) return null;
        const ssrcs: number[] = [];
        for (let i = 0; i < count; i++) ssrcs.push(body.readUInt32BE(4 * i));
        const bye: Bye = { type: 'BYE', ssrcs };
        const roff = 4 * count;
        if (body.length > roff) {
          const rlen = body[roff]!;
          if (roff + 1 + rlen > body.length) return null;
          bye.reason = body.toString('utf8', roff + 1, roff + 1 + rlen);
        }
        out.push(bye);
        break;
      }
      default:
        out.push({ type: 'OTHER', packetType: pt, count, body: Buffer.from(body) });
    }
    off = end;
  }
  return out;
}

/** RTP and RTCP may share a port (RFC 5761); PT 64–95 in the second byte (masked) means RTCP. */
export function looksLikeRtcp(buf: Buffer): boolean {
  if (buf.length < 2) return false;
  const pt = buf[1]!;
  return pt >= 192 && pt <= 223;
}
