// The disk side of streaming WAV recording: one worker thread does every copy into a file's
// buffer and every write; the event loop only appends each frame to a ring it shares with it.
//
// Why: at 900 recorded jambonz streams the loop's part of a recorded frame was ~2–4 µs more than
// the same route without files (stop 53): the copy into a per-file staging buffer (900 of them,
// 29 MB, cold in the cache when each frame lands), a positioned write per second per file, and
// the header patches. The ring is small and written front to back, so a frame's copy lands in
// lines the loop wrote moments ago, and no system call is left on the loop. The thread reads the
// ring every POLL_MS (sooner when asked for a flush), keeps each file's buffer of `flushBytes`,
// writes it at its offset when full and then patches the header's two sizes.
//
// A disk that stalls stalls the thread, not the loop: the ring fills and the loop keeps the
// overflow in memory (a copy per frame, in order), handing it on as the ring frees; past
// BACKLOG_MAX_BYTES a file's later audio is refused and its close() reports it. Earlier designs,
// measured in docs/architecture.md: fs's callback API (two pool jobs per flush, stop 51),
// synchronous writes on the loop timed with a thread as fallback (stop 52–53).
//
// Ring records, 16-byte aligned: a header of four int32 [kind, writer, arg, payload bytes], then
// the payload. `ctl` holds the write offset (the loop's) and the read offset (the thread's).

import { Worker } from 'node:worker_threads';

/** The ring's size: at 900 streams of 32 000 B/s, ~140 ms of audio. */
export const RING_BYTES = 4 * 1024 * 1024;
/** How often the thread reads the ring while files are open. */
export const POLL_MS = 10;
/** Audio the loop keeps while the ring is full (a stalled disk), all files together; past it a file fails. */
export const BACKLOG_MAX_BYTES = 64 * 1024 * 1024;
/** Largest payload of one record (a bigger write is split). */
export const MAX_RECORD_BYTES = 64 * 1024;

const HDR = 16;
const DATA = 1;
const OPEN = 2;
const FLUSH = 3;
const CLOSE = 4;
const WRAP = 5;
const HOLD = 6;
/** ctl: the loop's write offset, the thread's read offset. */
const W = 0;
const R = 1;

/** What the disk side tells a writer. */
export interface DiskClient {
  /** Every FLUSH or CLOSE up to `seq` is written (or failed, reported before by `failed`). */
  flushed(seq: number): void;
  /** A write failed, the backlog was full, or the thread was lost: later audio is dropped. */
  failed(err: Error): void;
}

// The thread's code. Plain CommonJS text, so it runs the same from src (tsx) and from a build. A
// file whose write failed has its later audio dropped, so it never gets audio after a gap; its
// flushes are still answered.
const THREAD_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const fs = require('node:fs');
const u8 = Buffer.from(workerData.ring);
const i32 = new Int32Array(workerData.ring);
const ctl = new Int32Array(workerData.ctl);
const RING = u8.length;
const files = new Map();
const size = Buffer.alloc(4);
let done = [];
let errors = [];
function writeAll(fd, buf, off, len, at) {
  while (len > 0) {
    const n = fs.writeSync(fd, buf, off, len, at);
    off += n; len -= n; at += n;
  }
}
function fail(f, err) {
  f.failed = true;
  f.used = 0;
  errors.push(f.writer, String(err.code || 'EIO'), String(err.message));
}
function flushFile(f) {
  if (f.failed || f.used === 0) return;
  try {
    writeAll(f.fd, f.buf, 0, f.used, 44 + f.dataBytes);
    f.dataBytes += f.used;
    f.used = 0;
    f.limit = f.buf.length;
    size.writeUInt32LE(36 + f.dataBytes, 0);
    writeAll(f.fd, size, 0, 4, 4);
    size.writeUInt32LE(f.dataBytes, 0);
    writeAll(f.fd, size, 0, 4, 40);
  } catch (err) {
    fail(f, err);
  }
}
for (;;) {
  const w = Atomics.load(ctl, ${W});
  let r = Atomics.load(ctl, ${R});
  while (r !== w) {
    const q = r >> 2;
    const kind = i32[q], writer = i32[q + 1], arg = i32[q + 2], len = i32[q + 3];
    if (kind === ${WRAP}) {
      r = 0;
      Atomics.store(ctl, ${R}, r);
      continue;
    }
    const p = r + ${HDR};
    const f = files.get(writer);
    if (kind === ${DATA}) {
      if (f && !f.failed) {
        for (let off = 0; off < len; ) {
          const n = Math.min(f.limit - f.used, len - off);
          u8.copy(f.buf, f.used, p + off, p + off + n);
          f.used += n;
          off += n;
          if (f.used === f.limit) flushFile(f);
        }
      }
    } else if (kind === ${OPEN}) {
      files.set(writer, { writer, fd: arg, buf: Buffer.allocUnsafeSlow(i32[p >> 2]), limit: i32[(p >> 2) + 1], used: 0, dataBytes: 0, failed: false });
    } else if (kind === ${FLUSH} || kind === ${CLOSE}) {
      if (f) flushFile(f);
      if (kind === ${CLOSE}) files.delete(writer);
      done.push(writer, arg);
    } else if (kind === ${HOLD}) {
      Atomics.wait(ctl, 2, 0, arg);
    }
    r = (p + ((len + 15) & ~15)) % RING;
    Atomics.store(ctl, ${R}, r);
  }
  if (done.length !== 0 || errors.length !== 0) {
    parentPort.postMessage({ done, errors });
    done = [];
    errors = [];
  }
  Atomics.wait(ctl, ${W}, w, files.size > 0 ? ${POLL_MS} : Infinity);
}
`;

let ringBytes = RING_BYTES;
let backlogMax = BACKLOG_MAX_BYTES;
let thread: Worker | null = null;
let u8: Buffer;
let i32: Int32Array;
let ctl: Int32Array;
/** The loop's write offset, and the thread's read offset as last seen. */
let w = 0;
let seenR = 0;
let nextWriterId = 1;
/** Writers with their OPEN in the current thread's ring, by id. */
const clients = new Map<number, DiskClient>();
/** FLUSH/CLOSE records not answered yet: the thread is held (ref'd) while there are any. */
let awaiting = 0;

interface Pending {
  kind: number;
  writer: number;
  arg: number;
  payload: Buffer | null;
}
/** Records that found the ring full, oldest first; everything after them queues behind them. */
let backlog: Pending[] = [];
let backlogHead = 0;
let backlogBytes = 0;
let backlogTimer: NodeJS.Timeout | null = null;

/** Counters for tests and benches. */
export const diskStats = { backlogged: 0 };

export function newWriterId(): number {
  return nextWriterId++;
}

/** Tests: a smaller ring or backlog limit (0: the defaults), with no file open; a new thread takes them. */
export function useRingForTests(bytes: number, backlogBytesMax = 0): void {
  if (clients.size > 0) throw new Error('useRingForTests: files are still open');
  ringBytes = bytes || RING_BYTES;
  backlogMax = backlogBytesMax || BACKLOG_MAX_BYTES;
  const t = thread;
  thread = null;
  void t?.terminate();
}

function startThread(): Worker {
  const ring = new SharedArrayBuffer(ringBytes);
  const ctlBuf = new SharedArrayBuffer(16);
  u8 = Buffer.from(ring);
  i32 = new Int32Array(ring);
  ctl = new Int32Array(ctlBuf);
  w = 0;
  seenR = 0;
  const t = new Worker(THREAD_SOURCE, { eval: true, execArgv: [], env: {}, name: 'callchart-wav-disk', workerData: { ring, ctl: ctlBuf } });
  t.on('message', answered);
  // A thread that dies (it should not: every write is caught) fails its files; the next file starts another.
  const lost = (err: Error) => {
    if (thread !== t) return;
    thread = null;
    if (awaiting > 0) t.unref();
    awaiting = 0;
    backlog = [];
    backlogHead = 0;
    backlogBytes = 0;
    const gone = [...clients.values()];
    clients.clear();
    for (const c of gone) {
      c.failed(err);
      c.flushed(Number.MAX_SAFE_INTEGER);
    }
  };
  t.on('error', lost);
  t.on('exit', (code) => lost(new Error(`WAV disk thread exited (code ${code})`)));
  // After the listeners: adding a 'message' listener refs the worker's port again.
  t.unref();
  return t;
}

function answered(m: { done: number[]; errors: Array<number | string> }): void {
  for (let i = 0; i < m.errors.length; i += 3) {
    const err: NodeJS.ErrnoException = new Error(m.errors[i + 2] as string);
    err.code = m.errors[i + 1] as string;
    clients.get(m.errors[i] as number)?.failed(err);
  }
  for (let i = 0; i < m.done.length; i += 2) {
    const c = clients.get(m.done[i]!);
    if (--awaiting === 0) thread?.unref();
    c?.flushed(m.done[i + 1]!);
  }
}

/**
 * Room for a record of `need` bytes (16-aligned) at the write offset, wrapping to the start when
 * the end is too short; -1 when the ring is full. The write offset never catches up with the read
 * offset: equal means empty.
 */
function reserve(need: number): number {
  for (let tries = 0; tries < 2; tries++) {
    const r = seenR;
    if (w >= r) {
      const tail = ringBytes - w;
      if (tail > need || (tail === need && r !== 0)) return w;
      if (r > need) {
        // The end is too short: a WRAP record there (it fits: offsets are 16-aligned), and start over.
        i32[w >> 2] = WRAP;
        w = 0;
        Atomics.store(ctl, W, 0);
        return 0;
      }
    } else if (r - w > need) {
      return w;
    }
    seenR = Atomics.load(ctl, R);
  }
  return -1;
}

/** Put one record in the ring; false when it is full. */
function put(kind: number, writer: number, arg: number, payload: Buffer | null, extra?: Int32Array): boolean {
  const len = payload ? payload.length : extra ? extra.length * 4 : 0;
  const need = HDR + ((len + 15) & ~15);
  const at = reserve(need);
  if (at < 0) return false;
  const q = at >> 2;
  i32[q] = kind;
  i32[q + 1] = writer;
  i32[q + 2] = arg;
  i32[q + 3] = len;
  if (payload) u8.set(payload, at + HDR);
  else if (extra) i32.set(extra, q + 4);
  w = (at + need) % ringBytes;
  Atomics.store(ctl, W, w);
  return true;
}

function queue(kind: number, writer: number, arg: number, payload: Buffer | null): void {
  backlog.push({ kind, writer, arg, payload });
  diskStats.backlogged++;
  if (kind === DATA) backlogBytes += payload!.length;
  backlogTimer ??= setTimeout(drainLater, POLL_MS);
}

function drainLater(): void {
  backlogTimer = null;
  if (drain()) Atomics.notify(ctl, W);
  else backlogTimer = setTimeout(drainLater, POLL_MS);
}

/** Move what waits into the ring, in order; true when nothing waits any more. */
function drain(): boolean {
  while (backlogHead < backlog.length) {
    const p = backlog[backlogHead]!;
    if (!put(p.kind, p.writer, p.arg, p.payload)) return false;
    if (p.kind === DATA) backlogBytes -= p.payload!.length;
    backlog[backlogHead++] = undefined as unknown as Pending;
  }
  backlog = [];
  backlogHead = 0;
  return true;
}

/** A control record (never dropped): into the ring, or behind what waits. */
function control(kind: number, writer: number, arg: number, extra?: Int32Array): void {
  if (backlogHead === backlog.length && put(kind, writer, arg, null, extra)) return;
  // OPEN's two numbers wait as bytes (the ring takes them as they are).
  queue(kind, writer, arg, extra ? Buffer.from(extra.buffer) : null);
}

/** A new file: the thread keeps a buffer of `size` bytes for it, the first one filled to `firstLimit`. */
export function openOnDisk(writer: number, client: DiskClient, fd: number, size: number, firstLimit: number): void {
  thread ??= startThread();
  clients.set(writer, client);
  control(OPEN, writer, fd, Int32Array.of(size, firstLimit));
  Atomics.notify(ctl, W);
}

/**
 * Hot path: one frame's bytes (at most MAX_RECORD_BYTES) for a file, copied into the ring. False
 * when the thread is behind by more than the backlog allows: the caller fails the file.
 */
export function appendAudio(writer: number, pcm: Buffer): boolean {
  if (backlogHead === backlog.length && put(DATA, writer, 0, pcm, undefined)) return true;
  if (!clients.has(writer)) return true; // the thread was lost: the writer already failed
  if (backlogBytes + pcm.length > backlogMax) return false;
  queue(DATA, writer, 0, Buffer.from(pcm));
  if (drain()) Atomics.notify(ctl, W);
  return true;
}

/** What a writer fails with when appendAudio refused its audio. */
export function behindError(): Error {
  return new Error(`the disk is behind by more than ${Math.round(backlogMax / 1024)} KiB of audio: the rest of this file is dropped`);
}

/**
 * Ask for everything of `writer` so far written (and, for `close`, the file forgotten); answered by
 * `flushed(seq)`. False when no answer will come: the thread was lost, and the writer failed with it.
 */
export function requestFlush(writer: number, seq: number, close: boolean): boolean {
  if (!thread || !clients.has(writer)) return false;
  if (awaiting++ === 0) thread.ref();
  control(close ? CLOSE : FLUSH, writer, seq);
  Atomics.notify(ctl, W);
  return true;
}

/** The last answer for a closed writer came: forget it. */
export function forgetWriter(writer: number): void {
  clients.delete(writer);
}

/** Tests: the thread sleeps `ms` when it reaches this point of the ring (a disk that stalls). */
export function holdDiskThread(ms: number): void {
  thread ??= startThread();
  control(HOLD, 0, ms);
  Atomics.notify(ctl, W);
}
