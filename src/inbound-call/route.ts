// Adapter for the simple inbound-call WebSocket protocol: one call actor per connection.
// The adapter translates frames <-> call events; the call's state lives in the actor and the
// application's policy (answer, reject, echo, hang up) lives in the incoming-call hook.
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { WebSocket, RawData } from 'ws';
import type { Logger } from 'pino';
import { randomUuid } from '../random.js';
import type { WsRoute } from '../http/server.js';
import { DEFAULT_FRAME_RATES, FrameGate, RATE_LIMIT_CLOSE, checkRateLimit, type RateLimit } from '../http/rate-limit.js';
import { parseClientMessage, encodeServerMessage, type InboundServerMessage } from './protocol.js';
import type { CallManager } from '../call/manager.js';
import type { Call, CallDriver, CallWire } from '../call/call.js';
import type { CallEnd } from '../../machines/call.machine.js';
import { LimitExceededError } from '../actors/supervisor.js';
import { WS_CLOSE } from '../http/close-codes.js';
import { OPCODE_BINARY, directSocket, sendDataFrame } from '../http/ws-frame-writer.js';
import { WsLeg, type WsLegStats } from '../media/ws-leg.js';

export interface InboundCallOptions {
  /** Path served (default `/`). */
  path?: string;
  /** Delay between connection and the `incoming_call` announcement (default 1000 ms). */
  offerDelayMs?: number;
  /** Largest accepted frame (default 64 KiB); larger frames close the socket with 1009. */
  maxPayload?: number;
  /** Text frames allowed per connection (default 20/s, burst 40); beyond, close 1008. */
  textRate?: RateLimit;
  /** Binary (audio) frames allowed per connection (default 250/s, burst 500: 5x real time); beyond, close 1008. */
  binaryRate?: RateLimit;
}

/** What every connection of one route shares (one object per route, not per call). */
interface RouteShared {
  readonly calls: CallManager;
  readonly log: Logger;
  readonly path: string;
  readonly offerDelayMs: number;
  readonly textRate: RateLimit;
  readonly binaryRate: RateLimit;
}

/**
 * One connection: the call's wire and the socket's frame handler. A class rather than closures: a
 * live call holds this one object and its two socket listeners, whatever the number of wire
 * methods (closures per call were most of the adapter's share of a call's heap).
 */
class InboundConnection implements CallWire {
  offerTimer: NodeJS.Timeout | undefined;
  call!: Call;
  driver!: CallDriver;
  gate!: FrameGate;
  /** The call's MediaLeg, made when `call.media` first asks for it (the demo's byte echo never does). */
  private wsLeg: WsLeg | undefined;

  constructor(
    readonly r: RouteShared,
    private readonly ws: WebSocket,
    /** The socket audio frames are written to directly (ws-frame-writer.ts), or undefined: through `ws`. */
    private readonly raw: Duplex | undefined,
  ) {}

  /** The protocol's session id is the call's id (a getter: no field per call). */
  get sessionId(): string {
    // '' until the call exists (as the field was): a message sent while it is created has none.
    return this.call === undefined ? '' : this.call.id;
  }

  send(msg: InboundServerMessage): void {
    if (this.ws.readyState === this.ws.OPEN) this.ws.send(encodeServerMessage(msg));
  }

  // ---- CallWire (the call machine's wire actions, dispatched by the call manager) ----------

  announceIncoming(): void {
    this.send({ event: 'incoming_call', sessionId: this.sessionId });
  }
  sendAnswer(): void {
    this.send({ event: 'answer', sessionId: this.sessionId });
  }
  sendReject(code: number, reason?: string): void {
    this.send({ event: 'hangup', sessionId: this.sessionId, code, reason });
  }
  sendRedirect(code: number, contacts: string[]): void {
    this.send({ event: 'hangup', sessionId: this.sessionId, code, reason: `redirected to ${contacts.join(', ')}` });
  }
  sendHangup(): void {
    this.send({ event: 'hangup', sessionId: this.sessionId });
  }
  /** One `dtmf` message per digit (the call has validated them). */
  sendDtmf(digits: string): void {
    if (!this.call.isActive) throw new Error('cannot send DTMF before the call is answered');
    for (const digit of digits) this.send({ event: 'dtmf', sessionId: this.sessionId, digit });
  }
  sendAudio(frame: Buffer): boolean {
    if (this.ws.readyState !== this.ws.OPEN) return false;
    sendDataFrame(this.ws, this.raw, OPCODE_BINARY, frame);
    return true;
  }
  ended(end: CallEnd): void {
    clearTimeout(this.offerTimer);
    this.endMedia();
    const ws = this.ws;
    if (ws.readyState === ws.OPEN || ws.readyState === ws.CONNECTING) {
      ws.close(end.reason === 'failed' ? WS_CLOSE.internal : WS_CLOSE.normal, `call ended: ${end.reason}`);
    }
  }

  /** The call's media leg (the connection is the call's media binding: `leg` and `stats`). */
  get leg(): WsLeg {
    if (!this.wsLeg) {
      this.wsLeg = new WsLeg(this.call.id, this.ws, this.call, undefined, this.raw);
      if (this.call.isEnded) this.wsLeg.end();
    }
    return this.wsLeg;
  }

  /** The call's media statistics: all zero until the leg exists (it counts only what it delivers or sends). */
  stats(): WsLegStats {
    return this.wsLeg?.stats() ?? { kind: 'ws', framesIn: 0, framesOut: 0, dropped: 0, overrunBytes: 0, jitterBuffer: null };
  }

  private endMedia(): void {
    const leg = this.wsLeg;
    if (!leg || leg.closed) return;
    leg.end();
    if (leg.dropped > 0 || leg.overrunBytes > 0) this.call.logger.warn(leg.stats(), 'audio dropped: client too slow to read, or sending faster than real time');
  }

  // ---- socket --------------------------------------------------------------------------------

  error(reason: string): void {
    this.call.logger.debug({ reason }, 'client error');
    this.send({ event: 'error', reason, sessionId: this.sessionId });
  }

  onMessage(data: RawData, isBinary: boolean): void {
    try {
      this.onFrame(data, isBinary);
    } catch (err) {
      // A bug reached by one frame (or the app's audio listener throwing) ends this call only.
      const call = this.call;
      call.logger.error({ err }, 'frame handling failed: closing this call');
      if (!call.isEnded) call.actor.send({ type: 'CALL.FAILED', code: 500, reason: 'frame handling failed' });
      this.ws.close(WS_CLOSE.internal, 'internal error');
    }
  }

  private onFrame(data: RawData, isBinary: boolean): void {
    if (!this.gate.allow(isBinary)) {
      if (this.ws.readyState === this.ws.OPEN) this.call.logger.warn({ isBinary }, 'flood: closing connection');
      this.ws.close(RATE_LIMIT_CLOSE.code, RATE_LIMIT_CLOSE.reason);
      return;
    }
    const call = this.call;
    if (isBinary) {
      // Fast path: audio never goes through the actor, only its "may I" check. The bytes go to the
      // media leg (as PCM frames, when something listens) and, unchanged, to the app's `audio` event.
      if (!call.isActive) return this.error('audio before answer');
      this.wsLeg?.receive(data as Buffer);
      this.driver.audio(data as Buffer);
      return;
    }
    const parsed = parseClientMessage(data.toString('utf8'), this.sessionId);
    if (!parsed.ok) return this.error(parsed.reason);
    const msg = parsed.message;
    if (msg.event === 'dtmf') {
      if (!call.isActive) return this.error('dtmf before answer');
      call.actor.send({ type: 'DTMF', digit: msg.digit, source: 'ws' });
    } else {
      call.actor.send({ type: 'CALL.REMOTE_HANGUP', detail: 'client hangup' });
    }
  }

  onClose(code: number): void {
    clearTimeout(this.offerTimer);
    this.endMedia();
    const call = this.call;
    if (!call.isEnded) call.actor.send({ type: 'CALL.REMOTE_HANGUP', detail: `connection closed (${code})` });
    this.r.calls.release(call);
  }
}

/**
 * Each socket's connection, for the two socket listeners every connection shares (`this` is the
 * socket): two closures and their scope per call were ~150 B, an entry here is ~30 B.
 */
const connections = new WeakMap<WebSocket, InboundConnection>();
function onSocketMessage(this: WebSocket, data: RawData, isBinary: boolean): void {
  connections.get(this)?.onMessage(data, isBinary);
}
function onSocketClose(this: WebSocket, code: number): void {
  const c = connections.get(this);
  if (!c) return;
  connections.delete(this);
  c.onClose(code);
}

/** The offer delay elapsed: the call rings and the application's hook is asked. */
function offer(c: InboundConnection): void {
  c.offerTimer = undefined;
  const call = c.call;
  call.actor.send({ type: 'CALL.INCOMING' });
  if (call.state === 'ringing') c.r.calls.offer(call);
}

export function createInboundCallRoute(calls: CallManager, logger: Logger, o: InboundCallOptions = {}): WsRoute {
  const shared: RouteShared = {
    calls,
    log: logger.child({ component: 'inbound-call' }),
    path: o.path ?? '/',
    offerDelayMs: o.offerDelayMs ?? 1000,
    textRate: checkRateLimit('inboundCall.textRate', o.textRate ?? DEFAULT_FRAME_RATES.inboundCall.text),
    binaryRate: checkRateLimit('inboundCall.binaryRate', o.binaryRate ?? DEFAULT_FRAME_RATES.inboundCall.binary),
  };
  const path = shared.path;
  const rates = { text: shared.textRate, binary: shared.binaryRate };

  return {
    name: 'inbound-call',
    maxPayload: o.maxPayload ?? 64 * 1024,
    match: (url) => (url.pathname === path ? {} : null),
    onConnection(ws: WebSocket, req: IncomingMessage) {
      // The call id doubles as the call's supervisor group (its media actors join it): one id, one allocation.
      const callId = randomUuid();
      // join, not a template: one flat string (~32 B) instead of a rope (~88 B), kept as the call's `from`.
      const remote = [req.socket.remoteAddress ?? '?', req.socket.remotePort ?? 0].join(':');
      const c = new InboundConnection(shared, ws, directSocket(ws, req.socket));
      let call: Call;
      try {
        call = calls.create({ callId, direction: 'inbound', transport: 'ws', from: remote, to: path, wire: c, group: callId });
      } catch (err) {
        const reason = err instanceof LimitExceededError ? err.message : 'cannot create call';
        shared.log.warn({ err, remote }, 'call refused');
        c.send({ event: 'error', reason });
        ws.close(err instanceof LimitExceededError ? WS_CLOSE.tryAgainLater : WS_CLOSE.internal, reason.slice(0, 120));
        return;
      }
      c.call = call;
      c.driver = calls.driverOf(call)!;
      c.driver.attachMedia(c);
      c.gate = new FrameGate(rates);
      c.offerTimer = setTimeout(offer, shared.offerDelayMs, c);
      connections.set(ws, c);
      ws.on('message', onSocketMessage);
      ws.on('close', onSocketClose);
    },
  };
}
