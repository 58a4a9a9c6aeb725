// The app's handle on one live room (`engine.room(id)`): put calls into its audio mix, mute,
// deafen and kick members, record the mix, and hear about joins, leaves and who is talking.
//
// It holds no state of its own: membership and mute/deaf live in the room's statechart (requests
// become MEMBER.* events), transports and the mix in the RoomRuntime.
import { EventEmitter } from 'node:events';
import type { Call } from '../call/call.js';
import type { MediaLeg } from '../media/leg.js';
import type { MixerLegStats } from '../media/mixing/mixer.js';
import type { RecordingHandle } from '../media/runtimes/recording.js';
import type { RoomJoinOptions, RoomEvents, RoomMemberInfo } from './types.js';
import type { RoomRuntime } from './runtime.js';

/** Options of `room.joinLeg()`: a leg that is not a Call's (tests, benches, custom transports). */
export interface RoomJoinLegOptions extends RoomJoinOptions {
  /** Reported as the member's `callId`. */
  callId?: string;
}

export class Room extends EventEmitter<RoomEvents> {
  readonly #runtime: RoomRuntime;

  /** @internal created by the room's runtime. */
  constructor(runtime: RoomRuntime) {
    super();
    // Each joined call listens for its own leave (two listeners per call): no leak warning at 11.
    this.setMaxListeners(0);
    this.#runtime = runtime;
  }

  get id(): string {
    return this.#runtime.roomId;
  }

  /** The room has ended (closed, emptied under its shutdown policy, or failed): get a new one from `engine.room(id)`. */
  get ended(): boolean {
    return this.#runtime.ended;
  }

  /**
   * Put a call's audio into the room: it hears the mix of every other unmuted member (never
   * itself) and they hear it. A call not yet answered joins once it is answered. Resolves with
   * the member; rejects when the call has no media leg, ends first, is already in the room, or
   * the room refuses it (full, ended). The member leaves by itself when the call ends; `kick`
   * takes it out of the mix and leaves the call up.
   */
  join(call: Call, opts: RoomJoinOptions = {}): Promise<RoomMemberInfo> {
    const leg = call.media;
    if (!leg) return Promise.reject(new Error(`call ${call.id} (${call.transport}) has no media leg: cannot join room ${this.id}`));
    if (call.isEnded) return Promise.reject(new Error(`call ${call.id} has ended: cannot join room ${this.id}`));
    const enter = (): RoomMemberInfo => {
      const member = this.joinLeg(leg, { ...opts, callId: call.id });
      call.actor.send({ type: 'MEDIA.STARTED' });
      const off = (): void => {
        this.off('left', onLeft);
        this.off('ended', onEnded);
      };
      const onLeft = (m: RoomMemberInfo): void => {
        if (m.id !== member.id) return;
        off();
        if (!call.isEnded) call.actor.send({ type: 'MEDIA.STOPPED' });
      };
      const onEnded = (): void => {
        off();
        if (!call.isEnded) call.actor.send({ type: 'MEDIA.STOPPED' });
      };
      this.on('left', onLeft);
      this.on('ended', onEnded);
      return member;
    };
    if (call.isActive) {
      try {
        return Promise.resolve(enter());
      } catch (err) {
        return Promise.reject(err instanceof Error ? err : new Error(String(err)));
      }
    }
    return new Promise((resolve, reject) => {
      const onAnswered = (): void => {
        call.off('ended', onEnded);
        try {
          resolve(enter());
        } catch (err) {
          reject(err instanceof Error ? err : new Error(String(err)));
        }
      };
      const onEnded = (): void => {
        call.off('answered', onAnswered);
        reject(new Error(`call ${call.id} ended before it was answered: it never joined room ${this.id}`));
      };
      call.once('answered', onAnswered);
      call.once('ended', onEnded);
    });
  }

  /** Put any MediaLeg into the mix now (what `join` does for a call's leg). Throws when refused. */
  joinLeg(leg: MediaLeg, opts: RoomJoinLegOptions = {}): RoomMemberInfo {
    return this.#runtime.joinLeg(leg, opts);
  }

  /** Members of every kind, as the statechart holds them. */
  members(): RoomMemberInfo[] {
    return this.#runtime.membersInfo();
  }

  member(id: number): RoomMemberInfo | undefined {
    return this.#runtime.memberInfo(id);
  }

  /** The member carrying this call, if it is in the room. */
  memberOf(call: Call): RoomMemberInfo | undefined {
    return this.members().find((m) => m.callId === call.id);
  }

  /** Keep a member out of what the others hear. False when there is no such member. */
  mute(memberId: number): boolean {
    return this.#runtime.mute(memberId, true);
  }

  unmute(memberId: number): boolean {
    return this.#runtime.mute(memberId, false);
  }

  /** Send a member silence instead of the mix. */
  deafen(memberId: number): boolean {
    return this.#runtime.deafen(memberId, true);
  }

  undeafen(memberId: number): boolean {
    return this.#runtime.deafen(memberId, false);
  }

  /**
   * Remove a member: a WebSocket client is closed with 1008 `kicked`, a call leg leaves the mix
   * (the call stays up; hang it up yourself if that is what you want).
   */
  kick(memberId: number, detail?: string): boolean {
    return this.#runtime.kick(memberId, detail);
  }

  /**
   * Record the room mix (every unmuted member, tones included) to a WAV file, 8 kHz mono 16-bit,
   * through the engine's recording runtime. `handle.done` resolves once the file is final: on
   * `stop()`, at the maximum duration, or when the room ends (`reason: 'leg-closed'`).
   */
  record(path: string, opts: { flushBytes?: number } = {}): RecordingHandle {
    return this.#runtime.record(path, opts);
  }

  /**
   * Mixer counters per call leg (frames received, dropped on queue overflow, underruns, sent;
   * mute/deaf/talking): what the conference bench and a dashboard read. Empty without call legs.
   */
  mixStats(): MixerLegStats[] {
    return this.#runtime.mixStats();
  }

  /** End the room now: WebSocket members are closed with 1001, call legs leave the mix. */
  close(detail?: string): void {
    this.#runtime.close(detail);
  }
}
