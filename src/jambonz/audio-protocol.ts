// Codec for jambonz audio sockets (`audio.jambonz.org`): the WebSocket jambonz's `listen`/`stream`
// verb opens to the application. Pure: validates what jambonz sends and builds what the
// application sends back; knows nothing of sockets, files or actors.
//
// The wire, as jambonz's feature-server and its FreeSWITCH fork module define it:
//   jambonz → app  1. one text frame: the call's attributes (callSid, direction, from, to, …) with
//                     `sampleRate` and `mixType`, and the verb's custom `metadata` merged in at the
//                     top level;
//                  2. binary frames of 16-bit little-endian linear PCM at `sampleRate`, the two
//                     channels interleaved when `mixType` is `stereo`;
//                  3. text frames answering the app: `{type:'playDone',data:{id,…}}` after a
//                     playAudio, `{type:'mark',data:{name,event:'playout'|'cleared'}}` for marks,
//                     `{event:'dtmf',dtmf,duration}` with `passDtmf`.
//   app → jambonz  `{type:'playAudio',data:{audioContent,audioContentType,sampleRate,…}}` (only
//                  when bidirectional streaming is off), `{type:'killAudio'}`, `{type:'disconnect'}`,
//                  `{type:'mark',data:{name}}`, `{type:'clearMarks'}`, and — with
//                  `bidirectionalAudio.streaming` — binary L16 frames at `bidirectionalAudio.sampleRate`.
import { parseJsonObject } from '../json.js';
import { z } from 'zod';

export const JAMBONZ_AUDIO_SUBPROTOCOL = 'audio.jambonz.org';

/**
 * Rates the fork module can play back for `audioContentType: 'raw'` (it maps each to a raw file
 * type; any other rate would be played as 16 kHz, at the wrong speed) and that `listen` streams.
 */
export const JAMBONZ_SAMPLE_RATES = [8000, 16000, 24000, 32000, 48000, 64000] as const;
export type JambonzSampleRate = (typeof JAMBONZ_SAMPLE_RATES)[number];

export type JambonzMixType = 'mono' | 'stereo' | 'mixed';

const sampleRate = z
  .number({ error: 'sampleRate must be a number' })
  .refine((r): r is JambonzSampleRate => (JAMBONZ_SAMPLE_RATES as readonly number[]).includes(r), {
    message: `sampleRate must be one of ${JAMBONZ_SAMPLE_RATES.join(', ')}`,
  });

/**
 * The call sid names the WAV file, and it comes from the network: only characters that cannot
 * walk out of the recordings directory are accepted (jambonz's sids are UUIDs).
 */
const callSid = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/, 'callSid must be 1-128 characters of A-Z a-z 0-9 . _ - (not starting with . _ -)');

const optString = z.string().max(1024).optional();

const metadataSchema = z
  .looseObject({
    // The feature-server sends the call attributes camelCased; snake_case is what its webhooks
    // use, and is accepted too so a proxy that rewrites keys does not break recording.
    callSid: callSid.optional(),
    call_sid: callSid.optional(),
    sampleRate,
    mixType: z.enum(['mono', 'stereo', 'mixed'], { error: 'mixType must be mono, stereo or mixed' }),
    direction: z.enum(['inbound', 'outbound']).optional(),
    from: optString,
    to: optString,
    callId: optString,
    accountSid: optString,
    applicationSid: optString,
    parentCallSid: optString,
    callStatus: optString,
    sipStatus: z.number().int().optional(),
  })
  .refine((m) => m.callSid !== undefined || m.call_sid !== undefined, { message: 'missing field callSid' });

/** The first text frame of an audio socket, validated. Extra (custom `metadata`) fields are kept. */
export interface JambonzAudioMetadata {
  /** The call's sid (`callSid`, or `call_sid`). */
  callSid: string;
  sampleRate: JambonzSampleRate;
  mixType: JambonzMixType;
  direction?: 'inbound' | 'outbound';
  from?: string;
  to?: string;
  callId?: string;
  accountSid?: string;
  applicationSid?: string;
  parentCallSid?: string;
  callStatus?: string;
  sipStatus?: number;
  /** Custom fields from the verb's `metadata` and any other call attribute jambonz adds. */
  [field: string]: unknown;
}

export type ParseMetadataResult =
  | { ok: true; metadata: JambonzAudioMetadata }
  | { ok: false; reason: string };

export function parseAudioMetadata(text: string): ParseMetadataResult {
  const json = parseJsonObject(text, 'metadata');
  if (!json.ok) return json;
  const parsed = metadataSchema.safeParse(json.value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue?.path.length ? `${issue.path.join('.')}: ` : '';
    return { ok: false, reason: `invalid metadata: ${where}${issue?.message ?? 'invalid'}` };
  }
  const { call_sid, ...rest } = parsed.data;
  return { ok: true, metadata: { ...rest, callSid: (rest.callSid ?? call_sid)! } };
}

/** Channels carried by each binary frame for a mix type (stereo interleaves both call legs). */
export function channelsFor(mixType: JambonzMixType): 1 | 2 {
  return mixType === 'stereo' ? 2 : 1;
}

// ---------------------------------------------------------------------------------------------
// jambonz → app, after the metadata

/** `playDone`: a playAudio finished (its `id` echoed back, plus FreeSWITCH's playback result). */
export interface JambonzPlayDoneEvent {
  type: 'playDone';
  id?: string;
  data: Record<string, unknown>;
}

/** `mark`: a mark's audio was played out, or the mark was dropped (killAudio / clearMarks). */
export interface JambonzMarkEvent {
  type: 'mark';
  name: string;
  event: 'playout' | 'cleared';
}

/** A DTMF digit (the verb's `passDtmf`). */
export interface JambonzDtmfEvent {
  type: 'dtmf';
  dtmf: string;
  duration?: number;
}

/** Any other JSON object jambonz sends (kept whole, for the application to inspect). */
export interface JambonzOtherMessage {
  type: 'other';
  message: Record<string, unknown>;
}

export type JambonzAudioInbound = JambonzPlayDoneEvent | JambonzMarkEvent | JambonzDtmfEvent | JambonzOtherMessage;

export type ParseInboundResult = { ok: true; message: JambonzAudioInbound } | { ok: false; reason: string };

const playDoneSchema = z.object({ type: z.literal('playDone'), data: z.record(z.string(), z.unknown()).optional() });
const markSchema = z.object({
  type: z.literal('mark'),
  data: z.object({ name: z.string(), event: z.enum(['playout', 'cleared']) }),
});
const dtmfSchema = z.object({ event: z.literal('dtmf'), dtmf: z.string().min(1).max(8), duration: z.coerce.number().optional() });

/** Parse a text frame jambonz sends after the metadata. */
export function parseAudioInbound(text: string): ParseInboundResult {
  const json = parseJsonObject(text);
  if (!json.ok) return json;
  const obj = json.value;
  if (obj.type === 'playDone') {
    const p = playDoneSchema.safeParse(obj);
    if (!p.success) return { ok: false, reason: 'invalid playDone' };
    const data = p.data.data ?? {};
    return { ok: true, message: { type: 'playDone', ...(typeof data.id === 'string' ? { id: data.id } : {}), data } };
  }
  if (obj.type === 'mark') {
    const p = markSchema.safeParse(obj);
    if (!p.success) return { ok: false, reason: 'invalid mark event' };
    return { ok: true, message: { type: 'mark', name: p.data.data.name, event: p.data.data.event } };
  }
  if (obj.event === 'dtmf') {
    const p = dtmfSchema.safeParse(obj);
    if (!p.success) return { ok: false, reason: 'invalid dtmf event' };
    return { ok: true, message: { type: 'dtmf', dtmf: p.data.dtmf, ...(p.data.duration !== undefined ? { duration: p.data.duration } : {}) } };
  }
  return { ok: true, message: { type: 'other', message: obj } };
}

// ---------------------------------------------------------------------------------------------
// app → jambonz

/** The `data` of a playAudio command, as jambonz reads it. */
export interface JambonzPlayAudioData {
  /** The audio, base64: raw L16 little-endian mono at `sampleRate`, or a whole WAV file. */
  audioContent: string;
  audioContentType: 'raw' | 'wav';
  /** Required for `raw`; ignored for `wav` (the file's header says). */
  sampleRate?: JambonzSampleRate;
  /** Queue behind the current play instead of replacing it. */
  queuePlay?: boolean;
  /** Echoed back in this play's `playDone`. */
  id?: string;
}

export type JambonzAudioCommand =
  | { type: 'playAudio'; data: JambonzPlayAudioData }
  | { type: 'killAudio' }
  | { type: 'disconnect' }
  | { type: 'mark'; data: { name: string } }
  | { type: 'clearMarks' };

/** Largest playAudio clip accepted, base64 characters (~6 MiB of audio: minutes of 16 kHz speech). */
export const MAX_PLAY_AUDIO_BASE64 = 8 * 1024 * 1024;

const base64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

export const playAudioDataSchema = z
  .object({
    audioContent: z
      .string({ error: 'audioContent must be a base64 string' })
      .min(4, 'audioContent is empty')
      .max(MAX_PLAY_AUDIO_BASE64, `audioContent is larger than ${MAX_PLAY_AUDIO_BASE64} base64 characters`)
      .regex(base64, 'audioContent is not valid base64'),
    audioContentType: z.enum(['raw', 'wav'], { error: "audioContentType must be 'raw' or 'wav'" }),
    sampleRate: sampleRate.optional(),
    queuePlay: z.boolean().optional(),
    id: z.string().min(1).max(256).optional(),
  })
  .strict()
  .superRefine((d, ctx) => {
    if (d.audioContentType === 'raw') {
      if (d.sampleRate === undefined) ctx.addIssue({ code: 'custom', message: 'sampleRate is required for raw audio', path: ['sampleRate'] });
      // Raw L16 is whole 16-bit samples: an odd byte count is a truncated or mis-encoded clip.
      if (decodedLength(d.audioContent) % 2 !== 0) ctx.addIssue({ code: 'custom', message: 'raw audio must be whole 16-bit samples (even byte count)', path: ['audioContent'] });
    } else {
      const head = Buffer.from(d.audioContent.slice(0, 16), 'base64');
      if (head.length < 12 || head.toString('ascii', 0, 4) !== 'RIFF' || head.toString('ascii', 8, 12) !== 'WAVE') {
        ctx.addIssue({ code: 'custom', message: 'wav audio must be a RIFF/WAVE file', path: ['audioContent'] });
      }
    }
  });

function decodedLength(b64: string): number {
  const pad = b64.endsWith('==') ? 2 : b64.endsWith('=') ? 1 : 0;
  return (b64.length / 4) * 3 - pad;
}

/**
 * Mark names travel back inside a JSON string the fork module builds by concatenation, without
 * escaping: a quote, a backslash or a control character would make jambonz's answer unparseable.
 */
export const markNameSchema = z
  .string({ error: 'mark name must be a string' })
  .min(1, 'mark name is empty')
  .max(128, 'mark name is longer than 128 characters')
  .regex(/^[^"\\\u0000-\u001f]+$/, 'mark name must not contain quotes, backslashes or control characters');

export function encodeAudioCommand(cmd: JambonzAudioCommand): string {
  return JSON.stringify(cmd);
}
