// jambonz audio routes: the server side of the WebSocket jambonz's `listen`/`stream` verb opens
// (subprotocol `audio.jambonz.org`). One socket is one audio stream of one call:
//
//   connect ──► metadata text frame (validated) ──► stream actor spawned, WAV opened, handler called
//           ──► binary L16 frames: counted, written to the WAV, handed to the application
//           ──► socket closes (cleanly or not) / app disconnects / engine shuts down / max duration
//           ──► WAV header finalised, `close` event with the summary
//
// The life cycle is machines/audioStream.machine.ts, provided once per route (actions dispatch by
// actor id to the session, as the recording runtime does). Audio frames stay out of the actor: the
// adapter counts them and tells the actor the totals when the stream ends. Anything wrong with one
// socket (bad metadata, audio before metadata, a handler that throws) closes that socket only.
import { EventEmitter } from 'node:events';
import { promises as fsp } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import path from 'node:path';
import { Readable } from 'node:stream';
import type { Logger } from 'pino';
import type { RawData, WebSocket } from 'ws';
import type { Actor } from 'xstate';
import {
  audioStreamMachine,
  defaultAudioStreamDelays,
  type AudioStreamEndReason,
  type AudioStreamEvent,
  type AudioStreamMachine,
  type AudioStreamOutput,
} from '../../machines/audioStream.machine.js';
import { PcmWavWriter } from '../media/codecs/wav.js';
import { LimitExceededError } from '../actors/supervisor.js';
import { stateToString } from '../actors/state.js';
import type { WsRoute } from '../http/server.js';
import { DEFAULT_FRAME_RATES, FrameGate, RATE_LIMIT_CLOSE, checkRateLimit, type RateLimit } from '../http/rate-limit.js';
import type { JambonzContext, JambonzRoute } from './index.js';
import {
  JAMBONZ_AUDIO_SUBPROTOCOL,
  channelsFor,
  encodeAudioCommand,
  markNameSchema,
  parseAudioInbound,
  parseAudioMetadata,
  playAudioDataSchema,
  type JambonzAudioCommand,
  type JambonzAudioMetadata,
  type JambonzDtmfEvent,
  type JambonzMarkEvent,
  type JambonzPlayAudioData,
  type JambonzPlayDoneEvent,
  type JambonzSampleRate,
} from './audio-protocol.js';
import { WS_CLOSE } from '../http/close-codes.js';

export * from './audio-protocol.js';
export type { AudioStreamEndReason } from '../../machines/audioStream.machine.js';

export interface JambonzAudioOptions {
  /** Write each stream to `<recordingsDir>/<callSid>-<n>.wav` (default true). */
  record?: boolean;
  /** Directory for this route's WAV files (default: the engine's `jambonz.recordingsDir`). */
  recordingsDir?: string;
  /** Largest accepted frame in bytes (default 1 MiB); bigger frames close the socket with 1009. */
  maxPayload?: number;
  /** Time allowed between connect and the metadata frame (default 10 s); then close 1008. */
  metadataTimeoutMs?: number;
  /** Longest a stream may run (default 4 h); then it is finalised and the socket closed (1000). */
  maxDurationMs?: number;
  /**
   * WAV bytes buffered in memory between disk writes (default 32000: 1 s of 16 kHz mono). Each
   * flush also patches the header, so this bounds what a crashed process can lose.
   */
  flushBytes?: number;
  /** Audio kept while the WAV file is being created (default 1 MiB); beyond it frames are dropped. */
  maxPendingBytes?: number;
  /**
   * Binary (audio) frames allowed per socket (default 250/s, burst 500: 5x the 50 frames/s of
   * 20 ms packets); beyond, close 1008 `rate limit exceeded`. `false`: no limit.
   */
  binaryRate?: RateLimit | false;
  /** Text frames allowed per socket, metadata included (default 20/s, burst 40). `false`: no limit. */
  textRate?: RateLimit | false;
}

/** What the application gets when a stream ends. */
export interface JambonzAudioSummary extends AudioStreamOutput {
  /** Binary frames whose length was not whole samples for every channel (dropped). */
  oddFrames: number;
  /** Frames received but not recorded: after the end, or beyond `maxPendingBytes` while opening. */
  droppedFrames: number;
  /** The socket's close code, when it had closed by then. */
  closeCode?: number;
}

export interface JambonzAudioStats {
  /** Binary audio frames accepted (whole samples). */
  frames: number;
  /** Bytes of audio accepted. */
  bytes: number;
  oddFrames: number;
  droppedFrames: number;
  /** Bytes of audio the application streamed back (`sendAudio`). */
  sentBytes: number;
}

export interface JambonzAudioStreamEvents {
  /** One binary frame of L16 little-endian PCM (channels interleaved for stereo). */
  audio: [pcm: Buffer];
  playDone: [event: JambonzPlayDoneEvent];
  mark: [event: JambonzMarkEvent];
  dtmf: [event: JambonzDtmfEvent];
  /** Any other JSON object jambonz sends on the audio socket. */
  message: [message: Record<string, unknown>];
  /** The stream is over and its WAV file (if any) is final. */
  close: [summary: JambonzAudioSummary];
}

/** Options for `playAudio(pcm, opts)` and the object form's extra fields. */
export interface PlayAudioOptions {
  /** Sample rate of raw PCM (default: the stream's `sampleRate`). */
  sampleRate?: JambonzSampleRate;
  queuePlay?: boolean;
  id?: string;
}

export type PlayAudioInput = Buffer | Int16Array | JambonzPlayAudioData;

/** One jambonz audio stream as the application sees it. */
export interface JambonzAudioStream extends EventEmitter<JambonzAudioStreamEvents> {
  /** Unique id of this stream (also its actor id). */
  readonly id: string;
  readonly callSid: string;
  readonly metadata: JambonzAudioMetadata;
  readonly sampleRate: JambonzSampleRate;
  readonly channels: 1 | 2;
  /** Application state shared by every handler (`engine.jambonz.locals`). */
  readonly locals: Record<string, unknown>;
  /** pino logger bound to this stream's ids (callSid included). */
  readonly logger: Logger;
  /** The WAV file once it exists (undefined when recording is off or not yet open). */
  readonly path: string | undefined;
  /** The actor's state: `opening`, `streaming.idle`, `streaming.playing`, `finalizing`, `done`, … */
  readonly state: string;
  readonly stats: Readonly<JambonzAudioStats>;
  /** Marks sent and not yet reported back by jambonz. */
  readonly pendingMarks: readonly string[];
  /** Resolves with the summary once the stream is over and the file is final. */
  readonly done: Promise<JambonzAudioSummary>;
  /** A Node Readable of the audio frames from now on; it ends when the stream does. */
  readable(): Readable;
  [Symbol.asyncIterator](): AsyncIterator<Buffer>;
  /**
   * Play a clip to the caller (jambonz's non-streaming bidirectional mode): raw L16 PCM, or the
   * playAudio `data` object itself. Throws TypeError on invalid input; false when the socket is gone.
   */
  playAudio(audio: PlayAudioInput, opts?: PlayAudioOptions): boolean;
  /** Stream L16 PCM back as a binary frame (`bidirectionalAudio.streaming`). */
  sendAudio(pcm: Buffer | Int16Array): boolean;
  /** Stop what is playing and drop buffered audio. */
  killAudio(): boolean;
  /** Ask jambonz to end the listen; the stream is finalised and the socket closed (1000). */
  disconnect(): boolean;
  /** Place a named mark after the audio sent so far; jambonz reports it played out (or cleared). */
  mark(name: string): boolean;
  clearMarks(): boolean;
}

export type JambonzAudioHandler = (stream: JambonzAudioStream) => void | Promise<void>;

const DEFAULTS = {
  maxPayload: 1024 * 1024,
  metadataTimeoutMs: 10_000,
  flushBytes: 32_000,
  maxPendingBytes: 1024 * 1024,
};
/** How long close() waits for open files to be finalised before closing sockets anyway. */
const SHUTDOWN_FINALIZE_MS = 5000;
/** Attempts at a free `<callSid>-<n>.wav` before giving up (one per earlier stream of the call). */
const MAX_FILE_INDEX = 10_000;

let routeSeq = 0;

interface Route {
  readonly ctx: JambonzContext;
  readonly name: string;
  readonly machine: AudioStreamMachine;
  readonly sessions: Map<string, AudioStreamSession>;
  readonly record: boolean;
  readonly dir: string;
  readonly flushBytes: number;
  readonly maxPendingBytes: number;
  ensureDir(): Promise<void>;
}

/** Claim the first free `<callSid>-<n>.wav` atomically (O_EXCL), so no stream overwrites another. */
async function claimPath(dir: string, callSid: string): Promise<string> {
  for (let n = 1; n <= MAX_FILE_INDEX; n++) {
    const p = path.join(dir, `${callSid}-${n}.wav`);
    try {
      const fh = await fsp.open(p, 'wx');
      await fh.close();
      return p;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
  }
  throw new Error(`no free file name for ${callSid} in ${dir}`);
}

function toBuffer(pcm: Buffer | Int16Array): Buffer {
  return Buffer.isBuffer(pcm) ? pcm : Buffer.from(pcm.buffer, pcm.byteOffset, pcm.byteLength);
}

class AudioStreamSession extends EventEmitter<JambonzAudioStreamEvents> implements JambonzAudioStream {
  readonly callSid: string;
  readonly sampleRate: JambonzSampleRate;
  readonly channels: 1 | 2;
  readonly done: Promise<JambonzAudioSummary>;
  actor!: Actor<AudioStreamMachine>;
  logger: Logger;
  private resolveDone!: (s: JambonzAudioSummary) => void;
  private readonly counters: JambonzAudioStats = { frames: 0, bytes: 0, oddFrames: 0, droppedFrames: 0, sentBytes: 0 };
  private writer: PcmWavWriter | null = null;
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  /** Frames are taken from metadata until finalize/abort. */
  private accepting = true;
  private finished: JambonzAudioSummary | undefined;
  private closeCode: number | undefined;
  private readonly frameBytes: number;

  constructor(
    private readonly route: Route,
    readonly id: string,
    readonly metadata: JambonzAudioMetadata,
    private readonly ws: WebSocket,
    logger: Logger,
  ) {
    super();
    this.callSid = metadata.callSid;
    this.sampleRate = metadata.sampleRate;
    this.channels = channelsFor(metadata.mixType);
    this.frameBytes = 2 * this.channels;
    this.logger = logger;
    this.done = new Promise((r) => (this.resolveDone = r));
  }

  /** Events for the actor while it runs (a finished actor would only warn about them). */
  private toActor(ev: AudioStreamEvent): void {
    if (this.finished === undefined) this.actor.send(ev);
  }

  get locals(): Record<string, unknown> {
    return this.route.ctx.locals;
  }

  get path(): string | undefined {
    return this.writer?.path ?? this.actor.getSnapshot().context.path ?? undefined;
  }

  get state(): string {
    return stateToString(this.actor.getSnapshot().value);
  }

  get stats(): Readonly<JambonzAudioStats> {
    return { ...this.counters };
  }

  get pendingMarks(): readonly string[] {
    return this.actor.getSnapshot().context.marks;
  }

  /** What the adapter has counted so far (the actor only learns the totals at the end). */
  totals(): { frames: number; bytes: number; durationMs: number } {
    const { frames, bytes } = this.counters;
    return { frames, bytes, durationMs: Math.round((bytes / (this.sampleRate * this.frameBytes)) * 1000) };
  }

  get isFinished(): boolean {
    return this.finished !== undefined;
  }

  // ---- wire → app -----------------------------------------------------------------------------

  /** Hot path: one binary frame. No actor event, no allocation unless the writer is not open yet. */
  onBinary(frame: Buffer): void {
    if (!this.accepting) {
      this.counters.droppedFrames++;
      return;
    }
    if (frame.length === 0 || frame.length % this.frameBytes !== 0) {
      // Not whole samples for every channel: writing it would shift every later sample.
      if (this.counters.oddFrames++ === 0) this.logger.warn({ length: frame.length, channels: this.channels }, 'audio frame is not whole samples: dropped');
      return;
    }
    this.counters.frames++;
    this.counters.bytes += frame.length;
    if (this.route.record) {
      if (this.writer) this.write(frame);
      else if (this.pendingBytes + frame.length <= this.route.maxPendingBytes) {
        this.pending.push(frame);
        this.pendingBytes += frame.length;
      } else this.counters.droppedFrames++;
    }
    this.emit('audio', frame);
  }

  onText(text: string): void {
    const parsed = parseAudioInbound(text);
    if (!parsed.ok) {
      // A stray message must not cost the recording: logged, not fatal.
      this.logger.warn({ reason: parsed.reason, text: text.slice(0, 200) }, 'unexpected text frame on audio socket');
      return;
    }
    const m = parsed.message;
    switch (m.type) {
      case 'playDone':
        this.toActor({ type: 'PLAY.DONE' });
        this.emit('playDone', m);
        break;
      case 'mark':
        this.toActor({ type: 'MARK.EVENT', name: m.name, event: m.event });
        this.emit('mark', m);
        break;
      case 'dtmf':
        this.emit('dtmf', m);
        break;
      case 'other':
        this.emit('message', m.message);
        break;
    }
  }

  /** Engine shutdown: finalise now (the route closes the socket with 1001 once the file is final). */
  shutdown(): void {
    this.toActor({ type: 'ENGINE.SHUTDOWN' });
  }

  onSocketClosed(code: number): void {
    this.closeCode = code;
    this.toActor({ type: 'SOCKET.CLOSED', code });
  }

  // ---- app → wire -----------------------------------------------------------------------------

  /** Send a command; once it is on the wire, tell the stream actor what it did (`sent`). */
  private sendCommand(cmd: JambonzAudioCommand, sent?: AudioStreamEvent): boolean {
    if (this.ws.readyState !== this.ws.OPEN) return false;
    this.ws.send(encodeAudioCommand(cmd));
    if (sent) this.toActor(sent);
    return true;
  }

  playAudio(audio: PlayAudioInput, opts: PlayAudioOptions = {}): boolean {
    let data: JambonzPlayAudioData;
    if (Buffer.isBuffer(audio) || audio instanceof Int16Array) {
      data = {
        audioContent: toBuffer(audio).toString('base64'),
        audioContentType: 'raw',
        sampleRate: opts.sampleRate ?? this.sampleRate,
        ...(opts.queuePlay !== undefined ? { queuePlay: opts.queuePlay } : {}),
        ...(opts.id !== undefined ? { id: opts.id } : {}),
      };
    } else {
      data = { ...audio, ...opts };
    }
    const parsed = playAudioDataSchema.safeParse(data);
    if (!parsed.success) throw new TypeError(`playAudio: ${parsed.error.issues[0]?.message ?? 'invalid audio'}`);
    return this.sendCommand({ type: 'playAudio', data: parsed.data }, { type: 'PLAY.STARTED' });
  }

  sendAudio(pcm: Buffer | Int16Array): boolean {
    const buf = toBuffer(pcm);
    if (buf.length === 0 || buf.length % 2 !== 0) throw new TypeError('sendAudio: PCM must be a non-empty run of whole 16-bit samples');
    if (this.ws.readyState !== this.ws.OPEN) return false;
    this.ws.send(buf, { binary: true });
    this.counters.sentBytes += buf.length;
    return true;
  }

  killAudio(): boolean {
    return this.sendCommand({ type: 'killAudio' }, { type: 'PLAY.KILLED' });
  }

  disconnect(): boolean {
    const sent = this.sendCommand({ type: 'disconnect' });
    this.toActor({ type: 'APP.DISCONNECT' });
    // ws queues the close frame behind the disconnect message, so jambonz reads both in order.
    if (sent) this.ws.close(WS_CLOSE.normal, 'application disconnect');
    return sent;
  }

  mark(name: string): boolean {
    const parsed = markNameSchema.safeParse(name);
    if (!parsed.success) throw new TypeError(`mark: ${parsed.error.issues[0]?.message ?? 'invalid name'}`);
    return this.sendCommand({ type: 'mark', data: { name: parsed.data } }, { type: 'MARK.SENT', name: parsed.data });
  }

  clearMarks(): boolean {
    return this.sendCommand({ type: 'clearMarks' }, { type: 'MARKS.CLEARED' });
  }

  readable(): Readable {
    // No backpressure towards jambonz exists (it streams in real time), so the Readable buffers
    // what its consumer has not read yet; a consumer that stops reading should destroy() it.
    const r = new Readable({ read() {} });
    const onAudio = (pcm: Buffer) => r.push(pcm);
    const onClose = () => {
      this.off('audio', onAudio);
      r.push(null);
    };
    if (this.finished) {
      r.push(null);
      return r;
    }
    this.on('audio', onAudio);
    this.once('close', onClose);
    r.once('close', () => {
      this.off('audio', onAudio);
      this.off('close', onClose);
    });
    return r;
  }

  [Symbol.asyncIterator](): AsyncIterator<Buffer> {
    return this.readable()[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  }

  // ---- actor actions ------------------------------------------------------------------------

  private write(frame: Buffer): void {
    // The wire's byte order is the file's (little-endian L16): one copy, no per-sample work.
    this.writer!.write(frame);
  }

  openWriter(): void {
    const { dir, flushBytes } = this.route;
    void (async () => {
      await this.route.ensureDir();
      const p = await claimPath(dir, this.callSid);
      return PcmWavWriter.create(p, { sampleRate: this.sampleRate, channels: this.channels, flushBytes, logger: this.logger });
    })().then(
      (w) => {
        if (!this.accepting) {
          // Aborted while opening (actor stopped from outside): leave a valid, empty file.
          void w.close().catch(() => {});
          return;
        }
        this.writer = w;
        for (const f of this.pending) this.write(f);
        this.pending = [];
        this.pendingBytes = 0;
        this.toActor({ type: 'WRITER.READY', path: w.path });
      },
      (err: unknown) => {
        this.logger.error({ err }, 'cannot create WAV file');
        this.toActor({ type: 'WRITER.FAILED', error: err instanceof Error ? err.message : String(err) });
      },
    );
  }

  finalize(): void {
    this.accepting = false;
    const { frames, bytes, durationMs } = this.totals();
    const finalized = () => this.toActor({ type: 'STREAM.FINALIZED', frames, bytes, durationMs });
    const w = this.writer;
    if (!w) {
      // Listen-only route: nothing to close. Answer on a microtask, never inside the action.
      queueMicrotask(finalized);
      return;
    }
    w.close().then(finalized, (err: unknown) => {
      this.logger.error({ err, path: w.path }, 'cannot finalise WAV file');
      this.toActor({ type: 'WRITER.FAILED', error: err instanceof Error ? err.message : String(err) });
    });
  }

  abort(): void {
    this.accepting = false;
    this.pending = [];
    // close() still patches the header over what was written: the file stays a valid WAV.
    this.writer?.close().catch(() => {});
  }

  /** The actor is gone (done, failed, crashed or stopped): report once, release the socket. */
  finish(out: AudioStreamOutput): void {
    if (this.finished) return;
    this.abort();
    const summary: JambonzAudioSummary = {
      ...out,
      oddFrames: this.counters.oddFrames,
      droppedFrames: this.counters.droppedFrames,
      ...(this.closeCode !== undefined ? { closeCode: this.closeCode } : {}),
    };
    this.finished = summary;
    const level = out.reason === 'error' ? 'error' : 'info';
    this.logger[level]({ reason: out.reason, path: out.path, frames: out.frames, bytes: out.bytes, durationMs: out.durationMs, error: out.error }, 'audio stream ended');
    if (this.ws.readyState === this.ws.OPEN || this.ws.readyState === this.ws.CONNECTING) {
      const code = out.reason === 'error' ? WS_CLOSE.internal : out.reason === 'shutdown' ? WS_CLOSE.goingAway : WS_CLOSE.normal;
      this.ws.close(code, `audio stream ended: ${out.reason}`);
    }
    this.resolveDone(summary);
    try {
      this.emit('close', summary);
    } catch (err) {
      this.logger.error({ err }, 'close listener threw');
    }
  }

  /** The application's code failed inside this stream: end this stream only (1011). */
  fail(err: unknown, where: string): void {
    this.logger.error({ err }, `audio handler failed (${where})`);
    if (this.ws.readyState === this.ws.OPEN) this.ws.close(WS_CLOSE.internal, 'internal error');
  }
}

/** The WsRoute (plus `close()`) serving jambonz audio streams on `routePath`. */
export function createAudioRoute(ctx: JambonzContext, routePath: string, handler: JambonzAudioHandler, opts: JambonzAudioOptions): WsRoute & JambonzRoute {
  const log = ctx.logger.child({ route: routePath, protocol: JAMBONZ_AUDIO_SUBPROTOCOL });
  const sessions = new Map<string, AudioStreamSession>();
  /** Sockets not yet past their metadata frame (closed on shutdown too). */
  const waiting = new Set<WebSocket>();
  const dir = opts.recordingsDir ?? ctx.recordingsDir;
  let dirReady: Promise<void> | undefined;
  let closing = false;
  const routeId = ++routeSeq;
  let streamSeq = 0;
  const metadataTimeoutMs = opts.metadataTimeoutMs ?? DEFAULTS.metadataTimeoutMs;
  const rates = {
    text: opts.textRate === false ? false : checkRateLimit('jambonz audio textRate', opts.textRate ?? DEFAULT_FRAME_RATES.jambonzAudio.text),
    binary: opts.binaryRate === false ? false : checkRateLimit('jambonz audio binaryRate', opts.binaryRate ?? DEFAULT_FRAME_RATES.jambonzAudio.binary),
  } as const;

  const session = (id: string) => sessions.get(id);
  const machine = audioStreamMachine.provide({
    delays: { maxDuration: opts.maxDurationMs ?? defaultAudioStreamDelays.maxDuration },
    actions: {
      openWriter: ({ self }) => session(self.id)?.openWriter(),
      finalize: ({ self }) => session(self.id)?.finalize(),
      abort: ({ self }) => session(self.id)?.abort(),
    },
  });

  const route: Route = {
    ctx,
    name: `jambonz-audio ${routePath}`,
    machine,
    sessions,
    record: opts.record ?? true,
    dir,
    flushBytes: opts.flushBytes ?? DEFAULTS.flushBytes,
    maxPendingBytes: opts.maxPendingBytes ?? DEFAULTS.maxPendingBytes,
    ensureDir: () => (dirReady ??= fsp.mkdir(dir, { recursive: true }).then(() => undefined)),
  };


  return {
    name: route.name,
    path: routePath,
    maxPayload: opts.maxPayload ?? DEFAULTS.maxPayload,
    protocols: [JAMBONZ_AUDIO_SUBPROTOCOL],
    requireProtocol: true,
    match: (url) => (url.pathname === routePath ? {} : null),

    onConnection(ws: WebSocket, req: IncomingMessage) {
      const remote = `${req.socket.remoteAddress ?? '?'}:${req.socket.remotePort ?? 0}`;
      if (closing) {
        ws.close(WS_CLOSE.goingAway, 'server shutting down');
        return;
      }
      let s: AudioStreamSession | undefined;
      waiting.add(ws);
      const refuse = (reason: string) => {
        log.warn({ remote, reason }, 'audio socket refused');
        ws.close(WS_CLOSE.policy, reason.slice(0, 120));
      };
      const metadataTimer = setTimeout(() => refuse(`no metadata within ${metadataTimeoutMs} ms`), metadataTimeoutMs);
      const gate = new FrameGate(rates);

      ws.on('message', (data: RawData, isBinary: boolean) => {
        if (!gate.allow(isBinary)) {
          // The stream (if any) ends as a socket close: its WAV is finalised with what came in time.
          if (ws.readyState === ws.OPEN) log.warn({ remote, callSid: s?.callSid, isBinary }, 'audio socket over its rate limit: closed');
          ws.close(RATE_LIMIT_CLOSE.code, RATE_LIMIT_CLOSE.reason);
          return;
        }
        if (s) {
          if (s.isFinished) return;
          try {
            if (isBinary) s.onBinary(data as Buffer);
            else s.onText((data as Buffer).toString('utf8'));
          } catch (err) {
            s.fail(err, isBinary ? 'audio listener' : 'event listener');
          }
          return;
        }
        if (ws.readyState !== ws.OPEN) return; // already refused
        if (isBinary) return refuse('binary frame before metadata');
        const parsed = parseAudioMetadata((data as Buffer).toString('utf8'));
        if (!parsed.ok) return refuse(parsed.reason);
        clearTimeout(metadataTimer);
        waiting.delete(ws);
        s = open(ws, parsed.metadata, remote);
      });

      ws.on('close', (code: number) => {
        clearTimeout(metadataTimer);
        waiting.delete(ws);
        s?.onSocketClosed(code);
      });
    },

    async close() {
      closing = true;
      for (const ws of waiting) ws.close(WS_CLOSE.goingAway, 'server shutting down');
      waiting.clear();
      const open = [...sessions.values()];
      for (const x of open) x.shutdown();
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        Promise.all(open.map((x) => x.done)),
        new Promise<void>((r) => {
          timer = setTimeout(() => {
            log.warn({ open: open.filter((x) => !x.isFinished).length }, 'audio streams not finalised in time');
            r();
          }, SHUTDOWN_FINALIZE_MS);
        }),
      ]);
      clearTimeout(timer);
    },
  };

  function open(ws: WebSocket, metadata: JambonzAudioMetadata, remote: string): AudioStreamSession | undefined {
    const id = `jambonz-audio-${routeId}-${++streamSeq}`;
    // The session is registered before the actor starts: the first state's entry action (open
    // the writer) looks it up by actor id.
    const s = new AudioStreamSession(route, id, metadata, ws, log.child({ callSid: metadata.callSid, streamId: id }));
    sessions.set(id, s);
    const ended = (out: AudioStreamOutput) => s.finish(out);
    const lost = (reason: AudioStreamEndReason, error: string) =>
      s.finish({ streamId: id, callSid: s.callSid, path: s.path ?? null, reason, ...s.totals(), error });
    try {
      const sup = ctx.supervisor.spawn(machine, {
        kind: 'recording',
        id,
        input: { streamId: id, callSid: metadata.callSid, record: route.record },
        traced: true,
        bindings: { callSid: metadata.callSid, route: routePath },
        onDone: (out) => ended(out as AudioStreamOutput),
        onCrash: (err) => lost('error', err instanceof Error ? err.message : String(err)),
        onExit: () => {
          sessions.delete(id);
          // Stopped from outside (supervisor.stopAll) before finishing: the file is still closed.
          // Deferred, because a crash releases the actor before its onCrash reports the error.
          queueMicrotask(() => lost('shutdown', 'stream actor stopped'));
        },
      });
      s.actor = sup.ref;
      s.logger = sup.logger;
    } catch (err) {
      sessions.delete(id);
      const reason = err instanceof LimitExceededError ? err.message : 'cannot start audio stream';
      log.warn({ err, remote, callSid: metadata.callSid }, 'audio stream refused');
      ws.close(err instanceof LimitExceededError ? WS_CLOSE.tryAgainLater : WS_CLOSE.internal, reason.slice(0, 120));
      return undefined;
    }
    s.logger.info({ remote, sampleRate: s.sampleRate, mixType: metadata.mixType, record: route.record }, 'audio stream started');
    try {
      const r = handler(s);
      if (r && typeof r.then === 'function') r.then(undefined, (err: unknown) => s.fail(err, 'handler'));
    } catch (err) {
      s.fail(err, 'handler');
    }
    return s;
  }
}
