// The feature-server's side of one `ws.jambonz.org` socket (jambonz-feature-server
// lib/utils/ws-requestor.js): callchart dials the application, one socket per call, sends JSON
// messages with a fresh msgid each and reads back `ack` and `command` messages. A drop (any close
// but 1000) is retried with jambonz's backoff (0.5, 1, 2, 4 s …) up to `maxReconnects` connects,
// then `session:reconnect` goes out with the session:new data; when no attempt succeeds the socket
// is `gone`. Acks are matched to what waits on them by the call session, not here: this module
// keeps no call state, only the socket's own connect/queue bookkeeping.
import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import WebSocket from 'ws';
import { JAMBONZ_WS_SUBPROTOCOL } from '../protocol.js';

/** Message types the feature-server sends (ws-requestor's HookMsgTypes used here). */
export type FsMessageType = 'session:new' | 'session:reconnect' | 'session:redirect' | 'verb:hook' | 'call:status' | 'verb:status' | 'jambonz:error';

/** Types that carry the hook url (ws-requestor: verb:hook, dial:confirm, session:redirect, llm:*). */
const WITH_HOOK: ReadonlySet<FsMessageType> = new Set(['verb:hook', 'session:redirect']);

export interface AppAck {
  msgid: string;
  data: unknown;
}

export interface AppCommand {
  command: string;
  queueCommand: boolean;
  data: unknown;
  callSid?: string;
  msgid?: string;
}

export interface AppSocketEvents {
  ack: [ack: AppAck];
  command: [cmd: AppCommand];
  /** A frame that is not a valid ack/command (reported back with jambonz:error by the session). */
  invalid: [details: string, content: string];
  /** The socket came back after a drop; `session:reconnect` went out with this msgid. */
  reconnected: [msgid: string];
  /** Not reachable, or dropped and not back after every attempt. */
  gone: [reason: string];
}

export interface AppSocketOptions {
  url: string;
  callSid: string;
  logger: Logger;
  /** ws-requestor's JAMBONES_WS_HANDSHAKE_TIMEOUT_MS default. */
  handshakeTimeoutMs?: number;
  /** ws-requestor's JAMBONES_WS_MAX_PAYLOAD default (24 KiB). */
  maxPayload?: number;
  /** Connects in all, the first included (jambonz MAX_RECONNECTS). */
  maxReconnects?: number;
  /** First reconnect backoff (ws-requestor: 500 ms, doubled under 2 s, then +2 s). */
  backoffMs?: number;
  /** Extra headers on the upgrade (e.g. Authorization). */
  headers?: Record<string, string>;
}

/** ws-requestor uses short-uuid for msgids: any unique opaque string will do. */
export const newMsgid = (): string => randomBytes(12).toString('base64url');

export class AppSocket extends EventEmitter<AppSocketEvents> {
  private ws: WebSocket | undefined;
  private connections = 0;
  private closedGracefully = false;
  private connecting = false;
  private backoffMs: number;
  private readonly queued: string[] = [];
  /** The session:new payload, re-sent with session:reconnect (as ws-requestor does). */
  private sessionData: Record<string, unknown> | undefined;
  private reconnectTimer: NodeJS.Timeout | undefined;

  constructor(private readonly o: AppSocketOptions) {
    super();
    this.backoffMs = o.backoffMs ?? 500;
  }

  get isOpen(): boolean {
    return this.ws?.readyState === WebSocket.OPEN;
  }

  /** Open the first connection; rejects when the app cannot be reached. */
  connect(): Promise<void> {
    return this.open();
  }

  /** Send one message; returns its msgid. Sent later, in order, while (re)connecting. */
  send(type: FsMessageType, data: Record<string, unknown>, opts: { hook?: string; b3?: string } = {}): string {
    const msgid = newMsgid();
    if (type === 'session:new') this.sessionData = data;
    const frame = JSON.stringify({
      type,
      msgid,
      call_sid: this.o.callSid,
      ...(WITH_HOOK.has(type) && opts.hook ? { hook: opts.hook } : {}),
      data,
      ...(opts.b3 ? { b3: opts.b3 } : {}),
    });
    if (this.closedGracefully) return msgid;
    if (this.isOpen) this.ws!.send(frame);
    else this.queued.push(frame);
    return msgid;
  }

  /** Close for good (1000: jambonz's "the call is over"). */
  close(code = 1000): void {
    this.closedGracefully = true;
    clearTimeout(this.reconnectTimer);
    const ws = this.ws;
    this.ws = undefined;
    if (ws && (ws.readyState === WebSocket.OPEN || ws.readyState === WebSocket.CONNECTING)) {
      try {
        ws.close(code);
      } catch {
        ws.terminate();
      }
    }
    this.queued.length = 0;
  }

  private open(): Promise<void> {
    this.connecting = true;
    this.connections++;
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(this.o.url, [JAMBONZ_WS_SUBPROTOCOL], {
        handshakeTimeout: this.o.handshakeTimeoutMs ?? 1500,
        maxPayload: this.o.maxPayload ?? 24 * 1024,
        followRedirects: true,
        maxRedirects: 2,
        ...(this.o.headers ? { headers: this.o.headers } : {}),
      });
      let opened = false;
      ws.once('open', () => {
        opened = true;
        this.connecting = false;
        if (this.closedGracefully) {
          ws.close(1000);
          return resolve();
        }
        this.ws = ws;
        this.o.logger.debug({ url: this.o.url, connections: this.connections }, 'jambonz app socket open');
        if (this.connections > 1 && this.sessionData) {
          const msgid = newMsgid();
          ws.send(JSON.stringify({ type: 'session:reconnect', msgid, call_sid: this.o.callSid, data: this.sessionData }));
          this.emit('reconnected', msgid);
        }
        for (const f of this.queued.splice(0)) ws.send(f);
        resolve();
      });
      ws.on('message', (raw, isBinary) => this.onMessage(raw, isBinary));
      ws.on('error', (err) => {
        if (!opened) {
          this.connecting = false;
          reject(err);
        } else this.o.logger.info({ err: err.message }, 'jambonz app socket error');
      });
      ws.once('close', (code) => {
        if (!opened) return;
        if (this.ws === ws) this.ws = undefined;
        if (this.closedGracefully) return;
        if (code === 1000) {
          // The app ended the session on purpose: nothing more goes to it.
          this.closedGracefully = true;
          this.emit('gone', 'the application closed the socket (1000)');
          return;
        }
        this.o.logger.warn({ code }, 'jambonz app socket dropped: reconnecting');
        this.scheduleReconnect();
      });
    });
  }

  private scheduleReconnect(): void {
    if (this.connections >= (this.o.maxReconnects ?? 5)) {
      this.emit('gone', `socket closed and not back after ${this.connections} connects`);
      return;
    }
    const delay = this.backoffMs;
    this.backoffMs = this.backoffMs < 2000 ? this.backoffMs * 2 : this.backoffMs + 2000;
    this.reconnectTimer = setTimeout(() => {
      if (this.closedGracefully || this.connecting) return;
      this.open().catch((err: unknown) => {
        this.o.logger.info({ err: err instanceof Error ? err.message : String(err) }, 'jambonz app reconnect failed');
        this.scheduleReconnect();
      });
    }, delay);
  }

  private onMessage(raw: WebSocket.RawData, isBinary: boolean): void {
    const content = Buffer.isBuffer(raw) ? raw.toString('utf8') : Array.isArray(raw) ? Buffer.concat(raw).toString('utf8') : Buffer.from(raw).toString('utf8');
    if (isBinary) {
      // ws-requestor treats a binary frame as a malicious client and closes.
      this.o.logger.warn('binary frame from the jambonz app: closing');
      this.close(1003);
      this.emit('gone', 'binary frame from the application');
      return;
    }
    let obj: unknown;
    try {
      obj = JSON.parse(content);
    } catch (err) {
      this.emit('invalid', err instanceof Error ? err.message : 'invalid JSON', content);
      return;
    }
    if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) return void this.emit('invalid', 'message is not an object', content);
    const o = obj as Record<string, unknown>;
    if (o.type === 'ack') {
      if (typeof o.msgid !== 'string' || !o.msgid) return void this.emit('invalid', 'msgid not supplied', content);
      this.emit('ack', { msgid: o.msgid, data: o.data });
    } else if (o.type === 'command') {
      if (typeof o.command !== 'string' || !o.command) return void this.emit('invalid', 'command property not supplied', content);
      this.emit('command', {
        command: o.command,
        queueCommand: o.queueCommand === true,
        data: o.data,
        ...(typeof o.callSid === 'string' ? { callSid: o.callSid } : {}),
        ...(typeof o.msgid === 'string' ? { msgid: o.msgid } : {}),
      });
    } else this.emit('invalid', `invalid type property: ${String(o.type)}`, content);
  }
}
