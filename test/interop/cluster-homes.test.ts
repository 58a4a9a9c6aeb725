// Homed objects beyond rooms on a two-node cluster (docs/scaling.md): redis-server and two
// `callchart serve --cluster …` nodes as child processes (no SIP: nothing here needs it).
// Checked: a jambonz session:reconnect landing on the node that does not own the session reaches
// its owner (the session's next verb:hook is answered by the app there); the playback space lives
// on one node, a client of the other is proxied to it, and after kill -9 of the owner the next
// connection brings the space back on the live node from Redis with its sessions' queue,
// position and volume. Needs redis-server (Debian package; fails loudly without it).
// Run: npm run test:interop.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { WebSocket } from 'ws';
import { EngineChild } from '../helpers/engine-child.js';
import { freeTcpPort, requireBinary, sleep } from './helpers/procs.js';
import { RedisPeer } from './helpers/kamailio.js';
import { JambonzSim, newCallSid } from '../helpers/jambonz-sim.js';
import { ClusterStore } from '../../src/cluster/store.js';
import { playbackStateKey } from '../../src/cluster/playback-store.js';
import { silentLogger } from '../../src/logger.js';

const PREFIX = `cc-homes-${process.pid}:`;
const IDS = ['h1', 'h2'] as const;
let redis: RedisPeer;
let store: ClusterStore;
const nodes = new Map<string, EngineChild>();

before(async () => {
  requireBinary('redis-server', 'redis-server');
  redis = new RedisPeer(await freeTcpPort());
  await redis.start();
  store = new ClusterStore({ redis: redis.url, prefix: PREFIX, logger: silentLogger() });
  const started = IDS.map((id) =>
    EngineChild.start({ sipPort: false, logLevel: 'warn', args: ['--cluster', redis.url, '--node-id', id, '--advertise-host', '127.0.0.1', '--cluster-prefix', PREFIX, '--log-format', 'json'] }),
  );
  for (const [i, n] of (await Promise.all(started)).entries()) nodes.set(IDS[i]!, n);
  await until(async () => (await store.nodes()).length === IDS.length, 10_000, 'both nodes registered in Redis');
});

after(async () => {
  for (const n of nodes.values()) await n.stop(3000);
  await store?.close();
  await redis?.kill();
});

async function until(cond: () => Promise<boolean> | boolean, ms: number, what: string): Promise<void> {
  const t0 = Date.now();
  for (;;) {
    try {
      if (await cond()) return;
    } catch {
      /* not yet */
    }
    if (Date.now() - t0 > ms) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(100);
  }
}

const holder = async (lease: string) => (await store.redis.get(`${PREFIX}lease:${lease}`))?.split(' ')[0];
const node = (id: string) => nodes.get(id)!;

test('jambonz: a session:reconnect landing on the node that does not own the session reaches its owner', { timeout: 30_000 }, async () => {
  const callSid = newCallSid();
  const first = await JambonzSim.connect(`ws://127.0.0.1:${node('h1').wsPort}/hook`);
  const greeting = await first.ack(first.sessionNew(callSid));
  assert.equal(greeting.data?.[0]?.verb, 'gather', 'the demo IVR on h1 answered session:new');
  first.callStatus(callSid, 'in-progress');
  await until(async () => (await holder(`jambonz:${callSid}`)) === 'h1', 5000, 'h1 to hold the session lease');
  // jambonz lost its socket; its reconnect lands on h2 (another node behind the same balancer).
  first.drop();
  await first.waitClose();
  const again = await JambonzSim.connect(`ws://127.0.0.1:${node('h2').wsPort}/hook`);
  await again.ack(again.reconnect(callSid));
  // Only the session on h1 knows the menu: h2 alone would ack this without verbs.
  const pressed = await again.ack(again.gatherDigits(callSid, '/hook/menu', '5'));
  assert.deepEqual(pressed.data?.map((v) => v.verb), ['say', 'hangup']);
  assert.match(String(pressed.data?.[0]?.text), /You pressed 5/);
  again.callStatus(callSid, 'completed');
  // The session ended on its owner: its lease is released.
  await until(async () => (await holder(`jambonz:${callSid}`)) === undefined, 5000, 'the session lease to be released');
  again.close();
});

type Frame = { type: string; payload?: any };

interface PlaybackClient {
  ws: WebSocket;
  frames: Frame[];
  closed: Promise<number>;
  /** The next frame of `type` from now on. */
  next(type: string, ms?: number): Promise<Frame>;
  send(f: object): void;
}

function playback(n: EngineChild): Promise<PlaybackClient> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${n.wsPort}/playback`);
    const frames: Frame[] = [];
    const waiters: Array<(f: Frame) => void> = [];
    ws.on('message', (d) => {
      const f = JSON.parse(d.toString()) as Frame;
      frames.push(f);
      for (const w of waiters.splice(0)) w(f);
    });
    const closed = new Promise<number>((r) => ws.once('close', (code) => r(code)));
    const next = (type: string, ms = 5000) =>
      new Promise<Frame>((res, rej) => {
        const t = setTimeout(() => rej(new Error(`no ${type} frame within ${ms} ms`)), ms);
        const w = (f: Frame) => {
          if (f.type !== type) return void waiters.push(w);
          clearTimeout(t);
          res(f);
        };
        waiters.push(w);
      });
    ws.once('open', () => resolve({ ws, frames, closed, next, send: (f) => ws.send(JSON.stringify(f)) }));
    ws.once('error', reject);
  });
}

test('playback: the space lives on one node, the other proxies to it, and after kill -9 of the owner it comes back with its state', { timeout: 60_000 }, async () => {
  const target = { type: 'AUDIO_ZONE', audioZoneId: 1 };
  // h2 is reached first, so it takes the space; the client on h1 is proxied to it.
  const owner = await playback(node('h2'));
  owner.send({ type: 'GET_SESSIONS' });
  await owner.next('SESSIONS');
  assert.equal(await holder('playback:/playback'), 'h2');
  const viaH1 = await playback(node('h1'));
  const listed = owner.next('SESSIONS');
  viaH1.send({ type: 'CREATE_SESSION', payload: { name: 'Kitchen', audioZoneId: 1, playlist: { tracks: [10, 11, 12] } } });
  assert.equal((await listed).payload[0]?.name, 'Kitchen', 'a session created through h1 is in the space on h2');
  const updated = owner.next('SESSION_UPDATED');
  viaH1.send({ type: 'UPDATE_SESSION', payload: { sessionId: 1, profile: 'master', playbackTarget: target, play: true, position: 2, volume: 0.25 } });
  assert.equal((await updated).payload.volume, 0.25);
  // The state is in Redis as soon as it changed (fenced writes by h2).
  const stored = async () => JSON.parse((await store.redis.get(PREFIX + playbackStateKey('/playback'))) ?? '{}') as { sessions?: Array<{ snapshot: { context: { volume: number } } }> };
  await until(async () => (await stored()).sessions?.[0]?.snapshot.context.volume === 0.25, 5000, 'the update in Redis');

  const h2 = node('h2');
  h2.proc.kill('SIGKILL');
  await until(() => !h2.alive(), 5000, 'h2 to die');
  for (const c of [owner, viaH1]) assert.notEqual(await Promise.race([c.closed, sleep(5000).then(() => -1)]), -1, 'clients of the dead owner are closed');

  // h1 answers 1013 (owner unavailable) until h2's lease expires, then takes the space.
  let back: PlaybackClient | undefined;
  await until(async () => {
    back?.ws.terminate();
    back = await playback(node('h1'));
    back.send({ type: 'GET_SESSIONS' });
    const r = await Promise.race([back.next('SESSIONS', 2000), back.closed.then(() => undefined)]);
    return r !== undefined;
  }, 15_000, 'the playback space to come back on h1');
  assert.equal(await holder('playback:/playback'), 'h1');
  const sessions = back!.frames.filter((f) => f.type === 'SESSIONS').at(-1)!.payload as any[];
  assert.equal(sessions.length, 1);
  const s = sessions[0];
  assert.deepEqual({ name: s.name, playing: s.playing, position: s.position, volume: s.volume }, { name: 'Kitchen', playing: true, position: 2, volume: 0.25 });
  assert.deepEqual(s.playlist.tracks.map((t: { trackId: number }) => t.trackId), [10, 11, 12]);
  // And it takes changes there.
  const again = back!.next('SESSIONS');
  back!.send({ type: 'CREATE_SESSION', payload: { name: 'Den', playlist: { tracks: [] } } });
  assert.deepEqual((await again).payload.map((x: { name: string }) => x.name), ['Kitchen', 'Den']);
  back!.ws.close();
});
