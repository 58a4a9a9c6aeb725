// WAV (RIFF) reading into 8 kHz mono Int16Array, and a crash-tolerant streaming writer.

import { promises as fsp, readFileSync } from 'node:fs';
import type { Logger } from 'pino';
import { alawToLinear, resampleLinear, ulawToLinear } from './g711.js';

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

/**
 * Streaming PCM16 recorder. Writes a valid (empty) header on open; write() only copies into a
 * preallocated buffer so the media path never waits on the disk; every flush appends the
 * buffered audio at its absolute offset and then patches both size fields. The file on disk is
 * therefore a valid WAV covering everything flushed so far at every moment: a dropped call or
 * a crashed process loses at most `flushBytes` of audio, and readers that trust the sizes do
 * not see garbage. close() flushes the tail and patches a final time.
 */
export class WavWriter {
  private readonly buf: Buffer;
  private used = 0;
  private dataBytes = 0;
  private chain: Promise<void> = Promise.resolve();
  private error: Error | null = null;
  private closed = false;

  private constructor(
    private readonly fh: fsp.FileHandle,
    readonly path: string,
    private readonly opts: WavWriterOptions,
  ) {
    this.buf = Buffer.allocUnsafe(Math.max(2, (opts.flushBytes ?? 16000) & ~1));
  }

  static async create(path: string, opts: WavWriterOptions = {}): Promise<WavWriter> {
    const fh = await fsp.open(path, 'w');
    await fh.write(wavHeader(0, opts), 0, 44, 0);
    return new WavWriter(fh, path, opts);
  }

  /** Samples written so far, including those not yet on disk. */
  get samplesWritten(): number {
    return (this.dataBytes + this.used) >> 1;
  }

  write(samples: Int16Array): void {
    if (this.closed) throw new Error('WavWriter is closed');
    let i = 0;
    while (i < samples.length) {
      const room = (this.buf.length - this.used) >> 1;
      const n = Math.min(room, samples.length - i);
      for (let k = 0; k < n; k++) this.buf.writeInt16LE(samples[i + k]!, this.used + k * 2);
      this.used += n * 2;
      i += n;
      if (this.used === this.buf.length) this.scheduleFlush();
    }
  }

  /** Push buffered audio to disk and patch the header; resolves when both are written. */
  flush(): Promise<void> {
    if (this.used > 0) this.scheduleFlush();
    return this.chain;
  }

  async close(): Promise<void> {
    if (this.closed) return this.chain;
    await this.flush();
    this.closed = true;
    this.chain = this.chain.then(() => this.fh.close());
    await this.chain;
    if (this.error) throw this.error;
  }

  private scheduleFlush(): void {
    // Copy out so write() can keep filling the preallocated buffer while the disk catches up.
    const chunk = Buffer.from(this.buf.subarray(0, this.used));
    const at = 44 + this.dataBytes;
    this.dataBytes += chunk.length;
    this.used = 0;
    const dataBytes = this.dataBytes;
    this.chain = this.chain.then(async () => {
      if (this.error) return;
      try {
        await this.fh.write(chunk, 0, chunk.length, at);
        const sizes = Buffer.allocUnsafe(4);
        sizes.writeUInt32LE(36 + dataBytes, 0);
        await this.fh.write(sizes, 0, 4, 4);
        sizes.writeUInt32LE(dataBytes, 0);
        await this.fh.write(sizes, 0, 4, 40);
      } catch (err) {
        this.error = err as Error;
        this.opts.logger?.error({ err, path: this.path }, 'wav write failed');
      }
    });
  }
}
