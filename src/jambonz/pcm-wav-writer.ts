// A WAV writer for audio that is already 16-bit little-endian PCM bytes, as jambonz streams it.
//
// Same crash-tolerant design as src/media/wav.ts's WavWriter (valid header on open, every flush
// appends at its absolute offset and then patches the RIFF and data sizes, close() flushes the tail
// and patches a final time), but built for a thousand streams of 50 frames/s each:
//
// - write() takes the wire bytes and copies them once, with one memcpy, into the staging buffer
//   (WavWriter.write() takes samples and stores them one writeInt16LE at a time, ~3.8 µs per 20 ms
//   frame of 16 kHz: a fifth of a core at a thousand streams re-encoding bytes that are already in
//   the file's byte order). A full staging buffer is handed to the disk as it is and the next one
//   taken from a small pool of buffers already written: no second copy, no allocation per flush.
// - The disk work is two positioned writes per flush (the audio; the header's bytes 4..43 with both
//   sizes in one go) through fs's callback API, one flush at a time per file, chunks that queued up
//   behind a slow disk written together with one writev. No promise per write: the promise API
//   cost ~15 µs more main-thread CPU per flush here.
// - The first flush comes after a random 50–100 % of `flushBytes`, so streams that start together
//   (a restart, a load test) do not all flush in the same 20 ms every second after.
import fs, { promises as fsp } from 'node:fs';
import type { Logger } from 'pino';
import { wavHeader } from '../media/wav.js';

export interface PcmWavWriterOptions {
  sampleRate: number;
  channels: number;
  /** Bytes buffered in memory between disk writes (each flush also patches the header). */
  flushBytes: number;
  logger?: Logger;
}

interface Chunk {
  /** The bytes to write (the staging buffer, or its filled head on the last flush). */
  buf: Buffer;
  /** The whole staging buffer, returned to the pool once written. */
  whole: Buffer;
  /** Absolute file offset of buf[0]. */
  at: number;
}

/**
 * Staging buffers of written chunks, by size, for the next ones: at a thousand streams a fresh
 * 32 kB buffer per stream and second is 32 MB/s of external memory for the GC to account for. Only
 * buffers in flight to the disk ever come back here, so the pool stays small; it is capped anyway.
 */
const POOL_MAX = 64;
const pool = new Map<number, Buffer[]>();
function takeBuffer(size: number): Buffer {
  return pool.get(size)?.pop() ?? Buffer.allocUnsafeSlow(size);
}
function giveBuffer(b: Buffer): void {
  let free = pool.get(b.length);
  if (!free) pool.set(b.length, (free = []));
  if (free.length < POOL_MAX) free.push(b);
}

export class PcmWavWriter {
  /** Staging buffer (taken on the first write after a flush). */
  private buf: Buffer | null = null;
  private used = 0;
  /** Bytes of `buf` to fill before flushing (less than its size before the first flush only). */
  private limit: number;
  /** Bytes handed to the disk queue (the data size the header states after they are written). */
  private dataBytes = 0;
  private readonly size: number;
  /** The file's header; bytes 4..43 are rewritten after each flush. Only touched between writes. */
  private readonly header: Buffer;
  private readonly queue: Chunk[] = [];
  private busy = false;
  private idle: Array<() => void> = [];
  private error: Error | null = null;
  private closed = false;
  private closing: Promise<void> | undefined;
  private readonly fd: number;

  private constructor(
    private readonly fh: fsp.FileHandle,
    readonly path: string,
    private readonly opts: PcmWavWriterOptions,
  ) {
    this.fd = fh.fd;
    this.size = Math.max(2, opts.flushBytes & ~1);
    this.limit = Math.max(2, Math.round(this.size * (0.5 + Math.random() / 2)) & ~1);
    this.header = wavHeader(0, { sampleRate: opts.sampleRate, channels: opts.channels });
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
    return this.dataBytes + this.used;
  }

  /** Append PCM bytes (whole samples). Never waits on the disk. */
  write(pcm: Buffer): void {
    if (this.closed) throw new Error('PcmWavWriter is closed');
    let off = 0;
    const len = pcm.length;
    while (off < len) {
      const b = (this.buf ??= takeBuffer(this.size));
      const n = Math.min(this.limit - this.used, len - off);
      // TypedArray#set: V8's fast path; Buffer#copy's argument checks cost more than the memcpy.
      b.set(n === len ? pcm : pcm.subarray(off, off + n), this.used);
      this.used += n;
      off += n;
      if (this.used === this.limit) this.scheduleFlush();
    }
  }

  /** Hand what is staged to the disk; resolves once everything handed so far is written. */
  flush(): Promise<void> {
    if (this.used > 0) this.scheduleFlush();
    if (!this.busy) return Promise.resolve();
    return new Promise((r) => this.idle.push(r));
  }

  /** Flush the tail, patch the header a last time, close the file. Later writes throw. */
  close(): Promise<void> {
    if (!this.closing) {
      const drained = this.flush();
      this.closed = true;
      if (this.buf) giveBuffer(this.buf);
      this.buf = null;
      this.closing = drained.then(() => this.fh.close()).then(() => {
        if (this.error) throw this.error;
      });
    }
    return this.closing;
  }

  private scheduleFlush(): void {
    const b = this.buf!;
    const chunk = this.used === b.length ? b : b.subarray(0, this.used);
    this.queue.push({ buf: chunk, whole: b, at: 44 + this.dataBytes });
    this.dataBytes += chunk.length;
    this.buf = null;
    this.used = 0;
    this.limit = this.size;
    if (!this.busy) this.pump();
  }

  /** Write what is queued (contiguous: one writev when several chunks waited), then the sizes. */
  private pump(): void {
    const q = this.queue;
    if (q.length === 0 || this.error) {
      for (const c of q) giveBuffer(c.whole);
      q.length = 0;
      this.busy = false;
      for (const r of this.idle.splice(0)) r();
      return;
    }
    this.busy = true;
    const at = q[0]!.at;
    const last = q[q.length - 1]!;
    const dataBytes = last.at + last.buf.length - 44;
    const written = q.map((c) => c.whole);
    const done = (err: NodeJS.ErrnoException | null) => {
      for (const w of written) giveBuffer(w);
      if (err) return this.fail(err);
      this.header.writeUInt32LE(36 + dataBytes, 4);
      this.header.writeUInt32LE(dataBytes, 40);
      fs.write(this.fd, this.header, 4, 40, 4, (err2) => {
        if (err2) return this.fail(err2);
        this.pump();
      });
    };
    if (q.length === 1) {
      const { buf } = q[0]!;
      q.length = 0;
      writeAll(this.fd, buf, at, done);
    } else {
      const bufs = q.map((c) => c.buf);
      q.length = 0;
      writevAll(this.fd, bufs, at, done);
    }
  }

  private fail(err: NodeJS.ErrnoException): void {
    this.error = err;
    this.opts.logger?.error({ err, path: this.path }, 'wav write failed');
    this.pump();
  }
}

/** fs.write until every byte is written (a short write resumes where it stopped). */
function writeAll(fd: number, buf: Buffer, at: number, cb: (err: NodeJS.ErrnoException | null) => void): void {
  fs.write(fd, buf, 0, buf.length, at, (err, n) => {
    if (err) return cb(err);
    if (n < buf.length) return writeAll(fd, buf.subarray(n), at + n, cb);
    cb(null);
  });
}

function writevAll(fd: number, bufs: Buffer[], at: number, cb: (err: NodeJS.ErrnoException | null) => void): void {
  fs.writev(fd, bufs, at, (err, n) => {
    if (err) return cb(err);
    let total = 0;
    for (const b of bufs) total += b.length;
    if (n < total) return writeAll(fd, Buffer.concat(bufs).subarray(n), at + n, cb);
    cb(null);
  });
}
