// A V8 CPU profile of this process per measured window, written as a .cpuprofile (Chrome DevTools
// format) into a directory when one is given (MEDIA_BENCH_PROFILE in the media bench).
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Session } from 'node:inspector/promises';

/** start: true begins a profile, false ends it and writes `<prefix>-<pid>.cpuprofile`; false when off. */
export function cpuProfiler(dir: string | undefined, prefix: string): (args: { start: boolean }) => Promise<boolean> {
  let profiler: Session | null = null;
  return async ({ start }) => {
    if (!dir) return false;
    if (start) {
      const { Session } = await import('node:inspector/promises');
      profiler = new Session();
      profiler.connect();
      await profiler.post('Profiler.enable');
      await profiler.post('Profiler.start');
    } else if (profiler) {
      const { profile } = (await profiler.post('Profiler.stop')) as { profile: unknown };
      mkdirSync(dir, { recursive: true });
      writeFileSync(path.join(dir, `${prefix}-${process.pid}.cpuprofile`), JSON.stringify(profile));
      profiler.disconnect();
      profiler = null;
    }
    return true;
  };
}
