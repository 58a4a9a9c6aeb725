// Whole-machine CPU use from /proc/stat (Linux), so a bench can tell its own load from other
// processes on a shared box. Elsewhere every function degrades to "unknown".
import { readFileSync, readdirSync } from 'node:fs';
import os from 'node:os';

export interface CpuTicks {
  busy: number;
  total: number;
}

export function readCpuTicks(): CpuTicks | undefined {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!;
    const f = line.trim().split(/\s+/).slice(1).map(Number);
    // user nice system idle iowait irq softirq steal
    const idle = (f[3] ?? 0) + (f[4] ?? 0);
    const total = f.slice(0, 8).reduce((a, b) => a + b, 0);
    return { busy: total - idle, total };
  } catch {
    return undefined;
  }
}

/** Cores busy between two readings (0 … cpu count), NaN when unknown. */
export function busyCores(a: CpuTicks | undefined, b: CpuTicks | undefined): number {
  if (!a || !b || b.total === a.total) return NaN;
  return ((b.busy - a.busy) / (b.total - a.total)) * os.cpus().length;
}

/**
 * Wait (up to maxWaitMs) until the box is quiet: less than `threshold` cores busy over a 500 ms
 * sample. Returns the last sample (NaN when unknown).
 */
export async function waitQuiet(threshold: number, maxWaitMs: number): Promise<number> {
  const deadline = performance.now() + maxWaitMs;
  for (;;) {
    const a = readCpuTicks();
    await new Promise((r) => setTimeout(r, 500));
    const cores = busyCores(a, readCpuTicks());
    if (!(cores >= threshold) || performance.now() >= deadline) return cores;
  }
}

/** A thread's user and kernel CPU ms from its /proc stat line (10 ms ticks). */
function threadTimes(tid: number | string): { user: number; sys: number } {
  const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
  // After the command's ")": state is field 3, utime 14, stime 15.
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { user: Number(f[11]) * 10, sys: Number(f[12]) * 10 };
}

/**
 * CPU ms this process's main thread has used (Linux: /proc/self/task/<pid>/stat, 10 ms ticks),
 * NaN elsewhere. process.cpuUsage() counts every thread: with the WAV disk thread the two differ.
 */
export function mainThreadCpuMs(): number {
  try {
    const t = threadTimes(process.pid);
    return t.user + t.sys;
  } catch {
    return NaN;
  }
}

/** CPU ms so far (user and kernel) of the main thread and of all the process's other threads together. */
export interface ThreadSplit {
  mainUser: number;
  mainSys: number;
  otherUser: number;
  otherSys: number;
}

/** This process's CPU split by thread (Linux, 10 ms ticks); all NaN elsewhere. */
export function threadSplitMs(): ThreadSplit {
  const t: ThreadSplit = { mainUser: 0, mainSys: 0, otherUser: 0, otherSys: 0 };
  let tids: string[];
  try {
    tids = readdirSync('/proc/self/task');
  } catch {
    return { mainUser: NaN, mainSys: NaN, otherUser: NaN, otherSys: NaN };
  }
  for (const tid of tids) {
    let x: { user: number; sys: number };
    try {
      x = threadTimes(tid);
    } catch {
      continue; // the thread ended meanwhile
    }
    if (Number(tid) === process.pid) {
      t.mainUser += x.user;
      t.mainSys += x.sys;
    } else {
      t.otherUser += x.user;
      t.otherSys += x.sys;
    }
  }
  return t;
}
