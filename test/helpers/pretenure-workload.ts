// Child process for test/unit/v8-pretenuring.test.ts, run with --trace-pretenuring-statistics: a
// burst of long-lived objects from one allocation site (the set-up of many sessions), then short-
// lived ones from the same site (their frames). V8 prints a 'pretenuring:' line each time it
// digests allocation-site feedback; the marker line separates start-up from the workload.
if (process.argv[2] === 'engine' || process.argv[2] === 'engine-keep') {
  const { createEngine } = await import('../../src/index.js');
  createEngine({ v8Pretenuring: process.argv[2] === 'engine-keep' });
}
process.stdout.write('--- workload\n');

function frame(i: number) {
  return { seq: i, ts: i * 160, marker: null as unknown, payload: [i] };
}

const keep: unknown[] = [];
for (let round = 0; round < 3; round++) {
  for (let i = 0; i < 200_000; i++) keep.push(frame(i));
  await new Promise((r) => setImmediate(r));
}
keep.length = 0;
const ring: unknown[] = new Array(1024).fill(null);
for (let i = 0; i < 3_000_000; i++) ring[i & 1023] = frame(i);
process.stdout.write('--- done\n');
