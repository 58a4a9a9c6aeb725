// V8's allocation-site pretenuring, turned off for the process by createEngine (option
// `v8Pretenuring: true` keeps it). Why (docs/architecture.md, "Pretenuring"): V8 watches each
// allocation site (an object literal, an array literal, a `new`) and, when nearly everything a site
// made survived a scavenge, allocates that site's objects straight in old space from then on. A
// burst of set-ups (hundreds of WebSocket audio streams or calls arriving together) makes exactly
// that happen at per-frame sites (ws's receiver, XState's snapshot clone, our frame handlers): their
// first objects live as long as the set-up. The decision is per site and sticky, so after one burst
// every frame's short-lived objects land in old space: measured ~280 B per frame and a
// mark-compact every few seconds where the young generation would have freed them for nothing.
import v8 from 'node:v8';

let applied = false;

/** Turn the process's pretenuring off (once); true when this call did it. */
export function disablePretenuring(): boolean {
  if (applied) return false;
  applied = true;
  // Read by V8 when it digests allocation-site feedback at each scavenge, so setting it after
  // start-up takes effect for every site not yet tenured.
  v8.setFlagsFromString('--no-allocation-site-pretenuring');
  return true;
}
