// Playback runtime: provides the playback machine ONCE through an ActorRegistry (its actions
// dispatch to the per-stream pump registered under the actor's id) and runs the per-frame sample
// pump on the shared pacer.
//
// Per 20 ms tick a playing stream copies (or, at gain 1, just views) 160 samples, applies the gain
// and writes them to its leg. The actor hears only control events: item started (with duration),
// position every `positionReportMs`, item ended/failed.
import { stateToString } from '../../actors/state.js';
import { EventEmitter } from 'node:events';
import { promises as fsp } from 'node:fs';
import type { Logger } from 'pino';
import type { Actor } from 'xstate';
import {
  playbackMachine,
  type ItemFinished,
  type PlaybackItem,
  type PlaybackMachine,
  type PlaybackOutput,
  type PlaybackSource,
} from '../../../machines/playback.machine.js';
import { decodeWavTo8kMono } from '../codecs/wav.js';
import { ToneSource } from '../codecs/tones.js';
import { sharedPacer, type Pacer } from '../pacer.js';
import type { Supervisor } from '../../actors/supervisor.js';
import { ActorRegistry } from '../../actors/registry.js';
import { FRAME_SAMPLES, SAMPLE_RATE, type MediaLeg } from '../leg.js';

export type { PlaybackItem, PlaybackSource, ItemFinished, PlaybackOutput } from '../../../machines/playback.machine.js';

export interface PlaybackRuntimeOptions {
  supervisor: Supervisor;
  logger: Logger;
  pacer?: Pacer;
  /** Longest an item may take to load (default 5000 ms). */
  loadTimeoutMs?: number;
  /** Items a stream may queue (default 32). */
  maxQueue?: number;
  /** How often a playing stream reports its position to its actor (default 1000 ms). */
  positionReportMs?: number;
  /** Decoded WAV files kept in memory, in samples (default 4 M = ~8 min of 8 kHz audio; 0 disables). */
  fileCacheSamples?: number;
}

export interface StartPlaybackOptions {
  id?: string;
  group?: string;
  bindings?: Record<string, string | number>;
  gain?: number;
  /** Items to start with. */
  items?: PlayRequest[];
}

/** An item as the app gives it: a bare source, or a source with its own id. */
export type PlayRequest = PlaybackSource | { id?: string; source: PlaybackSource };

// Set by PlaybackStream's static block: what the runtime does to a stream that an app must not.
let streamAccess!: {
  settle(s: PlaybackStream, f: ItemFinished): void;
  closed(s: PlaybackStream, out: PlaybackOutput): void;
};

export interface PlaybackStreamEvents {
  itemFinished: [info: ItemFinished];
  /** The queue ran empty after an item ended, failed or was skipped. */
  drained: [];
  refused: [itemIds: string[]];
  state: [state: string];
  closed: [output: PlaybackOutput];
}


/** The application's handle on one playback stream. */
export class PlaybackStream extends EventEmitter<PlaybackStreamEvents> {
  private seq = 0;
  private readonly waiting = new Map<string, (f: ItemFinished) => void>();
  /** Resolves with the actor's output when the stream closes. */
  readonly done: Promise<PlaybackOutput>;
  private resolveDone!: (o: PlaybackOutput) => void;

  constructor(
    readonly id: string,
    readonly leg: MediaLeg,
    readonly actor: Actor<PlaybackMachine>,
  ) {
    super();
    this.done = new Promise((r) => (this.resolveDone = r));
  }

  get state(): string {
    return stateToString(this.actor.getSnapshot().value);
  }

  /** Current position (ms) as last reported or sought. */
  get positionMs(): number {
    return this.actor.getSnapshot().context.positionMs;
  }

  /**
   * Queue items; resolves with one ItemFinished per item once all of them are over (ended,
   * skipped, stopped or failed — an unreadable file resolves with reason 'failed', not a reject).
   */
  play(items: PlayRequest | PlayRequest[]): Promise<ItemFinished[]> {
    const list = (Array.isArray(items) ? items : [items]).map((r): PlaybackItem => {
      const withId = 'source' in r ? r : { source: r };
      return { id: withId.id ?? `${this.id}#${++this.seq}`, source: withId.source };
    });
    const all = Promise.all(list.map((it) => new Promise<ItemFinished>((resolve) => this.waiting.set(it.id, resolve))));
    if (this.actor.getSnapshot().status !== 'active') {
      for (const it of list) this.#settle({ itemId: it.id, reason: 'stopped', positionMs: 0 });
    } else this.actor.send({ type: 'PLAYBACK.PLAY', items: list });
    return all;
  }

  pause(): void {
    this.actor.send({ type: 'PLAYBACK.PAUSE' });
  }
  resume(): void {
    this.actor.send({ type: 'PLAYBACK.RESUME' });
  }
  seek(positionMs: number): void {
    this.actor.send({ type: 'PLAYBACK.SEEK', positionMs });
  }
  /** Gain 0..2 (1 = unchanged). */
  volume(gain: number): void {
    this.actor.send({ type: 'PLAYBACK.VOLUME', gain });
  }
  skip(): void {
    this.actor.send({ type: 'PLAYBACK.SKIP' });
  }
  stop(): void {
    this.actor.send({ type: 'PLAYBACK.STOP' });
  }
  close(): Promise<PlaybackOutput> {
    this.actor.send({ type: 'PLAYBACK.CLOSE' });
    return this.done;
  }

  #settle(f: ItemFinished): void {
    const w = this.waiting.get(f.itemId);
    if (w) {
      this.waiting.delete(f.itemId);
      w(f);
    }
  }

  #closed(out: PlaybackOutput): void {
    for (const id of [...this.waiting.keys()]) this.#settle({ itemId: id, reason: 'stopped', positionMs: 0 });
    this.emit('closed', out);
    this.resolveDone(out);
  }

  static {
    streamAccess = { settle: (s, f) => s.#settle(f), closed: (s, out) => s.#closed(out) };
  }
}

type Loaded =
  | { kind: 'pcm'; samples: Int16Array }
  | { kind: 'tone'; tone: ToneSource; total: number }
  | { kind: 'silence'; total: number };

/** What every pump of a runtime shares: the pacer, the report interval, the WAV loader. */
interface PumpEnv {
  readonly pacer: Pacer;
  /** Samples between two MEDIA.POSITION reports. */
  readonly reportSamples: number;
  load(path: string): Promise<Int16Array>;
}

/** The per-stream sample pump. All per-frame work is here. */
class Pump {
  stream!: PlaybackStream;
  private token = 0;
  private src: Loaded | null = null;
  private itemId = '';
  private pos = 0;
  private total = 0;
  private gain = 1;
  private paused = false;
  private lastReport = 0;
  private unsub: (() => void) | null = null;
  private readonly frame = new Int16Array(FRAME_SAMPLES);
  private readonly tick = () => this.onTick();

  constructor(
    private readonly rt: PumpEnv,
    readonly leg: MediaLeg,
  ) {}

  private send(ev: Parameters<Actor<PlaybackMachine>['send']>[0]): void {
    this.stream.actor.send(ev);
  }

  start(item: PlaybackItem, positionMs: number, gain: number): void {
    const token = ++this.token;
    this.src = null;
    this.itemId = item.id;
    this.pos = Math.floor((positionMs * SAMPLE_RATE) / 1000);
    this.gain = gain;
    this.lastReport = this.pos;
    // A new item always starts in `loading`, never paused.
    this.paused = false;
    const ready = (src: Loaded): void => {
      if (token !== this.token) return; // skipped/stopped while loading
      this.src = src;
      this.total = src.kind === 'pcm' ? src.samples.length : src.total;
      this.send({ type: 'MEDIA.ITEM_STARTED', itemId: item.id, durationMs: Math.round((this.total * 1000) / SAMPLE_RATE) });
      this.arm();
    };
    const s = item.source;
    switch (s.kind) {
      case 'tone':
        ready({ kind: 'tone', tone: new ToneSource(s.frequencies, { amplitude: s.amplitude ?? 8000 }), total: msToSamples(s.durationMs) });
        return;
      case 'silence':
        ready({ kind: 'silence', total: msToSamples(s.durationMs) });
        return;
      case 'file':
        this.rt.load(s.path).then(
          (samples) => ready({ kind: 'pcm', samples }),
          (err: unknown) => {
            if (token !== this.token) return;
            this.send({ type: 'MEDIA.ITEM_FAILED', itemId: item.id, error: err instanceof Error ? err.message : String(err) });
          },
        );
        return;
    }
  }

  pause(): void {
    this.paused = true;
    this.disarm();
    if (this.src) this.send({ type: 'MEDIA.POSITION', itemId: this.itemId, positionMs: this.positionMs() });
  }

  resume(): void {
    this.paused = false;
    this.arm();
  }

  seek(positionMs: number): void {
    this.pos = Math.floor((positionMs * SAMPLE_RATE) / 1000);
    this.lastReport = this.pos;
  }

  setGain(g: number): void {
    this.gain = g;
  }

  stop(): void {
    this.token++;
    this.src = null;
    this.disarm();
  }

  private positionMs(): number {
    return Math.round((Math.min(this.pos, this.total) * 1000) / SAMPLE_RATE);
  }

  private arm(): void {
    if (this.unsub || this.paused || !this.src) return;
    this.unsub = this.rt.pacer.add(this.tick);
  }

  private disarm(): void {
    this.unsub?.();
    this.unsub = null;
  }

  private onTick(): void {
    const src = this.src;
    if (!src || this.paused) return;
    const remaining = this.total - this.pos;
    if (remaining <= 0) return this.ended();
    const n = remaining < FRAME_SAMPLES ? remaining : FRAME_SAMPLES;
    let out: Int16Array = this.frame;
    if (src.kind === 'pcm') {
      if (n === FRAME_SAMPLES && this.gain === 1) out = src.samples.subarray(this.pos, this.pos + FRAME_SAMPLES);
      else {
        out.set(src.samples.subarray(this.pos, this.pos + n));
        if (n < FRAME_SAMPLES) out.fill(0, n);
      }
    } else if (src.kind === 'tone') {
      src.tone.next(out);
      if (n < FRAME_SAMPLES) out.fill(0, n);
    } else out.fill(0);
    if (this.gain !== 1 && src.kind !== 'silence') {
      const g = this.gain;
      for (let i = 0; i < n; i++) {
        const v = Math.round(out[i]! * g);
        out[i] = v > 32767 ? 32767 : v < -32768 ? -32768 : v;
      }
    }
    this.leg.write(out);
    this.pos += n;
    if (this.pos >= this.total) this.ended();
    else if (this.pos - this.lastReport >= this.rt.reportSamples) {
      this.lastReport = this.pos;
      this.send({ type: 'MEDIA.POSITION', itemId: this.itemId, positionMs: this.positionMs() });
    }
  }

  private ended(): void {
    const itemId = this.itemId;
    const positionMs = this.positionMs();
    this.stop();
    this.send({ type: 'MEDIA.ITEM_ENDED', itemId, positionMs });
  }
}

function msToSamples(ms: number): number {
  return Math.max(0, Math.round((ms * SAMPLE_RATE) / 1000));
}

export class PlaybackRuntime {
  readonly pacer: Pacer;
  private readonly env: PumpEnv;
  private readonly pumps: ActorRegistry<PlaybackMachine, Pump>;
  private readonly cache = new Map<string, Int16Array>();
  private cachedSamples = 0;
  private readonly cacheLimit: number;
  private seq = 0;
  private readonly log: Logger;

  constructor(private readonly opts: PlaybackRuntimeOptions) {
    this.pacer = opts.pacer ?? sharedPacer();
    this.log = opts.logger;
    this.env = {
      pacer: this.pacer,
      reportSamples: Math.max(FRAME_SAMPLES, Math.round(((opts.positionReportMs ?? 1000) * SAMPLE_RATE) / 1000)),
      load: (path) => this.loadFile(path),
    };
    this.cacheLimit = opts.fileCacheSamples ?? 4 * 1024 * 1024;
    this.pumps = new ActorRegistry(opts.supervisor, (pump) => {
      const stream = (id: string) => pump(id)?.stream;
      return playbackMachine.provide({
        delays: { loadTimeout: opts.loadTimeoutMs ?? 5000 },
        actions: {
          startItem: ({ self }, p) => pump(self.id)?.start(p.item, p.positionMs, p.gain),
          pauseOutput: ({ self }) => pump(self.id)?.pause(),
          resumeOutput: ({ self }) => pump(self.id)?.resume(),
          seekOutput: ({ self }, p) => pump(self.id)?.seek(p.positionMs),
          setGain: ({ self }, p) => pump(self.id)?.setGain(p.gain),
          stopOutput: ({ self }) => pump(self.id)?.stop(),
          notifyItemFinished: ({ self }, p) => {
            const s = stream(self.id);
            if (!s) return;
            if (p.reason === 'failed') this.logFor(self.id).warn({ itemId: p.itemId, error: p.error }, 'playback item failed');
            streamAccess.settle(s, p);
            s.emit('itemFinished', p);
          },
          notifyDrained: ({ self }) => stream(self.id)?.emit('drained'),
          notifyRefused: ({ self }, p) => {
            const s = stream(self.id);
            if (!s) return;
            for (const itemId of p.itemIds) streamAccess.settle(s, { itemId, reason: 'failed', positionMs: 0, error: 'queue full' });
            s.emit('refused', p.itemIds);
          },
          notifyCleared: ({ self }, p) => {
            const s = stream(self.id);
            if (s) for (const itemId of p.itemIds) streamAccess.settle(s, { itemId, reason: 'stopped', positionMs: 0 });
          },
        },
      });
    });
  }

  /** The playback machine as provided once for every stream of this runtime. */
  get machine(): PlaybackMachine {
    return this.pumps.logic;
  }

  private logFor(id: string): Logger {
    return this.opts.supervisor.get(id)?.logger ?? this.log;
  }

  get active(): number {
    return this.pumps.size;
  }

  /** Spawn a playback stream on `leg` under the supervisor. */
  start(leg: MediaLeg, o: StartPlaybackOptions = {}): PlaybackStream {
    const id = o.id ?? `playback-${++this.seq}`;
    const pump = new Pump(this.env, leg);
    let offClose = (): void => {};
    let stream: PlaybackStream | undefined;
    let finished = false;
    const finish = (out: PlaybackOutput): void => {
      if (finished) return;
      finished = true;
      pump.stop();
      offClose();
      if (stream) streamAccess.closed(stream, out);
    };
    // The registry forgets the pump when the actor leaves the supervisor (or if spawn throws).
    const sup = this.pumps.spawn(pump, {
      kind: 'playback',
      id,
      input: { legId: leg.id, maxQueue: this.opts.maxQueue, gain: o.gain },
      group: o.group,
      bindings: { legId: leg.id, ...o.bindings },
      onDone: (out) => finish(out as PlaybackOutput),
      onCrash: () => finish({ played: 0, skipped: 0, failed: 0, closedBy: 'app' }),
      onExit: () => finish({ played: 0, skipped: 0, failed: 0, closedBy: 'app' }),
    });
    stream = new PlaybackStream(id, leg, sup.ref);
    pump.stream = stream;
    let last = stream.state;
    sup.ref.subscribe((snap) => {
      const now = stateToString(snap.value);
      if (now !== last) {
        last = now;
        stream!.emit('state', now);
      }
    });
    offClose = leg.onClose(() => sup.ref.send({ type: 'MEDIA.LEG_CLOSED' }));
    if (o.items?.length) void stream.play(o.items);
    return stream;
  }

  /** Read and decode a WAV file (cached by path, size and mtime). */
  private async loadFile(path: string): Promise<Int16Array> {
    const st = await fsp.stat(path);
    const key = `${path}\0${st.size}\0${st.mtimeMs}`;
    const hit = this.cache.get(key);
    if (hit) {
      this.cache.delete(key); // LRU: move to the back
      this.cache.set(key, hit);
      return hit;
    }
    const samples = decodeWavTo8kMono(await fsp.readFile(path));
    if (this.cacheLimit > 0 && samples.length <= this.cacheLimit) {
      this.cache.set(key, samples);
      this.cachedSamples += samples.length;
      for (const [k, v] of this.cache) {
        if (this.cachedSamples <= this.cacheLimit) break;
        this.cache.delete(k);
        this.cachedSamples -= v.length;
      }
    }
    return samples;
  }
}
