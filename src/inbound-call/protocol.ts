// Codec for the simple inbound-call WebSocket protocol. Pure: validates client frames and builds
// server frames; knows nothing of sockets or actors.
import { parseJsonObject } from '../json.js';
import { z } from 'zod';

import { DTMF_DIGIT } from '../media/codecs/dtmf.js';

const sessionId = z.string({ error: 'missing field sessionId' }).min(1, 'missing field sessionId');

const clientMessage = z.discriminatedUnion(
  'event',
  [
    z.object({
      event: z.literal('dtmf'),
      sessionId,
      digit: z
        .string({ error: 'missing field digit' })
        .regex(DTMF_DIGIT, 'invalid digit: expected one of 0-9 * # A-D'),
    }),
    z.object({ event: z.literal('hangup'), sessionId }),
  ],
  { error: (iss) => (iss.code === 'invalid_union' ? `unknown event` : undefined) },
);

export type InboundClientMessage = z.infer<typeof clientMessage>;

export type InboundServerMessage =
  | { event: 'incoming_call'; sessionId: string; from?: string; to?: string }
  | { event: 'answer'; sessionId: string }
  | { event: 'hangup'; sessionId: string; reason?: string; code?: number }
  /** A digit from the application (`call.sendDtmf`), the same shape as the client's `dtmf`. */
  | { event: 'dtmf'; sessionId: string; digit: string }
  | { event: 'error'; reason: string; sessionId?: string };

export type ParseClientResult = { ok: true; message: InboundClientMessage } | { ok: false; reason: string };

/** Parse and validate one text frame from a client of session `expectedSessionId`. */
export function parseClientMessage(text: string, expectedSessionId: string): ParseClientResult {
  const json = parseJsonObject(text);
  if (!json.ok) return json;
  const raw = json.value;
  const ev = raw.event;
  if (ev === undefined) return { ok: false, reason: 'missing field event' };
  // Never String() a client value: a deeply nested array stringifies recursively and overflows the stack.
  if (ev !== 'dtmf' && ev !== 'hangup') return { ok: false, reason: typeof ev === 'string' ? `unknown event: ${ev.slice(0, 40)}` : `event must be a string, not ${Array.isArray(ev) ? 'an array' : typeof ev}` };
  const parsed = clientMessage.safeParse(raw);
  if (!parsed.success) return { ok: false, reason: parsed.error.issues[0]?.message ?? 'invalid message' };
  if (parsed.data.sessionId !== expectedSessionId) return { ok: false, reason: 'unknown sessionId' };
  return { ok: true, message: parsed.data };
}

export function encodeServerMessage(msg: InboundServerMessage): string {
  return JSON.stringify(msg);
}
