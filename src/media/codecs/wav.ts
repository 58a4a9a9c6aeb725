// WAV (RIFF) reading into 8 kHz mono Int16Array, and a crash-tolerant streaming writer.

import { promises as fsp, readFileSync } from 'node:fs';
import type { Logger } from 'pino';
import { alawToLinear, resampleLinear, ulawToLinear } from './g711.js';
import { appendAudio, behindError, forgetWriter, MAX_RECORD_BYTES, newWriterId, openOnDisk, requestFlush, type DiskClient } from './wav-disk.js';

const WAVE_FORMAT_PCM = 1;
const WAVE_FORMAT_ALAW = 6;
const WAVE_FORMAT_MULAW = 7;
const WAVE_FORMAT_EXTENSIBLE = 0xfffe;

export interface WavInfo {
  format: number;
  channels: number;
  sampleRate: number;
  bitsPerSample: number;
  /** Interleaved samples decoded to 16-bit linear at the file's own rate. */
  samples: Int16Array;
}

export class WavFormatError extends Error {
  override name = 'WavFormatError';
}

/** Decode a WAV buffer without rate/channel conversion. */
export function parseWav(buf: Buffer): WavInfo {
  if (buf.length < 12 || buf.toString('ascii', 0, 4) !== 'RIFF' || buf.toString('ascii', 8, 12) !== 'WAVE') {
    throw new WavFormatError('not a RIFF/WAVE file');
  }
  let fmt: { format: number; channels: number; sampleRate: number; bits: number } | null = null;
  let data: Buffer | null = null;
  let off = 12;
  while (off + 8 <= buf.length) {
    const id = buf.toString('ascii', off, off + 4);
    let size = buf.readUInt32LE(off + 4);
    const body = off + 8;
    if (id === 'data') {
      // A writer that died before patching leaves 0 (or 0xFFFFFFFF for streaming); the data then
      // runs to the end of the file.
      if (size === 0 || body + size > buf.length) size = buf.length - body;
      data = buf.subarray(body, body + size);
    } else if (id === 'fmt ') {
      if (size < 16 || body + 16 > buf.length) throw new WavFormatError('truncated fmt chunk');
      let format = buf.readUInt16LE(body);
      if (format === WAVE_FORMAT_EXTENSIBLE && size >= 40) format = buf.readUInt16LE(body + 24);
      fmt = {
        format,
        channels: buf.readUInt16LE(body + 2),
        sampleRate: buf.readUInt32LE(body + 4),
        bits: buf.readUInt16LE(body + 14),
      };
    }
    if (fmt && data) break;
    off = body + size + (size & 1); // chunks are word aligned
  }
  if (!fmt) throw new WavFormatError('missing fmt chunk');
  if (!data) throw new WavFormatError('missing data chunk');
  if (fmt.channels < 1) throw new WavFormatError('zero channels');

  let samples: Int16Array;
  if (fmt.format === WAVE_FORMAT_PCM && fmt.bits === 16) {
    const n = data.length >> 1;
    samples = new Int16Array(n);
    for (let i = 0; i < n; i++) samples[i] = data.readInt16LE(i * 2);
  } else if (fmt.format === WAVE_FORMAT_PCM && fmt.bits === 8) {
    samples = new Int16Array(data.length);
    for (let i = 0; i < data.length; i++) samples[i] = (data[i]! - 128) << 8; // 8-bit WAV is unsigned
  } else if (fmt.format === WAVE_FORMAT_ALAW && fmt.bits === 8) {
    samples = new Int16Array(data.length);
    for (let i = 0; i < data.length; i++) samples[i] = alawToLinear(data[i]!);
  } else if (fmt.format === WAVE_FORMAT_MULAW && fmt.bits === 8) {
    samples = new Int16Array(data.length);
    for (let i = 0; i < data.length; i++) samples[i] = ulawToLinear(data[i]!);
  } else {
    throw new WavFormatError(`unsupported WAV encoding: format ${fmt.format}, ${fmt.bits} bits`);
  }
  return { format: fmt.format, channels: fmt.channels, sampleRate: fmt.sampleRate, bitsPerSample: fmt.bits, samples };
}

/** Mix interleaved channels down to mono by averaging. */
export function toMono(samples: Int16Array, channels: number): Int16Array {
  if (channels === 1) return samples;
  const n = Math.floor(samples.length / channels);
  const out = new Int16Array(n);
  for (let i = 0; i < n; i++) {
    let acc = 0;
    for (let c = 0; c < channels; c++) acc += samples[i * channels + c]!;
    out[i] = Math.round(acc / channels);
  }
  return out;
}

/** WAV buffer → 8 kHz mono, the format everything on the RTP side wants. */
export function decodeWavTo8kMono(buf: Buffer, targetRate = 8000): Int16Array {
  const info = parseWav(buf);
  return resampleLinear(toMono(info.samples, info.channels), info.sampleRate, targetRate);
}

export function readWavFile(path: string, targetRate = 8000): Int16Array {
  return decodeWavTo8kMono(readFileSync(path), targetRate);
}

export interface WavHeaderOptions {
  sampleRate?: number;
  channels?: number;
}

/** 44-byte canonical PCM16 header with the given data length. */
export function wavHeader(dataBytes: number, opts: WavHeaderOptions = {}): Buffer {
  const rate = opts.sampleRate ?? 8000;
  const channels = opts.channels ?? 1;
  const h = Buffer.alloc(44);
  h.write('RIFF', 0, 'ascii');
  h.writeUInt32LE(36 + dataBytes, 4);
  h.write('WAVE', 8, 'ascii');
  h.write('fmt ', 12, 'ascii');
  h.writeUInt32LE(16, 16);
  h.writeUInt16LE(WAVE_FORMAT_PCM, 20);
  h.writeUInt16LE(channels, 22);
  h.writeUInt32LE(rate, 24);
  h.writeUInt32LE(rate * channels * 2, 28);
  h.writeUInt16LE(channels * 2, 32);
  h.writeUInt16LE(16, 34);
  h.write('data', 36, 'ascii');
  h.writeUInt32LE(dataBytes, 40);
  return h;
}

/** Whole PCM16 WAV in memory (fixtures, tests, small prompts). */
export function encodeWav(samples: Int16Array, opts: WavHeaderOptions = {}): Buffer {
  const out = Buffer.allocUnsafe(44 + samples.length * 2);
  wavHeader(samples.length * 2, opts).copy(out, 0);
  for (let i = 0; i < samples.length; i++) out.writeInt16LE(samples[i]!, 44 + i * 2);
  return out;
}

export interface WavWriterOptions extends WavHeaderOptions {
  /**
   * Bytes buffered in memory before a write to disk; each flush also rewrites the RIFF and data
   * sizes. Default 16000 (1 s at 8 kHz mono), which bounds what a crash can lose.
   */
  flushBytes?: number;
  logger?: Logger;
}

// Int16Array memory is in the host's byte order; WAV is little-endian.
const HOST_IS_LE = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/**
 * Streaming PCM16 recorder for samples. The file on disk is a valid WAV covering everything flushed
 * so far at every moment: a dropped call or a crashed process loses at most `flushBytes` of audio,
 * and readers that trust the sizes do not see garbage. Flushes happen at exact `flushBytes`
 * boundaries (no stagger), so that bound is exact.
 */
export class WavWriter {
  private constructor(private readonly pcm: PcmWavWriter) {}

  static async create(path: string, opts: WavWriterOptions = {}): Promise<WavWriter> {
    const pcm = await PcmWavWriter.create(path, {
      sampleRate: opts.sampleRate ?? 8000,
      channels: opts.channels ?? 1,
      flushBytes: opts.flushBytes ?? 16000,
      staggerFirstFlush: false,
      ...(opts.logger ? { logger: opts.logger } : {}),
    });
    return new WavWriter(pcm);
  }

  get path(): string {
    return this.pcm.path;
  }

  /** Samples written so far, including those not yet on disk. */
  get samplesWritten(): number {
    return this.pcm.bytesWritten >> 1;
  }

  write(samples: Int16Array): void {
    // The writer copies what it is given before returning, so a view of the samples is enough.
    const bytes = Buffer.from(samples.buffer, samples.byteOffset, samples.byteLength);
    this.pcm.write(HOST_IS_LE ? bytes : Buffer.from(bytes).swap16());
  }

  /** Push buffered audio to disk and patch the header; resolves when both are written. */
  flush(): Promise<void> {
    return this.pcm.flush();
  }

  close(): Promise<void> {
    return this.pcm.close();
  }
}

// Streaming WAV recording. PcmWavWriter takes audio that is already 16-bit little-endian PCM bytes
// (jambonz streams it so); WavWriter takes Int16Array samples (the media actors) and hands their
// bytes to a PcmWavWriter. The design is crash-tolerant: a valid header on open, every flush
// appends at its absolute offset and then patches the RIFF and data sizes, close() flushes the tail
// and patches a final time. It is built for a thousand streams of 50 frames/s each:
//
// - write() takes the wire bytes and copies them once into a ring shared with one disk thread
//   (WavWriter.write() takes samples and stores them one writeInt16LE at a time, ~3.8 µs per 20 ms
//   frame of 16 kHz: a fifth of a core at a thousand streams re-encoding bytes that are already in
//   the file's byte order). The thread (wav-disk.ts) gathers each file's bytes into its own
//   buffer and writes them, then the header's sizes, every `flushBytes`: no system call, and no
//   per-file buffer, on the event loop.
// - The first flush comes after a random 50–100 % of `flushBytes`, so streams that start together
//   (a restart, a load test) do not all flush in the same 20 ms every second after.

export interface PcmWavWriterOptions {
  sampleRate: number;
  channels: number;
  /** Bytes buffered in memory between disk writes (each flush also patches the header). */
  flushBytes: number;
  logger?: Logger;
  /**
   * Make the first flush come after a random 50–100 % of `flushBytes` (default true), so streams
   * that start together (a restart, a load test) do not all flush in the same 20 ms every second.
   */
  staggerFirstFlush?: boolean;
}

export class PcmWavWriter {
  /** Bytes accepted (the data size the header states once they are flushed). */
  private accepted = 0;
  /** Flush requests made, and the promises waiting on them (answered in order). */
  private seq = 0;
  private waits: Array<{ seq: number; resolve: () => void }> = [];
  private error: Error | null = null;
  private closed = false;
  private closing: Promise<void> | undefined;
  private readonly id = newWriterId();

  private constructor(
    private readonly fh: fsp.FileHandle,
    readonly path: string,
    private readonly opts: PcmWavWriterOptions,
  ) {
    const size = Math.max(2, opts.flushBytes & ~1);
    const first = opts.staggerFirstFlush === false ? size : Math.max(2, Math.round(size * (0.5 + Math.random() / 2)) & ~1);
    const client: DiskClient = { flushed: (seq) => this.flushed(seq), failed: (err) => this.failed(err) };
    openOnDisk(this.id, client, fh.fd, size, first);
  }

  static async create(path: string, opts: PcmWavWriterOptions): Promise<PcmWavWriter> {
    const fh = await fsp.open(path, 'w');
    try {
      await fh.write(wavHeader(0, { sampleRate: opts.sampleRate, channels: opts.channels }), 0, 44, 0);
    } catch (err) {
      await fh.close().catch(() => {});
      throw err;
    }
    return new PcmWavWriter(fh, path, opts);
  }

  /** Audio bytes accepted so far, including those not yet on disk. */
  get bytesWritten(): number {
    return this.accepted;
  }

  /** Append PCM bytes (whole samples). Never waits on the disk. */
  write(pcm: Buffer): void {
    if (this.closed) throw new Error('PcmWavWriter is closed');
    // After a failed write the file keeps what it had: later audio is dropped, not written after a gap.
    if (this.error) return;
    const len = pcm.length;
    for (let off = 0; off < len; off += MAX_RECORD_BYTES) {
      const part = len <= MAX_RECORD_BYTES ? pcm : pcm.subarray(off, off + MAX_RECORD_BYTES);
      if (!appendAudio(this.id, part)) {
        this.failed(behindError());
        return;
      }
      this.accepted += part.length;
    }
  }

  /** Hand what is buffered to the disk; resolves once everything accepted so far is written. */
  flush(): Promise<void> {
    // After close(): its promise, without close's error (a flush never rejected).
    if (this.closed) return this.closing!.catch(() => {});
    return this.request(false);
  }

  /** Flush the tail, patch the header a last time, close the file. Later writes throw. */
  close(): Promise<void> {
    if (!this.closing) {
      this.closed = true;
      this.closing = this.request(true)
        .then(() => {
          forgetWriter(this.id);
          return this.fh.close();
        })
        .then(() => {
          if (this.error) throw this.error;
        });
    }
    return this.closing;
  }

  private request(close: boolean): Promise<void> {
    const seq = ++this.seq;
    const done = new Promise<void>((resolve) => this.waits.push({ seq, resolve }));
    if (!requestFlush(this.id, seq, close)) this.flushed(seq);
    return done;
  }

  /** The disk thread wrote everything up to request `seq`. */
  private flushed(seq: number): void {
    let n = 0;
    while (n < this.waits.length && this.waits[n]!.seq <= seq) n++;
    for (const w of this.waits.splice(0, n)) w.resolve();
  }

  /** A write failed (or the disk fell too far behind): later audio is dropped. */
  private failed(err: Error): void {
    if (this.error) return;
    this.error = err;
    this.opts.logger?.error({ err, path: this.path }, 'wav write failed');
  }
}
