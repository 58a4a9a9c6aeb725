// Hook routes: the server side of jambonz's call-control WebSocket protocol (`ws.jambonz.org`).
// The feature-server dials out to the application, one socket per call, and speaks JSON:
// session:new / verb:hook / call:status … in, `ack` / `command` out. Per call this adapter runs two
// actors: the shared call machine (the call's life, fed by call:status) and a jambonzSession
// machine (who owes whom an ack, fallback on timeout, reconnect grace). The adapter only parses,
// routes and writes; what to send when is the session machine's decision.
import type { IncomingMessage } from 'node:http';
import type { WebSocket, RawData } from 'ws';
import type { Logger } from 'pino';
import type { CallEvent } from '../../machines/call.machine.js';
import {
  jambonzSessionMachine,
  type JambonzCommandParams,
  type JambonzPendingKind,
  type JambonzSessionEnd,
  type JambonzSessionMachine,
} from '../../machines/jambonzSession.machine.js';
import type { ConnectionContext, RouteParams, WsRoute } from '../http/server.js';
import { DEFAULT_FRAME_RATES, FrameGate, RATE_LIMIT_CLOSE, checkRateLimit, type RateLimit } from '../http/rate-limit.js';
import { LimitExceededError, type SupervisedActor } from '../actors/supervisor.js';
import { stateToString } from '../actors/state.js';
import type { Call, CallWire } from '../call/call.js';
import type { JambonzContext, JambonzRoute } from './index.js';
import {
  JAMBONZ_ACK_REQUIRED,
  JAMBONZ_COMMAND_SCHEMAS,
  JAMBONZ_WS_SUBPROTOCOL,
  JambonzAckTimeoutError,
  JambonzCommandError,
  encodeJambonzMessage,
  parseJambonzMessage,
  type JambonzCallInfo,
  type JambonzCallStatus,
  type JambonzCommandData,
  type JambonzCommandName,
  type JambonzHookData,
  type JambonzInbound,
  type JambonzInboundMessage,
  type JambonzOutboundMessage,
} from './protocol.js';
import { JAMBONZ_VERB_METHODS, JambonzVerbs, validateVerbs, type JambonzVerb, type JambonzVerbMethods } from './verbs.js';
import { WS_CLOSE } from '../http/close-codes.js';

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
   * the app's late reply still lands (as a `command redirect`); if none comes the call ends.
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
  'verb:hook': [hook: string, data: JambonzHookData];
  /** jambonz asks for a new application (a redirect to a relative hook). Reply with `session.reply()`. */
  'session:redirect': [hook: string, data: JambonzCallInfo];
  'dial:confirm': [hook: string, data: JambonzHookData];
  'queue:status': [hook: string, data: Record<string, unknown>];
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
type EventName = keyof JambonzSessionEvents;
type HookListener = (data: JambonzHookData, hook: string) => unknown;

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
   * Answer the message jambonz is waiting on (session:new, verb:hook, session:redirect) with these
   * verbs, or with the verbs queued by the fluent methods. When nothing is waiting the verbs go as
   * a `command redirect`. Throws JambonzVerbError (nothing sent) when a verb is invalid.
   */
  reply(verbs?: readonly JambonzVerb[]): void;
  /** Send verbs as a `command redirect` (replace the running app, or append with `queue`). */
  send(verbs?: readonly JambonzVerb[], opts?: { queue?: boolean }): void;
  /** Any other live-call-control command, data checked at the edge (JambonzCommandError/JambonzVerbError). */
  command<K extends JambonzCommandName>(name: K, data: JambonzCommandData[K], opts?: JambonzCommandOptions): void;
  /** Hang the call up (`command call:status completed`, or a hangup verb if nothing was acked yet). */
  hangup(): void;
  /** End the session here: the call is hung up and the socket closed. */
  close(): void;
  on<K extends EventName>(event: K, fn: (...args: JambonzSessionEvents[K]) => unknown): this;
  /** A verb hook by its hook name (the `actionHook`/`eventHook` given in the verb). */
  on(hook: string, fn: HookListener): this;
  once<K extends EventName>(event: K, fn: (...args: JambonzSessionEvents[K]) => unknown): this;
  once(hook: string, fn: HookListener): this;
  off(event: string, fn: (...args: never[]) => unknown): this;
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

const DEFAULT_FALLBACK: JambonzVerb[] = [{ verb: 'pause', length: 10 }];
const DEFAULT_ERROR: JambonzVerb[] = [{ verb: 'hangup' }];

interface Conn {
  ws: WebSocket;
  remote: string;
  /** Who opened the socket (undefined when auth is off for the route). */
  principal: string | undefined;
  sessions: Map<string, HookSession>;
  gate: FrameGate;
  /** Liveness probe running after a refused reconnect (see `reconnectProbeMs`). */
  probe: NodeJS.Timeout | undefined;
}

interface Route {
  readonly path: string;
  readonly ctx: JambonzContext;
  readonly log: Logger;
  readonly handler: JambonzHookHandler;
  readonly ackTimeoutMs: number;
  readonly reconnectGraceMs: number;
  readonly fallbackVerbs: JambonzVerb[];
  readonly errorVerbs: JambonzVerb[];
  readonly maxQueued: number;
  readonly machine: JambonzSessionMachine;
  readonly sessions: Map<string, HookSession>;
  readonly byActor: Map<string, HookSession>;
}

function sendRaw(ws: WebSocket, msg: JambonzOutboundMessage): void {
  if (ws.readyState === ws.OPEN) ws.send(encodeJambonzMessage(msg));
}

function isPromiseLike(v: unknown): v is PromiseLike<unknown> {
  return typeof v === 'object' && v !== null && typeof (v as { then?: unknown }).then === 'function';
}

/**
 * call:status → call machine event. The call actor is ringing from session:new until jambonz says
 * the call is answered (in-progress); the final statuses end it with the matching reason. Returns
 * undefined when the status changes nothing (trying, queued, or already past that point).
 */
export function callEventForStatus(
  status: JambonzCallStatus,
  direction: 'inbound' | 'outbound',
  callState: string,
  sip: { status?: number; reason?: string } = {},
): CallEvent | undefined {
  if (callState === 'ended') return undefined;
  const ringing = callState === 'ringing';
  const detail = `call:status ${status}${sip.status ? ` (${sip.status}${sip.reason ? ` ${sip.reason}` : ''})` : ''}`;
  switch (status) {
    case 'trying':
    case 'queued':
      return undefined;
    case 'ringing':
      return ringing ? { type: 'CALL.PROGRESS', code: 180 } : undefined;
    case 'early-media':
      return ringing ? { type: 'CALL.PROGRESS', code: 183, earlyMedia: true } : undefined;
    case 'in-progress':
      if (!ringing) return undefined;
      return direction === 'inbound' ? { type: 'CALL.ANSWER' } : { type: 'CALL.ANSWERED' };
    case 'completed':
      return { type: 'CALL.REMOTE_HANGUP', detail };
    case 'failed':
      return { type: 'CALL.FAILED', ...(sip.status ? { code: sip.status } : {}), reason: detail };
    case 'busy':
      if (!ringing) return { type: 'CALL.REMOTE_HANGUP', detail };
      // Outbound: the callee was busy. Inbound: the app's verbs declined the call (sip:decline 486).
      return direction === 'outbound'
        ? { type: 'CALL.REJECTED', code: sip.status ?? 486, reason: sip.reason ?? 'Busy Here' }
        : { type: 'CALL.REJECT', code: sip.status ?? 486, reason: sip.reason ?? 'Busy Here' };
    case 'no-answer':
      if (!ringing) return { type: 'CALL.REMOTE_HANGUP', detail };
      // Outbound: nobody answered. Inbound: the caller gave up before jambonz answered.
      return direction === 'outbound' ? { type: 'CALL.REJECTED', code: sip.status ?? 480, reason: sip.reason ?? 'No Answer' } : { type: 'CALL.CANCELLED' };
  }
}

class HookSession implements JambonzSession {
  readonly callSid: string;
  msgid: string;
  readonly b3: string | undefined;
  readonly request: JambonzCallInfo;
  readonly path: string;
  readonly locals: Record<string, unknown>;
  readonly data: Record<string, unknown> = {};
  call!: Call;
  sup!: SupervisedActor<JambonzSessionMachine>;
  conn: Conn | undefined;
  /** The principal of the socket that started the session: only it may reconnect the session. */
  readonly principal: string | undefined;
  private readonly listeners = new Map<string, Array<{ fn: (...args: never[]) => unknown; once: boolean }>>();
  private readonly inbound = new Map<string, { type: string; hook: string; data: Record<string, unknown> }>();
  private readonly outbox: JambonzOutboundMessage[] = [];
  private payload = new JambonzVerbs();
  private feeding = false;
  private failed = false;
  private ended: JambonzSessionEnd | undefined;
  private readonly closeWaiters: Array<(end: JambonzSessionEnd) => void> = [];

  constructor(
    private readonly route: Route,
    msg: JambonzInbound<'session:new'> | JambonzInbound<'session:adulting'>,
    conn: Conn,
  ) {
    this.callSid = msg.call_sid;
    this.msgid = msg.msgid;
    this.b3 = msg.b3;
    this.request = msg.data;
    this.path = route.path;
    this.locals = route.ctx.locals;
    this.conn = conn;
    this.principal = conn.principal;
  }

  get logger(): Logger {
    return this.sup.logger;
  }

  get state(): string {
    return stateToString(this.sup.ref.getSnapshot().value);
  }

  get isClosed(): boolean {
    return this.ended !== undefined || this.sup.ref.getSnapshot().status !== 'active';
  }

  // ---- app API -------------------------------------------------------------------------------

  reply(list?: readonly JambonzVerb[]): void {
    const verbs = validateVerbs(list ?? this.takePayload());
    if (this.isClosed) return this.logger.debug('reply after the session closed: dropped');
    this.sup.ref.send({ type: 'APP.ACK', verbs });
  }

  send(list?: readonly JambonzVerb[], opts: { queue?: boolean } = {}): void {
    const verbs = validateVerbs(list ?? this.takePayload());
    if (this.isClosed) return this.logger.debug('send after the session closed: dropped');
    this.sup.ref.send({ type: 'APP.COMMAND', command: 'redirect', data: verbs, queue: opts.queue ?? false });
  }

  command<K extends JambonzCommandName>(name: K, data: JambonzCommandData[K], opts: JambonzCommandOptions = {}): void {
    const checked = checkCommand(name, data);
    if (this.isClosed) return this.logger.debug({ command: name }, 'command after the session closed: dropped');
    this.sup.ref.send({
      type: 'APP.COMMAND',
      command: name,
      data: checked,
      queue: opts.queue ?? false,
      ...(opts.callSid !== undefined ? { callSid: opts.callSid } : {}),
      ...(opts.toolCallId !== undefined ? { toolCallId: opts.toolCallId } : {}),
    });
  }

  hangup(): void {
    // Through the call actor, so the call ends as a local hangup; its wire sends the command.
    this.call.hangup('app hangup');
  }

  close(): void {
    if (!this.isClosed) this.sup.ref.send({ type: 'SESSION.CLOSE' });
  }

  on(event: string, fn: (...args: never[]) => unknown): this {
    return this.addListenerEntry(event, fn, false);
  }

  once(event: string, fn: (...args: never[]) => unknown): this {
    return this.addListenerEntry(event, fn, true);
  }

  off(event: string, fn: (...args: never[]) => unknown): this {
    const list = this.listeners.get(event);
    const i = list?.findIndex((l) => l.fn === fn) ?? -1;
    if (list && i >= 0) list.splice(i, 1);
    return this;
  }

  waitForClose(): Promise<JambonzSessionEnd> {
    if (this.ended) return Promise.resolve(this.ended);
    return new Promise((resolve) => this.closeWaiters.push(resolve));
  }

  private addListenerEntry(event: string, fn: (...args: never[]) => unknown, once: boolean): this {
    let list = this.listeners.get(event);
    if (!list) this.listeners.set(event, (list = []));
    list.push({ fn, once });
    return this;
  }

  private takePayload(): JambonzVerbs {
    const p = this.payload;
    this.payload = new JambonzVerbs();
    return p;
  }

  /** @internal the fluent verb methods queue verbs for the next reply()/send(). */
  _queueVerb(verb: JambonzVerb): this {
    this.payload.push(verb);
    return this;
  }

  // ---- events to the app ---------------------------------------------------------------------

  /** Call the listeners of `event`; a throwing or rejecting listener is the app failing. */
  private emit(event: string, ...args: unknown[]): number {
    const list = this.listeners.get(event);
    if (!list?.length) return 0;
    const snapshot = [...list];
    for (const l of snapshot) if (l.once) this.off(event, l.fn);
    for (const l of snapshot) {
      try {
        const r = (l.fn as (...a: unknown[]) => unknown)(...args);
        if (isPromiseLike(r)) r.then(undefined, (err: unknown) => this.fail(err, event));
      } catch (err) {
        this.fail(err, event);
      }
    }
    return snapshot.length;
  }

  private emitError(err: Error): void {
    if (this.emit('error', err) === 0) this.logger.warn({ err }, 'session error (no error listener)');
  }

  /**
   * The app's code threw (handler or listener). Logged, traced, reported to an error listener, and
   * the call ends cleanly with `errorVerbs`: as the ack of a waiting message, else as a redirect.
   */
  fail(err: unknown, where: string): void {
    const error = err instanceof Error ? err : new Error(String(err));
    this.logger.error({ err: error, where }, 'jambonz app failed');
    this.sup.span?.addEvent('jambonz.app-error', { 'callchart.where': where, 'exception.message': error.message });
    if (where !== 'error') this.emit('error', error);
    if (this.failed || this.isClosed) return;
    this.failed = true;
    this.sup.ref.send({ type: 'APP.ACK', verbs: this.route.errorVerbs });
  }

  // ---- wire ----------------------------------------------------------------------------------

  write(msg: JambonzOutboundMessage): void {
    const ws = this.conn?.ws;
    if (ws && ws.readyState === ws.OPEN) {
      ws.send(encodeJambonzMessage(msg));
      return;
    }
    if (msg.type === 'ack') {
      // The msgid died with the socket (jambonz abandons messages in flight when it drops).
      this.logger.debug({ msgid: msg.msgid }, 'ack while disconnected: dropped');
      return;
    }
    if (this.outbox.length >= this.route.maxQueued) {
      const dropped = this.outbox.shift();
      this.logger.warn({ command: dropped?.type === 'command' ? dropped.command : undefined }, 'command queue full while disconnected: oldest dropped');
    }
    this.outbox.push(msg);
  }

  flush(): void {
    const ws = this.conn?.ws;
    if (!ws || ws.readyState !== ws.OPEN) return;
    for (const m of this.outbox.splice(0)) ws.send(encodeJambonzMessage(m));
  }

  /** Feed a call event that reports what jambonz did; the wire must not echo it back. */
  feed(ev: CallEvent): void {
    this.feeding = true;
    try {
      this.call.actor.send(ev);
    } finally {
      this.feeding = false;
    }
  }

  /** The CallWire: what app intents on the Call handle become on the jambonz wire. */
  wire(): CallWire {
    return new HookWire(this);
  }

  /** @internal Intents only: never echo what jambonz reported, nor act for an ended call or closed session. */
  _wireLive(): boolean {
    return !this.feeding && this.sup !== undefined && !this.isClosed && !this.call.isEnded;
  }

  // ---- from jambonz --------------------------------------------------------------------------

  handle(msg: JambonzInboundMessage): void {
    this.msgid = msg.msgid;
    switch (msg.type) {
      case 'call:status': {
        const d = msg.data;
        const ev = callEventForStatus(d.call_status, this.call.direction, this.call.state, { status: d.sip_status, reason: d.sip_reason });
        if (ev) this.feed(ev);
        this.emit('call:status', d);
        this.sup.ref.send({ type: 'CALL.STATUS', status: d.call_status });
        return;
      }
      case 'verb:hook':
      case 'dial:confirm':
      case 'queue:status': {
        const hook = msg.hook ?? msg.type;
        this.inbound.set(msg.msgid, { type: msg.type, hook, data: msg.data });
        this.sup.ref.send({ type: 'HOOK.RECEIVED', msgid: msg.msgid, hook });
        return;
      }
      case 'session:redirect':
        this.inbound.set(msg.msgid, { type: msg.type, hook: msg.hook, data: msg.data });
        this.sup.ref.send({ type: 'SESSION.REDIRECT', msgid: msg.msgid, hook: msg.hook });
        return;
      case 'jambonz:error':
        this.logger.warn({ error: msg.data }, 'jambonz reported an error');
        this.emit('jambonz:error', msg.data);
        return;
      case 'verb:status':
      case 'tts:streaming-event':
      case 'tts:tokens-result':
        this.emit(msg.type, msg.data);
        return;
      case 'llm:event':
      case 'llm:tool-call':
        this.emit(msg.type, msg.data, msg.hook);
        return;
      case 'session:new':
      case 'session:adulting':
      case 'session:reconnect':
        return; // routed by the connection, never here
    }
  }

  /** deliverHook/deliverRedirect: hand the message to the app; nobody listening → empty ack. */
  deliver(msgid: string): void {
    const m = this.inbound.get(msgid);
    this.inbound.delete(msgid);
    if (!m) return;
    // Outside the actor's transition: listeners may reply() synchronously.
    queueMicrotask(() => {
      if (this.isClosed) return;
      const data = m.data as JambonzHookData;
      let n = this.emit(m.hook, data, m.hook);
      if (n === 0) n = this.emit(m.type, m.hook, data);
      // As node-client-ws does: a hook nobody handles is acked with no verbs, so jambonz
      // carries on with the verbs it has instead of waiting out its timeout.
      if (n === 0) this.sup.ref.send({ type: 'APP.ACK', verbs: [] });
    });
  }

  runHandler(): void {
    queueMicrotask(() => {
      try {
        const r = this.route.handler(this);
        if (isPromiseLike(r)) r.then(undefined, (err: unknown) => this.fail(err, 'handler'));
      } catch (err) {
        this.fail(err, 'handler');
      }
    });
  }

  ackTimedOut(msgid: string, kind: JambonzPendingKind): void {
    this.logger.warn({ msgid, kind, timeoutMs: this.route.ackTimeoutMs }, 'app did not reply in time: fallback ack sent');
    this.sup.span?.addEvent('jambonz.ack-timeout', { 'jambonz.msgid': msgid, 'jambonz.kind': kind });
    this.emitError(new JambonzAckTimeoutError(msgid, kind, this.route.ackTimeoutMs));
  }

  reconnected(): void {
    this.logger.info({ outbox: this.outbox.length }, 'jambonz reconnected');
    this.sup.span?.addEvent('jambonz.reconnected');
    this.flush();
    this.emit('reconnect');
  }

  /** The session actor is done (or was stopped): settle the call and tell the app. */
  finished(end: JambonzSessionEnd): void {
    if (this.ended) return;
    this.ended = end;
    const r = this.route;
    if (r.sessions.get(this.callSid) === this) r.sessions.delete(this.callSid);
    r.byActor.delete(this.sup.id);
    const conn = this.conn;
    if (conn?.sessions.get(this.callSid) === this) conn.sessions.delete(this.callSid);
    if (!this.call.isEnded) {
      if (end.reason === 'reconnect-timeout') {
        this.feed({ type: 'CALL.FAILED', reason: `jambonz did not reconnect within ${this.route.reconnectGraceMs} ms` });
      } else if (end.reason === 'local-close') {
        this.call.hangup('session closed');
      } else {
        this.feed({ type: 'CALL.REMOTE_HANGUP', detail: end.reason === 'socket-closed' ? `jambonz closed the socket (${end.code ?? '?'})` : `session ended: ${end.reason}` });
      }
    }
    // Guarded: the session's child logger is built on first use, and at a level that drops the
    // line (the engine's default is silent) building it is all the line would cost.
    if (end.reason === 'reconnect-timeout') this.logger.warn({ end }, 'jambonz session closed');
    else if (r.log.isLevelEnabled('info')) this.logger.info({ end }, 'jambonz session closed');
    this.emit('close', end);
    for (const w of this.closeWaiters.splice(0)) w(end);
    // A session the app closed takes its socket along, once nothing else rides on it.
    if (end.reason === 'local-close' && conn && conn.sessions.size === 0 && conn.ws.readyState === conn.ws.OPEN) {
      setTimeout(() => conn.ws.close(WS_CLOSE.normal, 'session closed'), 20).unref();
    }
  }
}

/**
 * One session's CallWire. A class rather than an object of closures: a call costs one small object
 * here, not a dozen functions (each also renamed by tsx/esbuild's keepNames helper).
 */
class HookWire implements CallWire {
  constructor(private readonly s: HookSession) {}
  private verbs(v: JambonzVerb[]): void {
    this.s.sup.ref.send({ type: 'APP.COMMAND', command: 'redirect', data: v });
  }
  private cmd<K extends JambonzCommandName>(command: K, data: JambonzCommandData[K]): void {
    this.s.sup.ref.send({ type: 'APP.COMMAND', command, data });
  }
  // jambonz answers by itself when a verb needs media; an explicit answer is an `answer` verb
  // queued after what runs now.
  sendAnswer(): void {
    if (this.s._wireLive()) this.s.sup.ref.send({ type: 'APP.COMMAND', command: 'redirect', data: [{ verb: 'answer' }], queue: true });
  }
  sendReject(code: number, reason?: string): void {
    if (this.s._wireLive()) this.verbs([{ verb: 'sip:decline', status: code, ...(reason ? { reason } : {}) }]);
  }
  sendRedirect(code: number, contacts: string[]): void {
    if (this.s._wireLive()) this.verbs([{ verb: 'sip:decline', status: code, headers: { Contact: contacts.map((c) => `<${c}>`).join(', ') } }]);
  }
  sendHangup(): void {
    if (!this.s._wireLive()) return;
    // Before anything was acked, the hangup verb is the answer to session:new.
    if (this.s.state === 'live.awaitingApp') this.s.sup.ref.send({ type: 'APP.ACK', verbs: [{ verb: 'hangup' }] });
    else this.cmd('call:status', { call_status: 'completed' });
  }
  sendCancel(): void {
    if (this.s._wireLive()) this.cmd('call:status', { call_status: 'no-answer' });
  }
  // jambonz's only hold is a conference leg's: effective when the call is in a conference,
  // logged and ignored by jambonz otherwise.
  sendHold(): void {
    if (this.s._wireLive()) this.cmd('conf:hold-status', { conf_hold_status: 'hold' });
  }
  sendResume(): void {
    if (this.s._wireLive()) this.cmd('conf:hold-status', { conf_hold_status: 'unhold' });
  }
  sendDtmf(digits: string): void {
    if (!this.s._wireLive()) return;
    for (const digit of digits) this.cmd('dtmf', { dtmf: { digit } });
  }
  transfer(target: string): void {
    if (this.s._wireLive()) this.verbs([{ verb: 'sip:refer', referTo: target }]);
  }
  ended(): void {
    // A call that ends while jambonz is away has nobody left to reconnect for.
    if (!this.s.isClosed && this.s.state === 'disconnected') this.s.sup.ref.send({ type: 'SESSION.CLOSE' });
  }
}

// Fluent verbs on the session (`session.say({…}).gather({…}).reply()`), installed once.
interface HookSession extends JambonzSessionVerbMethods {}
for (const [method, verb] of Object.entries(JAMBONZ_VERB_METHODS)) {
  if (method in HookSession.prototype) continue; // hangup(): the session's own
  Object.defineProperty(HookSession.prototype, method, {
    value: function (this: HookSession, props?: object) {
      return this._queueVerb({ verb, ...props } as JambonzVerb);
    },
    writable: true,
    configurable: true,
  });
}

/** Check a command's data at the edge; returns what goes on the wire. */
function checkCommand<K extends JambonzCommandName>(name: K, data: JambonzCommandData[K]): unknown {
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
      const schema = (JAMBONZ_COMMAND_SCHEMAS as Record<string, { safeParse(v: unknown): { success: boolean; data?: unknown; error?: { issues: Array<{ message: string; path: PropertyKey[] }> } } }>)[name];
      if (!schema) throw new JambonzCommandError(name, 'unknown command');
      const r = schema.safeParse(data);
      if (!r.success) {
        const issue = r.error?.issues[0];
        throw new JambonzCommandError(name, `${issue?.message ?? 'invalid data'}${issue?.path.length ? ` (at ${issue.path.join('.')})` : ''}`);
      }
      return r.data;
    }
  }
}

export function createHookRoute(ctx: JambonzContext, path: string, handler: JambonzHookHandler, opts: JambonzHookOptions = {}): WsRoute & JambonzRoute {
  const log = ctx.logger.child({ route: 'hook', path });
  const ackTimeoutMs = opts.ackTimeoutMs ?? 4000;
  const reconnectGraceMs = opts.reconnectGraceMs ?? 30_000;
  const reconnectProbeMs = opts.reconnectProbeMs ?? 2000;
  const rate = opts.rateLimit === false ? false : checkRateLimit('jambonz hook rateLimit', opts.rateLimit ?? DEFAULT_FRAME_RATES.jambonzHook.text);
  // The engine's own verbs pass the same gate as the app's.
  const fallbackVerbs = validateVerbs(opts.fallbackVerbs ?? DEFAULT_FALLBACK);
  const errorVerbs = validateVerbs(opts.errorVerbs ?? DEFAULT_ERROR);
  const sessions = new Map<string, HookSession>();
  const byActor = new Map<string, HookSession>();
  const sockets = new Set<WebSocket>();
  let closing = false;

  const of = (id: string) => byActor.get(id);
  // Provided once per route: each action finds its session by actor id (no per-session clone).
  const machine = jambonzSessionMachine.provide({
    delays: { ackTimeout: ackTimeoutMs, reconnectGrace: reconnectGraceMs },
    actions: {
      startApp: ({ self }) => of(self.id)?.runHandler(),
      deliverHook: ({ self }, p) => of(self.id)?.deliver(p.msgid),
      deliverRedirect: ({ self }, p) => of(self.id)?.deliver(p.msgid),
      sendAck: ({ self }, p) => of(self.id)?.write({ type: 'ack', msgid: p.msgid, ...(p.verbs.length ? { data: p.verbs as JambonzVerb[] } : {}) }),
      sendFallbackAck: ({ self }, p) => of(self.id)?.write({ type: 'ack', msgid: p.msgid, data: fallbackVerbs }),
      sendRedirect: ({ self }, p) => of(self.id)?.write({ type: 'command', command: 'redirect', queueCommand: p.queue, data: p.verbs as JambonzVerb[] }),
      sendCommand: ({ self }, p: JambonzCommandParams) =>
        of(self.id)?.write({
          type: 'command',
          command: p.command,
          queueCommand: p.queue,
          data: p.data,
          ...(p.callSid !== undefined ? { callSid: p.callSid } : {}),
          ...(p.toolCallId !== undefined ? { tool_call_id: p.toolCallId } : {}),
        } as JambonzOutboundMessage),
      notifyAckTimeout: ({ self }, p) => of(self.id)?.ackTimedOut(p.msgid, p.kind),
      noteDisconnected: ({ self }, p) => {
        const s = of(self.id);
        if (!s) return;
        s.logger.warn({ code: p.code, graceMs: reconnectGraceMs }, 'jambonz socket dropped: waiting for session:reconnect');
        s.sup.span?.addEvent('jambonz.disconnected', { 'ws.close_code': p.code });
      },
      noteReconnected: ({ self }) => of(self.id)?.reconnected(),
    },
  });
  const route: Route = { path, ctx, log, handler, ackTimeoutMs, reconnectGraceMs, fallbackVerbs, errorVerbs, maxQueued: opts.maxQueuedCommands ?? 100, machine, sessions, byActor };

  const ackEmpty = (ws: WebSocket, msgid: string) => sendRaw(ws, { type: 'ack', msgid });

  function startSession(conn: Conn, msg: JambonzInbound<'session:new'> | JambonzInbound<'session:adulting'>): void {
    const callSid = msg.call_sid;
    if (closing) return ackEmpty(conn.ws, msg.msgid);
    if (sessions.has(callSid)) {
      log.warn({ callSid, type: msg.type }, 'session already live for this call_sid: acked without verbs');
      return ackEmpty(conn.ws, msg.msgid);
    }
    const direction = msg.data.direction === 'outbound' ? 'outbound' : 'inbound';
    const s = new HookSession(route, msg, conn);
    let call: Call;
    try {
      call = ctx.calls.create({
        callId: callSid,
        direction,
        transport: 'jambonz',
        from: msg.data.from,
        to: msg.data.to,
        wire: s.wire(),
        bindings: { callSid },
      });
    } catch (err) {
      // Refuse cleanly: an unanswered inbound call is declined 503, anything else hung up.
      const refusal: JambonzVerb[] = direction === 'inbound' && msg.data.call_status !== 'in-progress' ? [{ verb: 'sip:decline', status: 503, reason: 'Service Unavailable' }] : [{ verb: 'hangup' }];
      log.warn({ err, callSid }, err instanceof LimitExceededError ? 'call refused: limit reached' : 'call refused');
      sendRaw(conn.ws, { type: 'ack', msgid: msg.msgid, data: refusal });
      return;
    }
    s.call = call;
    const actorId = `jambonz:${callSid}`;
    byActor.set(actorId, s);
    try {
      s.sup = ctx.supervisor.spawn(machine, {
        kind: 'session',
        id: actorId,
        input: { callSid },
        traced: true,
        bindings: { callSid, path },
        onDone: (out) => s.finished(out as JambonzSessionEnd),
        onCrash: (err) => {
          s.finished({ reason: 'local-close' });
          log.error({ err, callSid }, 'jambonz session actor crashed');
        },
        onExit: () => s.finished({ reason: 'local-close' }),
      });
    } catch (err) {
      byActor.delete(actorId);
      log.error({ err, callSid }, 'cannot start jambonz session');
      call.actor.send({ type: 'CALL.FAILED', reason: 'cannot start jambonz session' });
      sendRaw(conn.ws, { type: 'ack', msgid: msg.msgid, data: errorVerbs });
      return;
    }
    sessions.set(callSid, s);
    conn.sessions.set(callSid, s);
    // The call actor follows jambonz: offered (ringing) now, then whatever session:new reports.
    s.feed(direction === 'inbound' ? { type: 'CALL.INCOMING' } : { type: 'CALL.DIAL' });
    const initial = msg.data.call_status;
    if (initial) {
      const ev = callEventForStatus(initial, direction, call.state, { status: msg.data.sip_status, reason: msg.data.sip_reason });
      if (ev) s.feed(ev);
    }
    if (log.isLevelEnabled('info')) s.logger.info({ from: msg.data.from, to: msg.data.to, direction, type: msg.type }, 'jambonz session started');
    s.sup.ref.send({ type: 'SESSION.NEW', msgid: msg.msgid });
  }

  /** Close a socket whose session:reconnect may not take the session; the session is untouched. */
  function refuseReconnect(conn: Conn, s: HookSession, why: string): void {
    s.logger.warn({ remote: conn.remote, principal: conn.principal, originalPrincipal: s.principal, why }, 'session:reconnect refused');
    conn.ws.close(WS_CLOSE.policy, `session:reconnect refused: ${why}`.slice(0, 123));
  }

  /** Ping a socket that should be dead if jambonz is reconnecting; no pong in time, close it. */
  function probe(old: Conn): void {
    if (old.probe) return;
    const onPong = () => {
      clearTimeout(old.probe);
      old.probe = undefined;
    };
    old.ws.once('pong', onPong);
    old.probe = setTimeout(() => {
      old.probe = undefined;
      old.ws.off('pong', onPong);
      log.warn({ remote: old.remote }, 'hook socket did not answer a ping after a reconnect attempt: closed');
      old.ws.terminate();
    }, reconnectProbeMs);
    old.probe.unref();
    old.ws.ping();
  }

  function reconnect(conn: Conn, msg: JambonzInbound<'session:reconnect'>): void {
    const s = sessions.get(msg.call_sid);
    if (!s || s.isClosed) {
      // Nothing to resume here (e.g. this process restarted): jambonz keeps running its verbs.
      log.warn({ callSid: msg.call_sid }, 'session:reconnect for an unknown call_sid: acked without verbs');
      return ackEmpty(conn.ws, msg.msgid);
    }
    // Only the app that opened the session may resume it: with auth on, the same principal.
    if (s.principal !== conn.principal) return refuseReconnect(conn, s, 'not the credentials of the original socket');
    const old = s.conn;
    // jambonz reconnects only after its socket closed; a takeover of a live socket is never one.
    if (old && old !== conn && old.ws.readyState === old.ws.OPEN) {
      probe(old);
      return refuseReconnect(conn, s, 'the session is live on another socket');
    }
    if (old && old !== conn) {
      old.sessions.delete(s.callSid);
      // jambonz only reconnects after its socket closed; if we never saw that close, we do now.
      if (s.state !== 'disconnected') s.sup.ref.send({ type: 'SOCKET.CLOSED', code: 1006 });
    }
    s.conn = conn;
    conn.sessions.set(s.callSid, s);
    s.msgid = msg.msgid;
    s.sup.ref.send({ type: 'SESSION.RECONNECT', msgid: msg.msgid });
  }

  function onMessage(conn: Conn, data: RawData, isBinary: boolean): void {
    if (isBinary) {
      log.warn({ remote: conn.remote }, 'binary frame on a hook socket: ignored');
      return;
    }
    const parsed = parseJambonzMessage(data.toString());
    if (!parsed.ok) {
      // jambonz has no error reply: log, keep the session, and ack what it waits on so it does
      // not time out (and hang up) over a message we could not read.
      log.warn({ reason: parsed.reason, type: parsed.type, msgid: parsed.msgid, callSid: parsed.call_sid, remote: conn.remote }, 'bad jambonz message');
      if (parsed.msgid && parsed.type && JAMBONZ_ACK_REQUIRED.has(parsed.type)) ackEmpty(conn.ws, parsed.msgid);
      return;
    }
    const msg = parsed.msg;
    if (msg.type === 'session:new' || msg.type === 'session:adulting') return startSession(conn, msg);
    if (msg.type === 'session:reconnect') return reconnect(conn, msg);
    const s = conn.sessions.get(msg.call_sid);
    if (!s) {
      log.warn({ type: msg.type, callSid: msg.call_sid }, 'message for a call_sid with no session on this socket');
      if (JAMBONZ_ACK_REQUIRED.has(msg.type)) ackEmpty(conn.ws, msg.msgid);
      return;
    }
    s.handle(msg);
  }

  return {
    name: 'jambonz-hook',
    path,
    maxPayload: opts.maxPayload ?? 256 * 1024,
    protocols: [JAMBONZ_WS_SUBPROTOCOL],
    requireProtocol: true,
    match: (url) => (url.pathname === path ? {} : null),
    onConnection(ws: WebSocket, req: IncomingMessage, _params: RouteParams, cctx: ConnectionContext) {
      const conn: Conn = {
        ws,
        remote: `${req.socket.remoteAddress ?? '?'}:${req.socket.remotePort ?? 0}`,
        principal: cctx.principal,
        sessions: new Map(),
        gate: new FrameGate({ any: rate }),
        probe: undefined,
      };
      sockets.add(ws);
      ws.on('message', (data: RawData, isBinary: boolean) => {
        if (!conn.gate.allow(isBinary)) {
          if (ws.readyState === ws.OPEN) log.warn({ remote: conn.remote, principal: conn.principal }, 'hook socket over its rate limit: closed');
          ws.close(RATE_LIMIT_CLOSE.code, RATE_LIMIT_CLOSE.reason);
          return;
        }
        try {
          onMessage(conn, data, isBinary);
        } catch (err) {
          // One bad message never takes the socket, the process or another session down.
          log.error({ err, remote: conn.remote }, 'jambonz message handling failed');
        }
      });
      ws.on('close', (code: number) => {
        sockets.delete(ws);
        clearTimeout(conn.probe);
        for (const s of [...conn.sessions.values()]) {
          if (s.conn !== conn) continue;
          s.conn = undefined;
          if (!s.isClosed) s.sup.ref.send({ type: 'SOCKET.CLOSED', code });
        }
        conn.sessions.clear();
      });
    },
    async close() {
      closing = true;
      for (const s of [...sessions.values()]) s.close();
      const closed = [...sockets].map(
        (ws) =>
          new Promise<void>((resolve) => {
            if (ws.readyState === ws.CLOSED) return resolve();
            const t = setTimeout(() => {
              ws.terminate();
              resolve();
            }, 1000);
            ws.once('close', () => {
              clearTimeout(t);
              resolve();
            });
            ws.close(WS_CLOSE.goingAway, 'server shutting down');
          }),
      );
      await Promise.all(closed);
    },
  };
}
