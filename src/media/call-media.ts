// Media on real calls: the glue between a transport's RTP session, the Call handle and the
// engine's media runtimes (playback, recording, bridge).
//
// - `callMediaLeg(session, id)`: the MediaLeg of one SIP call. It is `rtpLeg(session)` with a
//   pass-through path that follows the session's *current* codec, so a leg created before the
//   SDP answer (outbound calls offer PCMU, PCMA and the answer picks one → setCodec) keeps
//   working; the receive/send paths of the session follow setCodec by themselves.
// - `MediaServices`: the playback and recording runtimes an engine creates once (its supervisor,
//   its logger, the shared pacer) and every call uses.
// - `bridgeCalls()`: `bridge()` between two calls' legs, notifying both call actors.
//
// Fast path: nothing here touches XState per frame; the runtimes' actors get control events only.
import type { Logger } from 'pino';
import type { RtpSession } from './rtp/session.js';
import { sharedPacer, type Pacer } from './pacer.js';
import type { Supervisor } from '../actors/supervisor.js';
import { rtpLeg, type MediaLeg, type PayloadPath } from './leg.js';
import { bridge, type Bridge, type BridgeOptions, type MediaEventTarget } from './mixing/bridge.js';
import { PlaybackRuntime, type PlaybackRuntimeOptions } from './runtimes/playback.js';
import { RecordingRuntime, type RecordingRuntimeOptions } from './runtimes/recording.js';
import type { JitterBufferOptions } from './jitter/jitter-buffer.js';

/**
 * The MediaLeg of a SIP call's RTP session (`rtpLeg` underneath). Its `payload.codec` reads the
 * session's codec at the time of the call, so pass-through decisions made after an SDP answer
 * (echo, same-codec bridges) see the negotiated codec, not the one the session was created with.
 */
export function callMediaLeg(session: RtpSession, id: string): MediaLeg {
  const base = rtpLeg(session, id);
  const basePayload = base.payload!;
  const payload: PayloadPath = {
    get codec() {
      return session.codec;
    },
    onPayload: (cb) => basePayload.onPayload(cb),
    writePayload: (p) => basePayload.writePayload(p),
  };
  return {
    id,
    get closed() {
      return base.closed;
    },
    onAudio: (cb) => base.onAudio(cb),
    write: (frame) => base.write(frame),
    sendDtmf: (digits) => base.sendDtmf!(digits),
    onClose: (cb) => base.onClose(cb),
    close: () => base.close(),
    payload,
    get playout() {
      return session.playout();
    },
  };
}

export interface MediaServicesOptions {
  supervisor: Supervisor;
  logger: Logger;
  /** Default: the process-wide shared pacer. */
  pacer?: Pacer;
  playback?: Omit<PlaybackRuntimeOptions, 'supervisor' | 'logger' | 'pacer'>;
  recording?: Omit<RecordingRuntimeOptions, 'supervisor' | 'logger' | 'pacer' | 'jitter'>;
  /** What bridges, rooms and recordings of calls listen through (default: on, defaults; false: off). */
  jitterBuffer?: JitterBufferOptions | false;
}

/** The engine's media runtimes (one of each per engine). */
export class MediaServices {
  readonly pacer: Pacer;
  readonly playback: PlaybackRuntime;
  readonly recording: RecordingRuntime;
  /** The jitter buffer that bridges, rooms and recordings of calls listen through, or false. */
  readonly jitterBuffer: JitterBufferOptions | false;

  constructor(opts: MediaServicesOptions) {
    this.pacer = opts.pacer ?? sharedPacer();
    this.jitterBuffer = opts.jitterBuffer ?? {};
    const logger = opts.logger.child({ component: 'media' });
    this.playback = new PlaybackRuntime({ ...opts.playback, supervisor: opts.supervisor, logger, pacer: this.pacer });
    this.recording = new RecordingRuntime({ ...opts.recording, supervisor: opts.supervisor, logger, pacer: this.pacer, jitter: this.jitterBuffer });
  }

  private readonly recordings = new Set<Promise<unknown>>();

  /** Remember a call's recording so shutdown can wait for its file to be final. */
  trackRecording(done: Promise<unknown>): void {
    this.recordings.add(done);
    void done.finally(() => this.recordings.delete(done));
  }

  /**
   * Wait (bounded) until every call recording has finalised its file. The engine calls this on
   * shutdown after hanging the calls up, so recordings end as `leg-closed` with a final header
   * instead of being cut off by the supervisor stopping their actors.
   */
  async drain(timeoutMs = 2000): Promise<void> {
    if (this.recordings.size === 0) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.allSettled([...this.recordings]),
      new Promise<void>((r) => {
        timer = setTimeout(r, timeoutMs);
      }),
    ]);
    clearTimeout(timer);
  }
}

/** What `bridgeCalls` needs from a call: its leg and its actor. */
export interface BridgeableCall {
  readonly id: string;
  readonly media: MediaLeg | undefined;
  readonly actor: MediaEventTarget;
}

/**
 * Bridge two calls' media, SIP or WebSocket: each hears the other. Same-codec RTP legs relay G.711
 * bytes (`mode: 'passthrough'`); PCMU ↔ PCMA and anything with a WebSocket leg goes through PCM
 * (`mode: 'pcm'`). Every leg is 8 kHz, so nothing is resampled. Both call actors get
 * MEDIA.STARTED now and MEDIA.STOPPED when the bridge stops (by `stop()` or a call ending).
 */
export function bridgeCalls(a: BridgeableCall, b: BridgeableCall, opts: Omit<BridgeOptions, 'notify'> & { notify?: MediaEventTarget[] } = {}): Bridge {
  if (a === b) throw new Error('cannot bridge a call to itself');
  if (!a.media) throw new Error(`call ${a.id} has no media leg`);
  if (!b.media) throw new Error(`call ${b.id} has no media leg`);
  if (a.media.closed || b.media.closed) throw new Error('cannot bridge a call whose media is closed');
  return bridge(a.media, b.media, { ...opts, notify: [a.actor, b.actor, ...(opts.notify ?? [])] });
}
