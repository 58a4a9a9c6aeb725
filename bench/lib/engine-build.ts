// Which build of the engine a bench server loads. Default: src/ through tsx (what `npm start` runs).
// BENCH_ENGINE_DIR=<dir>: a compiled build (`npx tsc -p tsconfig.build.json --outDir dist` →
// dist/src), what the package ships. The two differ in memory: tsx compiles with esbuild's
// keepNames, which wraps every named function expression in `__name()` (an Object.defineProperty),
// so each closure a call creates carries its own property array (~256 B) and costs a
// defineProperty when made — ~6 KiB more heap per live call on the inbound route.
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const SRC = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../src');
export const ENGINE_DIR = process.env.BENCH_ENGINE_DIR || SRC;
export const ENGINE_BUILD = ENGINE_DIR === SRC ? 'src via tsx' : ENGINE_DIR;

/** Import `rel` (e.g. 'engine.js') from the selected build, typed as the src module. */
export function loadEngineModule<T>(rel: string): Promise<T> {
  return import(path.join(ENGINE_DIR, rel)) as Promise<T>;
}
