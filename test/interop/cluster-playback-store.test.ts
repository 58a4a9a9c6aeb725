// The Redis playback store of a clustered node (src/cluster/playback-store.ts) against a real
// redis-server: round trip through the playback routes (a session's queue, position and volume
// come back on a second routes instance), fenced writes (a node that lost the space's lease cannot
// overwrite its successor's state), and an unreadable value kept aside. In the interop suite because
// it needs redis-server (npm test runs without it). Run: npm run test:interop.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { WebSocket } from 'ws';
import { RedisPeer } from './helpers/kamailio.js';
import { freeTcpPort, requireBinary } from './helpers/procs.js';
import { ClusterStore } from '../../src/cluster/store.js';
import { createRedisPlaybackStore, playbackStateKey } from '../../src/cluster/playback-store.js';
import { createPlaybackRoutes, emptyPlaybackState, PlaybackStoreError, type PlaybackState } from '../../src/playback/index.js';
import { HttpServer } from '../../src/http/server.js';
import { Supervisor } from '../../src/actors/supervisor.js';
import { silentLogger } from '../../src/logger.js';

const PREFIX = `cc-pbstore-${process.pid}:`;
const SPACE = '/playback';
const LEASE = `playback:${SPACE}`;
let redis: RedisPeer;
let store: ClusterStore;

before(async () => {
  requireBinary('redis-server', 'redis-server');
  redis = new RedisPeer(await freeTcpPort());
  await redis.start();
  store = new ClusterStore({ redis: redis.url, prefix: PREFIX, logger: silentLogger() });
  await store.ensureConnected();
});

after(async () => {
  await store?.close();
  await redis?.kill();
});

/** Take the space's lease for `node` (after freeing it, as an expiry would). */
async function takeOver(node: string): Promise<{ node: string; token: number }> {
  await store.redis.del(`${PREFIX}lease:${LEASE}`);
  const h = await store.acquireLease(LEASE, node, 10_000);
  assert.equal(h.node, node);
  return h;
}

function storeFor(holder: { node: string; token: number }, fenced: { n: number } = { n: 0 }) {
  return createRedisPlaybackStore({ store, leaseKey: LEASE, holder, space: SPACE, onFenced: () => fenced.n++ });
}

const state = (nextSessionId: number): PlaybackState => ({ ...emptyPlaybackState(), nextSessionId });

test('nothing saved yet: load() answers undefined', async () => {
  await store.redis.del(PREFIX + playbackStateKey(SPACE));
  const h = await takeOver('a');
  assert.equal(await storeFor(h).load(), undefined);
});

test('the holder writes; a node that lost the lease is fenced off and its successor\'s state stands', async () => {
  const a = await takeOver('a');
  const fencedA = { n: 0 };
  const sa = storeFor(a, fencedA);
  await sa.save(state(5));
  assert.equal((await sa.load())?.nextSessionId, 5);
  const b = await takeOver('b');
  assert.ok(b.token > a.token, 'a new holder gets a larger fencing token');
  await storeFor(b).save(state(9));
  await assert.rejects(sa.save(state(6)), (err: Error) => err instanceof PlaybackStoreError && /fenced/.test(err.message));
  assert.equal(fencedA.n, 1, 'onFenced told the old holder');
  assert.equal((await storeFor(b).load())?.nextSessionId, 9, 'the old holder overwrote nothing');
  // Same node id, old token (a node that restarted and took the space again is a new holder too).
  await takeOver('a');
  await assert.rejects(storeFor(a).save(state(7)));
});

test('an unreadable value: load() throws, the value is kept aside, preserve() copies it', async () => {
  const h = await takeOver('a');
  const key = PREFIX + playbackStateKey(SPACE);
  await store.redis.set(key, '{not json');
  await assert.rejects(storeFor(h).load(), (err: Error) => err instanceof PlaybackStoreError && /not valid JSON \(kept as /.test(err.message));
  await store.redis.set(key, JSON.stringify({ version: 2 }));
  await assert.rejects(storeFor(h).load(), /not a playback state/);
  const kept = await store.redis.keys(`${key}:corrupt-*`);
  assert.equal(kept.length >= 1, true);
  const copy = await storeFor(h).preserve!();
  assert.equal(await store.redis.get(copy!), JSON.stringify({ version: 2 }));
  await store.redis.del(key, ...kept, copy!);
});

/** Playback routes on an ephemeral port with the Redis store of `holder`. */
async function routesOn(holder: { node: string; token: number }) {
  const logger = silentLogger();
  const supervisor = new Supervisor({ logger });
  const routes = createPlaybackRoutes({ supervisor, logger, store: storeFor(holder) });
  const http = new HttpServer({ host: '127.0.0.1', port: 0, logger });
  http.addWsRoute(routes.wsRoute);
  await http.listen();
  await routes.ready;
  return { routes, port: http.port, stop: async () => (await routes.close(), await http.close()) };
}

function ask(port: number, frames: object[], want: string): Promise<{ type: string; payload?: any }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/playback`);
    ws.on('error', reject);
    ws.on('open', () => frames.forEach((f) => ws.send(JSON.stringify(f))));
    ws.on('message', (d) => {
      const f = JSON.parse(d.toString()) as { type: string; payload?: any };
      if (f.type !== want) return;
      ws.close();
      resolve(f);
    });
  });
}

test('playback routes on the Redis store: a session comes back on another instance with its queue, position and volume', async () => {
  await store.redis.del(PREFIX + playbackStateKey(SPACE));
  const a = await routesOn(await takeOver('a'));
  const target = { type: 'AUDIO_ZONE', audioZoneId: 1 };
  await ask(a.port, [{ type: 'CREATE_SESSION', payload: { name: 'Kitchen', audioZoneId: 1, playlist: { tracks: [10, 11, 12] } } }], 'SESSIONS');
  await ask(a.port, [{ type: 'UPDATE_SESSION', payload: { sessionId: 1, profile: 'master', playbackTarget: target, play: true, position: 2, volume: 0.25 } }, { type: 'GET_SESSIONS' }], 'SESSIONS');
  await a.stop();
  const b = await routesOn(await takeOver('b'));
  const got = await ask(b.port, [{ type: 'GET_SESSIONS' }], 'SESSIONS');
  assert.equal(got.payload.length, 1);
  const s = got.payload[0];
  assert.deepEqual([s.name, s.position, s.volume, s.playing], ['Kitchen', 2, 0.25, true]);
  assert.deepEqual(s.playlist.tracks.map((t: { trackId: number }) => t.trackId), [10, 11, 12]);
  await b.stop();
});
