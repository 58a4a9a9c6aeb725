// The engine's media-stream runtime: provides the mediaStream machine once (actions dispatched by
// actor id to the stream's wire, stream.ts), spawns one supervised actor per `call.stream()`, and
// ties each stream to its call's media leg.
import type { Logger } from 'pino';
import { mediaStreamMachine, defaultMediaStreamDelays, type MediaStreamFallback, type MediaStreamMachine, type MediaStreamOutput } from '../../machines/mediaStream.machine.js';
import { ActorRegistry } from '../actors/registry.js';
import type { Supervisor } from '../actors/supervisor.js';
import type { Pacer } from '../media/pacer.js';
import type { MediaServices } from '../media/call-media.js';
import { makeSid, type StreamTrack } from './protocol.js';
import { MediaStreamSession, type MediaStream, type StreamTarget } from './stream.js';

/** Options of `call.stream(url, options)`. */
export interface CallStreamOptions {
  /** Which audio goes to the bot (default `inbound_track`: the caller). Bidirectional streams carry `inbound_track` only, as on Twilio. */
  track?: StreamTrack;
  /** Sent in `start.customParameters` (TwiML `<Parameter>`s). */
  customParameters?: Record<string, string>;
  /** The bot may send audio, marks and `clear` back (default true: `<Connect><Stream>`). */
  bidirectional?: boolean;
  /** What the call does when the bot is gone (default `hangup`). */
  fallback?: MediaStreamFallback;
  /** Reconnects after a lost connection before the bot counts as gone (default 3; 0: none). */
  maxReconnects?: number;
  /** `start.accountSid` (default `AC` and 32 zeros). */
  accountSid?: string;
  /** Most bot audio queued ahead of playout (default 60 000 ms); beyond it, audio is dropped and logged. */
  maxQueueMs?: number;
  /** Largest frame taken from the bot (default 1 MiB); a bigger one ends that connection (1009). */
  maxPayload?: number;
  /** Extra HTTP headers on the WebSocket handshake (e.g. Authorization). */
  headers?: Record<string, string>;
}

export interface MediaStreamRuntimeOptions {
  /** Connect (TCP + handshake) deadline (default 5000 ms). */
  connectTimeoutMs?: number;
  /** First reconnect delay, doubled each attempt up to 16x (default 250 ms). */
  reconnectDelayMs?: number;
  /** Closing handshake deadline after `stop` (default 1000 ms). */
  stopTimeoutMs?: number;
}

const TRACKS: readonly StreamTrack[] = ['inbound_track', 'outbound_track', 'both_tracks'];
const NO_ACCOUNT = `AC${'0'.repeat(32)}`;

export class MediaStreamRuntime {
  private readonly registry: ActorRegistry<MediaStreamMachine, MediaStreamSession>;
  private readonly streams = new Set<MediaStreamSession>();
  private seq = 0;

  constructor(
    private readonly supervisor: Supervisor,
    private readonly logger: Logger,
    private readonly pacer: Pacer,
    opts: MediaStreamRuntimeOptions = {},
  ) {
    const base = opts.reconnectDelayMs ?? defaultMediaStreamDelays.reconnectDelay;
    this.registry = new ActorRegistry<MediaStreamMachine, MediaStreamSession>(supervisor, (wire) =>
      mediaStreamMachine.provide({
        delays: {
          connectTimeout: opts.connectTimeoutMs ?? defaultMediaStreamDelays.connectTimeout,
          reconnectDelay: ({ context }) => base * 2 ** Math.min(context.reconnects - 1, 4),
          stopTimeout: opts.stopTimeoutMs ?? defaultMediaStreamDelays.stopTimeout,
        },
        actions: {
          openSocket: ({ self }) => wire(self.id)?.openSocket(),
          startMedia: ({ self }) => wire(self.id)?.startMedia(),
          stopMedia: ({ self }) => wire(self.id)?.stopMedia(),
          sendStop: ({ self }) => wire(self.id)?.sendStop(),
          dropSocket: ({ self }) => wire(self.id)?.dropSocket(),
          hangupCall: ({ self }) => wire(self.id)?.hangupCall(),
        },
      }),
    );
  }

  /** Streams running now. */
  get size(): number {
    return this.streams.size;
  }

  /** Start streaming `target`'s media leg to the bot at `url`. Throws on invalid options. */
  start(target: StreamTarget, url: string, o: CallStreamOptions = {}): MediaStream {
    let u: URL;
    try {
      u = new URL(url);
    } catch {
      throw new TypeError(`stream url is not a URL: ${JSON.stringify(url)}`);
    }
    if (u.protocol !== 'ws:' && u.protocol !== 'wss:') throw new TypeError(`stream url must be ws:// or wss://, got ${u.protocol}`);
    const track = o.track ?? 'inbound_track';
    if (!TRACKS.includes(track)) throw new RangeError(`track must be one of ${TRACKS.join(', ')}`);
    const bidirectional = o.bidirectional ?? true;
    // Only the caller's audio is reachable from a stream today: what other actors write into the
    // call does not pass through here. Twilio's bidirectional streams carry inbound_track only too.
    if (track !== 'inbound_track') throw new RangeError(`track ${track} is not supported: only inbound_track (the caller's audio)`);
    const fallback = o.fallback ?? 'hangup';
    if (fallback !== 'hangup' && fallback !== 'continue') throw new RangeError('fallback must be hangup or continue');
    const maxReconnects = o.maxReconnects ?? 3;
    if (!Number.isInteger(maxReconnects) || maxReconnects < 0 || maxReconnects > 100) throw new RangeError('maxReconnects must be an integer 0-100');
    const maxQueueMs = o.maxQueueMs ?? 60_000;
    if (!(maxQueueMs >= 20 && maxQueueMs <= 3_600_000)) throw new RangeError('maxQueueMs must be 20 ms - 1 h');
    const customParameters: Record<string, string> = {};
    for (const [k, v] of Object.entries(o.customParameters ?? {})) {
      if (typeof v !== 'string') throw new TypeError(`customParameters.${k} must be a string`);
      customParameters[k] = v;
    }
    if (target.leg.closed) throw new Error(`call ${target.id}: media is closed, cannot stream`);

    const streamSid = makeSid('MZ');
    const id = `stream-${target.id}-${++this.seq}`;
    const log = this.logger.child({ component: 'media-stream', callId: target.id, streamSid });
    const s = new MediaStreamSession(
      id,
      target,
      {
        url: u.href,
        streamSid,
        callSid: makeSid('CA', target.id),
        accountSid: o.accountSid ?? NO_ACCOUNT,
        track,
        customParameters,
        bidirectional,
        maxQueueBytes: Math.round(maxQueueMs * 8),
        maxPayload: o.maxPayload ?? 1024 * 1024,
        maxBufferedBytes: 512 * 1024,
        headers: o.headers ?? {},
      },
      this.pacer,
      log,
    );
    this.streams.add(s);
    let unLeg = () => {};
    const sup = this.registry.spawn(s, {
      kind: 'stream',
      id,
      group: target.id,
      input: { streamSid, callId: target.id, url: u.href, maxReconnects, fallback },
      bindings: { callId: target.id, streamSid },
      onDone: (out) => s.finish(out as MediaStreamOutput),
      onCrash: (err) => {
        log.error({ err }, 'media stream actor crashed');
        s.finish({ streamSid, callId: target.id, reason: 'stopped', reconnects: 0, connections: 0 });
      },
      onExit: () => {
        this.streams.delete(s);
        unLeg();
        // Stopped from outside (engine shutdown): the socket is still released.
        queueMicrotask(() => s.finish({ streamSid, callId: target.id, reason: 'stopped', reconnects: 0, connections: 0 }));
      },
    });
    s.actor = sup.ref;
    unLeg = target.leg.onClose(() => s.callEnded());
    return s;
  }

  /** Engine shutdown: stop every stream (sends `stop`), then wait (bounded) for them to finish. */
  async close(timeoutMs = 1500): Promise<void> {
    const open = [...this.streams];
    for (const s of open) s.stop();
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([Promise.all(open.map((s) => s.done)), new Promise<void>((r) => (timer = setTimeout(r, timeoutMs)))]);
    clearTimeout(timer);
  }
}

// The engine registers its runtime against its MediaServices, so `call.stream()` finds it through
// the services the call already holds (no new field on the call handle).
const runtimes = new WeakMap<MediaServices, MediaStreamRuntime>();

/** @internal */
export function registerMediaStreams(services: MediaServices, runtime: MediaStreamRuntime): void {
  runtimes.set(services, runtime);
}

/** @internal */
export function mediaStreamsOf(services: MediaServices): MediaStreamRuntime | undefined {
  return runtimes.get(services);
}
