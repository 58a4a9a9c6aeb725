// Codec for the jambonz call-control WebSocket protocol (`ws.jambonz.org`): the messages the
// feature-server sends (validated with zod at the edge) and the ones an application sends back
// (`ack`, `command`). Pure: no sockets, no actors. Field names and shapes follow the jambonz
// WebSocket API reference and what jambonz-feature-server actually sends (ws-requestor.js).
import { parseJsonObject } from '../json.js';
import { z } from 'zod';
import { validateVerbs, type JambonzVerb, type JambonzDubProps, type JambonzConfigProps, type JambonzPlayVerb, type JambonzSayVerb } from './verbs.js';

export const JAMBONZ_WS_SUBPROTOCOL = 'ws.jambonz.org';

export const JAMBONZ_CALL_STATUSES = ['trying', 'ringing', 'early-media', 'in-progress', 'completed', 'failed', 'busy', 'no-answer', 'queued'] as const;
export type JambonzCallStatus = (typeof JAMBONZ_CALL_STATUSES)[number];
/** Statuses after which the call is over. */
export const JAMBONZ_TERMINAL_CALL_STATUSES: ReadonlySet<JambonzCallStatus> = new Set(['completed', 'failed', 'busy', 'no-answer']);

// ---- inbound (jambonz → application) --------------------------------------------------------

const sipInfo = z.looseObject({
  headers: z.record(z.string(), z.string()).optional(),
  raw: z.string().optional(),
  body: z.string().optional(),
  method: z.string().optional(),
  version: z.string().optional(),
  uri: z.string().optional(),
  payload: z.array(z.looseObject({ type: z.string().optional(), content: z.string().optional() })).optional(),
});

/**
 * The call description jambonz sends with session and hook messages (the same fields its HTTP
 * webhooks carry). Known fields are typed; anything else jambonz adds passes through.
 */
const callInfo = z.looseObject({
  call_sid: z.string().optional(),
  direction: z.enum(['inbound', 'outbound']).optional(),
  from: z.string().optional(),
  to: z.string().optional(),
  call_id: z.string().optional(),
  caller_name: z.string().optional(),
  sip_status: z.number().optional(),
  sip_reason: z.string().optional(),
  call_status: z.enum(JAMBONZ_CALL_STATUSES).optional(),
  account_sid: z.string().optional(),
  application_sid: z.string().optional(),
  parent_call_sid: z.string().optional(),
  trace_id: z.string().optional(),
  originating_sip_ip: z.string().optional(),
  originating_sip_trunk_name: z.string().optional(),
  local_sip_address: z.string().optional(),
  fs_sip_address: z.string().optional(),
  service_provider_sid: z.string().optional(),
  api_base_url: z.string().optional(),
  sip: sipInfo.optional(),
  customerData: z.record(z.string(), z.unknown()).optional(),
  env_vars: z.record(z.string(), z.unknown()).optional(),
  defaults: z.record(z.string(), z.unknown()).optional(),
});
export type JambonzCallInfo = z.infer<typeof callInfo>;

/** What a verb's actionHook/eventHook reports (gather: `reason`, `digits`, `speech`; dial: `dial_call_status`…). */
const hookData = callInfo.extend({
  reason: z.string().optional(),
  digits: z.string().optional(),
  speech: z.record(z.string(), z.unknown()).optional(),
});
export type JambonzHookData = z.infer<typeof hookData>;

const envelope = {
  msgid: z.string({ error: 'missing field msgid' }).min(1, 'missing field msgid'),
  call_sid: z.string({ error: 'missing field call_sid' }).min(1, 'missing field call_sid'),
  b3: z.string().optional(),
};
const hook = z.string({ error: 'missing field hook' }).min(1, 'missing field hook');
const loose = z.looseObject({});

const schemas = {
  'session:new': z.object({ type: z.literal('session:new'), ...envelope, data: callInfo }),
  'session:adulting': z.object({ type: z.literal('session:adulting'), ...envelope, data: callInfo }),
  'session:reconnect': z.object({ type: z.literal('session:reconnect'), ...envelope, hook: z.string().optional(), data: callInfo.optional() }),
  'session:redirect': z.object({ type: z.literal('session:redirect'), ...envelope, hook, data: callInfo }),
  'verb:hook': z.object({ type: z.literal('verb:hook'), ...envelope, hook, data: hookData }),
  'dial:confirm': z.object({ type: z.literal('dial:confirm'), ...envelope, hook, data: hookData }),
  'queue:status': z.object({ type: z.literal('queue:status'), ...envelope, hook: z.string().optional(), data: loose }),
  'call:status': z.object({
    type: z.literal('call:status'),
    ...envelope,
    data: callInfo.extend({ call_status: z.enum(JAMBONZ_CALL_STATUSES, { error: 'invalid or missing data.call_status' }) }),
  }),
  'verb:status': z.object({
    type: z.literal('verb:status'),
    ...envelope,
    data: z.looseObject({ id: z.string().optional(), verb: z.string().optional(), status: z.string().optional() }),
  }),
  'jambonz:error': z.object({
    type: z.literal('jambonz:error'),
    ...envelope,
    data: z.looseObject({ error: z.string().optional(), verb: z.string().optional(), msg: z.string().optional(), details: z.string().optional() }),
  }),
  // LLM and streaming-TTS notifications: accepted and handed to the app as they are.
  'llm:event': z.object({ type: z.literal('llm:event'), ...envelope, hook: z.string().optional(), data: loose }),
  'llm:tool-call': z.object({ type: z.literal('llm:tool-call'), ...envelope, hook: z.string().optional(), data: loose }),
  'tts:streaming-event': z.object({ type: z.literal('tts:streaming-event'), ...envelope, data: loose }),
  'tts:tokens-result': z.object({ type: z.literal('tts:tokens-result'), ...envelope, data: loose }),
} as const;

export type JambonzInboundType = keyof typeof schemas;
export type JambonzInboundMessage = { [K in JambonzInboundType]: z.infer<(typeof schemas)[K]> }[JambonzInboundType];
export type JambonzInbound<K extends JambonzInboundType> = Extract<JambonzInboundMessage, { type: K }>;
export type JambonzSessionNewMessage = JambonzInbound<'session:new'>;
export type JambonzVerbHookMessage = JambonzInbound<'verb:hook'>;
export type JambonzCallStatusMessage = JambonzInbound<'call:status'>;

export const JAMBONZ_INBOUND_TYPES = Object.keys(schemas) as JambonzInboundType[];

/**
 * Types the feature-server waits an `ack` for (RESPONSE_TIMEOUT_MS, 5 s by default): every hook
 * message type except the notifications (its MTYPE_WANTS_ACK list is, despite the name, the
 * list of types that do NOT want one).
 */
export const JAMBONZ_ACK_REQUIRED: ReadonlySet<string> = new Set([
  'session:new',
  'session:adulting',
  'session:reconnect',
  'session:redirect',
  'verb:hook',
  'dial:confirm',
  'queue:status',
]);

export type ParseJambonzResult =
  | { ok: true; msg: JambonzInboundMessage }
  | {
      ok: false;
      reason: string;
      /** What could be read of the bad message, so it can still be acked/routed. */
      type?: string;
      msgid?: string;
      call_sid?: string;
    };

/** Parse and validate one text frame from the feature-server. */
export function parseJambonzMessage(text: string): ParseJambonzResult {
  const json = parseJsonObject(text);
  if (!json.ok) return json;
  const o = json.value;
  if (typeof o.type !== 'string') return { ok: false, reason: 'missing field type', ...peek(o) };
  const schema = (schemas as Record<string, z.ZodType<JambonzInboundMessage>>)[o.type];
  if (!schema) return { ok: false, reason: `unknown type: ${o.type.slice(0, 40)}`, ...peek(o) };
  const parsed = schema.safeParse(o);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue?.path.length ? ` (at ${issue.path.join('.')})` : '';
    return { ok: false, reason: `${o.type}: ${issue?.message ?? 'invalid message'}${where}`, ...peek(o) };
  }
  return { ok: true, msg: parsed.data };
}

/** What can be read of a bad message (built only on the error path). */
function peek(o: Record<string, unknown>): { type?: string; msgid?: string; call_sid?: string } {
  return {
    ...(typeof o.type === 'string' ? { type: o.type } : {}),
    ...(typeof o.msgid === 'string' && o.msgid ? { msgid: o.msgid } : {}),
    ...(typeof o.call_sid === 'string' && o.call_sid ? { call_sid: o.call_sid } : {}),
  };
}

// ---- outbound (application → jambonz) -------------------------------------------------------

export interface JambonzAck {
  type: 'ack';
  msgid: string;
  data?: JambonzVerb[];
}

type MuteStatus = 'mute' | 'unmute';
type PauseResume = 'pause' | 'resume' | 'silence';

/** `data` of each command, as the feature-server's CallSession._onCommand reads it. */
export interface JambonzCommandData {
  /** Replace (or, with queueCommand, append to) the running application. */
  redirect: JambonzVerb[];
  /** Hang up (`completed`) or abandon an outbound call that is still ringing (`no-answer`). */
  'call:status': { call_status: 'completed' | 'no-answer' };
  'mute:status': { mute_status: MuteStatus };
  'conf:mute-status': { conf_mute_status: MuteStatus };
  'conf:hold-status': { conf_hold_status: 'hold' | 'unhold' };
  'conf:participant-action': { action: 'tag' | 'untag' | 'coach' | 'uncoach' | 'hold' | 'unhold' | 'mute' | 'unmute'; tag?: string };
  'listen:status': { listen_status: PauseResume };
  'transcribe:status': { transcribe_status: PauseResume };
  record: {
    action: 'startCallRecording' | 'stopCallRecording' | 'pauseCallRecording' | 'resumeCallRecording';
    type?: 'cloud' | 'siprec';
    recordingID?: string;
    siprecServerURL?: string | string[];
    headers?: Record<string, string>;
  };
  /** Play/say to one party of a dial or listen (say and play verbs only). */
  whisper: { whisper: Array<JambonzSayVerb | JambonzPlayVerb> | JambonzSayVerb | JambonzPlayVerb };
  'sip:request': { sip_request: { method: string; content_type?: string; content?: string; headers?: Record<string, string> } };
  dtmf: { dtmf: { digit: string; duration?: number } };
  tag: { tag: Record<string, unknown> };
  dub: Omit<JambonzDubProps, 'id'>;
  config: Omit<JambonzConfigProps, 'id'>;
  /** Gain in dB, e.g. `6` or `'-3 dB'`. */
  boostAudioSignal: number | string;
  'media:path': 'no-media' | 'partial-media' | 'full-media';
  /** Result of an llm tool call (the message also carries `tool_call_id`). */
  'llm:tool-output': Record<string, unknown>;
  'llm:update': Record<string, unknown>;
  'tts:tokens': { id: number; tokens: string };
  'tts:flush': Record<string, never> | undefined;
}
export type JambonzCommandName = keyof JambonzCommandData;

export type JambonzCommand = {
  [K in JambonzCommandName]: {
    type: 'command';
    command: K;
    /** true: append after the running verbs; false/absent: interrupt and replace. */
    queueCommand?: boolean;
    data: JambonzCommandData[K];
    /** Target another leg of this session (e.g. the dialled party). */
    callSid?: string;
    tool_call_id?: string;
  };
}[JambonzCommandName];

export type JambonzOutboundMessage = JambonzAck | JambonzCommand;

const muteStatus = z.enum(['mute', 'unmute']);
const pauseResume = z.enum(['pause', 'resume', 'silence']);
const stringMap = z.record(z.string(), z.string());

/**
 * zod schemas for the commands whose data is not a verb array (those go through validateVerbs
 * instead: redirect, whisper, dub, config). Strict objects: jambonz ignores unknown fields, so a
 * typo would silently do nothing.
 */
export const JAMBONZ_COMMAND_SCHEMAS: { [K in Exclude<JambonzCommandName, 'redirect' | 'whisper' | 'dub' | 'config'>]: z.ZodType<JambonzCommandData[K]> } = {
  'call:status': z.strictObject({ call_status: z.enum(['completed', 'no-answer']) }),
  'mute:status': z.strictObject({ mute_status: muteStatus }),
  'conf:mute-status': z.strictObject({ conf_mute_status: muteStatus }),
  'conf:hold-status': z.strictObject({ conf_hold_status: z.enum(['hold', 'unhold']) }),
  'conf:participant-action': z.strictObject({
    action: z.enum(['tag', 'untag', 'coach', 'uncoach', 'hold', 'unhold', 'mute', 'unmute']),
    tag: z.string().optional(),
  }),
  'listen:status': z.strictObject({ listen_status: pauseResume }),
  'transcribe:status': z.strictObject({ transcribe_status: pauseResume }),
  record: z.strictObject({
    action: z.enum(['startCallRecording', 'stopCallRecording', 'pauseCallRecording', 'resumeCallRecording']),
    type: z.enum(['cloud', 'siprec']).optional(),
    recordingID: z.string().optional(),
    siprecServerURL: z.union([z.string(), z.array(z.string())]).optional(),
    headers: stringMap.optional(),
  }),
  'sip:request': z.strictObject({
    sip_request: z.strictObject({
      method: z.string().min(1),
      content_type: z.string().optional(),
      content: z.string().optional(),
      headers: stringMap.optional(),
    }),
  }),
  dtmf: z.strictObject({ dtmf: z.strictObject({ digit: z.string().regex(/^[0-9*#A-D]+$/, 'invalid DTMF digit'), duration: z.number().positive().optional() }) }),
  tag: z.strictObject({ tag: z.record(z.string(), z.unknown()) }),
  boostAudioSignal: z.union([z.number(), z.string()]),
  'media:path': z.enum(['no-media', 'partial-media', 'full-media']),
  'llm:tool-output': z.record(z.string(), z.unknown()),
  'llm:update': z.record(z.string(), z.unknown()),
  'tts:tokens': z.strictObject({ id: z.number().int(), tokens: z.string() }),
  'tts:flush': z.union([z.strictObject({}), z.undefined()]) as z.ZodType<JambonzCommandData['tts:flush']>,
};

/** Check a command's data at the edge (throws JambonzCommandError/JambonzVerbError); returns what goes on the wire. */
export function checkCommand<K extends JambonzCommandName>(name: K, data: JambonzCommandData[K]): unknown {
  switch (name) {
    case 'redirect':
      return validateVerbs(data);
    case 'whisper': {
      const w = (data as JambonzCommandData['whisper']).whisper;
      const list = validateVerbs(Array.isArray(w) ? w : [w]);
      const bad = list.find((v) => v.verb !== 'say' && v.verb !== 'play');
      if (bad) throw new JambonzCommandError(name, `whisper takes say and play verbs only, not ${bad.verb}`);
      return { whisper: Array.isArray(w) ? list : list[0] };
    }
    case 'dub':
    case 'config': {
      const { verb: _v, ...props } = validateVerbs([{ verb: name, ...(data as object) }])[0]!;
      return props;
    }
    default: {
      const schema = (JAMBONZ_COMMAND_SCHEMAS as Record<string, z.ZodType | undefined>)[name];
      if (!schema) throw new JambonzCommandError(name, 'unknown command');
      const r = schema.safeParse(data);
      if (!r.success) {
        const issue = r.error.issues[0];
        throw new JambonzCommandError(name, `${issue?.message ?? 'invalid data'}${issue?.path.length ? ` (at ${issue.path.join('.')})` : ''}`);
      }
      return r.data;
    }
  }
}

export function encodeJambonzMessage(msg: JambonzOutboundMessage): string {
  return JSON.stringify(msg);
}

/** A `session.command()` whose data does not match what jambonz expects for that command; nothing was sent. */
export class JambonzCommandError extends Error {
  readonly code = 'JAMBONZ_INVALID_COMMAND';
  constructor(
    readonly command: string,
    readonly reason: string,
  ) {
    super(`invalid jambonz command ${command}: ${reason}`);
    this.name = 'JambonzCommandError';
  }
}

/**
 * The app did not answer a message jambonz waits on within the ack timeout: callchart sent the
 * fallback ack so jambonz would not hang up, and tells the app through `session.on('error')`.
 * A late reply still lands, as a `command redirect`.
 */
export class JambonzAckTimeoutError extends Error {
  readonly code = 'JAMBONZ_ACK_TIMEOUT';
  constructor(
    readonly msgid: string,
    /** What was waiting: the session start, a verb hook or a session:redirect. */
    readonly kind: 'session' | 'hook' | 'redirect',
    readonly timeoutMs: number,
  ) {
    super(`no reply to jambonz ${kind} message ${msgid} within ${timeoutMs} ms: fallback ack sent`);
    this.name = 'JambonzAckTimeoutError';
  }
}
