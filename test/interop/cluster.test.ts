// A callchart cluster on loopback (docs/scaling.md): redis-server, Kamailio with
// deploy/kamailio/kamailio.cfg, and three `callchart serve --cluster …` nodes as child processes.
// The nodes register in Redis; `callchart cluster dispatcher-list` writes Kamailio's list from
// them; SIPp calls through Kamailio (record-routed, so ACK and BYE follow the route set).
// Checked: calls spread over every node; a drained node is taken out by OPTIONS probing and gets
// no new call; after kill -9 of a node every new call succeeds on the others; with Redis down the
// nodes report degraded health and still take calls, and re-register when Redis returns.
// Needs sipp, kamailio, redis-server (Debian packages; fails loudly without them).
// Run: npm run test:interop. CLUSTER_CALLS sets the size of the first run (default 300, as the issue asks).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { EngineChild, REPO_ROOT } from '../helpers/engine-child.js';
import { freeTcpPort, freeUdpPort, requireBinary, sleep } from './helpers/procs.js';
import { runSipp, describeSipp, requireSipp, scenarioPath, type SippResult } from './helpers/sipp.js';
import { KamailioPeer, RedisPeer } from './helpers/kamailio.js';
import { ClusterStore, type ClusterNodeRecord } from '../../src/cluster/store.js';
import { silentLogger } from '../../src/logger.js';
import { WebSocket } from 'ws';

const PING_S = 1;
const CALLS = Number(process.env.CLUSTER_CALLS ?? 300);
const ADMIN = 'cluster-test-admin-token';
const PREFIX = `cc-test-${process.pid}:`;
const IDS = ['n1', 'n2', 'n3'] as const;

let redis: RedisPeer;
let kamailio: KamailioPeer;
let store: ClusterStore;
const nodes = new Map<string, EngineChild>();
let dir: string;
let list: string;

before(async () => {
  requireSipp();
  requireBinary('redis-server', 'redis-server');
  requireBinary('kamailio', 'kamailio');
  dir = mkdtempSync(path.join(tmpdir(), 'callchart-cluster-'));
  list = path.join(dir, 'dispatcher.list');
  redis = new RedisPeer(await freeTcpPort());
  await redis.start();
  store = new ClusterStore({ redis: redis.url, prefix: PREFIX, logger: silentLogger() });
  let rtp = 52000;
  for (const id of IDS) {
    const args = ['--cluster', redis.url, '--node-id', id, '--advertise-host', '127.0.0.1', '--cluster-prefix', PREFIX, '--admin-token', ADMIN, '--log-format', 'json'];
    nodes.set(id, await EngineChild.start({ args, rtpPorts: `${rtp}-${rtp + 999}`, logLevel: 'warn' }));
    rtp += 1000;
  }
  await until(async () => (await store.nodes()).length === 3, 10_000, 'three nodes registered in Redis');
  syncList();
  kamailio = new KamailioPeer({ port: await freeUdpPort(), list, pingIntervalS: PING_S });
  await kamailio.start();
  await until(async () => [...kamailio.destinations().values()].filter((f) => f.startsWith('A')).length === 3, 10_000, 'Kamailio to see three active nodes');
});

after(async () => {
  await kamailio?.stop();
  for (const n of nodes.values()) await n.stop(3000);
  await store?.close();
  await redis?.kill();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** `callchart cluster dispatcher-list --out <list> [--reload kamcmd …]`, as an operator runs it. */
function syncList(reload = false): string {
  const args = ['--import', 'tsx', 'src/cli.ts', 'cluster', 'dispatcher-list', '--cluster', redis.url, '--cluster-prefix', PREFIX, '--out', list];
  if (reload) args.push('--reload', `kamcmd -s unix:${kamailio.ctl} dispatcher.reload`);
  const r = spawnSync(process.execPath, args, { cwd: REPO_ROOT, encoding: 'utf8', timeout: 20_000 });
  assert.equal(r.status, 0, `dispatcher-list failed: ${r.stderr}`);
  return readFileSync(list, 'utf8');
}

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

/** SIP calls this node has ended (callchart_calls_total, every reason). */
async function sipCalls(n: EngineChild): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${n.wsPort}/metrics`)).text();
  let sum = 0;
  for (const m of text.matchAll(/^callchart_calls_total\{([^}]*)\} (\S+)$/gm)) if (m[1]!.includes('transport="sip"')) sum += Number(m[2]);
  return sum;
}

async function counts(): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const [id, n] of nodes) if (n.alive()) out[id] = await sipCalls(n);
  return out;
}

async function health(n: EngineChild): Promise<{ status: string; cluster?: { state: string; nodeId: string } }> {
  return (await (await fetch(`http://127.0.0.1:${n.wsPort}/health`)).json()) as never;
}

function callThroughKamailio(calls: number, rate: number): Promise<SippResult> {
  // Kamailio's UDP workers may pass a node's 180 after its 200 (the node sends them back to back):
  // SIPp is told not to abort a call on such a late provisional; a call still fails unless its
  // 200s arrive.
  const extraArgs = ['-default_behaviors', 'all,-abortunexp'];
  return runSipp({ scenario: scenarioPath('uac-via-proxy'), remote: `127.0.0.1:${kamailio.o.port}`, calls, rate, timeoutMs: 60_000, recvTimeoutMs: 15_000, extraArgs });
}

function assertAllOk(r: SippResult, calls: number): void {
  const why = describeSipp(r);
  assert.equal(r.exitCode, 0, why);
  assert.equal(r.stats?.successfulCalls, calls, why);
  assert.equal(r.stats?.failedCalls, 0, why);
}

/** A room client: the text frames it received, in order. */
interface RoomClient {
  ws: WebSocket;
  got: string[];
  closed: Promise<number>;
}

function joinRoom(n: EngineChild, room: string): Promise<RoomClient> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${n.wsPort}/rooms/${room}`);
    const got: string[] = [];
    const closed = new Promise<number>((r) => ws.once('close', (code) => r(code)));
    ws.on('message', (d) => got.push(d.toString()));
    ws.once('open', () => resolve({ ws, got, closed }));
    ws.once('error', reject);
  });
}

/** Lease holder of a room, from Redis. */
async function roomOwner(room: string): Promise<string | undefined> {
  const v = await store.redis.get(`${PREFIX}lease:room:${room}`);
  return v?.split(' ')[0];
}

const roomClients: RoomClient[] = [];

/** Calls each node took between two `counts()`. */
const delta = (a: Record<string, number>, b: Record<string, number>) => Object.fromEntries(Object.keys(b).map((k) => [k, b[k]! - (a[k] ?? 0)]));

test('every node registered its SIP and WS address; the dispatcher list names all three', async () => {
  const recs: ClusterNodeRecord[] = await store.nodes();
  assert.deepEqual(recs.map((r) => [r.id, r.status]), IDS.map((id) => [id, 'open']));
  for (const r of recs) {
    const n = nodes.get(r.id)!;
    assert.equal(r.sip, `127.0.0.1:${n.sipPort}`);
    assert.equal(r.ws, `127.0.0.1:${n.wsPort}`);
    assert.equal((await health(n)).cluster?.state, 'live');
  }
  const text = readFileSync(list, 'utf8');
  for (const id of IDS) assert.match(text, new RegExp(`^1 sip:127\\.0\\.0\\.1:${nodes.get(id)!.sipPort} 0 0 duid=${id}$`, 'm'));
});

test(`SIPp through Kamailio: ${CALLS} record-routed calls all complete, spread over all three nodes`, { timeout: 120_000 }, async () => {
  const before = await counts();
  const r = await callThroughKamailio(CALLS, 50);
  assertAllOk(r, CALLS);
  await sleep(300);
  const took = delta(before, await counts());
  assert.equal(Object.values(took).reduce((a, b) => a + b, 0), CALLS, JSON.stringify(took));
  for (const id of IDS) assert.ok(took[id]! > 0, `node ${id} took calls: ${JSON.stringify(took)}`);
});

test('a room joined through two nodes is one room: the owner holds the lease, the other proxies', { timeout: 60_000 }, async () => {
  // Joined first through n3, so n3 takes the lease; the kill -9 test below kills the owner.
  const a = await joinRoom(nodes.get('n3')!, 'lobby');
  // The socket opens before the node has placed the room (a Redis round trip): wait for the lease.
  for (let t = 0; t < 60 && (await roomOwner('lobby')) === undefined; t++) await sleep(50);
  assert.equal(await roomOwner('lobby'), 'n3');
  const b = await joinRoom(nodes.get('n1')!, 'lobby');
  roomClients.push(a, b);
  const listed = async (n: EngineChild) => ((await (await fetch(`http://127.0.0.1:${n.wsPort}/rooms`)).json()) as Array<{ roomId: string; clients: number }>);
  // A proxied client's socket is open before the owner has it as a member (Redis lookup, then the
  // node-to-owner handshake): wait for the owner to count both.
  await until(async () => (await listed(nodes.get('n3')!))[0]?.clients === 2, 5000, 'both clients in the room on n3');
  a.ws.send('increment');
  await until(() => a.got.length >= 1 && b.got.length >= 1, 5000, 'the broadcast on both nodes');
  b.ws.send('increment');
  await until(() => a.got.length >= 2 && b.got.length >= 2, 5000, 'the second broadcast on both nodes');
  assert.deepEqual(a.got, ['new value: 1', 'new value: 2']);
  assert.deepEqual(b.got, a.got, 'the client on n1 is in the room on n3');
  // The counter service saves its value with each change: a fenced write by the owner.
  await until(async () => (await store.redis.get(`${PREFIX}room-state:lobby`)) === '2', 5000, 'the room state saved in Redis');
  // The room is live on its owner only.
  assert.deepEqual(await listed(nodes.get('n3')!), [{ roomId: 'lobby', clients: 2 }]);
  assert.deepEqual(await listed(nodes.get('n1')!), []);
});

test('a drained node is probed out (OPTIONS 503), listed inactive, and takes no new call', { timeout: 120_000 }, async () => {
  const n2 = nodes.get('n2')!;
  const res = await fetch(`http://127.0.0.1:${n2.wsPort}/admin/drain`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN}` } });
  assert.equal(res.status, 202);
  await until(async () => (await store.nodes()).find((r) => r.id === 'n2')?.status === 'draining', 5000, 'n2 to publish draining');
  const n2Uri = `sip:127.0.0.1:${n2.sipPort}`;
  await until(() => kamailio.destinations().get(n2Uri)?.startsWith('I') ?? false, (PING_S + 3) * 1000, 'Kamailio to probe n2 out');
  // The list written from Redis says the same, and Kamailio takes it on reload.
  assert.match(syncList(true), new RegExp(`^1 ${n2Uri} 1 0 duid=n2$`, 'm'));
  assert.ok(kamailio.destinations().get(n2Uri)?.startsWith('I'), 'n2 still inactive after the reload');
  const before = await counts();
  const r = await callThroughKamailio(30, 20);
  assertAllOk(r, 30);
  await sleep(300);
  const took = delta(before, await counts());
  assert.equal(took.n2, 0, `the drained node took no call: ${JSON.stringify(took)}`);
  assert.ok(took.n1! > 0 && took.n3! > 0, JSON.stringify(took));
});

test('kill -9 of a node: every new call succeeds on the others, at once by failover and after the probe without it', { timeout: 120_000 }, async () => {
  const n3 = nodes.get('n3')!;
  n3.proc.kill('SIGKILL');
  await until(() => !n3.alive(), 5000, 'n3 to die');
  // Straight away: calls hashed to n3 time out there and are failed over to the next node.
  const before = await counts();
  const r1 = await callThroughKamailio(20, 10);
  assertAllOk(r1, 20);
  const n3Uri = `sip:127.0.0.1:${n3.sipPort}`;
  await until(() => kamailio.destinations().get(n3Uri)?.startsWith('I') ?? false, (PING_S + 3) * 1000, 'Kamailio to probe n3 out');
  const r2 = await callThroughKamailio(20, 10);
  assertAllOk(r2, 20);
  await sleep(300);
  const took = delta(before, await counts());
  assert.equal(took.n1, 40, `n1 (the only open node left) took every call: ${JSON.stringify(took)}`);
  // The room it owned: its clients were cut off; the lease expires and the room comes back on a
  // live node at the next join, with the state its service saved (the counter goes on from 2).
  for (const c of roomClients) assert.equal(await Promise.race([c.closed, sleep(5000).then(() => -1)]) !== -1, true, 'room clients of the dead owner are closed');
  let back: RoomClient | undefined;
  await until(async () => {
    back?.ws.terminate();
    back = await joinRoom(nodes.get('n1')!, 'lobby');
    const code = await Promise.race([back.closed, sleep(300).then(() => 0)]);
    return code === 0;
  }, 15_000, 'the room to come back on n1');
  assert.equal(await roomOwner('lobby'), 'n1');
  back!.ws.send('increment');
  await until(() => back!.got.length >= 1, 5000, 'the room on n1 to answer');
  assert.deepEqual(back!.got, ['new value: 3']);
  back!.ws.close();
  // Its record expires with its heartbeat; the next list leaves it out.
  await until(async () => !(await store.nodes()).some((x) => x.id === 'n3'), 10_000, "n3's record to expire");
  assert.doesNotMatch(syncList(true), /duid=n3/);
});

test('Redis down: nodes report degraded and still take calls; they re-register when it returns', { timeout: 120_000 }, async () => {
  const n1 = nodes.get('n1')!;
  await redis.kill();
  await until(async () => (await health(n1)).cluster?.state === 'degraded', 5000, 'n1 to report degraded');
  const h = await health(n1);
  assert.equal(h.status, 'open', 'degraded is not draining: the node takes calls');
  const r = await callThroughKamailio(10, 10);
  assertAllOk(r, 10);
  await redis.start();
  await until(async () => (await health(n1)).cluster?.state === 'live', 10_000, 'n1 to be live again');
  await until(async () => (await store.nodes()).map((x) => x.id).join() === 'n1,n2', 10_000, 'n1 and n2 registered again');
});
