// The demo application `npm start` runs: the inbound-call protocol's reference behaviour.
// Policy, not engine: ring for a while, answer, echo the caller's audio, hang up after a while.
// SIP calls are answered at once and echoed with startEcho(call.media); WebSocket calls echo their
// binary frames byte for byte (the protocol promises them back unchanged, whatever their size).
// With users registered to the engine (--sip-users), a SIP call to a registered user is connected
// to that user's phone instead.
// Embedders replace it with their own onIncomingCall hook.
import type { Call, IncomingCallDecision } from './call/call.js';
import { startEcho } from './media/mixing/echo.js';
import { verbs } from './jambonz/verbs.js';
import type { JambonzService } from './jambonz/index.js';
import type { Engine } from './engine.js';

/** What the demo needs of the engine to connect calls between registered users. */
export type DemoRegistrar = Pick<Engine, 'registrations' | 'connect'>;

export interface DemoAppOptions {
  /** Ring time before answering (default 5000 ms). */
  answerDelayMs?: number;
  /** Talk time before the server hangs up (default 10000 ms). */
  hangupAfterMs?: number;
  /** Hang up when the caller presses this digit (default none). */
  hangupDigit?: string;
  /**
   * With the registrar on (users configured): a SIP call to a registered user is connected to
   * that user's contact (engine.connect) instead of echoed. A function when the engine is made
   * after the app (the CLI).
   */
  registrar?: DemoRegistrar | (() => DemoRegistrar | undefined);
  /**
   * Stream every SIP call to this voice bot, bidirectionally in Twilio's Media Streams format,
   * instead of echoing it; the call hangs up when the bot is gone.
   */
  streamUrl?: string;
}

/** WebSocket echo: each message back as it came (`this` is the call: one function for every call). */
function echoAudio(this: Call, frame: Buffer): void {
  this.sendAudio(frame);
}

/**
 * The demo's ring and talk timers: one length for every call, so a Map in insertion order is in due
 * order and one Node timer for its head serves them all (a Timeout per call was ~180 B of a live
 * call). Entries hold the ms they were added at, on the queue's own clock: a small integer.
 */
class CallTimers {
  private readonly added = new Map<Call, number>();
  private timer: NodeJS.Timeout | undefined = undefined;
  private readonly t0 = performance.now();

  constructor(
    private readonly ms: number,
    private readonly due: (call: Call) => void,
  ) {}

  private now(): number {
    return Math.ceil(performance.now() - this.t0);
  }

  /** Fire `due(call)` in `ms` (restarted if it was pending). */
  add(call: Call): void {
    this.added.delete(call);
    this.added.set(call, this.now());
    if (!this.timer) this.arm(this.ms);
  }

  delete(call: Call): void {
    if (!this.added.delete(call) || this.added.size > 0) return;
    // Nothing pending: no timer left to keep the process up.
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  private arm(delay: number): void {
    clearTimeout(this.timer);
    // Node's longest delay is 2^31-1 ms (beyond, it fires after 1 ms): a later head is re-armed then.
    this.timer = setTimeout(fireTimers, Math.min(2 ** 31 - 1, Math.max(1, delay)), this);
  }

  /** @internal the head's time came (or an earlier head's, since removed): fire what is due, re-arm. */
  fired(): void {
    this.timer = undefined;
    // Node's timers run on a clock that may trail performance.now() by a ms or two.
    const now = this.now() + 2;
    try {
      for (const [call, at] of this.added) {
        if (at + this.ms > now) break;
        this.added.delete(call);
        this.due(call);
      }
    } finally {
      // Even after a throwing callback, the calls behind it keep their time.
      const head = this.added.values().next();
      if (!head.done) this.arm(head.value + this.ms - this.now());
      else if (this.timer) {
        clearTimeout(this.timer);
        this.timer = undefined;
      }
    }
  }
}

function fireTimers(t: CallTimers): void {
  t.fired();
}

export function demoApp(o: DemoAppOptions = {}): (call: Call) => IncomingCallDecision {
  const answerDelayMs = o.answerDelayMs ?? 5000;
  const hangupAfterMs = o.hangupAfterMs ?? 10_000;
  const hangupDigit = o.hangupDigit;
  // The app's listeners and timer callbacks are made once, here, and shared by every call (`this`
  // is the call); a call holds only its entry in one of the two timer queues.
  const onDigit = function (this: Call, digit: string): void {
    if (digit === hangupDigit) this.hangup(`caller pressed ${digit}`);
  };
  const ringing = new CallTimers(answerDelayMs, (call) => call.answer());
  const talking = new CallTimers(hangupAfterMs, (call) => call.hangup('demo talk time over'));
  const onAnswered = function (this: Call): void {
    ringing.delete(this);
    talking.add(this);
  };
  const onEnded = function (this: Call): void {
    ringing.delete(this);
    talking.delete(this);
    this.off('answered', onAnswered);
    this.off('ended', onEnded);
  };
  return (call) => {
    const reg = typeof o.registrar === 'function' ? o.registrar() : o.registrar;
    const binding = reg && call.transport === 'sip' && call.to ? reg.registrations.lookup(call.to)[0] : undefined;
    if (reg && binding) {
      // Ringing until the callee answers; then both are bridged (no echo).
      reg.connect(call, binding).catch((err: unknown) => {
        call.logger.warn({ err, contact: binding.contact }, 'demo: could not reach the registered contact');
        // connect() may have answered the caller itself (430 for a failed outbound flow).
        if (!call.isEnded) call.reject(480, 'Temporarily Unavailable');
      });
      return { action: 'defer' };
    }
    if (hangupDigit !== undefined) call.on('dtmf', onDigit);
    const streamUrl = o.streamUrl;
    if (streamUrl && call.transport === 'sip' && call.media) {
      call.once('answered', () => {
        try {
          call.stream(streamUrl, { bidirectional: true, fallback: 'hangup' });
        } catch (err) {
          call.logger.error({ err }, 'demo: cannot stream the call to the bot');
          call.hangup('stream failed');
        }
      });
    }
    // SIP: echo on the media plane, G.711 bytes straight back (pass-through), no per-frame
    // EventEmitter hop, and it stops by itself when the call ends. WebSocket calls have a media
    // leg too, but it re-frames to 20 ms: their echo returns each message as it came instead.
    else if (call.transport === 'sip' && call.media) startEcho(call.media, { mode: 'auto' });
    else call.on('audio', echoAudio);
    // SIP callers dial in to hear themselves: answer at once and echo until they hang up.
    if (call.transport === 'sip') return { action: 'accept' };
    call.on('ended', onEnded);
    call.on('answered', onAnswered);
    if (answerDelayMs <= 0) return { action: 'accept' };
    ringing.add(call);
    return { action: 'defer' };
  };
}

/** The demo jambonz application `npm start` serves: an IVR on `/hook`, a recorder on `/recording`. */
export const DEMO_JAMBONZ_HOOK = '/hook';
export const DEMO_JAMBONZ_RECORDING = '/recording';
const DEMO_MENU_HOOK = '/hook/menu';

/**
 * Register the demo jambonz routes on `service` (`engine.jambonz`). The hook route greets the
 * caller, gathers one digit and reads it back: 1 starts a recording of the caller through the
 * `listen` verb pointed back at this server's `/recording` (give `listenUrl` as jambonz reaches
 * it, or a function returning a fresh URL per call, e.g. a signed one when auth is on), any other
 * digit says goodbye, no digit repeats the menu once. The audio route writes each stream to a WAV
 * file (the engine's `jambonz.recordingsDir`).
 */
export function demoJambonz(service: JambonzService, o: { listenUrl?: string | (() => string) } = {}): void {
  const menu = (prefix: string) =>
    verbs().gather({ actionHook: DEMO_MENU_HOOK, input: ['digits'], numDigits: 1, timeout: 8, say: { text: `${prefix}Press 1 to record a message, or any other key to hang up.` } });
  service.hook(DEMO_JAMBONZ_HOOK, (session) => {
    session.data.repeats = 0;
    session.reply(menu('Welcome to callchart. '));
    session.on(DEMO_MENU_HOOK, (result) => {
      const digit = result.reason === 'dtmfDetected' ? result.digits : undefined;
      if (digit === undefined) {
        const repeats = Number(session.data.repeats) + 1;
        session.data.repeats = repeats;
        if (repeats < 2) return session.reply(menu('I did not hear a key. '));
        return session.reply(verbs().say({ text: 'Goodbye.' }).hangup());
      }
      if (digit === '1' && o.listenUrl) {
        return session.reply(
          verbs()
            .say({ text: 'Record your message after the tone, then press pound.' })
            .listen({ url: typeof o.listenUrl === 'function' ? o.listenUrl() : o.listenUrl, sampleRate: 16000, mixType: 'mono', finishOnKey: '#', maxLength: 60, playBeep: true })
            .say({ text: 'Thank you. Goodbye.' })
            .hangup(),
        );
      }
      session.reply(verbs().say({ text: `You pressed ${digit}. Goodbye.` }).hangup());
    });
  });
  service.audio(DEMO_JAMBONZ_RECORDING, (stream) => {
    stream.logger.info({ from: stream.metadata.from, sampleRate: stream.sampleRate, path: stream.path }, 'demo: recording');
    stream.once('close', (s) => stream.logger.info({ path: s.path, durationMs: s.durationMs, reason: s.reason }, 'demo: recording finished'));
  });
}
