// The audio of a room: call legs mixed on the media clock (each hears the others, never itself),
// join/leave tones, talker detection and recordings of the room mix.
//
// This is the per-frame side of a conference and deliberately outside XState: the room statechart
// decides who is in the room and who is muted or deaf; RoomRuntime applies those decisions here.
// Created lazily by the first call leg, so rooms of WebSocket clients only never start a mixer.
import type { Logger } from 'pino';
import { MixerRoom } from '../media/mixing/mixer.js';
import { generateTone, toFrames } from '../media/codecs/tones.js';
import type { AudioListener, MediaLeg } from '../media/leg.js';
import type { MediaServices } from '../media/call-media.js';
import type { RecordingHandle } from '../media/runtimes/recording.js';
import type { RoomMediaOptions } from './types.js';

export interface RoomRecordOptions {
  /** WavWriter flush size in bytes. */
  flushBytes?: number;
}

// Two 80 ms beeps, well away from the usual test tones and from DTMF rows/columns.
const JOIN_TONE = [...toFrames(generateTone([587], 80, { amplitude: 3000 })), ...toFrames(generateTone([880], 80, { amplitude: 3000 }))];
const LEAVE_TONE = [...toFrames(generateTone([880], 80, { amplitude: 3000 })), ...toFrames(generateTone([587], 80, { amplitude: 3000 }))];

export class RoomAudio {
  private readonly mixer: MixerRoom;
  /** Member id → leg, and back: the mixer keys its legs by leg id. */
  private readonly legs = new Map<number, MediaLeg>();
  private readonly memberOfLeg = new Map<string, number>();
  private readonly mixListeners = new Set<AudioListener>();
  private readonly mixClosers = new Set<() => void>();
  private offMix: (() => void) | undefined;
  private recSeq = 0;
  private closed = false;

  constructor(
    private readonly roomId: string,
    private readonly services: MediaServices,
    private readonly opts: RoomMediaOptions,
    onTalk: (memberId: number, talking: boolean) => void,
    private readonly log: Logger,
  ) {
    const talk = opts.talk === false ? undefined : opts.talk;
    this.mixer = new MixerRoom({
      pacer: services.pacer,
      jitter: services.jitterBuffer,
      ...(opts.talk === false
        ? {}
        : {
            talk: {
              ...talk,
              onChange: (legId, talking) => {
                const id = this.memberOfLeg.get(legId);
                if (id !== undefined) onTalk(id, talking);
              },
            },
          }),
    });
  }

  get size(): number {
    return this.legs.size;
  }

  has(leg: MediaLeg): boolean {
    return this.memberOfLeg.has(leg.id);
  }

  add(memberId: number, leg: MediaLeg, flags: { muted: boolean; deaf: boolean }): void {
    if (this.closed) return;
    this.legs.set(memberId, leg);
    this.memberOfLeg.set(leg.id, memberId);
    this.mixer.add(leg, flags);
    if (this.opts.tones !== false) this.mixer.inject(JOIN_TONE);
  }

  remove(memberId: number): void {
    const leg = this.legs.get(memberId);
    if (!leg) return;
    // Unmixed first, so a talker leaving still reports "stopped talking" under its member id.
    this.mixer.remove(leg.id);
    this.legs.delete(memberId);
    this.memberOfLeg.delete(leg.id);
    if (this.opts.tones !== false && this.legs.size > 0) this.mixer.inject(LEAVE_TONE);
  }

  apply(memberId: number, flags: { muted: boolean; deaf: boolean }): void {
    const leg = this.legs.get(memberId);
    if (!leg) return;
    this.mixer.setMuted(leg.id, flags.muted);
    this.mixer.setDeaf(leg.id, flags.deaf);
  }

  talking(memberId: number): boolean {
    const leg = this.legs.get(memberId);
    return leg !== undefined && this.mixer.stats().some((s) => s.id === leg.id && s.talking);
  }

  stats(): ReturnType<MixerRoom['stats']> {
    return this.mixer.stats();
  }

  /**
   * Record the room mix (everyone unmuted, tones included) to a WAV file through the engine's
   * recording runtime. The file is final once `handle.done` resolves: on `stop()`, at the runtime's
   * maximum duration, or when the room ends (`reason: 'leg-closed'`).
   */
  record(path: string, o: RoomRecordOptions = {}): RecordingHandle {
    if (this.closed) throw new Error(`room ${this.roomId} has ended: cannot record`);
    const handle = this.services.recording.record(this.mixLeg(), {
      path,
      mode: 'single',
      id: `rec-room-${this.roomId}-${++this.recSeq}`,
      group: `room:${this.roomId}`,
      bindings: { roomId: this.roomId },
      ...(o.flushBytes !== undefined ? { flushBytes: o.flushBytes } : {}),
    });
    this.services.trackRecording(handle.done);
    return handle;
  }

  /** A receive-only leg carrying the room mix, one frame per tick. */
  private mixLeg(): MediaLeg {
    const audio = this;
    const id = `room:${this.roomId}:mix:${this.recSeq + 1}`;
    return {
      id,
      get closed() {
        return audio.closed;
      },
      onAudio(cb) {
        audio.mixListeners.add(cb);
        audio.offMix ??= audio.mixer.onMix((f) => {
          for (const l of audio.mixListeners) l(f);
        });
        return () => void audio.mixListeners.delete(cb);
      },
      write: () => false,
      onClose(cb) {
        if (audio.closed) {
          queueMicrotask(cb);
          return () => {};
        }
        audio.mixClosers.add(cb);
        return () => void audio.mixClosers.delete(cb);
      },
      close: async () => {},
    };
  }

  /** The room ended: unmix every leg (the calls stay up) and end recordings of the mix. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.legs.clear();
    this.memberOfLeg.clear();
    this.mixer.close();
    this.offMix?.();
    this.mixListeners.clear();
    for (const c of [...this.mixClosers]) {
      try {
        c();
      } catch (err) {
        this.log.debug({ err }, 'room mix close listener failed');
      }
    }
    this.mixClosers.clear();
  }
}
