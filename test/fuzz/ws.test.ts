// WebSocket frame fuzz against `callchart serve` in a child process, one child per route so one
// route's crash is not blamed on the next: schema-shaped messages (mutated: wrong types, missing and
// unknown fields, huge strings and arrays, deep nesting), random JSON, invalid UTF-8, binary and
// fragmented frames, hostile handshakes (unknown subprotocols, foreign Origin, odd paths). After
// each batch the engine must be alive, answer GET /status and SIP OPTIONS, serve a legitimate
// client on every route, and have logged nothing fatal or uncaught.
// Fixed seed and count; FUZZ_SEED / FUZZ_COUNT reproduce or extend a run.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EngineChild } from '../helpers/engine-child.js';
import { Rng, fuzzCount, fuzzSeed } from '../helpers/prng.js';
import { newWsStats, playbackDeepTrack, wsBatch, WS_ROUTE_NAMES, type WsRouteName } from '../helpers/fuzz-ws.js';
import { health } from '../helpers/fuzz-http.js';

const SEED = fuzzSeed(13_002);
const CONNECTIONS = fuzzCount(12);
const FRAMES = 25;
const BATCHES = 2;

async function fuzzRoute(t: { diagnostic(msg: string): void }, route: WsRouteName, seed: number, extra?: (child: EngineChild) => Promise<void>): Promise<void> {
  t.diagnostic(`seed ${seed} (FUZZ_SEED=${SEED})`);
  const child = await EngineChild.start();
  try {
    const rng = new Rng(seed);
    const stats = newWsStats();
    for (let b = 0; b < BATCHES; b++) {
      await wsBatch(rng.fork(), child.wsPort, route, CONNECTIONS, FRAMES, stats);
      if (b === 0 && extra) await extra(child);
      const problems = await health(child, { sipCall: false });
      assert.deepEqual(problems, [], `${route}, after batch ${b + 1} (FUZZ_SEED=${SEED}):\n${problems.join('\n')}\n${child.tail(20)}`);
    }
    t.diagnostic(`${route}: ${stats.opened} sockets opened, ${stats.refused} refused, ${stats.frames} frames, closes ${JSON.stringify(stats.closes)}`);
    assert.ok(stats.opened > 0, 'the fuzz reached the route');
    assert.deepEqual(await child.stop(), { code: 0, signal: null }, `SIGTERM after the fuzz:\n${child.tail(20)}`);
  } finally {
    if (child.alive()) await child.stop();
  }
}

const routeSeed = (route: WsRouteName) => SEED * 31 + WS_ROUTE_NAMES.indexOf(route);

test('inbound-call route `/` survives the fuzz', (t) => fuzzRoute(t, 'inbound', routeSeed('inbound')));

test('rooms route `/rooms/<id>` survives the fuzz', (t) => fuzzRoute(t, 'rooms', routeSeed('rooms')));

test('playback route `/playback` survives the fuzz, a 20 000-deep track included (finding 1)', (t) =>
  fuzzRoute(t, 'playback', routeSeed('playback'), async (child) => {
    // The crash, every run whatever the seed: fe89b32 exits 1 on the REGISTER_CONNECTION.
    await playbackDeepTrack(child.wsPort, 6000);
    await playbackDeepTrack(child.wsPort, 20_000);
    await new Promise((r) => setTimeout(r, 300));
  }));

test('jambonz hook route `/hook` (ws.jambonz.org) survives the fuzz', (t) => fuzzRoute(t, 'hook', routeSeed('hook')));

test('jambonz audio route `/recording` (audio.jambonz.org) survives the fuzz', (t) => fuzzRoute(t, 'recording', routeSeed('recording')));

test('no route selects a subprotocol it does not speak (finding 7: `evil` echoed)', async (t) => {
  const child = await EngineChild.start({ sipPort: false });
  try {
    const rng = new Rng(SEED * 31 + 99);
    const stats = newWsStats();
    for (const route of WS_ROUTE_NAMES) await wsBatch(rng.fork(), child.wsPort, route, 8, 1, stats);
    t.diagnostic(`${stats.opened} handshakes accepted, ${stats.refused} refused`);
    assert.deepEqual(stats.badProtocols.slice(0, 10), [], `FUZZ_SEED=${SEED}`);
  } finally {
    await child.stop();
  }
});
