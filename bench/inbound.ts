// Concurrent inbound calls over the inbound-call WebSocket protocol, each streaming 320-byte audio
// frames every 20 ms (8 kHz 16-bit mono, 50 fps) that the server echoes, against a bare `ws` echo
// server measured in the same run.
//
// Three roles, one file:
//   orchestrator (default)   runs both servers, the heap measurement and the ladders (interleaved
//                            step by step), prints tables
//   --role=server --kind=K   the server under test (K = bare | callchart), own process, --expose-gc
//   --role=load              a server's load generator (lib/inbound-load.ts), own process (so the
//                            server has a core to itself)
//
// A ladder step passes when the p99 echo latency (client clock: send → echo received) is ≤ 20 ms
// and no frame of the measurement window is lost (missing or out of order) and no call dropped.
// 'loadgen sleeps /1k echoes' counts how often the load process blocked per 1 000 echoes read:
// apart from its own send timer, a server's send then has to wake it on the other vCPU, which
// costs that server CPU. INBOUND_LOAD_SPIN=1 (diagnostic) keeps the load process polling instead,
// so no echo has to wake it (lib/inbound-load.ts; it then takes a whole core).
// Each step also reports the server's GC over the window (scavenges, pauses, promoted bytes per 10 k
// frames, allocated bytes per frame; BENCH_GC=0 turns it off; BENCH_HEAP_SAMPLE=<dir> writes a sampling
// heap profile of each window's survivors; INBOUND_WARMUP_MS: streaming before each window, default 1000). BENCH_ENGINE_DIR=<dir> benches a
// compiled build instead of src via tsx (see lib/engine-build.ts). INBOUND_BUDGET_S sets each server's ladder time.
import http from 'node:http';
import v8 from 'node:v8';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { WebSocketServer } from 'ws';
import { printTable, progress, type Cell } from './table.js';
import { serveRpc, forkRpc, type RpcChild } from './lib/rpc.js';
import { loadRole, FRAME_BYTES, FRAME_INTERVAL_MS, WINDOW_MS, LOAD_SPIN, type StepStats } from './lib/inbound-load.js';
import { readCpuTicks, busyCores, waitQuiet } from './lib/box-load.js';
import { loadEngineModule, ENGINE_BUILD } from './lib/engine-build.js';
import { GcMeter, GC_COLUMNS, GC_SUMMARY_HEADERS, gcCells, gcLine, gcSummaryRows, type GcStep, type GcWindow } from './lib/gc-meter.js';
import { snapshotTotals } from './lib/heap-objects.js';
import { HeapSampler } from './lib/heap-sampler.js';

const P99_LIMIT_MS = 20;
const LADDER = process.env.INBOUND_LADDER
  ? process.env.INBOUND_LADDER.split(',').map(Number)
  : [100, 200, 400, 600, 800, 1000, 1250, 1500, 1750, 2000, 2500, 3000, 3500, 4000];
const HEAP_CALLS = Number(process.env.INBOUND_HEAP_CALLS ?? 1000);
/**
 * Wall-clock allowance per server for its ladder (INBOUND_BUDGET_S; by default the whole bench
 * stays under ~4 min with the default window, and longer windows get proportionally more: 375 s
 * at 30 s windows, about eleven steps, too few for a ladder from 450 to 1 000 with its retries).
 */
const LADDER_BUDGET_MS = Number(process.env.INBOUND_BUDGET_S ?? 0) * 1000 || Math.round(100_000 * Math.max(1, WINDOW_MS / 8000));
/**
 * The box may be shared. A failing step is run once more (after waiting for a quiet box), and again
 * while other processes used more than this many cores, at most MAX_RETRIES times per ladder: for
 * both servers alike, as the media and jambonz-audio benches retry.
 */
const CONTENDED_CORES = 0.25;
const MAX_RETRIES = 2;

type Kind = 'bare' | 'callchart' | 'http-route' | 'bare-engine';
const KINDS: Kind[] = ['bare', 'callchart'];
/**
 * Diagnostics only. INBOUND_SERVERS=http-route: callchart's HttpServer with a plain echo WsRoute and
 * no call actor, to split transport cost from call cost. INBOUND_SERVERS=bare,bare-engine: the bare
 * echo server in a process that also runs an idle engine (its modules loaded, listening, no calls,
 * pretenuring off as createEngine leaves it): what sharing a process with the engine costs a frame
 * path that never touches it.
 */
const ALL_KINDS: Kind[] = [...KINDS, 'http-route', 'bare-engine'];
/** Each server's table title. */
const TITLES: Record<Kind, string> = {
  bare: 'bare ws echo server',
  callchart: 'callchart (inbound-call protocol, demoApp echo)',
  'http-route': 'callchart HttpServer + plain echo route (diagnostic)',
  'bare-engine': 'bare ws echo server beside an idle engine in its process (diagnostic)',
};
/** INBOUND_SERVERS=callchart runs one server only (for profiling). */
const RUN_KINDS = (process.env.INBOUND_SERVERS?.split(',') ?? KINDS) as Kind[];

const thisFile = fileURLToPath(import.meta.url);
const root = path.resolve(path.dirname(thisFile), '..');

function arg(name: string): string | undefined {
  const a = process.argv.find((x) => x.startsWith(`--${name}=`));
  return a?.slice(name.length + 3);
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

// ---------------------------------------------------------------------------------------------
// Server role

interface HeapSample {
  heapUsed: number;
  rss: number;
  external: number;
  arrayBuffers: number;
}

async function settleHeap(): Promise<HeapSample> {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error('server child needs --expose-gc');
  for (let i = 0; i < 3; i++) {
    gc();
    await new Promise((r) => setImmediate(r));
  }
  gc();
  const m = process.memoryUsage();
  return { heapUsed: m.heapUsed, rss: m.rss, external: m.external, arrayBuffers: m.arrayBuffers };
}

async function serverRole(kind: Kind): Promise<void> {
  let port: number;
  let live: () => number;
  if (kind === 'bare-engine') {
    const { createEngine } = await loadEngineModule<typeof import('../src/engine.js')>('engine.js');
    await createEngine({ wsPort: 0, host: '127.0.0.1', sipPort: false }).listen();
  }
  if (kind === 'bare' || kind === 'bare-engine') {
    // The reference: a plain WebSocketServer echoing binary frames, nothing else.
    const server = http.createServer();
    const wss = new WebSocketServer({ server, perMessageDeflate: false, maxPayload: 64 * 1024 });
    wss.on('connection', (ws) => {
      ws.on('message', (data, isBinary) => {
        if (isBinary) ws.send(data, { binary: true });
      });
      ws.on('error', () => {});
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as { port: number }).port;
    live = () => wss.clients.size;
  } else if (kind === 'http-route') {
    const { HttpServer } = await loadEngineModule<typeof import('../src/http/server.js')>('http/server.js');
    const { silentLogger } = await loadEngineModule<typeof import('../src/logger.js')>('logger.js');
    const srv = new HttpServer({ host: '127.0.0.1', port: 0, logger: silentLogger() });
    let open = 0;
    srv.addWsRoute({
      name: 'echo',
      match: () => ({}),
      onConnection(ws) {
        open++;
        ws.on('message', (data, isBinary) => {
          if (isBinary) ws.send(data as Buffer, { binary: true });
        });
        ws.on('close', () => open--);
      },
    });
    await srv.listen();
    port = srv.port;
    live = () => open;
  } else {
    const { createEngine } = await loadEngineModule<typeof import('../src/engine.js')>('engine.js');
    const { demoApp } = await loadEngineModule<typeof import('../src/demo.js')>('demo.js');
    const engine = createEngine({
      wsPort: 0,
      host: '127.0.0.1',
      sipPort: false,
      maxCalls: 100_000,
      onIncomingCall: demoApp({ answerDelayMs: 0, hangupAfterMs: 1e9 }),
      inboundCall: { offerDelayMs: 0 },
    });
    await engine.listen();
    port = engine.wsPort;
    live = () => engine.calls.size;
  }
  const gcMeter = new GcMeter();
  // BENCH_HEAP_SAMPLE=<dir>: a sampling heap profile per window of what outlived the young generation.
  const sampler = new HeapSampler();
  let windows = 0;
  serveRpc({
    heap: () => settleHeap(),
    /**
     * Heap snapshot totals by constructor now, handed to the caller and not kept: bench/inbound-heap.ts
     * diffs two of them in its own process (totals kept here would be ~10 000 entries counted as the calls').
     */
    objectsTotals: async () => {
      await settleHeap();
      return [...snapshotTotals()];
    },
    /** A full heap snapshot written to `file` (INBOUND_HEAP_SNAPSHOT in bench/inbound-heap.ts), for retainer paths. */
    writeSnapshot: async (a: { file: string }) => {
      await settleHeap();
      return v8.writeHeapSnapshot(a.file);
    },
    gcStart: async () => {
      await sampler.start();
      gcMeter.start();
      return true;
    },
    gcStop: async () => {
      const w = gcMeter.stop();
      await sampler.stop(`inbound-${kind}-${++windows}-${live()}`);
      return w;
    },
    cpu: () => ({ cpu: process.cpuUsage(), at: performance.now() }),
    live: () => live(),
  });
  process.send?.({ ready: { port } });
}

// ---------------------------------------------------------------------------------------------
// Orchestrator

interface ServerResult {
  kind: Kind;
  best: number;
  rows: Cell[][];
  stoppedBy: string;
  heapPerCall: number;
  rssPerCall: number;
  externalPerCall: number;
  gc: GcStep[];
}

async function waitLive(server: RpcChild, want: number, timeoutMs = 5000): Promise<number> {
  const deadline = performance.now() + timeoutMs;
  let n = await server.call<number>('live');
  while (n !== want && performance.now() < deadline) {
    await sleep(50);
    n = await server.call<number>('live');
  }
  return n;
}

/** One server under test with its own load generator, alive for the whole run. */
interface Contender extends ServerResult {
  server: RpcChild;
  load: RpcChild;
  /** Out of the race: failed a step, or spent its time budget. */
  out: boolean;
  retries: number;
  spentMs: number;
  lastStepMs: number;
}

/** Start a server and its load generator, and measure the heap of HEAP_CALLS idle answered calls. */
async function openContender(kind: Kind): Promise<Contender> {
  // INBOUND_SERVER_NODE_ARGS='--cpu-prof --cpu-prof-dir=/tmp/prof' profiles the servers under test.
  const nodeArgs = process.env.INBOUND_SERVER_NODE_ARGS?.split(' ').filter(Boolean) ?? [];
  const server = forkRpc(thisFile, ['--role=server', `--kind=${kind}`], { exposeGc: true, cwd: root, nodeArgs });
  const load = forkRpc(thisFile, ['--role=load'], { cwd: root });
  const { port } = await server.ready;
  await load.ready;
  await load.call('init', { port, mode: kind });

  // Heap per live call: warm the connection path, settle, baseline, then N idle answered calls.
  progress(`${kind}: heap per live call (${HEAP_CALLS} idle answered calls)`);
  await load.call('idle', { n: 50 });
  await load.call('closeAll');
  await waitLive(server, 0);
  const base = await server.call<HeapSample>('heap');
  const idle = await load.call<{ connected: number }>('idle', { n: HEAP_CALLS });
  await waitLive(server, idle.connected);
  const loaded = await server.call<HeapSample>('heap');
  const per = (k: keyof HeapSample) => (loaded[k] - base[k]) / idle.connected;
  await load.call('closeAll');
  await waitLive(server, 0);
  return {
    kind,
    server,
    load,
    best: 0,
    rows: [],
    stoppedBy: 'end of ladder',
    heapPerCall: per('heapUsed'),
    rssPerCall: per('rss'),
    externalPerCall: per('external'),
    gc: [],
    out: false,
    retries: 0,
    spentMs: 0,
    lastStepMs: 0,
  };
}

/**
 * One ladder step of n calls for one server (retried when the box was busy with something else);
 * the contender is out of the race when it fails or its time budget would run over.
 */
async function runStep(c: Contender, n: number): Promise<void> {
  if (c.spentMs + c.lastStepMs > LADDER_BUDGET_MS) {
    c.out = true;
    c.stoppedBy = 'time budget';
    return;
  }
  const { kind, server, load } = c;
  for (let isRetry = false; ; isRetry = true) {
    const s0 = performance.now();
    const quiet = await waitQuiet(CONTENDED_CORES, isRetry ? 10_000 : 1500);
    progress(`${kind}: ${n} calls${quiet >= CONTENDED_CORES ? ` (box busy: ${quiet.toFixed(2)} cores used by others)` : ''}`);
    const grown = await load.call<{ connected: number; failures: number }>('prepare', { n }, 120_000);
    const c0 = await server.call<{ cpu: NodeJS.CpuUsage; at: number }>('cpu');
    const b0 = readCpuTicks();
    await server.call('gcStart');
    await load.call('measure', undefined, WINDOW_MS + 30_000);
    const gc = await server.call<GcWindow | undefined>('gcStop');
    const b1 = readCpuTicks();
    const c1 = await server.call<{ cpu: NodeJS.CpuUsage; at: number }>('cpu');
    const st = await load.call<StepStats>('collect', undefined, 30_000);
    const serverCpu = ((c1.cpu.user - c0.cpu.user + c1.cpu.system - c0.cpu.system) / 1000 / (c1.at - c0.at)) * 100;
    // Everything else the box did meanwhile: other processes (the idle contender included), plus
    // kernel softirq work (loopback).
    const other = busyCores(b0, b1) - (serverCpu + st.loadCpuPct) / 100;
    const lost = st.missing + st.outOfOrder;
    const reasons: string[] = [];
    if (!(st.p99 <= P99_LIMIT_MS)) reasons.push('p99');
    if (lost > 0) reasons.push('loss');
    if (st.dropped > 0 || grown.failures > 0 || grown.connected < n) reasons.push('calls');
    const pass = reasons.length === 0;
    const retry = !pass && c.retries < MAX_RETRIES && (other > CONTENDED_CORES || !isRetry);
    if (!retry) c.gc.push({ server: kind, load: n, frames: st.sent, window: gc });
    c.rows.push([
      n,
      st.p50,
      st.p99,
      st.max,
      lost,
      Math.round(st.framesPerSec),
      `${serverCpu.toFixed(0)} %`,
      `${st.loadCpuPct.toFixed(0)} %`,
      Math.round(st.loadSleepsPer1k),
      Number.isNaN(other) ? '?' : Math.max(0, other),
      st.genLagP99,
      // Frames the window sent (each one echoed): the GC figures' denominator.
      ...gcCells(gc, st.sent),
      pass ? 'pass' : `FAIL (${reasons.join(', ')})${retry ? (other > CONTENDED_CORES ? ' contended: retried' : ' retried') : ''}`,
    ]);
    progress(
      `${kind}: ${n} calls: p99 ${st.p99.toFixed(2)} ms, lost ${lost}, server cpu ${serverCpu.toFixed(0)} %, loadgen sleeps ${Math.round(st.loadSleepsPer1k)}/1k echoes, ` +
        `other load ${other.toFixed(2)} cores, ${pass ? 'pass' : retry ? (other > CONTENDED_CORES ? 'FAIL, box contended: retrying' : 'FAIL, retrying') : 'FAIL'}` +
        (gc ? `; ${gcLine(gc, st.sent)}` : ''),
    );
    const took = performance.now() - s0;
    if (!isRetry) c.spentMs += took;
    c.lastStepMs = took + (n > 1000 ? 1500 : 500);
    if (retry) {
      c.retries++;
      continue;
    }
    if (pass) c.best = n;
    else {
      c.out = true;
      c.stoppedBy = `first failing step (${n})`;
    }
    return;
  }
}

/**
 * The servers' ladders interleaved: each call count runs for every server still passing before
 * the next count, the order alternating from step to step. This box slows down over a long run,
 * so ladders run one after the other would hand the later server a slower box.
 */
async function runLadders(kinds: Kind[]): Promise<ServerResult[]> {
  const contenders: Contender[] = [];
  try {
    for (const kind of kinds) contenders.push(await openContender(kind));
    for (let i = 0; i < LADDER.length; i++) {
      const order = i % 2 === 0 ? contenders : [...contenders].reverse();
      for (const c of order) if (!c.out) await runStep(c, LADDER[i]!);
      // Between steps a server's calls stay connected and idle (the next step grows them).
      if (contenders.every((c) => c.out)) break;
    }
    for (const c of contenders) await c.load.call('closeAll');
    return contenders.map(({ kind, best, rows, stoppedBy, heapPerCall, rssPerCall, externalPerCall, gc }) => ({
      kind,
      best,
      rows,
      stoppedBy,
      heapPerCall,
      rssPerCall,
      externalPerCall,
      gc,
    }));
  } finally {
    for (const c of contenders) {
      await c.load.stop();
      await c.server.stop();
    }
  }
}

async function orchestrate(): Promise<void> {
  const t0 = performance.now();
  const results = await runLadders(RUN_KINDS);

  for (const r of results) {
    printTable(
      `inbound: ${TITLES[r.kind]} — ${FRAME_BYTES} B every ${FRAME_INTERVAL_MS} ms per call, ${WINDOW_MS / 1000} s window`,
      ['calls', 'p50 ms', 'p99 ms', 'max ms', 'lost', 'echo frames/s', 'server cpu', 'loadgen cpu', 'loadgen sleeps /1k echoes', 'other load (cores)', 'gen lag p99 ms', ...GC_COLUMNS, 'result'],
      r.rows,
    );
  }
  printTable(
    `inbound: the servers' GC per window, side by side (v8.GCProfiler in each server; promoted '≥' where a mark-compact ran in the window)`,
    GC_SUMMARY_HEADERS,
    gcSummaryRows(results.flatMap((r) => r.gc)),
  );
  const bare = results.find((r) => r.kind === 'bare');
  const cc = results.find((r) => r.kind === 'callchart');
  if (!bare || !cc) return;
  const ratio = bare.best > 0 ? cc.best / bare.best : NaN;
  printTable(
    `inbound: summary (pass = p99 ≤ ${P99_LIMIT_MS} ms and zero loss; heap with ${HEAP_CALLS} idle answered calls after gc)`,
    ['server', 'max concurrent calls passing', 'ladder stopped by', 'heap / live call', 'rss / live call', 'external / live call'],
    results.map((r) => [
      r.kind,
      r.best,
      r.stoppedBy,
      `${(r.heapPerCall / 1024).toFixed(1)} KiB`,
      `${(r.rssPerCall / 1024).toFixed(1)} KiB`,
      `${(r.externalPerCall / 1024).toFixed(1)} KiB`,
    ]),
  );
  const target = 0.9;
  process.stdout.write(
    `\ncallchart / bare = ${cc.best} / ${bare.best} = ${(ratio * 100).toFixed(0)} % (target ≥ ${target * 100} %): ${ratio >= target ? 'MET' : 'NOT MET'}` +
      `; callchart heap over bare per call: ${((cc.heapPerCall - bare.heapPerCall) / 1024).toFixed(1)} KiB\n` +
      `(engine: ${ENGINE_BUILD}; ladder steps: ${LADDER.join(', ')}; the count resolution is the ladder's step size; the servers' ladders interleaved step by step. Load generator: one child process per server, ` +
      `raw RFC 6455 client, ${FRAME_INTERVAL_MS} send slots of 1 ms${LOAD_SPIN ? ', polling without sleeping (INBOUND_LOAD_SPIN=1: a diagnostic, not the target\'s setup)' : ''}; bench took ${((performance.now() - t0) / 1000).toFixed(0)} s)\n`,
  );
}

const role = arg('role');
if (role === 'server') {
  const kind = arg('kind') as Kind;
  if (!ALL_KINDS.includes(kind)) throw new Error(`--kind must be one of ${ALL_KINDS.join(', ')}`);
  void serverRole(kind);
} else if (role === 'load') {
  loadRole();
} else {
  orchestrate().then(
    () => process.exit(0),
    (err) => {
      process.stderr.write(`inbound bench failed: ${err instanceof Error ? err.stack : String(err)}\n`);
      process.exit(1);
    },
  );
}
