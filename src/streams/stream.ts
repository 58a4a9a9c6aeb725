// One call's Twilio-format media stream to a bot (`call.stream(url)`), the wire of one mediaStream
// actor: the WebSocket, the caller's audio out as `media` messages, the bot's audio in through a
// paced playout queue, marks and `clear`. Its life cycle (connect, reconnect, stop, fallback) is
// machines/mediaStream.machine.ts, whose named actions runtime.ts provides once and dispatches here.
//
// Anything a bot sends wrong (garbage, binary frames, a wrong streamSid, a frame over maxPayload,
// audio faster than real time beyond the queue) is dropped, counted and logged (throttled); it
// never reaches the call beyond this stream.
import { EventEmitter } from 'node:events';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import type { Actor } from 'xstate';
import WebSocket, { type RawData } from 'ws';
import type { MediaStreamEvent, MediaStreamMachine, MediaStreamOutput } from '../../machines/mediaStream.machine.js';
import { stateToString } from '../actors/state.js';
import { WS_CLOSE } from '../http/close-codes.js';
import { CLIENT_FRAME, OPCODE_TEXT, directSocket, sendDataFrame, writeFrame } from '../http/ws-frame-writer.js';
import { decodeG711, ulawEncode } from '../media/codecs/g711.js';
import type { MediaLeg } from '../media/leg.js';
import type { Pacer } from '../media/pacer.js';
import { BotMediaTemplate } from './fast-media.js';
import { PlatformEncoder, parseBotMessage, tracksOf, type StreamTrack } from './protocol.js';
import { PlayoutQueue } from './playout.js';

/** What a stream needs of the call it streams. */
export interface StreamTarget {
  readonly id: string;
  readonly leg: MediaLeg;
  /** Hang the call up (the `hangup` fallback). */
  hangup(detail: string): void;
  /** Subscribe to the call's DTMF digits; returns unsubscribe. */
  onDtmf(cb: (digit: string) => void): () => void;
}

export interface MediaStreamSettings {
  url: string;
  streamSid: string;
  callSid: string;
  accountSid: string;
  track: StreamTrack;
  customParameters: Record<string, string>;
  bidirectional: boolean;
  /** Most bot audio queued, in bytes (8 per ms). */
  maxQueueBytes: number;
  /** Largest frame accepted from the bot; bigger ones end the connection (1009). */
  maxPayload: number;
  /** Outgoing bytes buffered in the socket beyond which caller audio is dropped (slow bot). */
  maxBufferedBytes: number;
  headers: Record<string, string>;
}

export interface MediaStreamStats {
  /** `media` messages sent to the bot. */
  sentFrames: number;
  /** Caller frames dropped because the bot did not read its socket. */
  sentDropped: number;
  /** `media` messages received from the bot. */
  receivedMedia: number;
  /** Frames of bot audio played into the call. */
  playedFrames: number;
  /** Bytes of bot audio refused because the queue was full (flood). */
  droppedBytes: number;
  /** Bytes of bot audio dropped by `clear`. */
  clearedBytes: number;
  /** Marks echoed back to the bot. */
  marksEchoed: number;
  /** Messages from the bot that were dropped: not JSON, wrong shape, wrong streamSid, binary… */
  violations: number;
  /** Bytes of bot audio queued now. */
  queuedBytes: number;
}

export interface MediaStreamSummary extends MediaStreamOutput {
  stats: MediaStreamStats;
}

export interface MediaStreamEvents {
  /** A connection to the bot is open and `start` was sent (again after each reconnect). */
  connected: [];
  /** A mark was echoed to the bot (its audio played, or was cleared). */
  mark: [name: string];
  /** A message from the bot was dropped (why, in words). */
  violation: [reason: string];
  /** The stream is over. */
  stopped: [summary: MediaStreamSummary];
}

/** The handle `call.stream()` returns. */
export interface MediaStream extends EventEmitter<MediaStreamEvents> {
  readonly streamSid: string;
  readonly callSid: string;
  readonly url: string;
  /** The actor's state: `connecting`, `streaming`, `reconnecting`, `stopping`, `stopped`. */
  readonly state: string;
  readonly stats: Readonly<MediaStreamStats>;
  /** Resolves with the summary once the stream is over. */
  readonly done: Promise<MediaStreamSummary>;
  /** Send `stop` and close the socket; the call goes on. */
  stop(): void;
}

/**
 * How long after the bot's first frame of an utterance its first beat comes at the earliest: the
 * margin the next frames of a real-time bot have to arrive late and still catch their beat.
 */
const PLAYOUT_LEAD_MS = 2;


export class MediaStreamSession extends EventEmitter<MediaStreamEvents> implements MediaStream {
  actor!: Actor<MediaStreamMachine>;
  logger: Logger;
  readonly done: Promise<MediaStreamSummary>;
  private resolveDone!: (s: MediaStreamSummary) => void;
  private finished: MediaStreamSummary | undefined;
  private ws: WebSocket | null = null;
  /** The connection's socket, for writing `media` frames directly (ws-frame-writer.ts); undefined: through `ws`. */
  private raw: Duplex | undefined;
  private encoder: PlatformEncoder | null = null;
  private readonly playout: PlayoutQueue;
  private readonly counters = { sentFrames: 0, sentDropped: 0, receivedMedia: 0, marksEchoed: 0, violations: 0 };
  private unsubs: Array<() => void> = [];
  /** The pacer subscription of the bot's audio (bidirectional streams). */
  private offTick: (() => void) | undefined;
  private readonly onTick = (tick: number): void => this.tick(tick);
  /** The pacer tick this stream last played on (-1: none since it took its slot). */
  private lastTick = -1;
  private startedAt = 0;
  private readonly pcmOut = new Int16Array(160);
  /** Recognises the bot's canonical `media` messages without JSON.parse (fast-media.ts). */
  private readonly botMedia: BotMediaTemplate;

  constructor(
    readonly id: string,
    private readonly target: StreamTarget,
    private readonly settings: MediaStreamSettings,
    private readonly pacer: Pacer,
    logger: Logger,
  ) {
    super();
    this.logger = logger;
    this.playout = new PlayoutQueue(settings.maxQueueBytes);
    this.botMedia = new BotMediaTemplate(settings.streamSid);
    this.done = new Promise((r) => (this.resolveDone = r));
  }

  get streamSid(): string {
    return this.settings.streamSid;
  }

  get callSid(): string {
    return this.settings.callSid;
  }

  get url(): string {
    return this.settings.url;
  }

  get state(): string {
    return this.finished ? 'stopped' : stateToString(this.actor.getSnapshot().value);
  }

  get stats(): Readonly<MediaStreamStats> {
    const p = this.playout.stats;
    return { ...this.counters, playedFrames: p.played, droppedBytes: p.droppedBytes, clearedBytes: p.clearedBytes, queuedBytes: this.playout.queuedBytes };
  }

  get isFinished(): boolean {
    return this.finished !== undefined;
  }

  stop(): void {
    this.toActor({ type: 'APP.STOP' });
  }

  /** The call's media leg closed. */
  callEnded(): void {
    this.toActor({ type: 'CALL.ENDED' });
  }

  private toActor(ev: MediaStreamEvent): void {
    if (this.finished === undefined) this.actor.send(ev);
  }

  // ---- actor actions ------------------------------------------------------------------------

  openSocket(): void {
    let ws: WebSocket;
    try {
      ws = new WebSocket(this.settings.url, { maxPayload: this.settings.maxPayload, headers: this.settings.headers, perMessageDeflate: false });
    } catch (err) {
      this.logger.warn({ err, url: this.settings.url }, 'media stream: cannot connect');
      queueMicrotask(() => this.toActor({ type: 'SOCKET.CLOSED', code: 1006 }));
      return;
    }
    this.ws = ws;
    this.raw = undefined;
    // The socket the handshake upgraded: `ws` writes to it too, so frames written here keep their order.
    ws.on('upgrade', (res: IncomingMessage) => {
      if (this.ws === ws) this.raw = res.socket;
    });
    ws.on('open', () => {
      if (this.ws !== ws) return;
      this.raw = this.raw && directSocket(ws, this.raw);
      this.toActor({ type: 'SOCKET.OPEN' });
    });
    ws.on('message', (data: RawData, isBinary: boolean) => {
      if (this.ws !== ws) return;
      try {
        this.onMessage(data, isBinary);
      } catch (err) {
        // A bug reached by one message ends this connection only (the reconnect policy applies).
        this.logger.error({ err }, 'media stream: message handling failed');
        ws.close(WS_CLOSE.internal, 'internal error');
      }
    });
    let tooBig = false;
    ws.on('error', (err: Error & { code?: string }) => {
      // ws ends the connection itself on a frame over maxPayload; the close it reports is 1006.
      if (err.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') tooBig = true;
      this.logger.debug({ err }, 'media stream socket error');
    });
    ws.on('close', (reported: number) => {
      if (this.ws !== ws) return;
      this.ws = null;
      this.raw = undefined;
      const code = tooBig ? WS_CLOSE.tooBig : reported;
      if (tooBig) this.violation(`frame larger than ${this.settings.maxPayload} bytes`);
      this.logger.info({ code }, 'media stream socket closed');
      this.toActor({ type: 'SOCKET.CLOSED', code });
    });
  }

  dropSocket(): void {
    const ws = this.ws;
    this.ws = null;
    this.raw = undefined;
    if (!ws) return;
    ws.removeAllListeners('message');
    ws.on('error', () => {});
    ws.terminate();
  }

  startMedia(): void {
    const ws = this.ws;
    if (!ws || ws.readyState !== WebSocket.OPEN) return;
    const s = this.settings;
    this.encoder = new PlatformEncoder(s.streamSid);
    this.startedAt = performance.now();
    ws.send(this.encoder.connected());
    ws.send(this.encoder.start({ accountSid: s.accountSid, callSid: s.callSid, tracks: tracksOf(s.track), customParameters: s.customParameters }));
    const leg = this.target.leg;
    const payload = leg.payload;
    // G.711 μ-law on the wire already: its bytes go to the bot as they came (no decode/encode).
    if (payload && payload.codec === 'PCMU') this.unsubs.push(payload.onPayload((p) => this.sendMedia(p)));
    else this.unsubs.push(leg.onAudio((frame) => this.sendMedia(ulawEncode(frame))));
    if (s.bidirectional) {
      this.offTick = this.pacer.add(this.onTick);
      this.unsubs.push(this.target.onDtmf((digit) => this.send(this.encoder?.dtmf(digit))));
    }
    this.logger.info({ url: s.url, streamSid: s.streamSid, bidirectional: s.bidirectional }, 'media stream started');
    this.emit('connected');
  }

  stopMedia(): void {
    this.offTick?.();
    this.offTick = undefined;
    for (const u of this.unsubs.splice(0)) u();
    this.playout.clear();
  }

  sendStop(): void {
    const ws = this.ws;
    if (!ws) return;
    if (ws.readyState === WebSocket.OPEN) {
      this.send(this.encoder?.stop(this.settings.accountSid, this.settings.callSid));
      ws.close(WS_CLOSE.normal, 'stream stopped');
    } else this.dropSocket();
  }

  hangupCall(): void {
    this.logger.warn({ url: this.settings.url }, 'media stream: bot gone, hanging up (fallback hangup)');
    this.target.hangup('media stream bot gone');
  }

  /** The actor is gone (stopped, crashed or stopped from outside): report once, release the socket. */
  finish(out: MediaStreamOutput): void {
    if (this.finished) return;
    this.stopMedia();
    this.dropSocket();
    const summary: MediaStreamSummary = { ...out, stats: this.stats };
    this.finished = summary;
    this.logger.info({ reason: out.reason, reconnects: out.reconnects, stats: summary.stats }, 'media stream ended');
    this.resolveDone(summary);
    try {
      this.emit('stopped', summary);
    } catch (err) {
      this.logger.error({ err }, 'stopped listener threw');
    }
  }

  // ---- the wire -----------------------------------------------------------------------------

  private send(text: string | undefined): boolean {
    const ws = this.ws;
    if (text === undefined || !ws || ws.readyState !== WebSocket.OPEN) return false;
    ws.send(text);
    return true;
  }

  /** Hot path: one frame of caller audio (μ-law) as a `media` message. */
  private sendMedia(ulaw: Uint8Array): void {
    const ws = this.ws;
    if (!ws || !this.encoder || ws.readyState !== WebSocket.OPEN) return;
    // A bot that does not read its socket must not grow our memory: drop, count.
    if (ws.bufferedAmount > this.settings.maxBufferedBytes) {
      if (this.counters.sentDropped++ % 500 === 0) this.logger.warn({ buffered: ws.bufferedAmount }, 'media stream: bot is not reading; caller audio dropped');
      return;
    }
    const at = performance.now() - this.startedAt;
    // The message written once, into its masked frame, and the frame written once (ws-frame-writer.ts).
    if (this.raw) writeFrame(this.raw, this.encoder.mediaBytes('inbound', ulaw, at, CLIENT_FRAME), OPCODE_TEXT, true);
    else sendDataFrame(ws, undefined, OPCODE_TEXT, this.encoder.mediaBytes('inbound', ulaw, at));
    this.counters.sentFrames++;
  }

  /** Pacer tick (bidirectional): one frame of the bot's audio into the call, and due marks back. */
  private tick(tick: number): void {
    // Ticks the pacer skipped after a long stall never ran: they are owed like dry ones.
    if (this.lastTick >= 0 && tick - this.lastTick > 1) this.playout.missed(tick - this.lastTick - 1);
    this.lastTick = tick;
    // Making up ticks that found the queue dry after a stall (playout.ts).
    while (this.playFrame() && this.playout.catchUp());
  }

  /** The playout queue's next frame into the call, and the marks it completes. False: none queued. */
  private playFrame(): boolean {
    const { frame, marks } = this.playout.frame();
    if (frame) {
      const leg = this.target.leg;
      if (leg.payload && leg.payload.codec === 'PCMU') leg.payload.writePayload(frame);
      else leg.write(decodeG711('PCMU', frame, this.pcmOut));
    }
    if (marks.length) this.echoMarks(marks);
    return frame !== null;
  }

  private echoMarks(marks: readonly string[]): void {
    for (const name of marks) {
      this.send(this.encoder?.mark(name));
      this.counters.marksEchoed++;
      this.emit('mark', name);
    }
    this.toActor({ type: 'MARK.DONE', count: marks.length });
  }

  private violation(reason: string): void {
    const n = ++this.counters.violations;
    // Logged the first time and then every 100th: a bot spewing garbage must not flood the log.
    if (n === 1 || n % 100 === 0) this.logger.warn({ reason, violations: n }, 'media stream: bad message from bot dropped');
    this.emit('violation', reason);
  }

  private onMedia(bytes: Buffer): void {
    this.counters.receivedMedia++;
    // An utterance starts: play it on the pacer's next slot beat rather than the shared 20 ms one,
    // so it waits 2–7 ms instead of up to 20 (a real-time bot answers every frame: the phase holds).
    if (this.offTick && this.playout.idle) {
      const old = this.offTick;
      this.offTick = this.pacer.addSoonest(this.onTick, PLAYOUT_LEAD_MS);
      this.lastTick = -1;
      old();
    }
    if (!this.playout.push(bytes)) {
      const dropped = this.playout.stats.droppedBytes;
      if (dropped === bytes.length || dropped % (8000 * 10) < bytes.length) {
        this.logger.warn({ droppedBytes: dropped, maxQueueBytes: this.settings.maxQueueBytes }, 'media stream: bot sends audio faster than real time; queue full, audio dropped');
      }
      return;
    }
    // Audio a beat of this stream already found missing: it plays now, not one more beat later.
    if (this.offTick && this.playout.catchUp()) this.playFrame();
  }

  private onMessage(data: RawData, isBinary: boolean): void {
    if (isBinary) return this.violation('binary frame (the protocol is JSON text)');
    // The bot's audio, 50 times a second: its canonical form skips JSON.parse and the schema
    // (equal to them, test/unit/media-streams-fast.test.ts); anything else takes the full path.
    if (this.settings.bidirectional && Buffer.isBuffer(data)) {
      const bytes = this.botMedia.match(data);
      if (bytes) return this.onMedia(bytes);
    }
    const parsed = parseBotMessage(data.toString());
    if (!parsed.ok) return this.violation(parsed.reason);
    const m = parsed.message;
    if (m.streamSid !== this.settings.streamSid) return this.violation(`wrong streamSid ${JSON.stringify(m.streamSid.slice(0, 40))}`);
    if (!this.settings.bidirectional) return this.violation(`${m.event} on a unidirectional stream`);
    switch (m.event) {
      case 'media':
        return this.onMedia(Buffer.from(m.media.payload, 'base64'));
      case 'mark': {
        const r = this.playout.mark(m.mark.name);
        if (r === 'refused') return this.violation('too many marks waiting');
        this.toActor({ type: 'MARK.QUEUED' });
        if (r === 'due') this.echoMarks([m.mark.name]);
        return;
      }
      case 'clear': {
        const marks = this.playout.clear();
        if (marks.length) this.echoMarks(marks);
        return;
      }
    }
  }
}
