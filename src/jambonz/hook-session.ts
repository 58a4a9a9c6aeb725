// One jambonz hook session as the application sees it (`JambonzSession`), over two actors: the
// jambonzSession machine (who owes whom an ack, fallback on timeout, reconnect grace) and the
// shared call machine (the call's life, fed by call:status). This adapter routes: jambonz's
// messages become session-machine events and app events, the app's replies become machine events,
// and the machine's named actions (provided by hook-route.ts) land here to be written to the wire.
import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import type { CallEvent } from '../../machines/call.machine.js';
import type { JambonzCommandParams, JambonzPendingKind, JambonzSessionEnd, JambonzSessionMachine } from '../../machines/jambonzSession.machine.js';
import type { SupervisedActor } from '../actors/supervisor.js';
import { stateToString } from '../actors/state.js';
import type { Call, CallWire } from '../call/call.js';
import { WS_CLOSE } from '../http/close-codes.js';
import type { JambonzContext } from './context.js';
import { callEventForStatus } from './call-status.js';
import type { HookConn, HookWireSession } from './hook-wire.js';
import type { JambonzCommandOptions, JambonzHookHandler, JambonzSession } from './hook-types.js';
import {
  JambonzAckTimeoutError,
  checkCommand,
  encodeJambonzMessage,
  type JambonzCallInfo,
  type JambonzCommandData,
  type JambonzCommandName,
  type JambonzHookData,
  type JambonzInbound,
  type JambonzInboundMessage,
  type JambonzOutboundMessage,
} from './protocol.js';
import { JambonzVerbs, validateVerbs, withVerbMethods, type JambonzVerb } from './verbs.js';

/** What a session needs of its route: settings, the app's handler, and a way to be forgotten. */
export interface HookSessionRoute {
  readonly path: string;
  readonly ctx: JambonzContext;
  readonly log: Logger;
  readonly handler: JambonzHookHandler;
  readonly ackTimeoutMs: number;
  readonly reconnectGraceMs: number;
  readonly errorVerbs: JambonzVerb[];
  /** The session is over: drop it from the route's tables. */
  forget(s: HookSession): void;
}

function isPromiseLike(v: unknown): v is PromiseLike<unknown> {
  return typeof v === 'object' && v !== null && typeof (v as { then?: unknown }).then === 'function';
}

/** The session's base: an emitter that takes verbs, so that the generated verb methods apply. */
abstract class VerbTakingEmitter extends EventEmitter {
  abstract add(verb: JambonzVerb): this;
}

// The fluent verbs (`session.say({…}).gather({…}).reply()`) are the generated mixin's methods.
export class HookSession extends withVerbMethods(VerbTakingEmitter) implements JambonzSession, HookWireSession {
  readonly callSid: string;
  msgid: string;
  readonly b3: string | undefined;
  readonly request: JambonzCallInfo;
  readonly path: string;
  readonly locals: Record<string, unknown>;
  readonly data: Record<string, unknown> = {};
  call!: Call;
  sup!: SupervisedActor<JambonzSessionMachine>;
  conn: HookConn | undefined;
  /** The principal of the socket that started the session: only it may reconnect the session. */
  readonly principal: string | undefined;
  private readonly inbound = new Map<string, { type: string; hook: string; data: Record<string, unknown> }>();
  private payload = new JambonzVerbs();
  // A re-entrancy marker, not protocol state: true only while feed() is inside call.actor.send(),
  // so the wire can tell a report from jambonz (not to be echoed) from an app intent.
  private feeding = false;
  // Also a re-entrancy marker: the msgid of the hook whose listeners run right now.
  private delivering: string | undefined;
  private ended: JambonzSessionEnd | undefined;
  private readonly closeWaiters: Array<(end: JambonzSessionEnd) => void> = [];

  constructor(
    private readonly route: HookSessionRoute,
    msg: JambonzInbound<'session:new'> | JambonzInbound<'session:adulting'>,
    conn: HookConn,
  ) {
    super();
    // Listeners per event are the app's business (one per hook name is common, many is not wrong).
    this.setMaxListeners(0);
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

  reply(list?: readonly JambonzVerb[], opts: { msgid?: string } = {}): void {
    const verbs = validateVerbs(list ?? this.takePayload());
    if (this.isClosed) return this.logger.debug('reply after the session closed: dropped');
    // A reply made inside a hook's listener answers that hook, whatever else waits.
    const msgid = opts.msgid ?? this.delivering;
    this.sup.ref.send({ type: 'APP.ACK', verbs, ...(msgid !== undefined ? { msgid } : {}) });
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

  waitForClose(): Promise<JambonzSessionEnd> {
    if (this.ended) return Promise.resolve(this.ended);
    return new Promise((resolve) => this.closeWaiters.push(resolve));
  }

  private takePayload(): JambonzVerbs {
    const p = this.payload;
    this.payload = new JambonzVerbs();
    return p;
  }

  /** @internal the fluent verb methods queue verbs for the next reply()/send(). */
  add(verb: JambonzVerb): this {
    this.payload.push(verb);
    return this;
  }

  // ---- events to the app ---------------------------------------------------------------------

  /**
   * Call the listeners of `event` (EventEmitter's own `emit` would stop at the first that throws);
   * a throwing or rejecting listener is the app failing. Returns how many listeners were called.
   */
  private notify(event: string, ...args: unknown[]): number {
    // rawListeners: a copy, with `once` wrappers that remove themselves when called.
    const list = this.rawListeners(event) as Array<(...a: unknown[]) => unknown>;
    for (const fn of list) {
      try {
        const r = fn.apply(this, args);
        if (isPromiseLike(r)) r.then(undefined, (err: unknown) => this.fail(err, event));
      } catch (err) {
        this.fail(err, event);
      }
    }
    return list.length;
  }

  private emitError(err: Error): void {
    if (this.notify('error', err) === 0) this.logger.warn({ err }, 'session error (no error listener)');
  }

  /**
   * The app's code threw (handler or listener). Logged, traced, reported to an error listener, and
   * the call ends cleanly with `errorVerbs`: as the ack of a waiting message, else as a redirect.
   */
  fail(err: unknown, where: string): void {
    const error = err instanceof Error ? err : new Error(String(err));
    this.logger.error({ err: error, where }, 'jambonz app failed');
    this.sup.span?.addEvent('jambonz.app-error', { 'callchart.where': where, 'exception.message': error.message });
    if (where !== 'error') this.notify('error', error);
    if (!this.isClosed) this.sup.ref.send({ type: 'APP.FAILED', verbs: this.route.errorVerbs });
  }

  // ---- wire ----------------------------------------------------------------------------------

  /** sendAck/sendFallbackAck: an ack whose socket is gone is dropped (its msgid died with it). */
  writeAck(msgid: string, verbs: readonly JambonzVerb[]): void {
    const msg: JambonzOutboundMessage = { type: 'ack', msgid, ...(verbs.length ? { data: verbs as JambonzVerb[] } : {}) };
    if (!this.writeJson(msg)) this.logger.debug({ msgid }, 'ack while disconnected: dropped');
  }

  /**
   * sendCommand/sendRedirect/sendQueued. The machine queues commands while it knows the socket is
   * down; one written in the moment between the socket closing and its close event is handed back.
   */
  writeCommand(p: JambonzCommandParams): void {
    const msg = {
      type: 'command',
      command: p.command,
      queueCommand: p.queue,
      data: p.data,
      ...(p.callSid !== undefined ? { callSid: p.callSid } : {}),
      ...(p.toolCallId !== undefined ? { tool_call_id: p.toolCallId } : {}),
    } as JambonzOutboundMessage;
    if (!this.writeJson(msg) && !this.isClosed) this.sup.ref.send({ type: 'COMMAND.UNSENT', command: p });
  }

  private writeJson(msg: JambonzOutboundMessage): boolean {
    const ws = this.conn?.ws;
    if (!ws || ws.readyState !== ws.OPEN) return false;
    ws.send(encodeJambonzMessage(msg));
    return true;
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
    return new HookCallWire(this);
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
        this.notify('call:status', d);
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
        this.notify('jambonz:error', msg.data);
        return;
      case 'verb:status':
      case 'tts:streaming-event':
      case 'tts:tokens-result':
        this.notify(msg.type, msg.data);
        return;
      case 'llm:event':
      case 'llm:tool-call':
        this.notify(msg.type, msg.data, msg.hook);
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
      const data = m.data as JambonzHookData;
      if (this.isClosed) {
        // The call ended right behind the hook (same socket read, e.g. a sip:refer's final
        // actionHook): the app still hears of it; a reply has nowhere to go and is dropped.
        if (this.notify(m.hook, data, m.hook) === 0) this.notify(m.type, m.hook, data);
        return;
      }
      this.delivering = msgid;
      let n: number;
      try {
        n = this.notify(m.hook, data, m.hook, msgid);
        if (n === 0) n = this.notify(m.type, m.hook, data, msgid);
      } finally {
        this.delivering = undefined;
      }
      // As node-client-ws does: a hook nobody handles is acked with no verbs, so jambonz
      // carries on with the verbs it has instead of waiting out its timeout.
      if (n === 0) this.sup.ref.send({ type: 'APP.ACK', verbs: [], msgid });
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
    this.logger.info('jambonz reconnected');
    this.sup.span?.addEvent('jambonz.reconnected');
    this.notify('reconnect');
  }

  /** A socket closed: if it was this session's, the machine learns it dropped. */
  socketClosed(conn: HookConn, code: number): void {
    if (this.conn !== conn) return;
    this.conn = undefined;
    if (!this.isClosed) this.sup.ref.send({ type: 'SOCKET.CLOSED', code });
  }

  /** The session actor is done (or was stopped): settle the call and tell the app. */
  finished(end: JambonzSessionEnd): void {
    if (this.ended) return;
    this.ended = end;
    const r = this.route;
    r.forget(this);
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
    this.notify('close', end);
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
class HookCallWire implements CallWire {
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
    // The machine knows whether this is the answer to session:new (a hangup verb) or a command.
    this.s.sup.ref.send({ type: 'APP.HANGUP' });
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
    if (this.s.sup !== undefined && !this.s.isClosed) this.s.sup.ref.send({ type: 'CALL.ENDED' });
  }
}
