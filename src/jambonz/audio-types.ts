// The public face of a jambonz audio route: its options, the handler, and the stream the handler
// gets (`JambonzAudioStream`) with its events and end-of-stream summary. Implemented by audio-stream.ts.
import type { EventEmitter } from 'node:events';
import type { Readable } from 'node:stream';
import type { Logger } from 'pino';
import type { AudioStreamOutput } from '../../machines/audioStream.machine.js';
import type { RateLimit } from '../http/rate-limit.js';
import type {
  JambonzAudioMetadata,
  JambonzDtmfEvent,
  JambonzMarkEvent,
  JambonzPlayAudioData,
  JambonzPlayDoneEvent,
  JambonzSampleRate,
} from './audio-protocol.js';

export type { AudioStreamEndReason } from '../../machines/audioStream.machine.js';

export interface JambonzAudioOptions {
  /** Write each stream to `<recordingsDir>/<callSid>-<n>.wav` (default true). */
  record?: boolean;
  /** Directory for this route's WAV files (default: the engine's `jambonz.recordingsDir`). */
  recordingsDir?: string;
  /** Largest accepted frame in bytes (default 1 MiB); bigger frames close the socket with 1009. */
  maxPayload?: number;
  /** Time allowed between connect and the metadata frame (default 10 s); then close 1008. */
  metadataTimeoutMs?: number;
  /** Longest a stream may run (default 4 h); then it is finalised and the socket closed (1000). */
  maxDurationMs?: number;
  /**
   * WAV bytes buffered in memory between disk writes (default 32000: 1 s of 16 kHz mono). Each
   * flush also patches the header, so this bounds what a crashed process can lose.
   */
  flushBytes?: number;
  /** Audio kept while the WAV file is being created (default 1 MiB); beyond it frames are dropped. */
  maxPendingBytes?: number;
  /**
   * Binary (audio) frames allowed per socket (default 250/s, burst 500: 5x the 50 frames/s of
   * 20 ms packets); beyond, close 1008 `rate limit exceeded`. `false`: no limit.
   */
  binaryRate?: RateLimit | false;
  /** Text frames allowed per socket, metadata included (default 20/s, burst 40). `false`: no limit. */
  textRate?: RateLimit | false;
}

/** What the application gets when a stream ends. */
export interface JambonzAudioSummary extends AudioStreamOutput {
  /** Binary frames whose length was not whole samples for every channel (dropped). */
  oddFrames: number;
  /** Frames received but not recorded: after the end, or beyond `maxPendingBytes` while opening. */
  droppedFrames: number;
  /** The socket's close code, when it had closed by then. */
  closeCode?: number;
}

export interface JambonzAudioStats {
  /** Binary audio frames accepted (whole samples). */
  frames: number;
  /** Bytes of audio accepted. */
  bytes: number;
  oddFrames: number;
  droppedFrames: number;
  /** Bytes of audio the application streamed back (`sendAudio`). */
  sentBytes: number;
}

export interface JambonzAudioStreamEvents {
  /** One binary frame of L16 little-endian PCM (channels interleaved for stereo). */
  audio: [pcm: Buffer];
  playDone: [event: JambonzPlayDoneEvent];
  mark: [event: JambonzMarkEvent];
  dtmf: [event: JambonzDtmfEvent];
  /** Any other JSON object jambonz sends on the audio socket. */
  message: [message: Record<string, unknown>];
  /** The stream is over and its WAV file (if any) is final. */
  close: [summary: JambonzAudioSummary];
}

/** Options for `playAudio(pcm, opts)` and the object form's extra fields. */
export interface PlayAudioOptions {
  /** Sample rate of raw PCM (default: the stream's `sampleRate`). */
  sampleRate?: JambonzSampleRate;
  queuePlay?: boolean;
  id?: string;
}

export type PlayAudioInput = Buffer | Int16Array | JambonzPlayAudioData;

/** One jambonz audio stream as the application sees it. */
export interface JambonzAudioStream extends EventEmitter<JambonzAudioStreamEvents> {
  /** Unique id of this stream (also its actor id). */
  readonly id: string;
  readonly callSid: string;
  readonly metadata: JambonzAudioMetadata;
  readonly sampleRate: JambonzSampleRate;
  readonly channels: 1 | 2;
  /** Application state shared by every handler (`engine.jambonz.locals`). */
  readonly locals: Record<string, unknown>;
  /** pino logger bound to this stream's ids (callSid included). */
  readonly logger: Logger;
  /** The WAV file once it exists (undefined when recording is off or not yet open). */
  readonly path: string | undefined;
  /** The actor's state: `opening`, `streaming.idle`, `streaming.playing`, `finalizing`, `done`, … */
  readonly state: string;
  readonly stats: Readonly<JambonzAudioStats>;
  /** Marks sent and not yet reported back by jambonz. */
  readonly pendingMarks: readonly string[];
  /** Resolves with the summary once the stream is over and the file is final. */
  readonly done: Promise<JambonzAudioSummary>;
  /** A Node Readable of the audio frames from now on; it ends when the stream does. */
  readable(): Readable;
  [Symbol.asyncIterator](): AsyncIterator<Buffer>;
  /**
   * Play a clip to the caller (jambonz's non-streaming bidirectional mode): raw L16 PCM, or the
   * playAudio `data` object itself. Throws TypeError on invalid input; false when the socket is gone.
   */
  playAudio(audio: PlayAudioInput, opts?: PlayAudioOptions): boolean;
  /** Stream L16 PCM back as a binary frame (`bidirectionalAudio.streaming`). */
  sendAudio(pcm: Buffer | Int16Array): boolean;
  /** Stop what is playing and drop buffered audio. */
  killAudio(): boolean;
  /** Ask jambonz to end the listen; the stream is finalised and the socket closed (1000). */
  disconnect(): boolean;
  /** Place a named mark after the audio sent so far; jambonz reports it played out (or cleared). */
  mark(name: string): boolean;
  clearMarks(): boolean;
}

export type JambonzAudioHandler = (stream: JambonzAudioStream) => void | Promise<void>;
