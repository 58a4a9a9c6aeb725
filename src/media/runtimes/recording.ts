// Recording runtime: provides the recording machine ONCE through an ActorRegistry (actions dispatch
// by actor id to the per-recording Recorder) and moves audio from legs into a WavWriter.
//
// - 'single': one leg, every received frame is written as it arrives (no queue, no timer).
// - 'mixed' / 'stereo': two legs lined up on the shared pacer: each leg's frames go into a small
//   FrameQueue, and every 20 ms one frame per leg (silence when a leg sent nothing) is summed
//   (mixed, clipped mono) or interleaved (stereo: first leg left, second right).
// WavWriter only copies into memory on write(); disk I/O happens on its own flush chain, and the
// header is patched on every flush, so the file is valid even if the process dies. A closed leg
// (dropped call) stops the recording and finalises the file like RECORDING.STOP.
import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import type { Actor } from 'xstate';
import {
  recordingMachine,
  type RecordingMachine,
  type RecordingMode,
  type RecordingOutput,
} from '../../../machines/recording.machine.js';
import { WavWriter } from '../codecs/wav.js';
import { sharedPacer, type Pacer } from '../pacer.js';
import type { Supervisor } from '../../actors/supervisor.js';
import { ActorRegistry } from '../../actors/registry.js';
import { FRAME_SAMPLES, FrameQueue, SAMPLE_RATE, type MediaLeg } from '../leg.js';
import { onLegAudio } from '../jitter/playout.js';
import type { JitterBufferOptions } from '../jitter/jitter-buffer.js';

export type { RecordingMode, RecordingOutput, RecordingStopReason } from '../../../machines/recording.machine.js';

export interface RecordingRuntimeOptions {
  supervisor: Supervisor;
  logger: Logger;
  pacer?: Pacer;
  /** Default maximum duration (wall clock, default 1 h). */
  maxDurationMs?: number;
  /**
   * Legs are recorded through their jitter buffers (`leg.playout`): in order, losses concealed,
   * one frame per 20 ms (default on; false: frames as they arrive).
   */
  jitter?: JitterBufferOptions | false;
}

export interface StartRecordingOptions {
  path: string;
  /** Default 'single' for one leg, 'mixed' for two. */
  mode?: RecordingMode;
  id?: string;
  group?: string;
  bindings?: Record<string, string | number>;
  /** WavWriter flush size in bytes (bounds what a crash can lose). */
  flushBytes?: number;
}

// Set by RecordingHandle's static block: the runtime's way to finish a handle, which an app must not.
let finishHandle!: (h: RecordingHandle, o: RecordingOutput) => void;

export interface RecordingEvents {
  state: [state: string];
  finished: [output: RecordingOutput];
}

export class RecordingHandle extends EventEmitter<RecordingEvents> {
  /** Resolves with path, reason, duration and bytes once the file is final. */
  readonly done: Promise<RecordingOutput>;
  private resolveDone!: (o: RecordingOutput) => void;

  constructor(
    readonly id: string,
    readonly path: string,
    readonly actor: Actor<RecordingMachine>,
  ) {
    super();
    this.done = new Promise((r) => (this.resolveDone = r));
  }

  get state(): string {
    const v = this.actor.getSnapshot().value;
    return typeof v === 'string' ? v : Object.entries(v).map(([k, s]) => `${k}.${String(s)}`)[0]!;
  }

  pause(): void {
    this.actor.send({ type: 'RECORDING.PAUSE' });
  }
  resume(): void {
    this.actor.send({ type: 'RECORDING.RESUME' });
  }
  /** Stop and finalise; resolves like `done`. */
  stop(): Promise<RecordingOutput> {
    this.actor.send({ type: 'RECORDING.STOP' });
    return this.done;
  }

  #finished(o: RecordingOutput): void {
    this.emit('finished', o);
    this.resolveDone(o);
  }

  static {
    finishHandle = (h, o) => h.#finished(o);
  }
}

class Recorder {
  handle!: RecordingHandle;
  private writer: WavWriter | null = null;
  private paused = false;
  private capturing = false;
  private offs: Array<() => void> = [];
  private queues: FrameQueue[] = [];
  private readonly channels: number;
  private out: Int16Array;
  private readonly tick = () => this.onTick();

  constructor(
    private readonly rt: RecordingRuntime,
    readonly legs: MediaLeg[],
    readonly mode: RecordingMode,
    readonly path: string,
    private readonly flushBytes: number | undefined,
  ) {
    this.channels = mode === 'stereo' ? 2 : 1;
    this.out = new Int16Array(FRAME_SAMPLES * this.channels);
  }

  private send(ev: Parameters<Actor<RecordingMachine>['send']>[0]): void {
    this.handle.actor.send(ev);
  }

  open(): void {
    WavWriter.create(this.path, { channels: this.channels, sampleRate: SAMPLE_RATE, flushBytes: this.flushBytes }).then(
      (w) => {
        this.writer = w;
        this.send({ type: 'MEDIA.WRITER_READY' });
      },
      (err: unknown) => this.send({ type: 'MEDIA.WRITER_FAILED', error: err instanceof Error ? err.message : String(err) }),
    );
  }

  start(): void {
    if (this.capturing) return;
    this.capturing = true;
    if (this.mode === 'single') {
      const leg = this.legs[0]!;
      this.offs.push(
        onLegAudio(leg, (f) => {
          if (!this.paused && this.writer) this.writer.write(f);
        }, this.rt.jitter),
      );
      return;
    }
    this.queues = this.legs.map(() => new FrameQueue(5));
    this.legs.forEach((leg, i) => {
      const q = this.queues[i]!;
      this.offs.push(
        onLegAudio(leg, (f) => {
          if (!this.paused) q.push(f);
        }, this.rt.jitter),
      );
    });
    this.offs.push(this.rt.pacer.add(this.tick));
  }

  pause(): void {
    this.paused = true;
    for (const q of this.queues) q.clear();
  }

  resume(): void {
    this.paused = false;
  }

  private onTick(): void {
    const w = this.writer;
    if (this.paused || !w) return;
    const a = this.queues[0]!.pop();
    const b = this.queues[1]!.pop();
    const out = this.out;
    if (this.mode === 'mixed') {
      for (let i = 0; i < FRAME_SAMPLES; i++) {
        const v = (a ? a[i]! : 0) + (b ? b[i]! : 0);
        out[i] = v > 32767 ? 32767 : v < -32768 ? -32768 : v;
      }
    } else {
      for (let i = 0; i < FRAME_SAMPLES; i++) {
        out[2 * i] = a ? a[i]! : 0;
        out[2 * i + 1] = b ? b[i]! : 0;
      }
    }
    w.write(out);
  }

  private stopCapture(): void {
    this.capturing = false;
    for (const off of this.offs.splice(0)) off();
  }

  finalize(): void {
    this.stopCapture();
    const w = this.writer;
    if (!w) {
      this.send({ type: 'MEDIA.WRITER_FAILED', error: 'no writer' });
      return;
    }
    const samples = w.samplesWritten;
    w.close().then(
      () =>
        this.send({
          type: 'MEDIA.FINALIZED',
          durationMs: Math.round((samples / this.channels / SAMPLE_RATE) * 1000),
          bytes: 44 + samples * 2,
        }),
      (err: unknown) => this.send({ type: 'MEDIA.WRITER_FAILED', error: err instanceof Error ? err.message : String(err) }),
    );
  }

  abort(): void {
    this.stopCapture();
    this.writer?.close().catch(() => {});
    this.writer = null;
  }
}

export class RecordingRuntime {
  readonly pacer: Pacer;
  readonly jitter: JitterBufferOptions | false;
  private readonly recorders: ActorRegistry<RecordingMachine, Recorder>;
  private seq = 0;

  constructor(opts: RecordingRuntimeOptions) {
    this.pacer = opts.pacer ?? sharedPacer();
    this.jitter = opts.jitter ?? {};
    this.recorders = new ActorRegistry(opts.supervisor, (rec) =>
      recordingMachine.provide({
        delays: { maxDuration: opts.maxDurationMs ?? 60 * 60 * 1000 },
        actions: {
          openWriter: ({ self }) => rec(self.id)?.open(),
          startCapture: ({ self }) => rec(self.id)?.start(),
          pauseCapture: ({ self }) => rec(self.id)?.pause(),
          resumeCapture: ({ self }) => rec(self.id)?.resume(),
          finalize: ({ self }) => rec(self.id)?.finalize(),
          abort: ({ self }) => rec(self.id)?.abort(),
        },
      }),
    );
  }

  /** The recording machine as provided once for every recording of this runtime. */
  get machine(): RecordingMachine {
    return this.recorders.logic;
  }

  get active(): number {
    return this.recorders.size;
  }

  /** Record one leg (single), or two legs mixed to mono or as a stereo pair. */
  record(legs: MediaLeg | MediaLeg[], o: StartRecordingOptions): RecordingHandle {
    const list = Array.isArray(legs) ? legs : [legs];
    const mode = o.mode ?? (list.length === 2 ? 'mixed' : 'single');
    if (mode === 'single' ? list.length !== 1 : list.length !== 2) {
      throw new RangeError(`recording mode ${mode} needs ${mode === 'single' ? 'one leg' : 'two legs'}, got ${list.length}`);
    }
    const id = o.id ?? `recording-${++this.seq}`;
    const recorder = new Recorder(this, list, mode, o.path, o.flushBytes);
    let handle: RecordingHandle | undefined;
    const offs: Array<() => void> = [];
    let finished = false;
    const finish = (out: RecordingOutput): void => {
      if (finished) return;
      finished = true;
      for (const off of offs.splice(0)) off();
      recorder.abort();
      if (handle) finishHandle(handle, out);
    };
    // The registry forgets the recorder when the actor leaves the supervisor (or if spawn throws).
    const sup = this.recorders.spawn(recorder, {
      kind: 'recording',
      id,
      input: { recordingId: id, path: o.path, mode, legIds: list.map((l) => l.id) },
      group: o.group,
      bindings: { path: o.path, ...o.bindings },
      onDone: (out) => finish(out as RecordingOutput),
      onCrash: (err) => finish({ path: o.path, reason: 'error', durationMs: 0, bytes: 0, error: String(err) }),
      onExit: () => finish({ path: o.path, reason: 'error', durationMs: 0, bytes: 0, error: 'recording actor stopped' }),
    });
    handle = new RecordingHandle(id, o.path, sup.ref);
    recorder.handle = handle;
    let last = handle.state;
    const h = handle;
    const sub = sup.ref.subscribe((snap) => {
      const v = snap.value;
      const now = typeof v === 'string' ? v : `${Object.keys(v)[0]}.${String(Object.values(v)[0])}`;
      if (now !== last) {
        last = now;
        h.emit('state', now);
      }
    });
    offs.push(() => sub.unsubscribe());
    for (const leg of list) offs.push(leg.onClose(() => sup.ref.send({ type: 'MEDIA.LEG_CLOSED' })));
    sup.ref.send({ type: 'RECORDING.START' });
    return handle;
  }
}
