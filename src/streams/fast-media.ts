// Fast paths for the one Twilio Media Streams message that flows 50 times a second each way:
// `media`. Pure (bytes in, bytes out); protocol.ts stays the definition of the wire.
//
// Outgoing: the message is written as bytes from a template prepared once per stream (no object,
// no JSON.stringify, no intermediate string), the payload base64-encoded straight into it. The
// bytes are exactly JSON.stringify of the object protocol.ts would build (same key order).
//
// Incoming: a byte-exact match of the canonical form (no spaces, keys in the order Twilio and
// callchart write them, this stream's streamSid). Anything else — other key order, escapes,
// whitespace, extra keys, another streamSid — returns null and the caller takes the full path
// (JSON.parse + the zod schema), so a match never decides anything the full path would not:
// test/unit/media-streams-fast.test.ts checks a match equals the full path over valid and
// hostile inputs.
import type { MediaTrack, PlatformMessage } from './protocol.js';

const B64 = Buffer.from('ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/', 'latin1');
const PAD = 0x3d; // '='
const QUOTE = 0x22;
/** 1 for the bytes of the base64 alphabet (padding aside). */
const IS_B64 = new Uint8Array(256);
/** The 6-bit value of each base64 alphabet byte. */
const B64_VALUE = new Uint8Array(256);
B64.forEach((c, i) => {
  IS_B64[c] = 1;
  B64_VALUE[c] = i;
});
/** What protocol.ts's schema allows a payload to be, in characters. */
const MAX_PAYLOAD_CHARS = 4 * 1024 * 1024;

/** Base64 (RFC 4648, padded) of `src` written into `dst` at `off`; returns the new offset. */
export function base64Into(src: Uint8Array, dst: Uint8Array, off: number): number {
  const n = src.length;
  const whole = n - (n % 3);
  let i = 0;
  for (; i < whole; i += 3) {
    const v = (src[i]! << 16) | (src[i + 1]! << 8) | src[i + 2]!;
    dst[off++] = B64[v >> 18]!;
    dst[off++] = B64[(v >> 12) & 63]!;
    dst[off++] = B64[(v >> 6) & 63]!;
    dst[off++] = B64[v & 63]!;
  }
  if (n - whole === 1) {
    const v = src[i]! << 16;
    dst[off++] = B64[v >> 18]!;
    dst[off++] = B64[(v >> 12) & 63]!;
    dst[off++] = PAD;
    dst[off++] = PAD;
  } else if (n - whole === 2) {
    const v = (src[i]! << 16) | (src[i + 1]! << 8);
    dst[off++] = B64[v >> 18]!;
    dst[off++] = B64[(v >> 12) & 63]!;
    dst[off++] = B64[(v >> 6) & 63]!;
    dst[off++] = PAD;
  }
  return off;
}

/**
 * Decode base64 that base64End accepted (alphabet, then at most two '='), as
 * Buffer.from(text, 'base64') does: padding optional, a lone last character ignored, the unused
 * low bits of the last group ignored. One pass, no intermediate string.
 */
export function decodeBase64(data: Uint8Array, from: number, to: number): Buffer {
  let end = to;
  while (end > from && data[end - 1] === PAD) end--;
  const n = end - from;
  const rem = n & 3;
  const out = Buffer.allocUnsafe((n >> 2) * 3 + (rem === 3 ? 2 : rem === 2 ? 1 : 0));
  let o = 0;
  let i = from;
  for (const stop = end - rem; i < stop; i += 4) {
    const v = (B64_VALUE[data[i]!]! << 18) | (B64_VALUE[data[i + 1]!]! << 12) | (B64_VALUE[data[i + 2]!]! << 6) | B64_VALUE[data[i + 3]!]!;
    out[o++] = v >> 16;
    out[o++] = (v >> 8) & 255;
    out[o++] = v & 255;
  }
  if (rem >= 2) {
    const v = (B64_VALUE[data[i]!]! << 18) | (B64_VALUE[data[i + 1]!]! << 12) | (rem === 3 ? B64_VALUE[data[i + 2]!]! << 6 : 0);
    out[o++] = v >> 16;
    if (rem === 3) out[o++] = (v >> 8) & 255;
  }
  return out;
}

const base64Length = (n: number): number => Math.ceil(n / 3) * 4;

/**
 * Where a built message goes: a buffer for `n` bytes and the offset to write them at. The
 * WebSocket frame writer's sinks leave room for the frame header (and mask) in front, so the
 * message is written once, into the frame that carries it.
 */
export interface MessageSink {
  buffer(n: number): Buffer;
  offset(n: number): number;
}
/** A buffer of the message alone. */
export const OWN_BUFFER: MessageSink = { buffer: (n) => Buffer.allocUnsafe(n), offset: () => 0 };
const ascii = (s: string): Buffer => Buffer.from(s, 'utf8');

/** The platform's `media` messages of one stream (callchart's `call.stream()` side). */
export class PlatformMediaTemplate {
  private readonly head = ascii('{"event":"media","sequenceNumber":"');
  private readonly sid: Buffer;
  private readonly tracks: Record<MediaTrack, Buffer>;
  private readonly chunk = ascii('","chunk":"');
  private readonly ts = ascii('","timestamp":"');
  private readonly payload = ascii('","payload":"');
  private readonly tail = ascii('"}}');

  constructor(streamSid: string) {
    this.sid = ascii(`","streamSid":${JSON.stringify(streamSid)},"media":{"track":"`);
    this.tracks = { inbound: ascii('inbound'), outbound: ascii('outbound') };
  }

  /** The message's bytes, at `sink.offset(length)` of `sink.buffer(length)`. */
  build(seq: number, track: MediaTrack, chunk: number, timestamp: number, ulaw: Uint8Array, sink: MessageSink = OWN_BUFFER): Buffer {
    const s = String(seq);
    const c = String(chunk);
    const t = String(timestamp);
    const tr = this.tracks[track];
    const len =
      this.head.length + s.length + this.sid.length + tr.length + this.chunk.length + c.length + this.ts.length + t.length + this.payload.length + base64Length(ulaw.length) + this.tail.length;
    const out = sink.buffer(len);
    let o = copy(this.head, out, sink.offset(len));
    o += out.write(s, o, 'latin1');
    o = copy(this.sid, out, o);
    o = copy(tr, out, o);
    o = copy(this.chunk, out, o);
    o += out.write(c, o, 'latin1');
    o = copy(this.ts, out, o);
    o += out.write(t, o, 'latin1');
    o = copy(this.payload, out, o);
    o = base64Into(ulaw, out, o);
    copy(this.tail, out, o);
    return out;
  }
}

/** The bot's `media` messages of one stream (engine.mediaStreams' session side). */
export class BotMediaTemplate {
  private readonly head: Buffer;
  private readonly tail = ascii('"}}');

  /** Only a sid the schema accepts is matched (the full path refuses the others). */
  private readonly matchable: boolean;

  constructor(streamSid: string) {
    this.head = ascii(`{"event":"media","streamSid":${JSON.stringify(streamSid)},"media":{"payload":"`);
    this.matchable = sidOk(streamSid);
  }

  /** The message's bytes, at `sink.offset(length)` of `sink.buffer(length)`. */
  build(ulaw: Uint8Array, sink: MessageSink = OWN_BUFFER): Buffer {
    const len = this.head.length + base64Length(ulaw.length) + this.tail.length;
    const out = sink.buffer(len);
    copy(this.tail, out, base64Into(ulaw, out, copy(this.head, out, sink.offset(len))));
    return out;
  }

  /**
   * A bot's `media` message for this stream in canonical form: its payload decoded; null for
   * anything else (take the full path).
   */
  match(data: Buffer): Buffer | null {
    const h = this.head;
    if (!this.matchable || data.length < h.length + this.tail.length || h.compare(data, 0, h.length) !== 0) return null;
    const end = data.length - this.tail.length;
    if (this.tail.compare(data, end) !== 0) return null;
    if (base64End(data, h.length, end) !== end) return null;
    return decodeBase64(data, h.length, end);
  }
}

/** The platform's `media` message as parsePlatformMessage returns it. */
export type PlatformMedia = Extract<PlatformMessage, { event: 'media' }>;

/** What the bot's session takes of a `media` message: its fields as numbers, its payload decoded. */
export interface MediaFrame {
  track: MediaTrack;
  chunk: number;
  timestamp: number;
  ulaw: Buffer;
}

/** A `media` message (full path) as a MediaFrame. */
export function mediaFrameOf(m: PlatformMedia): MediaFrame {
  return { track: m.media.track, chunk: Number(m.media.chunk), timestamp: Number(m.media.timestamp), ulaw: Buffer.from(m.media.payload, 'base64') };
}

/**
 * A platform's `media` message for `streamSid` in canonical form (the bot's side), equal to
 * mediaFrameOf(what parsePlatformMessage returns); null for anything else (take the full path).
 */
export class PlatformMediaMatcher {
  private readonly head = ascii('{"event":"media","sequenceNumber":"');
  private readonly sid: Buffer;
  private readonly chunk = ascii('","chunk":"');
  private readonly ts = ascii('","timestamp":"');
  private readonly payload = ascii('","payload":"');
  private readonly tail = ascii('"}}');
  private readonly inbound = ascii('inbound');
  private readonly outbound = ascii('outbound');

  private readonly matchable: boolean;

  constructor(private readonly streamSid: string) {
    this.sid = ascii(`","streamSid":${JSON.stringify(streamSid)},"media":{"track":"`);
    this.matchable = sidOk(streamSid);
  }

  match(data: Buffer): MediaFrame | null {
    if (!this.matchable) return null;
    let o = expect(data, 0, this.head);
    const seqEnd = digitsEnd(data, o, true);
    if (seqEnd < 0) return null;
    o = expect(data, seqEnd, this.sid);
    if (o < 0) return null;
    let track: MediaTrack;
    let p = expect(data, o, this.inbound);
    if (p >= 0) track = 'inbound';
    else {
      p = expect(data, o, this.outbound);
      if (p < 0) return null;
      track = 'outbound';
    }
    o = expect(data, p, this.chunk);
    const chunkEnd = digitsEnd(data, o, true);
    if (chunkEnd < 0) return null;
    const chunkStart = o;
    o = expect(data, chunkEnd, this.ts);
    const tsEnd = digitsEnd(data, o, false);
    if (tsEnd < 0) return null;
    const tsStart = o;
    o = expect(data, tsEnd, this.payload);
    if (o < 0) return null;
    const end = data.length - this.tail.length;
    if (end < o || this.tail.compare(data, end) !== 0 || base64End(data, o, end) !== end) return null;
    return { track, chunk: decimal(data, chunkStart, chunkEnd), timestamp: decimal(data, tsStart, tsEnd), ulaw: decodeBase64(data, o, end) };
  }
}

/** protocol.ts's `sid`: 1-128 characters. */
const sidOk = (sid: string): boolean => sid.length >= 1 && sid.length <= 128;

/** The value of 1-16 ASCII digits (as Number() reads them; exact below 2^53, rounded above, alike). */
function decimal(data: Buffer, from: number, to: number): number {
  if (to - from > 15) return Number(data.toString('latin1', from, to));
  let v = 0;
  for (let i = from; i < to; i++) v = v * 10 + (data[i]! - 0x30);
  return v;
}

function copy(src: Buffer, dst: Buffer, off: number): number {
  src.copy(dst, off);
  return off + src.length;
}

/** Offset after `lit` when `data` holds it at `off`, else -1. */
function expect(data: Buffer, off: number, lit: Buffer): number {
  if (off < 0 || off + lit.length > data.length || lit.compare(data, off, off + lit.length) !== 0) return -1;
  return off + lit.length;
}

/**
 * End of a run of decimal digits at `off` closed by a quote, as protocol.ts's schema allows:
 * 1-16 digits, no leading zero when `positive` (sequenceNumber, chunk). -1 otherwise.
 */
function digitsEnd(data: Buffer, off: number, positive: boolean): number {
  if (off < 0) return -1;
  let i = off;
  while (i < data.length && i - off <= 16 && data[i]! >= 0x30 && data[i]! <= 0x39) i++;
  const n = i - off;
  if (n < 1 || n > 16 || data[i] !== QUOTE) return -1;
  if (positive && data[off] === 0x30) return -1;
  return i;
}

/** Where base64 that starts at `from` (alphabet, then at most two '=') stops, looking up to `to`. */
function base64End(data: Buffer, from: number, to: number): number {
  if (to - from > MAX_PAYLOAD_CHARS) return -1;
  let i = from;
  while (i < to && IS_B64[data[i]!] === 1) i++;
  for (let pad = 0; pad < 2 && i < to && data[i] === PAD; pad++) i++;
  return i;
}
