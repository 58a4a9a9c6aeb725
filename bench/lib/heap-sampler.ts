// Allocation sampling over a bench window, for finding what a path keeps alive: V8's sampling heap
// profiler, asked to keep samples of objects a mark-compact later freed but to drop those a
// scavenge freed — so the profile holds what survived the young generation (promoted or still
// live; a scavenge just before the profile is read drops the young garbage), with the stack that
// allocated it. Written as a .heapprofile (Chrome DevTools format).
// Enabled by BENCH_HEAP_SAMPLE=<dir> in the bench server processes.
import { Session } from 'node:inspector';
import { writeFileSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import v8 from 'node:v8';
import vm from 'node:vm';

export const HEAP_SAMPLE_DIR = process.env.BENCH_HEAP_SAMPLE;

/** `survivors`: what outlived the young generation; `all`: every allocation (where the bytes per frame go). */
export type SampleKind = 'survivors' | 'all';

export class HeapSampler {
  private session: Session | undefined;

  private post<T>(method: string, params?: object): Promise<T> {
    return new Promise((resolve, reject) => this.session!.post(method, params ?? {}, (err, res) => (err ? reject(err) : resolve(res as T))));
  }

  constructor(private readonly kind: SampleKind = 'survivors') {}

  async start(intervalBytes = 1024): Promise<void> {
    if (!HEAP_SAMPLE_DIR) return;
    const all = this.kind === 'all';
    this.session ??= new Session();
    this.session.connect();
    await this.post('HeapProfiler.enable');
    await this.post('HeapProfiler.startSampling', { samplingInterval: intervalBytes, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: all });
  }

  /** Stop and write the profile as `<dir>/<name>.heapprofile`; returns its path. */
  async stop(name: string): Promise<string | undefined> {
    if (!HEAP_SAMPLE_DIR || !this.session) return undefined;
    // Young garbage not scavenged yet would otherwise count as surviving: scavenge it first.
    if (this.kind === 'survivors') minorGc();
    const { profile } = await this.post<{ profile: unknown }>('HeapProfiler.stopSampling');
    this.session.disconnect();
    this.session = undefined;
    mkdirSync(HEAP_SAMPLE_DIR, { recursive: true });
    const file = path.join(HEAP_SAMPLE_DIR, `${name}.heapprofile`);
    writeFileSync(file, JSON.stringify(profile));
    return file;
  }
}

let gcFn: ((o?: { type: 'minor' | 'major' }) => void) | undefined;
/** A scavenge now, without the process having been started with --expose-gc. */
function minorGc(): void {
  if (!gcFn) {
    v8.setFlagsFromString('--expose-gc');
    gcFn = vm.runInNewContext('gc') as typeof gcFn;
  }
  gcFn!({ type: 'minor' });
}
