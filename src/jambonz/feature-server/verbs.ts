// How each jambonz verb runs on a SIP call (jambonz-feature-server lib/tasks/*.js), over the call
// handle only (answer, play, hangup, reject, sendDtmf, `dtmf` events). A runner resolves when its
// verb is over — with the hook to send when the verb reports to an actionHook — and rejects with
// the reason a verb could not run (the executor reports it with jambonz:error and goes on). The
// abort signal is the executor killing the verb (a redirect replaced the stack, the call ended).
import { createHash } from 'node:crypto';
import { mkdir, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Actor } from 'xstate';
import type { Logger } from 'pino';
import type { Call } from '../../call/call.js';
import type { ExecVerb } from '../../../machines/jambonzVerbExecutor.machine.js';
import type { GatherInput, GatherOutput, JambonzGatherMachine } from '../../../machines/jambonzGather.machine.js';
import { gatherVerb } from './gather.js';
import type { JambonzSttProvider, JambonzTtsProvider } from './types.js';
import type { JambonzListenMachine, ListenInput } from '../../../machines/jambonzListen.machine.js';
import { listenVerb, type ListenWire } from './listen.js';
import type { DialInput, JambonzDialMachine } from '../../../machines/jambonzDial.machine.js';
import type { Bridge } from '../../media/mixing/bridge.js';
import type { OutboundCallOptions } from '../../sip/ua/options.js';
import { dialVerb, type DialWire } from './dial.js';
import type { JambonzReferMachine } from '../../../machines/jambonzRefer.machine.js';
import { referVerb, type ReferWire } from './refer.js';
import { dequeueVerb, enqueueVerb, type QueueHost } from './queue.js';
import { conferenceVerb } from './conference.js';
import type { ConferenceHost } from './conferences.js';
import { hookUrl, abortableSleep } from './verb-util.js';

export interface VerbHook {
  type: 'verb:hook' | 'session:redirect';
  url: string;
  data: Record<string, unknown>;
}

export interface VerbResult {
  hook?: VerbHook;
}

export interface SynthDefaults {
  vendor?: string;
  language?: string;
  voice?: string;
}

/** What a verb runner may do besides the call itself. */
export interface VerbHost {
  readonly call: Call;
  readonly logger: Logger;
  readonly tts: JambonzTtsProvider | undefined;
  readonly stt: JambonzSttProvider | undefined;
  /** jambonzApp.recordDir: where `record` may write. */
  readonly recordDir: string | undefined;
  readonly synth: SynthDefaults;
  /** Session defaults for speech recognition (`config.recognizer`). */
  readonly recognizer: { vendor?: string; language?: string };
  /** The call description every hook carries (session:new's data, current status, customerData). */
  hookData(): Record<string, unknown>;
  /** Answer unless already answered; resolves once live. */
  ensureAnswered(): Promise<void>;
  tag(data: Record<string, unknown>): void;
  configure(props: Record<string, unknown>): void;
  /** Spawn (and start) a gather actor whose `stopPrompt`/`finish` reach `wire`. */
  spawnGather(input: GatherInput, wire: GatherWire): Actor<JambonzGatherMachine>;
  /** Spawn (and start) a listen actor whose actions reach `wire`. */
  spawnListen(input: ListenInput, wire: ListenWire): Actor<JambonzListenMachine>;
  /** Spawn (and start) a dial actor whose actions reach `wire`. */
  spawnDial(input: DialInput, wire: DialWire): Actor<JambonzDialMachine>;
  /** An outbound SIP call (the engine's UAC): dial's B leg. */
  placeCall(target: string, o: OutboundCallOptions): Promise<Call>;
  /** Bridge two calls' media (engine.bridge). */
  bridge(a: Call, b: Call): Bridge;
  /** SIP host[:port] that dial's `phone` targets go to (jambonzApp.phoneTrunk). */
  readonly phoneTrunk: string | undefined;
  /** A hook that wants no reply (dial's dtmfHook, sip:refer's eventHook): sent, its ack ignored. */
  notifyHook(url: string, data: Record<string, unknown>): void;
  /** Spawn (and start) a sip:refer actor whose actions reach `wire`. */
  spawnRefer(wire: ReferWire): Actor<JambonzReferMachine>;
  /** This call's call_sid. */
  readonly callSid: string;
  /** The feature-server's named queues (enqueue/dequeue). */
  readonly queue: QueueHost;
  /** The feature-server's named conferences (conference). */
  readonly conference: ConferenceHost;
  /** A hook whose reply the verb itself uses (enqueue's waitHook): its verbs, [] on no reply. */
  requestHook(url: string, data: Record<string, unknown>): Promise<ExecVerb[]>;
  /** Run a verb inside another (enqueue's wait verbs): validated, its own hooks not sent. */
  runNested(verb: ExecVerb, signal: AbortSignal): Promise<void>;
  /** jambonz:error to the app, and a log line. */
  reportError(error: string): void;
  /** The running conference's mute of this call (mute:status); undefined when it is over. */
  setConferenceMute(mute: ((muted: boolean) => void) | undefined): void;
}

export interface GatherWire {
  stopPrompt(): void;
  stopSpeech(): void;
  finish(out: GatherOutput): void;
}

/** The verbs this feature-server runs; anything else is reported and skipped. */
export const SUPPORTED_VERBS: ReadonlySet<string> = new Set(['answer', 'pause', 'play', 'say', 'gather', 'hangup', 'redirect', 'sip:decline', 'tag', 'config', 'dtmf', 'listen', 'stream', 'dial', 'sip:refer', 'enqueue', 'dequeue', 'leave', 'conference', 'record']);

const MAX_REMOTE_BYTES = 20 * 1024 * 1024;

/** A play url as a local file: a path, a file:// URL, or an http(s) WAV fetched once into the temp dir. */
async function localFile(url: string): Promise<string> {
  if (url.startsWith('file://')) return fileURLToPath(url);
  if (!/^https?:\/\//i.test(url)) return url;
  const dir = path.join(os.tmpdir(), 'callchart-play-cache');
  const file = path.join(dir, createHash('sha256').update(url).digest('hex').slice(0, 32) + '.wav');
  try {
    await stat(file);
    return file;
  } catch {
    /* not cached yet */
  }
  const res = await fetch(url, { signal: AbortSignal.timeout(10_000) });
  if (!res.ok) throw new Error(`play: GET ${url} answered ${res.status}`);
  const len = Number(res.headers.get('content-length') ?? 0);
  if (len > MAX_REMOTE_BYTES) throw new Error(`play: ${url} is over ${MAX_REMOTE_BYTES} bytes`);
  const body = Buffer.from(await res.arrayBuffer());
  if (body.length > MAX_REMOTE_BYTES) throw new Error(`play: ${url} is over ${MAX_REMOTE_BYTES} bytes`);
  await mkdir(dir, { recursive: true });
  await writeFile(file, body);
  return file;
}

/** Play files into the call in order; resolves when done or aborted, rejects when one cannot play. */
async function playFiles(call: Call, files: string[], signal: AbortSignal): Promise<void> {
  if (signal.aborted || files.length === 0) return;
  const stream = call.play(files);
  const stop = (): void => void stream.close();
  signal.addEventListener('abort', stop, { once: true });
  const errors: string[] = [];
  stream.on('itemFinished', (f) => {
    if (f.reason === 'failed') errors.push(f.error ?? 'cannot play');
  });
  try {
    await stream.done;
  } finally {
    signal.removeEventListener('abort', stop);
  }
  if (errors.length && !signal.aborted) throw new Error(`play: ${errors[0]}`);
}

function loops(v: unknown): number {
  if (v === 'forever') return Number.POSITIVE_INFINITY;
  return typeof v === 'number' && v > 0 ? Math.floor(v) : 1;
}

async function playVerb(host: VerbHost, verb: ExecVerb, signal: AbortSignal): Promise<void> {
  const urls = (Array.isArray(verb.url) ? verb.url : [verb.url]).filter((u): u is string => typeof u === 'string');
  if (verb.earlyMedia !== true) await host.ensureAnswered();
  const files = await Promise.all(urls.map(localFile));
  for (let i = 0, n = loops(verb.loop); i < n && !signal.aborted && !host.call.isEnded; i++) await playFiles(host.call, files, signal);
}

/** say's text as WAV files, through the configured TTS provider. */
async function synthesize(host: VerbHost, verb: ExecVerb): Promise<string[]> {
  if (!host.tts) throw new Error('say: no TTS provider configured (createEngine({ jambonzApp: { tts } }))');
  const texts = (Array.isArray(verb.text) ? verb.text : [verb.text]).filter((t): t is string => typeof t === 'string');
  const s = (verb.synthesizer ?? {}) as SynthDefaults;
  const opts = { vendor: s.vendor ?? host.synth.vendor, language: s.language ?? host.synth.language, voice: s.voice ?? host.synth.voice };
  const files: string[] = [];
  for (const t of texts) files.push(await host.tts.synthesize(t, opts));
  return files;
}

async function sayVerb(host: VerbHost, verb: ExecVerb, signal: AbortSignal): Promise<void> {
  if (!host.tts) throw new Error('say: no TTS provider configured (createEngine({ jambonzApp: { tts } }))');
  if (verb.earlyMedia !== true) await host.ensureAnswered();
  const files = await synthesize(host, verb);
  for (let i = 0, n = loops(verb.loop); i < n && !signal.aborted && !host.call.isEnded; i++) await playFiles(host.call, files, signal);
}

/** whisper (dial.js `whisper`): one say or play verb to `call`, a party of a bridged dial. */
export async function whisperVerb(host: VerbHost, call: Call, verb: ExecVerb, signal: AbortSignal): Promise<void> {
  const files =
    verb.verb === 'play'
      ? await Promise.all((Array.isArray(verb.url) ? verb.url : [verb.url]).filter((u): u is string => typeof u === 'string').map(localFile))
      : await synthesize(host, verb);
  for (let i = 0, n = loops(verb.loop); i < n && !signal.aborted && !call.isEnded; i++) await playFiles(call, files, signal);
}

/**
 * record { path }: specs.json has it, jambonz-feature-server has no task for it (its recording is
 * config.record: SIPREC or a cloud upload). Here it records the call, both sides in stereo (caller
 * left), to a WAV under jambonzApp.recordDir until the call ends; the next verb runs at once.
 */
async function recordVerb(host: VerbHost, verb: ExecVerb): Promise<void> {
  if (!host.recordDir) throw new Error('record: no recording directory configured (createEngine({ jambonzApp: { recordDir } }))');
  const rel = String(verb.path);
  const root = path.resolve(host.recordDir);
  const file = path.resolve(root, rel);
  if (!file.startsWith(root + path.sep) || path.extname(file).toLowerCase() !== '.wav') {
    throw new Error(`record: path ${JSON.stringify(rel)} must name a .wav file inside the recording directory`);
  }
  await host.ensureAnswered();
  await mkdir(path.dirname(file), { recursive: true });
  const rec = host.call.record(file, { channels: 'stereo' });
  host.logger.info({ file }, 'record: recording the call');
  rec.done.catch((err: unknown) => host.logger.warn({ file, err: err instanceof Error ? err.message : String(err) }, 'record: the recording failed'));
}

/** Run one validated verb. */
export async function runVerb(host: VerbHost, verb: ExecVerb, signal: AbortSignal): Promise<VerbResult> {
  const call = host.call;
  switch (verb.verb) {
    case 'answer':
      await host.ensureAnswered();
      return {};
    case 'pause':
      await abortableSleep((typeof verb.length === 'number' ? verb.length : 1) * 1000, signal);
      return {};
    case 'play':
      await playVerb(host, verb, signal);
      return {};
    case 'say':
      await sayVerb(host, verb, signal);
      return {};
    case 'gather':
      return gatherVerb(host, verb, signal, (prompt, sig) =>
        prompt.verb === 'play' || (prompt.url !== undefined && prompt.text === undefined) ? playVerb(host, prompt, sig) : sayVerb(host, prompt, sig),
      );
    case 'listen':
    case 'stream':
      return listenVerb(host, verb, signal);
    case 'dial':
      return dialVerb(host, verb, signal);
    case 'sip:refer':
      return referVerb(host, verb, signal);
    case 'enqueue':
      return enqueueVerb(host, verb, signal);
    case 'dequeue':
      return dequeueVerb(host, verb, signal);
    case 'conference':
      return conferenceVerb(host, verb, signal);
    case 'record':
      await recordVerb(host, verb);
      return {};
    case 'leave':
      // leave.js acts inside an enqueue's waitHook (queue.ts); anywhere else it has nothing to leave.
      host.logger.info('leave: not in a queue: nothing to do');
      return {};
    case 'hangup':
      // Headers on BYE are not carried by the call handle: logged, not sent.
      if (verb.headers) host.logger.info({ headers: verb.headers }, 'hangup: custom headers are not sent');
      call.hangup('jambonz hangup verb');
      return {};
    case 'sip:decline': {
      if (call.isActive) throw new Error('sip:decline: the call is already answered');
      const status = typeof verb.status === 'number' ? verb.status : 603;
      call.reject(status, typeof verb.reason === 'string' ? verb.reason : undefined);
      return {};
    }
    case 'redirect': {
      const url = hookUrl(verb.actionHook);
      if (!url) throw new Error('redirect: no actionHook');
      return { hook: { type: 'session:redirect', url, data: host.hookData() } };
    }
    case 'tag':
      host.tag((verb.data ?? {}) as Record<string, unknown>);
      return {};
    case 'config': {
      const { verb: _v, id: _id, ...props } = verb;
      host.configure(props);
      return {};
    }
    case 'dtmf': {
      await host.ensureAnswered();
      const digits = String(verb.dtmf ?? '');
      call.sendDtmf(digits);
      const per = typeof verb.duration === 'number' ? verb.duration : 500;
      await abortableSleep(digits.length * (per + 100), signal);
      return {};
    }
    default:
      throw new Error(`${verb.verb}: verb not supported by the callchart feature-server`);
  }
}
