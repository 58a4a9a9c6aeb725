// The `listen` / `stream` verb on a SIP call: an `audio.jambonz.org` socket to the verb's url, the
// metadata frame (the call's attributes camelCased, sampleRate, mixType, the verb's `metadata`),
// then the caller's audio as binary L16 frames (little-endian 16-bit PCM) at `sampleRate`. The
// listen machine (machines/jambonzListen.machine.ts) holds when it streams and why it ended.
import WebSocket from 'ws';
import type { ExecVerb } from '../../../machines/jambonzVerbExecutor.machine.js';
import type { ListenOutput } from '../../../machines/jambonzListen.machine.js';
import { JAMBONZ_AUDIO_SUBPROTOCOL } from '../audio-protocol.js';
import type { VerbHost, VerbResult } from './verbs.js';

export interface ListenWire {
  sendMetadata(): void;
  startStreaming(): void;
  holdStreaming(): void;
  stopStreaming(): void;
  reportFailure(error: string): void;
}


/** Longest a listen with no maxLength runs (a timer's range). */
const MAX_LISTEN_MS = 4 * 3600_000;

/** 8 kHz PCM → 16 kHz by linear interpolation (the call's audio is 8 kHz). */
function upsample2(src: Int16Array): Int16Array {
  const out = new Int16Array(src.length * 2);
  for (let i = 0; i < src.length; i++) {
    const a = src[i]!;
    const b = i + 1 < src.length ? src[i + 1]! : a;
    out[2 * i] = a;
    out[2 * i + 1] = (a + b) >> 1;
  }
  return out;
}

const camel = (k: string): string => k.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());

export async function listenVerb(host: VerbHost, verb: ExecVerb, signal: AbortSignal): Promise<VerbResult> {
  const url = typeof verb.url === 'string' ? verb.url : undefined;
  if (!url || !/^wss?:\/\//i.test(url)) throw new Error(`${verb.verb}: url must be a ws:// or wss:// URL`);
  const sampleRate = typeof verb.sampleRate === 'number' ? verb.sampleRate : 8000;
  if (sampleRate !== 8000 && sampleRate !== 16000) throw new Error(`${verb.verb}: sampleRate ${sampleRate} is not supported here (8000 or 16000)`);
  const mixType = typeof verb.mixType === 'string' ? verb.mixType : 'mono';
  if (mixType === 'stereo') throw new Error(`${verb.verb}: mixType stereo is not supported here (mono, mixed)`);
  if (verb.bidirectionalAudio) host.logger.info('listen: bidirectionalAudio is not supported here: audio from the app is ignored');
  await host.ensureAnswered();
  const call = host.call;
  const attrs: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(host.hookData())) if (k !== 'sip' && k !== 'customerData') attrs[camel(k)] = v;
  const metadata = { ...attrs, sampleRate, mixType, ...((verb.metadata ?? {}) as Record<string, unknown>) };
  const ws = new WebSocket(url, [JAMBONZ_AUDIO_SUBPROTOCOL], { handshakeTimeout: 1500 });
  ws.on('error', () => {
    /* reported through open/close below */
  });
  const onAudio = (frame: Buffer): void => {
    if (ws.readyState !== WebSocket.OPEN) return;
    const pcm = new Int16Array(frame.buffer, frame.byteOffset, frame.byteLength >> 1);
    const out = sampleRate === 16000 ? upsample2(pcm) : pcm;
    ws.send(Buffer.from(out.buffer, out.byteOffset, out.byteLength), { binary: true });
  };
  const out = await new Promise<ListenOutput>((resolve) => {
    const actor = host.spawnListen(
      { maxLengthMs: typeof verb.maxLength === 'number' && verb.maxLength > 0 ? Math.min(verb.maxLength * 1000, MAX_LISTEN_MS) : MAX_LISTEN_MS, ...(typeof verb.finishOnKey === 'string' ? { finishOnKey: verb.finishOnKey } : {}) },
      {
        sendMetadata: () => ws.send(JSON.stringify(metadata)),
        startStreaming: () => void call.on('audio', onAudio),
        holdStreaming: () => void call.off('audio', onAudio),
        stopStreaming: () => {
          call.off('audio', onAudio);
          if (ws.readyState === WebSocket.OPEN || ws.readyState === WebSocket.CONNECTING) ws.close(1000);
        },
        reportFailure: (error) => host.logger.warn({ url, error }, 'listen: cannot open the audio socket'),
      },
    );
    const onDtmf = (digit: string): void => actor.send({ type: 'DTMF', digit });
    const kill = (): void => actor.send({ type: 'KILL' });
    call.on('dtmf', onDtmf);
    signal.addEventListener('abort', kill, { once: true });
    ws.once('open', () => actor.send({ type: 'SOCKET.OPEN' }));
    ws.once('close', () => actor.send({ type: 'SOCKET.CLOSED' }));
    ws.once('unexpected-response', (_req, res) => actor.send({ type: 'SOCKET.FAILED', error: `HTTP ${res.statusCode}` }));
    ws.once('error', (err) => actor.send({ type: 'SOCKET.FAILED', error: err.message }));
    actor.subscribe({
      complete: () => {
        call.off('dtmf', onDtmf);
        call.off('audio', onAudio);
        signal.removeEventListener('abort', kill);
        resolve(actor.getSnapshot().output ?? { reason: 'killed' });
      },
    });
  });
  if (out.reason === 'connect-failed') throw new Error(`${verb.verb}: cannot open ${url}`);
  const hook = typeof verb.actionHook === 'string' ? verb.actionHook : (verb.actionHook as { url?: string } | undefined)?.url;
  return hook && out.reason !== 'killed' ? { hook: { type: 'verb:hook', url: hook, data: host.hookData() } } : {};
}
