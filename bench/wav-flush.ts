// What a recorded audio frame costs: N `PcmWavWriter`s (the jambonz audio route's WAV files) fed
// 640 bytes (20 ms of 16 kHz L16) every 20 ms in this process, no socket, against the same loop
// without writers, in one run, rounds interleaved:
//
//   npx tsx bench/wav-flush.ts        (WAV_FLUSH_WRITERS, WAV_FLUSH_SECONDS, WAV_FLUSH_ROUNDS, WAV_FLUSH_GROUPS=20,
//                                      WAV_FLUSH_SIZES=8000,32000,128000, WAV_FLUSH_DIRS=/tmp,/dev/shm)
//
// Process CPU (user + kernel, all threads: the loop's copy into the ring, and the disk thread's
// gathering and writes) per frame over the window, after 2 s of warm-up, and its split between the
// main thread and the others (the disk thread, and GC's helpers in every case) from /proc. Each size is run on each directory (ext4 and tmpfs
// here), so a cost that is the disk's and one that is each flush's own show apart. After each
// window 16 of the files, spread over the writers, are read back frame by frame: a writer that
// dropped or reordered audio fails the run.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { PcmWavWriter } from '../src/media/codecs/wav.js';
import { printTable, progress, type Cell, median } from './table.js';
import { threadSplitMs, type ThreadSplit } from './lib/box-load.js';
import { createLogger } from '../src/logger.js';

/** Errors to stderr: a file whose writes failed, or whose audio the disk thread fell too far behind on, should say so. */
const logger = createLogger('warn', process.stderr);

const WRITERS = Number(process.env.WAV_FLUSH_WRITERS ?? 800);
const SECONDS = Number(process.env.WAV_FLUSH_SECONDS ?? 8);
const ROUNDS = Number(process.env.WAV_FLUSH_ROUNDS ?? 3);
const SIZES = (process.env.WAV_FLUSH_SIZES ?? '8000,32000,128000').split(',').map(Number);
const DIRS = (process.env.WAV_FLUSH_DIRS ?? '/tmp,/dev/shm').split(',');
const FRAME_BYTES = 640;
const WARMUP_TICKS = 100;
/** WAV_FLUSH_GROUPS: timers the writers are spread over (1: every writer in one callback, as before stop 52). */
const GROUPS = Number(process.env.WAV_FLUSH_GROUPS ?? 20);

interface Case {
  label: string;
  dir: string | null;
  flushBytes: number;
}

/** One window: µs of process CPU per frame, user and kernel. */
interface Window {
  user: number;
  system: number;
  /** µs per frame: main thread user, kernel; other threads user, kernel. */
  split: [number, number, number, number];
}

async function run(c: Case): Promise<Window> {
  const dir = c.dir ? mkdtempSync(path.join(c.dir, 'wav-flush-')) : null;
  try {
    const writers = dir
      ? await Promise.all(Array.from({ length: WRITERS }, (_, i) => PcmWavWriter.create(path.join(dir, `${i}.wav`), { sampleRate: 16000, channels: 1, flushBytes: c.flushBytes, logger })))
      : [];
    // Each frame's bytes name its writer and tick, so the read-back can check order.
    const frame = Buffer.alloc(FRAME_BYTES);
    let sink = 0;
    let from: NodeJS.CpuUsage | undefined;
    let threadsFrom: ThreadSplit | undefined;
    const ticks = WARMUP_TICKS + SECONDS * 50;
    // The writers are split into GROUPS, each fed on its own 20 ms timer, the timers spread over
    // the 20 ms: a server's frames arrive over the whole tick, in many turns of its event loop,
    // not all in one callback.
    await new Promise<void>((resolve) => {
      let running = GROUPS;
      for (let g = 0; g < GROUPS; g++) {
        const first = Math.floor((g * WRITERS) / GROUPS);
        const end = Math.floor(((g + 1) * WRITERS) / GROUPS);
        setTimeout(() => {
          let tick = 0;
          const timer = setInterval(() => {
            for (let i = first; i < end; i++) {
              frame.writeUInt32LE(i, 0);
              frame.writeUInt32LE(tick, 4);
              if (dir) writers[i]!.write(frame);
              else sink += frame[i & 63]!;
            }
            if (++tick === WARMUP_TICKS && g === 0) {
              from = process.cpuUsage();
              threadsFrom = threadSplitMs();
            }
            if (tick === ticks) {
              clearInterval(timer);
              if (--running === 0) resolve();
            }
          }, 20);
        }, (g * 20) / GROUPS);
      }
    });
    const used = process.cpuUsage(from);
    const threads = threadSplitMs();
    await Promise.all(writers.map((w) => w.close()));
    for (let i = 0; i < writers.length; i += Math.max(1, Math.floor(writers.length / 16))) {
      const bytes = readFileSync(writers[i]!.path);
      if (bytes.readUInt32LE(40) !== ticks * FRAME_BYTES) throw new Error(`${c.label}: file ${i} holds ${bytes.readUInt32LE(40)} bytes, not ${ticks * FRAME_BYTES}`);
      for (let t = 0; t < ticks; t++) {
        const at = 44 + t * FRAME_BYTES;
        if (bytes.readUInt32LE(at) !== i || bytes.readUInt32LE(at + 4) !== t) throw new Error(`${c.label}: file ${i}, frame ${t} is not in its place`);
      }
    }
    void sink;
    const frames = WRITERS * SECONDS * 50;
    const per = (ms: number) => (ms * 1000) / frames;
    const a = threadsFrom!;
    return {
      user: used.user / frames,
      system: used.system / frames,
      split: [per(threads.mainUser - a.mainUser), per(threads.mainSys - a.mainSys), per(threads.otherUser - a.otherUser), per(threads.otherSys - a.otherSys)],
    };
  } finally {
    if (dir) rmSync(dir, { recursive: true, force: true });
  }
}

const cases: Case[] = [{ label: 'the loop without writers (peer)', dir: null, flushBytes: 0 }];
for (const dir of DIRS) for (const flushBytes of SIZES) cases.push({ label: `${dir}, ${flushBytes} B flushes`, dir, flushBytes });

const results = new Map<string, Window[]>();
for (let r = 1; r <= ROUNDS; r++) {
  for (const c of cases) {
    const w = await run(c);
    const [mu, ms, ou, os] = w.split;
    progress(
      `round ${r}/${ROUNDS} ${c.label}: ${w.user.toFixed(2)} user + ${w.system.toFixed(2)} kernel = ${(w.user + w.system).toFixed(2)} µs per frame ` +
        `(main thread ${mu.toFixed(2)} + ${ms.toFixed(2)}, other threads ${ou.toFixed(2)} + ${os.toFixed(2)})`,
    );
    const list = results.get(c.label) ?? [];
    list.push(w);
    results.set(c.label, list);
  }
}

const rows: Cell[][] = cases.map((c) => {
  const ws = results.get(c.label)!;
  const xs = ws.map((w) => w.user + w.system);
  const split = [0, 1, 2, 3].map((k) => median(ws.map((w) => w.split[k]!)));
  return [c.label, median(xs), ...split, xs.map((x) => x.toFixed(2)).join(', ')];
});
printTable(
  `WAV recording: process CPU per 640-byte frame, ${WRITERS} files written at 50 frames/s each (${GROUPS} timers), ${SECONDS} s windows, ${ROUNDS} rounds; the split by thread is read from /proc in 10 ms ticks`,
  ['case', 'median µs per frame', 'main thread user', 'main thread kernel', 'other threads user', 'other threads kernel', 'each round (total)'],
  rows,
);
