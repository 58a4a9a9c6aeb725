// One jambonz audio stream as the application sees it (`JambonzAudioStream`): the audio frames
// (counted, recorded to a WAV file, handed to the app), jambonz's text events, and the app's
// commands back (playAudio, marks, disconnect). Its life cycle is the audioStream machine, whose
// named actions (openWriter, finalize, abort) audio-route.ts provides once and dispatches here.
// Audio frames stay out of the actor: this adapter counts them and reports the totals at the end.
import { EventEmitter } from 'node:events';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { emitEntry, leanListeners, listeners } from '../emit-one.js';
import { Readable } from 'node:stream';
import type { Logger } from 'pino';
import type { Actor } from 'xstate';
import type { AudioStreamEndReason, AudioStreamEvent, AudioStreamMachine, AudioStreamOutput } from '../../machines/audioStream.machine.js';
import { PcmWavWriter } from '../media/codecs/wav.js';
import { stateToString } from '../actors/state.js';
import { WS_CLOSE } from '../http/close-codes.js';
import type { WebSocket } from 'ws';
import {
  channelsFor,
  encodeAudioCommand,
  markNameSchema,
  parseAudioInbound,
  playAudioDataSchema,
  type JambonzAudioCommand,
  type JambonzAudioMetadata,
  type JambonzPlayAudioData,
  type JambonzSampleRate,
} from './audio-protocol.js';
import type {
  JambonzAudioStats,
  JambonzAudioStream,
  JambonzAudioStreamEvents,
  JambonzAudioSummary,
  PlayAudioInput,
  PlayAudioOptions,
} from './audio-types.js';

/** Attempts at a free `<callSid>-<n>.wav` before giving up (one per earlier stream of the call). */
const MAX_FILE_INDEX = 10_000;

/** What a stream needs of its route: the app's state and the recording settings. */
export interface AudioStreamRoute {
  readonly locals: Record<string, unknown>;
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

export class AudioStreamSession extends EventEmitter<JambonzAudioStreamEvents> implements JambonzAudioStream {
  readonly callSid: string;
  readonly sampleRate: JambonzSampleRate;
  readonly channels: 1 | 2;
  readonly done: Promise<JambonzAudioSummary>;
  actor!: Actor<AudioStreamMachine>;
  logger: Logger;
  private resolveDone!: (s: JambonzAudioSummary) => void;
  private readonly counters: JambonzAudioStats = { frames: 0, bytes: 0, oddFrames: 0, droppedFrames: 0, sentBytes: 0 };
  private writer: PcmWavWriter | null = null;
  /**
   * Audio that came before the WAV file was open, copied: a frame from \`ws\` is a view into the
   * socket read it arrived in (up to 64 KiB), so holding the frame itself would pin that whole
   * read, and keep both alive across scavenges, for as long as the file takes to open.
   */
  private pending: Buffer | null = null;
  private pendingBytes = 0;
  /** Frames are taken from metadata until finalize/abort. */
  private accepting = true;
  private finished: JambonzAudioSummary | undefined;
  private closeCode: number | undefined;
  private readonly frameBytes: number;

  constructor(
    private readonly route: AudioStreamRoute,
    readonly id: string,
    readonly metadata: JambonzAudioMetadata,
    private readonly ws: WebSocket,
    logger: Logger,
  ) {
    super();
    leanListeners(this);
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
    return this.route.locals;
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
      else if (this.pendingBytes + frame.length <= this.route.maxPendingBytes) this.stash(frame);
      else this.counters.droppedFrames++;
    }
    // One listener (the usual case: the app's, or a readable()'s) is called without emit's array.
    emitEntry(this, listeners(this).audio, 'audio', frame);
  }

  private stash(frame: Buffer): void {
    const need = this.pendingBytes + frame.length;
    let p = this.pending;
    if (p === null || p.length < need) {
      // Doubling, capped at maxPendingBytes (which the caller checked \`need\` against).
      const grown = Buffer.allocUnsafeSlow(Math.min(this.route.maxPendingBytes, Math.max(16 * 1024, need * 2)));
      if (p !== null) grown.set(p.subarray(0, this.pendingBytes));
      this.pending = p = grown;
    }
    p.set(frame, this.pendingBytes);
    this.pendingBytes = need;
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
        if (this.pending !== null && this.pendingBytes > 0) this.write(this.pending.subarray(0, this.pendingBytes));
        this.pending = null;
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
    this.pending = null;
    this.pendingBytes = 0;
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

  /** The actor ended without an output (crashed, or stopped from outside): report from the adapter's totals. */
  lost(reason: AudioStreamEndReason, error: string): void {
    this.finish({ streamId: this.id, callSid: this.callSid, path: this.path ?? null, reason, ...this.totals(), error });
  }

  /** The application's code failed inside this stream: end this stream only (1011). */
  fail(err: unknown, where: string): void {
    this.logger.error({ err }, `audio handler failed (${where})`);
    if (this.ws.readyState === this.ws.OPEN) this.ws.close(WS_CLOSE.internal, 'internal error');
  }
}
