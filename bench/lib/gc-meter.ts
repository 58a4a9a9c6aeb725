// Garbage-collector figures for a bench's server process over a measurement window: scavenge
// count and pauses, and the bytes each scavenge promoted to old space. Timing figures on a shared
// box are noisy; these are not — a path that starts keeping frames alive across two scavenges shows
// up as promoted bytes per 10 k frames whatever the box is doing.
//
// v8.GCProfiler records the heap-space statistics before and after every GC, so the promoted
// bytes of a scavenge are exact (old space after minus before), not inferred from async samples.
// BENCH_GC=0 turns the meter off (the benches then print '-' in its columns).
import v8 from 'node:v8';

export const GC_METER_ON = process.env.BENCH_GC !== '0';

export interface GcWindow {
  /** Wall time the meter ran, ms. */
  ms: number;
  scavenges: number;
  /** Scavenge pauses (main-thread cost as V8 reports it), ms. */
  scavengeMeanMs: number;
  scavengeMaxMs: number;
  /**
   * Bytes scavenges moved into old space (plus large objects they promoted). Exact in a window
   * without major GCs; with them, old space is being swept while scavenges run and this is a lower
   * bound (the tables mark it with '≥').
   */
  promotedBytes: number;
  /** Bytes allocated on the JS heap between GCs (young and old), over the window. */
  allocatedBytes: number;
  /** Mark-compact (and incremental-marking) GCs and their summed pause, ms. */
  majors: number;
  majorMs: number;
}

interface SpaceStat {
  spaceName: string;
  spaceUsedSize: number;
}
interface HeapSide {
  heapStatistics: { usedHeapSize: number };
  heapSpaceStatistics: SpaceStat[];
}
interface GcEntry {
  gcType: string;
  cost: number;
  beforeGC: HeapSide;
  afterGC: HeapSide;
}

const used = (side: HeapSide, name: string) => side.heapSpaceStatistics.find((s) => s.spaceName === name)?.spaceUsedSize ?? 0;
const oldBytes = (side: HeapSide) => used(side, 'old_space') + used(side, 'large_object_space');

/** Summarise GCProfiler entries recorded over `ms`; `startUsed`/`endUsed`: heapUsed when recording began/ended. */
export function summarise(entries: readonly GcEntry[], ms: number, startUsed: number, endUsed: number): GcWindow {
  const w: GcWindow = { ms, scavenges: 0, scavengeMeanMs: 0, scavengeMaxMs: 0, promotedBytes: 0, allocatedBytes: 0, majors: 0, majorMs: 0 };
  let lastAfter = startUsed;
  let scavMs = 0;
  for (const e of entries) {
    const before = e.beforeGC.heapStatistics.usedHeapSize;
    w.allocatedBytes += Math.max(0, before - lastAfter);
    lastAfter = e.afterGC.heapStatistics.usedHeapSize;
    const pause = e.cost / 1000;
    if (e.gcType === 'Scavenge' || e.gcType === 'MinorMarkCompact' || e.gcType === 'MinorMarkSweep') {
      w.scavenges++;
      scavMs += pause;
      w.scavengeMaxMs = Math.max(w.scavengeMaxMs, pause);
      w.promotedBytes += Math.max(0, oldBytes(e.afterGC) - oldBytes(e.beforeGC));
    } else if (e.gcType === 'MarkSweepCompact' || e.gcType === 'IncrementalMarking') {
      w.majors++;
      w.majorMs += pause;
    }
  }
  w.allocatedBytes += Math.max(0, endUsed - lastAfter);
  w.scavengeMeanMs = w.scavenges ? scavMs / w.scavenges : 0;
  return w;
}

/** Start/stop around a window, in the process being measured (one window at a time). */
export class GcMeter {
  private profiler: v8.GCProfiler | undefined;
  private t0 = 0;
  private used0 = 0;

  start(): void {
    if (!GC_METER_ON) return;
    this.profiler?.stop();
    this.profiler = new v8.GCProfiler();
    this.t0 = performance.now();
    this.used0 = process.memoryUsage().heapUsed;
    this.profiler.start();
  }

  /** The window's figures (undefined when the meter is off or was not started). */
  stop(): GcWindow | undefined {
    const p = this.profiler;
    if (!p) return undefined;
    this.profiler = undefined;
    const endUsed = process.memoryUsage().heapUsed;
    const data = p.stop() as unknown as { statistics: GcEntry[] };
    return summarise(data.statistics, performance.now() - this.t0, this.used0, endUsed);
  }
}

/** Bench table columns for a window that handled `frames` frames. */
export const GC_COLUMNS = ['scavenges /10k fr', 'scav mean/max ms', 'promoted KiB /10k fr', 'alloc B/frame', 'major GCs'] as const;

export function gcCells(w: GcWindow | undefined, frames: number): Array<string | number> {
  if (!w || frames <= 0) return GC_COLUMNS.map(() => '-');
  const per10k = 10_000 / frames;
  return [
    (w.scavenges * per10k).toFixed(2),
    `${w.scavengeMeanMs.toFixed(2)} / ${w.scavengeMaxMs.toFixed(2)}`,
    `${w.majors ? '≥ ' : ''}${((w.promotedBytes * per10k) / 1024).toFixed(1)}`,
    Math.round(w.allocatedBytes / frames),
    w.majors ? `${w.majors} (${w.majorMs.toFixed(1)} ms)` : '0',
  ];
}

/** One line for progress output. */
export function gcLine(w: GcWindow | undefined, frames: number): string {
  if (!w || frames <= 0) return '';
  const [sc, pause, prom, alloc] = gcCells(w, frames);
  return `gc: ${sc} scavenges/10k fr (${pause} ms), promoted ${prom} KiB/10k fr, ${alloc} B/frame allocated, ${w.majors} major`;
}

/** One measured window of one server, for the side-by-side GC table. */
export interface GcStep {
  server: string;
  /** Calls or sessions live in the window. */
  load: number;
  frames: number;
  window: GcWindow | undefined;
}

/**
 * The GC figures of every measured window, the servers side by side per load step: scavenges,
 * mean/max scavenge pause and promoted bytes per 10 k frames (the numbers a regression moves).
 */
export function gcSummaryRows(steps: readonly GcStep[]): Array<Array<string | number>> {
  return steps
    .filter((s) => s.window)
    .sort((a, b) => a.load - b.load || a.server.localeCompare(b.server))
    .map((s) => {
      const w = s.window!;
      const per10k = 10_000 / Math.max(1, s.frames);
      return [
        s.load,
        s.server,
        s.frames,
        (w.scavenges * per10k).toFixed(2),
        w.scavengeMeanMs.toFixed(2),
        w.scavengeMaxMs.toFixed(2),
        `${w.majors ? '≥ ' : ''}${((w.promotedBytes * per10k) / 1024).toFixed(1)}`,
        Math.round(w.allocatedBytes / Math.max(1, s.frames)),
        w.majors ? `${w.majors} (${w.majorMs.toFixed(1)} ms)` : '0',
      ];
    });
}

export const GC_SUMMARY_HEADERS = ['load', 'server', 'frames', 'scavenges /10k fr', 'scav mean ms', 'scav max ms', 'promoted KiB /10k fr', 'alloc B/frame', 'major GCs'];
