// Whole-machine CPU use from /proc/stat (Linux), so a bench can tell its own load from other
// processes on a shared box. Elsewhere every function degrades to "unknown".
import { readFileSync } from 'node:fs';
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

/**
 * CPU ms this process's main thread has used (Linux: /proc/self/task/<pid>/stat, 10 ms ticks),
 * NaN elsewhere. process.cpuUsage() counts every thread: with the WAV disk thread the two differ.
 */
export function mainThreadCpuMs(): number {
  try {
    const stat = readFileSync(`/proc/self/task/${process.pid}/stat`, 'utf8');
    // After the command's ")": state is field 3, utime 14, stime 15.
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) * 10;
  } catch {
    return NaN;
  }
}
