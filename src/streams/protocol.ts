// Codec for Twilio Media Streams (the WebSocket a `<Stream>` opens to a bot; Telnyx, SignalWire
// and Fonoster speak the same messages). Pure: builds and validates JSON text frames, knows nothing
// of sockets, calls or actors.
//
// The wire, as Twilio documents it ("Media Streams – WebSocket Messages"):
//   platform → bot  `connected` {protocol:'Call', version:'1.0.0'} (no sequence number), then
//                   `start` (sequenceNumber "1") with streamSid, accountSid, callSid, tracks,
//                   customParameters and mediaFormat {encoding:'audio/x-mulaw', sampleRate:8000,
//                   channels:1}; then `media` {track, chunk, timestamp, payload} every 20 ms
//                   (payload: base64 μ-law, no header), `dtmf` {track:'inbound_track', digit},
//                   `mark` {name} echoes, and a last `stop` {accountSid, callSid}. Every message
//                   but `connected` carries streamSid and a string sequenceNumber counting from "1".
//   bot → platform  (bidirectional streams only) `media` {payload}, `mark` {name}, `clear`, each
//                   with the streamSid of the `start` message.
import { createHash, randomBytes } from 'node:crypto';
import { z } from 'zod';
import { parseJsonObject } from '../json.js';
import { PlatformMediaTemplate, type MessageSink } from './fast-media.js';

export const MEDIA_FORMAT = { encoding: 'audio/x-mulaw', sampleRate: 8000, channels: 1 } as const;
export type MediaFormat = typeof MEDIA_FORMAT;

/** Which audio a stream carries, in TwiML's words (`<Stream track="…">`). */
export type StreamTrack = 'inbound_track' | 'outbound_track' | 'both_tracks';
/** The track named on a `media` message. */
export type MediaTrack = 'inbound' | 'outbound';

export interface StartInfo {
  streamSid: string;
  accountSid: string;
  callSid: string;
  tracks: MediaTrack[];
  customParameters: Record<string, string>;
  mediaFormat: MediaFormat;
}

/** What the platform (Twilio, or callchart's `call.stream()`) sends to a bot. */
export type PlatformMessage =
  | { event: 'connected'; protocol: 'Call'; version: string }
  | { event: 'start'; sequenceNumber: string; streamSid: string; start: StartInfo }
  | { event: 'media'; sequenceNumber: string; streamSid: string; media: { track: MediaTrack; chunk: string; timestamp: string; payload: string } }
  | { event: 'dtmf'; sequenceNumber: string; streamSid: string; dtmf: { track: 'inbound_track'; digit: string } }
  | { event: 'mark'; sequenceNumber: string; streamSid: string; mark: { name: string } }
  | { event: 'stop'; sequenceNumber: string; streamSid: string; stop: { accountSid: string; callSid: string } };

/** What a bot sends back on a bidirectional stream. */
export type BotMessage =
  | { event: 'media'; streamSid: string; media: { payload: string } }
  | { event: 'mark'; streamSid: string; mark: { name: string } }
  | { event: 'clear'; streamSid: string };

/** Longest mark name accepted (Twilio sets no documented limit; the echo must stay small). */
export const MAX_MARK_NAME = 256;

const sid = z.string().min(1).max(128);
const base64 = z.string().max(4 * 1024 * 1024).regex(/^[A-Za-z0-9+/]*={0,2}$/, 'payload must be base64');
const seq = z.string().regex(/^[1-9][0-9]{0,15}$/, 'sequenceNumber must be a decimal string from "1"');
const markName = z.string().min(1, 'mark.name must not be empty').max(MAX_MARK_NAME, `mark.name is longer than ${MAX_MARK_NAME}`);

const botSchema = z.discriminatedUnion(
  'event',
  [
    z.object({ event: z.literal('media'), streamSid: sid, media: z.object({ payload: base64 }) }),
    z.object({ event: z.literal('mark'), streamSid: sid, mark: z.object({ name: markName }) }),
    z.object({ event: z.literal('clear'), streamSid: sid }),
  ],
  { error: 'event must be media, mark or clear' },
);

const platformSchema = z.discriminatedUnion(
  'event',
  [
    z.object({ event: z.literal('connected'), protocol: z.literal('Call'), version: z.string().max(32) }),
    z.object({
      event: z.literal('start'),
      sequenceNumber: seq,
      streamSid: sid,
      start: z.object({
        streamSid: sid,
        accountSid: sid,
        callSid: sid,
        tracks: z.array(z.enum(['inbound', 'outbound'])).min(1).max(2),
        customParameters: z.record(z.string().max(256), z.string().max(4096)).default({}),
        mediaFormat: z.object({ encoding: z.literal('audio/x-mulaw'), sampleRate: z.literal(8000), channels: z.literal(1) }),
      }),
    }),
    z.object({
      event: z.literal('media'),
      sequenceNumber: seq,
      streamSid: sid,
      media: z.object({ track: z.enum(['inbound', 'outbound']), chunk: seq, timestamp: z.string().regex(/^[0-9]{1,16}$/), payload: base64 }),
    }),
    z.object({
      event: z.literal('dtmf'),
      sequenceNumber: seq,
      streamSid: sid,
      dtmf: z.object({ track: z.literal('inbound_track'), digit: z.string().regex(/^[0-9A-D*#]$/) }),
    }),
    z.object({ event: z.literal('mark'), sequenceNumber: seq, streamSid: sid, mark: z.object({ name: markName }) }),
    z.object({ event: z.literal('stop'), sequenceNumber: seq, streamSid: sid, stop: z.object({ accountSid: sid, callSid: sid }) }),
  ],
  { error: 'event must be connected, start, media, dtmf, mark or stop' },
);

export type ParseResult<T> = { ok: true; message: T } | { ok: false; reason: string };

function firstIssue(err: z.ZodError): string {
  const i = err.issues[0];
  if (!i) return 'invalid message';
  return i.path.length ? `${i.path.join('.')}: ${i.message}` : i.message;
}

/** Validate one text frame a bot sent (callchart's client side). */
export function parseBotMessage(text: string): ParseResult<BotMessage> {
  const j = parseJsonObject(text);
  if (!j.ok) return j;
  const r = botSchema.safeParse(j.value);
  return r.success ? { ok: true, message: r.data as BotMessage } : { ok: false, reason: firstIssue(r.error) };
}

/** Validate one text frame a platform sent (callchart's bot-side route). */
export function parsePlatformMessage(text: string): ParseResult<PlatformMessage> {
  const j = parseJsonObject(text);
  if (!j.ok) return j;
  const r = platformSchema.safeParse(j.value);
  return r.success ? { ok: true, message: r.data as PlatformMessage } : { ok: false, reason: firstIssue(r.error) };
}

export function encodeMessage(m: PlatformMessage | BotMessage): string {
  return JSON.stringify(m);
}

/**
 * The platform side's numbering on one connection: sequenceNumber counts every message after
 * `connected` from "1", chunk counts media messages per track from "1".
 */
export class PlatformEncoder {
  private seq = 0;
  private readonly chunks: Record<MediaTrack, number> = { inbound: 0, outbound: 0 };
  private template: PlatformMediaTemplate | undefined;

  constructor(readonly streamSid: string) {}

  private next(): string {
    return String(++this.seq);
  }

  connected(): string {
    return encodeMessage({ event: 'connected', protocol: 'Call', version: '1.0.0' });
  }

  start(info: Omit<StartInfo, 'streamSid' | 'mediaFormat'>): string {
    const start: StartInfo = { streamSid: this.streamSid, ...info, mediaFormat: { ...MEDIA_FORMAT } };
    return encodeMessage({ event: 'start', sequenceNumber: this.next(), streamSid: this.streamSid, start });
  }

  /** One frame of μ-law audio; `timestampMs` is milliseconds since the stream started. */
  media(track: MediaTrack, ulaw: Uint8Array, timestampMs: number): string {
    const payload = Buffer.from(ulaw.buffer, ulaw.byteOffset, ulaw.byteLength).toString('base64');
    const chunk = String(++this.chunks[track]);
    return encodeMessage({
      event: 'media',
      sequenceNumber: this.next(),
      streamSid: this.streamSid,
      media: { track, chunk, timestamp: String(Math.max(0, Math.round(timestampMs))), payload },
    });
  }

  /**
   * `media()` as the bytes of the text frame, written from a template (the per-frame hot path;
   * fast-media.ts) into the buffer `sink` gives (default: one of its own).
   */
  mediaBytes(track: MediaTrack, ulaw: Uint8Array, timestampMs: number, sink?: MessageSink): Buffer {
    this.template ??= new PlatformMediaTemplate(this.streamSid);
    return this.template.build(++this.seq, track, ++this.chunks[track], Math.max(0, Math.round(timestampMs)), ulaw, sink);
  }

  dtmf(digit: string): string {
    return encodeMessage({ event: 'dtmf', sequenceNumber: this.next(), streamSid: this.streamSid, dtmf: { track: 'inbound_track', digit } });
  }

  mark(name: string): string {
    return encodeMessage({ event: 'mark', sequenceNumber: this.next(), streamSid: this.streamSid, mark: { name } });
  }

  stop(accountSid: string, callSid: string): string {
    return encodeMessage({ event: 'stop', sequenceNumber: this.next(), streamSid: this.streamSid, stop: { accountSid, callSid } });
  }

  get sequenceNumber(): number {
    return this.seq;
  }
}

/** The tracks a `<Stream track>` value announces in `start.tracks`. */
export function tracksOf(track: StreamTrack): MediaTrack[] {
  return track === 'both_tracks' ? ['inbound', 'outbound'] : track === 'outbound_track' ? ['outbound'] : ['inbound'];
}

/**
 * A Twilio-looking sid: two letters and 32 hex digits. From `id`: its digits when it is a uuid,
 * else a hash of it (the same call always gets the same callSid); without `id`: random.
 */
export function makeSid(prefix: 'MZ' | 'CA' | 'AC', id?: string): string {
  if (id === undefined) return prefix + randomBytes(16).toString('hex');
  const hex = id.replace(/-/g, '').toLowerCase();
  if (/^[0-9a-f]{32}$/.test(hex)) return prefix + hex;
  return prefix + createHash('sha256').update(id).digest('hex').slice(0, 32);
}
