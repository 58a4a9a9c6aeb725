// HTTP fuzz against `callchart serve` in a child process: every path the WebSocket port serves
// (GET /status, GET /rooms, the WebSocket paths as plain HTTP, unknown ones) with hostile methods,
// headers and JSON bodies (deep nesting, huge, wrong types), and raw mutated request bytes over TCP
// (broken request lines, bad Content-Length, chunked garbage, half upgrades). After each batch the
// engine must be alive and serving, every request must have been answered or closed (none left
// hanging), and nothing fatal or uncaught may be logged.
// Fixed seed and count; FUZZ_SEED / FUZZ_COUNT reproduce or extend a run.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EngineChild } from '../helpers/engine-child.js';
import { Rng, fuzzCount, fuzzSeed } from '../helpers/prng.js';
import { health, httpBatch, newHttpStats } from '../helpers/fuzz-http.js';

const SEED = fuzzSeed(13_003);
const PER_BATCH = fuzzCount(150);
const BATCHES = 2;

test(`HTTP requests with hostile bodies and raw bytes leave the engine serving (seed ${SEED})`, async (t) => {
  t.diagnostic(`seed ${SEED}`);
  const child = await EngineChild.start();
  try {
    const rng = new Rng(SEED);
    const stats = newHttpStats();
    for (let b = 0; b < BATCHES; b++) {
      await httpBatch(rng.fork(), child.wsPort, PER_BATCH, stats);
      const problems = await health(child, { sipCall: false });
      assert.deepEqual(problems, [], `after batch ${b + 1} (FUZZ_SEED=${SEED}):\n${problems.join('\n')}\n${child.tail(20)}`);
    }
    t.diagnostic(`${stats.requests} requests, ${stats.raw} raw; outcomes ${JSON.stringify(stats.statuses)}`);
    assert.equal(stats.hung, 0, `requests neither answered nor closed within 5 s (FUZZ_SEED=${SEED})`);
    assert.deepEqual(await child.stop(), { code: 0, signal: null }, child.tail(20));
  } finally {
    if (child.alive()) await child.stop();
  }
});
