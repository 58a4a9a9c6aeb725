// Cluster benchmarks (docs/scaling.md), two parts:
//
// sip    SIP calls per second through Kamailio (deploy/kamailio/kamailio.cfg: dispatcher, record-
//        routed) to 1 callchart node vs 2 nodes, with Kamailio → SIPp `-sn uas` measured in the same
//        run as the reference (what Kamailio and SIPp alone do on this box). SIPp uac-via-proxy.xml
//        (INVITE/200/ACK/BYE, zero hold time) at increasing rates, BENCH_CLUSTER_STEP_S seconds per
//        step; a step passes with exit 0, 0 failed, 0 retransmissions, 0 calls open, and the ladder
//        stops at its first failure. Nodes are `callchart serve --cluster` (compiled build; Redis for
//        membership, the dispatcher list written from it); the calls each node took are reported.
// rooms  Latency of a room message (counter room: `increment` → `new value: N` to every member)
//        from a client on the room's owner vs a client on another node (proxied to the owner), with
//        a bare `ws` broadcast server as the reference peer. Messages alternate between the two
//        clients, one at a time, BENCH_CLUSTER_ROOM_RATE per second in all, for BENCH_CLUSTER_ROOM_S
//        seconds; latency = send → the sender receives the broadcast (p50/p99/max).
//
// On a 2-core box, 2 nodes share the cores with Kamailio and SIPp: the 2-node ladder shows what
// scaling out costs or gains there, not on a real deployment with a node per machine.
//
// Env: BENCH_CLUSTER_PARTS (sip,rooms), BENCH_CLUSTER_TARGETS (sipp,1-node,2-nodes),
// BENCH_CLUSTER_STEP_S (default 30), BENCH_CLUSTER_RATES (default 100,200,400,600,800,1000,1500),
// BENCH_CLUSTER_ROOM_S (default 30), BENCH_CLUSTER_ROOM_RATE (default 100), BENCH_CLUSTER_FROM_SOURCE=1
// (src through tsx instead of the compiled build).
// Run: npm run bench cluster (needs sipp, kamailio, redis-server).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { WebSocket, WebSocketServer } from 'ws';
import { runSipp, startSippUas, scenarioPath, type SippResult, type SippUas } from '../test/interop/helpers/sipp.js';
import { Tail, exited, freeTcpPort, freeUdpPort, sleep, terminate, track, udpPortBound, waitUntil, whichBinary } from '../test/interop/helpers/procs.js';
import { KamailioPeer, RedisPeer } from '../test/interop/helpers/kamailio.js';
import { printTable, percentile, progress, type Cell } from './table.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const list = (v: string | undefined, d: string) => (v ?? d).split(',').map((s) => s.trim()).filter(Boolean);
const PARTS = list(process.env.BENCH_CLUSTER_PARTS, 'sip,rooms');
const TARGETS = list(process.env.BENCH_CLUSTER_TARGETS, 'sipp,1-node,2-nodes');
const STEP_S = Math.max(1, Number(process.env.BENCH_CLUSTER_STEP_S ?? 30));
const RATES = list(process.env.BENCH_CLUSTER_RATES, '100,200,400,600,800,1000,1500').map(Number).filter((n) => n > 0);
const ROOM_S = Math.max(1, Number(process.env.BENCH_CLUSTER_ROOM_S ?? 30));
const ROOM_RATE = Math.max(1, Number(process.env.BENCH_CLUSTER_ROOM_RATE ?? 100));
const FROM_SOURCE = process.env.BENCH_CLUSTER_FROM_SOURCE === '1';
const PREFIX = `cc-bench-${process.pid}:`;

// ---- nodes -------------------------------------------------------------------------------------

interface Node {
  id: string;
  sipPort: number;
  wsPort: number;
  proc: ChildProcess;
  out: Tail;
  dir: string;
}

let built: string | undefined;
function entry(): string[] {
  if (FROM_SOURCE) return ['--import', 'tsx', 'src/cli.ts'];
  if (!built) {
    progress('building (tsc -p tsconfig.build.json) …');
    const r = spawnSync(process.execPath, [path.join(root, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json'], { cwd: root, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`build failed:\n${r.stdout}${r.stderr}`);
    built = 'dist/src/cli.js';
  }
  return [built];
}

async function startNode(id: string, redisUrl: string, rtpBase: number, sip: boolean): Promise<Node> {
  const sipPort = sip ? await freeUdpPort() : 0;
  const wsPort = await freeTcpPort();
  const dir = mkdtempSync(path.join(tmpdir(), `callchart-bench-${id}-`));
  const args = [
    ...entry(), 'serve', '--host', '127.0.0.1', '--ws-port', String(wsPort), '--sip-port', sip ? String(sipPort) : 'off',
    '--log-level', 'warn', '--rtp-ports', `${rtpBase}-${rtpBase + 4999}`, '--sip-invite-rate', '100000', '--data-dir', dir,
    '--cluster', redisUrl, '--node-id', id, '--advertise-host', '127.0.0.1', '--cluster-prefix', PREFIX,
  ];
  const out = new Tail(16 * 1024);
  const proc = track(spawn(process.execPath, args, { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] }));
  proc.stdout!.on('data', (d) => out.push(d));
  proc.stderr!.on('data', (d) => out.push(d));
  const up = async () => (await fetch(`http://127.0.0.1:${wsPort}/status`).then((r) => r.ok).catch(() => false)) && (!sip || udpPortBound(sipPort));
  for (let t0 = Date.now(); !(await up()); await sleep(100)) {
    if (exited(proc) || Date.now() - t0 > 30_000) {
      await terminate(proc, 'SIGKILL');
      throw new Error(`node ${id} did not start\n${out.toString()}`);
    }
  }
  return { id, sipPort, wsPort, proc, out, dir };
}

async function stopNode(n: Node): Promise<void> {
  await terminate(n.proc, 'SIGTERM', 5000);
  rmSync(n.dir, { recursive: true, force: true });
}

/** SIP calls a node has ended (callchart_calls_total, transport="sip"). */
async function sipCalls(n: Node): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${n.wsPort}/metrics`)).text();
  let sum = 0;
  for (const m of text.matchAll(/^callchart_calls_total\{([^}]*)\} (\S+)$/gm)) if (m[1]!.includes('transport="sip"')) sum += Number(m[2]);
  return sum;
}

// ---- part 1: SIP through Kamailio --------------------------------------------------------------

interface Step {
  rate: number;
  r: SippResult;
  pass: boolean;
  why: string;
  split: string;
}

async function runStep(kamailioPort: number, rate: number, nodes: Node[]): Promise<Step> {
  const calls = rate * STEP_S;
  const before = await Promise.all(nodes.map(sipCalls));
  const r = await runSipp({
    scenario: scenarioPath('uac-via-proxy'),
    remote: `127.0.0.1:${kamailioPort}`,
    calls,
    rate,
    recvTimeoutMs: 5000,
    timeoutMs: (STEP_S + 30) * 1000,
    traceRtt: true,
    // Kamailio's UDP workers may pass a 180 after its 200 (cluster.test.ts): not a failure by itself.
    extraArgs: ['-default_behaviors', 'all,-abortunexp', '-max_recv_loops', '10000', '-max_sched_loops', '10000'],
  });
  await sleep(300);
  const after = await Promise.all(nodes.map(sipCalls));
  const s = r.stats;
  const problems: string[] = [];
  if (r.exitCode !== 0) problems.push(`exit ${r.exitCode}${r.killed ? ' (killed)' : ''}`);
  if (!s) problems.push('no stats');
  else {
    if (s.failedCalls) problems.push(`${s.failedCalls} failed`);
    if (s.retransmissions) problems.push(`${s.retransmissions} retransmissions`);
    if (s.currentCalls) problems.push(`${s.currentCalls} open`);
    if (s.successfulCalls !== calls) problems.push(`${s.successfulCalls}/${calls} ok`);
  }
  for (const n of nodes) if (exited(n.proc)) problems.push(`${n.id} died`);
  const split = nodes.map((n, i) => `${n.id} ${after[i]! - before[i]!}`).join(', ') || '-';
  return { rate, r, pass: problems.length === 0, why: problems.join(', ') || 'pass', split };
}

async function sipTarget(name: string, redis: RedisPeer): Promise<{ rows: Cell[][]; best: number; failed?: Step }> {
  const dir = mkdtempSync(path.join(tmpdir(), 'callchart-bench-ds-'));
  const file = path.join(dir, 'dispatcher.list');
  const nodes: Node[] = [];
  let uas: SippUas | undefined;
  let kamailio: KamailioPeer | undefined;
  try {
    if (name === 'sipp') {
      // -aa: SIPp answers Kamailio's OPTIONS probes (unanswered, the destination is taken out).
      uas = await startSippUas({ timeoutMs: (RATES.length * (STEP_S + 40) + 60) * 1000, recvTimeoutMs: 5000, extraArgs: ['-aa'] });
      writeFileSync(file, `1 sip:127.0.0.1:${uas.port} 0 0 duid=sipp\n`);
    } else {
      const count = name === '2-nodes' ? 2 : 1;
      for (let i = 0; i < count; i++) nodes.push(await startNode(`b${i + 1}`, redis.url, 30000 + i * 5000, true));
      // As an operator does: the list written from the nodes' records in Redis.
      const r = spawnSync(process.execPath, [...entry(), 'cluster', 'dispatcher-list', '--cluster', redis.url, '--cluster-prefix', PREFIX, '--out', file], { cwd: root, encoding: 'utf8', timeout: 20_000 });
      if (r.status !== 0) throw new Error(`dispatcher-list failed: ${r.stderr}`);
    }
    kamailio = new KamailioPeer({ port: await freeUdpPort(), list: file, pingIntervalS: 1 });
    await kamailio.start();
    const want = uas ? 1 : nodes.length;
    await waitUntil(() => [...kamailio!.destinations().values()].filter((f) => f.startsWith('A')).length === want, 15_000, 'Kamailio to see every destination active');
    const label = name === 'sipp' ? 'Kamailio → SIPp -sn uas' : `Kamailio → ${nodes.length} callchart node${nodes.length > 1 ? 's' : ''}`;
    const rows: Cell[][] = [];
    let best = 0;
    let failed: Step | undefined;
    for (const rate of RATES) {
      progress(`${label}: ${rate} cps for ${STEP_S} s …`);
      const st = await runStep(kamailio.o.port, rate, nodes);
      progress(`${label}: ${rate} cps → ${st.why}`);
      const s = st.r.stats;
      const rtt = st.r.rttMs;
      rows.push([label, rate, s?.successfulCalls ?? '-', s?.failedCalls ?? '-', s?.retransmissions ?? '-', rtt.length ? percentile(rtt, 50) : '-', rtt.length ? percentile(rtt, 99) : '-', st.split, st.why]);
      if (!st.pass) {
        failed = st;
        break;
      }
      best = rate;
      await sleep(2000);
    }
    return { rows: rows.map((r) => r), best, ...(failed ? { failed } : {}) };
  } finally {
    await kamailio?.stop();
    await uas?.stop();
    for (const n of nodes) await stopNode(n);
    rmSync(dir, { recursive: true, force: true });
    // Node records expire with their TTL; the next target's list must not name them.
    await sleep(nodes.length ? 5500 : 0);
  }
}

async function sipPart(redis: RedisPeer): Promise<void> {
  process.stdout.write(
    `\nSIPp uac-via-proxy.xml (INVITE/200/ACK/BYE, record-routed, zero hold time) through Kamailio (dispatcher) on 127.0.0.1; ` +
      `${STEP_S} s per step; rates ${RATES.join(', ')} cps; a step passes with exit 0, 0 failed, 0 retransmissions, 0 calls open.\n`,
  );
  const rows: Cell[][] = [];
  const summary: Cell[][] = [];
  for (const t of TARGETS) {
    try {
      const r = await sipTarget(t, redis);
      rows.push(...r.rows);
      summary.push([t, r.best || 'none', r.failed ? `${r.failed.rate} (${r.failed.why})` : 'none (top of ladder)']);
    } catch (e) {
      progress(`${t}: ${e instanceof Error ? e.message : String(e)}`);
      summary.push([t, 'error', e instanceof Error ? e.message.split('\n')[0]! : String(e)]);
    }
  }
  printTable('Cluster SIP ladder: per step (INVITE→200 in ms, SIPp clock resolution 1 ms)', ['target', 'cps', 'ok', 'failed', 'retrans', 'p50', 'p99', 'calls per node', 'result'], rows);
  printTable('Cluster SIP ladder: summary', ['target', 'highest passing cps', 'first failing step'], summary);
}

// ---- part 2: room message latency, owner vs proxied --------------------------------------------

/** The reference: a bare `ws` server broadcasting `new value: N` on `increment`, in its own process. */
async function bareRoomServer(): Promise<{ port: number; stop(): Promise<void> }> {
  const proc = track(spawn(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), '--role=bare-room'], { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] }));
  const port = await new Promise<number>((resolve, reject) => {
    proc.stdout!.once('data', (d: Buffer) => resolve(Number(d.toString().trim())));
    proc.once('exit', () => reject(new Error('bare room server exited')));
  });
  return { port, stop: () => terminate(proc, 'SIGTERM', 2000) };
}

async function bareRoomRole(): Promise<void> {
  const server = http.createServer();
  const wss = new WebSocketServer({ server, perMessageDeflate: false });
  let value = 0;
  wss.on('connection', (ws) => {
    ws.on('message', (d) => {
      if (d.toString().trim() !== 'increment') return;
      value++;
      for (const c of wss.clients) c.send(`new value: ${value}`);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  process.stdout.write(`${(server.address() as { port: number }).port}\n`);
}

interface RoomClient {
  ws: WebSocket;
  /** The last counter value this client has seen (other frames are not counted). */
  value: number;
  onMsg: (() => void) | undefined;
}

function join(url: string): Promise<RoomClient> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { perMessageDeflate: false });
    const c: RoomClient = { ws, value: -1, onMsg: undefined };
    ws.on('message', (d) => {
      const m = /^new value: (-?\d+)$/.exec(d.toString());
      if (!m) return;
      c.value = Number(m[1]);
      c.onMsg?.();
    });
    ws.once('open', () => resolve(c));
    ws.once('error', reject);
  });
}

const within = <T>(p: Promise<T>) => Promise.race([p, sleep(5000).then(() => Promise.reject(new Error('a broadcast did not arrive within 5 s')))]);

/** Alternate sends between the clients; each latency = send → the sender has the broadcast. */
async function measure(clients: RoomClient[], seconds: number, rate: number): Promise<number[][]> {
  const lat: number[][] = clients.map(() => []);
  const gap = 1000 / rate;
  const end = performance.now() + seconds * 1000;
  for (let i = 0; performance.now() < end; i++) {
    const k = i % clients.length;
    const c = clients[k]!;
    const t0 = performance.now();
    // One message at a time: the broadcast it causes is the first value past the last seen.
    const last = Math.max(...clients.map((x) => x.value));
    const all = clients.map((x) => new Promise<void>((r) => (x.onMsg = () => x.value > last && r())));
    c.ws.send('increment');
    await within(all[k]!);
    lat[k]!.push(performance.now() - t0);
    await within(Promise.all(all));
    const wait = t0 + gap - performance.now();
    if (wait > 0) await sleep(wait);
  }
  return lat;
}

async function roomsPart(redis: RedisPeer): Promise<void> {
  process.stdout.write(`\nRoom message latency (counter room), ${ROOM_RATE} messages/s alternating between two clients, ${ROOM_S} s, after a 2 s warm-up.\n`);
  const rows: Cell[][] = [];
  const row = (name: string, l: number[]) => [name, l.length, percentile(l, 50), percentile(l, 99), Math.max(...l)];
  const bare = await bareRoomServer();
  try {
    const a = await join(`ws://127.0.0.1:${bare.port}/`);
    const b = await join(`ws://127.0.0.1:${bare.port}/`);
    await measure([a, b], 2, ROOM_RATE);
    const [la, lb] = await measure([a, b], ROOM_S, ROOM_RATE);
    rows.push(row('bare ws broadcast server (client 1)', la!), row('bare ws broadcast server (client 2)', lb!));
    a.ws.close();
    b.ws.close();
  } finally {
    await bare.stop();
  }
  const nodes = [await startNode('r1', redis.url, 40000, false), await startNode('r2', redis.url, 45000, false)];
  try {
    // Joined on r1 first: r1 takes the room's lease; the client of r2 is proxied to r1.
    const owner = await join(`ws://127.0.0.1:${nodes[0]!.wsPort}/rooms/bench`);
    const proxied = await join(`ws://127.0.0.1:${nodes[1]!.wsPort}/rooms/bench`);
    await sleep(500);
    await measure([owner, proxied], 2, ROOM_RATE);
    const [lo, lp] = await measure([owner, proxied], ROOM_S, ROOM_RATE);
    rows.push(row('callchart, client on the owner', lo!), row('callchart, client on another node (proxied)', lp!));
    owner.ws.close();
    proxied.ws.close();
  } finally {
    for (const n of nodes) await stopNode(n);
  }
  printTable('Room message latency: send → the sender has the broadcast (ms)', ['path', 'messages', 'p50', 'p99', 'max'], rows);
}

async function main(): Promise<void> {
  if (process.argv.includes('--role=bare-room')) return bareRoomRole();
  const missing = ['sipp', 'kamailio', 'redis-server'].filter((b) => !whichBinary(b));
  if (missing.length) {
    process.stdout.write(`\n(skipped: ${missing.join(', ')} not installed)\n`);
    return;
  }
  const redis = new RedisPeer(await freeTcpPort());
  await redis.start();
  try {
    if (PARTS.includes('sip')) await sipPart(redis);
    if (PARTS.includes('rooms')) await roomsPart(redis);
  } finally {
    await redis.kill();
  }
}

main().catch((e) => {
  process.stderr.write(`bench cluster failed: ${e instanceof Error ? e.stack : String(e)}\n`);
  process.exitCode = 1;
});
