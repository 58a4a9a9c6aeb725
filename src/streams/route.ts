// `engine.mediaStreams(path, handler)`: the bot's side of Twilio Media Streams on the engine's
// WebSocket port. A platform (Twilio, or another engine's `call.stream()`) connects, sends
// `connected` and `start`; the handler then gets a session with the caller's audio as events and
// `send` / `mark` / `clear` back. So a bot can be written and tested against callchart alone.
//
// Anything wrong with one socket (no `start` in time, audio before `start`, a handler that
// throws) closes that socket only; stray messages after `start` are logged and dropped.
import { EventEmitter } from 'node:events';
import type { IncomingMessage } from 'node:http';
import type { Logger } from 'pino';
import type { RawData, WebSocket } from 'ws';
import type { WsRoute } from '../http/server.js';
import { WS_CLOSE } from '../http/close-codes.js';
import { FrameGate, RATE_LIMIT_CLOSE, checkRateLimit, type RateLimit } from '../http/rate-limit.js';
import { ulawDecode, ulawEncode } from '../media/codecs/g711.js';
import { MAX_MARK_NAME, encodeMessage, parsePlatformMessage, type MediaTrack, type StartInfo } from './protocol.js';

export interface MediaStreamsRouteOptions {
  /** Largest accepted frame (default 256 KiB); bigger frames close the socket with 1009. */
  maxPayload?: number;
  /** Time allowed between connect and `start` (default 10 s); then close 1008. */
  startTimeoutMs?: number;
  /** Text frames allowed per socket (default 200/s, burst 400: 4x real-time media); beyond, close 1008. `false`: no limit. */
  textRate?: RateLimit | false;
}

export interface MediaStreamsSessionEvents {
  /** One `media` message: μ-law bytes and its track/chunk/timestamp. */
  media: [ulaw: Buffer, info: { track: MediaTrack; chunk: number; timestamp: number }];
  /** The caller's audio (inbound track) as 8 kHz PCM. */
  audio: [pcm: Int16Array];
  dtmf: [digit: string];
  /** The platform echoed a mark: the audio sent before it has played (or was cleared). */
  mark: [name: string];
  /** The platform sent `stop`. */
  stop: [];
  /** The socket closed. */
  close: [code: number];
}

/** One stream as the bot side sees it. */
export class MediaStreamsSession extends EventEmitter<MediaStreamsSessionEvents> {
  readonly streamSid: string;
  readonly callSid: string;
  readonly accountSid: string;
  readonly tracks: readonly MediaTrack[];
  readonly customParameters: Readonly<Record<string, string>>;
  /** Messages from the platform that were dropped (malformed, wrong streamSid, out of place). */
  violations = 0;
  private stopped = false;

  constructor(
    readonly start: StartInfo,
    private readonly ws: WebSocket,
    readonly logger: Logger,
  ) {
    super();
    this.streamSid = start.streamSid;
    this.callSid = start.callSid;
    this.accountSid = start.accountSid;
    this.tracks = start.tracks;
    this.customParameters = start.customParameters;
  }

  get isOpen(): boolean {
    return this.ws.readyState === this.ws.OPEN && !this.stopped;
  }

  /** Play audio to the caller: PCM (Int16Array, 8 kHz) or μ-law bytes (Uint8Array/Buffer). */
  send(audio: Int16Array | Uint8Array): boolean {
    const ulaw = audio instanceof Int16Array ? ulawEncode(audio) : Buffer.from(audio.buffer, audio.byteOffset, audio.byteLength);
    if (ulaw.length === 0) return true;
    return this.write({ event: 'media', streamSid: this.streamSid, media: { payload: ulaw.toString('base64') } });
  }

  /** Place a mark after the audio sent so far; the platform echoes it (`mark` event) once played. */
  mark(name: string): boolean {
    if (typeof name !== 'string' || name.length === 0 || name.length > MAX_MARK_NAME) throw new TypeError(`mark name must be 1-${MAX_MARK_NAME} characters`);
    return this.write({ event: 'mark', streamSid: this.streamSid, mark: { name } });
  }

  /** Drop the audio the platform has queued (barge-in); pending marks come back. */
  clear(): boolean {
    return this.write({ event: 'clear', streamSid: this.streamSid });
  }

  /** Close the socket (1000): on Twilio, the call goes on to its next instruction. */
  close(): void {
    if (this.ws.readyState === this.ws.OPEN || this.ws.readyState === this.ws.CONNECTING) this.ws.close(WS_CLOSE.normal, 'bot done');
  }

  private write(m: Parameters<typeof encodeMessage>[0]): boolean {
    if (this.ws.readyState !== this.ws.OPEN) return false;
    this.ws.send(encodeMessage(m));
    return true;
  }

  /** @internal one validated text frame after `start`. */
  onText(text: string): void {
    const parsed = parsePlatformMessage(text);
    if (!parsed.ok) return this.violation(parsed.reason);
    const m = parsed.message;
    if (m.event === 'connected' || m.event === 'start') return this.violation(`${m.event} after start`);
    if (m.streamSid !== this.streamSid) return this.violation(`wrong streamSid ${JSON.stringify(m.streamSid.slice(0, 40))}`);
    switch (m.event) {
      case 'media': {
        const ulaw = Buffer.from(m.media.payload, 'base64');
        this.emit('media', ulaw, { track: m.media.track, chunk: Number(m.media.chunk), timestamp: Number(m.media.timestamp) });
        if (m.media.track === 'inbound' && this.listenerCount('audio') > 0) this.emit('audio', ulawDecode(ulaw));
        return;
      }
      case 'dtmf':
        this.emit('dtmf', m.dtmf.digit);
        return;
      case 'mark':
        this.emit('mark', m.mark.name);
        return;
      case 'stop':
        this.stopped = true;
        this.emit('stop');
        return;
    }
  }

  private violation(reason: string): void {
    const n = ++this.violations;
    if (n === 1 || n % 100 === 0) this.logger.warn({ reason, violations: n }, 'media streams: bad message from the platform dropped');
  }
}

export type MediaStreamsHandler = (session: MediaStreamsSession) => void | Promise<void>;

/** The WsRoute (plus `close()`) serving the bot side of Twilio Media Streams on `path`. */
export function createMediaStreamsRoute(path: string, handler: MediaStreamsHandler, logger: Logger, o: MediaStreamsRouteOptions = {}): WsRoute & { close(): void } {
  if (!path.startsWith('/')) throw new TypeError(`media streams path must start with "/", got ${JSON.stringify(path)}`);
  const log = logger.child({ component: 'media-streams', route: path });
  const startTimeoutMs = o.startTimeoutMs ?? 10_000;
  const textRate = o.textRate === false ? false : checkRateLimit('mediaStreams textRate', o.textRate ?? { perSecond: 200, burst: 400 });
  const sockets = new Set<WebSocket>();
  let closing = false;
  return {
    name: `media-streams ${path}`,
    maxPayload: o.maxPayload ?? 256 * 1024,
    match: (url) => (url.pathname === path ? {} : null),
    close() {
      closing = true;
      for (const ws of sockets) ws.close(WS_CLOSE.goingAway, 'server shutting down');
    },
    onConnection(ws: WebSocket, req: IncomingMessage) {
      const remote = `${req.socket.remoteAddress ?? '?'}:${req.socket.remotePort ?? 0}`;
      if (closing) return void ws.close(WS_CLOSE.goingAway, 'server shutting down');
      sockets.add(ws);
      let session: MediaStreamsSession | undefined;
      let connected = false;
      const gate = new FrameGate({ text: textRate, binary: false });
      const refuse = (reason: string) => {
        log.warn({ remote, reason }, 'media stream refused');
        ws.close(WS_CLOSE.policy, reason.slice(0, 120));
      };
      const timer = setTimeout(() => refuse(`no start within ${startTimeoutMs} ms`), startTimeoutMs);
      ws.on('message', (data: RawData, isBinary: boolean) => {
        if (!gate.allow(isBinary)) {
          if (ws.readyState === ws.OPEN) log.warn({ remote }, 'media stream over its rate limit: closed');
          return void ws.close(RATE_LIMIT_CLOSE.code, RATE_LIMIT_CLOSE.reason);
        }
        if (ws.readyState !== ws.OPEN) return;
        if (isBinary) {
          if (session) session.violations++;
          else refuse('binary frame: the protocol is JSON text');
          return;
        }
        const text = (data as Buffer).toString('utf8');
        if (session) {
          try {
            session.onText(text);
          } catch (err) {
            log.error({ err }, 'media streams listener failed: closing this stream');
            ws.close(WS_CLOSE.internal, 'internal error');
          }
          return;
        }
        const parsed = parsePlatformMessage(text);
        if (!parsed.ok) return refuse(parsed.reason);
        const m = parsed.message;
        if (m.event === 'connected' && !connected) {
          connected = true;
          return;
        }
        if (m.event !== 'start') return refuse(`${m.event} before start`);
        clearTimeout(timer);
        session = new MediaStreamsSession(m.start, ws, log.child({ streamSid: m.start.streamSid, callSid: m.start.callSid }));
        session.logger.info({ remote, tracks: m.start.tracks }, 'media stream started');
        try {
          const r = handler(session);
          if (r && typeof r.then === 'function') r.then(undefined, (err: unknown) => fail(err));
        } catch (err) {
          fail(err);
        }
      });
      const fail = (err: unknown) => {
        log.error({ err }, 'media streams handler failed');
        if (ws.readyState === ws.OPEN) ws.close(WS_CLOSE.internal, 'internal error');
      };
      ws.on('close', (code: number) => {
        clearTimeout(timer);
        sockets.delete(ws);
        session?.logger.info({ code }, 'media stream closed');
        session?.emit('close', code);
      });
    },
  };
}
