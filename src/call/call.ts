// The call handle an application holds. It owns no call state: state lives in the call actor, wire
// effects live in the transport's CallWire. The handle turns app intents into actor events and
// re-emits what the actor and the media path report.
import { EventEmitter } from 'node:events';
import type { Actor } from 'xstate';
import type { Logger } from 'pino';
import { stateToString } from '../actors/state.js';
import { DTMF_STRING } from '../media/codecs/dtmf.js';
import type { CallEnd, CallMachine, CallDirection, CallTransport, DtmfSource } from '../../machines/call.machine.js';
import type { MediaLeg } from '../media/leg.js';
import type { PlaybackStream, PlayRequest } from '../media/runtimes/playback.js';
import type { RecordingHandle } from '../media/runtimes/recording.js';
import type { MediaServices } from '../media/call-media.js';
import { tapSent, type TappedLeg } from '../media/sent-tap.js';
import type { RtpSessionStats } from '../media/rtp/session.js';
import type { WsLegStats } from '../media/ws-leg.js';
import { mediaStreamsOf, type CallStreamOptions } from '../streams/runtime.js';
import type { MediaStream } from '../streams/stream.js';
import { emitEntry, leanListeners, listeners } from '../emit-one.js';
import type { ReferRequest } from '../sip/ua/referee.js';
import { headerKey } from '../sip/codec/header-list.js';
import { checkSipRequest } from './sip-request-check.js';
import type { CallUpdateOptions, CallUpdateResult } from './update.js';
import type { CallSipHeader, CallSipInvite, CallSipRequestOptions, CallSipResponse } from './sip-message.js';

export type { CallSipHeader, CallSipInvite, CallSipRequestOptions, CallSipResponse };

/** What `call.play()` accepts per item: a WAV path, a source (`file`/`tone`/`silence`), or `{ id, source }`. */
export type CallPlaySource = string | PlayRequest;

export interface CallPlayOptions {
  /** Gain 0..2 (default 1). */
  gain?: number;
  /**
   * Keep the stream open after the items are over (queue more with `stream.play()`, close it
   * yourself). Default false: the stream closes when the items given here are over, so
   * `await call.play(…).done` waits for the prompt.
   */
  keepOpen?: boolean;
}

/**
 * Which side(s) of the call a recording holds: `in` what the far end sends (the default), `out`
 * what this side sends it (plays, bridges, rooms, streams), `mixed` both in one mono channel,
 * `stereo` both as two channels, the caller left and the callee right (an inbound call's far end
 * is the caller, an outbound call's far end the callee).
 */
export type CallRecordChannels = 'in' | 'out' | 'mixed' | 'stereo';

const RECORD_CHANNELS: readonly CallRecordChannels[] = ['in', 'out', 'mixed', 'stereo'];

export interface CallRecordOptions {
  /** Which side(s) to record (default `in`, the far end). */
  channels?: CallRecordChannels;
  /** Supervisor id of the recording actor (default `rec-<callId>-<n>`). */
  id?: string;
  /** WavWriter flush size in bytes (bounds what a crash can lose). */
  flushBytes?: number;
}

/**
 * Media statistics of a call, by `kind`: `rtp` (SIP calls: counters, receive stats, RTT, MOS) or
 * `ws` (WebSocket calls: frames in/out, drops); both carry `jitterBuffer`.
 */
export type CallMediaStats = RtpSessionStats | WsLegStats;

/** @internal what a transport gives the call for its media (called as a method: the binding may be the transport's own object). */
export interface CallMediaBinding {
  readonly leg: MediaLeg;
  stats?(): CallMediaStats;
}

/**
 * What a transport does on the wire for one call. The call machine's named actions are provided once
 * per engine and dispatch to the wire of the call they run for (looked up by actor id), so no machine
 * is re-created per call.
 */
export interface CallWire {
  announceIncoming?(): void;
  sendDial?(): void;
  sendProgress?(code: number): void;
  sendAnswer?(): void;
  sendReject?(code: number, reason?: string): void;
  sendRedirect?(code: number, contacts: string[]): void;
  sendCancel?(): void;
  sendHangup?(): void;
  sendHold?(): void;
  sendResume?(): void;
  /** Media out: one frame of audio in the transport's format (WS: as received; SIP: 16-bit PCM). */
  sendAudio?(frame: Buffer): boolean;
  /** Whether the far end takes our media before the answer (SIP: our answer went in a reliable 183). */
  earlyMedia?(): boolean;
  sendDtmf?(digits: string): void;
  /** Blind transfer of the far end to `target` (SIP REFER). */
  transfer?(target: string, opts?: CallTransferOptions): void;
  /** An in-dialog request (INFO, MESSAGE, NOTIFY, …); resolves with its final response. */
  sipRequest?(method: string, opts: CallSipRequestOptions): Promise<CallSipResponse>;
  /** A new offer of ours in the call's dialog (SIP re-INVITE or UPDATE); resolves once its answer is in use. */
  update?(opts?: CallUpdateOptions): Promise<CallUpdateResult>;
  /** Called once when the call actor has ended (after any final wire message was sent). */
  ended?(end: CallEnd): void;
}

export type IncomingCallDecision =
  | { action: 'accept' }
  | { action: 'reject'; code?: number; reason?: string }
  | { action: 'redirect'; contacts: string[]; code?: number }
  | { action: 'defer' };

export type IncomingCallHook = (call: Call) => IncomingCallDecision | void | Promise<IncomingCallDecision | void>;

export interface CallEvents {
  state: [state: string];
  answered: [];
  /**
   * Media flows before the answer: the far end has our SDP answer (SIP: in a reliable 183 after
   * `call.progress(183)`), so a `play()` starts now instead of at the answer.
   */
  earlyMedia: [];
  dtmf: [digit: string, source: DtmfSource];
  audio: [frame: Buffer];
  ended: [end: CallEnd];
  /**
   * Transfer progress: the status line the transferee reported in a NOTIFY (100, 180, 200, 503…;
   * `from` 'notify'), or the REFER's own refusal (≥ 300; `from` 'refer').
   */
  transfer: [status: number, from: 'refer' | 'notify'];
  /** The far end asks us to call another party instead (SIP REFER): accept or refuse it. */
  refer: [request: ReferRequest];
}

/** What `call.transfer()` may add to its REFER. */
export interface CallTransferOptions {
  /** Referred-By URI (default: this side's contact). */
  referredBy?: string;
  /** Extra headers on the REFER. */
  headers?: Record<string, string>;
}

export interface CallInfo {
  id: string;
  direction: CallDirection;
  transport: CallTransport;
  from?: string;
  to?: string;
}

/** @internal where a call's logger comes from: its actor's supervisor entry. */
export interface CallLogSource {
  readonly logger: Logger;
  /** One info line with the call's ids, without making its child logger. */
  info(obj: object, msg: string): void;
}

/** @internal the call's log source (the call lines use it; not part of the package's API). */
export function logSourceOf(call: Call): CallLogSource {
  return driverAccess.logSource(call);
}

/** A call's media use: the leg with what this side writes tapped (src/media/sent-tap.ts), the playing stream, the id counters, the stats frozen at the end. */
interface CallUses {
  tap: TappedLeg | undefined;
  playing: PlaybackStream | undefined;
  playSeq: number;
  recSeq: number;
  finalStats: CallMediaStats | undefined;
}

// Set by Call's static block: CallDriver's access to a call's private fields.
let driverAccess!: {
  logSource(call: Call): CallLogSource;
  setActive(call: Call, active: boolean): void;
  attachMedia(call: Call, binding: CallMediaBinding): void;
  attachServices(call: Call, services: MediaServices): void;
  finish(call: Call, end: CallEnd, driver: CallDriver): void;
};

export class Call extends EventEmitter<CallEvents> {
  readonly id: string;
  readonly direction: CallDirection;
  readonly transport: CallTransport;
  readonly from: string | undefined;
  readonly to: string | undefined;
  /** Inbound SIP calls: the INVITE's Request-URI, headers and body (undefined for other calls). */
  readonly sipInvite: CallSipInvite | undefined;
  readonly createdAt = Date.now();
  answeredAt: number | undefined;
  #data: Record<string, unknown> | undefined;
  // What the engine and the transport set, through CallDriver only: ES private fields keep it out
  // of the public surface (and of the shipped types).
  #endInfo: CallEnd | undefined;
  // Cached from the actor's snapshots so the audio fast path never walks the state tree.
  #active = false;
  #mediaBinding: CallMediaBinding | undefined;
  #services: MediaServices | undefined;
  // Made when the media is first used or the call ends: a live call nobody plays to holds one field.
  #uses: CallUses | undefined;

  constructor(
    info: CallInfo & { sipInvite?: CallSipInvite },
    readonly actor: Actor<CallMachine>,
    private readonly wire: CallWire,
    /** Where the call's child logger comes from (the supervisor's entry for its actor, which makes it on first use). */
    private readonly logSource: CallLogSource,
  ) {
    super();
    leanListeners(this);
    this.id = info.id;
    this.direction = info.direction;
    this.transport = info.transport;
    this.from = info.from;
    this.to = info.to;
    this.sipInvite = info.sipInvite;
  }

  /**
   * The first value of header `name` in the INVITE of an inbound SIP call (case-insensitive;
   * compact forms such as `f` are matched to their full names); undefined when absent.
   */
  sipHeader(name: string): string | undefined {
    const key = headerKey(name);
    return this.sipInvite?.headers.find((h) => headerKey(h.name) === key)?.value;
  }

  /** Current state path, e.g. `ringing`, `active.talking`, `active.held`, `ended`. */
  get state(): string {
    return stateToString(this.actor.getSnapshot().value);
  }

  /** The call's pino child logger (bound to its ids). */
  get logger(): Logger {
    return this.logSource.logger;
  }

  /** Free slot for the application's own per-call data (made on first use). */
  get data(): Record<string, unknown> {
    return (this.#data ??= {});
  }
  set data(value: Record<string, unknown>) {
    this.#data = value;
  }

  /** Answered and not ended (talking or held). */
  get isActive(): boolean {
    return this.#active;
  }

  get isEnded(): boolean {
    return this.#endInfo !== undefined || this.actor.getSnapshot().status !== 'active';
  }

  /** Why and how the call ended (undefined while it lives). */
  get end(): CallEnd | undefined {
    return this.#endInfo ?? (this.actor.getSnapshot().context.end as CallEnd | undefined);
  }

  answer(): void {
    this.actor.send({ type: 'CALL.ANSWER' });
  }

  reject(code = 486, reason = 'Busy Here'): void {
    this.actor.send({ type: 'CALL.REJECT', code, reason });
  }

  redirect(contacts: string[], code = 302): void {
    this.actor.send({ type: 'CALL.REDIRECT', code, contacts });
  }

  progress(code = 180): void {
    this.actor.send({ type: 'CALL.PROGRESS', code });
  }

  hangup(detail?: string): void {
    const snap = this.actor.getSnapshot();
    if (snap.status !== 'active') return;
    if (snap.matches('ringing') && this.direction === 'outbound') this.actor.send({ type: 'CALL.CANCEL' });
    else this.actor.send({ type: 'CALL.HANGUP', detail });
  }

  hold(): void {
    this.actor.send({ type: 'CALL.HOLD', by: 'local' });
  }

  resume(): void {
    this.actor.send({ type: 'CALL.RESUME' });
  }

  /** Send one audio frame to the far end. Returns false when the call cannot carry media now (not answered, no early media). */
  sendAudio(frame: Buffer): boolean {
    if (!(this.#active || this.wire.earlyMedia?.()) || !this.wire.sendAudio) return false;
    return this.wire.sendAudio(frame);
  }

  sendDtmf(digits: string): void {
    if (!DTMF_STRING.test(digits)) throw new RangeError(`invalid DTMF digits: ${JSON.stringify(digits)}`);
    if (!this.wire.sendDtmf) throw new Error(`transport ${this.transport} cannot send DTMF`);
    this.wire.sendDtmf(digits);
  }

  /** Blind-transfer the far end to `target` (SIP only); progress arrives as `transfer` events. */
  transfer(target: string, opts?: CallTransferOptions): void {
    if (!this.isActive) throw new Error('only an answered call can be transferred');
    if (!this.wire.transfer) throw new Error(`transport ${this.transport} cannot transfer`);
    if (/[\s<>]/.test(target) || (opts?.referredBy !== undefined && /[\s<>]/.test(opts.referredBy))) throw new RangeError('transfer: target and referredBy must be bare URIs');
    for (const [k, v] of Object.entries(opts?.headers ?? {})) {
      if (!/^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/.test(k) || typeof v !== 'string' || /[\r\n]/.test(v)) throw new RangeError(`transfer: header ${JSON.stringify(k)} is not a one-line SIP header`);
    }
    this.wire.transfer(target, opts);
  }

  /**
   * Send a request in the call's dialog (SIP only, answered calls): INFO, MESSAGE, NOTIFY,
   * OPTIONS or any other method but those the call itself runs (INVITE, ACK, BYE, CANCEL, PRACK,
   * UPDATE, REFER, SUBSCRIBE, REGISTER). Resolves with the final response.
   */
  sipRequest(method: string, opts: CallSipRequestOptions = {}): Promise<CallSipResponse> {
    const m = checkSipRequest(method, opts);
    if (!this.wire.sipRequest) throw new Error(`transport ${this.transport} cannot send SIP requests`);
    if (!this.isActive) throw new Error('sipRequest: only an answered call has a dialog to send in');
    return this.wire.sipRequest(m, opts);
  }

  /**
   * Send a new SDP offer in the call's dialog (SIP only; answered calls, or ringing ones once the
   * early offer/answer is done in a reliable 18x and its PRACK, by UPDATE): a session refresh with
   * the same media, or `codecs` to move to another codec; in a re-INVITE or, `method: 'UPDATE'`,
   * an UPDATE (RFC 3311). One offer at a time (queued behind a hold in flight), a 491 retried
   * after the glare delay. Resolves once the answer is in use (codec, address, port); rejects with
   * a `CallUpdateError` when refused (`status`), and throws for options the call cannot honour.
   */
  update(opts?: CallUpdateOptions): Promise<CallUpdateResult> {
    if (!this.wire.update) throw new Error(`transport ${this.transport} cannot update`);
    if (!this.isActive && this.state !== 'ringing') throw new Error('update: the call has no dialog to send an offer in');
    return this.wire.update(opts);
  }

  // ---- media (see docs/media.md "Media on calls") --------------------------------------------

  /**
   * The call's audio as a MediaLeg (8 kHz PCM in 20 ms frames, G.711 pass-through on RTP): attach
   * echo, bridges, mixers, playback or recording to it. SIP calls have one from their RTP session,
   * inbound-call WebSocket calls from their binary frames (16-bit little-endian PCM). It closes
   * when the call ends. The `audio` event and `sendAudio()` still carry the transport's own bytes.
   */
  get media(): MediaLeg | undefined {
    return this.#tapped()?.leg;
  }

  #used(): CallUses {
    return (this.#uses ??= { tap: undefined, playing: undefined, playSeq: 0, recSeq: 0, finalStats: undefined });
  }

  #tapped(): TappedLeg | undefined {
    const binding = this.#mediaBinding;
    if (!binding) return undefined;
    const uses = this.#used();
    return (uses.tap ??= tapSent(binding.leg));
  }

  #mediaFor(what: string): { leg: MediaLeg; sent: MediaLeg; services: MediaServices } {
    const tap = this.#tapped();
    if (!tap) throw new Error(`call ${this.id} (${this.transport}) has no media leg: cannot ${what}`);
    if (!this.#services) throw new Error(`call ${this.id} has no media runtimes (not created by an engine): cannot ${what}`);
    return { leg: tap.leg, sent: tap.sent, services: this.#services };
  }

  /**
   * Play WAV files (PCM 8/16-bit, A-law, μ-law, any rate), tones and silence into the call, in
   * order. One stream plays into a call at a time: a new play() closes the previous stream
   * (barge-in). Before the call is answered the items wait for the answer or for early media
   * (`earlyMedia`). The returned stream pauses/resumes/seeks/changes volume/skips/stops;
   * `stream.done` resolves when it closes (by default when these items are over), and
   * `itemFinished` reports each item.
   */
  play(items: CallPlaySource | CallPlaySource[], opts: CallPlayOptions = {}): PlaybackStream {
    const { leg, services } = this.#mediaFor('play');
    const list: PlayRequest[] = (Array.isArray(items) ? items : [items]).map((i) => (typeof i === 'string' ? { kind: 'file', path: i } : i));
    const uses = this.#used();
    const prev = uses.playing;
    if (prev) void prev.close();
    const stream = services.playback.start(leg, {
      id: `play-${this.id}-${++uses.playSeq}`,
      group: this.id,
      bindings: { callId: this.id },
      ...(opts.gain !== undefined ? { gain: opts.gain } : {}),
    });
    uses.playing = stream;
    stream.once('closed', () => {
      if (uses.playing === stream) uses.playing = undefined;
    });
    const go = (): void => {
      const all = stream.play(list);
      if (!opts.keepOpen) void all.then(() => stream.close());
    };
    if (this.#active || this.isEnded || this.wire.earlyMedia?.()) go();
    else {
      const off = (): void => void this.off('answered', onAnswered).off('earlyMedia', onAnswered).off('ended', off);
      const onAnswered = (): void => (off(), go());
      this.once('answered', onAnswered).once('earlyMedia', onAnswered).once('ended', off);
    }
    return stream;
  }

  /**
   * Stream the call to a voice bot over a WebSocket in Twilio's Media Streams format (README:
   * "Connect a phone call to your voice bot"): the caller's audio goes out as `media` messages,
   * the bot's `media` is played into the call paced at 20 ms, its marks are echoed once their
   * audio has played, `clear` drops what is queued. The stream ends with the call or `stop()`;
   * a bot that is gone (after `maxReconnects`) makes the call follow `fallback`.
   */
  stream(url: string, opts: CallStreamOptions = {}): MediaStream {
    const { leg, services } = this.#mediaFor('stream');
    const runtime = mediaStreamsOf(services);
    if (!runtime) throw new Error(`call ${this.id} has no media-stream runtime (not created by an engine): cannot stream`);
    return runtime.start(
      {
        id: this.id,
        leg,
        hangup: (detail) => this.hangup(detail),
        onDtmf: (cb) => {
          const fn = (digit: string) => cb(digit);
          this.on('dtmf', fn);
          return () => void this.off('dtmf', fn);
        },
      },
      url,
      opts,
    );
  }

  /** The stream currently playing into the call (from `play()`), if any. */
  get playback(): PlaybackStream | undefined {
    return this.#uses?.playing;
  }

  /**
   * Record the call to a WAV file (8 kHz 16-bit): by default what the far end sends (mono);
   * `channels` picks `out` (what this side sends), `mixed` (both, mono) or `stereo` (caller left,
   * callee right). The file is valid while it grows and final once `handle.done` resolves: on
   * `stop()`, at the runtime's maximum duration, or when the call ends (`reason: 'leg-closed'`).
   * `out` holds what goes through `call.media` (plays, bridges, rooms, streams, echo), not raw
   * `sendAudio()` frames.
   */
  record(path: string, opts: CallRecordOptions = {}): RecordingHandle {
    const channels = opts.channels ?? 'in';
    if (!RECORD_CHANNELS.includes(channels)) throw new RangeError(`record: channels must be one of ${RECORD_CHANNELS.join(', ')}, got ${JSON.stringify(channels)}`);
    const { leg, sent, services } = this.#mediaFor('record');
    // Stereo: the caller left, the callee right.
    const legs = channels === 'in' ? [leg] : channels === 'out' ? [sent] : this.direction === 'inbound' ? [leg, sent] : [sent, leg];
    const handle = services.recording.record(legs, {
      path,
      mode: channels === 'mixed' ? 'mixed' : channels === 'stereo' ? 'stereo' : 'single',
      id: opts.id ?? `rec-${this.id}-${++this.#used().recSeq}`,
      group: this.id,
      bindings: { callId: this.id },
      ...(opts.flushBytes !== undefined ? { flushBytes: opts.flushBytes } : {}),
    });
    services.trackRecording(handle.done);
    return handle;
  }

  /**
   * Media statistics, frozen at the moment the call ended: `kind: 'rtp'` for SIP calls (packets,
   * loss, jitter, RTT, MOS), `kind: 'ws'` for WebSocket calls (frames, drops); both with the
   * jitter buffer's (`jitterBuffer`: depth, target, concealed, late). Undefined without media.
   */
  stats(): CallMediaStats | undefined {
    return this.#uses?.finalStats ?? this.#mediaBinding?.stats?.();
  }

  /** Resolves with the end reason once the call has ended. */
  waitForEnd(): Promise<CallEnd> {
    const end = this.end;
    if (end && this.isEnded) return Promise.resolve(end);
    return new Promise((resolve) => this.once('ended', resolve));
  }

  toJSON(): CallInfo & { state: string; end?: CallEnd } {
    return { id: this.id, direction: this.direction, transport: this.transport, from: this.from, to: this.to, state: this.state, end: this.end };
  }

  #finish(end: CallEnd, driver: CallDriver): void {
    if (this.#endInfo) return;
    this.#endInfo = end;
    this.#active = false;
    if (this.#mediaBinding?.stats && !this.#uses?.finalStats) {
      try {
        this.#used().finalStats = this.#mediaBinding.stats();
      } catch {
        /* stats are best effort */
      }
    }
    try {
      this.wire.ended?.(end);
    } finally {
      try {
        driver.ending(end);
      } finally {
        this.emit('ended', end);
      }
    }
  }

  static {
    // The one door to the fields above, for CallDriver (this module only).
    driverAccess = {
      logSource: (c) => c.logSource,
      setActive: (c, active) => void (c.#active = active),
      attachMedia: (c, binding) => {
        c.#mediaBinding = binding;
        if (c.#uses) c.#uses.tap = undefined;
      },
      attachServices: (c, services) => void (c.#services = services),
      finish: (c, end, driver) => c.#finish(end, driver),
    };
  }
}

/**
 * @internal What the engine and the transports do to a call that an application must not: keep
 * its state current, attach its media, deliver its audio and events. One per call, created with it
 * by CallManager (`calls.driverOf(call)`); never exported from the package.
 */
export class CallDriver {
  /** The call this driver drives (set once, by the manager, right after the call's actor exists). */
  call!: Call;

  setCall(call: Call): void {
    this.call = call;
  }

  /** The call actor's snapshot changed: whether the call is now answered and live. */
  setActive(active: boolean): void {
    driverAccess.setActive(this.call, active);
  }

  /** The transport's media leg and statistics, once its RTP session exists. */
  attachMedia(binding: CallMediaBinding): void {
    driverAccess.attachMedia(this.call, binding);
  }

  /** The engine's playback and recording runtimes. */
  attachServices(services: MediaServices): void {
    driverAccess.attachServices(this.call, services);
  }

  /** The actor is done: freeze stats, tell the wire, run `ending`, emit `ended`. */
  finish(end: CallEnd): void {
    driverAccess.finish(this.call, end, this);
  }

  /** The engine's own end observers (a hook, not a listener array per call). */
  ending(_end: CallEnd): void {}

  /** Whether the app listens to the call's audio (so a transport can skip making frames). */
  get wantsAudio(): boolean {
    return this.call.listenerCount('audio') > 0;
  }

  /** One frame of the far end's audio, handed straight to the app (never through the actor). */
  audio(frame: Buffer): void {
    emitEntry(this.call, listeners(this.call).audio, 'audio', frame);
  }

  /** The far end has our answer before the call is answered (early media): waiting plays start. */
  earlyMedia(): void {
    this.call.emit('earlyMedia');
  }

  /** A digit the call machine accepted. */
  dtmf(digit: string, source: DtmfSource): void {
    this.call.emit('dtmf', digit, source);
  }

  /** Transfer progress: the status line the transferee reported. */
  transferProgress(status: number, from: 'refer' | 'notify'): void {
    this.call.emit('transfer', status, from);
  }

  /** The call's state path changed (and, the first time it is live, it was answered). */
  stateChanged(state: string, answered: boolean): void {
    if (answered) this.call.emit('answered');
    this.call.emit('state', state);
  }
}
