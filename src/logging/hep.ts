// HEP v3 (Homer Encapsulation Protocol): how a capture agent hands one captured SIP message to a
// Homer / heplify-server collector. A packet is "HEP3", its total length, then chunks of
// vendor (u16) · type (u16) · length (u16, header included) · value, all big-endian.
// Chunk types of the generic vendor 0 used here: 1 IP family, 2 IP protocol, 3/4 IPv4 source/
// destination, 5/6 IPv6 source/destination, 7/8 source/destination port, 9 timestamp seconds,
// 10 timestamp microseconds, 11 protocol type (1 = SIP), 12 capture agent id, 14 auth key,
// 15 payload, 17 correlation id.
import { isIPv4, isIPv6 } from 'node:net';

export const HEP_MAGIC = 'HEP3';
export const HEP_FAMILY_IPV4 = 2;
export const HEP_FAMILY_IPV6 = 10;
export const HEP_PROTO_UDP = 17;
export const HEP_PROTO_TYPE_SIP = 1;

export const HEP_CHUNK = {
  family: 1,
  ipProto: 2,
  srcIp4: 3,
  dstIp4: 4,
  srcIp6: 5,
  dstIp6: 6,
  srcPort: 7,
  dstPort: 8,
  timeSec: 9,
  timeUsec: 10,
  protoType: 11,
  captureId: 12,
  authKey: 14,
  payload: 15,
  correlationId: 17,
} as const;

export interface HepMessage {
  /** Source and destination of the captured datagram (both IPv4 or both IPv6). */
  srcIp: string;
  srcPort: number;
  dstIp: string;
  dstPort: number;
  /** Capture time, ms since the epoch (fractional ms become microseconds). */
  timeMs: number;
  /** Capture agent id (u32), how the collector tells agents apart. */
  captureId: number;
  /** The captured message, e.g. the SIP text. */
  payload: Buffer;
  /** Protocol of the payload (default 1, SIP). */
  protoType?: number;
  /** IP protocol of the captured datagram (default 17, UDP). */
  ipProto?: number;
  /** Collector password (chunk 14), when it asks for one. */
  authKey?: string;
  /** Correlation id (chunk 17); for SIP the collector reads the Call-ID from the payload. */
  correlationId?: string;
}

/** HEP's total length is a u16: a packet is at most this long. */
export const HEP_MAX_PACKET = 0xffff;

function ipv4Bytes(ip: string): Buffer {
  return Buffer.from(ip.split('.').map(Number));
}

function ipv6Bytes(ip: string): Buffer {
  // Expand "::" and an embedded IPv4 tail into eight 16-bit groups.
  let text = ip;
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (v4) {
    const b = ipv4Bytes(v4[1]!);
    text = `${text.slice(0, -v4[1]!.length)}${((b[0]! << 8) | b[1]!).toString(16)}:${((b[2]! << 8) | b[3]!).toString(16)}`;
  }
  const [head = '', tail] = text.split('::') as [string, string | undefined];
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = tail === undefined ? h : [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
  const out = Buffer.alloc(16);
  groups.forEach((g, i) => out.writeUInt16BE(parseInt(g, 16), i * 2));
  return out;
}

function ipv6Text(b: Buffer): string {
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(b.readUInt16BE(i).toString(16));
  // The longest run of zero groups (two or more) becomes "::" (RFC 5952).
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== '0') {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === '0') j++;
    if (j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  if (best < 0) return groups.join(':');
  return `${groups.slice(0, best).join(':')}::${groups.slice(best + bestLen).join(':')}`;
}

function chunk(type: number, value: Buffer): Buffer {
  const head = Buffer.alloc(6);
  head.writeUInt16BE(0, 0);
  head.writeUInt16BE(type, 2);
  head.writeUInt16BE(6 + value.length, 4);
  return Buffer.concat([head, value]);
}

function u8(n: number): Buffer {
  return Buffer.from([n & 0xff]);
}

function u16(n: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(n);
  return b;
}

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0);
  return b;
}

/**
 * One HEP v3 packet for `m`. Throws on addresses that are not both IPv4 or both IPv6, and on a
 * packet over HEP_MAX_PACKET bytes (the length field cannot say it).
 */
export function encodeHep3(m: HepMessage): Buffer {
  const v4 = isIPv4(m.srcIp) && isIPv4(m.dstIp);
  if (!v4 && !(isIPv6(m.srcIp) && isIPv6(m.dstIp))) throw new Error(`HEP: addresses must be both IPv4 or both IPv6, got ${m.srcIp} and ${m.dstIp}`);
  // Checked before any chunk is built: a chunk's own length is a u16 too.
  if (m.payload.length > HEP_MAX_PACKET - 6) throw new Error(`HEP: packet of over ${m.payload.length} bytes exceeds ${HEP_MAX_PACKET}`);
  const sec = Math.floor(m.timeMs / 1000);
  const usec = Math.round((m.timeMs - sec * 1000) * 1000);
  const chunks = [
    chunk(HEP_CHUNK.family, u8(v4 ? HEP_FAMILY_IPV4 : HEP_FAMILY_IPV6)),
    chunk(HEP_CHUNK.ipProto, u8(m.ipProto ?? HEP_PROTO_UDP)),
    chunk(v4 ? HEP_CHUNK.srcIp4 : HEP_CHUNK.srcIp6, v4 ? ipv4Bytes(m.srcIp) : ipv6Bytes(m.srcIp)),
    chunk(v4 ? HEP_CHUNK.dstIp4 : HEP_CHUNK.dstIp6, v4 ? ipv4Bytes(m.dstIp) : ipv6Bytes(m.dstIp)),
    chunk(HEP_CHUNK.srcPort, u16(m.srcPort)),
    chunk(HEP_CHUNK.dstPort, u16(m.dstPort)),
    chunk(HEP_CHUNK.timeSec, u32(sec)),
    chunk(HEP_CHUNK.timeUsec, u32(Math.min(usec, 999_999))),
    chunk(HEP_CHUNK.protoType, u8(m.protoType ?? HEP_PROTO_TYPE_SIP)),
    chunk(HEP_CHUNK.captureId, u32(m.captureId)),
  ];
  if (m.authKey !== undefined) chunks.push(chunk(HEP_CHUNK.authKey, Buffer.from(m.authKey, 'utf8')));
  if (m.correlationId !== undefined) chunks.push(chunk(HEP_CHUNK.correlationId, Buffer.from(m.correlationId, 'utf8')));
  chunks.push(chunk(HEP_CHUNK.payload, m.payload));
  const length = 6 + chunks.reduce((n, c) => n + c.length, 0);
  if (length > HEP_MAX_PACKET) throw new Error(`HEP: packet of ${length} bytes exceeds ${HEP_MAX_PACKET}`);
  const head = Buffer.alloc(6);
  head.write(HEP_MAGIC, 0, 'ascii');
  head.writeUInt16BE(length, 4);
  return Buffer.concat([head, ...chunks], length);
}

export type HepDecodeResult = { ok: true; message: Required<Pick<HepMessage, 'protoType' | 'ipProto'>> & HepMessage; chunks: Map<number, Buffer> } | { ok: false; reason: string };

/** Parse a HEP v3 packet (generic-vendor chunks; others are kept in `chunks` only when vendor 0). */
export function decodeHep3(buf: Buffer): HepDecodeResult {
  if (buf.length < 6 || buf.toString('ascii', 0, 4) !== HEP_MAGIC) return { ok: false, reason: 'not HEP3' };
  const total = buf.readUInt16BE(4);
  if (total > buf.length || total < 6) return { ok: false, reason: `length ${total} does not fit the ${buf.length}-byte datagram` };
  const chunks = new Map<number, Buffer>();
  for (let at = 6; at < total; ) {
    if (at + 6 > total) return { ok: false, reason: `truncated chunk header at ${at}` };
    const vendor = buf.readUInt16BE(at);
    const type = buf.readUInt16BE(at + 2);
    const len = buf.readUInt16BE(at + 4);
    if (len < 6 || at + len > total) return { ok: false, reason: `chunk ${type} of length ${len} at ${at} overruns the packet` };
    if (vendor === 0) chunks.set(type, buf.subarray(at + 6, at + len));
    at += len;
  }
  const need = (type: number, size?: number): Buffer | undefined => {
    const c = chunks.get(type);
    return c && (size === undefined || c.length === size) ? c : undefined;
  };
  const family = need(HEP_CHUNK.family, 1)?.[0];
  const v4 = family === HEP_FAMILY_IPV4;
  if (!v4 && family !== HEP_FAMILY_IPV6) return { ok: false, reason: `IP family ${String(family)}` };
  const src = need(v4 ? HEP_CHUNK.srcIp4 : HEP_CHUNK.srcIp6, v4 ? 4 : 16);
  const dst = need(v4 ? HEP_CHUNK.dstIp4 : HEP_CHUNK.dstIp6, v4 ? 4 : 16);
  const srcPort = need(HEP_CHUNK.srcPort, 2);
  const dstPort = need(HEP_CHUNK.dstPort, 2);
  const sec = need(HEP_CHUNK.timeSec, 4);
  const usec = need(HEP_CHUNK.timeUsec, 4);
  const payload = chunks.get(HEP_CHUNK.payload);
  if (!src || !dst || !srcPort || !dstPort || !sec || !usec || !payload) return { ok: false, reason: 'a required chunk is missing or of the wrong size' };
  const ip = (b: Buffer) => (v4 ? [...b].join('.') : ipv6Text(b));
  const auth = chunks.get(HEP_CHUNK.authKey);
  const corr = chunks.get(HEP_CHUNK.correlationId);
  return {
    ok: true,
    chunks,
    message: {
      srcIp: ip(src),
      dstIp: ip(dst),
      srcPort: srcPort.readUInt16BE(),
      dstPort: dstPort.readUInt16BE(),
      timeMs: sec.readUInt32BE() * 1000 + usec.readUInt32BE() / 1000,
      captureId: need(HEP_CHUNK.captureId, 4)?.readUInt32BE() ?? 0,
      protoType: need(HEP_CHUNK.protoType, 1)?.[0] ?? 0,
      ipProto: need(HEP_CHUNK.ipProto, 1)?.[0] ?? 0,
      payload,
      ...(auth ? { authKey: auth.toString('utf8') } : {}),
      ...(corr ? { correlationId: corr.toString('utf8') } : {}),
    },
  };
}
