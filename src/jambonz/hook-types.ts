// The public face of a jambonz hook route: its options, the handler, and the session the handler
// gets (`JambonzSession`) with the events it may listen to. Implemented by hook-session.ts.
import type { Logger } from 'pino';
import type { JambonzSessionEnd } from '../../machines/jambonzSession.machine.js';
import type { Call } from '../call/call.js';
import type { RateLimit } from '../http/rate-limit.js';
import type { JambonzCallInfo, JambonzCommandData, JambonzCommandName, JambonzHookData, JambonzInbound } from './protocol.js';
import type { JambonzVerb, JambonzVerbMethods } from './verbs.js';

export interface JambonzHookOptions {
  /** Largest accepted frame (default 256 KiB: session:new carries the whole SIP INVITE). */
  maxPayload?: number;
  /**
   * How long the app may take to answer a message jambonz waits on (session:new, verb:hook,
   * session:redirect) before callchart sends `fallbackVerbs` itself. Default 4000 ms: jambonz
   * hangs up a call whose session:new is not acked within 5 s.
   */
  ackTimeoutMs?: number;
  /**
   * The fallback ack's verbs. Default `[{ verb: 'pause', length: 10 }]`: the call stays up, so
   * an unnamed late reply still lands (as a `command redirect`); if none comes the call ends.
   */
  fallbackVerbs?: JambonzVerb[];
  /** Sent when the handler or a listener throws: default `[{ verb: 'hangup' }]` (a clean end). */
  errorVerbs?: JambonzVerb[];
  /**
   * How long a session whose socket dropped (any close but 1000) waits for jambonz's
   * session:reconnect before its call is ended as failed. Default 30 s: the feature-server retries
   * with 0.5/1/2/4 s backoff and a 1.5 s handshake timeout, about 15 s in all.
   */
  reconnectGraceMs?: number;
  /** Commands kept while the socket is down, flushed on reconnect (default 100; oldest dropped). */
  maxQueuedCommands?: number;
  /** Frames allowed per socket (default 200/s, burst 400); beyond, close 1008 `rate limit exceeded`. `false`: no limit. */
  rateLimit?: RateLimit | false;
  /**
   * A session:reconnect for a call whose original socket still looks open is refused (1008), and
   * that socket is pinged: without a pong within this time (default 2000 ms) it is taken for dead
   * and closed, so jambonz's next reconnect attempt (it retries with backoff) succeeds.
   */
  reconnectProbeMs?: number;
}

export type JambonzHookHandler = (session: JambonzSession) => void | Promise<void>;

/** What jambonz sends that the app may listen to, with each listener's arguments. */
export interface JambonzSessionEvents {
  /** Any verb hook no listener took by its hook name. Reply with `session.reply()`. */
  'verb:hook': [hook: string, data: JambonzHookData, msgid: string];
  /** jambonz asks for a new application (a redirect to a relative hook). Reply with `session.reply()`. */
  'session:redirect': [hook: string, data: JambonzCallInfo, msgid: string];
  'dial:confirm': [hook: string, data: JambonzHookData, msgid: string];
  'queue:status': [hook: string, data: Record<string, unknown>, msgid: string];
  'call:status': [data: JambonzInbound<'call:status'>['data']];
  'verb:status': [data: JambonzInbound<'verb:status'>['data']];
  'jambonz:error': [data: JambonzInbound<'jambonz:error'>['data']];
  'llm:event': [data: Record<string, unknown>, hook: string | undefined];
  'llm:tool-call': [data: Record<string, unknown>, hook: string | undefined];
  'tts:streaming-event': [data: Record<string, unknown>];
  'tts:tokens-result': [data: Record<string, unknown>];
  /** The socket came back (session:reconnect); the session's state and data are intact. */
  reconnect: [];
  /** Ack timeouts (JambonzAckTimeoutError) and the app's own thrown errors. */
  error: [err: Error];
  close: [end: JambonzSessionEnd];
}
export type JambonzSessionEventName = keyof JambonzSessionEvents;
/** A listener of a verb hook by its hook name. */
/** `msgid`: the hook's own, for `reply(verbs, { msgid })` when the reply comes later than the listener. */
export type JambonzHookListener = (data: JambonzHookData, hook: string, msgid: string) => unknown;

/**
 * Fluent verbs queued for the next reply()/send(): `session.say({…}).gather({…}).reply()`. The
 * `hangup` verb is the one exception — `session.hangup()` hangs up now; queue the verb with
 * `session.reply(verbs().say({…}).hangup())` instead.
 */
export type JambonzSessionVerbMethods = Omit<JambonzVerbMethods<JambonzSession>, 'hangup'>;

/** One call's session, handed to the hook handler. */
export interface JambonzSession extends JambonzSessionVerbMethods {
  readonly callSid: string;
  /** The latest message id jambonz sent on this session. */
  readonly msgid: string;
  /** OpenTelemetry propagation header jambonz sent (when tracing is on there). */
  readonly b3: string | undefined;
  /** session:new's data: from, to, direction, call_id, sip headers, account/application sids … */
  readonly request: JambonzCallInfo;
  /** The route path this session came in on. */
  readonly path: string;
  /** Application state shared by every session of every route (`engine.jambonz.locals`). */
  readonly locals: Record<string, unknown>;
  /** This session's own slot; survives reconnects. */
  readonly data: Record<string, unknown>;
  /** The call actor's handle (state follows call:status). */
  readonly call: Call;
  readonly logger: Logger;
  /** The session machine's state, e.g. `live.executing`, `disconnected`, `closed`. */
  readonly state: string;
  readonly isClosed: boolean;
  /**
   * Answer a message jambonz is waiting on (session:new, verb:hook, session:redirect) with these
   * verbs, or with the verbs queued by the fluent methods. Several hooks may wait at once, each
   * acked on its own: a reply made inside a hook's listener answers that hook; a later one answers
   * the hook named by `msgid` (the listener's third argument), else the oldest still waiting. A
   * reply naming a hook that no longer waits (its fallback went out) is dropped and logged; an
   * unnamed reply when nothing waits goes as a `command redirect`. Throws JambonzVerbError
   * (nothing sent) when a verb is invalid.
   */
  reply(verbs?: readonly JambonzVerb[], opts?: { msgid?: string }): void;
  /** Send verbs as a `command redirect` (replace the running app, or append with `queue`). */
  send(verbs?: readonly JambonzVerb[], opts?: { queue?: boolean }): void;
  /** Any other live-call-control command, data checked at the edge (JambonzCommandError/JambonzVerbError). */
  command<K extends JambonzCommandName>(name: K, data: JambonzCommandData[K], opts?: JambonzCommandOptions): void;
  /** Hang the call up (`command call:status completed`, or a hangup verb if nothing was acked yet). */
  hangup(): void;
  /** End the session here: the call is hung up and the socket closed. */
  close(): void;
  on<K extends JambonzSessionEventName>(event: K, fn: (...args: JambonzSessionEvents[K]) => unknown): this;
  /** A verb hook by its hook name (the `actionHook`/`eventHook` given in the verb). */
  on(hook: string, fn: JambonzHookListener): this;
  once<K extends JambonzSessionEventName>(event: K, fn: (...args: JambonzSessionEvents[K]) => unknown): this;
  once(hook: string, fn: JambonzHookListener): this;
  off<K extends JambonzSessionEventName>(event: K, fn: (...args: JambonzSessionEvents[K]) => unknown): this;
  off(hook: string, fn: JambonzHookListener): this;
  /** Resolves when the session ends. */
  waitForClose(): Promise<JambonzSessionEnd>;
}

export interface JambonzCommandOptions {
  queue?: boolean;
  /** Target another leg of this session (e.g. the dialled party's call_sid). */
  callSid?: string;
  /** llm:tool-output: the tool call answered. */
  toolCallId?: string;
}
