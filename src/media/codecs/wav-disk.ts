// The disk side of streaming WAV recording. A flush (a full staging buffer, then the header's two
// sizes) is written with positioned synchronous writes on the event loop while the disk keeps up,
// and on one worker thread for a minute after one write, or one second of writes, was slow.
//
// Why not fs's callback API: each flush was two jobs handed to libuv's pool and two completions
// back on the loop, and on this 2-vCPU VM the hand-overs cost more than the writes. In the jambonz
// audio bench at 720 recorded streams (docs/architecture.md, stop 52; two A/B runs minutes
// apart), process CPU per frame read 19.6–21.1 µs with the pool, 19.6–23.2 with every flush
// handed to a worker thread, and 16.0–18.5 with the writes on the loop, about what the route costs
// without files. A write to the page cache takes tens of µs; what a synchronous write risks is a
// disk that stalls (writeback throttling, network storage), which would stall every call. So each
// write on the loop is timed, and one slower than SLOW_WRITE_MS, or writes adding up to more than
// WRITE_BUDGET_MS in a second, send every flush to the thread for THREAD_HOLD_MS: the loop pays
// for one slow write (or one slow second) a minute, not for each. On the thread the
// flushes of THREAD_BATCH_MS go in one message, are written in order, and answered once per
// batch: a server's frames arrive over many turns of its loop, and posting each turn's flushes
// sent nearly every flush as a message of its own (stop 52). One thread also keeps the recording
// to one core. Staging buffers live in
// SharedArrayBuffers, so a batch carries numbers only: each buffer is sent to the thread once,
// when first used there, and returns to a pool here when written.

import fs from 'node:fs';
import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';
import { Worker } from 'node:worker_threads';

/** A staging buffer the disk thread can read. `gen` is the thread it was last sent to. */
export interface Staging {
  readonly id: number;
  readonly buf: Buffer;
  gen: number;
}

/** One flush: bytes `buf[0, len)` of a staging buffer to `at`, then the header's two sizes. */
export interface DiskJob {
  readonly path: string;
  readonly logger: Logger | undefined;
  /** The writer, unique for the process's life (never reused, unlike a descriptor). */
  readonly writer: number;
  readonly fd: number;
  readonly staging: Staging;
  readonly len: number;
  readonly at: number;
  /** The data size the header states once this job is written. */
  readonly dataBytes: number;
  /** Called once, on the event loop, when the job was written (null) or failed. */
  readonly done: (err: Error | null) => void;
}

/** Numbers per job in a batch: writer, fd, staging id, len, at, dataBytes. */
const FIELDS = 6;

// The thread's code. Plain CommonJS text, so it runs the same from src (tsx) and from a build, with
// no loader of its own. A writer whose write failed has its later jobs refused, so a file never
// gets audio after a gap.
const THREAD_SOURCE = `
const { parentPort } = require('node:worker_threads');
const fs = require('node:fs');
const buffers = new Map();
const failed = new Set();
const size = Buffer.alloc(4);
function writeAll(fd, buf, off, len, at) {
  while (len > 0) {
    const n = fs.writeSync(fd, buf, off, len, at);
    off += n; len -= n; at += n;
  }
}
parentPort.on('message', (m) => {
  for (let i = 0; i < m.add.length; i += 2) buffers.set(m.add[i], Buffer.from(m.add[i + 1]));
  for (const id of m.forget) buffers.delete(id);
  for (const w of m.closed) failed.delete(w);
  const j = m.jobs;
  const errors = [];
  for (let k = 0, i = 0; k < j.length; k += ${FIELDS}, i++) {
    const writer = j[k], fd = j[k + 1], len = j[k + 3], at = j[k + 4], dataBytes = j[k + 5];
    if (failed.has(writer)) { errors.push(i, 'ECANCELED', 'an earlier write of this file failed'); continue; }
    try {
      writeAll(fd, buffers.get(j[k + 2]), 0, len, at);
      size.writeUInt32LE(36 + dataBytes, 0);
      writeAll(fd, size, 0, 4, 4);
      size.writeUInt32LE(dataBytes, 0);
      writeAll(fd, size, 0, 4, 40);
    } catch (err) {
      failed.add(writer);
      errors.push(i, String(err.code || 'EIO'), String(err.message));
    }
  }
  parentPort.postMessage({ count: j.length / ${FIELDS}, errors });
});
`;

interface Batch {
  add: Array<number | SharedArrayBuffer>;
  forget: number[];
  closed: number[];
  jobs: Float64Array;
}

/** Staging buffers of written jobs, by size; capped, the rest forgotten (here and in the thread). */
const POOL_MAX = 64;
const pool = new Map<number, Staging[]>();
let nextStagingId = 1;
let nextWriterId = 1;

let thread: Worker | null = null;
/** Bumped per thread started: a staging buffer last sent to an older thread is sent again. */
let gen = 0;
/** Jobs posted and not answered yet, in order (the thread answers in order). */
const inFlight: DiskJob[] = [];
let inFlightHead = 0;
/** Jobs queued for the thread since the last post, posted together THREAD_BATCH_MS after the first. */
let pending: DiskJob[] = [];
let add: Array<number | SharedArrayBuffer> = [];
let forget: number[] = [];
let closed: number[] = [];
let posting = false;

export function newWriterId(): number {
  return nextWriterId++;
}

export function takeStaging(size: number): Staging {
  return pool.get(size)?.pop() ?? { id: nextStagingId++, buf: Buffer.from(new SharedArrayBuffer(size)), gen: 0 };
}

export function giveStaging(s: Staging): void {
  let free = pool.get(s.buf.length);
  if (!free) pool.set(s.buf.length, (free = []));
  if (free.length < POOL_MAX) free.push(s);
  else if (s.gen === gen && thread) forget.push(s.id);
}

/** A failed writer is closed: the thread forgets it (sent with the next batch). */
export function writerClosed(writer: number): void {
  closed.push(writer);
}

/**
 * A write on the event loop slower than this sends the flushes to the thread at once. Not lower: on
 * a busy box the loop's thread is preempted in the middle of a write now and then, and at 10 ms
 * that alone moved 900 streams' flushes to the thread within seconds (stop 52).
 */
export const SLOW_WRITE_MS = 100;
/** So do writes on the loop that add up to more than this in one second (a disk slow on every write). */
export const WRITE_BUDGET_MS = 250;
/** How long they stay there after a slow write. */
export const THREAD_HOLD_MS = 60_000;
/** Until when (performance.now()) flushes go to the thread. */
let threadUntil = 0;
/** Time spent in writes on the loop since `secondStart`. */
let secondStart = 0;
let secondSpent = 0;

/**
 * Send every flush to the disk thread for the next `ms`, and start a new one-second budget (tests:
 * a budget begun by an earlier test could end in the middle of the next one's writes).
 */
export function useDiskThreadFor(ms: number): void {
  const now = performance.now();
  threadUntil = now + ms;
  secondStart = now;
  secondSpent = 0;
}

const sizeBytes = Buffer.alloc(4);

/** fs.writeSync until every byte is written (a short write resumes where it stopped). */
function writeAllSync(fd: number, buf: Buffer, len: number, at: number): void {
  let off = 0;
  while (off < len) off += fs.writeSync(fd, buf, off, len - off, at + off);
}

/**
 * Write a flush. `alone`: the writer has nothing in flight on the thread, so writing now cannot put
 * its header's sizes behind an older patch. `done` is called before this returns when written here.
 */
export function writeToDisk(job: DiskJob, alone: boolean): void {
  const start = performance.now();
  if (!alone || start < threadUntil) return queueForThread(job);
  let err: Error | null = null;
  try {
    writeAllSync(job.fd, job.staging.buf, job.len, job.at);
    sizeBytes.writeUInt32LE(36 + job.dataBytes, 0);
    writeAllSync(job.fd, sizeBytes, 4, 4);
    sizeBytes.writeUInt32LE(job.dataBytes, 0);
    writeAllSync(job.fd, sizeBytes, 4, 40);
  } catch (e) {
    err = e as Error;
  }
  const took = performance.now() - start;
  if (start - secondStart >= 1000) {
    secondStart = start;
    secondSpent = 0;
  }
  secondSpent += took;
  if (took > SLOW_WRITE_MS || secondSpent > WRITE_BUDGET_MS) {
    threadUntil = start + took + THREAD_HOLD_MS;
    job.logger?.warn(
      { path: job.path, ms: Math.round(took), msInSecond: Math.round(secondSpent) },
      `WAV writes on the event loop took too long (one over ${SLOW_WRITE_MS} ms, or over ${WRITE_BUDGET_MS} ms in a second): they go to the disk thread for ${THREAD_HOLD_MS / 1000} s`,
    );
    secondSpent = 0;
  }
  job.done(err);
}

/**
 * How long flushes for the thread wait to be posted together. A recording loses nothing by it (its
 * audio is in memory either way), and at 900 streams it makes ~18 flushes a message, not one.
 */
export const THREAD_BATCH_MS = 20;
/** Batches and jobs posted to the thread so far (tests). */
export const threadPosts = { batches: 0, jobs: 0 };

/** Queue a flush for the disk thread (posted with the others of the next THREAD_BATCH_MS). */
function queueForThread(job: DiskJob): void {
  pending.push(job);
  if (!posting) {
    posting = true;
    // Not unref'd: a process does not exit with audio still to hand over.
    setTimeout(post, THREAD_BATCH_MS);
  }
}

function startThread(): Worker {
  const t = new Worker(THREAD_SOURCE, { eval: true, execArgv: [], env: {}, name: 'callchart-wav-disk' });
  gen++;
  t.on('message', answered);
  // A thread that dies (it should not: every write is caught) fails what it held; the next flush starts another.
  const lost = (err: Error) => {
    if (thread !== t) return;
    thread = null;
    const jobs = inFlight.splice(inFlightHead);
    inFlight.length = 0;
    inFlightHead = 0;
    for (const job of jobs) job.done(err);
  };
  t.on('error', lost);
  t.on('exit', (code) => lost(new Error(`WAV disk thread exited (code ${code})`)));
  return t;
}

function post(): void {
  posting = false;
  const jobs = pending;
  pending = [];
  if (jobs.length === 0) return;
  const t = (thread ??= startThread());
  const numbers = new Float64Array(jobs.length * FIELDS);
  for (let i = 0; i < jobs.length; i++) {
    const job = jobs[i]!;
    const s = job.staging;
    if (s.gen !== gen) {
      s.gen = gen;
      add.push(s.id, s.buf.buffer as SharedArrayBuffer);
    }
    const k = i * FIELDS;
    numbers[k] = job.writer;
    numbers[k + 1] = job.fd;
    numbers[k + 2] = s.id;
    numbers[k + 3] = job.len;
    numbers[k + 4] = job.at;
    numbers[k + 5] = job.dataBytes;
    inFlight.push(job);
  }
  const batch: Batch = { add, forget, closed, jobs: numbers };
  threadPosts.batches++;
  threadPosts.jobs += jobs.length;
  add = [];
  forget = [];
  closed = [];
  // Held while it has work, so a process does not exit with audio still to write.
  if (inFlight.length - inFlightHead === jobs.length) t.ref();
  t.postMessage(batch);
}

function answered(m: { count: number; errors: Array<number | string> }): void {
  const first = inFlightHead;
  inFlightHead += m.count;
  const failures = new Map<number, Error>();
  for (let i = 0; i < m.errors.length; i += 3) {
    const err: NodeJS.ErrnoException = new Error(m.errors[i + 2] as string);
    err.code = m.errors[i + 1] as string;
    failures.set(m.errors[i] as number, err);
  }
  const jobs = inFlight.slice(first, inFlightHead);
  if (inFlightHead === inFlight.length) {
    inFlight.length = 0;
    inFlightHead = 0;
    thread?.unref();
  } else if (inFlightHead > 1024) {
    inFlight.splice(0, inFlightHead);
    inFlightHead = 0;
  }
  for (let i = 0; i < jobs.length; i++) jobs[i]!.done(failures.get(i) ?? null);
}
