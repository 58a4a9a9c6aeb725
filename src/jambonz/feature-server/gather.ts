// The `gather` verb's wire: runs the nested say/play prompt, feeds DTMF and, with speech input,
// the recogniser's events to the gather statechart (machines/jambonzGather.machine.ts), and
// turns its result into the actionHook jambonz sends (gather.js `_resolve`: `digits` +
// `dtmfDetected`, `speech` + `speechDetected`, `timeout`, or `error` + `details`).
import type { Actor } from 'xstate';
import type { Logger } from 'pino';
import type { Call } from '../../call/call.js';
import type { ExecVerb } from '../../../machines/jambonzVerbExecutor.machine.js';
import { gatherHookReason, type GatherInput, type GatherOutput, type GatherSpeech, type JambonzGatherMachine } from '../../../machines/jambonzGather.machine.js';
import type { JambonzSttProvider, JambonzSttSession } from './types.js';
import { hookUrl } from './verb-util.js';

/** What gather needs of its session (a subset of VerbHost). */
export interface GatherHost {
  readonly call: Call;
  readonly logger: Logger;
  readonly stt: JambonzSttProvider | undefined;
  /** Session defaults from `config.recognizer`. */
  readonly recognizer?: { vendor?: string; language?: string };
  hookData(): Record<string, unknown>;
  ensureAnswered(): Promise<void>;
  spawnGather(input: GatherInput, wire: { stopPrompt(): void; stopSpeech(): void; finish(out: GatherOutput): void }): Actor<JambonzGatherMachine>;
  reportError(error: string): void;
}

export interface GatherHook {
  type: 'verb:hook';
  url: string;
  data: Record<string, unknown>;
}

type PromptRunner = (prompt: ExecVerb, signal: AbortSignal) => Promise<void>;

const num = (v: unknown): number | undefined => (typeof v === 'number' && v > 0 ? v : undefined);

export async function gatherVerb(host: GatherHost, verb: ExecVerb, signal: AbortSignal, runPrompt: PromptRunner): Promise<{ hook?: GatherHook }> {
  const input = Array.isArray(verb.input) ? (verb.input as string[]) : ['digits'];
  const acceptDigits = input.includes('digits');
  let speech = input.includes('speech');
  if (speech && !host.stt) {
    const why = 'gather: speech input needs a speech recogniser (createEngine({ jambonzApp: { stt } })), and none is configured';
    if (!acceptDigits) throw new Error(why);
    host.reportError(`${why}: collecting digits only`);
    speech = false;
  }
  await host.ensureAnswered();
  const prompt = (verb.say ?? verb.play) as ExecVerb | undefined;
  const promptAbort = new AbortController();
  const rec = (verb.recognizer ?? {}) as { vendor?: unknown; language?: unknown; hints?: unknown };
  const sttOpts = {
    ...(typeof rec.vendor === 'string' ? { vendor: rec.vendor } : host.recognizer?.vendor ? { vendor: host.recognizer.vendor } : {}),
    language: typeof rec.language === 'string' ? rec.language : (host.recognizer?.language ?? 'en-US'),
    hints: Array.isArray(rec.hints) ? rec.hints.filter((h): h is string => typeof h === 'string') : [],
  };
  const call = host.call;
  let stt: JambonzSttSession | undefined;
  const onAudio = (frame: Buffer): void => stt?.write(frame);
  const stopSpeech = (): void => {
    call.off('audio', onAudio);
    const s = stt;
    stt = undefined;
    try {
      s?.stop();
    } catch (err) {
      host.logger.warn({ err: (err as Error).message }, 'gather: the recogniser failed to stop');
    }
  };
  const out = await new Promise<GatherOutput>((resolve, reject) => {
    const actor = host.spawnGather(
      {
        numDigits: num(verb.numDigits),
        minDigits: num(verb.minDigits),
        maxDigits: num(verb.maxDigits),
        finishOnKey: typeof verb.finishOnKey === 'string' ? verb.finishOnKey : undefined,
        // gather.js: timeout seconds, default 15; interDigitTimeout seconds, default none.
        timeoutMs: (num(verb.timeout) ?? 15) * 1000,
        interDigitTimeoutMs: (num(verb.interDigitTimeout) ?? 0) * 1000,
        hasPrompt: prompt !== undefined,
        bargein: verb.dtmfBargein !== false,
        acceptDigits,
        speech,
        speechBargein: verb.bargein === true,
      },
      { stopPrompt: () => promptAbort.abort(), stopSpeech, finish: resolve },
    );
    const onDtmf = (digit: string): void => actor.send({ type: 'DTMF', digit });
    const cleanup = (): void => {
      call.off('dtmf', onDtmf);
      signal.removeEventListener('abort', kill);
      promptAbort.abort();
      stopSpeech();
    };
    const kill = (): void => actor.send({ type: 'KILL' });
    call.on('dtmf', onDtmf);
    signal.addEventListener('abort', kill, { once: true });
    actor.subscribe({
      complete: () => {
        cleanup();
        const o = actor.getSnapshot().output;
        if (o) resolve(o);
      },
      error: (err) => {
        cleanup();
        reject(err instanceof Error ? err : new Error(String(err)));
      },
    });
    if (speech && host.stt) {
      // gather.js listenDuringPrompt (default true): the recogniser hears the caller from the start.
      let done = false;
      try {
        stt = host.stt.start(sttOpts, {
          speechStarted: () => actor.send({ type: 'SPEECH.STARTED' }),
          final: (r) => {
            if (done) return;
            done = true;
            const s: GatherSpeech = {
              language_code: r.language ?? sttOpts.language,
              channel_tag: 1,
              is_final: true,
              alternatives: [{ transcript: String(r.transcript), confidence: Number.isFinite(r.confidence) ? r.confidence : 0 }],
            };
            actor.send({ type: 'SPEECH', speech: s });
          },
          error: (err) => {
            if (done) return;
            done = true;
            actor.send({ type: 'SPEECH.FAILED', error: err instanceof Error ? err.message : String(err) });
          },
        });
        call.on('audio', onAudio);
      } catch (err) {
        actor.send({ type: 'SPEECH.FAILED', error: `recogniser did not start: ${(err as Error).message}` });
      }
    }
    if (prompt) {
      runPrompt(prompt, promptAbort.signal).then(
        () => actor.send({ type: 'PROMPT.DONE' }),
        (err: unknown) => {
          host.logger.warn({ err: err instanceof Error ? err.message : String(err) }, 'gather prompt failed: collecting without it');
          actor.send({ type: 'PROMPT.DONE' });
        },
      );
    }
  });
  const reason = gatherHookReason(out);
  const url = hookUrl(verb.actionHook);
  if (out.reason === 'stt-error') host.reportError(`gather: speech recogniser failed: ${out.error ?? 'unknown error'}`);
  if (!reason || !url) return {};
  const data: Record<string, unknown> = { ...host.hookData(), reason };
  if (reason === 'dtmfDetected' || out.digits) data.digits = out.digits;
  if (out.speech) data.speech = out.speech;
  if (reason === 'error') data.details = out.error;
  return { hook: { type: 'verb:hook', url, data } };
}
