// Hook routes: the server side of jambonz's call-control WebSocket protocol (`ws.jambonz.org`).
// The feature-server dials out to the application, one socket per call, and speaks JSON:
// session:new / verb:hook / call:status … in, `ack` / `command` out. The route provides the
// jambonzSession machine once, starts a session (call actor + session actor) per session:new, and
// moves a session to its new socket on session:reconnect. The socket is hook-wire.ts, the session
// hook-session.ts; what to send when is the session machine's decision.
import type { IncomingMessage } from 'node:http';
import type { RawData, WebSocket } from 'ws';
import { jambonzSessionMachine, type JambonzSessionEnd, type JambonzSessionMachine } from '../../machines/jambonzSession.machine.js';
import { ActorRegistry } from '../actors/registry.js';
import type { ConnectionContext, RouteParams, WsRoute } from '../http/server.js';
import { DEFAULT_FRAME_RATES, checkRateLimit } from '../http/rate-limit.js';
import { LimitExceededError } from '../actors/supervisor.js';
import type { Call } from '../call/call.js';
import { WS_CLOSE } from '../http/close-codes.js';
import type { JambonzContext, JambonzRoute } from './context.js';
import { callEventForStatus } from './call-status.js';
import type { JambonzHookHandler, JambonzHookOptions } from './hook-types.js';
import { HookSession, type HookSessionRoute } from './hook-session.js';
import { ackEmpty, attachHookSocket, closeHookSockets, probeHookSocket, sendJson, type HookConn, type HookWireRoute } from './hook-wire.js';
import { JAMBONZ_WS_SUBPROTOCOL, type JambonzInbound } from './protocol.js';
import { validateVerbs, type JambonzVerb } from './verbs.js';
import type { KeyedHome, Location } from '../cluster/home.js';

const DEFAULT_FALLBACK: JambonzVerb[] = [{ verb: 'pause', length: 10 }];
const DEFAULT_ERROR: JambonzVerb[] = [{ verb: 'hangup' }];

export function createHookRoute(ctx: JambonzContext, path: string, handler: JambonzHookHandler, opts: JambonzHookOptions = {}): WsRoute & JambonzRoute {
  const log = ctx.logger.child({ route: 'hook', path });
  const ackTimeoutMs = opts.ackTimeoutMs ?? 4000;
  const reconnectGraceMs = opts.reconnectGraceMs ?? 30_000;
  const reconnectProbeMs = opts.reconnectProbeMs ?? 2000;
  const maxQueued = opts.maxQueuedCommands ?? 100;
  const rate = opts.rateLimit === false ? false : checkRateLimit('jambonz hook rateLimit', opts.rateLimit ?? DEFAULT_FRAME_RATES.jambonzHook.text);
  // The engine's own verbs pass the same gate as the app's.
  const fallbackVerbs = validateVerbs(opts.fallbackVerbs ?? DEFAULT_FALLBACK);
  const errorVerbs = validateVerbs(opts.errorVerbs ?? DEFAULT_ERROR);
  const sessions = new Map<string, HookSession>();
  const sockets = new Set<WebSocket>();
  let closing = false;

  // Provided once per route: each action finds its session by actor id (no per-session clone).
  const registry = new ActorRegistry<JambonzSessionMachine, HookSession>(ctx.supervisor, (of) =>
    jambonzSessionMachine.provide({
      delays: { ackTimeout: ackTimeoutMs, reconnectGrace: reconnectGraceMs },
      actions: {
        startApp: ({ self }) => of(self.id)?.runHandler(),
        deliverHook: ({ self }, p) => of(self.id)?.deliver(p.msgid),
        deliverRedirect: ({ self }, p) => of(self.id)?.deliver(p.msgid),
        sendAck: ({ self }, p) => of(self.id)?.writeAck(p.msgid, p.verbs as JambonzVerb[]),
        sendFallbackAck: ({ self }, p) => of(self.id)?.writeAck(p.msgid, fallbackVerbs),
        sendRedirect: ({ self }, p) => of(self.id)?.writeCommand({ command: 'redirect', data: p.verbs, queue: p.queue }),
        sendCommand: ({ self }, p) => of(self.id)?.writeCommand(p),
        sendQueued: ({ self }, p) => {
          const s = of(self.id);
          if (!s) return;
          s.logger.info({ commands: p.commands.length }, 'sending the commands queued while disconnected');
          for (const c of p.commands) s.writeCommand(c);
        },
        noteQueueFull: ({ self }, p) => of(self.id)?.logger.warn({ command: p.dropped }, 'command queue full while disconnected: oldest dropped'),
        notifyAckTimeout: ({ self }, p) => of(self.id)?.ackTimedOut(p.msgid, p.kind),
        noteLateReply: ({ self }, p) => of(self.id)?.logger.warn({ msgid: p.msgid }, 'reply for a hook that no longer waits (fallback sent, or lost to a drop): dropped'),
        noteDisconnected: ({ self }, p) => {
          const s = of(self.id);
          if (!s) return;
          s.logger.warn({ code: p.code, graceMs: reconnectGraceMs }, 'jambonz socket dropped: waiting for session:reconnect');
          s.sup.span?.addEvent('jambonz.disconnected', { 'ws.close_code': p.code });
        },
        noteReconnected: ({ self }) => of(self.id)?.reconnected(),
      },
    }),
  );
  const route: HookSessionRoute = {
    path,
    ctx,
    log,
    handler,
    ackTimeoutMs,
    reconnectGraceMs,
    errorVerbs,
    forget(s) {
      if (sessions.get(s.callSid) !== s) return;
      sessions.delete(s.callSid);
      ctx.home?.released(s.callSid);
    },
  };

  function startSession(conn: HookConn, msg: JambonzInbound<'session:new'> | JambonzInbound<'session:adulting'>): void {
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
      sendJson(conn.ws, { type: 'ack', msgid: msg.msgid, data: refusal });
      return;
    }
    s.call = call;
    try {
      s.sup = registry.spawn(s, {
        kind: 'session',
        id: `jambonz:${callSid}`,
        input: { callSid, maxQueued },
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
      log.error({ err, callSid }, 'cannot start jambonz session');
      call.actor.send({ type: 'CALL.FAILED', reason: 'cannot start jambonz session' });
      sendJson(conn.ws, { type: 'ack', msgid: msg.msgid, data: errorVerbs });
      return;
    }
    sessions.set(callSid, s);
    conn.sessions.set(callSid, s);
    if (ctx.home) claim(ctx.home, callSid);
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

  /** Clustered: this node owns the session from session:new on (its reconnects are proxied here). */
  function claim(home: KeyedHome, callSid: string): void {
    void home.claim(callSid).then((holder) => {
      if (holder.node !== home.nodeId) log.warn({ callSid, holder: holder.node }, 'session:new for a call_sid another node holds: its reconnects go there');
      // Ended while Redis answered: forget() released before the lease was taken.
      else if (holder.token > 0 && !sessions.has(callSid)) home.released(callSid);
    });
  }

  /** Close a socket whose session:reconnect may not take the session; the session is untouched. */
  function refuseReconnect(conn: HookConn, s: HookSession, why: string): void {
    s.logger.warn({ remote: conn.remote, principal: conn.principal, originalPrincipal: s.principal, why }, 'session:reconnect refused');
    conn.ws.close(WS_CLOSE.policy, `session:reconnect refused: ${why}`.slice(0, 123));
  }

  /**
   * Clustered: a reconnect for a session this node does not have, on a socket carrying nothing
   * else, may be for a session homed on another node (jambonz reconnects wherever its balancer
   * sends it). The socket is then proxied to the owner whole, this message first.
   */
  function reconnectElsewhere(home: KeyedHome, conn: HookConn, msg: JambonzInbound<'session:reconnect'>, raw: RawData): void {
    conn.hold = [];
    const done = (where: Location | undefined) => {
      const held = conn.hold ?? [];
      conn.hold = undefined;
      if (conn.ws.readyState !== conn.ws.OPEN) return;
      if (where?.kind === 'remote') {
        conn.handedOff = true;
        log.info({ callSid: msg.call_sid, owner: where.node }, 'session:reconnect for a session homed on another node: proxied to it');
        return home.proxy(conn.ws, conn.req, where.ws, [[raw, false], ...held]);
      }
      log.warn({ callSid: msg.call_sid, where: where?.kind }, 'session:reconnect for an unknown call_sid: acked without verbs');
      ackEmpty(conn.ws, msg.msgid);
      for (const [d, binary] of held) conn.ws.emit('message', d, binary);
    };
    void home.locate(msg.call_sid, conn.req).then(done, () => done(undefined));
  }

  function reconnect(conn: HookConn, msg: JambonzInbound<'session:reconnect'>, raw: RawData): void {
    const s = sessions.get(msg.call_sid);
    if ((!s || s.isClosed) && ctx.home && conn.sessions.size === 0) return reconnectElsewhere(ctx.home, conn, msg, raw);
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
      probeHookSocket(old, reconnectProbeMs, log);
      return refuseReconnect(conn, s, 'the session is live on another socket');
    }
    if (old && old !== conn) {
      old.sessions.delete(s.callSid);
      // jambonz only reconnects after its socket closed; if we never saw that close, we do now
      // (a session already disconnected ignores it).
      s.sup.ref.send({ type: 'SOCKET.CLOSED', code: 1006 });
    }
    s.conn = conn;
    conn.sessions.set(s.callSid, s);
    s.msgid = msg.msgid;
    s.sup.ref.send({ type: 'SESSION.RECONNECT', msgid: msg.msgid });
  }

  const wireRoute: HookWireRoute = { log, startSession, reconnect };

  return {
    name: 'jambonz-hook',
    path,
    maxPayload: opts.maxPayload ?? 256 * 1024,
    protocols: [JAMBONZ_WS_SUBPROTOCOL],
    requireProtocol: true,
    match: (url) => (url.pathname === path ? {} : null),
    liveSessions: () => [...sessions.keys()],
    onConnection(ws: WebSocket, req: IncomingMessage, _params: RouteParams, cctx: ConnectionContext) {
      sockets.add(ws);
      ws.on('close', () => sockets.delete(ws));
      attachHookSocket(ws, req, cctx, rate, wireRoute);
    },
    async close() {
      closing = true;
      for (const s of [...sessions.values()]) s.close();
      await closeHookSockets(sockets);
    },
  };
}
