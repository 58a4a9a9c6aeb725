// Adapter for the simple inbound-call WebSocket protocol: one call actor per connection.
// The adapter translates frames <-> call events; the call's state lives in the actor and the
// application's policy (answer, reject, echo, hang up) lives in the incoming-call hook.
import type { IncomingMessage } from 'node:http';
import type { WebSocket, RawData } from 'ws';
import type { Logger } from 'pino';
import { v4 as uuidv4 } from 'uuid';
import type { WsRoute } from '../http/server.js';
import { DEFAULT_FRAME_RATES, FrameGate, RATE_LIMIT_CLOSE, checkRateLimit, type RateLimit } from '../http/rate-limit.js';
import { parseClientMessage, encodeServerMessage, type InboundServerMessage } from './protocol.js';
import type { CallManager } from '../call/manager.js';
import type { Call, CallWire } from '../call/call.js';
import { LimitExceededError } from '../actors/supervisor.js';
import { WS_CLOSE } from '../http/close-codes.js';

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

export function createInboundCallRoute(calls: CallManager, logger: Logger, o: InboundCallOptions = {}): WsRoute {
  const path = o.path ?? '/';
  const offerDelayMs = o.offerDelayMs ?? 1000;
  const textRate = checkRateLimit('inboundCall.textRate', o.textRate ?? DEFAULT_FRAME_RATES.inboundCall.text);
  const binaryRate = checkRateLimit('inboundCall.binaryRate', o.binaryRate ?? DEFAULT_FRAME_RATES.inboundCall.binary);
  const log = logger.child({ component: 'inbound-call' });

  return {
    name: 'inbound-call',
    maxPayload: o.maxPayload ?? 64 * 1024,
    match: (url) => (url.pathname === path ? {} : null),
    onConnection(ws: WebSocket, req: IncomingMessage) {
      // The call id doubles as the connection's supervisor group: one id, one allocation.
      const callId = uuidv4();
      const remote = `${req.socket.remoteAddress ?? '?'}:${req.socket.remotePort ?? 0}`;
      const send = (msg: InboundServerMessage) => {
        if (ws.readyState === ws.OPEN) ws.send(encodeServerMessage(msg));
      };
      let sessionId = '';
      let offerTimer: NodeJS.Timeout | undefined;

      const wire: CallWire = {
        announceIncoming: () => send({ event: 'incoming_call', sessionId }),
        sendAnswer: () => send({ event: 'answer', sessionId }),
        sendReject: (code, reason) => send({ event: 'hangup', sessionId, code, reason }),
        sendRedirect: (code, contacts) => send({ event: 'hangup', sessionId, code, reason: `redirected to ${contacts.join(', ')}` }),
        sendHangup: () => send({ event: 'hangup', sessionId }),
        sendAudio: (frame) => {
          if (ws.readyState !== ws.OPEN) return false;
          ws.send(frame, { binary: true });
          return true;
        },
        ended: (end) => {
          clearTimeout(offerTimer);
          if (ws.readyState === ws.OPEN || ws.readyState === ws.CONNECTING) {
            ws.close(end.reason === 'failed' ? WS_CLOSE.internal : WS_CLOSE.normal, `call ended: ${end.reason}`);
          }
        },
      };

      let call: Call;
      try {
        call = calls.create({ callId, direction: 'inbound', transport: 'ws', from: remote, to: path, wire, group: callId });
      } catch (err) {
        const reason = err instanceof LimitExceededError ? err.message : 'cannot create call';
        log.warn({ err, remote }, 'call refused');
        send({ event: 'error', reason });
        ws.close(err instanceof LimitExceededError ? WS_CLOSE.tryAgainLater : WS_CLOSE.internal, reason.slice(0, 120));
        return;
      }
      sessionId = call.id;
      const driver = calls.driverOf(call)!;
      const clog = call.logger;
      const gate = new FrameGate({ text: textRate, binary: binaryRate });
      const error = (reason: string) => {
        clog.debug({ reason }, 'client error');
        send({ event: 'error', reason, sessionId });
      };

      offerTimer = setTimeout(() => {
        call.actor.send({ type: 'CALL.INCOMING' });
        if (call.state === 'ringing') calls.offer(call);
      }, offerDelayMs);

      ws.on('message', (data: RawData, isBinary: boolean) => {
        try {
          onFrame(data, isBinary);
        } catch (err) {
          // A bug reached by one frame (or the app's audio listener throwing) ends this call only.
          clog.error({ err }, 'frame handling failed: closing this call');
          if (!call.isEnded) call.actor.send({ type: 'CALL.FAILED', code: 500, reason: 'frame handling failed' });
          ws.close(WS_CLOSE.internal, 'internal error');
        }
      });

      const onFrame = (data: RawData, isBinary: boolean): void => {
        if (!gate.allow(isBinary)) {
          if (ws.readyState === ws.OPEN) clog.warn({ isBinary }, 'flood: closing connection');
          ws.close(RATE_LIMIT_CLOSE.code, RATE_LIMIT_CLOSE.reason);
          return;
        }
        if (isBinary) {
          // Fast path: audio never goes through the actor, only its "may I" check.
          if (!call.isActive) return error('audio before answer');
          driver.audio(data as Buffer);
          return;
        }
        const parsed = parseClientMessage(data.toString('utf8'), sessionId);
        if (!parsed.ok) return error(parsed.reason);
        const msg = parsed.message;
        if (msg.event === 'dtmf') {
          if (!call.isActive) return error('dtmf before answer');
          call.actor.send({ type: 'DTMF', digit: msg.digit, source: 'ws' });
        } else {
          call.actor.send({ type: 'CALL.REMOTE_HANGUP', detail: 'client hangup' });
        }
      };

      ws.on('close', (code) => {
        clearTimeout(offerTimer);
        if (!call.isEnded) call.actor.send({ type: 'CALL.REMOTE_HANGUP', detail: `connection closed (${code})` });
        calls.release(callId);
      });
    },
  };
}
