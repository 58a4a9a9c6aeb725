// `engine.mediaStreams(path, handler)`: the bot's side of Twilio Media Streams on the engine's
// WebSocket port. A platform (Twilio, or another engine's `call.stream()`) connects, sends
// `connected` and `start`; the handler then gets a session with the caller's audio as events and
// `send` / `mark` / `clear` back. So a bot can be written and tested against callchart alone.
//
// Anything wrong with one socket (no `start` in time, audio before `start`, a handler that
// throws) closes that socket only; stray messages after `start` are logged and dropped.
import { EventEmitter } from 'node:events';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import type { RawData, WebSocket } from 'ws';
import type { Actor } from 'xstate';
import type { WsRoute } from '../http/server.js';
import { ActorRegistry } from '../actors/registry.js';
import { LimitExceededError, type Supervisor } from '../actors/supervisor.js';
import {
  defaultMediaStreamServerDelays,
  mediaStreamServerMachine,
  type MediaStreamServerEvent,
  type MediaStreamServerMachine,
} from '../../machines/mediaStreamServer.machine.js';
import { WS_CLOSE } from '../http/close-codes.js';
import { OPCODE_TEXT, SERVER_FRAME, directSocket, sendDataFrame, writeFrame } from '../http/ws-frame-writer.js';
import { FrameGate, RATE_LIMIT_CLOSE, checkRateLimit, type RateLimit } from '../http/rate-limit.js';
import { ulawDecode, ulawEncode } from '../media/codecs/g711.js';
import { BotMediaTemplate, PlatformMediaMatcher, mediaFrameOf, type MediaFrame } from './fast-media.js';
import { MAX_MARK_NAME, encodeMessage, parsePlatformMessage, type MediaTrack, type PlatformMessage, type StartInfo } from './protocol.js';

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
  // The `media` messages both ways without JSON (fast-media.ts): built from a template, and the
  // platform's canonical ones recognised before JSON.parse + the schema.
  private readonly mediaOut: BotMediaTemplate;
  private readonly mediaIn: PlatformMediaMatcher;

  constructor(
    readonly start: StartInfo,
    private readonly ws: WebSocket,
    private readonly raw: Duplex | undefined,
    readonly logger: Logger,
  ) {
    super();
    this.streamSid = start.streamSid;
    this.callSid = start.callSid;
    this.accountSid = start.accountSid;
    this.tracks = start.tracks;
    this.customParameters = start.customParameters;
    this.mediaOut = new BotMediaTemplate(start.streamSid);
    this.mediaIn = new PlatformMediaMatcher(start.streamSid);
  }

  get isOpen(): boolean {
    return this.ws.readyState === this.ws.OPEN;
  }

  /** Play audio to the caller: PCM (Int16Array, 8 kHz) or μ-law bytes (Uint8Array/Buffer). */
  send(audio: Int16Array | Uint8Array): boolean {
    const ulaw = audio instanceof Int16Array ? ulawEncode(audio) : audio;
    if (ulaw.length === 0) return true;
    if (this.ws.readyState !== this.ws.OPEN) return false;
    // The message written into its frame's buffer (ws-frame-writer.ts), not copied there.
    if (this.raw) writeFrame(this.raw, this.mediaOut.build(ulaw, SERVER_FRAME), OPCODE_TEXT, false);
    else sendDataFrame(this.ws, undefined, OPCODE_TEXT, this.mediaOut.build(ulaw));
    return true;
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

  /** @internal a binary frame after `start` (the protocol is JSON text): dropped. */
  onBinary(): void {
    this.violation('binary frame');
  }

  /** @internal one text frame after `start`; returns the event it carried (undefined: dropped). */
  onText(data: Buffer): PlatformMessage['event'] | undefined {
    const fast = this.mediaIn.match(data);
    if (fast) {
      this.dispatchMedia(fast);
      return 'media';
    }
    const parsed = parsePlatformMessage(data.toString('utf8'));
    if (!parsed.ok) return this.violation(parsed.reason);
    const m = parsed.message;
    if (m.event === 'connected' || m.event === 'start') return this.violation(`${m.event} after start`);
    if (m.streamSid !== this.streamSid) return this.violation(`wrong streamSid ${JSON.stringify(m.streamSid.slice(0, 40))}`);
    this.dispatch(m);
    return m.event;
  }

  private dispatchMedia(f: MediaFrame): void {
    this.emit('media', f.ulaw, { track: f.track, chunk: f.chunk, timestamp: f.timestamp });
    if (f.track === 'inbound' && this.listenerCount('audio') > 0) this.emit('audio', ulawDecode(f.ulaw));
  }

  private dispatch(m: Exclude<PlatformMessage, { event: 'connected' | 'start' }>): void {
    switch (m.event) {
      case 'media':
        return this.dispatchMedia(mediaFrameOf(m));
      case 'dtmf':
        this.emit('dtmf', m.dtmf.digit);
        return;
      case 'mark':
        this.emit('mark', m.mark.name);
        return;
      case 'stop':
        this.emit('stop');
        return;
    }
  }

  private violation(reason: string): undefined {
    const n = ++this.violations;
    if (n === 1 || n % 100 === 0) this.logger.warn({ reason, violations: n }, 'media streams: bad message from the platform dropped');
    return undefined;
  }
}

/** ws hands text frames over as one Buffer (binaryType nodebuffer); the other shapes, just in case. */
const asBuffer = (data: RawData): Buffer => (Buffer.isBuffer(data) ? data : Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data));

export type MediaStreamsHandler = (session: MediaStreamsSession) => void | Promise<void>;

/** One platform connection: the wire of one mediaStreamServer actor. */
interface Connection {
  ws: WebSocket;
  /** The socket `media` messages are written to directly (http/ws-frame-writer.ts), or undefined: through `ws`. */
  raw: Duplex | undefined;
  remote: string;
  start: StartInfo | undefined;
  session: MediaStreamsSession | undefined;
  closeCode: number;
  refusal(): string;
}

let routeSeq = 0;

/** The WsRoute (plus `close()`) serving the bot side of Twilio Media Streams on `path`. */
export function createMediaStreamsRoute(
  path: string,
  handler: MediaStreamsHandler,
  supervisor: Supervisor,
  logger: Logger,
  o: MediaStreamsRouteOptions = {},
): WsRoute & { close(): void } {
  if (!path.startsWith('/')) throw new TypeError(`media streams path must start with "/", got ${JSON.stringify(path)}`);
  const log = logger.child({ component: 'media-streams', route: path });
  const textRate = o.textRate === false ? false : checkRateLimit('mediaStreams textRate', o.textRate ?? { perSecond: 200, burst: 400 });
  const live = new Map<string, { conn: Connection; actor: Actor<MediaStreamServerMachine> }>();
  const routeId = ++routeSeq;
  let seq = 0;
  let closing = false;

  const fail = (conn: Connection, err: unknown) => {
    log.error({ err }, 'media streams handler failed');
    if (conn.ws.readyState === conn.ws.OPEN) conn.ws.close(WS_CLOSE.internal, 'internal error');
  };
  const registry = new ActorRegistry<MediaStreamServerMachine, Connection>(supervisor, (wire) =>
    mediaStreamServerMachine.provide({
      delays: { startTimeout: o.startTimeoutMs ?? defaultMediaStreamServerDelays.startTimeout },
      actions: {
        openSession: ({ self }) => {
          const conn = wire(self.id);
          if (!conn?.start) return;
          const session = new MediaStreamsSession(conn.start, conn.ws, conn.raw, log.child({ streamSid: conn.start.streamSid, callSid: conn.start.callSid }));
          conn.session = session;
          session.logger.info({ remote: conn.remote, tracks: conn.start.tracks }, 'media stream started');
          // The handler runs after this transition, not inside the actor's action.
          queueMicrotask(() => {
            try {
              const r = handler(session);
              if (r && typeof r.then === 'function') r.then(undefined, (err: unknown) => fail(conn, err));
            } catch (err) {
              fail(conn, err);
            }
          });
        },
        refuse: ({ self }) => {
          const conn = wire(self.id);
          if (!conn) return;
          const reason = conn.refusal();
          log.warn({ remote: conn.remote, reason }, 'media stream refused');
          if (conn.ws.readyState === conn.ws.OPEN) conn.ws.close(WS_CLOSE.policy, reason.slice(0, 120));
        },
        closeSocket: ({ self }) => {
          const ws = wire(self.id)?.ws;
          if (ws && (ws.readyState === ws.OPEN || ws.readyState === ws.CONNECTING)) ws.close(WS_CLOSE.goingAway, 'server shutting down');
        },
        notifyClosed: ({ self }) => {
          const conn = wire(self.id);
          if (!conn?.session) return;
          const { session, closeCode } = conn;
          session.logger.info({ code: closeCode }, 'media stream closed');
          queueMicrotask(() => session.emit('close', closeCode));
        },
      },
    }),
  );

  return {
    name: `media-streams ${path}`,
    maxPayload: o.maxPayload ?? 256 * 1024,
    match: (url) => (url.pathname === path ? {} : null),
    close() {
      closing = true;
      for (const { actor } of live.values()) actor.send({ type: 'ENGINE.SHUTDOWN' });
    },
    onConnection(ws: WebSocket, req: IncomingMessage) {
      const remote = `${req.socket.remoteAddress ?? '?'}:${req.socket.remotePort ?? 0}`;
      if (closing) return void ws.close(WS_CLOSE.goingAway, 'server shutting down');
      const id = `media-streams-${routeId}-${++seq}`;
      const conn: Connection = {
        ws,
        raw: directSocket(ws, req.socket),
        remote,
        start: undefined,
        session: undefined,
        closeCode: 1006,
        refusal: () => actor?.getSnapshot().context.refusal ?? 'protocol error',
      };
      let actor: Actor<MediaStreamServerMachine> | undefined;
      try {
        actor = registry.spawn(conn, { kind: 'bot-stream', id, bindings: { route: path }, onExit: () => live.delete(id) }).ref;
      } catch (err) {
        log.warn({ err, remote }, 'media stream refused: cannot start its actor');
        return void ws.close(err instanceof LimitExceededError ? WS_CLOSE.tryAgainLater : WS_CLOSE.internal, 'cannot start stream');
      }
      const a = actor;
      live.set(id, { conn, actor: a });
      const gate = new FrameGate({ text: textRate, binary: false });
      const toActor = (ev: MediaStreamServerEvent) => {
        if (a.getSnapshot().status === 'active') a.send(ev);
      };
      ws.on('message', (data: RawData, isBinary: boolean) => {
        if (!gate.allow(isBinary)) {
          if (ws.readyState === ws.OPEN) log.warn({ remote }, 'media stream over its rate limit: closed');
          return void ws.close(RATE_LIMIT_CLOSE.code, RATE_LIMIT_CLOSE.reason);
        }
        if (ws.readyState !== ws.OPEN) return;
        const session = conn.session;
        if (session) {
          // Fast path: after start, messages go to the session, only `stop` to the actor.
          if (isBinary) return session.onBinary();
          try {
            if (session.onText(asBuffer(data)) === 'stop') toActor({ type: 'MSG.STOP' });
          } catch (err) {
            log.error({ err }, 'media streams listener failed: closing this stream');
            ws.close(WS_CLOSE.internal, 'internal error');
          }
          return;
        }
        if (isBinary) return toActor({ type: 'MSG.EARLY', what: 'binary frame' });
        const parsed = parsePlatformMessage(asBuffer(data).toString('utf8'));
        if (!parsed.ok) return toActor({ type: 'MSG.EARLY', what: `invalid message (${parsed.reason})` });
        const m = parsed.message;
        if (m.event === 'connected') return toActor({ type: 'MSG.CONNECTED' });
        if (m.event === 'stop') return toActor({ type: 'MSG.STOP' });
        if (m.event !== 'start') return toActor({ type: 'MSG.EARLY', what: m.event });
        conn.start = m.start;
        toActor({ type: 'MSG.START' });
      });
      ws.on('close', (code: number) => {
        conn.closeCode = code;
        toActor({ type: 'SOCKET.CLOSED' });
      });
    },
  };
}
