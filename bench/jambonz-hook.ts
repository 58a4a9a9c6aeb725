// jambonz hook round trips: the feature-server side sends session:new and waits for the ack with
// the app's verbs, over N concurrent sockets, each keeping one session in flight (closed loop).
// callchart's hook route (session + call actors per call, verb validation on) against a bare `ws`
// server that acks the same verbs without parsing more than `type`/`msgid` nor validating, same run.
// Every round trip is a whole call: session:new → ack, then call:status completed.
//
// Roles, one file:
//   orchestrator (default)       load generator + table; servers run in their own process
//   --role=server --kind=K       K = bare | callchart
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { WebSocketServer, WebSocket } from 'ws';
import { printTable, percentile, progress } from './table.js';
import { serveRpc, forkRpc, type RpcChild } from './lib/rpc.js';

const SOCKETS = Number(process.env.JAMBONZ_SOCKETS ?? 50);
const WARMUP_MS = 1000;
const MEASURE_MS = Number(process.env.JAMBONZ_WINDOW_MS ?? 4000);
const ROUNDS = Number(process.env.JAMBONZ_ROUNDS ?? 3);
const VERBS = [
  { verb: 'say', text: 'Welcome to callchart. Press 1 for opening hours, 2 for the front desk.' },
  { verb: 'gather', actionHook: '/menu', input: ['digits'], numDigits: 1, timeout: 8 },
  { verb: 'hangup' },
];

type Kind = 'bare' | 'callchart';
const thisFile = fileURLToPath(import.meta.url);
/** Extra node flags for the server processes, e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof` (JAMBONZ_SERVER_NODE_ARGS). */
const SERVER_NODE_ARGS = process.env.JAMBONZ_SERVER_NODE_ARGS?.split(' ').filter(Boolean) ?? [];
const root = path.resolve(path.dirname(thisFile), '..');
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const arg = (name: string) => process.argv.find((x) => x.startsWith(`--${name}=`))?.slice(name.length + 3);

// ---- server role ------------------------------------------------------------------------------

async function serverRole(kind: Kind): Promise<void> {
  let port: number;
  let close: () => Promise<void>;
  if (kind === 'bare') {
    const server = http.createServer();
    const wss = new WebSocketServer({ server, perMessageDeflate: false, handleProtocols: (p) => (p.has('ws.jambonz.org') ? 'ws.jambonz.org' : false) });
    const verbs = VERBS;
    wss.on('connection', (ws) => {
      ws.on('message', (data) => {
        const msg = JSON.parse(data.toString()) as { type: string; msgid: string };
        if (msg.type === 'session:new') ws.send(JSON.stringify({ type: 'ack', msgid: msg.msgid, data: verbs }));
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as { port: number }).port;
    close = () => new Promise((r) => {
      for (const c of wss.clients) c.terminate();
      server.close(() => r());
    });
  } else {
    const { createEngine } = await import('../src/engine.js');
    const engine = createEngine({ host: '127.0.0.1', wsPort: 0, sipPort: false, inboundCall: false, maxCalls: 100_000 });
    engine.jambonz.hook('/hook', (s) => s.reply(VERBS as never));
    await engine.listen();
    port = engine.wsPort;
    close = () => engine.close();
  }
  serveRpc({ stop: async () => void (await close()), cpu: () => process.cpuUsage() });
  process.send?.({ ready: { port } });
}

// ---- load -------------------------------------------------------------------------------------

interface Result {
  perSec: number;
  p50: number;
  p99: number;
  calls: number;
  /** Server CPU (user + system) per round trip over the window, in µs. */
  cpuUs: number;
}

async function load(server: RpcChild, port: number, kind: Kind): Promise<Result> {
  const url = `ws://127.0.0.1:${port}${kind === 'callchart' ? '/hook' : '/'}`;
  const sockets = await Promise.all(
    Array.from({ length: SOCKETS }, () => new Promise<WebSocket>((resolve, reject) => {
      const ws = new WebSocket(url, 'ws.jambonz.org', { perMessageDeflate: false });
      ws.once('open', () => resolve(ws));
      ws.once('error', reject);
    })),
  );
  let measuring = false;
  let stop = false;
  let done = 0;
  const lat: number[] = [];
  let seq = 0;
  const loops = sockets.map((ws, i) => new Promise<void>((resolve) => {
    let sentAt = 0;
    let msgid = '';
    let callSid = '';
    const next = () => {
      if (stop) return resolve();
      seq++;
      callSid = `bench-${process.pid}-${i}-${seq}`;
      msgid = `m${seq}`;
      sentAt = performance.now();
      ws.send(JSON.stringify({ type: 'session:new', msgid, call_sid: callSid, data: { call_sid: callSid, direction: 'inbound', from: '+15551230000', to: '+15559870000', call_status: 'trying', sip: { headers: { 'user-agent': 'bench' } } } }));
    };
    ws.on('message', (data) => {
      const m = JSON.parse(data.toString()) as { type: string; msgid?: string; data?: unknown[] };
      if (m.type !== 'ack' || m.msgid !== msgid) return;
      if (!Array.isArray(m.data) || m.data.length !== VERBS.length) throw new Error(`bad ack from ${kind}: ${data.toString()}`);
      if (measuring) {
        done++;
        lat.push(performance.now() - sentAt);
      }
      // The call is over: jambonz reports it, no ack expected.
      ws.send(JSON.stringify({ type: 'call:status', msgid: `s${seq}`, call_sid: callSid, data: { call_status: 'completed', sip_status: 200 } }));
      next();
    });
    next();
  }));
  await sleep(WARMUP_MS);
  const c0 = await server.call<NodeJS.CpuUsage>('cpu');
  const n0 = done;
  measuring = true;
  const t0 = performance.now();
  await sleep(MEASURE_MS);
  measuring = false;
  const elapsed = (performance.now() - t0) / 1000;
  const c1 = await server.call<NodeJS.CpuUsage>('cpu');
  const cpuUs = (c1.user - c0.user + c1.system - c0.system) / Math.max(1, done - n0);
  stop = true;
  await Promise.race([Promise.all(loops), sleep(2000)]);
  for (const ws of sockets) ws.close(1000);
  await sleep(200);
  return { perSec: done / elapsed, p50: percentile(lat, 50), p99: percentile(lat, 99), calls: done, cpuUs };
}

export async function run(): Promise<void> {
  const children = new Map<Kind, { child: RpcChild; port: number }>();
  const best = new Map<Kind, Result>();
  try {
    for (const kind of ['bare', 'callchart'] as Kind[]) {
      const child = forkRpc(thisFile, ['--role=server', `--kind=${kind}`], { cwd: root, nodeArgs: SERVER_NODE_ARGS });
      children.set(kind, { child, port: ((await child.ready) as { port: number }).port });
    }
    // Rounds alternate between the servers and each one's best round is kept, so noise on a
    // small shared box does not land on one side only.
    for (let round = 1; round <= ROUNDS; round++) {
      for (const kind of ['bare', 'callchart'] as Kind[]) {
        progress(`round ${round}/${ROUNDS}: ${kind}`);
        const r = await load(children.get(kind)!.child, children.get(kind)!.port, kind);
        progress(`  ${kind}: ${Math.round(r.perSec)} round trips/s, p99 ${r.p99.toFixed(2)} ms, server ${r.cpuUs.toFixed(0)} µs CPU per round trip`);
        const b = best.get(kind);
        if (!b || r.perSec > b.perSec) best.set(kind, r);
      }
    }
  } finally {
    for (const { child } of children.values()) await child.stop();
  }
  const bare = best.get('bare')!;
  const cc = best.get('callchart')!;
  printTable(
    `jambonz hook round trips (session:new → ack with ${VERBS.length} verbs, then call:status completed): ${SOCKETS} sockets x 1 in flight, best of ${ROUNDS} x ${MEASURE_MS / 1000} s`,
    ['server', 'round trips/s', 'vs bare', 'server CPU µs/round trip', 'p50 ms', 'p99 ms', 'calls measured'],
    [
      ['bare ws (acks, no validation, no state)', Math.round(bare.perSec), '100 %', Math.round(bare.cpuUs), bare.p50, bare.p99, bare.calls],
      ['callchart hook route (validated, call + session actors)', Math.round(cc.perSec), `${((100 * cc.perSec) / bare.perSec).toFixed(1)} %`, Math.round(cc.cpuUs), cc.p50, cc.p99, cc.calls],
    ],
  );
}

const role = arg('role');
if (role === 'server') {
  void serverRole((arg('kind') ?? 'callchart') as Kind);
} else if (process.argv[1] && path.resolve(process.argv[1]) === thisFile) {
  run().catch((err) => {
    process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
    process.exitCode = 1;
  });
}
