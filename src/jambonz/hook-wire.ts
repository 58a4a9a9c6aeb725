// The wire of a hook route: one jambonz WebSocket (`ws.jambonz.org`) carrying JSON both ways. It
// gates frames by rate, parses each message, hands session:new/adulting/reconnect to the route and
// everything else to the session it names on this socket, and tells those sessions when the socket
// closes. It knows nothing of what a session does with a message: that is hook-session.ts and the
// jambonzSession machine.
import type { IncomingMessage } from 'node:http';
import type { Logger } from 'pino';
import type { RawData, WebSocket } from 'ws';
import type { ConnectionContext } from '../http/server.js';
import { FrameGate, RATE_LIMIT_CLOSE, type RateLimit } from '../http/rate-limit.js';
import { WS_CLOSE } from '../http/close-codes.js';
import {
  JAMBONZ_ACK_REQUIRED,
  encodeJambonzMessage,
  parseJambonzMessage,
  type JambonzInbound,
  type JambonzInboundMessage,
  type JambonzOutboundMessage,
} from './protocol.js';

/** What the wire needs of a session riding on one of its sockets. */
export interface HookWireSession {
  /** A message for this session's call_sid arrived on this socket. */
  handle(msg: JambonzInboundMessage): void;
  /** `conn` closed with `code`; the session decides whether that was its current socket. */
  socketClosed(conn: HookConn, code: number): void;
}

/** One hook socket. */
export interface HookConn {
  readonly ws: WebSocket;
  readonly remote: string;
  /** Who opened the socket (undefined when auth is off for the route). */
  readonly principal: string | undefined;
  /** The sessions this socket carries, by call_sid. */
  readonly sessions: Map<string, HookWireSession>;
  readonly gate: FrameGate;
  /** Liveness probe running after a refused reconnect (see `reconnectProbeMs`). */
  probe: NodeJS.Timeout | undefined;
  /** The upgrade request (clustered: a reconnect for a session homed elsewhere is proxied with it). */
  readonly req: IncomingMessage;
  /** Frames held while the route asks the cluster where a session lives (replayed after). */
  hold: Array<[RawData, boolean]> | undefined;
  /** The socket was handed to a proxy to the session's owner: this wire reads no more of it. */
  handedOff: boolean;
}

/** The route's side of the wire: the three messages that are about a session rather than in one. */
export interface HookWireRoute {
  readonly log: Logger;
  startSession(conn: HookConn, msg: JambonzInbound<'session:new'> | JambonzInbound<'session:adulting'>): void;
  /** `raw` is the message as received, for a proxy to pass on unchanged. */
  reconnect(conn: HookConn, msg: JambonzInbound<'session:reconnect'>, raw: RawData): void;
}

/** Write one message if the socket is open (a message for a closed socket has nobody to read it). */
export function sendJson(ws: WebSocket, msg: JambonzOutboundMessage): boolean {
  if (ws.readyState !== ws.OPEN) return false;
  ws.send(encodeJambonzMessage(msg));
  return true;
}

/** An ack with no verbs: jambonz carries on with what it has instead of waiting out its timeout. */
export function ackEmpty(ws: WebSocket, msgid: string): void {
  sendJson(ws, { type: 'ack', msgid });
}

/** Take a new hook socket: rate gate, parse, dispatch; on close, tell its sessions. */
export function attachHookSocket(ws: WebSocket, req: IncomingMessage, cctx: ConnectionContext, rate: RateLimit | false, route: HookWireRoute): HookConn {
  const log = route.log;
  const conn: HookConn = {
    ws,
    remote: `${req.socket.remoteAddress ?? '?'}:${req.socket.remotePort ?? 0}`,
    principal: cctx.principal,
    sessions: new Map(),
    gate: new FrameGate({ any: rate }),
    probe: undefined,
    req,
    hold: undefined,
    handedOff: false,
  };
  ws.on('message', (data: RawData, isBinary: boolean) => {
    if (conn.handedOff) return;
    if (conn.hold) return void conn.hold.push([data, isBinary]);
    if (!conn.gate.allow(isBinary)) {
      if (ws.readyState === ws.OPEN) log.warn({ remote: conn.remote, principal: conn.principal }, 'hook socket over its rate limit: closed');
      ws.close(RATE_LIMIT_CLOSE.code, RATE_LIMIT_CLOSE.reason);
      return;
    }
    try {
      onMessage(conn, data, isBinary, route);
    } catch (err) {
      // One bad message never takes the socket, the process or another session down.
      log.error({ err, remote: conn.remote }, 'jambonz message handling failed');
    }
  });
  ws.on('close', (code: number) => {
    clearTimeout(conn.probe);
    for (const s of [...conn.sessions.values()]) s.socketClosed(conn, code);
    conn.sessions.clear();
  });
  return conn;
}

function onMessage(conn: HookConn, data: RawData, isBinary: boolean, route: HookWireRoute): void {
  const log = route.log;
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
  if (msg.type === 'session:new' || msg.type === 'session:adulting') return route.startSession(conn, msg);
  if (msg.type === 'session:reconnect') return route.reconnect(conn, msg, data);
  const s = conn.sessions.get(msg.call_sid);
  if (!s) {
    log.warn({ type: msg.type, callSid: msg.call_sid }, 'message for a call_sid with no session on this socket');
    if (JAMBONZ_ACK_REQUIRED.has(msg.type)) ackEmpty(conn.ws, msg.msgid);
    return;
  }
  s.handle(msg);
}

/** Ping a socket that should be dead if jambonz is reconnecting; no pong in time, close it. */
export function probeHookSocket(old: HookConn, timeoutMs: number, log: Logger): void {
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
  }, timeoutMs);
  old.probe.unref();
  old.ws.ping();
}

/** Close every socket (1001), waiting up to a second for each before terminating it. */
export function closeHookSockets(sockets: Iterable<WebSocket>): Promise<void> {
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
  return Promise.all(closed).then(() => undefined);
}
